// Peers measured only with --peers (make bench-peers): SwiftNIO's NIOFileSystem (a separate
// executable, so NIO never enters the default build) and fio for random reads.

import Foundation
import Glibc

/// A SwiftNIO NIOFileSystem operation, run by the `zerocopy-bench-nio` executable
/// (Benchmarks/Peers), which prints xfer_ref's per-iteration lines.
public struct NIOSubject: Subject {
  /// Path of zerocopy-bench-nio.
  public let tool: String
  /// "copyItem" or "readChunks".
  public let operation: String
  /// Its description.
  public let info: SubjectInfo

  /// Both operations.
  public static func all(tool: String) -> [NIOSubject] {
    [
      NIOSubject(
        tool: tool, operation: "copyItem",
        info: SubjectInfo(
          id: "peer:NIOFileSystem.copyItem", family: .peer, strategy: "NIOFileSystem.copyItem",
          summary: "SwiftNIO NIOFileSystem FileSystem.copyItem(at:to:)",
          note: "separate process; creates a new destination file each time (open/create/close included)")),
      NIOSubject(
        tool: tool, operation: "readChunks",
        info: SubjectInfo(
          id: "peer:NIOFileSystem.readChunks", family: .peer, strategy: "NIOFileSystem.readChunks",
          summary: "SwiftNIO NIOFileSystem readChunks (1 MiB chunks), each chunk written to the destination",
          note: "separate process")),
    ]
  }

  /// copyItem: files only; readChunks: any destination.
  public func unsupportedReason(_ cell: Cell) -> String? {
    if operation == "copyItem" && !cell.destination.isFile { return "copyItem writes files only" }
    return nil
  }

  /// Runs the tool for warm-up + iterations and parses its lines.
  public func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    var dest: String
    var inherit: [CInt: CInt] = [:]
    if operation == "copyItem" {
      dest = "new:" + run.workspace.destinationPath(for: run.cell, suffix: "-new")
    } else {
      (dest, inherit) = run.session.cReferenceDestination()
    }
    let out = "\(run.workspace.scratch)/nio.out"
    unlink(out)
    let child = try ChildProcess(
      tool, [operation, run.source.path, dest, String(run.warmup + run.iterations)], stdout: .file(out),
      stderrPath: "\(run.workspace.scratch)/nio.err", inherit: inherit)
    let exit = try child.wait()
    guard exit.succeeded else { throw BenchError("zerocopy-bench-nio \(operation) failed: \(child.stderrText())") }
    let lines = ((try? readSmallFile(out)) ?? "").split(separator: "\n")
    guard lines.count == run.warmup + run.iterations else {
      throw BenchError("zerocopy-bench-nio printed \(lines.count) lines, expected \(run.warmup + run.iterations)")
    }
    var m = SampleMeasurement(iterations: run.iterations)
    for (i, line) in lines.enumerated() {
      let f = parseFields(String(line))
      func int(_ k: String) -> Int64 { Int64(f[k] ?? "") ?? 0 }
      if let size = f["size"].flatMap({ Int($0) }), let sum = f["checksum"].flatMap({ UInt64($0, radix: 16) }),
        let p = DestinationSession.compare(
          size: size, checksum: sum, expectedSize: run.cell.size, expected: run.source.checksum),
        m.failures.count < 3
      {
        m.failures.append("iteration \(i + 1): \(p)")
      }
      guard i >= run.warmup else { continue }
      m.nanoseconds += UInt64(max(0, int("ns")))
      m.bytes += int("bytes")
      var u = Usage()
      u.userMicros = int("utime_us")
      u.systemMicros = int("stime_us")
      u.voluntarySwitches = int("nvcsw")
      u.involuntarySwitches = int("nivcsw")
      u.minorFaults = int("minflt")
      m.usage = m.usage + u
    }
    unlink(run.workspace.destinationPath(for: run.cell, suffix: "-new"))
    return m
  }
}

/// fio random 4 KiB reads (psync QD1 and io_uring at each queue depth).
public enum FioPeer {
  /// Finds fio on the usual paths.
  public static func find() -> String? {
    ["/usr/bin/fio", "/usr/local/bin/fio"].first { access($0, X_OK) == 0 }
  }

  /// Runs fio `rounds` times per variant (after the interleaved rounds; fio is not
  /// interleaved with the others) and returns one entry per variant.
  public static func run(
    path: String, fileSize: Int, plan: ReadPlan, rounds: Int, scratch: String, notes: inout [String]
  ) -> [ReadEntryResult] {
    guard let fio = find() else {
      notes.append("fio not measured: not installed (make bench-peers installs it with apt-get).")
      return []
    }
    var variants: [(String, String, Int)] = [("pread", "psync", 1)]
    for qd in plan.queueDepths { variants.append(("ring.qd\(qd)", "io_uring", qd)) }
    var out: [ReadEntryResult] = []
    for (variant, engine, depth) in variants {
      var ns: [Double] = []
      var cpu: [Double] = []
      var failure: String?
      for _ in 0..<rounds {
        let args = [
          "--name=zcbench", "--filename=\(path)", "--rw=randread", "--bs=4k", "--ioengine=\(engine)",
          "--iodepth=\(depth)", "--size=\(fileSize)", "--io_size=\(plan.operations * 4096)",
          "--invalidate=0", "--norandommap", "--randrepeat=0", "--thread", "--output-format=json",
        ]
        do {
          let child = try ChildProcess(fio, args, stdout: .pipe, stderrPath: "\(scratch)/fio.err")
          var text = ""
          while let l = try child.readLine() { text += l + "\n" }
          let exit = try child.wait()
          guard exit.succeeded else { throw BenchError("fio failed: \(child.stderrText())") }
          guard let start = text.firstIndex(of: "{"),
            let json = try JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any],
            let jobs = json["jobs"] as? [[String: Any]], let job = jobs.first,
            let read = job["read"] as? [String: Any], let iops = read["iops"] as? Double, iops > 0
          else { throw BenchError("fio printed no read IOPS") }
          ns.append(1e9 / iops)
          if let u = job["usr_cpu"] as? Double, let s = job["sys_cpu"] as? Double {
            // fio reports CPU as % of the job's runtime; convert to µs per read.
            cpu.append((u + s) / 100 * 1e6 / iops)
          }
        } catch {
          failure = "\(error)"
          break
        }
      }
      out.append(
        ReadEntryResult(
          subject: "peer:fio.\(engine).qd\(depth)", family: .peer, variant: variant,
          summary: "fio randread bs=4k ioengine=\(engine) iodepth=\(depth)",
          status: failure == nil ? .measured : .failed, reason: failure,
          nanosecondsPerRead: failure == nil ? Stat(ns) : nil, cpuMicrosPerRead: failure == nil ? Stat(cpu) : nil,
          syscallsPerRead: nil, samples: failure == nil ? ns : []))
    }
    notes.append(
      "fio ran after the interleaved read rounds (not interleaved with them); its io_uring engine keeps \(plan.queueDepths.map(String.init).joined(separator: "/")) reads in flight continuously, whereas uring_ops and the Swift ring subjects submit a batch and wait for all of it."
    )
    return out
  }
}
