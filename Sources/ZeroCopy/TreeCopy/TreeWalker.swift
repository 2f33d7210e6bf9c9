// The directory walk shared by every tree-copy engine: directories, symlinks and special
// files are handled here, synchronously; regular files are handed to a FileSink.

import Glibc
import SystemPackage

/// An open directory, closed when the last file or subdirectory using it is done.
final class DirHandle: @unchecked Sendable {
  let fd: Int32
  let path: FilePath
  init(fd: Int32, path: FilePath) {
    self.fd = fd
    self.path = path
  }
  deinit { _ = Glibc.close(fd) }
  var descriptor: FileDescriptor { FileDescriptor(rawValue: fd) }
}

/// One regular file to copy: `name` in `source` to `name` in `destination`.
final class FileJob: @unchecked Sendable {
  let source: DirHandle
  let destination: DirHandle
  /// One path component, as raw bytes.
  let name: FilePath
  let size: Int64
  let mode: mode_t
  let times: (timespec, timespec)
  init(source: DirHandle, destination: DirHandle, name: FilePath, status: stat) {
    self.source = source
    self.destination = destination
    self.name = name
    size = Int64(status.st_size)
    mode = status.st_mode & 0o7777
    times = (status.st_atim, status.st_mtim)
  }
  var sourcePath: FilePath { source.path.appending(name.components) }
  var destinationPath: FilePath { destination.path.appending(name.components) }

  func error(_ syscall: String, _ errno: Errno, _ message: String? = nil, bytes: Int64 = 0) -> ZeroCopyError {
    ZeroCopyError(
      .treeCopy, syscall: syscall, errno: errno, paths: [sourcePath, destinationPath], bytesTransferred: bytes,
      message: message)
  }
}

/// Where the walker sends regular files.
protocol FileSink: AnyObject {
  /// Copies (or queues) one file; results go to the shared ``TreeCopyState``.
  func copy(_ job: FileJob)
  /// Returns when every file handed over is done (copied or failed), with nothing left open.
  func finish()
}

/// Totals and errors, shared by the walker and the engine's threads.
final class TreeCopyState: @unchecked Sendable {
  struct Totals {
    var files = 0, directories = 0, symlinks = 0
    var bytes: Int64 = 0
    var errors: [ZeroCopyError] = []
  }
  private let lock = Lock()
  private var totals = Totals()
  private var stop = false
  let keepGoing: Bool

  init(options: TreeCopy.Options) { keepGoing = options.keepGoing }

  func fileDone(bytes: Int64) { lock.withLock { totals.files += 1; totals.bytes += bytes } }
  func directoryDone() { lock.withLock { totals.directories += 1 } }
  func symlinkDone() { lock.withLock { totals.symlinks += 1 } }
  func fail(_ error: ZeroCopyError) {
    lock.withLock {
      totals.errors.append(error)
      if !keepGoing { stop = true }
    }
  }
  /// True once an error has stopped a copy without keep-going.
  var stopped: Bool { lock.withLock { stop } }
  func snapshot() -> Totals { lock.withLock { totals } }
}

/// Walks the source depth-first, creating directories and symlinks in the destination.
final class TreeWalker {
  /// Gives the owner rwx on an existing destination directory (one an earlier copy made
  /// read-only, say), so its entries can be written like those of a new one; the final
  /// mode — the source's — is set after its contents, as for a new directory. If the
  /// chmod is refused (not the owner), nothing changes and the writes report `EACCES`.
  /// Gives the owner write permission on an existing destination *file* that lacks it
  /// (a read-only file from an earlier copy): like `cp -f`, the copy replaces its content,
  /// and its final mode — the source's — is set after the data. Returns whether the mode
  /// was changed (false: not a regular file, already writable, or not the owner).
  static func makeFileOwnerWritable(_ directory: Int32, _ name: UnsafePointer<CChar>) -> Bool {
    var st = stat()
    guard fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFREG,
      st.st_mode & 0o200 == 0
    else { return false }
    return fchmodat(directory, name, (st.st_mode & 0o7777) | 0o200, 0) == 0
  }

  static func makeOwnerWritable(_ directory: Int32, _ name: UnsafePointer<CChar>) {
    var st = stat()
    guard fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFDIR,
      st.st_mode & 0o700 != 0o700
    else { return }
    _ = fchmodat(directory, name, (st.st_mode & 0o7777) | 0o700, 0)
  }

  private enum Item {
    case open(DirHandle, DirHandle)
    case pending(source: DirHandle, destination: DirHandle, name: FilePath)
  }
  private let options: TreeCopy.Options
  private let state: TreeCopyState
  private let sink: any FileSink
  /// Destination directories whose mode (and times) are set once their contents are done.
  private var finished: [(path: FilePath, mode: mode_t, times: (timespec, timespec))] = []

  init(options: TreeCopy.Options, state: TreeCopyState, sink: any FileSink) {
    self.options = options
    self.state = state
    self.sink = sink
  }

  func run(source: FilePath, destination: FilePath) {
    func fail(_ syscall: String, _ errno: Errno, _ message: String) {
      state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: [source, destination], message: message))
    }
    let sfd = source.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    guard sfd >= 0 else { return fail("open", Errno(rawValue: errno), "cannot open the source directory") }
    let src = DirHandle(fd: sfd, path: source)
    var st = stat()
    guard fstat(sfd, &st) == 0 else { return fail("fstat", Errno(rawValue: errno), "cannot stat the source directory") }
    if destination.withPlatformString({ mkdir($0, 0o700) }) != 0 {
      guard errno == EEXIST else { return fail("mkdir", Errno(rawValue: errno), "cannot create the destination directory") }
      destination.withPlatformString { TreeWalker.makeOwnerWritable(AT_FDCWD, $0) }
    }
    let dfd = destination.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    guard dfd >= 0 else {
      let e = Errno(rawValue: errno)
      return fail("open", e, e == .notDirectory ? "the destination exists and is not a directory" : "cannot open the destination directory")
    }
    let dst = DirHandle(fd: dfd, path: destination)
    var sameDirectory = stat()
    if fstat(dfd, &sameDirectory) == 0 && sameDirectory.st_dev == st.st_dev && sameDirectory.st_ino == st.st_ino {
      return fail("fstat", .invalidArgument, "the source and the destination are the same directory")
    }
    finished.append((destination, st.st_mode & 0o7777, (st.st_atim, st.st_mtim)))
    state.directoryDone()
    walk(.open(src, dst))
  }

  private func walk(_ root: Item) {
    var stack = [root]
    while let item = stack.popLast() {
      if state.stopped { return }
      let src: DirHandle, dst: DirHandle
      switch item {
      case .open(let s, let d): (src, dst) = (s, d)
      case .pending(let ps, let pd, let name):
        let sfd = name.withPlatformString { openat(ps.fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        let sPath = ps.path.appending(name.components), dPath = pd.path.appending(name.components)
        guard sfd >= 0 else {
          state.fail(ZeroCopyError(.treeCopy, syscall: "openat", errno: Errno(rawValue: errno), paths: [sPath, dPath], message: "cannot open the source directory"))
          continue
        }
        src = DirHandle(fd: sfd, path: sPath)
        let dfd = name.withPlatformString { openat(pd.fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard dfd >= 0 else {
          state.fail(ZeroCopyError(.treeCopy, syscall: "openat", errno: Errno(rawValue: errno), paths: [sPath, dPath], message: "cannot open the destination directory"))
          continue
        }
        dst = DirHandle(fd: dfd, path: dPath)
      }
      let entries: [FilePath]
      switch list(src) {
      case .success(let names): entries = names
      case .failure(let e):
        state.fail(ZeroCopyError(.treeCopy, syscall: "getdents64", errno: e, paths: [src.path, dst.path], message: "cannot list the source directory"))
        continue
      }
      for name in entries {
        if state.stopped { return }
        entry(name, in: src, dst, stack: &stack)
      }
    }
  }

  private func entry(_ name: FilePath, in src: DirHandle, _ dst: DirHandle, stack: inout [Item]) {
    func fail(_ syscall: String, _ errno: Errno, _ message: String) {
      state.fail(ZeroCopyError(
        .treeCopy, syscall: syscall, errno: errno, paths: [src.path.appending(name.components), dst.path.appending(name.components)],
        message: message))
    }
    var st = stat()
    guard name.withPlatformString({ fstatat(src.fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
      return fail("fstatat", Errno(rawValue: errno), "cannot stat the source entry")
    }
    switch st.st_mode & S_IFMT {
    case S_IFREG:
      sink.copy(FileJob(source: src, destination: dst, name: name, status: st))
    case S_IFDIR:
      if name.withPlatformString({ mkdirat(dst.fd, $0, 0o700) }) != 0 {
        let e = Errno(rawValue: errno)
        var existing = stat()
        guard e == .fileExists, name.withPlatformString({ fstatat(dst.fd, $0, &existing, AT_SYMLINK_NOFOLLOW) }) == 0,
          existing.st_mode & S_IFMT == S_IFDIR
        else { return fail("mkdirat", e, e == .fileExists ? "the destination exists and is not a directory" : "cannot create the directory") }
        if existing.st_mode & 0o700 != 0o700 { name.withPlatformString { TreeWalker.makeOwnerWritable(dst.fd, $0) } }
      }
      finished.append((dst.path.appending(name.components), st.st_mode & 0o7777, (st.st_atim, st.st_mtim)))
      state.directoryDone()
      stack.append(.pending(source: src, destination: dst, name: name))
    case S_IFLNK:
      copySymlink(name, src, dst, status: st, fail: fail)
    default:
      let kind: String
      switch st.st_mode & S_IFMT {
      case S_IFIFO: kind = "a FIFO"
      case S_IFSOCK: kind = "a socket"
      case S_IFCHR: kind = "a character device"
      case S_IFBLK: kind = "a block device"
      default: kind = "a special file"
      }
      fail("fstatat", .notSupported, "\(kind) is not copied: only regular files, directories and symbolic links are")
    }
  }

  private func copySymlink(
    _ name: FilePath, _ src: DirHandle, _ dst: DirHandle, status: stat, fail: (String, Errno, String) -> Void
  ) {
    let capacity = Int(status.st_size) + 2
    var target = [CChar](repeating: 0, count: max(capacity, Int(PATH_MAX) + 1))
    let n = target.withUnsafeMutableBufferPointer { b in
      name.withPlatformString { readlinkat(src.fd, $0, b.baseAddress!, b.count - 1) }
    }
    guard n >= 0 else { return fail("readlinkat", Errno(rawValue: errno), "cannot read the symbolic link") }
    target[n] = 0
    let made = name.withPlatformString { symlinkat(target, dst.fd, $0) }
    if made != 0 {
      let e = Errno(rawValue: errno)
      guard e == .fileExists else { return fail("symlinkat", e, "cannot create the symbolic link") }
      var existing = stat()
      guard name.withPlatformString({ fstatat(dst.fd, $0, &existing, AT_SYMLINK_NOFOLLOW) }) == 0 else {
        return fail("fstatat", Errno(rawValue: errno), "cannot stat the existing destination")
      }
      if existing.st_mode & S_IFMT == S_IFDIR {
        return fail("symlinkat", .isDirectory, "the destination is a directory; it is not replaced by a symbolic link")
      }
      var same = false
      if existing.st_mode & S_IFMT == S_IFLNK {
        var old = [CChar](repeating: 0, count: n + 2)
        let m = old.withUnsafeMutableBufferPointer { b in
          name.withPlatformString { readlinkat(dst.fd, $0, b.baseAddress!, b.count) }
        }
        same = m == n && old.prefix(n).elementsEqual(target.prefix(n))
      }
      if !same {
        guard name.withPlatformString({ unlinkat(dst.fd, $0, 0) }) == 0 else {
          return fail("unlinkat", Errno(rawValue: errno), "cannot replace the existing destination")
        }
        guard name.withPlatformString({ symlinkat(target, dst.fd, $0) }) == 0 else {
          return fail("symlinkat", Errno(rawValue: errno), "cannot create the symbolic link")
        }
      }
    }
    if options.preserveTimes {
      let times = [status.st_atim, status.st_mtim]
      guard name.withPlatformString({ utimensat(dst.fd, $0, times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
        return fail("utimensat", Errno(rawValue: errno), "cannot set the symbolic link's times")
      }
    }
    state.symlinkDone()
  }

  /// The names in `directory` except `.` and `..`, as raw bytes.
  private func list(_ directory: DirHandle) -> Result<[FilePath], Errno> {
    let copy = dup(directory.fd)
    guard copy >= 0 else { return .failure(Errno(rawValue: errno)) }
    guard let dir = fdopendir(copy) else {
      let e = Errno(rawValue: errno)
      _ = Glibc.close(copy)
      return .failure(e)
    }
    defer { closedir(dir) }
    var names: [FilePath] = []
    while true {
      errno = 0
      guard let ent = readdir(dir) else {
        if errno != 0 { return .failure(Errno(rawValue: errno)) }
        break
      }
      let name: FilePath? = withUnsafePointer(to: &ent.pointee.d_name) { tuple in
        tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { p in
          if p[0] == 0x2E && (p[1] == 0 || (p[1] == 0x2E && p[2] == 0)) { return nil }
          return FilePath(platformString: p)
        }
      }
      if let name { names.append(name) }
    }
    return .success(names)
  }

  /// Sets the mode (and times) of every destination directory, deepest first, and
  /// fsyncs them if asked. Called after the sink has finished.
  func finishDirectories() {
    for (path, mode, times) in finished.reversed() {
      func fail(_ syscall: String, _ errno: Errno, _ message: String) {
        state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: [path], message: message))
      }
      let fd = path.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
      guard fd >= 0 else { fail("open", Errno(rawValue: errno), "cannot reopen the destination directory"); continue }
      defer { _ = Glibc.close(fd) }
      if options.fsync && Glibc.fsync(fd) != 0 { fail("fsync", Errno(rawValue: errno), "cannot sync the directory") }
      if options.preserveTimes {
        let t = [times.0, times.1]
        if futimens(fd, t) != 0 { fail("futimens", Errno(rawValue: errno), "cannot set the directory's times") }
      }
      if fchmod(fd, mode) != 0 { fail("fchmod", Errno(rawValue: errno), "cannot set the directory's mode") }
    }
    finished.removeAll()
  }
}
