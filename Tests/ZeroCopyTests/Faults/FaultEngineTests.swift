// Fault scenarios for the async engine (FAULTS.md items 11–14), on both engine kinds,
// each in a child process under the descriptor harness (FaultSupport.swift).

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing
import ZeroCopy

@Suite("Faults: engine", .serialized)
struct FaultEngineTests {
  static func engineKind(_ raw: String) throws -> EngineKind {
    let kind = try #require(EngineKind(rawValue: raw))
    return kind
  }

  static func requireEngine(_ raw: String) throws {
    if raw == EngineKind.ioUring.rawValue && !Support.ioUringAvailable {
      try Faults.skip("11/12", raw, "io_uring is unavailable here: \(IOURingAvailability.current)")
    }
  }

  // MARK: 11. Cancellation

  @Test(
    "11. cancellation while reads are pending, while data arrives, while the file closes: no lost data, buffers returned",
    arguments: [EngineKind.ioUring.rawValue, EngineKind.threadPool.rawValue])
  func cancellation(_ kind: String) async throws {
    try Self.requireEngine(kind)
    await #expect(processExitsWith: .success) { [kind] in
      try await Faults.harnessed("cancellation, \(kind)") { try await FaultEngineTests.cancellationBody(kind) }
    }
  }

  static func cancellationBody(_ raw: String) async throws {
    let kind = try engineKind(raw)
    // While the file closes: reads pending on a pipe and racing a regular file's close.
    try await Behaviours.closeWithReadsInFlight(kind)
    // Through the engine (every receive an engine operation: some are cancelled in flight),
    // then with queued data received inline (the library's default: receives that find
    // data never reach the engine, so cancellations are rarer, and must lose nothing either).
    for inline in [false, true] {
      try await withEngine(kind, completesReadyReadsInline: inline) { engine in
        let (a, b) = try AsyncSocket.pair(engine: engine)
        // Pending: 64 receives on a socket with no data, all cancelled.
        let pending = (0..<64).map { i in
          Task(executorPreference: i % 2 == 0 ? engine.preferredTaskExecutor : nil) {
            Returned(await a.receive(into: try Support.filled(0xAA, count: 256)))
          }
        }
        await pause(microseconds: 10_000)
        for task in pending { task.cancel() }
        for task in pending {
          let r = try await task.value
          let cancelled = r.error?.isCancellation == true
          #expect(cancelled, "\(String(describing: r.error))")
          let untouched = Support.isFilled(r.buffer!, with: 0xAA)
          #expect(untouched, "the buffer comes back untouched")
        }
        // Nothing was consumed by the cancelled receives: a message sent now arrives whole.
        let hello = Support.pattern(seed: 1, count: 200)
        let sent = await b.sendAll(from: try Support.buffer(hello))
        #expect((try? sent.result.get()) == 200)
        _ = sent.take()
        #expect(try await Behaviours.receiveExactly(a, count: 200) == hello)

        // Arriving: a writer streams 2 MiB in rounds of 1–16 chunks of 4 KiB that the reader
        // grants, while receives are started and cancelled at random, racing the data (on a
        // fast engine they may all complete first: nothing is asserted of how many lose the
        // race). At the end of each round, every granted byte received, one more receive is
        // started and cancelled: nothing can arrive for it, so it must come back cancelled,
        // its buffer untouched, and the next round's bytes must still all arrive in order.
        let total = 2 << 20
        let chunk = 4096
        let stream = Support.pattern(seed: 2, count: total)
        let (grants, grant) = AsyncStream.makeStream(of: Int.self)
        let writer = Task.detached {
          var offset = 0
          for await chunks in grants {
            for _ in 0..<chunks where offset < total {
              let n = min(chunk, total - offset)
              let r = await b.sendAll(from: try Support.buffer(Array(stream[offset..<(offset + n)])))
              _ = try r.result.get()
              _ = r.take()
              offset += n
            }
            if offset >= total { break }
          }
        }
        var received: [UInt8] = []
        var cancelled = 0
        var starved = 0
        var granted = 0
        var rng = SplitMix(seed: 11)
        while received.count < total {
          let chunks = Int(rng.next() % 16) + 1
          granted = min(total, granted + chunks * chunk)
          grant.yield(chunks)
          while received.count < granted {
            let task = Task(executorPreference: rng.next() % 2 == 0 ? engine.preferredTaskExecutor : nil) {
              Returned(await a.receive(into: try Support.filled(0xAA, count: 8192)))
            }
            if rng.next() % 3 == 0 {
              await pause(microseconds: Int(rng.next() % 200))
              task.cancel()
            }
            let r = try await task.value
            if let count = r.count {
              #expect(count > 0)
              received += r.bytes.prefix(count)
              let bytes = r.bytes
              #expect(bytes[count...].allSatisfy { $0 == 0xAA }, "past the count the buffer is untouched")
            } else {
              let isCancellation = r.error?.isCancellation == true
              #expect(isCancellation, "\(String(describing: r.error))")
              let untouched = Support.isFilled(r.buffer!, with: 0xAA)
              #expect(untouched, "a cancelled receive returns its buffer untouched")
              cancelled += 1
            }
          }
          if received.count < total {
            let task = Task(executorPreference: rng.next() % 2 == 0 ? engine.preferredTaskExecutor : nil) {
              Returned(await a.receive(into: try Support.filled(0xAA, count: 8192)))
            }
            await pause(microseconds: Int(rng.next() % 500))
            task.cancel()
            let r = try await task.value
            let isCancellation = r.error?.isCancellation == true
            #expect(
              isCancellation,
              "a receive with nothing to receive, round \(starved): \(String(describing: r.error)), \(String(describing: r.count))"
            )
            let untouched = Support.isFilled(r.buffer!, with: 0xAA)
            #expect(untouched, "a cancelled receive returns its buffer untouched")
            starved += 1
          }
        }
        grant.finish()
        try await writer.value
        #expect(received.count == total)
        #expect(received == stream, "no byte lost or duplicated across \(cancelled) racing and \(starved) idle cancellations")
        #expect(starved > 0)
        try await a.close()
        try await b.close()
      }
    }
  }

  // MARK: 12. CQ pressure

  @Test(
    "12. a 4-entry ring and 1,000 concurrent operations: all complete with the right bytes",
    arguments: [EngineKind.ioUring.rawValue, EngineKind.threadPool.rawValue])
  func completionQueuePressure(_ kind: String) async throws {
    try Self.requireEngine(kind)
    await #expect(processExitsWith: .success) { [kind] in
      try await Faults.harnessed("CQ pressure, \(kind)") { try await FaultEngineTests.pressureBody(kind) }
    }
  }

  static func pressureBody(_ raw: String) async throws {
    let kind = try engineKind(raw)
    // Every file read through the engine (none served inline from the cache).
    try await withEngine(kind, submissionQueueEntries: 4, completionQueueEntries: 4, completesReadyReadsInline: false) {
      engine in
      if kind == .ioUring { #expect(engine.description.contains("4"), "\(engine)") }
      let dir = try TemporaryDirectory()
      let data = Support.pattern(seed: 12, count: 1 << 20)
      let file = try await AsyncFile.open(try dir.write("cq.bin", data), engine: engine)
      // 1,000 file reads, plus 200 pipe reads that all become ready at once.
      let waiting = try QueuePressure.WaitingPipeReads(count: 200, size: 16, engine: engine)
      let before = engine.statistics.operationsCompleted
      let mismatches = try await QueuePressure.concurrentReads(file, of: data, count: 1000, engine: engine) {
        ($0 * 4096 + ($0 % 7) * 13) % ((1 << 20) - 4096)
      }
      #expect(mismatches == 0)
      #expect(try await waiting.fillAndCountWrong() == 0)
      if kind == .ioUring {
        // Counts are published after the whole reap batch the last waiters resumed in.
        let counted = await eventually { engine.statistics.operationsCompleted - before >= 1200 }
        #expect(counted, "\(engine.statistics.operationsCompleted - before) operations: \(engine.statistics)")
      }
      Faults.checkCloseOnExec("CQ pressure engine \(kind)")
      try await file.close()
      for reader in waiting.readers { try await reader.close() }
      for pipe in waiting.pipes { try pipe.writeEnd.close() }
    }
  }

  // MARK: 13. SEND_ZC buffer ownership

  @Test(
    "13. SEND_ZC: the buffer is consumed and handed back only after the notification; reusing it then cannot corrupt the send",
    .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
  func sendZeroCopyOwnership() async throws {
    try await withEngine(.ioUring) { engine in
      let listener = try AsyncSocket.listen(on: .loopback(port: 0), engine: engine)
      let address = try listener.localAddress()
      async let accepted = listener.accept()
      let client = try await AsyncSocket.connect(to: address, engine: engine)
      let server = try await accepted
      let count = 64
      let size = 256 << 10
      let receiver = Task.detached { try await Behaviours.receiveExactly(server, count: count * size) }
      for i in 0..<count {
        // `sendZeroCopy` consumes the buffer (AlignedBuffer is ~Copyable): the caller has no
        // reference left to reuse; the compiler refuses `buffer` after this line.
        let buffer = try Support.filled(UInt8(i), count: size)
        let result = await client.sendZeroCopy(from: buffer)
        let sent = try result.result.get()
        var back = result.take()
        #expect(sent > 0)
        // Reuse at once: scribble over it. Had the kernel still referenced the pages, the
        // receiver would see 0xFF.
        back.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }
        if sent < size {
          let rest = await client.sendAll(from: try Support.filled(UInt8(i), count: size - sent))
          _ = try rest.result.get()
          _ = rest.take()
        }
      }
      let got = try await receiver.value
      var wrong = 0
      for i in 0..<count where !got[(i * size)..<((i + 1) * size)].allSatisfy({ $0 == UInt8(i) }) { wrong += 1 }
      #expect(wrong == 0, "every message arrived as it was when sent")
      try await client.close()
      try await server.close()
      try await listener.close()
    }
  }

  /// The compile-time half of item 13: a program that touches the buffer after handing it
  /// to `sendZeroCopy` does not compile ("'buffer' used after consume"), while the same
  /// program without that line does. Compiled with this build's modules by `swiftc`.
  @Test("13. SEND_ZC: using the buffer after handing it to sendZeroCopy is refused at compile time")
  func sendZeroCopyCompileTime() throws {
    var exe = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &exe, exe.count - 1)
    try #require(n > 0)
    let buildDirectory = FilePath(String(decoding: exe[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
      .removingLastComponent()
    let modules = buildDirectory.appending("Modules")
    let checkouts = buildDirectory.removingLastComponent().removingLastComponent().appending("checkouts")
    let root = FilePath(#filePath).removingLastComponent().removingLastComponent().removingLastComponent().removingLastComponent()
    let systemMap = checkouts.appending("swift-system/Sources/CSystem/include/module.modulemap")
    let pathVariable = getenv("PATH")
    let path = pathVariable == nil ? "" : String(cString: pathVariable!)
    let candidates: [String] = path.split(separator: ":").map { (dir: Substring) -> String in "\(dir)/swiftc" }
    let swiftc =
      candidates
      .first { access($0, X_OK) == 0 }
    guard let swiftc, access(modules.appending("ZeroCopy.swiftmodule").string, R_OK) == 0,
      access(systemMap.string, R_OK) == 0
    else {
      try Faults.skip("13", "compile-time", "no swiftc on PATH or no build modules next to the test binary")
    }
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let program = """
      import ZeroCopy
      import LinuxIO
      func send(_ socket: AsyncSocket) async throws {
        let buffer = try AlignedBuffer(count: 4096)
        let result = await socket.sendZeroCopy(from: buffer)
        _ = result.take()
        MISUSE
      }
      """
    func compile(_ name: String, _ misuse: String) throws -> (Int32, String) {
      let source = dir.file("\(name).swift")
      try TransferFixtures.writeFile(
        source, Array(program.split(separator: "MISUSE", omittingEmptySubsequences: false).joined(separator: misuse).utf8))
      let flags = [
        "-emit-sil", "-o", "/dev/null", "-I", modules.string,
        "-Xcc", "-fmodule-map-file=\(systemMap)",
        "-Xcc", "-fmodule-map-file=\(root)/CShims/include/module.modulemap",
        "-Xcc", "-fmodule-map-file=\(root)/Sources/CLibURing/module.modulemap", "-Xcc", "-I\(root)/CShims/include",
        "-Xcc", "-fmodule-map-file=\(root)/Sources/CLinuxExtras/module.modulemap",
      ]
      let command = ([swiftc] + flags + [source]).map { "'\($0)'" }.joined(separator: " ") + " > '\(dir.file(name)).log' 2>&1"
      let status = Faults.spawn(["/bin/sh", "-c", command])
      return (status, String(decoding: try TransferFixtures.readFile(dir.file("\(name).log")), as: UTF8.self))
    }
    let (okStatus, okLog) = try compile("control", "")
    #expect(okStatus == 0, "the control program compiles: \(okLog)")
    let (status, log) = try compile("misuse", "buffer.withUnsafeBytes { _ = $0.count }  // reuse before the notification")
    #expect(status != 0, "reusing the consumed buffer must not compile")
    #expect(log.contains("'buffer' used after consume"), "\(log)")
  }

  // MARK: 14. fork

  @Test(
    "14. fork after the engine started: the child uses the library with its own ring and pipes, the parent is unaffected",
    .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment),
    .disabled(
      if: Faults.underThreadSanitizer,
      "under ThreadSanitizer (make sanitize-thread) a fork of a multi-threaded process makes the TSan runtime exit the child with status 66; the normal and ASan runs cover this"
    ))
  func fork() async throws {
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("fork") { try await FaultEngineTests.forkBody() }
    }
  }

  static func forkBody() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(1 << 20)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    // The parent: an io_uring engine at work, and a splice that leaves a pipe in the pool.
    let engine = try Support.engine(.ioUring)
    let file = try await AsyncFile.open(FilePath(dir.file("src")), engine: engine)
    let first = await file.read(into: try AlignedBuffer(count: 4096), at: 0)
    #expect(Support.bytes(first.take()) == Array(payload.prefix(4096)))
    let (r, w) = try TransferFixtures.makeTCPPair()
    let reader = TransferFixtures.reader(w)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    PipePool.shared.closeIdlePipes()
    let beforeSplice = Set(Faults.snapshot().values)
    _ = try Transfer.runBlocking(TransferRequest(from: source, offset: 0, count: 1000, to: r), strategy: .splice)
    try r.close()
    _ = reader.join()
    try w.close()
    #expect(PipePool.shared.idleCount == 1)
    // The pooled pipe's /proc/self/fd targets ("pipe:[inode]"), both ends.
    let pooled = Set(Faults.snapshot().values).subtracting(beforeSplice).filter { $0.hasPrefix("pipe:") }
    #expect(pooled.count == 1, "\(pooled)")

    let names = Faults.strategyNames
    let sourcePath = dir.file("src")
    let pid = Glibc.fork()
    if pid == 0 {
      // The child: only this thread exists. Everything here is synchronous (Swift
      // Concurrency's executors have no threads in a forked child); exit with _exit.
      var failures = 0
      for name in names {
        guard let strategy = TransferStrategies.named(name) else { continue }
        let out = "\(sourcePath)-child-\(name)"
        let result = Result { () throws(ZeroCopyError) in
          try Transfer.copyBlocking(from: FilePath(sourcePath), to: FilePath(out), strategy: strategy)
        }
        if case .success(let report) = result, report.bytes == Int64(payload.count),
          (try? TransferFixtures.readFile(out)) == payload
        {
        } else {
          failures += 1
          let text = "child: \(name) failed: \(result)\n"
          _ = text.withCString { write(2, $0, strlen($0)) }
        }
        unlink(out)
      }
      // splice through the pool must not use the parent's pipe (the same kernel pipe,
      // shared with the parent): the child's copies of it are closed and a new one made.
      if let (sr, sw) = try? TransferFixtures.makeTCPPair() {
        let sink = TransferFixtures.reader(sw)
        let spliced = try? Transfer.runBlocking(TransferRequest(from: source, offset: 0, count: 1000, to: sr), strategy: .splice)
        let stillShared = Set(Faults.snapshot().values).intersection(pooled)
        try? sr.close()
        let got = sink.join()
        try? sw.close()
        if spliced?.bytes != 1000 || got != Array(payload.prefix(1000)) || !stillShared.isEmpty {
          failures += 1
          _ = "child: splice \(String(describing: spliced)); parent's pipes still open: \(stillShared)\n".withCString {
            write(2, $0, strlen($0))
          }
        }
      } else {
        failures += 1
      }
      // Its own ring.
      do {
        let ring = try IOURing(entries: 8)
        _ = consume ring
      } catch {
        failures += 1
      }
      _exit(failures == 0 ? 0 : 1)
    }
    #expect(pid > 0)
    var status: CInt = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "the child exited with status \(status)")
    // The parent is unaffected: its engine and its pooled pipe still work.
    let again = await file.read(into: try AlignedBuffer(count: 4096), at: 4096)
    #expect(Support.bytes(again.take()) == Array(payload[4096..<8192]))
    let (r2, w2) = try TransferFixtures.makeTCPPair()
    let reader2 = TransferFixtures.reader(w2)
    let report = try Transfer.runBlocking(TransferRequest(from: source, offset: 0, count: 100_000, to: r2), strategy: .splice)
    try r2.close()
    let got = reader2.join()
    try w2.close()
    #expect(report.bytes == 100_000)
    TransferFixtures.expectSame(got, Array(payload.prefix(100_000)), "the parent's splice after the fork")
    try source.close()
    try await file.close()
    await engine.shutdown()
  }
}
