// Carrying a file's attributes over to its copy, in cp's order: times, then owner (which
// clears capabilities and set-user-ID bits), then extended attributes, then the mode and
// the POSIX ACLs. For the file copy (descriptors) and the tree copy (descriptors, or a name
// in a directory for links, special files and files the io_uring engine has closed).

import Glibc
import LinuxIO
import SystemPackage

/// The file whose attributes are read or set.
enum MetadataTarget {
  /// An open descriptor (a regular file, a directory).
  case descriptor(CInt)
  /// A name in a directory, not followed if it is a symbolic link.
  case entry(directory: CInt, name: FilePath)

  /// Calls `body` with a descriptor for `f*xattr` calls, or with a path for the path
  /// calls (following: `/proc/self/fd/N` of an `O_PATH` descriptor, which reaches the entry
  /// itself — a symbolic link, a FIFO — however deep its path).
  func withXattrAccess<R>(
    _ body: (_ descriptor: FileDescriptor?, _ path: FilePath?) throws(Errno) -> R
  ) throws(Errno) -> R {
    switch self {
    case .descriptor(let fd):
      return try body(FileDescriptor(rawValue: fd), nil)
    case .entry(let directory, let name):
      let opened = try FileDescriptor(rawValue: directory).open(
        relative: name, .readOnly, options: [.path, .noFollow, .closeOnExec], retryOnInterrupt: false)
      defer { try? opened.close() }
      return try body(nil, FilePath("/proc/self/fd/\(opened.rawValue)"))
    }
  }
}

/// A required attribute that could not be set.
struct MetadataFailure: Error {
  var syscall: String
  var errno: Errno
  var message: String
}

/// What kind of entry the attributes are for.
enum MetadataKind {
  case file, directory, symlink, special
}

struct CopyMetadata {
  let policy: CopyPolicy

  /// Whether this process may give files away (`CAP_CHOWN`, approximated by being root):
  /// without it, a failed `chown` is not an error (cp's `chown_failure_ok`).
  static let privileged = geteuid() == 0

  /// Extended attributes cp does not copy as such (libattr's default `/etc/xattr.conf`):
  /// the ACLs (copied with the mode), and attributes only the kernel or XFS writes.
  static let skippedExactly: Set<[UInt8]> = Set(
    [
      "system.nfs4_acl", "system.nfs4acl", "system.posix_acl_access", "system.posix_acl_default",
      "trusted.SGI_ACL_DEFAULT", "trusted.SGI_ACL_FILE", "trusted.SGI_CAP_FILE", "trusted.SGI_MAC_FILE",
      "security.evm",
    ].map { Array($0.utf8) })
  static let skippedPrefixes: [[UInt8]] = ["trusted.SGI_DMI_", "xfsroot.", "user.Beagle.", "afs."].map { Array($0.utf8) }
  static let accessACL = Array("system.posix_acl_access".utf8)
  static let defaultACL = Array("system.posix_acl_default".utf8)

  static func skipsAttribute(_ name: [UInt8]) -> Bool {
    skippedExactly.contains(name) || skippedPrefixes.contains { name.starts(with: $0) }
  }

  /// Applies the attributes `policy` preserves, from `source` (status `status`) to
  /// `destination` (status `current`, read after its data was written), in cp's order.
  ///
  /// - Parameters:
  ///   - created: Whether this copy created the destination.
  ///   - mayHaveACL: Whether the destination may carry an ACL the source lacks (an existing
  ///     file, or a new one in a directory with a default ACL): it is then removed.
  ///   - modeWithoutPreserve: The mode to set when the mode is not preserved (a new file
  ///     created with fewer permissions, a new directory), or nil for none.
  /// - Returns: Notes for attributes that could not be preserved but are not required.
  /// - Throws: ``MetadataFailure`` for a required attribute.
  func apply(
    from source: MetadataTarget, status: stat, to destination: MetadataTarget, current: stat, kind: MetadataKind,
    created: Bool, mayHaveACL: Bool = true, modeWithoutPreserve: mode_t? = nil
  ) throws(MetadataFailure) -> [String] {
    var notes: [String] = []
    let preserve = policy.preserve
    func problem(_ attribute: CopyAttributes, _ syscall: String, _ errno: Errno, _ what: String) throws(MetadataFailure) {
      if policy.required.contains(attribute) {
        throw MetadataFailure(syscall: syscall, errno: errno, message: what)
      }
      notes.append("\(what) (\(syscall): \(errno.symbolicName))")
    }

    if preserve.contains(.timestamps) {
      do throws(Errno) {
        switch destination {
        case .descriptor(let fd): try FileDescriptor(rawValue: fd).setTimes(from: Stat(rawValue: status))
        case .entry(let directory, let name):
          try FileDescriptor(rawValue: directory).setTimes(of: name, from: Stat(rawValue: status))
        }
      } catch {
        try problem(.timestamps, destination.isEntry ? "utimensat" : "futimens", error, "cannot preserve the times")
      }
    }

    var specialBitsKept = true
    if preserve.contains(.ownership) && (created || status.st_uid != current.st_uid || status.st_gid != current.st_gid) {
      if let e = changeOwner(destination, status.st_uid, status.st_gid) {
        if (e == .notPermitted || e == .invalidArgument) && !Self.privileged {
          // Not allowed to give the file away: keep the group if possible; the set-ID bits
          // are not copied (they would apply to another owner).
          _ = changeOwner(destination, UInt32.max, status.st_gid)
          specialBitsKept = false
        } else {
          try problem(.ownership, destination.isEntry ? "fchownat" : "fchown", e, "cannot preserve the owner")
        }
      }
    }

    if preserve.contains(.xattr) {
      if let (syscall, e) = copyExtendedAttributes(from: source, to: destination) {
        try problem(.xattr, syscall, e, "cannot preserve the extended attributes")
      }
    }

    guard kind != .symlink else { return notes }  // a link has no mode of its own
    if preserve.contains(.mode) {
      var mode = status.st_mode & 0o7777
      if !specialBitsKept {
        mode = kind == .directory ? (mode & 0o1777) | (current.st_mode & S_ISGID) : mode & 0o777
      }
      if mode != current.st_mode & 0o7777 || !specialBitsKept || created {
        if let e = changeMode(destination, mode) {
          try problem(.mode, destination.isEntry ? "fchmodat" : "fchmod", e, "cannot preserve the permissions")
        }
      }
      if let (syscall, e) = copyACL(Self.accessACL, from: source, to: destination, mayHaveOne: mayHaveACL) {
        try problem(.mode, syscall, e, "cannot preserve the access ACL")
      }
      if kind == .directory, let (syscall, e) = copyACL(Self.defaultACL, from: source, to: destination, mayHaveOne: mayHaveACL) {
        try problem(.mode, syscall, e, "cannot preserve the default ACL")
      }
    } else if let mode = modeWithoutPreserve, mode != current.st_mode & 0o7777 {
      if let e = changeMode(destination, mode) {
        throw MetadataFailure(
          syscall: destination.isEntry ? "fchmodat" : "fchmod", errno: e, message: "cannot set the permissions")
      }
    }
    return notes
  }

  /// `fchown` or `fchownat` (a symbolic link itself); `uid_t.max`: the owner is kept.
  /// Nil, or the errno.
  private func changeOwner(_ target: MetadataTarget, _ uid: uid_t, _ gid: gid_t) -> Errno? {
    let user = uid == uid_t.max ? nil : UserID(rawValue: uid)
    let group = gid == gid_t.max ? nil : GroupID(rawValue: gid)
    do throws(Errno) {
      switch target {
      case .descriptor(let fd): try FileDescriptor(rawValue: fd).setOwner(user: user, group: group)
      case .entry(let directory, let name): try FileDescriptor(rawValue: directory).setOwner(of: name, user: user, group: group)
      }
      return nil
    } catch {
      return error
    }
  }

  /// `fchmod` or `fchmodat`. Nil, or the errno.
  private func changeMode(_ target: MetadataTarget, _ mode: mode_t) -> Errno? {
    do throws(Errno) {
      switch target {
      case .descriptor(let fd): try FileDescriptor(rawValue: fd).setPermissions(FilePermissions(rawValue: mode))
      case .entry(let directory, let name):
        try FileDescriptor(rawValue: directory).setPermissions(of: name, to: FilePermissions(rawValue: mode))
      }
      return nil
    } catch {
      return error
    }
  }

  /// Copies every extended attribute but the skipped ones; the first failure (or nil).
  /// A filesystem without extended attributes on the source side is no failure (nothing
  /// to copy).
  private func copyExtendedAttributes(from source: MetadataTarget, to destination: MetadataTarget) -> (String, Errno)? {
    let names: [[UInt8]]
    do {
      names = try source.withXattrAccess { fd, path throws(Errno) in
        if let fd { return try fd.extendedAttributeNames() }
        return try ExtendedAttributes.names(atPath: path!, following: true)
      }
    } catch {
      return error == .notSupported ? nil : ("listxattr", error)
    }
    let wanted = names.filter { !Self.skipsAttribute($0) }
    if wanted.isEmpty { return nil }
    var failure: (String, Errno)?
    for name in wanted {
      let value: [UInt8]
      do {
        value = try source.withXattrAccess { fd, path throws(Errno) in
          if let fd { return try fd.extendedAttribute(named: name) }
          return try ExtendedAttributes.value(named: name, atPath: path!, following: true)
        }
      } catch {
        if error == .noData { continue }  // removed meanwhile
        failure = failure ?? ("getxattr", error)
        continue
      }
      do {
        try destination.withXattrAccess { fd, path throws(Errno) in
          if let fd {
            try fd.setExtendedAttribute(named: name, to: value)
          } else {
            try ExtendedAttributes.set(named: name, to: value, atPath: path!, following: true)
          }
        }
      } catch {
        failure = failure ?? ("setxattr", error)
      }
    }
    return failure
  }

  /// Copies one ACL (by its extended attribute); removes the destination's when the source
  /// has none. The first failure, or nil (a filesystem without ACLs on either side is fine
  /// when the source has none).
  private func copyACL(_ name: [UInt8], from source: MetadataTarget, to destination: MetadataTarget, mayHaveOne: Bool) -> (
    String, Errno
  )? {
    var value: [UInt8]?
    do {
      value = try source.withXattrAccess { fd, path throws(Errno) in
        if let fd { return try fd.extendedAttribute(named: name) }
        return try ExtendedAttributes.value(named: name, atPath: path!, following: true)
      }
    } catch {
      if error != .noData && error != .notSupported { return ("getxattr", error) }
    }
    do {
      try destination.withXattrAccess { fd, path throws(Errno) in
        if let value {
          if let fd {
            try fd.setExtendedAttribute(named: name, to: value)
          } else {
            try ExtendedAttributes.set(named: name, to: value, atPath: path!, following: true)
          }
        } else if mayHaveOne {
          if let fd {
            try fd.removeExtendedAttribute(named: name)
          } else {
            try ExtendedAttributes.remove(named: name, atPath: path!, following: true)
          }
        }
      }
    } catch {
      if value == nil && (error == .noData || error == .notSupported) { return nil }
      return (value == nil ? "removexattr" : "setxattr", error)
    }
    return nil
  }
}

extension MetadataTarget {
  var isEntry: Bool {
    if case .entry = self { return true }
    return false
  }
}
