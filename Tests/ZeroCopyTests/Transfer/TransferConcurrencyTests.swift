// Many transfers at once, cancellation, custom strategies, and descriptor leaks.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

/// A user-defined strategy for the tests: pread/pwrite through a Swift array, files only.
struct PreadPwriteTestStrategy: TransferStrategy {
  var name: String { "testPreadPwrite" }
  var summary: String { "pread/pwrite through a 64 KiB Swift array (a test strategy)" }

  func support(for pair: EndpointPair) -> StrategySupport {
    pair.source.isSeekable && pair.destination.isSeekable ? .supported : .unsupported("files only")
  }

  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while let chunk = context.nextChunk(limit: buffer.count) {
      try context.checkCancellation()
      let source = context.source.descriptor.rawValue
      let offset = context.sourceOffset ?? 0
      let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, chunk, off_t(offset)) }
      if n < 0 { throw context.error(syscall: "pread", errno: Errno(rawValue: errno)) }
      if n == 0 { return .sourceEnded }
      let destination = context.destination.descriptor.rawValue
      let target = context.destinationOffset ?? 0
      let written = buffer.withUnsafeBytes { pwrite(destination, $0.baseAddress, n, off_t(target)) }
      if written < 0 { throw context.error(syscall: "pwrite", errno: Errno(rawValue: errno)) }
      context.record(bytes: Int64(written), syscalls: 2)
    }
    return .complete
  }
}

/// A strategy that always says EXDEV before moving anything.
struct RefusingTestStrategy: TransferStrategy {
  var name: String { "testRefusing" }
  var summary: String { "always fails with EXDEV (a test strategy)" }
  func support(for pair: EndpointPair) -> StrategySupport { .supported }
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    context.recordSyscalls(1)
    throw context.error(syscall: "testcall", errno: .improperLink)
  }
}

/// A strategy that moves one byte, then waits for cancellation.
struct StallingTestStrategy: TransferStrategy {
  var name: String { "testStalling" }
  var summary: String { "moves one byte, then waits to be cancelled (a test strategy)" }
  func support(for pair: EndpointPair) -> StrategySupport { .supported }
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    var byte: UInt8 = 0
    _ = pread(context.source.descriptor.rawValue, &byte, 1, 0)
    _ = pwrite(context.destination.descriptor.rawValue, &byte, 1, 0)
    context.record(bytes: 1, syscalls: 2)
    for _ in 0..<10_000 {
      try context.checkCancellation()
      usleep(1000)
    }
    return .complete
  }
}

extension TransferTests {
  @Suite("Transfer concurrency, custom strategies, descriptors")
  struct Concurrency {
    @Test("100 concurrent copies with mixed strategies are all byte-exact")
    func hundredAtOnce() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let memory = try TransferFixtures.Directory(in: "/dev/shm")
      defer { memory.remove() }
      var names = ["automatic", "readWrite", "mmapWrite", "sendfile", "splice", "copyFileRange"]
      if TransferFixtures.ioUringAvailable { names += ["ioUring", "ioUringSplice"] }
      let sizes = (0..<100).map { index in index % 10 == 0 ? (1 << 20) + index : index * 3001 + 1 }
      for (index, size) in sizes.enumerated() {
        try TransferFixtures.writeFile(disk.file("src-\(index)"), TransferFixtures.bytes(size, from: index))
      }
      let results = try await withThrowingTaskGroup(of: (Int, TransferReport).self) { group in
        for index in 0..<100 {
          let source = FilePath(disk.file("src-\(index)"))
          let target = FilePath((index % 3 == 0 ? memory : disk).file("dst-\(index)"))
          let strategy = try #require(TransferStrategies.named(names[index % names.count]))
          group.addTask { (index, try await Transfer.copy(from: source, to: target, strategy: strategy)) }
        }
        var collected: [(Int, TransferReport)] = []
        for try await result in group { collected.append(result) }
        return collected
      }
      #expect(results.count == 100)
      for (index, report) in results {
        #expect(report.bytes == Int64(sizes[index]), "\(index): \(report)")
        let target = (index % 3 == 0 ? memory : disk).file("dst-\(index)")
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(target), TransferFixtures.bytes(sizes[index], from: index),
          "copy \(index) (\(report.strategy))")
      }
    }

    @Test("a bounded pipe pool: more concurrent splices than pipes wait their turn and all complete")
    func boundedPipePool() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let pool = PipePool(maximumPipes: 2, capacity: 64 << 10)
      let strategy = SpliceStrategy(pool: pool)
      for index in 0..<8 {
        try TransferFixtures.writeFile(disk.file("src-\(index)"), TransferFixtures.bytes((1 << 20) + index, from: index))
      }
      // Eight threads at once, each blocking in runBlocking: six of them wait for a pipe.
      let outcomes = (0..<8).map { _ in TransferFixtures.Box<String?>(nil) }
      let workers = (0..<8).map { index in
        TransferFixtures.Worker {
          do {
            let report = try Transfer.copyBlocking(
              from: FilePath(disk.file("src-\(index)")), to: FilePath(disk.file("dst-\(index)")), strategy: strategy)
            if report.strategy != "splice" || report.bytes != Int64((1 << 20) + index) {
              outcomes[index].value = "\(index): \(report)"
            }
          } catch {
            outcomes[index].value = "\(index): \(error)"
          }
        }
      }
      workers.forEach { $0.join() }
      let failures = outcomes.compactMap(\.value)
      #expect(failures.isEmpty, "\(failures)")
      #expect(pool.inUseCount == 0)
      #expect(pool.idleCount <= 2)
      pool.closeIdlePipes()
      #expect(pool.idleCount == 0)
      for index in 0..<8 {
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(disk.file("dst-\(index)")), TransferFixtures.bytes((1 << 20) + index, from: index),
          "copy \(index)")
      }
    }

    @Test("300 concurrent splice transfers never hold more pipes than the pool allows")
    func manySplices() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("src"), TransferFixtures.bytes(100_000))
      // A pool of this test's own, configured as the shared one (16 pipes of 1 MiB): other
      // suites splice through PipePool.shared at the same time, so its in-use count says
      // nothing about these transfers.
      let pool = PipePool(maximumPipes: 16, capacity: 1 << 20)
      defer { pool.closeIdlePipes() }
      let strategy = SpliceStrategy(pool: pool)
      try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 0..<300 {
          let source = FilePath(disk.file("src"))
          let target = FilePath(disk.file("dst-\(index)"))
          group.addTask {
            let report = try await Transfer.copy(from: source, to: target, strategy: strategy)
            #expect(report.bytes == 100_000)
            #expect(report.strategy == "splice")
            #expect(pool.inUseCount + pool.idleCount <= pool.maximumPipes)
          }
        }
        try await group.waitForAll()
      }
      #expect(pool.inUseCount == 0)
      #expect(pool.idleCount > 0, "no pipe went through the test's pool")
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(disk.file("dst-299")), TransferFixtures.bytes(100_000), "the last copy")
    }

    @Test("cancelling the task stops the transfer between chunks with ECANCELED and the bytes delivered")
    func cancellation() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(1000))
      let monitor = TransferMonitor()
      let source = FilePath(disk.file("a"))
      let target = FilePath(disk.file("b"))
      let task = Task {
        try await Transfer.copy(
          from: source, to: target, strategy: StallingTestStrategy(),
          options: CopyOptions(transfer: TransferOptions(allowFallback: false, monitor: monitor)))
      }
      while monitor.bytesTransferred == 0 { try await Task.sleep(for: .milliseconds(1)) }
      #expect(monitor.expectedBytes == 1000)
      task.cancel()
      let result = await task.result
      guard case .failure(let error as ZeroCopyError) = result else {
        Issue.record("expected a cancellation error, got \(result)")
        return
      }
      #expect(error.isCancellation)
      #expect(error.bytesTransferred == 1)

      // Already cancelled: nothing moves.
      let cancelled = TransferMonitor()
      cancelled.cancel()
      let early = await #expect(throws: ZeroCopyError.self) {
        try await Transfer.copy(from: source, to: target, options: CopyOptions(transfer: TransferOptions(monitor: cancelled)))
      }
      #expect(early?.isCancellation == true)
      #expect(early?.bytesTransferred == 0)
    }

    @Test("a registered custom strategy is listed, found by name, and moves the bytes")
    func customStrategy() async throws {
      TransferStrategies.register(PreadPwriteTestStrategy())
      defer { TransferStrategies.unregister(named: "testPreadPwrite") }
      #expect(TransferStrategies.all.last?.name == "testPreadPwrite")
      #expect(TransferStrategies.all.count == TransferStrategies.builtIn.count + TransferStrategies.registered.count)
      let found = try #require(TransferStrategies.named("testpreadpwrite"))
      #expect(found.name == "testPreadPwrite")

      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(300_000))
      let report = try await Transfer.copy(from: FilePath(disk.file("a")), to: FilePath(disk.file("b")), strategy: found)
      #expect(report.strategy == "testPreadPwrite")
      #expect(report.syscalls == 2 * ((300_000 + 65535) / 65536))
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("b")), TransferFixtures.bytes(300_000), "custom copy")

      // It does not support sockets: the transfer falls back and says so.
      let (near, far) = try TransferFixtures.makeUnixPair()
      let reader = TransferFixtures.reader(far)
      let source = try TransferFixtures.openFile(disk.file("a"), O_RDONLY)
      let sent = try await Transfer.send(file: source, to: near, strategy: found)
      try near.close()
      try source.close()
      TransferFixtures.expectSame(reader.join(), TransferFixtures.bytes(300_000), "fallback to a socket")
      try far.close()
      // .automatic's candidates to a socket: sendfile up to socketSendfileMax, splice above.
      #expect(sent.strategy == (300_000 > AutomaticStrategy().parameters.socketSendfileMax ? "splice" : "sendfile"))
      #expect(sent.fallbacks.first?.strategy == "testPreadPwrite")
      #expect(sent.fallbacks.first?.reason == "files only")

      TransferStrategies.unregister(named: "testPreadPwrite")
      #expect(TransferStrategies.named("testPreadPwrite") == nil)
    }

    @Test("a custom strategy that fails with EXDEV before moving bytes falls back, with its errno")
    func customFallback() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(5000))
      let report = try await Transfer.copy(
        from: FilePath(disk.file("a")), to: FilePath(disk.file("b")), strategy: RefusingTestStrategy())
      #expect(report.strategy == "copyFileRange")
      #expect(report.fallbacks.count == 1)
      #expect(report.fallbacks.first?.strategy == "testRefusing")
      #expect(report.fallbacks.first?.errno == .improperLink)
      #expect(report.fallbacks.first?.syscall == "testcall")
      #expect(report.syscalls >= 2, "the abandoned attempt's syscall counts too")
      #expect(report.json.contains("\"errnoName\":\"EXDEV\""))
    }

    // In a child process (an exit test) under the fault suite's descriptor harness: in
    // this process other suites open and close descriptors in parallel, which made a
    // before/after count flaky on a loaded machine.
    @Test("no descriptor leaks after successful and failed transfers (exact, in a child process)")
    func descriptorLeaks() async throws {
      await #expect(processExitsWith: .success) {
        try await Faults.harnessed("successful and failed transfers") { try await Concurrency.descriptorLeaksBody() }
      }
    }

    static func descriptorLeaksBody() async throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let memory = try TransferFixtures.Directory(in: "/dev/shm")
      defer { memory.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(2 << 20))
      var names = ["automatic", "readWrite", "mmapWrite", "sendfile", "splice", "copyFileRange", "reflink", "directIO"]
      if TransferFixtures.ioUringAvailable { names += ["ioUring", "ioUringSplice", "sendZeroCopy"] }
      do {
        for name in names {
          let strategy = try #require(TransferStrategies.named(name))
          _ = try await Transfer.copy(from: FilePath(disk.file("a")), to: FilePath(disk.file("b")), strategy: strategy)
          _ = try await Transfer.copy(
            from: FilePath(disk.file("a")), to: FilePath(memory.file("b")), strategy: strategy,
            options: CopyOptions(atomic: true))
          let (near, far) = try TransferFixtures.makeTCPPair()
          let reader = TransferFixtures.reader(far)
          let source = try TransferFixtures.openFile(disk.file("a"), O_RDONLY)
          _ = try await Transfer.send(file: source, to: near, strategy: strategy)
          try source.close()
          try near.close()
          _ = reader.join()
          try far.close()
        }
      }
      do {
        for name in names {
          let strategy = try #require(TransferStrategies.named(name))
          let (readEnd, writeEnd) = try TransferFixtures.makePipe()
          try readEnd.close()
          let source = try TransferFixtures.openFile(disk.file("a"), O_RDONLY)
          _ = try? await Transfer.send(file: source, to: writeEnd, strategy: strategy)
          try source.close()
          try writeEnd.close()
          _ = try? await Transfer.copy(from: FilePath(disk.file("a")), to: FilePath(disk.file("a")), strategy: strategy)
          _ = try? await Transfer.copy(from: FilePath(disk.file("missing")), to: FilePath(disk.file("c")), strategy: strategy)
          _ = try? await Transfer.copy(
            from: FilePath(disk.file("a")), to: FilePath(memory.file("c")), strategy: strategy,
            options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
        }
      }
    }
  }
}
