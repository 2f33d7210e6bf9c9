// Prompt cancellation (issue 14): cancelling a transfer's task — or its monitor, for the
// blocking call — returns within 100 ms with ECANCELED and the exact bytes delivered,
// whatever the peer or the device does: a TCP peer that never reads, a pipe nobody
// drains, a slow block device (a loop device throttled by a blkio cgroup). Every strategy
// of the registry, both engines, several runs each (ZC_CANCEL_RUNS, 3 by default; `make
// soak-cancel` runs 20).

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

@testable import ZeroCopy

enum Cancellation {
  /// Runs per case: ZC_CANCEL_RUNS (default 3; 1 under a sanitizer, whose runs look for
  /// memory errors and races rather than flakes).
  static let runs: Int = getenv("ZC_CANCEL_RUNS").flatMap { Int(String(cString: $0)) } ?? (underSanitizer ? 1 : 3)
  /// Whether this binary runs under ASan or TSan (`make sanitize`).
  static var underSanitizer: Bool { Support.underSanitizer }
  /// The bound issue 14 sets — 300 ms under a sanitizer (`make sanitize`), whose runtime
  /// slows every allocation and memory access severalfold: those runs look for memory
  /// errors and races, the plain and release runs check the 100 ms (an ASan run on the
  /// loaded 2-vCPU machine took 140 ms for a sendZeroCopy case whose worst plain run in 60
  /// was 36 ms).
  static let bound: Duration = underSanitizer ? .milliseconds(300) : .milliseconds(100)

  /// The time this process's threads have spent runnable but waiting for a CPU, summed
  /// (the second field of /proc/self/task/*/schedstat, in ns; zero where the kernel keeps
  /// no schedstat).
  static func runQueueDelay() -> Duration {
    guard let dir = opendir("/proc/self/task") else { return .zero }
    defer { closedir(dir) }
    var total: Int64 = 0
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      guard name.first?.isNumber == true,
        let text = try? TransferFixtures.readFile("/proc/self/task/\(name)/schedstat")
      else { continue }
      let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
      if fields.count > 1, let waited = Int64(fields[1]) { total += waited }
    }
    return .nanoseconds(total)
  }

  /// A cancellation's latency: the time from `start` to now, less what the process's
  /// threads spent waiting for a CPU meanwhile (`runQueueDelay` then against
  /// `delayAtStart`). On an idle machine that is nothing and the bound is checked as it
  /// is; when the tests beside it hold both CPUs (`make test-no-uring`'s environment mode
  /// runs every suite at once) the wait for a CPU is the scheduler's, not the code's: a
  /// slow-device case returned 180 ms after its cancellation there once. A sleep or a poll
  /// in the code is not a wait for a CPU and still counts.
  static func latency(
    since start: ContinuousClock.Instant, until end: ContinuousClock.Instant = .now, delayAtStart: Duration
  ) -> Duration {
    let wall = start.duration(to: end)
    let waited = runQueueDelay() - delayAtStart
    return waited >= wall ? .zero : wall - Swift.max(.zero, waited)
  }

  /// Appends `line` to the file named by ZC_CANCEL_LOG, if set (the cases run in child
  /// processes, whose output the test run does not show; `make soak-cancel` summarizes it).
  static func log(_ line: String) {
    guard let path = getenv("ZC_CANCEL_LOG") else { return }
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let text = line + "\n"
    _ = text.withCString { write(fd, $0, strlen($0)) }
  }

  /// Milliseconds, for the log.
  static func ms(_ d: Duration) -> String {
    let tenths = Int((Double(d.components.seconds) * 10_000 + Double(d.components.attoseconds) / 1e14).rounded())
    return "\(tenths / 10).\(tenths % 10)"
  }

  /// Waits until the transfer watched by `monitor` has stopped moving bytes (blocked on
  /// its peer): the count unchanged for 100 ms (a chunk blocked in its first call shows
  /// 0 bytes until it returns), or `limit`.
  static func waitUntilStalled(_ monitor: TransferMonitor, limit: Duration = .seconds(3)) async {
    let deadline = ContinuousClock.now + limit
    var last: Int64 = -1
    var stableSince = ContinuousClock.now
    while ContinuousClock.now < deadline {
      let now = monitor.bytesTransferred
      if now != last {
        last = now
        stableSince = .now
      } else if stableSince.duration(to: .now) >= .milliseconds(100) {
        return
      }
      try? await Task.sleep(for: .milliseconds(5))
    }
  }

  /// Starts `request` with `strategy` (fallback off) in a task, lets it run (`warmUp`, or
  /// until it stalls), cancels the task and returns the error and how long the task took
  /// to return after the cancellation (``latency(since:until:delayAtStart:)``).
  static func cancelRun(
    _ request: TransferRequest, _ strategy: any TransferStrategy, warmUp: Duration? = nil, allowFallback: Bool = false
  ) async -> (result: Result<TransferReport, ZeroCopyError>, elapsed: Duration) {
    let monitor = TransferMonitor()
    let options = TransferOptions(allowFallback: allowFallback, monitor: monitor)
    let task = Task { () -> Result<TransferReport, ZeroCopyError> in
      do throws(ZeroCopyError) {
        return .success(try await Transfer.run(request, strategy: strategy, options: options))
      } catch {
        return .failure(error)
      }
    }
    if let warmUp {
      try? await Task.sleep(for: warmUp)
    } else {
      await waitUntilStalled(monitor)
    }
    let delay = runQueueDelay()
    let start = ContinuousClock.now
    task.cancel()
    let result = await task.value
    return (result, latency(since: start, delayAtStart: delay))
  }

  /// Checks a cancelled transfer: ECANCELED, within the bound, and the bytes it counts are
  /// exactly the `received` prefix of `payload`.
  static func check(
    _ what: String, _ outcome: (result: Result<TransferReport, ZeroCopyError>, elapsed: Duration),
    received: [UInt8], payload: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    log("\(what)\t\(ms(outcome.elapsed)) ms\t\(outcome.result.error?.bytesTransferred ?? -1) bytes")
    switch outcome.result {
    case .success(let report):
      Issue.record("\(what): completed although cancelled (\(report))", sourceLocation: sourceLocation)
    case .failure(let error):
      #expect(error.errno == .canceled, "\(what): \(error)", sourceLocation: sourceLocation)
      #expect(
        outcome.elapsed <= bound, "\(what): returned \(outcome.elapsed) after the cancellation", sourceLocation: sourceLocation)
      #expect(
        error.bytesTransferred == Int64(received.count),
        "\(what): counted \(error.bytesTransferred), the peer got \(received.count)", sourceLocation: sourceLocation)
      TransferFixtures.expectSame(received, Array(payload.prefix(received.count)), what, sourceLocation: sourceLocation)
    }
  }

  /// A source file of `count` pattern bytes in `dir`.
  static func source(_ dir: TransferFixtures.Directory, _ count: Int) throws -> (FileDescriptor, [UInt8]) {
    let payload = TransferFixtures.bytes(count)
    try TransferFixtures.writeFile(dir.file("src"), payload)
    return (try TransferFixtures.openFile(dir.file("src"), O_RDONLY), payload)
  }

  /// Reads everything left in `fd` (which must reach end of file: its writer closed).
  static func drain(_ fd: FileDescriptor) -> [UInt8] { TransferFixtures.readToEnd(fd.rawValue) }
}

/// Each case runs in a child process of its own (an exit test) under the descriptor
/// harness (Faults.harnessed): its timing is not disturbed by the suites running beside it
/// in the test process, and every descriptor — pooled pipes, rings, a ring retired with
/// SEND_ZC notifications outstanding, the reopened files of an abandoned O_DIRECT read —
/// must be closed when it ends.
@Suite("Prompt cancellation", .serialized)
struct CancellationTests {
  @Test("a TCP peer that never reads", arguments: Faults.strategyNames)
  func peerNeverReads(_ name: String) async throws {
    if let reason = Faults.refusal(name, .tcp) { try Faults.skip("cancel", name, reason) }
    await #expect(processExitsWith: .success) { [name] in
      try await Faults.harnessed("cancel, peer never reads, \(name)") { try await CancellationTests.peerNeverReadsBody(name) }
    }
  }

  static func peerNeverReadsBody(_ name: String) async throws {
    try await stalledPeerBody(name, "peer never reads", size: 8 << 20) {
      let (near, far) = try TransferFixtures.makeTCPPair()
      Faults.setBuffers(near, send: 65536)
      Faults.setBuffers(far, receive: 65536)
      return (near, far)
    }
  }

  /// Runs `Cancellation.runs` cancelled transfers of a `size`-byte file to the near end of
  /// what `connect` makes (destination, its peer that does not read), then reads what the
  /// peer got after the near end was shut down (or closed) and checks the outcome.
  static func stalledPeerBody(
    _ name: String, _ what: String, size: Int, _ connect: () throws -> (near: FileDescriptor, far: FileDescriptor)
  ) async throws {
    let strategy = try #require(TransferStrategies.named(name))
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, payload) = try Cancellation.source(dir, size)
    defer { try? source.close() }
    for run in 1...Cancellation.runs {
      let (near, far) = try connect()
      let outcome = await Cancellation.cancelRun(TransferRequest(from: source, offset: 0, to: near), strategy)
      try near.close()  // the peer then reads what was delivered, then end of file
      let received = Cancellation.drain(far)
      Cancellation.check("\(name), \(what), run \(run)", outcome, received: received, payload: payload)
      try far.close()
    }
  }

  @Test("a pipe nobody drains", arguments: Faults.strategyNames)
  func pipeNobodyDrains(_ name: String) async throws {
    if let reason = Faults.refusal(name, .pipe) { try Faults.skip("cancel", name, reason) }
    await #expect(processExitsWith: .success) { [name] in
      try await Faults.harnessed("cancel, pipe nobody drains, \(name)") { try await CancellationTests.pipeNobodyDrainsBody(name) }
    }
  }

  static func pipeNobodyDrainsBody(_ name: String) async throws {
    try await stalledPeerBody(name, "pipe nobody drains", size: 4 << 20) {
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      return (writeEnd, readEnd)
    }
  }

  @Test("a slow device (a loop device throttled to 4 MB/s by a blkio cgroup)", arguments: Faults.strategyNames)
  func slowDevice(_ name: String) async throws {
    if let reason = SlowDevice.unavailableReason { try Faults.skip("cancel", name, "no slow device: \(reason)") }
    await #expect(processExitsWith: .success) { [name] in
      try await Faults.harnessed("cancel, slow device, \(name)") { try await CancellationTests.slowDeviceBody(name) }
    }
  }

  @Test(
    "a slow device, directIO with fallback allowed (the default options run it as an attempt, which must abandon the device wait too)"
  )
  func slowDeviceFallbackAllowed() async throws {
    if let reason = SlowDevice.unavailableReason { try Faults.skip("cancel", "directIO", "no slow device: \(reason)") }
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("cancel, slow device, directIO, fallback allowed") {
        try await CancellationTests.slowDeviceBody("directIO", allowFallback: true)
      }
    }
  }

  static func slowDeviceBody(_ name: String, allowFallback: Bool = false) async throws {
    let device: SlowDevice
    switch SlowDevice.make() {
    case .success(let made): device = made
    case .failure(let reason):
      Issue.record("no slow device: \(reason.text)")
      return
    }
    defer { device.remove() }
    let strategy = try #require(TransferStrategies.named(name))
    let payload = TransferFixtures.bytes(8 << 20)
    try TransferFixtures.writeFile(device.file("src"), payload)
    let source = try TransferFixtures.openFile(device.file("src"), O_RDONLY)
    defer { try? source.close() }
    // The slow device is the source: the copy goes to the local disk — except for the
    // strategies that need one filesystem (copy_file_range, reflink), whose destination is on
    // the slow device too (its writes then wait for that device's metadata reads as well).
    let local = try TransferFixtures.Directory()
    defer { local.remove() }
    let sameFileSystem = name == "copyFileRange" || name == "reflink"
    let destinationPath = sameFileSystem ? device.file("dst") : local.file("dst")
    if let reason = try Self.refusal(strategy, source, destinationPath) {
      print("fault cancel skipped, \(name), slow device: \(reason)")
      return
    }
    for run in 1...Cancellation.runs {
      device.dropCache(source)
      let destination = try TransferFixtures.openFile(destinationPath, O_RDWR | O_CREAT | O_TRUNC)
      let outcome = await Cancellation.cancelRun(
        TransferRequest(from: source, offset: 0, to: destination, at: 0), strategy, warmUp: .milliseconds(150),
        allowFallback: allowFallback)
      let written = (try? TransferFixtures.readFile(destinationPath)) ?? []
      try destination.close()
      let what = "\(name), slow device, run \(run)"
      Cancellation.log("\(what)\t\(Cancellation.ms(outcome.elapsed)) ms\t\(outcome.result.error?.bytesTransferred ?? -1) bytes")
      switch outcome.result {
      case .success(let report):
        Issue.record("\(what): completed although cancelled (\(report))")
      case .failure(let error):
        #expect(error.errno == .canceled, "\(what): \(error)")
        #expect(outcome.elapsed <= Cancellation.bound, "\(what): returned \(outcome.elapsed) after the cancellation")
        // The bytes counted are in place; a ring may have written a later chunk, uncounted.
        let counted = Int(error.bytesTransferred)
        #expect(counted <= written.count && counted < payload.count, "\(what): counted \(counted), file has \(written.count)")
        TransferFixtures.expectSame(Array(written.prefix(counted)), Array(payload.prefix(counted)), what)
      }
    }
  }

  /// Why `strategy` cannot copy `source` to a file at `destinationPath`, or nil.
  static func refusal(_ strategy: any TransferStrategy, _ source: FileDescriptor, _ destinationPath: String) throws -> String? {
    let probe = try TransferFixtures.openFile(destinationPath, O_RDWR | O_CREAT | O_TRUNC)
    defer { try? probe.close() }
    let pair = EndpointPair(source: try TransferEndpoint.inspect(source), destination: try TransferEndpoint.inspect(probe))
    if case .unsupported(let reason) = strategy.support(for: pair) { return reason }
    let result = Result { () throws(ZeroCopyError) in
      try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, count: 4096, to: probe, at: 0), strategy: strategy,
        options: TransferOptions(allowFallback: false))
    }
    guard let error = result.error else { return nil }
    if TransferContext.fallbackErrnos.contains(error.errno) || error.errno == .notSupported {
      return "the kernel refuses it here: \(error.syscall): \(error.errno)"
    }
    return nil
  }

  /// The blocking call is cancelled through its monitor from another thread.
  @Test func runBlockingCancelledFromAnotherThread() async {
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("cancel, runBlocking") { try await CancellationTests.runBlockingBody() }
    }
  }

  static func runBlockingBody() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, payload) = try Cancellation.source(dir, 4 << 20)
    defer { try? source.close() }
    for run in 1...Cancellation.runs {
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      let monitor = TransferMonitor()
      let box = TransferFixtures.Box<(Result<TransferReport, ZeroCopyError>, ContinuousClock.Instant)?>(nil)
      let worker = TransferFixtures.Worker {
        let result = Result { () throws(ZeroCopyError) in
          try Transfer.runBlocking(
            TransferRequest(from: source, offset: 0, to: writeEnd), strategy: .splice,
            options: TransferOptions(allowFallback: false, monitor: monitor))
        }
        box.value = (result, .now)
      }
      await Cancellation.waitUntilStalled(monitor)
      let delay = Cancellation.runQueueDelay()
      let start = ContinuousClock.now
      monitor.cancel()
      worker.join()
      let (result, end) = try #require(box.value)
      let latency = Cancellation.latency(since: start, until: end, delayAtStart: delay)
      try writeEnd.close()
      Cancellation.check(
        "runBlocking, run \(run)", (result, latency), received: Cancellation.drain(readEnd), payload: payload)
      try readEnd.close()
    }
  }

  /// With every transfer worker blocked, a queued transfer's task is cancelled: it ends at
  /// once with ECANCELED and 0 bytes, without waiting for a worker.
  @Test func queuedTransferIsWithdrawnAtOnce() async {
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("cancel, queued transfer") { try await CancellationTests.queuedTransferBody() }
    }
  }

  static func queuedTransferBody() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, _) = try Cancellation.source(dir, 4 << 20)
    defer { try? source.close() }
    let workers = BlockingWorkers.shared.threadCount
    var pipes: [(FileDescriptor, FileDescriptor)] = []
    var blockers: [Task<Void, Never>] = []
    var monitors: [TransferMonitor] = []
    for _ in 0..<workers {
      let pipe = try TransferFixtures.makePipe()
      pipes.append(pipe)
      let monitor = TransferMonitor()
      monitors.append(monitor)
      blockers.append(
        Task {
          _ = try? await Transfer.run(
            TransferRequest(from: source, offset: 0, to: pipe.1), strategy: .splice,
            options: TransferOptions(allowFallback: false, monitor: monitor))
        })
    }
    for monitor in monitors { await Cancellation.waitUntilStalled(monitor) }
    let (readEnd, writeEnd) = try TransferFixtures.makePipe()
    let queued = Task { () -> Result<TransferReport, ZeroCopyError> in
      do throws(ZeroCopyError) {
        return .success(try await Transfer.run(TransferRequest(from: source, offset: 0, to: writeEnd), strategy: .splice))
      } catch {
        return .failure(error)
      }
    }
    try await Task.sleep(for: .milliseconds(50))
    let delay = Cancellation.runQueueDelay()
    let start = ContinuousClock.now
    queued.cancel()
    let result = await queued.value
    let elapsed = Cancellation.latency(since: start, delayAtStart: delay)
    for blocker in blockers { blocker.cancel() }
    for blocker in blockers { await blocker.value }
    #expect(result.error?.errno == .canceled)
    #expect(result.error?.bytesTransferred == 0)
    #expect(elapsed <= Cancellation.bound, "the queued transfer returned \(elapsed) after the cancellation")
    for (r, w) in pipes {
      try r.close()
      try w.close()
    }
    try writeEnd.close()
    #expect(Cancellation.drain(readEnd).isEmpty)
    try readEnd.close()
  }

  // MARK: - Cancellations racing completions

  /// Hundreds of transfers and engine operations cancelled at random moments, many of them
  /// just as they complete: every outcome is exact (the whole transfer, or ECANCELED with
  /// the bytes the peer got), and afterwards nothing is left — no descriptor (the harness),
  /// no pooled pipe in use, no retired ring, no steady growth of the resident memory after
  /// cycle 100 (the smaller of its two halves under 8 MiB).
  @Test func cancellationsRacingCompletionsLeakNothing() async {
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("cancel, races") { try await CancellationTests.racesBody() }
    }
  }

  /// The resident set size (`/proc/self/statm`), in bytes, after `malloc_trim(0)` gave the
  /// free memory of every malloc arena back to the kernel: without it, what the arenas of
  /// the test's many short-lived threads kept after `free` counts as growth. Live
  /// allocations, mappings and glibc's cached thread stacks still count (hence the check's
  /// two halves).
  static func residentBytes() -> Int {
    typealias Trim = @convention(c) (Int) -> Int32
    if let trim = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") { _ = unsafeBitCast(trim, to: Trim.self)(0) }
    guard let text = try? TransferFixtures.readFile("/proc/self/statm") else { return 0 }
    let fields = String(decoding: text, as: UTF8.self).split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
  }

  /// The process's threads (`Threads:` in /proc/self/status), for the resident check's
  /// message: each new thread's stack and malloc arena are resident memory too.
  static func threadCount() -> Int {
    guard let text = try? TransferFixtures.readFile("/proc/self/status") else { return -1 }
    let line = String(decoding: text, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("Threads:") }
    return line.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int($0) } } ?? -1
  }

  static func racesBody() async throws {
    let dir = try TransferFixtures.Directory()
    defer { dir.remove() }
    let (source, payload) = try Cancellation.source(dir, 256 << 10)
    defer { try? source.close() }
    let names = ["splice", "sendfile", "readWrite", "mmapWrite", "ioUring", "ioUringSplice", "sendZeroCopy"].filter {
      Faults.refusal($0, .tcp) == nil
    }
    let engine = try IOEngine(IOEngine.Configuration(name: "zc-races", interruptsRegularFileOperations: true))
    let cycles = Swift.max(200, Cancellation.runs * 40)
    // The resident size at cycle 100, half-way through the rest, and at the end (with the
    // thread count at each): see the check after the loop.
    let middle = 100 + (cycles - 100) / 2
    var resident: [(bytes: Int, threads: Int)] = []
    var outcomes = (complete: 0, cancelled: 0)
    var stalled = (cycles: 0, cancelled: 0)
    // Every other cycle forces the hop to a worker (`inlineLimit: 0`): with the default
    // options a 256 KiB transfer of a cached file into a socket with room runs on the
    // caller's thread (`inlineCachedLimit`), where a cancellation can only arrive before it
    // starts. Whether a random delay catches a transfer in flight is chance (a transfer to
    // a reading peer may never wait: 3–7 of 100 hops were cancelled in a run), so one cycle
    // in ten is sure to: the sender's buffer is shrunk (about 80 KiB then pass to a peer
    // that does not read) and the peer starts reading only after the cancellation, which
    // must then end it (mid-way, unless it had not started yet). (Shrinking the peer's receive buffer too made
    // the drain after the cancellation take 0.6 s: zero-window probes.)
    // The cancellation delay is drawn from 0 to twice the time a transfer has been taking
    // (an average of the completed ones, raised by a quarter after each cancelled one), so
    // that about half the cycles cancel mid-way whatever the speed of the machine and the
    // strategy: a fixed 0–2 ms let every transfer finish first on a fast run (no race at
    // all), one time in a few hundred; a delay capped at 4 ms could let none finish where
    // every transfer takes longer (the check that one completed).
    var typicalMicros: Double = 1000
    for cycle in 0..<cycles {
      if cycle == 100 || cycle == middle { resident.append((residentBytes(), threadCount())) }
      // A transfer to a TCP peer that reads, cancelled after 0–2 ms.
      let strategy = try #require(TransferStrategies.named(names[cycle % names.count]))
      let hops = cycle % 2 == 0
      let options = hops ? TransferOptions(allowFallback: false, inlineLimit: 0) : TransferOptions(allowFallback: false)
      let stalls = cycle % 10 == 5
      let (near, far) = try TransferFixtures.makeTCPPair()
      if stalls {
        var small: CInt = 4096
        #expect(setsockopt(near.rawValue, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<CInt>.size)) == 0)
      }
      var reader = stalls ? nil : TransferFixtures.reader(far)
      let task = Task { () -> Result<TransferReport, ZeroCopyError> in
        do throws(ZeroCopyError) {
          return .success(
            try await Transfer.run(
              TransferRequest(from: source, offset: 0, to: near), strategy: strategy, options: options))
        } catch {
          return .failure(error)
        }
      }
      let started = ContinuousClock.now
      usleep(stalls ? 5000 : UInt32.random(in: 0...UInt32(Swift.min(Swift.max(2 * typicalMicros, 20), 100_000))))
      task.cancel()
      let result = await task.value
      let tookMicros = Double((ContinuousClock.now - started) / .microseconds(1))
      if stalls {
        stalled.cycles += 1
        reader = TransferFixtures.reader(far)
      }
      _ = shutdown(near.rawValue, Int32(SHUT_WR))
      let received = reader!.join()
      try near.close()
      try far.close()
      switch result {
      case .success(let report):
        outcomes.complete += 1
        if !stalls { typicalMicros = 0.8 * typicalMicros + 0.2 * tookMicros }
        #expect(report.bytes == Int64(payload.count) && received == payload, "\(strategy.name), cycle \(cycle): \(report)")
      case .failure(let error):
        outcomes.cancelled += 1
        if stalls { stalled.cancelled += 1 }
        // Cancelled mid-way: transfers may take longer than the average of the completed
        // ones says (under TSan on a loaded machine every one took longer than the first
        // guess, and none would complete): wait a little longer next time.
        if !stalls { typicalMicros = Swift.min(1.25 * typicalMicros, 50_000) }
        #expect(error.errno == .canceled, "\(strategy.name), cycle \(cycle): \(error)")
        #expect(
          error.bytesTransferred == Int64(received.count),
          "\(strategy.name), cycle \(cycle): counted \(error.bytesTransferred), the peer got \(received.count)")
        TransferFixtures.expectSame(received, Array(payload.prefix(received.count)), "\(strategy.name), cycle \(cycle)")
      }
      // An engine read of a file, cancelled after 0–200 µs: ECANCELED or the bytes, and a buffer.
      let file = AsyncFile(takingOwnershipOf: try TransferFixtures.openFile(dir.file("src"), O_RDONLY), engine: engine)
      let read = Task { () -> (Result<Int, ZeroCopyError>, Int) in
        let r = await file.read(into: try! AlignedBuffer(count: 64 << 10), at: Int64(cycle % 4) << 16)
        return (r.result, r.buffer.count)
      }
      usleep(UInt32.random(in: 0...200))
      read.cancel()
      let (got, size) = await read.value
      #expect(size == 64 << 10)
      if case .failure(let error) = got { #expect(error.errno == .canceled, "engine read, cycle \(cycle): \(error)") }
      try await file.close()
    }
    await engine.shutdown()
    // Retired rings (SEND_ZC notifications that the closed sockets released) and pooled
    // pipes are given back; the resident memory did not grow.
    let deadline = ContinuousClock.now + .seconds(2)
    while RingReaper.shared.count > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    #expect(RingReaper.shared.count == 0, "rings still retired")
    #expect(PipePool.shared.inUseCount == 0)
    resident.append((residentBytes(), threadCount()))
    // A leak grows the resident size in both halves alike (a 256 KiB buffer per cycle:
    // 12.8 MiB each); what the process keeps once — a malloc arena or a thread stack that
    // glibc caches, both resident after their thread is gone — is a step in one half. The
    // single-window check (16 MiB over 100 cycles) failed twice that way with 18–24 MiB in
    // `make test-no-uring`'s modes (CI, eperm and environment), where it grows 0.1–2.8 MiB
    // alone. So the smaller half must stay under 8 MiB: still any leak of ≥ 160 KiB per
    // cycle, as before. Not under a sanitizer: ASan keeps freed memory in quarantine (256 MiB
    // by default), so the resident size grows by design (55 MiB over 100 cycles), and
    // TSan's shadow memory grows with what was touched (the leak test skips it there too).
    // The descriptor, pipe and ring checks above still run.
    let halves = [resident[1].bytes - resident[0].bytes, resident[2].bytes - resident[1].bytes]
    #expect(
      halves.min()! < 8 << 20 || Support.underSanitizer,
      "resident memory grew by \(halves[0]) then \(halves[1]) bytes over two halves of \(cycles - 100) cycles (threads: \(resident.map { String($0.threads) }.joined(separator: " → ")))"
    )
    let growth = resident[2].bytes - resident[0].bytes
    Cancellation.log(
      "races\t\(cycles) cycles\t\(outcomes.complete) complete, \(outcomes.cancelled) cancelled (\(stalled.cancelled) of \(stalled.cycles) stalled), resident +\(growth >> 10) KiB"
    )
    #expect(outcomes.complete > 0, "no transfer completed: \(outcomes)")
    #expect(stalled.cycles > 0 && stalled.cancelled == stalled.cycles, "a stalled transfer was not cancelled: \(stalled)")
  }

  // MARK: - The engines

  @Test("engines: a TCP peer that never reads, a pipe nobody drains, a slow device", arguments: ["ioUring", "threadPool"])
  func engines(_ kind: String) async throws {
    if kind == "ioUring" && !Support.ioUringAvailable {
      try Faults.skip("cancel", kind, "io_uring is unavailable here: \(IOURingAvailability.current)")
    }
    await #expect(processExitsWith: .success) { [kind] in
      try await Faults.harnessed("cancel, engine \(kind)") { try await CancellationTests.engineBody(kind) }
    }
  }

  /// Runs `body` (an engine operation returning its result and the buffer's size) in a task,
  /// cancels the task once `stalled` says the operation waits, and returns the result and
  /// how long the task took to return after the cancellation.
  static func cancelEngineOperation(
    stalled: @escaping @Sendable () async -> Void, _ body: @escaping @Sendable () async -> (Result<Int, ZeroCopyError>, Int)
  ) async -> (result: Result<Int, ZeroCopyError>, bufferSize: Int, elapsed: Duration) {
    let task = Task { await body() }
    await stalled()
    let delay = Cancellation.runQueueDelay()
    let start = ContinuousClock.now
    task.cancel()
    let (result, size) = await task.value
    return (result, size, Cancellation.latency(since: start, delayAtStart: delay))
  }

  static func engineBody(_ raw: String) async throws {
    let kind: EngineKind = raw == "ioUring" ? .ioUring : .threadPool
    let engine = try IOEngine(
      IOEngine.Configuration(
        preference: kind == .ioUring ? .ioUring : .threadPool, name: "zc-cancel-\(raw)", interruptsRegularFileOperations: true))
    let payload = TransferFixtures.bytes(4 << 20)
    for run in 1...Cancellation.runs {
      // A TCP peer that never reads: sendAll.
      do {
        let (near, far) = try TransferFixtures.makeTCPPair()
        Faults.setBuffers(near, send: 65536)
        Faults.setBuffers(far, receive: 65536)
        let socket = AsyncSocket(takingOwnershipOf: near, engine: engine)
        let outcome = await cancelEngineOperation(stalled: { try? await Task.sleep(for: .milliseconds(150)) }) {
          let r = await socket.sendAll(from: try! Support.buffer(payload))
          return (r.result, r.buffer.count)
        }
        try? socket.shutdown(.write)
        let received = Cancellation.drain(far)
        let what = "\(raw) sendAll, run \(run)"
        Cancellation.log("\(what)\t\(Cancellation.ms(outcome.elapsed)) ms\t\(received.count) bytes")
        #expect(outcome.result.error?.errno == .canceled, "\(what): \(outcome.result)")
        #expect(outcome.elapsed <= Cancellation.bound, "\(what): returned \(outcome.elapsed) after the cancellation")
        #expect(outcome.result.error?.bytesTransferred == Int64(received.count), "\(what): the peer got \(received.count)")
        #expect(outcome.bufferSize == payload.count, "\(what): the buffer came back")
        TransferFixtures.expectSame(received, Array(payload.prefix(received.count)), what)
        try await socket.close()
        try far.close()
      }
      // A pipe nobody drains: writeAll.
      do {
        let (readEnd, writeEnd) = try TransferFixtures.makePipe()
        let file = AsyncFile(takingOwnershipOf: writeEnd, engine: engine)
        let outcome = await cancelEngineOperation(stalled: { try? await Task.sleep(for: .milliseconds(100)) }) {
          let r = await file.writeAll(from: try! Support.buffer(payload), at: nil)
          return (r.result, r.buffer.count)
        }
        try await file.close()
        let received = Cancellation.drain(readEnd)
        let what = "\(raw) writeAll to a pipe, run \(run)"
        Cancellation.log("\(what)\t\(Cancellation.ms(outcome.elapsed)) ms\t\(received.count) bytes")
        #expect(outcome.result.error?.errno == .canceled, "\(what): \(outcome.result)")
        #expect(outcome.elapsed <= Cancellation.bound, "\(what): returned \(outcome.elapsed) after the cancellation")
        #expect(outcome.result.error?.bytesTransferred == Int64(received.count), "\(what): the reader got \(received.count)")
        TransferFixtures.expectSame(received, Array(payload.prefix(received.count)), what)
        try readEnd.close()
      }
      // SEND_ZC to a peer that never reads: TCP holds the pages; the call returns anyway.
      if kind == .ioUring {
        let (near, far) = try TransferFixtures.makeTCPPair()
        Faults.setBuffers(near, send: 65536)
        Faults.setBuffers(far, receive: 65536)
        let socket = AsyncSocket(takingOwnershipOf: near, engine: engine)
        let outcome = await cancelEngineOperation(stalled: { try? await Task.sleep(for: .milliseconds(150)) }) {
          let r = await socket.sendZeroCopy(from: try! Support.buffer(payload))
          return (r.result, r.buffer.count)
        }
        try? socket.shutdown(.write)
        let received = Cancellation.drain(far)
        let what = "ioUring sendZeroCopy, run \(run)"
        Cancellation.log("\(what)\t\(Cancellation.ms(outcome.elapsed)) ms\t\(received.count) bytes")
        #expect(outcome.elapsed <= Cancellation.bound, "\(what): returned \(outcome.elapsed) after the cancellation")
        #expect(outcome.bufferSize == payload.count, "\(what): a buffer of the same size came back")
        switch outcome.result {
        case .success(let sent): #expect(sent == received.count, "\(what): sent \(sent), the peer got \(received.count)")
        case .failure(let error):
          #expect(error.errno == .canceled && received.isEmpty, "\(what): \(error), the peer got \(received.count)")
        }
        TransferFixtures.expectSame(received, Array(payload.prefix(received.count)), what)
        try await socket.close()
        try far.close()
      }
    }
    // A slow device: sequential reads, cancelled.
    if SlowDevice.unavailableReason == nil, case .success(let device) = SlowDevice.make() {
      defer { device.remove() }
      try TransferFixtures.writeFile(device.file("src"), payload)
      for run in 1...Cancellation.runs {
        let raw = try TransferFixtures.openFile(device.file("src"), O_RDONLY)
        device.dropCache(raw)
        let file = AsyncFile(takingOwnershipOf: raw, engine: engine)
        let outcome = await cancelEngineOperation(stalled: { try? await Task.sleep(for: .milliseconds(150)) }) {
          var buffer = try! AlignedBuffer(count: 256 << 10)
          var offset: Int64 = 0
          while true {
            let r = await file.read(into: buffer, at: offset)
            let result = r.result
            buffer = r.take()
            guard case .success(let n) = result, n > 0 else { return (result, buffer.count) }
            offset += Int64(n)
          }
        }
        try await file.close()
        let what = "\(kind) reads from a slow device, run \(run)"
        Cancellation.log("\(what)\t\(Cancellation.ms(outcome.elapsed)) ms\t\(outcome.result.error?.bytesTransferred ?? -1) bytes")
        #expect(outcome.result.error?.errno == .canceled, "\(what): \(outcome.result)")
        #expect(outcome.elapsed <= Cancellation.bound, "\(what): returned \(outcome.elapsed) after the cancellation")
        #expect(outcome.bufferSize == 256 << 10, "\(what): a buffer came back")
      }
    } else {
      print("fault cancel, engine \(raw): slow device skipped: \(SlowDevice.unavailableReason ?? "could not be made")")
    }
    await engine.shutdown()
  }
}

extension Result {
  var error: Failure? {
    if case .failure(let e) = self { return e }
    return nil
  }
}

// MARK: - A slow device

/// A loop device whose reads a blkio cgroup throttles to 4 MB/s, with an ext4 filesystem
/// mounted on it, and this process moved into the cgroup (only I/O to that device is
/// slowed). Root only; cgroup v1 `blkio` or v2 `io`.
final class SlowDevice: @unchecked Sendable {
  struct Reason: Error { let text: String }

  static let bytesPerSecond = 4 << 20

  let image: String
  let loop: String
  let mount: TransferFixtures.Directory
  let cgroup: String
  let parentProcs: String

  private init(image: String, loop: String, mount: TransferFixtures.Directory, cgroup: String, parentProcs: String) {
    self.image = image
    self.loop = loop
    self.mount = mount
    self.cgroup = cgroup
    self.parentProcs = parentProcs
  }

  func file(_ name: String) -> String { mount.file(name) }

  /// Writes the file's dirty pages back and drops its pages from the cache, so the next
  /// read goes to the (slow) device.
  func dropCache(_ fd: FileDescriptor) {
    _ = fsync(fd.rawValue)
    _ = posix_fadvise(fd.rawValue, 0, 0, POSIX_FADV_DONTNEED)
  }

  /// Why no slow device can be made here (checked without making one), or nil.
  static var unavailableReason: String? {
    if geteuid() != 0 { return "not root (loop devices and cgroups)" }
    if access("/usr/sbin/losetup", X_OK) != 0 || access("/usr/sbin/mkfs.ext4", X_OK) != 0 {
      return "losetup or mkfs.ext4 is missing"
    }
    if access("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device", F_OK) != 0
      && access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0
    {
      return "no blkio (cgroup v1) or io (cgroup v2) controller"
    }
    return nil
  }

  static func make() -> Result<SlowDevice, Reason> {
    if let reason = unavailableReason { return .failure(Reason(text: reason)) }
    // Close-on-exec from the start: a child that a concurrent test spawns never inherits it.
    let created: (descriptor: FileDescriptor, path: FilePath)
    do {
      created = try FileDescriptor.createTemporaryFile(template: "/tmp/zc-slow-XXXXXX")
    } catch {
      return .failure(Reason(text: "mkostemp: \(error)"))
    }
    let image = created.path.string
    _ = ftruncate(created.descriptor.rawValue, 64 << 20)
    try? created.descriptor.close()
    func fail(_ text: String) -> Result<SlowDevice, Reason> {
      unlink(image)
      return .failure(Reason(text: text))
    }
    guard let loop = output(["/usr/sbin/losetup", "-f", "--show", image])?.filter({ !$0.isWhitespace }),
      loop.hasPrefix("/dev/loop")
    else { return fail("losetup failed") }
    func failLoop(_ text: String) -> Result<SlowDevice, Reason> {
      _ = Faults.spawn(["/usr/sbin/losetup", "-d", loop])
      return fail(text)
    }
    // Loop devices read ahead 2.5 MiB here; a USB stick's 128 KiB is the realistic figure.
    _ = write("128", to: "/sys/block/\(loop.dropFirst(5))/queue/read_ahead_kb")
    guard Faults.spawn(["/usr/sbin/mkfs.ext4", "-q", "-F", loop]) == 0 else { return failLoop("mkfs.ext4 failed") }
    guard let directory = try? TransferFixtures.Directory(in: "/tmp") else { return failLoop("no directory") }
    guard Glibc.mount(loop, directory.path, "ext4", 0, nil) == 0 else {
      directory.remove()
      return failLoop("mount: \(Errno(rawValue: errno))")
    }
    var st = stat()
    stat(loop, &st)
    // gnu_dev_major/minor (the macros are not imported).
    let rdev = UInt64(st.st_rdev)
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)
    let minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff)
    let device = "\(major):\(minor)"
    let name = "zc-slow-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    // cgroup v1 blkio, else v2 io.
    var cgroup = "/sys/fs/cgroup/blkio/\(name)"
    var parentProcs = "/sys/fs/cgroup/blkio/cgroup.procs"
    var rule = "\(device) \(bytesPerSecond)"
    var ruleFile = "blkio.throttle.read_bps_device"
    if access("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device", F_OK) != 0 {
      cgroup = "/sys/fs/cgroup/\(name)"
      parentProcs = "/sys/fs/cgroup/cgroup.procs"
      rule = "\(device) rbps=\(bytesPerSecond)"
      ruleFile = "io.max"
      _ = write("+io", to: "/sys/fs/cgroup/cgroup.subtree_control")
    }
    func failMount(_ text: String) -> Result<SlowDevice, Reason> {
      _ = umount2(directory.path, CInt(MNT_DETACH))
      directory.remove()
      return failLoop(text)
    }
    guard mkdir(cgroup, 0o755) == 0 else { return failMount("cannot create a cgroup (\(Errno(rawValue: errno)))") }
    guard write(rule, to: "\(cgroup)/\(ruleFile)"), write("\(getpid())", to: "\(cgroup)/cgroup.procs") else {
      rmdir(cgroup)
      return failMount("cannot throttle \(loop) with \(ruleFile)")
    }
    return .success(SlowDevice(image: image, loop: loop, mount: directory, cgroup: cgroup, parentProcs: parentProcs))
  }

  func remove() {
    _ = SlowDevice.write("\(getpid())", to: parentProcs)
    rmdir(cgroup)
    _ = umount2(mount.path, CInt(MNT_DETACH))
    mount.remove()
    _ = Faults.spawn(["/usr/sbin/losetup", "-d", loop])
    unlink(image)
  }

  @discardableResult
  static func write(_ text: String, to path: String) -> Bool {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return text.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
  }

  /// The standard output of `argv`, or nil if it failed.
  static func output(_ argv: [String]) -> String? {
    // Both ends O_CLOEXEC from the start (LinuxIO's Pipe, pipe2): a process another test
    // spawns meanwhile must not keep the write end and with it this read from ending.
    guard let (readEnd, writeEnd) = try? LinuxIO.Pipe().releaseDescriptors() else { return nil }
    let fds = [readEnd.rawValue, writeEnd.rawValue]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    defer { posix_spawn_file_actions_destroy(&actions) }
    var pid: pid_t = 0
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for p in cArgs { free(p) } }
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    close(fds[1])
    defer { close(fds[0]) }
    guard rc == 0 else { return nil }
    let out = TransferFixtures.readToEnd(fds[0])
    var status: CInt = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status == 0 ? String(decoding: out, as: UTF8.self) : nil
  }
}
