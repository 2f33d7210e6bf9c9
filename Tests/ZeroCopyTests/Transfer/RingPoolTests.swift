// The ring driver's pool (RingPool.swift, Docs/RingDriver.md): a second transfer reuses
// the ring, a forked child never does, a smaller RLIMIT_MEMLOCK gives smaller buffers and
// then no ring, a ring that failed with requests in flight is never reused, idle rings
// are released, and the pool stays within its bounds. Each test has a pool of its own
// (the strategies' internal `ringPool`), so the counts are exact whatever runs beside it.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

@testable import ZeroCopy

@Suite(
  "Transfer ring pool", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment),
  .disabled(
    if: TransferFixtures.memlockApplies,
    "RLIMIT_MEMLOCK applies to this process (no CAP_IPC_LOCK): the exact ring counts assume the buffers register; the memlock suite covers the refusals"
  ))
struct RingPoolTests {
  static func pool(
    maxIdleRings: Int = 4, maxIdleLockedBytes: Int = 64 << 20, idleLimit: Duration = .seconds(60)
  ) -> RingPool {
    RingPool(limits: RingPool.Limits(maxIdleRings: maxIdleRings, maxIdleLockedBytes: maxIdleLockedBytes, idleLimit: idleLimit))
  }

  /// A source file of `count` pattern bytes in `dir`, open for reading.
  static func source(_ dir: TransferFixtures.Directory, _ count: Int) throws -> (FileDescriptor, [UInt8]) {
    let content =
      count <= TransferFixtures.pattern.count
      ? TransferFixtures.bytes(count) : (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 13) }
    try TransferFixtures.writeFile(dir.file("source"), content)
    return (try TransferFixtures.openFile(dir.file("source"), O_RDONLY), content)
  }

  /// Copies all of `source` into a new file with `strategy`; returns the report and the bytes.
  static func copy(
    _ source: FileDescriptor, _ dir: TransferFixtures.Directory, _ name: String, strategy: some TransferStrategy,
    allowFallback: Bool = false
  ) throws -> (Result<TransferReport, ZeroCopyError>, [UInt8]) {
    let path = dir.file(name)
    let destination = try TransferFixtures.openFile(path, O_RDWR | O_CREAT | O_TRUNC)
    defer { try? destination.close() }
    let result = Result { () throws(ZeroCopyError) -> TransferReport in
      try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, to: destination), strategy: strategy,
        options: TransferOptions(allowFallback: allowFallback))
    }
    return (result, try TransferFixtures.readFile(path))
  }

  /// Sends all of `source` over a fresh TCP connection with `strategy`.
  static func send(_ source: FileDescriptor, strategy: some TransferStrategy) throws -> (
    Result<TransferReport, ZeroCopyError>, [UInt8]
  ) {
    let (near, far) = try TransferFixtures.makeTCPPair()
    let reader = TransferFixtures.reader(far)
    let result = Result { () throws(ZeroCopyError) -> TransferReport in
      try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, to: near), strategy: strategy, options: TransferOptions(allowFallback: false))
    }
    try near.close()
    let received = reader.join()
    try far.close()
    return (result, received)
  }

  @Test(
    "a second transfer reuses the ring (no io_uring_setup, no registration)",
    arguments: ["ioUring", "ioUringSplice", "sendZeroCopy", "directIO"])
  func secondTransferReusesTheRing(_ name: String) throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    // directIO's ring takes the aligned middle: at least two whole 64 KiB chunks.
    let (source, content) = try Self.source(dir, name == "directIO" ? 4 * 65536 + 17 : 4096 * 3 + 17)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }  // no idle ring outlives the test
    for round in 0..<3 {
      let result: Result<TransferReport, ZeroCopyError>
      let bytes: [UInt8]
      switch name {
      case "ioUring":
        var strategy = IOURingStrategy()
        strategy.ringPool = pool
        (result, bytes) = try Self.copy(source, dir, "out\(round)", strategy: strategy)
      case "ioUringSplice":
        var strategy = IOURingSpliceStrategy()
        strategy.ringPool = pool
        (result, bytes) = try Self.copy(source, dir, "out\(round)", strategy: strategy)
      case "directIO":
        var strategy = DirectIOStrategy(bufferSize: 64 << 10, depth: 4)
        strategy.ringPool = pool
        (result, bytes) = try Self.copy(source, dir, "out\(round)", strategy: strategy)
      default:
        var strategy = SendZeroCopyStrategy()
        strategy.ringPool = pool
        (result, bytes) = try Self.send(source, strategy: strategy)
      }
      let report = try result.get()
      #expect(report.strategy == name)
      if name == "directIO" { #expect(report.notes.contains { $0.contains("through io_uring") }, "\(report.notes)") }
      TransferFixtures.expectSame(bytes, content, "\(name), transfer \(round + 1)")
    }
    #expect(pool.statistics.created == 1, "\(pool.statistics)")
    #expect(pool.statistics.reused == 2, "\(pool.statistics)")
    #expect(pool.idleCount == 1)
    #expect(pool.closeIdle() == 1)
    #expect(pool.idleCount == 0)
  }

  @Test(
    "ioUringSplice gives its pooled pipe back empty after every success (what lets the pool skip its check then), and it is reused"
  )
  func spliceRingLeavesThePipeEmpty() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let pipes = PipePool(maximumPipes: 1, capacity: 64 << 10)
    defer { pipes.closeIdlePipes() }
    let rings = Self.pool()
    defer { rings.closeIdle() }
    var strategy = IOURingSpliceStrategy(depth: 2, pool: pipes)
    strategy.ringPool = rings
    /// The pipe's inode: a new pipe would have another.
    func pipeInode() throws -> UInt {
      var inode: UInt = 0
      try pipes.withPipe { (pipe) throws(ZeroCopyError) in
        #expect((try? pipe.readableBytes) == 0, "bytes left in the pooled pipe")
        var st = stat()
        #expect(fstat(pipe.readEnd.rawValue, &st) == 0)
        inode = UInt(st.st_ino)
      }
      return inode
    }
    var inode: UInt? = nil
    // One byte, a page, and several rounds of 64 KiB legs (two pairs per round) with an
    // odd tail; then a count past the end of the file (the source ends early).
    for (size, count) in [(1, 1), (4096, 4096), (5 * (64 << 10) + 17, 5 * (64 << 10) + 17), (70_000, 200_000)] {
      let (source, content) = try Self.source(dir, size)
      defer { try? source.close() }
      let path = dir.file("out-\(size)")
      let destination = try TransferFixtures.openFile(path, O_RDWR | O_CREAT | O_TRUNC)
      defer { try? destination.close() }
      let report = try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, count: Int64(count), to: destination, at: 0), strategy: strategy,
        options: TransferOptions(allowFallback: false))
      #expect(report.strategy == "ioUringSplice")
      #expect(report.bytes == Int64(size))
      #expect(report.sourceEndedEarly == (count > size))
      TransferFixtures.expectSame(try TransferFixtures.readFile(path), content, "\(size) bytes")
      #expect(pipes.idleCount == 1, "the pipe went back to the pool after \(size) bytes")
      let now = try pipeInode()
      if let inode { #expect(now == inode, "the same pipe, reused, after \(size) bytes") }
      inode = now
    }
  }

  @Test("a ring fits a smaller transfer; a larger one gets its own; the pool keeps at most maxIdleRings")
  func fitAndBounds() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (big, bigContent) = try Self.source(dir, 1 << 20)
    defer { try? big.close() }
    try TransferFixtures.writeFile(dir.file("small"), Array(bigContent.prefix(5000)))
    let small = try TransferFixtures.openFile(dir.file("small"), O_RDONLY)
    defer { try? small.close() }
    let pool = Self.pool(maxIdleRings: 1)
    defer { pool.closeIdle() }  // no idle ring outlives the test
    var strategy = IOURingStrategy(bufferSize: 64 << 10, depth: 4)
    strategy.ringPool = pool
    // 5000 bytes: one 8 KiB slot. Then 1 MiB: 4 × 64 KiB, does not fit the first ring.
    var (result, bytes) = try Self.copy(small, dir, "a", strategy: strategy)
    #expect(try result.get().bytes == 5000)
    TransferFixtures.expectSame(bytes, Array(bigContent.prefix(5000)), "small")
    (result, bytes) = try Self.copy(big, dir, "b", strategy: strategy)
    TransferFixtures.expectSame(bytes, bigContent, "big")
    #expect(pool.statistics.created == 2, "\(pool.statistics)")
    #expect(pool.idleCount == 1)
    #expect(pool.statistics.released == 1, "maxIdleRings 1: the older ring is closed")
    // The big ring serves the small transfer.
    (result, bytes) = try Self.copy(small, dir, "c", strategy: strategy)
    TransferFixtures.expectSame(bytes, Array(bigContent.prefix(5000)), "small again")
    #expect(pool.statistics.created == 2 && pool.statistics.reused == 1, "\(pool.statistics)")
    // No room for pinned memory: nothing is kept.
    let stingy = Self.pool(maxIdleLockedBytes: 0)
    defer { stingy.closeIdle() }  // no idle ring outlives the test
    strategy.ringPool = stingy
    for name in ["d", "e"] {
      (result, bytes) = try Self.copy(small, dir, name, strategy: strategy)
      TransferFixtures.expectSame(bytes, Array(bigContent.prefix(5000)), "stingy \(name)")
    }
    #expect(stingy.statistics.created == 2 && stingy.statistics.reused == 0, "\(stingy.statistics)")
    #expect(stingy.idleCount == 0)
  }

  @Test("RLIMIT_MEMLOCK too small: fewer buffers (noted), then no ring (falls back, ENOMEM)")
  func memlockTooSmall() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try Self.source(dir, 1 << 20)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }  // no idle ring outlives the test
    pool.faults.registrationLimit = 128 << 10
    var strategy = IOURingStrategy(bufferSize: 64 << 10, depth: 4)
    strategy.ringPool = pool
    var (result, bytes) = try Self.copy(source, dir, "shrunk", strategy: strategy)
    let report = try result.get()
    #expect(report.strategy == "ioUring")
    #expect(report.notes.contains { $0.contains("RLIMIT_MEMLOCK let 2 of 4 buffers of 64 KiB") }, "\(report.notes)")
    TransferFixtures.expectSame(bytes, content, "shrunk")

    let refusing = Self.pool()
    defer { refusing.closeIdle() }  // no idle ring outlives the test
    refusing.faults.registrationLimit = 32 << 10  // less than one buffer
    strategy.ringPool = refusing
    (result, bytes) = try Self.copy(source, dir, "fallback", strategy: strategy, allowFallback: true)
    let fellBack = try result.get()
    #expect(fellBack.strategy != "ioUring")
    #expect(fellBack.fallbacks.first?.errno == .noMemory, "\(fellBack.fallbacks)")
    #expect(fellBack.fallbacks.first?.syscall == "io_uring_register", "\(fellBack.fallbacks)")
    TransferFixtures.expectSame(bytes, content, "fallback")
    #expect(refusing.idleCount == 0 && refusing.statistics.created == 0, "\(refusing.statistics)")
  }

  @Test("a ring that failed with requests in flight is never reused; the next transfer gets another")
  func brokenRingIsNotReused() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try Self.source(dir, 256 << 10)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }  // no idle ring outlives the test
    var strategy = IOURingStrategy(bufferSize: 64 << 10, depth: 4)
    strategy.ringPool = pool
    var (result, bytes) = try Self.copy(source, dir, "warm", strategy: strategy)
    TransferFixtures.expectSame(bytes, content, "warm-up")
    #expect(pool.idleCount == 1)
    pool.faults.failFirstSubmit = .ioError
    (result, _) = try Self.copy(source, dir, "failed", strategy: strategy)
    guard case .failure(let error) = result else {
      Issue.record("the injected ring failure did not fail the transfer: \(result)")
      return
    }
    #expect(error.syscall == "io_uring_enter", "\(error)")
    #expect(pool.statistics.reused == 1 && pool.statistics.broken == 1, "\(pool.statistics)")
    #expect(pool.idleCount == 0, "the broken ring went back to the pool")
    pool.faults.failFirstSubmit = nil
    (result, bytes) = try Self.copy(source, dir, "after", strategy: strategy)
    #expect(try result.get().bytes == Int64(content.count))
    TransferFixtures.expectSame(bytes, content, "after the failure")
    #expect(pool.statistics.created == 2, "\(pool.statistics)")
  }

  @Test("io_uring refused mid-run (a pooled ring's io_uring_enter answers EPERM): the transfer falls back and says so")
  func refusedMidRunFallsBack() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try Self.source(dir, 100_000)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }  // no idle ring outlives the test
    var strategy = IOURingStrategy()
    strategy.ringPool = pool
    var (result, bytes) = try Self.copy(source, dir, "warm", strategy: strategy)
    TransferFixtures.expectSame(bytes, content, "warm-up")
    pool.faults.failFirstSubmit = .notPermitted
    (result, bytes) = try Self.copy(source, dir, "refused", strategy: strategy, allowFallback: true)
    let report = try result.get()
    #expect(report.strategy != "ioUring")
    #expect(report.fallbacks.first?.strategy == "ioUring", "\(report.fallbacks)")
    #expect(report.fallbacks.first?.errno == .notPermitted, "\(report.fallbacks)")
    #expect(report.fallbacks.first?.syscall == "io_uring_enter", "\(report.fallbacks)")
    TransferFixtures.expectSame(bytes, content, "after the fallback")
    #expect(pool.statistics.broken == 1 && pool.idleCount == 0, "the refused ring must not be reused: \(pool.statistics)")
  }

  @Test(
    "a cancelled SEND_ZC with notifications outstanding retires its ring (reaper, not the pool); the next transfer gets another")
  func cancelledSendZeroCopyRetiresItsRing() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try Self.source(dir, 16 << 20)
    defer { try? source.close() }
    let pool = Self.pool()
    defer { pool.closeIdle() }  // no idle ring outlives the test
    var strategy = SendZeroCopyStrategy()
    strategy.ringPool = pool
    // A peer that never reads: the send queue fills, TCP holds the pages, the
    // notifications of the sends the cancellation cut short cannot come.
    let (near, far) = try TransferFixtures.makeTCPPair()
    let monitor = TransferMonitor()
    // Cancels once the transfer is known to have SEND_ZCs in flight: the peer's receive
    // queue holds bytes (the sends were issued; their notifications wait for the peer to
    // read) and has stopped growing (the send path full). The monitor cannot tell: a
    // round's bytes are counted when all its notifications came. A fixed 200 ms sleep
    // cancelled some runs before the first SEND_ZC when the Transfer workers were busy
    // with other suites.
    let canceller = Task { () -> Bool in
      let sent = await eventually(within: .seconds(10)) { queuedBytes(far) > 0 }
      if sent {
        var last = -1
        var since = ContinuousClock.now
        _ = await eventually(within: .seconds(3)) {
          let now = queuedBytes(far)
          if now != last {
            (last, since) = (now, .now)
            return false
          }
          return since.duration(to: .now) >= .milliseconds(100)
        }
      }
      monitor.cancel()
      return sent
    }
    let result: Result<TransferReport, ZeroCopyError>
    do throws(ZeroCopyError) {
      result = .success(
        try await Transfer.run(
          TransferRequest(from: source, offset: 0, to: near), strategy: strategy,
          options: TransferOptions(allowFallback: false, monitor: monitor)))
    } catch {
      result = .failure(error)
    }
    let sent = await canceller.value
    #expect(sent, "no byte reached the peer within 10 s: \(result)")
    guard case .failure(let error) = result else {
      Issue.record("the transfer was not cancelled: \(result)")
      try near.close()
      try far.close()
      return
    }
    #expect(error.errno == .canceled, "\(error)")
    #expect(pool.statistics.retired == 1, "\(pool.statistics)")
    #expect(pool.idleCount == 0, "a ring with notifications outstanding went back to the pool")
    // Closing the sockets releases the pages: the reaper closes the ring.
    try near.close()
    try far.close()
    let (again, received) = try Self.send(source, strategy: strategy)
    #expect(try again.get().bytes == Int64(content.count))
    TransferFixtures.expectSame(received, content, "after the cancellation")
    #expect(pool.statistics.created == 2 && pool.statistics.reused == 0, "\(pool.statistics)")
  }

  @Test("an idle ring is released after the idle limit (by the sweeper, without another transfer)")
  func idleRingsAreReleased() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try Self.source(dir, 10_000)
    defer { try? source.close() }
    // 500 ms (the sweeper looks every 250 ms): long enough that the ring is still idle when
    // checked right after the copy even when the machine stalls this task (50 ms was not),
    // short enough that the release is seen well within the 5 s below.
    let pool = Self.pool(idleLimit: .milliseconds(500))
    defer { pool.closeIdle() }  // no idle ring outlives the test
    var strategy = IOURingStrategy()
    strategy.ringPool = pool
    var (_, bytes) = try Self.copy(source, dir, "first", strategy: strategy)
    TransferFixtures.expectSame(bytes, content, "first")
    #expect(pool.idleCount == 1, "\(pool.statistics)")
    let deadline = ContinuousClock.now + .seconds(5)
    while pool.idleCount > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    #expect(pool.idleCount == 0, "the idle ring was not released")
    #expect(pool.statistics.released == 1, "\(pool.statistics)")
    (_, bytes) = try Self.copy(source, dir, "second", strategy: strategy)
    TransferFixtures.expectSame(bytes, content, "second")
    #expect(pool.statistics.created == 2 && pool.statistics.reused == 0, "\(pool.statistics)")
  }

  @Test(
    "fork: the child sets up its own ring and leaves the parent's alone",
    .disabled(
      if: Faults.underThreadSanitizer,
      "under ThreadSanitizer a fork of a multi-threaded process makes the TSan runtime exit the child with status 66"))
  func forkedChildSetsUpItsOwnRing() async {
    await #expect(processExitsWith: .success) {
      try RingPoolTests.forkBody()
    }
  }

  static func forkBody() throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try Self.source(dir, 300_000)
    defer { try? source.close() }
    let pool = Self.pool()
    var strategy = IOURingStrategy(bufferSize: 64 << 10, depth: 4)
    strategy.ringPool = pool
    var (result, bytes) = try Self.copy(source, dir, "parent1", strategy: strategy)
    #expect(bytes == content)
    #expect(pool.idleCount == 1)
    let status = Support.inForkedChild { () -> String? in
      var ok = true
      for round in 0..<2 {
        let copied = try? Self.copy(source, dir, "child\(round)", strategy: strategy)
        if copied?.1 != content || (try? copied?.0.get())?.bytes != Int64(content.count) { ok = false }
      }
      let stats = pool.statistics
      // The parent's ring was dropped unused; the child made one and reused it.
      if stats.abandoned != 1 || stats.created != 2 || stats.reused != 1 { ok = false }
      return ok ? nil : "\(stats)"
    }
    #expect(status == 0, "the child failed (wait status \(status))")
    // The parent's ring still works: the child did not unregister its buffers.
    (result, bytes) = try Self.copy(source, dir, "parent2", strategy: strategy)
    #expect(try result.get().bytes == Int64(content.count))
    #expect(bytes == content)
    #expect(pool.statistics.created == 1 && pool.statistics.reused == 1, "\(pool.statistics)")
  }
}
