// The io_uring tree-copy engine: one ring leased from the ring driver's pool
// (Transfer/RingPool.swift, Docs/RingDriver.md) for the whole tree, with a sparse table of
// 2 × `lanes` registered files, driven by the walker's own thread, with up to `lanes`
// files in flight. Each file is one linked chain on registered (direct)
// descriptors — no process descriptor is ever created for a file, so none can leak:
//
//   OPENAT(src → slot 2i) → OPENAT(dst → slot 2i+1) → READ → WRITE → FTRUNCATE → [FSYNC]
//     → CLOSE(2i) → CLOSE(2i+1)
//
// Files larger than a lane's buffer take several chains (READ → WRITE at the next offset).
// All links are soft: a failure (or a short read or write, which the kernel treats as a
// failure of the link) cancels the rest; the lane then closes both slots explicitly.
//
// Before a file's first chain the driver stats the destination (fstatat): a destination
// that is the source file itself (a hard link, a bind mount) is refused there, before any
// OPENAT for writing; FTRUNCATE is added only when the old file is longer, and the mode is
// fixed (fchmodat) only when the old file's mode differs or the umask would strip bits from
// a new one — on ext4 both are journalled inode updates, measurable per file in a tree of
// new files.
//
// A short read or write breaks the chain without an errno (the source changed size, or the
// filesystem filled up part-way): the file is then redone by the blocking copier, which
// reports the real cause (ENOSPC). Files with holes (or --sparse=always) go to the blocking
// copier from the start. A failed file is undone (removed if new, cut if it existed); on
// cancellation a file whose last chain is in flight finishes, any other is undone.
//
// Every chain is a batch of the driver's (`TransferRing.begin()`): its requests carry the
// chain's generation, so a completion that is not the lane's current chain's (a late one
// of a failed chain, or of an earlier lease of the ring) is never taken for it — the ring
// is then broken, as when io_uring_enter fails: it is closed, never pooled again, the lane
// buffers the kernel may still use are leaked, and every file in flight and after is
// copied with blocking calls (the report's fallbackReason says so). A ring that finishes
// clean (every chain completed, every slot closed) goes back to the pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

final class IOURingTreeCopier: FileSink {
  /// Why io_uring cannot be used.
  struct Refusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
  }

  /// Bytes per chain step (and per lane buffer).
  static let chunk = 128 << 10

  private final class Lane {
    let index: Int
    let buffer: UnsafeMutableRawBufferPointer
    var job: FileJob?
    var offset: Int64 = 0
    var stepBytes = 0
    var last = false
    var cleaning = false
    /// Decided from an `fstatat` of the destination before the chain: the old file is
    /// longer (cut it).
    var needsTruncate = false
    /// The current chain's operations: a name for errors, and the exact result expected.
    var ops: [(name: String, expected: Int32?)] = []
    var pending = 0
    /// The driver's batch generation of the current chain (its requests' user data).
    var generation: UInt64 = 0
    var failure: (index: Int, name: String, errno: Errno, message: String?)?
    /// What happens once both slots are closed after a failure or a cancellation.
    var afterClose = AfterClose.release

    enum AfterClose {
      /// Nothing more (the failure was reported).
      case release
      /// Undo the file (removed if new, cut to `offset` bytes if it existed).
      case undo(cancelled: Bool)
      /// Copy the file again with the blocking copier (a short read or write).
      case redo
    }

    /// The ring broke with this lane's requests in flight: the kernel may still read or
    /// write `buffer` (a worker can finish a request after the ring is gone), so it is
    /// never freed (Docs/Ownership.md).
    var kernelMayHoldBuffer = false

    init(index: Int) {
      self.index = index
      buffer = .allocate(byteCount: IOURingTreeCopier.chunk, alignment: 4096)
    }
    deinit {
      if !kernelMayHoldBuffer { buffer.deallocate() }
    }
    var sourceSlot: IOURing.RegisteredFile { IOURing.RegisteredFile(index: UInt32(2 * index)) }
    var destinationSlot: IOURing.RegisteredFile { IOURing.RegisteredFile(index: UInt32(2 * index + 1)) }
  }

  /// The leased ring (with `2 × lanes` file slots), until ``finish()`` ends the lease.
  private let ring: TransferRing
  private let pool: RingPool
  private var leaseEnded = false
  private let lanes: [Lane]
  private var free: [Int]
  private var active = 0
  private let options: TreeCopy.Options
  private let state: TreeCopyState
  private let useFtruncate: Bool
  private let fallback: BlockingFileCopier
  /// The ring failed as a whole (io_uring_enter error): remaining files go through `fallback`.
  private var broken: Errno?
  /// Why the ring stopped being used part-way (for the report's `fallbackReason`).
  private(set) var ringFailure: String?

  private init(
    ring: TransferRing, pool: RingPool, lanes: Int, options: TreeCopy.Options, state: TreeCopyState, ftruncate: Bool
  ) {
    self.ring = ring
    self.pool = pool
    self.lanes = (0..<lanes).map { Lane(index: $0) }
    free = Array((0..<lanes).reversed())
    self.options = options
    self.state = state
    useFtruncate = ftruncate
    fallback = BlockingFileCopier(options: options)
  }

  /// A copier, or why io_uring cannot be used (the caller falls back to threads).
  static func make(options: TreeCopy.Options, state: TreeCopyState, lanes: Int) -> Result<IOURingTreeCopier, Refusal> {
    let probe = IOURing.Probe.current
    guard probe.availability == .available else { return .failure(Refusal("\(probe.availability)")) }
    for op in [IOURing.Opcode.openat, .read, .write, .close, .fsync] where !probe.supports(op) {
      return .failure(Refusal("this kernel does not support \(op)"))
    }
    let pool = options.ringPool
    var syscalls = 0
    let leased: Result<TransferRing, RingPool.Refusal>
    do {
      leased = try pool.lease(entries: min(4096, max(64, lanes * 8)), fileSlots: 2 * lanes, syscalls: &syscalls)
    } catch {
      return .failure(Refusal("\(error)"))  // (no memory is asked for: cannot happen)
    }
    let ring: TransferRing
    switch leased {
    case .success(let r): ring = r
    case .failure(let refusal):
      guard case .unsupported(let reason, _, _) = refusal.outcome else { return .failure(Refusal("\(refusal.outcome)")) }
      return .failure(Refusal(reason))
    }
    let truncate = options.overwrite == .overwriteThenTruncate && probe.supports(.ftruncate)
    return .success(
      IOURingTreeCopier(ring: ring, pool: pool, lanes: lanes, options: options, state: state, ftruncate: truncate))
  }

  deinit {
    // finish() ends the lease; a copier dropped without it may have chains in flight.
    if !leaseEnded {
      if active > 0 {
        ring.markBroken()
        for lane in lanes where lane.pending > 0 { lane.kernelMayHoldBuffer = true }
      }
      pool.end(ring)
    }
  }

  /// Why a file goes through the ring: its data passes through a lane's buffer.
  static let ringReason = "io_uring READ and WRITE through a 128 KiB buffer"

  func copy(_ job: FileJob) {
    if state.stopped { return job.abandon() }
    // Holes are copied by data segments, and zero runs found in user space: blocking calls.
    if broken != nil || leaseEnded || options.sparse == .always || (options.sparse == .auto && job.looksSparse) {
      return fallback.run(job, state)
    }
    // A clone is one ioctl, which the ring has no opcode for: the blocking copier tries it
    // (and clones every file where it works); once a pair of filesystems has refused, the
    // ring copies their files.
    var notCloned: String? = options.policy.reflink == .never ? "not cloned: --reflink=never" : nil
    if options.policy.reflink != .never {
      guard let refusal = state.cloneRefusal(from: job.device, to: job.destination.node.device) else {
        return fallback.run(job, state)
      }
      if options.policy.reflink == .always { return fallback.run(job, state) }  // reports the refusal
      notCloned = "not cloned: \(refusal)"
    }
    while free.isEmpty && broken == nil { pump() }
    if broken != nil { return fallback.run(job, state) }
    let existing = try? FileDescriptor(rawValue: job.destination.fd).status(
      of: job.destinationName, followingSymbolicLinks: false)
    let exists = existing != nil
    let old = existing?.rawValue ?? stat()
    // Before anything is opened for writing: the destination must not be the source itself.
    if exists && old.st_mode & S_IFMT == S_IFREG && job.isSource(old) {
      job.abandon()
      return state.fail(job.sameFileError())
    }
    let lane = lanes[free.removeLast()]
    active += 1
    lane.job = job
    job.noteDestination(existed: exists && old.st_mode & S_IFMT == S_IFREG)
    job.dataPath = DataPath(
      .userSpace, reason: [notCloned, job.size > 0 ? Self.ringReason : nil].compactMap { $0 }.joined(separator: "; ").nilIfEmpty)
    if exists {
      lane.needsTruncate = useFtruncate && old.st_size > job.size
      // A read-only file from an earlier copy: writable for now (only the owner, or root,
      // which needs no change, can open it anyway); its mode is set back after the data.
      if old.st_mode & S_IFMT == S_IFREG && old.st_mode & 0o200 == 0 && geteuid() != 0,
        let mode = job.destinationName.withPlatformString({ TreeWalker.makeFileOwnerWritable(job.destination.fd, $0) })
      {
        job.madeWritable = mode
      }
    } else {
      lane.needsTruncate = false
    }
    lane.offset = 0
    lane.failure = nil
    lane.cleaning = false
    lane.afterClose = .release
    step(lane)
    if broken == nil && ring.ring.pendingSubmissions >= 64 { submit(wait: false) }
  }

  /// Waits for every file in flight, then ends the lease: a clean ring goes back to the
  /// pool, a broken one is closed.
  func finish() {
    while active > 0 && broken == nil { pump() }
    if !leaseEnded {
      leaseEnded = true
      pool.end(ring)
    }
  }

  /// Starts `lane`'s next chain: a batch of its own.
  private func begin(_ lane: Lane) {
    ring.begin()
    lane.generation = ring.batches.generation
  }

  /// The user data of `lane`'s request `op` in its current chain (lane and op in the tag).
  private func userData(_ lane: Lane, _ op: Int) -> UInt64 { ring.userData(UInt32(lane.index) << 16 | UInt32(op)) }

  /// Prepares the next chain of `lane`'s file.
  private func step(_ lane: Lane) {
    guard let job = lane.job else { return }
    begin(lane)
    var chain = IOURing.LinkedChain()
    lane.ops.removeAll(keepingCapacity: true)
    func add(_ request: consuming IOURing.Request, _ name: String, _ expected: Int32? = nil) {
      let op = lane.ops.count
      lane.ops.append((name, expected))
      chain.append(request.userData(userData(lane, op)))
    }
    if lane.offset == 0 {
      add(
        .openat(
          job.sourceName, relativeTo: job.source.descriptor, .readOnly, options: job.followSource ? [] : [.noFollow],
          into: lane.sourceSlot), "IORING_OP_OPENAT")
      var flags: FileDescriptor.OpenOptions = [.create, .noFollow]
      if !useFtruncate { flags.insert(.truncate) }
      add(
        .openat(
          job.destinationName, relativeTo: job.destination.descriptor, .writeOnly, options: flags,
          permissions: FilePermissions(rawValue: job.createMode), into: lane.destinationSlot), "IORING_OP_OPENAT")
    }
    let n = Int(min(Int64(Self.chunk), job.size - lane.offset))
    lane.stepBytes = n
    if n > 0 {
      let region = UnsafeMutableRawBufferPointer(rebasing: lane.buffer[0..<n])
      add(.unsafeRead(lane.sourceSlot, into: region, at: UInt64(lane.offset)), "IORING_OP_READ", Int32(n))
      add(
        .unsafeWrite(lane.destinationSlot, from: UnsafeRawBufferPointer(region), at: UInt64(lane.offset)), "IORING_OP_WRITE",
        Int32(n))
    }
    lane.last = lane.offset + Int64(n) >= job.size
    if lane.last {
      if lane.needsTruncate { add(.ftruncate(lane.destinationSlot, length: UInt64(job.size)), "IORING_OP_FTRUNCATE") }
      if options.fsync { add(.fsync(lane.destinationSlot), "IORING_OP_FSYNC") }
      add(.close(lane.sourceSlot), "IORING_OP_CLOSE")
      add(.close(lane.destinationSlot), "IORING_OP_CLOSE")
    }
    lane.pending = chain.count
    prepare(chain, of: lane)
  }

  private func prepare(_ chain: IOURing.LinkedChain, of lane: Lane) {
    do {
      try ring.prepare(chain)
    } catch {
      // `IOURing.prepare` writes a chain whole or not at all (it throws only while making
      // room, before the first entry): nothing of this one is in flight, so the wait for
      // the requests in flight (settleInFlight) must not count it.
      lane.pending = 0
      ringFailed(error, "preparing a chain failed (\(error))")
    }
  }

  private func submit(wait: Bool) {
    do {
      try ring.submit(waitingFor: wait ? 1 : 0)
    } catch {
      ringFailed(error, "io_uring_enter failed (\(error))")
    }
  }

  /// Submits what is prepared, waits for at least one completion, and handles all that are ready.
  private func pump() {
    submit(wait: true)
    guard broken == nil else { return }
    for completion in ring.ring.readyCompletionList() where broken == nil { handle(completion) }
  }

  /// The ring can no longer be trusted (it failed, or a completion matched no chain in
  /// flight): it is marked broken — closed at the end of the lease, never pooled — and
  /// every file in flight, and every file after, is copied with blocking calls.
  private func ringFailed(_ errno: Errno, _ cause: String) {
    guard broken == nil else { return }
    broken = errno
    ring.markBroken()
    let inFlight = active
    let unsettled = abandon(errno)
    ringFailure =
      unsettled == 0
      ? "io_uring: \(cause); the files in flight (\(inFlight)) and those after them were copied with blocking calls"
      : "io_uring: \(cause); \(unsettled) of the \(inFlight) files in flight still had requests running in the kernel after 2 s and were not copied again (reported as errors); the others and those after them were copied with blocking calls"
  }

  /// The ring itself failed: every file in flight is redone with blocking calls — once
  /// the kernel is done with its requests (``settleInFlight()``). A file whose requests
  /// may still run is not copied again but reported as failed: a late `OPENAT` with
  /// `O_TRUNC`, or a late `WRITE`, could land after the blocking copy and cut or change it.
  /// Returns how many files were not copied again.
  @discardableResult
  private func abandon(_ errno: Errno) -> Int {
    let settled = settleInFlight()
    var unsettled = 0
    for lane in lanes where lane.pending > 0 { lane.kernelMayHoldBuffer = true }
    for lane in lanes where lane.job != nil {
      guard let job = lane.job else { continue }
      if !settled && lane.pending > 0 {
        unsettled += 1
        state.fail(
          job.error(
            ringFailureSyscall, errno,
            "the io_uring ring failed while this file's requests were still running in the kernel; it was not copied again, so that a late request cannot overwrite the copy (the destination may be incomplete)",
            bytes: lane.offset))
      } else if !lane.cleaning {
        fallback.run(job, state)
      } else {
        switch lane.afterClose {
        case .release: break
        case .undo(let cancelled):
          job.undo(bytesWritten: lane.offset)
          if cancelled { state.fileUndone() }
        case .redo: fallback.run(job, state)
        }
      }
      lane.job = nil
    }
    active = 0
    free = Array((0..<lanes.count).reversed())
    return unsettled
  }

  /// Waits until no request of a chain in flight can still run: reads the completion queue
  /// (no system call) and sleeps 1 ms between looks (the sleep's return also runs the task
  /// work through which the kernel posts some completions), up to 2 s. Requests still in
  /// the submission queue (the failed `io_uring_enter` did not take them) never run: the
  /// ring is closed without another `io_uring_enter` that submits (reaping calls it only
  /// to flush overflowed completions, submitting nothing; a broken ring is closed by
  /// `io_uring_queue_exit`, and the ring's teardown submits only while it owns memory in
  /// flight, which the tree copy's requests never do). Returns whether nothing can still
  /// run.
  private func settleInFlight() -> Bool {
    let test = pool.faults.treeCopySettlesWithoutCompletions
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: test ?? .seconds(2))
    while true {
      if test == nil {
        _ = ring.ring.forEachCompletion { completion in
          if let (lane, _) = chainRequest(completion) { lane.pending -= 1 }
        }
      }
      let outstanding = lanes.reduce(0) { $0 + $1.pending }
      if outstanding <= ring.ring.pendingSubmissions { return true }
      if clock.now >= deadline { return false }
      usleep(1000)
    }
  }

  /// The lane and operation index of a completion of a chain in flight (its lane's current
  /// generation, a request of that chain), or nil.
  private func chainRequest(_ completion: IOURing.Completion) -> (lane: Lane, op: Int)? {
    let tag = UInt32(truncatingIfNeeded: completion.userData)
    let index = Int(tag >> 16)
    let op = Int(tag & 0xFFFF)
    guard index < lanes.count else { return nil }
    let lane = lanes[index]
    guard lane.pending > 0, completion.userData >> 32 == lane.generation, op < (lane.cleaning ? 2 : lane.ops.count)
    else { return nil }
    return (lane, op)
  }

  private func handle(_ completion: IOURing.Completion) {
    guard let (lane, op) = chainRequest(completion) else {
      // Every chain waits for all of its completions, so this cannot happen; if it does,
      // the kernel may still use the lanes' buffers: never reuse the ring.
      return ringFailed(.ioError, "a completion matched no chain in flight (\(completion))")
    }
    lane.pending -= 1
    if !lane.cleaning {
      let (name, expected) = lane.ops[op]
      var failure: (Errno, String?)?
      switch completion.result {
      case .failure(let e): failure = (e, nil)
      case .success(let v):
        if let expected, v != expected {
          failure = (
            .ioError,
            name == "IORING_OP_READ"
              ? "short read (\(v) of \(expected) bytes): the source file changed while it was copied"
              : "short write (\(v) of \(expected) bytes)"
          )
        }
      }
      if let (e, message) = failure {
        // The first real failure wins over the cancellations it causes.
        let current = lane.failure
        if current == nil || (current!.errno == .canceled && e != .canceled) || (e != .canceled && op < current!.index) {
          lane.failure = (op, name, e, message)
        }
      }
    }
    if lane.pending == 0 { chainDone(lane) }
  }

  private func chainDone(_ lane: Lane) {
    guard let job = lane.job else { return }
    if lane.cleaning {
      switch lane.afterClose {
      case .release: break
      case .undo(let cancelled):
        job.undo(bytesWritten: lane.offset)
        if cancelled { state.fileUndone() }
      case .redo:
        fallback.run(job, state)
      }
      return release(lane)
    }
    if let failure = lane.failure {
      if failure.index == 1 && lane.offset == 0
        && (failure.errno == .tooManySymbolicLinkLevels
          || (options.policy.replace == .removeIfUnwritable && failure.errno != .noSuchFileOrDirectory
            && failure.errno != .isDirectory))
      {
        // The destination is a symbolic link (O_NOFOLLOW), or cannot be opened with -f:
        // the blocking path replaces it.
        fallback.run(job, state)
        lane.afterClose = .release
      } else if failure.message != nil && failure.errno == .ioError {
        // A short read or write: no errno to report. The blocking copier does the file
        // again and says why (ENOSPC, a source that changed size).
        lane.afterClose = .redo
      } else {
        let role =
          failure.index == 0 && lane.offset == 0
          ? "cannot open the source file for reading"
          : failure.index == 1 && lane.offset == 0
            ? (failure.errno == .isDirectory
              ? "cannot overwrite directory with non-directory" : "cannot open the destination file for writing")
            : nil
        state.fail(job.error(failure.name, failure.errno, failure.message ?? role, bytes: lane.offset))
        lane.afterClose = .undo(cancelled: false)
      }
      return closeSlots(lane)
    }
    lane.offset += Int64(lane.stepBytes)
    if !lane.last {
      if state.cancelled {
        lane.afterClose = .undo(cancelled: true)
        return closeSlots(lane)
      }
      return step(lane)
    }
    // Done: the attributes the policy preserves (or an old mode to restore), by name.
    job.completed()
    if let failure = job.applyMetadata(output: nil, input: nil) {
      state.fail(failure)
    } else {
      state.fileDone(bytes: job.size, job.dataPath)
    }
    release(lane)
  }

  /// Closes both slots (a slot the chain never filled answers EBADF, which is fine); the
  /// lane's ``Lane/afterClose`` runs when both closes are done.
  private func closeSlots(_ lane: Lane) {
    lane.cleaning = true
    begin(lane)
    lane.pending = 2
    prepare(
      IOURing.LinkedChain().appending(.close(lane.sourceSlot, userData: userData(lane, 0)), link: .hard)
        .appending(.close(lane.destinationSlot, userData: userData(lane, 1))), of: lane)
  }

  private func release(_ lane: Lane) {
    lane.job = nil
    lane.cleaning = false
    active -= 1
    free.append(lane.index)
  }
}
