// An open file's status, permissions, owner, times, size and position — the f* calls
// (fstat, fchmod, fchown, futimens, ftruncate) and lseek with SEEK_DATA/SEEK_HOLE, which
// Swift's Glibc module hides. Each call goes through one funnel (Syscalls+Files.swift): a
// typed `Errno`, `EINTR` retried, mockable in debug builds.

import CLinuxExtras
import Glibc
public import SystemPackage

extension FileDescriptor {
  /// The status of the open file (its `stat`).
  ///
  /// - Throws: `Errno`, as `fstat(2)`: `.badFileDescriptor`, `.ioError`, `.overflow`.
  ///
  /// The corresponding C call is `fstat`.
  public func status() throws(Errno) -> Stat {
    var status = Glibc.stat()
    _ = try valueOrErrno { system_fstat(rawValue, &status) }
    return Stat(rawValue: status)
  }

  /// Sets the open file's permission bits.
  ///
  /// - Parameter permissions: The bits to set, set-user-ID, set-group-ID and sticky included.
  /// - Throws: `Errno`, as `fchmod(2)`: `.notPermitted` (not the owner),
  ///   `.readOnlyFileSystem`, `.badFileDescriptor` (an `O_PATH` descriptor).
  ///
  /// The corresponding C call is `fchmod`.
  public func setPermissions(_ permissions: FilePermissions) throws(Errno) {
    _ = try valueOrErrno { system_fchmod(rawValue, permissions.rawValue) }
  }

  /// Sets the open file's owner and group.
  ///
  /// - Parameters:
  ///   - user: The new owner, or nil to keep it (`-1`).
  ///   - group: The new group, or nil to keep it (`-1`).
  /// - Throws: `Errno`, as `fchown(2)`: `.notPermitted` (without `CAP_CHOWN`, or a group
  ///   the caller is not in), `.readOnlyFileSystem`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `fchown`.
  public func setOwner(user: UserID?, group: GroupID?) throws(Errno) {
    _ = try valueOrErrno { system_fchown(rawValue, user?.rawValue ?? uid_t.max, group?.rawValue ?? gid_t.max) }
  }

  /// Sets the open file's access and modification times to those in `status` (`st_atim`,
  /// `st_mtim`, to the nanosecond).
  ///
  /// - Parameter status: Where the two times come from (another file's status, say).
  /// - Throws: `Errno`, as `futimens(3)`: `.notPermitted` / `.permissionDenied` (not the
  ///   owner), `.readOnlyFileSystem`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `futimens`.
  public func setTimes(from status: Stat) throws(Errno) {
    let times = [status.rawValue.st_atim, status.rawValue.st_mtim]
    _ = try valueOrErrno { times.withUnsafeBufferPointer { system_futimens(rawValue, $0.baseAddress) } }
  }

  /// Sets the open file's size to `size` bytes: cut, or extended with a hole.
  ///
  /// - Parameter size: The new size (not negative).
  /// - Throws: `Errno`, as `ftruncate(2)`: `.invalidArgument` (not a regular file open
  ///   for writing), `.fileTooLarge`, `.notPermitted` (an append-only or immutable file),
  ///   `.badFileDescriptor`.
  ///
  /// The corresponding C call is `ftruncate`.
  public func truncate(toSize size: Int64) throws(Errno) {
    checkOffset(size, "size", "truncate(toSize:)")
    _ = try valueOrErrno { system_ftruncate(rawValue, size) }
  }

  /// Allocates the blocks of `length` bytes at `offset`, so that later writes there cannot
  /// fail for lack of space; with `keepSize` false (the default) the file grows to
  /// `offset + length` if it was shorter, with `keepSize` its size stays (blocks past the
  /// end are allocated but not counted). Data already there is unchanged; allocated
  /// ranges that held no data read as zeros.
  ///
  /// - Parameters:
  ///   - offset: The range's first byte (not negative).
  ///   - length: The range's length (greater than 0).
  ///   - keepSize: `FALLOC_FL_KEEP_SIZE`.
  /// - Throws: `Errno`, as `fallocate(2)`: `.invalidArgument` (`length` 0 or negative),
  ///   `.badFileDescriptor` (not open for writing), `.illegalSeek` (a pipe or FIFO),
  ///   `.isDirectory`, `.noSuchDevice` (a socket or character device), `.notSupported` (a
  ///   filesystem without it; `posix_fallocate` would write zeros instead), `.noSpace`,
  ///   `.fileTooLarge`.
  ///
  /// The corresponding C call is `fallocate` (mode 0 or `FALLOC_FL_KEEP_SIZE`).
  public func allocate(at offset: Int64, length: Int64, keepSize: Bool = false) throws(Errno) {
    checkOffset(offset, "offset", "allocate(at:length:keepSize:)")
    _ = try valueOrErrno { system_fallocate(rawValue, keepSize ? 1 : 0, offset, length) }
  }

  /// The descriptor's file position.
  ///
  /// - Throws: `Errno`, as `lseek(2)`: `.illegalSeek` (a pipe, socket or FIFO),
  ///   `.badFileDescriptor`.
  ///
  /// The corresponding C call is `lseek(fd, 0, SEEK_CUR)`.
  public func position() throws(Errno) -> Int64 {
    try valueOrErrno { system_lseek(rawValue, 0, SEEK_CUR) }
  }

  /// The size of the block device this descriptor is open on, in bytes (`st_size` is 0
  /// for a device node).
  ///
  /// - Throws: `Errno`: `.inappropriateIOCTLForDevice` (`ENOTTY`: not a block device),
  ///   `.badFileDescriptor`.
  ///
  /// The corresponding C call is `ioctl(fd, BLKGETSIZE64, &size)`.
  public func blockDeviceSize() throws(Errno) -> Int64 {
    var bytes: UInt64 = 0
    _ = try valueOrErrno { system_block_device_size(rawValue, &bytes) }
    return Int64(bytes)
  }

  /// Moves the descriptor's file position to `offset` bytes from the start.
  ///
  /// - Parameter offset: The new position (not negative; past the end is allowed).
  /// - Throws: `Errno`, as `lseek(2)`: `.illegalSeek` (a pipe, socket or FIFO),
  ///   `.invalidArgument`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `lseek(fd, offset, SEEK_SET)`.
  public func setPosition(_ offset: Int64) throws(Errno) {
    checkOffset(offset, "offset", "setPosition(_:)")
    _ = try valueOrErrno { system_lseek(rawValue, offset, SEEK_SET) }
  }

  /// The start of the first data segment at or after `offset` (a sparse file's data, not
  /// its holes), and moves the position there. A filesystem that does not track holes
  /// reports all of the file as data.
  ///
  /// - Parameter offset: Where to start looking (not negative).
  /// - Throws: `Errno`, as `lseek(2)`: `.noSuchAddressOrDevice` (`ENXIO`: no data at or
  ///   after `offset` — only a hole up to the end, or `offset` at or past the end),
  ///   `.invalidArgument` / `.notSupported` (a filesystem or file type that refuses
  ///   `SEEK_DATA`), `.badFileDescriptor`.
  ///
  /// The corresponding C call is `lseek(fd, offset, SEEK_DATA)` (Linux 3.1).
  public func seek(toData offset: Int64) throws(Errno) -> Int64 {
    checkOffset(offset, "offset", "seek(toData:)")
    return try valueOrErrno { system_lseek(rawValue, offset, zc_extras_SEEK_DATA) }
  }

  /// The start of the first hole at or after `offset` (the end of the file counts as a
  /// hole), and moves the position there.
  ///
  /// - Parameter offset: Where to start looking (not negative).
  /// - Throws: `Errno`, as `lseek(2)`: `.noSuchAddressOrDevice` (`ENXIO`: `offset` at or
  ///   past the end), `.invalidArgument` / `.notSupported`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `lseek(fd, offset, SEEK_HOLE)` (Linux 3.1).
  public func seek(toHole offset: Int64) throws(Errno) -> Int64 {
    checkOffset(offset, "offset", "seek(toHole:)")
    return try valueOrErrno { system_lseek(rawValue, offset, zc_extras_SEEK_HOLE) }
  }

  /// Flushes the open file's data (and with `dataOnly` false, all its metadata) to the
  /// storage device; for a directory, its entries.
  ///
  /// - Parameter dataOnly: Only what reading the data back needs (`fdatasync`).
  /// - Throws: `Errno`, as `fsync(2)`: `.ioError` (a write-back failed: the data may be
  ///   lost), `.noSpace`, `.invalidArgument` (a pipe or socket), `.badFileDescriptor`.
  ///
  /// The corresponding C calls are `fsync` and `fdatasync`.
  public func synchronize(dataOnly: Bool = false) throws(Errno) {
    _ = try valueOrErrno { dataOnly ? system_fdatasync(rawValue) : system_fsync(rawValue) }
  }
}
