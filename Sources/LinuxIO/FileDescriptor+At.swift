// The *at family on a directory descriptor: status, directories, links, symbolic links,
// device nodes, permissions, owners and times of an entry named relative to the
// directory. Working by descriptor and one name at a time keeps a tree walk free of
// path races and of `PATH_MAX`. Each call goes through one funnel (Syscalls+Files.swift):
// a typed `Errno`, `EINTR` retried, mockable in debug builds.

import Glibc
public import SystemPackage

extension FileDescriptor {
  /// The current working directory as the directory of the *at calls (`AT_FDCWD`): a
  /// relative name then resolves as a plain path would. Not a descriptor to close.
  public static var currentWorkingDirectory: FileDescriptor { FileDescriptor(rawValue: AT_FDCWD) }

  /// The status of `name` in this directory.
  ///
  /// - Parameters:
  ///   - name: The entry's name or path, relative to this directory (absolute: the
  ///     directory is ignored).
  ///   - followingSymbolicLinks: Whether a final symbolic link is followed (`false`:
  ///     `AT_SYMLINK_NOFOLLOW`, the link's own status).
  /// - Returns: The entry's `stat`.
  /// - Throws: `Errno`, as `fstatat(2)`: `.noSuchFileOrDirectory`, `.notDirectory`,
  ///   `.permissionDenied`, `.tooManySymbolicLinkLevels`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `fstatat`.
  public func status(of name: FilePath, followingSymbolicLinks: Bool) throws(Errno) -> Stat {
    var status = Glibc.stat()
    let flags = followingSymbolicLinks ? 0 : AT_SYMLINK_NOFOLLOW
    _ = try valueOrErrno { name.withPlatformString { system_fstatat(rawValue, $0, &status, flags) } }
    return Stat(rawValue: status)
  }

  /// Whether `name` in this directory may be written by the process's real user and group
  /// (cp `-i` asks this before replacing a file).
  ///
  /// - Parameter name: The entry's name, relative to this directory.
  /// - Throws: `Errno`, as `faccessat(2)`: `.permissionDenied` (not writable),
  ///   `.readOnlyFileSystem`, `.noSuchFileOrDirectory`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `faccessat` with `W_OK`.
  public func checkWritable(_ name: FilePath) throws(Errno) {
    _ = try valueOrErrno { name.withPlatformString { system_faccessat(rawValue, $0, W_OK, 0) } }
  }

  /// Creates the directory `name` in this directory.
  ///
  /// - Parameters:
  ///   - name: The new directory's name, relative to this directory.
  ///   - permissions: Its permission bits (the umask applies; the sticky bit is kept).
  /// - Throws: `Errno`, as `mkdirat(2)`: `.fileExists` (any entry of that name, a
  ///   dangling symbolic link included), `.noSuchFileOrDirectory`, `.permissionDenied`,
  ///   `.noSpace`, `.readOnlyFileSystem`.
  ///
  /// The corresponding C call is `mkdirat`.
  public func createDirectory(_ name: FilePath, permissions: FilePermissions) throws(Errno) {
    _ = try valueOrErrno { name.withPlatformString { system_mkdirat(rawValue, $0, permissions.rawValue) } }
  }

  /// Removes the entry `name` from this directory: a file, a symbolic link (not what it
  /// names) or a special file; with `directory`, an empty directory.
  ///
  /// - Parameters:
  ///   - name: The entry's name, relative to this directory.
  ///   - directory: Remove an empty directory (`AT_REMOVEDIR`) instead of a non-directory.
  /// - Throws: `Errno`, as `unlinkat(2)`: `.noSuchFileOrDirectory`, `.isDirectory` (a
  ///   directory without `directory`), `.directoryNotEmpty`, `.notDirectory`,
  ///   `.permissionDenied`, `.notPermitted` (a sticky directory), `.resourceBusy`.
  ///
  /// The corresponding C call is `unlinkat`.
  public func removeEntry(_ name: FilePath, directory: Bool = false) throws(Errno) {
    let flags = directory ? AT_REMOVEDIR : 0
    _ = try valueOrErrno { name.withPlatformString { system_unlinkat(rawValue, $0, flags) } }
  }

  /// Makes `newName` in `directory` a hard link to `name` in this directory (a symbolic
  /// link `name` is linked itself, not followed).
  ///
  /// - Parameters:
  ///   - name: The existing entry, relative to this directory.
  ///   - newName: The new name, relative to `directory`.
  ///   - directory: The new name's directory (may be this one).
  /// - Throws: `Errno`, as `linkat(2)`: `.fileExists` (nothing is replaced),
  ///   `.noSuchFileOrDirectory`, `.improperLink` (`EXDEV`: another filesystem),
  ///   `.notPermitted` (a directory, or protected_hardlinks), `.tooManyLinks`, `.noSpace`.
  ///
  /// The corresponding C call is `linkat` with no flags.
  public func createHardLink(to name: FilePath, named newName: FilePath, in directory: FileDescriptor) throws(Errno) {
    _ = try valueOrErrno {
      name.withPlatformString { from in
        newName.withPlatformString { system_linkat(rawValue, from, directory.rawValue, $0, 0) }
      }
    }
  }

  /// Renames `name` in this directory to `newName` in `directory`, replacing an existing
  /// `newName` atomically (a directory only by an empty directory).
  ///
  /// - Parameters:
  ///   - name: The entry to rename, relative to this directory.
  ///   - newName: Its new name, relative to `directory`.
  ///   - directory: The new name's directory (may be this one).
  /// - Throws: `Errno`, as `renameat(2)`: `.noSuchFileOrDirectory`, `.improperLink`
  ///   (`EXDEV`), `.isDirectory`, `.notDirectory`, `.directoryNotEmpty`,
  ///   `.permissionDenied`, `.resourceBusy`, `.noSpace`.
  ///
  /// The corresponding C call is `renameat`.
  public func rename(_ name: FilePath, to newName: FilePath, in directory: FileDescriptor) throws(Errno) {
    _ = try valueOrErrno {
      name.withPlatformString { from in
        newName.withPlatformString { system_renameat(rawValue, from, directory.rawValue, $0) }
      }
    }
  }

  /// Creates the symbolic link `name` in this directory, pointing at `target` (stored as
  /// given: the bytes are not checked or resolved).
  ///
  /// - Parameters:
  ///   - name: The new link's name, relative to this directory.
  ///   - target: The link's content: raw bytes, without a NUL (a NUL ends it early).
  /// - Throws: `Errno`, as `symlinkat(2)`: `.fileExists` (nothing is replaced),
  ///   `.noSuchFileOrDirectory` (an empty `target` too), `.permissionDenied`, `.noSpace`,
  ///   `.fileNameTooLong`.
  ///
  /// The corresponding C call is `symlinkat`.
  public func createSymbolicLink(_ name: FilePath, to target: [UInt8]) throws(Errno) {
    let cTarget = target.map { CChar(bitPattern: $0) } + [0]
    _ = try valueOrErrno {
      cTarget.withUnsafeBufferPointer { t in name.withPlatformString { system_symlinkat(t.baseAddress!, rawValue, $0) } }
    }
  }

  /// The target of the symbolic link `name` in this directory, as raw bytes (no NUL).
  ///
  /// - Parameters:
  ///   - name: The link's name, relative to this directory.
  ///   - capacity: The most bytes to read. A target of `capacity` bytes or more comes back
  ///     cut to `capacity` bytes (the kernel truncates silently): pass at least one more
  ///     than the size you expect (the link's `st_size`) and compare.
  /// - Throws: `Errno`, as `readlinkat(2)`: `.invalidArgument` (not a symbolic link),
  ///   `.noSuchFileOrDirectory`, `.permissionDenied`, `.notDirectory`.
  ///
  /// The corresponding C call is `readlinkat`.
  public func symbolicLinkTarget(_ name: FilePath, capacity: Int) throws(Errno) -> [UInt8] {
    precondition(capacity > 0, "symbolicLinkTarget: capacity must be positive (got \(capacity))")
    var buffer = [CChar](repeating: 0, count: capacity)
    let count = try valueOrErrno {
      buffer.withUnsafeMutableBufferPointer { b in
        name.withPlatformString { system_readlinkat(rawValue, $0, b.baseAddress!, b.count) }
      }
    }
    return buffer.prefix(count).map { UInt8(bitPattern: $0) }
  }

  /// Creates the special file `name` in this directory: a FIFO, a socket, or a character
  /// or block device.
  ///
  /// - Parameters:
  ///   - name: The new entry's name, relative to this directory.
  ///   - mode: Its type (`S_IFIFO`, `S_IFSOCK`, `S_IFCHR`, `S_IFBLK`) and permission bits
  ///     (the umask applies), as in `stat`'s `st_mode`.
  ///   - device: The device number, for a device (`st_rdev`); ignored otherwise.
  /// - Throws: `Errno`, as `mknodat(2)`: `.fileExists` (nothing is replaced),
  ///   `.notPermitted` (a device without `CAP_MKNOD`), `.invalidArgument` (a directory or
  ///   regular-file type), `.permissionDenied`, `.noSpace`.
  ///
  /// The corresponding C call is `mknodat`.
  public func createNode(_ name: FilePath, mode: FileMode, device: DeviceID) throws(Errno) {
    _ = try valueOrErrno { name.withPlatformString { system_mknodat(rawValue, $0, mode.rawValue, device.rawValue) } }
  }

  /// Sets the permission bits of `name` in this directory (a final symbolic link is
  /// followed: Linux has no permissions of a link to set).
  ///
  /// - Parameters:
  ///   - name: The entry's name, relative to this directory.
  ///   - permissions: The bits to set, set-user-ID, set-group-ID and sticky included.
  /// - Throws: `Errno`, as `fchmodat(2)`: `.notPermitted` (not the owner),
  ///   `.noSuchFileOrDirectory`, `.readOnlyFileSystem`.
  ///
  /// The corresponding C call is `fchmodat` with no flags.
  public func setPermissions(of name: FilePath, to permissions: FilePermissions) throws(Errno) {
    _ = try valueOrErrno { name.withPlatformString { system_fchmodat(rawValue, $0, permissions.rawValue, 0) } }
  }

  /// Sets the owner and group of `name` in this directory; a final symbolic link itself
  /// (`AT_SYMLINK_NOFOLLOW`), not what it names.
  ///
  /// - Parameters:
  ///   - name: The entry's name, relative to this directory.
  ///   - user: The new owner, or nil to keep it (`-1`).
  ///   - group: The new group, or nil to keep it (`-1`).
  /// - Throws: `Errno`, as `fchownat(2)`: `.notPermitted` (without `CAP_CHOWN`, or a
  ///   group the caller is not in), `.noSuchFileOrDirectory`, `.readOnlyFileSystem`.
  ///
  /// The corresponding C call is `fchownat` with `AT_SYMLINK_NOFOLLOW`.
  public func setOwner(of name: FilePath, user: UserID?, group: GroupID?) throws(Errno) {
    let uid = user?.rawValue ?? uid_t.max
    let gid = group?.rawValue ?? gid_t.max
    _ = try valueOrErrno {
      name.withPlatformString { system_fchownat(rawValue, $0, uid, gid, AT_SYMLINK_NOFOLLOW) }
    }
  }

  /// Sets the access and modification times of `name` in this directory to those in
  /// `status` (`st_atim`, `st_mtim`, to the nanosecond); a final symbolic link itself
  /// (`AT_SYMLINK_NOFOLLOW`).
  ///
  /// - Parameters:
  ///   - name: The entry's name, relative to this directory.
  ///   - status: Where the two times come from (another file's status, say).
  /// - Throws: `Errno`, as `utimensat(2)`: `.notPermitted` / `.permissionDenied` (not the
  ///   owner), `.noSuchFileOrDirectory`, `.readOnlyFileSystem`.
  ///
  /// The corresponding C call is `utimensat` with `AT_SYMLINK_NOFOLLOW`.
  public func setTimes(of name: FilePath, from status: Stat) throws(Errno) {
    let times = [status.rawValue.st_atim, status.rawValue.st_mtim]
    _ = try valueOrErrno {
      times.withUnsafeBufferPointer { t in
        name.withPlatformString { system_utimensat(rawValue, $0, t.baseAddress, AT_SYMLINK_NOFOLLOW) }
      }
    }
  }
}

extension FileDescriptor {
  /// The names in this directory, in the order the filesystem gives them, without `.`
  /// and `..`. The directory is read from its start through a duplicate of this
  /// descriptor (which shares its position: the position is left at the end).
  ///
  /// - Returns: One path component per entry, as raw bytes.
  /// - Throws: `Errno`, as `dup(2)`, `fdopendir(3)` and `readdir(3)`: `.notDirectory`,
  ///   `.badFileDescriptor` (an `O_PATH` descriptor), `.tooManyOpenFiles`,
  ///   `.noSuchFileOrDirectory` (the directory was removed), `.ioError`.
  ///
  /// The corresponding C calls are `dup`, `fdopendir`, `readdir` (`getdents64`) and
  /// `closedir`.
  public func directoryEntryNames() throws(Errno) -> [FilePath] {
    var names: [FilePath] = []
    _ = try valueOrErrno(retryOnInterrupt: false) {
      names.removeAll()
      return system_list_directory(rawValue) { names.append(FilePath(platformString: $0)) }
    }
    return names
  }
}
