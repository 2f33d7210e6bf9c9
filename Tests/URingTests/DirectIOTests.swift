// O_DIRECT through the ring: checked request factories, registered (fixed) buffers and a
// registered file, byte-exact round trips, misaligned requests refused when built.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

/// A deterministic pattern (xorshift32).
private func directPattern(_ count: Int, seed: UInt32) -> [UInt8] {
  var state = seed
  return (0..<count).map { _ in
    state ^= state << 13
    state ^= state >> 17
    state ^= state << 5
    return UInt8(truncatingIfNeeded: state)
  }
}

@Suite("io_uring with O_DIRECT", .requiresIOURing)
struct IOURingDirectIOTests {
  @Test("registered buffers + registered file: aligned writes then reads are byte-exact")
  func fixedRoundTrip() throws {
    let file = try TempFile()
    let direct = try file.fd.reopen(.readWrite, options: .direct)
    defer { try? direct.close() }
    let alignment = try direct.directIOAlignment()
    var ring = try makeRing()
    let blocks = 8
    var memory = try AlignedBuffer(count: blocks * 4096, directIO: alignment)
    let data = directPattern(blocks * 4096, seed: 5)
    data.withUnsafeBytes { src in memory.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
    let slots = (0..<2).map {
      UnsafeMutableRawBufferPointer(start: memory.unsafeBaseAddress + $0 * (blocks / 2) * 4096, count: (blocks / 2) * 4096)
    }
    let buffers = try ring.unsafeRegisterBuffers(slots)
    let files = try ring.registerFiles([direct])

    // Two writes of 16 KiB in flight, at offsets 0 and 16 KiB.
    try ring.prepare(.directWriteFixed(files[0], from: buffers[0], at: 0, alignment: alignment, userData: 1))
    try ring.prepare(.directWriteFixed(files[0], from: buffers[1], at: 16384, alignment: alignment, userData: 2))
    _ = try ring.submit(waitingFor: 2)
    let writes = try ring.waitCompletions(2)
    #expect(Set(writes.map(\.userData)) == [1, 2])
    #expect(writes.allSatisfy { $0.result == .success(16384) }, "\(writes)")
    expectBytes(try file.bytes(), data, "file after fixed writes")

    // Clear the memory and read back, the second buffer's range only partly (4 KiB at 28 KiB).
    _ = memory.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
    try ring.prepare(.directReadFixed(files[0], into: buffers[0], at: 0, alignment: alignment, userData: 3))
    try ring.prepare(.directReadFixed(files[0], into: buffers[1], range: 0..<4096, at: 28672, alignment: alignment, userData: 4))
    _ = try ring.submit(waitingFor: 2)
    let reads = try ring.waitCompletions(2).sorted { $0.userData < $1.userData }
    #expect(reads.map(\.result) == [.success(16384), .success(4096)])
    let back = memory.withUnsafeBytes { Array($0) }
    expectBytes(Array(back[0..<16384]), Array(data[0..<16384]), "fixed read 1")
    expectBytes(Array(back[16384..<20480]), Array(data[28672..<32768]), "fixed read 2")

    // Unregistered O_DIRECT read through the ring, into an aligned buffer.
    var plain = try AlignedBuffer(count: 8192, directIO: alignment)
    let c = try plain.withUnsafeMutableBytes { bytes in
      try ring.perform(.unsafeDirectRead(direct, into: bytes, at: 8192, alignment: alignment, userData: 5))
    }
    #expect(c.result == .success(8192))
    expectBytes(plain.withUnsafeBytes { Array($0) }, Array(data[8192..<16384]), "plain direct read")
  }

  @Test("misaligned buffer, offset and length are refused when the request is built (EINVAL, explained)")
  func misaligned() throws {
    let file = try TempFile(contents: directPattern(16384, seed: 9))
    let direct = try file.fd.reopen(.readWrite, options: .direct)
    defer { try? direct.close() }
    let alignment = DirectIOAlignment(memory: 512, offset: 4096)
    var ring = try makeRing()
    let memory = try AlignedBuffer(count: 16384, alignment: 4096)
    let registered = try ring.unsafeRegisterBuffers([UnsafeMutableRawBufferPointer(start: memory.unsafeBaseAddress, count: 16384)]
    )

    let e1 = #expect(throws: DirectIOError.self) {
      _ = try IOURing.Request.directReadFixed(direct, into: registered[0], range: 100..<4196, at: 0, alignment: alignment)
    }
    #expect(e1?.errno == .invalidArgument && e1?.misaligned == .bufferAddress && e1?.requiredAlignment == 512)
    #expect(e1?.message.contains("is not a multiple of 512 (it is off by 100 bytes)") == true, "\(String(describing: e1))")

    let e2 = #expect(throws: DirectIOError.self) {
      _ = try IOURing.Request.directWriteFixed(direct, from: registered[0], range: 0..<4096, at: 512, alignment: alignment)
    }
    #expect(e2 == DirectIOError(misaligned: .offset, value: 512, alignment: 4096))

    let e3 = #expect(throws: DirectIOError.self) {
      _ = try IOURing.Request.unsafeDirectRead(
        direct, into: UnsafeMutableRawBufferPointer(start: memory.unsafeBaseAddress, count: 1000), at: 0, alignment: alignment)
    }
    #expect(e3 == DirectIOError(misaligned: .length, value: 1000, alignment: 4096))
    #expect(e3?.message.contains("the length 1000 is not a multiple of 4096") == true)
    #expect(ring.pendingSubmissions == 0, "nothing was queued")
    expectBytes(try file.bytes(), directPattern(16384, seed: 9), "file untouched")
  }
}

private func expectBytes(_ a: [UInt8], _ b: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  if a != b {
    let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    Issue.record(
      "\(what): \(a.count) vs \(b.count) bytes, first difference at \(first.map(String.init) ?? "the end")",
      sourceLocation: sourceLocation)
  }
}
