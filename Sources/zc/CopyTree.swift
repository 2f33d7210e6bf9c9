// zc copy -r SRC DST: a directory tree through ZeroCopy's TreeCopy.

import ArgumentParser
import SystemPackage
import ZeroCopy

/// The options of `zc copy -r`. Each is optional so that giving one without -r can be
/// refused (``given``) instead of ignored.
struct TreeFlags: ParsableArguments {
  @Flag(name: [.customShort("r"), .long], help: "Copy the directory SRC to DST like `cp -rT` (merge into an existing DST).")
  var recursive = false

  @Option(name: .long, help: "How files are copied: uring, threads, sequential or automatic (uring, else threads; default).")
  var engine: String?

  @Option(name: .long, help: "Files in flight at once, 1 to \(TreeCopy.maximumJobs) (ring lanes or threads; default 32 for uring, 8 for threads).")
  var jobs: Int?

  @Flag(name: .long, help: "Report errors and go on with the rest of the tree (exit status 1 at the end).")
  var keepGoing = false

  @Flag(name: .long, help: "Copy access and modification times too.")
  var preserveTimes = false

  @Option(name: .long, help: "How existing files are replaced: overwrite (write, then ftruncate; default) or truncate (O_TRUNC, like cp).")
  var overwrite: String?

  @Flag(name: .long, help: "Print the totals as one JSON object.")
  var treeJSON = false

  func validate() throws {
    if let jobs, !(1...TreeCopy.maximumJobs).contains(jobs) {
      throw ValidationError("--jobs must be between 1 and \(TreeCopy.maximumJobs) (got \(jobs))")
    }
    _ = try resolvedEngine()
    _ = try resolvedOverwrite()
  }

  /// The tree options given on the command line, by name.
  var given: [String] {
    var names: [String] = []
    if engine != nil { names.append("--engine") }
    if jobs != nil { names.append("--jobs") }
    if keepGoing { names.append("--keep-going") }
    if preserveTimes { names.append("--preserve-times") }
    if overwrite != nil { names.append("--overwrite") }
    if treeJSON { names.append("--tree-json") }
    return names
  }

  func resolvedEngine() throws -> TreeCopy.Engine {
    guard let engine else { return .automatic }
    guard let e = TreeCopy.Engine(rawValue: engine) else {
      throw ValidationError(
        "unknown engine \(RawArguments.quoted(engine)); known: \(TreeCopy.Engine.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return e
  }

  func resolvedOverwrite() throws -> TreeCopy.OverwriteMode {
    guard let overwrite else { return .overwriteThenTruncate }
    guard let o = TreeCopy.OverwriteMode(rawValue: overwrite) else {
      throw ValidationError("unknown overwrite mode \(RawArguments.quoted(overwrite)); known: overwrite, truncate")
    }
    return o
  }
}

extension Copy {
  func runTree(source: String, destination: String, fsync: Bool, sparse: SparseMode, quiet: Bool) async throws {
    let monitor = TransferMonitor()
    Interruption.onInterrupt { monitor.cancel() }
    let options = TreeCopy.Options(
      engine: try tree.resolvedEngine(), jobs: tree.jobs, fsync: fsync, keepGoing: tree.keepGoing,
      preserveTimes: tree.preserveTimes, overwrite: try tree.resolvedOverwrite(), sparse: sparse, monitor: monitor)
    let report: TreeCopy.Report
    do {
      report = try await TreeCopy.copy(from: RawArguments.path(source), to: RawArguments.path(destination), options: options)
    } catch {
      Interruption.exitIfInterrupted()
      printError(failureLine("copy -r", error))
      throw ExitCode.failure
    }
    Interruption.exitIfInterrupted()
    for error in report.errors { printError(failureLine("copy -r", error)) }
    if tree.treeJSON {
      print(treeJSON(report))
    } else if !quiet || !report.errors.isEmpty {
      print("copied \(report)")
    }
    if !report.errors.isEmpty { throw ExitCode.failure }
  }

  private func treeJSON(_ r: TreeCopy.Report) -> String {
    let c = r.duration.components
    let seconds = Double(c.seconds) + Double(c.attoseconds) / 1e18
    var s = "{\"files\":\(r.files),\"directories\":\(r.directories),\"symlinks\":\(r.symlinks),\"bytes\":\(r.bytes)"
    s += ",\"errors\":\(r.errors.count),\"seconds\":\(seconds),\"engine\":\"\(r.engine)\",\"jobs\":\(r.jobs)"
    if let reason = r.fallbackReason { s += ",\"fallbackReason\":\"\(reason.replacingOccurrences("\"", "'"))\"" }
    return s + "}"
  }
}

extension String {
  fileprivate func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
}
