// Fault scenarios for the Transfer API, each for every strategy in the registry
// (FAULTS.md items 2–9 and 15). Each case runs in a child process under the descriptor
// harness (FaultSupport.swift); a strategy that cannot run for the endpoints is skipped
// with its reason (a cancelled test case), never counted as passing.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

@Suite("Faults: transfers", .serialized)
struct FaultTransferTests {
  // MARK: 2. Disk full

  @Test(
    "2. disk full: ENOSPC with the exact bytes that reached the file, no partial atomic copy, source untouched",
    arguments: Faults.strategyNames)
  func diskFull(_ name: String) async throws {
    guard Faults.isRoot else { try Faults.skip("2", name, "mounting a 1 MiB tmpfs needs root") }
    try Faults.requireRuns("2", name, .memoryFile)
    await #expect(processExitsWith: .success) { [name] in
      try await Faults.harnessed("disk full, \(name)") { try FaultTransferTests.diskFullBody(name) }
    }
  }

  static func diskFullBody(_ name: String) throws {
    guard let small = TransferFixtures.mountTmpfs(size: "1m") else {
      Issue.record("cannot mount a tmpfs")
      return
    }
    defer { TransferFixtures.unmount(small) }
    let strategy = try #require(TransferStrategies.named(name))
    // Source and destination on the 1 MiB tmpfs (so copy_file_range is not refused with
    // EXDEV): 600 KiB of source leave room for ~420 KiB of copy.
    let payload = TransferFixtures.bytes(600 << 10)
    try TransferFixtures.writeFile(small.file("src"), payload)
    let sum = try Faults.checksum(small.file("src"))
    for atomic in [false, true] {
      try TransferFixtures.writeFile(small.file("kept"), [7, 7, 7])
      let target = atomic ? small.file("kept") : small.file("out")
      let error = #expect(throws: ZeroCopyError.self, "\(name)") {
        try Transfer.copyBlocking(
          from: FilePath(small.file("src")), to: FilePath(target), strategy: strategy,
          options: CopyOptions(atomic: atomic, transfer: TransferOptions(allowFallback: false)))
      }
      #expect(error?.errno == .noSpace, "\(name): \(String(describing: error))")
      #expect(error?.operation == .copy)
      if atomic {
        #expect(try TransferFixtures.readFile(target) == [7, 7, 7], "\(name): the atomic destination is untouched")
        #expect(Set(TransferFixtures.entries(of: small.path)) == ["src", "kept"], "\(name): no temporary file left")
      } else {
        let size = TransferFixtures.status(target)?.size ?? -1
        let delivered = error?.bytesTransferred ?? -1
        #expect(delivered > 0 && delivered < Int64(payload.count), "\(name): some bytes fit (\(delivered))")
        #expect(delivered == size, "\(name): reported \(delivered) bytes, the file has \(size)")
        let written = try TransferFixtures.readFile(target)
        TransferFixtures.expectSame(written, Array(payload.prefix(written.count)), "\(name): the destination's bytes")
        _ = unlink(target)
      }
      // Nothing stranded: no pooled pipe is in use, and the pool only keeps empty pipes.
      #expect(PipePool.shared.inUseCount == 0)
      #expect(try Faults.checksum(small.file("src")) == sum, "\(name): the source is untouched")
      _ = unlink(small.file("kept"))
    }
  }

  // MARK: 3. Peer closes mid-transfer

  @Test(
    "3. the peer closes mid-transfer (TCP/Unix, close/RST): EPIPE or ECONNRESET, SIGPIPE at default, the process survives",
    arguments: Faults.strategyNames)
  func peerCloses(_ name: String) async throws {
    let tcp = Faults.refusal(name, .tcp)
    let unix = Faults.refusal(name, .unix)
    if let tcp, let unix { try Faults.skip("3", name, "TCP: \(tcp); Unix: \(unix)") }
    if let tcp { print("fault 3, \(name): TCP skipped: \(tcp)") }
    if let unix { print("fault 3, \(name): Unix skipped: \(unix)") }
    let transports = [tcp == nil ? "tcp" : nil, unix == nil ? "unix" : nil].compactMap { $0 }
    await #expect(processExitsWith: .success) { [name, transports = transports as [String]] in
      try await Faults.harnessed("peer closes, \(name)") { try await FaultTransferTests.peerClosesBody(name, transports) }
    }
  }

  static func peerClosesBody(_ name: String, _ transports: [String]) async throws {
    Faults.setDefault(SIGPIPE)
    #expect(Faults.isDefault(SIGPIPE))
    let strategy = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(8 << 20)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    for transport in transports {
      for reset in [false, true] {
        for async in [false, true] {
          let (near, far) = transport == "tcp" ? try TransferFixtures.makeTCPPair() : try TransferFixtures.makeUnixPair()
          Faults.setBuffers(near, send: 65536)
          Faults.setBuffers(far, receive: 65536)
          let received = TransferFixtures.Box<[UInt8]>([])
          let peer = TransferFixtures.Worker {
            var got: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16384)
            while got.count < 256 << 10 {
              let n = chunk.withUnsafeMutableBytes { read(far.rawValue, $0.baseAddress!, $0.count) }
              if n <= 0 { break }
              got += chunk[0..<n]
            }
            received.value = got
            if reset {
              var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
              _ = setsockopt(far.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            try? far.close()
          }
          let what = "\(name) \(transport) \(reset ? "RST" : "close") \(async ? "async" : "blocking")"
          let request = TransferRequest(from: source, offset: 0, to: near)
          let options = TransferOptions(allowFallback: false)
          let result: Result<TransferReport, ZeroCopyError>
          if async {
            // The async path runs on the transfer workers.
            do throws(ZeroCopyError) {
              result = .success(try await Transfer.run(request, strategy: strategy, options: options))
            } catch {
              result = .failure(error)
            }
          } else {
            // On a thread with SIGPIPE unblocked: a missing guard would kill the process.
            result = Faults.onThreadWithSignalsUnblocked {
              Result { () throws(ZeroCopyError) in try Transfer.runBlocking(request, strategy: strategy, options: options) }
            }
          }
          // If the transfer failed before the peer read its 256 KiB, the peer would wait
          // forever: shut the socket down first (a no-op for the peer that already closed).
          _ = shutdown(near.rawValue, Int32(SHUT_RDWR))
          peer.join()
          try near.close()
          switch result {
          case .success(let report):
            Issue.record("\(what): completed although the peer closed: \(report)")
          case .failure(let error) where Faults.isMemlockRefusal(error):
            // Unprivileged: RLIMIT_MEMLOCK is shared by every process of the user, and the
            // parallel suites' rings and registered buffers can use it up (fallback is off).
            print("fault 3, \(what): skipped: io_uring memory refused by RLIMIT_MEMLOCK (ENOMEM at \(error.syscall))")
            continue
          case .failure(let error):
            #expect([Errno.brokenPipe, .connectionReset].contains(error.errno), "\(what): \(error)")
            #expect(error.bytesTransferred >= Int64(received.value.count), "\(what): \(error)")
            #expect(error.bytesTransferred < Int64(payload.count), "\(what)")
          }
          TransferFixtures.expectSame(received.value, Array(payload.prefix(received.value.count)), "\(what): bytes the peer read")
        }
      }
    }
    #expect(Faults.isDefault(SIGPIPE), "SIGPIPE is still at its default disposition")
  }

  // MARK: 4. Slow reader

  @Test(
    "4. slow reader behind a tiny SO_SNDBUF: complete, in order, CPU time well below wall time",
    arguments: Faults.strategyNames)
  func slowReader(_ name: String) async throws {
    try Faults.requireRuns("4", name, .tcp)
    await #expect(processExitsWith: .success) { [name] in
      try await Faults.harnessed("slow reader, \(name)") { try FaultTransferTests.slowReaderBody(name) }
    }
  }

  static func slowReaderBody(_ name: String) throws {
    let strategy = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(256 << 10)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    let (near, far) = try TransferFixtures.makeTCPPair()
    Faults.setBuffers(near, send: 4096)
    Faults.setBuffers(far, receive: 16384)
    let received = TransferFixtures.Box<[UInt8]>([])
    let reader = TransferFixtures.Worker {
      var got: [UInt8] = []
      var chunk = [UInt8](repeating: 0, count: 8192)
      while true {
        usleep(2000)
        let n = chunk.withUnsafeMutableBytes { read(far.rawValue, $0.baseAddress!, $0.count) }
        if n <= 0 { break }
        got += chunk[0..<n]
      }
      received.value = got
    }
    var before = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &before)
    let clock = ContinuousClock()
    let start = clock.now
    let report = try Transfer.runBlocking(
      TransferRequest(from: source, offset: 0, to: near), strategy: strategy, options: TransferOptions(allowFallback: false))
    try near.close()
    reader.join()
    let wall = clock.now - start
    var after = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &after)
    try far.close()
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    let cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_stime)
    let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    #expect(report.bytes == Int64(payload.count))
    TransferFixtures.expectSame(received.value, payload, "\(name): what the slow reader got")
    #expect(wallSeconds > 0.05, "\(name): the reader was slow (\(wallSeconds) s)")
    #expect(cpu < 0.5 * wallSeconds, "\(name): CPU \(cpu) s over \(wallSeconds) s of wall time: busy waiting?")
  }

  // MARK: 5. Signal storm

  @Test(
    "5. a 1 ms SIGALRM storm without SA_RESTART during the transfer: exact content",
    arguments: Faults.strategyNames)
  func signalStorm(_ name: String) async throws {
    let file = Faults.refusal(name, .diskFile)
    let socket = Faults.refusal(name, .tcp)
    if let file, let socket { try Faults.skip("5", name, "file: \(file); TCP: \(socket)") }
    if let file { print("fault 5, \(name): file destination skipped: \(file)") }
    if let socket { print("fault 5, \(name): TCP destination skipped: \(socket)") }
    let layouts = [file == nil ? "file" : nil, socket == nil ? "tcp" : nil].compactMap { $0 }
    await #expect(processExitsWith: .success) { [name, layouts = layouts as [String]] in
      try await Faults.harnessed("signal storm, \(name)") { try FaultTransferTests.signalStormBody(name, layouts) }
    }
  }

  static func signalStormBody(_ name: String, _ layouts: [String]) throws {
    let strategy = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(6 << 20)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    SignalStorm.install()
    defer { SignalStorm.uninstall() }
    for layout in layouts {
      let near: FileDescriptor
      var far: FileDescriptor?
      if layout == "file" {
        near = try TransferFixtures.openFile(dir.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
      } else {
        (near, far) = try TransferFixtures.makeTCPPair()
        Faults.setBuffers(near, send: 16384)
        Faults.setBuffers(far!, receive: 16384)
      }
      let received = TransferFixtures.Box<[UInt8]>([])
      let reader = far.map { far in
        TransferFixtures.Worker {
          var got: [UInt8] = []
          var chunk = [UInt8](repeating: 0, count: 32768)
          while true {
            let n = chunk.withUnsafeMutableBytes { read(far.rawValue, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += chunk[0..<n]
            if got.count % (1 << 20) < 32768 { usleep(1000) }  // let the sender block now and then
          }
          received.value = got
        }
      }
      let request = TransferRequest(from: source, offset: 0, to: near, at: layout == "file" ? 0 : nil)
      let box = TransferFixtures.Box<Result<TransferReport, ZeroCopyError>?>(nil)
      // A file copy may finish within a millisecond: repeat it (same bytes, same offsets)
      // until at least 5 signals landed during a run, or 200 runs.
      let isFile = layout == "file"
      let delivered = SignalStorm.during {
        var runs = 0
        repeat {
          let before = SignalStorm.counter.pointee
          box.value = Result { () throws(ZeroCopyError) in
            try Transfer.runBlocking(
              request, strategy: strategy, options: TransferOptions(allowFallback: false, chunkSize: 1 << 20))
          }
          runs += 1
          if !isFile || SignalStorm.counter.pointee - before >= 5 { break }
          if case .failure = box.value! { break }
        } while runs < 200
      }
      try near.close()
      reader?.join()
      try far?.close()
      let what = "\(name) → \(layout) under \(delivered) SIGALRMs"
      switch box.value! {
      case .success(let report):
        #expect(report.bytes == Int64(payload.count), "\(what): \(report)")
      case .failure(let error) where Faults.isMemlockRefusal(error):
        print("fault 5, \(what): skipped: io_uring memory refused by RLIMIT_MEMLOCK (ENOMEM at \(error.syscall))")
        continue
      case .failure(let error):
        Issue.record("\(what): \(error)")
      }
      let got = layout == "file" ? try TransferFixtures.readFile(dir.file("dst")) : received.value
      TransferFixtures.expectSame(got, payload, what)
      #expect(delivered > 0, "\(what): signals were delivered")
    }
  }

  // MARK: 6. Source truncated

  @Test(
    "6. source truncated by another process after fstat and mid-transfer: sourceEndedEarly, exact bytes, no SIGBUS",
    .timeLimit(.hangGuard(minutes: 1)), arguments: Faults.strategyNames)
  func sourceTruncated(_ name: String) async throws {
    let file = Faults.refusal(name, .diskFile)
    let socket = Faults.refusal(name, .tcp)
    if let file, let socket { try Faults.skip("6", name, "file: \(file); TCP: \(socket)") }
    if let file { print("fault 6, \(name): file destination skipped: \(file)") }
    if let socket { print("fault 6, \(name): mid-transfer (TCP) skipped: \(socket)") }
    let layouts = [file == nil ? "file" : nil, socket == nil ? "tcp" : nil].compactMap { $0 }
    await #expect(processExitsWith: .success) { [name, layouts = layouts as [String]] in
      try await Faults.harnessed("source truncated, \(name)") { try FaultTransferTests.truncatedBody(name, layouts) }
    }
  }

  static func truncatedBody(_ name: String, _ layouts: [String]) throws {
    let base = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(4 << 20)
    let path = dir.file("src")
    if layouts.contains("file") {
      // Between the transfer's fstat (size 4 MiB) and its first byte: truncated to 1 MiB + 123.
      try TransferFixtures.writeFile(path, payload)
      let cut = (1 << 20) + 123
      let strategy = ActBeforeTransfer(inner: base) { Faults.truncateElsewhere(path, to: cut) }
      let source = try TransferFixtures.openFile(path, O_RDONLY)
      defer { try? source.close() }
      let target = try TransferFixtures.openFile(dir.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? target.close() }
      let report = try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, to: target, at: 0), strategy: strategy,
        options: TransferOptions(allowFallback: false))
      #expect(report.sourceEndedEarly, "\(name) after fstat: \(report)")
      #expect(report.bytes == Int64(cut), "\(name) after fstat: \(report)")
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(dir.file("dst")), Array(payload.prefix(cut)), "\(name) after fstat")
    }
    if layouts.contains("tcp") {
      // Mid-transfer: the reader truncates the source to 1.5 MiB after reading 512 KiB,
      // while the sender (behind small socket buffers) is well short of 1.5 MiB.
      try TransferFixtures.writeFile(path, payload)
      let cut = 3 << 19
      let source = try TransferFixtures.openFile(path, O_RDONLY)
      defer { try? source.close() }
      let (near, far) = try TransferFixtures.makeTCPPair()
      Faults.setBuffers(near, send: 32768)
      Faults.setBuffers(far, receive: 32768)
      let received = TransferFixtures.Box<[UInt8]>([])
      let reader = TransferFixtures.Worker {
        var got: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        var cutDone = false
        while true {
          let n = chunk.withUnsafeMutableBytes { read(far.rawValue, $0.baseAddress!, $0.count) }
          if n <= 0 { break }
          got += chunk[0..<n]
          if !cutDone && got.count >= 512 << 10 {
            Faults.truncateElsewhere(path, to: cut)
            cutDone = true
          }
        }
        received.value = got
      }
      let result = Result { () throws(ZeroCopyError) in
        try Transfer.runBlocking(
          TransferRequest(from: source, offset: 0, to: near), strategy: base, options: TransferOptions(allowFallback: false))
      }
      try near.close()
      reader.join()
      try far.close()
      switch result {
      case .success(let report):
        #expect(report.sourceEndedEarly, "\(name) mid-transfer: \(report)")
        #expect(report.bytes == Int64(cut), "\(name) mid-transfer: \(report)")
        #expect(report.bytes == Int64(received.value.count), "\(name): reported bytes = bytes received")
      case .failure(let error) where Faults.isMemlockRefusal(error):
        print("fault 6, \(name): skipped: io_uring memory refused by RLIMIT_MEMLOCK (ENOMEM at \(error.syscall))")
      case .failure(let error):
        Issue.record("\(name) mid-transfer: an error instead of sourceEndedEarly: \(error)")
      }
      TransferFixtures.expectSame(received.value, Array(payload.prefix(cut)), "\(name) mid-transfer")
    }
  }

  // MARK: 7. Source growing

  @Test(
    "7. source growing while copied: exactly the snapshot length is copied and reported",
    .timeLimit(.hangGuard(minutes: 1)), arguments: Faults.strategyNames)
  func sourceGrowing(_ name: String) async throws {
    let file = Faults.refusal(name, .diskFile)
    let socket = Faults.refusal(name, .tcp)
    if let file, let socket { try Faults.skip("7", name, "file: \(file); TCP: \(socket)") }
    let layouts = [file == nil ? "file" : nil, socket == nil ? "tcp" : nil].compactMap { $0 }
    await #expect(processExitsWith: .success) { [name, layouts = layouts as [String]] in
      try await Faults.harnessed("source growing, \(name)") { try FaultTransferTests.growingBody(name, layouts) }
    }
  }

  static func growingBody(_ name: String, _ layouts: [String]) throws {
    let base = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(2 << 20)
    let path = dir.file("src")
    for layout in layouts {
      try TransferFixtures.writeFile(path, payload)
      // After the fstat, another process appends 1 MiB.
      let strategy = ActBeforeTransfer(inner: base) { Faults.appendElsewhere(path, count: 1 << 20) }
      let source = try TransferFixtures.openFile(path, O_RDONLY)
      defer { try? source.close() }
      var got: [UInt8]
      let report: TransferReport
      if layout == "file" {
        let target = try TransferFixtures.openFile(dir.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
        defer { try? target.close() }
        report = try Transfer.runBlocking(
          TransferRequest(from: source, offset: 0, to: target, at: 0), strategy: strategy,
          options: TransferOptions(allowFallback: false))
        got = try TransferFixtures.readFile(dir.file("dst"))
      } else {
        let (near, far) = try TransferFixtures.makeTCPPair()
        let reader = TransferFixtures.reader(far)
        let result = Result { () throws(ZeroCopyError) in
          try Transfer.runBlocking(
            TransferRequest(from: source, to: near), strategy: strategy, options: TransferOptions(allowFallback: false))
        }
        try near.close()
        got = reader.join()
        try far.close()
        report = try result.get()
      }
      #expect(TransferFixtures.status(path)?.size == Int64(3 << 20), "the source did grow")
      #expect(report.bytes == Int64(payload.count), "\(name) → \(layout): \(report)")
      #expect(!report.sourceEndedEarly, "\(name) → \(layout)")
      TransferFixtures.expectSame(got, payload, "\(name) → \(layout): the snapshot")
    }
  }

  // MARK: 8. RLIMIT_FSIZE

  @Test(
    "8. RLIMIT_FSIZE: EFBIG with the exact bytes written, no SIGXFSZ death", arguments: Faults.strategyNames)
  func fileSizeLimit(_ name: String) async throws {
    try Faults.requireRuns("8", name, .diskFile)
    await #expect(processExitsWith: .success) { [name] in
      try await Faults.harnessed("RLIMIT_FSIZE, \(name)") { try FaultTransferTests.fileSizeLimitBody(name) }
    }
  }

  static func fileSizeLimitBody(_ name: String) throws {
    Faults.setDefault(SIGXFSZ)
    let strategy = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(2 << 20)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    let limit = 1 << 20
    var old = rlimit()
    #expect(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old) == 0)
    var lowered = old
    lowered.rlim_cur = rlim_t(limit)
    #expect(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &lowered) == 0)
    defer { _ = setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old) }
    let src = dir.file("src")
    let dst = dir.file("dst")
    let result = Faults.onThreadWithSignalsUnblocked {
      Result { () throws(ZeroCopyError) in
        try Transfer.copyBlocking(
          from: FilePath(src), to: FilePath(dst), strategy: strategy,
          options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
      }
    }
    _ = setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old)
    switch result {
    case .success(let report): Issue.record("\(name): no error past RLIMIT_FSIZE: \(report)")
    case .failure(let error):
      #expect(error.errno == .fileTooLarge, "\(name): \(error)")
      #expect(error.bytesTransferred == Int64(limit), "\(name): \(error)")
    }
    #expect(TransferFixtures.status(dst)?.size == Int64(limit))
    TransferFixtures.expectSame(
      try TransferFixtures.readFile(dst), Array(payload.prefix(limit)), "\(name): the bytes under the limit")
    #expect(Faults.isDefault(SIGXFSZ))
  }

  // MARK: 9. RLIMIT_NOFILE

  @Test("9. out of descriptors (RLIMIT_NOFILE): EMFILE errors naming the call, nothing leaked, the limit restored")
  func outOfDescriptors() async throws {
    let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent, \.standardOutputContent]) {
      // The default engine exists before the descriptors run out (a process that uses the
      // library has it running; 9b covers a first use with no descriptor left).
      _ = IOEngine.default
      try await Faults.harnessed("RLIMIT_NOFILE") { try await FaultTransferTests.outOfDescriptorsBody() }
    }
    if let result {
      // What each strategy did with no descriptor left (the child prints it).
      for line in String(decoding: result.standardOutputContent, as: UTF8.self).split(separator: "\n")
      where line.hasPrefix("fault 9") {
        print(line)
      }
    }
  }

  static func outOfDescriptorsBody() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let payload = TransferFixtures.bytes(300_000)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    let source = try TransferFixtures.openFile(dir.file("src"), O_RDONLY)
    defer { try? source.close() }
    let (readEnd, writeEnd) = try TransferFixtures.makePipe()
    defer { try? readEnd.close() }
    defer { try? writeEnd.close() }
    let target = try TransferFixtures.openFile(dir.file("dst"), O_RDWR | O_CREAT | O_TRUNC)
    defer { try? target.close() }
    PipePool.shared.closeIdlePipes()

    var old = rlimit()
    #expect(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &old) == 0)
    // The lowest free descriptor number becomes the limit: no new descriptor can be opened.
    let lowestFree = dup(0)
    close(lowestFree)
    let highest = Faults.snapshot().keys.max() ?? 2
    var lowered = old
    lowered.rlim_cur = rlim_t(lowestFree)
    #expect(setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lowered) == 0)
    var outcomes: [String] = []
    do {
      defer { _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &old) }
      #expect(Int(lowestFree) <= Int(highest) + 1)
      // Opening by path.
      let copyError = #expect(throws: ZeroCopyError.self) {
        try Transfer.copyBlocking(from: FilePath(dir.file("src")), to: FilePath(dir.file("copy")))
      }
      #expect(copyError?.errno == .tooManyOpenFiles)
      #expect(copyError?.syscall == "open")
      // Every strategy: either it needs no descriptor and succeeds byte-exact, or it fails
      // with EMFILE before moving a byte.
      for name in Faults.strategyNames {
        let strategy = try #require(TransferStrategies.named(name))
        _ = ftruncate(target.rawValue, 0)
        let result = Result { () throws(ZeroCopyError) in
          try Transfer.runBlocking(
            TransferRequest(from: source, offset: 0, to: target, at: 0), strategy: strategy,
            options: TransferOptions(allowFallback: false))
        }
        switch result {
        case .success(let report):
          #expect(report.bytes == Int64(payload.count), "\(name): \(report)")
          // Read back through the open descriptor: no new descriptor can be opened here.
          var back = [UInt8](repeating: 0, count: payload.count + 1)
          let n = back.withUnsafeMutableBytes { pread(target.rawValue, $0.baseAddress!, $0.count, 0) }
          TransferFixtures.expectSame(Array(back.prefix(max(n, 0))), payload, "\(name) under RLIMIT_NOFILE")
          outcomes.append("\(name): ok")
        case .failure(let error) where error.errno == .tooManyOpenFiles:
          #expect(error.bytesTransferred == 0, "\(name): \(error)")
          outcomes.append("\(name): EMFILE from \(error.syscall)")
        case .failure(let error) where error.bytesTransferred == 0 && TransferContext.fallbackErrnos.contains(error.errno):
          outcomes.append("\(name): refused here (\(error.errno))")
        case .failure(let error):
          Issue.record("\(name) under RLIMIT_NOFILE: \(error)")
        }
      }
      // splice between two files needs a pipe: EMFILE from pipe2.
      let spliceError = #expect(throws: ZeroCopyError.self) {
        try Transfer.runBlocking(
          TransferRequest(from: source, offset: 0, to: target, at: 0), strategy: .splice,
          options: TransferOptions(allowFallback: false))
      }
      #expect(spliceError?.errno == .tooManyOpenFiles)
      #expect(spliceError?.syscall == "pipe2")
      // The engine layer.
      let engineError = #expect(throws: ZeroCopyError.self) { _ = try IOEngine(.init(preference: .ioUring)) }
      // With io_uring refused (the seccomp runs of `make test-no-uring`), the engine throws
      // the refusal's own errno (ENOSYS or EPERM) before it needs a descriptor; switched off
      // with ZEROCOPY_DISABLE_IO_URING=1, ECANCELED (the C probe's errno for that reason).
      let refusal: Set<Errno> = TransferFixtures.ioUringAvailable ? [] : [.noFunction, .notPermitted, .canceled]
      #expect(
        engineError?.errno == .tooManyOpenFiles || refusal.contains(engineError?.errno ?? .tooManyOpenFiles),
        "\(String(describing: engineError))")
      let socketError = #expect(throws: ZeroCopyError.self) { _ = try AsyncSocket.pair(engine: .default) }
      #expect(socketError?.errno == .tooManyOpenFiles)
    }
    var now = rlimit()
    #expect(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &now) == 0)
    #expect(now.rlim_cur == old.rlim_cur, "the limit is restored")
    // And everything works again.
    let report = try Transfer.runBlocking(
      TransferRequest(from: source, offset: 0, count: 1000, to: writeEnd), strategy: .splice,
      options: TransferOptions(allowFallback: false))
    #expect(report.bytes == 1000)
    print("fault 9: \(outcomes.joined(separator: "; "))")
  }

  @Test(
    "9b. IOEngine.default first used with no descriptor left: a thread-pool engine without a wake-up pipe that still serves, waits and cancels"
  )
  func defaultEngineWithoutDescriptors() async throws {
    await #expect(processExitsWith: .success) {
      try await FaultTransferTests.defaultEngineWithoutDescriptorsBody()
    }
  }

  static func defaultEngineWithoutDescriptorsBody() async throws {
    // Before the limit: a connected socket pair (one end for the engine, one for us).
    var ends: [Int32] = [-1, -1]
    try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
    let peer = ends[1]
    defer { close(peer) }
    var old = rlimit()
    try #require(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &old) == 0)
    let lowestFree = dup(0)
    close(lowestFree)
    var lowered = old
    lowered.rlim_cur = rlim_t(lowestFree)
    try #require(setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &lowered) == 0)
    defer { _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &old) }
    #expect(dup(0) == -1 && errno == EMFILE, "no descriptor can be opened")

    // First use of the default engine (nothing in this child process touched it before).
    let engine = IOEngine.default
    #expect(engine.kind == .threadPool, "\(engine.description)")
    #expect(engine.description.contains("the poller has no wake-up pipe"), "\(engine.description)")
    let socket = AsyncSocket(takingOwnershipOf: FileDescriptor(rawValue: ends[0]), engine: engine)

    // Data already there.
    #expect(write(peer, "hello", 5) == 5)
    let first = await socket.receive(into: try AlignedBuffer(count: 64))
    #expect(try first.count == 5)
    let hello = first.take()
    #expect(Array(UnsafeRawBufferPointer(start: hello.unsafeBaseAddress, count: 5)) == Array("hello".utf8))

    // A receive that has to wait: the peer writes 50 ms later (the poller has no pipe to be
    // woken by, and nothing to watch, so it sleeps until the receive arrives).
    let writer = TransferFixtures.Worker {
      usleep(50_000)
      _ = write(peer, "world!", 6)
    }
    let second = await socket.receive(into: try AlignedBuffer(count: 64))
    writer.join()
    #expect(try second.count == 6)
    let world = second.take()
    #expect(Array(UnsafeRawBufferPointer(start: world.unsafeBaseAddress, count: 6)) == Array("world!".utf8))

    // A waiting receive, cancelled: ECANCELED with the buffer back (noticed within the
    // poller's timeout while it watches the socket).
    let waiting = Task { await socket.receive(into: try AlignedBuffer(count: 64)).error?.errno }
    usleep(30_000)
    waiting.cancel()
    #expect(try await waiting.value == .canceled)
    try await socket.close()
  }

  // MARK: 15. Same file

  @Test("15. the same file or a hard link of it is refused by every entry point, the source intact")
  func sameFile() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let content = TransferFixtures.bytes(100_000)
    try TransferFixtures.writeFile(dir.file("a"), content)
    #expect(link(dir.file("a"), dir.file("link")) == 0)
    for target in ["a", "link"] {
      for atomic in [false, true] {
        let e1 = #expect(throws: ZeroCopyError.self) {
          try Transfer.copyBlocking(
            from: FilePath(dir.file("a")), to: FilePath(dir.file(target)), options: CopyOptions(atomic: atomic))
        }
        #expect(e1?.errno == .invalidArgument && e1?.message?.contains("same file") == true, "\(String(describing: e1))")
        let e2 = await #expect(throws: ZeroCopyError.self) {
          try await Transfer.copy(
            from: FilePath(dir.file("a")), to: FilePath(dir.file(target)), options: CopyOptions(atomic: atomic))
        }
        #expect(e2?.errno == .invalidArgument)
      }
      // Descriptor entry points, for every strategy: overlapping ranges of one file.
      for name in Faults.strategyNames {
        let strategy = try #require(TransferStrategies.named(name))
        let source = try TransferFixtures.openFile(dir.file("a"), O_RDONLY)
        defer { try? source.close() }
        let destination = try TransferFixtures.openFile(dir.file(target), O_RDWR)
        defer { try? destination.close() }
        let e3 = #expect(throws: ZeroCopyError.self, "\(name) runBlocking onto \(target)") {
          try Transfer.runBlocking(TransferRequest(from: source, offset: 0, to: destination, at: 1000), strategy: strategy)
        }
        #expect(e3?.errno == .invalidArgument && e3?.message?.contains("same file") == true, "\(name): \(String(describing: e3))")
        let e4 = await #expect(throws: ZeroCopyError.self, "\(name) send onto \(target)") {
          try await Transfer.send(file: source, to: destination, strategy: strategy)
        }
        #expect(e4?.errno == .invalidArgument, "\(name)")
        #expect(e4?.bytesTransferred == 0)
        let e5 = await #expect(throws: ZeroCopyError.self, "\(name) run onto \(target)") {
          try await Transfer.run(
            TransferRequest(from: source, offset: 50_000, count: 10_000, to: destination, at: 45_000), strategy: strategy)
        }
        #expect(e5?.errno == .invalidArgument, "\(name)")
      }
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(dir.file("a")), content, "the source after copying onto \(target)")
    }
    // Disjoint ranges of one file are not a same-file copy: allowed, like copy_file_range.
    let source = try TransferFixtures.openFile(dir.file("a"), O_RDONLY)
    defer { try? source.close() }
    let destination = try TransferFixtures.openFile(dir.file("link"), O_RDWR)
    defer { try? destination.close() }
    let report = try await Transfer.run(TransferRequest(from: source, offset: 0, count: 1000, to: destination, at: 100_000))
    #expect(report.bytes == 1000)
    TransferFixtures.expectSame(
      try TransferFixtures.readFile(dir.file("a")), content + Array(content.prefix(1000)), "disjoint ranges")
  }
}

// MARK: - Signal storm machinery

/// SIGALRM sent every millisecond to one thread (the transfer's), with a handler installed
/// without SA_RESTART so that blocking calls return EINTR.
enum SignalStorm {
  nonisolated(unsafe) static let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
  nonisolated(unsafe) static var previous = sigaction()

  static func install() {
    counter.pointee = 0
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in SignalStorm.counter.pointee &+= 1 }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART
    precondition(sigaction(SIGALRM, &action, &previous) == 0)
  }

  static func uninstall() {
    precondition(sigaction(SIGALRM, &previous, nil) == 0)
  }

  /// Runs `body` on a new thread while another thread sends it SIGALRM every 1 ms (the
  /// storm a 1 ms `setitimer` makes, aimed at the thread doing the I/O); returns the
  /// number of signals handled.
  static func during(_ body: @escaping @Sendable () -> Void) -> Int {
    let start = counter.pointee
    let target = TransferFixtures.Box<pthread_t?>(nil)
    let finished = FaultFlag(false)
    let ready = FaultSemaphore()
    let worker = TransferFixtures.Worker {
      var set = sigset_t()
      sigemptyset(&set)
      sigaddset(&set, SIGALRM)
      pthread_sigmask(SIG_UNBLOCK, &set, nil)
      target.value = pthread_self()
      ready.signal()
      body()
      finished.store(true)
    }
    ready.wait()
    while !finished.load() {
      pthread_kill(target.value!, SIGALRM)
      usleep(1000)
    }
    worker.join()
    return counter.pointee - start
  }
}

/// A minimal atomic flag for the storm (a lock-protected Bool).
final class FaultFlag: @unchecked Sendable {
  private var value: Bool
  private var mutex = pthread_mutex_t()
  init(_ value: Bool) {
    self.value = value
    pthread_mutex_init(&mutex, nil)
  }
  func store(_ v: Bool) {
    pthread_mutex_lock(&mutex)
    value = v
    pthread_mutex_unlock(&mutex)
  }
  func load() -> Bool {
    pthread_mutex_lock(&mutex)
    defer { pthread_mutex_unlock(&mutex) }
    return value
  }
}

/// A counting semaphore over a pthread mutex and condition variable.
final class FaultSemaphore: @unchecked Sendable {
  private var count = 0
  private var mutex = pthread_mutex_t()
  private var condition = pthread_cond_t()
  init() {
    pthread_mutex_init(&mutex, nil)
    pthread_cond_init(&condition, nil)
  }
  func signal() {
    pthread_mutex_lock(&mutex)
    count += 1
    pthread_cond_signal(&condition)
    pthread_mutex_unlock(&mutex)
  }
  func wait() {
    pthread_mutex_lock(&mutex)
    while count == 0 { pthread_cond_wait(&condition, &mutex) }
    count -= 1
    pthread_mutex_unlock(&mutex)
  }
}
