// CancellationToken: the "all" transfers stop at a cancelled token's next check, a call
// blocked on a peer that does not read is interrupted (within 100 ms — 300 ms under a
// sanitizer, as in ZeroCopy's cancellation tests — exact progress), a
// token never cancelled changes nothing, handlers run once. And the page-cache calls the
// transfer layer reads ahead with.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("LinuxIO cancellation token and page cache")
struct CancellationTokenTests {
  /// How soon a cancelled call must return: issue 14's 100 ms; 300 ms under ASan or TSan
  /// (`make sanitize`), whose runtime slows every thread severalfold on a loaded machine.
  static let bound: Duration = underSanitizer ? .milliseconds(300) : .milliseconds(100)

  /// How long a cancelled call took to return: the wall-clock time from `token.cancel()`
  /// until the thread returned, and the part of it the two threads involved spent runnable
  /// but waiting for a CPU — the cancelling thread until `cancel()` returned (it sends the
  /// signal), the worker from then on. The main test process runs every suite at once on
  /// CI's 2 CPUs: that wait is the scheduler's, not the token's, and is not counted; a
  /// sleep, a poll or a missed signal is not a wait for a CPU and still counts.
  struct Latency: CustomStringConvertible {
    var wall: Duration
    var waitedForCPU: Duration
    var counted: Duration { waitedForCPU >= wall ? .zero : wall - waitedForCPU }
    var description: String { "\(counted) (\(wall) wall, less \(waitedForCPU) waiting for a CPU)" }
  }

  /// Runs `body` inside `token`'s scope on a thread, cancels after it blocked (100 ms),
  /// and returns its outcome and how long it took to return after the cancellation.
  static func cancelBlocked(
    _ token: CancellationToken, _ body: @escaping @Sendable () -> Result<TransferResult, TransferFailure>
  ) -> (Result<TransferResult, TransferFailure>, Latency) {
    let workerID = Published<pid_t>()
    let thread = TestThread { () -> (Result<TransferResult, TransferFailure>, Duration?, ContinuousClock.Instant) in
      let me = currentThreadID()
      workerID.publish(me)
      let result = token.withCancellation { body() }
      // The wait first, then the clock: what is not subtracted still counts.
      let waited = runQueueDelay(thread: me)
      return (result, waited, .now)
    }
    let worker = workerID.wait()
    sleepMilliseconds(100)
    let canceller = currentThreadID()
    let start = ContinuousClock.now
    let cancellerBefore = runQueueDelay(thread: canceller)
    token.cancel()
    let cancellerAfter = runQueueDelay(thread: canceller)
    // nil if the worker has already returned: then nothing of its is subtracted.
    let workerBefore = runQueueDelay(thread: worker)
    let (result, workerAtEnd, end) = thread.join()
    return (
      result,
      Latency(
        wall: start.duration(to: end),
        waitedForCPU: waited(from: cancellerBefore, to: cancellerAfter) + waited(from: workerBefore, to: workerAtEnd))
    )
  }

  /// The growth of a run-queue delay between two readings; zero if either is missing.
  static func waited(from before: Duration?, to after: Duration?) -> Duration {
    guard let before, let after, after > before else { return .zero }
    return after - before
  }

  @Test func writeAllToAPipeNobodyDrainsIsInterrupted() throws {
    let (readEnd, writeEnd) = try Pipe().releaseDescriptors()
    defer { try? readEnd.close() }
    let data = pattern(4 << 20)
    let token = CancellationToken()
    let (result, elapsed) = Self.cancelBlocked(token) {
      data.withUnsafeBytes { bytes in Result { () throws(TransferFailure) in try writeEnd.writeAll(bytes, at: nil) } }
    }
    try writeEnd.close()
    guard case .failure(let failure) = result else {
      Issue.record("completed although cancelled: \(result)")
      return
    }
    #expect(failure.errno == .canceled)
    #expect(elapsed.counted < Self.bound, "returned \(elapsed) after the cancellation")
    let received = try drain(readEnd)
    #expect(failure.progress.bytes == Int64(received.count))
    #expect(received == Array(data.prefix(received.count)))
    #expect(token.isCancelled)
  }

  @Test func spliceThroughAPipeToAFullSocketIsInterrupted() throws {
    let data = pattern(8 << 20)
    let file = try temporaryFile(data)
    defer { try? file.close() }
    let (near, far) = try socketPair()
    defer { try? far.close() }
    setSocketBuffer(near, option: SO_SNDBUF, bytes: 65536)
    let token = CancellationToken()
    let (result, elapsed) = Self.cancelBlocked(token) {
      Result { () throws(TransferFailure) in try file.spliceAll(to: near, sourceOffset: 0, count: .untilEndOfFile) }
    }
    try near.close()
    guard case .failure(let failure) = result else {
      Issue.record("completed although cancelled: \(result)")
      return
    }
    #expect(failure.errno == .canceled)
    #expect(elapsed.counted < Self.bound, "returned \(elapsed) after the cancellation")
    let received = try drain(far)
    #expect(failure.progress.bytes == Int64(received.count))
    #expect(received == Array(data.prefix(received.count)))
  }

  @Test func aTokenCancelledBeforehandStopsBeforeTheFirstCall() throws {
    let file = try temporaryFile(pattern(65536))
    defer { try? file.close() }
    let (readEnd, writeEnd) = try Pipe().releaseDescriptors()
    defer {
      try? readEnd.close()
      try? writeEnd.close()
    }
    let token = CancellationToken()
    token.cancel()
    let result = token.withCancellation {
      Result { () throws(TransferFailure) in try file.sendfileAll(to: writeEnd, sourceOffset: 0, count: 1000) }
    }
    #expect(result.failure?.errno == .canceled)
    #expect(result.failure?.progress.syscalls == 0)
    // Outside the scope the same call runs.
    let done = try file.sendfileAll(to: writeEnd, sourceOffset: 0, count: 1000)
    #expect(done.bytes == 1000)
  }

  @Test func aTokenNeverCancelledChangesNothing() throws {
    let data = pattern(1 << 20)
    let file = try temporaryFile(data)
    defer { try? file.close() }
    let copy = try temporaryFile()
    defer { try? copy.close() }
    let token = CancellationToken()
    let result = try token.withCancellation { () throws(TransferFailure) in
      try file.copyFileRangeAll(to: copy, sourceOffset: 0, destinationOffset: 0, count: .untilEndOfFile)
    }
    #expect(result.bytes == Int64(data.count))
    #expect(try contents(of: copy) == data)
    #expect(!token.isCancelled)
  }

  @Test func handlersRunOnceAndNotAfterRemoval() {
    let token = CancellationToken()
    let count = Counter()
    let removed = Counter()
    _ = token.addCancellationHandler { count.increment() }
    let id = token.addCancellationHandler { removed.increment() }
    #expect(id != nil)
    token.removeCancellationHandler(id!)
    token.cancel()
    token.cancel()
    #expect(count.value == 1)
    #expect(removed.value == 0)
    // Added after the cancellation: runs at once, on this thread.
    #expect(token.addCancellationHandler { count.increment() } == nil)
    #expect(count.value == 2)
  }

  @Test func theInterruptSignalIsInstalledWithoutRestart() throws {
    let signal = try #require(CancellationToken.interruptSignal)
    var action = sigaction()
    #expect(sigaction(signal, nil, &action) == 0)
    #expect(unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) > 1)
    #expect(action.sa_flags & SA_RESTART == 0)
  }

  // MARK: - The page cache

  @Test func aFreshlyWrittenRangeIsReadableAndCached() throws {
    let data = pattern(1 << 20)
    let file = try temporaryFile(data)
    defer { try? file.close() }
    try file.adviseWillNeed(offset: 0, length: Int64(data.count))
    // Thorough: the last byte and one byte per 256 KiB (4); quick: the last byte only.
    var probes = 0
    #expect(try file.isRangeReadable(offset: 0, length: Int64(data.count), probes: &probes))
    #expect(probes == 5)
    #expect(try file.isRangeReadable(offset: 0, length: Int64(data.count), thorough: false, probes: &probes))
    #expect(probes == 6)
    #expect(try file.cachedPages(offset: 0, length: Int64(data.count)) == data.count / 4096)
    // Past the end of the file: nothing to wait for.
    #expect(try file.isRangeReadable(offset: Int64(data.count), length: 4096))
    // Dropped from the cache (clean pages): neither cached nor readable without I/O.
    _ = fsync(file.rawValue)
    _ = posix_fadvise(file.rawValue, 0, 0, POSIX_FADV_DONTNEED)
    #expect(try file.cachedPages(offset: 0, length: Int64(data.count)) < data.count / 4096)
    #expect(try !file.isRangeReadable(offset: 0, length: Int64(data.count)))
  }

  @Test func aPipeHasNoPageCache() throws {
    let (readEnd, writeEnd) = try Pipe().releaseDescriptors()
    defer {
      try? readEnd.close()
      try? writeEnd.close()
    }
    #expect(throws: Errno.illegalSeek) { try readEnd.adviseWillNeed(offset: 0, length: 4096) }
  }

  @Test func fileSystemTypes() throws {
    let disk = try temporaryFile()
    defer { try? disk.close() }
    let shm = try temporaryFile(in: "/dev/shm")
    defer { try? shm.close() }
    #expect(try shm.fileSystemType() == 0x0102_1994)  // tmpfs
    #expect(try disk.fileSystemType() != 0x0102_1994)
  }
}

/// A counter shared with closures.
final class Counter: @unchecked Sendable {
  private let lock = NSLockLike()
  private var count = 0
  func increment() { lock.with { count += 1 } }
  var value: Int { lock.with { count } }
}

/// A tiny pthread mutex wrapper for tests.
final class NSLockLike: @unchecked Sendable {
  private var mutex = pthread_mutex_t()
  init() { pthread_mutex_init(&mutex, nil) }
  func with<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    return body()
  }
}

extension Result {
  var failure: Failure? {
    if case .failure(let f) = self { return f }
    return nil
  }
}
