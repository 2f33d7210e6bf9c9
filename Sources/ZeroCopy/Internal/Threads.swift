// Threads, locks and signal masks for the engines' own threads.
//
// The engines use pthread primitives directly (not Synchronization.Mutex) for the state
// they share between threads: ThreadSanitizer understands pthread mutexes and condition
// variables, so the TSan run of the test suite sees every hand-off (Docs/LinuxFacts.md: TSan does
// not see Mutex).

import Glibc
import LinuxIO
import SystemPackage

/// A pthread mutex at a stable heap address.
internal final class Lock: @unchecked Sendable {
  // @unchecked: the mutex protects whatever its users guard with it.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    let rc = pthread_mutex_init(mutex, nil)
    precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deinitialize(count: 1)
    mutex.deallocate()
  }

  @inline(__always)
  func lock() { pthread_mutex_lock(mutex) }

  @inline(__always)
  func unlock() { pthread_mutex_unlock(mutex) }

  @inline(__always)
  func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body()
  }

  /// Waits on `condition`, which must be used with this lock only. The lock must be held.
  @inline(__always)
  func wait(_ condition: Condition) {
    pthread_cond_wait(condition.cond, mutex)
  }
}

/// A pthread condition variable at a stable heap address.
internal final class Condition: @unchecked Sendable {
  let cond: UnsafeMutablePointer<pthread_cond_t>

  init() {
    cond = .allocate(capacity: 1)
    cond.initialize(to: pthread_cond_t())
    let rc = pthread_cond_init(cond, nil)
    precondition(rc == 0, "pthread_cond_init failed: \(rc)")
  }

  deinit {
    pthread_cond_destroy(cond)
    cond.deinitialize(count: 1)
    cond.deallocate()
  }

  @inline(__always) func signal() { pthread_cond_signal(cond) }
  @inline(__always) func broadcast() { pthread_cond_broadcast(cond) }
}

/// A one-shot event a thread can block on (used only while starting and stopping engine
/// threads, never on an I/O path).
internal final class OneShotEvent: @unchecked Sendable {
  private let lock = Lock()
  private let condition = Condition()
  private var signalled = false  // guarded by lock

  func signal() {
    lock.withLock {
      signalled = true
      condition.broadcast()
    }
  }

  func wait() {
    lock.lock()
    while !signalled { lock.wait(condition) }
    lock.unlock()
  }
}

/// Holds a thread's body until the new thread takes it.
private final class ThreadStart {
  let body: () -> Void
  init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts a detached pthread that runs `body`, with `SIGPIPE` and `SIGXFSZ` blocked (a
/// write to a closed pipe or past `RLIMIT_FSIZE` then fails with `EPIPE`/`EFBIG` instead of
/// killing the process — io_uring and the fallback run such writes on these threads),
/// named `name` (at most 15 bytes are kept) and, if `cpu` is given, pinned to that CPU.
///
/// - Returns: The thread's id, or the `pthread_create` error.
internal func startThread(name: String, cpu: Int?, _ body: @escaping @Sendable () -> Void) -> Result<pthread_t, Errno> {
  let start = Unmanaged.passRetained(
    ThreadStart {
      blockProcessKillingSignals()
      setCurrentThreadName(name)
      if let cpu { _ = pinCurrentThread(toCPU: cpu) }
      body()
    })
  var attributes = pthread_attr_t()
  pthread_attr_init(&attributes)
  pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
  defer { pthread_attr_destroy(&attributes) }
  var thread = pthread_t()
  let rc = pthread_create(
    &thread, &attributes,
    { context in
      let start = Unmanaged<ThreadStart>.fromOpaque(context!).takeRetainedValue()
      start.body()
      return nil
    }, start.toOpaque())
  if rc != 0 {
    start.release()
    return .failure(Errno(rawValue: rc))
  }
  return .success(thread)
}

/// Blocks `SIGPIPE` and `SIGXFSZ` in the calling thread for its whole life.
///
/// The kernel sends both to the thread that made the offending write; blocked, they stay
/// pending on this thread (never delivered) and the write returns `EPIPE` / `EFBIG`.
/// LinuxIO remembers it for the thread (`blockPipeAndFileSizeSignalsOnThisThread`), so the
/// signal guards of the transfers these threads run make no `rt_sigprocmask` calls.
/// io_uring's own worker threads already block every signal.
internal func blockProcessKillingSignals() {
  // pthread_sigmask with valid arguments does not fail.
  try? blockPipeAndFileSizeSignalsOnThisThread()
}

// `pthread_setname_np` and `sched_setaffinity` are GNU extensions that `import Glibc` hides
// (Docs/LinuxFacts.md, Building). They are looked up once with dlsym instead of adding C for two calls.
private typealias SetNameFunction = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
private typealias SetAffinityFunction = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32

private let glibcSymbols: (setName: SetNameFunction?, setAffinity: SetAffinityFunction?) = {
  guard let handle = dlopen(nil, RTLD_NOW) else { return (nil, nil) }
  let setName = dlsym(handle, "pthread_setname_np").map { unsafeBitCast($0, to: SetNameFunction.self) }
  let setAffinity = dlsym(handle, "sched_setaffinity").map { unsafeBitCast($0, to: SetAffinityFunction.self) }
  return (setName, setAffinity)
}()

/// Names the calling thread (visible in `top -H`, gdb, /proc/self/task/*/comm).
internal func setCurrentThreadName(_ name: String) {
  guard let setName = glibcSymbols.setName else { return }
  let truncated = String(decoding: Array(name.utf8.prefix(15)), as: UTF8.self)
  _ = truncated.withCString { setName(pthread_self(), $0) }
}

/// Pins the calling thread to one CPU.
///
/// - Returns: 0, or the errno (`EINVAL` for a CPU that does not exist or is offline).
///
/// The corresponding C function is `sched_setaffinity(0, …)`.
@discardableResult
internal func pinCurrentThread(toCPU cpu: Int) -> Int32 {
  guard let setAffinity = glibcSymbols.setAffinity else { return ENOSYS }
  guard cpu >= 0 && cpu < 1024 else { return EINVAL }
  var mask = [UInt64](repeating: 0, count: 16)  // cpu_set_t: 1024 bits
  mask[cpu / 64] |= 1 << UInt64(cpu % 64)
  let rc = mask.withUnsafeBytes { setAffinity(0, $0.count, $0.baseAddress!) }
  return rc == 0 ? 0 : Glibc.errno
}

/// The number of CPUs this process may run on.
internal var onlineCPUCount: Int {
  let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
  return n > 0 ? n : 1
}

/// Whether the calling thread is `thread`.
@inline(__always)
internal func isCurrentThread(_ thread: pthread_t) -> Bool {
  pthread_equal(pthread_self(), thread) != 0
}
