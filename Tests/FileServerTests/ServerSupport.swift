// An in-process server on a temporary directory, and a plain blocking HTTP client that
// sends exactly the bytes a test gives it and parses what comes back.

import FileServer
import Glibc
import Logging
import SystemPackage
import Testing
import ZeroCopy

/// A temporary directory, removed with everything in it when the value goes away.
final class ScratchDirectory: @unchecked Sendable {
  let path: String

  init() throws {
    var template = Array("/tmp/zc-serve-test-XXXXXX".utf8CString)
    guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw Errno(rawValue: errno)
    }
    path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    _ = created
  }

  deinit { Self.remove(path) }

  static func remove(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if st.st_mode & S_IFMT == S_IFDIR {
      if let dir = opendir(path) {
        while let entry = readdir(dir) {
          let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
          }
          if name != "." && name != ".." { remove(path + "/" + name) }
        }
        closedir(dir)
      }
      rmdir(path)
    } else {
      unlink(path)
    }
  }

  /// Writes `bytes` to `name` (parent directories created) and returns the full path.
  @discardableResult
  func write(_ name: String, _ bytes: [UInt8]) throws -> String {
    let full = path + "/" + name
    var parent = ""
    for part in name.split(separator: "/").dropLast() {
      parent += "/" + part
      Glibc.mkdir(path + parent, 0o755)
    }
    let fd = try FileDescriptor.open(
      FilePath(full), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
    defer { try? fd.close() }
    _ = try fd.writeAll(bytes)
    return full
  }

  func mkdir(_ name: String) {
    Glibc.mkdir(path + "/" + name, 0o755)
  }

  func symlink(_ name: String, to target: String) {
    #expect(Glibc.symlink(target, path + "/" + name) == 0)
  }
}

/// Deterministic pseudo-random bytes (xorshift, eight bytes per step: fast enough in a
/// debug build not to hold a cooperative thread for seconds).
func pattern(seed: UInt64, count: Int) -> [UInt8] {
  [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
    var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    let raw = UnsafeMutableRawBufferPointer(buffer)
    var i = 0
    while i < count {
      x ^= x << 13
      x ^= x >> 7
      x ^= x << 17
      if i + 8 <= count {
        raw.storeBytes(of: x, toByteOffset: i, as: UInt64.self)
      } else {
        withUnsafeBytes(of: x) { for k in 0..<(count - i) { raw[i + k] = $0[k] } }
      }
      i += 8
    }
    initialized = count
  }
}

/// A server serving `root` on an ephemeral loopback port, running until `stop()`.
final class TestServer: @unchecked Sendable {
  let server: FileServer
  let running: Task<Void, Never>
  var port: UInt16 { server.port }
  /// The directory served, kept as long as the server.
  var directory: ScratchDirectory?

  init(root: String, _ configure: (inout FileServer.Configuration) -> Void = { _ in }) throws {
    var config = FileServer.Configuration(port: 0)
    if getenv("ZC_SERVE_TEST_LOG") != nil {
      config.accessLog = Logger(label: "test") { StreamLogHandler.standardError(label: $0) }
      config.errorLog = config.accessLog
    }
    configure(&config)
    server = try FileServer(root: FilePath(root), configuration: config)
    let s = server
    running = Task { await s.run() }
  }

  func stop(grace: Duration = .seconds(2)) async {
    await server.shutdown(gracePeriod: grace)
    await running.value
  }
}

/// Runs blocking client code on a thread of its own, never on Swift's cooperative pool
/// (Dispatch's few threads here: tests blocked in `recv` there would starve the server's
/// watchdog and timers, and the test would wait for a timeout that cannot fire).
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
    let job = BlockingJob { continuation.resume(with: Result { try body() }) }
    var thread = pthread_t()
    let rc = pthread_create(
      &thread, nil,
      { context in
        Unmanaged<BlockingJob>.fromOpaque(context!).takeRetainedValue().run()
        return nil
      }, Unmanaged.passRetained(job).toOpaque())
    if rc != 0 {
      continuation.resume(throwing: ClientError(description: "pthread_create: \(rc)"))
    } else {
      pthread_detach(thread)
    }
  }
}

private final class BlockingJob {
  let run: () -> Void
  init(_ run: @escaping () -> Void) { self.run = run }
}

/// A response as the client parsed it.
struct Response {
  var status: Int
  var headers: [(String, String)]
  var body: [UInt8]

  func header(_ name: String) -> String? {
    headers.first { $0.0.lowercased() == name.lowercased() }?.1
  }
  var text: String { String(decoding: body, as: UTF8.self) }
}

struct ClientError: Error, CustomStringConvertible {
  let description: String
}

/// A blocking TCP client with a receive timeout (so a test fails instead of hanging).
final class RawClient: @unchecked Sendable {
  let fd: Int32
  private var pending: [UInt8] = []

  /// Connects to 127.0.0.1:`port`; `receiveBuffer` sets SO_RCVBUF before connecting (after
  /// it, a smaller buffer than the window already offered makes the kernel drop segments).
  init(port: UInt16, timeoutSeconds: Int = 20, receiveBuffer: Int32? = nil) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ClientError(description: "socket: \(errno)") }
    if var size = receiveBuffer {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
      let e = errno
      close(fd)
      throw ClientError(description: "connect: errno \(e)")
    }
  }

  deinit { close(fd) }

  func send(_ text: String) throws { try send(Array(text.utf8)) }

  func send(_ bytes: [UInt8]) throws {
    var off = 0
    while off < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
      guard n > 0 else { throw ClientError(description: "send: errno \(errno)") }
      off += n
    }
  }

  /// Up to `max` bytes; empty at end of stream; throws on timeout or error.
  func receiveSome(max: Int = 1 << 16) throws -> [UInt8] {
    if !pending.isEmpty {
      defer { pending = [] }
      return pending
    }
    var buffer = [UInt8](repeating: 0, count: max)
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
    if n < 0 { throw ClientError(description: "recv: errno \(errno)") }
    return Array(buffer[0..<n])
  }

  private func fill(_ needed: Int) throws -> Bool {
    while pending.count < needed {
      var buffer = [UInt8](repeating: 0, count: 1 << 16)
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 { throw ClientError(description: "recv: errno \(errno)") }
      if n == 0 { return false }
      pending += buffer[0..<n]
    }
    return true
  }

  /// Reads one response (the body by Content-Length; none for HEAD, 304); nil at a clean
  /// end of stream before any byte of it.
  func readResponse(head: Bool = false) throws -> Response? {
    var end: Int?
    while end == nil {
      if let r = pending.firstRange(of: [13, 10, 13, 10]) {
        end = r.upperBound
        break
      }
      let before = pending.count
      if try !fill(before + 1) {
        if pending.isEmpty { return nil }
        throw ClientError(description: "end of stream inside a head: \(String(decoding: pending, as: UTF8.self))")
      }
    }
    let headText = String(decoding: pending[0..<end!], as: UTF8.self)
    pending.removeFirst(end!)
    var lines = headText.split(separator: "\r\n").map(String.init)
    let statusLine = lines.removeFirst().split(separator: " ")
    guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
      throw ClientError(description: "bad status line in \(headText)")
    }
    var headers: [(String, String)] = []
    for line in lines {
      guard let colon = line.firstIndex(of: ":") else { throw ClientError(description: "bad field \(line)") }
      headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " })))
    }
    var response = Response(status: status, headers: headers, body: [])
    if head || status == 304 { return response }
    guard let length = response.header("Content-Length").flatMap(Int.init) else {
      throw ClientError(description: "no Content-Length in \(headText)")
    }
    guard try fill(length) else { throw ClientError(description: "end of stream after \(pending.count) of \(length) body bytes") }
    response.body = Array(pending[0..<length])
    pending.removeFirst(length)
    return response
  }

  /// A GET (or `method`) on this connection, keep-alive.
  func request(_ target: String, method: String = "GET", headers: [String] = []) throws -> Response {
    let extra = headers.map { $0 + "\r\n" }.joined()
    try send("\(method) \(target) HTTP/1.1\r\nHost: test\r\n\(extra)\r\n")
    guard let r = try readResponse(head: method == "HEAD") else { throw ClientError(description: "connection closed") }
    return r
  }

  /// Whether the server closed the connection (end of stream or reset) within the timeout.
  func isClosedByPeer() -> Bool {
    while true {
      guard let chunk = try? receiveSome() else { return errno == ECONNRESET }
      if chunk.isEmpty { return true }
    }
  }
}

extension Array where Element == UInt8 {
  func firstRange(of needle: [UInt8]) -> Range<Int>? {
    guard count >= needle.count else { return nil }
    for i in 0...(count - needle.count) where self[i] == needle[0] && Array(self[i..<(i + needle.count)]) == needle {
      return i..<(i + needle.count)
    }
    return nil
  }
}

/// The number of open descriptors of this process.
func openDescriptorCount() -> Int {
  guard let dir = opendir("/proc/self/fd") else { return -1 }
  defer { closedir(dir) }
  var n = 0
  while readdir(dir) != nil { n += 1 }
  return n - 3  // ".", "..", and the directory's own descriptor
}

/// The hard descriptor limit (what the soft one can be raised to).
func hardDescriptorLimit() -> Int {
  var limit = rlimit()
  getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
  return limit.rlim_max > UInt(Int.max) ? Int.max : Int(limit.rlim_max)
}

/// Raises the soft descriptor limit to at least `wanted` if the hard limit allows.
/// Returns the soft limit now in force.
@discardableResult
func raiseDescriptorLimit(to wanted: Int) -> Int {
  var limit = rlimit()
  getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
  if Int(limit.rlim_cur) < wanted {
    limit.rlim_cur = rlim_t(min(wanted, Int(limit.rlim_max)))
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
  }
  return Int(limit.rlim_cur)
}
