// zerocopy-bench: measures every transfer strategy against its C twin and its peers,
// verifying every byte. `make bench` runs `zerocopy-bench run` in release mode.

import ArgumentParser
import BenchKit
import Foundation

/// The `zerocopy-bench` command line (run through ``ZeroCopyBenchmark/main(strategies:subjects:arguments:)``).
struct ZeroCopyBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zerocopy-bench",
    abstract: "Measure swift-zerocopy's transfer strategies, verified byte for byte, beside C and peers.",
    subcommands: [
      Run.self, Explain.self, Compare.self, Check.self, Report.self, ReferenceCommand.self, SyscallProbe.self,
      StraceCheckCommand.self,
      DirectReadsCommand.self, TreeCopyBench.self, ReflinkBench.self, SparseCopyBench.self, SyscallsCommand.self,
      SyscallsTraceCommand.self, LoopCommand.self,
    ],
    defaultSubcommand: Run.self)
}

/// Paths shared by the subcommands.
struct Locations: ParsableArguments {
  @Option(help: "Repository root (results go to ROOT/bench-results, C tools are read from ROOT/build/bench).")
  var repo: String = FileManager.default.currentDirectoryPath

  @Option(help: "Directory of the C reference programs (default: REPO/build/bench).")
  var tools: String?

  var toolsDirectory: String { tools ?? "\(repo)/build/bench" }
}

struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the benchmark (default: about 5 minutes on 2 cores).")

  @Flag(help: "About a minute: 3 rounds, sizes up to 64 MiB, a 64 MiB random-read file.") var quick = false
  @Flag(help: "Everything: 7 rounds, 1 GiB to every destination.") var full = false
  @Flag(help: "Seconds: the subset `make bench-test` runs (3 rounds, 4 KiB and 1 MiB, four destinations).") var smoke = false
  @Flag(help: "Cold cache: drop the source's pages (posix_fadvise DONTNEED) before every transfer.") var cold = false
  @Flag(help: "Also measure fio and SwiftNIO (make bench-peers builds/installs them).") var peers = false
  @Flag(help: "Leave out coreutils cp and Foundation.") var noPeers = false
  @Flag(help: "Leave out the LinuxIO-layer Swift subjects.") var noLinuxio = false
  @Flag(help: "Leave out the random-read workload.") var noReads = false
  @Flag(help: "Leave out the many-connections workload (256 concurrent 64 KiB transfers to TCP).") var noConcurrent = false
  @Flag(
    help:
      "Let the scheduler place the TCP and pipe cells' senders and receivers (by default the receiver gets a CPU of its own and the senders the others; runs before 2026-12-07 evening were unpinned)."
  ) var unpinned = false
  @Option(
    help:
      "Strategies also measured through the async Transfer.run (comma-separated, `all`, or `none`; default automatic,readWrite,sendfile,splice,copyFileRange)."
  ) var async: String?
  @Option(help: "Only these destinations (comma-separated: file,tmpfs,tcp-read,tcp-splice,pipe,devnull).") var dest: String?
  @Option(help: "Only these sizes (comma-separated, e.g. 4k,1m,1g).") var sizes: String?
  @Option(help: "Rounds (default 5; 3 with --quick/--smoke; 7 with --full).") var rounds: Int?
  @Option(help: "Only subjects whose id contains one of these (comma-separated).") var only: String?
  @Option(
    help:
      "Also measure directIO with these io_uring depths (comma-separated, e.g. 1,8; 1 = pread/pwrite only), as strategies named directIO.depthN."
  ) var directioDepths: String?
  @Option(help: "Also write results.json here.") var json: String?
  @Option(help: "Results directory (default: REPO/bench-results/<date>-<commit>).") var output: String?
  @Flag(help: "Write no results directory (only --json, if given).") var noOutput = false
  @Option(help: "Parent directory of the temporary workspace (default $TMPDIR or /tmp).") var workdir: String?
  @Option(help: "The SwiftNIO peer executable (default: REPO/Benchmarks/Peers/.build-peers/release/zerocopy-bench-nio).") var nio:
    String?
  @Option(
    help:
      "The reference run this run's C programs are compared with, to tell whether the machine ran as fast as then (default: REPO/Docs/bench/reference.json)."
  ) var reference: String?
  @Flag(help: "Do not compare the C programs' times with a reference run.") var noReference = false
  @Flag(help: "Plain progress lines even on a terminal.") var plain = false
  @Flag(help: "Print only warnings and the summary.") var quiet = false
  @OptionGroup var locations: Locations

  func validate() throws {
    if [quick, full, smoke].filter({ $0 }).count > 1 { throw ValidationError("choose one of --quick, --full, --smoke") }
    if noReference && reference != nil { throw ValidationError("--reference and --no-reference exclude each other") }
    if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
  }

  mutating func run() async throws {
    Interrupt.install()
    var o = RunOptions(tools: Tools(directory: locations.toolsDirectory), repository: locations.repo)
    o.mode = smoke ? .smoke : quick ? .quick : full ? .full : .standard
    o.cold = cold
    o.extraPeers = peers
    o.basicPeers = !noPeers
    o.linuxIO = !noLinuxio
    o.reads = !noReads
    o.concurrent = !noConcurrent
    o.placeReceivers = !unpinned
    o.rounds = rounds
    o.quiet = quiet
    o.plainProgress = plain
    o.workspaceBase = workdir
    o.reference = noReference ? nil : reference ?? "\(locations.repo)/\(ReferenceCommand.defaultPath)"
    o.nioTool = nio ?? "\(locations.repo)/Benchmarks/Peers/.build-peers/release/zerocopy-bench-nio"
    if let dest {
      var list: [Destination] = []
      for d in dest.split(separator: ",") {
        guard let v = Destination(rawValue: String(d)) else { throw ValidationError("unknown destination \(d)") }
        list.append(v)
      }
      o.destinations = list
    }
    if let sizes {
      var list: [Int] = []
      for s in sizes.split(separator: ",") {
        guard let v = parseSize(String(s)), v > 0 else { throw ValidationError("bad size \(s)") }
        list.append(v)
      }
      o.sizes = list
    }
    if let only { o.only = only.split(separator: ",").map(String.init) }
    if let directioDepths {
      var depths: [Int] = []
      for d in directioDepths.split(separator: ",") {
        guard let depth = Int(d), (1...64).contains(depth) else { throw ValidationError("bad directIO depth \(d) (1...64)") }
        depths.append(depth)
      }
      SwiftSubjects.registerDirectIODepths(depths)
    }

    let asyncStrategies = async.map { $0 == "none" ? [] : $0.split(separator: ",").map(String.init) }
    let runner = Runner(options: o, sources: SwiftSubjects.sources(asyncStrategies: asyncStrategies))
    let results = try await runner.run()
    let summary = ReportBuilder(results).terminalSummary()
    print(summary)
    let data = try encodeResults(results)
    if let json {
      try data.write(to: URL(fileURLWithPath: json))
      print("results: \(json)")
    }
    if !noOutput {
      let dir = output ?? defaultOutputDirectory(results)
      let n = try writeOutputs(results, to: dir)
      print("results: \(dir)/ (results.json, report.md, summary.txt, \(n) SVG charts)")
    }
    let failed = results.cells.flatMap { c in c.entries.filter { $0.status == .failed }.map { ($0, c.cell) } }
      .filter { !$0.0.subject.contains("corrupting") }
    if !failed.isEmpty {
      for (e, cell) in failed {
        FileHandle.standardError.write(Data("FAILED: \(e.subject) in \(cell): \(e.reason ?? "")\n".utf8))
      }
      throw ExitCode(1)
    }
  }

  func defaultOutputDirectory(_ r: BenchResults) -> String {
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd-HHmmss"
    f.locale = Locale(identifier: "en_US_POSIX")
    return "\(locations.repo)/bench-results/\(f.string(from: Date()))-\(r.commit)"
  }
}

struct Explain: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The classic copy model of each strategy beside the latest measurements.")

  @Option(help: "A results.json (default: the newest under REPO/bench-results).") var results: String?
  @OptionGroup var locations: Locations

  mutating func run() async throws {
    var path = results
    if path == nil {
      let base = "\(locations.repo)/bench-results"
      let dirs = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
      path = dirs.sorted().reversed().map { "\(base)/\($0)/results.json" }.first { FileManager.default.fileExists(atPath: $0) }
    }
    let r = try path.map(loadResults)
    if let path { print("(results: \(path))\n") }
    print(Explainer(results: r).text())
  }
}

struct Compare: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Compare two results.json files.")
  @Argument(help: "The earlier results.json.") var a: String
  @Argument(help: "The later results.json.") var b: String
  @Option(help: "Relative change treated as noise.") var noise: Double = 0.15

  mutating func run() async throws {
    var c = Comparison(try loadResults(a), try loadResults(b))
    c.noise = noise
    print(c.text())
  }
}

struct Check: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Check a results.json: every registered strategy present, every run verified, ratios computed, a planted corrupting strategy caught."
  )
  @Argument(help: "The results.json to check.") var path: String
  @Flag(help: "Require the planted corrupting strategy (ZEROCOPY_BENCH_PLANT_CORRUPTING=1) to be present.") var expectPlanted =
    false
  @Option(
    help: "Require only these registered strategies (comma-separated; for a run made with --only), each measured in every cell.")
  var strategies: String?

  mutating func run() async throws {
    var r = try loadResults(path)
    var required: [String] = []
    if let strategies {
      required = strategies.split(separator: ",").map(String.init)
      let missing = required.filter { !r.registeredStrategies.contains($0) }
      if !missing.isEmpty { throw ValidationError("not registered in this run: \(missing.joined(separator: ", "))") }
      r.registeredStrategies = required
    }
    var problems = ResultsCheck(r).problems()
    for name in required {
      for cr in r.cells where !cr.entries.contains(where: { $0.subject == "swift:\(name)" && $0.status == .measured }) {
        problems.append("\(name) was not measured in \(cr.cell)")
      }
    }
    if expectPlanted && !r.subjects.contains(where: { $0.strategy == "corrupting" }) {
      problems.append("the planted corrupting strategy is missing (run with ZEROCOPY_BENCH_PLANT_CORRUPTING=1)")
    }
    let cellsChecked = r.cells.count
    let measured = r.cells.flatMap(\.entries).filter { $0.status == .measured }.count
    let failed = r.cells.flatMap(\.entries).filter { $0.status == .failed }.count
    print(
      "check \(path): \(cellsChecked) cells, \(measured) verified entries, \(failed) failed entries, \(r.ratios.count) ratios, registered strategies: \(r.registeredStrategies.joined(separator: ", "))"
    )
    for p in problems { print("  problem: \(p)") }
    print("\(problems.isEmpty ? 1 : 0) passed, \(problems.isEmpty ? 0 : 1) failed")
    if !problems.isEmpty { throw ExitCode(1) }
  }
}

/// Writes results.json, report.md, summary.txt and the SVG charts into `dir`; returns the
/// number of charts.
func writeOutputs(_ results: BenchResults, to dir: String) throws -> Int {
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  try encodeResults(results).write(to: URL(fileURLWithPath: "\(dir)/results.json"))
  let renderer = ChartRenderer(results)
  var charts = renderer.transferCharts()
  if let r = renderer.readChart() { charts.append(r) }
  for (name, svg) in charts { try svg.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
  try ReportBuilder(results).markdown(charts: charts.map(\.0))
    .write(toFile: "\(dir)/report.md", atomically: true, encoding: .utf8)
  try ReportBuilder(results).terminalSummary().write(toFile: "\(dir)/summary.txt", atomically: true, encoding: .utf8)
  return charts.count
}

struct Report: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Re-render report.md, summary.txt and the charts of a results.json (ratios recomputed).")
  @Argument(help: "The results.json.") var path: String
  @Option(help: "Where to write (default: the results file's directory).") var output: String?
  @Option(help: "Compare the run's C programs with this reference run again (default: keep the comparison it recorded).")
  var reference: String?

  mutating func run() async throws {
    var r = try loadResults(path)
    Analysis.computeRatios(&r)
    if let reference {
      // The note of the comparison the run recorded gives way to the new one.
      if let old = r.steadiness?.warning { r.notes.removeAll { $0 == old } }
      let steadiness = Analysis.steadiness(r, referenceAt: reference)
      r.steadiness = steadiness
      if let warning = steadiness.warning, !r.notes.contains(warning) { r.notes.append(warning) }
    }
    let dir = output ?? URL(fileURLWithPath: path).deletingLastPathComponent().path
    let n = try writeOutputs(r, to: dir)
    print(ReportBuilder(r).terminalSummary())
    print("results: \(dir)/ (results.json, report.md, summary.txt, \(n) SVG charts)")
  }
}

struct ReferenceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reference",
    abstract: "Make a run the reference later runs compare the machine with (its C programs' times per cell).",
    discussion: """
      Writes the measured C subjects' median time per transfer of RESULTS.json, with the run's \
      commit, machine and the digest of the C sources it was built from. `zerocopy-bench run` \
      compares its own C subjects with it and says whether the machine ran as fast as then \
      (steady), slower (do not publish) or faster. Use a published quiet run in the default \
      mode on the machine the benchmark is published from.
      """)
  static let defaultPath = "Docs/bench/reference.json"

  @Argument(help: "The results.json of the run.") var results: String
  @Option(help: "Where to write (default: REPO/Docs/bench/reference.json).") var out: String?
  @OptionGroup var locations: Locations

  mutating func run() async throws {
    let r = try loadResults(results)
    let reference = MachineReference(r)
    guard !reference.entries.isEmpty else {
      throw ValidationError("\(results) has no measured C subject: nothing to compare a later run with")
    }
    var notes: [String] = []
    if r.plan.mode != .standard { notes.append("a \(r.plan.mode.rawValue) run, not the default mode") }
    if r.commit.hasSuffix("-dirty") { notes.append("made from a working tree with local changes") }
    if reference.cSources == nil { notes.append("the run recorded no digest of its C sources (older results)") }
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    let path = out ?? "\(locations.repo)/\(Self.defaultPath)"
    try e.encode(reference).write(to: URL(fileURLWithPath: path))
    print(
      "reference: \(path) — \(reference.entries.count) C subject × cell medians of \(reference.commit) (\(reference.date)), \(reference.cpu), \(reference.cores) cores"
    )
    for n in notes { print("warning: \(n)") }
  }
}
