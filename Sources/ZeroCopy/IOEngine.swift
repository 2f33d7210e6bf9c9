// The async engine: completions resume Swift tasks.

import Glibc
import LinuxIO
import Logging
import Synchronization
import SystemPackage
public import URing

/// Runs asynchronous I/O for ``AsyncFile``, ``AsyncSocket`` and ``FileChunks``: either on
/// an io_uring ring driven by one dedicated thread, or — when io_uring is unavailable — as
/// blocking system calls on a small thread pool. Both kinds run the same API with the same
/// guarantees (owned buffers come back, cancellation waits for the kernel).
///
/// **The io_uring engine is a `TaskExecutor`.** Its thread runs, in one loop: the Swift jobs
/// enqueued on it, the submissions those jobs made (all of them in one `io_uring_enter`),
/// and the completions (reaped in batches straight from the completion ring), whose
/// continuations it resumes. A task that prefers the engine —
///
/// ```swift
/// import LinuxIO
/// import ZeroCopy
///
/// let file = try await AsyncFile.open("data.bin")
/// let size: Int64 = 1 << 20
/// let engine = IOEngine.default
/// try await withTaskExecutorPreference(engine.preferredTaskExecutor) {
///   // Each read is written straight into the submission ring by this thread: no lock,
///   // no wake-up system call; when it completes, this task is resumed on the same thread.
///   var buffer = try AlignedBuffer(count: 4096)
///   for offset in stride(from: 0, to: size, by: 4096) {
///     let r = await file.read(into: buffer, at: offset)
///     _ = try r.count
///     buffer = r.take()
///   }
/// }
/// ```
///
/// — runs its I/O at the cost of the synchronous ring plus a task switch. Tasks on other
/// executors still work: their submissions go through a lock-protected inbox and wake the
/// ring thread (a pending read on a wake-up pipe completes) only when it is asleep.
///
/// **Ready data skips the engine.** A positioned read of cached file data, or a receive of
/// data already queued on a socket, completes on the calling thread with one system call
/// (`preadv2(RWF_NOWAIT)`, `recv(MSG_DONTWAIT)`), whatever executor the task runs on; only
/// what would wait goes to the ring or the pool (``Configuration/completesReadyReadsInline``).
///
/// **Engines.** ``default`` is created on first use and lives for the whole process. Create
/// your own to size the rings, pin the thread to a CPU or keep workloads apart, and
/// ``shutdown()`` it when done.
///
/// **Fallback.** If `IOURingAvailability` (URing) says io_uring is unavailable (including
/// `ZEROCOPY_DISABLE_IO_URING=1`), or the ring cannot be set up, an ``Configuration/Preference/automatic``
/// engine becomes a thread-pool engine: ``kind`` says which and ``fallbackReason`` why, and
/// the first such engine in the process logs it once at `info` level (swift-log label
/// `swift-zerocopy`).
public final class IOEngine: TaskExecutor, @unchecked Sendable, CustomStringConvertible {
  // @unchecked: immutable after init; the backends synchronise their own state.

  /// Which mechanism an engine uses.
  public enum Kind: Sendable, Hashable, CustomStringConvertible {
    /// An io_uring ring driven by the engine's own thread.
    case ioUring
    /// Blocking system calls on a small thread pool, plus one thread that waits for
    /// readiness of pipes and sockets with `poll(2)`.
    case threadPool

    /// A readable description.
    public var description: String {
      switch self {
      case .ioUring: return "io_uring"
      case .threadPool: return "thread pool"
      }
    }
  }

  /// Why an engine runs on the thread pool.
  public enum FallbackReason: Sendable, Hashable, CustomStringConvertible {
    /// io_uring is unavailable in this process (`IOURingAvailability` (URing)), for example
    /// `ZEROCOPY_DISABLE_IO_URING=1`, a seccomp profile, or `kernel.io_uring_disabled`.
    case unavailable(IOURingAvailability.Reason)
    /// The ring could not be created although io_uring is available (`io_uring_setup`'s
    /// error, with the rejected flag when the kernel said `EINVAL`).
    case setupFailed(IOURing.SetupError)
    /// The configuration asked for a thread-pool engine.
    case requested

    /// A readable description.
    public var description: String {
      switch self {
      case .unavailable(let reason): return "io_uring is unavailable: \(reason)"
      case .setupFailed(let error): return "the io_uring ring could not be set up: \(error)"
      case .requested: return "the thread-pool engine was requested by the configuration"
      }
    }
  }

  /// How to build an engine.
  public struct Configuration: Sendable {
    /// Which engine kind to create.
    public enum Preference: Sendable, Hashable {
      /// io_uring when available, else the thread pool (with the reason recorded).
      case automatic
      /// io_uring or nothing: ``IOEngine/init(_:)`` throws when it is unavailable.
      case ioUring
      /// The thread pool, even where io_uring works (tests, comparisons).
      case threadPool
    }

    /// Which engine kind to create. Default ``Preference/automatic``.
    public var preference: Preference
    /// Submission queue entries (a power of two, 1...32768). More requests than this can
    /// be in flight: a full queue is submitted and refilled. Default 256.
    public var submissionQueueEntries: UInt32
    /// Completion queue entries (`IORING_SETUP_CQSIZE`), at least `submissionQueueEntries`.
    /// When more completions arrive than fit, the kernel keeps them on its overflow list
    /// and the engine flushes them (slower, never lost). Default: 8 × the submission queue.
    public var completionQueueEntries: UInt32?
    /// Pin the engine's ring thread (or the pool's threads) to this CPU. Default: not pinned.
    public var cpu: Int?
    /// Threads of the thread-pool engine that run blocking calls (plus one that polls
    /// pipes and sockets). Default: twice the CPUs, between 2 and 8.
    public var threadPoolSize: Int
    /// Use `IORING_SETUP_SINGLE_ISSUER` and `IORING_SETUP_DEFER_TASKRUN` (kernel 6.1+) when
    /// the kernel accepts them: completions are then processed only when the ring thread
    /// asks, with no interrupts of the thread meanwhile. Default true; the engine retries
    /// without them if the kernel refuses.
    public var singleIssuer: Bool
    /// The name of the engine's threads (at most 15 bytes are shown by the system).
    public var name: String
    /// Whether cancelling a task interrupts its operations on *regular files and block
    /// devices* that were already submitted (an `IORING_OP_ASYNC_CANCEL` is sent, as it always
    /// is for pipes, sockets and devices that may wait indefinitely).
    ///
    /// Default `false`: such operations complete in bounded time and the kernel can rarely
    /// stop one that has started (a buffered read or write in progress answers `EALREADY`),
    /// so a cancelled task's pending file operation simply finishes — it still returns its
    /// buffer only after the final completion — while one not yet submitted completes with
    /// `ECANCELED` without reaching the kernel. Skipping the per-operation cancellation
    /// record saves about 0.15–0.25 µs per operation (measured: 4 KiB reads at queue
    /// depth 32). Set `true` to have queued file operations (cold cache, slow devices)
    /// cancelled in the kernel too, and a cancelled read of a regular file or block device
    /// return within 100 ms whatever the device does: if it has not ended 20 ms after its
    /// cancellation, the read is left to the kernel — which keeps the caller's buffer until
    /// it completes — and the caller gets `ECANCELED` with a new buffer of the same size and
    /// alignment. ``AsyncFile/close()`` and ``IOEngine/shutdown()`` cancel in-flight file
    /// operations either way.
    public var interruptsRegularFileOperations: Bool
    /// Whether a read whose data is already there completes on the calling thread, without
    /// the engine: ``AsyncFile/read(into:range:at:)`` of a buffered regular file first tries
    /// `preadv2(…, RWF_NOWAIT)` (served only from the page cache, never waiting for the
    /// device), and ``AsyncSocket/receive(into:range:)`` first tries `recv(…, MSG_DONTWAIT)`.
    /// When the data is not there (`EAGAIN`), or on any error, the operation goes to the
    /// engine as it would otherwise (errors are reported by the engine's call). A read of
    /// which only the start is cached reads the rest through the engine, so a short count
    /// still means the end of the file (and if that rest fails, the read fails).
    ///
    /// Default `true`: a cached 4 KiB read then costs about one `preadv2` — no submission,
    /// no completion, no thread switch, whatever executor the task runs on — and a read that
    /// must wait pays one extra system call that returns `EAGAIN`. Set `false` to send every
    /// operation through the engine (to measure it, or to keep reads off the caller's thread
    /// entirely: `RWF_NOWAIT` avoids waiting for the device, not for page or inode locks).
    /// Files opened with `O_DIRECT` always use the engine. One read in 64 of a file or
    /// socket first yields (`Task.yield()`), so that a task that keeps finding data ready
    /// still suspends now and then and lets other tasks run.
    public var completesReadyReadsInline: Bool

    /// The default ``threadPoolSize``: twice the online CPUs, between 2 and 8.
    public static var defaultThreadPoolSize: Int { max(2, min(8, 2 * onlineCPUCount)) }

    /// The defaults.
    public init(
      preference: Preference = .automatic, submissionQueueEntries: UInt32 = 256,
      completionQueueEntries: UInt32? = nil, cpu: Int? = nil,
      threadPoolSize: Int = Configuration.defaultThreadPoolSize, singleIssuer: Bool = true,
      name: String = "zc-engine", interruptsRegularFileOperations: Bool = false,
      completesReadyReadsInline: Bool = true
    ) {
      self.preference = preference
      self.submissionQueueEntries = submissionQueueEntries
      self.completionQueueEntries = completionQueueEntries
      self.cpu = cpu
      self.threadPoolSize = threadPoolSize
      self.singleIssuer = singleIssuer
      self.name = name
      self.interruptsRegularFileOperations = interruptsRegularFileOperations
      self.completesReadyReadsInline = completesReadyReadsInline
    }
  }

  /// Counters, for tests and benchmarks. Updated by the engine's threads; a snapshot may
  /// lag slightly behind.
  public struct Statistics: Sendable, Hashable, CustomStringConvertible {
    /// Operations completed (their final completion processed).
    public var operationsCompleted: Int
    /// `io_uring_enter` calls made by the ring thread (submissions and waits); for the
    /// thread pool, the blocking system calls made.
    public var systemCalls: Int
    /// Times another thread woke the sleeping ring thread (a write to its wake-up pipe), or
    /// woke the pool's poller.
    public var wakeUps: Int
    /// Operations handed over from threads other than the ring thread (through the inbox).
    public var remoteSubmissions: Int
    /// Swift jobs the ring thread ran.
    public var jobsRun: Int

    /// A readable description.
    public var description: String {
      "completed \(operationsCompleted), syscalls \(systemCalls), wake-ups \(wakeUps), remote submissions \(remoteSubmissions), jobs \(jobsRun)"
    }
  }

  /// The engine's kind.
  public let kind: Kind
  /// Why this engine is a thread-pool engine; `nil` for an io_uring engine.
  public let fallbackReason: FallbackReason?
  /// The configuration the engine was created with.
  public let configuration: Configuration
  /// A one-line summary: the kind, its sizes and (io_uring) setup flags, or the fallback reason.
  public let description: String

  internal enum Backend {
    case ring(RingBackend)
    case pool(PoolBackend)
  }
  internal let backend: Backend
  /// The fixed-buffer table registered with ``registerFixedBuffers(count:size:alignment:)``
  /// (FixedBuffers.swift), kept alive as long as the engine.
  internal let fixedBufferTable = Mutex<AnyObject?>(nil)
  /// Set when ``shutdown()`` starts: reads that would complete inline
  /// (``Configuration/completesReadyReadsInline``) go to the engine, which refuses them.
  private let stopping = Atomic<Bool>(false)
  /// Whether an operation may still complete on its caller's thread (not shutting down).
  @inline(__always)
  internal var acceptsInlineWork: Bool { !stopping.load(ordering: .relaxed) }

  /// The process-wide engine, created on first use with the default ``Configuration``
  /// (io_uring when available). It is never shut down.
  ///
  /// If that first use finds no descriptor free (`EMFILE`/`ENFILE`), it is a thread-pool
  /// engine whose poller works without a wake-up pipe (``description`` says so) and stays
  /// so for the process's lifetime. Only a failure to create its threads stops the process.
  public static var `default`: IOEngine { defaultEngine }

  /// Creates and starts an engine.
  ///
  /// - Throws: ``ZeroCopyError`` (operation ``ZeroCopyError/Operation/startEngine``) when
  ///   the preference is ``Configuration/Preference/ioUring`` and io_uring is unavailable or
  ///   the ring cannot be set up, or when a thread cannot be created.
  ///
  /// The corresponding C calls are `io_uring_queue_init_params` (on the ring thread, so that
  /// `IORING_SETUP_SINGLE_ISSUER` names it as the submitter), `pthread_create`, and for the
  /// thread pool `pipe2` (its poller's wake-up pipe; a failure other than `EMFILE`/`ENFILE`
  /// is thrown with that syscall).
  public init(_ configuration: Configuration = Configuration()) throws(ZeroCopyError) {
    precondition(configuration.threadPoolSize >= 1, "IOEngine: threadPoolSize must be at least 1")
    self.configuration = configuration
    var reason: FallbackReason?
    var ring: RingBackend?
    switch configuration.preference {
    case .threadPool:
      reason = .requested
    case .automatic, .ioUring:
      if case .unavailable(let why) = IOURingAvailability.current {
        reason = .unavailable(why)
      } else {
        switch RingBackend.start(configuration) {
        case .success(let backend): ring = backend
        case .failure(.setup(let error)): reason = .setupFailed(error)
        case .failure(.thread(let errno)):
          throw ZeroCopyError(.startEngine, syscall: "pthread_create", errno: errno)
        }
      }
      if configuration.preference == .ioUring, let reason {
        let errno: Errno
        switch reason {
        case .setupFailed(let e): errno = e.errno
        case .unavailable(let why): errno = IOEngine.errno(for: why)
        case .requested: errno = .invalidArgument
        }
        throw ZeroCopyError(.startEngine, syscall: "io_uring_setup", errno: errno, message: reason.description)
      }
    }
    if let ring {
      backend = .ring(ring)
      kind = .ioUring
      fallbackReason = nil
      description = "io_uring engine (\(ring.setupSummary))"
    } else {
      let pool: PoolBackend
      switch PoolBackend.start(configuration) {
      case .success(let p): pool = p
      case .failure(let failure): throw ZeroCopyError(.startEngine, syscall: failure.syscall, errno: failure.errno)
      }
      backend = .pool(pool)
      kind = .threadPool
      fallbackReason = reason
      description =
        "thread-pool engine (\(configuration.threadPoolSize) threads + poller): \(reason!)"
        + (pool.wakePipeFailure.map {
          "; the poller has no wake-up pipe (\($0) at start), so it notices new pipe and socket operations within \(PoolBackend.degradedPollMilliseconds) ms"
        } ?? "")
      IOEngine.logFallbackOnce(reason!, threads: configuration.threadPoolSize)
    }
    if case .ring(let ring) = backend {
      ring.activate(executor: asUnownedTaskExecutor())
    }
  }

  deinit {
    // Nothing references the engine any more (files and sockets hold it): stop its threads
    // without waiting. (shutdown() is the way to wait for them.)
    switch backend {
    case .ring(let ring): ring.requestShutdown(notifying: nil)
    case .pool(let pool): pool.requestShutdown(notifying: nil)
    }
  }

  /// The executor to prefer for tasks that do I/O on this engine:
  /// `withTaskExecutorPreference(engine.preferredTaskExecutor) { … }`. The engine itself for
  /// an io_uring engine; `nil` (no preference) for a thread-pool engine, whose completions
  /// are delivered from pool threads anyway.
  public var preferredTaskExecutor: (any TaskExecutor)? {
    kind == .ioUring ? self : nil
  }

  /// Whether the calling thread is this engine's ring thread (always false for a
  /// thread-pool engine).
  public var isCurrentThread: Bool {
    if case .ring(let ring) = backend { return ring.currentLoop() != nil }
    return false
  }

  /// Enqueues a job to run on the ring thread. From the ring thread itself this appends to
  /// a thread-local queue (no lock, no system call); from other threads it goes through the
  /// inbox and wakes the ring thread if it sleeps. On a thread-pool engine, or after
  /// ``shutdown()``, jobs run on the global concurrent executor.
  public func enqueue(_ job: consuming ExecutorJob) {
    switch backend {
    case .ring(let ring): ring.enqueue(UnownedJob(job))
    case .pool: globalConcurrentExecutor.enqueue(job)
    }
  }

  /// Stops the engine: operations still in flight are cancelled and awaited (their
  /// buffers come back to their callers), new operations fail with `ECANCELED`, and the
  /// threads exit; the ring and its descriptors are closed before this returns. Jobs of
  /// tasks that still prefer this engine run on the global concurrent executor afterwards.
  ///
  /// - Precondition: Not the ``default`` engine, and not called from the engine's own thread.
  public func shutdown() async {
    precondition(self !== IOEngine.defaultEngineIfCreated(), "IOEngine.shutdown: the default engine cannot be shut down")
    stopping.store(true, ordering: .relaxed)
    switch backend {
    case .ring(let ring):
      precondition(ring.currentLoop() == nil, "IOEngine.shutdown: called from the engine's own thread")
      await ring.shutdown()
    case .pool(let pool):
      await pool.shutdown()
    }
  }

  /// A snapshot of the engine's counters.
  public var statistics: Statistics {
    switch backend {
    case .ring(let ring): return ring.statistics
    case .pool(let pool): return pool.statistics
    }
  }

  // MARK: - Internal interface for the I/O types

  /// Hands `op` to the engine. Completion is reported through `op`.
  @inline(__always)
  internal func submit(_ op: Operation) {
    switch backend {
    case .ring(let ring): ring.submit(op)
    case .pool(let pool): pool.submit(op)
    }
  }

  /// Hands several operations over at once (one lock, at most one wake-up).
  internal func submit(batch ops: [Operation]) {
    switch backend {
    case .ring(let ring): ring.submit(batch: ops)
    case .pool(let pool): for op in ops { pool.submit(op) }
    }
  }

  /// Requests cancellation of `op` (any thread). It still completes — usually with
  /// `-ECANCELED` — only once the kernel or the pool thread is done with it.
  internal func cancel(_ op: Operation) {
    op.cancelRequested.store(true, ordering: .relaxed)
    switch backend {
    case .ring(let ring): ring.cancel(op)
    case .pool(let pool): pool.cancel(op)
    }
  }

  /// Cancels every operation in flight on `owner`'s descriptor (its closing bit is set, so
  /// operations not yet started are skipped too).
  internal func cancelOperations(on owner: ManagedDescriptor) {
    switch backend {
    case .ring(let ring): ring.cancelOperations(on: owner)
    case .pool(let pool): pool.cancelOperations(on: owner)
    }
  }

  /// Submits `op` and waits for its final completion; cancelling the task cancels the
  /// operation (and still waits for its final completion).
  ///
  /// - Returns: The result: non-negative, or `-errno`.
  @inline(__always)
  nonisolated(nonsending) internal func run(_ op: Operation) async -> Int32 {
    if op.owner?.kind == .regular && !configuration.interruptsRegularFileOperations {
      // Bounded-time operation: cancellation is honoured up to submission only (see
      // Configuration.interruptsRegularFileOperations), which saves registering and
      // removing a task cancellation record (and two executor checks) per operation.
      if Task.isCancelled { op.cancelRequested.store(true, ordering: .relaxed) }
      submit(op)
      await op.wait()
      return op.result
    }
    await withTaskCancellationHandler {
      submit(op)
      await op.wait()
    } onCancel: {
      self.cancel(op)
      if op.isAbandonable { IOEngine.abandonSoon(op) }
    }
    return op.wasAbandoned ? op.abandonedResult : op.result
  }

  /// How long a cancelled abandonable operation (``Operation/isAbandonable``) may take to
  /// end after its `IORING_OP_ASYNC_CANCEL` before its waiter is resumed without it.
  internal static let abandonGrace: Duration = .milliseconds(20)

  /// Resumes `op`'s waiter after ``abandonGrace`` if the operation has not ended by then
  /// (a read the device is still serving, a SEND_ZC whose pages TCP still holds), trying
  /// again every ``abandonGrace`` while a SEND_ZC's count is not known yet.
  private static func abandonSoon(_ op: Operation) {
    Task.detached {
      while !op.isFinished && !op.wasAbandoned {
        try? await Task.sleep(for: abandonGrace)
        if op.abandon() { return }
      }
    }
  }

  /// Waits for `op`, already submitted, with the same cancellation behaviour as ``run(_:)``.
  nonisolated(nonsending) internal func waitFor(_ op: Operation) async {
    if op.isFinished { return }
    await withTaskCancellationHandler {
      await op.wait()
    } onCancel: {
      self.cancel(op)
    }
  }

  // MARK: - Default engine and logging

  private static let defaultCreated = Atomic<Bool>(false)

  fileprivate static func makeDefault() -> IOEngine {
    let engine: IOEngine
    do {
      engine = try IOEngine(Configuration(name: "zc-default"))
    } catch {
      fatalError("swift-zerocopy: the default IOEngine could not start: \(error)")
    }
    defaultCreated.store(true, ordering: .releasing)
    return engine
  }

  private static func defaultEngineIfCreated() -> IOEngine? {
    defaultCreated.load(ordering: .acquiring) ? defaultEngine : nil
  }

  private static let fallbackLogged = Atomic<Bool>(false)

  /// The errno that made io_uring unavailable (what an engine that insists on io_uring
  /// reports): the kernel's own where there is one (`ENOSYS`, `EPERM`…).
  private static func errno(for reason: IOURingAvailability.Reason) -> Errno {
    switch reason {
    case .disabledByEnvironment: return .canceled
    case .disabledBySysctl: return .notPermitted
    case .notPermitted(let e), .registerRefused(let e), .setupFailed(let e): return e
    case .notImplemented: return .noFunction
    case .outOfMemory: return .noMemory
    }
  }

  private static func logFallbackOnce(_ reason: FallbackReason, threads: Int) {
    guard !fallbackLogged.exchange(true, ordering: .relaxed) else { return }
    let logger = Logger(label: "swift-zerocopy")
    logger.info(
      "using the thread-pool I/O engine (\(threads) threads + poller) instead of io_uring",
      metadata: ["reason": "\(reason)"])
  }
}

/// The process-wide default engine (a global `let`: created once, lazily, thread-safely).
private let defaultEngine = IOEngine.makeDefault()
