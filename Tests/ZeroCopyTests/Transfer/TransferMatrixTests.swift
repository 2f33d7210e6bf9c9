// Every strategy × every destination kind × sizes {0, 1, 4 KiB, 64 KiB+1, 8 MiB+5} ×
// {whole file, offset range}: byte-exact, exact counts, and a report that names the
// strategy that actually ran (after any fallback) and every fallback on the way.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

/// All Transfer suites live under this one, serialized: they count descriptors, mount
/// filesystems and share the pipe pool, so they must not overlap one another.
@Suite("Transfer", .serialized)
struct TransferTests {}

extension TransferTests {
  @Suite("Transfer matrix")
  struct Matrix {
    enum Destination: String, CaseIterable, Sendable, CustomTestStringConvertible {
      case sameFileSystemFile, otherFileSystemFile, tcpSocket, unixSocket, pipe
      var testDescription: String { rawValue }
      var isFile: Bool { self == .sameFileSystemFile || self == .otherFileSystemFile }
    }

    static let sizes = [0, 1, 4096, 65537, (8 << 20) + 5]
    static let syscallStrategies = [
      "automatic", "readWrite", "mmapWrite", "sendfile", "splice", "copyFileRange", "reflink", "directIO",
    ]
    static let ioUringStrategies = ["ioUring", "ioUringSplice", "sendZeroCopy"]

    @Test("system-call strategies", arguments: syscallStrategies, Destination.allCases)
    func syscallStrategy(_ name: String, _ destination: Destination) async throws {
      try await runMatrix(name, destination)
    }

    @Test(
      "io_uring strategies", .enabled(if: TransferFixtures.ioUringAvailable, TransferFixtures.ioUringSkipReason),
      arguments: ioUringStrategies, Destination.allCases)
    func ioUringStrategy(_ name: String, _ destination: Destination) async throws {
      try await runMatrix(name, destination)
    }

    private func runMatrix(_ name: String, _ destination: Destination) async throws {
      let strategy = try #require(TransferStrategies.named(name))
      let disk = try TransferFixtures.Directory(in: "/tmp")
      defer { disk.remove() }
      let memory = try TransferFixtures.Directory(in: "/dev/shm")
      defer { memory.remove() }
      for size in Self.sizes {
        for ranged in [false, true] {
          try await runCase(strategy, destination, size: size, ranged: ranged, disk: disk, memory: memory)
        }
      }
    }

    private func runCase(
      _ strategy: any TransferStrategy, _ destination: Destination, size: Int, ranged: Bool,
      disk: TransferFixtures.Directory, memory: TransferFixtures.Directory
    ) async throws {
      let label = "\(strategy.name) → \(destination.rawValue), \(size) bytes, \(ranged ? "range at 7" : "whole file")"
      let prefix = ranged ? 7 : 0
      let content = TransferFixtures.bytes(prefix + size + (ranged ? 3 : 0))
      let expected = Array(content[prefix..<(prefix + size)])
      let sourcePath = disk.file("source")
      try TransferFixtures.writeFile(sourcePath, content)
      let source = try TransferFixtures.openFile(sourcePath, O_RDONLY)
      defer { try? source.close() }

      var received: [UInt8]
      let report: TransferReport
      let pair: EndpointPair
      // .automatic's plan, made while the destination is open (whether its filesystem
      // copies in the kernel is an fstatfs of it).
      let plan: [any TransferStrategy]
      if destination.isFile {
        let path = (destination == .sameFileSystemFile ? disk : memory).file("destination")
        let target = try TransferFixtures.openFile(path, O_RDWR | O_CREAT | O_TRUNC)
        defer { try? target.close() }
        pair = EndpointPair(source: try TransferEndpoint.inspect(source), destination: try TransferEndpoint.inspect(target))
        plan = AutomaticStrategy().plan(for: pair, bytes: Int64(size))
        let request = TransferRequest(
          from: source, offset: ranged ? 7 : 0, count: ranged ? Int64(size) : nil, to: target, at: ranged ? 5 : 0)
        report = try await Transfer.run(request, strategy: strategy)
        received = try TransferFixtures.readFile(path)
        if ranged && size > 0 {
          TransferFixtures.expectSame(
            Array(received.prefix(5)), [0, 0, 0, 0, 0], "\(label): bytes before the destination offset")
          received = Array(received.dropFirst(5))
        }
      } else {
        let (near, far): (FileDescriptor, FileDescriptor)
        switch destination {
        case .tcpSocket: (near, far) = try TransferFixtures.makeTCPPair()
        case .unixSocket: (near, far) = try TransferFixtures.makeUnixPair()
        default:
          let (readEnd, writeEnd) = try TransferFixtures.makePipe()
          (near, far) = (writeEnd, readEnd)
        }
        pair = EndpointPair(source: try TransferEndpoint.inspect(source), destination: try TransferEndpoint.inspect(near))
        plan = AutomaticStrategy().plan(for: pair, bytes: Int64(size))
        let reader = TransferFixtures.reader(far)
        let request = TransferRequest(from: source, offset: ranged ? 7 : 0, count: ranged ? Int64(size) : nil, to: near)
        do {
          report = try await Transfer.run(request, strategy: strategy)
        } catch {
          try? near.close()
          _ = reader.join()
          try? far.close()
          throw error
        }
        try near.close()
        received = reader.join()
        try far.close()
      }

      TransferFixtures.expectSame(received, expected, label)
      #expect(report.bytes == Int64(size), "\(label)")
      #expect(report.requestedBytes == (ranged ? Int64(size) : nil), "\(label)")
      #expect(!report.sourceEndedEarly, "\(label)")
      #expect(report.requestedStrategy == strategy.name, "\(label)")
      #expect(report.sourceKind == .file, "\(label)")
      if size > 0 { #expect(report.syscalls > 0, "\(label)") }
      if strategy is AutomaticStrategy && destination == .pipe && size <= TransferOptions().inlineLimit {
        // The async attempt on the caller's thread splices through the blocking pipe end
        // with SPLICE_F_NONBLOCK (Docs/Transfer.md); what the pipe did not take then moved
        // on a worker with the table's choice, and a note says how much splice moved.
        #expect(report.fallbacks.isEmpty, "\(label): \(report)")
        if report.strategy != "splice" {
          #expect(report.strategy == plan.first?.name, "\(label): \(report)")
          let splicedFirst = report.notes.contains {
            $0.hasSuffix("moved with splice on the calling thread, the rest with \(report.strategy) on a worker thread")
          }
          #expect(splicedFirst || report.notes.isEmpty, "\(label): \(report)")
        }
        return
      }
      checkStrategyAndFallbacks(report, strategy, pair, plan: plan, destination: destination, size: size, ranged: ranged, label)
    }

    /// Walks the candidates as `.automatic` would and checks the report: statically
    /// unsupported candidates appear as fallbacks without an errno; candidates the kernel
    /// may refuse here (copy_file_range across filesystems, reflink on ext4/tmpfs) appear
    /// with their errno; the first one that can work is the one the report names.
    private func checkStrategyAndFallbacks(
      _ report: TransferReport, _ strategy: any TransferStrategy, _ pair: EndpointPair, plan: [any TransferStrategy],
      destination: Destination, size: Int, ranged: Bool, _ label: String
    ) {
      let candidates: [any TransferStrategy] =
        strategy is AutomaticStrategy ? plan : [strategy] + plan.filter { $0.name != strategy.name }
      // No system call is made — nothing can be refused — for an empty range, and for a whole
      // file of size 0 ("until the end" of a regular file is its size at the start).
      let nothingToMove = size == 0
      var index = 0
      for candidate in candidates {
        if case .unsupported = candidate.support(for: pair) {
          guard index < report.fallbacks.count else {
            Issue.record("\(label): \(candidate.name) is unsupported but not listed as a fallback (\(report))")
            return
          }
          #expect(report.fallbacks[index].strategy == candidate.name, "\(label): \(report)")
          #expect(report.fallbacks[index].errno == nil, "\(label): \(report)")
          index += 1
          continue
        }
        let mustRefuse = !nothingToMove && candidate.name == "copyFileRange" && destination == .otherFileSystemFile
        // Unprivileged, io_uring rings and registered buffers count against RLIMIT_MEMLOCK
        // (on 6.18 both do): under a low limit they are refused with ENOMEM and the strategy
        // gives way (`make test-unprivileged` runs this suite with `ulimit -l 64`).
        let memlockRefusal = !nothingToMove && Self.ioUringStrategies.contains(candidate.name) && TransferFixtures.memlockApplies
        let mayRefuse = mustRefuse || (!nothingToMove && candidate.name == "reflink") || memlockRefusal
        if report.strategy == candidate.name && !mustRefuse {
          #expect(index == report.fallbacks.count, "\(label): unexpected fallbacks: \(report)")
          return
        }
        guard mayRefuse, index < report.fallbacks.count, report.fallbacks[index].strategy == candidate.name else {
          Issue.record("\(label): expected \(candidate.name) to move the bytes, got \(report)")
          return
        }
        let errno = report.fallbacks[index].errno
        if memlockRefusal {
          #expect(errno == .noMemory, "\(label): only RLIMIT_MEMLOCK may stop an io_uring strategy here: \(report)")
          index += 1
          continue
        }
        #expect(errno.map { TransferContext.fallbackErrnos.contains($0) } == true, "\(label): \(report)")
        if mustRefuse { #expect(errno == .improperLink, "\(label): copy_file_range across filesystems: \(report)") }
        index += 1
      }
      Issue.record("\(label): no candidate matched the report \(report)")
    }
  }
}
