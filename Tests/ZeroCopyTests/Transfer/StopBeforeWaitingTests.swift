// The inline attempt of an async transfer between a file and a pipe (Transfer.runAsync):
// splice with SPLICE_F_NONBLOCK through the caller's end, or the pipe's end opened again
// non-blocking, and a strategy run that stops — instead of waiting — at the first call
// the pipe's peer would make wait, with the exact bytes moved.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage
import Testing

@testable import ZeroCopy

extension TransferTests {
  @Suite("An inline attempt stops before waiting for a pipe's peer")
  struct StopBeforeWaiting {
    /// `Transfer.nonBlockingAttempt` for a strategy known only as `any TransferStrategy`.
    static func attempt(
      _ request: TransferRequest, _ endpoints: EndpointPair, _ strategy: some TransferStrategy
    ) -> Transfer.InlineAttempt? {
      Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: strategy, options: TransferOptions())
    }

    @Test(
      "the attempt's pipe end: the caller's with SPLICE_F_NONBLOCK for splice and .automatic, a new non-blocking description for the others; an end that is non-blocking already is used as it is"
    )
    func attemptEndpoints() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(4096))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      defer {
        try? readEnd.close()
        try? writeEnd.close()
      }
      let request = TransferRequest(from: source, offset: 0, count: 4096, to: writeEnd)
      let endpoints = try Transfer.inspect(request, operation: .transfer)
      let attempt = try #require(
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: ReadWriteStrategy(), options: TransferOptions()))
      let reopened = try #require(attempt.reopened)
      defer { try? reopened.close() }
      #expect(!attempt.perCallNonBlocking)
      #expect(reopened != writeEnd)
      #expect(attempt.pair.destination.descriptor == reopened)
      #expect(attempt.pair.destination.isNonBlocking)
      #expect(fcntl(reopened.rawValue, F_GETFL) & O_NONBLOCK != 0)
      #expect(fcntl(writeEnd.rawValue, F_GETFL) & O_NONBLOCK == 0)
      #expect(descriptorTarget(reopened) == descriptorTarget(writeEnd), "the same pipe")
      // splice and .automatic: no descriptor, the caller's blocking end, per-call flags.
      for perCall in [
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: SpliceStrategy(), options: TransferOptions()),
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: AutomaticStrategy(), options: TransferOptions()),
      ] {
        let attempt = try #require(perCall)
        #expect(attempt.perCallNonBlocking)
        #expect(attempt.reopened == nil)
        #expect(attempt.pair.destination.descriptor == writeEnd)
        #expect(!attempt.pair.destination.isNonBlocking)
      }
      // Too large, unknown strategies, a monitor: no attempt.
      var large = request
      large.count = 65 << 10
      #expect(
        Transfer.nonBlockingAttempt(large, endpoints: endpoints, strategy: SpliceStrategy(), options: TransferOptions()) == nil)
      #expect(
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: IOURingStrategy(), options: TransferOptions()) == nil
      )
      #expect(
        Transfer.nonBlockingAttempt(
          request, endpoints: endpoints, strategy: SpliceStrategy(), options: TransferOptions(monitor: TransferMonitor())) == nil)
      // A packet-mode end (O_DIRECT): a reopened description would not write packets, so
      // readWrite hops; splice keeps the caller's description (and its mode).
      let flags = fcntl(writeEnd.rawValue, F_GETFL)
      #expect(fcntl(writeEnd.rawValue, F_SETFL, flags | FileDescriptor.OpenOptions.direct.rawValue) == 0)
      #expect(
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: ReadWriteStrategy(), options: TransferOptions())
          == nil)
      #expect(
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: SpliceStrategy(), options: TransferOptions())?
          .perCallNonBlocking == true)
      #expect(fcntl(writeEnd.rawValue, F_SETFL, flags) == 0)
      // Non-blocking already: no second descriptor, no per-call flags.
      _ = fcntl(writeEnd.rawValue, F_SETFL, fcntl(writeEnd.rawValue, F_GETFL) | O_NONBLOCK)
      let again = try Transfer.inspect(request, operation: .transfer)
      for strategy: any TransferStrategy in [SpliceStrategy(), ReadWriteStrategy()] {
        let made = Self.attempt(request, again, strategy)
        let direct = try #require(made)
        #expect(direct.reopened == nil)
        #expect(!direct.perCallNonBlocking)
        #expect(direct.pair.destination.descriptor == writeEnd)
      }
    }

    @Test("pipe → O_APPEND file: splice cannot write there, so .automatic's attempt reopens the pipe end instead")
    func appendOnlyDestination() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      let target = try TransferFixtures.openFile(directory.file("b"), O_WRONLY | O_CREAT | O_APPEND)
      defer { try? target.close() }
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      defer {
        try? readEnd.close()
        try? writeEnd.close()
      }
      let request = TransferRequest(from: readEnd, count: 4096, to: target)
      let endpoints = try Transfer.inspect(request, operation: .transfer)
      let attempt = try #require(
        Transfer.nonBlockingAttempt(request, endpoints: endpoints, strategy: AutomaticStrategy(), options: TransferOptions()))
      defer { try? attempt.reopened?.close() }
      #expect(!attempt.perCallNonBlocking)
      #expect(attempt.reopened != nil)
    }

    @Test("an attempt (a candidate of .automatic, or a named strategy with fallback allowed) inherits the transfer's wait rules")
    func attemptsInheritWaitRules() throws {
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      defer {
        try? readEnd.close()
        try? writeEnd.close()
      }
      let pair = EndpointPair(
        source: TransferEndpoint(descriptor: readEnd, kind: .pipe),
        destination: TransferEndpoint(descriptor: writeEnd, kind: .pipe))
      for (stops, abandons) in [(false, false), (true, false), (false, true), (true, true)] {
        var context = TransferContext(
          pair: pair, sourceOffset: nil, destinationOffset: nil, requestedBytes: 4096, chunkSize: 8 << 20, monitor: nil,
          operation: .transfer)
        let signal = stops ? StopSignal() : nil
        context.stopSignal = signal
        context.mayAbandonWaits = abandons
        let attempt = context.makeAttempt()
        #expect(attempt.stopSignal === signal, "the attempt marks the transfer's own signal")
        // Before, an attempt never abandoned a device wait: a cancelled async directIO
        // transfer with the default options waited for the device's read.
        #expect(attempt.mayAbandonWaits == abandons)
      }
    }

    /// A strategy whose first call fails with `EAGAIN` itself (not through `waitUntilReady`).
    struct FailsWithEAGAIN: TransferStrategy {
      var name: String { "failsWithEAGAIN" }
      var summary: String { "throws EAGAIN without waiting" }
      func support(for pair: EndpointPair) -> StrategySupport { .supported }
      func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
        throw context.error(syscall: "write", errno: .resourceTemporarilyUnavailable)
      }
    }

    @Test("an EAGAIN the attempt did not stop on is the transfer's error, not a stop")
    func eagainIsNotAStop() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(4096))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      defer {
        try? readEnd.close()
        try? writeEnd.close()
      }
      let request = TransferRequest(from: source, offset: 0, count: 4096, to: writeEnd)
      let stop = StopSignal()
      let error = #expect(throws: ZeroCopyError.self) {
        try Transfer.perform(
          request, strategy: FailsWithEAGAIN(), options: TransferOptions(allowFallback: false), operation: .transfer,
          stopSignal: stop)
      }
      #expect(error?.errno == .resourceTemporarilyUnavailable)
      #expect(error?.syscall == "write")
      #expect(!stop.stopped)
    }

    @Test(
      "with room for 16 KiB of 48, each strategy moves exactly 16 KiB and stops (no wait); the pipe holds them in order",
      arguments: ["readWrite", "sendfile", "splice", "mmapWrite", "automatic"])
    func stopsAtAFullPipe(_ name: String) throws {
      let size = 48 << 10
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(size))
      let source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
      defer { try? source.close() }
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      defer {
        try? readEnd.close()
        try? writeEnd.close()
      }
      let capacity = try TransferFixtures.setPipeCapacity(writeEnd, 64 << 10)
      let queued = capacity - (16 << 10)
      let filler = [UInt8](repeating: 0xA5, count: queued)
      #expect(filler.withUnsafeBytes { write(writeEnd.rawValue, $0.baseAddress!, $0.count) } == queued)
      let request = TransferRequest(from: source, offset: 0, count: Int64(size), to: writeEnd)
      let endpoints = try Transfer.inspect(request, operation: .transfer)
      let strategy = TransferStrategies.named(name)!
      let made = Self.attempt(request, endpoints, strategy)
      let attempt = try #require(made)
      defer { try? attempt.reopened?.close() }
      // splice and .automatic splice through the caller's blocking end with
      // SPLICE_F_NONBLOCK; the others write through a reopened non-blocking end.
      let perCall = name == "splice" || name == "automatic"
      #expect(attempt.perCallNonBlocking == perCall)
      #expect((attempt.reopened == nil) == perCall)
      // A watchdog, so that an attempt that waits (the defect this test catches) fails the
      // test instead of hanging it: after 10 s it drains the pipe until the transfer ends.
      let done = TransferFixtures.Box<Bool>(false)
      let lock = Mutex(())
      let watchdog = TransferFixtures.Worker {
        for _ in 0..<1000 where !lock.withLock({ _ in done.value }) { usleep(10_000) }
        var sink = [UInt8](repeating: 0, count: 65536)
        while !lock.withLock({ _ in done.value }) {
          let queuedNow = (try? readEnd.readableBytes) ?? 0
          if queuedNow > 0 {
            _ = sink.withUnsafeMutableBytes { read(readEnd.rawValue, $0.baseAddress!, min(queuedNow, $0.count)) }
          } else {
            usleep(1000)
          }
        }
      }
      let stop = StopSignal(perCallNonBlocking: attempt.perCallNonBlocking)
      let report = try Transfer.perform(
        request, strategy: strategy, options: TransferOptions(allowFallback: false), operation: .transfer,
        endpoints: attempt.pair, stopSignal: stop)
      lock.withLock { _ in done.value = true }
      watchdog.join()
      #expect(stop.stopped)
      #expect(report.bytes == 16 << 10, "\(report)")
      if perCall { #expect(report.strategy == "splice") }
      // Exactly what the pipe holds (a blocking read of more would wait forever).
      let held = try readEnd.readableBytes
      #expect(held == queued + (16 << 10))
      var drained = [UInt8](repeating: 0, count: held)
      var got = 0
      while got < held {
        let n = drained.withUnsafeMutableBytes { read(readEnd.rawValue, $0.baseAddress! + got, held - got) }
        if n <= 0 { break }
        got += n
      }
      TransferFixtures.expectSame(Array(drained[0..<got]), filler + Array(TransferFixtures.bytes(size)[0..<(16 << 10)]), "pipe")
    }
  }
}
