// Cancelling blocking work that runs on another thread: a flag the "all" transfers check
// before every system call, and a signal that ends a call blocked on a peer.

import CZeroCopy
import Glibc
import Synchronization

/// A request to stop blocking work that runs on other threads — the one cancellation
/// mechanism of the library: the transfer strategies on worker threads, ZeroCopy's
/// `Transfer.runBlocking` and the rings' wait loops all stop through it.
///
/// What ``cancel()`` does to work running inside ``withCancellation(_:)`` on some thread:
/// - every "all" transfer of this module (`sendfileAll`, `spliceAll`, `copyFileRangeAll`,
///   `readWriteCopy`, `readAll`, `writeAll`, `writeAll(fromMapping:)`) checks the token
///   before each system call and stops with `TransferFailure(errno: .canceled, progress:)`
///   — the progress exact, as for any failure;
/// - a system call that is blocked — a socket or pipe whose peer does not read, a `poll` —
///   is interrupted: the thread is sent ``interruptSignal``, whose handler does nothing and
///   was installed without `SA_RESTART`, so the call returns `EINTR` (or a short count) and
///   the loop reaches its check. The signal is repeated every 5 ms until the thread has
///   left the scope, because one sent just before the thread enters the call would be
///   lost (the classic race of signal-based cancellation);
/// - the handlers added with ``addCancellationHandler(_:)`` run (a ring that waits in the
///   kernel wakes itself up through one).
///
/// Calls the kernel does not let a signal interrupt — reads and writes of regular files
/// and block devices, which sleep uninterruptibly while the device works — end when the
/// device has served them; callers bound their size instead (the transfer layer paces
/// its chunks so that each takes about 20 ms).
///
/// Why a signal and not readiness polling: `sendfile` and `splice` into a socket block or
/// not according to the *socket's* `O_NONBLOCK`, a flag of the application's open file
/// description that a library must not change (`SPLICE_F_NONBLOCK` only concerns the pipe
/// end, and a socket cannot be reopened), so nothing short of interrupting the call bounds
/// how long it waits for a peer that does not read. (The JDK interrupts blocked I/O the
/// same way.) Cost on a call that is never cancelled: entering and leaving the scope is two
/// atomic stores, one atomic load and a thread-local pointer swap; each loop iteration of
/// an "all" transfer loads the flag once.
///
/// ```swift
/// import LinuxIO
/// import SystemPackage
///
/// let file = try FileDescriptor.open("/etc/hostname", .readOnly)
/// let destination = try FileDescriptor.open("/dev/null", .writeOnly)
/// let token = CancellationToken()
/// // Another thread may call token.cancel() at any time.
/// let result = try token.withCancellation { () throws(TransferFailure) in
///   try file.sendfileAll(to: destination, sourceOffset: 0, count: .untilEndOfFile)
/// }   // throws TransferFailure(errno: .canceled, progress: exact) once cancelled
/// print(result.progress.bytes)
/// ```
///
/// The corresponding C functions are `zc_cancel_request`, `zc_cancel_scope_enter` and
/// `zc_cancel_scope_exit`; the signal is sent with `pthread_kill`.
public final class CancellationToken: @unchecked Sendable {
  // @unchecked: `raw` is accessed atomically (C); `handlers`/`others` under `lock`.

  /// The C token (its field is accessed atomically by the C helpers).
  internal let raw: UnsafeMutablePointer<zc_cancel_token>
  /// The thread inside ``withCancellation(_:)`` (`pthread_t`), or 0; another thread in the
  /// scope at the same time goes to `others`.
  private let thread = Atomic<UInt>(0)
  /// Interrupters between reading `thread` and finishing `pthread_kill`: a thread leaving
  /// the scope waits until none is left, so the signal never reaches a thread that has
  /// left (or exited).
  private let interrupting = Atomic<Int>(0)
  /// Guards `others` and `handlers` (rarely used, held for a few instructions: a spin lock,
  /// which costs a token no allocation and which ThreadSanitizer sees, being atomics).
  private let lock = SpinLock()
  private var others: [UInt: Int] = [:]  // guarded by lock
  private var handlers: [Int: @Sendable () -> Void] = [:]  // guarded by lock
  private var nextHandler = 0  // guarded by lock

  /// A token that has not been cancelled.
  public init() {
    raw = .allocate(capacity: 1)
    raw.initialize(to: zc_cancel_token())
    zc_cancel_token_init(raw)
  }

  deinit {
    raw.deinitialize(count: 1)
    raw.deallocate()
  }

  /// Whether ``cancel()`` has been called.
  public var isCancelled: Bool { zc_cancel_requested(raw) != 0 }

  /// Requests cancellation: work inside ``withCancellation(_:)`` stops at its next check,
  /// blocked system calls are interrupted, and the cancellation handlers run (on the
  /// calling thread). Idempotent; never blocks.
  public func cancel() {
    zc_cancel_request(raw)
    let toRun = lock.withLock { () -> [@Sendable () -> Void] in
      let list = Array(handlers.values)
      handlers.removeAll()
      return list
    }
    if interruptThreads() { Interrupter.shared.watch(self) }
    for handler in toRun { handler() }
  }

  /// Runs `body` on the calling thread inside this token's scope: the "all" transfers
  /// it makes stop with `ECANCELED` once the token is cancelled, and the thread receives
  /// ``interruptSignal`` while it is inside and the token cancelled. Scopes nest (the
  /// innermost token is the one the transfers check).
  ///
  /// The first scope on a thread unblocks ``interruptSignal`` in that thread's signal
  /// mask (threads inherit their creator's mask, and libdispatch's worker threads block
  /// every asynchronous signal), once: later scopes on the thread only test a thread-local
  /// flag. Only this type sends that signal, and only to threads inside a scope.
  ///
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public func withCancellation<R: ~Copyable, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    CancellationToken.acceptInterruptsOnThisThread()
    let me = UInt(pthread_self())
    let fast = thread.compareExchange(expected: 0, desired: me, ordering: .sequentiallyConsistent).exchanged
    if !fast { lock.withLock { others[me, default: 0] += 1 } }
    let previous = zc_cancel_scope_enter(raw)
    defer {
      zc_cancel_scope_exit(previous)
      if fast {
        thread.store(0, ordering: .sequentiallyConsistent)
        while interrupting.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
      } else {
        lock.withLock {
          let n = others[me, default: 1] - 1
          others[me] = n > 0 ? n : nil
        }
      }
    }
    return try body()
  }

  /// Sends ``interruptSignal`` to every thread inside the scope; true if there was one.
  internal func interruptThreads() -> Bool {
    guard let signal = CancellationToken.interruptSignal else { return false }
    interrupting.add(1, ordering: .sequentiallyConsistent)
    let t = thread.load(ordering: .sequentiallyConsistent)
    if t != 0 { pthread_kill(pthread_t(t), signal) }
    interrupting.subtract(1, ordering: .sequentiallyConsistent)
    let more = lock.withLock { () -> Bool in
      for other in others.keys { pthread_kill(pthread_t(other), signal) }  // they cannot leave: they need the lock
      return !others.isEmpty
    }
    return t != 0 || more
  }

  /// An identifier for ``removeCancellationHandler(_:)``.
  public struct HandlerID: Sendable, Hashable {
    fileprivate let value: Int
  }

  /// Adds `handler`, run once by ``cancel()`` (on the cancelling thread; keep it short and
  /// non-blocking: wake a waiting thread, submit a cancellation). If the token is already
  /// cancelled, `handler` runs now, on this thread, and nil is returned.
  public func addCancellationHandler(_ handler: @escaping @Sendable () -> Void) -> HandlerID? {
    let id = lock.withLock { () -> Int? in
      if isCancelled { return nil }
      nextHandler += 1
      handlers[nextHandler] = handler
      return nextHandler
    }
    guard let id else {
      handler()
      return nil
    }
    return HandlerID(value: id)
  }

  /// Removes a handler that has not run yet.
  public func removeCancellationHandler(_ id: HandlerID) {
    _ = lock.withLock { handlers.removeValue(forKey: id.value) }
  }

  // MARK: - The interrupt signal

  /// Unblocks ``interruptSignal`` in the calling thread's mask, the first time only.
  @inline(__always)
  private static func acceptInterruptsOnThisThread() {
    if interruptsAccepted { return }
    interruptsAccepted = true  // (before the signal exists: a thread is checked once)
    guard let signal = interruptSignal else { return }
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
  }

  /// The signal that interrupts threads blocked in a system call, or nil when interruption
  /// is off. `SIGRTMAX - 3` by default (64 − 3 = 61 on Linux), installed once with a handler
  /// that does nothing and no `SA_RESTART`, and only if nobody else handles that signal
  /// (its disposition is `SIG_DFL` or `SIG_IGN`); the environment variable
  /// `ZEROCOPY_INTERRUPT_SIGNAL` names another signal number, or `0` to turn interruption off.
  ///
  /// The corresponding C function is `sigaction`.
  public static let interruptSignal: Int32? = installInterruptSignal()

  private static func installInterruptSignal() -> Int32? {
    var number = __libc_current_sigrtmax() - 3
    if let value = getenv("ZEROCOPY_INTERRUPT_SIGNAL"), let parsed = Int32(String(cString: value)) {
      number = parsed
    }
    guard number > 0 && number <= __libc_current_sigrtmax(), number != SIGKILL, number != SIGSTOP else { return nil }
    var current = sigaction()
    guard sigaction(number, nil, &current) == 0 else { return nil }
    let handler = unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
    guard current.sa_flags & SA_SIGINFO == 0, handler == 0 || handler == 1 else { return nil }  // someone else's
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART: a blocked call returns EINTR or a short count
    guard sigaction(number, &action, nil) == 0 else { return nil }
    return number
  }
}

/// Whether the calling thread has unblocked the interrupt signal (a thread-specific value).
private var interruptsAccepted: Bool {
  get { pthread_getspecific(interruptsAcceptedKey) != nil }
  set { pthread_setspecific(interruptsAcceptedKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
}

private let interruptsAcceptedKey: pthread_key_t = {
  var key = pthread_key_t()
  let rc = pthread_key_create(&key, nil)
  precondition(rc == 0, "pthread_key_create failed: \(rc)")
  return key
}()

/// Repeats the interrupt signal every 5 ms to the threads of cancelled tokens that are
/// still inside their scope (a signal that arrived just before a thread entered a
/// blocking call does not interrupt it). One thread for the process, started on first use.
private final class Interrupter: @unchecked Sendable {
  static let shared = Interrupter()

  private let lock = PthreadMutex()
  private let wakeUp = PthreadCondition()
  /// Cancelled tokens with threads still inside their scope, and how many rounds they were kicked.
  private var watched: [ObjectIdentifier: (token: CancellationToken, rounds: Int)] = [:]  // guarded by lock
  private var started = false  // guarded by lock

  func watch(_ token: CancellationToken) {
    lock.withLock {
      if watched[ObjectIdentifier(token)] == nil { watched[ObjectIdentifier(token)] = (token, 0) }
      if !started {
        started = true
        var thread = pthread_t()
        let context = Unmanaged.passUnretained(self).toOpaque()
        let rc = pthread_create(
          &thread, nil,
          { context in
            Unmanaged<Interrupter>.fromOpaque(context!).takeUnretainedValue().run()
          }, context)
        if rc == 0 { pthread_detach(thread) } else { started = false }
      }
      wakeUp.signal()
    }
  }

  private func run() -> Never {
    var set = sigset_t()
    sigfillset(&set)
    pthread_sigmask(SIG_BLOCK, &set, nil)  // never the target of anyone's signal
    while true {
      let entries = lock.withLock { () -> [(token: CancellationToken, rounds: Int)] in
        while watched.isEmpty { lock.wait(wakeUp) }
        for (id, entry) in watched { watched[id]!.rounds = entry.rounds + 1 }
        return Array(watched.values)
      }
      usleep(5_000)
      var finished: [ObjectIdentifier] = []
      for (token, rounds) in entries {
        // Every 5 ms for the first 100 ms, then every 50 ms: a thread that sleeps in the
        // kernel uninterruptibly (a slow device) would otherwise queue a signal per round.
        if rounds > 20 && rounds % 10 != 0 { continue }
        if !token.interruptThreads() { finished.append(ObjectIdentifier(token)) }
      }
      if !finished.isEmpty {
        lock.withLock { for id in finished { watched[id] = nil } }
      }
    }
  }
}

/// A lock for a few instructions, made of one atomic flag.
internal struct SpinLock: ~Copyable, Sendable {
  private let locked = Atomic<Bool>(false)

  func withLock<R>(_ body: () throws -> R) rethrows -> R {
    while !locked.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
      sched_yield()
    }
    defer { locked.store(false, ordering: .releasing) }
    return try body()
  }
}

/// A pthread mutex at a stable address (ThreadSanitizer sees pthread primitives).
internal final class PthreadMutex: @unchecked Sendable {
  let mutex: UnsafeMutablePointer<pthread_mutex_t>
  init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }
  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deinitialize(count: 1)
    mutex.deallocate()
  }
  func withLock<R>(_ body: () throws -> R) rethrows -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }
  /// Waits on `condition` (the mutex must be held).
  func wait(_ condition: PthreadCondition) { pthread_cond_wait(condition.cond, mutex) }
}

/// A pthread condition variable at a stable address.
internal final class PthreadCondition: @unchecked Sendable {
  let cond: UnsafeMutablePointer<pthread_cond_t>
  init() {
    cond = .allocate(capacity: 1)
    cond.initialize(to: pthread_cond_t())
    pthread_cond_init(cond, nil)
  }
  deinit {
    pthread_cond_destroy(cond)
    cond.deinitialize(count: 1)
    cond.deallocate()
  }
  func signal() { pthread_cond_signal(cond) }
}
