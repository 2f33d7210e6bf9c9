// Test support: real kernel objects (temporary files, pipes, socketpairs, threads),
// byte patterns and exact comparisons.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// The sizes every data-moving API is checked at.
let interestingSizes: [Int] = [0, 1, 4095, 4096, 4097, (1 << 20) + 3]

/// Whether this test binary runs under AddressSanitizer or ThreadSanitizer (`make sanitize`).
let underSanitizer =
  dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
  || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

/// A deterministic byte pattern with no short period (so misplaced pages are caught).
func pattern(_ count: Int, seed: UInt32 = 0x9E37_79B9) -> [UInt8] {
  var state = seed | 1
  return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
    for i in 0..<count {
      state ^= state << 13
      state ^= state >> 17
      state ^= state << 5
      buffer[i] = UInt8(truncatingIfNeeded: state)
    }
    initialized = count
  }
}

/// Checks two byte arrays are identical, reporting the first difference, not the arrays.
func expectSameBytes(
  _ actual: [UInt8], _ expected: [UInt8], _ what: String = "bytes",
  sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual != expected else { return }
  let firstDiff = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
  Issue.record(
    "\(what): got \(actual.count) bytes, expected \(expected.count); first difference at \(firstDiff.map(String.init) ?? "the end")",
    sourceLocation: sourceLocation)
}

/// Where ordinary temporary files go (ext4 on this machine, like the working tree).
let diskDirectory = "/tmp"
/// A tmpfs directory (a different superblock from `diskDirectory`).
let memoryDirectory = "/dev/shm"

/// A fresh path in `directory` (random; opened with O_EXCL by the callers).
func uniquePath(in directory: String) -> String {
  var rng = SystemRandomNumberGenerator()
  return "\(directory)/linuxio-test-\(getpid())-\(String(rng.next(), radix: 36))"
}

/// Creates an anonymous temporary file (created, then unlinked at once: it disappears
/// when the descriptor is closed) holding `contents`. The descriptor is O_CLOEXEC.
func temporaryFile(
  _ contents: [UInt8] = [], in directory: String = diskDirectory
) throws -> FileDescriptor {
  let path = uniquePath(in: directory)
  let fd = try FileDescriptor.open(
    FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
    permissions: [.ownerReadWrite])
  unlink(path)
  if !contents.isEmpty {
    _ = try fd.writeAll(toAbsoluteOffset: 0, contents)
  }
  return fd
}

/// A temporary file's path and descriptor, for the tests that need to reopen it
/// (for example with O_APPEND); `remove()` unlinks it.
struct NamedFile {
  let path: String
  let fd: FileDescriptor
  init(_ contents: [UInt8] = [], in directory: String = diskDirectory) throws {
    path = uniquePath(in: directory)
    fd = try FileDescriptor.open(
      FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
      permissions: [.ownerReadWrite])
    if !contents.isEmpty { _ = try fd.writeAll(toAbsoluteOffset: 0, contents) }
  }
  func remove() {
    try? fd.close()
    unlink(path)
  }
}

/// The size of an open file.
func fileSize(_ fd: FileDescriptor) -> Int64 {
  var st = stat()
  precondition(fstat(fd.rawValue, &st) == 0)
  return Int64(st.st_size)
}

/// The whole contents of an open file (by position-independent reads).
func contents(of fd: FileDescriptor) throws -> [UInt8] {
  let size = Int(fileSize(fd))
  return try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
    var done = 0
    while done < size {
      let n = try fd.read(
        fromAbsoluteOffset: Int64(done),
        into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[done...]))
      if n == 0 { break }
      done += n
    }
    initialized = done
  }
}

/// Reads exactly `count` bytes from `fd` at `offset`.
func bytes(of fd: FileDescriptor, at offset: Int64, count: Int) throws -> [UInt8] {
  try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
    let n = try fd.read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(buffer))
    initialized = n
  }
}

/// The current file position.
func position(_ fd: FileDescriptor) throws -> Int64 {
  try fd.seek(offset: 0, from: .current)
}

/// A connected AF_UNIX stream socketpair, O_CLOEXEC, optionally non-blocking.
func socketPair(nonBlocking: Bool = false) throws -> (FileDescriptor, FileDescriptor) {
  var fds: [CInt] = [-1, -1]
  var type = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
  if nonBlocking { type |= CInt(SOCK_NONBLOCK.rawValue) }
  guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw Errno(rawValue: errno) }
  return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}

/// Shrinks a socket's send buffer (and the peer's receive buffer) so that a
/// non-blocking sender fills it quickly.
func setSocketBuffer(_ fd: FileDescriptor, option: CInt, bytes: CInt) {
  var value = bytes
  let r = setsockopt(fd.rawValue, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<CInt>.size))
  precondition(r == 0)
}

/// Reads `fd` until end of file, returning everything.
func drain(_ fd: FileDescriptor) throws -> [UInt8] {
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
    if n == 0 { return result }
    result += chunk[0..<n]
  }
}

/// Whether FD_CLOEXEC is set on `fd`.
func isCloseOnExec(_ fd: FileDescriptor) -> Bool {
  let flags = fcntl(fd.rawValue, F_GETFD)
  precondition(flags >= 0)
  return flags & FD_CLOEXEC != 0
}

/// Sleeps for `milliseconds`.
func sleepMilliseconds(_ milliseconds: Int) {
  var ts = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
  var remaining = timespec()
  while nanosleep(&ts, &remaining) != 0 && errno == EINTR { ts = remaining }
}

private final class ThreadStart {
  let run: () -> Void
  init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a pthread running `run`.
private func startThread(_ run: @escaping () -> Void) -> pthread_t {
  let box = Unmanaged.passRetained(ThreadStart(run)).toOpaque()
  var thread = pthread_t()
  let r = pthread_create(
    &thread, nil,
    { arg in
      Unmanaged<ThreadStart>.fromOpaque(arg!).takeRetainedValue().run()
      return nil
    }, box)
  precondition(r == 0, "pthread_create failed: \(r)")
  return thread
}

/// A real OS thread (not a cooperative-pool thread: the work blocks in syscalls).
final class TestThread<Result: Sendable>: @unchecked Sendable {
  // @unchecked: `result` is written by the thread before it exits and read only
  // after pthread_join, which orders the two.
  private var thread = pthread_t()
  private var result: Result?

  init(_ body: @escaping @Sendable () -> Result) {
    thread = startThread { [self] in self.result = body() }
  }

  /// Waits for the thread and returns what it returned.
  func join() -> Result {
    pthread_join(thread, nil)
    return result!
  }
}

/// A pair of (read, write) results for reader threads.
struct ReadOutcome: Sendable {
  var bytes: [UInt8] = []
  var error: Errno?
}

/// A one-way signal between threads: a value one thread publishes (once) and another
/// waits for, polling (1 ms) under a lock. A `Published<Void>` is a gate: `publish(())`
/// opens it.
final class Published<Value: Sendable>: @unchecked Sendable {
  private let lock = NSLockLike()
  private var value: Value?  // guarded by lock
  func publish(_ value: Value) { lock.with { self.value = value } }
  /// Polls until the value is published.
  func wait() -> Value {
    while true {
      if let value = wait(upTo: .seconds(60)) { return value }
    }
  }
  /// Polls until the value is published or `limit` has passed; the value, or nil.
  @discardableResult
  func wait(upTo limit: Duration) -> Value? {
    let deadline = ContinuousClock.now + limit
    while true {
      if let value = lock.with({ value }) { return value }
      if ContinuousClock.now >= deadline { return nil }
      sleepMilliseconds(1)
    }
  }
}

/// Starts a thread that reads `fd` until end of file or an error (after `gate` opened,
/// or 10 s, if given; then after `delayMilliseconds`).
func startReader(
  _ fd: FileDescriptor, after gate: Published<Void>? = nil, delayMilliseconds: Int = 0, limit: Int = .max
) -> TestThread<ReadOutcome> {
  TestThread {
    gate?.wait(upTo: .seconds(10))
    if delayMilliseconds > 0 { sleepMilliseconds(delayMilliseconds) }
    var outcome = ReadOutcome()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while outcome.bytes.count < limit {
      do {
        let want = min(chunk.count, limit - outcome.bytes.count)
        let n = try chunk.withUnsafeMutableBytes {
          try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]))
        }
        if n == 0 { break }
        outcome.bytes += chunk[0..<n]
      } catch {
        outcome.error = error as? Errno
        break
      }
    }
    return outcome
  }
}

/// The disposition of `signal` (SIG_DFL is 0).
func signalHandlerIsDefault(_ signal: CInt) -> Bool {
  var action = sigaction()
  precondition(sigaction(signal, nil, &action) == 0)
  return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == 0
}

/// Whether `signal` is pending for this thread or process.
func isPending(_ signal: CInt) -> Bool {
  var set = sigset_t()
  sigemptyset(&set)
  precondition(sigpending(&set) == 0)
  return sigismember(&set, signal) == 1
}

/// Whether `signal` is blocked in this thread.
func isBlocked(_ signal: CInt) -> Bool {
  var set = sigset_t()
  sigemptyset(&set)
  precondition(pthread_sigmask(SIG_BLOCK, nil, &set) == 0)
  return sigismember(&set, signal) == 1
}

/// Reads exactly `count` bytes from a pipe or socket (blocking).
func readExactly(_ fd: FileDescriptor, _ count: Int) throws -> [UInt8] {
  var result = [UInt8](repeating: 0, count: count)
  var done = 0
  while done < count {
    let n = try result.withUnsafeMutableBytes {
      try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[done...]))
    }
    if n == 0 { break }
    done += n
  }
  return Array(result[0..<done])
}

/// This thread's signal mask.
func currentSignalMask() -> sigset_t {
  var set = sigset_t()
  sigemptyset(&set)
  precondition(pthread_sigmask(SIG_BLOCK, nil, &set) == 0)
  return set
}

/// Whether two signal sets hold the same signals (1...64).
func sameSignals(_ a: sigset_t, _ b: sigset_t) -> Bool {
  var a = a, b = b
  return (1...64).allSatisfy { sigismember(&a, CInt($0)) == sigismember(&b, CInt($0)) }
}

/// Whether capability number `capability` is in this process's effective set.
func hasEffectiveCapability(_ capability: Int) throws -> Bool {
  let status = try FileDescriptor.open("/proc/self/status", .readOnly, options: .closeOnExec)
  defer { try? status.close() }
  let text = String(decoding: try drain(status), as: UTF8.self)
  guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
    let mask = UInt64(line.dropFirst("CapEff:".count).trimmingPrefix(while: \.isWhitespace), radix: 16)
  else { return false }
  return mask & (1 << UInt64(capability)) != 0
}

/// Whether this process is subject to the per-user pipe-buffer limits
/// (`fs.pipe-user-pages-soft`, 64 MiB): neither CAP_SYS_RESOURCE nor CAP_SYS_ADMIN.
let pipeLimitsApply: Bool = !((try? hasEffectiveCapability(24)) ?? false) && !((try? hasEffectiveCapability(21)) ?? false)

/// `set()` (which sets a pipe's capacity to `bytes`), retried for up to 15 s on `EPERM`
/// when the per-user pipe-buffer limit applies: all of this user's pipes count against
/// fs.pipe-user-pages-soft, and tests running in parallel (as an unprivileged user)
/// briefly hold more than 64 MiB of 1 MiB pipes. A process with CAP_SYS_RESOURCE or
/// CAP_SYS_ADMIN (`pipeLimitsApply` false) is never limited, so there `EPERM` is thrown
/// at once, as is any other error.
///
/// If the per-user limit stays exhausted for 15 s (the unprivileged run of `make test`
/// has many processes holding pooled 1 MiB pipes at once), the test is skipped with
/// that reason (`Test.cancel`), not failed: the kernel refuses by design.
func retryingPipeLimit(_ bytes: Int, _ set: () throws(Errno) -> Int) throws -> Int {
  let deadline = ContinuousClock.now + .seconds(15)
  while true {
    do {
      return try set()
    } catch {
      guard error == .notPermitted && pipeLimitsApply && bytes <= 1 << 20 else { throw error }
    }
    if ContinuousClock.now >= deadline {
      try Test.cancel(
        "the per-user pipe buffer limit (fs.pipe-user-pages-soft) stayed exhausted for 15 s while other tests held pipes; F_SETPIPE_SZ answers EPERM"
      )
    }
    usleep(20_000)
  }
}

extension Pipe {
  /// `setCapacity(bytes)`, retried while the per-user pipe-buffer limit is exhausted
  /// (``retryingPipeLimit(_:_:)``).
  @discardableResult
  func setCapacityRetrying(_ bytes: Int) throws -> Int {
    try retryingPipeLimit(bytes) { () throws(Errno) in try setCapacity(bytes) }
  }
}

extension FileDescriptor {
  /// `setPipeCapacity(bytes)`, retried while the per-user pipe-buffer limit is exhausted
  /// (``retryingPipeLimit(_:_:)``).
  @discardableResult
  func setPipeCapacityRetrying(_ bytes: Int) throws -> Int {
    try retryingPipeLimit(bytes) { () throws(Errno) in try setPipeCapacity(bytes) }
  }
}

/// Runs `body` with every blockable signal blocked on the calling thread (restored after):
/// a long sendfile/splice returns a short count when a signal arrives mid-call (legal, but
/// it adds a system call), so exact call counts are checked with signals held off. A
/// process-directed signal then goes to another thread.
func withSignalsBlocked<T>(_ body: () throws -> T) rethrows -> T {
  var all = sigset_t()
  var old = sigset_t()
  sigfillset(&all)
  precondition(pthread_sigmask(SIG_BLOCK, &all, &old) == 0)
  defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
  return try body()
}

/// Whether the page of `fd` at `offset` is in the page cache (mincore of a read-only
/// shared mapping, which faults nothing in).
func isResident(_ fd: FileDescriptor, at offset: Int) -> Bool {
  let page = Int(sysconf(Int32(_SC_PAGESIZE)))
  guard let map = mmap(nil, page, PROT_READ, MAP_SHARED, fd.rawValue, off_t(offset)), map != MAP_FAILED else { return true }
  defer { munmap(map, page) }
  var vector: UInt8 = 0
  guard mincore(map, page, &vector) == 0 else { return true }
  return vector & 1 == 1
}

// MARK: - Waiting for a CPU

/// The calling thread's id (its directory under /proc/self/task), from /proc/thread-self
/// ("<pid>/task/<tid>").
func currentThreadID() -> pid_t {
  var buffer = [CChar](repeating: 0, count: 64)
  let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
  precondition(n > 0, "readlink /proc/thread-self: \(errno)")
  let link = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  return pid_t(link.split(separator: "/").last!)!
}

/// The time thread `thread` of this process has spent runnable but waiting for a CPU (the
/// second field of /proc/self/task/<tid>/schedstat, in ns); nil where the kernel keeps no
/// schedstat or the thread has exited. The LinuxIO counterpart of ZeroCopy's
/// `Cancellation.runQueueDelay`, per thread rather than summed over the process: the main
/// test process runs every suite at once, and the others' threads waiting for a CPU say
/// nothing about the one being measured.
func runQueueDelay(thread: pid_t) -> Duration? {
  let fd = open("/proc/self/task/\(thread)/schedstat", O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var buffer = [UInt8](repeating: 0, count: 128)
  let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
  guard n > 0 else { return nil }
  let fields = String(decoding: buffer.prefix(n), as: UTF8.self).split(separator: " ")
  guard fields.count > 1, let waited = Int64(fields[1]) else { return nil }
  return .nanoseconds(waited)
}

// MARK: - A peer that is really gone

/// Whether the other end of `descriptor`'s pipe or Unix socket is gone, waiting for it up to
/// 10 s: POLLHUP (a pipe's read end without writers, a socket whose peer closed) or POLLERR
/// (a pipe's write end without readers), asked with no events so that queued bytes do not
/// end the wait. A test calls it after closing the other end and before a call it expects to
/// see end of file or EPIPE at once: while another test spawns or forks a process, the child
/// holds a copy of every descriptor until its `exec` or exit (O_CLOEXEC closes them only
/// then), so for that moment the peer is still open and a non-blocking call would block, a
/// write would find a reader. (CI failed once on exactly that.) Not for TCP: a peer's FIN
/// alone raises neither flag.
func peerGone(_ descriptor: FileDescriptor) -> Bool {
  var set = PollSet()
  set.append(descriptor, events: [])
  guard let ready = try? set.wait(timeoutMilliseconds: 10_000), ready == 1 else { return false }
  return !set.returnedEvents(at: 0).isDisjoint(with: [.hangUp, .error])
}
