// Where a file copy writes, decided before anything is opened for writing: the name
// (into a directory or not), what is there now (nothing, a regular file, a FIFO, a device,
// a symbolic link to one of those), and the refusals cp makes first (the same file, a
// directory, a dangling symbolic link, a trailing slash that names no directory).

import Glibc
import SystemPackage

extension CopyOptions {
  /// How the destination path names the file to write, as cp's forms do.
  public enum Destination: Sendable, Hashable, CustomStringConvertible {
    /// `cp SRC DST`: an existing directory (or a symbolic link to one) receives the file
    /// under the source's name; any other path is the file itself.
    case automatic
    /// `cp SRC DST/` (and `cp -t DST SRC`): the destination must be an existing directory,
    /// which receives the file under the source's name; anything else is `ENOTDIR`. This is
    /// what a trailing slash means — which `FilePath` cannot carry, since it drops trailing
    /// separators: callers that take paths as text set it when the text ends with `/`.
    case intoDirectory
    /// `cp -T SRC DST`: the path itself, even when it is a directory (then `EISDIR`).
    case exactPath

    /// The form's name: `automatic`, `intoDirectory`, `exactPath`.
    public var description: String {
      switch self {
      case .automatic: return "automatic"
      case .intoDirectory: return "intoDirectory"
      case .exactPath: return "exactPath"
      }
    }
  }
}

/// The file a copy will write, as found before opening it.
struct CopyDestination {
  /// What is at the destination name now (a symbolic link is described by its target).
  enum Kind: Equatable {
    case missing
    case regular
    case fifo
    case characterDevice
    case blockDevice
    case socket
    case directory
    case other

    init(_ mode: mode_t) {
      switch mode & S_IFMT {
      case S_IFREG: self = .regular
      case S_IFIFO: self = .fifo
      case S_IFCHR: self = .characterDevice
      case S_IFBLK: self = .blockDevice
      case S_IFSOCK: self = .socket
      case S_IFDIR: self = .directory
      default: self = .other
      }
    }

    /// "a FIFO", "a character device"… for messages.
    var article: String {
      switch self {
      case .missing: return "nothing"
      case .regular: return "a regular file"
      case .fifo: return "a FIFO"
      case .characterDevice: return "a character device"
      case .blockDevice: return "a block device"
      case .socket: return "a socket"
      case .directory: return "a directory"
      case .other: return "a special file"
      }
    }
  }

  /// The path to open.
  var path: FilePath
  /// What is there (after following a symbolic link).
  var kind: Kind
  /// The status (following links, unless resolved without following) when something is there.
  var status: stat?
  /// Whether `path` itself is a symbolic link (to `kind`; `.other` when not followed).
  var isSymbolicLink: Bool

  /// Whether an existing file is the source (same device and inode): a hard link, the same
  /// path, a symbolic link to it, a bind mount of it.
  static func isSame(_ a: stat, _ b: stat) -> Bool { a.st_dev == b.st_dev && a.st_ino == b.st_ino }

  /// Resolves `destination` for a source named `sourceName` (its last component, used when
  /// the destination is a directory). What is found there is described, not judged: the
  /// caller refuses the source itself and a directory (``refusal(for:source:removing:sourcePath:)``)
  /// after the existing-file policies, in cp's order (`-n` keeps even the source itself).
  ///
  /// - Parameter following: Describe what a symbolic link at the name points to (cp's
  ///   default, which writes through it), or the link itself (`--remove-destination`,
  ///   which removes it).
  /// - Parameter loopExists: A link whose resolution loops (`ELOOP`) is described as an
  ///   existing entry (cp `-f`, which then removes it) instead of refused.
  /// - Throws: (syscall, errno, message): `ENOTDIR` for ``CopyOptions/Destination/intoDirectory``
  ///   without a directory, `EISDIR` when a directory receives a file from a source without a
  ///   name, `ENOENT` for a dangling symbolic link (cp does not write through one).
  static func resolve(
    _ destination: FilePath, rule: CopyOptions.Destination, sourceName: FilePath.Component?, following: Bool = true,
    loopExists: Bool = false
  ) throws(CopyRefusal) -> CopyDestination {
    var target = destination
    let cwd = FileDescriptor.currentWorkingDirectory
    let followed: Result<Stat, Errno> = Result { () throws(Errno) in
      try cwd.status(of: destination, followingSymbolicLinks: true)
    }
    let exists: Bool
    let isDirectory: Bool
    var statErrno: Errno? = nil
    switch followed {
    case .success(let status):
      exists = true
      isDirectory = status.rawValue.st_mode & S_IFMT == S_IFDIR
    case .failure(let error):
      (exists, isDirectory, statErrno) = (false, false, error)
    }
    switch rule {
    case .intoDirectory:
      guard isDirectory else {
        let why =
          exists || statErrno == .notDirectory
          ? "the destination ends with '/' (or is a target directory) but is not a directory"
          : "the destination ends with '/' (or is a target directory) but no such directory exists"
        throw CopyRefusal(exists ? "stat" : "open", .notDirectory, why, path: destination)
      }
      fallthrough
    case .automatic where isDirectory:
      guard let sourceName else {
        throw CopyRefusal(
          "open", .isDirectory, "the destination is a directory and the source has no name to copy it under",
          path: destination)
      }
      target = destination.appending(sourceName)
    default:
      break
    }

    guard let own = try? cwd.status(of: target, followingSymbolicLinks: false).rawValue else {
      // Nothing there (or a path component is missing, which opening will report).
      return CopyDestination(path: target, kind: .missing, status: nil, isSymbolicLink: false)
    }
    var result = CopyDestination(path: target, kind: Kind(own.st_mode), status: own, isSymbolicLink: false)
    if own.st_mode & S_IFMT == S_IFLNK {
      guard following else { return CopyDestination(path: target, kind: .other, status: own, isSymbolicLink: true) }
      let through: stat
      do throws(Errno) {
        through = try cwd.status(of: target, followingSymbolicLinks: true).rawValue
      } catch {
        let e = error
        if e == .noSuchFileOrDirectory {
          throw CopyRefusal("stat", e, "not writing through dangling symlink", path: target)
        }
        // cp -f (8.30 on): a link that loops is an existing file, which -f removes.
        if e == .tooManySymbolicLinkLevels && loopExists {
          return CopyDestination(path: target, kind: .other, status: own, isSymbolicLink: true)
        }
        throw CopyRefusal("stat", e, "cannot follow the destination's symbolic link", path: target)
      }
      result = CopyDestination(path: target, kind: Kind(through.st_mode), status: through, isSymbolicLink: true)
    }
    return result
  }

  /// The refusals cp makes once the existing-file policies have let the copy go on: the
  /// source itself (unless `removing` a hard link of it — `--remove-destination` replaces it
  /// by a copy — which still refuses the very same directory entry), and a directory.
  func refusal(for source: stat, removing: Bool, sourcePath: FilePath) -> CopyRefusal? {
    if let status, Self.isSame(status, source) {
      if !removing || isSymbolicLink == false && Self.isSameEntry(path, sourcePath) {
        return CopyRefusal("stat", .invalidArgument, Self.sameFileMessage(source), path: path)
      }
    }
    if kind == .directory {
      return CopyRefusal("open", .isDirectory, "cannot overwrite directory with non-directory", path: path)
    }
    return nil
  }

  /// Whether two paths name the same directory entry: the same name in the same directory.
  static func isSameEntry(_ a: FilePath, _ b: FilePath) -> Bool {
    guard a.lastComponent == b.lastComponent else { return false }
    func directory(_ path: FilePath) -> stat? {
      let parent = path.removingLastComponent()
      return try? FileDescriptor.currentWorkingDirectory.status(
        of: parent.isEmpty ? "." : parent, followingSymbolicLinks: true
      ).rawValue
    }
    guard let x = directory(a), let y = directory(b) else { return false }
    return isSame(x, y)
  }

  /// "are the same file (device D, inode I)": cp's words first, for people and scripts.
  static func sameFileMessage(_ source: stat) -> String {
    "source and destination are the same file (device \(source.st_dev), inode \(source.st_ino))"
  }
}

/// A refusal of ``CopyDestination/resolve(_:rule:sourceName:following:loopExists:)``, turned into a
/// ``ZeroCopyError`` by the caller (which knows both paths).
struct CopyRefusal: Error {
  var syscall: String
  var errno: Errno
  var message: String
  var path: FilePath
  init(_ syscall: String, _ errno: Errno, _ message: String, path: FilePath) {
    self.syscall = syscall
    self.errno = errno
    self.message = message
    self.path = path
  }
}
