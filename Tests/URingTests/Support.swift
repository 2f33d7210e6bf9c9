// Test support: availability traits, temporary files, pipes, sockets.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

extension Trait where Self == ConditionTrait {
  /// Runs the test only when io_uring is available; otherwise it is reported as skipped
  /// with the reason (e.g. "disabled by the environment (ZEROCOPY_DISABLE_IO_URING=1)").
  static var requiresIOURing: Self {
    .enabled(if: IOURingAvailability.isAvailable, Comment(rawValue: "\(IOURingAvailability.current)"))
  }

  /// Runs the test only when io_uring is available and the kernel supports `opcode`.
  static func requires(_ opcode: IOURing.Opcode) -> Self {
    let probe = IOURing.Probe.current
    let ok = probe.availability == .available && probe.supports(opcode)
    let why = probe.availability == .available ? "this kernel does not support \(opcode)" : "\(probe.availability)"
    return .enabled(if: ok, Comment(rawValue: why))
  }
}

/// A temporary regular file, removed (and its descriptor closed) at deinit.
final class TempFile {
  let path: String
  let fd: FileDescriptor

  init(contents: [UInt8] = []) throws {
    // Close-on-exec from the start: a child that a concurrent test spawns never inherits it.
    let created = try FileDescriptor.createTemporaryFile(template: "/tmp/uring-test-XXXXXX")
    path = created.path.string
    fd = created.descriptor
    if !contents.isEmpty {
      _ = try contents.withUnsafeBytes { try fd.writeAll(toAbsoluteOffset: 0, $0) }
    }
  }

  deinit {
    try? fd.close()
    unlink(path)
  }

  /// The whole file's bytes (pread from 0).
  func bytes() throws -> [UInt8] {
    var st = stat()
    guard fstat(fd.rawValue, &st) == 0 else { throw Errno(rawValue: errno) }
    var out = [UInt8](repeating: 0, count: Int(st.st_size))
    if !out.isEmpty {
      _ = try out.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: $0) }
    }
    return out
  }

  var size: Int {
    var st = stat()
    fstat(fd.rawValue, &st)
    return Int(st.st_size)
  }
}

/// A pipe whose ends are closed at deinit (unless already closed).
final class TestPipe {
  let readEnd: FileDescriptor
  let writeEnd: FileDescriptor

  init() throws {
    // O_CLOEXEC from the start (LinuxIO's Pipe, pipe2): a process another test spawns
    // meanwhile must not inherit an end past its exec.
    let (r, w) = try LinuxIO.Pipe().releaseDescriptors()
    readEnd = r
    writeEnd = w
  }

  deinit {
    try? readEnd.close()
    try? writeEnd.close()
  }
}

/// A connected AF_UNIX stream socket pair, closed at deinit.
final class SocketPair {
  let a: FileDescriptor
  let b: FileDescriptor

  init(type: Int32 = Int32(SOCK_STREAM.rawValue)) throws {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else { throw Errno(rawValue: errno) }
    a = FileDescriptor(rawValue: fds[0])
    b = FileDescriptor(rawValue: fds[1])
  }

  deinit {
    try? a.close()
    try? b.close()
  }
}

/// A TCP listener on 127.0.0.1 with an ephemeral port, closed at deinit.
final class LoopbackListener {
  let fd: FileDescriptor
  let address: sockaddr_in

  /// - Parameter listening: false for a socket that only holds the port: connecting to it
  ///   is refused (`ECONNREFUSED`), and no other socket can take the port meanwhile (a
  ///   closed listener's port could be handed to a parallel test's bind of port 0).
  init(listening: Bool = true) throws {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard s >= 0 else { throw Errno(rawValue: errno) }
    fd = FileDescriptor(rawValue: s)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    let bound = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, !listening || listen(s, 16) == 0 else { let e = errno; Glibc.close(s); throw Errno(rawValue: e) }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
    }
    address = addr
  }

  deinit { try? fd.close() }

  /// Accepts one pending connection (`accept`); the caller closes it.
  func accept() throws -> FileDescriptor {
    let s = Glibc.accept(fd.rawValue, nil, nil)
    guard s >= 0 else { throw Errno(rawValue: errno) }
    return FileDescriptor(rawValue: s)
  }

  /// A new TCP socket (not connected).
  static func makeSocket() throws -> FileDescriptor {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard s >= 0 else { throw Errno(rawValue: errno) }
    return FileDescriptor(rawValue: s)
  }

  /// Connects a new socket synchronously.
  func connectClient() throws -> FileDescriptor {
    let c = try LoopbackListener.makeSocket()
    var addr = address
    let r = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(c.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard r == 0 else { let e = errno; try? c.close(); throw Errno(rawValue: e) }
    return c
  }
}

/// Reads exactly `count` bytes from a blocking descriptor.
func readExactly(_ fd: FileDescriptor, _ count: Int) throws -> [UInt8] {
  var out = [UInt8](repeating: 0, count: count)
  var got = 0
  while got < count {
    let n = try out.withUnsafeMutableBytes { try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
    if n == 0 { break }
    got += n
  }
  return Array(out[0..<got])
}

/// A fresh ring for a test (entries 32 by default).
func makeRing(entries: UInt32 = 32) throws -> IOURing {
  try IOURing(entries: entries)
}

extension Array where Element == UInt8 {
  init(_ s: String) { self = Array(s.utf8) }
}

/// A small integer from a /proc file, or nil if absent.
func readProcInt(_ path: String) -> Int? {
  guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly) else { return nil }
  defer { try? fd.close() }
  var buf = [UInt8](repeating: 0, count: 32)
  guard let n = try? buf.withUnsafeMutableBytes({ try fd.read(into: $0) }), n > 0 else { return nil }
  return Int(String(decoding: buf[0..<n], as: UTF8.self).filter(\.isNumber))
}
