// Linked chains: requests that run in order, each starting when the one before finished.

import CLibURing
public import SystemPackage

extension IOURing {
  /// A chain of requests that the kernel runs strictly in order (`IOSQE_IO_LINK` /
  /// `IOSQE_IO_HARDLINK` on every member but the last), built fluently and prepared as
  /// a unit with `IOURing.prepare(_:)` (its `LinkedChain` overload).
  ///
  /// With a **soft** link (the default), if a member fails — an error, *or a short read
  /// or write* (fewer bytes than asked counts as failure inside a chain) — every later
  /// member completes with `ECANCELED` without running. A **hard** link keeps the chain
  /// going whatever the member's result. ``outcome(of:)`` turns the chain's completions
  /// into a verdict that says exactly that: which member broke the chain, and which were
  /// cancelled because of it.
  ///
  /// Members are consumed as they are appended (requests are noncopyable).
  ///
  /// ```swift
  /// import SystemPackage
  /// import URing
  ///
  /// let file = try FileDescriptor.open("/tmp/chain.out", .writeOnly, options: [.create], permissions: .ownerReadWrite)
  /// let header = UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 512))
  /// let body = UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 512))
  /// var ring = try IOURing(entries: 8)
  /// var chain = IOURing.LinkedChain()
  /// chain.append(.write(file, from: header, at: 0, userData: 1))
  /// chain.append(.write(file, from: body, at: 512, userData: 2))
  /// chain.append(.fsync(file, userData: 3))
  /// try ring.prepare(chain)
  /// try ring.submit()
  /// let outcome = chain.outcome(of: try ring.waitCompletions(chain.count))
  /// ```
  ///
  /// Give members distinct user data: the outcome matches completions to members by it.
  /// A ``Request/linkTimeout(_:clock:absolute:userData:)`` member guards the member just before it.
  public struct LinkedChain: Sendable {
    /// How a member is linked to the next.
    public enum Link: Sendable, Hashable {
      /// `IOSQE_IO_LINK` (5.3): the next runs only if this one fully succeeded.
      case soft
      /// `IOSQE_IO_HARDLINK` (5.5): the next runs whatever this one's result.
      case hard

      internal var sqeFlag: UInt8 {
        switch self {
        case .soft: return Request.Options.link.rawValue
        case .hard: return Request.Options.hardLink.rawValue
        }
      }
    }

    /// One member: its SQE and storage (taken from the consumed request) and how it is
    /// linked to the next member (unused for the last).
    internal struct Member: Sendable {
      var sqe: io_uring_sqe
      var storage: SubmissionStorage?
      var link: Link
    }

    /// The members, in order. One array, so that a chain costs one allocation (none more
    /// once ``reserveCapacity(_:)`` has made room for all of them).
    internal private(set) var members: [Member] = []

    /// `links[i]` links member `i` to member `i + 1` (the last entry is unused).
    public var links: [Link] { members.map(\.link) }

    /// How members are linked unless ``append(_:link:)`` says otherwise.
    public var defaultLink: Link

    /// An empty chain whose members are linked with `link` by default.
    public init(link: Link = .soft) {
      defaultLink = link
    }

    /// Appends `request` (consuming it); `link` (default: ``defaultLink``) is how *it*
    /// will be linked to the member appended after it.
    public mutating func append(_ request: consuming Request, link: Link? = nil) {
      let (sqe, storage) = request.take()
      members.append(Member(sqe: sqe, storage: storage, link: link ?? defaultLink))
    }

    /// Makes room for `count` members in all, so that appending them allocates nothing
    /// more (a chain built per submission, such as a read → write pair, then costs one
    /// allocation). Never fails.
    ///
    /// There is no corresponding C function: liburing writes a chain's SQEs straight into
    /// the submission queue (`io_uring_get_sqe`), where ``IOURing/prepare(_:)-(IOURing.LinkedChain)``
    /// copies them.
    public mutating func reserveCapacity(_ count: Int) {
      members.reserveCapacity(count)
    }

    /// Removes every member (releasing the storage of owned requests that were not
    /// prepared); with `keepingCapacity`, the members' memory is kept, so that a chain
    /// reused for the next submission allocates nothing. ``defaultLink`` is unchanged.
    ///
    /// There is no corresponding C function (see ``reserveCapacity(_:)``).
    public mutating func removeAll(keepingCapacity: Bool = false) {
      members.removeAll(keepingCapacity: keepingCapacity)
    }

    /// This chain with `request` appended.
    public consuming func appending(_ request: consuming Request, link: Link? = nil) -> LinkedChain {
      append(request, link: link)
      return self
    }

    /// The number of members.
    public var count: Int { members.count }

    /// The members' user data, in order.
    public var userData: [UInt64] { members.map(\.sqe.user_data) }

    /// The members' opcodes, in order.
    public var opcodes: [Opcode] { members.map { Opcode(rawValue: $0.sqe.opcode) } }

    /// Interprets the chain's completions (any order, other completions ignored).
    public func outcome(of completions: some Sequence<Completion>) -> Outcome {
      let ids = userData
      var results = [Result<Int32, Errno>?](repeating: nil, count: ids.count)
      for c in completions {
        // First member with this user data that has no result yet.
        if let i = ids.indices.first(where: { ids[$0] == c.userData && results[$0] == nil }) {
          results[i] = c.result
        }
      }
      return Outcome(results: results, opcodes: opcodes, links: links)
    }

    /// What happened to a chain, member by member.
    public struct Outcome: Sendable, Hashable, CustomStringConvertible {
      /// Each member's result, in chain order; `nil` if its completion was not among
      /// those given (not yet reaped, or skipped with `IOSQE_CQE_SKIP_SUCCESS`).
      public let results: [Result<Int32, Errno>?]
      internal let opcodes: [Opcode]
      internal let links: [Link]

      /// Whether every member completed successfully (none failed, none cancelled). A
      /// link timeout that was cancelled because its guarded member finished in time
      /// counts as success — that is its normal end.
      public var succeeded: Bool {
        results.indices.allSatisfy { i in
          switch results[i] {
          case .success: return true
          case .failure(.canceled): return opcodes[i] == .linkTimeout
          default: return false
          }
        }
      }

      /// Whether a completion was given for every member.
      public var isComplete: Bool { results.allSatisfy { $0 != nil } }

      /// The members that completed with `ECANCELED` because the chain was cut (link
      /// timeouts are not listed: `ECANCELED` is their normal end).
      public var cancelled: [Int] {
        results.indices.filter { results[$0] == .failure(.canceled) && opcodes[$0] != .linkTimeout }
      }

      /// The member whose failure cut the chain: the first member that failed with an
      /// error other than `ECANCELED`, or — when the first cancellation follows a member
      /// that "succeeded" — that member (a short read or write, which breaks a soft link).
      /// `nil` when the chain was not broken. A ``Request/linkTimeout(_:clock:absolute:userData:)``
      /// that fired (`ETIME`) is reported as the breaker when it cancelled its guarded member.
      public var brokenAt: Int? {
        let firstCancelled = cancelled.first
        for (i, r) in results.enumerated() {
          if let firstCancelled, i >= firstCancelled { break }
          if case .failure(let e) = r, e != .canceled, !(opcodes[i] == .linkTimeout && e == .timeout) { return i }
        }
        guard let fc = firstCancelled else { return nil }
        // A link timeout right after the cancelled member cancelled it.
        if fc + 1 < results.count, opcodes[fc + 1] == .linkTimeout, results[fc + 1] == .failure(.timeout) {
          return fc + 1
        }
        return fc > 0 ? fc - 1 : nil
      }

      /// The error that broke the chain, if the breaker failed with one.
      public var error: Errno? {
        guard let b = brokenAt, case .failure(let e)? = results[b] else { return nil }
        return e
      }

      public var description: String {
        if succeeded { return "chain succeeded (\(results.count) members)" }
        var s = "chain"
        if let b = brokenAt {
          s += " broken at member \(b) (\(opcodes[b]))"
          if let e = error { s += ": \(e)" } else { s += ": short transfer" }
        }
        let c = cancelled
        if !c.isEmpty { s += "; cancelled: \(c)" }
        if !isComplete { s += "; incomplete" }
        return s
      }
    }
  }
}
