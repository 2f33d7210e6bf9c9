// Summaries of samples, the Swift/C and automatic/best ratios, and the issue's goals.

import Foundation

/// Statistics over a run's samples.
public enum Analysis {
  /// Strategies never counted as "the best Swift strategy" (the planted test strategy;
  /// `.automatic` itself and its variants, and every `.async` twin, are left out too).
  public static let excludedFromBest: Set<String> = ["automatic", "automatic.async", "corrupting"]

  /// Whether `strategy` can be "the best Swift strategy" of a cell.
  public static func countsAsBest(_ strategy: String) -> Bool {
    !excludedFromBest.contains(strategy) && !strategy.hasPrefix("automatic.") && !strategy.hasSuffix(".async")
  }

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
          ratios.append(
            Ratio(
              what: "\(e.subject) / \(c.subject)", cell: cr.cell, metric: "time per transfer", value: v,
              goal: isGoal ? 1.1 : nil, met: isGoal ? v <= 1.1 : nil))
        } else {
          let v = s.gbPerSecond.median / cs.gbPerSecond.median
          let goal: Double? = isGoal && cr.cell.size >= MiB ? 0.95 : nil
          ratios.append(
            Ratio(
              what: "\(e.subject) / \(c.subject)", cell: cr.cell, metric: "throughput", value: v,
              goal: goal, met: goal.map { v >= $0 }))
        }
      }
      // The async API against the blocking call, strategy by strategy.
      for e in measured {
        guard let i = info[e.subject], i.family == .swift, i.strategy.hasSuffix(".async"),
          let blocking = entry("swift:\(i.strategy.dropLast(6))"), let a = e.summary, let b = blocking.summary
        else { continue }
        let v = a.microsPerTransfer.median / b.microsPerTransfer.median
        ratios.append(
          Ratio(
            what: "\(e.subject) / \(blocking.subject)", cell: cr.cell, metric: "async time per transfer", value: v,
            goal: goalsApply ? 1.15 : nil, met: goalsApply ? v <= 1.15 : nil))
      }
      // .automatic (and its variants: .builtin) against the best Swift strategy in the cell.
      let swiftStrategies = measured.filter {
        info[$0.subject]?.family == .swift && countsAsBest(info[$0.subject]!.strategy)
      }
      let automatics = cr.entries.filter {
        info[$0.subject]?.family == .swift && ["automatic", "automatic.builtin"].contains(info[$0.subject]!.strategy)
      }
      if let best = swiftStrategies.max(by: { $0.summary!.gbPerSecond.median < $1.summary!.gbPerSecond.median }) {
        for auto in automatics {
          if let a = auto.summary, auto.status == .measured {
            let v = a.gbPerSecond.median / best.summary!.gbPerSecond.median
            ratios.append(
              Ratio(
                what: "\(auto.subject) / best (\(best.subject))", cell: cr.cell, metric: "throughput", value: v,
                goal: goalsApply ? 0.9 : nil, met: goalsApply ? v >= 0.9 : nil))
          } else if auto.status == .failed {
            ratios.append(
              Ratio(
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
          ratios.append(
            Ratio(
              what: "sender CPU \(best.0) / best of c:splice, c:sendfile", cell: cr.cell, metric: "sender CPU s/GB",
              value: v, goal: 1.1, met: v <= 1.1))
        }
      }
    }
    results.ratios = ratios
    // A goal over a number of cells ("in ≥ 24 of 26": required 24, 2 may miss) is met when
    // at least `required` ratios met it and no more than `allowedMisses` missed; a run that
    // measured fewer cells (a subset run) and missed no more than allowed decides nothing.
    func goal(
      _ text: String, required: Int? = nil, allowedMisses: Int = 0, _ filter: (Ratio) -> Bool, worstIsMax: Bool
    ) -> GoalResult {
      let rs = ratios.filter { $0.goal != nil && filter($0) }
      let worst = worstIsMax ? rs.max { $0.value < $1.value } : rs.min { $0.value < $1.value }
      let met = rs.filter { $0.met == true }.count
      let passed: Bool? =
        rs.isEmpty ? nil : rs.count - met > allowedMisses ? false : met >= (required ?? 0) ? true : nil
      return GoalResult(
        goal: text, checked: rs.count, met: met,
        worst: worst.map { "\($0.what) at \($0.cell): \(String(format: "%.3f", $0.value))" },
        passed: passed, allowedMisses: allowedMisses, requiredMet: required)
    }
    let profile = results.automaticProfile.map { " (profile: \($0))" } ?? ""
    var goals = [
      goal(
        "Swift ≤ 1.1× its C twin's time per transfer at 4 KiB, in ≥ 24 of 26 cells (/dev/null excluded)",
        required: 24, allowedMisses: 2, { $0.metric == "time per transfer" }, worstIsMax: true),
      goal(
        "Swift ≥ 0.95× its C twin's throughput at 1 MiB and larger, in ≥ 55 of 58 cells (/dev/null excluded)",
        required: 55, allowedMisses: 3,
        { $0.metric == "throughput" && $0.what.hasPrefix("swift:") && !$0.what.contains("best") && $0.cell.size >= MiB },
        worstIsMax: false),
      goal(
        "async Transfer.run ≤ 1.15× runBlocking's time per transfer, in every cell from 4 KiB to 1 GiB (/dev/null excluded)",
        { $0.metric == "async time per transfer" }, worstIsMax: true),
    ]
    goals += readGoals(results.reads)
    goals += [
      goal(
        ".automatic\(profile) ≥ 0.9× the best Swift strategy, in ≥ 19 of 21 cells (/dev/null excluded)",
        required: 19, allowedMisses: 2, { $0.what.hasPrefix("swift:automatic ") && $0.what.contains(" / best (") },
        worstIsMax: false)
    ]
    if ratios.contains(where: { $0.what.hasPrefix("swift:automatic.builtin ") }) {
      goals.append(
        goal(
          ".automatic with the built-in table ≥ 0.9× the best Swift strategy, in ≥ 19 of 21 cells",
          required: 19, allowedMisses: 2, { $0.what.hasPrefix("swift:automatic.builtin ") && $0.what.contains(" / best (") },
          worstIsMax: false))
    }
    goals.append(concurrentGoal(results.concurrent))
    goals.append(
      goal(
        "file→TCP sender CPU s/GB of the best Swift strategy ≤ 1.1× the C splice/sendfile reference (issue 8)",
        { $0.metric == "sender CPU s/GB" }, worstIsMax: true))
    results.goals = goals
  }

  /// The random reads' goals: QD1 ≤ pread + 1 µs, QD32 ≥ 1.0× the C ring at QD32 (no more
  /// time per read), and no executor preference within 1.2× of the preference.
  public static func readGoals(_ reads: ReadResults?) -> [GoalResult] {
    func ns(_ id: String) -> Double? {
      reads?.entries.first { $0.subject == id && $0.status == .measured }?.nanosecondsPerRead?.median
    }
    func fmt(_ v: Double) -> String { String(format: "%.0f ns", v) }
    func single(_ text: String, _ pairs: [(String, Double, Double, Bool)]) -> GoalResult {
      // (what, value, bound, met)
      let worst = pairs.first { !$0.3 } ?? pairs.first
      return GoalResult(
        goal: text, checked: pairs.count, met: pairs.filter(\.3).count,
        worst: worst.map { "\($0.0): \(fmt($0.1)) vs \(fmt($0.2))" }, passed: pairs.isEmpty ? nil : pairs.allSatisfy(\.3))
    }
    var qd1: [(String, Double, Double, Bool)] = []
    if let a = ns("swift:async.qd1"), let p = ns("c:pread") {
      qd1.append(("swift:async.qd1 vs c:pread + 1 µs", a, p + 1000, a <= p + 1000))
    }
    var qd32: [(String, Double, Double, Bool)] = []
    if let a = ns("swift:async.qd32"), let c = ns("c:ring.qd32") {
      qd32.append(("swift:async.qd32 vs c:ring.qd32", a, c, a <= c))
    }
    var unpinned: [(String, Double, Double, Bool)] = []
    for depth in [1, 8, 32] {
      if let u = ns("swift:async-unpinned.qd\(depth)"), let p = ns("swift:async.qd\(depth)") {
        unpinned.append(("swift:async-unpinned.qd\(depth) vs 1.2 × swift:async.qd\(depth)", u, 1.2 * p, u <= 1.2 * p))
      }
    }
    return [
      single("AsyncFile random 4 KiB reads at QD1 ≤ pread + 1 µs", qd1),
      single("AsyncFile random 4 KiB reads at QD32 ≥ 1.0× the C ring at QD32 (time per read ≤)", qd32),
      single("AsyncFile without an executor preference within 1.2× of with one (QD1, QD8, QD32)", unpinned),
    ]
  }

  /// The many-connections goal: the best Swift strategy ≥ 1.0× the C threads' throughput.
  public static func concurrentGoal(_ concurrent: ConcurrentResults?) -> GoalResult {
    let text =
      "\(concurrent.map { "\($0.plan.connections) concurrent \(formatSize($0.plan.size))" } ?? "Concurrent") file→socket transfers "
      + "(async API): the best Swift strategy ≥ 1.0× C threads of sendfile"
    let measured = concurrent?.entries.filter { $0.status == .measured && $0.gbPerSecond != nil } ?? []
    guard let c = measured.first(where: { $0.family == .c })?.gbPerSecond?.median,
      let best = measured.filter({ $0.family == .swift }).max(by: { $0.gbPerSecond!.median < $1.gbPerSecond!.median })
    else { return GoalResult(goal: text, checked: 0, met: 0, worst: nil, passed: nil) }
    let v = best.gbPerSecond!.median / c
    return GoalResult(
      goal: text, checked: 1, met: v >= 1.0 ? 1 : 0,
      worst:
        "\(best.subject) / c:sendfile.threads: \(String(format: "%.3f", v)) (\(String(format: "%.2f", best.gbPerSecond!.median)) vs \(String(format: "%.2f", c)) GB/s)",
      passed: v >= 1.0)
  }
}
