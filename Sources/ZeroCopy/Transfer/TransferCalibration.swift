// `zc calibrate`'s engine: measures this machine's crossover for each route of the
// decision table (two strategies, interleaved, at a ladder of sizes), decides each
// parameter with a rule that keeps the anchor when the measurements allow it, and
// returns a host profile. Docs/Transfer.md ("Host profiles") describes the method.

import Glibc
public import LinuxIO
public import SystemPackage

/// Measures the crossovers of `.automatic`'s decision table on this machine and makes a
/// host profile of them (what `zc calibrate` writes).
///
/// Each route of the table that splits at a size parameter is measured with its two
/// strategies — the one used up to the crossover and the one above it — through
/// `Transfer.runBlocking`, at a ladder of sizes. At each size the two strategies run in
/// interleaved rounds (ABBA, so drift hits both alike; each strategy's faster block counts,
/// since preemption only ever slows a block down); each round gives the ratio of their
/// times, and the size's verdict is the median ratio's: one strategy wins when it is
/// faster by more than ``Options/margin`` in the median and in at least two thirds of the
/// rounds, otherwise the size is a tie. ``decide(route:timings:anchor:margin:)`` turns
/// the verdicts into the parameter: the crossover that contradicts the fewest verdicts,
/// and among equally good ones the one nearest the anchor — the anchor itself (the
/// previous profile's value, or the built-in table's) whenever the measurements allow it.
/// A move away from the anchor is confirmed first: every size that contradicts the anchor
/// is measured a second time and its rounds pooled with the first, so it counts only when
/// both measurements agree. So calibrating twice on a quiet machine gives the same plan,
/// and noise keeps what was there.
///
/// ```swift
/// import ZeroCopy
///
/// let result = try TransferCalibration.run(TransferCalibration.Options(directory: "/var/tmp"))
/// for decision in result.decisions { print(decision) }
/// try result.profile.write(to: TransferCalibration.Profile.defaultPath!)
/// ```
public enum TransferCalibration {
  /// A route of the table with a crossover: the parameter, and the strategies below and
  /// above it.
  public enum Route: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// File → file on the measuring directory's filesystem: copyFileRange up to
    /// `copyFileRangeMax`, splice above (only where copy_file_range copies in the kernel).
    case sameFileSystem
    /// File → file onto another filesystem (tmpfs `/dev/shm`): readWrite up to
    /// `smallCopyMax`, sendfile above. The same parameter decides a prepared pair's small
    /// copies within ext2/3/4 or tmpfs (readWrite up to it, copyFileRange above), where
    /// copy_file_range takes sendfile's kernel path.
    case otherFileSystem
    /// File → pipe (a thread drains it): sendfile up to `pipeSendfileMax`, splice above.
    case pipe
    /// File → TCP loopback socket (a thread drains it): sendfile up to
    /// `socketSendfileMax`, splice above.
    case socket

    /// The parameter it decides.
    public var parameter: TransferPlan.Parameter {
      switch self {
      case .sameFileSystem: return .copyFileRangeMax
      case .otherFileSystem: return .smallCopyMax
      case .pipe: return .pipeSendfileMax
      case .socket: return .socketSendfileMax
      }
    }

    /// The strategy used up to the crossover.
    public var small: String {
      switch self {
      case .sameFileSystem: return "copyFileRange"
      case .otherFileSystem: return "readWrite"
      case .pipe, .socket: return "sendfile"
      }
    }

    /// The strategy used above it.
    public var large: String {
      switch self {
      case .sameFileSystem, .pipe, .socket: return "splice"
      case .otherFileSystem: return "sendfile"
      }
    }

    /// The sizes measured (4× apart; the crossover lands between two of them).
    public var sizes: [Int64] {
      let k: Int64 = 1024
      switch self {
      case .sameFileSystem: return [16 * k, 64 * k, 256 * k, 1024 * k, 4096 * k, 16384 * k]
      case .otherFileSystem: return [4 * k, 16 * k, 64 * k, 256 * k]
      case .pipe: return [4 * k, 16 * k, 64 * k, 256 * k, 1024 * k]
      case .socket: return [4 * k, 16 * k, 64 * k, 256 * k, 1024 * k, 4096 * k]
      }
    }

    /// "file → file (same filesystem)".
    public var description: String {
      switch self {
      case .sameFileSystem: return "file → file (same filesystem)"
      case .otherFileSystem: return "file → file (other filesystem)"
      case .pipe: return "file → pipe"
      case .socket: return "file → TCP socket"
      }
    }
  }

  /// Which strategy a size favours.
  public enum Verdict: String, Sendable, Hashable {
    /// The route's strategy below the crossover is faster.
    case small
    /// The route's strategy above the crossover is faster.
    case large
    /// Within the margin, or not consistently either way.
    case tie
  }

  /// The measurements at one size: nanoseconds per transfer of each strategy, per round.
  public struct SizeTiming: Sendable, Hashable {
    /// Bytes per transfer.
    public var size: Int64
    /// The small strategy's time per transfer in each round (nanoseconds).
    public var small: [Double]
    /// The large strategy's time per transfer in the same rounds.
    public var large: [Double]

    /// Timings of `size` bytes.
    ///
    /// - Precondition: `small` and `large` have the same number of rounds, at least one.
    public init(size: Int64, small: [Double], large: [Double]) {
      precondition(small.count == large.count && !small.isEmpty, "SizeTiming: paired rounds")
      self.size = size
      self.small = small
      self.large = large
    }

    /// The median over rounds of large / small: below 1, the large strategy is faster.
    public var ratio: Double { median(zip(large, small).map { $0 / Swift.max($1, 1e-9) }) }

    /// The verdict with `margin` (0.07: 7 %): a strategy wins when the median ratio
    /// favours it by more than the margin and at least two thirds of the rounds favour it.
    public func verdict(margin: Double) -> Verdict {
      let ratios = zip(large, small).map { $0 / Swift.max($1, 1e-9) }
      let m = median(ratios)
      let quorum = (2 * ratios.count + 2) / 3
      if m < 1 - margin && ratios.filter({ $0 < 1 }).count >= quorum { return .large }
      if m > 1 + margin && ratios.filter({ $0 > 1 }).count >= quorum { return .small }
      return .tie
    }
  }

  /// A route's decided parameter and why.
  public struct Decision: Sendable, Hashable, CustomStringConvertible {
    /// The route.
    public var route: Route
    /// The parameter's value (`TransferPlan.Parameters.unlimited` for "max").
    public var value: Int64
    /// The value it started from (the previous profile's, or the built-in table's).
    public var anchor: Int64
    /// The measurements (empty when the route was not measured).
    public var timings: [SizeTiming]
    /// The verdict at each size, in ``timings``' order.
    public var verdicts: [Verdict]
    /// Why this value, in words.
    public var reason: String

    /// "file → pipe: pipeSendfileMax = max (kept: …)".
    public var description: String {
      "\(route): \(route.parameter) = \(formatBytes(value))\(value == anchor ? " (kept)" : " (was \(formatBytes(anchor)))") — \(reason)"
    }
  }

  /// The result of a calibration.
  public struct Result: Sendable {
    /// The profile to write: this host's identity and the decided parameters.
    public var profile: TransferPlan.Profile
    /// One decision per route, measured or not.
    public var decisions: [Decision]
    /// Wall time of the whole calibration.
    public var elapsed: Duration
  }

  /// How to calibrate.
  public struct Options: Sendable {
    /// Where the file routes' source (and the same-filesystem destination) live: the
    /// filesystem whose crossover is measured. Files are unlinked as soon as they are
    /// opened, so nothing is left behind, whatever happens.
    public var directory: FilePath
    /// Another filesystem for ``Route/otherFileSystem`` (default `/dev/shm`, skipped when
    /// it is the same filesystem or not writable).
    public var otherDirectory: FilePath
    /// The routes to measure; the others keep their anchor.
    public var routes: [Route]
    /// Interleaved rounds per size (each: small, large, large, small).
    public var rounds: Int
    /// The timed duration each strategy gets per round, in nanoseconds (transfers repeat
    /// until they fill it).
    public var blockNanoseconds: UInt64
    /// The relative difference below which a size is a tie.
    public var margin: Double
    /// The parameters decisions start from (see ``decide(route:timings:anchor:margin:)``).
    public var anchor: TransferPlan.Parameters
    /// Routes not started once this much time has passed keep their anchor.
    public var budget: Duration

    /// Options for measuring `directory`'s filesystem: 9 rounds of 3 ms blocks (about 10 s
    /// on 2 cores), a 7 % margin, anchored on the built-in table.
    public init(directory: FilePath) {
      self.directory = directory
      otherDirectory = "/dev/shm"
      routes = Route.allCases
      rounds = 9
      blockNanoseconds = 3_000_000
      margin = 0.07
      anchor = .default
      budget = .seconds(28)
    }
  }

  // MARK: - Deciding (pure)

  /// Decides `route`'s parameter from its timings.
  ///
  /// A crossover between two measured sizes is a boundary: sizes below it favour the
  /// small strategy, sizes above it the large one. Each boundary costs the number of
  /// verdicts that contradict it (ties contradict nothing). Among the cheapest boundaries
  /// the one the anchor lies on wins, else the nearest to it (the lower one when two are
  /// equally near). A boundary below every size is 0 (the large strategy everywhere),
  /// above every size `TransferPlan.Parameters.unlimited`, and between two sizes their
  /// geometric mean rounded to a power of two. With no verdict but ties, the anchor stays.
  ///
  /// - Parameters:
  ///   - route: The route.
  ///   - timings: Its measurements, any order (sorted by size here).
  ///   - anchor: The value to keep when the measurements allow it.
  ///   - margin: As ``SizeTiming/verdict(margin:)``.
  public static func decide(route: Route, timings: [SizeTiming], anchor: Int64, margin: Double) -> Decision {
    let sorted = timings.sorted { $0.size < $1.size }
    let verdicts = sorted.map { $0.verdict(margin: margin) }
    func decision(_ value: Int64, _ reason: String) -> Decision {
      Decision(route: route, value: value, anchor: anchor, timings: sorted, verdicts: verdicts, reason: reason)
    }
    if sorted.isEmpty { return decision(anchor, "not measured") }
    if verdicts.allSatisfy({ $0 == .tie }) {
      return decision(anchor, "every size within ±\(Int((margin * 100).rounded())) %: kept")
    }
    let n = sorted.count
    // cost[b]: verdicts contradicting "sizes[0..<b] small, sizes[b...] large".
    let cost = (0...n).map { b in
      verdicts[..<b].filter { $0 == .large }.count + verdicts[b...].filter { $0 == .small }.count
    }
    let best = cost.min()!
    let candidates = (0...n).filter { cost[$0] == best }
    // The anchor's boundary: the number of sizes it keeps on the small strategy.
    let anchorBoundary = sorted.filter { $0.size <= anchor }.count
    let summary = zip(sorted, verdicts).map { "\(formatBytes($0.size)) \($1.rawValue)" }.joined(separator: ", ")
    if candidates.contains(anchorBoundary) {
      return decision(anchor, "the measurements agree with it (\(summary))")
    }
    let chosen = candidates.min { abs($0 - anchorBoundary) < abs($1 - anchorBoundary) }!
    let value: Int64
    if chosen == 0 {
      value = 0
    } else if chosen == n {
      value = TransferPlan.Parameters.unlimited
    } else {
      let a = log2(Double(sorted[chosen - 1].size)), b = log2(Double(sorted[chosen].size))
      value = Int64(1) << Int64(((a + b) / 2).rounded())
    }
    let contradicted = best == 0 ? "" : best == 1 ? "; 1 size disagrees" : "; \(best) sizes disagree"
    return decision(value, "\(route.small) up to it, \(route.large) above (\(summary))\(contradicted)")
  }

  /// The indices (in `decision.timings`) of the sizes whose verdict contradicts `anchor`:
  /// favouring the large strategy at or below it, or the small one above it.
  public static func contradictions(of anchor: Int64, in decision: Decision) -> [Int] {
    zip(decision.timings, decision.verdicts).enumerated().compactMap { i, pair in
      let (timing, verdict) = pair
      return (timing.size <= anchor && verdict == .large) || (timing.size > anchor && verdict == .small) ? i : nil
    }
  }

  // MARK: - Measuring

  /// Measures every route in `options.routes` and decides each parameter.
  ///
  /// - Parameters:
  ///   - options: Where and how long to measure.
  ///   - progress: Called with a line per route and size as the measurement goes.
  /// - Returns: The decisions and the profile of this host made of them.
  /// - Throws: ``ZeroCopyError`` (operation `transfer`) when a scratch file cannot be
  ///   created, or a strategy fails or moves the wrong number of bytes. A route whose
  ///   strategies the kernel refuses here keeps its anchor (the decision says why).
  public static func run(
    _ options: Options, progress: (String) -> Void = { _ in }
  ) throws(ZeroCopyError) -> Result {
    let clock = ContinuousClock()
    let start = clock.now
    var parameters = options.anchor
    var decisions: [Decision] = []
    let largest = options.routes.flatMap(\.sizes).max() ?? 0
    let source = try ScratchFile(in: options.directory, size: largest)
    defer { source.close() }
    for route in Route.allCases {
      let anchor = options.anchor[route.parameter]
      func keep(_ reason: String) {
        decisions.append(Decision(route: route, value: anchor, anchor: anchor, timings: [], verdicts: [], reason: reason))
      }
      guard options.routes.contains(route) else {
        keep("not measured (not asked for)")
        continue
      }
      if clock.now - start > options.budget {
        keep("not measured: the time budget was spent")
        continue
      }
      let sink: Sink
      switch try Sink.make(route, options: options, size: route.sizes.max() ?? 0) {
      case .failure(let refusal):
        keep("not measured: \(refusal.reason)")
        progress("\(route): not measured: \(refusal.reason)")
        continue
      case .success(let made): sink = made
      }
      defer { sink.close() }
      var timings: [SizeTiming] = []
      var refused: String?
      for size in route.sizes {
        switch try measure(route, size: size, source: source, sink: sink, options: options) {
        case .failure(let refusal): refused = refusal.reason
        case .success(let timing):
          timings.append(timing)
          progress(
            "\(route) \(formatBytes(size)): \(route.small) \(formatNanos(median(timing.small))), "
              + "\(route.large) \(formatNanos(median(timing.large))), ratio \(formatRatio(timing.ratio)) → \(timing.verdict(margin: options.margin).rawValue)"
          )
        }
        if refused != nil { break }
      }
      if let refused {
        keep("not measured: \(refused)")
        progress("\(route): not measured: \(refused)")
        continue
      }
      var decision = decide(route: route, timings: timings, anchor: anchor, margin: options.margin)
      // Moving away from the anchor takes a confirmation: each size that contradicts the
      // anchor is measured again and its rounds pooled with the first ones, so a size
      // counts only if the two measurements agree (the verdict's quorum is over all rounds).
      let contradicting = contradictions(of: anchor, in: decision)
      if decision.value != anchor && !contradicting.isEmpty && clock.now - start <= options.budget {
        for i in contradicting {
          let size = decision.timings[i].size
          guard case .success(let again) = try measure(route, size: size, source: source, sink: sink, options: options),
            let j = timings.firstIndex(where: { $0.size == size })
          else { continue }
          timings[j] = SizeTiming(size: size, small: timings[j].small + again.small, large: timings[j].large + again.large)
          progress(
            "\(route) \(formatBytes(size)) again: ratio \(formatRatio(again.ratio)), pooled \(formatRatio(timings[j].ratio)) → \(timings[j].verdict(margin: options.margin).rawValue)"
          )
        }
        decision = decide(route: route, timings: timings, anchor: anchor, margin: options.margin)
        decision.reason += "; \(contradicting.count) size\(contradicting.count == 1 ? "" : "s") measured twice"
      }
      parameters[route.parameter] = decision.value
      decisions.append(decision)
    }
    let elapsed = clock.now - start
    let measured = decisions.filter { !$0.timings.isEmpty }.map { "\($0.route.rawValue)" }.joined(separator: ", ")
    let profile = TransferPlan.Profile.measuredHere(
      parameters: parameters,
      measured:
        "zc calibrate: \(options.rounds) rounds of \(options.blockNanoseconds / 1_000_000) ms, margin \(Int((options.margin * 100).rounded())) %, "
        + "in \(options.directory) (routes: \(measured.isEmpty ? "none" : measured))")
    return Result(profile: profile, decisions: decisions, elapsed: elapsed)
  }

  /// One size of one route: warm-up, a block length per strategy, then ABBA rounds.
  private static func measure(
    _ route: Route, size: Int64, source: ScratchFile, sink: Sink, options: Options
  ) throws(ZeroCopyError) -> Swift.Result<SizeTiming, Refusal> {
    guard let small = TransferStrategies.named(route.small), let large = TransferStrategies.named(route.large) else {
      return .failure(Refusal("\(route.small) or \(route.large) is not registered"))
    }
    let runner = Runner(source: source, sink: sink, size: size)
    // Warm-up (one untimed transfer each; a refusal here means the route cannot run here).
    for strategy in [small, large] {
      if case .failure(let refusal) = try runner.once(strategy) { return .failure(refusal) }
    }
    // Transfers per block: the block's duration over one transfer's time (at least 1).
    func count(_ strategy: any TransferStrategy) throws(ZeroCopyError) -> Int {
      let t = try runner.time(strategy, transfers: 2) / 2
      return Swift.max(1, Swift.min(20_000, Int(Double(options.blockNanoseconds) / Swift.max(t, 1))))
    }
    let n = (small: try count(small), large: try count(large))
    var smallTimes: [Double] = []
    var largeTimes: [Double] = []
    for round in 0..<Swift.max(1, options.rounds) {
      // ABBA in even rounds, BAAB in odd ones.
      let order: [Bool] = round % 2 == 0 ? [false, true, true, false] : [true, false, false, true]
      // Each strategy's faster block of the two: a block that another process preempted
      // is slow, never fast.
      var s = Double.infinity, l = Double.infinity
      for isLarge in order {
        if isLarge {
          l = Swift.min(l, try runner.time(large, transfers: n.large) / Double(n.large))
        } else {
          s = Swift.min(s, try runner.time(small, transfers: n.small) / Double(n.small))
        }
      }
      smallTimes.append(s)
      largeTimes.append(l)
    }
    return .success(SizeTiming(size: size, small: smallTimes, large: largeTimes))
  }

  /// Why a route cannot be measured here.
  struct Refusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
  }

  /// Runs transfers of `size` bytes from the scratch source to a sink.
  private struct Runner {
    let source: ScratchFile
    let sink: Sink
    let size: Int64

    func request() -> TransferRequest {
      TransferRequest(
        from: source.descriptor, offset: 0, count: size, to: sink.descriptor, at: sink.isFile ? 0 : nil)
    }

    /// One transfer, untimed; a refusal before any byte moved is a `.failure`.
    func once(_ strategy: any TransferStrategy) throws(ZeroCopyError) -> Swift.Result<Void, Refusal> {
      do {
        let report = try Transfer.runBlocking(request(), strategy: strategy, options: TransferOptions(allowFallback: false))
        try check(report, strategy)
        return .success(())
      } catch {
        if error.bytesTransferred == 0 && (TransferContext.fallbackErrnos.contains(error.errno) || error.errno == .notSupported) {
          return .failure(Refusal("\(strategy.name) refused: \(error.errno.symbolicName)"))
        }
        throw error
      }
    }

    /// Nanoseconds for `transfers` transfers in a row.
    func time(_ strategy: any TransferStrategy, transfers: Int) throws(ZeroCopyError) -> Double {
      let options = TransferOptions(allowFallback: false)
      let request = request()
      var t0 = timespec()
      clock_gettime(CLOCK_MONOTONIC, &t0)
      for _ in 0..<transfers {
        let report = try Transfer.runBlocking(request, strategy: strategy, options: options)
        try check(report, strategy)
      }
      var t1 = timespec()
      clock_gettime(CLOCK_MONOTONIC, &t1)
      return Double(t1.tv_sec - t0.tv_sec) * 1e9 + Double(t1.tv_nsec - t0.tv_nsec)
    }

    func check(_ report: TransferReport, _ strategy: any TransferStrategy) throws(ZeroCopyError) {
      guard report.bytes == size else {
        throw ZeroCopyError(
          .transfer, syscall: strategy.name, errno: .ioError,
          message: "calibration: \(strategy.name) moved \(report.bytes) of \(size) bytes")
      }
    }
  }

  // MARK: - Scratch files and sinks

  /// A file created, sized, read once (so it is page-cached) and unlinked at once: only
  /// its descriptor remains, so nothing is left behind whatever happens to the process.
  final class ScratchFile: @unchecked Sendable {
    let descriptor: FileDescriptor

    init(in directory: FilePath, size: Int64, fill: Bool = true) throws(ZeroCopyError) {
      let created: (descriptor: FileDescriptor, path: FilePath)
      do {
        created = try FileDescriptor.createTemporaryFile(template: directory.appending(".zc-calibrate-XXXXXX"))
      } catch {
        throw ZeroCopyError(
          .transfer, syscall: "mkostemp", errno: error, paths: [directory], message: "calibration scratch file")
      }
      try? FileDescriptor.currentWorkingDirectory.removeEntry(created.path)
      descriptor = created.descriptor
      guard fill, size > 0 else { return }
      // Bytes that differ from page to page (no compression or dedup shortcut anywhere).
      var chunk = [UInt8](repeating: 0, count: 1 << 20)
      var state: UInt64 = 0x9E37_79B9_7F4A_7C15
      var written: Int64 = 0
      while written < size {
        for i in stride(from: 0, to: chunk.count, by: 8) {
          state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          withUnsafeBytes(of: state) { bytes in
            for j in 0..<8 { chunk[i + j] = bytes[j] }
          }
        }
        let n = Int(Swift.min(Int64(chunk.count), size - written))
        do {
          _ = try descriptor.writeAll(toAbsoluteOffset: written, chunk.prefix(n))
        } catch {
          close()
          throw ZeroCopyError(
            .transfer, syscall: "pwrite", errno: (error as? Errno) ?? .ioError, paths: [directory],
            message: "calibration scratch file")
        }
        written += Int64(n)
      }
      // Into the page cache: every route measures cached sources, as the benchmark does.
      var offset: Int64 = 0
      while offset < size {
        let n = chunk.withUnsafeMutableBytes { (try? descriptor.read(fromAbsoluteOffset: offset, into: $0)) ?? 0 }
        if n <= 0 { break }
        offset += Int64(n)
      }
    }

    func close() { try? descriptor.close() }
  }

  /// Where a route's bytes go: a scratch file, or a pipe or TCP socket drained by a thread.
  final class Sink: @unchecked Sendable {
    let descriptor: FileDescriptor
    let isFile: Bool
    private let file: ScratchFile?
    private let drain: Drain?

    private init(file: ScratchFile) {
      descriptor = file.descriptor
      isFile = true
      self.file = file
      drain = nil
    }

    private init(writeEnd: CInt, readEnd: CInt) throws(ZeroCopyError) {
      descriptor = FileDescriptor(rawValue: writeEnd)
      isFile = false
      file = nil
      do {
        drain = try Drain(readEnd)
      } catch {
        try? FileDescriptor(rawValue: writeEnd).close()
        try? FileDescriptor(rawValue: readEnd).close()
        throw ZeroCopyError(.transfer, syscall: "pthread_create", errno: error, message: "calibration drain thread")
      }
    }

    static func make(_ route: Route, options: Options, size: Int64) throws(ZeroCopyError) -> Swift.Result<Sink, Refusal> {
      switch route {
      case .sameFileSystem:
        let probe = try ScratchFile(in: options.directory, size: 0, fill: false)
        let inKernel = (try? TransferPlan.fileSystemCopiesInKernel(probe.descriptor)) ?? false
        probe.close()
        guard inKernel else {
          return .failure(
            Refusal("\(options.directory)'s filesystem may reflink or copy server-side: copy_file_range stays first"))
        }
        return .success(Sink(file: try ScratchFile(in: options.directory, size: size)))
      case .otherFileSystem:
        let cwd = FileDescriptor.currentWorkingDirectory
        guard let a = try? cwd.status(of: options.directory, followingSymbolicLinks: true).rawValue,
          let b = try? cwd.status(of: options.otherDirectory, followingSymbolicLinks: true).rawValue,
          (try? cwd.checkWritable(options.otherDirectory)) != nil
        else { return .failure(Refusal("\(options.otherDirectory) is not a writable directory")) }
        guard a.st_dev != b.st_dev else {
          return .failure(Refusal("\(options.otherDirectory) is on the same filesystem as \(options.directory)"))
        }
        return .success(Sink(file: try ScratchFile(in: options.otherDirectory, size: size)))
      case .pipe:
        let ends: (readEnd: FileDescriptor, writeEnd: FileDescriptor)
        do throws(Errno) {
          ends = try Pipe().releaseDescriptors()  // close-on-exec
        } catch {
          throw ZeroCopyError(.transfer, syscall: "pipe", errno: error, message: "calibration pipe")
        }
        return .success(try Sink(writeEnd: ends.writeEnd.rawValue, readEnd: ends.readEnd.rawValue))
      case .socket:
        let client: CInt, server: CInt
        do throws(Errno) {
          (client, server) = try TransferProbe.makeTCPPair()
        } catch {
          return .failure(Refusal("no TCP loopback connection: \(error.symbolicName)"))
        }
        return .success(try Sink(writeEnd: client, readEnd: server))
      }
    }

    /// Closes the destination; a drain thread then sees the end and is joined.
    func close() {
      file?.close()
      if let drain {
        try? descriptor.close()
        drain.join()
      }
    }
  }

  /// A joinable thread that reads a pipe or socket until its end.
  final class Drain: @unchecked Sendable {
    private var thread = pthread_t()
    private let box: Unmanaged<Box>

    private final class Box {
      let fd: CInt
      init(_ fd: CInt) { self.fd = fd }
    }

    init(_ fd: CInt) throws(Errno) {
      box = Unmanaged.passRetained(Box(fd))
      let rc = pthread_create(
        &thread, nil,
        { context in
          let box = Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue()
          let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
          defer { buffer.deallocate() }
          let descriptor = FileDescriptor(rawValue: box.fd)
          let chunk = UnsafeMutableRawBufferPointer(start: buffer, count: 1 << 20)
          while let n = try? descriptor.read(into: chunk), n > 0 {}  // swift-system retries EINTR
          try? descriptor.close()
          return nil
        }, box.toOpaque())
      if rc != 0 {
        box.release()
        throw Errno(rawValue: rc)
      }
    }

    func join() {
      pthread_join(thread, nil)
      box.release()
    }
  }
}

// MARK: - Helpers

private func median(_ values: [Double]) -> Double {
  guard !values.isEmpty else { return 0 }
  let s = values.sorted()
  return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// "max", "256 KiB", "1 MiB", "12345".
private func formatBytes(_ value: Int64) -> String {
  if value == TransferPlan.Parameters.unlimited { return "max" }
  for (unit, name) in [(Int64(1) << 30, "GiB"), (Int64(1) << 20, "MiB"), (Int64(1) << 10, "KiB")]
  where value >= unit && value % unit == 0 {
    return "\(value / unit) \(name)"
  }
  return "\(value)"
}

private func formatNanos(_ ns: Double) -> String {
  ns >= 1e6 ? "\(Double(Int(ns / 1e4)) / 100) ms" : "\(Double(Int(ns / 10)) / 100) µs"
}

private func formatRatio(_ r: Double) -> String { "\(Double(Int((r * 1000).rounded())) / 1000)" }

extension TransferCalibration {
  /// LinuxIO's host profile (`TransferPlan.Profile`), under a name that programs
  /// importing only ZeroCopy can use.
  public typealias Profile = TransferPlan.Profile
  /// Why a profile could not be parsed, checked or written (`TransferPlan.ProfileError`).
  public typealias ProfileError = TransferPlan.ProfileError
}
