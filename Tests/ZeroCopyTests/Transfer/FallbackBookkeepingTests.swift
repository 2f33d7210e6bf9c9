// TransferContext.transfer(tryingInOrder:) runs a candidate in the context itself while
// that context has delivered nothing (no second context per transfer), and in a separate
// attempt after bytes moved. Both must look the same to the candidates and to the report:
// an abandoned candidate's notes, name and readahead flag are dropped, its system calls
// and the fallback record kept; the next candidate sees the offsets and byte counts of a
// fresh transfer.

import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import ZeroCopy

extension TransferTests {
  @Suite("Fallback bookkeeping: a candidate run in place or in an attempt")
  struct FallbackBookkeeping {
    /// How a ``Refuser`` gives way, before delivering any byte.
    enum Refusal: Sendable, CaseIterable {
      case throwsFallbackErrno, returnsUnsupported, movesZeroBytes
    }

    /// Notes, counts 2 system calls and turns the source readahead off, then gives way.
    struct Refuser: TransferStrategy {
      let refusal: Refusal
      var name: String { "testRefuser" }
      var summary: String { "notes, counts calls, turns readahead off, then gives way (a test strategy)" }
      func support(for pair: EndpointPair) -> StrategySupport { .supported }
      func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
        context.note("the refuser was here")
        context.recordSyscalls(2)
        context.prefetchesSource = false
        switch refusal {
        case .throwsFallbackErrno: throw context.error(syscall: "testcall", errno: .improperLink)
        case .returnsUnsupported: return .unsupported(reason: "not here", errno: .improperLink, syscall: "testcall")
        case .movesZeroBytes: return .sourceEnded
        }
      }
    }

    /// What the candidate after a refusal saw.
    struct Seen: Sendable, Equatable {
      var requestedBytes: Int64?
      var startSourceOffset: Int64?
      var sourceOffset: Int64?
      var bytesTransferred: Int64
      var prefetchesSource: Bool
      var notes: [String]
    }

    /// What an ``Observer`` saw, shared with the test.
    final class Log: Sendable {
      let seen = Mutex<[Seen]>([])
    }

    /// Records what it sees, notes, then copies with pread/pwrite.
    struct Observer: TransferStrategy {
      let log = Log()
      var name: String { "testObserver" }
      var summary: String { "records its context, then pread/pwrite (a test strategy)" }
      func support(for pair: EndpointPair) -> StrategySupport { .supported }
      func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
        let now = Seen(
          requestedBytes: context.requestedBytes, startSourceOffset: context.startSourceOffset,
          sourceOffset: context.sourceOffset, bytesTransferred: context.bytesTransferred,
          prefetchesSource: context.prefetchesSource, notes: context.notes)
        log.seen.withLock { $0.append(now) }
        context.note("the observer was here")
        return try PreadPwriteTestStrategy().transfer(&context)
      }
    }

    /// Moves `first` bytes itself (when not 0), then the rest through `candidates`.
    struct InOrder: TransferStrategy {
      let first: Int
      let candidates: [any TransferStrategy]
      var name: String { "testInOrder" }
      var summary: String { "some bytes by hand, then transfer(tryingInOrder:) (a test strategy)" }
      func support(for pair: EndpointPair) -> StrategySupport { .supported }
      func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
        if first > 0 {
          var buffer = [UInt8](repeating: 0, count: first)
          let offset = context.sourceOffset ?? 0
          let n = buffer.withUnsafeMutableBytes {
            pread(context.source.descriptor.rawValue, $0.baseAddress, first, off_t(offset))
          }
          let target = context.destinationOffset ?? 0
          let w = buffer.withUnsafeBytes { pwrite(context.destination.descriptor.rawValue, $0.baseAddress, n, off_t(target)) }
          guard n == first, w == n else { throw context.error(syscall: "pread/pwrite", errno: .ioError) }
          context.record(bytes: Int64(n), syscalls: 2)
        }
        return try context.transfer(tryingInOrder: candidates)
      }
    }

    static let size = 1 << 20  // above the 256 KiB prefetch threshold: the flag starts true

    func run(first: Int, refusal: Refusal, fallback: Bool) throws -> (TransferReport, [Seen], [UInt8], [UInt8]) {
      let content = TransferFixtures.bytes(Self.size)
      let files = try PreparedPlanCache.Files(size: content.count)
      defer { files.close() }
      let observer = Observer()
      let strategy = InOrder(first: first, candidates: [Refuser(refusal: refusal), observer])
      var options = TransferOptions()
      options.allowFallback = fallback
      let report = try Transfer.runBlocking(
        TransferRequest(from: files.source, offset: 0, to: files.target, at: 0), strategy: strategy, options: options)
      return (report, observer.log.seen.withLock { $0 }, try files.written(), content)
    }

    @Test(
      "an abandoned candidate leaves no note, name or readahead change; its calls and fallback count",
      arguments: Refusal.allCases, [(0, false), (0, true), (1000, false), (1000, true)])
    func abandoned(refusal: Refusal, shape: (first: Int, fallback: Bool)) throws {
      let first = shape.first
      let (report, seen, written, content) = try run(first: first, refusal: refusal, fallback: shape.fallback)
      #expect(written == content)
      #expect(report.bytes == Int64(Self.size))
      #expect(report.strategy == "testObserver", "\(report)")
      #expect(report.fallbacks.map(\.strategy) == ["testRefuser"], "\(report)")
      #expect(report.fallbacks.first?.errno == (refusal == .movesZeroBytes ? nil : .improperLink), "\(report)")
      #expect(report.notes == ["the observer was here"], "\(report)")
      // The first piece by hand (2 calls), the refuser's 2, pread/pwrite's 2 per 64 KiB.
      let copied = Self.size - first
      #expect(report.syscalls == (first > 0 ? 2 : 0) + 2 + 2 * ((copied + 65535) / 65536), "\(report)")
      // The observer saw a fresh transfer of what was left, readahead on again.
      let left = Int64(copied)
      #expect(
        seen
          == [
            Seen(
              requestedBytes: left, startSourceOffset: Int64(first), sourceOffset: Int64(first), bytesTransferred: 0,
              prefetchesSource: true, notes: [])
          ])
    }

    @Test("the last candidate's refusal stands: its errno, no byte, its name", arguments: [0, 1000])
    func lastRefusalStands(first: Int) throws {
      let files = try PreparedPlanCache.Files(size: Self.size)
      defer { files.close() }
      let strategy = InOrder(first: first, candidates: [Refuser(refusal: .throwsFallbackErrno)])
      var options = TransferOptions()
      options.allowFallback = false
      #expect {
        try Transfer.runBlocking(
          TransferRequest(from: files.source, offset: 0, to: files.target, at: 0), strategy: strategy, options: options)
      } throws: { error in
        guard let error = error as? ZeroCopyError else { return false }
        return error.errno == .improperLink && error.syscall == "testcall" && error.bytesTransferred == Int64(first)
          && error.strategy == "testRefuser"
      }
    }
  }
}
