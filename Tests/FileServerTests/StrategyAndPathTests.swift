// Every strategy sends exact bytes (no fallback allowed); paths never leave the root.

import FileServer
import Glibc
import LinuxIO
import Logging
import Synchronization
import Testing
import URing
import ZeroCopy

/// Collects log messages (the access log names the strategy that sent each body).
final class CollectedLog: Sendable {
  let lines = Mutex<[String]>([])

  var logger: Logger {
    Logger(label: "test") { _ in CollectingHandler(sink: self) }
  }

  struct CollectingHandler: LogHandler {
    let sink: CollectedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
      let text = "\(event.message)"
      sink.lines.withLock { $0.append(text) }
    }
  }
}

let ioUringSkip = Comment(rawValue: "io_uring is unavailable here: \(IOURingAvailability.current)")

@Suite("File server strategies", .timeLimit(.hangGuard(minutes: 3)))
struct StrategyTests {
  static let sizes = [0, 1, 4095, 65537, 3 << 20 + 5]

  /// Serves files of several sizes with `strategy` and no fallback: every body and range
  /// must arrive byte for byte, and the access log must name the strategy for each.
  static func checksummed(_ strategy: any TransferStrategy) async throws {
    let dir = try ScratchDirectory()
    var files: [String: [UInt8]] = [:]
    for (i, size) in sizes.enumerated() {
      let bytes = pattern(seed: UInt64(i + 7), count: size)
      files["f\(size).bin"] = bytes
      try dir.write("f\(size).bin", bytes)
    }
    let log = CollectedLog()
    let server = try TestServer(root: dir.path) {
      $0.strategy = strategy
      $0.allowFallback = false
      $0.accessLog = log.logger
    }
    let port = server.port
    let expected = files
    try await blocking {
      let c = try RawClient(port: port)
      for (name, bytes) in expected.sorted(by: { $0.key < $1.key }) {
        let whole = try c.request("/" + name)
        #expect(whole.status == 200)
        #expect(whole.body == bytes, "\(name): \(whole.body.count) of \(bytes.count) bytes, or different")
        guard bytes.count > 10 else { continue }
        let mid = bytes.count / 2
        let part = try c.request("/" + name, headers: ["Range: bytes=\(mid - 5)-\(bytes.count - 1)"])
        #expect(part.status == 206)
        #expect(part.body == Array(bytes[(mid - 5)...]), "\(name) range")
      }
      // Several connections at once, each fetching the largest file.
      let big = expected["f\(sizes.last!).bin"]!
      let clients = try (0..<4).map { _ in try RawClient(port: port) }
      for client in clients { try client.send("GET /f\(sizes.last!).bin HTTP/1.1\r\nHost: h\r\n\r\n") }
      for client in clients { #expect(try client.readResponse()?.body == big) }
    }
    await server.stop()
    #expect(server.server.statistics.failedTransfers == 0)
    let lines = log.lines.withLock { $0 }
    let withBodies = lines.filter { $0.contains("\" 200 ") || $0.contains("\" 206 ") }.filter { !$0.contains("\" 200 0 ") }
    #expect(withBodies.count == (sizes.count - 1) + (sizes.count - 2) + 4)
    for line in withBodies {
      // `.automatic` sends what the host profile's table picks first for a file → socket
      // body of that length (sendfile up to socketSendfileMax, splice above).
      let expectedName: String
      if strategy.name == "automatic" {
        let fields = line.split(separator: " ")
        let status = fields.firstIndex { $0 == "200" || $0 == "206" }
        let length = status.flatMap { Int64(fields[fields.index(after: $0)]) }
        #expect(length != nil, "\(line): no length after the status")
        let methods = TransferPlan.methods(
          source: .file, destination: .tcpSocket, bytes: length ?? 0, parameters: TransferPlan.Profile.host.parameters)
        expectedName = "\(methods[0])"
      } else {
        expectedName = strategy.name
      }
      #expect(line.contains(" \(expectedName) "), "\(line) (expected \(expectedName))")
    }
  }

  @Test func automatic() async throws { try await Self.checksummed(.automatic) }
  @Test func readWrite() async throws { try await Self.checksummed(.readWrite) }
  @Test func mmapWrite() async throws { try await Self.checksummed(.mmapWrite) }
  @Test func sendfile() async throws { try await Self.checksummed(.sendfile) }
  @Test func splice() async throws { try await Self.checksummed(.splice) }
  @Test(.enabled(if: IOURingAvailability.isAvailable, ioUringSkip))
  func ioUring() async throws { try await Self.checksummed(.ioUring) }
  @Test(.enabled(if: IOURingAvailability.isAvailable, ioUringSkip))
  func ioUringSplice() async throws { try await Self.checksummed(.ioUringSplice) }
  @Test(.enabled(if: IOURingAvailability.isAvailable, ioUringSkip))
  func sendZeroCopy() async throws { try await Self.checksummed(.sendZeroCopy) }

  /// A strategy that cannot send to a socket (copy_file_range) gives way to `.automatic`'s
  /// choice when fallback is allowed, and is refused when the server starts otherwise.
  @Test func unsupportedStrategyFallsBack() async throws {
    let dir = try ScratchDirectory()
    try dir.write("x.bin", pattern(seed: 3, count: 50_000))
    let log = CollectedLog()
    let server = try TestServer(root: dir.path) {
      $0.strategy = .copyFileRange
      $0.accessLog = log.logger
    }
    let port = server.port
    try await blocking {
      let c = try RawClient(port: port)
      #expect(try c.request("/x.bin").body == pattern(seed: 3, count: 50_000))
    }
    await server.stop()
    #expect(log.lines.withLock { $0 }.contains { $0.contains(" sendfile ") })
    do {
      _ = try FileServer(root: .init(dir.path), configuration: .init(port: 0, strategy: .copyFileRange, allowFallback: false))
      Issue.record("a strategy that cannot send to sockets was accepted without fallback")
    } catch {
      #expect(error.kind == .configuration)
      #expect(error.errno == .notSupported)
    }
  }
}

@Suite("Paths stay inside the root", .timeLimit(.hangGuard(minutes: 2)))
struct PathTests {
  /// scratch/{secret.txt, outside/file, root/...}: links that stay in, links that leave.
  static func layout() throws -> (ScratchDirectory, String) {
    let scratch = try ScratchDirectory()
    try scratch.write("secret.txt", Array("SECRET".utf8))
    try scratch.write("outside/file", Array("OUTSIDE".utf8))
    try scratch.write("root/pub.txt", Array("public".utf8))
    try scratch.write("root/sub/inner.txt", Array("inner".utf8))
    scratch.symlink("root/link-in", to: "pub.txt")
    scratch.symlink("root/sub/link-sibling", to: "../pub.txt")
    scratch.symlink("root/link-abs-in", to: scratch.path + "/root/pub.txt")
    scratch.symlink("root/link-out", to: "../secret.txt")
    scratch.symlink("root/link-abs-out", to: scratch.path + "/secret.txt")
    scratch.symlink("root/link-etc", to: "/etc/passwd")
    scratch.symlink("root/link-dir-out", to: "../outside")
    scratch.symlink("root/sub/link-up", to: "../../secret.txt")
    scratch.symlink("root/link-proc", to: "/proc/self/root")
    scratch.symlink("root/loop", to: "loop")
    #expect(mkfifo(scratch.path + "/root/fifo", 0o644) == 0)
    return (scratch, scratch.path + "/root")
  }

  /// (target, status with openat2, status with the component walk).
  static let cases: [(String, Int, Int)] = [
    ("/pub.txt", 200, 200),
    ("/sub/inner.txt", 200, 200),
    ("/./sub/./inner.txt", 200, 200),
    ("/sub//inner.txt", 200, 200),
    ("/sub/../pub.txt", 200, 200),
    ("/link-in", 200, 403),
    ("/sub/link-sibling", 200, 403),
    ("/link-abs-in", 403, 403),
    ("/link-out", 403, 403),
    ("/link-abs-out", 403, 403),
    ("/link-etc", 403, 403),
    ("/link-dir-out/file", 403, 403),
    ("/sub/link-up", 403, 403),
    ("/link-proc/etc/passwd", 403, 403),
    ("/loop", 403, 403),
    ("/fifo", 404, 404),
    ("/../secret.txt", 400, 400),
    ("/../../../../etc/passwd", 400, 400),
    ("/%2e%2e/secret.txt", 400, 400),
    ("/%2E%2E/secret.txt", 400, 400),
    ("/..%2fsecret.txt", 400, 400),
    ("/%2e%2e%2fsecret.txt", 400, 400),
    ("/.%2e/secret.txt", 400, 400),
    ("/sub/../../secret.txt", 400, 400),
    ("/sub/%2e%2e/%2e%2e/secret.txt", 400, 400),
    ("http://h/../secret.txt", 400, 400),
    ("/%252e%252e/secret.txt", 404, 404),
    ("/%252e%252e%252fsecret.txt", 404, 404),
    ("/..%5csecret.txt", 404, 404),
    ("/..%c0%afsecret.txt", 404, 404),
    ("/%00", 400, 400),
    ("/pub.txt%00.html", 400, 400),
    ("/..\\secret.txt", 400, 400),
    ("//secret.txt", 404, 404),
    ("/SUB/inner.txt", 404, 404),
    ("/pub.txt/", 404, 404),
    ("/pub.txt%2f", 404, 404),
  ]

  static func run(_ resolution: PathResolution) async throws {
    let (scratch, root) = try layout()
    let server = try TestServer(root: root) { $0.pathResolution = resolution }
    #expect(server.server.pathResolution == resolution)
    let port = server.port
    try await blocking {
      for (target, viaOpenat2, viaWalk) in cases {
        let c = try RawClient(port: port, timeoutSeconds: 10 * slowness)
        try c.send("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n")
        let r = try c.readResponse()
        #expect(r?.status == (resolution == .openat2 ? viaOpenat2 : viaWalk), "\(target)")
        #expect(r?.text.contains("SECRET") == false && r?.text.contains("OUTSIDE") == false && r?.text.contains("root:") == false)
      }
    }
    await server.stop()
    withExtendedLifetime(scratch) {}  // the served tree exists until here (`_ =` does not keep it in release builds)
  }

  @Test func withOpenat2() async throws { try await Self.run(.openat2) }
  @Test func withComponentWalk() async throws { try await Self.run(.componentWalk) }

  /// Serving /proc/self: its files are served, its magic links (root, cwd, exe, fd/N) are
  /// refused whatever they point to.
  @Test(arguments: [PathResolution.openat2, .componentWalk])
  func magicLinks(_ resolution: PathResolution) async throws {
    let server = try TestServer(root: "/proc/self") { $0.pathResolution = resolution }
    let port = server.port
    try await blocking {
      let c = try RawClient(port: port, timeoutSeconds: 10 * slowness)
      #expect(try c.request("/status").status == 200)
      for target in ["/root/etc/passwd", "/cwd/", "/exe", "/fd/0", "/root/", "/root/proc/self/status"] {
        #expect(try c.request(target).status == 403, "\(target)")
      }
    }
    await server.stop()
  }
}
