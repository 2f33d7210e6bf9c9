// The io_uring strategies: a private ring per transfer, driven synchronously by the
// strategy, with registered buffers (or a pooled pipe) and linked request pairs, several
// pairs per submission.

import Glibc
import LinuxIO
import SystemPackage
import URing

// MARK: - ioUring (linked READ_FIXED → WRITE_FIXED / SEND)

/// io_uring reads into registered buffers, each linked to the write (or, to a socket,
/// the `SEND`) of the same buffer: `depth` linked pairs per `io_uring_enter`, on a ring
/// private to the transfer.
///
/// To a file the pairs are independent (the kernel may run them in parallel); to a
/// stream (socket, pipe) all pairs of a round form one chain, so the bytes arrive in
/// order. Ring setup and registration cost tens of microseconds, so `.automatic` never
/// picks it (12–15 µs for 4 KiB vs 1.9 µs for read/write, Docs/LinuxFacts.md); it is here to be
/// measured, and for sources where overlapping I/O pays (cold files on fast devices).
public struct IOURingStrategy: TransferStrategy {
  /// Bytes per registered buffer (one buffer per pair).
  public let bufferSize: Int
  /// Pairs per submission (and registered buffers).
  public let depth: Int

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
    "io_uring: linked READ_FIXED→WRITE_FIXED (SEND to sockets) pairs, \(depth) × \(bufferSize >> 10) KiB registered buffers, private ring"
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

  /// Moves the bytes in rounds of linked pairs; see the type's documentation.
  ///
  /// - Returns: ``StrategyOutcome/unsupported(reason:errno:syscall:)`` when the ring
  ///   cannot be set up or the buffers registered (for example `ENOMEM` past
  ///   `RLIMIT_MEMLOCK`), so `.automatic` falls back.
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
    return try runReadWriteRing(&context, bufferSize: bufferSize, depth: depth, sink: sink)
  }
}

// MARK: - sendZeroCopy (linked READ_FIXED → SEND_ZC)

/// io_uring `SEND_ZC` from registered buffers: each buffer is read from the file and
/// sent without the kernel copying it into socket buffers (the NIC reads the pages), the
/// buffer being reused only after the kernel's notification. TCP sockets only.
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
    try runReadWriteRing(&context, bufferSize: bufferSize, depth: depth, sink: .zeroCopySocket)
  }
}

// MARK: - ioUringSplice (linked SPLICE → SPLICE through a pooled pipe)

/// io_uring `SPLICE` pairs: file → pooled pipe, linked to pipe → destination, `depth`
/// pairs per submission in one chain (the pipe is shared, so pairs run in order). Into a
/// pipe destination, single linked splices without the intermediate pipe.
public struct IOURingSpliceStrategy: TransferStrategy {
  /// Pairs per submission.
  public let depth: Int
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
      return try runSpliceRing(&context, depth: depth, legLength: pool.capacity, pipe: nil)
    }
    // If the ring itself fails, a splice into the pipe may still be in flight: never reuse it.
    return try pool.withPipe(discardingOn: { $0.syscall == ringFailureSyscall }) {
      (pipe) throws(ZeroCopyError) -> StrategyOutcome in
      try runSpliceRing(&context, depth: depth, legLength: pool.capacity, pipe: (pipe.readEnd, pipe.writeEnd))
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
/// flight, it can be deliberately leaked instead of freed under the kernel's writes.
internal final class RingMemory {
  let buffer: AlignedBuffer
  /// `count` bytes aligned to the page size, or to `alignment` if larger.
  init(count: Int, alignment: Int = AlignedBuffer.pageSize) throws(Errno) {
    buffer = try AlignedBuffer(count: count, alignment: Swift.max(alignment, AlignedBuffer.pageSize), zeroed: false)
  }
  var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress, count: buffer.count) }
  /// Whether ``leak()`` was called: requests may still be in flight.
  private(set) var isLeaked = false
  /// Never frees the memory: the kernel may still write into it.
  func leak() {
    isLeaked = true
    _ = Unmanaged.passRetained(self)
  }
}

/// Removes a transfer ring's buffer table once no request is in flight (`memory` not
/// leaked), counting the `io_uring_register` call.
///
/// Why not leave it to the ring's close: the kernel tears a closed ring down
/// asynchronously, and only then gives the pinned pages back to the user's
/// RLIMIT_MEMLOCK. Measured unprivileged with the default 8 MiB: rings of 256 KiB
/// registered and closed in a loop hit ENOMEM at the 32nd; unregistered first, 200 in a
/// row succeed. Failures are ignored: the close frees the table anyway.
internal func unregisterTransferBuffers(_ ring: inout IOURing, _ memory: RingMemory, _ context: inout TransferContext) {
  guard !memory.isLeaked else { return }
  _ = try? ring.unregisterBuffers()
  context.recordSyscalls(1)
}

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

private func roundUpToPowerOfTwo(_ n: Int) -> Int {
  var p = 1
  while p < n { p <<= 1 }
  return p
}

/// The batches of one transfer ring. Each ``submitAndCollect(_:_:requests:memory:_:zeroCopySends:_:)``
/// call is a batch with its own generation, carried in the high 32 bits of every request's
/// user data (the low 32 bits are the caller's tag), so that a completion posted after
/// its batch ended can never be mistaken for one of a later batch.
///
/// Why this matters (measured on Linux 6.18; the URing test
/// `cancelledLinkedSendZeroCopyStillNotifies` checks it on every kernel the suite runs on): a SEND_ZC
/// that a broken link cancels completes with `-ECANCELED` and **no** `IORING_CQE_F_MORE`,
/// yet its notification (`IORING_CQE_F_NOTIF`) still follows. Counting "one more
/// completion per F_MORE" therefore ended a batch one completion early, and the late
/// completion landed in the next batch (the rare "Index out of range" crash).
private struct RingBatches {
  /// The current batch's generation (1...2^31 - 1, wrapping).
  private(set) var generation: UInt64 = 0
  /// SEND_ZC notifications seen, and how many said the data was copied.
  private(set) var notifications = 0
  private(set) var copied = 0
  /// Set when a cancelled batch ended with SEND_ZC notifications still to come (TCP holds
  /// the pages until the peer acknowledges them, maybe never): the ring and its memory go
  /// to the ``RingReaper`` instead of being closed and freed.
  var pendingNotifications = 0

  /// Starts a new batch.
  mutating func begin() {
    generation = generation == 0x7FFF_FFFF ? 1 : generation + 1
  }

  /// The user data of the current batch's request `tag`.
  func userData(_ tag: UInt32) -> UInt64 { generation << 32 | UInt64(tag) }

  mutating func count(notification: IOURing.Completion) {
    notifications += 1
    if case .notification(copied: true) = notification.zeroCopy { copied += 1 }
  }
}

/// How long one wait in the kernel lasts before the transfer looks at its cancellation
/// flag again. A transfer that is not cancelled does not notice: completions end the wait
/// as soon as they arrive.
private let waitSlice: Duration = .milliseconds(10)
/// After a cancellation, how long to wait for SEND_ZC notifications before retiring the ring.
private let notificationGrace: Duration = .milliseconds(30)
/// The user data of the `ASYNC_CANCEL` a cancelled batch submits (generation 0: no batch).
private let cancelUserData: UInt64 = 0xFFFF_FFFF
/// What a request cut short by a cancellation may complete with besides `ECANCELED`:
/// `EINTR`, and the kernel-internal `ERESTARTSYS`, `ERESTARTNOINTR`, `ERESTARTNOHAND`,
/// `ERESTART_RESTARTBLOCK` (512, 513, 514, 516) that an interrupted io-wq worker lets through.
private let interruptedByCancellation: Set<Int32> = [EINTR, 512, 513, 514, 516]

/// Submits everything prepared (user data made by `batches.userData(_:)` after
/// `batches.begin()`) and waits until every one of the `expected` requests has posted its
/// result and every SEND_ZC among them (`zeroCopySends(tag)`) that the kernel will notify
/// about has posted its notification — only then may the buffers be reused or freed.
/// `handle` gets each result with its tag; notifications are counted, never handed on.
///
/// A SEND_ZC's notification follows when its result has `IORING_CQE_F_MORE`, and also
/// when the result is `-ECANCELED` without it (a cancelled link member: measured, the
/// kernel still posts the notification). Notifications are matched by tag, in any order.
/// A notification of an earlier batch (one the kernel posted without announcing it) is
/// only counted. Counts each `io_uring_enter`. If the ring itself fails, requests may
/// still be in flight: `memory` is leaked (never freed under the kernel) and the error
/// thrown.
///
/// **Cancellation.** Waits last ``waitSlice`` at most; when the transfer is cancelled the
/// batch's requests are cancelled in the kernel (`IORING_OP_ASYNC_CANCEL`, any, all): a
/// send or splice waiting for a peer ends at once with its partial count, a read of a file
/// ends when the device has served it (a large transfer's rounds are read into the page
/// cache first, in cancellable steps: TransferContext.prefetchSource). Every result
/// is still awaited — the bytes delivered stay exact; SEND_ZC notifications are awaited
/// for ``notificationGrace``, then `batches.pendingNotifications` says how many are
/// outstanding and the caller retires the ring (``RingReaper``).
private func submitAndCollect(
  _ ring: inout IOURing, _ batches: inout RingBatches, requests expected: Int, memory: RingMemory?,
  _ context: inout TransferContext, zeroCopySends: (UInt32) -> Bool = { _ in false },
  _ handle: (_ tag: UInt32, _ result: Result<Int32, Errno>) -> Void
) throws(ZeroCopyError) {
  var cancelledAt: ContinuousClock.Instant? = nil
  var results = 0
  var awaited = Set<UInt32>()  // SEND_ZCs of this batch whose notification has not come yet
  var early = Set<UInt32>()  // notifications that came before their send's result
  var stray: IOURing.Completion? = nil
  func take(_ completion: IOURing.Completion) {
    if completion.userData == cancelUserData { return }
    let generation = completion.userData >> 32
    let tag = UInt32(truncatingIfNeeded: completion.userData)
    if completion.isNotification {
      batches.count(notification: completion)
      guard generation == batches.generation else { return }
      if awaited.remove(tag) == nil { early.insert(tag) }
      return
    }
    guard generation == batches.generation else {
      stray = completion
      return
    }
    results += 1
    if zeroCopySends(tag) && (completion.hasMore || completion.result == .failure(.canceled)) {
      if early.remove(tag) == nil { awaited.insert(tag) }
    }
    var result = completion.result
    if cancelledAt != nil, case .failure(let errno) = result, interruptedByCancellation.contains(errno.rawValue) {
      // A splice that a cancellation interrupted on an io-wq worker completes with the
      // kernel's internal -ERESTARTSYS (512) on 6.18, or -EINTR: it was cancelled.
      result = .failure(.canceled)
    }
    handle(tag, result)
  }
  do {
    try ring.submit(waitingFor: expected, timeout: waitSlice)
    context.recordSyscalls(1)
    ring.forEachCompletion(take)
    while stray == nil && (results < expected || !awaited.isEmpty) {
      if context.isCancelled {
        if let cancelledAt {
          if results >= expected && cancelledAt.duration(to: .now) > notificationGrace {
            batches.pendingNotifications = awaited.count
            return
          }
        } else {
          cancelledAt = .now
          try ring.prepare(.cancelAll(userData: cancelUserData))
        }
      }
      try ring.submit(waitingFor: 1, timeout: waitSlice)  // (submits the cancellation, if prepared)
      context.recordSyscalls(1)
      ring.forEachCompletion(take)
    }
  } catch {
    memory?.leak()
    throw context.error(syscall: ringFailureSyscall, errno: error, message: "the ring failed with requests in flight")
  }
  if let stray {
    // Every batch waits for all of its results, so this cannot happen; if it does, the
    // kernel may still own the buffers: never free them, and fail the transfer.
    memory?.leak()
    throw context.error(
      syscall: ringFailureSyscall, errno: .ioError,
      message: "a completion of an earlier batch arrived (\(stray)); the transfer stops")
  }
}

/// The syscall an error names when the ring itself failed (requests may be in flight).
private let ringFailureSyscall = "io_uring_enter"

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

/// The read → write ring shared by ``IOURingStrategy`` and ``SendZeroCopyStrategy``.
private func runReadWriteRing(
  _ context: inout TransferContext, bufferSize: Int, depth: Int, sink: RingSink
) throws(ZeroCopyError) -> StrategyOutcome {
  if context.isFinished { return .complete }
  guard let startOffset = context.sourceOffset else {
    return .unsupported(reason: "the source must be a file", errno: nil, syscall: nil)
  }
  // Size the buffers to the transfer: a 4 KiB copy registers one 4 KiB buffer.
  var slotSize = bufferSize
  var slots = depth
  let expected = context.remainingBytes ?? context.source.size.map { Swift.max(0, $0 - startOffset) }
  if let expected {
    let rounded = Int(clamping: (expected + 4095) / 4096 * 4096)
    slotSize = Swift.max(4096, Swift.min(slotSize, rounded))
    slots = Swift.max(1, Swift.min(depth, Int(clamping: (expected + Int64(slotSize) - 1) / Int64(slotSize))))
  }
  let plannedSlots = slots
  var memory: RingMemory
  do {
    memory = try RingMemory(count: slotSize * slots)
  } catch {
    throw context.error(syscall: "posix_memalign", errno: error, message: "cannot allocate the ring's buffers")
  }
  var ring: IOURing
  do {
    ring = try IOURing(entries: UInt32(roundUpToPowerOfTwo(2 * slots + 2)))
  } catch {
    return .unsupported(reason: "io_uring setup failed: \(error)", errno: error.errno, syscall: "io_uring_setup")
  }
  context.recordSyscalls(1)
  let registered: IOURing.RegisteredBuffer
  while true {
    do {
      registered = try ring.unsafeRegisterBuffers([memory.bytes])[0]
      context.recordSyscalls(1)
      break
    } catch {
      context.recordSyscalls(1)
      // ENOMEM: the pinned pages exceed RLIMIT_MEMLOCK (8 MiB by default for users without
      // CAP_IPC_LOCK, and the ring itself counts against it on 6.x). Halve the buffers
      // until they fit; only a single slot that does not fit is a refusal.
      guard error == .noMemory, slots > 1 else {
        return .unsupported(reason: "buffer registration refused (\(error))", errno: error, syscall: "io_uring_register")
      }
      slots /= 2
      do {
        memory = try RingMemory(count: slotSize * slots)
      } catch {
        throw context.error(syscall: "posix_memalign", errno: error, message: "cannot allocate the ring's buffers")
      }
    }
  }

  if slots < plannedSlots {
    context.note(
      "io_uring: RLIMIT_MEMLOCK let \(slots) of \(plannedSlots) buffers of \(slotSize >> 10) KiB be registered")
  }
  let source = context.source.descriptor
  let destination = context.destination.descriptor
  let ordered = sink != .file
  var batches = RingBatches()
  defer {
    if sink == .zeroCopySocket && batches.notifications > 0 {
      context.note(
        "SEND_ZC: the kernel copied \(batches.copied) of \(batches.notifications) sends (loopback and devices without scatter-gather always copy)"
      )
    }
  }

  /// Writes `range` of the registered buffer at the context's destination offset,
  /// alone on the ring, until all of it is delivered.
  func writeRest(_ range: Range<Int>, _ ring: inout IOURing, _ context: inout TransferContext) throws(ZeroCopyError) {
    var rest = range
    while !rest.isEmpty {
      try context.checkCancellation()
      do {
        batches.begin()
        try ring.prepare(
          makeWrite(sink, destination, registered, rest, at: context.destinationOffset, userData: batches.userData(0)))
      } catch {
        memory.leak()
        throw context.error(syscall: ringFailureSyscall, errno: error)
      }
      var result: Result<Int32, Errno> = .success(0)
      try submitAndCollect(
        &ring, &batches, requests: 1, memory: memory, &context, zeroCopySends: { _ in sink == .zeroCopySocket }
      ) { _, sent in
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

  let outcome = Result { () throws(ZeroCopyError) -> StrategyOutcome in
    try withSignalGuard { () throws(ZeroCopyError) -> StrategyOutcome in
      while true {
        try context.checkCancellation()
        if context.isFinished { return .complete }
        // Plan a round: up to `slots` pairs, at most the context's chunk size (its
        // cancellation granularity); past a file's known end, one probe read only.
        let base = context.sourceOffset ?? startOffset
        let budget = Int64(context.nextChunk() ?? slotSize * slots)
        var lengths: [Int] = []
        var planned: Int64 = 0
        for index in 0..<slots {
          var length = Int(Swift.min(Int64(slotSize), budget - planned))
          if length <= 0 { break }
          if let remaining = context.remainingBytes {
            let left = remaining - planned
            if left <= 0 { break }
            length = Int(Swift.min(Int64(length), left))
          } else if let known = context.source.size, index > 0, base + planned >= known {
            break
          }
          lengths.append(length)
          planned += Int64(length)
        }
        try context.prefetchSource(Int(planned))  // the reads then copy from memory: a cancel never waits for the device
        var chain = IOURing.LinkedChain()
        var offset: Int64 = 0
        batches.begin()
        do throws(Errno) {
          for (index, length) in lengths.enumerated() {
            let range = (index * slotSize)..<(index * slotSize + length)
            let read = IOURing.Request.readFixed(
              source, into: registered, range: range, at: UInt64(base + offset),
              userData: batches.userData(UInt32(index * 2)))
            let write = makeWrite(
              sink, destination, registered, range, at: context.destinationOffset.map { $0 + offset },
              userData: batches.userData(UInt32(index * 2 + 1)))
            if ordered {
              chain.append(read)
              chain.append(write)
            } else {
              try ring.prepare(IOURing.LinkedChain().appending(read).appending(write))
            }
            offset += Int64(length)
          }
          if ordered { try ring.prepare(chain) }
        } catch {
          memory.leak()
          throw context.error(syscall: ringFailureSyscall, errno: error, message: "preparing the round failed")
        }
        var reads = [Result<Int32, Errno>?](repeating: nil, count: lengths.count)
        var writes = [Result<Int32, Errno>?](repeating: nil, count: lengths.count)
        try submitAndCollect(
          &ring, &batches, requests: 2 * lengths.count, memory: memory, &context,
          zeroCopySends: { tag in sink == .zeroCopySocket && tag % 2 == 1 }
        ) { tag, result in
          if tag % 2 == 0 { reads[Int(tag / 2)] = result } else { writes[Int(tag / 2)] = result }
        }
        // Every request of the round has completed: resolve the pairs in order.
        for (index, length) in lengths.enumerated() {
          guard let read = reads[index], let write = writes[index] else {
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
            try writeRest((bufferStart + delivered)..<(bufferStart + got), &ring, &context)
            if ordered { break }  // the rest of the chain was cancelled
          }
          if got < length { break }  // end of file (or a shrinking file): re-read from here
        }
      }
    }
  }
  if batches.pendingNotifications > 0 && !memory.isLeaked {
    // Cancelled with SEND_ZC notifications outstanding: the kernel still references the
    // buffers' pages. The reaper keeps the ring and the memory until they arrive.
    RingReaper.shared.retire(ring, memory: memory, generation: batches.generation, notifications: batches.pendingNotifications)
  } else {
    unregisterTransferBuffers(&ring, memory, &context)
  }
  return try outcome.get()
}

/// The splice ring of ``IOURingSpliceStrategy``. `pipe` is the intermediate pipe, or nil
/// when the destination itself is a pipe.
private func runSpliceRing(
  _ context: inout TransferContext, depth: Int, legLength: Int, pipe: (readEnd: FileDescriptor, writeEnd: FileDescriptor)?
) throws(ZeroCopyError) -> StrategyOutcome {
  guard let startOffset = context.sourceOffset else {
    return .unsupported(reason: "the source must be a file", errno: nil, syscall: nil)
  }
  var slots = depth
  if let expected = context.remainingBytes ?? context.source.size.map({ Swift.max(0, $0 - startOffset) }) {
    slots = Swift.max(1, Swift.min(depth, Int(clamping: (expected + Int64(legLength) - 1) / Int64(legLength))))
  }
  var ring: IOURing
  do {
    ring = try IOURing(entries: UInt32(roundUpToPowerOfTwo(2 * slots + 2)))
  } catch {
    return .unsupported(reason: "io_uring setup failed: \(error)", errno: error.errno, syscall: "io_uring_setup")
  }
  context.recordSyscalls(1)
  let source = context.source.descriptor
  let destination = context.destination.descriptor
  let legsPerPair = pipe == nil ? 1 : 2
  var batches = RingBatches()

  /// Moves `count` bytes left in the intermediate pipe to the destination, alone on the ring.
  func drainPipe(_ count: Int, _ ring: inout IOURing, _ context: inout TransferContext) throws(ZeroCopyError) {
    guard let pipe else { return }
    var left = count
    while left > 0 {
      try context.checkCancellation()
      batches.begin()
      do {
        try ring.prepare(
          .splice(
            from: pipe.readEnd, to: destination, destinationOffset: context.destinationOffset.map { UInt64($0) },
            count: UInt32(left), userData: batches.userData(0)))
      } catch {
        throw context.error(syscall: ringFailureSyscall, errno: error)
      }
      var result: Result<Int32, Errno> = .success(0)
      try submitAndCollect(&ring, &batches, requests: 1, memory: nil, &context) { _, moved in
        result = moved
      }
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

  return try withSignalGuard { () throws(ZeroCopyError) -> StrategyOutcome in
    while true {
      try context.checkCancellation()
      if context.isFinished { return .complete }
      let base = context.sourceOffset ?? startOffset
      let budget = Int64(context.nextChunk() ?? legLength * slots)  // at most the chunk size
      var lengths: [Int] = []
      var planned: Int64 = 0
      for index in 0..<slots {
        var length = Int(Swift.min(Int64(legLength), budget - planned))
        if length <= 0 { break }
        if let remaining = context.remainingBytes {
          let left = remaining - planned
          if left <= 0 { break }
          length = Int(Swift.min(Int64(length), left))
        } else if let known = context.source.size, index > 0, base + planned >= known {
          break
        }
        lengths.append(length)
        planned += Int64(length)
      }
      try context.prefetchSource(Int(planned))
      var chain = IOURing.LinkedChain()
      var offset: Int64 = 0
      batches.begin()
      for (index, length) in lengths.enumerated() {
        let sourceOffset = UInt64(base + offset)
        if let pipe {
          chain.append(
            .splice(
              from: source, sourceOffset: sourceOffset, to: pipe.writeEnd, count: UInt32(length),
              userData: batches.userData(UInt32(index * 2))))
          chain.append(
            .splice(
              from: pipe.readEnd, to: destination,
              destinationOffset: context.destinationOffset.map { UInt64($0 + offset) }, count: UInt32(length),
              userData: batches.userData(UInt32(index * 2 + 1))))
        } else {
          chain.append(
            .splice(
              from: source, sourceOffset: sourceOffset, to: destination, count: UInt32(length),
              userData: batches.userData(UInt32(index * 2))))
        }
        offset += Int64(length)
      }
      do throws(Errno) {
        try ring.prepare(chain)
      } catch {
        throw context.error(syscall: ringFailureSyscall, errno: error, message: "preparing the round failed")
      }
      var first = [Result<Int32, Errno>?](repeating: nil, count: lengths.count)
      var second = [Result<Int32, Errno>?](repeating: nil, count: lengths.count)
      try submitAndCollect(&ring, &batches, requests: legsPerPair * lengths.count, memory: nil, &context) { tag, result in
        if tag % 2 == 0 { first[Int(tag / 2)] = result } else { second[Int(tag / 2)] = result }
      }
      for (index, length) in lengths.enumerated() {
        guard let leg1 = first[index] else { preconditionFailure("io_uring splice: a completion of the round is missing") }
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
          guard let leg2 = second[index] else { preconditionFailure("io_uring splice: a completion of the round is missing") }
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
            try drainPipe(got - delivered, &ring, &context)
            break
          }
        }
        if got < length { break }
      }
    }
  }
}

// MARK: - Retired rings

/// Keeps rings whose SEND_ZC notifications a cancellation left outstanding — TCP holds a
/// buffer's pages until the peer has acknowledged them, which a peer that does not read
/// never does (until the socket is closed) — together with their registered memory, and
/// closes and frees them once every notification has arrived. One thread for the process,
/// started on first use; it looks at the rings every 20 ms (reading the completion queue,
/// no system call) while it has any.
internal final class RingReaper: @unchecked Sendable {
  // @unchecked: `retired` is guarded by `lock`; each ring is touched only by the reaper thread.
  static let shared = RingReaper()

  private final class Retired {
    var ring: IOURing
    let memory: RingMemory
    let generation: UInt64
    var notifications: Int
    init(ring: consuming IOURing, memory: RingMemory, generation: UInt64, notifications: Int) {
      self.ring = ring
      self.memory = memory
      self.generation = generation
      self.notifications = notifications
    }
  }

  private let lock = Lock()
  private let work = Condition()
  private var retired: [Retired] = []  // guarded by lock
  private var started = false  // guarded by lock

  /// Rings (and their memory) waiting for notifications.
  var count: Int { lock.withLock { retired.count } }

  /// Takes `ring` and `memory` until `notifications` SEND_ZC notifications of batch
  /// `generation` have arrived.
  func retire(_ ring: consuming IOURing, memory: RingMemory, generation: UInt64, notifications: Int) {
    let entry = Retired(ring: ring, memory: memory, generation: generation, notifications: notifications)
    lock.withLock {
      retired.append(entry)
      if !started {
        started = true
        if case .failure = startThread(name: "zc-ring-reaper", cpu: nil, { [self] in run() }) {
          // No thread: never free the memory (the kernel still references it).
          started = false
          retired.removeLast()
          memory.leak()
          _ = Unmanaged.passRetained(entry)
        }
      }
      work.signal()
    }
  }

  private func run() {
    while true {
      let entries = lock.withLock { () -> [Retired] in
        while retired.isEmpty { lock.wait(work) }
        return retired
      }
      var done: [ObjectIdentifier] = []
      for entry in entries {
        entry.ring.forEachCompletion { completion in
          if completion.isNotification && completion.userData >> 32 == entry.generation { entry.notifications -= 1 }
        }
        if entry.notifications <= 0 { done.append(ObjectIdentifier(entry)) }
      }
      if !done.isEmpty {
        // Dropped outside the lock: the ring closes first, then its memory is freed.
        lock.withLock { retired.removeAll { done.contains(ObjectIdentifier($0)) } }
      }
      usleep(20_000)
    }
  }
}
