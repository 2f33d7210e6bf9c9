// `zerocopy-bench direct-reads`: O_DIRECT random 4 KiB reads (issue #5, benchmark (a)).
//
//   swift run -c release --package-path Benchmarks zerocopy-bench direct-reads
//   swift run -c release --package-path Benchmarks zerocopy-bench direct-reads --size 1g --rounds 5 --seconds 2

import ArgumentParser
import BenchKit
import Foundation
import LinuxIO
import SystemPackage
import ZeroCopy

struct DirectReadsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "direct-reads",
    abstract: "O_DIRECT random 4 KiB reads: pread QD1 vs io_uring QD 1/8/32 vs thread pools vs fio (about 2 minutes).")

  @Option(help: "The data file (created if missing or not valid; default: WORKDIR/zerocopy-direct-reads.bin).") var file: String?
  @Option(help: "Parent directory of the default data file (default $TMPDIR or /tmp).") var workdir: String?
  @Option(help: "File size (e.g. 4g, 512m; a multiple of 1 MiB).") var size: String = "4g"
  @Option(help: "Interleaved rounds (medians are taken over them).") var rounds: Int = 5
  @Option(help: "Seconds per subject per round.") var seconds: Double = 2
  @Option(help: "Only subjects whose id contains one of these (comma-separated, e.g. pread,ring.qd32,fio).") var only: String?
  @Flag(help: "Leave out fio.") var noFio = false
  @Option(
    help:
      "Directory holding the C reference programs (direct_reads; `make bench-tools` builds them into build/bench). Without it the C twin rows are left out."
  ) var tools: String?
  @Flag(help: "Leave out the async-engine subject (AsyncFile on IOEngine.default).") var noAsync = false
  @Option(help: "Ring subjects: completions to wait for per io_uring_enter (capped at a quarter of the depth).") var reapBatch:
    Int = 8
  @Option(help: "Write the results as JSON here.") var json: String?
  @Option(help: "Write the Markdown table here.") var markdown: String?
  @Flag(help: "Remove the data file afterwards.") var removeFile = false

  func validate() throws {
    if rounds < 1 { throw ValidationError("--rounds must be at least 1") }
    if reapBatch < 1 { throw ValidationError("--reap-batch must be at least 1") }
    if seconds <= 0 { throw ValidationError("--seconds must be positive") }
    guard let bytes = Self.parseSize(size), bytes >= 1 << 20, bytes % (1 << 20) == 0 else {
      throw ValidationError("--size must be a multiple of 1 MiB (e.g. 4g, 512m)")
    }
  }

  static func parseSize(_ text: String) -> Int? {
    let lower = text.lowercased()
    let units: [(String, Int)] = [("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)]
    for (suffix, scale) in units where lower.hasSuffix(suffix) {
      return Int(lower.dropLast()).map { $0 * scale }
    }
    return Int(lower)
  }

  mutating func run() async throws {
    let bytes = Self.parseSize(size)!
    let directory = workdir ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    let path = file ?? "\(directory)/zerocopy-direct-reads.bin"
    let log: (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    let data = try DirectReadFile.prepare(path: path, size: bytes, log: log)
    defer { if removeFile { unlink(path) } }

    var subjects: [any DirectReadSubject] = [
      DirectPreadSubject(), DirectRingSubject(depth: 1, reapBatch: reapBatch), DirectRingSubject(depth: 8, reapBatch: reapBatch),
      DirectRingSubject(depth: 32, reapBatch: reapBatch), DirectRingSubject(depth: 32, flags: [], reapBatch: reapBatch),
      DirectRingSubject(depth: 32, reapBatch: reapBatch, straddle: true), DirectRingSubject(depth: 32, submitEach: true),
      DirectThreadPoolSubject(threads: 8), DirectThreadPoolSubject(threads: 32),
    ]
    if let tools {
      let twin = "\(tools)/direct_reads"
      if access(twin, X_OK) == 0 {
        subjects += [
          CDirectRingSubject(executable: twin, depth: 32, reapBatch: reapBatch),
          CDirectRingSubject(executable: twin, depth: 32, reapBatch: reapBatch, straddle: true),
          CDirectRingSubject(executable: twin, depth: 32, reapBatch: reapBatch, submitEach: true),
        ]
      } else {
        log("\(twin) is missing (make bench-tools): the C twin rows are left out")
      }
    }
    if !noAsync { subjects += [AsyncEngineReadSubject(depth: 32), AsyncEngineReadSubject(depth: 32, fixed: true)] }
    if !noFio {
      if FioSubject.executable != nil {
        subjects += [
          FioSubject(engine: "io_uring", depth: 32, registered: true), FioSubject(engine: "psync", depth: 1, registered: false),
        ]
      } else {
        log("fio is not installed: its rows are left out (apt-get install fio)")
      }
    }
    if let only {
      let wanted = only.split(separator: ",").map(String.init)
      subjects = subjects.filter { s in wanted.contains { s.id.contains($0) } }
    }
    let results = try await DirectReads.run(file: data, subjects: subjects, rounds: rounds, seconds: seconds, log: log)
    let table = results.markdown
    print(table)
    if let markdown { try table.write(toFile: markdown, atomically: true, encoding: .utf8) }
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try encoder.encode(results).write(to: URL(fileURLWithPath: json))
    }
  }
}

/// The async engine: `depth` tasks, each awaiting one `AsyncFile.read` at a time on an
/// `O_DIRECT` file. Plain: `IOEngine.default`, each task reading into the `AlignedBuffer`
/// it owns. Fixed: a fresh engine per sample with a table of `depth` registered buffers
/// (`IOEngine.registerFixedBuffers`), each task reading into its slot (`READ_FIXED`).
struct AsyncEngineReadSubject: DirectReadSubject {
  let depth: Int
  var fixed = false
  var id: String { "async.qd\(depth)" + (fixed ? ".fixed" : "") }
  var summary: String {
    fixed
      ? "ZeroCopy AsyncFile.read(intoFixed:) on its own IOEngine, registered buffers (READ_FIXED), \(depth) tasks"
      : "ZeroCopy AsyncFile.read on IOEngine.default (\(IOEngine.default.kind)), \(depth) tasks"
  }

  func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    if fixed { return try await sampleFixed(file: file, seconds: seconds) }
    let seed = OffsetGenerator.randomSeed()
    let engine = IOEngine.default
    let handle = try await AsyncFile.open(FilePath(file.path), .readOnly, options: [.direct], engine: engine)
    let alignment = try handle.descriptor.directIOAlignment()
    let size = file.size
    let sample = try await timedTasks(on: engine, seconds: seconds) { task, deadline in
      var buffer = try AlignedBuffer(count: 4096, directIO: alignment)
      var gen = OffsetGenerator(fileSize: size, stream: 100 + task, seed: seed)
      var ops = 0
      while monotonicNanoseconds() < deadline {
        let offset = gen.next()
        let result = await handle.read(into: buffer, at: Int64(offset))
        let n = try result.count
        buffer = result.take()
        guard n == 4096, DirectReadFile.verify(buffer.unsafeBaseAddress, number: offset / 4096) else {
          throw BenchError("async read at \(offset): \(n) bytes")
        }
        ops += 1
      }
      return ops
    }
    try await handle.close()
    return sample
  }

  func sampleFixed(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    let seed = OffsetGenerator.randomSeed()
    let engine = try IOEngine()
    let handle = try await AsyncFile.open(FilePath(file.path), .readOnly, options: [.direct], engine: engine)
    guard let alignment = handle.directIOAlignment else { throw BenchError("no direct-I/O alignment") }
    let table = try await engine.registerFixedBuffers(count: depth, size: 4096, alignment: max(4096, alignment.memory))
    let size = file.size
    let sample = try await timedTasks(on: engine, seconds: seconds) { task, deadline in
      let slot = table[task]
      var gen = OffsetGenerator(fileSize: size, stream: 200 + task, seed: seed)
      var ops = 0
      while monotonicNanoseconds() < deadline {
        let offset = gen.next()
        let n = try await handle.read(intoFixed: slot, at: Int64(offset)).get()
        guard n == 4096, DirectReadFile.verify(slot.bytes.baseAddress!, number: offset / 4096) else {
          throw BenchError("async fixed read at \(offset): \(n) bytes")
        }
        ops += 1
      }
      return ops
    }
    try await handle.close()
    await engine.shutdown()
    return sample
  }

  /// Runs `depth` tasks on `engine` (task executor preference) until `seconds` have passed;
  /// each gets its index and the deadline and returns its read count. The sample's time and
  /// CPU cover the tasks only.
  private func timedTasks(
    on engine: IOEngine, seconds: Double, _ body: @escaping @Sendable (_ task: Int, _ deadline: UInt64) async throws -> Int
  ) async throws -> DirectReadSample {
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    let deadline = t0 + UInt64(seconds * 1e9)
    let counts = try await withThrowingTaskGroup(of: Int.self) { group in
      for task in 0..<depth {
        group.addTask(executorPreference: engine) { try await body(task, deadline) }
      }
      var total = 0
      for try await n in group { total += n }
      return total
    }
    let t1 = monotonicNanoseconds()
    let u = Usage.current() - u0
    return DirectReadSample(
      operations: counts, seconds: Double(t1 - t0) / 1e9, cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / Double(counts)
    )
  }
}
