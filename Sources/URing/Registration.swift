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
  /// A plain description (index + address); it does not own the memory. The memory must
  /// outlive the registration (until ``IOURing/unregisterBuffers()``, a slot update, or
  /// the ring's end) and every request using it.
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
    public var ioURingOperand: FileOperand { FileOperand(value: Int32(bitPattern: index), isRegistered: true) }
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
  /// Registers `regions` as the ring's buffer table (indices 0, 1, …), replacing none:
  /// a ring has one table; unregister first to replace it.
  ///
  /// - Lifetime: Each region's memory must outlive the registration and every request
  ///   that uses it. The kernel pins the pages, so freed-and-reused memory would still
  ///   receive the kernel's writes.
  /// - Throws: `EBUSY` (a table exists), `ENOMEM` (beyond `RLIMIT_MEMLOCK` without
  ///   `CAP_IPC_LOCK`), `EFAULT`, `EINVAL` (more than 16384 buffers, a buffer over 1 GiB,
  ///   or file-backed memory on older kernels), `EOVERFLOW`.
  ///
  /// The corresponding C function is `io_uring_register_buffers` (kernel 5.1).
  public mutating func registerBuffers(_ regions: [UnsafeMutableRawBufferPointer]) throws(Errno) -> [RegisteredBuffer] {
    precondition(regions.count <= Int(UInt16.max), "IOURing.registerBuffers: at most 65535 buffers")
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

  /// Registers an `AlignedBuffer`'s memory in slot `slot` of the buffer table (created
  /// with ``registerBufferSlots(count:)`` or ``registerBuffers(_:)``), replacing the slot's
  /// previous buffer.
  ///
  /// The buffer is borrowed, not consumed: **it must outlive the registration** (until
  /// the slot is replaced or cleared, ``unregisterBuffers()``, or the ring's end) and every
  /// request that uses it. Its address is stable for its whole lifetime, so moving the
  /// `AlignedBuffer` value is fine; letting it be destroyed is not.
  ///
  /// - Throws: `EINVAL`/`ENXIO` (no table, or `slot` out of range), `ENOMEM`
  ///   (`RLIMIT_MEMLOCK`), `EFAULT`.
  ///
  /// The corresponding C function is `io_uring_register_buffers_update_tag` (kernel 5.13).
  public mutating func registerBuffer(_ buffer: borrowing AlignedBuffer, at slot: Int) throws(Errno) -> RegisteredBuffer {
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress, count: buffer.count)
    return try registerBuffer(bytes, at: slot)
  }

  /// Registers `region` in slot `slot` of the buffer table (see ``registerBuffer(_:at:)-(AlignedBuffer,_)``).
  ///
  /// The corresponding C function is `io_uring_register_buffers_update_tag` (kernel 5.13).
  public mutating func registerBuffer(_ region: UnsafeMutableRawBufferPointer, at slot: Int) throws(Errno) -> RegisteredBuffer {
    precondition(slot >= 0 && slot < Int(UInt16.max), "IOURing.registerBuffer: slot out of range")
    var iov = iovec(iov_base: region.baseAddress, iov_len: region.count)
    var tag: UInt64 = 0
    _ = try liburing { io_uring_register_buffers_update_tag(ring, UInt32(slot), &iov, &tag, 1) }
    return RegisteredBuffer(index: UInt16(slot), bytes: region)
  }

  /// Empties slot `slot` of the buffer table. Requests still using it keep the pages
  /// until they complete.
  ///
  /// The corresponding C function is `io_uring_register_buffers_update_tag` with an empty iovec (kernel 5.13).
  public mutating func clearBuffer(at slot: Int) throws(Errno) {
    precondition(slot >= 0 && slot < Int(UInt16.max), "IOURing.clearBuffer: slot out of range")
    var iov = iovec(iov_base: nil, iov_len: 0)
    var tag: UInt64 = 0
    _ = try liburing { io_uring_register_buffers_update_tag(ring, UInt32(slot), &iov, &tag, 1) }
  }

  /// Removes the buffer table. In-flight requests keep their pages until they complete.
  ///
  /// - Throws: `ENXIO` when no table is registered.
  ///
  /// The corresponding C function is `io_uring_unregister_buffers` (kernel 5.1).
  public mutating func unregisterBuffers() throws(Errno) {
    _ = try liburing { io_uring_unregister_buffers(ring) }
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
  ///   - count: A power of two, 1...32768.
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

  /// Unregisters `group` and frees its memory.
  ///
  /// - Precondition: No request using the group is in flight (the kernel would report
  ///   `ENOBUFS` for new ones; in-flight ones may still hold a buffer).
  ///
  /// The corresponding C function is `io_uring_unregister_buf_ring` (kernel 5.19).
  public mutating func unregisterBufferRing(_ group: BufferGroup) throws(Errno) {
    _ = try liburing { io_uring_unregister_buf_ring(ring, Int32(group.id)) }
    bufferRings[group.id] = nil
  }
}
