// Copying a directory tree like `cp -rT SRC DST`, with many files in flight at once.

import Glibc
public import SystemPackage
import URing

/// Copies a directory tree: after ``copy(from:to:options:)`` the destination is a copy of
/// the source, like `cp -rT SRC DST` — an existing destination is merged into and existing
/// files are overwritten.
///
/// What is copied:
/// - **Regular files**, byte for byte, with the source's permission bits (`& 0o7777`, set
///   explicitly, so neither the umask nor an existing file's old mode remains).
/// - **Directories**, including empty ones, with their permission bits (applied after their
///   contents, so a read-only directory can still be filled).
/// - **Symbolic links** as links with the same target bytes; they are never followed, in
///   the source or in the destination (a file is never written through a link in DST).
/// - Optionally (``Options/preserveTimes``) modification and access times.
/// - Holes (``Options/sparse``): a file with holes is copied by its data segments.
///
/// Names are handled as raw bytes (`FilePath`), so names that are not UTF-8 are copied
/// exactly; the work goes through directory descriptors and `*at` calls, so a tree deeper
/// than `PATH_MAX` is copied too. FIFOs, sockets and device nodes are refused with an error
/// naming them.
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
/// `readlinkat`, `symlinkat`, `fchmod(at)`, `utimensat`, `ftruncate`, `fsync`, `close`, and
/// for the file data `read`/`write` or `copy_file_range` — or the io_uring opcodes
/// `OPENAT`, `READ`, `WRITE`, `FTRUNCATE`, `FSYNC`, `CLOSE`.
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
    /// Copy access and modification times too (like `cp -p` does for times).
    public var preserveTimes: Bool
    /// How existing destination files are replaced.
    public var overwrite: OverwriteMode
    /// How holes are copied (``SparseMode/auto`` by default, as cp): a file with holes is
    /// copied by its data segments, then cut to its length.
    public var sparse: SparseMode
    /// Watches the copy (bytes of the files done so far) and cancels it
    /// (``TransferMonitor/cancel()``), from any thread — the way to cancel
    /// ``TreeCopy/copyBlocking(from:to:options:)``; cancelling the task of
    /// ``TreeCopy/copy(from:to:options:)`` does the same.
    public var monitor: TransferMonitor?

    /// Options for a tree copy.
    ///
    /// - Precondition: `jobs` is nil or in `1...TreeCopy.maximumJobs`.
    public init(
      engine: Engine = .automatic, jobs: Int? = nil, fsync: Bool = false, keepGoing: Bool = false,
      preserveTimes: Bool = false, overwrite: OverwriteMode = .overwriteThenTruncate, sparse: SparseMode = .auto,
      monitor: TransferMonitor? = nil
    ) {
      precondition(
        jobs.map { (1...TreeCopy.maximumJobs).contains($0) } ?? true,
        "TreeCopy.Options: jobs must be in 1...\(TreeCopy.maximumJobs)")
      self.engine = engine
      self.jobs = jobs
      self.fsync = fsync
      self.keepGoing = keepGoing
      self.preserveTimes = preserveTimes
      self.overwrite = overwrite
      self.sparse = sparse
      self.monitor = monitor
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
    /// Why a requested engine was not used (io_uring refused…), if it was not.
    public var fallbackReason: String?

    /// One line: totals, engine, time.
    public var description: String {
      let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
      var s = "\(files) files, \(directories) directories, \(symlinks) symlinks, \(bytes) bytes"
      s += ", \(errors.count) errors in \((seconds * 1000).rounded() / 1000) s (engine \(engine), jobs \(jobs))"
      if let fallbackReason { s += "; fell back: \(fallbackReason)" }
      return s
    }
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
          continuation.resume(returning: Result { () throws(ZeroCopyError) in
            try copyBlocking(from: source, to: destination, options: configured)
          })
        }
        if case .failure(let errno) = started {
          continuation.resume(returning: .failure(
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
    let totals = state.snapshot()
    report.files = totals.files
    report.directories = totals.directories
    report.symlinks = totals.symlinks
    report.bytes = totals.bytes
    report.errors = totals.errors
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

  private static func makeSink(options: Options, state: TreeCopyState) -> (any FileSink, Engine, Int, String?) {
    var reason: String?
    switch options.engine {
    case .sequential:
      return (SequentialSink(options: options, state: state), .sequential, 1, nil)
    case .automatic, .ioUring:
      let lanes = Swift.min(options.jobs ?? 32, maximumJobs)
      switch URingTreeCopier.make(options: options, state: state, lanes: lanes) {
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
