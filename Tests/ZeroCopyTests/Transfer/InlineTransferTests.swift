// Async transfers without the hop: a small transfer that cannot wait for a peer runs on
// the calling task's thread (TransferOptions.inlineLimit); everything else still hops to a
// worker thread. Which thread ran the strategy is seen through LinuxIO's debug-only
// syscall recorder, which is task-local: calls made on the task's own thread are
// recorded, a worker thread's are not (the reason for @testable LinuxIO here).

#if DEBUG
  import Glibc
  import SystemPackage
  import Testing
  import ZeroCopy

  @testable import LinuxIO

  extension TransferTests {
    @Suite("Async transfers without the hop")
    struct Inline {
      /// Runs `body` with the task-local recorder and returns the funnels it reached on
      /// this task's thread.
      static func recorded(_ body: () async throws -> Void) async throws -> [String] {
        let state = SyscallMocking([:])
        try await SyscallMocking.$current.withValue(state) { try await body() }
        return state.recordedCalls
      }

      static func files(_ size: Int) throws -> (TransferFixtures.Directory, FileDescriptor, FileDescriptor) {
        let directory = try TransferFixtures.Directory()
        try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(size))
        let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
        let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
        return (directory, source, target)
      }

      @Test(
        "file → file on the task's thread: 4 KiB, and a cached 1 MiB (inlineCachedLimit); above it, without it, and with inlineLimit 0: a hop",
        arguments: [false, true])
      func fileToFile(_ prepared: Bool) async throws {
        let cases: [(size: Int, limit: Int, cached: Int, inline: Bool)] = [
          (4096, 64 << 10, 1 << 20, true), (1 << 20, 64 << 10, 1 << 20, true), (1 << 20, 64 << 10, 0, false),
          ((1 << 20) + 4096, 64 << 10, 1 << 20, false), (4096, 0, 1 << 20, false), (1 << 20, 0, 1 << 20, false),
        ]
        for (size, limit, cached, inline) in cases {
          let (directory, source, target) = try Self.files(size)
          defer {
            try? source.close()
            try? target.close()
            directory.remove()
          }
          let options = TransferOptions(inlineLimit: limit, inlineCachedLimit: cached)
          var report: TransferReport?
          let calls = try await Self.recorded {
            if prepared {
              report = try await PreparedTransfer(from: source, to: target).run(
                offset: 0, count: Int64(size), at: 0, strategy: .readWrite, options: options)
            } else {
              report = try await Transfer.run(
                TransferRequest(from: source, offset: 0, count: Int64(size), to: target, at: 0), strategy: .readWrite,
                options: options)
            }
          }
          #expect(report?.bytes == Int64(size))
          #expect(calls.contains("read_write_all") == inline, "size \(size), limit \(limit), cached \(cached): \(calls)")
          TransferFixtures.expectSame(
            try TransferFixtures.readFile(directory.file("b")), TransferFixtures.bytes(size), "destination")
        }
      }

      @Test(
        "a 1 MiB source not in the page cache hops (the range check finds pages missing); a count-less or position-relative one hops"
      )
      func uncachedHops() async throws {
        let size = 1 << 20
        let (directory, source, target) = try Self.files(size)
        defer {
          try? source.close()
          try? target.close()
          directory.remove()
        }
        // Written back, then dropped: the pages leave the cache (not on tmpfs, where they
        // are the file's only copy).
        #expect(fsync(source.rawValue) == 0)
        try source.adviseDontNeed(offset: 0, length: 0)
        let present = try source.cachedPages(offset: 0, length: Int64(size))
        var report: TransferReport?
        if present < size / 4096 {
          let calls = try await Self.recorded {
            report = try await PreparedTransfer(from: source, to: target).run(
              offset: 0, count: Int64(size), at: 0, strategy: .readWrite)
          }
          #expect(report?.bytes == Int64(size))
          #expect(calls.contains("range_ready"), "the cache was checked on the task's thread: \(calls)")
          #expect(!calls.contains("read_write_all"), "\(calls)")
        } else {
          print("uncachedHops: the pages stayed cached after POSIX_FADV_DONTNEED (tmpfs?); that part not checked here")
        }
        // Cached again now; a transfer at the file's position (offset nil) still hops: the
        // position is not known on the task's thread without an lseek.
        _ = try TransferFixtures.readFile(directory.file("a"))
        let calls = try await Self.recorded {
          report = try await PreparedTransfer(from: source, to: target).run(count: Int64(size), at: 0, strategy: .readWrite)
        }
        #expect(report?.bytes == Int64(size))
        #expect(!calls.contains("read_write_all"), "\(calls)")
        #expect(try source.position() == Int64(size))
        TransferFixtures.expectSame(
          try TransferFixtures.readFile(directory.file("b")), TransferFixtures.bytes(size), "destination")
      }

      @Test("to a socket with room: inline; to a socket whose buffer is full: a worker waits for the reader")
      func socketRoom() async throws {
        let (directory, source, _) = try Self.files(4096)
        defer {
          try? source.close()
          directory.remove()
        }
        let (client, server) = try TransferFixtures.makeTCPPair()
        defer {
          try? client.close()
          try? server.close()
        }
        _ = fcntl(client.rawValue, F_SETFL, fcntl(client.rawValue, F_GETFL) | O_NONBLOCK)
        // Room: inline.
        var report: TransferReport?
        var calls = try await Self.recorded {
          report = try await Transfer.run(
            TransferRequest(from: source, offset: 0, count: 4096, to: client), strategy: .sendfile)
        }
        #expect(report?.bytes == 4096)
        #expect(calls.contains("sendfile_all"), "\(calls)")
        var received = [UInt8](repeating: 0, count: 4096)
        var got = 0
        while got < 4096 {
          let n = received.withUnsafeMutableBytes { recv(server.rawValue, $0.baseAddress! + got, 4096 - got, 0) }
          #expect(n > 0)
          if n <= 0 { return }
          got += n
        }
        TransferFixtures.expectSame(received, TransferFixtures.bytes(4096), "received")
        // Fill the send buffer (the peer reads nothing), then send 4 KiB more: it must hop,
        // wait on a worker, and finish once the peer drains.
        let filler = [UInt8](repeating: 0x5A, count: 65536)
        var queued = 0
        while true {
          let n = filler.withUnsafeBytes { send(client.rawValue, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
          if n <= 0 { break }
          queued += n
        }
        #expect(errno == EAGAIN)
        let expected = queued + 4096
        let drained = TransferFixtures.Box<Int>(0)
        let reader = TransferFixtures.Worker {
          usleep(50_000)  // after the transfer has started
          var buffer = [UInt8](repeating: 0, count: 65536)
          var total = 0
          while total < expected {
            let n = buffer.withUnsafeMutableBytes { recv(server.rawValue, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            total += n
          }
          drained.value = total
        }
        calls = try await Self.recorded {
          report = try await Transfer.run(
            TransferRequest(from: source, offset: 0, count: 4096, to: client), strategy: .sendfile)
        }
        reader.join()
        #expect(report?.bytes == 4096)
        #expect(!calls.contains("sendfile_all"), "a full socket must not be written on the task's thread: \(calls)")
        #expect(drained.value == expected)
      }

      @Test("a task cancelled before a small transfer gets ECANCELED with 0 bytes, the destination untouched")
      func cancelledBeforeStart() async throws {
        let (directory, source, target) = try Self.files(4096)
        defer {
          try? source.close()
          try? target.close()
          directory.remove()
        }
        let task = Task { () -> ZeroCopyError? in
          withUnsafeCurrentTask { $0?.cancel() }
          do throws(ZeroCopyError) {
            _ = try await Transfer.run(TransferRequest(from: source, offset: 0, count: 4096, to: target, at: 0))
            return nil
          } catch {
            return error
          }
        }
        let error = await task.value
        #expect(error?.errno == .canceled)
        #expect(error?.bytesTransferred == 0)
        #expect(try TransferFixtures.readFile(directory.file("b")).isEmpty)
      }

      @Test("custom strategies, ring strategies and directIO always hop")
      func onlyKnownStrategiesRunInline() async throws {
        let (directory, source, target) = try Self.files(4096)
        defer {
          try? source.close()
          try? target.close()
          directory.remove()
        }
        struct Wrapped: TransferStrategy {
          var name: String { "wrappedReadWrite" }
          var summary: String { "readWrite under another type" }
          func support(for pair: EndpointPair) -> StrategySupport { ReadWriteStrategy().support(for: pair) }
          func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
            try ReadWriteStrategy().transfer(&context)
          }
        }
        var report: TransferReport?
        let calls = try await Self.recorded {
          report = try await Transfer.run(
            TransferRequest(from: source, offset: 0, count: 4096, to: target, at: 0), strategy: Wrapped(),
            options: TransferOptions(allowFallback: false))
        }
        #expect(report?.bytes == 4096)
        #expect(!calls.contains("read_write_all"), "\(calls)")
      }
    }
  }
#endif
