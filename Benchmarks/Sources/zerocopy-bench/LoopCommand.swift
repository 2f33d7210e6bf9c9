// Hidden: `zerocopy-bench _loop` — one strategy's file → file transfers in a tight loop,
// beside the same loop of its C twin (xfer_ref, one process), for profiling a per-transfer
// cost the full benchmark cannot isolate (`perf record -g -- zerocopy-bench _loop …`;
// Docs/Performance.md, "The io_uring path at 4 KiB, beside its C twin"). With `--async`
// and `--linuxio` the Swift side also runs each transfer through the async API and through
// LinuxIO's loop alone, the variants in turn (one transfer each per round, so that a
// drifting machine slows them alike); `--evict` pushes the caches out between transfers.
// Not a benchmark: no interleaving with other subjects; each transfer's byte count is
// checked, and the destination's checksum once at the end (Swift) or after every transfer
// (C, xfer_ref's overwrite: mode); its numbers are not published.

import ArgumentParser
import BenchKit
import Foundation
import Glibc
import LinuxIO
import SystemPackage
import ZeroCopy

struct LoopCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_loop",
    abstract: "A tight loop of one strategy's file → file transfers, then its C twin's (for profiling).",
    shouldDisplay: false)

  @Option(help: "Strategy name (Transfer registry), e.g. ioUring, readWrite.")
  var strategy: String = "ioUring"

  @Option(help: "Transfer size (e.g. 4k, 1m).")
  var size: String = "4k"

  @Option(help: "Transfers per side.")
  var count: Int = 20_000

  @Option(help: "Directory for the source and destination files (default: $TMPDIR or /tmp).")
  var directory: String?

  @Option(help: "Which sides: swift, c or both.")
  var side: String = "both"

  @Flag(help: "Rewrite the destination with a marker before each transfer, as the benchmark and xfer_ref's overwrite: mode do.")
  var scribble: Bool = false

  @Option(
    help:
      "Between transfers (untimed), write this many KiB of memory, pushing the transfer's code and data out of the CPU caches as a benchmark's verification does (0: a warm loop)."
  )
  var evict: Int = 0

  @Flag(help: "Also run the same loop through LinuxIO's readWriteCopy (readWrite only): the front end's share.")
  var linuxio: Bool = false

  @Flag(name: .customLong("async"), help: "Also run the same loop through the async PreparedTransfer.run.")
  var async: Bool = false

  @OptionGroup var locations: Locations

  mutating func run() async throws {
    guard let bytes = parseSize(size), bytes > 0 else { throw ValidationError("bad size \(size)") }
    guard count > 0 else { throw ValidationError("--count must be positive") }
    guard ["swift", "c", "both"].contains(side) else { throw ValidationError("--side is swift, c or both") }
    guard evict >= 0 else { throw ValidationError("--evict must not be negative") }
    guard !linuxio || strategy == "readWrite" else { throw ValidationError("--linuxio is for --strategy readWrite") }
    guard let chosen = TransferStrategies.named(strategy) else {
      throw ValidationError("unknown strategy \(strategy); known: \(TransferStrategies.all.map(\.name).joined(separator: ", "))")
    }
    let parent = directory ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    var template = Array("\(parent)/zerocopy-loop.XXXXXX".utf8CString)
    guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!).map { String(cString: $0) } })
    else { throw ValidationError("mkdtemp in \(parent): \(String(cString: strerror(errno)))") }
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let sourcePath = "\(dir)/source", destinationPath = "\(dir)/destination"
    let pattern = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
    guard FileManager.default.createFile(atPath: sourcePath, contents: Data(pattern)),
      FileManager.default.createFile(atPath: destinationPath, contents: Data(count: bytes))
    else { throw ValidationError("cannot create the files in \(dir)") }
    print("_loop: \(chosen.name), \(bytes) B file → file in \(dir), \(count) transfers per side\(scribble ? ", scribbled" : "")")

    let (_, expected) = try Workspace.checksum(path: sourcePath)
    if side != "c" {
      let source = try FileDescriptor.open(sourcePath, .readOnly, options: [.closeOnExec])
      defer { try? source.close() }
      let destination = try FileDescriptor.open(destinationPath, .readWrite, options: [.closeOnExec])
      defer { try? destination.close() }
      let transfer = try PreparedTransfer(from: source, to: destination)
      let options = TransferOptions(allowFallback: false)
      // Locals: reading an ArgumentParser property (`self.scribble`) in the loop cost
      // dynamic casts and metadata lookups per iteration, counted in the loop's CPU.
      let scribble = self.scribble, count = self.count
      let evictBytes = evict << 10
      let evictBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(evictBytes, 1), alignment: 64)
      defer { evictBuffer.deallocate() }
      var fill: UInt8 = 0
      // Every transfer runs after the same untimed steps.
      func between() throws -> UInt64 {
        let s0 = monotonicNanoseconds()
        if scribble { try Workspace.scribble(fd: destination.rawValue, size: bytes, path: destinationPath) }
        if evictBytes > 0 {
          fill &+= 1
          evictBuffer.initializeMemory(as: UInt8.self, repeating: fill)
        }
        return monotonicNanoseconds() - s0
      }
      // The variants run in turn, one transfer each per round, so that a machine whose
      // speed drifts (this VM's is bimodal) slows them alike; each has its own times.
      enum Variant { case blocking, async, linuxio }
      var variants: [Variant] = [.blocking]
      if async { variants.append(.async) }
      if linuxio { variants.append(.linuxio) }
      var times = [[UInt64]](repeating: [], count: variants.count)
      for i in times.indices { times[i].reserveCapacity(count) }
      var scribbleTime: UInt64 = 0
      let stackBuffer = Swift.min(Swift.max(4096, bytes), FileDescriptor.readWriteStackBufferLimit)
      let u0 = Usage.current()
      for _ in 0..<count {
        for (index, variant) in variants.enumerated() {
          scribbleTime += try between()
          let t0 = monotonicNanoseconds()
          let moved: Int64
          switch variant {
          case .blocking:
            moved = try transfer.runBlocking(offset: 0, count: Int64(bytes), at: 0, strategy: chosen, options: options).bytes
          case .async:
            moved = try await transfer.run(offset: 0, count: Int64(bytes), at: 0, strategy: chosen, options: options).bytes
          case .linuxio:
            moved = try source.readWriteCopy(
              to: destination, sourceOffset: 0, destinationOffset: 0, count: .bytes(Int64(bytes)),
              stackBufferSize: stackBuffer
            ).bytes
          }
          times[index].append(monotonicNanoseconds() - t0)
          guard moved == Int64(bytes) else { throw ValidationError("moved \(moved) of \(bytes) bytes") }
        }
      }
      let u1 = Usage.current()
      let (size, sum) = try Workspace.checksum(fd: destination.rawValue, path: destinationPath)
      guard size == bytes && sum == expected else { throw ValidationError("the destination differs from the source") }
      // The rusage covers every variant's transfers (and the scribbles): per transfer of any.
      var perVariant = Usage()
      perVariant.userMicros = (u1 - u0).userMicros / Int64(variants.count)
      perVariant.systemMicros = (u1 - u0).systemMicros / Int64(variants.count)
      for (index, variant) in variants.enumerated() {
        let label: String
        switch variant {
        case .blocking: label = "swift:\(chosen.name)"
        case .async: label = "swift:\(chosen.name).async"
        case .linuxio: label = "linuxio:readWrite"
        }
        Self.line(label, times: times[index], usage: perVariant, excluded: scribbleTime / UInt64(variants.count))
      }
    }

    // The strategies xfer_ref has a C twin of (Benchmarks/c/xfer_ref.c).
    let twins: Set<String> = ["readWrite", "mmapWrite", "sendfile", "splice", "copyFileRange", "ioUring"]
    if side != "swift" && !twins.contains(chosen.name) {
      print("c:\(chosen.name): no C twin (xfer_ref has \(twins.sorted().joined(separator: ", ")))")
    } else if side != "swift" {
      let tool = "\(locations.toolsDirectory)/xfer_ref"
      guard FileManager.default.isExecutableFile(atPath: tool) else { throw ValidationError("no \(tool): run make bench-tools") }
      // xfer_ref's overwrite: mode scribbles before every iteration (untimed) and prints one
      // line per iteration with its time and the process's rusage around the transfer.
      let process = Process()
      process.executableURL = URL(fileURLWithPath: tool)
      process.arguments = [chosen.name, sourcePath, "overwrite:\(destinationPath)", String(count)]
      let out = Pipe()
      process.standardOutput = out
      try process.run()
      let data = out.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      guard process.terminationStatus == 0 else { throw ValidationError("xfer_ref exited with \(process.terminationStatus)") }
      var times = [UInt64]()
      var usage = Usage()
      for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let fields = parseFields(String(line))
        guard let ns = fields["ns"].flatMap({ UInt64($0) }) else { continue }
        guard fields["size"] == String(bytes), fields["checksum"] == ZC64.hex(expected) else {
          throw ValidationError("xfer_ref left a destination that differs from the source: \(line)")
        }
        times.append(ns)
        usage = usage + Usage(fields: fields)
      }
      guard times.count == count else { throw ValidationError("xfer_ref printed \(times.count) of \(count) lines") }
      Self.line("c:\(chosen.name)", times: times, usage: usage, excluded: nil)
    }
  }

  /// Median, quartiles and mean of the per-transfer times, and CPU per transfer.
  static func line(_ label: String, times: [UInt64], usage: Usage, excluded: UInt64?) {
    let sorted = times.sorted()
    func q(_ p: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000 }
    let mean = Double(times.reduce(0, +)) / Double(times.count) / 1000
    let n = Double(times.count)
    var cpu = String(
      format: "user %.2f + system %.2f µs per transfer", Double(usage.userMicros) / n, Double(usage.systemMicros) / n)
    if let excluded {
      // The Swift side's rusage covers the whole loop (scribbles and timing included).
      cpu += String(format: " (whole loop; scribbling took %.2f µs per transfer of it)", Double(excluded) / n / 1000)
    }
    Swift.print(
      String(
        format: "%-24@ median %.2f µs (p25 %.2f, p75 %.2f, p99 %.2f), mean %.2f; %@", label as NSString, q(0.5), q(0.25),
        q(0.75), q(0.99), mean, cpu as NSString))
  }
}
