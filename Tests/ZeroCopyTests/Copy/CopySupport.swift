// Shared by the copy tests: child processes started with raw-byte arguments (names that are
// not UTF-8), stdin fed from bytes, exit status or death by signal; file facts by raw path
// (size, allocated blocks, data segments); sparse files.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

enum CopySupport {
  /// The bytes of a text argument.
  static func b(_ text: String) -> [UInt8] { Array(text.utf8) }

  /// How a child process ended, and what it wrote.
  struct Outcome: CustomStringConvertible {
    /// The exit status, or nil when it died of a signal.
    var exitCode: Int32?
    /// The signal that killed it, if one did.
    var signal: Int32?
    var standardOutput: String
    var standardError: String
    /// Milliseconds from `start` (or from `signal(_:)` when one was sent) to its end.
    var milliseconds: Int64

    /// What a shell shows: the exit status, or 128 + the signal.
    var status: Int32 { exitCode ?? (128 + (signal ?? 0)) }
    var description: String {
      "exit \(exitCode.map(String.init) ?? "-") signal \(signal.map(String.init) ?? "-"); stderr: \(standardError)"
    }
  }

  /// A running child process: stdout and stderr captured through pipes, stdin from a
  /// descriptor (or /dev/null).
  final class Child: @unchecked Sendable {
    // @unchecked: used by the test's thread only; the readers are joined in `wait()`.
    let pid: pid_t
    private let output: TransferFixtures.Reader
    private let errors: TransferFixtures.Reader
    private let outputEnd: FileDescriptor
    private let errorEnd: FileDescriptor
    private var signalledAt: Int64?
    private let startedAt: Int64

    init(
      _ path: String, _ arguments: [[UInt8]], standardInput: CInt? = nil, standardOutput: CInt? = nil,
      environment: [String: String] = [:]
    ) throws {
      let (outRead, outWrite) = try TransferFixtures.makePipe()
      let (errRead, errWrite) = try TransferFixtures.makePipe()
      var actions = posix_spawn_file_actions_t()
      posix_spawn_file_actions_init(&actions)
      defer { posix_spawn_file_actions_destroy(&actions) }
      if let standardInput {
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
      } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
      }
      posix_spawn_file_actions_adddup2(&actions, standardOutput ?? outWrite.rawValue, 1)
      posix_spawn_file_actions_adddup2(&actions, errWrite.rawValue, 2)
      // Each argument as raw bytes, NUL-terminated.
      let argv: [UnsafeMutablePointer<CChar>?] =
        ([Array(path.utf8)] + arguments).map { bytes in
          let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
          for (i, byte) in bytes.enumerated() { p[i] = CChar(bitPattern: byte) }
          p[bytes.count] = 0
          return p
        } + [nil]
      defer { argv.forEach { $0?.deallocate() } }
      var env = environment.map { "\($0.key)=\($0.value)" }
      var index = 0
      while let entry = environ[index] {
        let text = String(cString: entry)
        if !environment.keys.contains(where: { text.hasPrefix($0 + "=") }) { env.append(text) }
        index += 1
      }
      let envp = env.map { strdup($0) } + [nil]
      defer { envp.forEach { free($0) } }
      // A clean signal state for the child: nothing blocked or ignored.
      var attributes = posix_spawnattr_t()
      posix_spawnattr_init(&attributes)
      defer { posix_spawnattr_destroy(&attributes) }
      var none = sigset_t()
      sigemptyset(&none)
      var all = sigset_t()
      sigfillset(&all)
      posix_spawnattr_setsigmask(&attributes, &none)
      posix_spawnattr_setsigdefault(&attributes, &all)
      posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
      var pid: pid_t = 0
      startedAt = CopySupport.milliseconds()
      let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
      try outWrite.close()
      try errWrite.close()
      guard rc == 0 else {
        try outRead.close()
        try errRead.close()
        throw Errno(rawValue: rc)
      }
      self.pid = pid
      outputEnd = outRead
      errorEnd = errRead
      output = TransferFixtures.reader(outRead)
      errors = TransferFixtures.reader(errRead)
    }

    /// Sends `number` to the child.
    func signal(_ number: Int32) {
      signalledAt = CopySupport.milliseconds()
      kill(pid, number)
    }

    /// Waits for the child to end; after `timeout` seconds it is killed (SIGKILL) and the
    /// test fails: a regression must not hang the suite.
    func wait(timeout: Double = 120, sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
      var status: Int32 = 0
      let deadline = CopySupport.milliseconds() + Int64(timeout * 1000)
      while true {
        let done = waitpid(pid, &status, WNOHANG)
        if done == pid || (done < 0 && errno != EINTR) { break }
        if CopySupport.milliseconds() > deadline {
          Issue.record("the child (pid \(pid)) ran for more than \(timeout) s: killed", sourceLocation: sourceLocation)
          kill(pid, SIGKILL)
          while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
          break
        }
        usleep(2_000)
      }
      let out = output.join()
      let err = errors.join()
      try? outputEnd.close()
      try? errorEnd.close()
      let elapsed = CopySupport.milliseconds() - (signalledAt ?? startedAt)
      let signalled = status & 0x7f
      return Outcome(
        exitCode: signalled == 0 ? (status >> 8) & 0xff : nil, signal: signalled == 0 ? nil : signalled,
        standardOutput: String(decoding: out, as: UTF8.self), standardError: String(decoding: err, as: UTF8.self),
        milliseconds: elapsed)
    }
  }

  /// Runs `zc` with raw-byte arguments and `input` on its standard input; waits.
  static func zc(_ arguments: [[UInt8]], input: [UInt8]? = nil, environment: [String: String] = [:]) throws -> Outcome {
    let zc = try #require(TransferFixtures.zcExecutable)
    guard let input else { return try Child(zc, arguments, environment: environment).wait() }
    let (read, write) = try TransferFixtures.makePipe()
    let child = try Child(zc, arguments, standardInput: read.rawValue, environment: environment)
    try read.close()
    let feeder = TransferFixtures.Worker {
      writeSurvivingReaderDeath(write.rawValue, input)
      try? write.close()
    }
    feeder.join()
    return child.wait()
  }

  /// Runs `zc` with text arguments.
  static func zc(_ arguments: String..., input: [UInt8]? = nil) throws -> Outcome {
    try zc(arguments.map(b), input: input)
  }

  /// Opens a FIFO for writing without blocking forever: retries while it has no reader
  /// (ENXIO) for up to `seconds`, then makes the descriptor blocking. -1 on timeout.
  static func openFIFOForWriting(_ path: [UInt8], seconds: Double = 20) -> CInt {
    let deadline = milliseconds() + Int64(seconds * 1000)
    while milliseconds() < deadline {
      let fd = open(TreeFixtures.cPath(path), O_WRONLY | O_NONBLOCK | O_CLOEXEC)
      if fd >= 0 {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
      }
      guard errno == ENXIO else { return -1 }
      usleep(2_000)
    }
    return -1
  }

  /// A thread reading a FIFO to its end that can never hang the test: the FIFO is held open
  /// read-write by the test (so opening it never blocks), and ``finish()`` drops that hold
  /// and returns what was read once the other writers are gone.
  final class FIFOReader: @unchecked Sendable {
    // @unchecked: `bytes` is written by the worker before it is joined, read after.
    private let hold: CInt
    private let worker: TransferFixtures.Worker
    private let box = TransferFixtures.Box<[UInt8]>([])

    init(_ path: [UInt8]) {
      hold = open(TreeFixtures.cPath(path), O_RDWR | O_CLOEXEC)
      let box = self.box
      worker = TransferFixtures.Worker { box.value = TreeFixtures.read(path) }
    }

    func finish() -> [UInt8] {
      if hold >= 0 { close(hold) }
      worker.join()
      return box.value
    }
  }

  /// Writes all of `bytes` with SIGPIPE blocked on this thread (a pending one is consumed):
  /// false when the reader went away (EPIPE) or another error happened. A test feeding a
  /// child must survive the child's death.
  @discardableResult
  static func writeSurvivingReaderDeath(_ fd: CInt, _ bytes: [UInt8]) -> Bool {
    var pipeSignal = sigset_t()
    sigemptyset(&pipeSignal)
    sigaddset(&pipeSignal, SIGPIPE)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
    defer {
      var zero = timespec()
      while sigtimedwait(&pipeSignal, nil, &zero) == SIGPIPE {}
      pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
    return (try? TransferFixtures.writeAll(fd, bytes)) != nil
  }

  static func milliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
  }

  /// Byte equality with memcmp (`==` on arrays goes element by element in a debug build:
  /// seconds for tens of MiB).
  static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.count == b.count
      && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
      }
  }

  // MARK: - Files by raw path

  /// `lstat` of a raw path.
  static func lstatus(_ path: [UInt8]) -> stat? {
    var st = stat()
    return lstat(TreeFixtures.cPath(path), &st) == 0 ? st : nil
  }

  /// The file type bits of a raw path, or nil when nothing is there.
  static func type(_ path: [UInt8]) -> mode_t? { lstatus(path).map { $0.st_mode & S_IFMT } }

  /// The names in a directory (raw), sorted.
  static func names(_ directory: [UInt8]) -> [[UInt8]] {
    TreeFixtures.names(directory).sorted { $0.lexicographicallyPrecedes($1) }
  }

  /// The data segments of a file (`lseek` SEEK_DATA = 3 / SEEK_HOLE = 4), as offsets.
  static func dataSegments(_ path: [UInt8]) -> [Range<Int64>] {
    let fd = open(TreeFixtures.cPath(path), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var out: [Range<Int64>] = []
    var position: off_t = 0
    while true {
      let start = lseek(fd, position, 3)
      if start < 0 { break }
      let end = lseek(fd, start, 4)
      if end <= start { break }
      out.append(Int64(start)..<Int64(end))
      position = end
    }
    return out
  }

  /// Reads `count` bytes at `offset` of a file.
  static func read(_ path: [UInt8], at offset: Int64, count: Int) -> [UInt8] {
    let fd = open(TreeFixtures.cPath(path), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: count)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
    return Array(buffer.prefix(max(0, n)))
  }

  /// Creates a sparse file of `size` bytes holding `data` at each offset (the rest holes).
  static func makeSparse(_ path: [UInt8], size: Int64, data: [(offset: Int64, bytes: [UInt8])], mode: mode_t = 0o644) throws {
    let fd = open(TreeFixtures.cPath(path), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    defer { close(fd) }
    guard ftruncate(fd, off_t(size)) == 0 else { throw Errno(rawValue: errno) }
    for (offset, bytes) in data {
      let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
      guard n == bytes.count else { throw Errno(rawValue: errno) }
    }
    guard fsync(fd) == 0 else { throw Errno(rawValue: errno) }
  }

  /// Expects two files to hold the same bytes, comparing only where either has data (holes
  /// read as zeros: a data range of one that is a hole in the other must be all zeros).
  static func expectSameSparseContent(
    _ a: [UInt8], _ b: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let sa = lstatus(a), sb = lstatus(b)
    #expect(
      sa?.st_size == sb?.st_size, "\(what): sizes \(sa?.st_size ?? -1) and \(sb?.st_size ?? -1)", sourceLocation: sourceLocation)
    for segment in dataSegments(a) + dataSegments(b) {
      var offset = segment.lowerBound
      while offset < segment.upperBound {
        let count = Int(min(1 << 20, segment.upperBound - offset))
        let x = read(a, at: offset, count: count), y = read(b, at: offset, count: count)
        if x != y {
          Issue.record("\(what): bytes differ in \(offset)..<\(offset + Int64(count))", sourceLocation: sourceLocation)
          return
        }
        offset += Int64(count)
      }
    }
  }

  /// Whether this process may mount (root with CAP_SYS_ADMIN): probed by mounting a tmpfs.
  static let canMount: Bool = {
    guard let dir = TransferFixtures.mountTmpfs(size: "64k") else { return false }
    TransferFixtures.unmount(dir)
    return true
  }()
}
