// zc calibrate's decision logic, with synthetic timings (deterministic): verdicts, the
// crossover that contradicts the fewest sizes, the anchor kept whenever the measurements
// allow it (so a second calibration reproduces the first), and a short real run.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@testable import ZeroCopy

extension TransferTests {
  /// Under TransferTests (serialized): the real run and the report test open descriptors,
  /// which the descriptor-counting suites there must not see.
  @Suite("TransferCalibration (zc calibrate) and the report's profile")
  struct CalibrationTests {
    typealias Calibration = TransferCalibration
    static let KiB: Int64 = 1024

    /// Timings at `sizes` where the large strategy takes `ratio[i]` times the small one, in
    /// every round (7 rounds).
    static func timings(_ sizes: [Int64], ratios: [Double], rounds: Int = 7) -> [Calibration.SizeTiming] {
      zip(sizes, ratios).map { size, ratio in
        let small = (0..<rounds).map { Double(size) / 1000 + Double($0) }
        return Calibration.SizeTiming(size: size, small: small, large: small.map { $0 * ratio })
      }
    }

    static let ladder: [Int64] = [16 * KiB, 64 * KiB, 256 * KiB, 1024 * KiB]

    @Test("Verdicts: a margin in the median and two thirds of the rounds")
    func verdicts() {
      let t = Calibration.SizeTiming(size: 4096, small: [100, 100, 100], large: [80, 80, 80])
      #expect(t.ratio == 0.8)
      #expect(t.verdict(margin: 0.07) == .large)
      #expect(t.verdict(margin: 0.25) == .tie)
      #expect(Calibration.SizeTiming(size: 1, small: [100, 100, 100], large: [120, 130, 110]).verdict(margin: 0.07) == .small)
      #expect(Calibration.SizeTiming(size: 1, small: [100, 100, 100], large: [105, 95, 104]).verdict(margin: 0.07) == .tie)
      // Median 1.2, but only 4 of 7 rounds favour the small strategy: not consistent, a tie.
      let split = Calibration.SizeTiming(
        size: 1, small: Array(repeating: 100, count: 7), large: [50, 50, 50, 120, 120, 120, 120])
      #expect(split.ratio == 1.2)
      #expect(split.verdict(margin: 0.07) == .tie)
      // 5 of 7 is enough.
      let quorum = Calibration.SizeTiming(
        size: 1, small: Array(repeating: 100, count: 7), large: [50, 50, 120, 120, 120, 120, 120])
      #expect(quorum.verdict(margin: 0.07) == .small)
    }

    @Test("A second measurement pooled with the first: a size counts only when both agree")
    func pooledConfirmation() {
      let first = Calibration.SizeTiming(
        size: 65536, small: Array(repeating: 100, count: 7), large: Array(repeating: 80, count: 7))
      #expect(first.verdict(margin: 0.07) == .large)
      let disagreeing = Calibration.SizeTiming(
        size: 65536, small: first.small + Array(repeating: 100, count: 7), large: first.large + Array(repeating: 100, count: 7))
      #expect(disagreeing.verdict(margin: 0.07) == .tie)
      let agreeing = Calibration.SizeTiming(
        size: 65536, small: first.small + Array(repeating: 100, count: 7), large: first.large + Array(repeating: 85, count: 7))
      #expect(agreeing.verdict(margin: 0.07) == .large)
      // Which sizes a confirmation re-measures: those that contradict the anchor.
      let d = Calibration.decide(
        route: .socket, timings: Self.timings(Self.ladder, ratios: [1.3, 0.7, 1.0, 0.7]), anchor: 256 * Self.KiB, margin: 0.07)
      #expect(Calibration.contradictions(of: 256 * Self.KiB, in: d) == [1])
      #expect(Calibration.contradictions(of: 16 * Self.KiB, in: d) == [])
    }

    @Test("A clear crossover: the geometric mean of the two sizes around it, a power of two")
    func clearCrossover() {
      let d = Calibration.decide(
        route: .sameFileSystem, timings: Self.timings(Self.ladder, ratios: [1.3, 1.2, 0.8, 0.7]), anchor: 16 * Self.KiB,
        margin: 0.07)
      #expect(d.value == 128 * Self.KiB)
      #expect(d.verdicts == [.small, .small, .large, .large])
      #expect(d.anchor == 16 * Self.KiB)
      #expect(d.reason.hasPrefix("copyFileRange up to it, splice above"))
      #expect(d.description.contains("copyFileRangeMax = 128 KiB (was 16 KiB)"))
    }

    @Test("Every size one way: 0 (the large strategy everywhere) or unlimited")
    func oneSided() {
      let large = Calibration.decide(
        route: .pipe, timings: Self.timings(Self.ladder, ratios: [0.8, 0.8, 0.9, 0.5]), anchor: 64 * Self.KiB, margin: 0.07)
      #expect(large.value == 0)
      let small = Calibration.decide(
        route: .socket, timings: Self.timings(Self.ladder, ratios: [1.2, 1.2, 1.5, 1.1]), anchor: 64 * Self.KiB, margin: 0.07)
      #expect(small.value == TransferPlan.Parameters.unlimited)
      #expect(small.description.contains("socketSendfileMax = max"))
    }

    @Test("Within the noise, the anchor stays: all ties, or ties wherever it lies")
    func anchorKept() {
      let ties = Calibration.decide(
        route: .otherFileSystem, timings: Self.timings(Self.ladder, ratios: [1.02, 0.97, 1.05, 0.95]), anchor: 16 * Self.KiB,
        margin: 0.07)
      #expect(ties.value == 16 * Self.KiB && ties.reason.contains("within ±7 %"))
      // small, tie, tie, large: any boundary from 16 KiB to 1 MiB fits; the anchor (256 KiB) does.
      let fits = Calibration.decide(
        route: .socket, timings: Self.timings(Self.ladder, ratios: [1.3, 1.0, 1.0, 0.7]), anchor: 256 * Self.KiB,
        margin: 0.07)
      #expect(fits.value == 256 * Self.KiB && fits.reason.hasPrefix("the measurements agree"))
      // The anchor need not be a power of two or on the ladder.
      let odd = Calibration.decide(
        route: .socket, timings: Self.timings(Self.ladder, ratios: [1.3, 1.0, 1.0, 0.7]), anchor: 100_000, margin: 0.07)
      #expect(odd.value == 100_000)
      // Not measured: the anchor.
      #expect(Calibration.decide(route: .pipe, timings: [], anchor: 5, margin: 0.07).value == 5)
    }

    @Test("Noise: the boundary that contradicts the fewest sizes, nearest the anchor")
    func fewestContradictions() {
      // small, small, large, small, large, large: boundaries before 256 KiB and before 4 MiB
      // both contradict one size; the anchor (16 KiB, boundary 1) is nearer the first.
      let sizes = Self.ladder + [4096 * Self.KiB, 16384 * Self.KiB]
      let d = Calibration.decide(
        route: .sameFileSystem, timings: Self.timings(sizes, ratios: [1.3, 1.3, 0.7, 1.3, 0.7, 0.7]), anchor: 16 * Self.KiB,
        margin: 0.07)
      #expect(d.value == 128 * Self.KiB)
      #expect(d.reason.hasSuffix("; 1 size disagrees"))
      // With the anchor at 16 MiB (boundary 6) the other one is nearer.
      let far = Calibration.decide(
        route: .sameFileSystem, timings: Self.timings(sizes, ratios: [1.3, 1.3, 0.7, 1.3, 0.7, 0.7]),
        anchor: 16384 * Self.KiB, margin: 0.07)
      #expect(far.value == 2048 * Self.KiB)
      // Unsorted input is sorted first.
      let shuffled = Calibration.decide(
        route: .sameFileSystem, timings: Self.timings(Self.ladder, ratios: [1.3, 1.2, 0.8, 0.7]).reversed(),
        anchor: 16 * Self.KiB,
        margin: 0.07)
      #expect(shuffled.value == 128 * Self.KiB)
    }

    @Test("Calibrating again (anchored on the first result) gives the same value, for every verdict pattern")
    func secondRunReproducesTheFirst() {
      // Every pattern of small / tie / large over the ladder, every anchor position.
      let ratioOf: [Calibration.Verdict: Double] = [.small: 1.3, .tie: 1.0, .large: 0.7]
      let verdicts: [Calibration.Verdict] = [.small, .tie, .large]
      let anchors: [Int64] = [
        0, 8 * Self.KiB, 16 * Self.KiB, 100_000, 512 * Self.KiB, 4096 * Self.KiB, TransferPlan.Parameters.unlimited,
      ]
      var patterns: [[Calibration.Verdict]] = [[]]
      for _ in Self.ladder { patterns = patterns.flatMap { p in verdicts.map { p + [$0] } } }
      #expect(patterns.count == 81)
      for pattern in patterns {
        let timings = Self.timings(Self.ladder, ratios: pattern.map { ratioOf[$0]! })
        for anchor in anchors {
          let first = Calibration.decide(route: .socket, timings: timings, anchor: anchor, margin: 0.07)
          #expect(first.verdicts == pattern)
          let second = Calibration.decide(route: .socket, timings: timings, anchor: first.value, margin: 0.07)
          #expect(second.value == first.value, "\(pattern) anchor \(anchor)")
          // A noisier second run (a decided size now a tie) keeps the first result too, when
          // the first run was consistent (no size favours the small strategy above one that
          // favours the large one) — what a quiet machine measures.
          let lastSmall = pattern.lastIndex(of: .small) ?? -1
          let firstLarge = pattern.firstIndex(of: .large) ?? pattern.count
          guard lastSmall < firstLarge else { continue }
          for i in pattern.indices where pattern[i] != .tie {
            var noisier = pattern
            noisier[i] = .tie
            let third = Calibration.decide(
              route: .socket, timings: Self.timings(Self.ladder, ratios: noisier.map { ratioOf[$0]! }), anchor: first.value,
              margin: 0.07)
            #expect(third.value == first.value, "\(pattern) → \(noisier) anchor \(anchor)")
          }
        }
      }
    }

    @Test("A short real run: every route decided or kept with a reason, a profile of this host, nothing left on disk")
    func shortRun() throws {
      var template = Array("/tmp/zc-calibrate-test-XXXXXX".utf8CString)
      let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
      try #require(made != nil)
      let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      defer { rmdir(directory) }
      var options = Calibration.Options(directory: FilePath(directory))
      options.routes = [.pipe, .otherFileSystem, .socket]
      options.rounds = 2
      options.blockNanoseconds = 200_000
      var lines: [String] = []
      let result = try Calibration.run(options) { lines.append($0) }
      #expect(result.decisions.map(\.route) == Calibration.Route.allCases)
      for decision in result.decisions {
        #expect(result.profile.parameters[decision.route.parameter] == decision.value)
        if decision.timings.isEmpty {
          #expect(decision.value == options.anchor[decision.route.parameter])
          #expect(decision.reason.hasPrefix("not measured"), "\(decision)")
        } else {
          #expect(decision.timings.map(\.size) == decision.route.sizes)
          // 2 rounds, or 4 for a size measured twice to confirm a move away from the anchor.
          #expect(decision.timings.allSatisfy { [2, 4].contains($0.small.count) && $0.large.count == $0.small.count })
          #expect(decision.timings.allSatisfy { $0.small.allSatisfy { $0 > 0 } && $0.large.allSatisfy { $0 > 0 } })
          if decision.reason.contains("measured twice") {
            #expect(decision.timings.contains { $0.small.count == 4 }, "\(decision)")
          } else {
            #expect(decision.timings.allSatisfy { $0.small.count == 2 }, "\(decision)")
          }
        }
      }
      #expect(result.decisions.first { $0.route == .sameFileSystem }?.reason == "not measured (not asked for)")
      #expect(result.decisions.first { $0.route == .pipe }?.timings.count == Calibration.Route.pipe.sizes.count)
      #expect(lines.contains { $0.hasPrefix("file → pipe 4 KiB: sendfile ") })
      #expect(result.profile.source == .file && result.profile.measured.contains("zc calibrate"))
      try result.profile.checkHost()
      let text = try result.profile.formatted()
      #expect(try Calibration.Profile.parse(text).parameters == result.profile.parameters)
      #expect(result.profile.parameters.readWriteBufferSize == options.anchor.readWriteBufferSize)
      // The scratch files were unlinked as soon as they were opened.
      #expect(system("test -z \"$(ls -A '\(directory)')\"") == 0)
    }

    @Test("A scratch file is close-on-exec from the start and already unlinked; a missing directory names mkostemp")
    func scratchFile() throws {
      let scratch = try Calibration.ScratchFile(in: "/tmp", size: 0, fill: false)
      defer { scratch.close() }
      let flags = fcntl(scratch.descriptor.rawValue, F_GETFD)
      #expect(flags >= 0 && flags & FD_CLOEXEC != 0)
      #expect(try scratch.descriptor.status().rawValue.st_nlink == 0)
      let missing = FilePath("/tmp/zc-calibrate-missing-\(getpid())/sub")
      let error = #expect(throws: ZeroCopyError.self) { try Calibration.run(Calibration.Options(directory: missing)) }
      #expect(error?.syscall == "mkostemp" && error?.errno == .noSuchFileOrDirectory && error?.paths == [missing])
    }

    @Test("The report names the profile, in text and JSON; a rejected profile file's note is in its notes")
    func reportNamesTheProfile() throws {
      let path = "/tmp/zc-report-profile-\(getpid())"
      let source = try FileDescriptor.open(
        FilePath(path), .readWrite, options: [.create, .truncate], permissions: .ownerReadWrite)
      defer {
        try? source.close()
        unlink(path)
      }
      _ = try source.writeAll([UInt8](repeating: 7, count: 4096))
      let null = try FileDescriptor.open("/dev/null", .writeOnly)
      defer { try? null.close() }
      let request = TransferRequest(from: source, offset: 0, count: 4096, to: null)

      let rejected = TransferPlan.Profile.load("/nonexistent/zc-profile")
      let note = try #require(rejected.note)
      let report = try Transfer.runBlocking(request, strategy: AutomaticStrategy(profile: rejected))
      #expect(report.bytes == 4096 && report.strategy == "sendfile")
      #expect(report.profile == "built-in")
      #expect(report.notes == [note])
      #expect(report.description.hasSuffix("; \(note); profile built-in"), "\(report)")
      #expect(report.json.hasSuffix(",\"profile\":\"built-in\"}"), "\(report.json)")

      let explicit = try Transfer.runBlocking(request, strategy: AutomaticStrategy(parameters: .default))
      #expect(explicit.profile == "explicit parameters" && explicit.notes.isEmpty)
      // A named strategy that did not fall back made no automatic choice.
      let named = try Transfer.runBlocking(request, strategy: .readWrite)
      #expect(named.profile == nil && !named.description.contains("profile"))
      #expect(named.json.hasSuffix(",\"profile\":null}"))
      // One that fell back did, with the host's profile.
      let append = try FileDescriptor.open(
        FilePath(path + ".log"), .writeOnly, options: [.create, .truncate, .append], permissions: .ownerReadWrite)
      defer {
        try? append.close()
        unlink(path + ".log")
      }
      let fellBack = try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, count: 4096, to: append), strategy: .sendfile)
      #expect(fellBack.strategy == "readWrite" && fellBack.profile == TransferPlan.Profile.host.name)
    }
  }
}
