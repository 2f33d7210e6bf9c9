// Copying a directory tree like `cp -rT SRC DST`, with many files in flight at once.

import Glibc
import LinuxIO
import Synchronization
public import SystemPackage
import URing

/// Copies a directory tree: after ``copy(from:to:options:)`` the destination is a copy of
/// the source, like `cp -rT SRC DST` — an existing destination is merged into and existing
/// files are overwritten. A source that is not a directory is copied as that one entry.
///
/// What is copied, by default as cp `-r` does (``Options/policy`` adds cp's `-p`, `-a`,
/// `--preserve`, `-n`, `-u`, `-i`, `-f`, `--remove-destination`, `--reflink`):
/// - **Regular files**, byte for byte (cloned where the filesystem can: Btrfs, XFS). A new
///   file gets the source's permission bits less the umask (no set-user-ID, set-group-ID or
///   sticky bit); an existing file keeps its mode and owner.
/// - **Directories**, including empty ones. A new one gets the source's permission bits
///   less the umask (a sticky bit kept), applied after its contents so a read-only
///   directory can be filled; an existing one keeps its mode.
/// - **Symbolic links** as links with the same target bytes; they are never written
///   through in the destination (an existing link is replaced). Links in the source are
///   copied as links, or followed (``Options/following``: cp's `-P`, `-H`, `-L`).
/// - **FIFOs, sockets and device nodes**, recreated (`mknodat`) as cp `-r` does (a device
///   needs `CAP_MKNOD`: `EPERM` otherwise, an error naming it).
/// - With ``CopyPolicy/preserve``: times, owner and group, the exact mode and POSIX ACLs,
///   extended attributes, and hard links among the copied files (``CopyAttributes``).
/// - Holes (``Options/sparse``): a file with holes is copied by its data segments.
///
/// Names are handled as raw bytes (`FilePath`), so names that are not UTF-8 are copied
/// exactly; the work goes through directory descriptors and `*at` calls, so a tree deeper
/// than `PATH_MAX` is copied too.
///
/// Nothing is lost: a destination file that is the source file itself (a hard link, a bind
/// mount) is refused ("same file") before it is opened for writing, in every engine and
/// overwrite mode; a destination inside the source is refused before anything is created; a
/// file that cannot be completed (an error, a cancellation) is removed if the copy created it
/// and cut to the bytes written if it existed.
///
/// Three engines do the per-file work (``Engine``): io_uring with many files in flight
/// through one ring, a pool of threads, or one thread. The directory walk is the same for all.
///
/// The corresponding C calls are `openat`, `fstatat`, `getdents64` (`readdir`), `mkdirat`,
/// `readlinkat`, `symlinkat`, `mknodat`, `linkat`, `fchmod(at)`, `fchown(at)`, `utimensat`,
/// `f*xattr`, `ioctl(FICLONE)`, `ftruncate`, `fsync`, `close`, and for the file data
/// `read`/`write` or `copy_file_range` — or the io_uring opcodes `OPENAT`, `READ`, `WRITE`,
/// `FTRUNCATE`, `FSYNC`, `CLOSE`.
public enum TreeCopy {
  /// Which machinery copies the files.
  public enum Engine: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// io_uring if this process may use it, else ``threads``.
    case automatic
    /// One ring driven by the calling thread, ``Options/jobs`` files in flight, each one a
    /// linked chain `openat → openat → read → write → ftruncate → [fsync] → close → close`
    /// on registered (direct) descriptors. Falls back to ``threads`` when io_uring is refused.
    case ioUring = "uring"
    /// ``Options/jobs`` worker threads, each copying one file at a time with blocking calls.
    case threads
    /// The calling thread copies one file after another (for comparison).
    case sequential

    /// The engine's name as the CLI spells it.
    public var description: String { rawValue }
  }

  /// How an existing destination file is replaced.
  public enum OverwriteMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Open without `O_TRUNC`, write the new bytes over the old ones, then `ftruncate` to
    /// the new size when the old file was longer. On ext4 this avoids `auto_da_alloc`'s
    /// writeback on close (which a truncation to 0 arms) — see Docs/TreeCopy.md.
    case overwriteThenTruncate = "overwrite"
    /// Open with `O_TRUNC` (what `cp` does), then write.
    case truncateOnOpen = "truncate"

    /// The mode's short name.
    public var description: String { rawValue }
  }

  /// The most files in flight ``Options/jobs`` may ask for: ring lanes or threads beyond
  /// this only cost memory (128 KiB and two registered files per lane).
  public static let maximumJobs = 1024

  /// Options for a tree copy.
  public struct Options: Sendable {
    /// The engine (default ``Engine/automatic``).
    public var engine: Engine
    /// Files in flight at once (ring lanes or worker threads), 1 to ``TreeCopy/maximumJobs``
    /// (a larger value is used as the maximum). `nil` picks 32 for io_uring and 8 for threads.
    public var jobs: Int?
    /// `fsync` every copied file and every destination directory before returning.
    public var fsync: Bool
    /// Continue after an error and collect it in ``Report/errors`` (like `cp`, which
    /// reports and goes on); when false the first error stops the copy and is thrown.
    public var keepGoing: Bool
    /// Copy access and modification times too (like `cp -p` does for times): the same as
    /// ``CopyAttributes/timestamps`` in ``policy``'s ``CopyPolicy/preserve``.
    public var preserveTimes: Bool {
      get { policy.preserve.contains(.timestamps) }
      set { if newValue { policy.preserve.insert(.timestamps) } else { policy.preserve.remove(.timestamps) } }
    }
    /// How existing destination files are written (in place, or `O_TRUNC`).
    public var overwrite: OverwriteMode
    /// How holes are copied (``SparseMode/auto`` by default, as cp): a file with holes is
    /// copied by its data segments, then cut to its length.
    public var sparse: SparseMode
    /// Watches the copy (bytes of the files done so far) and cancels it
    /// (``TransferMonitor/cancel()``), from any thread — the way to cancel
    /// ``TreeCopy/copyBlocking(from:to:options:)``; cancelling the task of
    /// ``TreeCopy/copy(from:to:options:)`` does the same.
    public var monitor: TransferMonitor?
    /// cp's rules: attributes (`-p`, `-a`, `--preserve`), existing destinations (`-n`, `-u`,
    /// `-i`, `-f`, `--remove-destination`), clones (`--reflink`), hard links, `-v`'s events.
    public var policy: CopyPolicy
    /// Which symbolic links in the source are followed. The default, ``SymlinkFollowing/source``,
    /// follows the source itself if it is a link to a directory (cp `-H`); cp `-r`'s
    /// default is ``SymlinkFollowing/never`` (`zc copy -r` passes it).
    public var following: SymlinkFollowing
    /// Counts the entries done, for a progress display (nil: none).
    public var progress: Progress?
    /// The pool the io_uring engine leases its ring from (tests give it a pool of their own).
    internal var ringPool: RingPool = .shared

    /// Options for a tree copy.
    ///
    /// - Precondition: `jobs` is nil or in `1...TreeCopy.maximumJobs`.
    public init(
      engine: Engine = .automatic, jobs: Int? = nil, fsync: Bool = false, keepGoing: Bool = false,
      preserveTimes: Bool = false, overwrite: OverwriteMode = .overwriteThenTruncate, sparse: SparseMode = .auto,
      monitor: TransferMonitor? = nil, policy: CopyPolicy = CopyPolicy(), following: SymlinkFollowing = .source,
      progress: Progress? = nil
    ) {
      precondition(
        jobs.map { (1...TreeCopy.maximumJobs).contains($0) } ?? true,
        "TreeCopy.Options: jobs must be in 1...\(TreeCopy.maximumJobs)")
      self.engine = engine
      self.jobs = jobs
      self.fsync = fsync
      self.keepGoing = keepGoing
      self.overwrite = overwrite
      self.sparse = sparse
      self.monitor = monitor
      self.policy = policy
      self.following = following
      self.progress = progress
      if preserveTimes { self.policy.preserve.insert(.timestamps) }
    }
  }

  /// What a tree copy did.
  public struct Report: Sendable, CustomStringConvertible {
    /// Regular files copied.
    public var files: Int = 0
    /// Directories created or merged into (the root included).
    public var directories: Int = 0
    /// Symbolic links copied.
    public var symlinks: Int = 0
    /// File bytes copied.
    public var bytes: Int64 = 0
    /// Errors (with ``Options/keepGoing``; otherwise the first one is thrown instead).
    public var errors: [ZeroCopyError] = []
    /// Wall time of the whole copy.
    public var duration: Duration = .zero
    /// The engine that copied the files.
    public var engine: Engine = .sequential
    /// Files in flight at once.
    public var jobs: Int = 1
    /// Why a requested engine was not used (io_uring refused…), if it was not, or why it
    /// stopped part-way (the ring failed: the files in flight and after went through
    /// blocking calls).
    public var fallbackReason: String?
    /// FIFOs, sockets and device nodes recreated.
    public var specialFiles: Int = 0
    /// Hard links made instead of copies (``CopyAttributes/links``).
    public var hardLinks: Int = 0
    /// Entries kept as they were (``ExistingFilePolicy/skip``, ``ExistingFilePolicy/replaceIfOlder``,
    /// a "no" to ``CopyPolicy/confirmReplace``).
    public var skipped: Int = 0
    /// Regular files by how their data was copied (``DataPath/Kind``: cloned, in the
    /// kernel, through user space).
    public var dataPaths: [DataPath.Kind: Int] = [:]
    /// Why files were not copied a faster way, with how many files each reason covers
    /// (`FICLONE: EOPNOTSUPP (this filesystem cannot share extents)`: 2000).
    public var dataPathReasons: [String: Int] = [:]
    /// Attributes that could not be preserved but are not required (see
    /// ``CopyPolicy/required``), one line each.
    public var warnings: [String] = []

    /// "2000 cloned" / "12 in the kernel, 1988 through user space".
    public var dataPathSummary: String {
      let names: [(DataPath.Kind, String)] = [
        (.cloned, "cloned"), (.partlyCloned, "partly cloned"), (.kernel, "copied in the kernel"),
        (.userSpace, "copied through user space"),
      ]
      return names.compactMap { kind, name in dataPaths[kind].map { "\($0) \(name)" } }.joined(separator: ", ")
    }

    /// One line: totals, how the data was copied (and why not faster), engine, time.
    public var description: String {
      let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
      var s = "\(files) files, \(directories) directories, \(symlinks) symlinks, \(bytes) bytes"
      if specialFiles > 0 { s += ", \(specialFiles) special files" }
      if hardLinks > 0 { s += ", \(hardLinks) hard links" }
      if skipped > 0 { s += ", \(skipped) kept" }
      s += ", \(errors.count) errors in \((seconds * 1000).rounded() / 1000) s (engine \(engine), jobs \(jobs))"
      if !dataPaths.isEmpty {
        s += "; data: \(dataPathSummary)"
        let reasons = dataPathReasons.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
        if !reasons.isEmpty { s += " (" + reasons.map { "\($0.key): \($0.value)" }.joined(separator: "; ") + ")" }
      }
      if let fallbackReason { s += "; fell back: \(fallbackReason)" }
      return s
    }

    /// The report as one JSON object on one line (what `zc copy -r --tree-json` prints).
    public var json: String {
      let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
      var s = "{\"files\":\(files),\"directories\":\(directories),\"symlinks\":\(symlinks),\"specialFiles\":\(specialFiles)"
      s += ",\"hardLinks\":\(hardLinks),\"skipped\":\(skipped),\"bytes\":\(bytes),\"errors\":\(errors.count)"
      s += ",\"seconds\":\(seconds.isFinite ? seconds : 0),\"engine\":\(jsonString(engine.rawValue)),\"jobs\":\(jobs)"
      let kinds = DataPath.Kind.allCases.filter { $0 != .notCopied }.map { "\(jsonString($0.rawValue)):\(dataPaths[$0] ?? 0)" }
      s += ",\"dataPaths\":{\(kinds.joined(separator: ","))}"
      let reasons = dataPathReasons.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\($0.value)" }
      s += ",\"dataPathReasons\":{\(reasons.joined(separator: ","))}"
      s += ",\"warnings\":[\(warnings.map(jsonString).joined(separator: ","))]"
      s += ",\"fallbackReason\":\(fallbackReason.map(jsonString) ?? "null")"
      return s + "}"
    }
  }

  /// Entries done so far, and the totals to expect when they are known: for a progress
  /// display (``Options/progress``; bytes are in ``Options/monitor``). Thread-safe.
  public final class Progress: Sendable {
    private let done = Atomic<Int>(0)
    private let expectedFiles = Atomic<Int>(-1)
    private let expectedBytes = Atomic<Int64>(-1)

    /// A counter at zero, totals unknown.
    public init() {}

    /// Files, links and special files done (copied, linked, kept).
    public var entriesDone: Int { done.load(ordering: .relaxed) }
    /// The entries to expect, once counted (``measure(_:following:)``).
    public var expectedEntries: Int? {
      let value = expectedFiles.load(ordering: .relaxed)
      return value < 0 ? nil : value
    }
    /// The file bytes to expect, once counted.
    public var expectedBytesTotal: Int64? {
      let value = expectedBytes.load(ordering: .relaxed)
      return value < 0 ? nil : value
    }
    /// Records the totals to expect.
    public func setExpected(entries: Int, bytes: Int64) {
      expectedBytes.store(bytes, ordering: .relaxed)
      expectedFiles.store(entries, ordering: .relaxed)
    }

    func fileDone() { done.add(1, ordering: .relaxed) }
  }

  /// Copies the tree at `source` into `destination` (see ``TreeCopy``), on a thread of its
  /// own so that no task of the cooperative pool blocks.
  ///
  /// Cancelling the task (or ``Options/monitor``'s ``TransferMonitor/cancel()``) stops the
  /// copy: no new file or directory is started; a file whose last piece is already in
  /// flight finishes (an io_uring chain in the kernel, a file of one buffer); any other file
  /// in flight is undone at its next piece — removed if this copy created it, cut to the
  /// bytes written if it existed (as cp leaves a file it was interrupted on), so no partial
  /// file keeps the look of a complete one. Then `ECANCELED` is thrown with the counts.
  ///
  /// - Parameters:
  ///   - source: A directory (a symbolic link naming one is followed, at the top only).
  ///   - destination: Created if missing (its parent must exist); merged into if it is a
  ///     directory. It must not be `source` or inside it (refused before anything is created).
  ///   - options: Engine, overwrite mode, metadata, errors (``Options``).
  /// - Returns: The totals. With ``Options/keepGoing`` the errors are in ``Report/errors``.
  /// - Throws: ``ZeroCopyError`` (operation `treeCopy`) naming the failing call, its errno
  ///   and both paths: for the roots (`EINVAL` "cannot copy a directory into itself"), and —
  ///   without ``Options/keepGoing`` — for the first entry that failed (files still in flight
  ///   are finished or undone first; none is left open). `ECANCELED` when cancelled, its
  ///   ``ZeroCopyError/bytesTransferred`` the bytes of the files completed and its message
  ///   the counts of files, directories and links done and of files undone.
  public static func copy(
    from source: FilePath, to destination: FilePath, options: Options = Options()
  ) async throws(ZeroCopyError) -> Report {
    var options = options
    let monitor = options.monitor ?? TransferMonitor()
    options.monitor = monitor
    if Task.isCancelled { monitor.cancel() }
    let configured = options
    let result: Result<Report, ZeroCopyError> = await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let started = startThread(name: "zc-treecopy", cpu: nil) {
          continuation.resume(
            returning: Result { () throws(ZeroCopyError) in
              try copyBlocking(from: source, to: destination, options: configured)
            })
        }
        if case .failure(let errno) = started {
          continuation.resume(
            returning: .failure(
              ZeroCopyError(.treeCopy, syscall: "pthread_create", errno: errno, paths: [source, destination])))
        }
      }
    } onCancel: {
      monitor.cancel()
    }
    return try result.get()
  }

  /// Copies a tree like ``copy(from:to:options:)``, on the calling thread (which, with the
  /// io_uring engine, drives the ring). ``Options/monitor`` cancels it from another thread.
  ///
  /// - Throws: ``ZeroCopyError``, as ``copy(from:to:options:)``.
  public static func copyBlocking(
    from source: FilePath, to destination: FilePath, options: Options = Options()
  ) throws(ZeroCopyError) -> Report {
    let clock = ContinuousClock()
    let start = clock.now
    var options = options
    if options.monitor == nil { options.monitor = TransferMonitor() }
    let state = TreeCopyState(options: options)
    let (sink, engine, jobs, reason) = makeSink(options: options, state: state)
    var report = Report()
    report.engine = engine
    report.jobs = jobs
    report.fallbackReason = reason
    do {
      let walker = TreeWalker(options: options, state: state, sink: sink)
      walker.run(source: source, destination: destination)
    }
    sink.finish()
    if let copier = sink as? IOURingTreeCopier, let failure = copier.ringFailure, report.fallbackReason == nil {
      report.fallbackReason = failure
    }
    let totals = state.snapshot()
    report.files = totals.files
    report.directories = totals.directories
    report.symlinks = totals.symlinks
    report.bytes = totals.bytes
    report.errors = totals.errors
    report.specialFiles = totals.specialFiles
    report.hardLinks = totals.hardLinks
    report.skipped = totals.skipped
    report.dataPaths = totals.dataPaths
    report.dataPathReasons = totals.reasons
    report.warnings = totals.warnings
    report.duration = clock.now - start
    if state.cancelled {
      var message = "cancelled: \(totals.files) files, \(totals.directories) directories, \(totals.symlinks) symlinks, "
      message += "\(totals.bytes) bytes copied; \(totals.undone) files in flight undone"
      if !totals.errors.isEmpty { message += "; \(totals.errors.count) errors before" }
      throw ZeroCopyError(
        .treeCopy, syscall: "cancellation", errno: .canceled, paths: [source, destination],
        bytesTransferred: totals.bytes, message: message)
    }
    if !options.keepGoing, let first = totals.errors.first { throw first }
    return report
  }

  /// Counts what a copy of `source` would do: its entries that are not directories
  /// (files, links, special files) and the bytes of its regular files (a file with holes
  /// counts its data), walking it as the copy would (``Options/following``). For a progress
  /// display's totals (``Progress/setExpected(entries:bytes:)``); unreadable parts are skipped.
  ///
  /// The corresponding C calls are `openat`, `getdents64` and `fstatat`.
  public static func measure(_ source: FilePath, following: SymlinkFollowing = .source) -> (entries: Int, bytes: Int64) {
    let cwd = FileDescriptor.currentWorkingDirectory
    guard let st = try? cwd.status(of: source, followingSymbolicLinks: following != .never).rawValue else { return (0, 0) }
    func bytes(_ st: stat) -> Int64 {
      st.st_mode & S_IFMT == S_IFREG
        ? Swift.min(Int64(st.st_size), SparseFiles.looksSparse(st) ? Int64(st.st_blocks) * 512 : .max) : 0
    }
    guard st.st_mode & S_IFMT == S_IFDIR else { return (1, bytes(st)) }
    guard
      let root = try? cwd.open(relative: source, .readOnly, options: [.directory, .closeOnExec], retryOnInterrupt: false)
    else { return (0, 0) }
    let follow = following == .always
    let subdirectory: FileDescriptor.OpenOptions = follow ? [.directory, .closeOnExec] : [.directory, .closeOnExec, .noFollow]
    var entries = 0
    var total: Int64 = 0
    // Depth first, one open directory per level (a directory is finished before its
    // parent's next entry), so descriptors grow with the depth only. An unreadable
    // directory counts as empty.
    var levels: [(directory: FileDescriptor, names: [FilePath], next: Int)] = [
      (root, (try? root.directoryEntryNames()) ?? [], 0)
    ]
    while let (directory, names, next) = levels.last {
      guard next < names.count else {
        try? directory.close()
        levels.removeLast()
        continue
      }
      levels[levels.count - 1].next += 1
      guard let child = try? directory.status(of: names[next], followingSymbolicLinks: follow).rawValue else { continue }
      if child.st_mode & S_IFMT != S_IFDIR {
        entries += 1
        total += bytes(child)
      } else if let sub = try? directory.open(
        relative: names[next], .readOnly, options: subdirectory, retryOnInterrupt: false)
      {
        levels.append((sub, (try? sub.directoryEntryNames()) ?? [], 0))
      }
    }
    return (entries, total)
  }

  private static func makeSink(options: Options, state: TreeCopyState) -> (any FileSink, Engine, Int, String?) {
    var reason: String?
    switch options.engine {
    case .sequential:
      return (SequentialSink(options: options, state: state), .sequential, 1, nil)
    case .automatic, .ioUring:
      let lanes = Swift.min(options.jobs ?? 32, maximumJobs)
      switch IOURingTreeCopier.make(options: options, state: state, lanes: lanes) {
      case .success(let sink): return (sink, .ioUring, lanes, nil)
      case .failure(let why): reason = "io_uring: \(why.reason)"
      }
      fallthrough
    case .threads:
      let workers = Swift.min(options.jobs ?? 8, maximumJobs)
      return (ThreadPoolSink(options: options, state: state, workers: workers), .threads, workers, reason)
    }
  }
}

extension ZeroCopyError.Operation {
  /// Copying a directory tree (``TreeCopy``).
  public static let treeCopy = ZeroCopyError.Operation(rawValue: "treeCopy")
}
