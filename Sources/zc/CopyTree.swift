// zc copy -r: the tree options, the totals line (or JSON) and the progress line.

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

/// The options of `zc copy -r`. Each is optional so that giving one without -r can be
/// refused (``given``) instead of ignored.
struct TreeFlags: ParsableArguments {
  @Flag(
    name: [.customShort("r"), .customShort("R"), .long],
    help: "Copy directories recursively (as cp -r: links as links, FIFOs and devices recreated).")
  var recursive = false

  @Option(name: .long, help: "How files are copied: uring, threads, sequential or automatic (uring, else threads; default).")
  var engine: String?

  @Option(
    name: .long,
    help: "Files in flight at once, 1 to \(TreeCopy.maximumJobs) (ring lanes or threads; default 32 for uring, 8 for threads).")
  var jobs: Int?

  @Flag(name: .long, help: "Report errors and go on with the rest of the tree (the default, as cp; exit status 1 at the end).")
  var keepGoing = false

  @Flag(name: .long, help: "Stop at the first error in a tree (files in flight are finished or undone).")
  var stopOnError = false

  @Flag(name: .long, help: "Copy access and modification times too (--preserve=timestamps).")
  var preserveTimes = false

  @Option(
    name: .long,
    help: "How existing files are replaced: overwrite (write, then ftruncate; default) or truncate (O_TRUNC, like cp).")
  var overwrite: String?

  @Flag(name: .long, help: "Print the totals as one JSON object.")
  var treeJSON = false

  func validate() throws {
    if let jobs, !(1...TreeCopy.maximumJobs).contains(jobs) {
      throw ValidationError("--jobs must be between 1 and \(TreeCopy.maximumJobs) (got \(jobs))")
    }
    if keepGoing && stopOnError { throw ValidationError("--keep-going and --stop-on-error contradict each other") }
    _ = try resolvedEngine()
    _ = try resolvedOverwrite()
  }

  /// The tree options given on the command line, by name (--preserve-times applies to
  /// files too).
  var given: [String] {
    var names: [String] = []
    if engine != nil { names.append("--engine") }
    if jobs != nil { names.append("--jobs") }
    if keepGoing { names.append("--keep-going") }
    if stopOnError { names.append("--stop-on-error") }
    if overwrite != nil { names.append("--overwrite") }
    if treeJSON { names.append("--tree-json") }
    return names
  }

  func resolvedEngine() throws -> TreeCopy.Engine {
    guard let engine else { return .automatic }
    guard let e = TreeCopy.Engine(rawValue: engine) else {
      throw ValidationError(
        "unknown engine \(RawArguments.quoted(engine)); known: \(TreeCopy.Engine.allCases.map(\.rawValue).joined(separator: ", "))"
      )
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

/// The sum of the tree copies of one command line (one per operand).
struct TreeTotals {
  var report: TreeCopy.Report?

  mutating func add(_ r: TreeCopy.Report) {
    guard var total = report else {
      report = r
      return
    }
    total.files += r.files
    total.directories += r.directories
    total.symlinks += r.symlinks
    total.bytes += r.bytes
    total.errors += r.errors
    total.specialFiles += r.specialFiles
    total.hardLinks += r.hardLinks
    total.skipped += r.skipped
    total.duration += r.duration
    total.warnings += r.warnings
    for (kind, count) in r.dataPaths { total.dataPaths[kind, default: 0] += count }
    for (reason, count) in r.dataPathReasons { total.dataPathReasons[reason, default: 0] += count }
    if total.fallbackReason == nil { total.fallbackReason = r.fallbackReason }
    report = total
  }
}

/// `zc copy -r`'s progress line on a terminal: entries and bytes done, the rate, and — once
/// a walk of the sources has counted them — the totals, the percentage and the time left.
/// Drawn on standard error after a second, every 250 ms, erased at the end.
final class TreeProgressLine: Sendable {
  let monitor: TransferMonitor
  let progress: TreeCopy.Progress
  private let task: Task<Void, Never>

  /// Starts counting `sources` (on a thread of its own: the walk blocks) and the display.
  init(monitor: TransferMonitor, progress: TreeCopy.Progress, sources: [FilePath], following: SymlinkFollowing) {
    self.monitor = monitor
    self.progress = progress
    startMeasuring(sources, following: following, into: progress)
    task = Task { [monitor, progress] in
      let start = ContinuousClock.now
      do { try await Task.sleep(for: .seconds(1)) } catch { return }
      var drawn = false
      while !Task.isCancelled {
        writeStandardError("\r\u{1B}[2K" + Self.text(monitor, progress, since: start))
        drawn = true
        do { try await Task.sleep(for: .milliseconds(250)) } catch { break }
      }
      if drawn { writeStandardError("\r\u{1B}[2K") }
    }
  }

  /// Erases the line and stops drawing.
  func stop() async {
    task.cancel()
    await task.value
  }

  /// "copy -r: 1234 / 5000 files, 1.2 GiB / 4.0 GiB (30%)  200.0 MiB/s  ETA 14 s".
  static func text(_ monitor: TransferMonitor, _ progress: TreeCopy.Progress, since start: ContinuousClock.Instant) -> String {
    let done = monitor.bytesTransferred
    let entries = progress.entriesDone
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = seconds > 0 ? Double(done) / seconds : 0
    var text = "copy -r: \(entries)"
    if let expected = progress.expectedEntries { text += " / \(expected)" }
    text += " files, \(formatBytes(done))"
    if let total = progress.expectedBytesTotal, total > 0 {
      let percent = Swift.min(100, Int(Double(done) * 100 / Double(total)))
      text += " / \(formatBytes(total)) (\(percent)%)"
      text += "  \(formatBytes(Int64(rate)))/s"
      if rate > 0 { text += "  ETA \(Int((Double(Swift.max(0, total - done)) / rate).rounded(.up))) s" }
    } else {
      text += "  \(formatBytes(Int64(rate)))/s  (counting…)"
    }
    return text
  }
}

/// Counts what the sources hold, on a detached thread, and records it as the expected totals.
private func startMeasuring(_ sources: [FilePath], following: SymlinkFollowing, into progress: TreeCopy.Progress) {
  let job = Unmanaged.passRetained(MeasureJob(sources, following, progress))
  var thread = pthread_t()
  let started = pthread_create(
    &thread, nil,
    { context in
      Unmanaged<MeasureJob>.fromOpaque(context!).takeRetainedValue().run()
      return nil
    }, job.toOpaque())
  if started == 0 { pthread_detach(thread) } else { job.release() }
}

private final class MeasureJob: @unchecked Sendable {
  // @unchecked: immutable; handed to one thread.
  let sources: [FilePath]
  let following: SymlinkFollowing
  let progress: TreeCopy.Progress
  init(_ sources: [FilePath], _ following: SymlinkFollowing, _ progress: TreeCopy.Progress) {
    self.sources = sources
    self.following = following
    self.progress = progress
  }
  func run() {
    var entries = 0
    var bytes: Int64 = 0
    for source in sources {
      let (e, b) = TreeCopy.measure(source, following: following)
      entries += e
      bytes += b
    }
    progress.setExpected(entries: entries, bytes: bytes)
  }
}
