// Async transfers without the hop: a small transfer that cannot wait for a peer runs on
// the calling task's thread (TransferOptions.inlineLimit); everything else still hops to a
// worker thread. Which thread ran the strategy is seen through LinuxIO's debug-only
// syscall recorder, which is task-local: calls made on the task's own thread are
// recorded, a worker thread's are not (the reason for @testable LinuxIO here).

#if DEBUG
  import Glibc
  import Synchronization
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
        // Until it stays full: after the first EAGAIN the kernel still moves queued bytes
        // into the peer's receive buffer for a while, which made room again for a task that
        // ran late (the 4 KiB then went inline). Full = nothing accepted for 3 × 20 ms.
        let filler = [UInt8](repeating: 0x5A, count: 65536)
        var queued = 0
        var quietRounds = 0
        while quietRounds < 3 {
          var accepted = 0
          while true {
            let n = filler.withUnsafeBytes { send(client.rawValue, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            accepted += n
          }
          #expect(errno == EAGAIN)
          queued += accepted
          quietRounds = accepted == 0 ? quietRounds + 1 : 0
          usleep(20_000)
        }
        let expected = queued + 4096
        let drained = TransferFixtures.Box<Int>(0)
        let runReturned = Mutex(false)
        let reader = TransferFixtures.Worker {
          // Only once the task is past its inline check: 50 ms, then until a thread waits
          // in waitUntilReady's poll or the transfer has returned (it can, when the full
          // socket still had room for 4 KiB but not the inline margin), 10 s at most.
          // 50 ms alone let the reader make room before the check when the task ran late.
          usleep(50_000)
          let deadline = ContinuousClock.now + .seconds(10)
          while !Self.aThreadWaitsForReadiness() && !runReturned.withLock({ $0 }) && ContinuousClock.now < deadline {
            usleep(1000)
          }
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
        runReturned.withLock { $0 = true }
        reader.join()
        #expect(report?.bytes == 4096)
        #expect(!calls.contains("sendfile_all"), "a full socket must not be written on the task's thread: \(calls)")
        #expect(drained.value == expected)
      }

      /// Whether a thread of this process is in `poll` on one descriptor with a 100 ms
      /// timeout, as TransferContext.waitUntilReady waits for a non-blocking end
      /// (/proc/self/task/*/syscall: "7 <fds> 0x1 0x64 …"). x86_64's numbering; elsewhere
      /// always true (the caller's fixed minimum then decides, as before).
      static func aThreadWaitsForReadiness() -> Bool {
        #if arch(x86_64)
          guard let dir = opendir("/proc/self/task") else { return true }
          defer { closedir(dir) }
          while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
              String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.first?.isNumber == true,
              let text = try? TransferFixtures.readFile("/proc/self/task/\(name)/syscall")
            else { continue }
            let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
            if fields.count > 3 && fields[0] == "7" && fields[2] == "0x1" && fields[3] == "0x64" { return true }
          }
          return false
        #else
          return true
        #endif
      }

      /// How many of this process's descriptors refer to the pipe `end` belongs to (other
      /// tests open and close descriptors meanwhile, so only this pipe's are counted).
      static func descriptorsOf(_ end: FileDescriptor) -> Int {
        guard let target = descriptorTarget(end) else { return -1 }
        return openDescriptorTargets().values.filter { $0 == target }.count
      }

      /// Reads exactly `count` bytes from `fd` (a blocking pipe end).
      static func readExactly(_ fd: FileDescriptor, _ count: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
          let n = result.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress! + got, count - got) }
          if n <= 0 { break }
          got += n
        }
        return Array(result[0..<got])
      }

      @Test(
        "file → pipe with room: on the task's thread (splice with SPLICE_F_NONBLOCK for splice and .automatic, a non-blocking reopened end for the others); the caller's end stays blocking and no descriptor is left",
        arguments: ["automatic", "readWrite", "sendfile", "splice", "mmapWrite"])
      func fileToPipeWithRoom(_ name: String) async throws {
        let size = 8192
        let (directory, source, _) = try Self.files(size)
        defer {
          try? source.close()
          directory.remove()
        }
        let (readEnd, writeEnd) = try TransferFixtures.makePipe()
        defer { try? readEnd.close() }
        let strategy = TransferStrategies.named(name)!
        var report: TransferReport?
        let calls = try await Self.recorded {
          report = try await PreparedTransfer(from: source, to: writeEnd).run(
            offset: 0, count: Int64(size), strategy: strategy, options: TransferOptions(allowFallback: false))
        }
        #expect(report?.bytes == Int64(size))
        let perCall = name == "splice" || name == "automatic"
        #expect(calls.contains("reopen") != perCall, "\(calls)")
        if perCall { #expect(report?.strategy == "splice") }
        #expect(
          calls.contains { ["read_write_all", "sendfile_all", "splice_all", "write_from_mapping"].contains($0) },
          "the data moved on the task's thread: \(calls)")
        #expect(fcntl(writeEnd.rawValue, F_GETFL) & O_NONBLOCK == 0, "the caller's end is unchanged")
        #expect(Self.descriptorsOf(writeEnd) == 2, "the reopened end is closed: only the test's two ends remain")
        try writeEnd.close()
        TransferFixtures.expectSame(Self.readExactly(readEnd, size + 1), TransferFixtures.bytes(size), "the stream, then its end")
      }

      @Test(
        "file → a FIFO opened by name (blocking): .automatic splices on the task's thread with SPLICE_F_NONBLOCK, no descriptor opened; readWrite reopens it"
      )
      func fileToFIFO() async throws {
        let size = 8192
        let (directory, source, _) = try Self.files(size)
        defer {
          try? source.close()
          directory.remove()
        }
        let path = directory.file("fifo")
        #expect(mkfifo(path, 0o600) == 0)
        // The read end first, non-blocking (an open for writing would wait for a reader),
        // then made blocking; the write end opened by name, blocking.
        let readEnd = try TransferFixtures.openFile(path, O_RDONLY | O_NONBLOCK)
        defer { try? readEnd.close() }
        #expect(fcntl(readEnd.rawValue, F_SETFL, 0) == 0)
        let writeEnd = try TransferFixtures.openFile(path, O_WRONLY)
        for name in ["automatic", "readWrite"] {
          var report: TransferReport?
          let calls = try await Self.recorded {
            report = try await PreparedTransfer(from: source, to: writeEnd).run(
              offset: 0, count: Int64(size), strategy: TransferStrategies.named(name)!)
          }
          #expect(report?.bytes == Int64(size), "\(name)")
          #expect(report?.strategy == (name == "automatic" ? "splice" : "readWrite"), "\(name)")
          #expect(calls.contains("reopen") == (name == "readWrite"), "\(name): \(calls)")
          #expect(fcntl(writeEnd.rawValue, F_GETFL) & O_NONBLOCK == 0, "the caller's end is unchanged")
          TransferFixtures.expectSame(Self.readExactly(readEnd, size), TransferFixtures.bytes(size), "\(name): the FIFO")
        }
        try writeEnd.close()
      }

      @Test(
        "file → pipe that fills up: the part that fits moves on the task's thread, a worker waits for the reader and moves the rest; one report, exact bytes, in order",
        arguments: ["automatic", "readWrite", "sendfile", "splice"])
      func fileToPipeThatFills(_ name: String) async throws {
        let size = 48 << 10
        let (directory, source, _) = try Self.files(size)
        defer {
          try? source.close()
          directory.remove()
        }
        let (readEnd, writeEnd) = try TransferFixtures.makePipe()
        defer { try? readEnd.close() }
        let capacity = try TransferFixtures.setPipeCapacity(writeEnd, 64 << 10)
        // Leave room for 16 KiB: the first 16 KiB fit, the rest must wait for the reader.
        let queued = capacity - (16 << 10)
        let filler = [UInt8](repeating: 0xA5, count: queued)
        #expect(filler.withUnsafeBytes { write(writeEnd.rawValue, $0.baseAddress!, $0.count) } == queued)
        let received = TransferFixtures.Box<[UInt8]>([])
        let reader = TransferFixtures.Worker {
          usleep(50_000)  // after the inline part stopped
          received.value = Self.readExactly(readEnd, queued + size)
        }
        var report: TransferReport?
        let calls = try await Self.recorded {
          report = try await PreparedTransfer(from: source, to: writeEnd).run(
            offset: 0, count: Int64(size), strategy: TransferStrategies.named(name)!,
            options: TransferOptions(allowFallback: false))
        }
        reader.join()
        #expect(report?.bytes == Int64(size))
        #expect(report?.requestedBytes == Int64(size))
        #expect(report?.sourceEndedEarly == false)
        #expect(calls.contains("reopen") != (name == "splice" || name == "automatic"), "\(calls)")
        if name == "automatic" {
          // The worker's `.automatic` chose sendfile for the rest, and the report says how
          // much splice moved first (16 KiB when the reader started after the attempt, as
          // it should; under load it may start first, and then more moved inline).
          if report?.strategy != "splice" {
            #expect(report?.strategy == "sendfile", "\(String(describing: report))")
            let note = report?.notes.first { $0.hasPrefix("the first ") }
            let first = note.flatMap { Int($0.dropFirst("the first ".count).prefix { $0.isNumber }) }
            #expect(
              note == nil
                || (note?.hasSuffix(" bytes moved with splice on the calling thread, the rest with sendfile on a worker thread")
                  == true && first.map { $0 > 0 && $0 < size } == true),
              "\(report?.notes ?? [])")
          }
        }
        #expect(Self.descriptorsOf(writeEnd) == 2, "the reopened end is closed")
        TransferFixtures.expectSame(received.value, filler + TransferFixtures.bytes(size), "the stream")
      }

      @Test(
        "pipe → file: queued bytes move on the task's thread; an empty pipe hands the whole transfer to a worker, which waits for the writer"
      )
      func pipeToFile() async throws {
        let size = 16 << 10
        let directory = try TransferFixtures.Directory()
        defer { directory.remove() }
        let target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
        defer { try? target.close() }
        let (readEnd, writeEnd) = try TransferFixtures.makePipe()
        defer {
          try? readEnd.close()
          try? writeEnd.close()
        }
        let data = TransferFixtures.bytes(size)
        #expect(data.withUnsafeBytes { write(writeEnd.rawValue, $0.baseAddress!, $0.count) } == size)
        var report: TransferReport?
        var calls = try await Self.recorded {
          report = try await PreparedTransfer(from: readEnd, to: target).run(count: Int64(size), at: 0, strategy: .splice)
        }
        #expect(report?.bytes == Int64(size))
        #expect(!calls.contains("reopen") && calls.contains("splice_all"), "\(calls)")
        // Empty: the attempt stops at once, a worker waits for the writer.
        let writer = TransferFixtures.Worker {
          usleep(50_000)
          _ = data.withUnsafeBytes { write(writeEnd.rawValue, $0.baseAddress!, $0.count) }
        }
        calls = try await Self.recorded {
          report = try await PreparedTransfer(from: readEnd, to: target).run(
            count: Int64(size), at: Int64(size), strategy: .readWrite)
        }
        writer.join()
        #expect(report?.bytes == Int64(size))
        #expect(calls.contains("reopen"), "\(calls)")
        TransferFixtures.expectSame(try TransferFixtures.readFile(directory.file("b")), data + data, "destination")
      }

      @Test(
        "a pipe that cannot be opened again (the reopen refused) or a transfer with a monitor: the whole transfer hops, as before; a per-call splice attempt refused before moving a byte hands all of it to the worker"
      )
      func pipeAttemptRefused() async throws {
        let size = 4096
        let (directory, source, _) = try Self.files(size)
        defer {
          try? source.close()
          directory.remove()
        }
        let (readEnd, writeEnd) = try TransferFixtures.makePipe()
        defer {
          try? readEnd.close()
          try? writeEnd.close()
        }
        let state = SyscallMocking(["reopen": [.permissionDenied]])
        var report: TransferReport?
        try await SyscallMocking.$current.withValue(state) {
          report = try await PreparedTransfer(from: source, to: writeEnd).run(offset: 0, count: Int64(size), strategy: .sendfile)
        }
        #expect(report?.bytes == Int64(size))
        #expect(
          state.recordedCalls.contains("reopen") && !state.recordedCalls.contains("sendfile_all"), "\(state.recordedCalls)")
        TransferFixtures.expectSame(Self.readExactly(readEnd, size), TransferFixtures.bytes(size), "stream")
        // splice refused on the task's thread (EINVAL before a byte moved): the worker runs
        // the whole transfer with `.automatic`'s plan (sendfile), nothing is lost or doubled.
        let refused = SyscallMocking(["splice_all": [.invalidArgument]])
        try await SyscallMocking.$current.withValue(refused) {
          report = try await PreparedTransfer(from: source, to: writeEnd).run(offset: 0, count: Int64(size))
        }
        #expect(report?.bytes == Int64(size))
        #expect(report?.strategy == "sendfile", "\(String(describing: report))")
        #expect(report?.notes.isEmpty == true, "\(report?.notes ?? [])")
        #expect(refused.recordedCalls.filter { $0 == "splice_all" }.count == 1, "\(refused.recordedCalls)")
        #expect(!refused.recordedCalls.contains("sendfile_all") && !refused.recordedCalls.contains("reopen"))
        TransferFixtures.expectSame(Self.readExactly(readEnd, size), TransferFixtures.bytes(size), "stream")
        let calls = try await Self.recorded {
          report = try await PreparedTransfer(from: source, to: writeEnd).run(
            offset: 0, count: Int64(size), strategy: .splice, options: TransferOptions(monitor: TransferMonitor()))
        }
        #expect(report?.bytes == Int64(size))
        #expect(!calls.contains("reopen") && !calls.contains("splice_all"), "\(calls)")
        TransferFixtures.expectSame(Self.readExactly(readEnd, size), TransferFixtures.bytes(size), "stream")
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
