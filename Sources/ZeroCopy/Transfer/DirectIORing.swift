// The overlapped part of `directIO`: an io_uring pipeline of O_DIRECT reads and writes
// over the aligned middle of a copy, so the device works on several chunks at once
// instead of waiting for one read, then one write, in turn.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// What ``runDirectIORing(_:source:destination:length:chunk:depth:alignment:)`` did.
internal enum DirectIORingResult {
  /// No ring (io_uring unavailable, setup or registration refused): nothing was moved;
  /// the reason goes into the report's notes.
  case unavailable(String)
  /// The ring ran with `slots` chunk buffers, registered with the ring unless
  /// `RLIMIT_MEMLOCK` refused them (`registered == false`: plain `READ`/`WRITE`, the
  /// kernel pinning each request's pages); the context has advanced by the contiguous
  /// prefix written, `bytes`. `stoppedEarly` when a read or write was short or failed, or
  /// the copy was cancelled: the synchronous loop then redoes the rest and reports any
  /// error exactly.
  case ran(bytes: Int64, slots: Int, registered: Bool, stoppedEarly: Bool)
}

/// Copies `length` bytes (a multiple of `alignment.offset`, both context offsets aligned)
/// from `source` to `destination`, both opened with `O_DIRECT`, keeping up to `depth`
/// chunks of `chunk` bytes in flight: each slot reads its chunk (`READ_FIXED`), then
/// writes it (`WRITE_FIXED`), then reads the next chunk not yet started (`READ`/`WRITE`
/// when `RLIMIT_MEMLOCK` refuses to register the buffers). Submission and reaping share
/// one `io_uring_enter` per completion batch.
///
/// The context advances only by the prefix of chunks written completely and in order, so
/// its offsets stay exact, and no read starts more than `2 × depth` chunks past that
/// prefix (a slow write cannot let the reads run far ahead). Any anomaly — a short or
/// failed read or write, cancellation — stops new reads, drains every request still in
/// flight (the buffers are never freed under the kernel), truncates a destination that
/// chunks past the prefix extended back to its old size (or the prefix's end), and returns
/// `.ran` with `stoppedEarly`. If the ring itself fails with requests in flight, the
/// memory is leaked and the error thrown.
internal func runDirectIORing(
  _ context: inout TransferContext, source: FileDescriptor, destination: FileDescriptor, length: Int64, chunk: Int,
  depth: Int, alignment: DirectIOAlignment, pool: RingPool = .shared
) throws(ZeroCopyError) -> DirectIORingResult {
  guard let sourceStart = context.sourceOffset, let destinationStart = context.destinationOffset else {
    return .unavailable("no explicit offsets")
  }
  let wanted = Swift.max(1, Swift.min(depth, Int((length + Int64(chunk) - 1) / Int64(chunk))))
  var entries = 8
  while entries < 2 * wanted { entries <<= 1 }
  return try pool.withRing(
    &context, entries: entries, slotSize: chunk, slots: wanted, alignment: alignment.memory, unregisteredIfRefused: true,
    refused: { outcome in
      if case .unsupported(let reason, _, _) = outcome { return .unavailable(reason) }
      return .unavailable("no ring")
    }
  ) { (ring, slots, context) throws(ZeroCopyError) -> DirectIORingResult in
    try directIORounds(
      &context, ring, slots: slots, source: source, destination: destination, sourceStart: sourceStart,
      destinationStart: destinationStart, length: length, chunk: chunk, alignment: alignment)
  }
}

/// The pipeline of ``runDirectIORing(_:source:destination:length:chunk:depth:alignment:pool:)``
/// on a leased ring: `slots` chunk buffers in its memory, registered unless
/// `RLIMIT_MEMLOCK` refused them (`ring.registered == nil`).
private func directIORounds(
  _ context: inout TransferContext, _ leased: TransferRing, slots: Int, source: FileDescriptor,
  destination: FileDescriptor, sourceStart: Int64, destinationStart: Int64, length: Int64, chunk: Int,
  alignment: DirectIOAlignment
) throws(ZeroCopyError) -> DirectIORingResult {
  guard let memory = leased.memory else { preconditionFailure("directIO ring: a ring without memory") }
  let regions = (0..<slots).map { UnsafeMutableRawBufferPointer(rebasing: memory.bytes[($0 * chunk)..<(($0 + 1) * chunk)]) }
  let registered = leased.registered
  leased.begin()
  let generation = leased.batches.generation

  let destinationSize: Int64? = (try? destination.status()).map { Int64($0.rawValue.st_size) }
  let chunkCount = Int((length + Int64(chunk) - 1) / Int64(chunk))
  let window = 2 * slots
  func chunkLength(_ k: Int) -> Int { Int(Swift.min(Int64(chunk), length - Int64(k) * Int64(chunk))) }
  var nextToRead = 0  // the next chunk no slot has started
  var chunkOfSlot = [Int](repeating: -1, count: slots)
  var written = [Bool](repeating: false, count: chunkCount)
  var prefix = 0  // chunks [0, prefix) are written and recorded in the context
  var inFlight = 0
  var stopped = false
  /// The first chunk whose read or write failed (Int.max: none).
  var firstFailed = Int.max
  var idle = Array((0..<slots).reversed())

  func startRead(_ slot: Int, _ ring: inout IOURing) throws(Errno) {
    let k = nextToRead
    nextToRead += 1
    chunkOfSlot[slot] = k
    let request: IOURing.Request
    let offset = UInt64(sourceStart + Int64(k) * Int64(chunk))
    do {
      if let registered {
        request = try .directReadFixed(
          source, into: registered, range: (slot * chunk)..<(slot * chunk + chunkLength(k)), at: offset,
          alignment: alignment, userData: leased.userData(UInt32(slot) << 1))
      } else {
        request = try .unsafeDirectRead(
          source, into: UnsafeMutableRawBufferPointer(rebasing: regions[slot][0..<chunkLength(k)]), at: offset,
          alignment: alignment, userData: leased.userData(UInt32(slot) << 1))
      }
    } catch {
      preconditionFailure("directIO ring: an aligned read was refused: \(error)")
    }
    try ring.prepare(request)
    inFlight += 1
  }

  func startWrite(_ slot: Int, _ ring: inout IOURing) throws(Errno) {
    let k = chunkOfSlot[slot]
    let request: IOURing.Request
    let offset = UInt64(destinationStart + Int64(k) * Int64(chunk))
    do {
      if let registered {
        request = try .directWriteFixed(
          destination, from: registered, range: (slot * chunk)..<(slot * chunk + chunkLength(k)), at: offset,
          alignment: alignment, userData: leased.userData(UInt32(slot) << 1 | 1))
      } else {
        request = try .unsafeDirectWrite(
          destination, from: UnsafeRawBufferPointer(rebasing: regions[slot][0..<chunkLength(k)]), at: offset,
          alignment: alignment, userData: leased.userData(UInt32(slot) << 1 | 1))
      }
    } catch {
      preconditionFailure("directIO ring: an aligned write was refused: \(error)")
    }
    try ring.prepare(request)
    inFlight += 1
  }

  var completions: [(userData: UInt64, result: Result<Int32, Errno>)] = []
  completions.reserveCapacity(2 * slots)
  do throws(Errno) {
    func refill(_ ring: inout IOURing) throws(Errno) {
      while !stopped, nextToRead < chunkCount, nextToRead < prefix + window, let slot = idle.popLast() {
        try startRead(slot, &ring)
      }
    }
    try refill(&leased.ring)
    while inFlight > 0 {
      try leased.ring.submit(waitingFor: 1)
      context.recordSyscalls(1)
      completions.removeAll(keepingCapacity: true)
      leased.ring.forEachCompletion { completions.append(($0.userData, $0.result)) }
      if context.isCancelled { stopped = true }
      for completion in completions {
        // Every lease ends with nothing in flight: another generation means a broken ring.
        guard completion.userData >> 32 == generation else { throw Errno.ioError }
        inFlight -= 1
        let slot = Int(UInt32(truncatingIfNeeded: completion.userData) >> 1)
        let k = chunkOfSlot[slot]
        let expected = chunkLength(k)
        let isWrite = completion.userData & 1 == 1
        var result = completion.result
        #if DEBUG
          if isWrite && DirectIORingFaults.failedWrites.contains(k) { result = .failure(.ioError) }
        #endif
        guard case .success(let n) = result, Int(n) == expected else {
          stopped = true  // the synchronous loop redoes chunk k and reports exactly
          firstFailed = Swift.min(firstFailed, k)
          idle.append(slot)
          continue
        }
        if !isWrite {
          // After a failure, a chunk before the failed one is still written (the prefix
          // delivered in order is as long as it can be, whatever order the reads complete
          // in); nothing more after a cancellation.
          if stopped && (context.isCancelled || k > firstFailed) {
            idle.append(slot)
          } else {
            try startWrite(slot, &leased.ring)
          }
          continue
        }
        written[k] = true
        idle.append(slot)
        while prefix < chunkCount && written[prefix] {
          context.record(bytes: Int64(chunkLength(prefix)), syscalls: 0)
          prefix += 1
        }
      }
      try refill(&leased.ring)
    }
  } catch {
    leased.markBroken()
    throw context.error(syscall: "io_uring_enter", errno: error, message: "the O_DIRECT ring failed with requests in flight")
  }
  if prefix < chunkCount {
    // Chunks past the prefix may have been written (wholly, or partly by a failed write)
    // and will be redone — or not, if the source has ended: give back what they added
    // past the destination's old end.
    if let destinationSize, let end = context.destinationOffset {
      let keep = Swift.max(destinationSize, end)
      if let now = try? destination.status(), Int64(now.rawValue.st_size) > keep {
        do {
          try destination.truncate(toSize: keep)
        } catch {
          throw context.error(
            syscall: "ftruncate", errno: error,
            message: "cannot take back the chunks the O_DIRECT ring wrote past the bytes delivered in order")
        }
      }
    }
  }
  return .ran(
    bytes: prefix == chunkCount ? length : Int64(prefix) * Int64(chunk), slots: slots, registered: registered != nil,
    stoppedEarly: stopped || prefix < chunkCount)
}

#if DEBUG
  /// Test-only fault injection for the ring (debug builds): task-local, so it affects only
  /// the test that sets it.
  internal enum DirectIORingFaults {
    /// Chunk indices whose ring write is reported as failed with `EIO` after the kernel
    /// has really written it (a failure that leaves bytes past the in-order prefix).
    @TaskLocal static var failedWrites: Set<Int> = []
  }
#endif
