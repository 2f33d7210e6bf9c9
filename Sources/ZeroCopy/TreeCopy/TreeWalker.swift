// The directory walk shared by every tree-copy engine: cp's per-entry rules (an existing
// destination, hard links, symbolic links followed or not), directories, symbolic links and
// special files are handled here, synchronously; regular files are handed to a FileSink.

import Glibc
import LinuxIO
import SystemPackage

/// An open directory, closed when the last file or subdirectory using it is done. A
/// destination directory is finished then too — fsync, its attributes (times, owner,
/// xattrs, mode and ACLs, as the policy says), its final mode — through its own descriptor,
/// so that a tree deeper than `PATH_MAX` needs no path.
final class DirHandle: @unchecked Sendable {
  // @unchecked: immutable after init; `finish` runs once, in deinit.
  let fd: Int32
  /// Where the directory is in its tree (its path is built from it when a message needs it).
  let node: TreeNode
  /// For a destination directory: what to apply when its contents are done.
  private let finish: Finish?
  /// For a destination directory: whether new entries inherit an ACL from it (a default
  /// ACL), looked up only when modes are preserved (an inherited ACL the source lacks is
  /// then removed).
  let hasDefaultACL: Bool

  struct Finish {
    /// The source directory (kept open for its extended attributes and ACLs).
    let source: DirHandle
    /// The source directory's status.
    let status: stat
    /// Whether this copy created the directory.
    let created: Bool
    /// The mode to set when modes are not preserved: a new directory created with more
    /// permissions than its final ones, or an existing one made owner-writable (its old mode).
    let modeWithoutPreserve: mode_t?
    let options: TreeCopy.Options
    let state: TreeCopyState
  }

  init(fd: Int32, node: TreeNode, finish: Finish? = nil) {
    self.fd = fd
    self.node = node
    self.finish = finish
    if let finish, finish.options.policy.preserve.contains(.mode) {
      hasDefaultACL = (try? FileDescriptor(rawValue: fd).extendedAttribute(named: CopyMetadata.defaultACL))?.isEmpty == false
    } else {
      hasDefaultACL = false
    }
  }

  /// The directory's path (for messages: built on demand, O(depth)).
  var path: FilePath { node.path }

  deinit {
    if let finish {
      func fail(_ syscall: String, _ errno: Errno, _ message: String) {
        finish.state.fail(
          ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: [finish.source.path, path], message: message))
      }
      if finish.options.fsync {
        do { try descriptor.synchronize() } catch { fail("fsync", error, "cannot sync the directory") }
      }
      if !finish.options.policy.preserve.isEmpty || finish.modeWithoutPreserve != nil {
        let current: stat?
        do throws(Errno) {
          current = try descriptor.status().rawValue
        } catch {
          fail("fstat", error, "cannot stat the directory")
          current = nil
        }
        if let current {
          do {
            let notes = try CopyMetadata(policy: finish.options.policy).apply(
              from: .descriptor(finish.source.fd), status: finish.status, to: .descriptor(fd), current: current,
              kind: .directory, created: finish.created, modeWithoutPreserve: finish.modeWithoutPreserve)
            for note in notes { finish.state.warn("\(path.shellQuoted): \(note)") }
          } catch {
            fail(error.syscall, error.errno, error.message + " of the directory")
          }
        }
      }
    }
    _ = try? descriptor.close()
  }
  var descriptor: FileDescriptor { FileDescriptor(rawValue: fd) }
}

/// One regular file to copy: `sourceName` in `source` to `destinationName` in `destination`.
final class FileJob: @unchecked Sendable {
  // @unchecked: one engine thread owns a job at a time; the hard-link fields are guarded
  // by `linkLock` (the walker adds links while an engine finishes the job).
  let source: DirHandle
  let destination: DirHandle
  /// One path component each, as raw bytes (they differ only for a tree whose root is a file).
  let sourceName: FilePath
  let destinationName: FilePath
  /// The source's status (its target's, when a symbolic link is followed).
  let status: stat
  /// Whether the source name is a symbolic link to follow when opening (cp `-L`, `-H`).
  let followSource: Bool
  let size: Int64
  let times: (timespec, timespec)
  /// The source's identity: a destination with the same is the source itself.
  let device: UInt64
  let inode: UInt64
  /// Whether the source has holes (cp's heuristic: fewer blocks than its size needs).
  let looksSparse: Bool
  let state: TreeCopyState
  let policy: CopyPolicy
  /// Whether this copy created the destination file (so undoing it means removing it), once
  /// an engine has looked; nil before.
  var createdByCopy: Bool?
  /// The file's entry in ``UnfinishedFiles`` while it is new and incomplete.
  var unfinished: UnfinishedFiles.Token?
  /// An existing destination made owner-writable to be written (its old mode, restored
  /// after the data unless modes are preserved).
  var madeWritable: mode_t?
  /// How the data was copied (set by the engine).
  var dataPath = DataPath(.userSpace)

  /// With --preserve=links: this job's source is in the hard-link map as in flight, and
  /// other names of it wait here until the file is complete.
  var linksTo: HardLinkMap?
  private let linkLock = Lock()
  private var pendingLinks: [(DirHandle, FilePath, FilePath)] = []  // (directory, name, source path)
  private var settled = false

  init(
    source: DirHandle, destination: DirHandle, sourceName: FilePath, destinationName: FilePath, status: stat,
    followSource: Bool, state: TreeCopyState, policy: CopyPolicy
  ) {
    self.source = source
    self.destination = destination
    self.sourceName = sourceName
    self.destinationName = destinationName
    self.status = status
    self.followSource = followSource
    self.state = state
    self.policy = policy
    size = Int64(status.st_size)
    times = (status.st_atim, status.st_mtim)
    device = UInt64(status.st_dev)
    inode = UInt64(status.st_ino)
    looksSparse = SparseFiles.looksSparse(status)
  }
  var sourcePath: FilePath { source.path.appending(sourceName.components) }
  var destinationPath: FilePath { destination.path.appending(destinationName.components) }

  /// The source's permission bits for a new file (the umask applies at creation), or the
  /// defaults with --no-preserve=mode.
  var newFileMode: mode_t { policy.newFileMode(status) }
  /// The mode a new file is created with: owner-only while its owner may still change.
  var createMode: mode_t { policy.creationMode(status) }
  /// Whether the file needs attributes set after its data (by descriptor or by name).
  var needsMetadata: Bool { !policy.preserve.isEmpty || madeWritable != nil || createMode != newFileMode }
  /// The open flag that makes opening the source refuse a symbolic link.
  var sourceNoFollow: CInt { followSource ? 0 : O_NOFOLLOW }

  /// Whether `other` (a destination's status) is this job's source file.
  func isSource(_ other: stat) -> Bool { UInt64(other.st_dev) == device && UInt64(other.st_ino) == inode }

  func error(_ syscall: String, _ errno: Errno, _ message: String? = nil, bytes: Int64 = 0) -> ZeroCopyError {
    ZeroCopyError(
      .treeCopy, syscall: syscall, errno: errno, paths: [sourcePath, destinationPath], bytesTransferred: bytes,
      message: message)
  }

  /// The refusal for a destination that is the source file itself.
  func sameFileError() -> ZeroCopyError {
    ZeroCopyError(
      .treeCopy, syscall: "fstatat", errno: .invalidArgument, paths: [sourcePath, destinationPath],
      message: "source and destination are the same file (device \(device), inode \(inode)); not opened for writing",
      isRefusal: true)
  }

  /// Sets the attributes after the data (`output` open, or nil: by name), as the policy
  /// says; an existing file made writable gets its old mode back. Returns a failure for a
  /// required attribute.
  func applyMetadata(output: CInt?, input: CInt?) -> ZeroCopyError? {
    guard needsMetadata else { return nil }
    let target: MetadataTarget = output.map { .descriptor($0) } ?? .entry(directory: destination.fd, name: destinationName)
    let from: MetadataTarget = input.map { .descriptor($0) } ?? .entry(directory: source.fd, name: sourceName)
    let current: stat
    do throws(Errno) {
      if let output {
        current = try FileDescriptor(rawValue: output).status().rawValue
      } else {
        current = try destination.descriptor.status(of: destinationName, followingSymbolicLinks: false).rawValue
      }
    } catch {
      return self.error("fstat", error, "cannot stat the destination", bytes: size)
    }
    let created = createdByCopy == true
    var modeWithoutPreserve = madeWritable
    if created && createMode != newFileMode { modeWithoutPreserve = newFileMode & ~processUmask }
    do {
      let notes = try CopyMetadata(policy: policy).apply(
        from: followSource && input == nil ? .entry(directory: source.fd, name: sourceName) : from, status: status,
        to: target, current: current, kind: .file, created: created,
        mayHaveACL: !created || destination.hasDefaultACL, modeWithoutPreserve: modeWithoutPreserve)
      for note in notes { state.warn("\(destinationPath.shellQuoted): \(note)") }
      return nil
    } catch {
      return self.error(error.syscall, error.errno, error.message, bytes: size)
    }
  }

  /// Records that the destination was (or was not) created by this copy; a new file is
  /// registered as unfinished until ``completed()`` or ``undo(bytesWritten:)``.
  func noteDestination(existed: Bool) {
    guard createdByCopy == nil else { return }
    createdByCopy = !existed
    if !existed {
      unfinished = destinationName.withPlatformString {
        UnfinishedFiles.shared.register(
          directory: destination.fd, name: Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)))
      }
    }
  }

  /// The file is complete: no longer unfinished; the names waiting to be its hard links
  /// are made.
  func completed() {
    if let unfinished { UnfinishedFiles.shared.forget(unfinished) }
    unfinished = nil
    settleLinks(done: true)
  }

  /// Another name of this job's source, to be a hard link of its copy once it is complete.
  /// False if the job is already settled (the caller then links by path, or copies).
  func addLink(in directory: DirHandle, name: FilePath, sourcePath: FilePath) -> Bool {
    linkLock.withLock {
      if settled { return false }
      pendingLinks.append((directory, name, sourcePath))
      return true
    }
  }

  /// The job ends without a copy (refused before opening, or skipped after a
  /// cancellation): names waiting to be its hard links are reported, not linked.
  func abandon() { settleLinks(done: false) }

  private func settleLinks(done: Bool) {
    guard let map = linksTo else { return }
    let waiting = linkLock.withLock { () -> [(DirHandle, FilePath, FilePath)]? in
      if settled { return nil }
      // The map first, then `settled`, both under the lock: a walker whose addLink finds
      // the job settled must find the map's entry final (the path, or gone), never still
      // this job in flight — else it copied the other name as a separate file (seen once
      // in a make test run, threads engine, loaded machine). Lock order: linkLock, then the map's.
      map.set(device: device, inode: inode, done ? .path(destinationPath) : nil)
      settled = true
      defer { pendingLinks.removeAll() }
      return pendingLinks
    }
    guard let waiting else { return }
    for (directory, name, linkSource) in waiting {
      if !done {
        state.fail(
          ZeroCopyError(
            .treeCopy, syscall: "linkat", errno: .canceled, paths: [linkSource, directory.path.appending(name.components)],
            message: "not linked: the copy of the same source file (\(destinationPath.shellQuoted)) did not complete"))
        continue
      }
      if let made = TreeWalker.link(destination.descriptor, destinationName, directory.descriptor, name) {
        state.fail(
          ZeroCopyError(
            .treeCopy, syscall: "linkat", errno: made,
            paths: [linkSource, directory.path.appending(name.components)],
            message: "cannot create a hard link to \(destinationPath.shellQuoted)"))
      } else {
        state.linkDone()
      }
    }
  }

  /// The file could not be completed: removed if this copy created it, otherwise cut to
  /// the bytes written (so that it does not keep the old file's length and look complete).
  func undo(bytesWritten: Int64) {
    settleLinks(done: false)
    let token = unfinished
    unfinished = nil
    if createdByCopy == true {
      if let token, !UnfinishedFiles.shared.forget(token) { return }  // already removed
      try? destination.descriptor.removeEntry(destinationName)
      return
    }
    guard
      let fd = try? destination.descriptor.open(
        relative: destinationName, .writeOnly, options: [.noFollow, .closeOnExec], retryOnInterrupt: false)
    else { return }
    if let st = try? fd.status().rawValue, st.st_mode & S_IFMT == S_IFREG, !isSource(st), Int64(st.st_size) > bytesWritten {
      try? fd.truncate(toSize: bytesWritten)
    }
    try? fd.close()
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
  // @unchecked: `totals`, `stop` and `clones` are guarded by `lock`; the rest is immutable.
  struct Totals {
    var files = 0, directories = 0, symlinks = 0, specialFiles = 0, hardLinks = 0, skipped = 0
    var bytes: Int64 = 0
    var undone = 0
    var errors: [ZeroCopyError] = []
    var warnings: [String] = []
    var dataPaths: [DataPath.Kind: Int] = [:]
    var reasons: [String: Int] = [:]
  }
  private let lock = Lock()
  private var totals = Totals()
  private var stop = false
  let keepGoing: Bool
  let monitor: TransferMonitor
  let progress: TreeCopy.Progress?
  /// The hard-link map of this copy (the policy's, or its own), with --preserve=links.
  let hardLinks: HardLinkMap?
  /// Per pair of filesystems (source device, destination device): nil while untried,
  /// else why a clone is refused there (an empty string: clones work).
  private var clones: [UInt128: String] = [:]

  init(options: TreeCopy.Options) {
    keepGoing = options.keepGoing
    monitor = options.monitor ?? TransferMonitor()
    progress = options.progress
    hardLinks = options.policy.preserve.contains(.links) ? options.policy.hardLinks ?? HardLinkMap() : nil
  }

  func fileDone(bytes: Int64, _ path: DataPath) {
    lock.withLock {
      totals.files += 1
      totals.bytes += bytes
      totals.dataPaths[path.kind, default: 0] += 1
      // Each reason counted alone ("not cloned: …", "files of at most 128 KiB…").
      for reason in path.reason?.split(separator: "; ") ?? [] { totals.reasons[String(reason), default: 0] += 1 }
    }
    monitor.add(bytes)
    progress?.fileDone()
  }
  func directoryDone() { lock.withLock { totals.directories += 1 } }
  func symlinkDone() {
    lock.withLock { totals.symlinks += 1 }
    progress?.fileDone()
  }
  func specialDone() {
    lock.withLock { totals.specialFiles += 1 }
    progress?.fileDone()
  }
  func linkDone() {
    lock.withLock { totals.hardLinks += 1 }
    progress?.fileDone()
  }
  func skipped() {
    lock.withLock { totals.skipped += 1 }
    progress?.fileDone()
  }
  func warn(_ text: String) { lock.withLock { totals.warnings.append(text) } }
  /// A file in flight was undone because of a cancellation.
  func fileUndone() { lock.withLock { totals.undone += 1 } }
  func fail(_ error: ZeroCopyError) {
    lock.withLock {
      totals.errors.append(error)
      if !keepGoing { stop = true }
    }
  }
  /// Whether a clone is worth trying between these filesystems: nil (yes), or why not.
  func cloneRefusal(from source: UInt64, to destination: UInt64) -> String? {
    lock.withLock { clones[UInt128(source) << 64 | UInt128(destination)].flatMap { $0.isEmpty ? nil : $0 } }
  }
  /// Whether a clone was tried between these filesystems.
  func cloneTried(from source: UInt64, to destination: UInt64) -> Bool {
    lock.withLock { clones[UInt128(source) << 64 | UInt128(destination)] != nil }
  }
  /// Records that a clone worked ("") or why it was refused.
  func recordClone(from source: UInt64, to destination: UInt64, refusal: String) {
    lock.withLock { clones[UInt128(source) << 64 | UInt128(destination)] = refusal }
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
/// system's debug checks make it much worse: seconds for a tree deeper than PATH_MAX), and
/// its identity (device, inode): for a source directory, to recognise a directory that is
/// its own ancestor (a bind mount); for a destination, its filesystem. Holds no descriptor.
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

/// Walks the source depth-first, creating directories, symlinks and special files in the
/// destination and handing regular files to the engine.
final class TreeWalker {
  /// Gives the owner write permission on an existing destination *file* that lacks it
  /// (a read-only file from an earlier copy): the copy replaces its content, and it gets its
  /// mode back after the data (or the source's, when modes are preserved). Returns the old
  /// mode when it was changed (nil: not a regular file, already writable, or not the owner).
  static func makeFileOwnerWritable(_ directory: FileDescriptor, _ name: FilePath) -> mode_t? {
    guard let st = try? directory.status(of: name, followingSymbolicLinks: false).rawValue,
      st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o200 == 0
    else { return nil }
    let writable = FilePermissions(rawValue: (st.st_mode & 0o7777) | 0o200)
    return (try? directory.setPermissions(of: name, to: writable)) != nil ? st.st_mode & 0o7777 : nil
  }

  /// ``makeFileOwnerWritable(_:_:)-(FileDescriptor,FilePath)`` for a raw directory and a
  /// C name (URingTreeCopy's call, until it moves to LinuxIO's types in issue 15).
  static func makeFileOwnerWritable(_ directory: Int32, _ name: UnsafePointer<CChar>) -> mode_t? {
    makeFileOwnerWritable(FileDescriptor(rawValue: directory), FilePath(platformString: name))
  }

  /// Gives the owner rwx on an existing destination directory (one an earlier copy made
  /// read-only, say), so its entries can be written like those of a new one; its mode is
  /// restored after its contents (or set to the source's when modes are preserved). If the
  /// chmod is refused (not the owner), nothing changes and the writes report `EACCES`.
  /// Returns the old mode when it was changed.
  static func makeOwnerWritable(_ directory: FileDescriptor, _ name: FilePath) -> mode_t? {
    guard let st = try? directory.status(of: name, followingSymbolicLinks: false).rawValue,
      st.st_mode & S_IFMT == S_IFDIR, st.st_mode & 0o700 != 0o700
    else { return nil }
    let writable = FilePermissions(rawValue: (st.st_mode & 0o7777) | 0o700)
    return (try? directory.setPermissions(of: name, to: writable)) != nil ? st.st_mode & 0o7777 : nil
  }

  /// `linkat(fromDirectory, from, toDirectory, to)`, replacing an existing `to` (not a
  /// directory). Nil, or the errno.
  static func link(_ fromDirectory: FileDescriptor, _ from: FilePath, _ toDirectory: FileDescriptor, _ to: FilePath)
    -> Errno?
  {
    do throws(Errno) {
      try fromDirectory.createHardLink(to: from, named: to, in: toDirectory)
      return nil
    } catch  where error != .fileExists {
      return error
    } catch {}
    if let st = try? toDirectory.status(of: to, followingSymbolicLinks: false).rawValue, st.st_mode & S_IFMT == S_IFDIR {
      return .isDirectory
    }
    do throws(Errno) {
      try toDirectory.removeEntry(to)
    } catch  where error != .noSuchFileOrDirectory {
      return error
    } catch {}
    do throws(Errno) {
      try fromDirectory.createHardLink(to: from, named: to, in: toDirectory)
      return nil
    } catch {
      return error
    }
  }

  private enum Item {
    case open(DirHandle, DirHandle)
    /// A subdirectory to create (or merge into) and walk; `status` is the source's.
    case pending(source: DirHandle, destination: DirHandle, name: FilePath, status: stat)
  }
  private let options: TreeCopy.Options
  private let state: TreeCopyState
  private let sink: any FileSink
  private var policy: CopyPolicy { options.policy }
  /// The destination root's identity: a source directory with it is the destination
  /// (mounted inside the source), which would be copied into itself.
  private var destinationRoot: (device: UInt64, inode: UInt64) = (0, 0)

  init(options: TreeCopy.Options, state: TreeCopyState, sink: any FileSink) {
    self.options = options
    self.state = state
    self.sink = sink
  }

  /// `O_PATH` (Linux 2.6.39; hidden by `import Glibc`, like every GNU flag, so LinuxIO has
  /// it): a descriptor that only names a directory, to walk up with `openat("..")` where
  /// reading is not allowed.
  static let openPath: CInt = FileDescriptor.OpenOptions.path.rawValue

  /// Where a destination lies relative to the source directory.
  enum Placement { case outside, same, inside }

  /// Whether `destination` — or, when it does not exist, its parent — is the directory
  /// `source` or lies inside it: walks up with `openat(fd, "..")` to the root, comparing
  /// each directory's device and inode with the source's (symbolic links and bind mounts
  /// are seen through).
  static func placement(of destination: FilePath, relativeTo source: stat) -> Placement {
    let cwd = FileDescriptor.currentWorkingDirectory
    let pathOnly: FileDescriptor.OpenOptions = [.path, .directory, .closeOnExec]
    var isDestination = true
    var fd: FileDescriptor
    if let opened = try? cwd.open(relative: destination, .readOnly, options: pathOnly, retryOnInterrupt: false) {
      fd = opened
    } else {
      isDestination = false
      let parent = destination.removingLastComponent()
      guard
        let opened = try? cwd.open(
          relative: parent.isEmpty ? "." : parent, .readOnly, options: pathOnly, retryOnInterrupt: false)
      else { return .outside }
      fd = opened
    }
    defer { try? fd.close() }
    guard var current = try? fd.status().rawValue else { return .outside }
    while true {
      if current.st_dev == source.st_dev && current.st_ino == source.st_ino { return isDestination ? .same : .inside }
      isDestination = false
      guard let up = try? fd.open(relative: "..", .readOnly, options: pathOnly, retryOnInterrupt: false) else {
        return .outside
      }
      guard let above = try? up.status().rawValue, above.st_dev != current.st_dev || above.st_ino != current.st_ino
      else {
        try? up.close()
        return .outside  // the root: its ".." is itself
      }
      try? fd.close()
      fd = up
      current = above
    }
  }

  /// The mode a new directory is created with, and the mode to set once its contents are
  /// done (nil: the creation mode is already right).
  private func directoryModes(_ status: stat) -> (create: mode_t, final: mode_t?) {
    let preserve = policy.preserve
    if preserve.contains(.mode) { return (0o700, nil) }  // the exact mode comes with the metadata
    let base: mode_t = policy.defaultPermissions ? 0o777 : status.st_mode & 0o1777
    if base & 0o700 == 0o700 && !preserve.contains(.ownership) { return (base, nil) }
    // Writable for the copy first (or owner-only while the owner may change), then its
    // mode: the source's less the umask, the sticky bit kept, an inherited set-group-ID too.
    return (0o700 | (base & 0o1000), base & ~processUmask)
  }

  /// Copies `source` to `destination`: a directory tree, or a single entry (a file, a
  /// symbolic link, a special file) when the source is not a directory.
  func run(source: FilePath, destination: FilePath) {
    func fail(_ syscall: String, _ errno: Errno, _ message: String, refusal: Bool = false) {
      state.fail(
        ZeroCopyError(
          .treeCopy, syscall: syscall, errno: errno, paths: [source, destination], message: message, isRefusal: refusal))
    }
    if state.stopped { return }  // cancelled before it started: nothing is created
    let cwd = FileDescriptor.currentWorkingDirectory
    var st: stat
    let follow = options.following != .never
    do throws(Errno) {
      st = try cwd.status(of: source, followingSymbolicLinks: follow).rawValue
    } catch {
      return fail(follow ? "stat" : "lstat", error, "cannot stat the source")
    }
    guard st.st_mode & S_IFMT == S_IFDIR else { return runEntry(source: source, destination: destination, status: st) }
    let sfd: FileDescriptor
    do throws(Errno) {
      sfd = try cwd.open(
        relative: source, .readOnly, options: follow ? [.directory, .closeOnExec] : [.directory, .closeOnExec, .noFollow],
        retryOnInterrupt: false)
    } catch {
      return fail("open", error, "cannot open the source directory")
    }
    do throws(Errno) {
      st = try sfd.status().rawValue
    } catch {
      try? sfd.close()
      return fail("fstat", error, "cannot stat the source directory")
    }
    let src = DirHandle(fd: sfd.rawValue, node: TreeNode(root: source, st))
    // Before anything is created: a destination inside the source would grow while it is
    // copied (cp: "cannot copy a directory, 'a', into itself, 'a/sub'").
    switch Self.placement(of: destination, relativeTo: st) {
    case .outside: break
    case .same:
      return fail(
        "stat", .invalidArgument,
        "\(source.shellQuoted) and \(destination.shellQuoted) are the same file: cannot copy a directory into itself",
        refusal: true)
    case .inside:
      return fail(
        "stat", .invalidArgument,
        "cannot copy a directory, \(source.shellQuoted), into itself, \(destination.shellQuoted); nothing was created",
        refusal: true)
    }
    let modes = directoryModes(st)
    var created = true
    var oldMode: mode_t? = nil
    do throws(Errno) {
      try cwd.createDirectory(destination, permissions: FilePermissions(rawValue: modes.create))
    } catch {
      guard error == .fileExists else { return fail("mkdir", error, "cannot create the destination directory") }
      created = false
      oldMode = TreeWalker.makeOwnerWritable(cwd, destination)
    }
    let dfd: FileDescriptor
    do throws(Errno) {
      dfd = try cwd.open(relative: destination, .readOnly, options: [.directory, .closeOnExec], retryOnInterrupt: false)
    } catch {
      return fail(
        "open", error,
        error == .notDirectory
          ? "cannot overwrite non-directory with directory (the destination exists and is not a directory)"
          : "cannot open the destination directory")
    }
    let sameDirectory = (try? dfd.status().rawValue) ?? stat()
    if sameDirectory.st_dev == st.st_dev && sameDirectory.st_ino == st.st_ino {
      try? dfd.close()
      return fail("fstat", .invalidArgument, "the source and the destination are the same directory", refusal: true)
    }
    destinationRoot = (UInt64(sameDirectory.st_dev), UInt64(sameDirectory.st_ino))
    if created { policy.onEvent?(CopyEvent(kind: .copying, source: source, destination: destination)) }
    let dst = DirHandle(
      fd: dfd.rawValue, node: TreeNode(root: destination, sameDirectory),
      finish: .init(
        source: src, status: st, created: created, modeWithoutPreserve: created ? modes.final : oldMode, options: options,
        state: state))
    state.directoryDone()
    walk(.open(src, dst))
  }

  /// A source that is not a directory: the single entry, from the source's directory to the
  /// destination's, under the destination's own name.
  private func runEntry(source: FilePath, destination: FilePath, status: stat) {
    func parent(_ path: FilePath) -> FilePath {
      let up = path.removingLastComponent()
      return up.isEmpty ? "." : up
    }
    func fail(_ syscall: String, _ errno: Errno, _ message: String) {
      state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: [source, destination], message: message))
    }
    guard let sourceName = source.lastComponent, let destinationName = destination.lastComponent else {
      return fail("open", .invalidArgument, "the source or the destination has no file name")
    }
    let cwd = FileDescriptor.currentWorkingDirectory
    let sfd: FileDescriptor
    do throws(Errno) {
      sfd = try cwd.open(relative: parent(source), .readOnly, options: [.directory, .closeOnExec], retryOnInterrupt: false)
    } catch {
      return fail("open", error, "cannot open the source's directory")
    }
    let dfd: FileDescriptor
    do throws(Errno) {
      dfd = try cwd.open(
        relative: parent(destination), .readOnly, options: [.directory, .closeOnExec], retryOnInterrupt: false)
    } catch {
      try? sfd.close()
      return fail("open", error, "cannot open the destination's directory")
    }
    let dstStatus = (try? dfd.status().rawValue) ?? stat()
    let src = DirHandle(fd: sfd.rawValue, node: TreeNode(root: parent(source)))
    let dst = DirHandle(fd: dfd.rawValue, node: TreeNode(root: parent(destination), dstStatus))
    var stack: [Item] = []
    entry(
      FilePath(root: nil, [sourceName]), in: src, dst, as: FilePath(root: nil, [destinationName]), stack: &stack,
      known: status, followLink: options.following != .never)
    if !stack.isEmpty { walk(stack.removeLast()) }  // -L: the root was a link to a directory (not reached: stat followed it)
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
      do throws(Errno) {
        entries = try src.descriptor.directoryEntryNames()
      } catch {
        state.fail(
          ZeroCopyError(
            .treeCopy, syscall: "getdents64", errno: error, paths: [src.path, dst.path],
            message: "cannot list the source directory"))
        continue
      }
      for name in entries {
        if state.stopped { return }
        entry(name, in: src, dst, as: name, stack: &stack, known: nil, followLink: options.following == .always)
      }
    }
  }

  /// Opens a source subdirectory, creates (or opens, to merge into) its destination, and
  /// refuses the cases that would copy a directory into itself (bind mounts, -L cycles).
  private func openSubdirectory(
    _ name: FilePath, _ ps: DirHandle, _ pd: DirHandle, status: stat
  ) -> (DirHandle, DirHandle)? {
    func fail(_ syscall: String, _ errno: Errno, _ message: String, refusal: Bool = false) {
      let paths = [ps.path.appending(name.components), pd.path.appending(name.components)]
      state.fail(ZeroCopyError(.treeCopy, syscall: syscall, errno: errno, paths: paths, message: message, isRefusal: refusal))
    }
    let follow = options.following == .always
    let sfd: FileDescriptor
    do throws(Errno) {
      sfd = try ps.descriptor.open(
        relative: name, .readOnly, options: follow ? [.directory, .closeOnExec] : [.directory, .closeOnExec, .noFollow],
        retryOnInterrupt: false)
    } catch {
      fail("openat", error, "cannot open the source directory")
      return nil
    }
    let own: stat
    do throws(Errno) {
      own = try sfd.status().rawValue
    } catch {
      try? sfd.close()
      fail("fstat", error, "cannot stat the source directory")
      return nil
    }
    let src = DirHandle(fd: sfd.rawValue, node: TreeNode(name, in: ps.node, own))
    if ps.node.isOrIsBelow(own) {
      fail(
        "fstat", .tooManySymbolicLinkLevels,
        follow
          ? "cannot copy cyclic symbolic link (it names a directory above it)"
          : "the directory is its own ancestor (a bind mount loop); not copied", refusal: true)
      return nil
    }
    if UInt64(own.st_dev) == destinationRoot.device && UInt64(own.st_ino) == destinationRoot.inode {
      fail(
        "fstat", .invalidArgument, "cannot copy a directory into itself: this is the destination (mounted inside the source)",
        refusal: true)
      return nil
    }
    let modes = directoryModes(status)
    var created = true
    var oldMode: mode_t? = nil
    do throws(Errno) {
      try pd.descriptor.createDirectory(name, permissions: FilePermissions(rawValue: modes.create))
    } catch {
      let e = error
      guard e == .fileExists, let existing = try? pd.descriptor.status(of: name, followingSymbolicLinks: false).rawValue,
        existing.st_mode & S_IFMT == S_IFDIR
      else {
        fail(
          "mkdirat", e,
          e == .fileExists
            ? "cannot overwrite non-directory with directory (the destination exists and is not a directory)"
            : "cannot create the directory")
        return nil
      }
      created = false
      if existing.st_mode & 0o700 != 0o700 { oldMode = TreeWalker.makeOwnerWritable(pd.descriptor, name) }
    }
    let dfd: FileDescriptor
    do throws(Errno) {
      dfd = try pd.descriptor.open(
        relative: name, .readOnly, options: [.directory, .noFollow, .closeOnExec], retryOnInterrupt: false)
    } catch {
      fail("openat", error, "cannot open the destination directory")
      return nil
    }
    let other = (try? dfd.status().rawValue) ?? stat()
    if other.st_dev == own.st_dev && other.st_ino == own.st_ino {
      try? dfd.close()
      fail(
        "fstat", .invalidArgument, "the source and the destination are the same directory (a bind mount?); not copied",
        refusal: true)
      return nil
    }
    if created {
      policy.onEvent?(CopyEvent(kind: .copying, source: src.path, destination: pd.path.appending(name.components)))
    }
    let dst = DirHandle(
      fd: dfd.rawValue, node: TreeNode(name, in: pd.node, other),
      finish: .init(
        source: src, status: status, created: created, modeWithoutPreserve: created ? modes.final : oldMode,
        options: options, state: state))
    state.directoryDone()
    return (src, dst)
  }

  /// One entry of a source directory (or the root, when it is not a directory): cp's rules
  /// for an existing destination, hard links, then the entry by kind.
  private func entry(
    _ name: FilePath, in src: DirHandle, _ dst: DirHandle, as destinationName: FilePath, stack: inout [Item],
    known: stat?, followLink: Bool
  ) {
    let sourcePath = { src.path.appending(name.components) }
    let destinationPath = { dst.path.appending(destinationName.components) }
    func fail(_ syscall: String, _ errno: Errno, _ message: String, refusal: Bool = false) {
      state.fail(
        ZeroCopyError(
          .treeCopy, syscall: syscall, errno: errno, paths: [sourcePath(), destinationPath()], message: message,
          isRefusal: refusal))
    }
    var st: stat
    if let known {
      st = known
    } else {
      do throws(Errno) {
        st = try src.descriptor.status(of: name, followingSymbolicLinks: false).rawValue
      } catch {
        return fail("fstatat", error, "cannot stat the source entry")
      }
    }
    // The root was stat'ed following a link already (-H, -L): open it following too.
    var followed = known != nil && followLink
    if followLink && st.st_mode & S_IFMT == S_IFLNK {
      // cp -L: what the link names (a dangling link is an error, as for cp).
      do throws(Errno) {
        st = try src.descriptor.status(of: name, followingSymbolicLinks: true).rawValue
      } catch {
        return fail("fstatat", error, "cannot stat the symbolic link's target")
      }
      followed = true
    }
    let kind = st.st_mode & S_IFMT
    if kind == S_IFDIR {
      stack.append(.pending(source: src, destination: dst, name: name, status: st))
      return
    }
    // An existing destination, in cp's order: -n, the same-file refusal, -u, -i, a
    // directory in the way, then removal (--remove-destination; a hard link with
    // --preserve=links, so that writing it does not change its other names).
    if policy.inspectsExisting {
      if let existing = try? dst.descriptor.status(of: destinationName, followingSymbolicLinks: false).rawValue {
        if policy.existing == .skip { return state.skipped() }
        let sameInode = existing.st_dev == st.st_dev && existing.st_ino == st.st_ino
        if sameInode && kind == S_IFREG && policy.replace != .removeFirst {
          return fail(
            "fstatat", .invalidArgument,
            "source and destination are the same file (device \(st.st_dev), inode \(st.st_ino)); not opened for writing",
            refusal: true)
        }
        if policy.existing == .replaceIfOlder && !CopyPolicy.isOlder(existing, than: st) {
          // cp -u: kept, but another name of a source copied before still becomes its hard
          // link (replacing this file), and a kept file stands for its source's later names.
          if let map = state.hardLinks, kind != S_IFDIR, st.st_nlink > 1 || followed {
            switch map.claim(st, .path(destinationPath())) {
            case .path(let earlier)?:
              policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath(), destination: destinationPath()))
              return linkByPath(earlier, dst, destinationName, fail)
            case .inFlight(let first)? where first.addLink(in: dst, name: destinationName, sourcePath: sourcePath()):
              return
            default: break
            }
          }
          return state.skipped()
        }
        let isDirectory = existing.st_mode & S_IFMT == S_IFDIR
        // cp -i asks before a directory in the way too (then refuses it if the answer is yes).
        if let confirm = policy.confirmReplace {
          let question = ReplaceQuestion(
            destination: destinationPath(), mode: UInt32(existing.st_mode & 0o7777),
            isWritable: (try? dst.descriptor.checkWritable(destinationName)) != nil,
            willRemove: policy.replace != .writeInto)
          if !confirm(question) { return state.skipped() }
        }
        if isDirectory {
          return fail("fstatat", .isDirectory, "cannot overwrite directory with non-directory", refusal: true)
        }
        let linked = policy.preserve.contains(.links) && existing.st_nlink > 1
        if policy.replace == .removeFirst || linked {
          do throws(Errno) {
            try dst.descriptor.removeEntry(destinationName)
          } catch  where error != .noSuchFileOrDirectory {
            return fail("unlinkat", error, "cannot remove the destination")
          } catch {}
          policy.onEvent?(CopyEvent(kind: .removed, source: nil, destination: destinationPath()))
        }
      }
    }
    // --preserve=links: a source met before becomes a hard link of its copy.
    var job: FileJob? = nil
    if kind == S_IFREG {
      job = FileJob(
        source: src, destination: dst, sourceName: name, destinationName: destinationName, status: st,
        followSource: followed, state: state, policy: policy)
    }
    var claimed = false
    if let map = state.hardLinks, st.st_nlink > 1 || followed || options.following == .always {
      let mine: HardLinkMap.Entry = job.map { .inFlight($0) } ?? .path(destinationPath())
      switch map.claim(st, mine) {
      case nil:
        claimed = true
        job?.linksTo = map
      case .inFlight(let first)?:
        if first.addLink(in: dst, name: destinationName, sourcePath: sourcePath()) {
          policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath(), destination: destinationPath()))
          return
        }
        // Settled meanwhile: it is a path now (or gone, then this one copies).
        if case .path(let earlier)? = map.claim(st, mine) {
          policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath(), destination: destinationPath()))
          return linkByPath(earlier, dst, destinationName, fail)
        }
        claimed = true
        job?.linksTo = map
      case .path(let earlier)?:
        policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath(), destination: destinationPath()))
        return linkByPath(earlier, dst, destinationName, fail)
      }
    }
    policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath(), destination: destinationPath()))
    switch kind {
    case S_IFREG:
      sink.copy(job!)
      return
    case S_IFLNK:
      if !copySymlink(name, src, dst, as: destinationName, status: st, fail: fail) && claimed { state.hardLinks?.set(st, nil) }
    default:
      if !makeSpecial(name, src, dst, as: destinationName, status: st, fail: fail) && claimed { state.hardLinks?.set(st, nil) }
    }
  }

  /// A hard link to an earlier copy, by its path.
  private func linkByPath(_ earlier: FilePath, _ dst: DirHandle, _ name: FilePath, _ fail: (String, Errno, String, Bool) -> Void)
  {
    if let made = TreeWalker.link(.currentWorkingDirectory, earlier, dst.descriptor, name) {
      return fail("linkat", made, "cannot create a hard link to \(earlier.shellQuoted)", false)
    }
    state.linkDone()
  }

  /// The attributes of a symbolic link or special file just created, as the policy says.
  private func entryMetadata(
    _ name: FilePath, _ src: DirHandle, _ dst: DirHandle, as destinationName: FilePath, status: stat, kind: MetadataKind,
    modeWithoutPreserve: mode_t?, fail: (String, Errno, String, Bool) -> Void
  ) -> Bool {
    guard !policy.preserve.isEmpty || modeWithoutPreserve != nil else { return true }
    let current: stat
    do throws(Errno) {
      current = try dst.descriptor.status(of: destinationName, followingSymbolicLinks: false).rawValue
    } catch {
      fail("fstatat", error, "cannot stat the new entry", false)
      return false
    }
    do {
      let notes = try CopyMetadata(policy: policy).apply(
        from: .entry(directory: src.fd, name: name), status: status, to: .entry(directory: dst.fd, name: destinationName),
        current: current, kind: kind, created: true, mayHaveACL: dst.hasDefaultACL, modeWithoutPreserve: modeWithoutPreserve)
      for note in notes { state.warn("\(dst.path.appending(destinationName.components).shellQuoted): \(note)") }
      return true
    } catch {
      fail(error.syscall, error.errno, error.message, false)
      return false
    }
  }

  /// A FIFO, a socket or a device node, recreated (`mknodat`) as cp `-r` does; an existing
  /// entry (not a directory) is replaced. Devices need `CAP_MKNOD` (root): `EPERM` otherwise.
  private func makeSpecial(
    _ name: FilePath, _ src: DirHandle, _ dst: DirHandle, as destinationName: FilePath, status: stat,
    fail: (String, Errno, String, Bool) -> Void
  ) -> Bool {
    let what: String
    switch status.st_mode & S_IFMT {
    case S_IFIFO: what = "fifo"
    case S_IFSOCK, S_IFCHR, S_IFBLK: what = "special file"
    default:
      fail("fstatat", .notSupported, "unknown file type (mode \(String(status.st_mode, radix: 8)))", true)
      return false
    }
    let preserveMode = policy.preserve.contains(.mode)
    var mode = status.st_mode & ~mode_t(0o7777)
    mode |=
      preserveMode
      ? 0o600 : (policy.defaultPermissions ? (status.st_mode & S_IFMT == S_IFSOCK ? 0o777 : 0o666) : status.st_mode & 0o7777)
    let directory = dst.descriptor
    let node = { () throws(Errno) in
      try directory.createNode(destinationName, mode: FileMode(rawValue: mode), device: DeviceID(rawValue: status.st_rdev))
    }
    do throws(Errno) {
      do throws(Errno) {
        try node()
      } catch  where error == .fileExists {
        // Replaced when it is not a directory; else the mknodat's EEXIST stands.
        guard let existing = try? directory.status(of: destinationName, followingSymbolicLinks: false).rawValue,
          existing.st_mode & S_IFMT != S_IFDIR, (try? directory.removeEntry(destinationName)) != nil
        else { throw error }
        try node()
      }
    } catch {
      fail("mknodat", error, "cannot create \(what)", false)
      return false
    }
    guard entryMetadata(name, src, dst, as: destinationName, status: status, kind: .special, modeWithoutPreserve: nil, fail: fail)
    else {
      return false
    }
    state.specialDone()
    return true
  }

  /// A symbolic link copied as a link (the same target bytes); an existing link with that
  /// target is kept, anything else but a directory is replaced. Returns whether it worked.
  private func copySymlink(
    _ name: FilePath, _ src: DirHandle, _ dst: DirHandle, as destinationName: FilePath, status: stat,
    fail: (String, Errno, String, Bool) -> Void
  ) -> Bool {
    let capacity = Int(status.st_size) + 2
    let target: [UInt8]
    do throws(Errno) {
      target = try src.descriptor.symbolicLinkTarget(name, capacity: max(capacity, Int(PATH_MAX) + 1) - 1)
    } catch {
      fail("readlinkat", error, "cannot read the symbolic link", false)
      return false
    }
    let n = target.count
    do throws(Errno) {
      try dst.descriptor.createSymbolicLink(destinationName, to: target)
    } catch {
      let e = error
      guard e == .fileExists else {
        fail("symlinkat", e, "cannot create the symbolic link", false)
        return false
      }
      let existing: stat
      do throws(Errno) {
        existing = try dst.descriptor.status(of: destinationName, followingSymbolicLinks: false).rawValue
      } catch {
        fail("fstatat", error, "cannot stat the existing destination", false)
        return false
      }
      if existing.st_mode & S_IFMT == S_IFDIR {
        fail("symlinkat", .isDirectory, "cannot overwrite directory with non-directory (a symbolic link)", true)
        return false
      }
      var same = false
      if existing.st_mode & S_IFMT == S_IFLNK {
        let old = try? dst.descriptor.symbolicLinkTarget(destinationName, capacity: n + 2)
        same = old == target
      }
      if !same {
        do throws(Errno) {
          try dst.descriptor.removeEntry(destinationName)
        } catch {
          fail("unlinkat", error, "cannot replace the existing destination", false)
          return false
        }
        do throws(Errno) {
          try dst.descriptor.createSymbolicLink(destinationName, to: target)
        } catch {
          fail("symlinkat", error, "cannot create the symbolic link", false)
          return false
        }
      }
    }
    guard entryMetadata(name, src, dst, as: destinationName, status: status, kind: .symlink, modeWithoutPreserve: nil, fail: fail)
    else {
      return false
    }
    state.symlinkDone()
    return true
  }
}
