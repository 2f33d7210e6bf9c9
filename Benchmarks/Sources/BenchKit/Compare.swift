// `compare A.json B.json` and `check results.json`.

import Foundation

/// Loads results.json.
public func loadResults(_ path: String) throws -> BenchResults {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  return try JSONDecoder().decode(BenchResults.self, from: data)
}

/// Writes results.json (sorted keys, pretty).
public func encodeResults(_ r: BenchResults) throws -> Data {
  let e = JSONEncoder()
  e.outputFormatting = [.prettyPrinted, .sortedKeys]
  return try e.encode(r)
}

/// Compares two runs cell by cell.
public struct Comparison {
  /// The earlier run.
  public let a: BenchResults
  /// The later run.
  public let b: BenchResults
  /// Relative change below which a difference is called noise (the VM is noisy).
  public var noise = 0.15

  /// Creates a comparison.
  public init(_ a: BenchResults, _ b: BenchResults) {
    self.a = a
    self.b = b
  }

  /// The comparison as text.
  public func text() -> String {
    var out =
      "A: \(a.date) \(a.commit) (\(a.plan.mode.rawValue), \(a.plan.rounds) rounds)\nB: \(b.date) \(b.commit) (\(b.plan.mode.rawValue), \(b.plan.rounds) rounds)\n"
    if a.machine.cpu != b.machine.cpu || a.machine.kernel != b.machine.kernel || a.machine.cores != b.machine.cores {
      out +=
        "warning: different machines (A: \(a.machine.cpu), \(a.machine.kernel); B: \(b.machine.cpu), \(b.machine.kernel)) — ratios mix hardware and code.\n"
    }
    if a.plan.cold != b.plan.cold { out += "warning: one run is cold-cache, the other warm.\n" }
    if a.plan.receiverPlacement != b.plan.receiverPlacement {
      func words(_ p: CPUPlacement?) -> String { p?.description ?? "unpinned" }
      out +=
        "warning: the TCP and pipe cells ran with another CPU placement (A: \(words(a.plan.receiverPlacement)); B: \(words(b.plan.receiverPlacement))) — their changes mix placement and code.\n"
    }
    if let wa = a.machine.wakeLatency, let wb = b.machine.wakeLatency,
      max(wa.crossCPUMicroseconds, wb.crossCPUMicroseconds) > 1.5 * min(wa.crossCPUMicroseconds, wb.crossCPUMicroseconds)
    {
      out +=
        "warning: waking a thread on another CPU cost \(String(format: "%.1f", wa.crossCPUMicroseconds)) µs in A and \(String(format: "%.1f", wb.crossCPUMicroseconds)) µs in B (pipe round trip) — the TCP and pipe cells' changes mix the machine's wake-ups and code.\n"
    }
    out +=
      "GB/s medians; a change is reported when B/A is outside ±\(Int(noise * 100))% AND the min–max ranges do not overlap.\n\n"
    out +=
      Fmt.pad("cell", 22) + Fmt.pad("subject", 34) + Fmt.pad("A", 9, right: true) + Fmt.pad("B", 9, right: true)
      + Fmt.pad("B/A", 8, right: true) + "  verdict\n"
    var changes = 0
    for cb in b.cells {
      guard let ca = a.cells.first(where: { $0.cell == cb.cell }) else { continue }
      for eb in cb.entries {
        guard let ea = ca.entries.first(where: { $0.subject == eb.subject }) else { continue }
        var verdict = ""
        var va = "–", vb = "–", ratio = ""
        if let sa = ea.summary, let sb = eb.summary, ea.status == .measured, eb.status == .measured {
          va = Fmt.num(sa.gbPerSecond.median)
          vb = Fmt.num(sb.gbPerSecond.median)
          let r = sb.gbPerSecond.median / sa.gbPerSecond.median
          ratio = String(format: "%.2f", r)
          let overlap = sb.gbPerSecond.min <= sa.gbPerSecond.max && sa.gbPerSecond.min <= sb.gbPerSecond.max
          if abs(r - 1) > noise && !overlap {
            verdict = r > 1 ? "faster" : "SLOWER"
            changes += 1
          } else {
            verdict = "same (noise)"
          }
        } else if ea.status != eb.status {
          verdict = "\(ea.status.rawValue) → \(eb.status.rawValue)"
          changes += 1
        } else {
          continue
        }
        out +=
          Fmt.pad("\(cb.cell.destination.rawValue) \(formatSize(cb.cell.size))", 22) + Fmt.pad(eb.subject, 34)
          + Fmt.pad(va, 9, right: true) + Fmt.pad(vb, 9, right: true) + Fmt.pad(ratio, 8, right: true) + "  \(verdict)\n"
      }
    }
    if let ra = a.reads, let rb = b.reads {
      out += "\nRandom 4 KiB reads, ns per read (lower is better)\n"
      for eb in rb.entries {
        guard let ea = ra.entries.first(where: { $0.subject == eb.subject }), let sa = ea.nanosecondsPerRead,
          let sb = eb.nanosecondsPerRead
        else { continue }
        let r = sb.median / sa.median
        let overlap = sb.min <= sa.max && sa.min <= sb.max
        let verdict = abs(r - 1) > noise && !overlap ? (r < 1 ? "faster" : "SLOWER") : "same (noise)"
        out +=
          Fmt.pad(eb.subject, 56) + Fmt.pad(Fmt.num(sa.median), 9, right: true) + Fmt.pad(Fmt.num(sb.median), 9, right: true)
          + Fmt.pad(String(format: "%.2f", r), 8, right: true) + "  \(verdict)\n"
      }
    }
    out += "\n\(changes) change(s) beyond noise.\n"
    return out
  }
}

/// Checks a results file the way `make bench-test` requires.
public struct ResultsCheck {
  /// The results.
  public let results: BenchResults
  /// Creates a check.
  public init(_ results: BenchResults) { self.results = results }

  /// Problems found (empty: the file passes).
  public func problems() -> [String] {
    var out: [String] = []
    let subjects = Dictionary(results.subjects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    // 1. Every registered strategy is a subject and has an entry in every cell.
    for name in results.registeredStrategies {
      guard let s = results.subjects.first(where: { $0.family == .swift && $0.strategy == name }) else {
        out.append("registered strategy \(name) is not among the subjects")
        continue
      }
      for cr in results.cells where !cr.entries.contains(where: { $0.subject == s.id }) {
        out.append("registered strategy \(name) has no entry in \(cr.cell)")
      }
    }
    if !results.registeredStrategies.isEmpty
      && !results.subjects.contains(where: { $0.family == .swift && $0.strategy == "automatic" })
    {
      out.append(".automatic is not among the subjects")
    }
    // 2. Every measured entry is verified, with samples from every round.
    for cr in results.cells {
      for e in cr.entries {
        switch e.status {
        case .measured:
          if e.verification == nil { out.append("\(e.subject) in \(cr.cell): measured but not marked verified") }
          if e.verification != cr.cell.destination.verification {
            out.append(
              "\(e.subject) in \(cr.cell): verified by \(e.verification?.rawValue ?? "nothing"), the destination needs \(cr.cell.destination.verification.rawValue)"
            )
          }
          if e.samples.count != results.plan.rounds {
            out.append("\(e.subject) in \(cr.cell): \(e.samples.count) samples for \(results.plan.rounds) rounds")
          }
          if e.summary == nil { out.append("\(e.subject) in \(cr.cell): measured without a summary") }
        case .failed:
          if (e.reason ?? "").isEmpty { out.append("\(e.subject) in \(cr.cell): failed without a reason") }
          if !e.samples.isEmpty || e.summary != nil { out.append("\(e.subject) in \(cr.cell): failed but reports numbers") }
          if subjects[e.subject]?.strategy != "corrupting" {
            out.append("\(e.subject) in \(cr.cell): FAILED — \(e.reason ?? "")")
          }
        case .unsupported:
          if (e.reason ?? "").isEmpty { out.append("\(e.subject) in \(cr.cell): unsupported without a reason") }
        }
      }
    }
    // 3. Ratios were computed (Swift vs C twin wherever both ran).
    let swiftWithTwin = results.cells.contains { cr in
      cr.entries.contains { e in
        guard e.status == .measured, let s = subjects[e.subject], s.family == .swift else { return false }
        return cr.entries.contains { $0.subject == "c:\(s.strategy)" && $0.status == .measured }
      }
    }
    if swiftWithTwin && !results.ratios.contains(where: { $0.what.hasPrefix("swift:") && $0.what.contains("/ c:") }) {
      out.append("no Swift/C ratio was computed although Swift strategies and their C twins were measured")
    }
    if results.goals.isEmpty { out.append("goals were not evaluated") }
    // 4. A planted corrupting strategy is caught wherever the content is verifiable.
    for s in results.subjects where s.strategy == "corrupting" {
      for cr in results.cells where cr.cell.destination.verification == .checksum {
        guard let e = cr.entries.first(where: { $0.subject == s.id }), e.status != .unsupported else { continue }
        if e.status != .failed || !(e.reason ?? "").contains("verification failed") {
          out.append("planted corrupting strategy \(s.id) was NOT caught in \(cr.cell) (status \(e.status.rawValue))")
        }
      }
    }
    // 5. The many-connections workload: nothing failed but the planted strategy, which
    //    every stream's checksum must catch.
    for e in results.concurrent?.entries ?? [] {
      let planted = e.subject.hasPrefix("swift:corrupting")
      if planted && (e.status != .failed || !(e.reason ?? "").contains("verification failed")) {
        out.append("planted corrupting strategy was NOT caught in the many-connections workload (status \(e.status.rawValue))")
      } else if !planted && e.status == .failed {
        out.append("\(e.subject) in the many-connections workload: FAILED — \(e.reason ?? "")")
      } else if e.status == .measured && e.samples.count != results.plan.rounds {
        out.append("\(e.subject) in the many-connections workload: \(e.samples.count) samples for \(results.plan.rounds) rounds")
      }
    }
    return out
  }
}
