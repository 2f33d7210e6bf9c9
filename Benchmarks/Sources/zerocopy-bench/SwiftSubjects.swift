// The Swift side of the benchmark: every strategy in ZeroCopy's Transfer registry
// (built-ins and user-registered), `.automatic` through the async API too, and async
// random reads on the IOEngine.

import BenchKit
import Glibc
import LinuxIO
import SystemPackage
import ZeroCopy

enum SwiftSubjects {
  /// The sources the runner uses. Registers the planted corrupting strategy first when
  /// ZEROCOPY_BENCH_PLANT_CORRUPTING=1 (tests only), so it is enumerated like any user
  /// strategy.
  /// Registers `directIO.depthN` for each depth (`run --directio-depths`).
  static func registerDirectIODepths(_ depths: [Int]) {
    for depth in depths where TransferStrategies.named("directIO.depth\(depth)") == nil {
      TransferStrategies.register(DirectIODepthStrategy(depth: depth))
    }
  }

  /// The strategies measured through the async `Transfer.run` too (`run --async`): the
  /// automatic choice and the system calls it picks from — io_uring-capable calls
  /// (splice, read/write) and those io_uring cannot make (sendfile, copy_file_range) take
  /// different async paths.
  static let defaultAsyncStrategies = ["automatic", "readWrite", "sendfile", "splice", "copyFileRange"]

  /// - Parameter asyncStrategies: Strategy names to measure through `Transfer.run` as
  ///   well (nil: ``defaultAsyncStrategies``; `["all"]`: every registered one).
  static func sources(asyncStrategies: [String]? = nil) -> SubjectSources {
    if CorruptingSubject.enabled && TransferStrategies.named("corrupting") == nil {
      TransferStrategies.register(CorruptingStrategy())
    }
    let asyncNames = asyncStrategies ?? defaultAsyncStrategies
    var s = SubjectSources()
    s.swiftTransfers = {
      var list: [any Subject] = TransferStrategies.all.map { TransferSubject(strategy: $0, async: false) }
      // What a caller without a prepared pair pays: both ends inspected on every call.
      list.append(TransferSubject(strategy: AutomaticStrategy(), async: false, oneShot: true))
      // With a host profile, .automatic is also measured with the built-in table.
      let automatic = AutomaticStrategy()
      if automatic.profile.source == .file {
        list.append(
          TransferSubject(
            strategy: RenamedStrategy(name: "automatic.builtin", base: AutomaticStrategy(profile: .builtIn)), async: false))
      }
      for strategy in TransferStrategies.all
      where (asyncNames.contains("all") || asyncNames.contains(strategy.name)) && strategy.name != "corrupting" {
        list.append(TransferSubject(strategy: strategy, async: true))
      }
      return list + ZeroCopyBenchmark.userSubjects
    }
    s.registeredNames = { TransferStrategies.all.map(\.name) }
    s.extraReads = {
      [1, 8, 32].map { AsyncReadSubject(depth: $0, preferEngine: true) }
        + [1, 8, 32].map { AsyncReadSubject(depth: $0, preferEngine: false) }
        + [1, 32].map { AsyncReadSubject(depth: $0, preferEngine: true, throughEngine: true) }
    }
    // Every strategy, the planted corrupting one included (its streams' checksums must catch it).
    s.concurrent = { TransferStrategies.all.map { ConcurrentTransferSubject(strategy: $0) } }
    s.automaticProfile = { AutomaticStrategy().profile.description }
    return s
  }
}

/// A strategy measured under another name (`automatic.builtin`: `.automatic` with the
/// built-in table beside the host profile's).
struct RenamedStrategy: TransferStrategy {
  let name: String
  let base: any TransferStrategy
  var summary: String { base.summary }
  func support(for pair: EndpointPair) -> StrategySupport { base.support(for: pair) }
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome { try base.transfer(&context) }
}

/// The many-connections workload through one strategy: a task per connection, each
/// sending the source's first bytes with the async `Transfer.send` (fallback off), all
/// connections at once.
struct ConcurrentTransferSubject: ConcurrentSubject {
  let strategy: any TransferStrategy
  let info: SubjectInfo

  init(strategy: any TransferStrategy) {
    self.strategy = strategy
    info = SubjectInfo(
      id: "swift:\(strategy.name).async", family: .swift, strategy: strategy.name,
      summary: "Swift Transfer.send (async) with \(strategy.name), one task per connection")
  }

  func sample(source: SourceFile, port: Int, plan: ConcurrentPlan, tools: Tools, scratch: String) async throws
    -> ConcurrentSample
  {
    let file = try FileDescriptor.open(source.path, .readOnly, options: [.closeOnExec])
    defer { try? file.close() }
    let sockets = try connectLoopback(port: port, count: plan.connections)
    defer { for s in sockets { close(s) } }
    let pair = EndpointPair(
      source: try TransferEndpoint.inspect(file), destination: try TransferEndpoint.inspect(FileDescriptor(rawValue: sockets[0])))
    if case .unsupported(let reason) = strategy.support(for: pair) { throw UnsupportedHere(reason) }
    let strategy = self.strategy
    let range: Range<Int64> = 0..<Int64(plan.size)
    var sample = ConcurrentSample(nanoseconds: 0, bytes: 0, usage: Usage())
    for iteration in 0...plan.iterations {
      let u0 = Usage.current()
      let t0 = monotonicNanoseconds()
      let bytes: Int64
      do {
        bytes = try await withThrowingTaskGroup(of: Int64.self) { group in
          for s in sockets {
            group.addTask {
              try await Transfer.send(
                file: file, range: range, to: FileDescriptor(rawValue: s), strategy: strategy,
                options: TransferOptions(allowFallback: false)
              ).bytes
            }
          }
          var total: Int64 = 0
          for try await b in group { total += b }
          return total
        }
      } catch let error as ZeroCopyError {
        if iteration == 0 && error.bytesTransferred == 0
          && (TransferContext.fallbackErrnos.contains(error.errno) || error.errno == .notSupported)
        {
          throw UnsupportedHere("the kernel refused: \(error)")
        }
        throw error
      }
      let t1 = monotonicNanoseconds()
      let u1 = Usage.current()
      guard bytes == Int64(plan.connections) * Int64(plan.size) else {
        throw BenchError("\(strategy.name) moved \(bytes) bytes in an iteration, expected \(plan.connections * plan.size)")
      }
      guard iteration > 0 else { continue }
      sample.nanoseconds += t1 - t0
      sample.bytes += bytes
      sample.usage = sample.usage + (u1 - u0)
    }
    return sample
  }
}

/// One registered strategy, run on the harness's thread through a `PreparedTransfer`
/// (endpoints inspected once per sample, as the C twin opens and inspects once; fallback
/// off, so the named strategy alone is measured), or also through the async
/// `PreparedTransfer.run` (same options: a transfer of at most `inlineLimit` bytes that
/// cannot wait for a peer runs on the task's thread, the rest hops to the library's worker
/// threads). `oneShot`:
/// `Transfer.runBlocking` instead, which inspects both descriptors on every call (what a
/// caller without a prepared pair pays; measured for `.automatic`).
struct TransferSubject: Subject {
  let strategy: any TransferStrategy
  let async: Bool
  let oneShot: Bool
  let info: SubjectInfo

  init(strategy: any TransferStrategy, async: Bool, oneShot: Bool = false) {
    self.strategy = strategy
    self.async = async
    self.oneShot = oneShot && !async
    let name = strategy.name + (async ? ".async" : "") + (self.oneShot ? ".oneshot" : "")
    info = SubjectInfo(
      id: "swift:\(name)", family: .swift, strategy: name,
      summary: async
        ? "Swift PreparedTransfer.run (async; inline up to 64 KiB file→file/socket, else a worker-thread hop) with \(strategy.name): \(strategy.summary)"
        : self.oneShot
          ? "Swift Transfer.runBlocking (inspects both ends every call) with \(strategy.name): \(strategy.summary)"
          : "Swift PreparedTransfer.runBlocking with \(strategy.name): \(strategy.summary)",
      note: strategy.name == "automatic" ? "the strategies it picked are listed per cell" : nil)
  }

  func unsupportedReason(_ cell: Cell) -> String? { nil }  // asked at run time: support(for:)

  func measure(_ run: SampleRun) async throws -> SampleMeasurement {
    // Ask the strategy about the real endpoints first.
    let probe = try FileDescriptor.open(run.source.path, .readOnly, options: [.closeOnExec])
    defer { try? probe.close() }
    let pair = EndpointPair(
      source: try TransferEndpoint.inspect(probe),
      destination: try TransferEndpoint.inspect(FileDescriptor(rawValue: try run.session.descriptor())))
    if case .unsupported(let reason) = strategy.support(for: pair) { throw UnsupportedHere(reason) }
    let options = TransferOptions(allowFallback: false)
    let count = Int64(run.cell.size)
    let strategy = self.strategy
    let async = self.async
    let oneShot = self.oneShot
    var first = true
    // The sample's descriptors are the same for every iteration: inspected at the first.
    // Destination offset 0 (the harness rewinds a file destination before each
    // iteration; ignored for sockets and pipes): pwrite-style calls, as the C twin's
    // write at the position, without reading and restoring the position (two lseeks).
    var prepared: (source: CInt, destination: CInt, transfer: PreparedTransfer)?
    return try await measureInProcess(run) { s, d in
      let report: TransferReport
      do {
        if oneShot {
          report = try Transfer.runBlocking(
            TransferRequest(
              from: FileDescriptor(rawValue: s), offset: 0, count: count, to: FileDescriptor(rawValue: d), at: 0),
            strategy: strategy, options: options)
        } else {
          if prepared == nil || prepared!.source != s || prepared!.destination != d {
            prepared = (s, d, try PreparedTransfer(from: FileDescriptor(rawValue: s), to: FileDescriptor(rawValue: d)))
          }
          let transfer = prepared!.transfer
          report =
            async
            ? try await transfer.run(offset: 0, count: count, at: 0, strategy: strategy, options: options)
            : try transfer.runBlocking(offset: 0, count: count, at: 0, strategy: strategy, options: options)
        }
      } catch let error as ZeroCopyError {
        if first && error.bytesTransferred == 0 && TransferContext.fallbackErrnos.contains(error.errno) {
          throw UnsupportedHere("the kernel refused: \(error)")
        }
        throw error
      }
      first = false
      return SubjectOutcome(
        bytes: report.bytes, syscalls: report.syscalls, strategy: report.strategy,
        fallbacks: report.fallbacks.map { "\($0.strategy): \($0.errno?.symbolicName ?? $0.reason)" })
    }
  }
}

/// TEST ONLY: moves every byte with pread/write but flips the middle one. Registered in
/// the Transfer registry when ZEROCOPY_BENCH_PLANT_CORRUPTING=1, so the benchmark finds
/// it like any user strategy — and verification must reject it.
struct CorruptingStrategy: TransferStrategy {
  let name = "corrupting"
  let summary = "TEST ONLY: pread/write that flips one byte in the middle (ZEROCOPY_BENCH_PLANT_CORRUPTING=1)"

  func support(for pair: EndpointPair) -> StrategySupport {
    pair.source.isSeekable ? .supported : .unsupported("needs a file source")
  }

  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    let start = context.sourceOffset ?? 0
    let total = context.remainingBytes ?? max(0, (context.source.size ?? 0) - start)
    let middle = start + total / 2
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
    defer { buffer.deallocate() }
    while let chunk = context.nextChunk(limit: buffer.count) {
      let off = context.sourceOffset ?? 0
      let n = pread(context.source.descriptor.rawValue, buffer.baseAddress, chunk, off_t(off))
      if n < 0 { throw context.error(syscall: "pread", errno: Errno(rawValue: Glibc.errno)) }
      if n == 0 { return .sourceEnded }
      if off <= middle && middle < off + Int64(n) {
        buffer[Int(middle - off)] ^= 0xFF
      }
      var done = 0
      var calls = 1
      while done < n {
        let w: Int
        if let d = context.destinationOffset {
          w = pwrite(context.destination.descriptor.rawValue, buffer.baseAddress! + done, n - done, off_t(d + Int64(done)))
        } else {
          w = write(context.destination.descriptor.rawValue, buffer.baseAddress! + done, n - done)
        }
        calls += 1
        if w < 0 { throw context.error(syscall: "write", errno: Errno(rawValue: Glibc.errno)) }
        done += w
      }
      context.record(bytes: Int64(n), syscalls: calls)
    }
    return .complete
  }
}

/// Async random reads on the default IOEngine: `depth` tasks, each awaiting one
/// `AsyncFile.read` at a time (depth reads in flight) — either with the engine as their
/// preferred task executor (the documented fast path: the ring thread runs the task) or
/// from Swift's default cooperative pool (what a caller gets without the preference).
/// The default engine serves cached reads on the task's thread
/// (`IOEngine.Configuration.completesReadyReadsInline`); `throughEngine` uses an engine
/// with that off, so every read is an engine operation (the ring's own cost).
struct AsyncReadSubject: ReadSubject {
  let depth: Int
  let preferEngine: Bool
  var throughEngine = false
  var id: String { "swift:\(variant)" }
  let family = Family.swift
  var variant: String { (throughEngine ? "async-engine" : preferEngine ? "async" : "async-unpinned") + ".qd\(depth)" }
  var summary: String {
    let engine = throughEngine ? AsyncReadSubject.engineOnly : IOEngine.default
    return "ZeroCopy AsyncFile.read on "
      + (throughEngine ? "an engine without inline reads" : "IOEngine.default (cached reads inline)")
      + " (\(engine.kind)), \(depth) task\(depth == 1 ? "" : "s") each awaiting one read, "
      + (preferEngine ? "withTaskExecutorPreference(engine)" : "no executor preference (cooperative pool)")
  }

  /// An engine that sends every read to the ring (or the thread pool).
  static let engineOnly: IOEngine = {
    do {
      return try IOEngine(IOEngine.Configuration(name: "zc-bench-engine", completesReadyReadsInline: false))
    } catch {
      fatalError("cannot start the benchmark's engine: \(error)")
    }
  }()

  func sample(path: String, fileSize: Int, operations: Int) async throws -> ReadSample {
    let engine = throughEngine ? AsyncReadSubject.engineOnly : IOEngine.default
    let file = try await AsyncFile.open(FilePath(path), engine: engine)
    let perTask = max(1, operations / depth)
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    try await withTaskExecutorPreference(preferEngine ? engine.preferredTaskExecutor : nil) {
      try await withThrowingTaskGroup(of: Void.self) { group in
        for k in 0..<depth {
          group.addTask {
            var gen = OffsetGenerator(fileSize: fileSize, stream: k)
            var buffer = try AlignedBuffer(count: 4096)
            for _ in 0..<perTask {
              let result = await file.read(into: buffer, at: Int64(gen.next()))
              let n = try result.count
              buffer = result.take()
              if n != 4096 { throw BenchError("async read returned \(n) bytes") }
            }
          }
        }
        try await group.waitForAll()
      }
    }
    let t1 = monotonicNanoseconds()
    let u = Usage.current() - u0
    // Spot check one read's content against pread.
    var check = try AlignedBuffer(count: 4096)
    var gen = OffsetGenerator(fileSize: fileSize, stream: 99)
    let off = gen.next()
    let r = await file.read(into: check, at: Int64(off))
    _ = try r.count
    check = r.take()
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    defer { close(fd) }
    var expected = [UInt8](repeating: 0, count: 4096)
    _ = expected.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4096, off_t(off)) }
    let same = check.withUnsafeBytes { got in expected.withUnsafeBytes { memcmp(got.baseAddress!, $0.baseAddress!, 4096) == 0 } }
    try await file.close()
    if !same { throw BenchError("async read returned bytes that differ from the file at offset \(off)") }
    let ops = Double(perTask * depth)
    return ReadSample(
      nanosecondsPerRead: Double(t1 - t0) / ops,
      cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / ops, syscallsPerRead: nil)
  }
}

/// `directIO` with another io_uring depth, registered under its own name
/// (`directIO.depthN`) by `run --directio-depths`, so depths compare in one run.
struct DirectIODepthStrategy: TransferStrategy {
  let base: DirectIOStrategy
  init(depth: Int) { base = DirectIOStrategy(depth: depth) }
  var name: String { "directIO.depth\(base.depth)" }
  var summary: String { base.summary }
  func support(for pair: EndpointPair) -> StrategySupport { base.support(for: pair) }
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome { try base.transfer(&context) }
}
