// The io_uring strategy's file → file pipeline (IOURingStrategies.swift, readWritePipeline):
// pairs refilled as the oldest completes, across many windows, with every way a window can
// stop — the end of the source, a range past it, a full disk, a ring that fails with pairs
// in flight, a cancellation — and the ring's state afterwards.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage
import Testing

@testable import ZeroCopy

@Suite(
  "io_uring file → file pipeline", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment),
  .disabled(
    if: TransferFixtures.memlockApplies,
    "RLIMIT_MEMLOCK applies to this process (no CAP_IPC_LOCK): the slot counts assume the buffers register; the memlock suite covers the refusals"
  ))
struct IOURingPipelineTests {
  /// 4 slots of 64 KiB: a window is 256 KiB, so every size below needs several.
  static func strategy(_ pool: RingPool) -> IOURingStrategy {
    var strategy = IOURingStrategy(bufferSize: 64 << 10, depth: 4)
    strategy.ringPool = pool
    return strategy
  }

  /// Idle rings are kept for an hour: under ThreadSanitizer on 2 cores this suite's task
  /// waited long enough between two transfers for the 60 s default to close the ring,
  /// and the next transfer set up a second one.
  static func pool() -> RingPool { RingPoolTests.pool(idleLimit: .seconds(3600)) }

  @Test("whole files, ranges at offsets into a used file, and ranges past the end: exact bytes, exact counts")
  func offsetsAndEnds() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let pool = Self.pool()
    defer { pool.closeIdle() }
    let strategy = Self.strategy(pool)
    for size in [(256 << 10) + 1, (1 << 20) + 12345, 3 << 20] {
      let content = TransferFixtures.bytes(size, from: 11)
      try TransferFixtures.writeFile(dir.file("src"), content)
      let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
      defer { try? source.close() }

      // The whole file, until its end, to a new file (blocking and async).
      for async in [false, true] {
        let target = try TransferFixtures.openFile(dir.file("whole"), O_RDWR | O_CREAT | O_TRUNC)
        let request = TransferRequest(from: source, offset: 0, to: target, at: 0)
        let options = TransferOptions(allowFallback: false, inlineLimit: 0)
        let report =
          async
          ? try await Transfer.run(request, strategy: strategy, options: options)
          : try Transfer.runBlocking(request, strategy: strategy, options: options)
        try target.close()
        #expect(report.strategy == "ioUring", "\(report)")
        #expect(report.bytes == Int64(size), "\(size), async \(async): \(report)")
        TransferFixtures.expectSame(try TransferFixtures.readFile(dir.file("whole")), content, "\(size) whole, async \(async)")
      }

      // A range into the middle of a file that holds other bytes: only the range's target
      // bytes change.
      let filler = [UInt8](repeating: 0xEE, count: size + 9000)
      try TransferFixtures.writeFile(dir.file("used"), filler)
      let used = try TransferFixtures.openFile(dir.file("used"), O_RDWR)
      let range: Range<Int64> = 777..<Int64(size - 3)
      let at: Int64 = 4096 + 5
      let report = try Transfer.runBlocking(
        TransferRequest(from: source, offset: range.lowerBound, count: Int64(range.count), to: used, at: at), strategy: strategy,
        options: TransferOptions(allowFallback: false))
      try used.close()
      #expect(report.bytes == Int64(range.count) && !report.sourceEndedEarly, "\(size): \(report)")
      var expected = filler
      expected.replaceSubrange(Int(at)..<(Int(at) + range.count), with: content[Int(range.lowerBound)..<Int(range.upperBound)])
      TransferFixtures.expectSame(try TransferFixtures.readFile(dir.file("used")), expected, "\(size) range at an offset")

      // A count past the end: the window meets the end mid-way.
      let short = try TransferFixtures.openFile(dir.file("short"), O_RDWR | O_CREAT | O_TRUNC)
      let past = try Transfer.runBlocking(
        TransferRequest(from: source, offset: 1000, count: Int64(size) + (1 << 20), to: short, at: 0), strategy: strategy,
        options: TransferOptions(allowFallback: false))
      try short.close()
      #expect(past.bytes == Int64(size - 1000) && past.sourceEndedEarly, "\(size): \(past)")
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(dir.file("short")), Array(content[1000...]), "\(size) past the end")
    }
    #expect(pool.statistics.created == 1 && pool.statistics.broken == 0, "one ring served every transfer: \(pool.statistics)")
  }

  @Test(
    "a full disk mid-pipeline: ENOSPC from WRITE_FIXED, the bytes counted are the destination's, the ring drained and pooled",
    .enabled(if: geteuid() == 0, "mounting a 1 MiB tmpfs needs root"))
  func diskFull() throws {
    guard let small = TransferFixtures.mountTmpfs(size: "1m") else {
      Issue.record("cannot mount a tmpfs")
      return
    }
    defer { TransferFixtures.unmount(small) }
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let content = TransferFixtures.bytes(3 << 20, from: 5)
    try TransferFixtures.writeFile(dir.file("src"), content)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }
    let target = try TransferFixtures.openFile(small.file("out"), O_RDWR | O_CREAT | O_TRUNC)
    let error = #expect(throws: ZeroCopyError.self) {
      try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, to: target, at: 0), strategy: Self.strategy(pool),
        options: TransferOptions(allowFallback: false))
    }
    try target.close()
    #expect(error?.errno == .noSpace, "\(String(describing: error))")
    #expect(error?.syscall == "IORING_OP_WRITE_FIXED", "\(String(describing: error))")
    let delivered = Int(error?.bytesTransferred ?? -1)
    #expect(delivered > 0 && delivered < content.count, "some bytes fit: \(delivered)")
    let written = try TransferFixtures.readFile(small.file("out"))
    #expect(written.count >= delivered, "the file holds at least the bytes counted")
    TransferFixtures.expectSame(Array(written.prefix(delivered)), Array(content.prefix(delivered)), "the bytes counted")
    // Every pair was awaited before the error: the ring is whole and back in the pool.
    #expect(pool.statistics.broken == 0 && pool.idleCount == 1, "\(pool.statistics)")
  }

  @Test("a chain that cannot be prepared with pairs in flight: the ring is never reused, the bytes counted are exact")
  func prepareFailsWithPairsInFlight() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let content = TransferFixtures.bytes(2 << 20, from: 9)
    try TransferFixtures.writeFile(dir.file("src"), content)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }
    pool.faults.failPrepareAfterFirstSubmit = .noMemory
    let (result, bytes) = try RingPoolTests.copy(source, dir, "failed", strategy: Self.strategy(pool))
    guard case .failure(let error) = result else {
      Issue.record("the injected failure did not fail the transfer: \(result)")
      return
    }
    #expect(error.syscall == "io_uring_enter" && error.errno == .noMemory, "\(error)")
    #expect(error.bytesTransferred < Int64(content.count), "\(error)")
    #expect(bytes.count >= Int(error.bytesTransferred))
    TransferFixtures.expectSame(
      Array(bytes.prefix(Int(error.bytesTransferred))), Array(content.prefix(Int(error.bytesTransferred))), "the bytes counted")
    #expect(pool.statistics.broken == 1 && pool.idleCount == 0, "pairs were in flight: \(pool.statistics)")
    pool.faults.failPrepareAfterFirstSubmit = nil
    let (again, copied) = try RingPoolTests.copy(source, dir, "after", strategy: Self.strategy(pool))
    #expect(try again.get().bytes == Int64(content.count))
    TransferFixtures.expectSame(copied, content, "after the failure")
    #expect(pool.statistics.created == 2, "\(pool.statistics)")
  }

  @Test("cancelled mid-pipeline: ECANCELED with the exact bytes, every pair awaited, the ring pooled and reused")
  func cancelledMidPipeline() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    // 8 MiB of pattern, then a hole to 256 MiB: long enough that a watcher spinning on
    // the monitor cancels it mid-way, cheap to create.
    let head = TransferFixtures.bytes(8 << 20)
    try TransferFixtures.writeFile(dir.file("src"), head)
    #expect(truncate(dir.file("src"), 256 << 20) == 0)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }
    let monitor = TransferMonitor()
    // Polls every 50 µs (about 0.3 MB of copy here), for at most 60 s: a transfer that
    // failed before 1 MiB must not leave it running.
    let watcher = TransferFixtures.Worker {
      let deadline = ContinuousClock.now + .seconds(60)
      while monitor.bytesTransferred < 1 << 20 && ContinuousClock.now < deadline { usleep(50) }
      monitor.cancel()
    }
    let target = try TransferFixtures.openFile(dir.file("out"), O_RDWR | O_CREAT | O_TRUNC)
    let error = #expect(throws: ZeroCopyError.self) {
      try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, to: target, at: 0), strategy: Self.strategy(pool),
        options: TransferOptions(allowFallback: false, monitor: monitor))
    }
    watcher.join()
    try target.close()
    #expect(error?.errno == .canceled, "\(String(describing: error))")
    let delivered = Int(error?.bytesTransferred ?? -1)
    #expect(delivered >= 1 << 20 && delivered < 256 << 20, "\(delivered)")
    #expect(Int64(delivered) == monitor.bytesTransferred)
    let written = try TransferFixtures.readFile(dir.file("out"))
    #expect(written.count >= delivered)
    let expected = Array((head + [UInt8](repeating: 0, count: Swift.max(0, delivered - head.count))).prefix(delivered))
    TransferFixtures.expectSame(Array(written.prefix(delivered)), expected, "the bytes counted")
    #expect(pool.statistics.broken == 0 && pool.idleCount == 1, "\(pool.statistics)")
    // The drained ring serves the next transfer.
    _ = truncate(dir.file("src"), 3 << 20)
    let (again, copied) = try RingPoolTests.copy(source, dir, "after", strategy: Self.strategy(pool))
    #expect(try again.get().bytes == 3 << 20)
    TransferFixtures.expectSame(copied, Array(head.prefix(3 << 20)), "after the cancellation")
    #expect(pool.statistics.created == 1 && pool.statistics.reused == 1, "\(pool.statistics)")
  }
}
