// Ring semantics: linked chains, cancellation, timeouts, drain, overflow, batching.

import Glibc
import SystemPackage
import Testing
import URing

@Suite("URing semantics", .requiresIOURing)
struct SemanticsTests {
  @Test func failingSoftLinkCancelsTheRestOfTheChain() throws {
    var ring = try makeRing()
    var byte: UInt8 = 0
    let chain = try withUnsafeMutableBytes(of: &byte) { buf in
      var chain = IOURing.LinkedChain()
      chain.append(.unsafeRead(FileDescriptor(rawValue: 999_999), into: buf, at: 0, userData: 1))
      chain.append(.nop(userData: 2))
      chain.append(.nop(userData: 3))
      try ring.prepare(chain)
      try ring.submit()
      return chain
    }
    let completions = try ring.waitCompletions(3, timeout: .seconds(5))
    #expect(completions.map(\.userData) == [1, 2, 3])
    #expect(completions.map(\.result) == [.failure(.badFileDescriptor), .failure(.canceled), .failure(.canceled)])
    let outcome = chain.outcome(of: completions)
    #expect(!outcome.succeeded)
    #expect(outcome.isComplete)
    #expect(outcome.brokenAt == 0)
    #expect(outcome.error == .badFileDescriptor)
    #expect(outcome.cancelled == [1, 2])
  }

  @Test func hardLinkKeepsGoingAfterAFailure() throws {
    var ring = try makeRing()
    var byte: UInt8 = 0
    try withUnsafeMutableBytes(of: &byte) { buf in
      var chain = IOURing.LinkedChain(link: .hard)
      chain.append(.unsafeRead(FileDescriptor(rawValue: 999_999), into: buf, at: 0, userData: 1))
      chain.append(.nop(userData: 2))
      try ring.prepare(chain)
      try ring.submit()
      let cs = try ring.waitCompletions(2, timeout: .seconds(5))
      #expect(cs.map(\.result) == [.failure(.badFileDescriptor), .success(0)])
      let outcome = chain.outcome(of: cs)
      #expect(outcome.cancelled.isEmpty)
      #expect(outcome.brokenAt == 0)
      #expect(!outcome.succeeded)
    }
  }

  /// Members keep their own link after `reserveCapacity`: a hard link then a soft one —
  /// the failing first member does not cancel the second (hard), whose success lets the
  /// third run; `links` and `userData` read back in order.
  @Test func perMemberLinksSurviveReservedCapacity() throws {
    var ring = try makeRing()
    var byte: UInt8 = 0
    try withUnsafeMutableBytes(of: &byte) { buf in
      var chain = IOURing.LinkedChain()
      chain.reserveCapacity(3)
      chain.append(.unsafeRead(FileDescriptor(rawValue: 999_999), into: buf, at: 0, userData: 1), link: .hard)
      chain.append(.nop(userData: 2))
      chain.append(.nop(userData: 3))
      #expect(chain.count == 3)
      #expect(chain.links == [.hard, .soft, .soft])
      #expect(chain.userData == [1, 2, 3])
      #expect(chain.opcodes == [.read, .nop, .nop])
      try ring.prepare(chain)
      try ring.submit()
      let cs = try ring.waitCompletions(3, timeout: .seconds(5))
      #expect(cs.map(\.result) == [.failure(.badFileDescriptor), .success(0), .success(0)])
      #expect(chain.outcome(of: cs).cancelled.isEmpty)
    }
  }

  /// A chain emptied with `removeAll(keepingCapacity:)` and filled again submits only its
  /// new members, linked by their own links; its default link is kept.
  @Test func emptiedChainIsReusable() throws {
    var ring = try makeRing()
    var chain = IOURing.LinkedChain(link: .hard)
    chain.append(.nop(userData: 1))
    chain.append(.nop(userData: 2))
    try ring.prepare(chain)
    try ring.submit()
    #expect(try ring.waitCompletions(2, timeout: .seconds(5)).map(\.userData) == [1, 2])
    chain.removeAll(keepingCapacity: true)
    #expect(chain.count == 0)
    #expect(chain.defaultLink == .hard)
    chain.append(.nop(userData: 3))
    chain.append(.nop(userData: 4), link: .soft)
    chain.append(.nop(userData: 5))
    #expect(chain.userData == [3, 4, 5])
    #expect(chain.links == [.hard, .soft, .hard])
    try ring.prepare(chain)
    try ring.submit()
    let cs = try ring.waitCompletions(3, timeout: .seconds(5))
    #expect(cs.map(\.userData) == [3, 4, 5])
    #expect(cs.map(\.result) == [.success(0), .success(0), .success(0)])
    chain.removeAll()
    #expect(chain.count == 0)
  }

  @Test func shortReadBreaksASoftLink() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("ten bytes!"))
    var buf = [UInt8](repeating: 0, count: 100)
    try buf.withUnsafeMutableBytes { b in
      let chain = IOURing.LinkedChain().appending(.unsafeRead(file.fd, into: b, at: 0, userData: 1)).appending(.nop(userData: 2))
      try ring.prepare(chain)
      try ring.submit()
      let cs = try ring.waitCompletions(2, timeout: .seconds(5))
      #expect(cs.map(\.result) == [.success(10), .failure(.canceled)])
      let outcome = chain.outcome(of: cs)
      #expect(outcome.brokenAt == 0)
      #expect(outcome.error == nil)
      #expect(outcome.cancelled == [1])
      #expect(outcome.description.contains("short transfer"))
    }
  }

  @Test func successfulChainRunsInOrder() throws {
    var ring = try makeRing()
    let file = try TempFile()
    let a = [UInt8]("first,"), b = [UInt8]("second")
    try a.withUnsafeBytes { pa in
      try b.withUnsafeBytes { pb in
        var chain = IOURing.LinkedChain()
        chain.append(.unsafeWrite(file.fd, from: pa, at: 0, userData: 10))
        chain.append(.unsafeWrite(file.fd, from: pb, at: 6, userData: 11))
        chain.append(.fsync(file.fd, userData: 12))
        try ring.prepare(chain)
        try ring.submit()
        let cs = try ring.waitCompletions(3, timeout: .seconds(5))
        #expect(cs.map(\.userData) == [10, 11, 12])
        #expect(chain.outcome(of: cs).succeeded)
        #expect(chain.outcome(of: cs).brokenAt == nil)
      }
    }
    #expect(try file.bytes() == a + b)
  }

  @Test func timeoutFiresWithETIME() throws {
    var ring = try makeRing()
    let start = ContinuousClock.now
    let c = try ring.perform(.timeout(.milliseconds(20), userData: 77))
    let elapsed = ContinuousClock.now - start
    #expect(c.userData == 77)
    #expect(c.result == .failure(.timeout))
    #expect(elapsed >= .milliseconds(19))
  }

  @Test func timeoutCompletesEarlyWhenCountIsReached() throws {
    var ring = try makeRing()
    try ring.prepare(.timeout(.seconds(10), completionCount: 1, userData: 1))
    try ring.prepare(.nop(userData: 2))
    try ring.submit()
    let cs = try ring.waitCompletions(2, timeout: .seconds(5))
    #expect(Set(cs.map(\.userData)) == [1, 2])
    #expect(cs.first { $0.userData == 1 }?.result == .success(0))
  }

  @Test func timeoutRemoveCancelsTheTimer() throws {
    var ring = try makeRing()
    try ring.prepare(.timeout(.seconds(10), userData: 1))
    try ring.submit()
    try ring.prepare(.timeoutRemove(target: 1, userData: 2))
    try ring.submit()
    let cs = try ring.waitCompletions(2, timeout: .seconds(5))
    #expect(cs.first { $0.userData == 1 }?.result == .failure(.canceled))
    #expect(cs.first { $0.userData == 2 }?.result == .success(0))
  }

  @Test func linkTimeoutCancelsAReadOnAnEmptyPipe() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    var buf = [UInt8](repeating: 0, count: 8)
    try buf.withUnsafeMutableBytes { b in
      var chain = IOURing.LinkedChain()
      chain.append(.unsafeRead(pipe.readEnd, into: b, userData: 1))
      chain.append(.linkTimeout(.milliseconds(20), userData: 2))
      try ring.prepare(chain)
      try ring.submit()
      let cs = try ring.waitCompletions(2, timeout: .seconds(5))
      #expect(cs.first { $0.userData == 1 }?.result == .failure(.canceled))
      #expect(cs.first { $0.userData == 2 }?.result == .failure(.timeout))
      let outcome = chain.outcome(of: cs)
      #expect(outcome.brokenAt == 1)
      #expect(outcome.cancelled == [0])
    }
  }

  @Test func linkTimeoutIsCancelledWhenTheReadFinishesInTime() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    _ = try [UInt8]("ready").withUnsafeBytes { try pipe.writeEnd.write($0) }
    var buf = [UInt8](repeating: 0, count: 8)
    try buf.withUnsafeMutableBytes { b in
      let chain = IOURing.LinkedChain()
        .appending(.unsafeRead(pipe.readEnd, into: b, userData: 1))
        .appending(.linkTimeout(.seconds(5), userData: 2))
      try ring.prepare(chain)
      try ring.submit()
      let cs = try ring.waitCompletions(2, timeout: .seconds(5))
      #expect(cs.first { $0.userData == 1 }?.result == .success(5))
      #expect(cs.first { $0.userData == 2 }?.result == .failure(.canceled))
      #expect(chain.outcome(of: cs).succeeded)
    }
  }

  @Test func cancelByUserDataGivesTheReadECANCELED() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    var buf = [UInt8](repeating: 0, count: 8)
    try buf.withUnsafeMutableBytes { b in
      try ring.prepare(.unsafeRead(pipe.readEnd, into: b, userData: 100))
      try ring.submit()
      #expect(try ring.waitCompletion(timeout: .milliseconds(10)) == nil)
      try ring.prepare(.cancel(userData: 100, userData: 101))
      try ring.submit()
      // The read's buffer is in use until the read's own completion: wait for both.
      let cs = try ring.waitCompletions(2, timeout: .seconds(5))
      #expect(cs.first { $0.userData == 100 }?.result == .failure(.canceled))
      #expect(cs.first { $0.userData == 101 }?.result == .success(0))
    }
    // Nothing left to cancel: ENOENT.
    #expect(try ring.perform(.cancel(userData: 100, userData: 102)).result == .failure(.noSuchFileOrDirectory))
  }

  @Test func cancelByFileAndCancelAll() throws {
    var ring = try makeRing()
    let p1 = try TestPipe(), p2 = try TestPipe()
    var bufs = [UInt8](repeating: 0, count: 32)
    try bufs.withUnsafeMutableBytes { b in
      let s = { (i: Int) in UnsafeMutableRawBufferPointer(rebasing: b[(i * 8)..<(i * 8 + 8)]) }
      try ring.prepare(.unsafeRead(p1.readEnd, into: s(0), userData: 1))
      try ring.prepare(.unsafeRead(p1.readEnd, into: s(1), userData: 2))
      try ring.prepare(.unsafeRead(p2.readEnd, into: s(2), userData: 3))
      try ring.prepare(.unsafeRead(p2.readEnd, into: s(3), userData: 4))
      try ring.submit()
      try ring.prepare(.cancel(file: p1.readEnd, userData: 10))
      try ring.submit()
      var cs = try ring.waitCompletions(3, timeout: .seconds(5))
      #expect(cs.first { $0.userData == 10 }?.result == .success(2))
      #expect(cs.filter { $0.userData == 1 || $0.userData == 2 }.map(\.result) == [.failure(.canceled), .failure(.canceled)])

      try ring.prepare(.cancelAll(userData: 20))
      try ring.submit()
      cs = try ring.waitCompletions(3, timeout: .seconds(5))
      #expect(cs.first { $0.userData == 20 }?.result == .success(2))
      #expect(Set(cs.filter { $0.result == .failure(.canceled) }.map(\.userData)) == [3, 4])
    }
  }

  @Test func drainWaitsForEarlierRequests() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    var buf = [UInt8](repeating: 0, count: 4)
    try buf.withUnsafeMutableBytes { b in
      try ring.prepare(.unsafeRead(pipe.readEnd, into: b, userData: 1))
      try ring.prepare(.nop(userData: 2).drain())
      try ring.submit()
      #expect(try ring.waitCompletion(timeout: .milliseconds(30)) == nil)
      _ = try [UInt8]("go").withUnsafeBytes { try pipe.writeEnd.write($0) }
      let cs = try ring.waitCompletions(2, timeout: .seconds(5))
      #expect(cs.map(\.userData) == [1, 2])
      #expect(cs.map(\.result) == [.success(2), .success(0)])
    }
  }

  @Test func tinyCompletionQueueLosesNoCompletion() throws {
    // 2 SQEs, 4 CQEs, 1,000 requests submitted before any reaping: the kernel keeps the
    // overflow (IORING_FEAT_NODROP) and the reaping loop flushes it.
    var ring = try IOURing(entries: 2, completionQueueEntries: 4)
    #expect(ring.submissionQueueCapacity == 2)
    #expect(ring.completionQueueCapacity == 4)
    for i in 0..<1000 {
      try ring.prepare(.nop(userData: UInt64(i)))
    }
    try ring.submit()
    var seen: [UInt64] = []
    var sawOverflow = ring.hasOverflow
    while seen.count < 1000 {
      let n = ring.forEachCompletion { c in
        #expect(c.result == .success(0))
        seen.append(c.userData)
      }
      if n == 0 {
        sawOverflow = sawOverflow || ring.hasOverflow
        guard let c = try ring.waitCompletion(timeout: .seconds(5)) else { break }
        seen.append(c.userData)
      }
    }
    #expect(seen.count == 1000)
    #expect(Set(seen) == Set(0..<1000))
    #expect(sawOverflow)
  }

  @Test func throwingConsumerLosesNoCompletion() throws {
    struct Stop: Error {}
    var ring = try makeRing()
    for i in 0..<10 { try ring.prepare(.nop(userData: UInt64(i))) }
    try ring.submit(waitingFor: 10)
    var first: [UInt64] = []
    #expect(throws: Stop.self) {
      try ring.forEachCompletion { (c) throws(Stop) in
        first.append(c.userData)
        if first.count == 3 { throw Stop() }
      }
    }
    #expect(first == [0, 1, 2])
    #expect(ring.readyCompletions == 7)
    #expect(ring.readyCompletionList().map(\.userData) == Array(3..<10))
  }

  @Test func performKeepsOtherCompletionsForLater() throws {
    var ring = try makeRing()
    try ring.prepare(.nop(userData: 1))
    try ring.prepare(.nop(userData: 2))
    let c = try ring.perform(.nop(userData: 3))
    #expect(c.userData == 3)
    #expect(ring.readyCompletionList().map(\.userData) == [1, 2])
  }

  @Test func batchedReapingOfManyCompletions() throws {
    var ring = try IOURing(entries: 256)
    for i in 0..<256 { try ring.prepare(.nop(userData: UInt64(i))) }
    #expect(ring.pendingSubmissions == 256)
    #expect(try ring.submit(waitingFor: 256) == 256)
    #expect(ring.readyCompletions == 256)
    var order: [UInt64] = []
    #expect(ring.forEachCompletion { order.append($0.userData) } == 256)
    #expect(order == (0..<256).map(UInt64.init))
    #expect(ring.peekCompletion() == nil)
  }
}
