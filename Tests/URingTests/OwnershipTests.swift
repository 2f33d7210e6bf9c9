// Memory the kernel holds must be owned: tests that end every Swift value's lifetime as
// early as the language allows around a pointer the kernel keeps (the value is a
// temporary, or is moved into the ring, or the ring itself is dropped), then let the kernel
// write, and check that no allocation made afterwards was written. They matter in release
// builds, where a value dies at its last use even inside its scope (`make test` runs this
// suite with `-c release` too), and under AddressSanitizer (`make sanitize`).

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

/// Allocations made right after memory may have been freed: same size and alignment, so the
/// allocator hands out freed memory first. Zeroed; `written` says whether anything changed them.
final class Victims {
  let regions: [UnsafeMutableRawBufferPointer]

  init(count: Int = 8, size: Int = 4096, alignment: Int = 4096) {
    regions = (0..<count).map { _ in
      let p = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: alignment)
      p.initializeMemory(as: UInt8.self, repeating: 0)
      return p
    }
  }

  deinit { for r in regions { r.deallocate() } }

  /// The indices of the allocations that are no longer all zeros.
  var written: [Int] { regions.indices.filter { regions[$0].contains { $0 != 0 } } }
}

@Suite("URing ownership", .requiresIOURing)
struct OwnershipTests {
  static let pattern = [UInt8](repeating: 0xAB, count: 4096)

  /// The defect of issue 14: the registered buffer is a temporary, so it died right after
  /// the registration call under the old `borrowing` API; allocations made next got its
  /// memory, and the READ_FIXED wrote into them (failed in debug and release builds; the
  /// commit that changed the API shows the run). Now the ring owns the buffer.
  @Test func registeredBufferOutlivesItsLastUse() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: OwnershipTests.pattern)
    try ring.registerBufferSlots(count: 1)
    let registered = try ring.registerBuffer(try AlignedBuffer(count: 4096), at: 0)
    let victims = Victims()
    let c = try ring.perform(.readFixed(file.fd, into: registered, at: 0, userData: 1))
    #expect(c.result == .success(4096))
    #expect(victims.written.isEmpty, "allocations made after the registration were written by READ_FIXED: \(victims.written)")
    #expect(Array(registered.bytes) == OwnershipTests.pattern)
  }

  /// A registration made in a helper whose buffer is a local: the helper returns only the
  /// description (what a consumer who read "the buffer is borrowed" might write).
  @Test func registeredBufferOfAReturnedHelper() throws {
    func register(_ ring: inout IOURing) throws -> IOURing.RegisteredBuffer {
      let local = try AlignedBuffer(count: 4096)
      return try ring.registerBuffer(local, at: 0)
    }
    var ring = try makeRing()
    let file = try TempFile(contents: OwnershipTests.pattern)
    try ring.registerBufferSlots(count: 1)
    let registered = try register(&ring)
    let victims = Victims()
    #expect(try ring.perform(.readFixed(file.fd, into: registered, at: 0, userData: 1)).result == .success(4096))
    #expect(victims.written.isEmpty)
  }

  /// A READ_FIXED waits on an empty pipe while the table (owned by the ring) is removed: the
  /// memory stays until the read completes, then the kernel's release is consumed.
  @Test func ownedTableOutlivesUnregistrationWhileARequestUsesIt() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    let buffers = try ring.registerBuffers(count: 2, size: 4096)
    try ring.prepare(.readFixed(pipe.readEnd, into: buffers[1], userData: 7))
    try ring.submit()
    try ring.unregisterBuffers()
    #expect(ring.registeredBuffersBeingReleased == 2)
    let victims = Victims()
    _ = try OwnershipTests.pattern.withUnsafeBytes { try pipe.writeEnd.write($0) }
    let c = try ring.waitCompletion()
    #expect(c.userData == 7 && c.result == .success(4096))
    #expect(victims.written.isEmpty)
    // Both releases arrive (slot 0 at once, slot 1 after the read) and are never delivered.
    let deadline = ContinuousClock.now + .seconds(5)
    while ring.registeredBuffersBeingReleased > 0 && ContinuousClock.now < deadline {
      let delivered = try ring.waitCompletion(timeout: .milliseconds(20))
      #expect(delivered == nil)
    }
    #expect(ring.registeredBuffersBeingReleased == 0)
  }

  /// `unregisterBuffer(at:)` waits for the read that uses the slot, then hands the buffer back.
  @Test func unregisterBufferWaitsForTheKernelAndHandsTheBufferBack() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    try ring.registerBufferSlots(count: 1)
    let registered = try ring.registerBuffer(try AlignedBuffer(count: 4096), at: 0)
    try ring.prepare(.readFixed(pipe.readEnd, into: registered, userData: 3))
    try ring.submit()
    // Before the writer exists: the write comes at least 50 ms after `start`, however late
    // this thread runs again after creating the writer.
    let start = ContinuousClock.now
    let writer = Thread {
      usleep(50_000)
      _ = try? OwnershipTests.pattern.withUnsafeBytes { try pipe.writeEnd.write($0) }
    }
    guard let buffer = try ring.unregisterBuffer(at: 0) else {
      Issue.record("no buffer handed back")
      return
    }
    writer.join()
    #expect(ContinuousClock.now - start >= .milliseconds(40), "returned before the read that used the buffer completed")
    #expect(buffer.withUnsafeBytes { Array($0) } == OwnershipTests.pattern)
    // The read's completion was kept for the reaping methods.
    let kept = try ring.waitCompletion()
    #expect(kept.userData == 3)
  }

  /// A read into a buffer moved into the request (a temporary: nothing else refers to it),
  /// pending on an empty pipe: the buffer comes back with the bytes, after the completion.
  @Test func ownedReadHandsTheBufferBackAfterItsCompletion() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 4096), userData: 11))
    try ring.submit()
    #expect(ring.ownedRequestsInFlight == 1)
    #expect(ring.returnedBufferCount == 0)  // not before the completion
    let victims = Victims()
    _ = try OwnershipTests.pattern.withUnsafeBytes { try pipe.writeEnd.write($0) }
    let done = try ring.waitCompletion()
    #expect(done.result == .success(4096))
    #expect(victims.written.isEmpty)
    #expect(ring.ownedRequestsInFlight == 0 && ring.returnedBufferCount == 1)
    let buffer = ring.takeBuffer(userData: 11)
    let bytes = buffer?.withUnsafeBytes { Array($0) }
    #expect(bytes == OwnershipTests.pattern)
    #expect(ring.returnedBufferCount == 0)
  }

  /// A cancelled receive: the buffer comes back only with the `ECANCELED` completion, untouched.
  @Test func cancelledOwnedReceiveReturnsTheBufferUntouched() throws {
    var ring = try makeRing()
    let pair = try SocketPair()
    try ring.prepare(.recv(pair.b, into: try AlignedBuffer(count: 512), range: 100..<200, userData: 21))
    try ring.submit()
    try ring.prepare(.cancel(userData: 21, userData: 22))
    try ring.submit()
    let completions = try ring.waitCompletions(2, timeout: .seconds(5))
    #expect(completions.first { $0.userData == 21 }?.result == .failure(.canceled))
    let buffer = ring.takeBuffer(userData: 21)
    let untouched = buffer?.withUnsafeBytes { $0.allSatisfy { $0 == 0 } }
    #expect(untouched == true)
    // Nothing was consumed from the socket.
    _ = try [UInt8]("after").withUnsafeBytes { try pair.a.write($0) }
    #expect(try readExactly(pair.b, 5) == [UInt8]("after"))
  }

  /// The ring is dropped with an owned read pending on a pipe: its end cancels the read and
  /// waits for the kernel before freeing the buffer; bytes written afterwards stay in the
  /// pipe and land in no allocation made after the drop.
  @Test func droppedRingCancelsAndWaitsBeforeFreeingOwnedBuffers() throws {
    try Self.dropRingWithReadsPending { ring, pipe in
      try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 4096), userData: 1))
      try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 4096), userData: 2))
    }
  }

  /// The ring is dropped with an owned registered buffer and a READ_FIXED pending on it.
  @Test func droppedRingReleasesItsRegisteredBuffersSafely() throws {
    try Self.dropRingWithReadsPending { ring, pipe in
      try ring.registerBufferSlots(count: 1)
      let registered = try ring.registerBuffer(try AlignedBuffer(count: 4096), at: 0)
      try ring.prepare(.readFixed(pipe.readEnd, into: registered, userData: 1))
    }
  }

  /// Makes a ring, lets `prepare` queue reads on an empty pipe into memory the ring owns,
  /// submits, and drops the ring. Then: the drop took well under the 2 s after which a ring
  /// gives up and leaks (its cancellation worked), bytes written to the pipe afterwards
  /// land in no allocation made after the drop, and they are still in the pipe.
  static func dropRingWithReadsPending(_ prepare: (inout IOURing, TestPipe) throws -> Void) throws {
    let pipe = try TestPipe()
    let start = ContinuousClock.now
    do {
      var ring = try makeRing()
      try prepare(&ring, pipe)
      try ring.submit()
    }
    #expect(ContinuousClock.now - start < .seconds(1))
    let victims = Victims()
    _ = try OwnershipTests.pattern.withUnsafeBytes { try pipe.writeEnd.write($0) }
    usleep(20_000)
    #expect(victims.written.isEmpty)
    #expect(try readExactly(pipe.readEnd, 4096) == OwnershipTests.pattern)
  }

  /// SEND_ZC from an owned buffer: the buffer is not handed back after the first completion,
  /// only after the notification.
  @Test(.requires(.sendZeroCopy))
  func ownedZeroCopySendHandsTheBufferBackAfterTheNotification() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    let client = try listener.connectClient()
    defer { try? client.close() }
    let server = try listener.accept()
    defer { try? server.close() }
    var buffer = try AlignedBuffer(count: 8192)
    buffer.withUnsafeMutableBytes { for i in 0..<$0.count { $0[i] = UInt8(truncatingIfNeeded: i &* 7) } }
    let sent = buffer.withUnsafeBytes { Array($0) }
    try ring.prepare(.sendZeroCopy(client, from: buffer, userData: 31))
    try ring.submit()
    var sawNotification = false
    while !sawNotification {
      let c = try #require(try ring.waitCompletion(timeout: .seconds(5)))
      if c.isNotification {
        sawNotification = true
      } else {
        #expect(c.result == .success(8192) && c.hasMore)
        #expect(ring.returnedBufferCount == 0, "handed back before the notification")
      }
    }
    let back = ring.takeBuffer(userData: 31)
    let backBytes = back?.withUnsafeBytes { Array($0) }
    #expect(backBytes == sent)
    #expect(try readExactly(server, 8192) == sent)
  }

  /// `statx` into a buffer object nobody else refers to: the request keeps it alive.
  @Test func statxKeepsItsBufferAlive() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: OwnershipTests.pattern)
    try ring.prepare(.statx(FilePath(file.path), into: IOURing.StatxBuffer(), userData: 41))
    let victims = Victims(count: 16, size: 256, alignment: 16)
    try ring.submit()
    let status = try ring.waitCompletion()
    #expect(status.result == .success(0))
    #expect(victims.written.isEmpty)
    #expect(ring.ownedRequestsInFlight == 0)
  }

  /// A connect whose address is copied into the request and kept until the completion.
  @Test func connectCopiesItsAddress() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    let socket = try LoopbackListener.makeSocket()
    defer { try? socket.close() }
    var storage = sockaddr_storage()
    withUnsafeMutableBytes(of: &storage) { raw in
      withUnsafeBytes(of: listener.address) { raw.copyMemory(from: $0) }
    }
    let c = try ring.perform(.connect(socket, to: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size), userData: 5))
    #expect(c.result == .success(0))
    try listener.accept().close()
  }

  /// A provided-buffer ring unregistered while a multishot receive is armed on it: its
  /// memory stays until the receive has ended (here: cancelled), then is freed.
  @Test func bufferRingOutlivesUnregistrationWhileAReceiveIsArmed() throws {
    var ring = try makeRing()
    let pair = try SocketPair()
    let group = try ring.registerBufferRing(group: 3, count: 4, bufferSize: 64)
    try ring.prepare(.recvMultishot(pair.b, bufferGroup: group, userData: 60))
    try ring.submit()
    try ring.unregisterBufferRing(group)
    try ring.prepare(.cancel(userData: 60, userData: 61))
    try ring.submit()
    let cs = try ring.waitCompletions(2, timeout: .seconds(5))
    #expect(cs.first { $0.userData == 60 }.map { !$0.hasMore } == true)
    // Nothing was consumed from the socket.
    _ = try [UInt8]("still here").withUnsafeBytes { try pair.a.write($0) }
    #expect(try readExactly(pair.b, 10) == [UInt8]("still here"))
  }
}

/// `submit(waitingFor:timeout:)`, the bounded wait the transfer rings use to look at their
/// cancellation flag: it submits, and returns at the timeout when nothing completes.
@Suite("URing bounded waits", .requiresIOURing)
struct BoundedWaitTests {
  @Test func submitWaitingWithATimeoutReturnsWhenNothingCompletes() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 16), userData: 1))
    let start = ContinuousClock.now
    let submitted = try ring.submit(waitingFor: 1, timeout: .milliseconds(30))
    let waited = start.duration(to: .now)
    #expect(submitted == 1)
    #expect(waited >= .milliseconds(25) && waited < .seconds(2), "waited \(waited)")
    #expect(ring.readyCompletions == 0)
    // A completion ends the wait at once.
    _ = try [UInt8]("x").withUnsafeBytes { try pipe.writeEnd.write($0) }
    try ring.submit(waitingFor: 1, timeout: .seconds(5))
    let c = ring.peekCompletion()
    #expect(c?.userData == 1 && c?.result == .success(1))
  }
}

/// Misuses that would let the kernel use memory twice or forever are stopped at once.
@Suite("URing ownership preconditions", .requiresIOURing)
struct OwnershipPreconditionTests {
  @Test func twoOwnedRequestsWithOneUserData() async {
    await #expect(processExitsWith: .signal(SIGILL)) {
      var ring = try makeRing()
      let pipe = try TestPipe()
      try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 64), userData: 9))
      try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 64), userData: 9))
    }
  }

  @Test func ownedRequestSkippingItsCompletion() async {
    await #expect(processExitsWith: .signal(SIGILL)) {
      var ring = try makeRing()
      let pipe = try TestPipe()
      try ring.prepare(
        IOURing.Request.read(pipe.readEnd, into: try AlignedBuffer(count: 64), userData: 9).skipSuccessCompletion())
    }
  }

  @Test func reservedUserDataWhileOwning() async {
    await #expect(processExitsWith: .signal(SIGILL)) {
      var ring = try makeRing()
      let pipe = try TestPipe()
      try ring.prepare(.read(pipe.readEnd, into: try AlignedBuffer(count: 64), userData: 1))
      try ring.prepare(.nop(userData: IOURing.reservedUserData.lowerBound + 5))
    }
  }

  @Test func copiedChainPreparedTwice() async {
    await #expect(processExitsWith: .signal(SIGILL)) {
      var ring = try makeRing()
      let file = try TempFile(contents: [1, 2, 3])
      let chain = IOURing.LinkedChain().appending(.read(file.fd, into: try AlignedBuffer(count: 64), at: 0, userData: 4))
      let copy = chain
      try ring.prepare(chain)
      _ = try ring.submit(waitingFor: 1)
      _ = try ring.waitCompletion()
      try ring.prepare(copy)  // the same buffer again, maybe already taken back: refused
    }
  }
}

/// A thread for tests (join waits for `body`).
final class Thread: @unchecked Sendable {
  private var thread = pthread_t()
  private let body: () -> Void

  init(_ body: @escaping () -> Void) {
    self.body = body
    let rc = pthread_create(
      &thread, nil,
      { context in
        let me = Unmanaged<Thread>.fromOpaque(context!).takeUnretainedValue()
        me.body()
        return nil
      }, Unmanaged.passUnretained(self).toOpaque())
    precondition(rc == 0, "pthread_create: \(rc)")
  }

  func join() { pthread_join(thread, nil) }
}
