// zc copy SRC DST, and zc copy -r SRC DST (TreeCopy; options in CopyTree.swift)

import ArgumentParser
import SystemPackage
import ZeroCopy

struct Copy: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Copy a file like cp, with the chosen (or automatic) strategy.",
    discussion: """
      A new destination gets the source's permissions; copying a file onto itself (the \
      same inode, e.g. a hard link) is refused before anything is truncated. A destination \
      that is a directory receives the file under its own name.

      With -r, DST becomes a copy of the directory SRC like `cp -rT SRC DST`: an existing \
      DST is merged into and its files overwritten; permissions are copied, symbolic links \
      are copied as links (never followed), and the totals are printed.
      """)

  @Argument(help: "The file to copy.")
  var source: String

  @Argument(help: "The destination file, or a directory to copy into.")
  var destination: String

  @Flag(name: .long, help: "Write a temporary file next to the destination and rename it over the destination at the end.")
  var atomic = false

  @Flag(name: .long, help: "fsync the copy (and with --atomic, the directory) before exiting.")
  var fsync = false

  @OptionGroup var flags: TransferFlags

  @OptionGroup(title: "Directory trees (-r)") var tree: TreeFlags

  func run() async throws {
    if tree.recursive { return try await runTree(source: source, destination: destination, fsync: fsync, quiet: flags.quiet) }
    let strategy = try flags.resolvedStrategy()
    let monitor = TransferMonitor()
    let options = CopyOptions(
      atomic: atomic, fsync: fsync, transfer: TransferOptions(allowFallback: !flags.noFallback, monitor: monitor))
    let report: TransferReport
    do {
      report = try await withProgressLine(monitor, label: "copy", quiet: flags.quiet) {
        try await Transfer.copy(from: FilePath(source), to: FilePath(destination), strategy: strategy, options: options)
      }
    } catch let error as ZeroCopyError {
      printError(failureLine("copy", error))
      throw ExitCode.failure
    }
    flags.printReport(report)
  }
}
