// Readiness waits (Readiness.swift): readable/writable, cancellation, close, many at once,
// and the engine's receive on a non-blocking socket (what a server built on both relies on).

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

@Suite("Readiness", .timeLimit(.hangGuard(minutes: 2)))
struct ReadinessTests {
  /// A connected TCP pair over loopback, the server side non-blocking.
  static func tcpPair(engine: IOEngine = .default) async throws -> (server: AsyncSocket, client: AsyncSocket) {
    let listener = try AsyncSocket.listen(on: .loopback(), engine: engine)
    let accepting = Task { try await listener.accept() }
    let client = try await AsyncSocket.connect(to: try listener.localAddress(), engine: engine)
    let server = try await accepting.value
    try await listener.close()
    let flags = fcntl(server.descriptor.rawValue, F_GETFL)
    #expect(fcntl(server.descriptor.rawValue, F_SETFL, flags | O_NONBLOCK) == 0)
    return (server, client)
  }

  /// Whether an epoll instance of this process has `fd`'s file registered: a line
  /// "tfd: <fd> events: … ino:<inode> …" in its /proc/self/fdinfo (the same descriptor
  /// number and the same socket). The readiness reactor's registration of a pending wait,
  /// which the waiting task makes when it runs — not at a known time on a loaded machine.
  static func isRegistered(_ fd: FileDescriptor) -> Bool {
    var status = stat()
    guard fstat(fd.rawValue, &status) == 0 else { return false }
    let inode = "ino:" + String(status.st_ino, radix: 16)
    for (epoll, target) in openDescriptorTargets() where target == "anon_inode:[eventpoll]" {
      guard let info = try? TransferFixtures.readFile("/proc/self/fdinfo/\(epoll)") else { continue }
      for line in String(decoding: info, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if fields.count > 1 && fields[0] == "tfd:" && fields[1] == "\(fd.rawValue)" && fields.contains(Substring(inode)) {
          return true
        }
      }
    }
    return false
  }

  /// Fills the socket's send path until `send` answers EAGAIN; returns the bytes queued.
  static func fill(_ socket: AsyncSocket) -> Int {
    let chunk = [UInt8](repeating: 0x5A, count: 64 << 10)
    var total = 0
    while true {
      let n = chunk.withUnsafeBytes {
        send(socket.descriptor.rawValue, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
      }
      if n < 0 {
        #expect(errno == EAGAIN)
        return total
      }
      total += n
    }
  }

  @Test func readableWhenDataArrives() async throws {
    let (server, client) = try await Self.tcpPair()
    let waiting = Task { try await Readiness.wait(for: .readable, on: server.descriptor) }
    try await Task.sleep(for: .milliseconds(20))
    let sent = await client.sendAll(from: try Support.buffer([1, 2, 3]))
    #expect(try sent.count == 3)
    _ = sent.take()
    let found = try await waiting.value
    #expect(found.contains(.readable))
    // Already ready: returns at once, every time (level-triggered, armed per wait).
    for _ in 0..<3 {
      #expect(try await Readiness.wait(for: .readable, on: server.descriptor).contains(.readable))
    }
    try await server.close()
    try await client.close()
  }

  @Test func writableAfterThePeerDrains() async throws {
    let (server, client) = try await Self.tcpPair()
    let queued = Self.fill(server)
    #expect(queued > 0)
    // Full: a wait for writability must not return until the peer reads.
    let waiting = Task { try await server.waitUntilWritable() }
    try await Task.sleep(for: .milliseconds(100))
    // Read everything the server queued; the send buffer drains and the wait ends.
    let drained = try await Behaviours.receiveExactly(client, count: queued)
    #expect(drained.count == queued)
    try await waiting.value
    try await server.close()
    try await client.close()
  }

  /// In a child process: the suites running beside it in one process can hold both of the
  /// cooperative pool's threads for seconds (under ThreadSanitizer on 2 cores, the
  /// cancelled task waited 5.8 s for a thread to return on, once), which says nothing
  /// about how the wait ends.
  @Test func cancellationEndsTheWaitPromptly() async {
    await #expect(processExitsWith: .success) { try await ReadinessTests.cancellationBody() }
  }

  static func cancellationBody() async throws {
    let (server, client) = try await Self.tcpPair()
    _ = Self.fill(server)
    let clock = ContinuousClock()
    let waiting = Task { () -> ZeroCopyError? in
      do throws(ZeroCopyError) {
        try await server.waitUntilWritable()
        return nil
      } catch {
        return error
      }
    }
    try await Task.sleep(for: .milliseconds(20))
    let start = clock.now
    waiting.cancel()
    let error = await waiting.value
    #expect(error?.isCancellation == true)
    #expect(error?.operation == .readiness)
    #expect(clock.now - start < .seconds(5))
    // The registration is gone: the socket can be waited for again (readable: nothing
    // arrived, so cancel that one too).
    let again = Task { try await server.waitUntilReadable() }
    try await Task.sleep(for: .milliseconds(20))
    again.cancel()
    await #expect(throws: ZeroCopyError.self) { try await again.value }
    try await server.close()
    try await client.close()
  }

  @Test func cancelledBeforeItStarts() async throws {
    let (server, client) = try await Self.tcpPair()
    let waiting = Task { () -> ZeroCopyError? in
      withUnsafeCurrentTask { $0?.cancel() }
      do throws(ZeroCopyError) {
        try await server.waitUntilReadable()
        return nil
      } catch {
        return error
      }
    }
    #expect(await waiting.value?.isCancellation == true)
    try await server.close()
    try await client.close()
  }

  @Test func closeEndsAPendingWait() async throws {
    let (server, client) = try await Self.tcpPair()
    let waiting = Task { () -> ZeroCopyError? in
      do throws(ZeroCopyError) {
        try await server.waitUntilReadable()
        return nil
      } catch {
        return error
      }
    }
    // The wait registered (a fixed 20 ms let a late task find the socket closed: EBADF).
    let registered = await eventually(within: .seconds(5)) { Self.isRegistered(server.descriptor) }
    #expect(registered, "the wait was not registered within 5 s")
    try await server.close()  // must not hang on the pending wait
    let error = await waiting.value
    #expect(error?.isCancellation == true)
    // After close: EBADF, nothing registered.
    await #expect(throws: ZeroCopyError.self) { try await server.waitUntilWritable() }
    try await client.close()
  }

  @Test func oneWaiterPerDescriptor() async throws {
    let (server, client) = try await Self.tcpPair()
    let first = Task { try await server.waitUntilReadable() }
    // The first wait registered: a fixed 20 ms let the second wait in first when the task
    // ran late (then the second waited forever and the first got EBUSY).
    let registered = await eventually(within: .seconds(5)) { Self.isRegistered(server.descriptor) }
    guard registered else {
      Issue.record("the first wait was not registered within 5 s")
      first.cancel()
      _ = try? await first.value
      try await server.close()
      try await client.close()
      return
    }
    do throws(ZeroCopyError) {
      _ = try await Readiness.wait(for: .readable, on: server.descriptor)
      Issue.record("a second wait on the same descriptor was accepted")
    } catch {
      #expect(error.errno == .resourceBusy)
    }
    first.cancel()
    _ = try? await first.value
    try await server.close()
    try await client.close()
  }

  @Test func regularFilesAreRefused() async throws {
    let dir = try TemporaryDirectory()
    let path = try dir.write("file", [1, 2, 3])
    let fd = try FileDescriptor.open(path, .readOnly)
    defer { try? fd.close() }
    do throws(ZeroCopyError) {
      _ = try await Readiness.wait(for: .readable, on: fd)
      Issue.record("epoll accepted a regular file")
    } catch {
      #expect(error.errno == .notPermitted)
    }
  }

  @Test func resetEndsAWritableWait() async throws {
    let (server, client) = try await Self.tcpPair()
    let waiting = Task { try await Readiness.wait(for: .writable, on: server.descriptor) }
    // Writable at once (empty send buffer).
    #expect(try await waiting.value.contains(.writable))
    _ = Self.fill(server)
    let blocked = Task { try await Readiness.wait(for: .writable, on: server.descriptor) }
    try await Task.sleep(for: .milliseconds(20))
    // The peer resets: the wait ends with both events so that the next send sees the error.
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(client.descriptor.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    try await client.close()
    let found = try await blocked.value
    #expect(found == [.readable, .writable])
    try await server.close()
  }

  /// Five hundred waits at once on one thread; each ends when its own peer writes.
  @Test func manyWaitsAtOnce() async throws {
    let count = 500
    var pairs: [(AsyncSocket, AsyncSocket)] = []
    for _ in 0..<count { pairs.append(try AsyncSocket.pair()) }
    try await withThrowingTaskGroup(of: Readiness.Events.self) { group in
      for (a, _) in pairs {
        group.addTask { try await Readiness.wait(for: .readable, on: a.descriptor) }
      }
      try await Task.sleep(for: .milliseconds(50))
      for (_, b) in pairs.reversed() {
        let one = [UInt8](repeating: 7, count: 1)
        #expect(one.withUnsafeBytes { send(b.descriptor.rawValue, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) } == 1)
      }
      var done = 0
      for try await found in group {
        #expect(found.contains(.readable))
        done += 1
      }
      #expect(done == count)
    }
    for (a, b) in pairs {
      try await a.close()
      try await b.close()
    }
  }

  /// What a server on the engine relies on: `receive` on a non-blocking socket waits for
  /// data like on a blocking one, with either engine (io_uring arms its own poll; the
  /// thread pool polls first).
  @Test(.enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
  func ringReceiveOnNonBlockingSocketWaits() async throws {
    try await Self.receiveOnNonBlockingSocketWaits(.ioUring)
  }

  @Test func poolReceiveOnNonBlockingSocketWaits() async throws {
    try await Self.receiveOnNonBlockingSocketWaits(.threadPool)
  }

  static func receiveOnNonBlockingSocketWaits(_ kind: EngineKind) async throws {
    let engine = try Support.engine(kind)
    let (server, client) = try await Self.tcpPair(engine: engine)
    let receiving = Task { () -> [UInt8] in
      let r = await server.receive(into: try AlignedBuffer(count: 64))
      let n = try r.count
      return Support.bytes(r.take(), count: n)
    }
    try await Task.sleep(for: .milliseconds(50))
    let sent = await client.sendAll(from: try Support.buffer([9, 8, 7]))
    #expect(try sent.count == 3)
    _ = sent.take()
    #expect(try await receiving.value == [9, 8, 7])
    try await server.close()
    try await client.close()
    await engine.shutdown()
  }
}
