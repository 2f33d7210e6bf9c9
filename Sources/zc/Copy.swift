// zc copy SRC DST, and zc copy -r SRC DST (TreeCopy; options in CopyTree.swift)

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

struct Copy: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Copy a file like cp, with the chosen (or automatic) strategy.",
    discussion: """
      Like cp, with its refusals and exit status: a new destination gets the source's \
      permissions (less the umask); an existing file keeps its own and is truncated; a \
      directory destination receives the file under the source's name; DST ending in '/' \
      must be a directory (ENOTDIR otherwise). The source itself as destination (the same \
      path, a hard link, a symbolic link to it, a bind mount) is refused ("same file") before \
      anything is opened for writing. A destination that is a symbolic link is written \
      through, a dangling one is refused; a FIFO or device (/dev/null) is written in place, \
      never replaced.

      SRC may be a regular file, a FIFO, a character device, /dev/stdin, or - for standard \
      input: streams are read from their current position to their end.

      Holes (--sparse, as cp): auto (default) copies only the data segments of a file with \
      holes and sets its length, so a 3 GiB file with 8 KiB of data costs 8 KiB of copying; \
      always also turns runs of zeros into holes (the data then goes through user space: the \
      report says so); never writes holes as zeros.

      --atomic writes a temporary file beside the destination and renames it over the \
      destination at the end: readers see the old file or the new one, never a partial copy. \
      It applies to regular files (a symbolic link's target file is replaced, the link kept); \
      a FIFO or a device is written in place as without --atomic (the report says so).

      On SIGINT, SIGTERM or SIGHUP the copy is cancelled, a temporary file is removed (the \
      destination stays as it was), and zc dies of the signal within a fraction of a second.

      With -r, DST becomes a copy of the directory SRC like `cp -rT SRC DST`: an existing \
      DST is merged into and its files overwritten; permissions are copied, symbolic links \
      are copied as links (never followed), holes are kept, and the totals are printed. A \
      destination file that is the source file (a hard link, as after `cp -al`) is refused, \
      never truncated; DST inside SRC is refused before anything is created ("cannot copy a \
      directory into itself"). Interrupted, a tree copy removes the new files it was writing \
      (an existing one is cut to the bytes written) and dies of the signal.

      Options that do not apply to the chosen mode are refused (exit status 64).
      """)

  @Argument(help: "The file to copy (- for standard input), or with -r the directory.")
  var source: String

  @Argument(help: "The destination file, or a directory to copy into (DST/ must be one).")
  var destination: String

  @Flag(name: .long, help: "Write a temporary file next to the destination and rename it over the destination at the end.")
  var atomic = false

  @Flag(name: .long, help: "fsync the copy (and with --atomic, the directory) before exiting.")
  var fsync = false

  @Option(name: .long, help: "Holes: auto (data segments of files with holes; default), always (runs of zeros too), never.")
  var sparse: String?

  @OptionGroup var flags: TransferFlags

  @OptionGroup(title: "Directory trees") var tree: TreeFlags

  func validate() throws {
    _ = try resolvedSparse()
    if tree.recursive {
      var fileOnly = flags.given
      if atomic { fileOnly.insert("--atomic", at: 0) }
      if !fileOnly.isEmpty {
        throw ValidationError("\(fileOnly.joined(separator: ", ")) cannot be used with -r: they apply to single files (--tree-json prints a tree's totals)")
      }
      if source == "-" { throw ValidationError("-r copies a directory; standard input (-) is not one") }
    } else {
      let treeOnly = tree.given
      if !treeOnly.isEmpty { throw ValidationError("\(treeOnly.joined(separator: ", ")) cannot be used without -r: they apply to directory trees") }
    }
  }

  func resolvedSparse() throws -> SparseMode {
    guard let sparse else { return .auto }
    guard let mode = SparseMode(rawValue: sparse) else {
      throw ValidationError("unknown --sparse value \(RawArguments.quoted(sparse)); known: auto, always, never")
    }
    return mode
  }

  func run() async throws {
    if tree.recursive {
      return try await runTree(source: source, destination: destination, fsync: fsync, sparse: try resolvedSparse(), quiet: flags.quiet)
    }
    let strategy = try flags.resolvedStrategy()
    let monitor = TransferMonitor()
    Interruption.onInterrupt { monitor.cancel() }
    let options = CopyOptions(
      atomic: atomic, fsync: fsync, sparse: try resolvedSparse(),
      destination: RawArguments.endsWithSlash(destination) ? .intoDirectory : .automatic,
      transfer: TransferOptions(allowFallback: !flags.noFallback, monitor: monitor))
    let sourcePath = RawArguments.path(source)
    let destinationPath = RawArguments.path(destination)
    let report: TransferReport
    do {
      try checkSourceSlash()
      report = try await withProgressLine(monitor, label: "copy", quiet: flags.quiet) {
        if source == "-" {
          return try await Transfer.copy(
            from: FileDescriptor.standardInput, named: nil, to: destinationPath, strategy: strategy, options: options)
        }
        return try await Transfer.copy(from: sourcePath, to: destinationPath, strategy: strategy, options: options)
      }
    } catch let error as ZeroCopyError {
      Interruption.exitIfInterrupted()
      // The names as typed: a trailing slash (which FilePath drops) is part of the refusal.
      var typed = [destinationPath: RawArguments.quoted(destination)]
      typed[sourcePath] = RawArguments.quoted(source)  // the same path twice: one entry
      printError(failureLine("copy", error, names: typed))
      throw ExitCode.failure
    }
    Interruption.exitIfInterrupted()
    flags.printReport(report)
  }

  /// A source written with a trailing slash must be a directory (cp: "cannot stat 'f/': Not
  /// a directory"); `FilePath` drops the slash, so the raw bytes are checked here.
  private func checkSourceSlash() throws(ZeroCopyError) {
    guard RawArguments.endsWithSlash(source) else { return }
    var status = stat()
    let raw = RawArguments.bytes(source).map { CChar(bitPattern: $0) } + [0]
    if stat(raw, &status) != 0 {
      throw ZeroCopyError(
        .copy, syscall: "stat", errno: Errno(rawValue: errno), paths: [RawArguments.path(source)],
        message: "cannot stat \(RawArguments.quoted(source))")
    }
  }
}
