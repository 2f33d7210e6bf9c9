// Completions: what the kernel posts to the completion queue, typed.

import CLibURing
public import SystemPackage

extension IOURing {
  /// One completion queue entry (`struct io_uring_cqe`), typed.
  ///
  /// A completion always carries the `userData` of the request that produced it — a
  /// failed completion never loses it, unlike swift-system's `IORing`, which hands a
  /// failure to its consumer as a bare `Errno`.
  ///
  /// Most requests post exactly one completion. Multishot requests (`acceptMultishot`,
  /// `recvMultishot`) post one per event and set ``Flags-swift.struct/more`` on every one
  /// but the last; `sendZeroCopy` posts a result and then a notification (see
  /// ``zeroCopy``).
  public struct Completion: Sendable, Hashable, CustomStringConvertible {
    /// The request's user data (`cqe->user_data`), exactly as it was submitted.
    public var userData: UInt64
    /// The outcome (`cqe->res`): the operation's non-negative return value (bytes moved,
    /// a new descriptor, a count…), or the `Errno` the kernel reported as `-errno`.
    public var result: Result<Int32, Errno>
    /// The raw `cqe->flags` word (`IORING_CQE_F_*`; provided-buffer id in the upper 16 bits).
    public var rawFlags: UInt32

    /// Creates a completion (for tests, mocks and fallbacks that imitate the ring).
    public init(userData: UInt64, result: Result<Int32, Errno>, rawFlags: UInt32 = 0) {
      self.userData = userData
      self.result = result
      self.rawFlags = rawFlags
    }

    /// Converts a reaped CQE with `completionResult(res:flags:)` (`KernelResult.swift`,
    /// where `-errno` becomes `Errno` for the whole module).
    ///
    /// A SEND_ZC notification (`IORING_CQE_F_NOTIF`) is the exception to "negative means
    /// error": its `res` is 0, or has bit 31 set (`IORING_NOTIF_USAGE_ZC_COPIED`), which
    /// reads as a negative `Int32` but means "the data was copied", not a failure. A
    /// notification's `result` is therefore always `.success(0)` (sent zero-copy, or usage
    /// not reported) or `.success(1)` (copied); ``zeroCopy`` spells it out.
    @inlinable @inline(__always)
    internal init(_ cqe: RawCompletion) {
      self.userData = cqe.userData
      self.rawFlags = cqe.flags
      self.result = completionResult(res: cqe.res, flags: cqe.flags)
    }

    /// The result value, or throws the completion's `Errno`.
    public func get() throws(Errno) -> Int32 {
      try result.get()
    }

    /// The error, if the operation failed.
    public var error: Errno? {
      if case .failure(let e) = result { return e }
      return nil
    }

    /// The `IORING_CQE_F_*` flags (low 16 bits of `cqe->flags`).
    public var flags: Flags { Flags(rawValue: rawFlags & 0xFFFF) }

    /// The provided buffer the kernel picked for this completion (`cqe->flags >> 16`),
    /// or `nil` when the request did not select one (`IORING_CQE_F_BUFFER` clear).
    /// Return it to its group with ``IOURing/recycleBuffer(_:in:)`` once consumed.
    public var bufferID: UInt16? {
      rawFlags & ZC_IORING_CQE_F_BUFFER != 0 ? UInt16(truncatingIfNeeded: rawFlags >> ZC_IORING_CQE_BUFFER_SHIFT) : nil
    }

    /// Whether the request will post more completions (`IORING_CQE_F_MORE`). For a
    /// multishot request, a completion *without* it is the last one: the request has
    /// ended (for example with `ENOBUFS` when its buffer group ran dry) and must be
    /// submitted again to keep receiving.
    public var hasMore: Bool { rawFlags & ZC_IORING_CQE_F_MORE != 0 }

    /// Whether this is a SEND_ZC/SENDMSG_ZC notification (`IORING_CQE_F_NOTIF`).
    public var isNotification: Bool { rawFlags & ZC_IORING_CQE_F_NOTIF != 0 }

    /// The completion of a zero-copy send (``Request/sendZeroCopy(_:from:flags:reportUsage:userData:)``),
    /// typed. Meaningful only for completions of `IORING_OP_SEND_ZC`/`SENDMSG_ZC` requests:
    /// a completion cannot tell which opcode produced it, so any non-notification is
    /// read as the send's result.
    ///
    /// The first completion (``ZeroCopyEvent/sent(_:notificationFollows:)``) has the
    /// send's result; the buffer may **not** be reused yet if `notificationFollows`. The
    /// second (``ZeroCopyEvent/notification(copied:)``) says the kernel is done with the
    /// buffer; with usage reporting (requested by default, kernel 6.2+), `copied` tells
    /// whether the data was copied after all — as it always is on loopback.
    public var zeroCopy: ZeroCopyEvent {
      if isNotification {
        return .notification(copied: result == .success(1))
      }
      return .sent(result, notificationFollows: hasMore)
    }

    public var description: String {
      var s = "Completion(userData: \(userData), "
      switch result {
      case .success(let v): s += "result: \(v)"
      case .failure(let e): s += "error: \(e)"
      }
      if rawFlags != 0 { s += ", flags: \(flags)" }
      if let id = bufferID { s += ", buffer: \(id)" }
      return s + ")"
    }
  }
}

extension IOURing.Completion {
  /// The `IORING_CQE_F_*` completion flags.
  public struct Flags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The raw C value.
    public let rawValue: UInt32
    /// Wraps a raw C value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IORING_CQE_F_BUFFER` (5.7): a provided buffer was used; see ``IOURing/Completion/bufferID``.
    public static let buffer = Flags(rawValue: 1 << 0)
    /// `IORING_CQE_F_MORE` (5.13): the request will post more completions.
    public static let more = Flags(rawValue: 1 << 1)
    /// `IORING_CQE_F_SOCK_NONEMPTY` (5.19): the socket still had data after this receive.
    public static let socketNonEmpty = Flags(rawValue: 1 << 2)
    /// `IORING_CQE_F_NOTIF` (6.0): a zero-copy send's buffer-release notification.
    public static let notification = Flags(rawValue: 1 << 3)
    /// `IORING_CQE_F_BUF_MORE` (6.12): an incrementally consumed provided buffer has room left.
    public static let bufferMore = Flags(rawValue: 1 << 4)

    public var description: String {
      var names: [String] = []
      if contains(.buffer) { names.append("buffer") }
      if contains(.more) { names.append("more") }
      if contains(.socketNonEmpty) { names.append("socketNonEmpty") }
      if contains(.notification) { names.append("notification") }
      if contains(.bufferMore) { names.append("bufferMore") }
      let rest = rawValue & ~0x1F
      if rest != 0 { names.append("0x" + String(rest, radix: 16)) }
      return "[" + names.joined(separator: ", ") + "]"
    }
  }

  /// The two completions of `IORING_OP_SEND_ZC` / `IORING_OP_SENDMSG_ZC` (kernel 6.0/6.1).
  public enum ZeroCopyEvent: Sendable, Hashable {
    /// The send's own completion: bytes sent, or the error. When `notificationFollows`
    /// (`IORING_CQE_F_MORE`), the kernel may still read the buffer: keep it alive and
    /// unmodified until the ``notification(copied:)``.
    case sent(Result<Int32, Errno>, notificationFollows: Bool)
    /// The kernel released the buffer (`IORING_CQE_F_NOTIF`); it may be reused or freed.
    /// `copied` is true when the data was copied instead of sent zero-copy
    /// (`IORING_NOTIF_USAGE_ZC_COPIED`; reported only when usage reporting was requested).
    case notification(copied: Bool)
  }
}
