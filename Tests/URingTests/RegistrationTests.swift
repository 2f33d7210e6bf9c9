// Registered buffers, registered files, provided buffer rings.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

@Suite("URing registration", .requiresIOURing)
struct RegistrationTests {
  @Test func registeredAlignedBuffersRoundTrip() throws {
    var ring = try makeRing()
    let file = try TempFile()
    var out = try AlignedBuffer(count: 8192)
    out.withUnsafeMutableBytes { b in
      for i in 0..<b.count { b[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
    }
    let written = out.withUnsafeBytes { Array($0) }
    let outAddress = out.unsafeBaseAddress
    try ring.registerBufferSlots(count: 4)
    // Both buffers move into the ring, which owns them from now on.
    let w = try ring.registerBuffer(out, at: 0)
    let r = try ring.registerBuffer(try AlignedBuffer(count: 8192), at: 3)
    #expect(w.index == 0 && r.index == 3)
    #expect(w.bytes.baseAddress == outAddress)

    let wc = try ring.perform(.writeFixed(file.fd, from: w, at: 0, userData: 1))
    #expect(wc.result == .success(8192))
    // Part of a registered buffer: 100 bytes from file offset 4000 into bytes 10..<110.
    let rc = try ring.perform(.readFixed(file.fd, into: r, range: 10..<110, at: 4000, userData: 2))
    #expect(rc.result == .success(100))
    #expect(Array(r.bytes[10..<110]) == Array(written[4000..<4100]))
    #expect(try file.bytes() == written)

    // Handed back once the kernel has released it: the same memory, with the bytes read.
    guard let input = try ring.unregisterBuffer(at: 3) else {
      Issue.record("unregisterBuffer(at: 3) handed back no buffer")
      return
    }
    #expect(input.unsafeBaseAddress == r.bytes.baseAddress)
    #expect(input.withUnsafeBytes { Array($0[10..<110]) } == Array(written[4000..<4100]))
    #expect(ring.registeredBuffersBeingReleased == 0)
    // The emptied slot: the kernel refuses with EFAULT.
    let gone = try ring.perform(.readFixed(file.fd, into: r, at: 0, userData: 3))
    #expect(gone.result == .failure(.badAddress))
    try ring.unregisterBuffers()
    #expect(throws: Errno.noSuchAddressOrDevice) { try ring.unregisterBuffers() }
  }

  @Test func registerBuffersFromRawRegions() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    var a = [UInt8](repeating: 0, count: 16)
    try a.withUnsafeMutableBytes { region in
      let bufs = try ring.unsafeRegisterBuffers([region])
      #expect(bufs.map(\.index) == [0])
      // A second table is refused while one exists.
      #expect(throws: Errno.resourceBusy) { _ = try ring.unsafeRegisterBuffers([region]) }
      _ = try [UInt8]("fixed!").withUnsafeBytes { try pipe.writeEnd.write($0) }
      let c = try ring.perform(.readFixed(pipe.readEnd, into: bufs[0], userData: 1))
      #expect(c.result == .success(6))
      try ring.unregisterBuffers()
    }
    #expect(Array(a[0..<6]) == [UInt8]("fixed!"))
  }

  @Test func registeredFilesRoundTrip() throws {
    var ring = try makeRing()
    let file = try TempFile()
    let slots = try ring.registerFiles([file.fd])
    let slot = try #require(slots.first)
    let text = [UInt8]("via fixed file")
    let w = try text.withUnsafeBytes { try ring.perform(.unsafeWrite(slot, from: $0, at: 0, userData: 1)) }
    #expect(w.result == .success(Int32(text.count)))
    var buf = [UInt8](repeating: 0, count: text.count)
    let r = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRead(slot, into: $0, at: 0, userData: 2)) }
    #expect(r.result == .success(Int32(text.count)))
    #expect(buf == text)
    #expect(try ring.perform(.fsync(slot, userData: 3)).result == .success(0))

    // Empty the slot: requests on it now fail with EBADF.
    #expect(try ring.updateRegisteredFiles([nil], at: 0) == 1)
    let empty = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRead(slot, into: $0, at: 0, userData: 4)) }
    #expect(empty.result == .failure(.badFileDescriptor))
    try ring.unregisterFiles()
  }

  @Test func openAcceptAndCloseDirectIntoSlots() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("direct"))
    let slots = try ring.registerFileSlots(count: 4)
    let open = try ring.perform(.openat(FilePath(file.path), .readOnly, into: slots[2], userData: 1))
    #expect(open.result == .success(0))
    var buf = [UInt8](repeating: 0, count: 6)
    let r = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRead(slots[2], into: $0, at: 0, userData: 2)) }
    #expect(r.result == .success(6))
    #expect(buf == [UInt8]("direct"))
    #expect(try ring.perform(.close(slots[2], userData: 3)).result == .success(0))
    #expect(try ring.perform(.close(slots[2], userData: 4)).result == .failure(.badFileDescriptor))

    // Splice and tee with registered operands.
    let pipe = try TestPipe(), pipe2 = try TestPipe()
    try ring.updateRegisteredFiles([file.fd, pipe.writeEnd, pipe.readEnd, pipe2.writeEnd], at: 0)
    let s = try ring.perform(.splice(from: slots[0], sourceOffset: 0, to: slots[1], count: 6, userData: 5))
    #expect(s.result == .success(6))
    let t = try ring.perform(.tee(from: slots[2], to: slots[3], count: 6, userData: 6))
    #expect(t.result == .success(6))
    #expect(try readExactly(pipe2.readEnd, 6) == [UInt8]("direct"))
    #expect(try readExactly(pipe.readEnd, 6) == [UInt8]("direct"))

    // Accept straight into a slot, then receive through it.
    let listener = try LoopbackListener()
    try ring.prepare(.accept(listener.fd, into: slots[3], userData: 7))
    try ring.submit()
    let client = try listener.connectClient()
    defer { try? client.close() }
    let acc = try #require(try ring.waitCompletion(timeout: .seconds(5)))
    #expect(acc.userData == 7)
    #expect(acc.result == .success(0))
    _ = try [UInt8]("slot").withUnsafeBytes { try client.write($0) }
    var rb = [UInt8](repeating: 0, count: 4)
    let rc = try rb.withUnsafeMutableBytes {
      try ring.perform(.unsafeRecv(slots[3], into: $0, flags: Int32(MSG_WAITALL), userData: 8))
    }
    #expect(rc.result == .success(4))
    #expect(rb == [UInt8]("slot"))
  }

  @Test(.requires(.sendZeroCopy))
  func sendZeroCopyFromARegisteredBuffer() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    let client = try listener.connectClient()
    defer { try? client.close() }
    let server = try listener.accept()
    defer { try? server.close() }
    var buffer = try AlignedBuffer(count: 4096)
    buffer.withUnsafeMutableBytes { for i in 0..<$0.count { $0[i] = UInt8(truncatingIfNeeded: i) } }
    let sent = buffer.withUnsafeBytes { Array($0[96..<4096]) }
    try ring.registerBufferSlots(count: 1)
    let reg = try ring.registerBuffer(buffer, at: 0)
    try ring.prepare(.sendZeroCopy(client, from: reg, range: 96..<4096, userData: 9))
    try ring.submit()
    let cs = try ring.waitCompletions(2, timeout: .seconds(5))
    #expect(cs.map(\.zeroCopy) == [.sent(.success(4000), notificationFollows: true), .notification(copied: true)])
    #expect(try readExactly(server, 4000) == sent)
    try ring.unregisterBuffers()
  }

  @Test func recvMultishotWithProvidedBufferRingRecoversFromENOBUFS() throws {
    var ring = try makeRing()
    let pair = try SocketPair()
    let group = try ring.registerBufferRing(group: 7, count: 4, bufferSize: 8)
    let payload = (0..<64).map { UInt8(65 + $0 % 26) }
    _ = try payload.withUnsafeBytes { try pair.a.write($0) }

    var received: [UInt8] = []
    var rounds = 0
    var sawENOBUFS = false
    var armed = false
    while received.count < payload.count && rounds < 20 {
      rounds += 1
      try ring.prepare(.recvMultishot(pair.b, bufferGroup: group, userData: 50))
      try ring.submit()
      armed = true
      var consumed: [UInt16] = []
      while armed && received.count < payload.count {
        let c = try #require(try ring.waitCompletion(timeout: .seconds(5)))
        #expect(c.userData == 50)
        switch c.result {
        case .success(let n):
          let id = try #require(c.bufferID)
          #expect(c.flags.contains(.buffer))
          #expect(n > 0 && n <= 8)
          let bytes = ring.providedBytes(of: c, in: group)
          received += try #require(bytes)
          consumed.append(id)
        case .failure(let e):
          // The group ran dry: the multishot request ended (no MORE flag).
          #expect(e == .noBufferSpace)
          sawENOBUFS = true
        }
        armed = c.hasMore
      }
      // Recovery: give the buffers back, then re-arm (the loop's next round).
      for id in consumed { ring.recycleBuffer(id, in: group) }
    }
    #expect(received == payload)
    #expect(sawENOBUFS)
    #expect(rounds == 2)  // 4 buffers x 8 bytes per round, 64 bytes

    // Still armed with nothing to read: cancel it, then unregister the group.
    #expect(armed)
    try ring.prepare(.cancel(userData: 50, userData: 52))
    try ring.submit()
    let end = try ring.waitCompletions(2, timeout: .seconds(5))
    let last = try #require(end.first { $0.userData == 50 })
    #expect(last.result == .failure(.canceled))
    #expect(!last.hasMore)
    try ring.unregisterBufferRing(group)
  }

  @Test func singleShotRecvWithBufferSelect() throws {
    var ring = try makeRing()
    let pair = try SocketPair()
    let group = try ring.registerBufferRing(group: 1, count: 2, bufferSize: 16)
    _ = try [UInt8]("select").withUnsafeBytes { try pair.a.write($0) }
    let c = try ring.perform(.recv(pair.b, bufferGroup: group, userData: 1))
    #expect(c.result == .success(6))
    #expect(!c.hasMore)
    #expect(ring.providedBytes(of: c, in: group) == [UInt8]("select"))
    ring.recycleBuffer(try #require(c.bufferID), in: group)
  }
}
