// zc copy -r SRC DST: a directory tree through ZeroCopy's TreeCopy.

import ArgumentParser
import SystemPackage
import ZeroCopy


/// The options of `zc copy -r`.
struct TreeFlags: ParsableArguments {
  @Flag(name: [.customShort("r"), .long], help: "Copy the directory SRC to DST like `cp -rT` (merge into an existing DST).")
  var recursive = false

  @Option(name: .long, help: "How files are copied: uring, threads, sequential or automatic (uring, else threads).")
  var engine: String = "automatic"

  @Option(name: .long, help: "Files in flight at once (ring lanes or threads; default 32 for uring, 8 for threads).")
  var jobs: Int?

  @Flag(name: .long, help: "Report errors and go on with the rest of the tree (exit status 1 at the end).")
  var keepGoing = false

  @Flag(name: .long, help: "Copy access and modification times too.")
  var preserveTimes = false

  @Option(name: .long, help: "How existing files are replaced: overwrite (write, then ftruncate; default) or truncate (O_TRUNC, like cp).")
  var overwrite: String = "overwrite"

  @Flag(name: .long, help: "Print the totals as one JSON object.")
  var treeJSON = false

  func validate() throws {
    if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    _ = try resolvedEngine()
    _ = try resolvedOverwrite()
  }

  func resolvedEngine() throws -> TreeCopy.Engine {
    guard let e = TreeCopy.Engine(rawValue: engine) else {
      throw ValidationError("unknown engine '\(engine)'; known: \(TreeCopy.Engine.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return e
  }

  func resolvedOverwrite() throws -> TreeCopy.OverwriteMode {
    guard let o = TreeCopy.OverwriteMode(rawValue: overwrite) else {
      throw ValidationError("unknown overwrite mode '\(overwrite)'; known: overwrite, truncate")
    }
    return o
  }
}

extension Copy {
  func runTree(source: String, destination: String, fsync: Bool, quiet: Bool) async throws {
    let options = TreeCopy.Options(
      engine: try tree.resolvedEngine(), jobs: tree.jobs, fsync: fsync, keepGoing: tree.keepGoing,
      preserveTimes: tree.preserveTimes, overwrite: try tree.resolvedOverwrite())
    let report: TreeCopy.Report
    do {
      report = try await TreeCopy.copy(from: FilePath(source), to: FilePath(destination), options: options)
    } catch {
      printError(failureLine("copy -r", error))
      throw ExitCode.failure
    }
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
