// The ring driver of the io_uring transfer strategies: a ring with its registered memory
// (`TransferRing`), leased from a pool (`RingPool`, RingPool.swift) for one transfer, and
// the machinery every strategy shares — tagged batches whose late completions can never
// be mistaken for a later batch's, SEND_ZC notifications, cancellation, the rounds'
// planning and the end of the lease (back to the pool, retired, or closed).
// Docs/RingDriver.md describes the design and how to write a strategy on it.

import Glibc
import LinuxIO
import SystemPackage
import URing

// MARK: - Registered memory

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
    guard !isLeaked else { return }
    isLeaked = true
    _ = Unmanaged.passRetained(self)
  }
}

// MARK: - Batches

/// The batches of one ring. Each ``TransferRing/submitAndCollect(requests:_:zeroCopySends:_:)``
/// call is a batch with its own generation, carried in the high 32 bits of every request's
/// user data (the low 32 bits are the caller's tag), so that a completion posted after
/// its batch ended can never be mistaken for one of a later batch — of the same transfer
/// or, the ring being pooled, of a later transfer (the generation lives as long as the ring).
///
/// Why this matters (measured on Linux 6.18; the URing test
/// `cancelledLinkedSendZeroCopyStillNotifies` checks it on every kernel the suite runs on): a SEND_ZC
/// that a broken link cancels completes with `-ECANCELED` and **no** `IORING_CQE_F_MORE`,
/// yet its notification (`IORING_CQE_F_NOTIF`) still follows. Counting "one more
/// completion per F_MORE" therefore ended a batch one completion early, and the late
/// completion landed in the next batch (the rare "Index out of range" crash).
internal struct RingBatches {
  /// The current batch's generation (1...2^31 - 1, wrapping).
  private(set) var generation: UInt64 = 0
  /// SEND_ZC notifications seen during the current lease, and how many said the data was copied.
  var notifications = 0
  var copied = 0
  /// Set when a cancelled batch ended with SEND_ZC notifications still to come (TCP holds
  /// the pages until the peer acknowledges them, maybe never): the ring and its memory go
  /// to the ``RingReaper`` instead of back to the pool.
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

/// The syscall an error names when the ring itself failed (requests may be in flight).
internal let ringFailureSyscall = "io_uring_enter"

// MARK: - The ring

/// A ring and the memory registered with it (one buffer, cut into slots by the strategy),
/// leased to one transfer at a time by a ``RingPool``.
///
/// **Clean or not.** A lease ends clean when every request of every batch has completed
/// (the batches wait for all results and notifications) and nothing is left prepared:
/// the ring goes back to the pool. It ends *broken* when the ring failed or a round could
/// not be prepared (requests may be in flight or half-prepared: the memory is leaked,
/// the ring closed, never reused), or with SEND_ZC notifications outstanding (the ring
/// and its memory go to the ``RingReaper``, never back to the pool).
internal final class TransferRing {
  var ring: IOURing
  /// The registered memory (nil for a ring without buffers, e.g. splice).
  let memory: RingMemory?
  /// `memory` as buffer 0 of the ring's table.
  let registered: IOURing.RegisteredBuffer?
  /// The ring's submission queue size.
  let submissionCapacity: Int
  /// What the ring pins against `RLIMIT_MEMLOCK`: its queues and its registered memory.
  let lockedBytes: Int
  /// The size of its sparse table of registered files (0: none). Set up by the lease that
  /// first asks for slots (``RingPool/lease(entries:bytes:slotSize:alignment:fileSlots:unregisteredIfRefused:syscalls:)``)
  /// and kept with the ring: a lessee that fills slots (`OPENAT` into a slot) empties them
  /// (`CLOSE`) before its lease ends clean.
  private(set) var fileSlots = 0
  /// The process (`ForkGeneration`) that created it: a forked child never uses (nor unregisters) it.
  let ownerGeneration: UInt64
  /// When its last lease ended.
  var lastUsed: ContinuousClock.Instant = .now
  var batches = RingBatches()
  /// The last prepared chain, emptied, its capacity kept (``makeChain(capacity:)``).
  private var spareChain = IOURing.LinkedChain()
  /// Set when the ring failed with requests in flight or left prepared: never reused.
  private(set) var isBroken = false
  /// Test hook (``RingPool/Faults``): the next submission "fails" with this errno after
  /// the kernel took it.
  var failNextSubmit: Errno? = nil
  /// Test hook (``RingPool/Faults``): the next chain's preparation fails with this errno
  /// before any of it is written (as when making room fails).
  var failNextPrepare: Errno? = nil
  /// Test hook: armed as ``failNextPrepare`` by the first successful ``submit(waitingFor:)``
  /// or ``submitAndCollect(requests:returningAfter:_:zeroCopySends:_:)``.
  var failPrepareAfterSubmit: Errno? = nil

  init(ring: consuming IOURing, memory: RingMemory?, registered: IOURing.RegisteredBuffer?, ownerGeneration: UInt64) {
    submissionCapacity = ring.submissionQueueCapacity
    // SQ ring + CQ ring + SQE array, each rounded to pages (what io_uring_setup pins on 6.x).
    let page = AlignedBuffer.pageSize
    func pages(_ n: Int) -> Int { (n + page - 1) / page * page }
    let queues =
      pages(64 + 4 * ring.submissionQueueCapacity + 16 * ring.completionQueueCapacity)
      + pages(64 * ring.submissionQueueCapacity)
    lockedBytes = queues + (memory?.buffer.count ?? 0)
    self.ring = ring
    self.memory = memory
    self.registered = registered
    self.ownerGeneration = ownerGeneration
  }

  /// Whether the lease ends with the ring reusable.
  var isReusable: Bool {
    !isBroken && !(memory?.isLeaked ?? false) && batches.pendingNotifications == 0 && (memory == nil || registered != nil)
  }

  /// The ring can no longer be trusted: requests may be in flight. Its memory is leaked
  /// (never freed under the kernel) and it is closed instead of pooled.
  func markBroken() {
    isBroken = true
    memory?.leak()
  }

  /// Gives the ring a sparse table of `count` registered files, for requests that open
  /// into a slot (`OPENAT` with a file index) and use it. (A ring with a smaller table is
  /// never leased to a lessee that asks for more: the table is registered once.)
  func registerFileSlots(_ count: Int) throws(Errno) {
    precondition(fileSlots == 0, "TransferRing.registerFileSlots: the ring has a file table")
    _ = try ring.registerFileSlots(count: count)
    fileSlots = count
  }

  /// Removes the buffer table (see ``RingPool`` on why before the close) and lets the ring
  /// close when the last reference goes. Not in a forked child: the table is the parent's.
  func prepareToClose() {
    guard !isBroken, registered != nil, let memory, !memory.isLeaked, ownerGeneration == ForkGeneration.current else { return }
    _ = try? ring.unregisterBuffers()
  }

  // MARK: Batches

  /// Starts a batch: requests prepared until the next ``submitAndCollect(requests:_:zeroCopySends:_:)``
  /// get their user data from ``userData(_:)``.
  func begin() { batches.begin() }

  /// The user data of the current batch's request `tag`.
  func userData(_ tag: UInt32) -> UInt64 { batches.userData(tag) }

  /// Prepares `chain` (one submission), or marks the ring broken and throws.
  func prepare(_ chain: consuming IOURing.LinkedChain, _ context: inout TransferContext) throws(ZeroCopyError) {
    do {
      try prepare(consume chain)
    } catch {
      throw preparingFailed(error, context)
    }
  }

  /// Prepares one request, or marks the ring broken and throws.
  func prepare(_ request: consuming IOURing.Request, _ context: inout TransferContext) throws(ZeroCopyError) {
    do {
      try ring.prepare(request)
    } catch {
      markBroken()
      throw preparingFailed(error, context)
    }
  }

  /// Prepares `chain`, or marks the ring broken and rethrows: part of it may be prepared
  /// (and hold memory), or a full queue's submission failed with requests in flight.
  /// The chain's memory is kept for ``makeChain(capacity:)``.
  func prepare(_ chain: consuming IOURing.LinkedChain) throws(Errno) {
    do throws(Errno) {
      if let injected = failNextPrepare {
        failNextPrepare = nil
        throw injected
      }
      try ring.prepare(chain)
      chain.removeAll(keepingCapacity: true)
      chain.defaultLink = .soft
      spareChain = chain
    } catch {
      markBroken()
      throw error
    }
  }

  /// An empty chain (members linked `.soft` by default) with room for `capacity` members:
  /// the memory of the chain this ring prepared last, so that a round's chain allocates
  /// nothing once the ring has prepared one as long. Give it back by preparing it.
  func makeChain(capacity: Int) -> IOURing.LinkedChain {
    var chain = IOURing.LinkedChain()
    swap(&chain, &spareChain)
    chain.reserveCapacity(capacity)
    return chain
  }

  /// The error of a round that could not be prepared (the ring is broken).
  private func preparingFailed(_ error: Errno, _ context: TransferContext) -> ZeroCopyError {
    context.error(syscall: ringFailureSyscall, errno: error, message: "preparing the round failed")
  }

  /// Submits everything prepared and waits for at least `count` completions (none: does not
  /// wait), for a lessee that reads the completions itself rather than batch by batch (the
  /// tree copy, whose files complete independently): it tags each chain with its own batch
  /// (``begin()``, ``userData(_:)``) and takes a completion whose generation is not the
  /// one its chain was given for a stray, breaking the ring. A failure here marks the ring
  /// broken (requests may be in flight) and is rethrown. Honours the ``RingPool/Faults``
  /// hook as ``submitAndCollect(requests:_:zeroCopySends:_:)`` does.
  func submit(waitingFor count: Int) throws(Errno) {
    do throws(Errno) {
      _ = try ring.submit(waitingFor: count)
      if let injected = failNextSubmit {
        failNextSubmit = nil
        throw injected  // the test hook: the requests are in flight, as after a real failure
      }
      if let armed = failPrepareAfterSubmit {
        failPrepareAfterSubmit = nil
        failNextPrepare = armed
      }
    } catch {
      markBroken()
      throw error
    }
  }

  /// Submits everything prepared (user data made by ``userData(_:)`` after ``begin()``)
  /// and waits until every one of the `expected` requests has posted its result and every
  /// SEND_ZC among them (`zeroCopySends(tag)`) that the kernel will notify about has
  /// posted its notification — only then may the buffers be reused or freed. `handle`
  /// gets each result with its tag; notifications are counted, never handed on.
  ///
  /// A SEND_ZC's notification follows when its result has `IORING_CQE_F_MORE`, and also
  /// when the result is `-ECANCELED` without it (a cancelled link member: measured, the
  /// kernel still posts the notification). Notifications are matched by tag, in any order.
  /// A notification of an earlier batch (one the kernel posted without announcing it) is
  /// only counted. Counts each `io_uring_enter`. If the ring itself fails, requests may
  /// still be in flight: the ring is marked broken (its memory leaked, never freed under
  /// the kernel, and the ring never reused) and the error thrown.
  ///
  /// **Cancellation.** Waits last ``waitSlice`` at most; when the transfer is cancelled the
  /// batch's requests are cancelled in the kernel (`IORING_OP_ASYNC_CANCEL`, any, all): a
  /// send or splice waiting for a peer ends at once with its partial count, a read of a file
  /// ends when the device has served it (a large transfer's rounds are read into the page
  /// cache first, in cancellable steps: TransferContext.prefetchSource). Every result
  /// is still awaited — the bytes delivered stay exact; SEND_ZC notifications are awaited
  /// for ``notificationGrace``, then `batches.pendingNotifications` says how many are
  /// outstanding and the lease's end retires the ring (``RingReaper``).
  ///
  /// **Pipelines.** With `returningAfter: n`, it returns as soon as `n` of the `expected`
  /// results have been handed on (and every result already posted with them), for a
  /// strategy that keeps `expected` requests in flight and refills as results come; those
  /// still in flight stay in the generation, to be collected by a later call. Cancelled
  /// meanwhile, it cancels them all in the kernel and waits for all `expected`.
  func submitAndCollect(
    requests expected: Int, returningAfter minimum: Int? = nil, _ context: inout TransferContext,
    zeroCopySends: (UInt32) -> Bool = { _ in false }, _ handle: (_ tag: UInt32, _ result: Result<Int32, Errno>) -> Void
  ) throws(ZeroCopyError) {
    var cancelledAt: ContinuousClock.Instant? = nil
    var results = 0
    var awaited = Set<UInt32>()  // SEND_ZCs of this batch whose notification has not come yet
    var early = Set<UInt32>()  // notifications that came before their send's result
    var stray: IOURing.Completion? = nil
    let generation = batches.generation
    func take(_ completion: IOURing.Completion) {
      if completion.userData == cancelUserData { return }
      let tag = UInt32(truncatingIfNeeded: completion.userData)
      if completion.isNotification {
        batches.count(notification: completion)
        guard completion.userData >> 32 == generation else { return }
        if awaited.remove(tag) == nil { early.insert(tag) }
        return
      }
      guard completion.userData >> 32 == generation else {
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
    let enough = Swift.min(minimum ?? expected, expected)
    do throws(Errno) {
      try ring.submit(waitingFor: enough, timeout: waitSlice)
      context.recordSyscalls(1)
      if let injected = failNextSubmit {
        failNextSubmit = nil
        throw injected  // the test hook: the requests are in flight, as after a real failure
      }
      if let armed = failPrepareAfterSubmit {
        failPrepareAfterSubmit = nil
        failNextPrepare = armed
      }
      // One at a time rather than forEachCompletion(take): `take` is then only called,
      // never a closure value, so the variables it captures stay on the stack (as a
      // closure they were boxed: five allocations per batch).
      while let completion = ring.peekCompletion() { take(completion) }
      while stray == nil && (results < (cancelledAt == nil ? enough : expected) || !awaited.isEmpty) {
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
        while let completion = ring.peekCompletion() { take(completion) }
      }
    } catch {
      markBroken()
      throw context.error(syscall: ringFailureSyscall, errno: error, message: "the ring failed with requests in flight")
    }
    if let stray {
      // Every batch waits for all of its results, so this cannot happen; if it does, the
      // kernel may still own the buffers: never free them, and fail the transfer.
      markBroken()
      throw context.error(
        syscall: ringFailureSyscall, errno: .ioError,
        message: "a completion of an earlier batch arrived (\(stray)); the transfer stops")
    }
  }
}

// MARK: - Rounds

/// The lengths of one round: `count` pieces of `slotSize` bytes, the last one possibly
/// shorter (`total` bytes in all). A value, not an array: planning a round allocates
/// nothing.
internal struct RoundPlan: RandomAccessCollection {
  /// The length of every piece but the last.
  let slotSize: Int
  /// The number of pieces.
  let count: Int
  /// The bytes of all pieces.
  let total: Int64

  var startIndex: Int { 0 }
  var endIndex: Int { count }

  /// The length of piece `index`.
  subscript(index: Int) -> Int {
    precondition(index >= 0 && index < count, "RoundPlan: piece \(index) of \(count)")
    return index < count - 1 ? slotSize : Int(total - Int64(slotSize) * Int64(count - 1))
  }
}

/// The lengths of the next round: up to `slots` pieces of at most `slotSize` bytes, at
/// most the context's chunk size in all (its cancellation granularity), never past the
/// requested count; past a file's known end, one probe piece only (it reads 0: the end).
/// Every piece but the last is `slotSize` long (each is the smaller of `slotSize` and
/// what the caps leave).
internal func planRound(_ context: TransferContext, base: Int64, slotSize: Int, slots: Int) -> RoundPlan {
  let budget = Int64(context.nextChunk() ?? slotSize * slots)
  var count = 0
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
    count += 1
    planned += Int64(length)
    // A short piece is the last: the caps above leave nothing after it.
    if length < slotSize { break }
  }
  return RoundPlan(slotSize: slotSize, count: count, total: planned)
}

/// How many slots of `slotSize` a transfer of `expected` bytes (nil: unknown) can use, at most `depth`.
internal func slotsNeeded(_ expected: Int64?, slotSize: Int, depth: Int) -> Int {
  guard let expected else { return depth }
  return Swift.max(1, Swift.min(depth, Int(clamping: (expected + Int64(slotSize) - 1) / Int64(slotSize))))
}

/// The submission queue entries for `pairs` linked pairs and one cancellation.
internal func entriesFor(pairs: Int) -> Int {
  var p = 1
  while p < 2 * pairs + 2 { p <<= 1 }
  return p
}

// MARK: - Retired rings

/// Keeps rings whose SEND_ZC notifications a cancellation left outstanding — TCP holds a
/// buffer's pages until the peer has acknowledged them, which a peer that does not read
/// never does (until the socket is closed) — together with their registered memory, and
/// closes and frees them once every notification has arrived. One thread for the process,
/// started on first use; it looks at the rings every 20 ms (reading the completion queue,
/// no system call) while it has any. A retired ring never goes back to the pool.
internal final class RingReaper: @unchecked Sendable {
  // @unchecked: `retired` is guarded by `lock`; each ring is touched only by the reaper thread.
  static let shared = RingReaper()

  private final class Retired {
    let ring: TransferRing
    let generation: UInt64
    var notifications: Int
    init(ring: TransferRing, generation: UInt64, notifications: Int) {
      self.ring = ring
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

  /// Takes `ring` (and its memory) until its `batches.pendingNotifications` SEND_ZC
  /// notifications of its current batch have arrived.
  func retire(_ ring: TransferRing) {
    let entry = Retired(ring: ring, generation: ring.batches.generation, notifications: ring.batches.pendingNotifications)
    lock.withLock {
      retired.append(entry)
      if !started {
        started = true
        if case .failure = startThread(name: "zc-ring-reaper", cpu: nil, { [self] in run() }) {
          // No thread: never free the memory (the kernel still references it).
          started = false
          retired.removeLast()
          ring.markBroken()
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
        entry.ring.ring.forEachCompletion { completion in
          if completion.isNotification && completion.userData >> 32 == entry.generation { entry.notifications -= 1 }
        }
        if entry.notifications <= 0 { done.append(ObjectIdentifier(entry)) }
      }
      if !done.isEmpty {
        // Dropped outside the lock: the ring's buffer table is removed, the ring closes,
        // then its memory is freed.
        let finished = lock.withLock { () -> [Retired] in
          let finished = retired.filter { done.contains(ObjectIdentifier($0)) }
          retired.removeAll { done.contains(ObjectIdentifier($0)) }
          return finished
        }
        for entry in finished { entry.ring.prepareToClose() }
      }
      usleep(20_000)
    }
  }
}
