// The io_uring engine: one thread that is a Swift TaskExecutor and drives one ring.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage
import URing

/// The part of the io_uring engine that other threads touch: the inbox (jobs, operations,
/// cancellations) behind a pthread mutex, the "work pending" and "ring thread sleeping"
/// flags, and the wake-up pipe. The ring itself, and everything the ring thread does
/// alone, lives in ``RingLoop``.
///
/// **Wake-up protocol** (no lost wake-ups, at most one pipe write per sleep): a producer
/// appends under the lock, stores `pending = true`, then, if `sleeping` is set and it is
/// the one to clear it, writes one byte to the pipe. The ring thread stores
/// `sleeping = true`, re-reads `pending`, and only then blocks in `io_uring_enter` — with a
/// read on the pipe always pending in the ring, so the byte completes it and ends the wait.
/// Both sides use sequentially consistent operations, so at least one sees the other.
internal final class RingBackend: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock` or atomic; `loop` is published
  // before the engine is returned and then read only through the thread-local check.

  enum StartError: Error {
    case setup(IOURing.SetupError)
    case thread(Errno)
  }

  let configuration: IOEngine.Configuration
  let lock = Lock()
  // Guarded by lock:
  var inboxJobs: [UnownedJob] = []
  var inboxOps: [Operation] = []
  var inboxCancels: [Operation] = []
  var inboxDescriptorCancels: [ManagedDescriptor] = []
  var shutdownRequested = false
  var stopped = false
  var shutdownWaiters: [UnsafeContinuation<Void, Never>] = []
  var wakeWriteEnd: FileDescriptor?
  var remoteSubmissionCount = 0
  var wakeUpCount = 0

  let pending = Atomic<Bool>(false)
  let sleeping = Atomic<Bool>(false)

  /// "[flags] SQ n, CQ m".
  private(set) var setupSummary = ""
  /// The ring thread's `RingLoop` (unretained), published before the engine is returned;
  /// `currentLoop()` compares the thread-local value with it.
  private var loopAddress: UnsafeMutableRawPointer?
  /// Released by `activate(executor:)`.
  private let activation = OneShotEvent()
  private var executor: UnownedTaskExecutor?

  // Statistics written by the ring thread (single writer, relaxed).
  let statCompleted = Atomic<Int>(0)
  let statEnters = Atomic<Int>(0)
  let statJobs = Atomic<Int>(0)

  private init(configuration: IOEngine.Configuration) {
    self.configuration = configuration
  }

  /// Starts the ring thread, which creates the ring (so that `SINGLE_ISSUER` names it as
  /// the submitter) and then waits for `activate(executor:)`.
  static func start(_ configuration: IOEngine.Configuration) -> Result<RingBackend, StartError> {
    let backend = RingBackend(configuration: configuration)
    let started = OneShotEvent()
    nonisolated(unsafe) var setupResult: Result<Void, StartError> = .success(())
    let pipe: Pipe
    do {
      pipe = try Pipe()
    } catch {
      return .failure(.thread(error))
    }
    let (wakeRead, wakeWrite) = pipe.releaseDescriptors()
    backend.wakeWriteEnd = wakeWrite
    let threadResult = startThread(name: configuration.name, cpu: configuration.cpu) {
      let ring: IOURing
      do throws(IOURing.SetupError) {
        ring = try RingBackend.makeRing(configuration)
      } catch {
        setupResult = .failure(.setup(error))
        started.signal()
        return
      }
      backend.setupSummary =
        "\(ring.setupFlags), SQ \(ring.submissionQueueCapacity), CQ \(ring.completionQueueCapacity)"
      // The loop (and with it the ring and the wake-up read's buffer) is destroyed when
      // runLoop returns, before anyone waiting for shutdown is resumed.
      RingBackend.runLoop(backend: backend, ring: ring, wakeReadEnd: wakeRead, started: started)
      backend.finishShutdown(wakeReadEnd: wakeRead)
    }
    switch threadResult {
    case .failure(let errno):
      _ = try? wakeRead.close()
      _ = try? wakeWrite.close()
      return .failure(.thread(errno))
    case .success:
      started.wait()
      if case .failure(let error) = setupResult {
        _ = try? wakeRead.close()
        _ = try? wakeWrite.close()
        return .failure(error)
      }
      return .success(backend)
    }
  }

  /// Creates the ring: first with `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG`, then
  /// `COOP_TASKRUN | TASKRUN_FLAG`, then plain — the first the kernel accepts.
  private static func makeRing(_ configuration: IOEngine.Configuration) throws(IOURing.SetupError) -> IOURing {
    let sq = configuration.submissionQueueEntries
    let cq = configuration.completionQueueEntries ?? min(sq &* 8, 32768 * 2)
    var attempts: [IOURing.SetupFlags] = []
    if configuration.singleIssuer { attempts.append([.singleIssuer, .deferTaskrun, .taskrunFlag]) }
    attempts.append([.coopTaskrun, .taskrunFlag])
    attempts.append([])
    var lastError: IOURing.SetupError?
    for flags in attempts {
      do {
        return try IOURing(entries: sq, flags: flags, completionQueueEntries: max(cq, sq))
      } catch {
        lastError = error
        // Entry counts or availability will not improve with fewer flags.
        if error.rejectedEntries || error.unavailable != nil { break }
      }
    }
    throw lastError!
  }

  /// Creates the loop, publishes it, waits for activation and runs it (on the ring thread).
  private static func runLoop(backend: RingBackend, ring: consuming IOURing, wakeReadEnd: FileDescriptor, started: OneShotEvent) {
    let loop = RingLoop(backend: backend, ring: ring, wakeReadEnd: wakeReadEnd)
    backend.loopAddress = Unmanaged.passUnretained(loop).toOpaque()
    started.signal()
    backend.activation.wait()
    loop.run(executor: backend.executor!)
  }

  /// Lets the ring thread start its loop, running jobs as `executor`.
  func activate(executor: UnownedTaskExecutor) {
    self.executor = executor
    activation.signal()
  }

  /// The ring thread's loop, if the caller is the ring thread.
  @inline(__always)
  func currentLoop() -> RingLoop? {
    guard let raw = pthread_getspecific(ringLoopKey), raw == loopAddress else { return nil }
    return Unmanaged<RingLoop>.fromOpaque(raw).takeUnretainedValue()
  }

  // MARK: - Producers

  func enqueue(_ job: UnownedJob) {
    if let loop = currentLoop() {
      loop.jobs.append(job)
      return
    }
    lock.lock()
    if stopped || shutdownRequested {
      // Stopping: tasks that still prefer this engine continue on the global executor, so
      // that they cannot keep it alive (their I/O on it fails with ECANCELED).
      lock.unlock()
      globalConcurrentExecutor.enqueue(ExecutorJob(job))
      return
    }
    inboxJobs.append(job)
    signalLocked()
    lock.unlock()
  }

  func submit(_ op: Operation) {
    if let loop = currentLoop() {
      loop.prepare(op)
      return
    }
    lock.lock()
    if shutdownRequested {
      lock.unlock()
      op.finish(result: .negated(.canceled))
      return
    }
    inboxOps.append(op)
    remoteSubmissionCount += 1
    signalLocked()
    lock.unlock()
  }

  func submit(batch ops: [Operation]) {
    if let loop = currentLoop() {
      for op in ops { loop.prepare(op) }
      return
    }
    lock.lock()
    if shutdownRequested {
      lock.unlock()
      for op in ops { op.finish(result: .negated(.canceled)) }
      return
    }
    inboxOps.append(contentsOf: ops)
    remoteSubmissionCount += ops.count
    signalLocked()
    lock.unlock()
  }

  func cancel(_ op: Operation) {
    if let loop = currentLoop() {
      loop.cancelInKernel(op)
      return
    }
    lock.lock()
    if stopped {
      lock.unlock()
      return
    }
    inboxCancels.append(op)
    signalLocked()
    lock.unlock()
  }

  /// Cancels every request on `owner`'s descriptor. Always goes through the inbox, so it is
  /// prepared after every operation handed over before it (FIFO); operations started on
  /// the ring thread went straight into the submission queue, also before it.
  func cancelOperations(on owner: ManagedDescriptor) {
    lock.lock()
    if stopped {
      lock.unlock()
      return
    }
    inboxDescriptorCancels.append(owner)
    signalLocked()
    lock.unlock()
  }

  /// Marks the inbox non-empty and wakes the ring thread if it sleeps. Lock held: the
  /// wake-up write happens under the lock so the pipe cannot be closed under it.
  @inline(__always)
  private func signalLocked() {
    pending.store(true, ordering: .sequentiallyConsistent)
    if sleeping.load(ordering: .sequentiallyConsistent)
      && sleeping.exchange(false, ordering: .sequentiallyConsistent)
    {
      wakeUpCount += 1
      var byte: UInt8 = 1
      if let fd = wakeWriteEnd {
        _ = withUnsafeBytes(of: &byte) { try? fd.write($0) }
      }
    }
  }

  // MARK: - Shutdown

  func shutdown() async {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      requestShutdown(notifying: continuation)
    }
  }

  /// Asks the ring thread to stop (without waiting, when `waiter` is nil: `IOEngine.deinit`).
  func requestShutdown(notifying waiter: UnsafeContinuation<Void, Never>?) {
    lock.lock()
    if stopped && wakeWriteEnd == nil {
      lock.unlock()
      waiter?.resume()
      return
    }
    if let waiter { shutdownWaiters.append(waiter) }
    shutdownRequested = true
    signalLocked()
    lock.unlock()
  }

  /// Called by the ring thread when it is idle during shutdown: stops if the inbox is empty.
  func tryStop() -> Bool {
    lock.lock()
    defer { lock.unlock() }
    if !inboxJobs.isEmpty || !inboxOps.isEmpty || !inboxCancels.isEmpty || !inboxDescriptorCancels.isEmpty {
      return false
    }
    stopped = true
    return true
  }

  /// Called on the ring thread after the ring is closed.
  private func finishShutdown(wakeReadEnd: FileDescriptor) {
    lock.lock()
    let write = wakeWriteEnd
    wakeWriteEnd = nil
    let waiters = shutdownWaiters
    shutdownWaiters = []
    lock.unlock()
    _ = try? wakeReadEnd.close()
    _ = try? write?.close()
    for w in waiters { w.resume() }
  }

  var statistics: IOEngine.Statistics {
    let (remote, wakeUps) = lock.withLock { (remoteSubmissionCount, wakeUpCount) }
    return IOEngine.Statistics(
      operationsCompleted: statCompleted.load(ordering: .relaxed),
      systemCalls: statEnters.load(ordering: .relaxed),
      wakeUps: wakeUps, remoteSubmissions: remote,
      jobsRun: statJobs.load(ordering: .relaxed))
  }
}

/// The thread-local key under which a ring thread stores its `RingLoop` (unretained).
/// Thread-local rather than a comparison of `pthread_t`s: thread ids are reused after a
/// thread exits, thread-local values are not inherited.
internal let ringLoopKey: pthread_key_t = {
  var key = pthread_key_t()
  let rc = pthread_key_create(&key, nil)
  precondition(rc == 0, "pthread_key_create failed: \(rc)")
  return key
}()

/// Everything only the ring thread touches: the ring, the local job queue, operations
/// waiting for submission-queue space, the in-flight count.
///
/// The hot properties are `@exclusivity(unchecked)`: only the ring thread touches them, and
/// the loop never holds an access across a call that could re-enter (completions are
/// collected before they are handled), so the dynamic exclusivity checks — a measurable
/// share of the per-operation cost — buy nothing here.
internal final class RingLoop {
  let backend: RingBackend
  @exclusivity(unchecked) var ring: IOURing
  let wakeReadEnd: FileDescriptor
  /// Where the pending wake-up read writes (owned here; freed after the ring is gone).
  let wakeBuffer: UnsafeMutableRawBufferPointer

  /// Jobs to run next (appended by `enqueue` on this thread and by inbox drains).
  @exclusivity(unchecked) var jobs: [UnownedJob] = []
  @exclusivity(unchecked) private var running: [UnownedJob] = []
  /// Operations that did not fit in the submission queue, FIFO.
  @exclusivity(unchecked) private var waiting: [Operation] = []
  @exclusivity(unchecked) private var waitingHead = 0
  /// Requests in the kernel, not counting the wake-up read.
  @exclusivity(unchecked) private var inFlight = 0
  private var wakeArmed = false
  private var shuttingDown = false
  private var tearingDown = false
  @exclusivity(unchecked) private var completions: [IOURing.Completion] = []
  // Inbox drain buffers (swapped with the backend's under its lock).
  private var drainJobs: [UnownedJob] = []
  private var drainOps: [Operation] = []
  private var drainCancels: [Operation] = []
  private var drainDescriptorCancels: [ManagedDescriptor] = []
  @exclusivity(unchecked) private var completedCount = 0
  @exclusivity(unchecked) private var enterCount = 0
  @exclusivity(unchecked) private var jobCount = 0

  static let wakeTag: UInt64 = 1
  static let ignoreTag: UInt64 = 2

  init(backend: RingBackend, ring: consuming IOURing, wakeReadEnd: FileDescriptor) {
    self.backend = backend
    self.ring = ring
    self.wakeReadEnd = wakeReadEnd
    self.wakeBuffer = .allocate(byteCount: 64, alignment: 8)
    jobs.reserveCapacity(256)
    running.reserveCapacity(256)
    completions.reserveCapacity(256)
  }

  deinit {
    // `ring` is destroyed after this body — but by then no request is in the kernel:
    // run() returns only after the wake-up read's final completion.
    wakeBuffer.deallocate()
  }

  // MARK: The loop

  func run(executor: UnownedTaskExecutor) {
    pthread_setspecific(ringLoopKey, Unmanaged.passUnretained(self).toOpaque())
    defer { pthread_setspecific(ringLoopKey, nil) }
    armWakeRead()
    while true {
      runJobs(executor)
      if backend.pending.load(ordering: .acquiring) { drainInbox() }
      flushWaiting()
      if shuttingDown && inFlight == 0 && jobs.isEmpty && waitingHead == waiting.count {
        if backend.tryStop() { break }
        continue
      }
      if jobs.isEmpty && waitingHead == waiting.count {
        // Nothing to run: sleep in the kernel until a completion arrives (the wake-up read
        // is one). Announce the sleep first, then re-check the inbox.
        backend.sleeping.store(true, ordering: .sequentiallyConsistent)
        if backend.pending.load(ordering: .sequentiallyConsistent) {
          backend.sleeping.store(false, ordering: .relaxed)
          continue
        }
        enter(wait: true)
        backend.sleeping.store(false, ordering: .relaxed)
      } else {
        enter(wait: false)
      }
      reap()
      publishStatistics()
    }
    teardown()
    publishStatistics()
  }

  /// Runs the jobs queued before this call; jobs they enqueue run in the next round, after
  /// the submissions they made have been sent.
  private func runJobs(_ executor: UnownedTaskExecutor) {
    if jobs.isEmpty { return }
    swap(&jobs, &running)
    var i = 0
    while i < running.count {
      running[i].runSynchronously(on: executor)
      i += 1
    }
    jobCount &+= running.count
    running.removeAll(keepingCapacity: true)
  }

  /// Submits prepared requests; with `wait`, also waits for at least one completion.
  /// `EINTR` and `EBUSY`/`EAGAIN` (a full completion queue) are handled by `IOURing`
  /// (reaped into its backlog and retried); anything else means the ring is unusable.
  private func enter(wait: Bool) {
    do {
      if wait {
        try ring.submit(waitingFor: 1)
        enterCount &+= 1
      } else if ring.pendingSubmissions > 0 {
        try ring.submit()
        enterCount &+= 1
      }
    } catch  where error == .resourceBusy || error == .resourceTemporarilyUnavailable {
      // Still too many completions pending: reap (below) and try again next round.
    } catch {
      fatalError(
        "swift-zerocopy IOEngine: io_uring_enter failed with \(error); the ring is unusable and the kernel may still own in-flight buffers"
      )
    }
  }

  /// Drains the completion queue (and the kernel's overflow list) in batches, then handles
  /// each completion. Completions are collected first: handling one may prepare new
  /// requests (re-arming the wake-up read), which must not overlap the reaping access.
  private func reap() {
    ring.forEachCompletion { completions.append($0) }
    if completions.isEmpty { return }
    // Handling may re-enter reap() (a full queue while re-arming the wake-up read): take
    // this batch out first so that no completion is handled twice.
    var batch: [IOURing.Completion] = []
    swap(&batch, &completions)
    for c in batch { handle(c) }
    if completions.isEmpty {
      batch.removeAll(keepingCapacity: true)
      swap(&batch, &completions)
    }
  }

  private func handle(_ c: IOURing.Completion) {
    switch c.userData {
    case RingLoop.wakeTag:
      wakeArmed = false
      if case .success(0) = c.result { return }  // write end closed: only at teardown
      if !tearingDown { armWakeRead() }
    case RingLoop.ignoreTag:
      return
    default:
      let unmanaged = Unmanaged<Operation>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(c.userData))!)
      let op = unmanaged.takeUnretainedValue()
      let raw: Int32
      switch c.result {
      case .success(let value): raw = value
      case .failure(let errno): raw = -errno.rawValue
      }
      if c.isNotification {
        // SEND_ZC: the kernel no longer references the buffer.
        op.zeroCopyCopied = raw == 1
        complete(op, unmanaged, result: op.zeroCopySendResult, flags: 0)
      } else if c.hasMore {
        // SEND_ZC's first completion: a notification follows; the buffer is still in use.
        op.zeroCopySendResult = raw
        op.zeroCopySent.store(true, ordering: .releasing)
        // Cancelled and waiting for TCP to release the pages (a peer that never reads
        // keeps them): the count is known, so the waiter returns now, not at the next
        // IOEngine.abandonGrace step (which measured 40–76 ms here).
        if op.cancelRequested.load(ordering: .relaxed) && op.isAbandonable { _ = op.abandon() }
      } else {
        complete(op, unmanaged, result: raw, flags: c.rawFlags)
      }
    }
  }

  @inline(__always)
  private func complete(_ op: Operation, _ unmanaged: Unmanaged<Operation>, result: Int32, flags: UInt32) {
    inFlight -= 1
    completedCount &+= 1
    op.ringState = .done
    op.finish(result: result, flags: flags)
    unmanaged.release()
  }

  // MARK: Preparing

  /// Prepares `op` now (or queues it behind earlier ones that are waiting for space).
  func prepare(_ op: Operation) {
    if waitingHead < waiting.count || !prepareNow(op) {
      op.ringState = .queued
      waiting.append(op)
    }
  }

  /// Writes `op`'s SQE; false if the submission queue stays full even after a submit.
  private func prepareNow(_ op: Operation) -> Bool {
    if shuttingDown || op.shouldSkip {
      op.ringState = .done
      op.finish(result: .negated(.canceled))
      return true
    }
    if ring.submissionQueueSpace == 0 {
      enter(wait: false)
      if ring.submissionQueueSpace == 0 { return false }
    }
    let unmanaged = Unmanaged.passRetained(op)
    let prepared = ring.tryPrepare(op.request().userData(RingLoop.tag(unmanaged)))
    assert(prepared, "the submission queue had space")
    op.ringState = .inKernel
    inFlight += 1
    return true
  }

  private func flushWaiting() {
    while waitingHead < waiting.count {
      if !prepareNow(waiting[waitingHead]) { return }
      waitingHead += 1
    }
    if waitingHead > 0 {
      waiting.removeAll(keepingCapacity: true)
      waitingHead = 0
    }
  }

  /// Prepares an internal request (cancel, wake-up read), submitting first if the queue is full.
  private func prepareInternal(_ request: consuming IOURing.Request) {
    while ring.submissionQueueSpace == 0 {
      enter(wait: false)
      reap()
    }
    let prepared = ring.tryPrepare(request)
    assert(prepared, "the submission queue had space")
  }

  @inline(__always)
  static func tag(_ op: Unmanaged<Operation>) -> UInt64 {
    UInt64(UInt(bitPattern: op.toOpaque()))
  }

  private func armWakeRead() {
    prepareInternal(.unsafeRead(wakeReadEnd, into: wakeBuffer, at: nil, userData: RingLoop.wakeTag))
    wakeArmed = true
  }

  // MARK: Cancellation

  /// Submits `IORING_OP_ASYNC_CANCEL` for `op` if it is in the kernel. An operation not
  /// yet prepared is skipped at preparation (its cancel flag is set); a finished one
  /// needs nothing.
  func cancelInKernel(_ op: Operation) {
    guard op.ringState == .inKernel else { return }
    let target = RingLoop.tag(Unmanaged.passUnretained(op))
    prepareInternal(.cancel(userData: target, userData: RingLoop.ignoreTag).skipSuccessCompletion())
  }

  private func cancelDescriptor(_ owner: ManagedDescriptor) {
    prepareInternal(.cancel(file: owner.descriptor, all: true, userData: RingLoop.ignoreTag).skipSuccessCompletion())
  }

  private func drainInbox() {
    backend.lock.lock()
    swap(&drainJobs, &backend.inboxJobs)
    swap(&drainOps, &backend.inboxOps)
    swap(&drainCancels, &backend.inboxCancels)
    swap(&drainDescriptorCancels, &backend.inboxDescriptorCancels)
    let shutdown = backend.shutdownRequested
    backend.pending.store(false, ordering: .relaxed)
    backend.lock.unlock()

    if !drainJobs.isEmpty {
      jobs.append(contentsOf: drainJobs)
      drainJobs.removeAll(keepingCapacity: true)
    }
    if !drainOps.isEmpty {
      for op in drainOps { prepare(op) }
      drainOps.removeAll(keepingCapacity: true)
    }
    if !drainCancels.isEmpty {
      for op in drainCancels { cancelInKernel(op) }
      drainCancels.removeAll(keepingCapacity: true)
    }
    if !drainDescriptorCancels.isEmpty {
      for owner in drainDescriptorCancels { cancelDescriptor(owner) }
      drainDescriptorCancels.removeAll(keepingCapacity: true)
    }
    if shutdown && !shuttingDown {
      shuttingDown = true
      // Cancel everything in the kernel (the wake-up read too: it is re-armed when its
      // cancellation completes, until teardown). Waiting operations complete as cancelled
      // when flushed.
      prepareInternal(.cancelAll(userData: RingLoop.ignoreTag))
    }
  }

  /// Cancels the wake-up read and waits for its final completion, so that nothing in the
  /// kernel references this loop's memory when the ring is destroyed.
  private func teardown() {
    tearingDown = true
    if wakeArmed {
      prepareInternal(.cancel(userData: RingLoop.wakeTag, userData: RingLoop.ignoreTag))
      while wakeArmed {
        enter(wait: true)
        reap()
      }
    }
  }

  private func publishStatistics() {
    backend.statCompleted.store(completedCount, ordering: .relaxed)
    backend.statEnters.store(enterCount, ordering: .relaxed)
    backend.statJobs.store(jobCount, ordering: .relaxed)
  }
}
