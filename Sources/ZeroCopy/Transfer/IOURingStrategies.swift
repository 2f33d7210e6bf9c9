// The io_uring strategies, on the ring driver (RingDriver.swift): a ring leased from the
// process's pool of idle rings (RingPool.swift) for the transfer, driven synchronously by
// the strategy, with registered buffers (or a pooled pipe) and linked request pairs,
// several pairs per submission.

import Glibc
import LinuxIO
import SystemPackage
import URing

// MARK: - ioUring (linked READ_FIXED → WRITE_FIXED / SEND)

/// io_uring reads into registered buffers, each linked to the write (or, to a socket,
/// the `SEND`) of the same buffer: `depth` linked pairs per `io_uring_enter`, on a ring
/// leased for the transfer from the process's pool of idle rings (Docs/RingDriver.md):
/// the first transfer sets the ring up and registers its buffers, later ones whose size
/// fits reuse both; idle rings close after 5 seconds (``Transfer/closeIdleRings()``).
///
/// To a file the pairs are independent (the kernel may run them in parallel) and, past
/// one round's worth of bytes, pipelined: a pair's buffer takes the next piece as soon as
/// that pair is whole (Docs/Performance.md, "io_uring file copies"). To a stream (socket,
/// pipe) all pairs of a round form one chain, so the bytes arrive in order. `.automatic`
/// never picks it (measured with a ring set up per transfer: 12–15 µs for 4 KiB vs 1.9 µs
/// for read/write, Docs/LinuxFacts.md); it is here to be measured, and for sources where
/// overlapping I/O pays (cold files on fast devices).
public struct IOURingStrategy: TransferStrategy {
  /// Bytes per registered buffer (one buffer per pair).
  public let bufferSize: Int
  /// Pairs per submission (and registered buffers).
  public let depth: Int
  /// The rings it leases (tests give it a pool of their own).
  internal var ringPool: RingPool = .shared

  /// An io_uring read/write strategy with `depth` buffers of `bufferSize` bytes
  /// (4 × 256 KiB by default: 1 MiB registered, well under an 8 MiB `RLIMIT_MEMLOCK`).
  ///
  /// - Precondition: `bufferSize > 0`, `1 <= depth <= 64`.
  public init(bufferSize: Int = 256 << 10, depth: Int = 4) {
    precondition(bufferSize > 0 && bufferSize <= 1 << 30, "IOURingStrategy: bufferSize must be in 1...1 GiB")
    precondition(depth >= 1 && depth <= 64, "IOURingStrategy: depth must be in 1...64")
    self.bufferSize = bufferSize
    self.depth = depth
  }

  /// `"ioUring"`.
  public var name: String { "ioUring" }

  /// One line for `zc strategies`.
  public var summary: String {
    "io_uring: linked READ_FIXED→WRITE_FIXED (SEND to sockets) pairs, \(depth) × \(bufferSize >> 10) KiB registered buffers, pooled ring"
  }

  /// Supported from files to files, pipes, character devices and TCP/Unix sockets, when
  /// io_uring is available and the kernel has `READ_FIXED`, `WRITE_FIXED` and `SEND`.
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.isSeekable else { return .unsupported("the source must be a file") }
    switch pair.destination.kind {
    case .file, .blockDevice, .pipe, .characterDevice, .tcpSocket, .unixSocket: break
    default: return .unsupported("the destination must be a file, pipe or TCP/Unix socket")
    }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination") }
    if let reason = nonBlockingReason(pair) { return .unsupported(reason) }
    return ioUringSupport([.readFixed, .writeFixed, .send])
  }

  /// Moves the bytes in linked pairs, pipelined to files and in rounds to streams; see the
  /// type's documentation.
  ///
  /// - Returns: ``StrategyOutcome/unsupported(reason:errno:syscall:)`` when no pooled
  ///   ring fits and a new one cannot be set up or even one buffer registered (for example
  ///   `ENOMEM` past `RLIMIT_MEMLOCK`, after closing the idle rings and halving the
  ///   buffers), so `.automatic` falls back.
  /// - Throws: ``ZeroCopyError`` naming the opcode that failed (`IORING_OP_READ_FIXED`,
  ///   `IORING_OP_WRITE_FIXED`, `IORING_OP_SEND`) and the bytes delivered in order.
  ///
  /// The corresponding C functions are liburing's `io_uring_queue_init_params`,
  /// `io_uring_register_buffers`, `io_uring_prep_read_fixed`/`_write_fixed`/`_send` and
  /// `io_uring_submit_and_wait` (system calls `io_uring_setup`, `io_uring_register`, `io_uring_enter`).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    let sink: RingSink
    switch context.destination.kind {
    case .file, .blockDevice: sink = .file
    case .tcpSocket, .unixSocket: sink = .socket
    default: sink = .stream
    }
    return try runReadWriteRing(&context, pool: ringPool, bufferSize: bufferSize, depth: depth, sink: sink)
  }
}

// MARK: - sendZeroCopy (linked READ_FIXED → SEND_ZC)

/// io_uring `SEND_ZC` from registered buffers: each buffer is read from the file and
/// sent without the kernel copying it into socket buffers (the NIC reads the pages), the
/// buffer being reused only after the kernel's notification. TCP sockets only. The ring
/// and its registered buffers come from the process's pool of idle rings
/// (Docs/RingDriver.md); a ring whose notifications a cancellation left outstanding is
/// retired, never reused.
///
/// On loopback (and NICs without scatter-gather) the kernel copies anyway, and every
/// notification says so: the report's notes give the count. Slower than `send` on
/// loopback (2.3 vs 3.4 GB/s, Docs/LinuxFacts.md), so `.automatic` never picks it.
///
/// **When it returns.** Every round waits for the notifications of all its sends —
/// including those of sends a broken link cancelled, which the kernel posts without
/// announcing them — because only then may the buffers be reused or freed. TCP releases
/// the pages once the peer has acknowledged the data, so the transfer returns when the
/// peer's kernel has accepted every byte; a plain `send` returns once the bytes are queued
/// in the local socket buffer. A peer that stops reading while data is still unsent
/// therefore blocks this strategy where `send` might already have returned.
public struct SendZeroCopyStrategy: TransferStrategy {
  /// Bytes per registered buffer.
  public let bufferSize: Int
  /// Pairs per submission.
  public let depth: Int
  /// The rings it leases (tests give it a pool of their own).
  internal var ringPool: RingPool = .shared

  /// A SEND_ZC strategy with `depth` buffers of `bufferSize` bytes (4 × 256 KiB by default).
  ///
  /// - Precondition: `bufferSize > 0`, `1 <= depth <= 64`.
  public init(bufferSize: Int = 256 << 10, depth: Int = 4) {
    precondition(bufferSize > 0 && bufferSize <= 1 << 30, "SendZeroCopyStrategy: bufferSize must be in 1...1 GiB")
    precondition(depth >= 1 && depth <= 64, "SendZeroCopyStrategy: depth must be in 1...64")
    self.bufferSize = bufferSize
    self.depth = depth
  }

  /// `"sendZeroCopy"`.
  public var name: String { "sendZeroCopy" }

  /// One line for `zc strategies`.
  public var summary: String {
    "io_uring: linked READ_FIXED→SEND_ZC pairs from registered buffers; file to TCP socket (loopback always copies)"
  }

  /// Supported from files to TCP sockets when io_uring is available with `SEND_ZC`.
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.isSeekable else { return .unsupported("the source must be a file") }
    guard pair.destination.kind == .tcpSocket else {
      return .unsupported("the destination must be a TCP socket (zero-copy send is TCP/UDP only)")
    }
    if let reason = nonBlockingReason(pair) { return .unsupported(reason) }
    return ioUringSupport([.readFixed, .sendZeroCopy])
  }

  /// Moves the bytes in rounds of linked read → SEND_ZC pairs, waiting for every
  /// notification before a buffer is reused.
  ///
  /// - Returns: ``StrategyOutcome/unsupported(reason:errno:syscall:)`` when the ring
  ///   cannot be set up or the buffers registered.
  /// - Throws: ``ZeroCopyError`` naming `IORING_OP_READ_FIXED` or `IORING_OP_SEND_ZC`.
  ///
  /// The corresponding C function is `io_uring_prep_send_zc_fixed` (kernel 6.0).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    try runReadWriteRing(&context, pool: ringPool, bufferSize: bufferSize, depth: depth, sink: .zeroCopySocket)
  }
}

// MARK: - ioUringSplice (linked SPLICE → SPLICE through a pooled pipe)

/// io_uring `SPLICE` pairs: file → pooled pipe, linked to pipe → destination, `depth`
/// pairs per submission in one chain (the pipe is shared, so pairs run in order). Into a
/// pipe destination, single linked splices without the intermediate pipe. The ring comes
/// from the process's pool of idle rings (Docs/RingDriver.md).
public struct IOURingSpliceStrategy: TransferStrategy {
  /// Pairs per submission.
  public let depth: Int
  /// The rings it leases (tests give it a pool of their own).
  internal var ringPool: RingPool = .shared
  /// The pool the intermediate pipe comes from; each leg moves at most its capacity.
  public let pool: PipePool

  /// An io_uring splice strategy with `depth` pairs per submission.
  ///
  /// - Precondition: `1 <= depth <= 64`.
  public init(depth: Int = 4, pool: PipePool = .shared) {
    precondition(depth >= 1 && depth <= 64, "IOURingSpliceStrategy: depth must be in 1...64")
    self.depth = depth
    self.pool = pool
  }

  /// `"ioUringSplice"`.
  public var name: String { "ioUringSplice" }

  /// One line for `zc strategies`.
  public var summary: String {
    "io_uring: linked SPLICE file→pipe→destination pairs through a pooled \(pool.capacity >> 10) KiB pipe, \(depth) per submission"
  }

  /// Supported from files to files, pipes and sockets, when io_uring is available with `SPLICE`.
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.isSeekable else { return .unsupported("the source must be a file") }
    switch pair.destination.kind {
    case .file, .blockDevice, .pipe, .tcpSocket, .unixSocket, .characterDevice: break
    default: return .unsupported("the destination must be a file, pipe or socket")
    }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination (EINVAL)") }
    if let reason = nonBlockingReason(pair) { return .unsupported(reason) }
    return ioUringSupport([.splice])
  }

  /// Moves the bytes in rounds of linked splice pairs.
  ///
  /// - Returns: ``StrategyOutcome/unsupported(reason:errno:syscall:)`` when the ring
  ///   cannot be set up.
  /// - Throws: ``ZeroCopyError`` naming `IORING_OP_SPLICE` and the leg that failed.
  ///
  /// The corresponding C function is `io_uring_prep_splice` (kernel 5.7).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    if context.isFinished { return .complete }
    if context.destination.kind == .pipe {
      return try runSpliceRing(&context, pool: ringPool, depth: depth, legLength: pool.capacity, pipe: nil)
    }
    // If the ring itself fails, a splice into the pipe may still be in flight: never reuse it.
    // After a success the pipe is empty — every pair's bytes reached the destination, the
    // rest of a short second leg through `drainPipe` — so only a failure makes the pool
    // check it (`ioctl(FIONREAD)`; debug builds assert the success case).
    return try pool.withPipe(discardingOn: { $0.syscall == ringFailureSyscall }, checksEmptyAfterSuccess: false) {
      (pipe) throws(ZeroCopyError) -> StrategyOutcome in
      try runSpliceRing(&context, pool: ringPool, depth: depth, legLength: pool.capacity, pipe: (pipe.readEnd, pipe.writeEnd))
    }
  }
}

// MARK: - Shared machinery

/// Whether io_uring is usable here with these opcodes.
internal func ioUringSupport(_ opcodes: [IOURing.Opcode]) -> StrategySupport {
  let probe = IOURing.Probe.current
  if case .unavailable(let reason) = probe.availability { return .unsupported("io_uring is unavailable: \(reason)") }
  for opcode in opcodes where !probe.supports(opcode) {
    return .unsupported("this kernel's io_uring lacks \(opcode)")
  }
  return .supported
}

/// io_uring honours `O_NONBLOCK`: a request on such a descriptor fails with `EAGAIN`
/// instead of waiting, which these strategies do not poll for.
private func nonBlockingReason(_ pair: EndpointPair) -> String? {
  pair.source.isNonBlocking || pair.destination.isNonBlocking
    ? "an O_NONBLOCK end (io_uring answers EAGAIN instead of waiting)" : nil
}

/// Registered memory for one ring. A class so that, if the ring breaks with requests in
/// Where a read/write ring's writes go.
private enum RingSink: Equatable {
  case file  // WRITE_FIXED at explicit offsets; pairs independent
  case stream  // WRITE_FIXED at the current position (pipes, character devices); one chain
  case socket  // SEND (MSG_NOSIGNAL is implied); one chain
  case zeroCopySocket  // SEND_ZC from the registered buffer; one chain

  var opcodeName: String {
    switch self {
    case .file, .stream: return "IORING_OP_WRITE_FIXED"
    case .socket: return "IORING_OP_SEND"
    case .zeroCopySocket: return "IORING_OP_SEND_ZC"
    }
  }
}

private let waitAll = Int32(MSG_WAITALL)

private func makeWrite(
  _ sink: RingSink, _ destination: FileDescriptor, _ buffer: IOURing.RegisteredBuffer, _ range: Range<Int>,
  at offset: Int64?, userData: UInt64
) -> IOURing.Request {
  switch sink {
  case .file:
    return .writeFixed(destination, from: buffer, range: range, at: offset.map { UInt64($0) }, userData: userData)
  case .stream:
    return .writeFixed(destination, from: buffer, range: range, at: nil, userData: userData)
  case .socket:
    // MSG_WAITALL: io_uring then retries a partial send of a stream socket itself, so a
    // short result means an error and breaks the link (without it, a short send would
    // complete "successfully" and the next pair's bytes would overtake its remainder).
    let bytes = UnsafeRawBufferPointer(rebasing: buffer.bytes[range])
    return .unsafeSend(destination, from: bytes, flags: waitAll, userData: userData)
  case .zeroCopySocket:
    return .sendZeroCopy(destination, from: buffer, range: range, flags: waitAll, userData: userData)
  }
}

/// The read → write ring shared by ``IOURingStrategy`` and ``SendZeroCopyStrategy``: a
/// pooled ring with `depth` registered slots of `bufferSize` bytes (fewer and smaller for
/// a smaller transfer), `depth` linked pairs per round.
private func runReadWriteRing(
  _ context: inout TransferContext, pool: RingPool, bufferSize: Int, depth: Int, sink: RingSink
) throws(ZeroCopyError) -> StrategyOutcome {
  if context.isFinished { return .complete }
  guard let startOffset = context.sourceOffset else {
    return .unsupported(reason: "the source must be a file", errno: nil, syscall: nil)
  }
  // Size the buffers to the transfer: a 4 KiB copy registers one 4 KiB buffer.
  var slotSize = bufferSize
  let expected = context.remainingBytes ?? context.source.size.map { Swift.max(0, $0 - startOffset) }
  if let expected {
    slotSize = Swift.max(4096, Swift.min(slotSize, Int(clamping: (expected + 4095) / 4096 * 4096)))
  }
  let wanted = slotsNeeded(expected, slotSize: slotSize, depth: depth)
  return try pool.withRing(&context, entries: entriesFor(pairs: wanted), slotSize: slotSize, slots: wanted) {
    (ring, slots, context) throws(ZeroCopyError) -> StrategyOutcome in
    defer {
      if sink == .zeroCopySocket && ring.batches.notifications > 0 {
        context.note(
          "SEND_ZC: the kernel copied \(ring.batches.copied) of \(ring.batches.notifications) sends (loopback and devices without scatter-gather always copy)"
        )
      }
    }
    return try readWriteRounds(
      &context, ring, registered: ring.registered!, slotSize: slotSize, slots: slots, start: startOffset, sink: sink)
  }
}

/// The rounds of ``runReadWriteRing(_:pool:bufferSize:depth:sink:)`` on a leased ring.
private func readWriteRounds(
  _ context: inout TransferContext, _ ring: TransferRing, registered: IOURing.RegisteredBuffer, slotSize: Int, slots: Int,
  start startOffset: Int64, sink: RingSink
) throws(ZeroCopyError) -> StrategyOutcome {
  let source = context.source.descriptor
  let destination = context.destination.descriptor
  let ordered = sink != .file
  let zeroCopy = sink == .zeroCopySocket

  func writeRest(_ range: Range<Int>, _ context: inout TransferContext) throws(ZeroCopyError) {
    try writeAlone(range, of: registered, sink: sink, on: ring, &context)
  }

  // File → file beyond one round's worth (one round has nothing to refill: it stays one
  // io_uring_enter for all its pairs), with the default chunk size or larger.
  let window = Int64(slotSize * slots)
  let left = context.remainingBytes ?? context.source.size.map { $0 - (context.sourceOffset ?? startOffset) }
  let beyondOneRound = (left ?? Int64.max) > window
  if sink == .file && slots > 1 && beyondOneRound && context.destinationOffset != nil
    && context.chunkSize >= slotSize * slots
  {
    return try readWritePipeline(&context, ring, registered: registered, slotSize: slotSize, slots: slots)
  }

  /// Resolves a round whose every request has completed (`results[2 × i]` the read of
  /// pair `i`, `results[2 × i + 1]` its write), pair by pair in order: nil to go on with
  /// the next round, or how the transfer ended.
  func resolveRound(
    _ results: UnsafeMutableBufferPointer<Result<Int32, Errno>?>, lengths: RoundPlan, _ context: inout TransferContext
  ) throws(ZeroCopyError) -> StrategyOutcome? {
    for (index, length) in lengths.enumerated() {
      guard let read = results[2 * index], let write = results[2 * index + 1] else {
        preconditionFailure("io_uring transfer: a completion of the round is missing")
      }
      let got: Int
      switch read {
      case .failure(let errno) where errno == .canceled:
        got = -1  // an earlier member broke the chain: redo from here next round
      case .failure(let errno):
        throw context.error(syscall: "IORING_OP_READ_FIXED", errno: errno)
      case .success(let n):
        got = Int(n)
      }
      if got < 0 { break }
      if got == 0 { return .sourceEnded }
      var delivered = 0
      switch write {
      case .success(let n): delivered = Swift.min(Int(n), got)
      case .failure(let errno) where errno == .canceled: delivered = 0  // the short read broke the link
      case .failure(let errno): throw context.error(syscall: sink.opcodeName, errno: errno)
      }
      context.record(bytes: Int64(delivered), syscalls: 0)
      let bufferStart = index * slotSize
      if delivered < got {
        if context.isCancelled { break }  // counted up to here; the loop throws ECANCELED
        try writeRest((bufferStart + delivered)..<(bufferStart + got), &context)
        if ordered { break }  // the rest of the chain was cancelled
      }
      if got < length { break }  // end of file (or a shrinking file): re-read from here
    }
    return nil
  }

  return try withSignalGuard { () throws(ZeroCopyError) -> StrategyOutcome in
    while true {
      try context.checkCancellation()
      if context.isFinished { return .complete }
      let base = context.sourceOffset ?? startOffset
      let lengths = planRound(context, base: base, slotSize: slotSize, slots: slots)
      // The reads then copy from memory: a cancel never waits for the device.
      try context.prefetchSource(Int(lengths.total))
      // Ordered: one chain for the round; else a chain per pair (`LinkedChain()` is empty
      // and allocates nothing).
      var chain = ordered ? ring.makeChain(capacity: 2 * lengths.count) : IOURing.LinkedChain()
      var offset: Int64 = 0
      ring.begin()
      for (index, length) in lengths.enumerated() {
        let range = (index * slotSize)..<(index * slotSize + length)
        let read = IOURing.Request.readFixed(
          source, into: registered, range: range, at: UInt64(base + offset), userData: ring.userData(UInt32(index * 2)))
        let write = makeWrite(
          sink, destination, registered, range, at: context.destinationOffset.map { $0 + offset },
          userData: ring.userData(UInt32(index * 2 + 1)))
        if ordered {
          chain.append(read)
          chain.append(write)
        } else {
          var pair = ring.makeChain(capacity: 2)
          pair.append(read)
          pair.append(write)
          try ring.prepare(consume pair, &context)
        }
        offset += Int64(length)
      }
      if ordered { try ring.prepare(consume chain, &context) }
      // The round's results by tag (2 × index for the read, + 1 for the write), on the
      // stack: no allocation per round.
      let outcome = try withUnsafeTemporaryAllocation(of: Result<Int32, Errno>?.self, capacity: 2 * lengths.count) {
        results throws(ZeroCopyError) -> StrategyOutcome? in
        results.initialize(repeating: nil)
        defer { results.deinitialize() }
        try ring.submitAndCollect(requests: 2 * lengths.count, &context, zeroCopySends: { zeroCopy && $0 % 2 == 1 }) {
          tag, result in
          // The batch's tags are 0..<2 × pairs; a raw buffer's subscript is unchecked in
          // release builds, so the bound is checked here.
          precondition(Int(tag) < results.count, "io_uring: a completion's tag is outside the round")
          results[Int(tag)] = result
        }
        return try resolveRound(results, lengths: lengths, &context)
      }
      if let outcome { return outcome }
    }
  }
}

/// Writes `range` of the registered buffer at the context's destination offset, alone on
/// the ring, until all of it is delivered (the rest of a pair whose write came back short).
private func writeAlone(
  _ range: Range<Int>, of registered: IOURing.RegisteredBuffer, sink: RingSink, on ring: TransferRing,
  _ context: inout TransferContext
) throws(ZeroCopyError) {
  let destination = context.destination.descriptor
  var rest = range
  while !rest.isEmpty {
    try context.checkCancellation()
    ring.begin()
    try ring.prepare(
      makeWrite(sink, destination, registered, rest, at: context.destinationOffset, userData: ring.userData(0)), &context)
    var result: Result<Int32, Errno> = .success(0)
    try ring.submitAndCollect(requests: 1, &context, zeroCopySends: { _ in sink == .zeroCopySocket }) { _, sent in
      result = sent
    }
    switch result {
    case .success(let written) where written > 0:
      context.record(bytes: Int64(written), syscalls: 0)
      rest = (rest.lowerBound + Int(written))..<rest.upperBound
    case .success:
      throw context.error(syscall: sink.opcodeName, errno: .ioError, message: "the destination accepted 0 bytes")
    case .failure(let errno):
      throw context.error(syscall: sink.opcodeName, errno: errno)
    }
  }
}

/// File → file at explicit offsets, where the pairs are independent: `slots` linked
/// read → write pairs kept in flight in one generation; as soon as a pair is whole its
/// slot takes the next piece, and the bytes are counted in order. Rounds (submit `slots`
/// pairs, wait for all of them, submit the next) leave the kernel's workers idle at the end
/// of every round: in C, the same 4 × 256 KiB pairs moved a cached 1 GiB at 3.1–3.4 GB/s
/// in rounds and 5.7–6.4 GB/s pipelined (Docs/Performance.md, "io_uring file copies").
///
/// Anything but a whole pair — a short read (the end of the file, or a file
/// that shrank), a short write, an error, a cancellation — stops the refills; every pair
/// in flight is awaited (cancelled in the kernel when the transfer is), the whole pairs
/// before it are counted, and it is resolved as a round resolves it: its delivered bytes
/// counted, the rest of a short write written alone, an error thrown, or a new window
/// started from the bytes counted so far. Pairs after it may have written their bytes
/// already; they are written again (the same bytes) or, past the end, left uncounted.
private func readWritePipeline(
  _ context: inout TransferContext, _ ring: TransferRing, registered: IOURing.RegisteredBuffer, slotSize: Int, slots: Int
) throws(ZeroCopyError) -> StrategyOutcome {
  struct Pair {
    let slot: Int
    let length: Int
    var read: Result<Int32, Errno>? = nil
    var write: Result<Int32, Errno>? = nil
    var isDone: Bool { read != nil && write != nil }
    var isWhole: Bool {
      guard case .success(let got) = read, case .success(let put) = write else { return false }
      return Int(got) == length && Int(put) == length
    }
  }
  let source = context.source.descriptor
  let destination = context.destination.descriptor
  return try withSignalGuard { () throws(ZeroCopyError) -> StrategyOutcome in
    while true {  // one window per pass; a new one after a pair that was not whole
      try context.checkCancellation()
      if context.isFinished { return .complete }
      guard let sourceBase = context.sourceOffset, let destinationBase = context.destinationOffset else {
        preconditionFailure("io_uring pipeline: a file → file transfer without offsets")
      }
      let remainingAtBase = context.remainingBytes
      let knownSize = context.source.size
      var pending: [Pair] = []  // the pairs started and not counted yet, oldest first
      var head = 0  // the sequence number of pending[0]
      var inSlot = [Int](repeating: -1, count: slots)  // the sequence number of the pair using each slot
      var freeSlots = Array((0..<slots).reversed())
      var planned: Int64 = 0  // bytes of the pairs started, from the window's first byte
      var counted: Int64 = 0
      var outstanding = 0  // requests in flight
      var probed: Int64 = 0  // the end of the range prefetchSource has seen
      var stopped = false
      ring.begin()

      /// The next pair's length; nil when no pair is to start now (everything requested
      /// is under way, or the known end is reached while pairs are still in flight: a
      /// pair past it starts only on its own, to read 0 — the end — or a grown file).
      func nextLength() -> Int? {
        if let remainingAtBase {
          let left = remainingAtBase - planned
          return left > 0 ? Int(Swift.min(Int64(slotSize), left)) : nil
        }
        if let knownSize, !pending.isEmpty, sourceBase + planned >= knownSize { return nil }
        return slotSize
      }

      /// Takes a result: a pair whole at last frees its slot; any other finished pair
      /// stops the refills (its slot stays: it holds the bytes a short write left).
      func take(_ tag: UInt32, _ result: Result<Int32, Errno>) {
        outstanding -= 1
        let slot = Int(tag / 2)
        let index = inSlot[slot] - head
        if tag % 2 == 0 { pending[index].read = result } else { pending[index].write = result }
        guard pending[index].isDone else { return }
        if pending[index].isWhole {
          inSlot[slot] = -1
          freeSlots.append(slot)
        } else {
          stopped = true
        }
      }

      /// Counts the whole pairs at the head, in order; the first other one stops the window.
      func countWhole(_ context: inout TransferContext) {
        while let pair = pending.first, pair.isDone {
          guard pair.isWhole else {
            stopped = true
            return
          }
          context.record(bytes: Int64(pair.length), syscalls: 0)
          counted += Int64(pair.length)
          pending.removeFirst()
          head += 1
        }
      }

      do throws(ZeroCopyError) {
        while true {
          if context.isCancelled { stopped = true }
          // A slot is free again as soon as its pair is whole, in any order; the pairs are
          // counted in order (at most 4 × slots waiting behind a slow oldest one).
          while !stopped && !freeSlots.isEmpty && pending.count < 4 * slots, let length = nextLength() {
            // The reads then copy from memory: a cancel never waits for the device. Probed
            // a window's worth ahead (slots × slotSize), so as often as rounds probe.
            if planned + Int64(length) > probed {
              var ahead = planned + Int64(slots * slotSize)
              if let remainingAtBase { ahead = Swift.min(ahead, remainingAtBase) }
              if let knownSize { ahead = Swift.min(ahead, Swift.max(planned + Int64(length), knownSize - sourceBase)) }
              try context.prefetchSource(Int(ahead - counted))
              probed = ahead
            }
            let slot = freeSlots.removeLast()
            let range = (slot * slotSize)..<(slot * slotSize + length)
            let read = IOURing.Request.readFixed(
              source, into: registered, range: range, at: UInt64(sourceBase + planned),
              userData: ring.userData(UInt32(slot * 2)))
            let write = IOURing.Request.writeFixed(
              destination, from: registered, range: range, at: UInt64(destinationBase + planned),
              userData: ring.userData(UInt32(slot * 2 + 1)))
            try ring.prepare(ring.makeChain(capacity: 2).appending(read).appending(write), &context)
            inSlot[slot] = head + pending.count
            pending.append(Pair(slot: slot, length: length))
            outstanding += 2
            planned += Int64(length)
          }
          if outstanding == 0 { break }
          try ring.submitAndCollect(requests: outstanding, returningAfter: stopped ? nil : 1, &context, take)
          countWhole(&context)
        }
      } catch {
        // Never leave requests in flight on a ring that goes back to the pool; count the
        // whole pairs they make (a cancellation noticed while probing the source).
        if outstanding > 0 && !ring.isBroken {
          try ring.submitAndCollect(requests: outstanding, &context, take)
          countWhole(&context)
          try context.checkCancellation()
        }
        throw error
      }
      if pending.isEmpty {
        if !stopped { continue }  // everything started was whole: plan from the new position
        try context.checkCancellation()
        continue
      }
      // The oldest pair not counted was not whole: resolve it as a round does.
      guard let pair = pending.first, let read = pair.read, let write = pair.write else {
        preconditionFailure("io_uring pipeline: a completion of the window is missing")
      }
      let got: Int
      switch read {
      case .failure(let errno) where errno == .canceled:
        continue  // cancelled in the kernel: the loop's check throws, or the window restarts here
      case .failure(let errno):
        throw context.error(syscall: "IORING_OP_READ_FIXED", errno: errno)
      case .success(let n):
        got = Int(n)
      }
      if got == 0 { return .sourceEnded }
      var delivered = 0
      switch write {
      case .success(let n): delivered = Swift.min(Int(n), got)
      case .failure(let errno) where errno == .canceled: delivered = 0  // a short read broke the link
      case .failure(let errno): throw context.error(syscall: RingSink.file.opcodeName, errno: errno)
      }
      context.record(bytes: Int64(delivered), syscalls: 0)
      if delivered < got && !context.isCancelled {
        let bufferStart = pair.slot * slotSize
        try writeAlone((bufferStart + delivered)..<(bufferStart + got), of: registered, sink: .file, on: ring, &context)
      }
      // A short read (the end, or a file that shrank): the next window reads on from here.
    }
  }
}

/// The splice ring of ``IOURingSpliceStrategy``, on a pooled ring. `pipe` is the
/// intermediate pipe, or nil when the destination itself is a pipe.
private func runSpliceRing(
  _ context: inout TransferContext, pool: RingPool, depth: Int, legLength: Int,
  pipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)?
) throws(ZeroCopyError) -> StrategyOutcome {
  guard let startOffset = context.sourceOffset else {
    return .unsupported(reason: "the source must be a file", errno: nil, syscall: nil)
  }
  let expected = context.remainingBytes ?? context.source.size.map { Swift.max(0, $0 - startOffset) }
  let slots = slotsNeeded(expected, slotSize: legLength, depth: depth)
  return try pool.withRing(&context, entries: entriesFor(pairs: slots)) {
    (ring, _, context) throws(ZeroCopyError) -> StrategyOutcome in
    try spliceRounds(&context, ring, slots: slots, legLength: legLength, start: startOffset, pipe: pipe)
  }
}

/// The rounds of ``runSpliceRing(_:pool:depth:legLength:pipe:)`` on a leased ring.
private func spliceRounds(
  _ context: inout TransferContext, _ ring: TransferRing, slots: Int, legLength: Int, start startOffset: Int64,
  pipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)?
) throws(ZeroCopyError) -> StrategyOutcome {
  let source = context.source.descriptor
  let destination = context.destination.descriptor
  let legsPerPair = pipe == nil ? 1 : 2

  /// Moves `count` bytes left in the intermediate pipe to the destination, alone on the ring.
  func drainPipe(_ count: Int, _ context: inout TransferContext) throws(ZeroCopyError) {
    guard let pipe else { return }
    var left = count
    while left > 0 {
      try context.checkCancellation()
      ring.begin()
      try ring.prepare(
        .splice(
          from: pipe.readEnd, to: destination, destinationOffset: context.destinationOffset.map { UInt64($0) },
          count: UInt32(left), userData: ring.userData(0)), &context)
      var result: Result<Int32, Errno> = .success(0)
      try ring.submitAndCollect(requests: 1, &context) { _, moved in result = moved }
      switch result {
      case .success(let moved) where moved > 0:
        context.record(bytes: Int64(moved), syscalls: 0)
        left -= Int(moved)
      case .success:
        throw context.error(syscall: "IORING_OP_SPLICE", errno: .ioError, message: "pipe → destination moved 0 bytes")
      case .failure(let errno):
        throw context.error(syscall: "IORING_OP_SPLICE", errno: errno, message: "pipe → destination")
      }
    }
  }

  /// Resolves a round whose every request has completed (`results[2 × i]` the first leg
  /// of pair `i`, `results[2 × i + 1]` its second), pair by pair in order: nil to go on
  /// with the next round, or how the transfer ended.
  func resolveRound(
    _ results: UnsafeMutableBufferPointer<Result<Int32, Errno>?>, lengths: RoundPlan, _ context: inout TransferContext
  ) throws(ZeroCopyError) -> StrategyOutcome? {
    for (index, length) in lengths.enumerated() {
      guard let leg1 = results[2 * index] else { preconditionFailure("io_uring splice: a completion of the round is missing") }
      let got: Int
      switch leg1 {
      case .failure(let errno) where errno == .canceled: got = -1
      case .failure(let errno):
        throw context.error(
          syscall: "IORING_OP_SPLICE", errno: errno, message: pipe == nil ? "source → destination" : "source → pipe")
      case .success(let n): got = Int(n)
      }
      if got < 0 { break }
      if got == 0 { return .sourceEnded }
      if pipe == nil {
        context.record(bytes: Int64(got), syscalls: 0)
      } else {
        guard let leg2 = results[2 * index + 1] else {
          preconditionFailure("io_uring splice: a completion of the round is missing")
        }
        var delivered = 0
        switch leg2 {
        case .success(let n): delivered = Swift.min(Int(n), got)
        case .failure(let errno) where errno == .canceled: delivered = 0
        case .failure(let errno):
          // The bytes left in the pipe are dropped: the pool closes a pipe returned non-empty.
          throw context.error(
            syscall: "IORING_OP_SPLICE", errno: errno,
            message: "pipe → destination; \(got) bytes pulled into the pipe were not delivered")
        }
        context.record(bytes: Int64(delivered), syscalls: 0)
        if delivered < got {
          // Cancelled: the bytes left in the pipe are dropped (the pool closes a pipe
          // returned non-empty); the loop throws ECANCELED with the bytes delivered.
          if context.isCancelled { break }
          try drainPipe(got - delivered, &context)
          break
        }
      }
      if got < length { break }
    }
    return nil
  }

  return try withSignalGuard { () throws(ZeroCopyError) -> StrategyOutcome in
    while true {
      try context.checkCancellation()
      if context.isFinished { return .complete }
      let base = context.sourceOffset ?? startOffset
      let lengths = planRound(context, base: base, slotSize: legLength, slots: slots)
      try context.prefetchSource(Int(lengths.total))
      var chain = ring.makeChain(capacity: 2 * lengths.count)
      var offset: Int64 = 0
      ring.begin()
      for (index, length) in lengths.enumerated() {
        let sourceOffset = UInt64(base + offset)
        if let pipe {
          chain.append(
            .splice(
              from: source, sourceOffset: sourceOffset, to: pipe.writeEnd, count: UInt32(length),
              userData: ring.userData(UInt32(index * 2))))
          chain.append(
            .splice(
              from: pipe.readEnd, to: destination,
              destinationOffset: context.destinationOffset.map { UInt64($0 + offset) }, count: UInt32(length),
              userData: ring.userData(UInt32(index * 2 + 1))))
        } else {
          chain.append(
            .splice(
              from: source, sourceOffset: sourceOffset, to: destination, count: UInt32(length),
              userData: ring.userData(UInt32(index * 2))))
        }
        offset += Int64(length)
      }
      try ring.prepare(consume chain, &context)
      // The round's results by tag (2 × index for the first leg, + 1 for the second), on
      // the stack: no allocation per round.
      let outcome = try withUnsafeTemporaryAllocation(of: Result<Int32, Errno>?.self, capacity: 2 * lengths.count) {
        results throws(ZeroCopyError) -> StrategyOutcome? in
        results.initialize(repeating: nil)
        defer { results.deinitialize() }
        try ring.submitAndCollect(requests: legsPerPair * lengths.count, &context) { tag, result in
          // The batch's tags are 0..<2 × pairs; a raw buffer's subscript is unchecked in
          // release builds, so the bound is checked here.
          precondition(Int(tag) < results.count, "io_uring: a completion's tag is outside the round")
          results[Int(tag)] = result
        }
        return try resolveRound(results, lengths: lengths, &context)
      }
      if let outcome { return outcome }
    }
  }
}
