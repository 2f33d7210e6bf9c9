// Direct I/O (O_DIRECT): opening, the alignment query, and reads and writes that check
// alignment before the kernel does — so a misaligned request fails with an error that
// says *what* is misaligned, not a bare EINVAL.

import CZeroCopy
import Glibc
public import SystemPackage

extension FileDescriptor.OpenOptions {
  /// `O_DIRECT`: reads and writes bypass the page cache and go to the device, from and to
  /// the caller's buffer. Buffer address, file offset and length must then be aligned
  /// (``DirectIOAlignment``); the kernel answers `EINVAL` otherwise. Filesystems without
  /// direct I/O refuse it at `open` with `EINVAL`; tmpfs (Linux 6.6+) accepts it without
  /// enforcing any alignment.
  ///
  /// Glibc hides the constant from Swift (it is GNU-only); this is the value of the
  /// running architecture (`zc_o_direct_flag`: 0x4000 on x86_64, 0x10000 on arm64).
  public static var direct: Self { Self(rawValue: zc_o_direct_flag()) }
}

/// The alignment direct I/O on one file needs: the buffer's address must be a multiple
/// of ``memory``; the file offset and the length of every read and write a multiple of
/// ``offset``.
///
/// Query it with ``SystemPackage/FileDescriptor/directIOAlignment()`` (statx
/// `STATX_DIOALIGN`); allocate matching memory with
/// ``AlignedBuffer/init(count:directIO:zeroed:)``.
public struct DirectIOAlignment: Sendable, Hashable, CustomStringConvertible {
  /// Required alignment of the buffer address in bytes (a power of two).
  public var memory: Int
  /// Required alignment of file offsets and lengths in bytes (a power of two).
  public var offset: Int
  /// Whether the kernel reported these values (`STATX_DIOALIGN`, Linux 6.1+, on
  /// filesystems that support direct I/O). `false` means they are the 4096-byte fallback,
  /// which is safe for every common device (logical blocks of 512 or 4096 bytes).
  public var isReported: Bool

  /// An alignment of `memory` bytes for addresses and `offset` bytes for offsets and lengths.
  ///
  /// - Precondition: Both are powers of two.
  public init(memory: Int, offset: Int, isReported: Bool = false) {
    precondition(
      memory > 0 && memory & (memory - 1) == 0, "DirectIOAlignment: memory alignment must be a power of two (got \(memory))")
    precondition(
      offset > 0 && offset & (offset - 1) == 0, "DirectIOAlignment: offset alignment must be a power of two (got \(offset))")
    self.memory = memory
    self.offset = offset
    self.isReported = isReported
  }

  /// 4096 bytes for both: what is used when the kernel does not report the alignment.
  public static let fallback = DirectIOAlignment(memory: 4096, offset: 4096, isReported: false)

  /// The stricter of two alignments (for copying between two files with one buffer).
  public func combined(with other: DirectIOAlignment) -> DirectIOAlignment {
    DirectIOAlignment(
      memory: Swift.max(memory, other.memory), offset: Swift.max(offset, other.offset),
      isReported: isReported && other.isReported)
  }

  /// `value` rounded down to a multiple of ``offset``.
  public func roundDown(_ value: Int64) -> Int64 { value & ~Int64(offset - 1) }
  /// `value` rounded up to a multiple of ``offset``.
  public func roundUp(_ value: Int64) -> Int64 { (value + Int64(offset - 1)) & ~Int64(offset - 1) }

  /// Checks a direct read or write before it is issued: the buffer address (against
  /// ``memory``), then the file offset and the length (against ``offset``).
  ///
  /// - Throws: ``DirectIOError`` naming the first misaligned value and the alignment it
  ///   needs, with `errno` `EINVAL` — what the kernel would have answered.
  public func check(address: UnsafeRawPointer?, offset fileOffset: Int64?, length: Int) throws(DirectIOError) {
    let address = UInt(bitPattern: address)
    if address & UInt(memory - 1) != 0 {
      throw DirectIOError(misaligned: .bufferAddress, value: Int64(bitPattern: UInt64(address)), alignment: memory)
    }
    if let fileOffset, fileOffset & Int64(offset - 1) != 0 {
      throw DirectIOError(misaligned: .offset, value: fileOffset, alignment: offset)
    }
    if length & (offset - 1) != 0 {
      throw DirectIOError(misaligned: .length, value: Int64(length), alignment: offset)
    }
  }

  /// "memory 512, offset/length 512 (reported by statx)".
  public var description: String {
    "memory \(memory), offset/length \(offset) (\(isReported ? "reported by statx STATX_DIOALIGN" : "fallback: not reported"))"
  }
}

/// A direct-I/O read or write failed: either the library found a misaligned request
/// before calling the kernel (``misaligned`` is set, ``errno`` is `EINVAL`, the errno the
/// kernel would have given), or the system call itself failed (``misaligned`` is nil).
public struct DirectIOError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Which value of a request is misaligned.
  public enum Misaligned: String, Sendable, Hashable {
    /// The buffer's address is not a multiple of ``DirectIOAlignment/memory``.
    case bufferAddress = "buffer address"
    /// The file offset is not a multiple of ``DirectIOAlignment/offset``.
    case offset = "file offset"
    /// The length is not a multiple of ``DirectIOAlignment/offset``.
    case length = "length"
  }

  /// The error number: `EINVAL` for a misaligned request, else the system call's.
  public let errno: Errno
  /// What is misaligned, or nil when the system call failed for another reason.
  public let misaligned: Misaligned?
  /// The misaligned value (an address, offset or length), 0 when ``misaligned`` is nil.
  public let value: Int64
  /// The alignment ``value`` needed, 0 when ``misaligned`` is nil.
  public let requiredAlignment: Int

  /// A misaligned-request error (`EINVAL`).
  public init(misaligned: Misaligned, value: Int64, alignment: Int) {
    self.errno = .invalidArgument
    self.misaligned = misaligned
    self.value = value
    self.requiredAlignment = alignment
  }

  /// A system call's error.
  public init(_ errno: Errno) {
    self.errno = errno
    self.misaligned = nil
    self.value = 0
    self.requiredAlignment = 0
  }

  /// The explanation, e.g. "O_DIRECT: the file offset 7 is not a multiple of 512 (EINVAL)".
  public var message: String {
    guard let misaligned else { return "\(errno)" }
    let shown = misaligned == .bufferAddress ? "0x" + String(UInt64(bitPattern: value), radix: 16) : "\(value)"
    return "O_DIRECT: the \(misaligned.rawValue) \(shown) is not a multiple of \(requiredAlignment)"
      + " (it is off by \(UInt64(bitPattern: value) % UInt64(requiredAlignment)) bytes); the kernel would answer EINVAL"
  }

  /// ``message`` with the errno.
  public var description: String { "\(message) [errno \(errno.rawValue): \(errno)]" }
}

extension FileDescriptor {
  /// This file's direct-I/O alignment: statx `STATX_DIOALIGN` where the kernel and the
  /// filesystem report it (ext4 on this machine: 512/512), else
  /// ``DirectIOAlignment/fallback`` (4096/4096; tmpfs, which does not report it).
  ///
  /// - Throws: `Errno` (`.badFileDescriptor`).
  ///
  /// The corresponding C function is `zc_dio_alignment_query` (`statx(fd, "",
  /// AT_EMPTY_PATH, STATX_DIOALIGN)`).
  public func directIOAlignment() throws(Errno) -> DirectIOAlignment {
    var raw = zc_dio_alignment(mem_align: 0, offset_align: 0, reported: 0)
    _ = try valueOrErrno { system_dio_alignment(rawValue, &raw) }
    return DirectIOAlignment(memory: Int(raw.mem_align), offset: Int(raw.offset_align), isReported: raw.reported != 0)
  }

  /// Whether this descriptor was opened with (or set to) `O_DIRECT`.
  ///
  /// - Throws: `Errno` (`.badFileDescriptor`).
  ///
  /// The corresponding C function is `fcntl(fd, F_GETFL)`.
  public func isDirectIO() throws(Errno) -> Bool {
    let flags = try valueOrErrno { system_fcntl_getfl(rawValue) }
    return flags & zc_o_direct_flag() != 0
  }

  /// Opens the file behind this descriptor again, as a new open file description with
  /// its own offset and status flags — typically to add ``OpenOptions/direct`` without
  /// disturbing this descriptor. The new descriptor is `O_CLOEXEC`; the caller closes it.
  ///
  /// For a pipe or FIFO it is a second descriptor of the same pipe with its own
  /// `O_NONBLOCK` (a `dup` shares the description, and `fcntl(F_SETFL)` would change the
  /// flags of every holder): the async transfer API tries a small transfer through a
  /// non-blocking one and leaves any wait to a worker thread. While it is open it counts as
  /// one more reader or writer of the pipe, so close it soon (a reader sees no end of stream
  /// while a write end is open).
  ///
  /// - Parameters:
  ///   - mode: Read, write or both (the file's permissions are checked again).
  ///   - options: `O_*` options; `.create`, `.truncate` and `.exclusiveCreate` are refused.
  /// - Throws: `Errno`: `.invalidArgument` (the filesystem refuses `O_DIRECT`, or a
  ///   refused option), `.noSuchFileOrDirectory` (no /proc), `.permissionDenied`,
  ///   `.noSuchAddressOrDevice` (`ENXIO`: a socket, or a FIFO opened non-blocking for writing
  ///   without a reader).
  ///
  /// The corresponding C function is `zc_reopen` (`open("/proc/self/fd/N", flags)`).
  public func reopen(_ mode: AccessMode, options: OpenOptions = []) throws(Errno) -> FileDescriptor {
    let fd = try valueOrErrno { system_reopen(rawValue, mode.rawValue | options.rawValue) }
    return FileDescriptor(rawValue: fd)
  }

  /// Reads up to `buffer.count` bytes at `offset` with one `pread(2)`, on a descriptor
  /// opened with ``OpenOptions/direct``, after checking the request against `alignment`.
  ///
  /// A short count means the end of the file (the last block); the next aligned read
  /// returns 0.
  ///
  /// - Parameters:
  ///   - buffer: Where to read to; its address and count must be aligned.
  ///   - offset: The file offset; must be aligned.
  ///   - alignment: The file's alignment (``directIOAlignment()``).
  /// - Returns: The bytes read.
  /// - Throws: ``DirectIOError``: misaligned buffer address, offset or length
  ///   (`EINVAL`, before any system call), or `pread`'s errno (`EIO`, `EBADF`…).
  ///
  /// The corresponding C function is `pread`.
  public func directRead(
    into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, alignment: DirectIOAlignment
  ) throws(DirectIOError) -> Int {
    precondition(offset >= 0, "FileDescriptor.directRead: offset must not be negative (got \(offset))")
    try alignment.check(address: buffer.baseAddress, offset: offset, length: buffer.count)
    do {
      return try valueOrErrno { system_pread(rawValue, buffer.baseAddress, buffer.count, offset) }
    } catch {
      throw DirectIOError(error)
    }
  }

  /// Writes `buffer` at `offset` with one `pwrite(2)`, on a descriptor opened with
  /// ``OpenOptions/direct``, after checking the request against `alignment`. A short
  /// count is possible (a full filesystem); the next write then reports the error.
  ///
  /// - Parameters:
  ///   - buffer: The bytes; address and count must be aligned.
  ///   - offset: The file offset; must be aligned.
  ///   - alignment: The file's alignment (``directIOAlignment()``).
  /// - Returns: The bytes written.
  /// - Throws: ``DirectIOError``: misaligned buffer address, offset or length
  ///   (`EINVAL`, before any system call), or `pwrite`'s errno (`ENOSPC`, `EIO`…).
  ///
  /// The corresponding C function is `pwrite`.
  public func directWrite(
    _ buffer: UnsafeRawBufferPointer, at offset: Int64, alignment: DirectIOAlignment
  ) throws(DirectIOError) -> Int {
    precondition(offset >= 0, "FileDescriptor.directWrite: offset must not be negative (got \(offset))")
    try alignment.check(address: buffer.baseAddress, offset: offset, length: buffer.count)
    do {
      return try valueOrErrno { system_pwrite(rawValue, buffer.baseAddress, buffer.count, offset) }
    } catch {
      throw DirectIOError(error)
    }
  }
}

extension AlignedBuffer {
  /// Allocates `count` bytes suitable for direct I/O with `directIO`: the address aligned
  /// to the page size, or to `directIO.memory` if that is larger. `count` itself should be
  /// a multiple of `directIO.offset` to be usable as one request.
  ///
  /// The kernel would accept an address aligned only to `directIO.memory` (512 bytes on
  /// ext4 over most disks), but then every page-sized piece of the buffer straddles two
  /// pages: the kernel pins twice the pages and the device gets twice the DMA segments.
  /// On this project's virtio disk that cost a fifth of the IOPS of 4 KiB random reads at
  /// queue depth 32: 52.4k against 65.8k (`zerocopy-bench direct-reads`, subject
  /// `ring.qd32.straddle`; Docs/bench/issue5/direct-reads-1g.md). For a sub-page alignment
  /// inside a larger buffer, slice this one.
  ///
  /// - Throws: `Errno.noMemory`.
  ///
  /// The corresponding C function is `posix_memalign`.
  public init(count: Int, directIO: DirectIOAlignment, zeroed: Bool = true) throws(Errno) {
    try self.init(count: count, alignment: Swift.max(directIO.memory, AlignedBuffer.pageSize), zeroed: zeroed)
  }
}
