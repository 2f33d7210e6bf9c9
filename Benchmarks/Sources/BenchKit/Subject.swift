// What is measured: a subject (a Swift strategy, a C twin, a peer) moves one source to
// one destination, `iterations` times per sample.

import Foundation
import Glibc

/// Where a subject comes from.
public enum Family: String, Codable, Sendable, CaseIterable {
  /// A Swift strategy from the library's Transfer registry (built-in or user-registered),
  /// or `.automatic`.
  case swift
  /// A Swift implementation on the LinuxIO layer (layer 1) — the same syscall loops as the
  /// C twins, so the ratio shows what Swift itself costs before the Transfer layer.
  case swiftLinuxIO = "swift-linuxio"
  /// The same strategy in plain C on libzerocopy (Benchmarks/c/xfer_ref.c).
  case c
  /// What a user might pick instead: coreutils cp, Foundation, SwiftNIO, fio.
  case peer
}

/// Describes a subject.
public struct SubjectInfo: Codable, Sendable, Hashable {
  /// Unique id: "swift:sendfile", "c:sendfile", "peer:cp".
  public var id: String
  /// Where it comes from.
  public var family: Family
  /// The strategy name that pairs a Swift subject with its C twin ("sendfile"), or the
  /// peer's name.
  public var strategy: String
  /// What it does, in a few words.
  public var summary: String
  /// What its numbers include beyond the transfer itself, if anything.
  public var note: String?

  /// Creates a description.
  public init(id: String, family: Family, strategy: String, summary: String, note: String? = nil) {
    self.id = id
    self.family = family
    self.strategy = strategy
    self.summary = summary
    self.note = note
  }
}

/// Everything a subject needs for one sample.
public struct SampleRun {
  /// The cell.
  public var cell: Cell
  /// The source file (its size is `cell.size`).
  public var source: SourceFile
  /// The destination, opened for this sample.
  public var session: DestinationSession
  /// Measured iterations.
  public var iterations: Int
  /// Untimed warm-up iterations before them (they still go to the destination).
  public var warmup: Int
  /// Drop the source's pages before every iteration.
  public var cold: Bool
  /// The C programs.
  public var tools: Tools
  /// The workspace.
  public var workspace: Workspace
}

/// What one sample measured (sums over its measured iterations).
public struct SampleMeasurement: Sendable, Codable, Hashable {
  /// Measured iterations.
  public var iterations: Int
  /// Bytes delivered in the measured iterations.
  public var bytes: Int64
  /// Wall time of the measured transfers only, nanoseconds.
  public var nanoseconds: UInt64
  /// This process's (or the child's) resource usage during the transfers.
  public var usage: Usage
  /// Data-path syscalls the strategy counted itself, when it counts them.
  public var syscalls: Int64?
  /// For `.automatic`: the strategies that moved the bytes, with counts.
  public var strategiesUsed: [String: Int]?
  /// For `.automatic`: fallbacks taken ("copyFileRange→sendfile: EXDEV"), with counts.
  public var fallbacks: [String: Int]?
  /// Per-iteration verification failures (file destinations), at most a few.
  public var failures: [String]

  /// An empty measurement.
  public init(iterations: Int = 0) {
    self.iterations = iterations
    bytes = 0
    nanoseconds = 0
    usage = Usage()
    syscalls = nil
    failures = []
  }
}

/// Thrown by a subject that finds, at run time, that it cannot work for this pair here
/// (the strategy says so, or the kernel refuses before any byte moved: EXDEV, EINVAL…).
/// The runner records the cell as unsupported with the reason, not as a failure.
public struct UnsupportedHere: Error, CustomStringConvertible, Sendable {
  /// Why.
  public var reason: String
  /// Creates the error.
  public init(_ reason: String) { self.reason = reason }
  /// The reason.
  public var description: String { reason }
}

/// The earlier name of ``SubjectOutcome``: it collided with LinuxIO's `TransferOutcome`
/// (how an "all" call ended), a different type.
@available(*, deprecated, renamed: "SubjectOutcome")
public typealias TransferOutcome = SubjectOutcome

/// The outcome of one in-process transfer, as the subject's body reports it.
public struct SubjectOutcome: Sendable {
  /// Bytes delivered.
  public var bytes: Int64
  /// Syscalls made on the data path, if the implementation counts them.
  public var syscalls: Int?
  /// The strategy that moved the bytes (for `.automatic`).
  public var strategy: String?
  /// Fallbacks taken, described.
  public var fallbacks: [String]

  /// Creates an outcome.
  public init(bytes: Int64, syscalls: Int?, strategy: String? = nil, fallbacks: [String] = []) {
    self.bytes = bytes
    self.syscalls = syscalls
    self.strategy = strategy
    self.fallbacks = fallbacks
  }
}

/// Something the benchmark measures.
public protocol Subject: Sendable {
  /// Its description.
  var info: SubjectInfo { get }
  /// Whether it can move bytes to this cell's destination (nil), or why not.
  func unsupportedReason(_ cell: Cell) -> String?
  /// Runs one sample.
  func measure(_ run: SampleRun) async throws -> SampleMeasurement
}

/// The in-process harness shared by every Swift subject: per iteration, untimed
/// destination preparation (and cache drop), then getrusage + clock around the transfer
/// alone, then untimed verification — the same sequence xfer_ref runs in C.
///
/// `body(source, destination)` must move the whole source (from offset 0) to the
/// destination's current position and say how many bytes it delivered.
public func measureInProcess(
  _ run: SampleRun,
  body: (_ source: CInt, _ destination: CInt) async throws -> SubjectOutcome
) async throws -> SampleMeasurement {
  let src = try check(open(run.source.path, O_RDONLY | O_CLOEXEC), "open \(run.source.path)")
  defer { close(src) }
  let dst = try run.session.descriptor()
  var m = SampleMeasurement(iterations: run.iterations)
  var syscalls: Int64 = 0
  var syscallsKnown = true
  var used: [String: Int] = [:]
  var fallbacks: [String: Int] = [:]
  for i in 0..<(run.warmup + run.iterations) {
    try run.session.prepareIteration()
    if run.cold { try PageCache.drop(fd: src, path: run.source.path) }
    try check(lseek(src, 0, SEEK_SET), "lseek source")
    MarkerHook.before()
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    let out = try await body(src, dst)
    let t1 = monotonicNanoseconds()
    let u1 = Usage.current()
    MarkerHook.after()
    if let problem = try run.session.verifyIteration(expected: run.source.checksum) {
      if m.failures.count < 3 { m.failures.append("iteration \(i + 1): \(problem)") }
    }
    if out.bytes != Int64(run.cell.size) && m.failures.count < 3 {
      m.failures.append("iteration \(i + 1): reported \(out.bytes) bytes, expected \(run.cell.size)")
    }
    guard i >= run.warmup else { continue }
    m.nanoseconds += t1 - t0
    m.usage = m.usage + (u1 - u0)
    m.bytes += out.bytes
    if let s = out.syscalls { syscalls += Int64(s) } else { syscallsKnown = false }
    if let s = out.strategy { used[s, default: 0] += 1 }
    for f in out.fallbacks { fallbacks[f, default: 0] += 1 }
  }
  m.syscalls = syscallsKnown ? syscalls : nil
  if !used.isEmpty { m.strategiesUsed = used }
  if !fallbacks.isEmpty { m.fallbacks = fallbacks }
  return m
}
