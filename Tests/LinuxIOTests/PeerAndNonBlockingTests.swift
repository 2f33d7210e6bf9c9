// Non-blocking destinations (partial progress + .wouldBlock) and peers that close
// (EPIPE with SIGPIPE at its default disposition).
//
// SIGPIPE tests run in-process on purpose: each first asserts that SIGPIPE's
// disposition is SIG_DFL, so if a guard failed to block it, the kernel would kill this
// test process and the whole run would fail. Passing proves the guard works.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// Reads whatever a non-blocking socket holds right now.
private func readAvailable(_ fd: FileDescriptor) throws -> [UInt8] {
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    do {
      let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
      if n == 0 { return result }
      result += chunk[0..<n]
    } catch Errno.resourceTemporarilyUnavailable {
      return result
    }
  }
}

/// Waits until `fd` is writable.
private func waitWritable(_ fd: FileDescriptor) {
  var pfd = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
  while poll(&pfd, 1, 10_000) < 0 && errno == EINTR {}
}

/// A non-blocking socketpair whose sender buffer is small.
private func smallNonBlockingPair() throws -> (FileDescriptor, FileDescriptor) {
  let (sender, receiver) = try socketPair(nonBlocking: true)
  setSocketBuffer(sender, option: SO_SNDBUF, bytes: 4096)
  setSocketBuffer(receiver, option: SO_RCVBUF, bytes: 4096)
  return (sender, receiver)
}

@Suite("Non-blocking destinations")
struct NonBlockingTests {
  static let size = (4 << 20) + 5

  @Test("sendfileAll with no reader: partial progress, then .wouldBlock; resuming finishes exactly")
  func sendfileWouldBlock() throws {
    let data = pattern(Self.size)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let (sender, receiver) = try smallNonBlockingPair()
    defer { try? receiver.close() }

    let first = try source.sendfileAll(to: sender, sourceOffset: 0, count: .bytes(Self.size))
    #expect(first.outcome == .wouldBlock)
    #expect(first.bytes > 0)
    #expect(first.bytes < Int64(Self.size))
    let received = try readAvailable(receiver)
    #expect(Int64(received.count) == first.bytes)
    expectSameBytes(received, Array(data[0..<received.count]), "first part")

    // Resume from the exact offset with a (blocking) reader until complete.
    _ = fcntl(receiver.rawValue, F_SETFL, 0)
    let reader = startReader(receiver)
    var offset = first.bytes
    while offset < Int64(Self.size) {
      let next = try source.sendfileAll(
        to: sender, sourceOffset: offset, count: .bytes(Int64(Self.size) - offset))
      offset += next.bytes
      if next.outcome == .wouldBlock { waitWritable(sender) } else { #expect(next.outcome == .complete) }
    }
    try sender.close()
    let rest = reader.join()
    #expect(rest.error == nil)
    expectSameBytes(received + rest.bytes, data)
  }

  @Test("writeAll with no reader: partial progress, then .wouldBlock")
  func writeAllWouldBlock() throws {
    let data = pattern(Self.size, seed: 2)
    let (sender, receiver) = try smallNonBlockingPair()
    defer { try? sender.close(); try? receiver.close() }
    let result = try data.withUnsafeBytes { try sender.writeAll($0, at: nil) }
    #expect(result.outcome == .wouldBlock)
    #expect(result.bytes > 0 && result.bytes < Int64(Self.size))
    let received = try readAvailable(receiver)
    #expect(Int64(received.count) == result.bytes)
    expectSameBytes(received, Array(data[0..<received.count]))
  }

  @Test("readAll from a non-blocking pipe that runs dry: .wouldBlock with what was there")
  func readAllWouldBlock() throws {
    let pipe = try Pipe(nonBlocking: true)
    _ = try pipe.writeEnd.writeAll([1, 2, 3])
    var buffer = [UInt8](repeating: 0, count: 10)
    let result = try buffer.withUnsafeMutableBytes { try pipe.readEnd.readAll(into: $0, at: nil) }
    #expect(result == TransferResult(outcome: .wouldBlock, progress: .init(bytes: 3, syscalls: 2)))
    #expect(buffer[0..<3] == [1, 2, 3])
  }

  @Test("spliceAll pipe → socket with no reader: .wouldBlock, the rest stays in the pipe")
  func spliceDirectWouldBlock() throws {
    let size = 1 << 20
    let data = pattern(size, seed: 3)
    let pipe = try Pipe()
    #expect(try pipe.setCapacityRetrying(size) == size)
    _ = try pipe.writeEnd.writeAll(data)
    let (sender, receiver) = try smallNonBlockingPair()
    defer { try? sender.close(); try? receiver.close() }
    let result = try pipe.readEnd.spliceAll(to: sender, count: .bytes(size))
    #expect(result.outcome == .wouldBlock)
    #expect(result.bytes > 0 && result.bytes < size)
    #expect(try pipe.readableBytes == size - Int(result.bytes))
    let received = try readAvailable(receiver)
    expectSameBytes(received, Array(data[0..<Int(result.bytes)]))
  }

  @Test(
    "spliceAll(options: .nonBlocking) on a blocking pipe: a full pipe and an empty one give .wouldBlock with exact progress; the description stays blocking"
  )
  func spliceNonBlockingOnBlockingPipe() throws {
    let size = 48 << 10
    let data = pattern(size, seed: 6)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let pipe = try Pipe()
    let capacity = try pipe.setCapacityRetrying(64 << 10)
    #expect(capacity == 64 << 10)
    // Room for 16 KiB: those move, then the call that would wait answers EAGAIN (without
    // the flag it would block this thread forever: nobody reads).
    let filler = [UInt8](repeating: 0xA5, count: capacity - (16 << 10))
    _ = try pipe.writeEnd.writeAll(filler)
    let first = try source.spliceAll(
      to: pipe.writeEnd, sourceOffset: 0, count: .bytes(size), options: [.direct, .nonBlocking])
    #expect(first == TransferResult(outcome: .wouldBlock, progress: .init(bytes: 16 << 10, syscalls: 2)))
    #expect(try pipe.readableBytes == capacity)
    #expect(fcntl(pipe.writeEnd.rawValue, F_GETFL) & O_NONBLOCK == 0)
    #expect(fcntl(pipe.readEnd.rawValue, F_GETFL) & O_NONBLOCK == 0)
    var held = [UInt8](repeating: 0, count: capacity)
    let drained = try held.withUnsafeMutableBytes { try pipe.readEnd.readAll(into: $0, at: nil) }
    #expect(drained.bytes == Int64(capacity))
    expectSameBytes(held, filler + Array(data[0..<(16 << 10)]), "the pipe")
    // An empty blocking pipe whose writer is open: .wouldBlock at once, 0 bytes.
    let target = try temporaryFile()
    defer { try? target.close() }
    let empty = try pipe.readEnd.spliceAll(to: target, destinationOffset: 0, count: 100, options: .nonBlocking)
    #expect(empty == TransferResult(outcome: .wouldBlock, progress: .init(bytes: 0, syscalls: 1)))
    // Bytes queued, then the writer closed: they move, then the end of the input.
    _ = try pipe.writeEnd.writeAll([1, 2, 3])
    try pipe.writeEnd.close()
    #expect(peerGone(pipe.readEnd))
    let rest = try pipe.readEnd.spliceAll(to: target, destinationOffset: 0, count: 100, options: [.direct, .nonBlocking])
    #expect(rest == TransferResult(outcome: .sourceEndedEarly, progress: .init(bytes: 3, syscalls: 2)))
  }

  @Test("spliceAll options without a pipe end, or unknown bits: EINVAL, nothing moved")
  func spliceOptionsNeedAPipe() throws {
    let source = try temporaryFile(pattern(4096, seed: 7))
    defer { try? source.close() }
    let target = try temporaryFile()
    defer { try? target.close() }
    for options: SpliceAllOptions in [.direct, .nonBlocking, [.direct, .nonBlocking], SpliceAllOptions(rawValue: 4)] {
      let failure = #expect(throws: TransferFailure.self, "\(options.rawValue)") {
        try source.spliceAll(to: target, sourceOffset: 0, destinationOffset: 0, count: 4096, options: options)
      }
      #expect(failure?.errno == .invalidArgument)
      #expect(failure?.progress.bytes == 0)
      #expect(failure?.progress.discarded == 0)
    }
    #expect(fileSize(target) == 0)
    // Without options the same call goes through a temporary pipe.
    let plain = try source.spliceAll(to: target, sourceOffset: 0, destinationOffset: 0, count: 4096)
    #expect(plain.outcome == .complete && plain.bytes == 4096)
  }

  @Test(
    "spliceAll and readWriteCopy file → socket with a slow reader: .wouldBlock, nothing lost",
    arguments: ["splice", "readWrite"])
  func slowReader(method: String) throws {
    let data = pattern(Self.size, seed: 4)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let (sender, receiver) = try smallNonBlockingPair()
    // Make the receiver blocking for the reader thread.
    _ = fcntl(receiver.rawValue, F_SETFL, 0)
    // The reader starts draining after the first call, which therefore meets a full
    // socket (it was a reader 50 ms late, which a stalled test thread could let in
    // first) — or after 10 s, so that a first call that blocks (the defect) completes and
    // fails the check below instead of hanging.
    let firstCallReturned = Published<Void>()
    let reader = startReader(receiver, after: firstCallReturned)
    var scratch = try AlignedBuffer(count: 1 << 16)
    var offset: Int64 = 0
    var outcomes: [TransferOutcome] = []
    while offset < Int64(Self.size) {
      let remaining = TransferCount.bytes(Int64(Self.size) - offset)
      let result: TransferResult
      if method == "splice" {
        result = try source.spliceAll(to: sender, sourceOffset: offset, count: remaining)
      } else {
        result = try scratch.withUnsafeMutableBytes { buffer throws(TransferFailure) in
          try source.readWriteCopy(to: sender, sourceOffset: offset, count: remaining, buffer: buffer)
        }
      }
      #expect(result.progress.discarded == 0)
      outcomes.append(result.outcome)
      offset += result.bytes
      firstCallReturned.publish(())
      if result.outcome == .wouldBlock { waitWritable(sender) }
    }
    try sender.close()
    let received = reader.join()
    try receiver.close()
    #expect(outcomes.first == .wouldBlock)
    #expect(outcomes.last == .complete)
    expectSameBytes(received.bytes, data)
  }
}

@Suite("Closed peers and SIGPIPE at its default disposition")
struct ClosedPeerTests {
  /// The thread's signal mask when the test started. (Swift Concurrency's pool threads
  /// are libdispatch workers that block most signals — SIGXFSZ among them — but not
  /// SIGPIPE.) Tests run synchronously, so they stay on this thread.
  let initialMask: sigset_t

  init() {
    // Preconditions of every test here: SIGPIPE would kill the process if unguarded.
    #expect(signalHandlerIsDefault(SIGPIPE))
    #expect(!isBlocked(SIGPIPE))
    initialMask = currentSignalMask()
  }

  /// Asserts the thread's signal state is as it was: no SIGPIPE pending, same mask.
  private func expectCleanSignalState(sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!isPending(SIGPIPE), "a SIGPIPE was left pending", sourceLocation: sourceLocation)
    #expect(sameSignals(currentSignalMask(), initialMask), "the signal mask changed", sourceLocation: sourceLocation)
  }

  @Test("every all-helper to a closed socket throws EPIPE with exact progress")
  func allHelpersToClosedPeer() throws {
    let data = pattern(100_000, seed: 5)
    let source = try temporaryFile(data)
    defer { try? source.close() }

    let (s1, r1) = try socketPair()
    try r1.close()
    #expect(peerGone(s1))
    #expect(throws: TransferFailure(errno: .brokenPipe, progress: .init(bytes: 0, syscalls: 1))) {
      try source.sendfileAll(to: s1, sourceOffset: 0, count: 100_000)
    }
    expectCleanSignalState()
    #expect(throws: TransferFailure(errno: .brokenPipe, progress: .init(bytes: 0, syscalls: 1))) {
      try data.withUnsafeBytes { try s1.writeAll($0, at: nil) }
    }
    expectCleanSignalState()

    // splice through the temporary pipe: the first leg pulled what a new pipe holds (64 KiB,
    // one page for an unprivileged user past fs.pipe-user-pages-soft), the second failed;
    // the pulled bytes were drained and are reported as discarded.
    let splice = #expect(throws: TransferFailure.self) {
      try source.spliceAll(to: s1, sourceOffset: 0, count: 100_000)
    }
    #expect(splice?.errno == .brokenPipe)
    #expect(splice?.progress.bytes == 0)
    let discarded = splice?.progress.discarded ?? 0
    #expect(discarded > 0 && discarded <= 65536 && discarded % 4096 == 0, "discarded \(discarded)")
    expectCleanSignalState()
    // The exact count through a pipe whose capacity is set: all of it pulled, drained,
    // discarded, and the pipe empty again.
    let pipe = try Pipe()
    #expect(try pipe.setCapacityRetrying(65536) == 65536)
    let spliceThrough = #expect(throws: TransferFailure.self) {
      try source.spliceAll(to: s1, sourceOffset: 0, count: .bytes(100_000), through: pipe)
    }
    #expect(spliceThrough?.errno == .brokenPipe)
    #expect(spliceThrough?.progress.bytes == 0)
    #expect(spliceThrough?.progress.discarded == 65536)
    #expect(try pipe.readableBytes == 0)
    try pipe.close()
    expectCleanSignalState()

    var scratch = try AlignedBuffer(count: 4096)
    let rw = #expect(throws: TransferFailure.self) {
      try scratch.withUnsafeMutableBytes { buffer throws(TransferFailure) in
        try source.readWriteCopy(to: s1, sourceOffset: 0, count: 100_000, buffer: buffer)
      }
    }
    #expect(rw == TransferFailure(errno: .brokenPipe, progress: .init(bytes: 0, syscalls: 2, discarded: 4096)))
    expectCleanSignalState()
    try s1.close()
  }

  @Test("single calls survive a closed peer inside withSignalGuard")
  func singleCallsGuarded() throws {
    let source = try temporaryFile(pattern(4096))
    defer { try? source.close() }
    let (sender, receiver) = try socketPair()
    try receiver.close()
    defer { try? sender.close() }
    #expect(peerGone(sender))

    #expect(throws: Errno.brokenPipe) {
      try withSignalGuard { () throws(Errno) in try source.sendfile(to: sender, sourceOffset: 0, count: 4096) }
    }
    expectCleanSignalState()

    let pipe = try Pipe()
    _ = try pipe.writeEnd.writeAll([1, 2, 3])
    #expect(throws: Errno.brokenPipe) {
      try withSignalGuard { () throws(Errno) in try pipe.readEnd.splice(to: sender, count: 3) }
    }
    expectCleanSignalState()

    // vmsplice into a pipe whose read end is closed.
    let (readEnd, writeEnd) = try Pipe().releaseDescriptors()
    try readEnd.close()
    #expect(peerGone(writeEnd))
    let memory = try AlignedBuffer(count: 10)
    #expect(throws: Errno.brokenPipe) {
      try withSignalGuard { () throws(Errno) in
        try memory.withUnsafeBytes { bytes throws(Errno) in try writeEnd.unsafeVmsplice(bytes) }
      }
    }
    try writeEnd.close()
    expectCleanSignalState()

    // The guard returns the body's value and passes other errors through.
    let value = withSignalGuard { 42 }
    #expect(value == 42)
    #expect(throws: Errno.badFileDescriptor) {
      try withSignalGuard { () throws(Errno) in
        try FileDescriptor(rawValue: -1).sendfile(to: sender, count: 1)
      }
    }
    expectCleanSignalState()
  }

  @Test("a SIGPIPE the caller had blocked is left to the caller")
  func callerBlockedSignalIsNotConsumed() throws {
    let source = try temporaryFile(pattern(10))
    defer { try? source.close() }
    let (sender, receiver) = try socketPair()
    try receiver.close()
    defer { try? sender.close() }
    #expect(peerGone(sender))
    var block = sigset_t()
    sigemptyset(&block)
    sigaddset(&block, SIGPIPE)
    var old = sigset_t()
    #expect(pthread_sigmask(SIG_BLOCK, &block, &old) == 0)

    #expect(throws: Errno.brokenPipe) {
      try withSignalGuard { () throws(Errno) in try source.sendfile(to: sender, sourceOffset: 0, count: 10) }
    }
    // The guard did not block SIGPIPE itself (the caller had), so it left it pending.
    #expect(isPending(SIGPIPE))
    #expect(isBlocked(SIGPIPE))
    // Consume it before restoring the mask, or it would kill the process.
    var zero = timespec(tv_sec: 0, tv_nsec: 0)
    #expect(sigtimedwait(&block, nil, &zero) == SIGPIPE)
    #expect(pthread_sigmask(SIG_SETMASK, &old, nil) == 0)
    expectCleanSignalState()
  }

  @Test("a peer that closes mid-transfer: EPIPE, progress covers what it read", arguments: ["sendfile", "splice", "readWrite"])
  func peerClosesMidTransfer(method: String) throws {
    let size = 8 << 20
    let data = pattern(size, seed: 6)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let (sender, receiver) = try socketPair()
    defer { try? sender.close() }
    let readLimit = 1 << 20
    let reader = TestThread { () -> ReadOutcome in
      var outcome = ReadOutcome()
      do { outcome.bytes = try readExactly(receiver, readLimit) } catch { outcome.error = error as? Errno }
      try? receiver.close()
      return outcome
    }
    let failure = #expect(throws: TransferFailure.self) {
      switch method {
      case "sendfile": _ = try source.sendfileAll(to: sender, sourceOffset: 0, count: .bytes(size))
      case "splice": _ = try source.spliceAll(to: sender, sourceOffset: 0, count: .bytes(size))
      default:
        var scratch = try AlignedBuffer(count: 1 << 16)
        _ = try scratch.withUnsafeMutableBytes { buffer throws(TransferFailure) in
          try source.readWriteCopy(to: sender, sourceOffset: 0, count: .bytes(size), buffer: buffer)
        }
      }
    }
    let read = reader.join()
    #expect(read.error == nil)
    expectSameBytes(read.bytes, Array(data[0..<readLimit]))
    // AF_UNIX: a peer that closes with unread data sets ECONNRESET on the socket, reported
    // once by the next write that sees it; whichever write comes first gets it, later ones
    // EPIPE. Both mean "the peer closed"; nothing else is acceptable.
    #expect(failure.map { [Errno.brokenPipe, .connectionReset].contains($0.errno) } == true)
    if let progress = failure?.progress {
      #expect(progress.bytes >= Int64(readLimit))
      #expect(progress.bytes + progress.discarded < Int64(size))
    }
    expectCleanSignalState()
  }
}
