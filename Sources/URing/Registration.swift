// Registered buffers, registered files, and provided buffer rings.

import CLibURing
import Glibc
public import LinuxIO
public import SystemPackage

extension IOURing {
  /// A buffer registered with the ring (`IORING_REGISTER_BUFFERS`): its pages are pinned
  /// once, so ``Request/readFixed(_:into:range:at:userData:)`` and friends skip the
  /// per-request pinning.
  ///
  /// A plain description (index + address); it does not own the memory. Memory registered
  /// with ``IOURing/registerBuffer(_:at:)-(AlignedBuffer,_)`` or ``IOURing/registerBuffers(count:size:alignment:)``
  /// is owned by the ring, which frees it (or hands it back) only after the kernel has
  /// released the registration — so a request naming this description can only reach
  /// memory that is alive (the kernel checks the address against the slot's registration:
  /// a stale description gets `EFAULT`). Memory registered with
  /// ``IOURing/unsafeRegisterBuffers(_:)`` is the caller's, under that function's rule.
  /// ``bytes`` is valid only while the registration lasts.
  public struct RegisteredBuffer: @unchecked Sendable, Hashable {
    /// The buffer's index in the ring's table (`sqe->buf_index`).
    public let index: UInt16
    /// The registered memory.
    public let bytes: UnsafeMutableRawBufferPointer

    /// Describes buffer `index` of a ring's table, registered over `bytes` (normally returned
    /// by the registration methods rather than built by hand).
    public init(index: UInt16, bytes: UnsafeMutableRawBufferPointer) {
      self.index = index
      self.bytes = bytes
    }

    public static func == (a: RegisteredBuffer, b: RegisteredBuffer) -> Bool {
      a.index == b.index && a.bytes.baseAddress == b.bytes.baseAddress && a.bytes.count == b.bytes.count
    }
    public func hash(into h: inout Hasher) {
      h.combine(index)
      h.combine(bytes.baseAddress)
      h.combine(bytes.count)
    }

    /// Address and length of `range` within the buffer (all of it by default).
    @usableFromInline
    internal func slice(_ range: Range<Int>?) -> (UnsafeMutableRawPointer?, UInt32) {
      guard let range else { return (bytes.baseAddress, UInt32(clamping: bytes.count)) }
      precondition(
        range.lowerBound >= 0 && range.upperBound <= bytes.count,
        "IOURing.RegisteredBuffer: range \(range) is outside the \(bytes.count)-byte buffer \(index)")
      return (bytes.baseAddress.map { $0 + range.lowerBound }, UInt32(clamping: range.count))
    }
  }

  /// A slot in the ring's registered-file table. Requests naming it use
  /// `IOSQE_FIXED_FILE`: no file-table lookup or reference counting per request.
  ///
  /// The ring holds its own reference to a registered file: closing the original
  /// descriptor does not close the slot's file. Empty a slot with a `Request.close(slot)`
  /// request or ``IOURing/updateRegisteredFiles(_:at:)``.
  public struct RegisteredFile: IOURingFile, Hashable {
    /// The slot index.
    public let index: UInt32

    /// Slot `index` of the ring's registered-file table.
    public init(index: UInt32) { self.index = index }

    /// This slot as a file operand (sets `IOSQE_FIXED_FILE`).
    public var ioUringOperand: FileOperand { FileOperand(value: Int32(bitPattern: index), isRegistered: true) }
  }

  /// A provided-buffer group backed by a buffer ring (`IORING_REGISTER_PBUF_RING`):
  /// `count` buffers of `bufferSize` bytes, from which the kernel picks one per
  /// receive (``Request/recvMultishot(_:bufferGroup:flags:userData:)``). Created and owned
  /// by the ring (``IOURing/registerBufferRing(group:count:bufferSize:)``).
  public struct BufferGroup: Sendable, Hashable {
    /// The group id (`sqe->buf_group`).
    public let id: UInt16
    /// Number of buffers (a power of two).
    public let count: Int
    /// Size of each buffer in bytes.
    public let bufferSize: Int
  }
}

// MARK: - Registered buffers

extension IOURing {
  /// Allocates `count` buffers of `size` bytes, owned by the ring, and registers them as the
  /// ring's buffer table (indices 0, 1, …). The ring frees the memory only after the kernel
  /// has released it: after ``unregisterBuffers()`` (or the ring's end) *and* the completion
  /// of every request that used it.
  ///
  /// - Parameters:
  ///   - count: Buffers, 1...16384. - Precondition.
  ///   - size: Bytes per buffer, a positive multiple of `alignment` (so every buffer is
  ///     aligned). - Precondition.
  ///   - alignment: A power of two; the page size by default (what `O_DIRECT` wants too).
  /// - Returns: The buffers, in table order. Read and write their bytes through
  ///   ``RegisteredBuffer/bytes`` while the table is registered.
  /// - Throws: `ENOMEM` (memory, or beyond `RLIMIT_MEMLOCK` without `CAP_IPC_LOCK`), `EBUSY`
  ///   (a table exists), `EINVAL` (a kernel before 5.13, which has no resource tags).
  ///
  /// The corresponding C function is `io_uring_register_buffers_tags` (`IORING_REGISTER_BUFFERS2`,
  /// kernel 5.13), each buffer tagged so that the kernel posts its release.
  public mutating func registerBuffers(
    count: Int, size: Int, alignment: Int = AlignedBuffer.pageSize
  ) throws(Errno) -> [RegisteredBuffer] {
    precondition(count > 0 && count <= 16384, "IOURing.registerBuffers: count must be 1...16384 (got \(count))")
    precondition(size > 0 && size % alignment == 0, "IOURing.registerBuffers: size must be a positive multiple of the alignment")
    let memory = OwnedMemory(try AlignedBuffer(count: count * size, alignment: alignment))
    let ledger = ensureOwnership()
    let tags = (0..<count).map { _ in ledger.makeTag() }
    let base = memory.base
    let iovecs = (0..<count).map { iovec(iov_base: base + $0 * size, iov_len: size) }
    _ = try iovecs.withUnsafeBufferPointer { (v) throws(Errno) in
      try tags.withUnsafeBufferPointer { (t) throws(Errno) in
        try liburing { io_uring_register_buffers_tags(ring, v.baseAddress, t.baseAddress, UInt32(count)) }
      }
    }
    for i in 0..<count { ledger.slots[i] = (tags[i], memory) }
    return (0..<count).map {
      RegisteredBuffer(index: UInt16($0), bytes: UnsafeMutableRawBufferPointer(start: base + $0 * size, count: size))
    }
  }

  /// Registers `regions` — memory the caller owns — as the ring's buffer table (indices 0,
  /// 1, …), replacing none: a ring has one table; unregister first to replace it.
  ///
  /// - Lifetime: Each region's memory must stay allocated, and must not be reused for
  ///   anything else, until the table is removed (``unregisterBuffers()``, a slot update, or
  ///   the ring's end) **and** every request that used it has completed — including requests
  ///   still running on a kernel worker after the ring was dropped. The kernel pins the
  ///   pages: freed-and-reused memory would still receive its writes. Prefer
  ///   ``registerBuffers(count:size:alignment:)``, whose memory the ring owns.
  /// - Throws: `EBUSY` (a table exists), `ENOMEM` (beyond `RLIMIT_MEMLOCK` without
  ///   `CAP_IPC_LOCK`), `EFAULT`, `EINVAL` (more than 16384 buffers, a buffer over 1 GiB,
  ///   or file-backed memory on older kernels), `EOVERFLOW`.
  ///
  /// The corresponding C function is `io_uring_register_buffers` (kernel 5.1).
  public mutating func unsafeRegisterBuffers(_ regions: [UnsafeMutableRawBufferPointer]) throws(Errno) -> [RegisteredBuffer] {
    precondition(regions.count <= Int(UInt16.max), "IOURing.unsafeRegisterBuffers: at most 65535 buffers")
    let iovecs = regions.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
    _ = try iovecs.withUnsafeBufferPointer { (p) throws(Errno) in
      try liburing { io_uring_register_buffers(ring, p.baseAddress, UInt32(p.count)) }
    }
    return regions.enumerated().map { RegisteredBuffer(index: UInt16($0.offset), bytes: $0.element) }
  }

  /// Creates an empty buffer table of `count` slots, to fill one buffer at a time with
  /// `registerBuffer(_:at:)`.
  ///
  /// The corresponding C function is `io_uring_register_buffers_sparse` (kernel 5.19).
  public mutating func registerBufferSlots(count: Int) throws(Errno) {
    precondition(count > 0 && count <= Int(UInt16.max), "IOURing.registerBufferSlots: count must be 1...65535")
    _ = try liburing { io_uring_register_buffers_sparse(ring, UInt32(count)) }
  }

  /// Moves `buffer` into the ring and registers it in slot `slot` of the buffer table
  /// (created with ``registerBufferSlots(count:)``), replacing the slot's previous buffer.
  ///
  /// The ring owns the buffer from now on: it stays allocated as long as the registration
  /// and every request using it last, whatever the caller does — in a release build a value
  /// ends at its last use, so a borrowed buffer could be freed right after this call while
  /// the kernel still writes into it (issue 14). Get it back with ``unregisterBuffer(at:)``;
  /// a buffer replaced or cleared otherwise, or left at the ring's end, is freed once the
  /// kernel has released it.
  ///
  /// - Throws: `EINVAL`/`ENXIO` (no table, or `slot` out of range), `ENOMEM`
  ///   (`RLIMIT_MEMLOCK`), `EFAULT`. The buffer is freed with the error.
  ///
  /// The corresponding C function is `io_uring_register_buffers_update_tag` (kernel 5.13),
  /// with a tag so that the kernel posts the buffer's release.
  public mutating func registerBuffer(_ buffer: consuming AlignedBuffer, at slot: Int) throws(Errno) -> RegisteredBuffer {
    precondition(slot >= 0 && slot < Int(UInt16.max), "IOURing.registerBuffer: slot out of range")
    let memory = OwnedMemory(buffer)
    let ledger = ensureOwnership()
    var tag = ledger.makeTag()
    var iov = iovec(iov_base: memory.base, iov_len: memory.count)
    _ = try liburing { io_uring_register_buffers_update_tag(ring, UInt32(slot), &iov, &tag, 1) }
    ledger.release(slot: slot)  // the buffer it replaced, if the ring owned it
    ledger.slots[slot] = (tag, memory)
    return RegisteredBuffer(index: UInt16(slot), bytes: UnsafeMutableRawBufferPointer(start: memory.base, count: memory.count))
  }

  /// Registers `region` — memory the caller owns — in slot `slot` of the buffer table,
  /// replacing the slot's previous buffer.
  ///
  /// - Lifetime: As ``unsafeRegisterBuffers(_:)``: the memory must stay allocated and
  ///   unused for anything else until the slot is replaced or cleared (or the table
  ///   removed, or the ring ended) and every request that used it has completed. Prefer
  ///   ``registerBuffer(_:at:)-(AlignedBuffer,_)``, which takes an `AlignedBuffer` and owns it.
  ///
  /// The corresponding C function is `io_uring_register_buffers_update_tag` (kernel 5.13).
  public mutating func unsafeRegisterBuffer(_ region: UnsafeMutableRawBufferPointer, at slot: Int) throws(Errno)
    -> RegisteredBuffer
  {
    precondition(slot >= 0 && slot < Int(UInt16.max), "IOURing.unsafeRegisterBuffer: slot out of range")
    var iov = iovec(iov_base: region.baseAddress, iov_len: region.count)
    var tag: UInt64 = 0
    _ = try liburing { io_uring_register_buffers_update_tag(ring, UInt32(slot), &iov, &tag, 1) }
    ownership?.release(slot: slot)
    return RegisteredBuffer(index: UInt16(slot), bytes: region)
  }

  /// Empties slot `slot` of the buffer table. Requests still using it keep the pages until
  /// they complete; a buffer the ring owned there is freed after that.
  ///
  /// The corresponding C function is `io_uring_register_buffers_update_tag` with an empty iovec (kernel 5.13).
  public mutating func clearBuffer(at slot: Int) throws(Errno) {
    precondition(slot >= 0 && slot < Int(UInt16.max), "IOURing.clearBuffer: slot out of range")
    var iov = iovec(iov_base: nil, iov_len: 0)
    var tag: UInt64 = 0
    _ = try liburing { io_uring_register_buffers_update_tag(ring, UInt32(slot), &iov, &tag, 1) }
    ownership?.release(slot: slot)
  }

  /// Empties slot `slot` and hands back the buffer ``registerBuffer(_:at:)-(AlignedBuffer,_)`` moved into it,
  /// once the kernel has released it: this **waits** until every request that uses the
  /// buffer has completed (their completions, and any others that arrive meanwhile, are
  /// kept for the reaping methods). Cancel requests that may wait indefinitely first.
  ///
  /// - Returns: The buffer, or nil when the slot held no buffer of its own (empty, caller
  ///   memory from ``unsafeRegisterBuffer(_:at:)``, or part of a table from
  ///   ``registerBuffers(count:size:alignment:)``, which is freed when all its slots are released).
  /// - Throws: What ``clearBuffer(at:)`` throws, or an `Errno` from waiting.
  ///
  /// The corresponding C functions are `io_uring_register_buffers_update_tag` and `io_uring_wait_cqe`.
  public mutating func unregisterBuffer(at slot: Int) throws(Errno) -> AlignedBuffer? {
    precondition(slot >= 0 && slot < Int(UInt16.max), "IOURing.unregisterBuffer: slot out of range")
    let owned = ownership?.slots[slot]
    try clearBuffer(at: slot)
    guard let owned else { return nil }
    // Wait for the release: completions other than its tag go to the backlog, in order.
    while ownership!.releasing[owned.tag] != nil {
      if moveReadyToBacklog() > 0 || ownership!.releasing[owned.tag] == nil { continue }
      var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
      _ = try liburing { io_uring_wait_cqe(ring, &cqe) }
    }
    // A table's memory, shared with slots still registered or being released, stays.
    let ledger = ownership!
    if ledger.slots.values.contains(where: { $0.memory === owned.memory })
      || ledger.releasing.values.contains(where: { $0 === owned.memory })
    {
      return nil
    }
    return owned.memory.buffer.take()
  }

  /// Removes the buffer table. In-flight requests keep their pages until they complete;
  /// memory the ring owned is freed after that.
  ///
  /// - Throws: `ENXIO` when no table is registered.
  ///
  /// The corresponding C function is `io_uring_unregister_buffers` (kernel 5.1).
  public mutating func unregisterBuffers() throws(Errno) {
    _ = try liburing { io_uring_unregister_buffers(ring) }
    ownership?.releaseAllSlots()
  }
}

// MARK: - Registered files

extension IOURing {
  /// Registers `files` as the ring's file table (slots 0, 1, …). The ring takes its own
  /// reference to each file: the descriptors may be closed afterwards.
  ///
  /// - Throws: `EBUSY` (a table exists), `EBADF`, `EMFILE` (beyond `RLIMIT_NOFILE`), `EINVAL`.
  ///
  /// The corresponding C function is `io_uring_register_files` (kernel 5.1).
  public mutating func registerFiles(_ files: [FileDescriptor]) throws(Errno) -> [RegisteredFile] {
    let fds = files.map(\.rawValue)
    _ = try fds.withUnsafeBufferPointer { (p) throws(Errno) in
      try liburing { io_uring_register_files(ring, p.baseAddress, UInt32(p.count)) }
    }
    return (0..<files.count).map { RegisteredFile(index: UInt32($0)) }
  }

  /// Creates an empty file table of `count` slots (for ``Request/openat(_:relativeTo:_:options:permissions:into:userData:)``,
  /// ``Request/accept(_:into:userData:)`` and ``updateRegisteredFiles(_:at:)``).
  ///
  /// The corresponding C function is `io_uring_register_files_sparse` (kernel 5.19).
  public mutating func registerFileSlots(count: Int) throws(Errno) -> [RegisteredFile] {
    precondition(count > 0 && count <= Int(UInt32.max), "IOURing.registerFileSlots: count must be positive")
    _ = try liburing { io_uring_register_files_sparse(ring, UInt32(count)) }
    return (0..<count).map { RegisteredFile(index: UInt32($0)) }
  }

  /// Replaces slots `slot ..< slot + files.count` of the file table: a descriptor
  /// registers its file, `nil` empties the slot.
  ///
  /// - Returns: The number of slots updated.
  /// - Throws: `ENXIO` (no table), `EINVAL` (out of range), `EBADF`.
  ///
  /// The corresponding C function is `io_uring_register_files_update` (kernel 5.5).
  @discardableResult
  public mutating func updateRegisteredFiles(_ files: [FileDescriptor?], at slot: Int) throws(Errno) -> Int {
    precondition(slot >= 0, "IOURing.updateRegisteredFiles: slot must not be negative")
    var fds = files.map { $0?.rawValue ?? -1 }
    let n = try fds.withUnsafeMutableBufferPointer { (p) throws(Errno) in
      try liburing { io_uring_register_files_update(ring, UInt32(slot), p.baseAddress, UInt32(p.count)) }
    }
    return Int(n)
  }

  /// Removes the file table, dropping the ring's references to its files.
  ///
  /// - Throws: `ENXIO` when no table is registered.
  ///
  /// The corresponding C function is `io_uring_unregister_files` (kernel 5.1).
  public mutating func unregisterFiles() throws(Errno) {
    _ = try liburing { io_uring_unregister_files(ring) }
  }
}

// MARK: - Provided buffer rings

/// The memory of one provided-buffer ring: the ring of `struct io_uring_buf` descriptors
/// the kernel reads, and the buffers themselves. Freed after the ring's teardown.
internal final class BufferRingStorage {
  let group: IOURing.BufferGroup
  /// Page-aligned ring of `count` 16-byte entries (mmap, as the kernel requires page alignment).
  let ringMemory: UnsafeMutableRawPointer
  let ringBytes: Int
  /// `count * bufferSize` bytes of buffers, page-aligned.
  let buffers: UnsafeMutableRawPointer
  let buffersBytes: Int
  var bufRing: UnsafeMutablePointer<io_uring_buf_ring> { ringMemory.assumingMemoryBound(to: io_uring_buf_ring.self) }
  let mask: Int32

  init(group: IOURing.BufferGroup) throws(Errno) {
    self.group = group
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    ringBytes = (group.count * MemoryLayout<io_uring_buf>.size + page - 1) / page * page
    buffersBytes = max(group.count * group.bufferSize, 1)
    let anonymous = MAP_PRIVATE | MAP_ANONYMOUS
    guard let r = mmap(nil, ringBytes, PROT_READ | PROT_WRITE, anonymous, -1, 0), r != MAP_FAILED else {
      throw Errno(rawValue: errno)
    }
    guard let b = mmap(nil, buffersBytes, PROT_READ | PROT_WRITE, anonymous, -1, 0), b != MAP_FAILED else {
      let e = errno
      munmap(r, ringBytes)
      throw Errno(rawValue: e)
    }
    ringMemory = r
    buffers = b
    mask = io_uring_buf_ring_mask(UInt32(group.count))
  }

  deinit {
    munmap(ringMemory, ringBytes)
    munmap(buffers, buffersBytes)
  }

  func buffer(_ id: UInt16) -> UnsafeMutableRawBufferPointer {
    precondition(Int(id) < group.count, "IOURing: buffer id \(id) is not in group \(group.id) (\(group.count) buffers)")
    return UnsafeMutableRawBufferPointer(start: buffers + Int(id) * group.bufferSize, count: group.bufferSize)
  }

  /// Hands buffer `id` back to the kernel (`io_uring_buf_ring_add` + `_advance`).
  func provide(_ id: UInt16) {
    let b = buffer(id)
    io_uring_buf_ring_add(bufRing, b.baseAddress, UInt32(b.count), id, mask, 0)
    io_uring_buf_ring_advance(bufRing, 1)
  }
}

extension IOURing {
  /// Creates and registers a provided-buffer ring: `count` buffers of `bufferSize`
  /// bytes in group `group`, all handed to the kernel. The ring owns the memory and frees
  /// it after ``unregisterBufferRing(_:)`` or its own teardown.
  ///
  /// The kernel consumes a buffer per completion that names it
  /// (``Completion/bufferID``); read it with ``withProvidedBuffer(_:in:count:_:)`` and
  /// give it back with ``recycleBuffer(_:in:)``. When none is left, receives fail with
  /// `ENOBUFS` (a multishot receive ends): recycle, then resubmit.
  ///
  /// - Parameters:
  ///   - group: The buffer group id (`bgid`) that requests name to pick from this ring
  ///     (``IOURing/Request/recvMultishot(_:bufferGroup:flags:userData:)``, `sqe->buf_group`).
  ///     - Precondition: not already registered on this ring.
  ///   - count: A power of two, 1...32768.
  ///   - bufferSize: Bytes per buffer, 1...`UInt32.max`; the ring allocates
  ///     `count * bufferSize` bytes, page-aligned.
  /// - Throws: `EEXIST` (group id in use), `EINVAL`, `ENOMEM`.
  ///
  /// The corresponding C function is `io_uring_register_buf_ring` (`IORING_REGISTER_PBUF_RING`, kernel 5.19).
  public mutating func registerBufferRing(group: UInt16, count: Int, bufferSize: Int) throws(Errno) -> BufferGroup {
    precondition(
      count > 0 && count <= 32768 && count & (count - 1) == 0,
      "IOURing.registerBufferRing: count must be a power of two in 1...32768 (got \(count))")
    precondition(bufferSize > 0 && bufferSize <= Int(UInt32.max), "IOURing.registerBufferRing: bad bufferSize \(bufferSize)")
    precondition(bufferRings[group] == nil, "IOURing.registerBufferRing: group \(group) is already registered")
    let info = BufferGroup(id: group, count: count, bufferSize: bufferSize)
    let storage = try BufferRingStorage(group: info)
    io_uring_buf_ring_init(storage.bufRing)
    var reg = io_uring_buf_reg()
    reg.ring_addr = UInt64(UInt(bitPattern: storage.ringMemory))
    reg.ring_entries = UInt32(count)
    reg.bgid = group
    _ = try liburing { io_uring_register_buf_ring(ring, &reg, 0) }
    for id in 0..<count {
      let b = storage.buffer(UInt16(id))
      io_uring_buf_ring_add(storage.bufRing, b.baseAddress, UInt32(b.count), UInt16(id), storage.mask, Int32(id))
    }
    io_uring_buf_ring_advance(storage.bufRing, Int32(count))
    bufferRings[group] = storage
    _ = ensureOwnership()  // from now on, requests that select buffers are counted
    return info
  }

  /// Calls `body` with the first `count` bytes of buffer `id` of `group` (the bytes a
  /// completion reported). The buffer belongs to the caller from its completion until
  /// ``recycleBuffer(_:in:)``.
  ///
  /// - Precondition: `group` is registered with this ring; `count <= group.bufferSize`.
  public func withProvidedBuffer<R, E: Error>(
    _ id: UInt16, in group: BufferGroup, count: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    guard let storage = bufferRings[group.id] else {
      preconditionFailure("IOURing: buffer group \(group.id) is not registered with this ring")
    }
    let b = storage.buffer(id)
    precondition(count >= 0 && count <= b.count, "IOURing: \(count) bytes exceed buffer size \(b.count)")
    return try body(UnsafeRawBufferPointer(rebasing: b[0..<count]))
  }

  /// The bytes a receive completion delivered into a provided buffer, copied out.
  ///
  /// - Returns: `nil` if the completion carries no buffer or failed.
  public func providedBytes(of completion: Completion, in group: BufferGroup) -> [UInt8]? {
    guard let id = completion.bufferID, case .success(let n) = completion.result else { return nil }
    return withProvidedBuffer(id, in: group, count: Int(n)) { Array($0) }
  }

  /// Gives buffer `id` back to the kernel for reuse in `group`.
  ///
  /// The corresponding C functions are `io_uring_buf_ring_add` and `io_uring_buf_ring_advance`.
  public mutating func recycleBuffer(_ id: UInt16, in group: BufferGroup) {
    guard let storage = bufferRings[group.id] else {
      preconditionFailure("IOURing: buffer group \(group.id) is not registered with this ring")
    }
    storage.provide(id)
  }

  /// Unregisters `group`; its memory is freed once no request that selects from it is in
  /// flight (the ring counts them: a request in flight may already hold one of its buffers,
  /// and the kernel may still write into it). New requests naming the group fail with
  /// `ENOBUFS`.
  ///
  /// The corresponding C function is `io_uring_unregister_buf_ring` (kernel 5.19).
  public mutating func unregisterBufferRing(_ group: BufferGroup) throws(Errno) {
    _ = try liburing { io_uring_unregister_buf_ring(ring, Int32(group.id)) }
    if let storage = bufferRings.removeValue(forKey: group.id), let ledger = ownership, ledger.groupUses[group.id, default: 0] > 0
    {
      ledger.retiredBufferRings[group.id, default: []].append(storage)
    }
  }
}
