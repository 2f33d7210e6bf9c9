// Summaries of samples, the Swift/C and automatic/best ratios, and the issue's goals.

import Foundation

/// Statistics over a run's samples.
public enum Analysis {
  /// Strategies never counted as "the best Swift strategy" (the planted test strategy).
  public static let excludedFromBest: Set<String> = ["automatic", "automatic.async", "corrupting"]

  /// Per-sample metrics → medians and ranges.
  public static func summarize(_ samples: [SampleRecord], size: Int) -> EntrySummary? {
    guard !samples.isEmpty else { return nil }
    func stat(_ f: (SampleRecord) -> Double) -> Stat { Stat(samples.map(f))! }
    func gb(_ r: SampleRecord) -> Double { Double(r.measurement.bytes) / 1e9 }
    func n(_ r: SampleRecord) -> Double { Double(max(r.measurement.iterations, 1)) }
    let syscalls: Stat? =
      samples.allSatisfy({ $0.measurement.syscalls != nil })
      ? stat { Double($0.measurement.syscalls!) / n($0) } : nil
    let receiver: Stat? =
      samples.allSatisfy({ $0.receiver != nil })
      ? stat { r in
        let rc = r.receiver!
        // The receiver also took the warm-up transfers: scale to all the bytes it got.
        return Double(rc.userMicros + rc.systemMicros) / 1e6 / max(Double(rc.bytes) / 1e9, 1e-12)
      } : nil
    return EntrySummary(
      gbPerSecond: stat { Double($0.measurement.bytes) / Double(max($0.measurement.nanoseconds, 1)) },
      microsPerTransfer: stat { Double($0.measurement.nanoseconds) / 1000 / n($0) },
      userSecondsPerGB: stat { Double($0.measurement.usage.userMicros) / 1e6 / gb($0) },
      systemSecondsPerGB: stat { Double($0.measurement.usage.systemMicros) / 1e6 / gb($0) },
      cpuSecondsPerGB: stat {
        Double($0.measurement.usage.userMicros + $0.measurement.usage.systemMicros) / 1e6 / gb($0)
      },
      voluntarySwitchesPerTransfer: stat { Double($0.measurement.usage.voluntarySwitches) / n($0) },
      involuntarySwitchesPerTransfer: stat { Double($0.measurement.usage.involuntarySwitches) / n($0) },
      minorFaultsPerTransfer: stat { Double($0.measurement.usage.minorFaults) / n($0) },
      syscallsPerTransfer: syscalls, receiverSecondsPerGB: receiver)
  }

  /// Fills `ratios` and `goals`.
  public static func computeRatios(_ results: inout BenchResults) {
    let info = Dictionary(results.subjects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    var ratios: [Ratio] = []
    let MiB = 1 << 20
    for cr in results.cells {
      // /dev/null is "overhead only": ratios are listed, but no goal applies there (its
      // "fastest" strategy, mmapWrite, never touches the data it claims to move).
      let goalsApply = cr.cell.destination != .devNull
      let measured = cr.entries.filter { $0.status == .measured && $0.summary != nil }
      func entry(_ id: String) -> EntryResult? { measured.first { $0.subject == id } }
      // Swift (and LinuxIO) against the C twin.
      for e in measured {
        guard let i = info[e.subject], i.family == .swift || i.family == .swiftLinuxIO,
          let c = entry("c:\(i.strategy)"), let s = e.summary, let cs = c.summary
        else { continue }
        let isGoal = i.family == .swift && goalsApply
        if cr.cell.size <= 4096 {
          let v = s.microsPerTransfer.median / cs.microsPerTransfer.median
          ratios.append(Ratio(
            what: "\(e.subject) / \(c.subject)", cell: cr.cell, metric: "time per transfer", value: v,
            goal: isGoal ? 1.1 : nil, met: isGoal ? v <= 1.1 : nil))
        } else {
          let v = s.gbPerSecond.median / cs.gbPerSecond.median
          let goal: Double? = isGoal && cr.cell.size >= MiB ? 0.95 : nil
          ratios.append(Ratio(
            what: "\(e.subject) / \(c.subject)", cell: cr.cell, metric: "throughput", value: v,
            goal: goal, met: goal.map { v >= $0 }))
        }
      }
      // .automatic against the best Swift strategy in the cell.
      let swiftStrategies = measured.filter {
        info[$0.subject]?.family == .swift && !excludedFromBest.contains(info[$0.subject]!.strategy)
      }
      if let best = swiftStrategies.max(by: { $0.summary!.gbPerSecond.median < $1.summary!.gbPerSecond.median }) {
        if let auto = cr.entries.first(where: { info[$0.subject]?.family == .swift && info[$0.subject]?.strategy == "automatic" }) {
          if let a = auto.summary, auto.status == .measured {
            let v = a.gbPerSecond.median / best.summary!.gbPerSecond.median
            ratios.append(Ratio(
              what: "\(auto.subject) / best (\(best.subject))", cell: cr.cell, metric: "throughput", value: v,
              goal: goalsApply ? 0.9 : nil, met: goalsApply ? v >= 0.9 : nil))
          } else if auto.status == .failed {
            ratios.append(Ratio(
              what: "\(auto.subject) (failed) / best (\(best.subject))", cell: cr.cell, metric: "throughput",
              value: 0, goal: goalsApply ? 0.9 : nil, met: goalsApply ? false : nil))
          }
        }
      }
      // TCP sender CPU: best Swift strategy against the C splice/sendfile reference.
      if cr.cell.destination.isSocket {
        let cRefs = ["c:splice", "c:sendfile"].compactMap { entry($0)?.summary?.cpuSecondsPerGB.median }
        let swiftCPU = swiftStrategies.compactMap { e in e.summary.map { (e.subject, $0.cpuSecondsPerGB.median) } }
        if let ref = cRefs.min(), let best = swiftCPU.min(by: { $0.1 < $1.1 }), ref > 0 {
          let v = best.1 / ref
          ratios.append(Ratio(
            what: "sender CPU \(best.0) / best of c:splice, c:sendfile", cell: cr.cell, metric: "sender CPU s/GB",
            value: v, goal: 1.1, met: v <= 1.1))
        }
      }
    }
    results.ratios = ratios
    func goal(_ text: String, _ filter: (Ratio) -> Bool, worstIsMax: Bool) -> GoalResult {
      let rs = ratios.filter { $0.goal != nil && filter($0) }
      let worst = worstIsMax ? rs.max { $0.value < $1.value } : rs.min { $0.value < $1.value }
      return GoalResult(
        goal: text, checked: rs.count, met: rs.filter { $0.met == true }.count,
        worst: worst.map { "\($0.what) at \($0.cell): \(String(format: "%.3f", $0.value))" },
        passed: rs.isEmpty ? nil : rs.allSatisfy { $0.met == true })
    }
    results.goals = [
      goal("Each Swift strategy ≥ 0.95× its C twin's throughput for 1 MiB and larger (cells other than /dev/null)",
           { $0.metric == "throughput" && $0.what.hasPrefix("swift:") && !$0.what.contains("best") && $0.cell.size >= MiB },
           worstIsMax: false),
      goal("Each Swift strategy ≤ 1.1× its C twin's time per transfer at 4 KiB (cells other than /dev/null)",
           { $0.metric == "time per transfer" }, worstIsMax: true),
      goal(".automatic ≥ 0.9× the best Swift strategy in every cell other than /dev/null",
           { $0.what.contains(" / best (") }, worstIsMax: false),
      goal("file→TCP sender CPU s/GB of the best Swift strategy ≤ 1.1× the C splice/sendfile reference",
           { $0.metric == "sender CPU s/GB" }, worstIsMax: true),
    ]
  }
}
