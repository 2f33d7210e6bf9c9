// Registered buffers beyond RLIMIT_MEMLOCK (unprivileged): io_uring_register fails with
// ENOMEM, the io_uring strategies give way to the system-call ones with exact bytes, and
// an engine whose ring does not fit (ring memory counts too on 6.18) falls back to the
// thread pool. Runs only without
// CAP_IPC_LOCK (`make test-unprivileged`: uid 65534, `ulimit -l 64`); skipped as root.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing
import ZeroCopy

extension TransferFixtures {
  /// Whether RLIMIT_MEMLOCK applies to io_uring here (no CAP_IPC_LOCK): rings and
  /// registered buffers beyond it are refused with ENOMEM.
  static var memlockApplies: Bool { !MemlockFacts.hasIPCLock && MemlockFacts.limit != nil }
}

private enum MemlockFacts {
  /// Whether CAP_IPC_LOCK is in the effective set (`CapEff` in /proc/self/status, bit 14).
  static let hasIPCLock: Bool = {
    guard let text = try? String(decoding: TransferFixtures.readFile("/proc/self/status"), as: UTF8.self),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
      let mask = UInt64(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16)
    else { return true }
    return mask & (1 << 14) != 0
  }()

  /// The soft RLIMIT_MEMLOCK in bytes, or nil when unlimited.
  static var limit: Int? {
    var rl = rlimit()
    guard getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max else { return nil }
    return Int(rl.rlim_cur)
  }

  static var skipReason: String? {
    if !TransferProbe.ioUring.isAvailable { return "io_uring is unavailable: \(TransferProbe.ioUring.reason ?? "?")" }
    if hasIPCLock {
      return "this process has CAP_IPC_LOCK (root), which ignores RLIMIT_MEMLOCK: run unprivileged (make test-unprivileged)"
    }
    guard let limit else { return "RLIMIT_MEMLOCK is unlimited" }
    if limit > 16 << 20 { return "RLIMIT_MEMLOCK is \(limit) bytes; the test wants at most 16 MiB" }
    return nil
  }
}

extension TransferTests {
  @Suite(
    "Transfers beyond RLIMIT_MEMLOCK",
    .enabled(if: MemlockFacts.skipReason == nil, Comment(rawValue: MemlockFacts.skipReason ?? "")))
  struct Memlock {
    /// Buffers one page larger than the limit, so registering even one of them fails.
    static func oversizedBuffer() throws -> Int {
      let limit = try #require(MemlockFacts.limit)
      return (limit + 4095) / 4096 * 4096 + 4096
    }

    @Test("io_uring strategies fall back with ENOMEM and exact bytes", arguments: ["file", "pipe", "unix", "tcp"])
    func strategiesFallBack(_ destinationKind: String) async throws {
      let bufferSize = try Self.oversizedBuffer()
      let disk = try TransferFixtures.Directory(in: "/tmp")
      defer { disk.remove() }
      let content = TransferFixtures.bytes(Swift.min(2 * bufferSize + 5, TransferFixtures.pattern.count))
      try TransferFixtures.writeFile(disk.file("source"), content)
      let source = try TransferFixtures.openFile(disk.file("source"), O_RDONLY)
      defer { try? source.close() }

      var strategies: [any TransferStrategy] = [IOURingStrategy(bufferSize: bufferSize, depth: 2)]
      if destinationKind == "tcp" { strategies.append(SendZeroCopyStrategy(bufferSize: bufferSize, depth: 2)) }
      for strategy in strategies {
        for allowFallback in [true, false] {
          let label = "\(strategy.name) → \(destinationKind), fallback \(allowFallback)"
          var received: [UInt8] = []
          var outcome: Result<TransferReport, ZeroCopyError>
          let request: (FileDescriptor) -> TransferRequest = { TransferRequest(from: source, offset: 0, to: $0) }
          let options = TransferOptions(allowFallback: allowFallback)
          switch destinationKind {
          case "file":
            let path = disk.file("destination")
            let destination = try TransferFixtures.openFile(path, O_RDWR | O_CREAT | O_TRUNC)
            defer { try? destination.close() }
            do throws(ZeroCopyError) {
              outcome = .success(try await Transfer.run(request(destination), strategy: strategy, options: options))
            } catch { outcome = .failure(error) }
            received = try TransferFixtures.readFile(path)
          default:
            let (readEnd, writeEnd): (FileDescriptor, FileDescriptor)
            switch destinationKind {
            case "pipe": (readEnd, writeEnd) = try TransferFixtures.makePipe()
            case "unix": (readEnd, writeEnd) = try TransferFixtures.makeUnixPair()
            default: (writeEnd, readEnd) = try TransferFixtures.makeTCPPair()
            }
            let reader = TransferFixtures.reader(readEnd)
            do throws(ZeroCopyError) {
              outcome = .success(try await Transfer.run(request(writeEnd), strategy: strategy, options: options))
            } catch { outcome = .failure(error) }
            try writeEnd.close()
            received = reader.join()
            try readEnd.close()
          }
          switch (outcome, allowFallback) {
          case (.success(let report), true):
            #expect(report.bytes == Int64(content.count), "\(label)")
            #expect(report.requestedStrategy == strategy.name, "\(label)")
            #expect(report.strategy != strategy.name, "\(label): ran although registration must fail")
            let fallback = report.fallbacks.first
            #expect(fallback?.strategy == strategy.name, "\(label)")
            #expect(fallback?.errno == .noMemory, "\(label): \(String(describing: fallback))")
            // ENOMEM at registration, or already at ring setup when the parallel suites'
            // rings used up this user's shared 64 KiB (rings count against it on 6.18).
            #expect(["io_uring_register", "io_uring_setup"].contains(fallback?.syscall), "\(label)")
            TransferFixtures.expectSame(received, content, label)
          case (.failure(let error), false):
            #expect(error.errno == .noMemory, "\(label): \(error)")
            #expect(["io_uring_register", "io_uring_setup"].contains(error.syscall), "\(label)")
            #expect(error.bytesTransferred == 0, "\(label)")
            #expect(received.isEmpty, "\(label): \(received.count) bytes arrived")
          case (.success(let report), false):
            Issue.record("\(label): succeeded with \(report.strategy) although its buffers exceed RLIMIT_MEMLOCK")
          case (.failure(let error), true):
            Issue.record("\(label): failed instead of falling back: \(error)")
          }
        }
      }
    }

    @Test(
      "an engine whose ring exceeds the limit falls back to the thread pool, with ENOMEM",
      .enabled(if: (MemlockFacts.limit ?? .max) <= 1 << 20, "RLIMIT_MEMLOCK above 1 MiB: a 32768-entry ring (3 MiB) fits"))
    func engineFallsBack() async throws {
      // 32768 SQEs (2 MiB) and 65536 CQEs (1 MiB): ring memory alone exceeds the limit.
      let engine = try IOEngine(IOEngine.Configuration(preference: .automatic, submissionQueueEntries: 32768, threadPoolSize: 2))
      #expect(engine.kind == .threadPool)
      guard case .setupFailed(let error) = engine.fallbackReason else {
        Issue.record("expected a setup failure, got \(String(describing: engine.fallbackReason))")
        return
      }
      #expect(error.errno == .noMemory)
      let dir = try TemporaryDirectory()
      let content = Support.pattern(seed: 91, count: 1 << 20)
      let file = try await AsyncFile.create(dir.file("memlock.bin"), engine: engine)
      let written = try await file.writeAll(from: try Support.buffer(content), at: 0).get()
      #expect(written.count == content.count)
      let filled = try await file.read(into: try AlignedBuffer(count: content.count), at: 0).get()
      #expect(filled.count == content.count)
      #expect(Support.bytes(filled.buffer) == content)
      try await file.close()
      await engine.shutdown()
    }
  }
}
