// A file's metadata beyond `stat`, for copies that preserve it: extended attributes
// (`flistxattr`/`fgetxattr`/`fsetxattr`, and the path forms that do not follow a final
// symbolic link), cloning a file's data (`ioctl(FICLONE)`), and whether a file's extents are
// shared with another file (`ioctl(FS_IOC_FIEMAP)`, `FIEMAP_EXTENT_SHARED`).

import CLinuxExtras
import Glibc
public import SystemPackage

extension FileDescriptor {
  /// The names of this file's extended attributes (`user.x`, `trusted.y`,
  /// `security.capability`, `system.posix_acl_access`…), as raw bytes without their NUL.
  ///
  /// - Throws: `Errno`: `.notSupported` (the filesystem has no extended attributes),
  ///   `.badFileDescriptor` (an `O_PATH` descriptor: use ``ExtendedAttributes`` with its
  ///   `/proc/self/fd` path), `.noMemory`.
  ///
  /// The corresponding C function is `flistxattr`.
  public func extendedAttributeNames() throws(Errno) -> [[UInt8]] {
    try ExtendedAttributes.readList { buffer, size in flistxattr(rawValue, buffer, size) }
  }

  /// The value of the extended attribute `name`.
  ///
  /// - Throws: `Errno`: `.noData` (no such attribute), `.notSupported`,
  ///   `.permissionDenied` (a `trusted.` attribute without `CAP_SYS_ADMIN`), `.badFileDescriptor`.
  ///
  /// The corresponding C function is `fgetxattr`.
  public func extendedAttribute(named name: [UInt8]) throws(Errno) -> [UInt8] {
    try ExtendedAttributes.withName(name) { cName throws(Errno) in
      try ExtendedAttributes.readValue { buffer, size in fgetxattr(rawValue, cName, buffer, size) }
    }
  }

  /// Sets the extended attribute `name` to `value`, creating or replacing it.
  ///
  /// Setting `system.posix_acl_access` (or, on a directory, `system.posix_acl_default`) to
  /// another file's value copies that file's POSIX ACL: the kernel checks and applies it,
  /// and the access ACL's entries also set the group-class permission bits of the mode.
  ///
  /// - Throws: `Errno`: `.notSupported` (this filesystem, or this namespace on this kind of
  ///   file: `user.` attributes exist only on regular files and directories),
  ///   `.notPermitted` / `.permissionDenied` (`trusted.` and `security.` need privileges;
  ///   the file is immutable or append-only), `.noSpace`, `.outOfRange` (`ERANGE`, the value
  ///   is too large for the filesystem), `.invalidArgument` (a malformed ACL).
  ///
  /// The corresponding C function is `fsetxattr(fd, name, value, size, 0)`.
  public func setExtendedAttribute(named name: [UInt8], to value: [UInt8]) throws(Errno) {
    try ExtendedAttributes.withName(name) { cName throws(Errno) in
      let rc = value.withUnsafeBytes { fsetxattr(rawValue, cName, $0.baseAddress, $0.count, 0) }
      if rc != 0 { throw Errno(rawValue: errno) }
    }
  }

  /// Removes the extended attribute `name`.
  ///
  /// - Throws: `Errno`: `.noData` (it was not there), `.notSupported`, `.notPermitted`.
  ///
  /// The corresponding C function is `fremovexattr`.
  public func removeExtendedAttribute(named name: [UInt8]) throws(Errno) {
    try ExtendedAttributes.withName(name) { cName throws(Errno) in
      if fremovexattr(rawValue, cName) != 0 { throw Errno(rawValue: errno) }
    }
  }

  /// Makes this file (open for writing) share all of `source`'s data — a clone, or
  /// reflink: no byte is copied, the two files share their extents until one of them is
  /// written (copy-on-write). This file's old content is replaced and its length becomes
  /// `source`'s; holes stay holes.
  ///
  /// - Throws: `Errno`: `.notSupported` (`EOPNOTSUPP`: the filesystem cannot share extents —
  ///   ext4, tmpfs), `.improperLink` (`EXDEV`: different filesystems), `.invalidArgument`
  ///   (not regular files, the same file, or a file being used as swap), `.badFileDescriptor`
  ///   (`source` not readable, or this descriptor not writable or `O_APPEND`),
  ///   `.textFileBusy`, `.notPermitted` (immutable), `.noSpace`.
  ///
  /// The corresponding C call is `ioctl(fd, FICLONE, source)` (Linux 4.5; Btrfs, XFS
  /// with `reflink=1`, OCFS2, bcachefs, NFS 4.2 and overlay filesystems on those).
  public func cloneContents(from source: FileDescriptor) throws(Errno) {
    let ficlone: UInt = 0x4004_9409  // _IOW(0x94, 9, int)
    let rc = ioctl(rawValue, ficlone, Int32(source.rawValue))
    if rc != 0 { throw Errno(rawValue: errno) }
  }

  /// Makes `[destinationOffset, destinationOffset + length)` of this file (open for
  /// writing) share `source`'s extents at `[sourceOffset, sourceOffset + length)` — a
  /// clone of part of a file; `length` 0 clones to the end of `source`. Offsets and
  /// lengths must be multiples of the filesystem's block size, except a range that ends at
  /// the end of `source`.
  ///
  /// - Throws: `Errno`: as ``cloneContents(from:)``, and `.invalidArgument` for an
  ///   unaligned range or overlapping ranges of one file.
  ///
  /// The corresponding C call is `ioctl(fd, FICLONERANGE, &range)` (Linux 4.5).
  public func cloneRange(from source: FileDescriptor, sourceOffset: Int64, length: Int64, at destinationOffset: Int64)
    throws(Errno)
  {
    checkOffset(sourceOffset, "sourceOffset", #function)
    checkOffset(length, "length", #function)
    checkOffset(destinationOffset, "destinationOffset", #function)
    _ = try valueOrErrno {
      system_clone_range(rawValue, source.rawValue, UInt64(sourceOffset), UInt64(length), UInt64(destinationOffset))
    }
  }

  /// How many of this file's first extents are shared with another file
  /// (`FIEMAP_EXTENT_SHARED`): after a clone both files report their extents shared; after
  /// a copy none of the copy's are.
  ///
  /// No `FIEMAP_FLAG_SYNC`: nothing is written back first, so the call is cheap (one
  /// `ioctl`, the filesystem reads its extent tree) and data still in the page cache shows
  /// as delayed allocation (``ExtentSharing/delayed``), never as shared.
  ///
  /// - Parameter limit: The most extents to look at (the file's first ones).
  /// - Throws: `Errno`: `.notSupported` (the filesystem has no extent map: tmpfs, NFS, FUSE),
  ///   `.badFileDescriptor`, `.invalidArgument`.
  ///
  /// The corresponding C call is `ioctl(fd, FS_IOC_FIEMAP, struct fiemap *)` (Linux 2.6.28).
  public func extentSharing(limit: Int = 64) throws(Errno) -> ExtentSharing {
    precondition(limit > 0, "extentSharing: limit must be positive")
    // struct fiemap (32 bytes) followed by `limit` struct fiemap_extent (56 bytes each).
    let header = 32, extentSize = 56
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: header + limit * extentSize, alignment: 8)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    buffer.storeBytes(of: 0, toByteOffset: 0, as: UInt64.self)  // fm_start
    buffer.storeBytes(of: UInt64.max, toByteOffset: 8, as: UInt64.self)  // fm_length: FIEMAP_MAX_OFFSET
    buffer.storeBytes(of: 0, toByteOffset: 16, as: UInt32.self)  // fm_flags: no FIEMAP_FLAG_SYNC
    buffer.storeBytes(of: UInt32(limit), toByteOffset: 24, as: UInt32.self)  // fm_extent_count
    let fiemap: UInt = 0xC020_660B  // _IOWR('f', 11, struct fiemap)
    guard ioctl(rawValue, fiemap, buffer.baseAddress!) == 0 else { throw Errno(rawValue: errno) }
    let mapped = Int(buffer.load(fromByteOffset: 20, as: UInt32.self))  // fm_mapped_extents
    var result = ExtentSharing()
    for index in 0..<Swift.min(mapped, limit) {
      let flags = buffer.load(fromByteOffset: header + index * extentSize + 40, as: UInt32.self)  // fe_flags
      result.extents += 1
      if flags & 0x2000 != 0 { result.shared += 1 }  // FIEMAP_EXTENT_SHARED
      if flags & 0x4 != 0 { result.delayed += 1 }  // FIEMAP_EXTENT_DELALLOC
      if flags & 0x1 != 0 { result.complete = true }  // FIEMAP_EXTENT_LAST
    }
    if mapped == 0 { result.complete = true }  // no extent at all: empty, or holes only
    return result
  }
}

/// What ``SystemPackage/FileDescriptor/extentSharing(limit:)`` found.
public struct ExtentSharing: Sendable, Hashable, CustomStringConvertible {
  /// Extents looked at.
  public var extents = 0
  /// Of those, shared with another file (`FIEMAP_EXTENT_SHARED`).
  public var shared = 0
  /// Of those, not allocated yet (`FIEMAP_EXTENT_DELALLOC`: data in the page cache).
  public var delayed = 0
  /// Whether the file's last extent was among them (so the counts cover the whole file).
  public var complete = false

  /// An empty summary.
  public init() {}

  /// Whether every extent looked at is shared (and there is at least one).
  public var allShared: Bool { extents > 0 && shared == extents }

  /// "3 of 3 extents shared".
  public var description: String {
    "\(shared) of \(extents)\(complete ? "" : "+") extents shared" + (delayed > 0 ? ", \(delayed) delayed" : "")
  }
}

/// Extended attributes by path: by default without following a final symbolic link
/// (`llistxattr`, `lgetxattr`, `lsetxattr`, `lremovexattr`), for symbolic links themselves;
/// following it (`listxattr`…) for a file opened with `O_PATH` (a symbolic link, a FIFO, a
/// device) through its `/proc/self/fd/N` name, which leads to the file itself however deep
/// its path is (`f*xattr` calls refuse `O_PATH` descriptors with `EBADF`).
public enum ExtendedAttributes {
  /// The names of the extended attributes of the file at `path`.
  ///
  /// - Parameters:
  ///   - path: The file.
  ///   - following: Follow a final symbolic link (`listxattr`), or not (`llistxattr`).
  /// - Throws: `Errno`, as ``SystemPackage/FileDescriptor/extendedAttributeNames()``, plus
  ///   the path errors (`.noSuchFileOrDirectory`, `.nameTooLong`…).
  ///
  /// The corresponding C functions are `llistxattr` and `listxattr`.
  public static func names(atPath path: FilePath, following: Bool = false) throws(Errno) -> [[UInt8]] {
    try withCPath(path) { cPath throws(Errno) in
      try readList { buffer, size in following ? listxattr(cPath, buffer, size) : llistxattr(cPath, buffer, size) }
    }
  }

  /// The value of the extended attribute `name` of the file at `path`.
  ///
  /// - Parameters:
  ///   - name: The attribute's name (`user.…`, `trusted.…`, `security.…`, `system.…`).
  ///   - path: The file.
  ///   - following: Follow a final symbolic link (`getxattr`), or not (`lgetxattr`).
  /// - Throws: `Errno`, as ``SystemPackage/FileDescriptor/extendedAttribute(named:)``.
  ///
  /// The corresponding C functions are `lgetxattr` and `getxattr`.
  public static func value(named name: [UInt8], atPath path: FilePath, following: Bool = false) throws(Errno) -> [UInt8] {
    try withCPath(path) { cPath throws(Errno) in
      try withName(name) { cName throws(Errno) in
        try readValue { buffer, size in
          following ? getxattr(cPath, cName, buffer, size) : lgetxattr(cPath, cName, buffer, size)
        }
      }
    }
  }

  /// Sets the extended attribute `name` of the file at `path`.
  ///
  /// - Parameters:
  ///   - name: The attribute's name.
  ///   - value: Its value (may be empty).
  ///   - path: The file.
  ///   - following: Follow a final symbolic link (`setxattr`), or not (`lsetxattr`).
  /// - Throws: `Errno`, as ``SystemPackage/FileDescriptor/setExtendedAttribute(named:to:)``
  ///   (`.notPermitted` for a `user.` attribute on a symbolic link).
  ///
  /// The corresponding C functions are `lsetxattr` and `setxattr`.
  public static func set(named name: [UInt8], to value: [UInt8], atPath path: FilePath, following: Bool = false) throws(Errno) {
    try withCPath(path) { cPath throws(Errno) in
      try withName(name) { cName throws(Errno) in
        let rc = value.withUnsafeBytes {
          following
            ? setxattr(cPath, cName, $0.baseAddress, $0.count, 0) : lsetxattr(cPath, cName, $0.baseAddress, $0.count, 0)
        }
        if rc != 0 { throw Errno(rawValue: errno) }
      }
    }
  }

  /// Removes the extended attribute `name` of the file at `path`.
  ///
  /// - Parameters:
  ///   - name: The attribute's name.
  ///   - path: The file.
  ///   - following: Follow a final symbolic link (`removexattr`), or not (`lremovexattr`).
  /// - Throws: `Errno`, as ``SystemPackage/FileDescriptor/removeExtendedAttribute(named:)``.
  ///
  /// The corresponding C functions are `lremovexattr` and `removexattr`.
  public static func remove(named name: [UInt8], atPath path: FilePath, following: Bool = false) throws(Errno) {
    try withCPath(path) { cPath throws(Errno) in
      try withName(name) { cName throws(Errno) in
        if (following ? removexattr(cPath, cName) : lremovexattr(cPath, cName)) != 0 { throw Errno(rawValue: errno) }
      }
    }
  }

  /// Calls `body` with `name` as a C string.
  static func withName<R>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) throws(Errno) -> R) throws(Errno) -> R {
    let cName = name.map { CChar(bitPattern: $0) } + [0]
    return try cName.withUnsafeBufferPointer { (pointer) throws(Errno) -> R in try body(pointer.baseAddress!) }
  }

  /// A `*listxattr` call, sized first and retried if the list grew meanwhile (`ERANGE`),
  /// split at its NULs.
  static func readList(_ call: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws(Errno) -> [[UInt8]] {
    let bytes = try readSized(call)
    return bytes.split(separator: 0, omittingEmptySubsequences: true).map { Array($0) }
  }

  /// A `*getxattr` call, sized first and retried if the value grew meanwhile (`ERANGE`).
  static func readValue(_ call: (UnsafeMutableRawPointer?, Int) -> Int) throws(Errno) -> [UInt8] {
    try readSized { buffer, size in call(buffer.map { UnsafeMutableRawPointer($0) }, size) }
  }

  private static func readSized(_ call: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws(Errno) -> [UInt8] {
    for _ in 0..<8 {
      let size = call(nil, 0)
      guard size >= 0 else { throw Errno(rawValue: errno) }
      if size == 0 { return [] }
      var buffer = [CChar](repeating: 0, count: size)
      let n = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, $0.count) }
      if n >= 0 { return buffer.prefix(n).map { UInt8(bitPattern: $0) } }
      if errno != ERANGE { throw Errno(rawValue: errno) }
    }
    throw Errno.outOfRange
  }
}
