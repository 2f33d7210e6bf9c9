// The page cache: asking the kernel to read a range ahead, and how much of a range it holds.

import CZeroCopy
import Glibc
public import SystemPackage

extension FileDescriptor {
  /// Asks the kernel to read `[offset, offset + length)` of this file into the page cache
  /// (`POSIX_FADV_WILLNEED`): the reads are started and the call returns without waiting
  /// for them. A later read of the range then finds the data in memory.
  ///
  /// - Parameters:
  ///   - offset: The first byte. - Precondition: not negative.
  ///   - length: How many bytes (0: to the end of the file). - Precondition: not negative.
  /// - Throws: `Errno`: `.badFileDescriptor`, `.illegalSeek` (a pipe or socket),
  ///   `.invalidArgument`.
  ///
  /// The corresponding C function is `posix_fadvise` with `POSIX_FADV_WILLNEED`.
  public func adviseWillNeed(offset: Int64, length: Int64) throws(Errno) {
    checkOffset(offset, "offset", #function)
    checkOffset(length, "length", #function)
    _ = try valueOrErrno { system_fadvise(rawValue, offset, length, POSIX_FADV_WILLNEED) }
  }

  /// Tells the kernel that `[offset, offset + length)` of this file will not be needed
  /// soon (`POSIX_FADV_DONTNEED`): its clean cached pages are dropped; dirty ones are not
  /// (write them back first, e.g. with ``synchronize(dataOnly:)``). Pages are dropped
  /// whole folios at a time: part of a large folio stays.
  ///
  /// - Parameters:
  ///   - offset: The first byte. - Precondition: not negative.
  ///   - length: How many bytes (0: to the end of the file). - Precondition: not negative.
  /// - Throws: `Errno`: `.badFileDescriptor`, `.illegalSeek` (a pipe or socket),
  ///   `.invalidArgument`.
  ///
  /// The corresponding C function is `posix_fadvise` with `POSIX_FADV_DONTNEED`.
  public func adviseDontNeed(offset: Int64, length: Int64) throws(Errno) {
    checkOffset(offset, "offset", #function)
    checkOffset(length, "length", #function)
    _ = try valueOrErrno { system_fadvise(rawValue, offset, length, POSIX_FADV_DONTNEED) }
  }

  /// How many pages of `[offset, offset + length)` of this file are in the page cache now;
  /// never waits for I/O. Pages past the end of the file are not counted. On kernels
  /// before 6.5 (no `cachestat`), the range's first and last byte stand for it: all of its
  /// pages, or 0.
  ///
  /// - Throws: `Errno`: `.badFileDescriptor`, `.illegalSeek`, `.invalidArgument`.
  ///
  /// The corresponding C function is `zc_cached_pages` (system call `cachestat`, kernel 6.5;
  /// else `preadv2` with `RWF_NOWAIT`).
  public func cachedPages(offset: Int64, length: Int64) throws(Errno) -> Int {
    checkOffset(offset, "offset", #function)
    checkOffset(length, "length", #function)
    return Int(try valueOrErrno { system_cached_pages(rawValue, offset, length) })
  }

  /// Whether `[offset, offset + length)` of this file (clamped to the end of a regular
  /// file) can be read without waiting for I/O: its last byte is readable now (`preadv2`
  /// of one byte with `RWF_NOWAIT`) and every page of it is in the page cache
  /// (``cachedPages(offset:length:)``, where `cachestat` exists) — two system calls — and,
  /// when `thorough`, one byte in every 256 KiB is readable too. A readahead
  /// (``adviseWillNeed(offset:length:)``) inserts pages before their reads complete, so
  /// present is not readable, and separate readahead windows complete in their own order:
  /// while a readahead may be in flight, only the probes every 256 KiB stand for their
  /// stretch (8 MiB: some 34 system calls, 26 µs here; 1 MiB: 5 µs; not thorough: 1 µs).
  ///
  /// - Parameters:
  ///   - offset: The range's first byte. - Precondition: not negative.
  ///   - length: The range's length in bytes. - Precondition: not negative.
  ///   - thorough: Probe every 256 KiB (default).
  ///   - probes: Incremented by the number of one-byte reads made (a caller that counts
  ///     its data-path system calls counts them).
  /// - Throws: `Errno`: `.badFileDescriptor`, `.illegalSeek`, `.notSupported` (no
  ///   `RWF_NOWAIT` for this file).
  ///
  /// The corresponding C function is `zc_range_ready` (`preadv2` with `RWF_NOWAIT`,
  /// `cachestat`, and `fstat` when pages are missing).
  public func isRangeReadable(offset: Int64, length: Int64, thorough: Bool = true, probes: inout Int) throws(Errno) -> Bool {
    checkOffset(offset, "offset", #function)
    checkOffset(length, "length", #function)
    var made: CInt = 0
    defer { probes += Int(made) }
    return try valueOrErrno { system_range_ready(rawValue, offset, length, thorough, &made) } == 1
  }

  /// ``isRangeReadable(offset:length:thorough:probes:)`` without counting the probes.
  public func isRangeReadable(offset: Int64, length: Int64, thorough: Bool = true) throws(Errno) -> Bool {
    var probes = 0
    return try isRangeReadable(offset: offset, length: length, thorough: thorough, probes: &probes)
  }

  /// The magic number of this descriptor's filesystem (`statfs`'s `f_type`): `0xEF53`
  /// ext2/3/4, `0x58465342` XFS, `0x9123683E` Btrfs, `0x01021994` tmpfs, `0x6969` NFS…
  ///
  /// - Throws: `Errno`: `.badFileDescriptor`, `.noFunction`.
  ///
  /// The corresponding C function is `zc_filesystem_type` (`fstatfs`).
  public func fileSystemType() throws(Errno) -> Int64 {
    try valueOrErrno { system_filesystem_type(rawValue) }
  }
}
