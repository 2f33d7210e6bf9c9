// Which engine is chosen, and why; the default engine; errors and results.

import LinuxIO
import SystemPackage
import Testing
import URing
import ZeroCopy

@Suite("engine selection")
struct EngineSelectionTests {
  @Test func threadPoolOnRequest() async throws {
    let engine = try IOEngine(IOEngine.Configuration(preference: .threadPool, threadPoolSize: 2))
    #expect(engine.kind == .threadPool)
    #expect(engine.fallbackReason == .requested)
    #expect(engine.preferredTaskExecutor == nil)
    #expect(!engine.isCurrentThread)
    #expect(engine.description.contains("thread-pool engine"))
    await engine.shutdown()
  }

  @Test func defaultEngineFollowsAvailability() async throws {
    let engine = IOEngine.default
    switch IOURingAvailability.current {
    case .available:
      #expect(engine.kind == .ioUring)
      #expect(engine.fallbackReason == nil)
      #expect(engine.description.contains("IORING_SETUP_SINGLE_ISSUER"))
    case .unavailable(let reason):
      #expect(engine.kind == .threadPool)
      #expect(engine.fallbackReason == .unavailable(reason))
      #expect(engine.description.contains("\(reason)"))
      // Insisting on io_uring fails with the reason.
      do throws(ZeroCopyError) {
        _ = try IOEngine(IOEngine.Configuration(preference: .ioUring))
        Issue.record("an io_uring engine was created although io_uring is unavailable")
      } catch {
        #expect(error.operation == .startEngine)
        #expect(error.message?.contains("unavailable") == true)
      }
    }
    // The default engine needs no set-up.
    let dir = try TemporaryDirectory()
    let path = try dir.write("default.bin", Support.pattern(seed: 4, count: 10_000))
    let file = try await AsyncFile.open(path)
    #expect(file.engine === IOEngine.default)
    let filled = try await file.read(into: try AlignedBuffer(count: 10_000), at: 0).get()
    #expect(filled.count == 10_000)
    #expect(Support.bytes(filled.buffer) == Support.pattern(seed: 4, count: 10_000))
    try await file.close()
  }

  @Test(.enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
  func pinnedEngine() async throws {
    let engine = try IOEngine(IOEngine.Configuration(preference: .ioUring, submissionQueueEntries: 8, cpu: 0, name: "zc-pinned"))
    let onEngine = await withTaskExecutorPreference(engine.preferredTaskExecutor) { engine.isCurrentThread }
    #expect(onEngine)
    await engine.shutdown()
  }

  @Test func resultAndErrorDescriptions() throws {
    let error = ZeroCopyError(
      .read, syscall: "IORING_OP_READ", errno: .ioError, paths: ["/data/a"], descriptors: [FileDescriptor(rawValue: 7)],
      offset: 4096, bytesTransferred: 100, message: "context")
    #expect(error.description.contains("read failed: IORING_OP_READ"))
    #expect(error.description.contains("'/data/a'"))
    #expect(error.description.contains("fd 7"))
    #expect(error.description.contains("offset 4096"))
    #expect(error.description.contains("after 100 bytes"))
    #expect(!error.isCancellation)

    var list = BufferList()
    let empty = list.isEmpty
    #expect(empty)
    list.append(try AlignedBuffer(count: 10))
    list.append(try AlignedBuffer(count: 20))
    list.append(try AlignedBuffer(count: 30))
    list.append(try AlignedBuffer(count: 40))
    list.append(try AlignedBuffer(count: 50))  // grows past the initial capacity
    let (count, total) = (list.count, list.totalByteCount)
    #expect(count == 5)
    #expect(total == 150)
    let last = list.removeLast()
    let lastCount = last.count
    #expect(lastCount == 50)

    let result = IOResult(result: .failure(error), buffer: try AlignedBuffer(count: 8))
    let threw: Bool
    do { _ = try result.count; threw = false } catch { threw = true }
    #expect(threw)
    let size = result.buffer.count
    #expect(size == 8)
  }

  @Test func socketAddresses() throws {
    #expect(try SocketAddress.ipv4("127.0.0.1", port: 8080).description == "127.0.0.1:8080")
    #expect(try SocketAddress.ipv6("::1", port: 443).description == "[::1]:443")
    #expect(try SocketAddress.unix("/tmp/x.sock").path == "/tmp/x.sock")
    #expect(SocketAddress.loopback(port: 9).port == 9)
    #expect(throws: ZeroCopyError.self) { try SocketAddress.ipv4("not an address", port: 1) }
    #expect(throws: ZeroCopyError.self) { try SocketAddress.unix(FilePath(String(repeating: "x", count: 200))) }
  }
}
