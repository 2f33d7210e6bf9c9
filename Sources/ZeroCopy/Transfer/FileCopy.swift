// Copying a file by path, like cp: where to write (CopyDestination), the same-file refusal
// before anything is opened for writing, in-place or atomic replace, holes (SparseCopy),
// streams as sources, fsync.

import Glibc
public import SystemPackage

/// How ``Transfer/copy(from:to:strategy:options:)`` writes the destination.
public struct CopyOptions: Sendable {
  /// Write a temporary file next to the destination and `rename` it over the destination
  /// at the end: readers see the old file or the complete new one, never a partial copy,
  /// and a failed or interrupted copy leaves the destination untouched (the temporary file
  /// is removed; ``CopyCleanup/removeUnfinishedFiles()`` removes it when the process must
  /// exit before the copy returns).
  ///
  /// Applies to a destination that is a regular file or does not exist yet. A symbolic link
  /// to a regular file is kept and its target is replaced (cp writes through the link). A
  /// FIFO, a device or a socket — or a link to one — is never replaced: it is written in
  /// place as the plain copy does (and as cp does), and the report says so in its notes.
  public var atomic: Bool
  /// `fsync` the copy before returning (and, with ``atomic``, the directory after the
  /// rename), so it survives a crash.
  public var fsync: Bool
  /// How holes are copied (``SparseMode/auto`` by default, as cp).
  public var sparse: SparseMode
  /// How the destination path names the file (``Destination/automatic`` by default).
  public var destination: Destination
  /// Options for the transfer itself (fallback, chunk size, monitor).
  public var transfer: TransferOptions
  /// cp's rules: an existing destination (`-n`, `-u`, `-i`, `-f`, `--remove-destination`),
  /// the attributes carried over (`--preserve`), clones (`--reflink`), hard links and the
  /// events `-v` prints (``CopyPolicy``; cp's defaults by default).
  public var policy: CopyPolicy

  /// Options for a copy.
  public init(
    atomic: Bool = false, fsync: Bool = false, sparse: SparseMode = .auto, destination: Destination = .automatic,
    transfer: TransferOptions = TransferOptions(), policy: CopyPolicy = CopyPolicy()
  ) {
    self.atomic = atomic
    self.fsync = fsync
    self.sparse = sparse
    self.destination = destination
    self.transfer = transfer
    self.policy = policy
  }
}

extension Transfer {
  /// Copies the file at `source` to `destination`, like `cp`.
  ///
  /// - A new destination is created with the source's permission bits (`& 0o777`, less
  ///   the umask, as `cp` does); an existing regular file keeps its permissions and is
  ///   truncated; a FIFO or device (`/dev/null`) is written in place, never truncated or
  ///   replaced. A symbolic link is followed (cp writes through it); a dangling one is
  ///   refused (`ENOENT`, "not writing through dangling symlink").
  /// - A destination that is an existing directory receives the file under the source's
  ///   name (``CopyOptions/destination`` chooses otherwise: a trailing slash, `-T`).
  /// - A destination that is the source itself — the same device and inode: the same path,
  ///   a hard link, a symbolic link to it, a bind mount — is refused with `EINVAL` ("same
  ///   file") **before anything is opened for writing**, and checked again on the opened
  ///   descriptor before it is truncated.
  /// - The source is read from its start to its end: a regular file up to its size when
  ///   the copy starts; a FIFO, character device or `/dev/stdin` until end of stream.
  /// - Holes are kept (``CopyOptions/sparse``): only the data segments are copied.
  /// - With ``CopyOptions/atomic``, the copy goes to a temporary file in the destination's
  ///   directory that is renamed over the destination at the end.
  /// - With ``CopyOptions/fsync``, the data (and the directory entry) reach the disk first.
  ///
  /// Cancelling the task (or ``TransferMonitor/cancel()``) stops the copy at the next chunk
  /// with `ECANCELED`: an atomic copy removes its temporary file (the destination is as it
  /// was); an in-place copy leaves the bytes copied so far, as an interrupted cp does.
  ///
  /// - Parameters:
  ///   - source: The file to copy: a regular file, a FIFO, a character device, a /proc file…
  ///   - destination: The path to write, or an existing directory to copy into.
  ///   - strategy: `.automatic` by default.
  ///   - options: Atomic replace, fsync, holes, destination form, transfer options.
  /// - Returns: The transfer's report (for a sparse copy: the data bytes, the segments and
  ///   the holes are in its notes).
  /// - Throws: ``ZeroCopyError`` with operation `copy`: the failing call (`open`, `stat`,
  ///   `ftruncate`, `sendfile`, `rename`, `fsync`…), its errno, both paths, and the bytes
  ///   that reached the destination (or the temporary file, which is then removed).
  ///
  /// The corresponding C functions are `open`, `fstat`, `stat`/`lstat`, `lseek`
  /// (`SEEK_DATA`/`SEEK_HOLE`), `ftruncate`, the strategy's system calls, `fsync`,
  /// `renameat` and `close`.
  public static func copy(
    from source: FilePath, to destination: FilePath, strategy: some TransferStrategy = .automatic,
    options: CopyOptions = CopyOptions()
  ) async throws(ZeroCopyError) -> TransferReport {
    let copyOptions = options
    return try await offloaded(options.transfer) { transferOptions throws(ZeroCopyError) in
      var configured = copyOptions
      configured.transfer = transferOptions
      return try copyBlocking(from: source, to: destination, strategy: strategy, options: configured)
    }
  }

  /// Copies a file like ``copy(from:to:strategy:options:)``, on the calling thread.
  ///
  /// - Throws: ``ZeroCopyError``, as ``copy(from:to:strategy:options:)``.
  public static func copyBlocking(
    from source: FilePath, to destination: FilePath, strategy: some TransferStrategy = .automatic,
    options: CopyOptions = CopyOptions()
  ) throws(ZeroCopyError) -> TransferReport {
    let input: FileDescriptor
    do throws(Errno) {
      input = try FileDescriptor.currentWorkingDirectory.open(
        relative: source, .readOnly, options: .closeOnExec, retryOnInterrupt: false)
    } catch {
      throw ZeroCopyError(
        .copy, syscall: "open", errno: error, paths: [source, destination], message: "cannot open the source")
    }
    defer { try? input.close() }
    let copier = FileCopier(
      input: input.rawValue, sourcePath: source, sourceName: source.lastComponent, destination: destination,
      strategy: strategy, options: options)
    return try copier.run()
  }

  /// Copies what an open descriptor holds — from its current position to its end — to
  /// `destination`, like ``copy(from:to:strategy:options:)``: standard input (a pipe, a
  /// terminal, a redirected file), a socket, a FIFO or a file opened elsewhere. A regular
  /// file's position is advanced past what was copied; the descriptor is not closed.
  ///
  /// - Parameters:
  ///   - source: An open, readable descriptor (borrowed).
  ///   - name: The name the copy takes when `destination` is a directory; nil refuses a
  ///     directory destination (`EISDIR`). Messages show `name`, or `/dev/fd/N`.
  ///   - destination: The path to write, or an existing directory (with `name`).
  ///   - strategy: `.automatic` by default.
  ///   - options: As for ``copy(from:to:strategy:options:)``.
  /// - Throws: ``ZeroCopyError`` (operation `copy`), as ``copy(from:to:strategy:options:)``.
  public static func copy(
    from source: FileDescriptor, named name: FilePath? = nil, to destination: FilePath,
    strategy: some TransferStrategy = .automatic, options: CopyOptions = CopyOptions()
  ) async throws(ZeroCopyError) -> TransferReport {
    let copyOptions = options
    return try await offloaded(options.transfer) { transferOptions throws(ZeroCopyError) in
      var configured = copyOptions
      configured.transfer = transferOptions
      return try copyBlocking(from: source, named: name, to: destination, strategy: strategy, options: configured)
    }
  }

  /// Copies from an open descriptor like ``copy(from:named:to:strategy:options:)``, on
  /// the calling thread.
  ///
  /// - Throws: ``ZeroCopyError``, as ``copy(from:to:strategy:options:)``.
  public static func copyBlocking(
    from source: FileDescriptor, named name: FilePath? = nil, to destination: FilePath,
    strategy: some TransferStrategy = .automatic, options: CopyOptions = CopyOptions()
  ) throws(ZeroCopyError) -> TransferReport {
    let copier = FileCopier(
      input: source.rawValue, sourcePath: name ?? FilePath("/dev/fd/\(source.rawValue)"),
      sourceName: name?.lastComponent, destination: destination, strategy: strategy, options: options)
    return try copier.run()
  }
}

/// One file copy: resolves the destination, opens it (or a temporary file), copies the
/// data (whole, by data segments, or skipping zeros) and finishes (mode, fsync, rename).
private struct FileCopier<Strategy: TransferStrategy> {
  let input: CInt
  let sourcePath: FilePath
  let sourceName: FilePath.Component?
  let destination: FilePath
  let strategy: Strategy
  var options: CopyOptions
  let clock = ContinuousClock()
  let started: ContinuousClock.Instant

  init(
    input: CInt, sourcePath: FilePath, sourceName: FilePath.Component?, destination: FilePath, strategy: Strategy,
    options: CopyOptions
  ) {
    self.input = input
    self.sourcePath = sourcePath
    self.sourceName = sourceName
    self.destination = destination
    self.strategy = strategy
    self.options = options
    if self.options.transfer.monitor == nil { self.options.transfer.monitor = TransferMonitor() }
    started = clock.now
  }

  var monitor: TransferMonitor { options.transfer.monitor! }
  var policy: CopyPolicy { options.policy }

  /// The strategy that moves the data: the one asked for, or with --reflink=never one that
  /// never clones (with its own fallbacks, so the transfer's are off).
  var dataStrategy: any TransferStrategy {
    policy.reflink == .never ? NonCloningStrategy(inner: strategy, fallback: options.transfer.allowFallback) : strategy
  }
  var dataTransferOptions: TransferOptions {
    var transfer = options.transfer
    if policy.reflink == .never { transfer.allowFallback = false }
    return transfer
  }

  func fail(
    _ syscall: String, _ errno: Errno, _ message: String? = nil, target: FilePath? = nil, bytes: Int64 = 0,
    refusal: Bool = false
  ) -> ZeroCopyError {
    ZeroCopyError(
      .copy, syscall: syscall, errno: errno, paths: [sourcePath, target ?? destination], bytesTransferred: bytes,
      message: message, isRefusal: refusal)
  }

  func fail(_ refusal: CopyRefusal) -> ZeroCopyError {
    fail(refusal.syscall, refusal.errno, refusal.message, target: refusal.path, refusal: true)
  }

  func run() throws(ZeroCopyError) -> TransferReport {
    let source: stat
    do throws(Errno) {
      source = try FileDescriptor(rawValue: input).status().rawValue
    } catch {
      throw fail("fstat", error)
    }
    if source.st_mode & S_IFMT == S_IFDIR {
      throw fail("read", .isDirectory, "-r not specified; omitting directory (the source is a directory)", refusal: true)
    }
    let removing = policy.replace == .removeFirst
    var target: CopyDestination
    do {
      target = try CopyDestination.resolve(
        destination, rule: options.destination, sourceName: sourceName, following: !removing,
        loopExists: policy.replace == .removeIfUnwritable)
    } catch {
      throw fail(error)
    }
    // An existing destination, in cp's order: -n keeps it (even the source itself), then
    // the same-file refusal, -u, -i, the directory refusal, --remove-destination.
    if let existing = target.status {
      if policy.existing == .skip { return skipped(target, "the destination exists (no-clobber)") }
      if let refusal = target.refusal(for: source, removing: removing, sourcePath: sourcePath), refusal.errno == .invalidArgument
      {
        throw fail(refusal)
      }
      if policy.existing == .replaceIfOlder && !CopyPolicy.isOlder(existing, than: source) {
        // cp -u with --preserve=links: a source copied before still becomes a hard link of
        // that copy; otherwise this kept file stands for the source's later names.
        if policy.preserve.contains(.links), let map = policy.hardLinks,
          case .path(let earlier)? = map.claim(source, .path(target.path))
        {
          return try link(to: earlier, target)
        }
        return skipped(target, "the destination is not older than the source (update)")
      }
      if let confirm = policy.confirmReplace {  // a directory in the way too, as cp asks
        let question = ReplaceQuestion(
          destination: target.path, mode: UInt32(existing.st_mode & 0o7777),
          isWritable: (try? FileDescriptor.currentWorkingDirectory.checkWritable(target.path)) != nil,
          willRemove: policy.replace != .writeInto)
        if !confirm(question) { return skipped(target, "not replaced (the answer was no)") }
      }
      if let refusal = target.refusal(for: source, removing: removing, sourcePath: sourcePath) { throw fail(refusal) }
      if removing {
        try removeDestination(target.path)
        policy.onEvent?(CopyEvent(kind: .removed, source: nil, destination: target.path))
        target = CopyDestination(path: target.path, kind: .missing, status: nil, isSymbolicLink: false)
      }
    }
    // --preserve=links: a source already copied (through a shared map) becomes a hard link.
    var claimed = false
    if policy.preserve.contains(.links), let map = policy.hardLinks {
      switch map.claim(source, .path(target.path)) {
      case .path(let earlier)?: return try link(to: earlier, target)
      case .inFlight?, nil: claimed = true
      }
    }
    policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath, destination: target.path))
    do {
      if options.atomic {
        switch target.kind {
        case .missing, .regular:
          return try copyAtomically(target, source: source)
        default:
          let note = "not atomic: the destination is \(target.kind.article) and was written in place, as cp does"
          return try copyInPlace(target, source: source, notes: [note])
        }
      }
      return try copyInPlace(target, source: source, notes: [])
    } catch {
      if claimed { policy.hardLinks?.set(source, nil) }
      throw error
    }
  }

  /// Removes the destination `path` (`unlink`); one already gone is fine.
  func removeDestination(_ path: FilePath) throws(ZeroCopyError) {
    do throws(Errno) {
      try FileDescriptor.currentWorkingDirectory.removeEntry(path)
    } catch  where error != .noSuchFileOrDirectory {
      throw fail("unlink", error, "cannot remove the destination", target: path)
    } catch {}
  }

  /// Closes `output`, the destination; `EINTR` is not an error (the descriptor is closed
  /// on Linux, and retrying could close another thread's new descriptor).
  func closeDestination(_ output: CInt, _ message: String? = nil, target: FilePath, bytes: Int64) throws(ZeroCopyError) {
    do {
      try FileDescriptor(rawValue: output).close()
    } catch {
      let errno = error as? Errno ?? .ioError
      if errno != .interrupted { throw fail("close", errno, message, target: target, bytes: bytes) }
    }
  }

  /// The report of a copy that copied nothing.
  func skipped(_ target: CopyDestination, _ why: String) -> TransferReport {
    TransferReport(
      strategy: "none", requestedStrategy: strategy.name, bytes: 0, requestedBytes: nil, sourceEndedEarly: false,
      syscalls: 0, elapsed: clock.now - started, fallbacks: [], notes: ["\(target.path.shellQuoted) kept: \(why)"],
      sourceKind: .file, destinationKind: .file, dataPath: DataPath(.notCopied, reason: why))
  }

  /// --preserve=links: the destination becomes a hard link of `earlier`, the copy of the
  /// same source inode made before (an existing destination is replaced).
  func link(to earlier: FilePath, _ target: CopyDestination) throws(ZeroCopyError) -> TransferReport {
    policy.onEvent?(CopyEvent(kind: .copying, source: sourcePath, destination: target.path))
    let cwd = FileDescriptor.currentWorkingDirectory
    do throws(Errno) {
      do throws(Errno) {
        try cwd.createHardLink(to: earlier, named: target.path, in: cwd)
      } catch  where error == .fileExists {
        try? cwd.removeEntry(target.path)
        try cwd.createHardLink(to: earlier, named: target.path, in: cwd)
      }
    } catch {
      throw fail("linkat", error, "cannot create a hard link to \(earlier.shellQuoted)", target: target.path)
    }
    return TransferReport(
      strategy: "none", requestedStrategy: strategy.name, bytes: 0, requestedBytes: nil, sourceEndedEarly: false,
      syscalls: 1, elapsed: clock.now - started, fallbacks: [], notes: [], sourceKind: .file, destinationKind: .file,
      dataPath: DataPath(.notCopied, reason: "a hard link to \(earlier.shellQuoted), the copy of the same source file"))
  }

  func creationMode(_ source: stat) -> mode_t { policy.creationMode(source) }
  func newFileMode(_ source: stat) -> mode_t { policy.newFileMode(source) }

  /// After the data: the attributes the policy preserves (times, owner, xattrs, mode and
  /// ACLs), or — for a new file created owner-only — its final mode.
  func applyMetadata(
    to output: CInt, source: stat, created: Bool, target: FilePath, bytes: Int64, keepMode: Bool = false
  ) throws(ZeroCopyError) -> [String] {
    let preserve = policy.preserve
    var finalMode: mode_t? = nil
    if created && !keepMode && !preserve.contains(.mode) && creationMode(source) != newFileMode(source) {
      // Created owner-only while the owner could still change: the mode cp's result has.
      finalMode = newFileMode(source) & ~processUmask
    }
    guard !preserve.isEmpty || finalMode != nil else { return [] }
    let current: stat
    do throws(Errno) {
      current = try FileDescriptor(rawValue: output).status().rawValue
    } catch {
      throw fail("fstat", error, target: target, bytes: bytes)
    }
    do {
      return try CopyMetadata(policy: policy).apply(
        from: .descriptor(input), status: source, to: .descriptor(output), current: current, kind: .file,
        created: created, modeWithoutPreserve: finalMode)
    } catch {
      throw fail(error.syscall, error.errno, error.message, target: target, bytes: bytes)
    }
  }

  // MARK: - In place

  /// Opens the destination itself (creating it, or through a symbolic link, or a FIFO or
  /// device as it is), checks it is not the source, truncates a regular file, copies.
  func copyInPlace(_ target: CopyDestination, source: stat, notes: [String]) throws(ZeroCopyError) -> TransferReport {
    var openOptions: FileDescriptor.OpenOptions = .closeOnExec
    var created = false
    switch target.kind {
    case .missing:
      // Never through a symbolic link that appeared since: ELOOP instead.
      openOptions.formUnion([.create, .noFollow])
      created = true
    case .regular:
      if !target.isSymbolicLink { openOptions.insert(.noFollow) }
    default:
      break  // a FIFO or device is opened as it is (a socket answers ENXIO, as for cp)
    }
    let cwd = FileDescriptor.currentWorkingDirectory
    let permissions = FilePermissions(rawValue: creationMode(source))
    func openOutput(_ options: FileDescriptor.OpenOptions) -> Result<FileDescriptor, Errno> {
      Result { () throws(Errno) in
        try cwd.open(relative: target.path, .writeOnly, options: options, permissions: permissions, retryOnInterrupt: false)
      }
    }
    var result = openOutput(openOptions)
    if case .failure(let e) = result, target.kind != .missing, e != .noSuchFileOrDirectory,
      policy.replace == .removeIfUnwritable
    {
      // cp -f: an existing file that cannot be opened is removed and created anew.
      try removeDestination(target.path)
      policy.onEvent?(CopyEvent(kind: .removed, source: nil, destination: target.path))
      result = openOutput([.closeOnExec, .create, .exclusiveCreate, .noFollow])
      created = true
    }
    let outputDescriptor: FileDescriptor
    switch result {
    case .success(let fd): outputDescriptor = fd
    case .failure(let e):
      throw fail("open", e, "cannot create regular file (open the destination)", target: target.path)
    }
    let output = outputDescriptor.rawValue
    var closed = false
    defer { if !closed { try? outputDescriptor.close() } }
    let opened: stat
    do throws(Errno) {
      opened = try outputDescriptor.status().rawValue
    } catch {
      throw fail("fstat", error, target: target.path)
    }
    // Again on the descriptor: the name may have changed since it was resolved.
    if CopyDestination.isSame(opened, source) {
      throw fail("fstat", .invalidArgument, CopyDestination.sameFileMessage(source), target: target.path, refusal: true)
    }
    // Only a regular file is truncated (as O_TRUNC would): a FIFO or /dev/null is written as is.
    if opened.st_mode & S_IFMT == S_IFREG && opened.st_size > 0 {
      do throws(Errno) {
        try outputDescriptor.truncate(toSize: 0)
      } catch {
        throw fail("ftruncate", error, target: target.path)
      }
    }
    var report = try copyData(to: output, status: opened, source: source, target: target.path)
    report.notes = notes + report.notes
    if opened.st_mode & S_IFMT == S_IFREG {
      report.notes += try applyMetadata(to: output, source: source, created: created, target: target.path, bytes: report.bytes)
    }
    if options.fsync && opened.st_mode & S_IFMT == S_IFREG {
      do throws(Errno) {
        try outputDescriptor.synchronize()
      } catch {
        throw fail("fsync", error, target: target.path, bytes: report.bytes)
      }
    }
    closed = true
    try closeDestination(output, target: target.path, bytes: report.bytes)
    return report
  }

  // MARK: - Atomic

  /// Copies into a temporary file in the final file's directory (opened once: every step
  /// after is relative to it), then renames it over the final file. The final file is the
  /// destination, or the target of the symbolic link the destination is.
  func copyAtomically(_ target: CopyDestination, source: stat) throws(ZeroCopyError) -> TransferReport {
    var notes: [String] = []
    var final = target.path
    if target.isSymbolicLink {
      guard let resolved = target.path.withPlatformString({ realpath($0, nil) }) else {
        throw fail(
          "realpath", Errno(rawValue: Glibc.errno), "cannot resolve the destination's symbolic link", target: target.path)
      }
      final = FilePath(platformString: resolved)
      free(resolved)
      notes.append("the symbolic link \(target.path.shellQuoted) was kept; its target \(final.shellQuoted) was replaced")
    }
    guard let baseName = final.lastComponent else {
      throw fail("rename", .isDirectory, "the destination has no file name", target: final)
    }
    let parent = final.removingLastComponent()
    let directoryPath: FilePath = parent.isEmpty ? "." : parent
    let directoryDescriptor: FileDescriptor
    do throws(Errno) {
      directoryDescriptor = try FileDescriptor.currentWorkingDirectory.open(
        relative: directoryPath, .readOnly, options: [.directory, .closeOnExec], retryOnInterrupt: false)
    } catch {
      throw fail("open", error, "cannot open the destination's directory", target: final)
    }
    defer { try? directoryDescriptor.close() }
    let directory = directoryDescriptor.rawValue
    let finalName: [CChar] = baseName.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)) }

    var opening: Result<FileDescriptor, Errno> = .failure(.fileExists)
    var temporaryName: [CChar] = []
    for _ in 0..<16 {
      temporaryName = Self.temporaryName(for: finalName)
      // 0600 while it is written: nobody else reads a partial copy; the mode is set below.
      opening = temporaryName.withUnsafeBufferPointer { name in
        Result { () throws(Errno) in
          try directoryDescriptor.open(
            relative: name.baseAddress!, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
            permissions: [.ownerReadWrite], retryOnInterrupt: false)
        }
      }
      if case .failure(.fileExists) = opening { continue }
      break
    }
    let outputDescriptor: FileDescriptor
    switch opening {
    case .success(let fd): outputDescriptor = fd
    case .failure(let e):
      throw fail("openat", e, "cannot create a temporary file in \(directoryPath.shellQuoted)", target: final)
    }
    let output = outputDescriptor.rawValue
    let temporaryPath = temporaryName.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
    let token = UnfinishedFiles.shared.register(directory: directory, name: temporaryName)
    var renamed = false
    var closed = false
    defer {
      if !closed { try? outputDescriptor.close() }
      if !renamed && UnfinishedFiles.shared.forget(token) { try? directoryDescriptor.removeEntry(temporaryPath) }
    }
    let untouched = "the bytes went to a temporary file, now removed; \(final.shellQuoted) is unchanged"
    let opened: stat
    do throws(Errno) {
      opened = try outputDescriptor.status().rawValue
    } catch {
      throw fail("fstat", error, untouched, target: final)
    }
    var report: TransferReport
    do {
      report = try copyData(to: output, status: opened, source: source, target: final)
    } catch var error {
      error.message = [error.message, untouched].compactMap { $0 }.joined(separator: "; ")
      throw error
    }
    report.notes = notes + report.notes
    // The mode cp's result would have: an existing file keeps its own, a new one gets the
    // source's less the umask. An existing file's owner and group are kept when allowed.
    do throws(Errno) {
      if target.kind == .regular, let old = target.status {
        try outputDescriptor.setPermissions(FilePermissions(rawValue: old.st_mode & 0o7777))
        if old.st_uid != opened.st_uid || old.st_gid != opened.st_gid {
          do throws(Errno) {
            try outputDescriptor.setOwner(user: UserID(rawValue: old.st_uid), group: GroupID(rawValue: old.st_gid))
          } catch {
            report.notes.append(
              "the replaced file's owner \(old.st_uid):\(old.st_gid) could not be kept (\(error.symbolicName))")
          }
        }
      } else {
        try outputDescriptor.setPermissions(FilePermissions(rawValue: newFileMode(source) & ~processUmask))
      }
    } catch {
      throw fail("fchmod", error, untouched, target: final, bytes: report.bytes)
    }
    do {
      report.notes += try applyMetadata(
        to: output, source: source, created: true, target: final, bytes: report.bytes, keepMode: true)
    } catch var error {
      error.message = [error.message, untouched].compactMap { $0 }.joined(separator: "; ")
      throw error
    }
    if options.fsync {
      do throws(Errno) {
        try outputDescriptor.synchronize()
      } catch {
        throw fail("fsync", error, untouched, target: final, bytes: report.bytes)
      }
    }
    closed = true
    try closeDestination(output, untouched, target: final, bytes: report.bytes)
    let finalPath = finalName.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
    let result = UnfinishedFiles.shared.finish(token) { () -> CInt in
      do throws(Errno) {
        try directoryDescriptor.rename(temporaryPath, to: finalPath, in: directoryDescriptor)
        return 0
      } catch {
        return error.rawValue
      }
    }
    guard let result else {
      renamed = true  // nothing left to remove: CopyCleanup removed it
      throw fail(
        "rename", .canceled,
        "the temporary file was removed before the rename (the process is exiting); \(final.shellQuoted) is unchanged",
        target: final, bytes: report.bytes)
    }
    guard result == 0 else {
      try? directoryDescriptor.removeEntry(temporaryPath)
      renamed = true
      throw fail("rename", Errno(rawValue: result), "the destination was left unchanged", target: final, bytes: report.bytes)
    }
    renamed = true
    if options.fsync {
      do throws(Errno) {
        try directoryDescriptor.synchronize()
      } catch {
        throw fail("fsync", error, "the directory", target: final, bytes: report.bytes)
      }
    }
    return report
  }

  /// `.<name>.zc-<random>`, the name cut so that the whole fits in `NAME_MAX` (255) bytes.
  static func temporaryName(for finalName: [CChar]) -> [CChar] {
    let suffix = Array(".zc-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))".utf8).map { CChar(bitPattern: $0) }
    let base = finalName.prefix { $0 != 0 }
    let room = 255 - 1 - suffix.count
    return [CChar(bitPattern: 0x2E)] + base.prefix(room) + suffix + [0]
  }

  // MARK: - Data

  /// Copies the source's bytes into `output` (opened, empty or new): cloned (``CopyPolicy/reflink``),
  /// whole, by data segments, or skipping zeros, as ``CopyOptions/sparse`` and the two
  /// files' kinds decide; the report says which (``TransferReport/dataPath``).
  func copyData(to output: CInt, status: stat, source: stat, target: FilePath) throws(ZeroCopyError) -> TransferReport {
    let sourceIsFile = source.st_mode & S_IFMT == S_IFREG
    let outputIsFile = status.st_mode & S_IFMT == S_IFREG
    var start: Int64? = nil
    if sourceIsFile || source.st_mode & S_IFMT == S_IFBLK {
      do throws(Errno) {
        start = try FileDescriptor(rawValue: input).position()
      } catch {
        throw fail("lseek", error, target: target)
      }
    }
    // A clone first (cp 9: --reflink=auto is the default): the whole file, one ioctl.
    var notCloned: String? = nil
    let cloneable = sourceIsFile && outputIsFile && start == 0
    switch policy.reflink {
    case .always where !cloneable:
      throw fail(
        "ioctl(FICLONE)", .notSupported,
        "failed to clone: --reflink=always clones a whole regular file into a regular file", target: target, refusal: true)
    case .always:
      if let (errno, why) = Cloning.attempt(input, into: output) {
        throw fail("ioctl(FICLONE)", errno, "failed to clone: \(why)", target: target)
      }
      return cloned(source: source, target: target)
    case .auto where cloneable && strategy is AutomaticStrategy:
      if let (errno, why) = Cloning.attempt(input, into: output) {
        if !Cloning.isRefusal(errno) { throw fail("ioctl(FICLONE)", errno, "failed to clone: \(why)", target: target) }
        notCloned = "not cloned: \(why)"
      } else {
        return cloned(source: source, target: target)
      }
    case .auto:
      if cloneable && !(strategy is ReflinkStrategy) && !(strategy is CopyFileRangeStrategy) {
        notCloned = "not cloned: strategy \(strategy.name) was asked for"
      }
    case .never:
      if strategy is ReflinkStrategy || strategy is CopyFileRangeStrategy {
        throw fail(
          "none", .notSupported, "strategy \(strategy.name) may share extents, which --reflink=never forbids",
          target: target, refusal: true)
      }
      notCloned = "not cloned: --reflink=never"
    }
    let holes = sourceIsFile && SparseFiles.looksSparse(source)
    var copied: (report: TransferReport, length: Int64)
    switch options.sparse {
    case .auto where holes && outputIsFile:
      copied = try copySegments(to: output, source: source, from: start ?? 0, target: target)
    case .always where outputIsFile:
      copied = try copySkippingZeros(to: output, status: status, source: source, from: start, target: target)
    default:
      let report = try Transfer.perform(
        TransferRequest(
          from: FileDescriptor(rawValue: input), offset: start, to: FileDescriptor(rawValue: output),
          at: outputIsFile || status.st_mode & S_IFMT == S_IFBLK ? 0 : nil, sourcePath: sourcePath,
          destinationPath: target),
        strategy: dataStrategy, options: dataTransferOptions, operation: .copy)
      copied = (report, report.bytes)
      if holes && options.sparse != .never {
        copied.report.notes.append("holes written as zeros: the destination is not a regular file")
      }
    }
    // A descriptor passed in is left after what was copied.
    if let start { try? FileDescriptor(rawValue: input).setPosition(start + copied.length) }
    copied.report.elapsed = clock.now - started
    copied.report.dataPath = dataPath(of: copied.report, output: output, outputIsFile: outputIsFile, notCloned: notCloned)
    return copied.report
  }

  /// The report of a whole-file clone.
  func cloned(source: stat, target: FilePath) -> TransferReport {
    let size = Int64(source.st_size)
    monitor.setExpected(size)
    monitor.add(size)
    try? FileDescriptor(rawValue: input).setPosition(size)
    return TransferReport(
      strategy: "reflink", requestedStrategy: strategy.name, bytes: size, requestedBytes: nil, sourceEndedEarly: false,
      syscalls: 1, elapsed: clock.now - started, fallbacks: [], notes: [], sourceKind: .file, destinationKind: .file,
      dataPath: DataPath(.cloned, reason: "ioctl(FICLONE): the copy shares the source's extents"))
  }

  /// What kind of copy the strategy that ran made, and why not a faster one.
  func dataPath(of report: TransferReport, output: CInt, outputIsFile: Bool, notCloned: String?) -> DataPath? {
    guard let kind = DataPath.kind(ofStrategy: report.strategy) else {
      return notCloned.map {
        DataPath(.userSpace, reason: "strategy \(report.strategy) (not built in: its kind is assumed); \($0)")
      }
    }
    var reasons: [String] = []
    if let notCloned { reasons.append(notCloned) }
    if kind == .userSpace {
      if report.strategy == "readWrite" && report.notes.contains(where: { $0.hasPrefix("sparse always") }) {
        reasons.append("--sparse=always reads the data to find runs of zeros")
      } else if let last = report.fallbacks.last {
        reasons.append("not in the kernel: \(last)")
      } else if report.requestedStrategy != "automatic" {
        reasons.append("strategy \(report.requestedStrategy) was asked for")
      } else {
        reasons.append(
          "the automatic plan's choice for \(report.sourceKind) to \(report.destinationKind) of this size (Docs/Transfer.md)")
      }
    }
    let reason = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    if report.strategy == "copyFileRange" && outputIsFile && report.bytes > 0 {
      return Cloning.afterCopyFileRange(output, reason: reason)
    }
    return DataPath(kind, reason: reason)
  }

  /// The data segments one transfer each (the strategy that worked for the first is kept for
  /// the others), then the length set with `ftruncate`: the holes cost nothing.
  func copySegments(
    to output: CInt, source: stat, from start: Int64, target: FilePath
  ) throws(ZeroCopyError) -> (report: TransferReport, length: Int64) {
    let size = Int64(source.st_size)
    monitor.setExpected(Swift.min(Swift.max(0, size - start), Int64(source.st_blocks) * 512))
    var segments = SparseFiles.Segments(input, from: start, to: size)
    var merged = ReportMerger(requested: strategy.name)
    var chosen: any TransferStrategy = dataStrategy
    var length = size - start
    var count = 0
    while true {
      let segment: Range<Int64>?
      do {
        segment = try segments.next()
      } catch {
        throw fail("lseek(SEEK_DATA)", error, "cannot find the source's data segments", target: target, bytes: merged.bytes)
      }
      guard let segment else { break }
      count += 1
      let report: TransferReport
      do {
        report = try Transfer.perform(
          TransferRequest(
            from: FileDescriptor(rawValue: input), offset: segment.lowerBound,
            count: segment.upperBound - segment.lowerBound, to: FileDescriptor(rawValue: output),
            at: segment.lowerBound - start, sourcePath: sourcePath, destinationPath: target),
          strategy: chosen, options: dataTransferOptions, operation: .copy, setsExpectedBytes: false)
      } catch var error {
        error.bytesTransferred += merged.bytes
        throw error
      }
      if merged.isEmpty, report.strategy != chosen.name, policy.reflink != .never,
        let used = TransferStrategies.named(report.strategy)
      {
        chosen = used
      }
      merged.add(report)
      if report.sourceEndedEarly {
        // The source shrank while it was copied: the copy ends where its data ended.
        length = segment.lowerBound + report.bytes - start
        merged.notes.append("the source shrank while it was copied; the copy ends at \(length) bytes")
        break
      }
    }
    do throws(Errno) {
      try FileDescriptor(rawValue: output).truncate(toSize: length)
    } catch {
      throw fail("ftruncate", error, "cannot set the copy's length", target: target, bytes: merged.bytes)
    }
    merged.syscalls += segments.syscalls + 1
    if segments.holesUnsupported {
      merged.notes.append("holes not detected: this filesystem refuses lseek(SEEK_DATA); the file was copied whole")
    } else {
      merged.notes.append(
        "sparse: \(merged.bytes) bytes of data in \(count) segments copied; \(length - merged.bytes) bytes of holes kept (ftruncate)"
      )
    }
    return (merged.report(defaultStrategy: strategy.name, elapsed: clock.now - started), length)
  }

  /// `--sparse=always`: the data through a buffer, blocks of zeros skipped (holes), the
  /// length set with `ftruncate`. A regular source's own holes are not even read. The
  /// requested strategy, if not a user-space one, is recorded as a fallback saying why.
  func copySkippingZeros(
    to output: CInt, status: stat, source: stat, from start: Int64?, target: FilePath
  ) throws(ZeroCopyError) -> (report: TransferReport, length: Int64) {
    let why = "--sparse=always: the data passes through user space to find runs of zeros"
    let userSpace = strategy is AutomaticStrategy || strategy is ReadWriteStrategy
    if !userSpace && !options.transfer.allowFallback {
      throw fail("none", .notSupported, "strategy \(strategy.name) cannot make holes of zero runs (\(why))", target: target)
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128 << 10, alignment: 4096)
    defer { buffer.deallocate() }
    let monitor = self.monitor
    let block = Int(status.st_blksize)
    var written: Int64 = 0
    var syscalls = 0
    var length: Int64
    func run(_ offset: Int64?, _ outputOffset: Int64, _ count: Int64?) throws(ZeroCopyError) -> SparseFiles.ZeroRunResult {
      do {
        let done = try SparseFiles.copySkippingZeros(
          from: input, at: offset, to: output, at: outputOffset, count: count, block: block, buffer: buffer
        ) { monitor.isCancelled ? .canceled : nil }
        written += done.bytesWritten
        syscalls += done.syscalls
        monitor.add(done.bytesRead)
        return done
      } catch {
        let message = error.errno == .canceled ? "the copy was cancelled" : nil
        throw fail(error.syscall, error.errno, message, target: target, bytes: written + error.result.bytesWritten)
      }
    }
    if let start, source.st_mode & S_IFMT == S_IFREG {
      // A regular file: its holes are skipped without reading them.
      let size = Int64(source.st_size)
      monitor.setExpected(Swift.max(0, size - start))
      length = size - start
      var segments = SparseFiles.Segments(input, from: start, to: size)
      while true {
        let segment: Range<Int64>?
        do {
          segment = try segments.next()
        } catch {
          throw fail("lseek(SEEK_DATA)", error, "cannot find the source's data segments", target: target, bytes: written)
        }
        guard let segment else { break }
        let done = try run(segment.lowerBound, segment.lowerBound - start, segment.upperBound - segment.lowerBound)
        if done.reachedEnd {
          length = segment.lowerBound + done.bytesRead - start  // the source shrank
          break
        }
      }
      syscalls += segments.syscalls
    } else {
      length = try run(start, 0, nil).bytesRead
    }
    do throws(Errno) {
      try FileDescriptor(rawValue: output).truncate(toSize: length)
    } catch {
      throw fail("ftruncate", error, "cannot set the copy's length", target: target, bytes: written)
    }
    var fallbacks: [TransferReport.Fallback] = []
    if !userSpace { fallbacks.append(.init(strategy: strategy.name, errno: nil, syscall: nil, reason: why)) }
    let report = TransferReport(
      strategy: "readWrite", requestedStrategy: strategy.name, bytes: written, requestedBytes: nil,
      sourceEndedEarly: false, syscalls: syscalls + 1, elapsed: clock.now - started, fallbacks: fallbacks,
      notes: ["sparse always: \(written) bytes written; \(length - written) bytes of zeros left as holes"],
      sourceKind: source.st_mode & S_IFMT == S_IFREG ? .file : .pipe, destinationKind: .file)
    return (report, length)
  }
}

/// Sums the reports of a copy made of several transfers (one per data segment).
struct ReportMerger {
  let requested: String
  var strategy: String?
  var bytes: Int64 = 0
  var syscalls = 0
  var fallbacks: [TransferReport.Fallback] = []
  var notes: [String] = []
  var sourceKind: TransferEndpoint.Kind = .file
  var destinationKind: TransferEndpoint.Kind = .file
  var isEmpty: Bool { strategy == nil }

  init(requested: String) { self.requested = requested }

  mutating func add(_ report: TransferReport) {
    if strategy == nil {
      strategy = report.strategy
      sourceKind = report.sourceKind
      destinationKind = report.destinationKind
    }
    bytes += report.bytes
    syscalls += report.syscalls
    for fallback in report.fallbacks where !fallbacks.contains(fallback) { fallbacks.append(fallback) }
    for note in report.notes where !notes.contains(note) { notes.append(note) }
  }

  func report(defaultStrategy: String, elapsed: Duration) -> TransferReport {
    TransferReport(
      strategy: strategy ?? defaultStrategy, requestedStrategy: requested, bytes: bytes, requestedBytes: nil,
      sourceEndedEarly: false, syscalls: syscalls, elapsed: elapsed, fallbacks: fallbacks, notes: notes,
      sourceKind: sourceKind, destinationKind: destinationKind)
  }
}

/// `--reflink=never`: the strategy asked for, then (when fallback is allowed, or for
/// `automatic`) the automatic plan without `copy_file_range`, which clones on Btrfs and XFS.
private struct NonCloningStrategy: TransferStrategy {
  let inner: any TransferStrategy
  let fallback: Bool

  var name: String { inner.name }
  var summary: String { inner.summary + " (never sharing extents)" }

  static func clones(_ strategy: any TransferStrategy) -> Bool {
    strategy is CopyFileRangeStrategy || strategy is ReflinkStrategy
  }

  func candidates(for pair: EndpointPair, bytes: Int64?) -> [any TransferStrategy] {
    let automatic = inner as? AutomaticStrategy
    var list: [any TransferStrategy] = automatic == nil ? [inner] : []
    if automatic != nil || fallback {
      list += (automatic ?? AutomaticStrategy()).plan(for: pair, bytes: bytes).filter {
        !Self.clones($0) && $0.name != inner.name
      }
    }
    return list
  }

  func support(for pair: EndpointPair) -> StrategySupport {
    candidates(for: pair, bytes: nil).isEmpty ? .unsupported("no strategy that never clones fits \(pair)") : .supported
  }

  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    let bytes = context.remainingBytes ?? context.source.size.map { Swift.max(0, $0 - (context.sourceOffset ?? 0)) }
    let list = candidates(for: context.pair, bytes: bytes)
    guard !list.isEmpty else { return .unsupported(reason: "no strategy that never clones fits", errno: nil, syscall: nil) }
    return try context.transfer(tryingInOrder: list)
  }
}
