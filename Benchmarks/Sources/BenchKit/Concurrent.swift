// The many-connections workload (the server case): N concurrent transfers of the same
// small file range, one per TCP connection, all N at once, repeated — through each
// Swift strategy's async API, against N threads of C sendfile (Benchmarks/c/conc_ref.c).
// A receiver process (recv_ref many) drains every connection and checksums each stream.

import Foundation
import Glibc

/// The many-connections workload's plan.
public struct ConcurrentPlan: Codable, Sendable, Hashable {
  /// Connections, each getting one transfer per iteration.
  public var connections: Int
  /// Bytes per transfer (the source file's first `size` bytes).
  public var size: Int
  /// Measured iterations per sample (each: `connections` transfers at once), after one
  /// untimed warm-up iteration.
  public var iterations: Int

  /// Creates a plan.
  public init(connections: Int, size: Int, iterations: Int) {
    self.connections = connections
    self.size = size
    self.iterations = iterations
  }
}

/// What one sample of the workload measured.
public struct ConcurrentSample: Sendable {
  /// Wall time of the measured iterations, nanoseconds.
  public var nanoseconds: UInt64
  /// Bytes the measured iterations delivered.
  public var bytes: Int64
  /// The sender's resource usage during them.
  public var usage: Usage

  /// Creates a sample.
  public init(nanoseconds: UInt64, bytes: Int64, usage: Usage) {
    self.nanoseconds = nanoseconds
    self.bytes = bytes
    self.usage = usage
  }
}

/// Something the many-connections workload measures.
public protocol ConcurrentSubject: Sendable {
  /// Its description (`strategy` pairs it with others: "sendfile").
  var info: SubjectInfo { get }
  /// Opens `plan.connections` connections to 127.0.0.1:`port`, runs 1 + `plan.iterations`
  /// iterations of `plan.connections` concurrent transfers of `source`'s first `plan.size`
  /// bytes (one per connection), times the last `plan.iterations`, and closes every
  /// connection. Throws ``UnsupportedHere`` when it cannot move bytes to a TCP socket.
  func sample(source: SourceFile, port: Int, plan: ConcurrentPlan, tools: Tools, scratch: String) async throws
    -> ConcurrentSample
}

/// One subject's results in the workload.
public struct ConcurrentEntry: Codable, Sendable {
  /// Subject id.
  public var subject: String
  /// Family.
  public var family: Family
  /// What it does.
  public var summary: String
  /// What happened.
  public var status: EntryStatus
  /// Why it was not measured, or failed.
  public var reason: String?
  /// GB/s over all connections.
  public var gbPerSecond: Stat?
  /// Microseconds per iteration (all `connections` transfers).
  public var microsPerIteration: Stat?
  /// Sender CPU seconds per GB.
  public var cpuSecondsPerGB: Stat?
  /// Raw samples, GB/s.
  public var samples: [Double]

  /// Creates an entry.
  public init(
    subject: String, family: Family, summary: String, status: EntryStatus, reason: String?, gbPerSecond: Stat?,
    microsPerIteration: Stat?, cpuSecondsPerGB: Stat?, samples: [Double]
  ) {
    self.subject = subject
    self.family = family
    self.summary = summary
    self.status = status
    self.reason = reason
    self.gbPerSecond = gbPerSecond
    self.microsPerIteration = microsPerIteration
    self.cpuSecondsPerGB = cpuSecondsPerGB
    self.samples = samples
  }
}

/// The workload's results.
public struct ConcurrentResults: Codable, Sendable {
  /// The plan that ran.
  public var plan: ConcurrentPlan
  /// Per subject.
  public var entries: [ConcurrentEntry]

  /// Creates results.
  public init(plan: ConcurrentPlan, entries: [ConcurrentEntry]) {
    self.plan = plan
    self.entries = entries
  }
}

/// The C twin: `conc_ref`, one thread and one connection per transfer, sendfile.
public struct CConcurrentSubject: ConcurrentSubject {
  /// `c:sendfile.threads`.
  public let info = SubjectInfo(
    id: "c:sendfile.threads", family: .c, strategy: "sendfile.threads",
    summary: "C: one thread per connection, each sendfile()-ing its range, all released at once (conc_ref)",
    note: "separate process; timing and getrusage around each iteration only")

  /// The twin.
  public init() {}

  /// Runs `conc_ref` for 1 + `plan.iterations` iterations and sums the measured ones.
  public func sample(source: SourceFile, port: Int, plan: ConcurrentPlan, tools: Tools, scratch: String) async throws
    -> ConcurrentSample
  {
    let out = "\(scratch)/conc_ref.out"
    unlink(out)
    let child = try ChildProcess(
      tools.path("conc_ref"),
      [source.path, String(plan.size), String(port), String(plan.connections), String(plan.iterations + 1)],
      stdout: .file(out), stderrPath: "\(scratch)/conc_ref.err")
    let exit = try child.wait()
    guard exit.succeeded else {
      throw BenchError(
        "conc_ref failed (\(exit.code.map { "exit \($0)" } ?? "signal \(exit.signal ?? 0)")): \(child.stderrText())")
    }
    let lines = ((try? readSmallFile(out)) ?? "").split(separator: "\n")
    guard lines.count == plan.iterations + 1 else {
      throw BenchError("conc_ref printed \(lines.count) lines, expected \(plan.iterations + 1)")
    }
    var sample = ConcurrentSample(nanoseconds: 0, bytes: 0, usage: Usage())
    for line in lines.dropFirst() {
      let f = parseFields(String(line))
      func int(_ k: String) -> Int64 { Int64(f[k] ?? "") ?? 0 }
      sample.nanoseconds += UInt64(max(0, int("ns")))
      sample.bytes += int("bytes")
      sample.usage = sample.usage + Usage(fields: f)
    }
    return sample
  }
}

/// Connects `count` TCP sockets to 127.0.0.1:`port` (blocking, close-on-exec).
public func connectLoopback(port: Int, count: Int) throws -> [CInt] {
  var sockets: [CInt] = []
  do {
    for _ in 0..<count {
      let s = try check(socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket")
      sockets.append(s)
      var sa = sockaddr_in()
      sa.sin_family = sa_family_t(AF_INET)
      sa.sin_port = in_port_t(UInt16(port).bigEndian)
      sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
      let rc = withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
      try check(rc, "connect 127.0.0.1:\(port)")
    }
  } catch {
    for s in sockets { close(s) }
    throw error
  }
  return sockets
}

extension Runner {
  /// One verified sample of the workload: a receiver, the subject, the receiver's report.
  func concurrentSample(
    _ subject: any ConcurrentSubject, source: SourceFile, plan: ConcurrentPlan, workspace: Workspace
  ) async throws -> ConcurrentSample {
    let receiver = try ChildProcess(
      options.tools.path("recv_ref"), ["many", "0", String(plan.connections)], stdout: .pipe,
      stderrPath: "\(workspace.scratch)/recv_ref-many.err")
    guard let line = try receiver.readLine(), let port = parseFields(line)["port"].flatMap({ Int($0) }) else {
      receiver.kill()
      throw BenchError("recv_ref many did not report a port: \(receiver.stderrText())")
    }
    let sample: ConcurrentSample
    do {
      sample = try await subject.sample(
        source: source, port: port, plan: plan, tools: options.tools, scratch: workspace.scratch)
    } catch {
      receiver.kill()
      throw error
    }
    let report = try receiver.readLine()
    let exit = try receiver.wait()
    guard exit.succeeded, let report else {
      throw BenchError("recv_ref many failed: \(receiver.stderrText())")
    }
    let f = parseFields(report)
    let copies = plan.iterations + 1
    let want = Int64(plan.connections) * Int64(copies) * Int64(plan.size)
    guard let got = f["bytes"].flatMap({ Int64($0) }), got == want else {
      throw BenchError("verification failed: the receiver got \(f["bytes"] ?? "?") bytes, expected \(want)")
    }
    let expected = try workspace.streamChecksum(of: source, copies: copies)
    guard let sum = f["checksum"].flatMap({ UInt64($0, radix: 16) }), sum == expected else {
      throw BenchError(
        "verification failed: the connections' checksums are \(f["checksum"] ?? "?"), expected \(ZC64.hex(expected)) on each")
    }
    guard sample.bytes == Int64(plan.iterations) * Int64(plan.connections) * Int64(plan.size) else {
      throw BenchError("verification failed: the subject reported \(sample.bytes) bytes over its measured iterations")
    }
    return sample
  }
}
