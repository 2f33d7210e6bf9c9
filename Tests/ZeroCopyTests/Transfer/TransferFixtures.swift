// Fixtures for the Transfer tests: temporary directories on two filesystems, byte
// patterns, loopback TCP and Unix sockets, pipes, reader threads, descriptor counts.
// Everything lives in `TransferFixtures` so that it cannot clash with the engine tests'
// helpers in the same test target.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

private func workerEntry(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  let worker = Unmanaged<TransferFixtures.Worker>.fromOpaque(raw!).takeRetainedValue()
  worker.body()
  return nil
}

enum TransferFixtures {
  /// A deterministic byte pattern with no short period, shared by all tests (8 MiB + 64).
  static let pattern: [UInt8] = {
    let count = (8 << 20) + 64
    var state: UInt32 = 0x9E37_79B9
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      for i in 0..<count {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        buffer[i] = UInt8(truncatingIfNeeded: state)
      }
      initialized = count
    }
  }()

  /// The first `count` bytes of the pattern, starting at `offset`.
  static func bytes(_ count: Int, from offset: Int = 0) -> [UInt8] {
    Array(pattern[offset..<(offset + count)])
  }

  /// Compares byte arrays with memcmp and reports the first difference, not the arrays.
  static func expectSame(
    _ actual: [UInt8], _ expected: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let equal =
      actual.count == expected.count
      && actual.withUnsafeBytes { a in
        expected.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
      }
    guard !equal else { return }
    let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    Issue.record(
      "\(what): got \(actual.count) bytes, expected \(expected.count); first difference at \(firstDifference.map(String.init) ?? "the end")",
      sourceLocation: sourceLocation)
  }

  // MARK: - Directories and files

  /// A temporary directory, removed (with its files) by `remove()`.
  final class Directory: Sendable {
    let path: String

    /// Creates a directory under `parent` (`/tmp`: ext4 here; `/dev/shm`: tmpfs).
    init(in parent: String = "/tmp") throws {
      var template = Array("\(parent)/zc-transfer-test-XXXXXX".utf8CString)
      guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw Errno(rawValue: errno)
      }
      path = String(cString: made)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Removes every entry (one level) and the directory.
    func remove() {
      for name in TransferFixtures.entries(of: path) { _ = unlink("\(path)/\(name)") }
      _ = rmdir(path)
    }
  }

  /// The names in `directory` (without "." and "..").
  static func entries(of directory: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      // In place: a dirent record is only as long as its name, so copying the whole
      // 256-byte d_name tuple reads past the allocation (ASan caught it).
      let name = withUnsafePointer(to: &entry.pointee.d_name) {
        String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Writes `bytes` to a new file at `path` (mode 0644, replacing any file there).
  static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    defer { close(fd) }
    try writeAll(fd, bytes)
  }

  /// All of the file at `path`.
  static func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    defer { close(fd) }
    return readToEnd(fd)
  }

  /// Opens `path` with `flags` (O_CLOEXEC added).
  static func openFile(_ path: String, _ flags: CInt, mode: mode_t = 0o644) throws -> FileDescriptor {
    let fd = open(path, flags | O_CLOEXEC, mode)
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    return FileDescriptor(rawValue: fd)
  }

  static func writeAll(_ fd: CInt, _ bytes: [UInt8]) throws {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw Errno(rawValue: errno) }
      done += n
    }
  }

  /// Reads until end of file (or error).
  static func readToEnd(_ fd: CInt) -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      out.append(contentsOf: chunk[0..<n])
    }
    return out
  }

  /// `st_mode & 0o7777`, size, device and inode of `path`.
  static func status(_ path: String) -> (mode: mode_t, size: Int64, device: UInt64, inode: UInt64)? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return (st.st_mode & 0o7777, Int64(st.st_size), UInt64(st.st_dev), UInt64(st.st_ino))
  }

  /// The process's umask, read without changing it (/proc/self/status). Setting and
  /// restoring it, as this did, changed it for a moment for every suite running beside:
  /// a tree copy in another test then created its files with this 0o022 instead of the
  /// process's mask (TreeCopyPolicyTests.defaultModes failed so in a CI run of all suites).
  static var umaskValue: mode_t {
    guard let mask = CurrentProcess.fileCreationMask() else {
      Issue.record("/proc/self/status has no Umask field: the test cannot read the umask without changing it")
      return 0o022
    }
    return mask.rawValue
  }

  // MARK: - Pipes and sockets

  /// A pipe: (read end, write end), both O_CLOEXEC from the start (LinuxIO's `Pipe`, which
  /// calls `pipe2`). Setting the flag afterwards with `fcntl` would leave a window in which
  /// a process another test spawns inherits the end past its `exec` and holds it open for
  /// its whole life.
  static func makePipe() throws -> (FileDescriptor, FileDescriptor) {
    try LinuxIO.Pipe().releaseDescriptors()
  }

  /// Sets the capacity of the pipe `fd` is an end of to `bytes` (`setPipeCapacity`) and
  /// returns the capacity it then has (`pipeCapacity`), which must be exactly `bytes`. A
  /// new pipe usually holds 64 KiB, but an unprivileged user past fs.pipe-user-pages-soft
  /// gets two pages: a test that fills a pipe to a known room sets what it needs.
  ///
  /// Past that limit the kernel refuses to grow a pipe (`EPERM`) while other tests (pools
  /// of 1 MiB pipes) hold the user's pages. As LinuxIO's tests do (`setCapacityRetrying`):
  /// where the per-user limit applies (no CAP_SYS_RESOURCE or CAP_SYS_ADMIN) and `bytes`
  /// is within pipe-max-size, `EPERM` is retried for up to 15 s, and then the test is
  /// skipped with that reason (`Test.cancel`; in a parameterized test only the case, which
  /// Swift Testing 6.3 does not report), not failed: the kernel refuses by design. Any
  /// other error, or a capacity other than `bytes`, fails the test.
  static func setPipeCapacity(
    _ fd: FileDescriptor, _ bytes: Int, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Int {
    let deadline = ContinuousClock.now + .seconds(15)
    var failure: Errno?
    while true {
      do {
        _ = try fd.setPipeCapacity(bytes)
        failure = nil
        break
      } catch {
        failure = error
        guard error == .notPermitted && pipeLimitsApply && bytes <= 1 << 20 else { break }
      }
      if ContinuousClock.now >= deadline {
        try Test.cancel(
          "the per-user pipe buffer limit (fs.pipe-user-pages-soft) stayed exhausted for 15 s while other tests held pipes; F_SETPIPE_SZ answers EPERM",
          sourceLocation: sourceLocation)
      }
      usleep(20_000)
    }
    let capacity = try fd.pipeCapacity
    try #require(
      failure == nil && capacity == bytes,
      "pipe capacity \(capacity), not \(bytes): setPipeCapacity \(failure.map { "threw \($0)" } ?? "succeeded")",
      sourceLocation: sourceLocation)
    return capacity
  }

  /// Whether this process is subject to the per-user pipe-buffer limits
  /// (`fs.pipe-user-pages-soft`): neither CAP_SYS_RESOURCE (bit 24) nor CAP_SYS_ADMIN
  /// (bit 21) in its effective set (`CapEff` in /proc/self/status).
  static let pipeLimitsApply: Bool = {
    guard let text = try? String(decoding: TransferFixtures.readFile("/proc/self/status"), as: UTF8.self),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
      let mask = UInt64(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16)
    else { return true }
    return mask & (1 << 24 | 1 << 21) == 0
  }()

  /// Whether the other end of `descriptor`'s pipe or Unix socket is gone, waiting for it up
  /// to 10 s (POLLHUP or POLLERR, asked with no events). A test calls it after closing the
  /// other end and before a call it expects to fail with EPIPE or see end of file at once:
  /// while another test spawns or forks a process, the child holds a copy of every
  /// descriptor until its `exec` or exit, so for that moment the peer is still open (the
  /// LinuxIO tests' `peerGone`, where CI failed once on it). Not for TCP.
  static func peerGone(_ descriptor: FileDescriptor) -> Bool {
    var set = PollSet()
    set.append(descriptor, events: [])
    guard let ready = try? set.wait(timeoutMilliseconds: 10_000), ready == 1 else { return false }
    return !set.returnedEvents(at: 0).isDisjoint(with: [.hangUp, .error])
  }

  /// A connected Unix stream socket pair, both ends close-on-exec from the start (LinuxIO's
  /// `socketPair` with `SOCK_CLOEXEC`; see `makePipe`).
  static func makeUnixPair() throws -> (FileDescriptor, FileDescriptor) {
    try FileDescriptor.socketPair(domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue))
  }

  /// A TCP listener on 127.0.0.1 with an ephemeral port: (listener, port).
  static func makeListener() throws -> (FileDescriptor, UInt16) {
    let listener = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard listener >= 0 else { throw Errno(rawValue: errno) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok =
      withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } } == 0
      && listen(listener, 16) == 0
      && withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
      } == 0
    guard ok else {
      let e = errno
      close(listener)
      throw Errno(rawValue: e)
    }
    return (FileDescriptor(rawValue: listener), UInt16(bigEndian: address.sin_port))
  }

  /// A connected TCP pair on loopback: (client, accepted server side).
  static func makeTCPPair() throws -> (FileDescriptor, FileDescriptor) {
    let (listener, port) = try makeListener()
    defer { try? listener.close() }
    let client = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard client >= 0 else { throw Errno(rawValue: errno) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    address.sin_port = port.bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
      let e = errno
      close(client)
      throw Errno(rawValue: e)
    }
    // LinuxIO's accept: accept4 with SOCK_CLOEXEC (a flag set afterwards would leave a
    // window for a process another test spawns).
    let server: FileDescriptor
    do { server = try listener.accept() } catch {
      close(client)
      throw error
    }
    return (FileDescriptor(rawValue: client), server)
  }

  // MARK: - Threads

  /// A pthread that runs `body` once; `join()` waits for it.
  final class Worker: @unchecked Sendable {
    // @unchecked: `thread` is written once, before any other thread can see the worker.
    private var thread = pthread_t()
    fileprivate let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
      self.body = body
      let rc = pthread_create(&thread, nil, workerEntry, Unmanaged.passRetained(self).toOpaque())
      precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() {
      pthread_join(thread, nil)
    }
  }

  /// A value written by one thread and read by another after a join.
  final class Box<T: Sendable>: @unchecked Sendable {
    // @unchecked: written before the writer thread is joined, read after.
    var value: T
    init(_ value: T) { self.value = value }
  }

  /// A thread reading a descriptor until end of file.
  final class Reader: Sendable {
    private let worker: Worker
    private let box = Box<[UInt8]>([])

    init(_ fd: FileDescriptor) {
      let raw = fd.rawValue
      let box = self.box
      worker = Worker { box.value = TransferFixtures.readToEnd(raw) }
    }

    /// Waits for end of file and returns everything read.
    func join() -> [UInt8] {
      worker.join()
      return box.value
    }
  }

  /// Starts a thread that reads `fd` until end of file.
  static func reader(_ fd: FileDescriptor) -> Reader { Reader(fd) }

  // MARK: - Descriptors

  /// The number of open descriptors (entries of /proc/self/fd, less the one reading it).
  static func openDescriptorCount() -> Int {
    entries(of: "/proc/self/fd").count - 1
  }

  // MARK: - Mounts

  /// Mounts a tmpfs of `size` (e.g. "1m") on a new directory under /tmp; nil when the
  /// process may not mount (not root, or no CAP_SYS_ADMIN).
  static func mountTmpfs(size: String) -> Directory? {
    guard let directory = try? Directory(in: "/tmp") else { return nil }
    let rc = mount("tmpfs", directory.path, "tmpfs", 0, "size=\(size),mode=0755")
    guard rc == 0 else {
      directory.remove()
      return nil
    }
    return directory
  }

  /// Unmounts and removes a directory made by `mountTmpfs`.
  static func unmount(_ directory: Directory) {
    _ = umount2(directory.path, CInt(MNT_DETACH))
    directory.remove()
  }

  /// Whether io_uring can be used here (false with ZEROCOPY_DISABLE_IO_URING=1).
  static var ioUringAvailable: Bool { TransferProbe.ioUring.isAvailable }
  /// Why io_uring tests are skipped.
  static var ioUringSkipReason: Comment { "io_uring is unavailable: \(TransferProbe.ioUring.reason ?? "?")" }
}
