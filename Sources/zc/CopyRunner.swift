// zc copy, one operand after another: cp's per-operand rules (the source looked at as -P,
// -L or -H say; a directory needs -r; --parents' directories), then Transfer.copy for a
// file's data, TreeCopy for a tree, a link or a special file. A failed operand is reported
// and the others are still copied (exit status 1 at the end), as cp does.

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

final class CopyRunner {
  let command: Copy
  let settings: Settings
  /// Whether any operand failed.
  private(set) var failed = false
  /// The trees' shared monitor (cancelled on a signal) and entry counter.
  private let treeMonitor = TransferMonitor()
  private let treeProgress = TreeCopy.Progress()
  private var totals = TreeTotals()
  private var progressLine: TreeProgressLine?
  private let started = ContinuousClock.now

  init(command: Copy, settings: Settings) {
    self.command = command
    self.settings = settings
    let monitor = treeMonitor
    Interruption.onInterrupt { monitor.cancel() }
    if settings.recursive && !settings.quiet && isatty(STDERR_FILENO) == 1 {
      let sources = command.operands.dropLast(command.targetDirectory == nil ? 1 : 0).map(RawArguments.path)
      progressLine = TreeProgressLine(
        monitor: treeMonitor, progress: treeProgress, sources: Array(sources), following: settings.following)
    }
  }

  /// After the last operand: the progress line erased, the trees' totals printed.
  func finish() async {
    if let progressLine { await progressLine.stop() }
    guard settings.recursive, var report = totals.report else { return }
    report.duration = ContinuousClock.now - started
    if command.tree.treeJSON {
      StandardOutput.line(report.json)
    } else if !command.flags.quiet || !report.errors.isEmpty {
      StandardOutput.line("copied \(report)")
    }
  }

  private func report(_ error: ZeroCopyError, names: [FilePath: String] = [:]) {
    printError(failureLine(settings.recursive ? "copy -r" : "copy", error, names: names))
    failed = true
  }

  /// Copies one operand; failures are reported and remembered.
  func copy(_ operation: Copy.Operation) async {
    let sourcePath = RawArguments.path(operation.source)
    var names = [operation.destination: operation.destinationText]
    names[sourcePath] = RawArguments.quoted(operation.source)
    func refuse(_ syscall: String, _ errno: Errno, _ message: String) {
      report(
        ZeroCopyError(
          .copy, syscall: syscall, errno: errno, paths: [sourcePath, operation.destination], message: message, isRefusal: true),
        names: names)
    }
    if operation.source == "-" {
      guard operation.rule != .exactPath || command.targetDirectory == nil && command.operands.count == 2 else {
        return refuse("open", .isDirectory, "standard input (-) has no name to copy it under: give the destination file's name")
      }
      return await copyData(operation, standardInput: true, names: names)
    }
    // A source written with a trailing slash must be a directory ("cannot stat 'f/': Not a directory").
    var status = stat()
    let raw = RawArguments.bytes(operation.source).map { CChar(bitPattern: $0) } + [0]
    let follow = settings.followCommandLine || RawArguments.endsWithSlash(operation.source)
    guard (follow ? stat(raw, &status) : lstat(raw, &status)) == 0 else {
      return report(
        ZeroCopyError(
          .copy, syscall: follow ? "stat" : "lstat", errno: Errno(rawValue: errno), paths: [],
          message: "cannot stat \(RawArguments.quoted(operation.source))", isRefusal: true), names: names)
    }
    let kind = status.st_mode & S_IFMT
    if kind == S_IFDIR && !settings.recursive {
      return refuse("stat", .isDirectory, "-r not specified; omitting directory \(RawArguments.quoted(operation.source))")
    }
    // cp's just-created rule: an operand never replaces (or writes through) what an earlier
    // operand of this command created: `cp a/f b/f dir` keeps a/f's copy and says so.
    var existing = stat()
    let destinationExists = operation.destination.withPlatformString { lstat($0, &existing) } == 0
    if destinationExists && existing.st_mode & S_IFMT != S_IFDIR && created.contains(Identity(operation.destination, existing)) {
      let destination = operation.destinationText
      return refuse(
        "lstat", .fileExists,
        existing.st_mode & S_IFMT == S_IFLNK
          ? "will not copy \(RawArguments.quoted(operation.source)) through just-created symlink \(destination)"
          : "will not overwrite just-created \(destination) with \(RawArguments.quoted(operation.source))")
    }
    defer {
      if operation.destination.withPlatformString({ lstat($0, &existing) }) == 0 && existing.st_mode & S_IFMT != S_IFDIR {
        created.insert(Identity(operation.destination, existing))
      }
    }
    if !operation.parentDirectories.isEmpty && !makeParents(operation, names: names) { return }
    if settings.recursive || kind == S_IFLNK {
      // A tree, or (with -r) a file, link or special file as cp -r copies it; without -r,
      // a symbolic link copied as a link (-P).
      if operation.rule == .intoDirectory && kind != S_IFDIR {
        return refuse("stat", .notDirectory, "the destination ends with '/' but is not a directory")
      }
      await copyTree(operation, names: names, single: !settings.recursive)
    } else {
      await copyData(operation, standardInput: false, names: names)
    }
    if !operation.parentDirectories.isEmpty { finishParents(operation) }
  }

  // MARK: - Files

  private func copyData(_ operation: Copy.Operation, standardInput: Bool, names: [FilePath: String]) async {
    let strategy: any TransferStrategy
    do {
      strategy = try command.flags.resolvedStrategy()
    } catch {
      return
    }
    let monitor = TransferMonitor()
    Interruption.onInterrupt { monitor.cancel() }
    let options = CopyOptions(
      atomic: command.atomic, fsync: command.fsync, sparse: settings.sparse, destination: operation.rule,
      transfer: TransferOptions(allowFallback: !command.flags.noFallback, monitor: monitor), policy: settings.policy)
    let source = RawArguments.path(operation.source)
    let transferReport: TransferReport
    do {
      transferReport = try await withProgressLine(monitor, label: "copy", quiet: settings.quiet) {
        if standardInput {
          return try await Transfer.copy(
            from: FileDescriptor.standardInput, named: nil, to: operation.destination, strategy: strategy, options: options)
        }
        return try await Transfer.copy(from: source, to: operation.destination, strategy: strategy, options: options)
      }
    } catch let error as ZeroCopyError {
      Interruption.exitIfInterrupted()
      return report(error, names: names)
    } catch {
      return
    }
    Interruption.exitIfInterrupted()
    command.flags.printReport(transferReport)
  }

  // MARK: - Trees, links, special files

  private func copyTree(_ operation: Copy.Operation, names: [FilePath: String], single: Bool) async {
    let tree = command.tree
    // A source written with a trailing slash names what a link points to (the path loses
    // its slash as a FilePath): cp -dR link/ d copies the directory.
    var following = settings.following
    if following == .never && RawArguments.endsWithSlash(operation.source) { following = .source }
    let options = TreeCopy.Options(
      engine: (try? tree.resolvedEngine()) ?? .automatic, jobs: tree.jobs, fsync: command.fsync,
      keepGoing: !tree.stopOnError, overwrite: (try? tree.resolvedOverwrite()) ?? .overwriteThenTruncate,
      sparse: settings.sparse, monitor: treeMonitor, policy: settings.policy,
      following: single ? .never : following, progress: treeProgress)
    let result: TreeCopy.Report
    do {
      result = try await TreeCopy.copy(from: RawArguments.path(operation.source), to: operation.destination, options: options)
    } catch {
      Interruption.exitIfInterrupted()
      return report(error, names: names)
    }
    Interruption.exitIfInterrupted()
    for error in result.errors { report(error, names: names) }
    if single {
      // A link copied as a link: the file report says so.
      command.flags.printReport(
        TransferReport(
          strategy: "none", requestedStrategy: "automatic", bytes: 0, requestedBytes: nil, sourceEndedEarly: false,
          syscalls: 0, elapsed: result.duration, fallbacks: [], notes: [], sourceKind: .other, destinationKind: .other,
          dataPath: DataPath(.notCopied, reason: "a symbolic link, copied as a link (-P)")))
    } else {
      totals.add(result)
    }
  }

  // MARK: - --parents

  /// Creates the missing directories of `--parents` (each with its source directory's
  /// permissions less the umask, as cp), printing them with -v as cp does ("a -> d/a").
  private func makeParents(_ operation: Copy.Operation, names: [FilePath: String]) -> Bool {
    for (source, destination) in operation.parentDirectories {
      var existing = stat()
      if destination.withPlatformString({ stat($0, &existing) }) == 0 {
        if existing.st_mode & S_IFMT == S_IFDIR { continue }
        report(
          ZeroCopyError(
            .copy, syscall: "stat", errno: .notDirectory, paths: [source, destination],
            message: "\(destination.shellQuoted) exists but is not a directory", isRefusal: true))
        return false
      }
      var status = stat()
      guard source.withPlatformString({ stat($0, &status) }) == 0 else {
        report(
          ZeroCopyError(
            .copy, syscall: "stat", errno: Errno(rawValue: errno), paths: [source], message: "cannot stat the source directory"))
        return false
      }
      guard destination.withPlatformString({ mkdir($0, (status.st_mode & 0o1777) | 0o700) }) == 0 else {
        report(
          ZeroCopyError(
            .copy, syscall: "mkdir", errno: Errno(rawValue: errno), paths: [source, destination], message: "cannot make directory"
          ))
        return false
      }
      createdParents.append((source, destination, status))
      if command.verbose {
        StandardOutput.line(
          "\(String(decoding: source.bytes, as: UTF8.self)) -> \(String(decoding: destination.bytes, as: UTF8.self))")
      }
    }
    return true
  }

  private var createdParents: [(FilePath, FilePath, stat)] = []

  /// A destination's name and identity (device, inode), as cp's seen_file keys them: another
  /// name of the same file (a hard link made by -d) is not "just created".
  struct Identity: Hashable {
    let path: FilePath
    let device: UInt64
    let inode: UInt64
    init(_ path: FilePath, _ status: stat) {
      self.path = path
      device = UInt64(status.st_dev)
      inode = UInt64(status.st_ino)
    }
  }

  /// What the operands copied so far made (not directories, which later operands merge into).
  private var created: Set<Identity> = []

  /// After the copy: the created directories' attributes, deepest first (cp's
  /// re_protect): with -p, -a or --preserve their times, owners, exact modes and ACLs,
  /// through the library's ``CopyPolicy/applyDirectoryAttributes(from:to:modeWithoutPreserve:)``
  /// (the tree copy's own code); otherwise the source's permissions less the umask. Not
  /// their extended attributes: cp 9.1's re_protect does not copy them (the differential
  /// case "--parents -a" pins it).
  private func finishParents(_ operation: Copy.Operation) {
    defer { createdParents.removeAll() }
    var policy = settings.policy
    policy.preserve.remove(.xattr)
    for (source, destination, status) in createdParents.reversed() {
      let mode = (settings.policy.defaultPermissions ? 0o777 : status.st_mode & 0o1777) & ~currentUmask()
      do throws(ZeroCopyError) {
        let notes = try policy.applyDirectoryAttributes(
          from: source, to: destination, modeWithoutPreserve: FilePermissions(rawValue: CModeT(mode)))
        for note in notes { printError("zc copy: \(destination.shellQuoted): \(note)") }
      } catch {
        report(error)
      }
    }
  }
}

/// The process's umask, as the library reads it (``CopyPolicy/fileCreationMask``: from
/// /proc/self/status, never by setting it — `umask(2)` would change it for an instant in
/// which another thread of the copy could create a file).
func currentUmask() -> mode_t { CopyPolicy.fileCreationMask.rawValue }

extension FilePath {
  /// The path's bytes.
  var bytes: [UInt8] {
    withPlatformString { pointer in
      Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }
    }
  }
}
