// The results of a run, as written to results.json (and read back by `compare`).

import Foundation

/// Median, minimum and maximum of a metric over a run's samples.
public struct Stat: Codable, Sendable, Hashable {
  /// The median (the mean of the middle two for an even count).
  public var median: Double
  /// The smallest sample.
  public var min: Double
  /// The largest sample.
  public var max: Double

  /// Summarises `values` (nil when empty).
  public init?(_ values: [Double]) {
    guard !values.isEmpty else { return nil }
    let s = values.sorted()
    let n = s.count
    median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    min = s[0]
    max = s[n - 1]
  }

  /// Creates a stat from its parts.
  public init(median: Double, min: Double, max: Double) {
    self.median = median
    self.min = min
    self.max = max
  }
}

/// One measured sample, as recorded.
public struct SampleRecord: Codable, Sendable, Hashable {
  /// The round it belongs to (1-based).
  public var round: Int
  /// The measurement.
  public var measurement: SampleMeasurement
  /// The receiver's report (sockets, pipes).
  public var receiver: ReceiverReport?
  /// Fraction of the source's pages cached just before the sample (after any re-warm).
  public var sourceResidency: Double
  /// Whether the source had to be read again before the sample because pages were evicted.
  public var rewarmed: Bool

  /// Creates a record.
  public init(round: Int, measurement: SampleMeasurement, receiver: ReceiverReport?, sourceResidency: Double, rewarmed: Bool) {
    self.round = round
    self.measurement = measurement
    self.receiver = receiver
    self.sourceResidency = sourceResidency
    self.rewarmed = rewarmed
  }
}

/// What happened to a subject in a cell.
public enum EntryStatus: String, Codable, Sendable {
  /// Every sample was verified and counts.
  case measured
  /// A sample failed (an error, or verification): no metric is reported.
  case failed
  /// The subject does not support this destination.
  case unsupported
}

/// The summary of a subject's samples in a cell (medians over samples).
public struct EntrySummary: Codable, Sendable, Hashable {
  /// Throughput, 10^9 bytes per second of transfer wall time.
  public var gbPerSecond: Stat
  /// Wall time per transfer, microseconds.
  public var microsPerTransfer: Stat
  /// User CPU seconds per 10^9 bytes (this process or the subject's child).
  public var userSecondsPerGB: Stat
  /// System CPU seconds per 10^9 bytes.
  public var systemSecondsPerGB: Stat
  /// User + system CPU seconds per 10^9 bytes.
  public var cpuSecondsPerGB: Stat
  /// Voluntary context switches per transfer.
  public var voluntarySwitchesPerTransfer: Stat
  /// Involuntary context switches per transfer.
  public var involuntarySwitchesPerTransfer: Stat
  /// Minor page faults per transfer.
  public var minorFaultsPerTransfer: Stat
  /// Data-path syscalls per transfer, as the implementation counts them (nil: not counted).
  public var syscallsPerTransfer: Stat?
  /// The receiver process's CPU seconds per 10^9 bytes (sockets, pipes).
  public var receiverSecondsPerGB: Stat?
}

/// A subject's results in one cell.
public struct EntryResult: Codable, Sendable {
  /// The subject id.
  public var subject: String
  /// What happened.
  public var status: EntryStatus
  /// Why it failed or is unsupported.
  public var reason: String?
  /// How the output was verified (`checksum` or `byte-count`), for measured entries.
  public var verification: Verification?
  /// Transfers per sample.
  public var iterations: Int
  /// The samples (measured entries only count verified ones).
  public var samples: [SampleRecord]
  /// Medians and ranges.
  public var summary: EntrySummary?
  /// For `.automatic`: strategies that moved bytes, with counts over all samples.
  public var strategiesUsed: [String: Int]?
  /// For `.automatic`: fallbacks taken, with counts.
  public var fallbacks: [String: Int]?

  /// Creates an entry.
  public init(
    subject: String, status: EntryStatus, reason: String?, verification: Verification?, iterations: Int,
    samples: [SampleRecord], summary: EntrySummary?, strategiesUsed: [String: Int]?, fallbacks: [String: Int]?
  ) {
    self.subject = subject
    self.status = status
    self.reason = reason
    self.verification = verification
    self.iterations = iterations
    self.samples = samples
    self.summary = summary
    self.strategiesUsed = strategiesUsed
    self.fallbacks = fallbacks
  }
}

/// One cell's results.
public struct CellResult: Codable, Sendable {
  /// The cell.
  public var cell: Cell
  /// Per subject.
  public var entries: [EntryResult]

  /// Creates a cell result.
  public init(cell: Cell, entries: [EntryResult]) {
    self.cell = cell
    self.entries = entries
  }
}

/// A random-read subject's result.
public struct ReadEntryResult: Codable, Sendable {
  /// Subject id ("swift:uring.qd32").
  public var subject: String
  /// Family.
  public var family: Family
  /// Twin key ("ring.qd32").
  public var variant: String
  /// What it does.
  public var summary: String
  /// What happened.
  public var status: EntryStatus
  /// Why it failed.
  public var reason: String?
  /// Nanoseconds per 4 KiB read.
  public var nanosecondsPerRead: Stat?
  /// CPU seconds per read (in-process only).
  public var cpuMicrosPerRead: Stat?
  /// Syscalls per read, when counted.
  public var syscallsPerRead: Stat?
  /// Raw samples, ns per read.
  public var samples: [Double]

  /// Creates an entry.
  public init(
    subject: String, family: Family, variant: String, summary: String, status: EntryStatus, reason: String?,
    nanosecondsPerRead: Stat?, cpuMicrosPerRead: Stat?, syscallsPerRead: Stat?, samples: [Double]
  ) {
    self.subject = subject
    self.family = family
    self.variant = variant
    self.summary = summary
    self.status = status
    self.reason = reason
    self.nanosecondsPerRead = nanosecondsPerRead
    self.cpuMicrosPerRead = cpuMicrosPerRead
    self.syscallsPerRead = syscallsPerRead
    self.samples = samples
  }
}

/// The random-read workload's results.
public struct ReadResults: Codable, Sendable {
  /// File size read from.
  public var fileSize: Int
  /// Reads per sample.
  public var operations: Int
  /// Per subject.
  public var entries: [ReadEntryResult]

  /// Creates results.
  public init(fileSize: Int, operations: Int, entries: [ReadEntryResult]) {
    self.fileSize = fileSize
    self.operations = operations
    self.entries = entries
  }
}

/// A ratio the issue's goals refer to.
public struct Ratio: Codable, Sendable, Hashable {
  /// What is compared: "swift:sendfile / c:sendfile".
  public var what: String
  /// The cell.
  public var cell: Cell
  /// The metric: "throughput" (higher is better) or "time per transfer" / "sender CPU".
  public var metric: String
  /// The ratio of medians.
  public var value: Double
  /// The goal's bound, if a goal applies to this ratio.
  public var goal: Double?
  /// Whether `value` meets `goal` (nil without a goal).
  public var met: Bool?
}

/// A goal from the issue, evaluated.
public struct GoalResult: Codable, Sendable {
  /// The goal in words.
  public var goal: String
  /// Ratios checked.
  public var checked: Int
  /// Ratios that met it.
  public var met: Int
  /// The worst ratio, in words.
  public var worst: String?
  /// Whether it was met: at most ``allowedMisses`` checked ratios missed and, for a goal
  /// over a number of cells, at least ``requiredMet`` met. Nil when nothing could be checked,
  /// or when a run measured too few cells to decide (a subset run: 2 of 26 cells met, none
  /// missed beyond the allowance, is neither met nor missed).
  public var passed: Bool?
  /// Checked ratios that may miss with the goal still met ("in ≥ 24 of 26 cells": 2);
  /// nil for 0 (every one).
  public var allowedMisses: Int?
  /// Checked ratios that must meet it ("in ≥ 24 of 26 cells": 24); nil when the goal is
  /// about every checked ratio.
  public var requiredMet: Int?

  /// Creates a goal result.
  public init(
    goal: String, checked: Int, met: Int, worst: String?, passed: Bool?, allowedMisses: Int? = nil,
    requiredMet: Int? = nil
  ) {
    self.goal = goal
    self.checked = checked
    self.met = met
    self.worst = worst
    self.passed = passed
    self.allowedMisses = allowedMisses
    self.requiredMet = requiredMet
  }

  /// "met", "MISSED" or "not checked".
  public var verdict: String { passed.map { $0 ? "met" : "MISSED" } ?? "not checked" }

  /// "25/26 met (at most 2 may miss); worst …", and why a goal with ratios checked was not
  /// decided.
  public var numbers: String {
    let undecided =
      passed == nil && checked > 0
      ? "; too few cells measured to decide (\(requiredMet.map(String.init) ?? "?") must meet it)" : ""
    return
      "\(met)/\(checked) met\(allowedMisses.map { $0 > 0 ? " (at most \($0) may miss)" : "" } ?? "")\(undecided)\(worst.map { "; worst \($0)" } ?? "")"
  }
}

/// The machine a run was made on.
public struct MachineInfo: Codable, Sendable {
  /// `uname -sr`.
  public var kernel: String
  /// CPU model name.
  public var cpu: String
  /// Online CPUs.
  public var cores: Int
  /// Total memory, bytes.
  public var memoryBytes: Int64
  /// Filesystem of the temporary directory.
  public var tempFilesystem: String
  /// Filesystem of the tmpfs directory (or "none").
  public var tmpfsFilesystem: String
  /// The Swift compiler that built the harness.
  public var swift: String
  /// Whether io_uring is usable here, and why not.
  public var ioUring: String
  /// A hypervisor, when /proc/cpuinfo says so.
  public var virtualized: Bool
  /// /proc/loadavg's 1-minute load at the start and at the end of the run (other work
  /// on the machine makes every number noisier).
  public var loadAverage: [Double]?
  /// What a pipe round trip between threads on two CPUs costs, measured at the start of a
  /// run with TCP or pipe cells (nil otherwise, and in older results).
  public var wakeLatency: WakeLatency? = nil

  /// Creates a description.
  public init(
    kernel: String, cpu: String, cores: Int, memoryBytes: Int64, tempFilesystem: String, tmpfsFilesystem: String,
    swift: String, ioUring: String, virtualized: Bool, loadAverage: [Double]?
  ) {
    self.kernel = kernel
    self.cpu = cpu
    self.cores = cores
    self.memoryBytes = memoryBytes
    self.tempFilesystem = tempFilesystem
    self.tmpfsFilesystem = tmpfsFilesystem
    self.swift = swift
    self.ioUring = ioUring
    self.virtualized = virtualized
    self.loadAverage = loadAverage
  }
}

/// Everything one run produced.
public struct BenchResults: Codable, Sendable {
  /// Format version of this file.
  public var schema = 1
  /// ISO 8601 start time.
  public var date: String
  /// The repository's commit ("unknown" outside git), with "-dirty" for local changes.
  public var commit: String
  /// The machine.
  public var machine: MachineInfo
  /// The plan that ran.
  public var plan: Plan
  /// Every subject that was considered.
  public var subjects: [SubjectInfo]
  /// The Swift strategies the Transfer registry listed (empty when it could not be read).
  public var registeredStrategies: [String]
  /// Transfer results per cell.
  public var cells: [CellResult]
  /// Random-read results.
  public var reads: ReadResults?
  /// Swift/C, automatic/best, TCP sender CPU ratios.
  public var ratios: [Ratio]
  /// The issue's goals, evaluated on `ratios`.
  public var goals: [GoalResult]
  /// Things the reader must know (re-warms, unavailable features, skipped peers).
  public var notes: [String]
  /// The profile `.automatic` decided with in this run: a profile file's path or
  /// `built-in`, with the note when a profile file was rejected (nil in older results).
  public var automaticProfile: String?
  /// The many-connections workload (N concurrent transfers to N sockets), if it ran.
  public var concurrent: ConcurrentResults?
  /// Wall time of the whole run, seconds (fixtures included, build excluded).
  public var durationSeconds: Double
  /// This run's C subjects against the committed reference run's: whether the machine ran
  /// as fast as then (nil in older results, or when no reference was given).
  public var steadiness: SteadinessResult?
  /// zc64 of the C reference programs' sources and libzerocopy's at the time of the run
  /// (``MachineReference/cSourcesDigest(repository:)``; nil in older results).
  public var cSources: String?

  /// Creates results.
  public init(
    date: String, commit: String, machine: MachineInfo, plan: Plan, subjects: [SubjectInfo],
    registeredStrategies: [String], cells: [CellResult], reads: ReadResults?, ratios: [Ratio], goals: [GoalResult],
    notes: [String], durationSeconds: Double
  ) {
    self.date = date
    self.commit = commit
    self.machine = machine
    self.plan = plan
    self.subjects = subjects
    self.registeredStrategies = registeredStrategies
    self.cells = cells
    self.reads = reads
    self.ratios = ratios
    self.goals = goals
    self.notes = notes
    self.durationSeconds = durationSeconds
  }
}
