// Rendering: the terminal summary table and report.md.

import Foundation

/// Formats numbers for tables.
public enum Fmt {
  /// About three significant digits: 12.3, 1.23, 0.123, 0.0123.
  public static func num(_ v: Double) -> String {
    if v.isNaN || v.isInfinite { return "–" }
    let a = abs(v)
    if a == 0 { return "0" }
    if a >= 100 { return String(format: "%.0f", v) }
    if a >= 10 { return String(format: "%.1f", v) }
    if a >= 1 { return String(format: "%.2f", v) }
    if a >= 0.01 { return String(format: "%.3f", v) }
    return String(format: "%.2g", v)
  }

  /// "1.23 (1.10–1.40)".
  public static func stat(_ s: Stat?) -> String {
    guard let s else { return "–" }
    return "\(num(s.median)) (\(num(s.min))–\(num(s.max)))"
  }

  /// Pads to a width (left-aligned, or right-aligned for numbers).
  public static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    if n >= width { return s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
  }
}

/// Builds the reports from results.
public struct ReportBuilder {
  /// The results.
  public let results: BenchResults
  private let info: [String: SubjectInfo]

  /// Creates a builder.
  public init(_ results: BenchResults) {
    self.results = results
    info = Dictionary(results.subjects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
  }

  /// Subjects in display order: Swift Transfer strategies (automatic last among them),
  /// LinuxIO, C, peers; within a family by strategy name.
  public func orderedSubjects(_ ids: [String]) -> [String] {
    func key(_ id: String) -> (Int, Int, String) {
      guard let i = info[id] else { return (9, 0, id) }
      let fam: Int
      switch i.family {
      case .swift: fam = 0
      case .swiftLinuxIO: fam = 1
      case .c: fam = 2
      case .peer: fam = 3
      }
      return (fam, i.strategy == "automatic" ? 1 : 0, i.strategy)
    }
    return ids.sorted { key($0) < key($1) }
  }

  private var destinations: [Destination] {
    Array(Set(results.cells.map(\.cell.destination))).sorted()
  }

  private func sizes(_ d: Destination) -> [Int] {
    results.cells.filter { $0.cell.destination == d }.map(\.cell.size).sorted()
  }

  private func entry(_ d: Destination, _ size: Int, _ id: String) -> EntryResult? {
    results.cells.first { $0.cell.destination == d && $0.cell.size == size }?.entries.first { $0.subject == id }
  }

  /// Text of one table cell: GB/s median, or FAIL / n/a.
  private func short(_ e: EntryResult?) -> String {
    guard let e else { return "" }
    switch e.status {
    case .measured: return Fmt.num(e.summary?.gbPerSecond.median ?? .nan)
    case .failed: return "FAIL"
    case .unsupported: return "n/a"
    }
  }

  /// The terminal summary: per destination, GB/s medians by subject × size, then the
  /// Swift/C ratios and the goals.
  public func terminalSummary() -> String {
    var out = ""
    let m = results.machine
    out += "zerocopy-bench \(results.plan.mode.rawValue) · \(results.date) · commit \(results.commit)\n"
    out += "\(m.cpu), \(m.cores) cores, \(m.memoryBytes >> 30) GiB, \(m.kernel); temp dir on \(m.tempFilesystem)"
    if let l = m.loadAverage, !l.isEmpty { out += "; load \(l.map { String(format: "%.1f", $0) }.joined(separator: "→"))" }
    out +=
      "; \(results.plan.rounds) rounds, \(results.plan.cold ? "COLD cache" : "warm page cache"); medians of GB/s (10^9 B/s)\n"
    if let placement = results.plan.receiverPlacement {
      out += "TCP and pipe cells: \(placement.description) (sched_setaffinity; --unpinned leaves it to the scheduler)\n"
    }
    if let wake = m.wakeLatency { out += "Wake-ups: \(wake.description)\n" }
    for d in destinations {
      let ss = sizes(d)
      let ids = orderedSubjects(
        Array(Set(results.cells.filter { $0.cell.destination == d }.flatMap { $0.entries.map(\.subject) })))
      out += "\n\(d.title)\(d.verification == .byteCount ? " — byte counts only" : " — every byte checksummed")\n"
      let w0 = max(28, (ids.map(\.count).max() ?? 0) + 2)
      out += Fmt.pad("subject", w0) + ss.map { Fmt.pad(formatSize($0), 10, right: true) }.joined() + "\n"
      for id in ids {
        let row = ss.map { Fmt.pad(short(entry(d, $0, id)), 10, right: true) }.joined()
        if row.trimmingCharacters(in: .whitespaces).allSatisfy({ $0 == "n" || $0 == "/" || $0 == "a" || $0 == " " }) { continue }
        out += Fmt.pad(id, w0) + row + "\n"
      }
    }
    if let reads = results.reads {
      out += "\nRandom 4 KiB reads of a page-cached \(formatSize(reads.fileSize)) file (ns per read, median)\n"
      for e in reads.entries.sorted(by: { ($0.variant, $0.family.rawValue) < ($1.variant, $1.family.rawValue) }) {
        let v = e.status == .measured ? Fmt.num(e.nanosecondsPerRead?.median ?? .nan) : "FAIL"
        out += Fmt.pad(e.subject, 34) + Fmt.pad(v, 10, right: true) + "\n"
      }
    }
    if let c = results.concurrent {
      out +=
        "\n\(c.plan.connections) concurrent \(formatSize(c.plan.size)) transfers to TCP loopback, one per connection (GB/s, median) — every stream checksummed\n"
      for e in c.entries {
        let v = e.status == .measured ? Fmt.num(e.gbPerSecond?.median ?? .nan) : e.status == .failed ? "FAIL" : "n/a"
        out += Fmt.pad(e.subject, 34) + Fmt.pad(v, 10, right: true) + "\n"
      }
    }
    if let profile = results.automaticProfile {
      out += "\n.automatic decided with the profile: \(profile)\n"
    }
    if let steadiness = results.steadiness {
      out += "\nMachine\n  \(steadiness.line)\n"
    }
    let goalRatios = results.ratios.filter { $0.goal != nil }
    if !goalRatios.isEmpty || !results.goals.isEmpty {
      out += "\nGoals (ratios of medians measured in this run)\n"
      for g in results.goals {
        out += "  [\(g.verdict)] \(g.goal): \(g.numbers)\n"
      }
    }
    if !results.notes.isEmpty {
      out += "\nNotes\n" + results.notes.map { "  - \($0)\n" }.joined()
    }
    return out
  }

  /// report.md.
  public func markdown(charts: [String] = []) -> String {
    var out = "# zerocopy-bench results\n\n"
    let m = results.machine
    out +=
      "- Date: \(results.date); commit `\(results.commit)`; mode `\(results.plan.mode.rawValue)`, \(results.plan.rounds) interleaved rounds; run took \(Int(results.durationSeconds)) s\n"
    out +=
      "- Machine: \(m.cpu), \(m.cores) cores\(m.virtualized ? " (virtual machine)" : ""), \(m.memoryBytes >> 30) GiB RAM, \(m.kernel); \(m.swift)\n"
    out +=
      "- Filesystems: temporary directory on \(m.tempFilesystem), tmpfs destination on \(m.tmpfsFilesystem); io_uring \(m.ioUring)\n"
    if let l = m.loadAverage, !l.isEmpty {
      out +=
        "- Load average (1 min) at start/end: \(l.map { String(format: "%.2f", $0) }.joined(separator: " / ")) — other work on the machine shares its \(m.cores) cores and widens every min–max range\n"
    }
    out +=
      "- Cache: \(results.plan.cold ? "**cold** — the source's pages were dropped with posix_fadvise(DONTNEED) before every transfer" : "warm — every source was read once first, and its residency checked with mincore before every sample")\n"
    if let placement = results.plan.receiverPlacement {
      out +=
        "- CPU placement (TCP and pipe cells): \(placement.description) — every thread of the benchmark and the C twins and peers it starts run on the sender CPUs, the receiver process on its own, so that the scheduler's wake-ups never put a sender and its receiver on one CPU while another idles (BENCHMARKS.md, \"How it measures\"); io_uring's io-wq workers cannot be pinned and run where the kernel puts them, for C and Swift rings alike. The many-connections workload and file cells are not placed.\n"
    } else if results.plan.cells.contains(where: { $0.destination.hasReceiver }) {
      out += "- CPU placement: none — the scheduler placed senders and receivers (TCP and pipe cells are bimodal then).\n"
    }
    if let wake = m.wakeLatency {
      out +=
        "- Wake-ups across CPUs (measured before the cells): \(wake.description). A TCP or pipe cell's sender and receiver wake each other every time the pipe or socket fills or drains; where that costs far more than on one CPU (a VM whose idle vCPU halts), those cells measure it as much as the code (BENCHMARKS.md, \"Wake-ups across CPUs\").\n"
    }
    out +=
      "- GB/s = 10^9 bytes per second of transfer wall time; CPU s/GB = CPU seconds per 10^9 bytes (getrusage RUSAGE_SELF around each transfer, so io_uring's io-wq workers count; peers run as child processes report the child's own usage). The user/system split is the kernel's tick-sampled split of a precisely measured total: for samples of a few milliseconds trust user+system, not the split. Small transfers repeat until a sample lasts ≥ \(results.plan.targetSampleNanoseconds / 1_000_000) ms.\n"
    out +=
      "- Verification: a run counts only if verified. File destinations: every byte is overwritten with a marker before each transfer and the whole file is checksummed (zc64) after it. TCP (read receiver) and pipe: the receiver process checksums the whole stream. TCP (splice receiver) and /dev/null: byte counts only — their content cannot be checked, and /dev/null is no fair sink for zero-copy paths (sendfile/splice never touch the data there, mmap never faults).\n\n"
    if !charts.isEmpty {
      out += "## Charts\n\n" + charts.map { "![\($0)](\($0))\n" }.joined() + "\n"
    }
    if let profile = results.automaticProfile {
      out += "- `.automatic` decided with the profile: \(profile)\n\n"
    }
    if let steadiness = results.steadiness {
      out += "## Machine\n\n\(steadiness.line) (reference: `\(steadiness.referencePath)`)\n\n"
    }
    out += "## Goals\n\n| goal | met | may miss | worst ratio | verdict |\n|---|---|---|---|---|\n"
    for g in results.goals {
      out +=
        "| \(g.goal) | \(g.met)/\(g.checked) | \(g.allowedMisses ?? 0) | \(g.worst ?? "–") | \(g.passed.map { $0 ? "met" : "**missed**" } ?? (g.checked > 0 ? "not decided (too few cells)" : "not checked")) |\n"
    }
    let rs = results.ratios
    if !rs.isEmpty {
      out += "\n## Ratios\n\n| ratio | cell | metric | value | goal |\n|---|---|---|---|---|\n"
      for r in rs {
        let g = r.goal.map { (r.metric == "throughput" ? "≥ " : "≤ ") + Fmt.num($0) + (r.met == true ? " ✓" : " ✗") } ?? "–"
        out +=
          "| \(r.what) | \(r.cell.destination.rawValue) \(formatSize(r.cell.size)) | \(r.metric) | \(String(format: "%.3f", r.value)) | \(g) |\n"
      }
    }
    out += "\n## Summary (GB/s, medians)\n"
    for d in destinations {
      let ss = sizes(d)
      let ids = orderedSubjects(
        Array(Set(results.cells.filter { $0.cell.destination == d }.flatMap { $0.entries.map(\.subject) })))
      out +=
        "\n### \(d.title)\n\n| subject | " + ss.map(formatSize).joined(separator: " | ") + " |\n|---|"
        + ss.map { _ in "---:|" }.joined() + "\n"
      for id in ids {
        let cells = ss.map { short(entry(d, $0, id)) }
        if cells.allSatisfy({ $0 == "n/a" || $0.isEmpty }) { continue }
        out += "| \(id) | " + cells.joined(separator: " | ") + " |\n"
      }
    }
    out +=
      "\n## Details per cell\n\nMedian (min–max) over rounds. syscalls = the data-path syscalls the implementation counts itself (– when it cannot): every read/write/pread/pwrite, sendfile, splice leg, copy_file_range, io_uring_enter, and for the io_uring strategies their ring's io_uring_setup/io_uring_register; swift:sendfile also counts the lseek calls that position a file destination. Not counted anywhere: the Transfer front end's endpoint inspection (2 newfstatat + 2 fcntl + 2 lseek per call), the signal guard's 2 rt_sigprocmask, ring mmap/munmap/close, the pipe pool's ioctl(FIONREAD). `make bench-test` checks these counts against strace -f. recv = the receiver process's CPU. Files: an overwrite of an existing, page-cached file of the same size (pages re-dirtied by the marker before every transfer), not a fresh file — cp and copyItem peers create a new file each time.\n"
    for cr in results.cells {
      out += "\n### \(cr.cell.destination.title), \(formatSize(cr.cell.size))\n\n"
      out +=
        "| subject | GB/s | µs/transfer | user s/GB | sys s/GB | vcsw/transfer | ivcsw/transfer | syscalls/transfer | minflt/transfer | recv s/GB | transfers/sample | verified |\n"
      out += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
      for id in orderedSubjects(cr.entries.map(\.subject)) {
        guard let e = cr.entries.first(where: { $0.subject == id }) else { continue }
        switch e.status {
        case .unsupported:
          continue
        case .failed:
          out += "| \(id) | **FAILED**: \(e.reason ?? "") | | | | | | | | | | not counted |\n"
        case .measured:
          guard let s = e.summary else { continue }
          var used = ""
          if let u = e.strategiesUsed { used = " → " + u.keys.sorted().joined(separator: ", ") }
          out +=
            "| \(id)\(used) | \(Fmt.stat(s.gbPerSecond)) | \(Fmt.num(s.microsPerTransfer.median)) | \(Fmt.num(s.userSecondsPerGB.median)) | \(Fmt.num(s.systemSecondsPerGB.median)) | \(Fmt.num(s.voluntarySwitchesPerTransfer.median)) | \(Fmt.num(s.involuntarySwitchesPerTransfer.median)) | \(s.syscallsPerTransfer.map { Fmt.num($0.median) } ?? "–") | \(Fmt.num(s.minorFaultsPerTransfer.median)) | \(s.receiverSecondsPerGB.map { Fmt.num($0.median) } ?? "–") | \(e.iterations) | \(e.verification == .checksum ? "checksum" : "bytes only") |\n"
        }
      }
    }
    if let reads = results.reads {
      out +=
        "\n## Random 4 KiB reads of a page-cached \(formatSize(reads.fileSize)) file\n\n\(reads.operations) reads per sample, offsets from the same xorshift64* sequence in C and Swift; every read's count checked and the last buffer compared with the file.\n\n"
      out += "| subject | what | ns/read | CPU µs/read | syscalls/read |\n|---|---|---|---|---|\n"
      for e in reads.entries.sorted(by: { ($0.variant, $0.family.rawValue) < ($1.variant, $1.family.rawValue) }) {
        if e.status == .failed {
          out += "| \(e.subject) | \(e.summary) | **FAILED**: \(e.reason ?? "") | | |\n"
        } else {
          out +=
            "| \(e.subject) | \(e.summary) | \(Fmt.stat(e.nanosecondsPerRead)) | \(e.cpuMicrosPerRead.map { Fmt.num($0.median) } ?? "–") | \(e.syscallsPerRead.map { Fmt.num($0.median) } ?? "–") |\n"
        }
      }
    }
    if let c = results.concurrent {
      out += "\n## \(c.plan.connections) concurrent \(formatSize(c.plan.size)) transfers to TCP loopback\n\n"
      out +=
        "One connection per transfer, all \(c.plan.connections) at once, \(c.plan.iterations) times per sample after one untimed warm-up; a receiver process drains every connection with epoll and checksums each stream. Swift: one task per transfer through the async `Transfer.send`, fallback off.\n\n"
      out += "| subject | what | GB/s | µs/iteration | CPU s/GB |\n|---|---|---|---|---|\n"
      for e in c.entries {
        if e.status != .measured {
          out += "| \(e.subject) | \(e.summary) | \(e.status == .failed ? "**FAILED**" : "n/a"): \(e.reason ?? "") | | |\n"
        } else {
          out +=
            "| \(e.subject) | \(e.summary) | \(Fmt.stat(e.gbPerSecond)) | \(e.microsPerIteration.map { Fmt.num($0.median) } ?? "–") | \(e.cpuSecondsPerGB.map { Fmt.num($0.median) } ?? "–") |\n"
        }
      }
    }
    out += "\n## Subjects\n\n| id | what | note |\n|---|---|---|\n"
    for s in results.subjects { out += "| \(s.id) | \(s.summary) | \(s.note ?? "") |\n" }
    if !results.notes.isEmpty {
      out += "\n## Notes\n\n" + results.notes.map { "- \($0)\n" }.joined()
    }
    return out
  }
}
