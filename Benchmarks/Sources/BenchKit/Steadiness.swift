// Is this machine as fast as it was for the published run? The C reference programs
// (Benchmarks/c, on libzerocopy) are the yardstick: when they and the code under them are
// unchanged, their times move only with the machine. A run compares its C subjects' median
// time per transfer with a committed reference (Docs/bench/reference.json, written from a
// published quiet run by `zerocopy-bench reference`) and says whether the machine ran as
// fast as then — a VM's host can make every cell 1.5–3.7× slower for an hour, which swings
// the pipe and TCP goal lines, and nothing else in a run shows it.

import Foundation

/// The C subjects' times in one run: the yardstick later runs on the same machine are
/// compared with.
public struct MachineReference: Codable, Sendable {
  /// One C subject in one cell.
  public struct Entry: Codable, Sendable, Hashable {
    /// The cell's destination.
    public var destination: Destination
    /// Bytes per transfer.
    public var size: Int
    /// The subject id ("c:sendfile").
    public var subject: String
    /// Median wall time per transfer, microseconds.
    public var microsPerTransfer: Double
  }

  /// Format version.
  public var schema = 1
  /// The run's commit.
  public var commit: String
  /// The run's start (ISO 8601).
  public var date: String
  /// The run's mode (`Mode.rawValue`: "default" for `make bench`).
  public var mode: String
  /// The CPU model of the machine the run was made on.
  public var cpu: String
  /// Online CPUs.
  public var cores: Int
  /// `uname -sr`.
  public var kernel: String
  /// zc64 of the C sources the reference programs are built from (see
  /// ``MachineReference/cSourcesDigest(repository:)``), nil when they could not be read.
  public var cSources: String?
  /// Every measured C subject, per cell.
  public var entries: [Entry]
  /// The TCP and pipe cells' CPU placement of the reference run (nil: unplaced, as every
  /// reference written before the evening of 2026-12-07).
  public var receiverPlacement: CPUPlacement?

  /// The reference of a run: its measured C subjects (ids starting with `c:`), by cell, and
  /// the digest of the C sources it recorded.
  public init(_ results: BenchResults) {
    commit = results.commit
    date = results.date
    mode = results.plan.mode.rawValue
    cpu = results.machine.cpu
    cores = results.machine.cores
    kernel = results.machine.kernel
    cSources = results.cSources
    receiverPlacement = results.plan.receiverPlacement
    entries = results.cells.flatMap { c in
      c.entries.compactMap { e -> Entry? in
        guard e.subject.hasPrefix("c:"), e.status == .measured, let s = e.summary else { return nil }
        return Entry(
          destination: c.cell.destination, size: c.cell.size, subject: e.subject,
          microsPerTransfer: s.microsPerTransfer.median)
      }
    }
  }

  /// The C sources the reference programs are built from, relative to the repository:
  /// the programs themselves and libzerocopy, which they call.
  public static let cSourceDirectories = ["Benchmarks/c", "CShims/src", "CShims/include"]

  /// zc64 of every `.c` and `.h` file under ``cSourceDirectories`` (sorted by path; each
  /// file's path, then its bytes), as 16 hex digits; nil when none could be read. Equal
  /// digests mean the same C programs, so a change in their times is the machine's.
  public static func cSourcesDigest(repository: String) -> String? {
    let fm = FileManager.default
    var paths: [String] = []
    for dir in cSourceDirectories {
      guard let names = try? fm.contentsOfDirectory(atPath: "\(repository)/\(dir)") else { continue }
      paths += names.filter { $0.hasSuffix(".c") || $0.hasSuffix(".h") }.map { "\(dir)/\($0)" }
    }
    guard !paths.isEmpty else { return nil }
    var sum = ZC64()
    for path in paths.sorted() {
      guard let data = fm.contents(atPath: "\(repository)/\(path)") else { return nil }
      Array(path.utf8).withUnsafeBytes { sum.update($0) }
      data.withUnsafeBytes { sum.update($0) }
    }
    return sum.hex
  }
}

/// How this run's C subjects compare with a reference run's on the same cells.
public struct SteadinessResult: Codable, Sendable {
  /// The reference's commit and date.
  public var reference: String
  /// Where the reference was read from.
  public var referencePath: String
  /// C subject × cell pairs measured in both runs.
  public var compared: Int
  /// Median over those pairs of (this run's time per transfer / the reference's).
  public var medianRatio: Double?
  /// Pairs at least ``SteadinessResult/slowCell`` times slower than the reference.
  public var slowCells: Int
  /// The slowest pair, in words.
  public var worst: String?
  /// Why the comparison means less or nothing (another machine, other C programs).
  public var caveats: [String]
  /// Whether this run's kernel differs from the reference's (nil in results written before
  /// this field existed).
  public var otherKernel: Bool?
  /// "steady", "slow", "fast", "not decided" (too few cells) or "not checked".
  public var verdict: String

  /// A pair this much slower than in the reference counts as a slow cell.
  public static let slowCell = 1.5
  /// The run is slow when the median ratio exceeds this. Calibration (report.md tables of
  /// the 2026-12-06 runs against aab750f's): two other quiet runs 1.01 and 1.14 (7 of 130
  /// pairs over 1.5×), the unsteady hour of Docs/bench/slow-vm-2026-12-06-1506 1.61 (78 of
  /// 130 over 1.5×).
  public static let slowMedian = 1.25
  /// The run is also slow when more than this fraction of pairs are slow cells.
  public static let slowFraction = 0.25
  /// Fewer compared pairs than this give a ratio but no verdict (a subset run).
  public static let fewestCells = 6
  /// The run is faster than the reference when the median ratio is below this (the
  /// reference was made on a slow hour, or the C programs changed).
  public static let fastMedian = 0.8

  /// One line for the terminal and report.md.
  public var line: String {
    guard let m = medianRatio else {
      let against = reference == "–" ? "" : " against the reference run \(reference)"
      return "[\(verdict)] machine\(against): \(caveats.joined(separator: "; "))"
    }
    var s =
      "[\(verdict)] machine against the reference run \(reference): the C programs took \(String(format: "%.2f", m))× their reference time (median of \(compared) cells; \(slowCells) at ≥ \(String(format: "%.1f", Self.slowCell))×\(worst.map { "; slowest \($0)" } ?? ""))"
    if !caveats.isEmpty { s += " — " + caveats.joined(separator: "; ") }
    return s
  }

  /// What the verdict means for the run, or nil when it is steady.
  public var warning: String? {
    switch verdict {
    case "slow":
      return
        "This machine ran slower than for the reference run (\(reference)): the C programs took \(String(format: "%.2f", medianRatio ?? 0))× their reference time. Ratios of subjects measured in this run stay comparable, but pipe and TCP cells swing most on a slow hour (goal lines over them with them), and absolute numbers are not this machine's usual ones: do not publish this run."
        + (otherKernel == true
          ? " The kernel changed since the reference, though: if runs on this kernel agree with each other, the machine itself changed (not an hour of it), and a quiet run made on it should be published and made the reference (`zerocopy-bench reference`)."
          : "")
    case "fast":
      return
        "The C programs ran faster than in the reference run (\(reference)): \(String(format: "%.2f", medianRatio ?? 0))× its time. The reference may have been measured on a slow hour; consider making this run the reference (`zerocopy-bench reference`)."
    default:
      return nil
    }
  }
}

extension Analysis {
  /// Compares `results`' C subjects with `reference`, cell by cell (time per transfer,
  /// medians). Not checked when the machines differ (CPU, cores) or no cell is shared; the
  /// comparison is made but flagged when the kernel or the C sources differ.
  public static func steadiness(_ results: BenchResults, reference: MachineReference, referencePath: String)
    -> SteadinessResult
  {
    var caveats: [String] = []
    let name = "\(reference.commit) (\(reference.date.prefix(16)))"
    if reference.cpu != results.machine.cpu || reference.cores != results.machine.cores {
      return SteadinessResult(
        reference: name, referencePath: referencePath, compared: 0, medianRatio: nil, slowCells: 0, worst: nil,
        caveats: [
          "another machine (reference: \(reference.cpu), \(reference.cores) cores; this run: \(results.machine.cpu), \(results.machine.cores) cores)"
        ], verdict: "not checked")
    }
    let otherKernel = reference.kernel != results.machine.kernel
    if otherKernel {
      caveats.append("another kernel (reference: \(reference.kernel))")
    }
    if let a = reference.cSources, let b = results.cSources, a != b {
      caveats.append("the C programs or libzerocopy changed since the reference (sources \(b), reference \(a))")
    }
    // TCP and pipe cells placed one way are not the machine's speed placed another way (a
    // receiver on its own CPU runs them at a steady, often lower, speed): left out then.
    let samePlacement = reference.receiverPlacement == results.plan.receiverPlacement
    if !samePlacement {
      caveats.append(
        "TCP and pipe cells left out: this run placed them \(results.plan.receiverPlacement?.description ?? "nowhere (the scheduler did)"), the reference \(reference.receiverPlacement?.description ?? "nowhere (the scheduler did)")"
      )
    }
    var ref: [String: Double] = [:]
    for e in reference.entries where samePlacement || !e.destination.hasReceiver {
      ref["\(e.destination.rawValue) \(e.size) \(e.subject)"] = e.microsPerTransfer
    }
    var ratios: [(Double, String)] = []
    for c in results.cells {
      for e in c.entries where e.subject.hasPrefix("c:") && e.status == .measured {
        guard let s = e.summary, let r = ref["\(c.cell.destination.rawValue) \(c.cell.size) \(e.subject)"], r > 0
        else { continue }
        ratios.append(
          (
            s.microsPerTransfer.median / r,
            "\(e.subject) \(c.cell.destination.rawValue) \(formatSize(c.cell.size))"
          ))
      }
    }
    guard let median = Stat(ratios.map(\.0))?.median else {
      return SteadinessResult(
        reference: name, referencePath: referencePath, compared: 0, medianRatio: nil, slowCells: 0, worst: nil,
        caveats: caveats + ["no C subject was measured in a cell of the reference"], otherKernel: otherKernel,
        verdict: "not checked")
    }
    let slow = ratios.filter { $0.0 >= SteadinessResult.slowCell }.count
    let worst = ratios.max { $0.0 < $1.0 }.map { "\($0.1) \(String(format: "%.2f", $0.0))×" }
    let verdict: String
    if ratios.count < SteadinessResult.fewestCells {
      verdict = "not decided"
      caveats.append("too few cells to decide (\(SteadinessResult.fewestCells) needed)")
    } else if median > SteadinessResult.slowMedian || Double(slow) > SteadinessResult.slowFraction * Double(ratios.count) {
      verdict = "slow"
    } else if median < SteadinessResult.fastMedian {
      verdict = "fast"
    } else {
      verdict = "steady"
    }
    return SteadinessResult(
      reference: name, referencePath: referencePath, compared: ratios.count, medianRatio: median, slowCells: slow,
      worst: worst, caveats: caveats, otherKernel: otherKernel, verdict: verdict)
  }
}

extension Analysis {
  /// ``steadiness(_:reference:referencePath:)`` against the reference file at `path`;
  /// "not checked" with the reason when the file is missing or unreadable.
  public static func steadiness(_ results: BenchResults, referenceAt path: String) -> SteadinessResult {
    let reference: MachineReference
    do {
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      reference = try JSONDecoder().decode(MachineReference.self, from: data)
    } catch {
      let why =
        FileManager.default.fileExists(atPath: path)
        ? "the reference \(path) could not be read: \(error)"
        : "no reference file at \(path) (`zerocopy-bench reference RESULTS.json` writes one)"
      return SteadinessResult(
        reference: "–", referencePath: path, compared: 0, medianRatio: nil, slowCells: 0, worst: nil, caveats: [why],
        verdict: "not checked")
    }
    return steadiness(results, reference: reference, referencePath: path)
  }
}
