// The transfer API: one call for every strategy.

import Glibc
public import SystemPackage

/// What to move: a byte range (or everything) from one descriptor to another.
public struct TransferRequest: Sendable {
  /// Where the bytes come from: a file, pipe or socket. Not closed.
  public var source: FileDescriptor
  /// Where to start reading a file; nil for its current position (which the transfer
  /// then advances, like `read`). Must be nil for pipes and sockets.
  public var sourceOffset: Int64?
  /// How many bytes to move; nil for "until the source ends" — for a regular file, its
  /// size when the transfer starts (a file growing meanwhile is not followed; one that
  /// shrinks gives a report with ``TransferReport/sourceEndedEarly`` set).
  public var count: Int64?
  /// Where the bytes go: a file, pipe or socket. Not closed.
  public var destination: FileDescriptor
  /// Where to start writing a file; nil for its current position (advanced, like
  /// `write`). Ignored for pipes, sockets and `O_APPEND` files.
  public var destinationOffset: Int64?
  /// The source's path, if known, for error messages.
  public var sourcePath: FilePath?
  /// The destination's path, if known, for error messages.
  public var destinationPath: FilePath?

  /// Describes a transfer.
  ///
  /// - Precondition: `sourceOffset`, `count` and `destinationOffset` are not negative.
  public init(
    from source: FileDescriptor, offset sourceOffset: Int64? = nil, count: Int64? = nil,
    to destination: FileDescriptor, at destinationOffset: Int64? = nil,
    sourcePath: FilePath? = nil, destinationPath: FilePath? = nil
  ) {
    precondition(sourceOffset.map { $0 >= 0 } ?? true, "TransferRequest: the source offset must not be negative")
    precondition(count.map { $0 >= 0 } ?? true, "TransferRequest: the count must not be negative")
    precondition(destinationOffset.map { $0 >= 0 } ?? true, "TransferRequest: the destination offset must not be negative")
    self.source = source
    self.sourceOffset = sourceOffset
    self.count = count
    self.destination = destination
    self.destinationOffset = destinationOffset
    self.sourcePath = sourcePath
    self.destinationPath = destinationPath
  }
}

/// How to run a transfer.
public struct TransferOptions: Sendable {
  /// Whether a named strategy that cannot work here (it does not support the endpoints,
  /// or the kernel answers `EXDEV`/`EINVAL`/`ENOSYS`/`EOPNOTSUPP`/`EPERM` before any byte
  /// moved) gives way to `.automatic`'s choices (the default; the report lists the
  /// fallback) instead of failing. Benchmarks turn it off to measure one strategy only.
  public var allowFallback: Bool
  /// The most bytes a strategy moves between two checks for cancellation and progress
  /// updates. - Precondition: > 0. Default 8 MiB.
  public var chunkSize: Int
  /// A monitor to watch progress from elsewhere, or cancel; nil for none.
  public var monitor: TransferMonitor?
  /// The largest async transfer (``Transfer/run(_:strategy:options:)``,
  /// ``PreparedTransfer/run(offset:count:at:strategy:options:)``) that runs on the calling
  /// task's thread instead of hopping to a worker thread: one that cannot wait for a peer —
  /// from a regular file to a regular file, or to a socket whose send buffer has room for
  /// twice the bytes (`SO_MEMINFO`) — through a built-in system-call strategy. The hop (a
  /// thread wake-up and a switch each way) costs several times a small transfer. Such a
  /// transfer may still wait for one read of at most this many bytes from the source's
  /// device (or server, for a network filesystem) when they are not cached. A one-shot
  /// `Transfer.run` without a count always hops (it would need an `fstat` on the caller's
  /// thread to know the size); a prepared one knows its size. 0: always hop (cached
  /// ones too). Larger transfers whose bytes are all cached: ``inlineCachedLimit``.
  /// Between a regular file and a pipe (without a ``monitor``), such a transfer starts on
  /// the task's thread too and hands the rest to a worker where a call would wait for the
  /// pipe's peer: splice and `.automatic` through the caller's end with
  /// `SPLICE_F_NONBLOCK`, the other strategies through the pipe's end opened again
  /// non-blocking (`/proc/self/fd/N`; Docs/Transfer.md).
  /// Default 64 KiB. - Precondition: ≥ 0.
  public var inlineLimit: Int
  /// The largest async transfer that runs on the calling task's thread when, besides the
  /// conditions of ``inlineLimit``, every byte of the source range is in the page cache
  /// now: a read ahead of the transfer finds its last byte readable without waiting
  /// (`preadv2(RWF_NOWAIT)`) and every page present (`cachestat`, Linux 6.5; on older
  /// kernels the last byte stands for the range) — two system calls, about 1 µs. Such a
  /// transfer is a memory copy (about 70–100 µs per MiB here), which the hop to a worker
  /// thread and back made 2–2.4 times slower at 1 MiB (`make bench`, file → file). Its
  /// calls may still wait for the destination's filesystem (dirty-page throttling,
  /// journal). Only for a transfer at an explicit source offset (``TransferRequest/sourceOffset``
  /// not nil). Not consulted at or below ``inlineLimit``, nor when `inlineLimit` is 0;
  /// 0: off. Default 1 MiB.
  /// - Precondition: ≥ 0.
  public var inlineCachedLimit: Int

  /// Options for a transfer.
  public init(
    allowFallback: Bool = true, chunkSize: Int = 8 << 20, monitor: TransferMonitor? = nil, inlineLimit: Int = 64 << 10,
    inlineCachedLimit: Int = 1 << 20
  ) {
    precondition(chunkSize > 0, "TransferOptions: chunkSize must be positive")
    precondition(inlineLimit >= 0, "TransferOptions: inlineLimit must not be negative")
    precondition(inlineCachedLimit >= 0, "TransferOptions: inlineCachedLimit must not be negative")
    self.allowFallback = allowFallback
    self.chunkSize = chunkSize
    self.monitor = monitor
    self.inlineLimit = inlineLimit
    self.inlineCachedLimit = inlineCachedLimit
  }

  /// The largest transfer that may run on the calling task's thread (0: none).
  internal var largestInline: Int { inlineLimit == 0 ? 0 : Swift.max(inlineLimit, inlineCachedLimit) }
}

/// Moves bytes between descriptors with a ``TransferStrategy`` and reports what it did.
///
/// ```swift
/// import SystemPackage
/// import ZeroCopy
///
/// // Copy like cp: the library picks the path and says what it did.
/// let report = try await Transfer.copy(from: "big.log", to: "backup/big.log")
/// print(report.strategy, report.bytes, report.fallbacks)   // splice 1073741824 [] (ext4; copyFileRange on XFS/Btrfs)
///
/// // A file range straight into a socket, by a named strategy.
/// let log = try FileDescriptor.open("big.log", .readOnly)
/// let socket = try await AsyncSocket.connect(to: .loopback(port: 9000))
/// try await Transfer.send(file: log, range: 4096..<8192, to: socket.descriptor, strategy: .splice)
/// ```
///
/// The async calls run the (blocking) strategy on a small pool of worker threads, off
/// Swift's cooperative pool — or, for a transfer of at most ``TransferOptions/inlineLimit``
/// bytes (``TransferOptions/inlineCachedLimit`` when its source is all cached) that cannot
/// wait for a peer, on the calling task's thread (the hop costs more than such a transfer);
/// a small transfer between a file and a pipe starts there and hands a worker only what
/// would wait for the pipe's peer — and return when the last byte is delivered. Cancelling
/// the task stops the transfer at the next chunk boundary (8 MiB by default) with an
/// `ECANCELED` error that says how many bytes were delivered. ``runBlocking(_:strategy:options:)``
/// runs on the calling thread instead.
public enum Transfer {
  /// Moves the bytes `request` describes with `strategy`.
  ///
  /// - Parameters:
  ///   - request: Source, destination, offsets and count.
  ///   - strategy: `.automatic` (the default), a built-in (`.sendfile`, `.splice`…), a
  ///     registered one (`TransferStrategies.named("…")`), or your own.
  ///   - options: Fallback, chunk size, monitor.
  /// - Returns: The report: the strategy that moved the bytes, bytes, syscalls, elapsed
  ///   time, fallbacks. A source that ended before `count` bytes (or, without a count,
  ///   before the file's size when the transfer started: it was truncated meanwhile) is not
  ///   an error: the report's ``TransferReport/sourceEndedEarly`` says so, and `bytes` is
  ///   exactly what reached the destination.
  /// - Throws: `EINVAL` before moving anything when source and destination are the same
  ///   file (same device and inode, e.g. a hard link) at overlapping ranges.
  /// - Throws: ``ZeroCopyError`` (operation `transfer`): the system call and errno that
  ///   stopped it, and in `bytesTransferred` the bytes that reached the destination;
  ///   `ECANCELED` when cancelled; `EOPNOTSUPP` when no strategy can handle the endpoints.
  ///
  /// The system calls are those of the strategy that runs (see each strategy), after the
  /// endpoints' inspection; a transfer of at most ``TransferOptions/inlineLimit`` bytes that
  /// cannot wait for a peer runs them on the calling task's thread (see there).
  public static func run(
    _ request: TransferRequest, strategy: some TransferStrategy = .automatic, options: TransferOptions = TransferOptions()
  ) async throws(ZeroCopyError) -> TransferReport {
    // Only a transfer that may run inline is inspected here: `fstat` of a file on a network
    // filesystem can wait for its server, and a larger (or count-less) transfer waits on a
    // worker thread, where cancellation can abandon it, as before.
    guard let count = request.count, count <= Int64(options.largestInline) else {
      return try await offloaded(options) { options throws(ZeroCopyError) in
        try perform(request, strategy: strategy, options: options, operation: .transfer)
      }
    }
    let endpoints = try inspect(request, operation: .transfer)
    return try await runAsync(request, endpoints: endpoints, strategy: strategy, options: options)
  }

  /// Moves the bytes `request` describes with `strategy` on the calling thread, blocking
  /// it until the last byte is delivered (or ``TransferMonitor/cancel()`` is called).
  ///
  /// The same as ``run(_:strategy:options:)`` without the hop to a worker thread: for
  /// callers that own a thread, and for benchmarks that measure the strategy alone.
  ///
  /// - Throws: ``ZeroCopyError``, as ``run(_:strategy:options:)``.
  public static func runBlocking(
    _ request: TransferRequest, strategy: some TransferStrategy = .automatic, options: TransferOptions = TransferOptions()
  ) throws(ZeroCopyError) -> TransferReport {
    try perform(request, strategy: strategy, options: options, operation: .transfer)
  }

  /// Sends `range` of an open file (the whole file by default) to `destination`: a
  /// socket, pipe or file. The file's position is not used or changed.
  ///
  /// - Parameters:
  ///   - file: An open regular file (or any readable descriptor when `range` is nil).
  ///   - range: Byte offsets in the file; nil for all of it (until its end).
  ///     - Precondition: `range.lowerBound >= 0`.
  ///   - destination: A socket, pipe or file (written at its current position).
  ///   - strategy: The strategy (`.automatic` by default).
  ///   - options: Fallback, chunk size, monitor.
  /// - Returns: The report. If the file is shorter than `range`, `sourceEndedEarly` is set.
  /// - Throws: ``ZeroCopyError`` (operation `transfer`) with the bytes that reached the destination.
  public static func send(
    file: FileDescriptor, range: Range<Int64>? = nil, to destination: FileDescriptor,
    strategy: some TransferStrategy = .automatic, options: TransferOptions = TransferOptions()
  ) async throws(ZeroCopyError) -> TransferReport {
    precondition((range?.lowerBound ?? 0) >= 0, "Transfer.send: the range must not start at a negative offset")
    let request = TransferRequest(
      from: file, offset: range?.lowerBound ?? 0, count: range.map { $0.upperBound - $0.lowerBound }, to: destination)
    return try await run(request, strategy: strategy, options: options)
  }

  // MARK: - Internals

  /// Inspects both ends of `request` (`TransferEndpoint.inspect`).
  ///
  /// - Throws: ``ZeroCopyError`` with `operation`.
  internal static func inspect(
    _ request: TransferRequest, operation: ZeroCopyError.Operation
  ) throws(ZeroCopyError) -> EndpointPair {
    do {
      return EndpointPair(
        source: try TransferEndpoint.inspect(request.source, path: request.sourcePath),
        destination: try TransferEndpoint.inspect(request.destination, path: request.destinationPath))
    } catch var error {
      error.operation = operation
      throw error
    }
  }

  /// The async transfer of already inspected endpoints: on the calling task's thread when
  /// ``runsInline(_:endpoints:strategy:options:)`` says it cannot wait for a peer, else on a
  /// worker thread (``offloaded(_:operation:_:)``).
  internal static func runAsync(
    _ request: TransferRequest, endpoints: EndpointPair, strategy: some TransferStrategy, options: TransferOptions,
    plans: AutomaticPlanCache? = nil
  ) async throws(ZeroCopyError) -> TransferReport {
    if runsInline(request, endpoints: endpoints, strategy: strategy, options: options) {
      if Task.isCancelled { throw cancelledBeforeStart(request) }
      return try perform(
        request, strategy: strategy, options: options, operation: .transfer, endpoints: endpoints, plans: plans)
    }
    if let attempt = nonBlockingAttempt(request, endpoints: endpoints, strategy: strategy, options: options) {
      return try await runUntilBlocked(
        request, attempt: attempt, endpoints: endpoints, strategy: strategy, options: options, plans: plans)
    }
    return try await offloaded(options) { options throws(ZeroCopyError) in
      try perform(request, strategy: strategy, options: options, operation: .transfer, endpoints: endpoints, plans: plans)
    }
  }

  /// The error of an async transfer whose task was cancelled before it started.
  private static func cancelledBeforeStart(_ request: TransferRequest) -> ZeroCopyError {
    ZeroCopyError(
      .transfer, syscall: "cancellation", errno: .canceled,
      paths: [request.sourcePath, request.destinationPath].compactMap { $0 },
      descriptors: [request.source, request.destination], bytesTransferred: 0,
      message: "the transfer was cancelled before it started")
  }

  /// Whether a strategy's calls are known: `.automatic` and the built-in system-call
  /// strategies (readWrite, sendfile, splice, copyFileRange, mmapWrite) — not O_DIRECT
  /// reads, which always wait for the device, nor rings, nor strategies whose calls are
  /// not known. Metatype comparisons (pointer compares), not six `is` casts.
  private static func callsAreKnown<S: TransferStrategy>(_ strategy: S.Type) -> Bool {
    strategy == AutomaticStrategy.self || strategy == ReadWriteStrategy.self || strategy == SendfileStrategy.self
      || strategy == SpliceStrategy.self || strategy == CopyFileRangeStrategy.self || strategy == MmapWriteStrategy.self
  }

  /// An inline attempt between a regular file and a pipe
  /// (``runUntilBlocked(_:attempt:endpoints:strategy:options:plans:)``): the endpoints it
  /// runs on, the descriptor to close afterwards, and how its calls avoid waiting.
  internal struct InlineAttempt {
    /// The endpoints: the caller's, or the pipe's end opened again non-blocking.
    var pair: EndpointPair
    /// The reopened pipe end to close afterwards (nil: the caller's ends are used).
    var reopened: FileDescriptor?
    /// The pipe end's description is blocking and was not reopened: the attempt runs
    /// splice with `SPLICE_F_NONBLOCK` on every call (``StopSignal/perCallNonBlocking``).
    var perCallNonBlocking: Bool
  }

  /// The inline attempt of an async transfer between a regular file and a pipe, or nil
  /// when the transfer is not one: more than ``TransferOptions/inlineLimit`` bytes or an
  /// unknown count, a strategy whose calls are not known, or a monitor (whose progress
  /// one context reports). How its calls avoid waiting for the pipe's peer:
  /// - a pipe end that is non-blocking already: as it is;
  /// - `.splice` or `.automatic`: the caller's blocking end, with `SPLICE_F_NONBLOCK` on
  ///   every call (`.automatic` runs splice there; no descriptor is made);
  /// - the other strategies (sendfile, readWrite, mmapWrite: calls without a per-call
  ///   flag that works on every pipe — `RWF_NOWAIT` does not, Docs/LinuxFacts.md): the
  ///   pipe's end opened again non-blocking (`open("/proc/self/fd/N")`, about 4 µs); nil
  ///   when it cannot be (`ENXIO`, no `/proc`, another user's pipe) or is packet-mode
  ///   (`O_DIRECT`: the reopened description would not write packets).
  internal static func nonBlockingAttempt<S: TransferStrategy>(
    _ request: TransferRequest, endpoints: EndpointPair, strategy: S, options: TransferOptions
  ) -> InlineAttempt? {
    guard options.inlineLimit > 0, options.monitor == nil, callsAreKnown(S.self) else { return nil }
    let source = endpoints.source
    let destination = endpoints.destination
    let fromFile = source.kind == .file && destination.kind == .pipe
    let toFile = source.kind == .pipe && destination.kind == .file
    guard fromFile || toFile else { return nil }
    let bytes = request.count ?? (fromFile ? source.size.map { Swift.max(0, $0 - (request.sourceOffset ?? 0)) } : nil)
    guard let bytes, bytes <= Int64(options.inlineLimit) else { return nil }
    let pipe = fromFile ? destination : source
    if pipe.facts.isNonBlocking {
      return InlineAttempt(pair: endpoints, reopened: nil, perCallNonBlocking: false)
    }
    if S.self == SpliceStrategy.self || S.self == AutomaticStrategy.self,
      case .supported = SpliceStrategy().support(for: endpoints)
    {
      return InlineAttempt(pair: endpoints, reopened: nil, perCallNonBlocking: true)
    }
    guard (try? pipe.descriptor.isDirectIO()) == false,
      let descriptor = try? pipe.descriptor.reopen(fromFile ? .writeOnly : .readOnly, options: [.nonBlocking])
    else { return nil }
    var facts = pipe.facts
    facts.isNonBlocking = true
    let end = TransferEndpoint(descriptor: descriptor, facts: facts, path: pipe.path)
    let pair = fromFile ? EndpointPair(source: source, destination: end) : EndpointPair(source: end, destination: destination)
    return InlineAttempt(pair: pair, reopened: descriptor, perCallNonBlocking: false)
  }

  /// Runs a transfer between a regular file and a pipe on the calling task's thread
  /// (``nonBlockingAttempt(_:endpoints:strategy:options:)``), up to the first call that
  /// would wait for the pipe's peer (a full pipe, an empty one); a worker thread moves the
  /// rest through the caller's descriptors, as a hop would have moved all of it. One
  /// report for both parts. An attempt with per-call flags that fails before moving a
  /// byte (a file splice cannot read, say) leaves the whole transfer to the worker, where
  /// the strategy's fallbacks may run.
  private static func runUntilBlocked<S: TransferStrategy>(
    _ request: TransferRequest, attempt: InlineAttempt, endpoints: EndpointPair,
    strategy: S, options: TransferOptions, plans: AutomaticPlanCache?
  ) async throws(ZeroCopyError) -> TransferReport {
    let clock = ContinuousClock()
    let start = clock.now
    // Nil: the attempt moved nothing and leaves everything to the worker.
    let first: TransferReport?
    let stop = StopSignal(perCallNonBlocking: attempt.perCallNonBlocking)
    do throws(ZeroCopyError) {
      defer { try? attempt.reopened?.close() }
      if Task.isCancelled { throw cancelledBeforeStart(request) }
      // Not the prepared pair's plan cache: its plans were made for the caller's ends
      // (and, with per-call flags, the attempt runs splice only).
      first = try perform(
        request, strategy: strategy, options: options, operation: .transfer, endpoints: attempt.pair,
        stopSignal: stop)
    } catch var error {
      if attempt.perCallNonBlocking && error.bytesTransferred == 0 && error.errno != .canceled {
        // Nothing moved: the worker runs all of it, with the strategy's fallbacks.
        first = nil
      } else {
        // Name the caller's descriptor, not the temporary one.
        if let reopened = attempt.reopened {
          error.descriptors = error.descriptors.map {
            $0 == reopened ? (attempt.pair.source.descriptor == reopened ? request.source : request.destination) : $0
          }
        }
        throw error
      }
    }
    if let first, !stop.stopped { return first }
    // The rest, on a worker: offsets advanced past what moved (a position-relative file
    // end was advanced by `perform` already).
    let moved = first?.bytes ?? 0
    var rest = request
    if let offset = request.sourceOffset { rest.sourceOffset = offset + moved }
    if let offset = request.destinationOffset { rest.destinationOffset = offset + moved }
    if let count = request.count { rest.count = count - moved }
    let remaining = rest
    let second: TransferReport
    do throws(ZeroCopyError) {
      second = try await offloaded(options) { options throws(ZeroCopyError) in
        try perform(remaining, strategy: strategy, options: options, operation: .transfer, endpoints: endpoints, plans: plans)
      }
    } catch var error {
      error.bytesTransferred += moved
      throw error
    }
    guard let first, moved > 0 else { return second }
    var report = second
    report.bytes += moved
    report.requestedBytes = request.count
    report.syscalls += first.syscalls
    // A refusal both parts met (the named strategy refused again) is listed once.
    report.fallbacks = first.fallbacks + second.fallbacks.filter { !first.fallbacks.contains($0) }
    report.notes = first.notes + second.notes
    if first.strategy != second.strategy {
      report.notes.append(
        "the first \(moved) bytes moved with \(first.strategy) on the calling thread, the rest with \(second.strategy) on a worker thread"
      )
    }
    report.elapsed = clock.now - start
    return report
  }

  /// Whether an async transfer runs on the calling task's thread: at most
  /// ``TransferOptions/inlineLimit`` bytes (a known count, or what is left of a regular
  /// file) — or at most ``TransferOptions/inlineCachedLimit`` bytes all in the page cache —
  /// from a regular file, to a regular file or to a socket whose send buffer has
  /// room for twice that (so no call waits for the peer), through built-in system-call
  /// strategies only (`.automatic`, readWrite, sendfile, splice, copyFileRange, mmapWrite:
  /// not O_DIRECT reads, which always wait for the device, nor rings, nor strategies whose
  /// calls are not known). Costs one `getsockopt(SO_MEMINFO)` for a socket, and a
  /// `preadv2(RWF_NOWAIT)` and a `cachestat` above `inlineLimit`.
  internal static func runsInline<S: TransferStrategy>(
    _ request: TransferRequest, endpoints: EndpointPair, strategy: S, options: TransferOptions
  ) -> Bool {
    guard options.largestInline > 0, endpoints.source.kind == .file else { return false }
    let bytes =
      request.count
      ?? endpoints.source.size.map { Swift.max(0, $0 - (request.sourceOffset ?? 0)) }
    guard let bytes, bytes <= Int64(options.largestInline) else { return false }
    guard callsAreKnown(S.self) else { return false }
    switch endpoints.destination.kind {
    case .file:
      break
    case .tcpSocket, .unixSocket:
      // The same margin FileServer uses: the kernel's per-buffer overhead, and room for
      // twice the bytes so a send is never short.
      guard let memory = try? endpoints.destination.descriptor.socketMemory() else { return false }
      let room = (memory.sendBufferLimit - memory.sendQueued) * 7 / 8 - 2048
      guard Int64(room) >= 2 * bytes + 4096 else { return false }
    default:
      return false
    }
    // Larger than inlineLimit: only a source range that is all in memory now (checked
    // last, after the cheaper conditions). An O_DIRECT source fails the one-byte probe
    // (EINVAL): it hops.
    guard bytes > Int64(options.inlineLimit) else { return true }
    guard let offset = request.sourceOffset else { return false }
    return (try? endpoints.source.descriptor.isRangeReadable(offset: offset, length: bytes, thorough: false)) == true
  }

  /// Runs `body` on a ``BlockingWorkers`` thread; cancelling the task cancels the transfer
  /// (its monitor), and one still queued behind busy workers ends at once with `ECANCELED`
  /// and 0 bytes.
  internal static func offloaded(
    _ options: TransferOptions, operation: ZeroCopyError.Operation = .transfer,
    _ body: @escaping @Sendable (TransferOptions) throws(ZeroCopyError) -> TransferReport
  ) async throws(ZeroCopyError) -> TransferReport {
    var options = options
    let monitor = options.monitor ?? TransferMonitor()
    options.monitor = monitor
    if Task.isCancelled { monitor.cancel() }
    let configured = options
    let result = await BlockingWorkers.shared.run(
      { () -> Result<TransferReport, ZeroCopyError> in
        do throws(ZeroCopyError) {
          return .success(try body(configured))
        } catch {
          return .failure(error)
        }
      },
      onCancel: { () -> Result<TransferReport, ZeroCopyError>? in
        monitor.cancel()
        return monitor.abandon().map { .failure($0) }
      },
      withdrawn: {
        .failure(
          ZeroCopyError(
            operation, syscall: "cancellation", errno: .canceled, bytesTransferred: 0,
            message: "the transfer was cancelled before a worker thread took it"))
      })
    return try result.get()
  }

  /// The synchronous core: inspects the endpoints (unless `endpoints` were inspected
  /// before: a ``PreparedTransfer``), resolves offsets, runs the strategy (with fallbacks
  /// unless disabled), advances file positions, and builds the report. `plans`: a prepared
  /// pair's cache of `.automatic`'s plans (``AutomaticPlanCache``).
  /// `setsExpectedBytes: false` leaves the monitor's total alone (a copy made of several
  /// transfers, one per data segment of a sparse file, sets it once for all).
  internal static func perform<S: TransferStrategy>(
    _ request: TransferRequest, strategy: S, options: TransferOptions,
    operation: ZeroCopyError.Operation, setsExpectedBytes: Bool = true, endpoints: EndpointPair? = nil,
    plans: AutomaticPlanCache? = nil, stopSignal: StopSignal? = nil
  ) throws(ZeroCopyError) -> TransferReport {
    let clock = ContinuousClock()
    let start = clock.now
    // A metatype comparison (a pointer compare), not a dynamic cast: this function is not
    // specialized for a caller's strategy type, and `as?` would call the runtime's cast.
    let automatic: AutomaticStrategy? =
      S.self == AutomaticStrategy.self ? unsafeBitCast(strategy, to: AutomaticStrategy.self) : nil
    // Without a monitor nobody can watch or cancel this transfer: no monitor is made and
    // no cancellation scope entered (an allocation and a scope per call saved).
    let monitor = options.monitor

    func fail(_ syscall: String, _ errno: Errno, _ message: String? = nil) -> ZeroCopyError {
      ZeroCopyError(
        operation, syscall: syscall, errno: errno,
        paths: [request.sourcePath, request.destinationPath].compactMap { $0 },
        descriptors: [request.source, request.destination], message: message)
    }

    // Inspected by the caller (a PreparedTransfer reads a file source's size again for a
    // request without a count), or now. One pair, read in place: copying its endpoints out
    // and pairing them again cost two copies of each per transfer.
    let pair: EndpointPair
    if let endpoints {
      pair = endpoints
    } else {
      pair = try inspect(request, operation: operation)
    }
    let source = pair.source.facts
    let destination = pair.destination.facts
    if source.kind == .directory { throw fail("read", .isDirectory, "the source is a directory") }
    if destination.kind == .directory { throw fail("write", .isDirectory, "the destination is a directory") }
    if !source.kind.isSeekable && request.sourceOffset != nil {
      throw fail("lseek", .illegalSeek, "a \(source.kind) source has no offsets")
    }

    // Resolve offsets: files are read and written at explicit offsets; a nil offset
    // means "the current position", which is read now and advanced at the end.
    var sourceOffset = request.sourceOffset
    var sourceUsesPosition = false
    if source.kind.isSeekable && sourceOffset == nil {
      do {
        sourceOffset = try request.source.position()
      } catch {
        throw fail("lseek", error)
      }
      sourceUsesPosition = true
    }
    var destinationOffset: Int64? = nil
    var destinationUsesPosition = false
    if destination.kind.isSeekable && !destination.isAppendOnly {
      if let offset = request.destinationOffset {
        destinationOffset = offset
      } else {
        do {
          destinationOffset = try request.destination.position()
        } catch {
          throw fail("lseek", error)
        }
        destinationUsesPosition = true
      }
    }
    let expected = request.count ?? source.size.map { Swift.max(0, $0 - (sourceOffset ?? 0)) }
    if setsExpectedBytes { monitor?.setExpected(expected) }
    // "Until the end" of a regular file means its size now (the snapshot `fstat` just
    // read): a file that grows meanwhile is not chased, and one that shrinks is reported
    // as `sourceEndedEarly` with the exact bytes delivered.
    let requested = source.kind == .file ? expected : request.count
    // The same file at overlapping ranges would read bytes it has just overwritten (or
    // truncated): refused before any byte moves, as copy_file_range(2) does (EINVAL).
    if pair.isSameFile, let sourceStart = sourceOffset, let destinationStart = destinationOffset {
      let length = requested ?? Int64.max / 4
      if length > 0 && sourceStart < destinationStart + length && destinationStart < sourceStart + length {
        throw fail(
          "fstat", .invalidArgument,
          "source and destination are the same file (device \(source.device), inode \(source.inode)) at overlapping ranges")
      }
    }

    var context = TransferContext(
      pair: pair, sourceOffset: sourceOffset, destinationOffset: destinationOffset, requestedBytes: requested,
      chunkSize: options.chunkSize, monitor: monitor, operation: operation)
    // A cancelled async transfer may return while a read that delivers nothing is still
    // waiting for the device (TransferMonitor.abandon) — unless the request uses file
    // positions, which are advanced at the end, on this thread.
    context.mayAbandonWaits = !sourceUsesPosition && !destinationUsesPosition
    context.destinationStartsAtPosition = destinationUsesPosition
    context.stopSignal = stopSignal

    func advancePositions(_ bytes: Int64) {
      if sourceUsesPosition, let start = sourceOffset { try? request.source.setPosition(start + bytes) }
      if destinationUsesPosition, let start = destinationOffset { try? request.destination.setPosition(start + bytes) }
    }

    let outcome: StrategyOutcome
    do throws(ZeroCopyError) {
      // The strategy runs in the monitor's cancellation scope: its "all" calls stop at
      // cancel(), and a call blocked on a peer is interrupted (TransferMonitor).
      func body(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
        // `monitor` directly: a method call on the inout context copied all of it.
        if let monitor, monitor.isCancelled { try context.checkCancellation() }
        if let stopSignal, stopSignal.perCallNonBlocking {
          // An inline attempt on the caller's blocking pipe end: only splice can be told
          // per call not to wait (`.automatic` runs it; nothing falls back to a call that
          // would block this thread). `nonBlockingAttempt` allows only these two.
          precondition(
            automatic != nil || S.self == SpliceStrategy.self, "per-call non-blocking attempt of \(strategy.name)")
          let splice = SpliceStrategy()
          context.strategyName = splice.name
          let result = try splice.transfer(&context)
          if case .unsupported(let reason, let errno, let syscall) = result {
            throw context.error(
              syscall: syscall ?? "none", errno: errno ?? .notSupported, message: "strategy \(splice.name): \(reason)")
          }
          return result
        }
        if let automatic {
          // `.automatic` always falls back: its candidates run in this context's attempts
          // directly (no context nested for the automatic strategy itself).
          let candidates =
            plans?.strategies(automatic, for: pair, bytes: expected) ?? automatic.plan(for: pair, bytes: expected)
          return try context.transfer(tryingInOrder: candidates)
        }
        if options.allowFallback {
          // `.automatic`'s candidates are planned only if the named strategy gives way.
          return try context.transfer(trying: strategy) { () -> [any TransferStrategy] in
            let fallback = AutomaticStrategy()
            let plan = plans?.strategies(fallback, for: pair, bytes: expected) ?? fallback.plan(for: pair, bytes: expected)
            return plan.filter { $0.name != strategy.name }
          }
        }
        if case .unsupported(let reason) = strategy.support(for: pair) {
          throw context.error(
            syscall: "none", errno: .notSupported, message: "strategy \(strategy.name) does not support \(pair): \(reason)")
        }
        let result = try strategy.transfer(&context)
        if case .unsupported(let reason, let errno, let syscall) = result {
          throw context.error(
            syscall: syscall ?? "none", errno: errno ?? .notSupported, message: "strategy \(strategy.name): \(reason)")
        }
        if context.strategyName == nil { context.strategyName = strategy.name }
        return result
      }
      if let monitor {
        outcome = try monitor.cancellationToken.withCancellation { () throws(ZeroCopyError) -> StrategyOutcome in
          try body(&context)
        }
      } else {
        outcome = try body(&context)
      }
    } catch var error {
      advancePositions(context.bytesTransferred)
      if let stopSignal, stopSignal.stopped, error.errno == .resourceTemporarilyUnavailable {
        // An inline attempt stopped where a call would wait for the pipe's peer: what moved
        // so far, for the caller (who reads `stopSignal`) to hand the rest to a worker thread.
        return TransferReport(
          strategy: context.strategyName ?? strategy.name, requestedStrategy: strategy.name,
          bytes: context.bytesTransferred, requestedBytes: request.count, sourceEndedEarly: false,
          syscalls: context.syscalls, elapsed: clock.now - start, fallbacks: context.fallbacks, notes: context.notes,
          sourceKind: source.kind, destinationKind: destination.kind)
      }
      error.bytesTransferred = context.bytesTransferred
      let ran = context.strategyName ?? strategy.name
      error.strategy = ran
      error.message = [error.message, "strategy \(ran)"].compactMap { $0 }.joined(separator: "; ")
      throw error
    }
    advancePositions(context.bytesTransferred)
    let bytes = context.bytesTransferred
    // The profile the automatic choice decided with (a rejected profile file's note too).
    let decidedWith =
      automatic ?? (options.allowFallback && !context.fallbacks.isEmpty ? AutomaticStrategy() : nil)
    var notes = context.notes
    if let note = decidedWith?.profileNote { notes.append(note) }
    return TransferReport(
      strategy: context.strategyName ?? strategy.name, requestedStrategy: strategy.name, bytes: bytes,
      requestedBytes: request.count,
      sourceEndedEarly: outcome == .sourceEnded && requested.map { bytes < $0 } == true,
      syscalls: context.syscalls, elapsed: clock.now - start, fallbacks: context.fallbacks, notes: notes,
      sourceKind: source.kind, destinationKind: destination.kind, profile: decidedWith?.profileName)
  }
}
