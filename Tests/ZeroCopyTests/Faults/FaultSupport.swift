// Shared machinery for the fault scenarios (FAULTS.md): running a scenario in a child
// process under the descriptor harness, deciding which strategies apply to which
// endpoints (and why the others are skipped), spawning helper processes, and strategy
// wrappers that act between the transfer's `fstat` and its first byte.
//
// Why child processes: Swift Testing runs suites in parallel in one process, so a count
// of /proc/self/fd before and after a test also counts other tests' descriptors, and
// process-wide state (RLIMIT_*, signal dispositions, a signal storm) would disturb them.
// Each scenario body runs in an exit test (a fresh process running only that body), where
// "every descriptor opened meanwhile" is exact.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

enum Faults {
  /// Every registered strategy's name (built-ins first): the scenarios iterate the
  /// registry, so a strategy added to ``TransferStrategies`` is covered automatically.
  static var strategyNames: [String] { TransferStrategies.builtIn.map(\.name) }

  static var isRoot: Bool { geteuid() == 0 }

  /// Whether this binary runs under ThreadSanitizer (`make sanitize-thread`).
  static let underThreadSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

  /// Whether this binary runs under AddressSanitizer (`make sanitize-address`).
  static let underAddressSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

  /// Under ThreadSanitizer the runtime symbolizes stacks to match its suppressions
  /// (mk/tsan.supp) and talks to its symbolizer through pipes without FD_CLOEXEC: those
  /// are the runtime's, not the library's (whose pipes are all O_CLOEXEC, which the normal
  /// and ASan runs check), so they are left out of the descriptor checks there.
  static func isSanitizerRuntimeDescriptor(_ fd: Int32, _ target: String) -> Bool {
    guard underThreadSanitizer, target.hasPrefix("pipe:") else { return false }
    let flags = fcntl(fd, F_GETFD)
    return flags >= 0 && flags & FD_CLOEXEC == 0
  }

  /// An io_uring strategy refused before moving a byte because this user's RLIMIT_MEMLOCK
  /// is used up (ENOMEM at ring setup or buffer registration). Unprivileged only: the limit
  /// is shared by all of the user's processes, the ring itself counts against it on 6.x,
  /// and the parallel suites of the unprivileged `make test` run compete for 8 MiB. Cases
  /// that meet it print a skip line (the strategy already halves its buffers to fit).
  static func isMemlockRefusal(_ error: ZeroCopyError) -> Bool {
    error.errno == .noMemory && error.bytesTransferred == 0 && !isRoot
      && (error.syscall == "io_uring_register" || error.syscall == "io_uring_setup")
  }

  // MARK: - Descriptor harness

  /// The process's descriptors at process start (before any warm-up), for the FD_CLOEXEC check.
  nonisolated(unsafe) private static var processBaseline: [Int32: String] = [:]
  /// The descriptors after warm-up, for the leak check.
  nonisolated(unsafe) private static var baseline: [Int32: String] = [:]

  /// `/proc/self/fd` without the descriptor `opendir` used to read it.
  ///
  /// A " (deleted)" suffix is dropped: a descriptor this child inherited from the test
  /// process (another suite's file without FD_CLOEXEC, open while the child was spawned)
  /// changes its target when that suite deletes the file, and is still not a leak.
  static func snapshot() -> [Int32: String] {
    var result: [Int32: String] = [:]
    for (fd, target) in openDescriptorTargets() where !(target.hasPrefix("/proc/") && target.hasSuffix("/fd")) {
      result[fd] = target.hasSuffix(" (deleted)") ? String(target.dropLast(10)) : target
    }
    return result
  }

  /// Checks that every descriptor opened since the process baseline carries FD_CLOEXEC
  /// (call it while the library's descriptors are open: pooled pipes, rings, engines).
  static func checkCloseOnExec(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for (fd, target) in snapshot() where processBaseline[fd] != target && !isSanitizerRuntimeDescriptor(fd, target) {
      let flags = fcntl(fd, F_GETFD)
      // Closed since the listing: a thread still finishing its work may close its own
      // descriptors at any moment (an abandoned O_DIRECT read closes the files it reopened
      // when the device answers), which is not a missing FD_CLOEXEC (reported as one once).
      if flags < 0 && errno == EBADF { continue }
      #expect(
        flags >= 0 && flags & FD_CLOEXEC != 0, "\(what): fd \(fd) -> \(target) lacks FD_CLOEXEC", sourceLocation: sourceLocation)
    }
  }

  /// Runs a scenario body in this (child) process under the descriptor harness:
  /// warms up the process-wide objects that live by design (the transfer workers), then
  /// runs `body`, checks FD_CLOEXEC on every descriptor opened meanwhile that is still
  /// open, closes the idle pooled pipes, and expects exactly the descriptors of before.
  static func harnessed(_ what: String, _ body: () async throws -> Void) async throws {
    processBaseline = snapshot()
    // Warm-up: BlockingWorkers threads (no descriptors expected, but created lazily).
    let (r, w) = try TransferFixtures.makePipe()
    _ = try? await Transfer.run(TransferRequest(from: r, count: 0, to: w))
    try r.close()
    try w.close()
    // Swift's runtime opens a timerfd on the first Task.sleep: part of the process, not a leak.
    try? await Task.sleep(for: .milliseconds(1))
    PipePool.shared.closeIdlePipes()
    Transfer.closeIdleRings()  // pooled io_uring rings are descriptors too
    baseline = snapshot()
    try await body()
    checkCloseOnExec(what)
    PipePool.shared.closeIdlePipes()
    Transfer.closeIdleRings()
    #expect(PipePool.shared.inUseCount == 0, "\(what): pooled pipes still in use")
    var leaked: [Int32: String] = [:]
    // Up to 3 s: on a loaded 2-vCPU machine a worker or engine thread may take well over
    // 200 ms to run the close it has already been handed (seen with ioUringSplice).
    for _ in 0..<300 {
      // Timer descriptors belong to the Swift runtime (Dispatch opens them lazily, on a
      // Task.sleep or a timed wait, sometimes only after the warm-up); the library never
      // creates one (no `timerfd` in Sources/ or CShims/).
      leaked = snapshot().filter {
        baseline[$0.key] != $0.value && $0.value != "anon_inode:[timerfd]" && !isSanitizerRuntimeDescriptor($0.key, $0.value)
      }
      if leaked.isEmpty { break }
      usleep(10_000)
    }
    #expect(leaked.isEmpty, "\(what): descriptors left open: \(leaked.sorted { $0.key < $1.key })")
  }

  // MARK: - Which strategies apply

  enum Layout: String, Sendable, Codable {
    /// ext4 file → ext4 file (the temporary directory).
    case diskFile
    /// tmpfs file → tmpfs file on the same filesystem (/dev/shm).
    case memoryFile
    /// file → loopback TCP socket.
    case tcp
    /// file → Unix stream socket.
    case unix
    /// file → pipe.
    case pipe
  }

  /// Why strategy `name` cannot run for `layout` — it declares the endpoints unsupported,
  /// or the kernel refuses it before moving a byte (a fallback errno with fallback off) —
  /// or nil when it runs. Found by transferring 64 KiB for real in this process.
  static func refusal(_ name: String, _ layout: Layout) -> String? {
    guard let strategy = TransferStrategies.named(name) else { return "no strategy named \(name)" }
    do {
      let dir = try TransferFixtures.Directory(in: layout == .memoryFile ? "/dev/shm" : "/tmp")
      defer { dir.remove() }
      let payload = TransferFixtures.bytes(65536)
      try TransferFixtures.writeFile(dir.file("src"), payload)
      let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
      defer { try? source.close() }
      let near: FileDescriptor
      var far: FileDescriptor? = nil
      switch layout {
      case .diskFile, .memoryFile: near = try TransferFixtures.openFile(dir.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
      case .tcp: (near, far) = try TransferFixtures.makeTCPPair()
      case .unix: (near, far) = try TransferFixtures.makeUnixPair()
      case .pipe:
        let (r, w) = try TransferFixtures.makePipe()
        (near, far) = (w, r)
      }
      let reader = far.map { TransferFixtures.reader($0) }
      let pair = EndpointPair(source: try TransferEndpoint.inspect(source), destination: try TransferEndpoint.inspect(near))
      if case .unsupported(let reason) = strategy.support(for: pair) {
        try near.close()
        _ = reader?.join()
        try far?.close()
        return "\(name) does not support \(pair): \(reason)"
      }
      let result = Result { () throws(ZeroCopyError) in
        try Transfer.runBlocking(
          TransferRequest(from: source, offset: 0, to: near, at: layout == .diskFile || layout == .memoryFile ? 0 : nil),
          strategy: strategy, options: TransferOptions(allowFallback: false))
      }
      try near.close()
      _ = reader?.join()
      try far?.close()
      switch result {
      case .success: return nil
      case .failure(let error)
      where error.bytesTransferred == 0
        && (TransferContext.fallbackErrnos.contains(error.errno) || error.errno == .notSupported):
        return "the kernel refuses \(name) for \(pair): \(error.syscall): \(error.errno)"
      case .failure: return nil  // a real failure: let the scenario show it
      }
    } catch {
      return "could not set up the preflight: \(error)"
    }
  }

  /// Skips the current test case: prints "fault N skipped, strategy: reason" (Swift Testing's
  /// console output does not show a cancelled test case's comment) and cancels the case,
  /// so it is not counted as a pass.
  static func skip(_ scenario: String, _ name: String, _ reason: String) throws -> Never {
    print("fault \(scenario) skipped, \(name): \(reason)")
    try Test.cancel("skipped: \(reason)")
  }

  /// Skips the current test case when `name` cannot run for `layout`.
  static func requireRuns(_ scenario: String, _ name: String, _ layout: Layout) throws {
    if let reason = refusal(name, layout) { try skip(scenario, name, reason) }
  }

  // MARK: - Helper processes

  /// Runs `argv` (argv[0] a full path) in a new process and waits: its exit status, or
  /// -signal when a signal ended it.
  @discardableResult
  static func spawn(_ argv: [String]) -> Int32 {
    var pid: pid_t = 0
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for p in cArgs { free(p) } }
    let rc = posix_spawn(&pid, argv[0], nil, nil, cArgs, environ)
    guard rc == 0 else { return -1000 - rc }
    var status: CInt = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    if status & 0x7f == 0 { return (status >> 8) & 0xff }
    return -(status & 0x7f)
  }

  /// Truncates `path` to `size` bytes from another process (`/usr/bin/truncate`).
  static func truncateElsewhere(_ path: String, to size: Int) {
    let rc = spawn(["/usr/bin/truncate", "-s", "\(size)", path])
    precondition(rc == 0, "truncate exited with \(rc)")
  }

  /// Appends `count` bytes of 0xEE to `path` from another process.
  static func appendElsewhere(_ path: String, count: Int) {
    let rc = spawn(["/bin/sh", "-c", "head -c \(count) /dev/zero | tr '\\000' '\\356' >> '\(path)'"])
    precondition(rc == 0, "append exited with \(rc)")
  }

  // MARK: - Threads with signals at their default

  /// Runs `body` on a new thread with SIGPIPE and SIGXFSZ unblocked (Swift's pool
  /// threads block SIGXFSZ, which would hide a missing guard) and returns its result.
  static func onThreadWithSignalsUnblocked<R: Sendable>(_ body: @escaping @Sendable () -> R) -> R {
    let box = TransferFixtures.Box<R?>(nil)
    let worker = TransferFixtures.Worker {
      var set = sigset_t()
      sigemptyset(&set)
      sigaddset(&set, SIGPIPE)
      sigaddset(&set, SIGXFSZ)
      precondition(pthread_sigmask(SIG_UNBLOCK, &set, nil) == 0)
      box.value = body()
    }
    worker.join()
    return box.value!
  }

  /// Sets `signal`'s disposition to SIG_DFL (exit-test children inherit the runner's).
  static func setDefault(_ signal: CInt) {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = nil  // SIG_DFL
    sigemptyset(&action.sa_mask)
    precondition(sigaction(signal, &action, nil) == 0)
  }

  /// Whether `signal`'s disposition is SIG_DFL.
  static func isDefault(_ signal: CInt) -> Bool {
    var action = sigaction()
    precondition(sigaction(signal, nil, &action) == 0)
    return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == 0
  }

  /// CRC-free checksum good enough to see a changed source: FNV-1a over the file.
  static func checksum(_ path: String) throws -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in try TransferFixtures.readFile(path) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
  }

  /// Sets a socket's send and receive buffers (the kernel doubles the values).
  static func setBuffers(_ fd: FileDescriptor, send: Int32? = nil, receive: Int32? = nil) {
    if var v = send { _ = setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &v, socklen_t(MemoryLayout<Int32>.size)) }
    if var v = receive { _ = setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVBUF, &v, socklen_t(MemoryLayout<Int32>.size)) }
  }
}

/// A strategy that runs `action` after the transfer inspected its endpoints (the `fstat`
/// that fixes the snapshot size) and before the wrapped strategy moves the first byte.
struct ActBeforeTransfer: TransferStrategy {
  let inner: any TransferStrategy
  let action: @Sendable () -> Void
  var name: String { inner.name }
  var summary: String { inner.summary }
  func support(for pair: EndpointPair) -> StrategySupport { inner.support(for: pair) }
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    action()
    return try inner.transfer(&context)
  }
}
