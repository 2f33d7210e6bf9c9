// The pool of idle rings of the io_uring transfer strategies and the tree copy: a ring and
// its registered buffers (and files) outlive the transfer that set them up, so the next transfer whose configuration fits skips io_uring_setup,
// the two mmaps, io_uring_register and, at the end, io_uring_register (unregister), the
// two munmaps and close. Docs/RingDriver.md states the policy.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Idle ``TransferRing``s, lent to one transfer at a time.
///
/// **Policy.** A lease takes the idle ring that fits (submission queue and registered
/// memory at least what the transfer asks for; the smallest such) or sets up a new one
/// sized to the transfer. At the end of the lease a clean ring goes back (broken ones are
/// closed, ones with SEND_ZC notifications outstanding go to the ``RingReaper``). At most
/// ``Limits/maxIdleRings`` idle rings pinning at most ``Limits/maxIdleLockedBytes`` are
/// kept (the least recently used go first), and an idle ring unused for
/// ``Limits/idleLimit`` is closed — lazily at the next lease or return, and by a sweeper
/// thread that runs while the pool has idle rings. A ring is closed after removing its
/// buffer table: the kernel tears a closed ring down asynchronously and gives its pinned
/// pages back to `RLIMIT_MEMLOCK` only then, but unregistering gives them back at once
/// (measured: 256 KiB rings registered and closed in a loop hit ENOMEM at the 32nd under
/// the default 8 MiB; unregistered first, 200 in a row succeed).
///
/// **Memory lock.** When a ring cannot be set up or its buffers registered for `ENOMEM`,
/// the pool first closes its idle rings and tries again; then the buffers are halved
/// until they fit (a single slot that does not fit: no ring, the strategy says so).
///
/// **fork.** A forked child never uses its parent's rings (the same kernel rings, mapped
/// shared): the first lease in a new process (`ForkGeneration`, as ``PipePool``: no `getpid` per transfer) drops them
/// without touching their buffer table, and the child sets up its own.
internal final class RingPool: @unchecked Sendable {
  // @unchecked: every mutable field is guarded by `lock`; a leased ring is touched by its
  // lessee only.

  /// How many idle rings, how much pinned memory, for how long.
  struct Limits {
    var maxIdleRings: Int
    var maxIdleLockedBytes: Int
    var idleLimit: Duration

    /// 4 rings, idle ≤ 5 s, pinning at most 8 MiB when `RLIMIT_MEMLOCK` does not apply to
    /// this process (`CAP_IPC_LOCK`, or no limit), else a quarter of the limit (nothing
    /// under 1 MiB: a 64 KiB limit leaves no room for idle rings beside the engines').
    static var standard: Limits {
      let budget: Int
      if let limit = lockedMemoryLimit() {
        budget = limit >= 1 << 20 ? limit / 4 : 0
      } else {
        budget = 8 << 20
      }
      return Limits(maxIdleRings: 4, maxIdleLockedBytes: Swift.min(budget, 8 << 20), idleLimit: .seconds(5))
    }
  }

  /// Test hooks.
  struct Faults {
    /// Registrations of more bytes fail with `ENOMEM` (a smaller `RLIMIT_MEMLOCK`).
    var registrationLimit: Int? = nil
    /// The first submission of each lease fails with this errno after the kernel took
    /// the requests (as a ring failure with requests in flight, or io_uring refused by a
    /// seccomp filter installed after the ring was set up).
    var failFirstSubmit: Errno? = nil
    /// After a ring failure, the tree copy's wait for the requests in flight sees none of
    /// their completions and gives up after this long (as if the kernel were still running
    /// them), instead of 2 s of reading them.
    var treeCopySettlesWithoutCompletions: Duration? = nil
    /// The first chain prepared after the first submission of each lease fails with this
    /// errno before any of it is written (as when making room in a full queue fails).
    var failPrepareAfterFirstSubmit: Errno? = nil
  }

  /// What the pool did (for tests and `zc`'s diagnostics).
  struct Statistics: Equatable {
    /// Rings set up, and leases served by an idle ring.
    var created = 0
    var reused = 0
    /// Idle rings closed (idle too long, over the limits, `closeIdle()`, `ENOMEM`).
    var released = 0
    /// Leases that ended broken (closed, memory leaked) or retired to the reaper.
    var broken = 0
    var retired = 0
    /// Rings inherited through `fork` and dropped unused.
    var abandoned = 0
  }

  /// The pool the built-in io_uring strategies use.
  ///
  /// Fork-safe: `pthread_atfork` handlers hold its lock across `fork(2)`.
  static let shared: RingPool = {
    let pool = RingPool(limits: .standard)
    _ = pthread_atfork(
      { RingPool.shared.lock.lock() },
      { RingPool.shared.lock.unlock() },
      { RingPool.shared.lock.unlock() })
    return pool
  }()

  let limits: Limits
  private let lock = Lock()
  private var idle: [TransferRing] = []  // guarded by lock, oldest first
  private var idleLockedBytes = 0  // guarded by lock
  private var ownerGeneration = ForkGeneration.current  // guarded by lock
  private var sweeping = false  // guarded by lock
  private var stats = Statistics()  // guarded by lock
  private var faultHooks = Faults()  // guarded by lock

  init(limits: Limits) {
    self.limits = limits
  }

  /// What the pool did so far.
  var statistics: Statistics { lock.withLock { stats } }
  /// Idle rings.
  var idleCount: Int { lock.withLock { idle.count } }
  /// Test hooks.
  var faults: Faults {
    get { lock.withLock { faultHooks } }
    set { lock.withLock { faultHooks = newValue } }
  }

  /// Closes every idle ring; returns how many.
  @discardableResult
  func closeIdle() -> Int {
    let closing = lock.withLock { () -> [TransferRing] in
      let list = idle
      idle.removeAll()
      idleLockedBytes = 0
      stats.released += list.count
      return list
    }
    for ring in closing { ring.prepareToClose() }
    return closing.count
  }

  /// Runs `body` on a leased ring with at least `entries` submission queue entries and,
  /// when `slots > 0`, `slots` registered buffers of `slotSize` bytes aligned to
  /// `alignment` (fewer when `RLIMIT_MEMLOCK` refuses them: `body` gets the number), then
  /// ends the lease.
  ///
  /// - Returns: `body`'s outcome, or ``StrategyOutcome/unsupported(reason:errno:syscall:)``
  ///   when no ring can be set up or no buffer registered (the strategy falls back).
  func withRing(
    _ context: inout TransferContext, entries: Int, slotSize: Int = 0, slots: Int = 0,
    alignment: Int = AlignedBuffer.pageSize,
    _ body: (TransferRing, _ slots: Int, inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome
  ) throws(ZeroCopyError) -> StrategyOutcome {
    try withRing(
      &context, entries: entries, slotSize: slotSize, slots: slots, alignment: alignment, unregisteredIfRefused: false,
      refused: { $0 }, body)
  }

  /// ``withRing(_:entries:slotSize:slots:alignment:_:)`` for any result: `refused` turns
  /// the refusal into one. With `unregisteredIfRefused`, when `RLIMIT_MEMLOCK` refuses even
  /// one buffer the ring runs with the memory unregistered (`ring.registered == nil`,
  /// all `slots` in `ring.memory`; such a ring is not pooled).
  func withRing<R>(
    _ context: inout TransferContext, entries: Int, slotSize: Int, slots: Int, alignment: Int,
    unregisteredIfRefused: Bool, refused: (StrategyOutcome) -> R,
    _ body: (TransferRing, _ slots: Int, inout TransferContext) throws(ZeroCopyError) -> R
  ) throws(ZeroCopyError) -> R {
    let ring: TransferRing
    switch try lease(
      &context, entries: entries, bytes: slotSize * slots, slotSize: slotSize, alignment: alignment,
      unregisteredIfRefused: unregisteredIfRefused)
    {
    case .failure(let refusal): return refused(refusal.outcome)
    case .success(let leased): ring = leased
    }
    var usable = 0
    if slots > 0 {
      usable = Swift.min(slots, (ring.registered?.bytes.count ?? ring.memory?.buffer.count ?? 0) / slotSize)
    }
    if usable < slots {
      context.note(
        "io_uring: RLIMIT_MEMLOCK let \(usable) of \(slots) buffers of \(slotSize >> 10) KiB be registered")
    }
    let outcome = Result { () throws(ZeroCopyError) -> R in try body(ring, usable, &context) }
    end(ring)
    return try outcome.get()
  }

  struct Refusal: Error {
    let outcome: StrategyOutcome
  }

  /// A ring that fits, idle or new (see the context-free ``lease(entries:bytes:slotSize:alignment:fileSlots:unregisteredIfRefused:syscalls:)``),
  /// its system calls counted in `context`.
  func lease(
    _ context: inout TransferContext, entries: Int, bytes: Int, slotSize: Int, alignment: Int,
    unregisteredIfRefused: Bool = false
  ) throws(ZeroCopyError) -> Result<TransferRing, Refusal> {
    var syscalls = 0
    defer { context.recordSyscalls(syscalls) }
    do {
      return try lease(
        entries: entries, bytes: bytes, slotSize: slotSize, alignment: alignment,
        unregisteredIfRefused: unregisteredIfRefused, syscalls: &syscalls)
    } catch {
      throw context.error(syscall: "posix_memalign", errno: error, message: "cannot allocate the ring's buffers")
    }
  }

  /// A ring that fits, idle or new, for a lessee without a ``TransferContext`` (the tree
  /// copy): at least `entries` submission queue entries, `bytes` of registered memory cut
  /// into slots of `slotSize` (see ``withRing(_:entries:slotSize:slots:alignment:_:)``) and
  /// a sparse table of at least `fileSlots` registered files (`io_uring_register_files_sparse`;
  /// an idle ring without a table gets one, which stays with the ring). The lessee ends
  /// the lease with ``end(_:)``, exactly once. `syscalls` counts the calls made.
  ///
  /// - Throws: `Errno` only when the ring's memory cannot be allocated (`posix_memalign`).
  func lease(
    entries: Int, bytes: Int = 0, slotSize: Int = 0, alignment: Int = AlignedBuffer.pageSize, fileSlots: Int = 0,
    unregisteredIfRefused: Bool = false, syscalls: inout Int
  ) throws(Errno) -> Result<TransferRing, Refusal> {
    let generation = ForkGeneration.current
    let now = ContinuousClock.now
    var closing: [TransferRing] = []
    let (found, hooks) = lock.withLock { () -> (TransferRing?, Faults) in
      if generation != ownerGeneration {
        // A forked child: the idle rings are the parent's kernel rings. Dropped unused
        // (their buffer table is the parent's: not unregistered; the child's mappings and
        // descriptor close with them), and no sweeper thread exists here.
        stats.abandoned += idle.count
        closing = idle
        idle.removeAll()
        idleLockedBytes = 0
        ownerGeneration = generation
        sweeping = false
      }
      closeExpired(now, into: &closing)
      var best: Int? = nil
      for (index, ring) in idle.enumerated()
      where ring.submissionCapacity >= entries && (ring.registered?.bytes.count ?? 0) >= bytes
        && (bytes == 0 || Int(bitPattern: ring.registered?.bytes.baseAddress) % alignment == 0)
        && (ring.fileSlots == 0 || ring.fileSlots >= fileSlots)
      {
        if let b = best, idle[b].lockedBytes <= ring.lockedBytes { continue }
        best = index
      }
      guard let best else { return (nil, faultHooks) }
      let ring = idle.remove(at: best)
      idleLockedBytes -= ring.lockedBytes
      stats.reused += 1
      return (ring, faultHooks)
    }
    for ring in closing { ring.prepareToClose() }
    closing.removeAll()
    let ring: TransferRing
    if let found {
      ring = found
    } else {
      switch try makeRing(
        entries: entries, bytes: bytes, slotSize: slotSize, alignment: alignment,
        unregisteredIfRefused: unregisteredIfRefused, hooks: hooks, syscalls: &syscalls)
      {
      case .failure(let refusal): return .failure(refusal)
      case .success(let made): ring = made
      }
      lock.withLock { stats.created += 1 }
    }
    if fileSlots > ring.fileSlots {
      do throws(Errno) {
        syscalls += 1
        try ring.registerFileSlots(fileSlots)
      } catch {
        // RLIMIT_NOFILE below the count (EMFILE), or a kernel before 5.19 (EINVAL). The
        // ring itself is fine.
        end(ring)
        return .failure(
          Refusal(
            outcome: .unsupported(
              reason: "io_uring_register_files_sparse(\(fileSlots)) failed: \(error)", errno: error,
              syscall: "io_uring_register")))
      }
    }
    ring.failNextSubmit = hooks.failFirstSubmit
    ring.failPrepareAfterSubmit = hooks.failPrepareAfterFirstSubmit
    return .success(ring)
  }

  private func makeRing(
    entries: Int, bytes: Int, slotSize: Int, alignment: Int, unregisteredIfRefused: Bool, hooks: Faults,
    syscalls: inout Int
  ) throws(Errno) -> Result<TransferRing, Refusal> {
    var drained = false
    var ring: IOURing
    while true {
      do {
        ring = try IOURing(entries: UInt32(entries))
        syscalls += 1
        break
      } catch {
        // ENOMEM: ring memory counts against RLIMIT_MEMLOCK on 6.x; idle rings may hold it.
        if error.errno == .noMemory && !drained {
          drained = true
          if closeIdle() > 0 { continue }
        }
        return .failure(
          Refusal(
            outcome: .unsupported(reason: "io_uring setup failed: \(error)", errno: error.errno, syscall: "io_uring_setup")))
      }
    }
    guard bytes > 0 else {
      return .success(TransferRing(ring: ring, memory: nil, registered: nil, ownerGeneration: ForkGeneration.current))
    }
    var count = bytes
    while true {
      let memory: RingMemory
      memory = try RingMemory(count: count, alignment: alignment)
      do throws(Errno) {
        if let limit = hooks.registrationLimit, count > limit { throw Errno.noMemory }
        let registered = try ring.unsafeRegisterBuffers([memory.bytes])[0]
        syscalls += 1
        return .success(TransferRing(ring: ring, memory: memory, registered: registered, ownerGeneration: ForkGeneration.current))
      } catch {
        syscalls += 1
        // ENOMEM: the pinned pages exceed RLIMIT_MEMLOCK (8 MiB by default for users
        // without CAP_IPC_LOCK, and the ring itself counts against it on 6.x). Close the
        // idle rings once, then halve the buffers until they fit; only a single slot that
        // does not fit is a refusal.
        if error == .noMemory && !drained {
          drained = true
          if closeIdle() > 0 { continue }
        }
        if error == .noMemory && unregisteredIfRefused && count / 2 < slotSize {
          // Plain READ/WRITE pin each request's pages only while it runs, which the
          // limit does not count: go on with the whole memory, unregistered.
          let whole = try RingMemory(count: bytes, alignment: alignment)
          return .success(TransferRing(ring: ring, memory: whole, registered: nil, ownerGeneration: ForkGeneration.current))
        }
        guard error == .noMemory, count / 2 >= slotSize, slotSize > 0 else {
          return .failure(
            Refusal(
              outcome: .unsupported(
                reason: "buffer registration refused (\(error))", errno: error, syscall: "io_uring_register")))
        }
        count = count / 2 / slotSize * slotSize
      }
    }
  }

  /// Ends a lease: a clean ring back to the pool, one with SEND_ZC notifications
  /// outstanding to the reaper, a broken one closed (its memory stays leaked).
  func end(_ ring: TransferRing) {
    if !ring.isReusable {
      let broken = ring.isBroken || (ring.memory?.isLeaked ?? false)
      let retire = ring.batches.pendingNotifications > 0 && !broken
      lock.withLock {
        if retire { stats.retired += 1 } else if broken { stats.broken += 1 }
      }
      if retire { RingReaper.shared.retire(ring) }
      return
    }
    ring.batches.notifications = 0
    ring.batches.copied = 0
    ring.failNextSubmit = nil
    ring.failPrepareAfterSubmit = nil
    ring.failNextPrepare = nil
    let now = ContinuousClock.now
    ring.lastUsed = now
    var closing: [TransferRing] = []
    var startSweeper = false
    lock.withLock {
      guard ring.ownerGeneration == ownerGeneration else {
        closing.append(ring)
        return
      }
      closeExpired(now, into: &closing)
      idle.append(ring)
      idleLockedBytes += ring.lockedBytes
      while !idle.isEmpty && (idle.count > limits.maxIdleRings || idleLockedBytes > limits.maxIdleLockedBytes) {
        let evicted = idle.removeFirst()
        idleLockedBytes -= evicted.lockedBytes
        stats.released += 1
        closing.append(evicted)
      }
      if !idle.isEmpty && !sweeping {
        sweeping = true
        startSweeper = true
      }
    }
    for ring in closing { ring.prepareToClose() }
    closing.removeAll()
    if startSweeper {
      if case .failure = startThread(name: "zc-ring-sweeper", cpu: nil, { [self] in sweep() }) {
        lock.withLock { sweeping = false }  // the next lease or return closes expired rings
      }
    }
  }

  /// Moves the idle rings unused for longer than the idle limit to `closing`. Under `lock`.
  private func closeExpired(_ now: ContinuousClock.Instant, into closing: inout [TransferRing]) {
    while let oldest = idle.first, oldest.lastUsed.duration(to: now) >= limits.idleLimit {
      idle.removeFirst()
      idleLockedBytes -= oldest.lockedBytes
      stats.released += 1
      closing.append(oldest)
    }
  }

  /// The sweeper thread: closes expired idle rings; ends when the pool has none.
  private func sweep() {
    let interval = Swift.max(Swift.min(limits.idleLimit / 2, .seconds(1)), .milliseconds(1))
    let (seconds, attoseconds) = interval.components
    let micros = UInt32(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
    while true {
      usleep(micros)
      var closing: [TransferRing] = []
      let more = lock.withLock { () -> Bool in
        closeExpired(.now, into: &closing)
        if idle.isEmpty || ownerGeneration != ForkGeneration.current {
          sweeping = false
          return false
        }
        return true
      }
      for ring in closing { ring.prepareToClose() }
      closing.removeAll()
      if !more { return }
    }
  }
}

/// The soft `RLIMIT_MEMLOCK` in bytes when it applies to io_uring in this process (no
/// `CAP_IPC_LOCK` in the effective set, `CapEff` bit 14 of /proc/self/status), else nil.
private func lockedMemoryLimit() -> Int? {
  guard let limit = (try? CurrentProcess.lockedMemoryLimit()) ?? nil else { return nil }
  let capIPCLock: UInt64 = 1 << 14
  if let capabilities = CurrentProcess.effectiveCapabilities(), capabilities & capIPCLock != 0 { return nil }
  return limit
}

extension Transfer {
  /// Closes the idle io_uring rings the io_uring strategies and ``TreeCopy``'s io_uring
  /// engine keep for reuse (with their registered buffers and files), giving their pinned memory back to `RLIMIT_MEMLOCK` and closing
  /// their descriptors. Rings in use are not affected. Idle rings also close by
  /// themselves after 5 seconds unused (Docs/RingDriver.md).
  ///
  /// - Returns: How many rings were closed.
  ///
  /// The corresponding C calls are `io_uring_unregister_buffers` and `io_uring_queue_exit`.
  @discardableResult
  public static func closeIdleRings() -> Int {
    RingPool.shared.closeIdle()
  }
}
