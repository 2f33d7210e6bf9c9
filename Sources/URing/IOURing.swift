// The ring: setup, submission, completion reaping.

import CLibURing
import Glibc
public import SystemPackage

/// An io_uring instance: a submission queue and a completion queue shared with the
/// kernel, owned by exactly one value and torn down (`io_uring_queue_exit`) when it goes
/// out of scope.
///
/// The ring is synchronous and single-threaded by construction: every operation that
/// touches the queues is `mutating`, so Swift's exclusivity rules guarantee one user at a
/// time. It can be moved to another thread or task (it is `Sendable` and noncopyable),
/// which is how the async engine drives it from its own executor thread.
///
/// ```swift
/// import LinuxIO
/// import SystemPackage
/// import URing
///
/// let fd = try FileDescriptor.open("/etc/hostname", .readOnly)
/// var ring = try IOURing(entries: 64)
/// // The request owns the buffer until its completion has been reaped.
/// try ring.prepare(.read(fd, into: try AlignedBuffer(count: 4096), at: 0, userData: 1))
/// try ring.submit()
/// let completion = try ring.waitCompletion()     // userData 1, result .success(bytes)
/// let buffer = ring.takeBuffer(userData: 1)!     // the bytes read, back with the caller
/// print(completion.userData, buffer.count)
/// ```
///
/// **Memory.** Memory the kernel uses after a call has returned is owned by the ring until
/// the kernel is done with it: a buffer moved into a request comes back with
/// ``takeBuffer(userData:)`` after the request's final completion; a buffer registered with
/// ``registerBuffer(_:at:)-(AlignedBuffer,_)`` or ``registerBuffers(count:size:alignment:)`` is freed (or handed
/// back by ``unregisterBuffer(at:)``) only once the kernel has released it; a ring that ends
/// first cancels what is in flight and waits (see `deinit`). Data the kernel reads at
/// submission (paths, timeouts) is copied into the request. The factories that take raw
/// pointers are named `unsafe…` and state how long the memory must stay valid; the caller
/// keeps that promise. Docs/Ownership.md lists every such API with its rule.
///
/// The corresponding C type is liburing's `struct io_uring`.
public struct IOURing: ~Copyable, @unchecked Sendable {
  // @unchecked Sendable: the pointers below are owned by this value alone, and every
  // method that touches the rings is `mutating` (exclusive access).

  /// liburing's ring state, at a stable heap address.
  internal let ring: UnsafeMutablePointer<io_uring>
  /// Scratch space for batched reaping (`zc_uring_reap`, through ``reap(max:)``): bound to
  /// the Swift mirror of `zc_cqe`, so the inlinable reap loop reads it without C types.
  @usableFromInline internal let reapScratch: UnsafeMutablePointer<RawCompletion>
  @usableFromInline internal static var reapBatch: Int { 64 }

  /// The kernel's feature bits for this ring (`io_uring_params.features`).
  public let features: Features
  /// The flags the ring was created with (`io_uring_params.flags`).
  public let setupFlags: SetupFlags
  /// Submission queue size (`sq_entries`; a power of two, maybe rounded up or clamped).
  public let submissionQueueCapacity: Int
  /// Completion queue size (`cq_entries`).
  public let completionQueueCapacity: Int

  /// Storage the kernel reads when it consumes an SQE (paths, timespecs). Released once
  /// the kernel has consumed every prepared SQE (`io_uring_sq_ready == 0`).
  internal var pendingStorage: [SubmissionStorage] = []
  /// Completions taken from the CQ to make room (EBUSY/EAGAIN on submit, a throwing
  /// consumer) and not yet delivered. Always delivered before newer completions.
  @usableFromInline internal var backlog: [Completion] = []
  @usableFromInline internal var backlogHead = 0
  /// Provided buffer rings, by group id.
  internal var bufferRings: [UInt16: BufferRingStorage] = [:]
  /// The ownership ledger (Ownership.swift): memory the kernel may use after a call
  /// returned. Nil until the ring first owns something, so that rings that never do pay one
  /// test of this reference per prepared request and per reaped batch.
  @usableFromInline internal var ownership: RingOwnership? = nil
  /// How long the ring's end waits for the kernel to finish with memory it owns before it
  /// gives up and leaks that memory instead of freeing it.
  internal static let quiesceLimit: Duration = .seconds(2)

  // MARK: - Setup

  /// Creates a ring (`io_uring_queue_init_params`).
  ///
  /// - Parameters:
  ///   - entries: Submission queue entries, 1...32768 (rounded up to a power of two; with
  ///     ``SetupFlags/clamp`` larger values are clamped).
  ///   - flags: Setup flags. `.cqSize` and `.sqAffinity` are added automatically when
  ///     `completionQueueEntries` / `sqThreadCPU` are given. `SQE128`/`CQE32` are not
  ///     supported by this type.
  ///   - completionQueueEntries: Completion queue size (`IORING_SETUP_CQSIZE`, 5.5); at
  ///     least `entries`. Default: twice the submission queue.
  ///   - sqThreadIdle: With ``SetupFlags/sqPoll``, how long the kernel's submission
  ///     thread spins before sleeping (`sq_thread_idle`, milliseconds). Once asleep it
  ///     sets `IORING_SQ_NEED_WAKEUP` and ``submit()`` wakes it (liburing does this).
  ///   - sqThreadCPU: With ``SetupFlags/sqPoll``, the CPU to pin that thread to (`IORING_SETUP_SQ_AFF`).
  /// - Throws: ``SetupError``. When the kernel answers `EINVAL`, the error names the flag
  ///   (or the entry count) it rejected; when io_uring is unavailable in this process
  ///   (``IOURingAvailability``), the error carries the reason and no ring is attempted.
  ///
  /// The corresponding C function is `io_uring_queue_init_params` (kernel 5.1).
  public init(
    entries: UInt32 = 64,
    flags: SetupFlags = [],
    completionQueueEntries: UInt32? = nil,
    sqThreadIdle: Duration? = nil,
    sqThreadCPU: UInt32? = nil
  ) throws(SetupError) {
    precondition(
      flags.isDisjoint(with: SetupFlags(rawValue: IORING_SETUP_SQE128 | IORING_SETUP_CQE32)),
      "IOURing: IORING_SETUP_SQE128/CQE32 are not supported by this type")
    if case .unavailable(let reason) = IOURingAvailability.current {
      throw SetupError(unavailable: reason)
    }
    var params = io_uring_params()
    var flags = flags
    if let cq = completionQueueEntries {
      flags.insert(.cqSize)
      params.cq_entries = cq
    }
    if let idle = sqThreadIdle {
      let ms = idle.components.seconds * 1000 + idle.components.attoseconds / 1_000_000_000_000_000
      params.sq_thread_idle = UInt32(clamping: max(ms, 0))
    }
    if let cpu = sqThreadCPU {
      flags.insert(.sqAffinity)
      params.sq_thread_cpu = cpu
    }
    params.flags = flags.rawValue

    let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
    ring.initialize(to: io_uring())
    if case .failure(let errno) = kernelResult(io_uring_queue_init_params(entries, ring, &params)) {
      ring.deallocate()
      if errno == .invalidArgument {
        throw SetupError.diagnoseInvalidArgument(entries: entries, requested: params)
      }
      throw SetupError(errno: errno)
    }
    self.ring = ring
    precondition(
      MemoryLayout<RawCompletion>.size == MemoryLayout<zc_cqe>.size
        && MemoryLayout<RawCompletion>.stride == MemoryLayout<zc_cqe>.stride
        && MemoryLayout<RawCompletion>.alignment == MemoryLayout<zc_cqe>.alignment,
      "IOURing: RawCompletion does not mirror zc_cqe")
    self.reapScratch = .allocate(capacity: IOURing.reapBatch)
    self.features = Features(rawValue: params.features)
    self.setupFlags = SetupFlags(rawValue: ring.pointee.flags)
    self.submissionQueueCapacity = Int(params.sq_entries)
    self.completionQueueCapacity = Int(params.cq_entries)
  }

  /// Tears the ring down (`io_uring_queue_exit`): unmaps it and closes its descriptor;
  /// the kernel cancels requests still in flight. Their completions are lost, and a
  /// request already running on a kernel worker may still finish into its buffer — reap
  /// every request's final completion before dropping a ring whose buffers you reuse.
  /// Provided buffer rings are freed after the ring (registered buffers stay pinned by the
  /// kernel until its teardown completes).
  ///
  /// Memory the ring owns (buffers moved into requests, owned registered buffers, provided
  /// buffer rings) is freed only once the kernel is done with it: the ring first cancels
  /// every request in flight (`IORING_OP_ASYNC_CANCEL` with `ANY | ALL`), removes its owned
  /// registered buffers and waits for their release, up to 2 seconds; memory the kernel still
  /// holds then (a read the device is still serving, a SEND_ZC whose peer does not read) is
  /// leaked, never freed under the kernel.
  deinit {
    if let ownership {
      for (_, storage) in bufferRings { ownership.keptAlive.append(storage) }
      if !ownership.quiesce(ring, reapScratch, limit: IOURing.quiesceLimit) {
        _ = Unmanaged.passRetained(ownership)  // the kernel may still use its memory
      }
    }
    // Stored properties (the provided buffer rings) are destroyed after this body.
    io_uring_queue_exit(ring)
    ring.deinitialize(count: 1)
    ring.deallocate()
    reapScratch.deallocate()
  }

  /// The ring's file descriptor (`ring_fd`), for `poll`/`epoll` on completions or
  /// `IORING_OP_MSG_RING` targets. Owned by the ring: do not close it.
  public var ringDescriptor: FileDescriptor { FileDescriptor(rawValue: ring.pointee.ring_fd) }

  // MARK: - Preparing requests

  /// Free submission queue slots (`io_uring_sq_space_left`).
  public var submissionQueueSpace: Int { Int(io_uring_sq_space_left(ring)) }

  /// Prepared requests not yet consumed by the kernel (`io_uring_sq_ready`).
  public var pendingSubmissions: Int { Int(io_uring_sq_ready(ring)) }

  /// Writes `request` into the next free SQE. When the submission queue is full, submits
  /// what is there (and with SQPOLL waits for a free slot), then retries — so a caller can
  /// prepare any number of requests and submit at the end.
  ///
  /// The request is only *prepared*: the kernel sees it at the next ``submit()``.
  ///
  /// - Throws: An `Errno` from the flush (see ``submit()``).
  ///
  /// The corresponding C function is `io_uring_get_sqe`.
  public mutating func prepare(_ request: consuming Request) throws(Errno) {
    let sqe = try nextSQE()
    let (entry, storage) = request.take()
    sqe.pointee = entry
    if storage != nil || ownership != nil { adopt(storage, entry) }
  }

  /// Writes `request` into the next free SQE, or returns false when the submission queue is full.
  ///
  /// The corresponding C function is `io_uring_get_sqe`.
  public mutating func tryPrepare(_ request: consuming Request) -> Bool {
    guard let sqe = io_uring_get_sqe(ring) else { return false }
    let (entry, storage) = request.take()
    sqe.pointee = entry
    if storage != nil || ownership != nil { adopt(storage, entry) }
    return true
  }

  /// Prepares a linked chain: every request but the last gets its link flag
  /// (`IOSQE_IO_LINK` / `IOSQE_IO_HARDLINK`), and all of them are placed in one
  /// submission (a chain must not be split across `io_uring_enter` calls), submitting
  /// earlier requests first if the free space is too small.
  ///
  /// - Precondition: The chain fits in the submission queue (`count <= submissionQueueCapacity`).
  /// - Throws: An `Errno` from the flush (see ``submit()``).
  public mutating func prepare(_ chain: LinkedChain) throws(Errno) {
    let count = chain.count
    guard count > 0 else { return }
    precondition(
      count <= submissionQueueCapacity,
      "IOURing: a linked chain of \(count) requests does not fit a \(submissionQueueCapacity)-entry submission queue")
    while Int(io_uring_sq_space_left(ring)) < count {
      try flushForSpace()
    }
    for i in 0..<count {
      guard let sqe = io_uring_get_sqe(ring) else {
        preconditionFailure("IOURing: submission queue space vanished while preparing a chain")
      }
      let member = chain.members[i]
      sqe.pointee = member.sqe
      if i < count - 1 { zc_sqe_add_flags(sqe, member.link.sqeFlag) }
      if member.storage != nil || ownership != nil { adopt(member.storage, sqe.pointee) }
    }
  }

  @inline(__always)
  internal mutating func nextSQE() throws(Errno) -> UnsafeMutablePointer<io_uring_sqe> {
    if let sqe = io_uring_get_sqe(ring) { return sqe }
    return try nextSQESlow()
  }

  @inline(never)
  internal mutating func nextSQESlow() throws(Errno) -> UnsafeMutablePointer<io_uring_sqe> {
    while true {
      try flushForSpace()
      if let sqe = io_uring_get_sqe(ring) { return sqe }
    }
  }

  /// Makes room in the SQ: submit; with SQPOLL the kernel thread consumes asynchronously,
  /// so wait for it (`io_uring_sqring_wait`, IORING_ENTER_SQ_WAIT).
  internal mutating func flushForSpace() throws(Errno) {
    _ = try submitInternal(waitFor: 0)
    if setupFlags.contains(.sqPoll) && io_uring_sq_space_left(ring) == 0 {
      _ = try liburing { io_uring_sqring_wait(ring) }
    }
  }

  @inline(never)
  internal mutating func retainUntilSubmitted(_ storage: SubmissionStorage) {
    pendingStorage.append(storage)
  }

  // MARK: - Submitting

  /// Submits every prepared request (`io_uring_enter`), without waiting.
  ///
  /// Retries `EINTR`. On `EBUSY`/`EAGAIN` (the kernel has too many completions pending
  /// or could not allocate) it moves ready completions into the ring's backlog — they are
  /// delivered first by the reaping methods, none is lost — waits briefly for one if
  /// none was ready, and retries. With SQPOLL, wakes the kernel thread if it sleeps
  /// (`IORING_SQ_NEED_WAKEUP`) and otherwise makes no syscall.
  ///
  /// - Returns: The number of requests submitted.
  /// - Throws: `Errno` from `io_uring_enter`: `EBADF`/`EBADFD`/`EOPNOTSUPP` (a broken
  ///   ring), `EINVAL`, `EFAULT`, `ENXIO`, or `EBUSY`/`EAGAIN` when nothing can be reaped.
  ///   Per-request errors are never thrown here: they arrive as completions.
  ///
  /// The corresponding C function is `io_uring_submit` (kernel 5.1).
  @discardableResult
  public mutating func submit() throws(Errno) -> Int {
    try submitInternal(waitFor: 0)
  }

  /// Submits every prepared request and waits until at least `count` completions are
  /// ready (`io_uring_submit_and_wait`). The completions stay in the ring: reap them with
  /// ``forEachCompletion(_:)`` or ``waitCompletion()``. A signal may end the wait early
  /// (after a successful submission); the reaping methods wait again if needed.
  ///
  /// - Returns: The number of requests submitted.
  ///
  /// The corresponding C function is `io_uring_submit_and_wait` (kernel 5.1).
  @discardableResult
  public mutating func submit(waitingFor count: Int) throws(Errno) -> Int {
    precondition(count >= 0, "IOURing.submit(waitingFor:): count must not be negative")
    return try submitInternal(waitFor: UInt32(clamping: count))
  }

  /// Submits every prepared request and waits until at least `count` completions are
  /// ready or `timeout` has passed, whichever comes first — a wait that a caller can bound,
  /// to look at a cancellation flag in between. The completions stay in the ring.
  ///
  /// - Returns: The number of requests submitted.
  /// - Throws: `Errno` from `io_uring_enter` (not `ETIME`, not `EINTR`: both end the wait).
  ///
  /// The corresponding C function is `io_uring_submit_and_wait_timeout` (one system call
  /// with `IORING_FEAT_EXT_ARG`, kernel 5.11).
  @discardableResult
  public mutating func submit(waitingFor count: Int, timeout: Duration) throws(Errno) -> Int {
    precondition(count >= 0, "IOURing.submit(waitingFor:timeout:): count must not be negative")
    let pending = Int(io_uring_sq_ready(ring))
    var ts = __kernel_timespec(timeout)
    var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
    switch kernelResult(io_uring_submit_and_wait_timeout(ring, &cqe, UInt32(clamping: count), &ts, nil)) {
    case .success(let submitted):
      releaseConsumedStorage()
      return Int(submitted)
    case .failure(.timeout), .failure(.interrupted):
      releaseConsumedStorage()
      return pending - Int(io_uring_sq_ready(ring))
    case .failure(.resourceBusy), .failure(.resourceTemporarilyUnavailable):
      _ = moveReadyToBacklog()
      return try submitInternal(waitFor: 0)
    case .failure(let errno):
      throw errno
    }
  }

  internal mutating func submitInternal(waitFor: UInt32) throws(Errno) -> Int {
    var attempts = 0
    while true {
      let ret = waitFor == 0 ? io_uring_submit(ring) : io_uring_submit_and_wait(ring, waitFor)
      switch kernelResult(ret) {
      case .success(let submitted):
        releaseConsumedStorage()
        return Int(submitted)
      case .failure(.interrupted):
        continue
      case .failure(let errno) where errno == .resourceBusy || errno == .resourceTemporarilyUnavailable:
        // EBUSY: the CQ (plus overflow) is full / too many requests in flight.
        // EAGAIN: the kernel could not allocate a request. Both: reap, then retry.
        attempts += 1
        if moveReadyToBacklog() == 0 {
          if attempts > 100 { throw errno }
          var ts = __kernel_timespec(tv_sec: 0, tv_nsec: 1_000_000)
          var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
          switch kernelResult(io_uring_wait_cqe_timeout(ring, &cqe, &ts)) {
          case .success, .failure(.timeout), .failure(.interrupted): break
          case .failure(let waitErrno): throw waitErrno
          }
          _ = moveReadyToBacklog()
        }
      case .failure(let errno):
        throw errno
      }
    }
  }

  /// Drops storage (paths, timespecs) once the kernel has consumed every prepared SQE.
  @inline(__always)
  internal mutating func releaseConsumedStorage() {
    if !pendingStorage.isEmpty && io_uring_sq_ready(ring) == 0 {
      pendingStorage.removeAll(keepingCapacity: true)
    }
  }

  /// With ``SetupFlags/sqPoll``: whether the kernel's submission thread has gone to sleep
  /// (`IORING_SQ_NEED_WAKEUP`); the next ``submit()`` wakes it with `IORING_ENTER_SQ_WAKEUP`.
  public var submissionThreadNeedsWakeup: Bool { zc_uring_sq_flags(ring) & ZC_IORING_SQ_NEED_WAKEUP != 0 }

  // MARK: - Reaping

  /// Completions ready now, without entering the kernel (`io_uring_cq_ready`, plus the backlog).
  public var readyCompletions: Int { Int(io_uring_cq_ready(ring)) + (backlog.count - backlogHead) }

  /// Whether the kernel is holding completions that did not fit in the CQ
  /// (`IORING_SQ_CQ_OVERFLOW`). The reaping methods flush them automatically.
  public var hasOverflow: Bool { zc_uring_sq_flags(ring) & ZC_IORING_SQ_CQ_OVERFLOW != 0 }

  /// Calls `body` with every completion that is ready, in order, and returns how many.
  ///
  /// Reaps in batches straight from the shared CQ ring — one store to the CQ head per
  /// batch, no syscall per completion. A syscall is made only when the kernel flags
  /// overflowed completions (`IORING_SQ_CQ_OVERFLOW`) or pending task work
  /// (`IORING_SQ_TASKRUN`), to bring them into the ring. With `DEFER_TASKRUN`,
  /// completions appear only after a kernel entry: use ``waitCompletion()`` or
  /// ``submit(waitingFor:)`` first.
  ///
  /// If `body` throws, the completion it was given counts as consumed; the rest of the
  /// batch is kept (backlog) and delivered by the next reaping call. None is lost.
  ///
  /// The corresponding C code is `io_uring_for_each_cqe` + `io_uring_cq_advance`
  /// (wrapped as `zc_uring_reap`), and `io_uring_get_events` for overflow.
  @inlinable @discardableResult
  public mutating func forEachCompletion<E: Error>(_ body: (Completion) throws(E) -> Void) throws(E) -> Int {
    var delivered = 0
    // Earlier completions first.
    if backlogHead < backlog.count {
      delivered = try deliverBacklog(body)
    }
    while true {
      let n = reapForDelivery()
      if n == 0 { return delivered }
      var i = 0
      do {
        while i < n {
          let c = Completion(reapScratch[i])
          i += 1
          delivered += 1
          try body(c)
        }
      } catch {
        keepUndelivered(from: i, of: n)
        throw error
      }
    }
  }

  @usableFromInline
  internal mutating func deliverBacklog<E: Error>(_ body: (Completion) throws(E) -> Void) throws(E) -> Int {
    var delivered = 0
    while let c = popBacklog() {
      delivered += 1
      try body(c)
    }
    return delivered
  }

  /// Reaps the next batch of ready completions into `reapScratch` for delivery: up to
  /// ``reapBatch`` CQEs, the ledger's own taken out (``intercept(_:)``), overflowed or
  /// deferred completions brought in when the kernel flags them. Returns how many to
  /// deliver, 0 when none is ready. One call per batch: the per-completion work stays in
  /// the caller's inlined loop.
  @usableFromInline @inline(never)
  internal mutating func reapForDelivery() -> Int {
    while true {
      let reaped = reap(max: IOURing.reapBatch)
      if reaped == 0 {
        if zc_uring_sq_flags(ring) & (ZC_IORING_SQ_CQ_OVERFLOW | ZC_IORING_SQ_TASKRUN) != 0 && flushOverflow() {
          continue
        }
        return 0
      }
      let n = ownership == nil ? reaped : intercept(reaped)
      if n > 0 { return n }
    }
  }

  /// Copies up to `max` ready CQEs into `reapScratch` and advances the CQ head
  /// (`zc_uring_reap`); returns how many.
  @inline(__always)
  internal func reap(max: Int) -> Int {
    IOURing.reap(ring, into: reapScratch, max: max)
  }

  /// `zc_uring_reap` into Swift-typed scratch memory (rebound to `zc_cqe` for the call).
  @inline(__always)
  internal static func reap(_ ring: UnsafeMutablePointer<io_uring>, into scratch: UnsafeMutablePointer<RawCompletion>, max: Int)
    -> Int
  {
    scratch.withMemoryRebound(to: zc_cqe.self, capacity: max) { Int(zc_uring_reap(ring, $0, UInt32(max))) }
  }

  /// Brings overflowed / deferred completions into the CQ; true if some are now ready.
  @inline(never)
  internal mutating func flushOverflow() -> Bool {
    _ = zc_uring_flush_overflow(ring)
    return io_uring_cq_ready(ring) > 0
  }

  /// Keeps the undelivered rest of a reaped batch, in order, ahead of anything newer.
  @usableFromInline @inline(never)
  internal mutating func keepUndelivered(from start: Int, of n: Int) {
    var rest: [Completion] = []
    rest.reserveCapacity(n - start)
    for j in start..<n { rest.append(Completion(reapScratch[j])) }
    backlog.insert(contentsOf: rest, at: backlogHead)
  }

  /// All completions ready now (see ``forEachCompletion(_:)``), as an array.
  public mutating func readyCompletionList() -> [Completion] {
    var out: [Completion] = []
    forEachCompletion { out.append($0) }
    return out
  }

  /// The next ready completion, or `nil` if none is ready. No syscall unless the kernel
  /// flags overflow or pending task work.
  ///
  /// The corresponding C function is `io_uring_peek_cqe`.
  public mutating func peekCompletion() -> Completion? {
    if let c = popBacklog() { return c }
    if let c = reapOne() { return c }
    if zc_uring_sq_flags(ring) & (ZC_IORING_SQ_CQ_OVERFLOW | ZC_IORING_SQ_TASKRUN) != 0 {
      _ = zc_uring_flush_overflow(ring)
      return reapOne()
    }
    return nil
  }

  /// Waits for the next completion and returns it (submitting nothing; call ``submit()`` first).
  ///
  /// Retries `EINTR`.
  ///
  /// - Throws: `Errno` from `io_uring_enter`.
  ///
  /// The corresponding C function is `io_uring_wait_cqe`.
  public mutating func waitCompletion() throws(Errno) -> Completion {
    while true {
      if let c = peekCompletion() { return c }
      var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
      _ = try liburing { io_uring_wait_cqe(ring, &cqe) }
    }
  }

  /// Waits up to `timeout` for the next completion; `nil` if none arrived in time.
  ///
  /// - Throws: `Errno` from `io_uring_enter` (other than `ETIME`).
  ///
  /// The corresponding C function is `io_uring_wait_cqe_timeout` (`IORING_FEAT_EXT_ARG`, 5.11,
  /// makes it a single syscall).
  public mutating func waitCompletion(timeout: Duration) throws(Errno) -> Completion? {
    let deadline = ContinuousClock.now + timeout
    while true {
      if let c = peekCompletion() { return c }
      let remaining = ContinuousClock.now.duration(to: deadline)
      if remaining <= .zero { return nil }
      var ts = __kernel_timespec(remaining)
      var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
      switch kernelResult(io_uring_wait_cqe_timeout(ring, &cqe, &ts)) {
      case .failure(.timeout): return peekCompletion()
      case .success, .failure(.interrupted): break
      case .failure(let errno): throw errno
      }
    }
  }

  /// Waits until `count` completions have been collected (or `timeout` passes) and
  /// returns them in order.
  ///
  /// - Returns: `count` completions, or fewer if the timeout passed first.
  public mutating func waitCompletions(_ count: Int, timeout: Duration? = nil) throws(Errno) -> [Completion] {
    var out: [Completion] = []
    out.reserveCapacity(count)
    let deadline = timeout.map { ContinuousClock.now + $0 }
    while out.count < count {
      forEachCompletion { out.append($0) }
      if out.count >= count { break }
      if let deadline {
        let left = ContinuousClock.now.duration(to: deadline)
        guard left > .zero, let c = try waitCompletion(timeout: left) else { break }
        out.append(c)
      } else {
        out.append(try waitCompletion())
      }
    }
    return out
  }

  /// Prepares `request`, submits, and waits for the completion whose user data equals
  /// the request's; other completions that arrive meanwhile are kept (backlog) for the
  /// reaping methods. A convenience for one-at-a-time use and tests.
  ///
  /// For a request that posts several completions (multishot, SEND_ZC) this returns the first.
  /// - Throws: `Errno` from submission or waiting (not the operation's own error, which
  ///   is in the returned completion's `result`).
  public mutating func perform(_ request: consuming Request) throws(Errno) -> Completion {
    let target = request.userData
    try prepare(consume request)
    // One syscall for the common case: submit and wait for (at least) one completion.
    _ = try submitInternal(waitFor: 1)
    var others: [Completion] = []
    defer {
      if !others.isEmpty { backlog.insert(contentsOf: others, at: backlogHead) }
    }
    while true {
      let c = try waitCompletion()
      if c.userData == target { return c }
      others.append(c)
    }
  }

  @usableFromInline
  internal mutating func popBacklog() -> Completion? {
    guard backlogHead < backlog.count else { return nil }
    let c = backlog[backlogHead]
    backlogHead += 1
    if backlogHead == backlog.count { backlog.removeAll(keepingCapacity: true); backlogHead = 0 }
    return c
  }

  @inline(__always)
  internal mutating func reapOne() -> Completion? {
    while reap(max: 1) == 1 {
      if ownership == nil || intercept(1) == 1 { return Completion(reapScratch[0]) }
    }
    return nil
  }

  /// Moves every ready CQE (flushing overflow) to the backlog; returns how many.
  internal mutating func moveReadyToBacklog() -> Int {
    var moved = 0
    while true {
      let reaped = reap(max: IOURing.reapBatch)
      if reaped == 0 {
        if hasOverflow {
          _ = zc_uring_flush_overflow(ring)
          if io_uring_cq_ready(ring) > 0 { continue }
        }
        return moved
      }
      let n = ownership == nil ? reaped : intercept(reaped)
      for i in 0..<n { backlog.append(Completion(reapScratch[i])) }
      moved += n
    }
  }
}

extension __kernel_timespec {
  /// A kernel timespec from a Swift duration (negative durations become zero).
  internal init(_ d: Duration) {
    let (seconds, attoseconds) = d.components
    if seconds < 0 || (seconds == 0 && attoseconds < 0) {
      self.init(tv_sec: 0, tv_nsec: 0)
    } else {
      self.init(tv_sec: seconds, tv_nsec: attoseconds / 1_000_000_000)
    }
  }
}
