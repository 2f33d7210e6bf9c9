// The C twins: Benchmarks/c/xfer_ref.c runs the same strategy in plain C on libzerocopy,
// in a process of its own, with the same per-iteration sequence as the Swift harness.

import Foundation
import Glibc

/// One strategy of xfer_ref.
public struct CReferenceSubject: Subject {
  /// The xfer_ref strategy name (also the twin key).
  public let strategy: String
  /// Its description.
  public let info: SubjectInfo

  /// The strategies xfer_ref implements.
  public static let strategies: [(String, String)] = [
    ("readWrite", "read/write loop, 128 KiB buffer"),
    ("mmapWrite", "mmap the source, one write from the mapping"),
    ("sendfile", "sendfile loop"),
    ("splice", "splice through a 1 MiB pipe (direct when the destination is a pipe)"),
    ("copyFileRange", "copy_file_range loop"),
    ("ioUring", "io_uring linked read→write pairs, 4 × 256 KiB registered buffers, one ring kept for every transfer"),
  ]

  /// All C twins.
  public static func all() -> [CReferenceSubject] {
    strategies.map { CReferenceSubject(strategy: $0.0, summary: $0.1) }
  }

  init(strategy: String, summary: String) {
    self.strategy = strategy
    self.info = SubjectInfo(
      id: "c:\(strategy)", family: .c, strategy: strategy, summary: "C: " + summary,
      note: "separate process (xfer_ref); timing and getrusage around the transfer only")
  }

  /// copy_file_range needs a file destination on the same filesystem.
  public func unsupportedReason(_ cell: Cell) -> String? {
    if strategy == "copyFileRange" {
      if cell.destination == .tmpfs { return "copy_file_range: EXDEV across filesystems" }
      if !cell.destination.isFile { return "copy_file_range needs a regular file destination" }
    }
    return nil
  }

  /// Runs xfer_ref for `warmup + iterations` iterations and sums the measured lines.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    let (dest, inherit) = run.session.cReferenceDestination()
    let out = "\(run.workspace.scratch)/xfer_ref.out"
    unlink(out)
    var args = [strategy, run.source.path, dest, String(run.warmup + run.iterations)]
    if run.cold { args.append("cold") }
    let child = try ChildProcess(
      run.tools.path("xfer_ref"), args, stdout: .file(out),
      stderrPath: "\(run.workspace.scratch)/xfer_ref.err", inherit: inherit)
    let exit = try child.wait()
    let text = (try? readSmallFile(out)) ?? ""
    guard exit.succeeded else {
      throw BenchError(
        "xfer_ref \(strategy) failed (\(exit.code.map { "exit \($0)" } ?? "signal \(exit.signal ?? 0)")): \(child.stderrText())")
    }
    let lines = text.split(separator: "\n")
    guard lines.count == run.warmup + run.iterations else {
      throw BenchError("xfer_ref \(strategy) printed \(lines.count) lines, expected \(run.warmup + run.iterations)")
    }
    var m = SampleMeasurement(iterations: run.iterations)
    var syscalls: Int64 = 0
    for (i, line) in lines.enumerated() {
      let f = parseFields(String(line))
      func int(_ k: String) -> Int64 { Int64(f[k] ?? "") ?? 0 }
      if run.cell.destination.isFile {
        if let size = f["size"].flatMap({ Int($0) }), let sum = f["checksum"].flatMap({ UInt64($0, radix: 16) }) {
          if let problem = DestinationSession.compare(
            size: size, checksum: sum, expectedSize: run.cell.size, expected: run.source.checksum),
            m.failures.count < 3
          {
            m.failures.append("iteration \(i + 1): \(problem)")
          }
        } else if m.failures.count < 3 {
          m.failures.append("iteration \(i + 1): xfer_ref printed no checksum")
        }
      }
      if int("bytes") != Int64(run.cell.size) && m.failures.count < 3 {
        m.failures.append("iteration \(i + 1): moved \(int("bytes")) bytes, expected \(run.cell.size)")
      }
      guard i >= run.warmup else { continue }
      m.nanoseconds += UInt64(max(0, int("ns")))
      m.bytes += int("bytes")
      syscalls += int("syscalls")
      m.usage = m.usage + Usage(fields: f)
    }
    m.syscalls = syscalls
    return m
  }
}
