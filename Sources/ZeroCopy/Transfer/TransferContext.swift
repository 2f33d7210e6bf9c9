// What a strategy is asked to do, and where it records what it did.

import Glibc
public import LinuxIO
public import SystemPackage

/// The state of one transfer as a strategy sees it: the two endpoints, where to read and
/// write next, how much is left, and the running totals (bytes delivered, syscalls made)
/// that become the ``TransferReport`` — or a failure's byte count.
///
/// A strategy receives it `inout`, moves bytes, and calls ``record(bytes:syscalls:)``
/// (or lets ``transferChunks(syscall:chunkLimit:_:)`` do it). The offsets and
/// ``remainingBytes`` advance with every recorded byte.
public struct TransferContext: Sendable {
  /// The two endpoints.
  public let pair: EndpointPair
  /// Where the transfer started reading (nil: the source is a stream).
  public let startSourceOffset: Int64?
  /// Where the transfer started writing (nil: the destination is a stream or append-only).
  public let startDestinationOffset: Int64?
  /// The bytes asked for, or nil for "until the source ends".
  public let requestedBytes: Int64?
  /// Bytes delivered to the destination so far, by this strategy run.
  public private(set) var bytesTransferred: Int64 = 0
  /// Data-path system calls made so far (each `read`, `write`, `sendfile`, `splice` leg,
  /// `copy_file_range`, `mmap`/`munmap`, `ioctl`, `io_uring_enter`…).
  public private(set) var syscalls: Int = 0
  /// The largest piece a strategy should move between two cancellation checks
  /// (``TransferOptions/chunkSize``; 8 MiB by default).
  public let chunkSize: Int
  /// Every strategy that was tried and abandoned before the bytes moved, in order.
  public internal(set) var fallbacks: [TransferReport.Fallback] = []
  /// Remarks a strategy wants in the report ("SEND_ZC: 12 of 12 sends were copied").
  public internal(set) var notes: [String] = []

  /// The name of the strategy that actually moved the bytes, once known.
  internal var strategyName: String?
  /// The caller's monitor, or nil when nobody can watch or cancel this transfer (a
  /// `runBlocking` without one): then no progress is published and no cancellation
  /// scope is entered.
  internal let monitor: TransferMonitor?
  internal let operation: ZeroCopyError.Operation
  /// Whether ``prefetchSource(_:)`` reads the pieces of a file source into the page cache
  /// first: for a transfer of more than ``prefetchThreshold`` bytes, unless the strategy
  /// turns it off (`copy_file_range` on filesystems that share extents or copy on the
  /// server, where the data need not be read at all).
  internal var prefetchesSource: Bool
  /// The size above which a transfer's file source is read ahead: 256 KiB. Below it the
  /// two extra system calls per piece would cost more than a small transfer itself.
  internal static let prefetchThreshold: Int64 = 256 << 10
  /// Whether ``prefetchSource(_:)`` has started a readahead of the source (some of it was
  /// not cached): from then on it checks readiness thoroughly.
  private var sourceReadsAhead = false
  /// Whether ``abandonableWait(_:)`` may let a cancelled async caller return before the
  /// wait ends (not when the transfer advances file positions at its end).
  internal var mayAbandonWaits = false
  /// Set for an async transfer's attempt on the caller's thread through a non-blocking
  /// pipe end, whose rest a worker thread moves (``Transfer/runAsync``):
  /// ``waitUntilReady()`` then marks it stopped and throws `EAGAIN` instead of waiting.
  /// Shared with every attempt made from this context (``makeAttempt()``).
  internal var stopSignal: StopSignal? = nil
  /// Whether the destination's file position is where this transfer starts writing
  /// (``startDestinationOffset``: a request without a destination offset, whose position
  /// `Transfer` read and advances at the end). While nothing has been delivered, a
  /// strategy that writes at the position (sendfile) needs no `lseek` to get there, nor
  /// one to put it back. Not carried into a separate attempt (``makeAttempt()``), which
  /// starts where earlier bytes left off, not at the position.
  internal var destinationStartsAtPosition = false
  /// Whether a strategy may write at the destination's file position instead of at
  /// ``destinationOffset`` explicitly: the position is there (see
  /// ``destinationStartsAtPosition``) and nothing has been delivered yet.
  internal var destinationIsAtPosition: Bool { destinationStartsAtPosition && bytesTransferred == 0 }

  internal init(
    pair: EndpointPair, sourceOffset: Int64?, destinationOffset: Int64?, requestedBytes: Int64?,
    chunkSize: Int, monitor: TransferMonitor?, operation: ZeroCopyError.Operation, prefetches: Bool? = nil
  ) {
    self.pair = pair
    self.startSourceOffset = sourceOffset
    self.startDestinationOffset = destinationOffset
    self.requestedBytes = requestedBytes
    self.chunkSize = chunkSize
    self.monitor = monitor
    self.operation = operation
    let size = requestedBytes ?? pair.source.size.map { $0 - (sourceOffset ?? 0) } ?? Int64.max
    self.prefetchesSource = prefetches ?? (pair.source.isMappable && size > TransferContext.prefetchThreshold)
  }

  /// The source endpoint.
  public var source: TransferEndpoint { pair.source }
  /// The destination endpoint.
  public var destination: TransferEndpoint { pair.destination }

  /// Where to read next: `startSourceOffset + bytesTransferred`, or nil for a stream.
  public var sourceOffset: Int64? { startSourceOffset.map { $0 + bytesTransferred } }
  /// Where to write next: `startDestinationOffset + bytesTransferred`, or nil for a stream.
  public var destinationOffset: Int64? { startDestinationOffset.map { $0 + bytesTransferred } }
  /// Bytes still to move, or nil for "until the source ends".
  public var remainingBytes: Int64? { requestedBytes.map { $0 - bytesTransferred } }
  /// Whether every requested byte has been delivered (never true for "until the end").
  public var isFinished: Bool { remainingBytes == 0 }

  /// The size of the next piece to move: the smallest of ``remainingBytes``,
  /// ``chunkSize`` and `limit`; nil when nothing is left.
  public func nextChunk(limit: Int? = nil) -> Int? {
    Self.chunk(chunkSize, limit: limit, remaining: remainingBytes)
  }

  /// ``nextChunk(limit:)`` of a context with this chunk size and remaining byte count.
  private static func chunk(_ chunkSize: Int, limit: Int?, remaining: Int64?) -> Int? {
    var n = chunkSize
    if let limit { n = Swift.min(n, limit) }
    if let remaining {
      if remaining <= 0 { return nil }
      n = Int(Swift.min(Int64(n), remaining))
    }
    return Swift.max(n, 1)
  }

  /// Records bytes delivered to the destination and the system calls that moved them;
  /// advances the offsets and the progress that ``TransferMonitor`` shows.
  ///
  /// - Precondition: `bytes >= 0`, `syscalls >= 0`, and no more than ``remainingBytes``.
  public mutating func record(bytes: Int64, syscalls: Int) {
    precondition(bytes >= 0 && syscalls >= 0, "TransferContext.record: negative count")
    if let remaining = remainingBytes {
      precondition(bytes <= remaining, "TransferContext.record: \(bytes) bytes exceed the \(remaining) remaining")
    }
    bytesTransferred += bytes
    self.syscalls += syscalls
    if bytes > 0 { monitor?.add(bytes) }
  }

  /// Records a LinuxIO transfer's progress (`progress.bytes` delivered, `progress.syscalls` made).
  public mutating func record(_ progress: TransferProgress) {
    record(bytes: progress.bytes, syscalls: progress.syscalls)
  }

  /// Records system calls that moved no bytes (setup, a failed first attempt…).
  public mutating func recordSyscalls(_ count: Int) {
    record(bytes: 0, syscalls: count)
  }

  /// Adds a remark to the report.
  public mutating func note(_ text: String) {
    notes.append(text)
  }

  /// Whether the transfer was cancelled (its task, or ``TransferMonitor/cancel()``).
  public var isCancelled: Bool { monitor?.isCancelled == true }

  /// Throws `ECANCELED` (with the bytes delivered so far) if the transfer was cancelled.
  /// Call it between chunks.
  ///
  /// - Throws: ``ZeroCopyError`` with `errno == .canceled` (``ZeroCopyError/isCancellation``).
  public func checkCancellation() throws(ZeroCopyError) {
    if monitor?.isCancelled == true {
      throw error(syscall: "cancellation", errno: .canceled, message: "the transfer was cancelled")
    }
  }

  /// The error for a failed system call: this transfer's operation, paths, descriptors,
  /// the source offset reached and the bytes delivered so far.
  public func error(syscall: String, errno: Errno, message: String? = nil) -> ZeroCopyError {
    ZeroCopyError(
      operation, syscall: syscall, errno: errno,
      paths: [source.path, destination.path].compactMap { $0 },
      descriptors: [source.descriptor, destination.descriptor],
      offset: sourceOffset, bytesTransferred: bytesTransferred, message: message)
  }

  /// The arguments of one chunk for ``transferChunks(syscall:chunkLimit:_:)``.
  public struct Chunk: Sendable {
    /// The source descriptor.
    public let source: FileDescriptor
    /// The destination descriptor.
    public let destination: FileDescriptor
    /// Where to read (nil: a stream).
    public let sourceOffset: Int64?
    /// Where to write (nil: a stream).
    public let destinationOffset: Int64?
    /// How many bytes to move.
    public let count: Int
  }

  /// Moves the transfer chunk by chunk with a LinuxIO "all" call: checks cancellation,
  /// calls `move` with the next chunk, records its progress (also on failure), waits with
  /// `poll` when a non-blocking end would block, and stops when nothing is left or the
  /// source ends.
  ///
  /// - Parameters:
  ///   - syscall: The system call `move` makes, for errors (`"sendfile"`).
  ///   - chunkLimit: A cap on each chunk below ``chunkSize``.
  ///   - move: Moves one chunk (for example `chunk.source.sendfileAll(to: chunk.destination, …)`).
  /// - Returns: ``StrategyOutcome/complete`` or ``StrategyOutcome/sourceEnded``.
  /// - Throws: ``ZeroCopyError`` with `move`'s errno and the exact bytes delivered, or
  ///   `ECANCELED`.
  public mutating func transferChunks(
    syscall: String, chunkLimit: Int? = nil,
    _ move: (Chunk) throws(TransferFailure) -> TransferResult
  ) throws(ZeroCopyError) -> StrategyOutcome {
    // Stored properties are read directly in this loop: calling a non-mutating method on
    // `self` (which is inout here) made the optimizer copy the whole context (259 bytes)
    // at the top of every chunk.
    let source = pair.source.descriptor
    let destination = pair.destination.descriptor
    while true {
      if let monitor, monitor.isCancelled { try checkCancellation() }
      guard let count = Self.chunk(chunkSize, limit: chunkLimit, remaining: requestedBytes.map { $0 - bytesTransferred })
      else { return .complete }
      if prefetchesSource { try prefetchSource(count) }
      let chunk = Chunk(
        source: source, destination: destination, sourceOffset: startSourceOffset.map { $0 + bytesTransferred },
        destinationOffset: startDestinationOffset.map { $0 + bytesTransferred }, count: count)
      let result: TransferResult
      do {
        result = try move(chunk)
      } catch {
        record(error.progress)
        let lost = error.progress.discarded > 0 ? "\(error.progress.discarded) bytes read were not delivered" : nil
        let cancelled = error.errno == .canceled ? "the transfer was cancelled" : nil
        let message = [cancelled, lost].compactMap { $0 }.joined(separator: "; ")
        throw self.error(syscall: syscall, errno: error.errno, message: message.isEmpty ? nil : message)
      }
      record(result.progress)
      switch result.outcome {
      case .complete: continue
      case .sourceEndedEarly: return .sourceEnded
      case .wouldBlock: try waitUntilReady()
      }
    }
  }

  /// Before `count` bytes of a large transfer (``prefetchThreshold``) are moved from a file
  /// or block device: asks the kernel to read them into the page cache
  /// (`POSIX_FADV_WILLNEED`, which does not wait) and waits until they can be read without
  /// waiting, in steps of 0.2–2 ms that check cancellation — so the call that then moves
  /// them finds them in memory, and a cancellation never waits for the device. (The kernel
  /// does not let a signal interrupt a read of a file or block device, and a device may take
  /// longer than any bound for a single read: a throttled volume here served some 64 KiB
  /// reads after 108 ms.) Data already cached costs one quick readiness check per piece (a
  /// one-byte `preadv2(RWF_NOWAIT)` of its last byte and `cachestat`: 1 µs here);
  /// `posix_fadvise`, which walks every page of the range (143 µs for 8 MiB), runs only when
  /// something is missing. From then on, while readaheads may be in flight, the checks are
  /// thorough (a probe per 256 KiB: 26 µs for 8 MiB), since a page can be present before
  /// its read completes. The probes are reads: counted in ``syscalls``. Gives up waiting
  /// when no page has arrived for 2 s, or when the check is not supported, and lets the
  /// call read what is missing itself.
  ///
  /// - Throws: ``ZeroCopyError`` with `ECANCELED` when cancelled while waiting.
  ///
  /// The corresponding C functions are `posix_fadvise`, `zc_range_ready` and `zc_cached_pages`.
  internal mutating func prefetchSource(_ count: Int) throws(ZeroCopyError) {
    guard prefetchesSource, let offset = sourceOffset, count > 0 else { return }
    let descriptor = source.descriptor
    let length = Int64(count)
    var probes = 0
    defer { recordSyscalls(probes) }
    // Cached already (the common case): two cheap calls. posix_fadvise walks every page of
    // the range, even cached ones (143 µs for 8 MiB here), so it runs only when needed.
    guard
      let ready = try? descriptor.isRangeReadable(offset: offset, length: length, thorough: sourceReadsAhead, probes: &probes),
      !ready, (try? descriptor.adviseWillNeed(offset: offset, length: length)) != nil
    else { return }
    sourceReadsAhead = true
    var pause: UInt32 = 200
    var lastProgress = ContinuousClock.now
    var lastPresent = -1
    while let ready = try? descriptor.isRangeReadable(offset: offset, length: length, probes: &probes), !ready {
      try checkCancellation()
      // Give up only when nothing arrives any more (2 s without a new page).
      let present = (try? descriptor.cachedPages(offset: offset, length: length)) ?? -1
      if present != lastPresent {
        lastPresent = present
        lastProgress = .now
      } else if lastProgress.duration(to: .now) > .seconds(2) {
        return
      }
      usleep(pause)
      pause = Swift.min(pause * 2, 2000)
    }
  }

  /// Runs `body`, a call that delivers nothing and that the kernel does not interrupt (an
  /// `O_DIRECT` read into the strategy's own buffer, served by the device however long it
  /// takes), so that an async transfer cancelled meanwhile returns at once with `ECANCELED`
  /// and the bytes delivered so far; this thread finishes `body` in the background and then
  /// stops, delivering nothing and touching none of the caller's descriptors.
  ///
  /// - Returns: `body`'s result, and whether the transfer was abandoned meanwhile (then
  ///   throw ``checkCancellation()``'s error without delivering anything).
  internal func abandonableWait<R>(_ body: () -> R) -> (result: R, abandoned: Bool) {
    guard mayAbandonWaits, let monitor else { return (body(), false) }
    monitor.setAbandonmentError(
      error(
        syscall: "pread(O_DIRECT)", errno: .canceled,
        message:
          "the transfer was cancelled while a read from the device was in progress; the read finishes in the background and its bytes are not delivered"
      ))
    guard monitor.enterAbandonableWait() else { return (body(), false) }
    let result = body()
    return (result, !monitor.leaveAbandonableWait())
  }

  /// Waits (`poll`, in 100 ms slices that check cancellation; a cancellation interrupts
  /// the `poll` at once) until a non-blocking end that answered `EAGAIN` can make progress:
  /// the destination writable, or else the source readable.
  ///
  /// - Throws: ``ZeroCopyError`` (`poll`'s errno, or `ECANCELED`).
  ///
  /// The corresponding C function is `poll`.
  public func waitUntilReady() throws(ZeroCopyError) {
    if let stopSignal {
      stopSignal.stopped = true
      throw error(
        syscall: "poll", errno: .resourceTemporarilyUnavailable,
        message: "an attempt on the caller's thread stops where a call would wait for the pipe's peer")
    }
    var target = PollSet()
    target.append(source.descriptor, events: .readable)
    if destination.isNonBlocking {
      var out = PollSet()
      out.append(destination.descriptor, events: .writable)
      // A destination that is not writable now is what blocks; a writable one means the
      // source is (unless only the destination is non-blocking).
      let ready = (try? out.wait(timeoutMilliseconds: 0, retryOnInterrupt: false)) ?? 0
      if ready == 0 || !source.isNonBlocking { target = out }
    }
    while true {
      try checkCancellation()
      do {
        // Not retried on EINTR: the cancellation signal must end the wait at once.
        if try target.wait(timeoutMilliseconds: 100, retryOnInterrupt: false) > 0 { return }
      } catch  where error == .interrupted {
        continue
      } catch {
        throw self.error(syscall: "poll", errno: error)
      }
    }
  }

  // MARK: - Running strategies with fallbacks

  /// The errnos that mean "this strategy cannot work here", on which a strategy that has
  /// delivered nothing yet is abandoned for the next one: `EXDEV` (another filesystem),
  /// `EINVAL` (unsupported file, `O_APPEND`, /proc), `ENOSYS`, `EOPNOTSUPP`, `EPERM`
  /// (seccomp, io_uring refused) and `ENODEV` (a file that cannot be mapped). The list is
  /// LinuxIO's `TransferPlan.fallbackErrnos`, read from C's `zc_fallback_errno`, so that
  /// `zc_transfer` and `.automatic` fall back on the same errnos.
  public static var fallbackErrnos: Set<Errno> { TransferPlan.fallbackErrnos }

  /// Runs the first candidate that supports this pair; if it cannot work here — it says
  /// so with ``StrategyOutcome/unsupported(reason:errno:syscall:)``, fails with one of
  /// ``fallbackErrnos``, or its first call moves 0 bytes from a source that is not
  /// empty — *before delivering any byte*, records a ``TransferReport/Fallback`` and runs
  /// the next. This is how `.automatic` works; custom strategies can compose others with it.
  ///
  /// - Parameter candidates: The strategies, best first. - Precondition: not empty.
  /// - Returns: The outcome of the strategy that moved the bytes (whose name the report shows).
  /// - Throws: The first error that is not a fallback reason, or the last candidate's
  ///   error; when every candidate was unsupported, an error naming them all (the last
  ///   errno, or `EOPNOTSUPP`). The error's byte count covers the whole transfer.
  public mutating func transfer(tryingInOrder candidates: [any TransferStrategy]) throws(ZeroCopyError) -> StrategyOutcome {
    precondition(!candidates.isEmpty, "TransferContext.transfer(tryingInOrder:): no candidate strategies")
    var last = LastRefusal()
    for (index, strategy) in candidates.enumerated() {
      if let outcome = try attempt(strategy, isLast: { index == candidates.count - 1 }, &last) { return outcome }
    }
    throw noStrategy(last)
  }

  /// ``transfer(tryingInOrder:)`` with `first` followed by `rest()`, which is called only
  /// when `first` is abandoned (or asked whether it is the last): a named strategy with
  /// fallback allowed pays for `.automatic`'s plan only when it falls back.
  internal mutating func transfer<S: TransferStrategy>(
    trying first: S, thenInOrder rest: () -> [any TransferStrategy]
  ) throws(ZeroCopyError) -> StrategyOutcome {
    var last = LastRefusal()
    var others: [any TransferStrategy]? = nil
    func remaining() -> [any TransferStrategy] {
      if let others { return others }
      let computed = rest()
      others = computed
      return computed
    }
    if let outcome = try attempt(first, isLast: { remaining().isEmpty }, &last) { return outcome }
    let candidates = remaining()
    for (index, strategy) in candidates.enumerated() {
      if let outcome = try attempt(strategy, isLast: { index == candidates.count - 1 }, &last) { return outcome }
    }
    throw noStrategy(last)
  }

  /// The errno and system call of the last candidate abandoned with one.
  private struct LastRefusal {
    var errno: Errno?
    var syscall: String?
  }

  /// Runs one candidate of ``transfer(tryingInOrder:)`` in a fresh attempt.
  ///
  /// - Parameters:
  ///   - strategy: The candidate.
  ///   - isLast: Whether no candidate follows: asked only when the candidate would be
  ///     abandoned for a fallback errno or a suspicious 0-byte move (the last one's error
  ///     or outcome stands instead).
  ///   - last: The last refusal's errno and system call, updated when it is abandoned.
  /// - Returns: Its outcome, or nil when it was abandoned (recorded in ``fallbacks``).
  /// - Throws: Its error, when it is not a fallback reason (or it is the last candidate).
  private mutating func attempt<S: TransferStrategy>(
    _ strategy: S, isLast: () -> Bool, _ last: inout LastRefusal
  ) throws(ZeroCopyError) -> StrategyOutcome? {
    if case .unsupported(let reason) = strategy.support(for: pair) {
      fallbacks.append(.init(strategy: strategy.name, errno: nil, syscall: nil, reason: reason))
      return nil
    }
    // A context that has delivered nothing, named no strategy and started no readahead
    // shows a strategy exactly what a fresh attempt made from it would (offsets, requested
    // bytes, flags): the candidate runs in it directly, without a second context to make,
    // absorb and destroy per transfer (`.automatic`'s every call comes here first).
    if bytesTransferred == 0 && strategyName == nil && !sourceReadsAhead {
      return try attemptInPlace(strategy, isLast: isLast, &last)
    }
    var attempt = makeAttempt()
    let outcome: StrategyOutcome
    do {
      outcome = try strategy.transfer(&attempt)
    } catch var error {
      if let fallback = abandonment(thrown: error, by: strategy.name, moved: attempt.bytesTransferred, isLast: isLast) {
        absorbAbandoned(attempt)
        record(fallback, &last)
        return nil
      }
      absorb(attempt, ranAs: strategy.name)
      error.bytesTransferred = bytesTransferred
      error.offset = sourceOffset
      throw error
    }
    switch settlement(of: outcome, by: strategy.name, moved: attempt.bytesTransferred, isLast: isLast) {
    case .keep:
      absorb(attempt, ranAs: strategy.name)
      return outcome
    case .abandon(let fallback):
      absorbAbandoned(attempt)
      record(fallback, &last)
      return nil
    case .gaveUp(let syscall, let errno, let message):
      absorb(attempt, ranAs: strategy.name)
      throw self.error(syscall: syscall, errno: errno, message: message)
    }
  }

  /// ``attempt(_:isLast:_:)`` in this context, which has delivered nothing, named no
  /// strategy and started no readahead. It ends as the separate attempt would have: an
  /// abandoned candidate's system calls and inner fallbacks are kept (as
  /// ``absorbAbandoned(_:)`` keeps them), and what a separate attempt would have dropped
  /// with it — its notes, the strategy name it set, its readahead flags — is put back.
  /// The rules are the same (``abandonment(thrown:by:moved:isLast:)``,
  /// ``settlement(of:by:moved:isLast:)``); only what keeping and abandoning do differs.
  private mutating func attemptInPlace<S: TransferStrategy>(
    _ strategy: S, isLast: () -> Bool, _ last: inout LastRefusal
  ) throws(ZeroCopyError) -> StrategyOutcome? {
    let notesBefore = notes
    let prefetchesBefore = prefetchesSource
    func putBack() {
      notes = notesBefore
      strategyName = nil
      prefetchesSource = prefetchesBefore
      sourceReadsAhead = false
    }
    let outcome: StrategyOutcome
    do {
      outcome = try strategy.transfer(&self)
    } catch var error {
      if let fallback = abandonment(thrown: error, by: strategy.name, moved: bytesTransferred, isLast: isLast) {
        putBack()
        record(fallback, &last)
        return nil
      }
      if strategyName == nil { strategyName = strategy.name }
      error.bytesTransferred = bytesTransferred
      error.offset = sourceOffset
      throw error
    }
    switch settlement(of: outcome, by: strategy.name, moved: bytesTransferred, isLast: isLast) {
    case .keep:
      if strategyName == nil { strategyName = strategy.name }
      return outcome
    case .abandon(let fallback):
      putBack()
      record(fallback, &last)
      return nil
    case .gaveUp(let syscall, let errno, let message):
      if strategyName == nil { strategyName = strategy.name }
      throw self.error(syscall: syscall, errno: errno, message: message)
    }
  }

  // The fallback rules, in one place for both ways of running a candidate.

  /// The fallback that abandons a candidate which threw `error` having delivered `moved`
  /// bytes, or nil when its error stands: a fallback errno before any byte, unless no
  /// candidate follows.
  private func abandonment(
    thrown error: ZeroCopyError, by name: String, moved: Int64, isLast: () -> Bool
  ) -> TransferReport.Fallback? {
    guard moved == 0 && Self.fallbackErrnos.contains(error.errno) && !isLast() else { return nil }
    return .init(strategy: name, errno: error.errno, syscall: error.syscall, reason: error.message ?? "\(error.errno)")
  }

  /// What becomes of a candidate that returned.
  private enum Settlement {
    /// Its outcome stands.
    case keep
    /// It is abandoned for the next candidate, with this record.
    case abandon(TransferReport.Fallback)
    /// It said "unsupported" after delivering bytes: an error, which it cannot take back.
    case gaveUp(syscall: String, errno: Errno, message: String)
  }

  /// The rule for a candidate that returned `outcome` having delivered `moved` bytes:
  /// ``StrategyOutcome/unsupported(reason:errno:syscall:)`` abandons it (before any byte)
  /// or is an error (after); a first call that moved 0 bytes from a source that is not
  /// known to be empty abandons it unless no candidate follows; anything else stands.
  private func settlement(of outcome: StrategyOutcome, by name: String, moved: Int64, isLast: () -> Bool) -> Settlement {
    switch outcome {
    case .unsupported(let reason, let errno, let syscall):
      if moved > 0 {
        return .gaveUp(
          syscall: syscall ?? name, errno: errno ?? .notSupported,
          message: "strategy \(name) gave up after delivering bytes: \(reason)")
      }
      return .abandon(.init(strategy: name, errno: errno, syscall: syscall, reason: reason))
    case .sourceEnded where moved == 0 && zeroMoveIsSuspicious && !isLast():
      return .abandon(
        .init(
          strategy: name, errno: nil, syscall: nil,
          reason: "moved 0 bytes on its first call from a source that is not known to be empty"))
    default:
      return .keep
    }
  }

  /// Records an abandoned candidate: its fallback, and the errno and system call it gave
  /// (if any) as the last refusal.
  private mutating func record(_ fallback: TransferReport.Fallback, _ last: inout LastRefusal) {
    fallbacks.append(fallback)
    if let errno = fallback.errno { last.errno = errno }
    if let syscall = fallback.syscall { last.syscall = syscall }
  }

  /// The error when every candidate was abandoned: the last errno (or `EOPNOTSUPP`),
  /// naming each candidate and why.
  private func noStrategy(_ last: LastRefusal) -> ZeroCopyError {
    let tried = fallbacks.map { "\($0.strategy): \($0.reason)" }.joined(separator: "; ")
    return error(
      syscall: last.syscall ?? "none", errno: last.errno ?? .notSupported,
      message: "no strategy can transfer \(pair) (\(tried))")
  }

  /// Whether a strategy's first call returning 0 bytes may mean "not supported" rather
  /// than "the source is empty": the source is a file, bytes were asked for, and its size
  /// is unknown or larger than the read offset (kernels 5.3–5.18 returned 0 from
  /// `copy_file_range` for /proc files).
  private var zeroMoveIsSuspicious: Bool {
    guard source.isSeekable, remainingBytes != 0 else { return false }
    guard let size = source.size else { return true }
    return size > (sourceOffset ?? 0)
  }

  /// A fresh context that continues where this one is (reading ahead as this one does).
  internal func makeAttempt() -> TransferContext {
    var attempt = TransferContext(
      pair: pair, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
      requestedBytes: remainingBytes, chunkSize: chunkSize, monitor: monitor, operation: operation,
      prefetches: prefetchesSource)
    attempt.stopSignal = stopSignal
    // Without this, a named strategy run with fallback allowed (the default options, which
    // run it as an attempt) never abandoned a device wait when cancelled.
    attempt.mayAbandonWaits = mayAbandonWaits
    return attempt
  }

  /// Adds a finished (or failed-after-delivering) attempt's totals to this context.
  internal mutating func absorb(_ attempt: TransferContext, ranAs name: String) {
    bytesTransferred += attempt.bytesTransferred
    syscalls += attempt.syscalls
    // Appending an empty array still made a new buffer for an empty one (a copy per transfer).
    if !attempt.fallbacks.isEmpty { fallbacks += attempt.fallbacks }
    if !attempt.notes.isEmpty { notes += attempt.notes }
    if strategyName == nil { strategyName = attempt.strategyName ?? name }
  }

  /// Adds an abandoned attempt's system calls and inner fallbacks (it delivered nothing).
  internal mutating func absorbAbandoned(_ attempt: TransferContext) {
    precondition(attempt.bytesTransferred == 0, "TransferContext: abandoning an attempt that delivered bytes")
    syscalls += attempt.syscalls
    if !attempt.fallbacks.isEmpty { fallbacks += attempt.fallbacks }
  }
}

/// Whether an inline attempt (``TransferContext/stopSignal``) stopped where a call would
/// have waited for a pipe's peer: set by ``TransferContext/waitUntilReady()``, read by the
/// caller after `Transfer.perform` returns. A flag the caller owns, instead of a mark in
/// the error (which a strategy may rewrite) or in the public report. Only the thread that
/// runs the transfer touches it.
internal final class StopSignal: @unchecked Sendable {
  internal var stopped = false
  /// The attempt runs on the caller's own pipe end, whose description is blocking: only
  /// calls that take a per-call non-blocking flag may run (splice with
  /// `SPLICE_F_NONBLOCK`: ``SpliceStrategy``), instead of a reopened non-blocking end.
  internal let perCallNonBlocking: Bool

  internal init(perCallNonBlocking: Bool = false) {
    self.perCallNonBlocking = perCallNonBlocking
  }
}
