// The tree copy's io_uring engine on the ring driver (IOURingTreeCopy.swift,
// Docs/RingDriver.md): it leases its ring from a RingPool with a sparse table of registered
// files, a second tree copy reuses it, a transfer can borrow it, a ring that failed mid-run
// is never reused (and every file is still copied, the report saying why the ring
// stopped), and a forked child never uses the parent's ring. Each test has a pool of its
// own (`TreeCopy.Options.ringPool`), so the counts are exact whatever runs beside it.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@testable import ZeroCopy

@Suite(
  "Tree copy on the ring driver", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment),
  .disabled(
    if: TransferFixtures.memlockApplies,
    "RLIMIT_MEMLOCK applies to this process (no CAP_IPC_LOCK): the exact ring counts assume the rings set up"))
struct TreeCopyRingTests {
  static func pool() -> RingPool {
    RingPool(limits: RingPool.Limits(maxIdleRings: 4, maxIdleLockedBytes: 64 << 20, idleLimit: .seconds(60)))
  }

  /// Copies `source` to `destination` with the io_uring engine on `pool`, modes preserved
  /// (the snapshots compare them exactly).
  static func copy(
    _ source: [UInt8], _ destination: [UInt8], pool: RingPool, jobs: Int? = nil, keepGoing: Bool = false
  ) throws -> TreeCopy.Report {
    var options = TreeCopy.Options(engine: .ioUring, jobs: jobs, keepGoing: keepGoing, policy: CopyPolicy(preserve: .mode))
    options.ringPool = pool
    return try TreeCopy.copyBlocking(
      from: TreeFixtures.filePath(source), to: TreeFixtures.filePath(destination), options: options)
  }

  @Test("two tree copies in a row use one pooled ring (one io_uring_setup); a transfer borrows it between them")
  func treeCopiesReuseOnePooledRing() throws {
    let scratch = try TreeFixtures.Scratch()
    let expected = try TreeFixtures.buildSource(scratch.sub("src"))
    let pool = Self.pool()
    defer { pool.closeIdle() }  // no idle ring outlives the test
    let first = try Self.copy(scratch.sub("src"), scratch.sub("dst1"), pool: pool)
    #expect(first.engine == .ioUring && first.fallbackReason == nil, "\(first)")
    #expect(first.files == expected.files && first.errors.isEmpty, "\(first)")
    #expect(pool.statistics.created == 1 && pool.statistics.reused == 0, "\(pool.statistics)")
    #expect(pool.idleCount == 1, "the tree copy's ring did not go back to the pool")

    // A splice transfer asks for no memory and fewer entries: it takes the tree's ring
    // (its file table does not matter to it) and gives it back.
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, content) = try RingPoolTests.source(dir, 3000)
    defer { try? source.close() }
    var splice = IOURingSpliceStrategy()
    splice.ringPool = pool
    let (spliced, bytes) = try RingPoolTests.copy(source, dir, "out", strategy: splice)
    #expect(try spliced.get().strategy == "ioUringSplice")
    TransferFixtures.expectSame(bytes, content, "splice on the tree's ring")

    let second = try Self.copy(scratch.sub("src"), scratch.sub("dst2"), pool: pool)
    #expect(second.engine == .ioUring && second.fallbackReason == nil, "\(second)")
    #expect(second.files == expected.files && second.bytes == expected.bytes && second.errors.isEmpty, "\(second)")
    #expect(TreeFixtures.snapshot(scratch.sub("dst1")) == TreeFixtures.snapshot(scratch.sub("src")))
    #expect(TreeFixtures.snapshot(scratch.sub("dst2")) == TreeFixtures.snapshot(scratch.sub("src")))
    #expect(pool.statistics.created == 1, "a second ring was set up: \(pool.statistics)")
    #expect(pool.statistics.reused == 2 && pool.statistics.broken == 0, "\(pool.statistics)")
    #expect(pool.idleCount == 1)
  }

  @Test(
    "io_uring refused mid-run (io_uring_enter answers EPERM with chains in flight): every file is still copied, the report says why, the ring is never reused"
  )
  func refusedMidRunFallsBack() throws {
    // jobs 1: the failing submission is the one that waits; 32: one that does not wait
    // (64 requests prepared), after which the code before the driver dropped the files in flight.
    for jobs in [1, 32] {
      let scratch = try TreeFixtures.Scratch()
      let expected = try TreeFixtures.buildSource(scratch.sub("src"))
      let pool = Self.pool()
      defer { pool.closeIdle() }  // no idle ring outlives the test
      _ = try Self.copy(scratch.sub("src"), scratch.sub("warm"), pool: pool, jobs: jobs)
      #expect(pool.idleCount == 1)
      pool.faults.failFirstSubmit = .notPermitted
      let report = try Self.copy(scratch.sub("src"), scratch.sub("refused"), pool: pool, jobs: jobs)
      pool.faults.failFirstSubmit = nil
      #expect(report.engine == .ioUring, "jobs \(jobs): \(report)")
      #expect(
        report.fallbackReason?.hasPrefix("io_uring: io_uring_enter failed (\(Errno.notPermitted))") == true,
        "jobs \(jobs): \(String(describing: report.fallbackReason))")
      #expect(report.files == expected.files && report.bytes == expected.bytes, "jobs \(jobs): \(report)")
      #expect(report.errors.isEmpty, "jobs \(jobs): \(report.errors)")
      #expect(
        TreeFixtures.snapshot(scratch.sub("refused")) == TreeFixtures.snapshot(scratch.sub("src")),
        "jobs \(jobs): the copy differs from the source")
      #expect(pool.statistics.broken == 1 && pool.idleCount == 0, "jobs \(jobs): the refused ring was pooled: \(pool.statistics)")
      let after = try Self.copy(scratch.sub("src"), scratch.sub("after"), pool: pool, jobs: jobs)
      #expect(after.engine == .ioUring && after.fallbackReason == nil, "jobs \(jobs): \(after)")
      #expect(TreeFixtures.snapshot(scratch.sub("after")) == TreeFixtures.snapshot(scratch.sub("src")))
      #expect(pool.statistics.created == 2 && pool.statistics.reused == 1, "jobs \(jobs): \(pool.statistics)")
    }
  }

  @Test(
    "after a ring failure, a file whose requests may still run in the kernel is not copied again (a late O_TRUNC or write could cut the copy): it is an error naming io_uring_enter and the errno, and every other file is copied"
  )
  func unsettledFilesAreNotCopiedAgain() throws {
    let scratch = try TreeFixtures.Scratch()
    let expected = try TreeFixtures.buildSource(scratch.sub("src"))
    let pool = Self.pool()
    defer { pool.closeIdle() }
    pool.faults.failFirstSubmit = .notPermitted
    pool.faults.treeCopySettlesWithoutCompletions = .milliseconds(20)
    let report = try Self.copy(scratch.sub("src"), scratch.sub("dst"), pool: pool, jobs: 32, keepGoing: true)
    pool.faults = RingPool.Faults()
    // The first submission carried the first chains (the kernel took and ran them; the hook
    // hides their completions): those files are errors, not copied again.
    #expect(!report.errors.isEmpty, "\(report)")
    for error in report.errors {
      #expect(error.syscall == "io_uring_enter" && error.errno == .notPermitted, "\(error)")
      #expect(error.message?.contains("not copied again") == true, "\(error)")
    }
    #expect(report.files + report.errors.count == expected.files, "\(report)")
    #expect(
      report.fallbackReason?.contains("still had requests running in the kernel after 2 s and were not copied again") == true,
      "\(String(describing: report.fallbackReason))")
    // Every file not reported is exact.
    let failed = Set(report.errors.flatMap { $0.paths.map { $0.string } })
    let source = TreeFixtures.snapshot(scratch.sub("src"))
    let copy = TreeFixtures.snapshot(scratch.sub("dst"))
    for (path, entry) in source where !failed.contains(where: { $0.hasSuffix("/" + path) }) {
      #expect(copy[path] == entry, "\(path)")
    }
    #expect(pool.statistics.broken == 1 && pool.idleCount == 0)
  }

  @Test(
    "a chain that cannot be prepared (nothing of it written) while others are in flight: the wait for the ring's requests does not count it, every file is copied"
  )
  func unpreparedChainIsNotWaitedFor() throws {
    let scratch = try TreeFixtures.Scratch()
    let expected = try TreeFixtures.buildSource(scratch.sub("src"))
    let pool = Self.pool()
    defer { pool.closeIdle() }
    pool.faults.failPrepareAfterFirstSubmit = .resourceBusy
    let report = try Self.copy(scratch.sub("src"), scratch.sub("dst"), pool: pool, jobs: 32, keepGoing: true)
    pool.faults = RingPool.Faults()
    // Counting the chain that was never written, the wait ran its full 2 s and the file
    // was reported ("not copied again") instead of copied: no error, every file exact. (No
    // bound on the copy's time: a loaded or sanitized run can take 2 s on its own.)
    #expect(report.errors.isEmpty, "\(report.errors)")
    #expect(report.files == expected.files && report.bytes == expected.bytes, "\(report)")
    #expect(report.fallbackReason?.contains("preparing a chain failed") == true, "\(String(describing: report.fallbackReason))")
    #expect(TreeFixtures.snapshot(scratch.sub("dst")) == TreeFixtures.snapshot(scratch.sub("src")))
    #expect(pool.statistics.broken == 1)
  }

  @Test(
    "fork: a tree copy in the child sets up its own ring and leaves the parent's (and its file table) alone",
    .disabled(
      if: Faults.underThreadSanitizer,
      "under ThreadSanitizer a fork of a multi-threaded process makes the TSan runtime exit the child with status 66"))
  func forkedChildSetsUpItsOwnRing() async {
    await #expect(processExitsWith: .success) {
      try TreeCopyRingTests.forkBody()
    }
  }

  static func forkBody() throws {
    let scratch = try TreeFixtures.Scratch()
    try TreeFixtures.buildSource(scratch.sub("src"))
    let source = TreeFixtures.snapshot(scratch.sub("src"))
    let pool = Self.pool()
    let parent = try Self.copy(scratch.sub("src"), scratch.sub("parent1"), pool: pool)
    #expect(parent.engine == .ioUring && TreeFixtures.snapshot(scratch.sub("parent1")) == source)
    #expect(pool.idleCount == 1)
    let status = Support.inForkedChild { () -> String? in
      var failures: [String] = []
      for round in 0..<2 {
        let name = "child\(round)"
        let report = try? Self.copy(scratch.sub("src"), scratch.sub(name), pool: pool)
        if report?.engine != .ioUring || report?.fallbackReason != nil || TreeFixtures.snapshot(scratch.sub(name)) != source {
          failures.append("copy \(round): \(String(describing: report))")
        }
      }
      // The parent's ring was dropped unused; the child made one and reused it.
      let stats = pool.statistics
      if stats.abandoned != 1 || stats.created != 2 || stats.reused != 1 { failures.append("\(stats)") }
      return failures.isEmpty ? nil : failures.joined(separator: "; ")
    }
    #expect(status == 0, "the child failed (wait status \(status))")
    // The parent's ring and its file slots still work.
    let again = try Self.copy(scratch.sub("src"), scratch.sub("parent2"), pool: pool)
    #expect(again.engine == .ioUring && again.fallbackReason == nil, "\(again)")
    #expect(TreeFixtures.snapshot(scratch.sub("parent2")) == source)
    #expect(pool.statistics.created == 1 && pool.statistics.reused == 1, "\(pool.statistics)")
    pool.closeIdle()
  }
}
