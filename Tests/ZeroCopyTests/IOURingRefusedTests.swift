// io_uring refused by a seccomp filter (ENOSYS, EPERM, or only io_uring_register): the
// engine falls back to the thread pool with the reason, the io_uring strategies give way
// to the system-call ones with exact bytes, and the probe the `zc` tool prints names it.
// Runs only under CShims/tests/tools/zc_seccomp_run (`make test-no-uring`), which sets
// ZC_SECCOMP_MODE; the rest of the ZeroCopy suites run under the filter there too.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing
import ZeroCopy

/// The refusal this process runs under (`enosys`, `eperm`, `register-eperm`), or nil.
private let seccompMode: String? = {
  guard let raw = getenv("ZC_SECCOMP_MODE") else { return nil }
  let mode = String(cString: raw)
  return mode == "none" || mode.isEmpty ? nil : mode
}()

@Suite(
  "io_uring refused by seccomp", .enabled(if: seccompMode != nil, "runs only under zc_seccomp_run (make test-no-uring)"),
  .timeLimit(.hangGuard(minutes: 2)))
struct IOURingRefusedTests {
  /// The reason, and the errno an engine that insists on io_uring reports, per mode.
  static func expectation(_ mode: String) -> (reason: IOURingAvailability.Reason, errno: Errno, text: String)? {
    switch mode {
    case "enosys": return (.notImplemented, .noFunction, "not implemented by this kernel or sandbox (ENOSYS)")
    case "eperm": return (.notPermitted(.notPermitted), .notPermitted, "refused by a security policy")
    case "register-eperm": return (.registerRefused(.notPermitted), .notPermitted, "io_uring_register is refused")
    default: return nil
    }
  }

  @Test func engineFallsBackWithTheReason() async throws {
    let mode = try #require(seccompMode)
    let expected = try #require(Self.expectation(mode), "unknown ZC_SECCOMP_MODE '\(mode)'")
    // The default engine and an automatic one are thread-pool engines that say why.
    #expect(IOEngine.default.kind == .threadPool)
    #expect(IOEngine.default.fallbackReason == .unavailable(expected.reason))
    let engine = try IOEngine(IOEngine.Configuration(preference: .automatic, threadPoolSize: 2))
    #expect(engine.kind == .threadPool)
    #expect(engine.fallbackReason == .unavailable(expected.reason))
    #expect(engine.description.contains(expected.text))
    // Insisting on io_uring fails with the kernel's errno, not a made-up one.
    do throws(ZeroCopyError) {
      _ = try IOEngine(IOEngine.Configuration(preference: .ioUring))
      Issue.record("an io_uring engine was created under the \(mode) filter")
    } catch {
      #expect(error.operation == .startEngine)
      #expect(error.errno == expected.errno)
      #expect(error.message?.contains(expected.text) == true)
    }
    // And the fallback engine moves exact bytes.
    let dir = try TemporaryDirectory()
    let content = Support.pattern(seed: 77, count: 300_001)
    let path = try dir.write("refused.bin", content)
    let file = try await AsyncFile.open(path, engine: engine)
    let filled = try await file.read(into: try AlignedBuffer(count: 300_001), at: 0).get()
    #expect(filled.count == 300_001)
    #expect(Support.bytes(filled.buffer) == content)
    try await file.close()
    await engine.shutdown()
  }

  @Test func uringStrategiesGiveWayWithExactBytes() async throws {
    let mode = try #require(seccompMode)
    let expected = try #require(Self.expectation(mode))
    let disk = try TransferFixtures.Directory(in: "/tmp")
    defer { disk.remove() }
    let content = TransferFixtures.bytes((1 << 20) + 3)
    let sourcePath = disk.file("source")
    try TransferFixtures.writeFile(sourcePath, content)
    let source = try TransferFixtures.openFile(sourcePath, O_RDONLY)
    defer { try? source.close() }

    for strategy in [TransferStrategies.named("ioUring"), TransferStrategies.named("ioUringSplice")] {
      let strategy = try #require(strategy)
      let destinationPath = disk.file("destination-\(strategy.name)")
      let destination = try TransferFixtures.openFile(destinationPath, O_RDWR | O_CREAT | O_TRUNC)
      defer { try? destination.close() }
      // With fallbacks (the default): another strategy moves every byte; the report says why.
      let report = try await Transfer.run(TransferRequest(from: source, offset: 0, to: destination, at: 0), strategy: strategy)
      #expect(report.bytes == Int64(content.count))
      #expect(report.requestedStrategy == strategy.name)
      #expect(report.strategy != strategy.name)
      #expect(!report.strategy.hasPrefix("ioUring"))
      let fallback = try #require(report.fallbacks.first)
      #expect(fallback.strategy == strategy.name)
      #expect(fallback.reason.contains(expected.text))
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(destinationPath), content, "\(strategy.name) fallback under \(mode)")

      // Without fallbacks: refused up front, nothing written.
      let empty = try TransferFixtures.openFile(disk.file("empty-\(strategy.name)"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? empty.close() }
      do throws(ZeroCopyError) {
        _ = try await Transfer.run(
          TransferRequest(from: source, offset: 0, to: empty, at: 0), strategy: strategy,
          options: TransferOptions(allowFallback: false))
        Issue.record("\(strategy.name) ran under the \(mode) filter")
      } catch {
        #expect(error.errno == .notSupported)
        #expect(error.bytesTransferred == 0)
        #expect(error.message?.contains(expected.text) == true)
      }
      #expect(TransferFixtures.status(disk.file("empty-\(strategy.name)"))?.size == 0)
    }

    // `.automatic` never picks an io_uring strategy here and still copies exactly.
    let autoPath = disk.file("automatic")
    let autoDestination = try TransferFixtures.openFile(autoPath, O_RDWR | O_CREAT | O_TRUNC)
    defer { try? autoDestination.close() }
    let report = try await Transfer.run(TransferRequest(from: source, offset: 0, to: autoDestination, at: 0))
    #expect(report.bytes == Int64(content.count))
    #expect(!report.strategy.hasPrefix("ioUring"))
    TransferFixtures.expectSame(try TransferFixtures.readFile(autoPath), content, "automatic under \(mode)")
  }

  @Test func probeStatusNamesTheErrno() throws {
    let mode = try #require(seccompMode)
    let expected = try #require(Self.expectation(mode))
    let status = TransferProbe.ioUring
    #expect(!status.isAvailable)
    #expect(status.reason?.contains(expected.text) == true)
    #expect(status.supportedOpcodes.isEmpty)
    if mode == "register-eperm" {
      #expect(status.setupErrno == nil)
      #expect(status.registerErrno == .notPermitted)
    } else {
      #expect(status.setupErrno == expected.errno)
      #expect(status.registerErrno == nil)
    }
  }
}
