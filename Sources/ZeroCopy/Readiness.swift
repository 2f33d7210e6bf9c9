// Readiness waits: "tell me when this descriptor is readable / writable", for many
// descriptors at once, on one thread (epoll), without a thread per waiter.

import CLinuxExtras
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
    public static let readable = Events(rawValue: UInt32(EPOLLIN.rawValue))
    /// Data can be written without blocking (`EPOLLOUT`).
    public static let writable = Events(rawValue: UInt32(EPOLLOUT.rawValue))

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
  nonisolated(nonsending) public static func wait(for events: Events, on descriptor: FileDescriptor) async throws(ZeroCopyError) -> Events {
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
  // @unchecked: every mutable field is guarded by `lock`; `epoll` and `wakeup` are immutable.

  typealias Continuation = UnsafeContinuation<Result<Readiness.Events, ZeroCopyError>, Never>

  private struct Waiter {
    let descriptor: FileDescriptor
    let owner: ManagedDescriptor?
    let continuation: Continuation
  }

  /// How often waits on ``AsyncSocket``s are checked for a close in progress.
  static let closeCheckMilliseconds: Int32 = 50

  private let epoll: Int32
  private let wakeup: Int32
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
    let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
    guard ep >= 0 else { throw ZeroCopyError(.readiness, syscall: "epoll_create1", errno: Errno(rawValue: errno)) }
    let ev = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
    guard ev >= 0 else {
      let e = errno
      close(ep)
      throw ZeroCopyError(.readiness, syscall: "eventfd", errno: Errno(rawValue: e))
    }
    var event = epoll_event()
    event.events = EPOLLIN.rawValue
    event.data.u64 = 0
    guard epoll_ctl(ep, EPOLL_CTL_ADD, ev, &event) == 0 else {
      let e = errno
      close(ep)
      close(ev)
      throw ZeroCopyError(.readiness, syscall: "epoll_ctl", errno: Errno(rawValue: e))
    }
    epoll = ep
    wakeup = ev
    let started = startThread(name: "zc-readiness", cpu: nil) { [self] in run() }
    if case .failure(let e) = started {
      close(ep)
      close(ev)
      throw ZeroCopyError(.readiness, syscall: "pthread_create", errno: e)
    }
  }

  static func cancelled(_ descriptor: FileDescriptor) -> ZeroCopyError {
    ZeroCopyError(.readiness, syscall: "epoll_wait", errno: .canceled, descriptors: [descriptor], message: "the wait was cancelled")
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
    var event = epoll_event()
    event.events = events.rawValue | UInt32(EPOLLONESHOT.rawValue)
    event.data.u64 = token
    if epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor.rawValue, &event) != 0 {
      let e = errno
      lock.unlock()
      let errno = e == EEXIST ? Errno.resourceBusy : Errno(rawValue: e)
      continuation.resume(
        returning: .failure(
          ZeroCopyError(
            .readiness, syscall: "epoll_ctl", errno: errno, descriptors: [descriptor],
            message: e == EEXIST ? "another readiness wait on this descriptor is pending" : nil)))
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
    ZeroCopyError(.readiness, syscall: "epoll_wait", errno: .canceled, descriptors: [descriptor], message: "the socket is being closed")
  }

  /// Removes a waiter and its registration. The lock must be held.
  private func removeLocked(_ token: UInt64) -> Waiter? {
    guard let waiter = waiters.removeValue(forKey: token) else { return nil }
    if waiter.owner != nil { ownedWaiters -= 1 }
    var unused = epoll_event()
    _ = epoll_ctl(epoll, EPOLL_CTL_DEL, waiter.descriptor.rawValue, &unused)
    return waiter
  }

  private func poke() {
    var one: UInt64 = 1
    _ = write(wakeup, &one, 8)
  }

  private func run() {
    let capacity = 256
    let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
    defer { events.deallocate() }
    var ready: [(Continuation, Readiness.Events)] = []
    ready.reserveCapacity(capacity)
    while true {
      let timeout = lock.withLock { ownedWaiters > 0 ? Self.closeCheckMilliseconds : -1 }
      let n = epoll_wait(epoll, events, Int32(capacity), timeout)
      if n < 0 {
        if errno == EINTR { continue }
        // Not expected with valid arguments; do not spin.
        usleep(10_000)
        continue
      }
      lock.lock()
      for i in 0..<Int(n) {
        let token = events[i].data.u64
        if token == 0 {
          var drained: UInt64 = 0
          _ = read(wakeup, &drained, 8)
          continue
        }
        guard let waiter = removeLocked(token) else { continue }
        var found = Readiness.Events(rawValue: events[i].events & (UInt32(EPOLLIN.rawValue) | UInt32(EPOLLOUT.rawValue)))
        if events[i].events & (UInt32(EPOLLERR.rawValue) | UInt32(EPOLLHUP.rawValue)) != 0 {
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
