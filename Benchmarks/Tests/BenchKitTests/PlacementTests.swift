import BenchKit
import Foundation
import Glibc
import Testing

/// The TCP and pipe cells' CPU placement: while such a cell's sample runs, the sending
/// thread may use only the sender CPUs and the receiver only its own; file cells and runs
/// with `placeReceivers` off are left to the scheduler, and everything is restored after.
@Suite(.serialized) struct PlacementTests {
  /// Sends with read/write and records, per sample, the CPUs the sending thread and the
  /// receiver process were allowed while it sent.
  final class Probe: Subject, @unchecked Sendable {
    let info = SubjectInfo(id: "swift:placementProbe", family: .swift, strategy: "placementProbe", summary: "test probe")
    private let lock = NSLock()
    private var records: [(destination: Destination, sender: [Int]?, receiver: [Int]?)] = []

    var seen: [(destination: Destination, sender: [Int]?, receiver: [Int]?)] {
      lock.withLock { records }
    }

    private func record(_ destination: Destination, _ sender: [Int]?, _ receiver: [Int]?) {
      lock.withLock { records.append((destination, sender, receiver)) }
    }

    func unsupportedReason(_ cell: Cell) -> String? { nil }

    func measure(_ run: SampleRun) async throws -> SampleMeasurement {
      try await measureInProcess(run) { source, destination in
        let sender = CPUPlacement.allowedCPUs()
        let receiver = run.session.receiverPID.flatMap { CPUPlacement.allowedCPUs(thread: $0) }
        self.record(run.cell.destination, sender, receiver)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var total: Int64 = 0
        while true {
          let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
          guard n > 0 else {
            if n < 0 { throw BenchError("read: errno \(errno)") }
            break
          }
          var done = 0
          while done < n {
            let w = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + done, n - done) }
            guard w > 0 else { throw BenchError("write: errno \(errno)") }
            done += w
          }
          total += Int64(n)
        }
        return SubjectOutcome(bytes: total, syscalls: nil)
      }
    }
  }

  /// One record, for a failure's message.
  func describe(_ record: (destination: Destination, sender: [Int]?, receiver: [Int]?)?) -> String {
    guard let record else { return "none" }
    return "sender \(record.sender.map { "\($0)" } ?? "unknown"), receiver \(record.receiver.map { "\($0)" } ?? "none")"
  }

  func runProbe(placing: Bool, tools: Tools) async throws -> (BenchResults, Probe) {
    let probe = Probe()
    var o = RunOptions(tools: tools, repository: repositoryRoot)
    o.mode = .smoke
    o.destinations = [.file, .pipe]
    o.sizes = [4096]
    o.rounds = 1
    o.reads = false
    o.concurrent = false
    o.basicPeers = false
    o.linuxIO = false
    o.only = ["placementProbe"]
    o.quiet = true
    o.placeReceivers = placing
    var sources = SubjectSources()
    sources.swiftTransfers = { [probe] }
    let results = try await Runner(options: o, sources: sources).run()
    return (results, probe)
  }

  @Test func pipeCellsSeparateSenderAndReceiver() async throws {
    try await AffinityTurns.exclusively { try await pipeCellsSeparateSenderAndReceiverAlone() }
  }

  func pipeCellsSeparateSenderAndReceiverAlone() async throws {
    guard let tools = builtTools() else {
      print("skipped: the C reference tools are not built (make bench-tools)")
      return
    }
    guard let placement = CPUPlacement.forThisProcess(), let all = CPUPlacement.allowedCPUs() else {
      print("skipped: this process may run on one CPU only (nothing to separate)")
      return
    }
    #expect(placement.receiverCPU == all.last)
    #expect(placement.senderCPUs == Array(all.dropLast()))
    let (results, probe) = try await runProbe(placing: true, tools: tools)
    #expect(results.plan.receiverPlacement == placement)
    // The wake-up probe ran between the CPUs the cells use.
    let wake = try #require(results.machine.wakeLatency)
    #expect(wake.senderCPU == placement.senderCPUs[0] && wake.receiverCPU == placement.receiverCPU)
    for entry in results.cells.flatMap(\.entries) {
      #expect(entry.status == .measured, "\(entry.subject): \(entry.reason ?? "")")
    }
    let pipe = probe.seen.filter { $0.destination == .pipe }
    let file = probe.seen.filter { $0.destination == .file }
    #expect(!pipe.isEmpty && !file.isEmpty)
    // One issue per check, not one per iteration: a wrong placement is seen in every one.
    let pipeOtherwise = pipe.filter { $0.sender != placement.senderCPUs || $0.receiver != [placement.receiverCPU] }
    #expect(
      pipeOtherwise.isEmpty, "\(pipeOtherwise.count) of \(pipe.count) pipe iterations, first: \(describe(pipeOtherwise.first))")
    let fileOtherwise = file.filter { $0.sender != all || $0.receiver != nil }
    #expect(
      fileOtherwise.isEmpty, "\(fileOtherwise.count) of \(file.count) file iterations, first: \(describe(fileOtherwise.first))")
    // Every thread is back on every CPU (the calling thread and any other).
    #expect(CPUPlacement.allowedCPUs() == all)
    let tids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { pid_t($0) }
    for tid in tids {
      guard let cpus = CPUPlacement.allowedCPUs(thread: tid) else { continue }  // exited meanwhile
      let name = (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? ""
      if name.hasPrefix("iou-wrk") { continue }  // io_uring's workers refuse affinity changes
      #expect(cpus == all, "thread \(tid) \(name)")
    }
    #expect(ReportBuilder(results).markdown().contains("CPU placement (TCP and pipe cells): \(placement.description)"))
  }

  @Test func unpinnedLeavesItToTheScheduler() async throws {
    try await AffinityTurns.exclusively { try await unpinnedLeavesItToTheSchedulerAlone() }
  }

  func unpinnedLeavesItToTheSchedulerAlone() async throws {
    guard let tools = builtTools() else {
      print("skipped: the C reference tools are not built (make bench-tools)")
      return
    }
    guard CPUPlacement.forThisProcess() != nil, let all = CPUPlacement.allowedCPUs() else {
      print("skipped: this process may run on one CPU only (nothing to separate)")
      return
    }
    let (results, probe) = try await runProbe(placing: false, tools: tools)
    #expect(results.plan.receiverPlacement == nil)
    let pipe = probe.seen.filter { $0.destination == .pipe }
    #expect(!pipe.isEmpty)
    let pipeOtherwise = pipe.filter { $0.sender != all || $0.receiver != all }
    #expect(
      pipeOtherwise.isEmpty, "\(pipeOtherwise.count) of \(pipe.count) pipe iterations, first: \(describe(pipeOtherwise.first))")
    #expect(ReportBuilder(results).markdown().contains("CPU placement: none"))
  }
}
