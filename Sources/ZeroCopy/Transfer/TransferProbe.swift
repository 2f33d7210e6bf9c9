// Which strategies work on this machine, between which kinds of endpoint: found by
// trying each one, not by guessing.

import Glibc
import LinuxIO
public import SystemPackage
import URing

/// Tries every strategy on every kind of route (file → file on one filesystem and across
/// two, file → pipe, file → TCP and Unix sockets, pipe → file, TCP socket → file) with a
/// small real transfer, fallbacks disabled, and checks the bytes that arrived.
/// `zc probe` prints the result.
public enum TransferProbe {
  /// A kind of transfer.
  public enum Route: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Regular file to a regular file on the same filesystem.
    case fileToFile = "file→file"
    /// Regular file to a regular file on another filesystem (`/dev/shm`).
    case fileToOtherFileSystem = "file→otherfs"
    /// Regular file to a pipe.
    case fileToPipe = "file→pipe"
    /// Regular file to a TCP socket on loopback.
    case fileToTCP = "file→tcp"
    /// Regular file to a Unix stream socket.
    case fileToUnix = "file→unix"
    /// Pipe to a regular file.
    case pipeToFile = "pipe→file"
    /// TCP socket (loopback) to a regular file.
    case tcpToFile = "tcp→file"

    /// The short name (`"file→pipe"`).
    public var description: String { rawValue }
  }

  /// What happened when a strategy was tried on a route.
  public enum Verdict: Sendable, Hashable, CustomStringConvertible {
    /// Every byte arrived intact.
    case works
    /// The strategy does not support the route's endpoints (its stated reason).
    case unsupported(String)
    /// The transfer failed with this errno (the kernel refused, e.g. `EXDEV`).
    case failed(Errno, String)
    /// The route could not be set up here (e.g. no second filesystem).
    case skipped(String)

    /// "works", "unsupported: …", "failed: EXDEV …", "skipped: …".
    public var description: String {
      switch self {
      case .works: return "works"
      case .unsupported(let reason): return "unsupported: \(reason)"
      case .failed(let errno, let detail): return "failed: \(errno.symbolicName) (\(detail))"
      case .skipped(let reason): return "skipped: \(reason)"
      }
    }

    /// A short cell for a table: `ok`, `-`, the errno name, or `skip`.
    public var cell: String {
      switch self {
      case .works: return "ok"
      case .unsupported: return "-"
      case .failed(let errno, _): return errno.symbolicName
      case .skipped: return "skip"
      }
    }
  }

  /// One strategy on one route.
  public struct Entry: Sendable, Hashable {
    /// The strategy's name.
    public let strategy: String
    /// The route.
    public let route: Route
    /// The result.
    public let verdict: Verdict
  }

  /// Runs the trial transfers.
  ///
  /// - Parameters:
  ///   - strategies: What to try (every known strategy by default).
  ///   - directory: Where to create the temporary files (`$TMPDIR`, else `/tmp`).
  ///   - otherFileSystem: A directory on another filesystem for ``Route/fileToOtherFileSystem``
  ///     (`/dev/shm`); the route is skipped when it is on the same device as `directory`.
  ///   - byteCount: Bytes per trial (fits in a pipe and a socket buffer, so no reader
  ///     thread is needed). - Precondition: `1...65536`.
  /// - Returns: One entry per strategy and route, strategies in order.
  ///
  /// The corresponding C functions are those of each strategy, plus `socket`, `bind`,
  /// `listen`, `connect`, `accept`, `socketpair`, `pipe2`, `open` and `unlink` for the set-up.
  public static func run(
    strategies: [any TransferStrategy] = TransferStrategies.all, directory: FilePath? = nil,
    otherFileSystem: FilePath? = "/dev/shm", byteCount: Int = 16385
  ) -> [Entry] {
    precondition(byteCount > 0 && byteCount <= 65536, "TransferProbe.run: byteCount must be in 1...65536")
    let base = directory ?? FilePath(environmentValue("TMPDIR") ?? "/tmp")
    let payload = (0..<byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    var entries: [Entry] = []
    for strategy in strategies {
      for route in Route.allCases {
        entries.append(
          Entry(strategy: strategy.name, route: route, verdict: trial(strategy, route, base, otherFileSystem, payload)))
      }
    }
    return entries
  }

  private static func trial(
    _ strategy: some TransferStrategy, _ route: Route, _ base: FilePath, _ otherFileSystem: FilePath?, _ payload: [UInt8]
  ) -> Verdict {
    let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    var cleanup: [FilePath] = []
    var descriptors: [CInt] = []
    defer {
      for fd in descriptors { try? FileDescriptor(rawValue: fd).close() }
      for path in cleanup { try? FileDescriptor.currentWorkingDirectory.removeEntry(path) }
    }
    func tempFile(in directory: FilePath, _ name: String, contents: [UInt8]?) -> CInt? {
      let path = directory.appending(".zc-probe-\(tag)-\(name)")
      guard
        let fd = try? FileDescriptor.currentWorkingDirectory.open(
          relative: path, .readWrite, options: [.create, .truncate, .closeOnExec], permissions: .ownerReadWrite
        ).rawValue
      else { return nil }
      cleanup.append(path)
      descriptors.append(fd)
      if let contents, !writeAll(fd, contents) { return nil }
      return fd
    }

    var source: CInt
    var destination: CInt
    var reader: CInt  // where to read the delivered bytes back
    switch route {
    case .fileToFile, .fileToOtherFileSystem:
      var target = base
      if route == .fileToOtherFileSystem {
        guard let other = otherFileSystem else { return .skipped("no second filesystem given") }
        guard let a = device(of: base), let b = device(of: other) else { return .skipped("cannot stat '\(other)'") }
        if a == b { return .skipped("'\(other)' is on the same filesystem as '\(base)'") }
        target = other
      }
      guard let s = tempFile(in: base, "src", contents: payload), let d = tempFile(in: target, "dst", contents: nil) else {
        return .skipped("cannot create files in '\(base)'")
      }
      (source, destination, reader) = (s, d, d)
    case .fileToPipe:
      guard let s = tempFile(in: base, "src", contents: payload), let p = makePipe() else { return .skipped("set-up failed") }
      descriptors += [p.0, p.1]
      (source, destination, reader) = (s, p.1, p.0)
    case .fileToTCP, .fileToUnix:
      guard let s = tempFile(in: base, "src", contents: payload),
        let pair = route == .fileToTCP ? try? makeTCPPair() : makeUnixPair()
      else { return .skipped("set-up failed") }
      descriptors += [pair.0, pair.1]
      (source, destination, reader) = (s, pair.0, pair.1)
    case .pipeToFile:
      guard let p = makePipe(), let d = tempFile(in: base, "dst", contents: nil) else { return .skipped("set-up failed") }
      descriptors += [p.0, p.1]
      guard writeAll(p.1, payload) else { return .skipped("set-up failed") }
      try? FileDescriptor(rawValue: p.1).close()
      descriptors.removeAll { $0 == p.1 }
      (source, destination, reader) = (p.0, d, d)
    case .tcpToFile:
      guard let pair = try? makeTCPPair(), let d = tempFile(in: base, "dst", contents: nil) else {
        return .skipped("set-up failed")
      }
      descriptors += [pair.0, pair.1]
      guard writeAll(pair.0, payload) else { return .skipped("set-up failed") }
      try? FileDescriptor(rawValue: pair.0).shutdown(.write)
      (source, destination, reader) = (pair.1, d, d)
    }

    if let source = try? TransferEndpoint.inspect(FileDescriptor(rawValue: source)),
      let destination = try? TransferEndpoint.inspect(FileDescriptor(rawValue: destination)),
      case .unsupported(let reason) = strategy.support(for: EndpointPair(source: source, destination: destination))
    {
      return .unsupported(reason)
    }
    let isFileSource = route != .pipeToFile && route != .tcpToFile
    let request = TransferRequest(
      from: FileDescriptor(rawValue: source), offset: isFileSource ? 0 : nil, count: Int64(payload.count),
      to: FileDescriptor(rawValue: destination), at: nil)
    do {
      let report = try Transfer.runBlocking(request, strategy: strategy, options: TransferOptions(allowFallback: false))
      guard report.bytes == Int64(payload.count) else {
        return .failed(.ioError, "\(report.bytes) of \(payload.count) bytes arrived")
      }
    } catch {
      return .failed(error.errno, "\(error.syscall)")
    }
    let received = readBack(
      reader, count: payload.count,
      positioned: route == .fileToFile || route == .fileToOtherFileSystem || route == .pipeToFile || route == .tcpToFile)
    return received == payload ? .works : .failed(.ioError, "the bytes that arrived differ")
  }

  // MARK: - Set-up helpers

  private static func environmentValue(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let string = String(cString: value)
    return string.isEmpty ? nil : string
  }

  private static func device(of path: FilePath) -> UInt64? {
    (try? FileDescriptor.currentWorkingDirectory.status(of: path, followingSymbolicLinks: true)).map {
      UInt64($0.rawValue.st_dev)
    }
  }

  private static func writeAll(_ fd: CInt, _ bytes: [UInt8]) -> Bool {
    (try? FileDescriptor(rawValue: fd).writeAll(bytes)) != nil  // swift-system: retries EINTR and short writes
  }

  /// Reads `count` bytes back: a file from offset 0, a stream with a 1 s poll timeout.
  private static func readBack(_ fd: CInt, count: Int, positioned: Bool) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var got = 0
    let descriptor = FileDescriptor(rawValue: fd)
    while got < count {
      let n: Int?
      if positioned {
        n = out.withUnsafeMutableBytes { try? descriptor.read(fromAbsoluteOffset: Int64(got), into: .init(rebasing: $0[got...])) }
      } else {
        var readable = PollSet()
        readable.append(descriptor, events: .readable)
        guard (try? readable.wait(timeoutMilliseconds: 1000)) ?? 0 > 0 else { break }
        n = out.withUnsafeMutableBytes { try? descriptor.read(into: .init(rebasing: $0[got...])) }
      }
      guard let n, n > 0 else { break }
      got += n
    }
    return Array(out.prefix(got))
  }

  private static func makePipe() -> (CInt, CInt)? {
    guard let pipe = try? Pipe() else { return nil }
    let ends = pipe.releaseDescriptors()
    return (ends.readEnd.rawValue, ends.writeEnd.rawValue)
  }

  private static func makeUnixPair() -> (CInt, CInt)? {
    let pair = try? FileDescriptor.socketPair(domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue))
    return pair.map { ($0.0.rawValue, $0.1.rawValue) }
  }

  /// A connected TCP pair on 127.0.0.1: (client, accepted server side).
  static func makeTCPPair() throws(Errno) -> (CInt, CInt) {
    let streamType = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
    let listener = try FileDescriptor.socket(domain: AF_INET, type: streamType)
    defer { try? listener.close() }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    address.sin_port = 0
    var length = UInt32(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { (pointer) throws(Errno) in
      try listener.bind(to: pointer, length: length)
      try listener.listen(backlog: 1)
      length = try listener.localAddress(into: pointer, capacity: length)
    }
    let client = try FileDescriptor.socket(domain: AF_INET, type: streamType)
    do throws(Errno) {
      try withUnsafePointer(to: &address) { (pointer) throws(Errno) in try client.connect(to: pointer, length: length) }
      return (client.rawValue, try listener.accept().rawValue)
    } catch {
      try? client.close()
      throw error
    }
  }
}

extension TransferProbe {
  /// What io_uring offers in this process, in words (for `zc probe`, which uses only this module).
  public struct IOURingStatus: Sendable, Hashable {
    /// Whether rings can be created and used.
    public let isAvailable: Bool
    /// Why not, when unavailable ("disabled by the environment (ZEROCOPY_DISABLE_IO_URING=1)").
    public let reason: String?
    /// The kernel's feature flags (`[SINGLE_MMAP, NODROP, …]`).
    public let features: String
    /// The supported opcodes' names (`"READ_FIXED"`, `"SPLICE"`…), in opcode order.
    public let supportedOpcodes: [String]
    /// The errno of the failing setup step (`io_uring_setup`, or the first `io_uring_enter`),
    /// if one failed: `ENOSYS`, `EPERM`…
    public let setupErrno: Errno?
    /// The errno of `io_uring_register` (the opcode probe), if it failed: `EPERM` when a
    /// policy lets rings be created but not registered.
    public let registerErrno: Errno?
  }

  /// io_uring's availability (and the reason when unavailable), features and supported
  /// opcodes, from the process-wide cached probe.
  ///
  /// The corresponding C function is `zc_uring_probe` (run once per process).
  public static var ioUring: IOURingStatus {
    let probe = IOURing.Probe.current
    return IOURingStatus(
      isAvailable: probe.availability == .available, reason: probe.availability.reason.map { "\($0)" },
      features: "\(probe.features)", supportedOpcodes: probe.supportedOpcodes.map(\.name),
      setupErrno: probe.setupErrno, registerErrno: probe.registerErrno)
  }

  /// Deprecated: ``ioUring`` (Docs/Architecture.md, "Vocabulary").
  @available(*, deprecated, renamed: "ioUring")
  public static var ioURing: IOURingStatus { ioUring }

  /// `/proc/sys/fs/pipe-max-size`, or nil if it cannot be read.
  ///
  /// The corresponding C function is `zc_pipe_max_capacity`.
  public static var pipeMaximumCapacity: Int? { try? Pipe.maximumCapacity }
}
