// The directory walk shared by every tree-copy engine: directories, symlinks and special
// files are handled here, synchronously; regular files are handed to a FileSink.

import Glibc
import SystemPackage

/// An open directory, closed when the last file or subdirectory using it is done. A
/// destination directory is finished then too — fsync, times, its final mode — through its
/// own descriptor, so that a tree deeper than `PATH_MAX` needs no path.
final class DirHandle: @unchecked Sendable {
  // @unchecked: immutable after init; `finish` runs once, in deinit.
  let fd: Int32
  /// Where the directory is in its tree (its path is built from it when a message needs it).
  let node: TreeNode
  /// For a destination directory: what to apply when its contents are done.
  private let finish: Finish?

  struct Finish {
    let mode: mode_t
    let times: (timespec, timespec)
    let options: TreeCopy.Options
    let state: TreeCopyState
  }

  init(fd: Int32, node: TreeNode, finish: Finish? = nil) {
    self.fd = fd
    self.node = node
    self.finish = finish
  }

  /// The directory's path (for messages: built on demand, O(depth)).
  var path: FilePath { node.path }

  deinit {
    if let finish {
      func fail(_ syscall: String, _ errno: Errno, _ message: String) {
        finish.state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: [path], message: message))
      }
      if finish.options.fsync && Glibc.fsync(fd) != 0 { fail("fsync", Errno(rawValue: errno), "cannot sync the directory") }
      if finish.options.preserveTimes {
        let t = [finish.times.0, finish.times.1]
        if futimens(fd, t) != 0 { fail("futimens", Errno(rawValue: errno), "cannot set the directory's times") }
      }
      if fchmod(fd, finish.mode) != 0 { fail("fchmod", Errno(rawValue: errno), "cannot set the directory's mode") }
    }
    _ = Glibc.close(fd)
  }
  var descriptor: FileDescriptor { FileDescriptor(rawValue: fd) }
}

/// One regular file to copy: `name` in `source` to `name` in `destination`.
final class FileJob: @unchecked Sendable {
  // @unchecked: one engine thread owns a job at a time.
  let source: DirHandle
  let destination: DirHandle
  /// One path component, as raw bytes.
  let name: FilePath
  let size: Int64
  let mode: mode_t
  let times: (timespec, timespec)
  /// The source's identity: a destination with the same is the source itself.
  let device: UInt64
  let inode: UInt64
  /// Whether the source has holes (cp's heuristic: fewer blocks than its size needs).
  let looksSparse: Bool
  /// Whether this copy created the destination file (so undoing it means removing it), once
  /// an engine has looked; nil before.
  var createdByCopy: Bool?
  /// The file's entry in ``UnfinishedFiles`` while it is new and incomplete.
  var unfinished: UnfinishedFiles.Token?

  init(source: DirHandle, destination: DirHandle, name: FilePath, status: stat) {
    self.source = source
    self.destination = destination
    self.name = name
    size = Int64(status.st_size)
    mode = status.st_mode & 0o7777
    times = (status.st_atim, status.st_mtim)
    device = UInt64(status.st_dev)
    inode = UInt64(status.st_ino)
    looksSparse = SparseFiles.looksSparse(status)
  }
  var sourcePath: FilePath { source.path.appending(name.components) }
  var destinationPath: FilePath { destination.path.appending(name.components) }

  /// Whether `other` (a destination's status) is this job's source file.
  func isSource(_ other: stat) -> Bool { UInt64(other.st_dev) == device && UInt64(other.st_ino) == inode }

  func error(_ syscall: String, _ errno: Errno, _ message: String? = nil, bytes: Int64 = 0) -> ZeroCopyError {
    ZeroCopyError(
      .treeCopy, syscall: syscall, errno: errno, paths: [sourcePath, destinationPath], bytesTransferred: bytes,
      message: message)
  }

  /// The refusal for a destination that is the source file itself.
  func sameFileError() -> ZeroCopyError {
    error("fstatat", .invalidArgument, "source and destination are the same file (device \(device), inode \(inode)); not opened for writing")
  }

  /// Records that the destination was (or was not) created by this copy; a new file is
  /// registered as unfinished until ``completed()`` or ``undo(bytesWritten:)``.
  func noteDestination(existed: Bool) {
    guard createdByCopy == nil else { return }
    createdByCopy = !existed
    if !existed {
      unfinished = name.withPlatformString {
        UnfinishedFiles.shared.register(directory: destination.fd, name: Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)))
      }
    }
  }

  /// The file is complete: no longer unfinished.
  func completed() {
    if let unfinished { UnfinishedFiles.shared.forget(unfinished) }
    unfinished = nil
  }

  /// The file could not be completed: removed if this copy created it, otherwise cut to
  /// the bytes written (so that it does not keep the old file's length and look complete).
  func undo(bytesWritten: Int64) {
    let token = unfinished
    unfinished = nil
    if createdByCopy == true {
      if let token, !UnfinishedFiles.shared.forget(token) { return }  // already removed
      _ = name.withPlatformString { unlinkat(destination.fd, $0, 0) }
      return
    }
    let fd = name.withPlatformString { openat(destination.fd, $0, O_WRONLY | O_NOFOLLOW | O_CLOEXEC) }
    guard fd >= 0 else { return }
    var st = stat()
    if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && !isSource(st) && Int64(st.st_size) > bytesWritten {
      _ = ftruncate(fd, off_t(bytesWritten))
    }
    _ = Glibc.close(fd)
  }
}

/// Where the walker sends regular files.
protocol FileSink: AnyObject {
  /// Copies (or queues) one file; results go to the shared ``TreeCopyState``.
  func copy(_ job: FileJob)
  /// Returns when every file handed over is done (copied, failed or undone), with nothing
  /// left open.
  func finish()
}

/// Totals and errors, shared by the walker and the engine's threads.
final class TreeCopyState: @unchecked Sendable {
  // @unchecked: `totals` and `stop` are guarded by `lock`; the rest is immutable.
  struct Totals {
    var files = 0, directories = 0, symlinks = 0
    var bytes: Int64 = 0
    var undone = 0
    var errors: [ZeroCopyError] = []
  }
  private let lock = Lock()
  private var totals = Totals()
  private var stop = false
  let keepGoing: Bool
  let monitor: TransferMonitor

  init(options: TreeCopy.Options) {
    keepGoing = options.keepGoing
    monitor = options.monitor ?? TransferMonitor()
  }

  func fileDone(bytes: Int64) {
    lock.withLock { totals.files += 1; totals.bytes += bytes }
    monitor.add(bytes)
  }
  func directoryDone() { lock.withLock { totals.directories += 1 } }
  func symlinkDone() { lock.withLock { totals.symlinks += 1 } }
  /// A file in flight was undone because of a cancellation.
  func fileUndone() { lock.withLock { totals.undone += 1 } }
  func fail(_ error: ZeroCopyError) {
    lock.withLock {
      totals.errors.append(error)
      if !keepGoing { stop = true }
    }
  }
  /// Whether the copy was cancelled (its task, or the monitor).
  var cancelled: Bool { monitor.isCancelled }
  /// True once an error has stopped a copy without keep-going, or the copy was cancelled:
  /// no new entry is started.
  var stopped: Bool { monitor.isCancelled || lock.withLock { stop } }
  func snapshot() -> Totals { lock.withLock { totals } }
}

/// A directory's place in its tree: its name and its parent, so that its path is built
/// only when a message needs it (building every path eagerly costs O(depth²), and swift-
/// system's debug checks make it much worse: seconds for a tree deeper than PATH_MAX), and,
/// for a source directory, its identity (device, inode), to recognise a directory that is its
/// own ancestor (a bind mount). Holds no descriptor.
final class TreeNode: Sendable {
  let parent: TreeNode?
  /// The root's whole path, or one component.
  let name: FilePath
  let device: UInt64
  let inode: UInt64

  init(root: FilePath, _ status: stat? = nil) {
    parent = nil
    name = root
    device = status.map { UInt64($0.st_dev) } ?? 0
    inode = status.map { UInt64($0.st_ino) } ?? 0
  }

  init(_ name: FilePath, in parent: TreeNode, _ status: stat? = nil) {
    self.parent = parent
    self.name = name
    device = status.map { UInt64($0.st_dev) } ?? 0
    inode = status.map { UInt64($0.st_ino) } ?? 0
  }

  var path: FilePath {
    var names: [FilePath] = []
    var node: TreeNode? = self
    while let current = node, current.parent != nil {
      names.append(current.name)
      node = current.parent
    }
    var path = node?.name ?? FilePath()
    for name in names.reversed() { path.append(name.components) }
    return path
  }

  /// Whether this directory or one above it has `status`'s device and inode.
  func isOrIsBelow(_ status: stat) -> Bool {
    var node: TreeNode? = self
    while let current = node {
      if current.device == UInt64(status.st_dev) && current.inode == UInt64(status.st_ino) { return true }
      node = current.parent
    }
    return false
  }
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
    /// A subdirectory to create (or merge into) and walk; `status` is the source's.
    case pending(source: DirHandle, destination: DirHandle, name: FilePath, status: stat)
  }
  private let options: TreeCopy.Options
  private let state: TreeCopyState
  private let sink: any FileSink
  /// The destination root's identity: a source directory with it is the destination
  /// (mounted inside the source), which would be copied into itself.
  private var destinationRoot: (device: UInt64, inode: UInt64) = (0, 0)

  init(options: TreeCopy.Options, state: TreeCopyState, sink: any FileSink) {
    self.options = options
    self.state = state
    self.sink = sink
  }

  /// `O_PATH` (Linux 2.6.39; hidden by `import Glibc`, like every GNU flag): a descriptor
  /// that only names a directory, to walk up with `openat("..")` where reading is not allowed.
  static let openPath: CInt = 0o10000000

  /// Where a destination lies relative to the source directory.
  enum Placement { case outside, same, inside }

  /// Whether `destination` — or, when it does not exist, its parent — is the directory
  /// `source` or lies inside it: walks up with `openat(fd, "..")` to the root, comparing
  /// each directory's device and inode with the source's (symbolic links and bind mounts
  /// are seen through).
  static func placement(of destination: FilePath, relativeTo source: stat) -> Placement {
    var fd = destination.withPlatformString { open($0, openPath | O_DIRECTORY | O_CLOEXEC) }
    var isDestination = true
    if fd < 0 {
      isDestination = false
      let parent = destination.removingLastComponent()
      fd = (parent.isEmpty ? "." : parent).withPlatformString { open($0, openPath | O_DIRECTORY | O_CLOEXEC) }
      if fd < 0 { return .outside }
    }
    defer { _ = Glibc.close(fd) }
    var current = stat()
    guard fstat(fd, &current) == 0 else { return .outside }
    while true {
      if current.st_dev == source.st_dev && current.st_ino == source.st_ino { return isDestination ? .same : .inside }
      isDestination = false
      let up = openat(fd, "..", openPath | O_DIRECTORY | O_CLOEXEC)
      if up < 0 { return .outside }
      var above = stat()
      guard fstat(up, &above) == 0, above.st_dev != current.st_dev || above.st_ino != current.st_ino else {
        _ = Glibc.close(up)
        return .outside  // the root: its ".." is itself
      }
      _ = Glibc.close(fd)
      fd = up
      current = above
    }
  }

  func run(source: FilePath, destination: FilePath) {
    func fail(_ syscall: String, _ errno: Errno, _ message: String) {
      state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: [source, destination], message: message))
    }
    if state.stopped { return }  // cancelled before it started: nothing is created
    let sfd = source.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    guard sfd >= 0 else { return fail("open", Errno(rawValue: errno), "cannot open the source directory") }
    var st = stat()
    guard fstat(sfd, &st) == 0 else {
      _ = Glibc.close(sfd)
      return fail("fstat", Errno(rawValue: errno), "cannot stat the source directory")
    }
    let src = DirHandle(fd: sfd, node: TreeNode(root: source, st))
    // Before anything is created: a destination inside the source would grow while it is
    // copied (cp: "cannot copy a directory, 'a', into itself, 'a/sub'").
    switch Self.placement(of: destination, relativeTo: st) {
    case .outside: break
    case .same:
      return fail(
        "stat", .invalidArgument,
        "\(source.shellQuoted) and \(destination.shellQuoted) are the same file: cannot copy a directory into itself")
    case .inside:
      return fail(
        "stat", .invalidArgument,
        "cannot copy a directory, \(source.shellQuoted), into itself, \(destination.shellQuoted); nothing was created")
    }
    if destination.withPlatformString({ mkdir($0, 0o700) }) != 0 {
      guard errno == EEXIST else { return fail("mkdir", Errno(rawValue: errno), "cannot create the destination directory") }
      destination.withPlatformString { TreeWalker.makeOwnerWritable(AT_FDCWD, $0) }
    }
    let dfd = destination.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    guard dfd >= 0 else {
      let e = Errno(rawValue: errno)
      return fail(
        "open", e,
        e == .notDirectory ? "cannot overwrite non-directory with directory (the destination exists and is not a directory)" : "cannot open the destination directory")
    }
    var sameDirectory = stat()
    if fstat(dfd, &sameDirectory) == 0 && sameDirectory.st_dev == st.st_dev && sameDirectory.st_ino == st.st_ino {
      _ = Glibc.close(dfd)
      return fail("fstat", .invalidArgument, "the source and the destination are the same directory")
    }
    destinationRoot = (UInt64(sameDirectory.st_dev), UInt64(sameDirectory.st_ino))
    let dst = DirHandle(
      fd: dfd, node: TreeNode(root: destination),
      finish: .init(mode: st.st_mode & 0o7777, times: (st.st_atim, st.st_mtim), options: options, state: state))
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
      case .pending(let ps, let pd, let name, let status):
        guard let opened = openSubdirectory(name, ps, pd, status: status) else { continue }
        (src, dst) = opened
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

  /// Opens a source subdirectory, creates (or opens, to merge into) its destination, and
  /// refuses the cases that would copy a directory into itself (bind mounts).
  private func openSubdirectory(
    _ name: FilePath, _ ps: DirHandle, _ pd: DirHandle, status: stat
  ) -> (DirHandle, DirHandle)? {
    func fail(_ syscall: String, _ errno: Errno, _ message: String) {
      let paths = [ps.path.appending(name.components), pd.path.appending(name.components)]
      state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: paths, message: message))
    }
    let sfd = name.withPlatformString { openat(ps.fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    guard sfd >= 0 else {
      fail("openat", Errno(rawValue: errno), "cannot open the source directory")
      return nil
    }
    var own = stat()
    guard fstat(sfd, &own) == 0 else {
      _ = Glibc.close(sfd)
      fail("fstat", Errno(rawValue: errno), "cannot stat the source directory")
      return nil
    }
    let src = DirHandle(fd: sfd, node: TreeNode(name, in: ps.node, own))
    if ps.node.isOrIsBelow(own) {
      fail("fstat", .tooManySymbolicLinkLevels, "the directory is its own ancestor (a bind mount loop); not copied")
      return nil
    }
    if UInt64(own.st_dev) == destinationRoot.device && UInt64(own.st_ino) == destinationRoot.inode {
      fail("fstat", .invalidArgument, "cannot copy a directory into itself: this is the destination (mounted inside the source)")
      return nil
    }
    if name.withPlatformString({ mkdirat(pd.fd, $0, 0o700) }) != 0 {
      let e = Errno(rawValue: errno)
      var existing = stat()
      guard e == .fileExists, name.withPlatformString({ fstatat(pd.fd, $0, &existing, AT_SYMLINK_NOFOLLOW) }) == 0,
        existing.st_mode & S_IFMT == S_IFDIR
      else {
        fail("mkdirat", e, e == .fileExists ? "cannot overwrite non-directory with directory (the destination exists and is not a directory)" : "cannot create the directory")
        return nil
      }
      if existing.st_mode & 0o700 != 0o700 { name.withPlatformString { TreeWalker.makeOwnerWritable(pd.fd, $0) } }
    }
    let dfd = name.withPlatformString { openat(pd.fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    guard dfd >= 0 else {
      fail("openat", Errno(rawValue: errno), "cannot open the destination directory")
      return nil
    }
    var other = stat()
    if fstat(dfd, &other) == 0 && other.st_dev == own.st_dev && other.st_ino == own.st_ino {
      _ = Glibc.close(dfd)
      fail("fstat", .invalidArgument, "the source and the destination are the same directory (a bind mount?); not copied")
      return nil
    }
    let dst = DirHandle(
      fd: dfd, node: TreeNode(name, in: pd.node),
      finish: .init(mode: status.st_mode & 0o7777, times: (status.st_atim, status.st_mtim), options: options, state: state))
    state.directoryDone()
    return (src, dst)
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
      stack.append(.pending(source: src, destination: dst, name: name, status: st))
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
}
