// Clients that misbehave: never read, send a byte at a time, trickle headers forever,
// reset mid-body, sit idle; a thousand at once; shutdown with responses in flight.

import FileServer
import Glibc
import Testing
import ZeroCopy

/// A client whose receive buffer is small, so that the server's sends fill up quickly.
func stingyClient(port: UInt16) throws -> RawClient {
  try RawClient(port: port, receiveBuffer: 4096)
}

/// A server of a scratch directory holding `files` (removed when the server goes away),
/// with `configure` applied.
func serving(_ files: [String: [UInt8]], _ configure: (inout FileServer.Configuration) -> Void = { _ in }) throws -> TestServer {
  let dir = try ScratchDirectory()
  for (name, bytes) in files { try dir.write(name, bytes) }
  let server = try TestServer(root: dir.path, configure)
  server.directory = dir
  return server
}

@Suite("File server under adversarial clients", .timeLimit(.hangGuard(minutes: 3)))
struct AdversarialTests {
  /// Twelve clients ask for 16 MiB and never read — more than the Transfer API has worker
  /// threads — and other clients are still served, long before the send timeout would
  /// free a thread: a stalled client holds a readiness registration, not a thread. Then
  /// the stalled clients reset, and no connection is left open.
  @Test func clientsThatNeverReadHoldNoThread() async throws {
    let big = pattern(seed: 9, count: 16 << 20)
    let server = try serving(["big.bin": big, "small.txt": Array("small".utf8)]) { $0.sendTimeout = .seconds(60) }
    let port = server.port
    let stats = server.server
    try await blocking {
      let stalled = try (0..<12).map { _ in try stingyClient(port: port) }
      for c in stalled { try c.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n") }
      usleep(500_000)
      // Served while twelve transfers are stuck (a client waits 15 s at most per
      // response: under a loaded test run, not "at once", but well before the stuck
      // transfers' 60 s send timeout — a test run at load 5 took 26.6 s for the 40
      // requests with the thread-pool engine, past the 25 s this bound was before).
      let clock = ContinuousClock()
      let start = clock.now
      for _ in 0..<20 {
        let c = try RawClient(port: port, timeoutSeconds: 15)
        #expect(try c.request("/small.txt").text == "small")
        let range = try c.request("/big.bin", headers: ["Range: bytes=1000-200999"])
        #expect(range.body == Array(big[1000..<201_000]))
      }
      #expect(clock.now - start < .seconds(50))
      #expect(stats.statistics.connectionsOpen >= 12)
      #expect(stats.statistics.timeouts == 0)
      for c in stalled {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
      }
    }
    // The resets end the waits (readiness reports the error); nothing stays open.
    for _ in 0..<(200 * slowness) where stats.statistics.connectionsOpen > 0 { try await Task.sleep(for: .milliseconds(50)) }
    #expect(stats.statistics.connectionsOpen == 0)
    await server.stop()
  }

  /// A client that stops reading is closed at the send timeout (no progress for that long).
  @Test func sendTimeoutClosesStalledClients() async throws {
    let server = try serving(["big.bin": pattern(seed: 10, count: 16 << 20)]) { $0.sendTimeout = .seconds(1) }
    let port = server.port
    let stats = server.server
    try await blocking {
      let stalled = try (0..<2).map { _ in try stingyClient(port: port) }
      for c in stalled { try c.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n") }
      for _ in 0..<(300 * slowness) where stats.statistics.timeouts < 2 { usleep(50_000) }
      #expect(stats.statistics.timeouts == 2)
      for _ in 0..<(100 * slowness) where stats.statistics.connectionsOpen > 0 { usleep(50_000) }
      #expect(stats.statistics.connectionsOpen == 0)
      withExtendedLifetime(stalled) {}  // the clients stay connected until here (`_ =` does not keep them in release builds)
    }
    await server.stop()
  }

  /// A head sent one byte per write is parsed like any other.
  @Test func headersOneByteAtATime() async throws {
    let server = try serving(["a.txt": Array("byte by byte".utf8)])
    let port = server.port
    try await blocking {
      let c = try RawClient(port: port)
      var one: Int32 = 1
      setsockopt(c.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
      for byte in Array("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3\r\n\r\n".utf8) {
        try c.send([byte])
        usleep(2000)
      }
      let r = try #require(try c.readResponse())
      #expect(r.status == 206 && r.text == "byte")
      #expect(try c.request("/a.txt").text == "byte by byte")
    }
    await server.stop()
  }

  /// Slowloris: a head that keeps trickling is cut at the header timeout with 408, and a
  /// connection that sends nothing is closed at the same timeout.
  @Test func slowlorisIsDropped() async throws {
    let server = try serving(["a.txt": Array("x".utf8)]) { $0.headerTimeout = .milliseconds(600) }
    let port = server.port
    try await blocking {
      let trickle = try RawClient(port: port, timeoutSeconds: 10 * slowness)
      let silent = try RawClient(port: port, timeoutSeconds: 10 * slowness)
      let clock = ContinuousClock()
      let start = clock.now
      try trickle.send("GET /a.txt HTTP/1.1\r\n")
      var closedAt: Duration?
      // A header line every 100 ms for up to 10 s (60 s under ThreadSanitizer: a fresh-clone
      // CI at c479067 ran out of the 10 s there, at 150 s into a run of every suite, where the
      // server's timers wait for the two cooperative threads like everything else).
      for i in 0..<(100 * slowness) {
        usleep(100_000)
        if (try? trickle.send("X-\(i): y\r\n")) == nil {
          closedAt = clock.now - start
          break
        }
        var p = pollfd(fd: trickle.fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 0) > 0 {
          closedAt = clock.now - start
          break
        }
      }
      let elapsed = try #require(closedAt)
      #expect(elapsed >= .milliseconds(500) && elapsed < .seconds(30 * slowness), "closed after \(elapsed)")
      let answer = try? trickle.readResponse()
      #expect(answer?.status == 408)
      #expect(silent.isClosedByPeer())
    }
    await server.stop()
    #expect(server.server.statistics.timeouts == 2)
  }

  /// A keep-alive connection with nothing more to ask is closed at the idle timeout.
  @Test func idleKeepAliveIsClosed() async throws {
    let server = try serving(["a.txt": Array("x".utf8)]) { $0.idleTimeout = .milliseconds(500) }
    let port = server.port
    try await blocking {
      let c = try RawClient(port: port, timeoutSeconds: 10 * slowness)
      #expect(try c.request("/a.txt").text == "x")
      let clock = ContinuousClock()
      let start = clock.now
      #expect(try c.readResponse() == nil)  // end of stream, no response
      #expect(clock.now - start < .seconds(5 * slowness))
    }
    await server.stop()
  }

  /// A client that resets mid-body costs its connection only: the next clients are served,
  /// the failed transfer is counted, and no connection is left open.
  @Test func resetMidBody() async throws {
    let big = pattern(seed: 4, count: 8 << 20)
    let server = try serving(["big.bin": big])
    let port = server.port
    try await blocking {
      for _ in 0..<5 {
        let c = try stingyClient(port: port)
        try c.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        _ = try c.receiveSome(max: 32 << 10)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
      }
      let c = try RawClient(port: port)
      #expect(try c.request("/big.bin").body == big)
    }
    // The resets are noticed at the next send.
    for _ in 0..<(100 * slowness) where server.server.statistics.failedTransfers < 5 {
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(server.server.statistics.failedTransfers == 5)
    await server.stop()
    #expect(server.server.statistics.connectionsOpen == 0)
  }

  /// A thousand connections at once, each with a request in flight, all answered exactly
  /// (both ends are in this process: 2,000 descriptors and some).
  @Test(.enabled(if: hardDescriptorLimit() >= 2300, "needs 2,300 descriptors; the hard RLIMIT_NOFILE is lower"))
  func aThousandConnectionsAtOnce() async throws {
    raiseDescriptorLimit(to: 4096)
    let body = pattern(seed: 5, count: 20_000)
    let server = try serving(["f.bin": body]) { $0.backlog = 1024 }
    let port = server.port
    let stats = server.server
    try await blocking {
      var clients: [RawClient] = []
      for _ in 0..<1000 { clients.append(try RawClient(port: port)) }
      for c in clients { try c.send("GET /f.bin HTTP/1.1\r\nHost: h\r\n\r\n") }
      var exact = 0
      for c in clients {
        if try c.readResponse()?.body == body { exact += 1 }
      }
      #expect(exact == 1000)
      #expect(stats.statistics.connectionsOpen == 1000)
    }
    // The clients are closed (their deinit): the server notices every end of stream.
    for _ in 0..<(200 * slowness) where stats.statistics.connectionsOpen > 0 { try await Task.sleep(for: .milliseconds(25)) }
    #expect(stats.statistics.connectionsOpen == 0)
    await server.stop()
  }

  /// Shutdown: idle connections close at once, a response in progress finishes, new
  /// connections are refused, run() returns.
  @Test func gracefulShutdown() async throws {
    let big = pattern(seed: 6, count: 4 << 20)
    let server = try serving(["big.bin": big])
    let port = server.port
    let (idle, slow, first) = try await blocking { () -> (RawClient, RawClient, [UInt8]) in
      let idle = try RawClient(port: port)
      #expect(try idle.request("/big.bin", method: "HEAD").status == 200)
      let slow = try stingyClient(port: port)
      try slow.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
      return (idle, slow, try slow.receiveSome(max: 1024))
    }
    let stopping = Task { await server.stop(grace: .seconds(20)) }
    let body = try await blocking { () -> [UInt8] in
      #expect(idle.isClosedByPeer())
      var received = first
      // Read slowly: the response still completes during the grace period.
      while true {
        usleep(1000)
        let chunk = try slow.receiveSome(max: 256 << 10)
        if chunk.isEmpty { break }
        received += chunk
      }
      return received
    }
    await stopping.value
    #expect(body.count > big.count)
    #expect(Array(body.suffix(big.count)) == big)
    #expect(String(decoding: body.prefix(200), as: UTF8.self).contains("Connection: keep-alive"))
    #expect((try? RawClient(port: port)) == nil)
  }

  /// Shutdown with a client that never reads: closed when the grace period ends.
  @Test func shutdownGraceEnds() async throws {
    let server = try serving(["big.bin": pattern(seed: 8, count: 16 << 20)])
    let port = server.port
    let stuck = try await blocking { () -> RawClient in
      let c = try stingyClient(port: port)
      try c.send("GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
      usleep(300_000)
      return c
    }
    let clock = ContinuousClock()
    let start = clock.now
    await server.stop(grace: .milliseconds(300))
    // Under ThreadSanitizer (5–15× slower, and this test runs beside
    // aThousandConnectionsAtOnce) the stop took 11.4 s once, in a fresh-clone CI at 662cca5;
    // the normal and ASan runs keep the 10 s bound.
    let bound: Duration = underThreadSanitizer ? .seconds(40) : .seconds(10)
    #expect(clock.now - start < bound)
    #expect(server.server.statistics.connectionsOpen == 0)
    withExtendedLifetime(stuck) {}  // connected until the server stopped (`_ =` does not keep it in release builds)
  }
}

/// Whether this binary runs under ThreadSanitizer (`make sanitize-thread`).
let underThreadSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

/// How many times longer a test waits for the server's timers and its noticing of closed
/// connections: 6 under ThreadSanitizer (the parallel run takes ~4× as long there, and a
/// server's timer task waits for the two cooperative threads like every other test's
/// work), else 1. Only the bounds of waits that end as soon as the condition holds grow; a
/// timeout the server is configured with, and the lower bounds, do not.
let slowness = underThreadSanitizer ? 6 : 1

extension TimeLimitTrait.Duration {
  /// A time limit that guards against hangs: `minutes` in the normal runs, five times that
  /// under ThreadSanitizer, where the whole parallel run takes about 4× as long and a
  /// test's wall time includes its waits for the two cooperative threads (ZeroCopyTests'
  /// `hangGuard` says more).
  static func hangGuard(minutes: Int) -> Self {
    .minutes(minutes * (underThreadSanitizer ? 5 : 1))
  }
}
