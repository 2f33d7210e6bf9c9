// The run: fixtures, calibration, interleaved rounds, verification, summaries.

import Foundation
import Glibc

/// Options of `zerocopy-bench run`.
public struct RunOptions: Sendable {
  /// The mode.
  public var mode: Mode = .standard
  /// Drop the source's pages before every transfer.
  public var cold = false
  /// Only these destinations.
  public var destinations: [Destination]?
  /// Only these sizes.
  public var sizes: [Int]?
  /// Override the rounds.
  public var rounds: Int?
  /// Only subjects whose id contains one of these strings.
  public var only: [String]?
  /// Include the LinuxIO-layer Swift subjects.
  public var linuxIO = true
  /// Include the Foundation peers and cp.
  public var basicPeers = true
  /// `--peers`: fio and SwiftNIO too.
  public var extraPeers = false
  /// Run the random-read workload.
  public var reads = true
  /// Run the many-connections workload.
  public var concurrent = true
  /// Give the TCP and pipe cells' receiver process a CPU of its own and run the senders on
  /// the others (``CPUPlacement``); false: the scheduler places them (`--unpinned`).
  public var placeReceivers = true
  /// The C programs.
  public var tools: Tools
  /// The SwiftNIO peer executable, when built (make bench-peers).
  public var nioTool: String?
  /// Parent directory of the workspace.
  public var workspaceBase: String?
  /// Repository root (for the commit id).
  public var repository: String
  /// The reference run the C subjects are compared with (Docs/bench/reference.json; nil:
  /// no comparison).
  public var reference: String?
  /// Less output.
  public var quiet = false
  /// Plain progress lines even on a terminal.
  public var plainProgress = false

  /// Options with the tools' directory and the repository root.
  public init(tools: Tools, repository: String) {
    self.tools = tools
    self.repository = repository
  }
}

/// Registers extra transfer subjects and read subjects (the Swift Transfer registry, the
/// async engine) — filled in by the `zerocopy-bench` executable, which links them.
public struct SubjectSources: Sendable {
  /// Swift Transfer strategies (every registered one, plus `.automatic`).
  public var swiftTransfers: @Sendable () -> [any Subject] = { [] }
  /// Names of the registered strategies (for the JSON check).
  public var registeredNames: @Sendable () -> [String] = { [] }
  /// Extra random-read subjects (the async engine).
  public var extraReads: @Sendable () -> [any ReadSubject] = { [] }
  /// The Swift subjects of the many-connections workload (one per strategy, async API).
  public var concurrent: @Sendable () -> [any ConcurrentSubject] = { [] }
  /// The profile `.automatic` decides with in this process, in words (recorded in the results).
  public var automaticProfile: @Sendable () -> String? = { nil }
  /// Creates empty sources.
  public init() {}
}

/// Runs a plan and produces `BenchResults`.
public final class Runner {
  /// The options.
  public let options: RunOptions
  /// Where extra subjects come from.
  public let sources: SubjectSources
  /// The progress display.
  public let progress: ProgressReporter
  private var notes: [String] = []
  private var workspace: Workspace!
  private var rewarms = 0
  /// The TCP and pipe cells' placement (the plan's), read by ``sample``.
  private var placement: CPUPlacement?
  /// The CPUs this process's threads may use outside those cells.
  private let allCPUs = Affinity.get(thread: 0)
  private var completedEstimate = 0.0
  private var totalEstimate = 1.0
  private let runStart = monotonicNanoseconds()

  /// Creates a runner.
  public init(options: RunOptions, sources: SubjectSources) {
    self.options = options
    self.sources = sources
    self.progress = ProgressReporter(quiet: options.quiet, forcePlain: options.plainProgress)
  }

  /// Every transfer subject this run considers, before filtering.
  public func allSubjects() -> [any Subject] {
    var list: [any Subject] = sources.swiftTransfers()
    if CorruptingSubject.enabled && !list.contains(where: { $0.info.strategy == "corrupting" }) {
      list.append(CorruptingSubject())
    }
    if options.linuxIO { list += LinuxIOSubject.all() as [any Subject] }
    list += CReferenceSubject.all() as [any Subject]
    if options.basicPeers {
      if let cp = CpSubject.find() { list.append(cp) }
      list.append(FileManagerCopySubject())
      list.append(FileHandleSubject())
    }
    if options.extraPeers {
      if let nio = options.nioTool, access(nio, X_OK) == 0 {
        list += NIOSubject.all(tool: nio) as [any Subject]
      } else {
        notes.append("SwiftNIO peer not measured: its executable was not built (make bench-peers builds it).")
      }
    }
    if let only = options.only {
      list = list.filter { s in only.contains { s.info.id.contains($0) } }
    }
    return list
  }

  /// Runs everything and returns the results. The workspace is removed at the end,
  /// whatever happens.
  public func run() async throws -> BenchResults {
    let startDate = ISO8601DateFormatter().string(from: Date())
    let tmpfsNeed =
      Plan.make(
        mode: options.mode, cold: options.cold, tmpfsAvailable: true,
        destinations: options.destinations, sizes: options.sizes
      )
      .cells.filter { $0.destination == .tmpfs }.map(\.size).max() ?? 0
    workspace = try Workspace(base: options.workspaceBase, tmpfsBytes: 2 * tmpfsNeed)
    defer { workspace.remove() }
    var plan = Plan.make(
      mode: options.mode, cold: options.cold, tmpfsAvailable: workspace.tmpfsDirectory != nil,
      destinations: options.destinations, sizes: options.sizes, rounds: options.rounds,
      reads: options.reads, concurrent: options.concurrent)
    if options.placeReceivers && plan.cells.contains(where: { $0.destination.hasReceiver }) {
      plan.receiverPlacement = CPUPlacement.forThisProcess()
      if plan.receiverPlacement == nil {
        notes.append("TCP and pipe cells: one CPU available, senders and receivers share it (no placement).")
      }
    }
    placement = plan.receiverPlacement
    if workspace.tmpfsDirectory == nil && (options.destinations?.contains(.tmpfs) ?? true) {
      notes.append("No usable tmpfs (/dev/shm) with enough free space: the tmpfs destination was skipped.")
    }
    var machine = MachineInfo.current(tempDirectory: workspace.directory, tmpfsDirectory: workspace.tmpfsDirectory)
    // What a wake-up across CPUs costs here, before the TCP and pipe cells that pay it
    // (WakeLatency.swift): between the CPUs they use, placed or not.
    if plan.cells.contains(where: { $0.destination.hasReceiver }),
      let cpus = plan.receiverPlacement ?? CPUPlacement.forThisProcess()
    {
      machine.wakeLatency = WakeLatency.measure(sender: cpus.senderCPUs[0], receiver: cpus.receiverCPU)
      if let wake = machine.wakeLatency, wake.isSlow {
        let polling =
          wake.haltPollNanoseconds.map {
            " This VM's idle vCPUs poll for \($0) ns before they halt (haltpoll.guest_halt_poll_ns; BENCHMARKS.md, \"Wake-ups across CPUs\")."
          } ?? ""
        notes.append(
          "Waking a thread on another CPU is slow here — \(wake.description). The TCP and pipe cells, whose sender and receiver wake each other across CPUs, measure it as much as the code.\(polling)"
        )
      }
    }
    let missing = options.tools.missing()
    guard missing.isEmpty else {
      throw BenchError(
        "C reference programs missing in \(options.tools.directory): \(missing.joined(separator: ", ")) (make bench builds them)")
    }
    let subjects = allSubjects()
    progress.line(
      "zerocopy-bench \(plan.mode.rawValue): \(plan.cells.count) cells × \(subjects.count) subjects × \(plan.rounds) rounds\(plan.cold ? ", COLD cache (posix_fadvise DONTNEED before every transfer)" : ", warm page cache"); workspace \(workspace.directory)\(workspace.tmpfsDirectory.map { " and \($0)" } ?? "")"
    )

    // Estimate the work, for the ETA.
    totalEstimate = plan.cells.reduce(0) { acc, cell in
      acc + estimate(cell, subjects: subjects.filter { $0.unsupportedReason(cell) == nil }.count, rounds: plan.rounds)
    }
    if let r = plan.reads { totalEstimate += Double(plan.rounds) * 10 * Double(r.operations) * 2e-6 + 2 }
    if let c = plan.concurrent {
      totalEstimate += Double(plan.rounds) * 12 * (0.05 + Double(c.connections * c.size * (c.iterations + 1)) / 1e9)
    }

    var cells: [CellResult] = []
    for (index, cell) in plan.cells.enumerated() {
      let r = try await runCell(cell, index: index + 1, of: plan.cells.count, subjects: subjects, plan: plan)
      cells.append(r)
      let measured = r.entries.filter { $0.status == .measured }.count
      let failed = r.entries.filter { $0.status == .failed }
      progress.line(
        "cell \(index + 1)/\(plan.cells.count) \(cell.destination.rawValue) \(formatSize(cell.size)): \(measured) measured\(failed.isEmpty ? "" : ", \(failed.count) FAILED (\(failed.map(\.subject).joined(separator: ", ")))") — \(ProgressReporter.clock(progress.elapsed)) elapsed"
      )
    }
    var reads: ReadResults?
    if let rp = plan.reads {
      reads = try await runReads(rp, plan: plan)
    }
    var concurrent: ConcurrentResults?
    if let cp = plan.concurrent {
      concurrent = try await runConcurrent(cp, plan: plan)
    }
    progress.finish()
    if rewarms > 0 {
      notes.append(
        "The page cache dropped source pages \(rewarms) time(s) during the run; each time the source was read again before the sample (recorded per sample as `rewarmed`)."
      )
    }
    var machineEnd = machine
    if let end = currentLoadAverage() { machineEnd.loadAverage = (machine.loadAverage ?? []) + [end] }
    var results = BenchResults(
      date: startDate, commit: gitCommit(in: options.repository), machine: machineEnd, plan: plan,
      subjects: subjects.map(\.info), registeredStrategies: sources.registeredNames(), cells: cells,
      reads: reads, ratios: [], goals: [], notes: notes,
      durationSeconds: Double(monotonicNanoseconds() - runStart) / 1e9)
    results.automaticProfile = sources.automaticProfile()
    results.concurrent = concurrent
    results.cSources = MachineReference.cSourcesDigest(repository: options.repository)
    Analysis.computeRatios(&results)
    if let path = options.reference {
      var steadiness = Analysis.steadiness(results, referenceAt: path)
      if path.hasPrefix(options.repository + "/") {
        steadiness.referencePath = String(path.dropFirst(options.repository.count + 1))
      }
      results.steadiness = steadiness
      if let warning = steadiness.warning { results.notes.append(warning) }
    }
    return results
  }

  // MARK: - Cells

  private func estimate(_ cell: Cell, subjects: Int, rounds: Int) -> Double {
    let big = cell.size >= 64 << 20
    let factor = cell.destination.isFile ? 3.5 : 1.5
    let perSample = 0.035 + factor * Double(cell.size) / 1.5e9
    return Double(subjects) * Double(rounds + (big ? 0 : 2)) * perSample
  }

  private func eta() -> Double? {
    guard completedEstimate > 0 else { return nil }
    let elapsed = Double(monotonicNanoseconds() - runStart) / 1e9
    return max(0, (totalEstimate - completedEstimate) * elapsed / completedEstimate)
  }

  private struct EntryState {
    var subject: any Subject
    var status: EntryStatus = .measured
    var reason: String?
    var iterations = 1
    var warmup = 0
    var samples: [SampleRecord] = []
  }

  private func runCell(_ cell: Cell, index: Int, of count: Int, subjects: [any Subject], plan: Plan) async throws -> CellResult {
    let source = try workspace.source(size: cell.size)
    if !plan.cold { try PageCache.warm(source.path) }
    // Start each cell with no dirty data from earlier cells being written back meanwhile.
    sync()
    if cell.destination.isFile {
      try workspace.createDestination(workspace.destinationPath(for: cell), size: cell.size)
    }
    defer {
      unlink(workspace.destinationPath(for: cell))
      unlink(workspace.destinationPath(for: cell, suffix: "-new"))
    }
    var states: [EntryState] = subjects.map { EntryState(subject: $0) }
    for i in states.indices {
      if let why = states[i].subject.unsupportedReason(cell) {
        states[i].status = .unsupported
        states[i].reason = why
      } else if states[i].subject.info.family == .swiftLinuxIO, let max = plan.linuxIOMaxSize, cell.size > max {
        states[i].status = .unsupported
        states[i].reason = "not run above \(formatSize(max)) in this mode (--full runs the LinuxIO subjects at every size)"
      }
    }
    let perSampleEstimate = estimate(cell, subjects: 1, rounds: 1) / Double(1 + (cell.size >= 64 << 20 ? 0 : 2))
    // Calibrate: find the iterations that make a sample last at least the target.
    for i in states.indices where states[i].status == .measured {
      progress.status(
        cellIndex: index, cellCount: count, cell: cell.description, round: "calibrating",
        subject: states[i].subject.info.id, eta: eta())
      do {
        let (n, w) = try await calibrate(states[i].subject, cell: cell, source: source, plan: plan)
        states[i].iterations = n
        states[i].warmup = w
      } catch let u as UnsupportedHere {
        states[i].status = .unsupported
        states[i].reason = u.reason
      } catch {
        try Interrupt.check()
        states[i].status = .failed
        states[i].reason = "\(error)"
      }
      if cell.size < 64 << 20 { completedEstimate += 2 * perSampleEstimate }
    }
    for round in 1...plan.rounds {
      let active = states.indices.filter { states[$0].status == .measured }
      guard !active.isEmpty else { break }
      let shift = (round - 1) % active.count
      let order = Array(active[shift...] + active[..<shift])
      for i in order where states[i].status == .measured {
        progress.status(
          cellIndex: index, cellCount: count, cell: cell.description,
          round: "round \(round)/\(plan.rounds)", subject: states[i].subject.info.id, eta: eta())
        try Interrupt.check()
        do {
          let rec = try await sample(
            states[i].subject, cell: cell, source: source, iterations: states[i].iterations,
            warmup: states[i].warmup, round: round, plan: plan)
          states[i].samples.append(rec)
        } catch let u as UnsupportedHere {
          states[i].status = .unsupported
          states[i].reason = u.reason
          states[i].samples = []
        } catch {
          try Interrupt.check()
          states[i].status = .failed
          states[i].reason = "round \(round): \(error)"
        }
        completedEstimate += perSampleEstimate
      }
    }
    let entries = states.map { s -> EntryResult in
      let measured = s.status == .measured
      var used: [String: Int] = [:]
      var fallbacks: [String: Int] = [:]
      for r in s.samples {
        for (k, v) in r.measurement.strategiesUsed ?? [:] { used[k, default: 0] += v }
        for (k, v) in r.measurement.fallbacks ?? [:] { fallbacks[k, default: 0] += v }
      }
      return EntryResult(
        subject: s.subject.info.id, status: s.status, reason: s.reason,
        verification: measured ? cell.destination.verification : nil,
        iterations: s.iterations, samples: measured ? s.samples : [],
        summary: measured ? Analysis.summarize(s.samples, size: cell.size) : nil,
        strategiesUsed: used.isEmpty ? nil : used, fallbacks: fallbacks.isEmpty ? nil : fallbacks)
    }
    return CellResult(cell: cell, entries: entries)
  }

  /// Doubles the iterations until a sample takes a quarter of the target, then scales.
  /// Transfers of 64 MiB and more run once per sample, without calibration or warm-up.
  private func calibrate(_ subject: any Subject, cell: Cell, source: SourceFile, plan: Plan) async throws -> (Int, Int) {
    if cell.size >= 64 << 20 { return (1, 0) }
    let target = Double(plan.targetSampleNanoseconds)
    let maxIterations = 200_000
    var n = 1
    while true {
      let rec = try await sample(subject, cell: cell, source: source, iterations: n, warmup: 1, round: 0, plan: plan)
      let ns = Double(max(rec.measurement.nanoseconds, 1))
      if ns >= target / 4 || n >= maxIterations {
        let per = ns / Double(n)
        let iterations = min(maxIterations, max(1, Int((target / per).rounded(.up))))
        return (iterations, iterations > 1 ? 1 : 0)
      }
      n = min(maxIterations, max(n * 2, Int(Double(n) * (target / 4) / ns * 1.5)))
    }
  }

  /// One verified sample, or a thrown failure.
  private func sample(
    _ subject: any Subject, cell: Cell, source: SourceFile, iterations: Int, warmup: Int, round: Int, plan: Plan
  ) async throws -> SampleRecord {
    try Interrupt.check()
    var rewarmed = false
    var residency = 1.0
    if !plan.cold {
      residency = try PageCache.residency(of: source.path)
      if residency < 0.999 {
        try PageCache.warm(source.path)
        rewarmed = true
        if round > 0 { rewarms += 1 }
        residency = try PageCache.residency(of: source.path)
      }
    }
    // TCP and pipe cells: this process's threads (and the C twins and peers they start) on
    // the sender CPUs, the receiver on its own (CPUPlacement); everything back afterwards.
    let placed = cell.destination.hasReceiver ? placement : nil
    if let placed { Affinity.setProcess(cpus: placed.senderCPUs) }
    defer { if placed != nil, let allCPUs { Affinity.setProcess(cpus: allCPUs) } }
    let session = try DestinationSession(
      cell: cell, workspace: workspace, tools: options.tools, receiverCPU: placed?.receiverCPU)
    let run = SampleRun(
      cell: cell, source: source, session: session, iterations: iterations, warmup: warmup, cold: plan.cold,
      tools: options.tools, workspace: workspace)
    let m: SampleMeasurement
    do {
      m = try await subject.measure(run)
    } catch {
      session.abort()
      throw error
    }
    let receiver: ReceiverReport?
    do {
      receiver = try session.finish()
    } catch {
      session.abort()
      throw error
    }
    if !m.failures.isEmpty {
      throw BenchError("verification failed: " + m.failures.joined(separator: "; "))
    }
    let total = warmup + iterations
    if m.bytes != Int64(iterations) * Int64(cell.size) {
      throw BenchError(
        "verification failed: \(m.bytes) bytes reported over \(iterations) transfers, expected \(Int64(iterations) * Int64(cell.size))"
      )
    }
    if let rc = receiver {
      let want = Int64(total) * Int64(cell.size)
      if rc.bytes != want {
        throw BenchError("verification failed: the receiver got \(rc.bytes) bytes, expected \(want)")
      }
      if cell.destination.verification == .checksum {
        let expected = try workspace.streamChecksum(of: source, copies: total)
        guard let got = rc.checksum else { throw BenchError("verification failed: the receiver sent no checksum") }
        if got != expected {
          throw BenchError(
            "verification failed: the receiver's checksum \(ZC64.hex(got)) differs from the source stream's \(ZC64.hex(expected))"
          )
        }
      }
    }
    return SampleRecord(round: round, measurement: m, receiver: receiver, sourceResidency: residency, rewarmed: rewarmed)
  }

  // MARK: - Random reads

  private func runReads(_ rp: ReadPlan, plan: Plan) async throws -> ReadResults {
    let source = try workspace.source(size: rp.fileSize)
    try PageCache.warm(source.path)
    var subjects: [any ReadSubject] = [PreadSubject()]
    for qd in rp.queueDepths { subjects.append(IOURingReadSubject(depth: qd, fixed: false)) }
    if rp.queueDepths.contains(32) { subjects.append(IOURingReadSubject(depth: 32, fixed: true)) }
    subjects += sources.extraReads()
    if let only = options.only {
      subjects = subjects.filter { s in only.contains { s.id.contains($0) } }
    }
    var samples: [String: [ReadSample]] = [:]
    var failures: [String: String] = [:]
    var cSamples: [String: [Double]] = [:]
    var cFailure: String?
    for round in 1...plan.rounds {
      if try PageCache.residency(of: source.path) < 0.999 {
        try PageCache.warm(source.path)
        rewarms += 1
      }
      let shift = (round - 1) % (subjects.count + 1)
      // Index subjects.count stands for the C group.
      let order = Array(Array(0...subjects.count)[shift...] + Array(0...subjects.count)[..<shift])
      for i in order {
        if i == subjects.count {
          guard cFailure == nil else { continue }
          progress.status(
            cellIndex: plan.cells.count + 1, cellCount: plan.cells.count + 1, cell: "random 4 KiB reads",
            round: "round \(round)/\(plan.rounds)", subject: "c:uring_ops", eta: eta())
          do {
            let r = try CReadGroup.sample(
              tools: options.tools, scratch: workspace.scratch, path: source.path,
              operations: rp.operations)
            for (k, v) in r { cSamples[k, default: []].append(v) }
          } catch {
            cFailure = "\(error)"
          }
          continue
        }
        let s = subjects[i]
        guard failures[s.id] == nil else { continue }
        progress.status(
          cellIndex: plan.cells.count + 1, cellCount: plan.cells.count + 1, cell: "random 4 KiB reads",
          round: "round \(round)/\(plan.rounds)", subject: s.id, eta: eta())
        do {
          let r = try await s.sample(path: source.path, fileSize: rp.fileSize, operations: rp.operations)
          samples[s.id, default: []].append(r)
        } catch {
          failures[s.id] = "round \(round): \(error)"
        }
      }
      completedEstimate += 10 * Double(rp.operations) * 2e-6
    }
    var entries: [ReadEntryResult] = subjects.map { s in
      let list = samples[s.id] ?? []
      let failed = failures[s.id]
      return ReadEntryResult(
        subject: s.id, family: s.family, variant: s.variant, summary: s.summary,
        status: failed == nil ? .measured : .failed, reason: failed,
        nanosecondsPerRead: failed == nil ? Stat(list.map(\.nanosecondsPerRead)) : nil,
        cpuMicrosPerRead: failed == nil ? Stat(list.compactMap(\.cpuMicrosPerRead)) : nil,
        syscallsPerRead: failed == nil ? Stat(list.compactMap(\.syscallsPerRead)) : nil,
        samples: failed == nil ? list.map(\.nanosecondsPerRead) : [])
    }
    if options.only == nil || options.only!.contains(where: { "c:".contains($0) || $0.hasPrefix("c:") }) {
      for (variant, summary) in CReadGroup.variants {
        let list = cSamples[variant] ?? []
        entries.append(
          ReadEntryResult(
            subject: "c:\(variant)", family: .c, variant: variant, summary: summary,
            status: cFailure == nil ? .measured : .failed, reason: cFailure,
            nanosecondsPerRead: cFailure == nil ? Stat(list) : nil, cpuMicrosPerRead: nil,
            syscallsPerRead: nil, samples: cFailure == nil ? list : []))
      }
    }
    if options.extraPeers {
      entries += FioPeer.run(
        path: source.path, fileSize: rp.fileSize, plan: rp, rounds: plan.rounds,
        scratch: workspace.scratch, notes: &notes)
    }
    return ReadResults(fileSize: rp.fileSize, operations: rp.operations, entries: entries)
  }

  // MARK: - Many connections

  private func runConcurrent(_ cp: ConcurrentPlan, plan: Plan) async throws -> ConcurrentResults {
    let source = try workspace.source(size: cp.size)
    try PageCache.warm(source.path)
    var subjects: [any ConcurrentSubject] = [CConcurrentSubject()] + sources.concurrent()
    if let only = options.only {
      subjects = subjects.filter { s in only.contains { s.info.id.contains($0) } }
    }
    var samples: [String: [ConcurrentSample]] = [:]
    var failures: [String: String] = [:]
    var unsupported: [String: String] = [:]
    let title = "\(cp.connections) × \(formatSize(cp.size)) to TCP at once"
    for round in 1...plan.rounds {
      guard !subjects.isEmpty else { break }
      let shift = (round - 1) % subjects.count
      let order = Array(subjects.indices[shift...]) + Array(subjects.indices[..<shift])
      for i in order {
        let s = subjects[i]
        guard failures[s.info.id] == nil, unsupported[s.info.id] == nil else { continue }
        progress.status(
          cellIndex: plan.cells.count + 2, cellCount: plan.cells.count + 2, cell: title,
          round: "round \(round)/\(plan.rounds)", subject: s.info.id, eta: eta())
        try Interrupt.check()
        do {
          samples[s.info.id, default: []].append(
            try await concurrentSample(s, source: source, plan: cp, workspace: workspace))
        } catch let u as UnsupportedHere {
          unsupported[s.info.id] = u.reason
        } catch {
          try Interrupt.check()
          failures[s.info.id] = "round \(round): \(error)"
        }
        completedEstimate += 0.05 + Double(cp.connections * cp.size * (cp.iterations + 1)) / 1e9
      }
    }
    let entries = subjects.map { s -> ConcurrentEntry in
      let id = s.info.id
      let list = failures[id] == nil && unsupported[id] == nil ? samples[id] ?? [] : []
      let gb = list.map { Double($0.bytes) / Double(max($0.nanoseconds, 1)) }
      return ConcurrentEntry(
        subject: id, family: s.info.family, summary: s.info.summary,
        status: unsupported[id] != nil ? .unsupported : failures[id] != nil ? .failed : .measured,
        reason: unsupported[id] ?? failures[id], gbPerSecond: Stat(gb),
        microsPerIteration: Stat(list.map { Double($0.nanoseconds) / 1000 / Double(cp.iterations) }),
        cpuSecondsPerGB: Stat(
          list.map { Double($0.usage.userMicros + $0.usage.systemMicros) / 1e6 / max(Double($0.bytes) / 1e9, 1e-12) }),
        samples: gb)
    }
    return ConcurrentResults(plan: cp, entries: entries)
  }
}
