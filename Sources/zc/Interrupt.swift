// SIGINT, SIGTERM and SIGHUP while zc copies or sends: cancel the operation, let it clean
// up (an atomic copy removes its temporary file, a tree copy undoes the files in flight),
// then die of the same signal — the exit status a shell shows for cp killed by it (130 for
// SIGINT) — within a fraction of a second.
//
// The handler only writes the signal's number to a pipe (async-signal-safe). A watcher
// thread reads it, marks the process interrupted and runs the registered cancellation
// (TransferMonitor.cancel(), which task cancellation also triggers). The command's own
// path, seeing the operation end, calls exitIfInterrupted(). If the operation has not
// ended after `grace` (it is blocked in a system call that cancellation does not interrupt:
// opening a FIFO without a reader, reading an empty pipe, a peer that does not read), the
// watcher removes every unfinished file itself (CopyCleanup.removeUnfinishedFiles()) and
// dies of the signal. A second signal during the grace period does the same at once.

import Glibc
import ZeroCopy

enum Interruption {
  /// How long the operation gets to return after it was cancelled.
  static let grace: Int32 = 150  // milliseconds

  /// The signals handled.
  static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

  /// Installs the handlers and starts the watcher thread (once, before any work).
  static func install() {
    guard interruptPipeWriteEnd < 0, makeInterruptPipe(), startWatcher() else { return }
    for number in signals { signal(number, handleSignal) }
  }

  /// Registers what cancels the operation that is running (for example a monitor's
  /// `cancel()`). Runs at once if a signal already arrived.
  static func onInterrupt(_ action: @escaping @Sendable () -> Void) {
    let now = state.withLock { state -> Bool in
      if state.received != nil { return true }
      state.actions.append(action)
      return false
    }
    if now { action() }
  }

  /// Whether a signal arrived (and which).
  static var received: Int32? { state.withLock { $0.received } }

  /// If a signal arrived: removes any unfinished file and dies of that signal. Call it when
  /// the operation has ended (returned or thrown), before printing anything about it.
  static func exitIfInterrupted() {
    if let number = received { die(number) }
  }

  // MARK: - Internals

  private struct State {
    var received: Int32?
    var actions: [@Sendable () -> Void] = []
  }

  /// The state, behind a pthread mutex (ThreadSanitizer sees those; it does not see
  /// `Synchronization.Mutex`, and `make sanitize` runs zc under it).
  private final class Guarded: @unchecked Sendable {
    // @unchecked: `value` is only touched with `mutex` held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
      let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
      m.initialize(to: pthread_mutex_t())
      pthread_mutex_init(m, nil)
      return m
    }()
    private var value = State()

    func withLock<R>(_ body: (inout State) -> R) -> R {
      pthread_mutex_lock(mutex)
      defer { pthread_mutex_unlock(mutex) }
      return body(&value)
    }
  }

  private static let state = Guarded()

  fileprivate static func watch() {
    var number: UInt8 = 0
    while read(interruptPipeReadEnd, &number, 1) != 1 {
      if errno != EINTR { return }
    }
    let actions = state.withLock { state -> [@Sendable () -> Void] in
      state.received = Int32(number)
      defer { state.actions.removeAll() }
      return state.actions
    }
    for action in actions { action() }
    // The operation's own path normally dies first (exitIfInterrupted). If not within the
    // grace period — or on a second signal — the process goes now.
    var poller = pollfd(fd: interruptPipeReadEnd, events: Int16(POLLIN), revents: 0)
    let deadline = monotonicMilliseconds() + Int64(grace)
    while true {
      let left = deadline - monotonicMilliseconds()
      if left <= 0 { break }
      let ready = poll(&poller, 1, Int32(left))
      if ready > 0 || (ready < 0 && errno != EINTR) { break }
    }
    die(Int32(number))
  }

  /// Removes unfinished files, erases a progress line, restores the default action and
  /// raises the signal (the process dies of it; `_exit(128 + n)` if it somehow survives).
  private static func die(_ number: Int32) -> Never {
    CopyCleanup.removeUnfinishedFiles()
    if isatty(STDERR_FILENO) == 1 { writeStandardError("\r\u{1B}[2K") }
    signal(number, SIG_DFL)
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, number)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    raise(number)
    _exit(128 + number)
  }

  private static func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
  }
}

// Read by the signal handler: plain integers, set before the handler is installed.
nonisolated(unsafe) private var interruptPipeReadEnd: Int32 = -1
nonisolated(unsafe) private var interruptPipeWriteEnd: Int32 = -1

/// The handler: one byte (the signal's number) into the pipe; errno preserved.
private func handleSignal(_ number: Int32) {
  let saved = errno
  var byte = UInt8(truncatingIfNeeded: number)
  _ = write(interruptPipeWriteEnd, &byte, 1)
  errno = saved
}

/// The pipe the handler writes to (close-on-exec both ends). False if it cannot be made:
/// the signals then keep their default action.
private func makeInterruptPipe() -> Bool {
  var ends: (Int32, Int32) = (-1, -1)
  let made = withUnsafeMutableBytes(of: &ends) { raw in pipe(raw.baseAddress!.assumingMemoryBound(to: Int32.self)) }
  guard made == 0 else { return false }
  _ = fcntl(ends.0, F_SETFD, FD_CLOEXEC)
  _ = fcntl(ends.1, F_SETFD, FD_CLOEXEC)
  interruptPipeReadEnd = ends.0
  interruptPipeWriteEnd = ends.1
  return true
}

/// Starts the detached watcher thread.
private func startWatcher() -> Bool {
  var thread = pthread_t()
  guard pthread_create(&thread, nil, watcherMain, nil) == 0 else { return false }
  pthread_detach(thread)
  return true
}

private func watcherMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  Interruption.watch()
  return nil
}
