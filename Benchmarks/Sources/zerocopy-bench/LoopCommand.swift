// Hidden: `zerocopy-bench _loop` — one strategy's file → file transfers in a tight loop,
// beside the same loop of its C twin (xfer_ref, one process), for profiling a per-transfer
// cost the full benchmark cannot isolate (`perf record -g -- zerocopy-bench _loop …`;
// Docs/Performance.md, "The io_uring path at 4 KiB, beside its C twin"). Not a benchmark:
// no interleaving with other subjects; each transfer's byte count is checked, and the
// destination's checksum once at the end (Swift) or after every transfer (C, xfer_ref's
// overwrite: mode); its numbers are not published.

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
      var times = [UInt64]()
      times.reserveCapacity(count)
      // Locals: reading an ArgumentParser property (`self.scribble`) in the loop cost
      // dynamic casts and metadata lookups per iteration, counted in the loop's CPU.
      let scribble = self.scribble, count = self.count
      let evictBytes = evict << 10
      let evictBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(evictBytes, 1), alignment: 64)
      defer { evictBuffer.deallocate() }
      var fill: UInt8 = 0
      // Both loops below run between the same untimed steps.
      func between() throws -> UInt64 {
        let s0 = monotonicNanoseconds()
        if scribble { try Workspace.scribble(fd: destination.rawValue, size: bytes, path: destinationPath) }
        if evictBytes > 0 {
          fill &+= 1
          evictBuffer.initializeMemory(as: UInt8.self, repeating: fill)
        }
        return monotonicNanoseconds() - s0
      }
      let u0 = Usage.current()
      var scribbleTime: UInt64 = 0
      for _ in 0..<count {
        scribbleTime += try between()
        let t0 = monotonicNanoseconds()
        let report = try transfer.runBlocking(offset: 0, count: Int64(bytes), at: 0, strategy: chosen, options: options)
        times.append(monotonicNanoseconds() - t0)
        guard report.bytes == Int64(bytes) else { throw ValidationError("moved \(report.bytes) of \(bytes) bytes") }
      }
      let u1 = Usage.current()
      let (size, sum) = try Workspace.checksum(fd: destination.rawValue, path: destinationPath)
      guard size == bytes && sum == expected else { throw ValidationError("the destination differs from the source") }
      Self.line("swift:\(chosen.name)", times: times, usage: u1 - u0, excluded: scribbleTime)
      if linuxio {
        // The same transfers through LinuxIO's loop alone (ZeroCopy's front end left out).
        times.removeAll(keepingCapacity: true)
        scribbleTime = 0
        let v0 = Usage.current()
        for _ in 0..<count {
          scribbleTime += try between()
          let t0 = monotonicNanoseconds()
          let result = try source.readWriteCopy(
            to: destination, sourceOffset: 0, destinationOffset: 0, count: .bytes(Int64(bytes)),
            stackBufferSize: Swift.min(Swift.max(4096, bytes), FileDescriptor.readWriteStackBufferLimit))
          times.append(monotonicNanoseconds() - t0)
          guard result.bytes == Int64(bytes) else { throw ValidationError("moved \(result.bytes) of \(bytes) bytes") }
        }
        let v1 = Usage.current()
        Self.line("linuxio:readWrite", times: times, usage: v1 - v0, excluded: scribbleTime)
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
