// Readiness waits: "tell me when this descriptor is readable / writable", for many
// descriptors at once, on one thread (epoll), without a thread per waiter.

import Glibc
import LinuxIO
public import SystemPackage

/// Waits until descriptors become readable or writable — thousands at once, on one
/// `epoll` thread shared by the process — so that a task waiting for a slow peer holds
/// no thread.
///
/// This is what a server needs around non-blocking system calls it makes itself (a
/// `sendfile` to a socket that answered `EAGAIN`, a transfer sized to what a socket can
/// take now): wait for readiness here, then make the call.
///
/// ```swift
/// import SystemPackage
/// import ZeroCopy
///
/// // Send a file range to a non-blocking socket, never blocking a thread on the peer.
/// func sendRange(_ file: FileDescriptor, _ range: Range<Int64>, to socket: AsyncSocket) async throws {
///   try await socket.waitUntilWritable()
///   let report = try await Transfer.send(file: file, range: range, to: socket.descriptor)
///   print(report.bytes)
/// }
/// ```
///
/// Waits are level-triggered and one-shot: a wait returns as soon as the descriptor is
/// ready (at once if it already is), and each wait arms the descriptor again. An error or
/// hang-up on the descriptor ends the wait too (reported as both readable and writable,
/// so that the next system call on it returns the error).
///
/// Independent of ``IOEngine``: it works the same with the io_uring engine, the
/// thread-pool engine, and where io_uring is refused.
public enum Readiness {
  /// What to wait for, and what was found.
  public struct Events: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The raw `EPOLLIN`/`EPOLLOUT` bits.
    public let rawValue: UInt32
    /// Creates a set from `EPOLL*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Data (or an end of stream, or a pending connection) can be read (`EPOLLIN`).
    public static let readable = Events(rawValue: Epoll.Events.readable.rawValue)
    /// Data can be written without blocking (`EPOLLOUT`).
    public static let writable = Events(rawValue: Epoll.Events.writable.rawValue)

    /// `readable`, `writable`, or both.
    public var description: String {
      [contains(.readable) ? "readable" : nil, contains(.writable) ? "writable" : nil]
        .compactMap { $0 }.joined(separator: "+")
    }
  }

  /// Waits until `descriptor` is ready for one of `events`.
  ///
  /// - Parameters:
  ///   - events: ``Events/readable``, ``Events/writable`` or both. - Precondition: not empty.
  ///   - descriptor: An open socket, pipe, FIFO, terminal, eventfd… (anything `epoll`
  ///     supports; regular files and directories are always ready and refused with `EPERM`).
  ///     It must stay open until the wait returns.
  /// - Returns: The events found (an error or hang-up on the descriptor reports both).
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/readiness``:
  ///   `ECANCELED` when the task is cancelled (promptly: the wait is removed at once);
  ///   `EBUSY` when another wait on the same descriptor is pending (one waiter per open
  ///   file at a time); `EPERM` for regular files; `EBADF`; `ENOMEM`/`ENOSPC` (the
  ///   kernel's `max_user_watches`); `EMFILE` if the epoll thread's descriptors could not
  ///   be created.
  ///
  /// The corresponding C calls are `epoll_ctl(EPOLL_CTL_ADD, EPOLLONESHOT)` and, on the
  /// shared thread, `epoll_wait`.
  nonisolated(nonsending) public static func wait(for events: Events, on descriptor: FileDescriptor) async throws(ZeroCopyError)
    -> Events
  {
    try await wait(for: events, on: descriptor, owner: nil)
  }

  nonisolated(nonsending) internal static func wait(
    for events: Events, on descriptor: FileDescriptor, owner: ManagedDescriptor?
  ) async throws(ZeroCopyError) -> Events {
    precondition(!events.isEmpty, "Readiness.wait: no events to wait for")
    let reactor: ReadinessReactor
    switch ReadinessReactor.shared {
    case .success(let r): reactor = r
    case .failure(let error): throw error
    }
    if Task.isCancelled { throw ReadinessReactor.cancelled(descriptor) }
    let token = reactor.makeToken()
    let result = await withTaskCancellationHandler {
      await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<Events, ZeroCopyError>, Never>) in
        reactor.register(token: token, descriptor: descriptor, events: events, owner: owner, continuation: continuation)
      }
    } onCancel: {
      reactor.cancel(token: token)
    }
    return try result.get()
  }
}

extension AsyncSocket {
  /// Waits until the socket can take more data (`EPOLLOUT`), holding no thread meanwhile.
  ///
  /// For a socket in non-blocking mode whose own system calls (`send`, `sendfile`,
  /// `splice`, a ``Transfer`` with a count it can take now) answered `EAGAIN`.
  /// ``close()`` ends a pending wait (within 50 ms) with `ECANCELED`, before it closes
  /// the descriptor.
  ///
  /// - Throws: ``ZeroCopyError`` (operation ``ZeroCopyError/Operation/readiness``):
  ///   `ECANCELED` (task cancelled, socket closing), `EBADF` (already closed), `EBUSY`
  ///   (another readiness wait on this socket is pending).
  ///
  /// The corresponding C call is `epoll_ctl` (see ``Readiness/wait(for:on:)``).
  nonisolated(nonsending) public func waitUntilWritable() async throws(ZeroCopyError) {
    try await waitUntilReady(.writable)
  }

  /// Waits until the socket has data, an end of stream or an error to read (`EPOLLIN`),
  /// holding no thread meanwhile. On a listening socket: a connection to accept.
  ///
  /// - Throws: As ``waitUntilWritable()``.
  nonisolated(nonsending) public func waitUntilReadable() async throws(ZeroCopyError) {
    try await waitUntilReady(.readable)
  }

  nonisolated(nonsending) private func waitUntilReady(_ events: Readiness.Events) async throws(ZeroCopyError) {
    guard owner.begin() else {
      throw ZeroCopyError(
        .readiness, syscall: "epoll_ctl", errno: .badFileDescriptor, descriptors: [descriptor],
        message: "the socket was closed")
    }
    defer { owner.operationFinished() }
    _ = try await Readiness.wait(for: events, on: descriptor, owner: owner)
  }
}

extension ZeroCopyError.Operation {
  /// Waiting for a descriptor to become readable or writable (``Readiness/wait(for:on:)``,
  /// ``AsyncSocket/waitUntilWritable()``).
  public static let readiness = ZeroCopyError.Operation(rawValue: "readiness")
}

/// The process's one epoll thread: a table of pending waits keyed by token, each armed as
/// a one-shot epoll registration whose user data is the token.
///
/// Tokens are never reused, so an event that arrives for a wait already resumed (cancelled
/// meanwhile) finds no entry and is ignored. A resumed wait's registration is removed
/// (`EPOLL_CTL_DEL`) under the lock, so the descriptor can be waited for again at once.
internal final class ReadinessReactor: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`; `epoll` and `wakeup` are immutable
  // (the kernel serializes epoll_ctl, epoll_wait and eventfd calls from several threads).

  typealias Continuation = UnsafeContinuation<Result<Readiness.Events, ZeroCopyError>, Never>

  private struct Waiter {
    let descriptor: FileDescriptor
    let owner: ManagedDescriptor?
    let continuation: Continuation
  }

  /// How often waits on ``AsyncSocket``s are checked for a close in progress.
  static let closeCheckMilliseconds: Int32 = 50

  private let epoll: Epoll
  private let wakeup: EventFD
  private let lock = Lock()
  private var waiters: [UInt64: Waiter] = [:]  // guarded by lock
  private var ownedWaiters = 0  // guarded by lock: waiters with an owner (close checks)
  private var cancelledBeforeRegistration: Set<UInt64> = []  // guarded by lock
  private var nextToken: UInt64 = 1  // guarded by lock; 0 is the wake-up eventfd

  static let shared: Result<ReadinessReactor, ZeroCopyError> = {
    do throws(ZeroCopyError) {
      return .success(try ReadinessReactor())
    } catch {
      return .failure(error)
    }
  }()

  private init() throws(ZeroCopyError) {
    // On a failure the owners already made close their descriptors.
    do throws(Errno) { epoll = try Epoll() } catch { throw ZeroCopyError(.readiness, syscall: "epoll_create1", errno: error) }
    do throws(Errno) {
      wakeup = try EventFD(options: .nonBlocking)
    } catch {
      throw ZeroCopyError(.readiness, syscall: "eventfd", errno: error)
    }
    do throws(Errno) {
      try epoll.add(wakeup.descriptor, events: .readable, data: 0)
    } catch {
      throw ZeroCopyError(.readiness, syscall: "epoll_ctl", errno: error)
    }
    let started = startThread(name: "zc-readiness", cpu: nil) { [self] in run() }
    if case .failure(let e) = started {
      throw ZeroCopyError(.readiness, syscall: "pthread_create", errno: e)
    }
  }

  static func cancelled(_ descriptor: FileDescriptor) -> ZeroCopyError {
    ZeroCopyError(
      .readiness, syscall: "epoll_wait", errno: .canceled, descriptors: [descriptor], message: "the wait was cancelled")
  }

  func makeToken() -> UInt64 {
    lock.withLock {
      defer { nextToken += 1 }
      return nextToken
    }
  }

  func register(
    token: UInt64, descriptor: FileDescriptor, events: Readiness.Events, owner: ManagedDescriptor?,
    continuation: Continuation
  ) {
    lock.lock()
    if cancelledBeforeRegistration.remove(token) != nil {
      lock.unlock()
      continuation.resume(returning: .failure(Self.cancelled(descriptor)))
      return
    }
    if owner?.isClosing == true {
      lock.unlock()
      continuation.resume(returning: .failure(Self.closing(descriptor)))
      return
    }
    do throws(Errno) {
      try epoll.add(descriptor, events: Epoll.Events(rawValue: events.rawValue), flags: .oneShot, data: token)
    } catch {
      lock.unlock()
      let pending = error == .fileExists
      continuation.resume(
        returning: .failure(
          ZeroCopyError(
            .readiness, syscall: "epoll_ctl", errno: pending ? .resourceBusy : error, descriptors: [descriptor],
            message: pending ? "another readiness wait on this descriptor is pending" : nil)))
      return
    }
    waiters[token] = Waiter(descriptor: descriptor, owner: owner, continuation: continuation)
    let wakeForCloseChecks = owner != nil && ownedWaiters == 0
    if owner != nil { ownedWaiters += 1 }
    lock.unlock()
    // The epoll thread may be sleeping without a timeout: let it start checking for closes.
    if wakeForCloseChecks { poke() }
  }

  func cancel(token: UInt64) {
    lock.lock()
    guard let waiter = removeLocked(token) else {
      cancelledBeforeRegistration.insert(token)
      lock.unlock()
      return
    }
    lock.unlock()
    waiter.continuation.resume(returning: .failure(Self.cancelled(waiter.descriptor)))
  }

  private static func closing(_ descriptor: FileDescriptor) -> ZeroCopyError {
    ZeroCopyError(
      .readiness, syscall: "epoll_wait", errno: .canceled, descriptors: [descriptor], message: "the socket is being closed")
  }

  /// Removes a waiter and its registration. The lock must be held.
  private func removeLocked(_ token: UInt64) -> Waiter? {
    guard let waiter = waiters.removeValue(forKey: token) else { return nil }
    if waiter.owner != nil { ownedWaiters -= 1 }
    _ = try? epoll.remove(waiter.descriptor)
    return waiter
  }

  private func poke() {
    // EAGAIN (the counter is near overflow) still leaves it readable: the thread wakes.
    _ = try? wakeup.signal()
  }

  private func run() {
    let capacity = 256
    var events: [Epoll.Event] = []
    events.reserveCapacity(capacity)
    var ready: [(Continuation, Readiness.Events)] = []
    ready.reserveCapacity(capacity)
    while true {
      let timeout: Duration? = lock.withLock { ownedWaiters > 0 ? .milliseconds(Self.closeCheckMilliseconds) : nil }
      do throws(Errno) {
        // EINTR is retried inside.
        try epoll.wait(into: &events, maximumCount: capacity, timeout: timeout)
      } catch {
        // Not expected with valid arguments; do not spin.
        usleep(10_000)
        continue
      }
      lock.lock()
      for event in events {
        let token = event.data
        if token == 0 {
          _ = try? wakeup.read()
          continue
        }
        guard let waiter = removeLocked(token) else { continue }
        var found = Readiness.Events(rawValue: event.events.intersection([.readable, .writable]).rawValue)
        if !event.events.isDisjoint(with: [.error, .hangUp]) {
          found.formUnion([.readable, .writable])
        }
        ready.append((waiter.continuation, found))
      }
      var closing: [Waiter] = []
      if ownedWaiters > 0 {
        for (token, waiter) in waiters where waiter.owner?.isClosing == true {
          if let removed = removeLocked(token) { closing.append(removed) }
        }
      }
      lock.unlock()
      for (continuation, found) in ready { continuation.resume(returning: .success(found)) }
      ready.removeAll(keepingCapacity: true)
      for waiter in closing { waiter.continuation.resume(returning: .failure(Self.closing(waiter.descriptor))) }
    }
  }
}
