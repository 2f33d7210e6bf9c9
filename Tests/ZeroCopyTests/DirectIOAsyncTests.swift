// AsyncFile opened with `.direct`: its alignment is queried, misaligned reads and writes
// fail before submission with EINVAL and an explanation, aligned ones round-trip — on both
// engines.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

enum DirectIOAsync {
  static func run(_ kind: EngineKind) async throws {
    try await withEngine(kind) { engine in
      let dir = try TemporaryDirectory()
      let path = dir.file("direct.bin")
      let file = try await AsyncFile.open(
        path, .readWrite, options: [.create, .truncate, .direct], permissions: .ownerReadWrite, engine: engine)
      let alignment = try #require(file.directIOAlignment)
      let fdFlags = fcntl(file.descriptor.rawValue, F_GETFD)
      #expect(fdFlags >= 0 && fdFlags & FD_CLOEXEC != 0, "the engine opens with O_CLOEXEC")
      #expect(alignment == (try file.descriptor.directIOAlignment()))
      #expect(try file.descriptor.isDirectIO())

      // Aligned round trip: 64 KiB written at 8 KiB, read back at 8 KiB.
      let data = Support.pattern(seed: 21, count: 65536)
      let written = await file.writeAll(from: try Support.buffer(data), at: 8192)
      #expect(try written.count == 65536)
      var buffer = written.take()
      _ = buffer.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
      let read = await file.read(into: buffer, at: 8192)
      #expect(try read.count == 65536)
      buffer = read.take()
      #expect(Support.bytes(buffer) == data)

      // Misaligned offset: refused before submission, buffer returned, file unchanged.
      let badOffset = await file.read(into: buffer, at: 8192 + 100)
      let error1 = badOffset.error
      let e1 = try #require(error1)
      #expect(e1.errno == .invalidArgument)
      #expect(e1.operation == .read)
      #expect(e1.offset == 8292)
      #expect(
        e1.message
          == "O_DIRECT: the file offset 8292 is not a multiple of \(alignment.offset) (it is off by \(8292 % alignment.offset) bytes); the kernel would answer EINVAL (checked before submitting)",
        "\(e1)")
      buffer = badOffset.take()
      #expect(buffer.count == 65536, "the buffer comes back")

      // Misaligned length (a range of 1000 bytes).
      let badLength = await file.write(from: buffer, range: 0..<1000, at: 0)
      let error2 = badLength.error
      let e2 = try #require(error2)
      #expect(e2.errno == .invalidArgument && e2.operation == .write)
      #expect(e2.message?.contains("the length 1000 is not a multiple of \(alignment.offset)") == true, "\(e2)")
      buffer = badLength.take()

      // Misaligned buffer address (a range starting 8 bytes in).
      let badAddress = await file.read(into: buffer, range: 8..<(8 + 4096), at: 0)
      let error3 = badAddress.error
      let e3 = try #require(error3)
      #expect(e3.errno == .invalidArgument)
      #expect(
        e3.message?.contains("buffer address 0x") == true && e3.message?.contains("(it is off by 8 bytes)") == true, "\(e3)")
      _ = badAddress.take()

      // writeAll reports the bytes written before a misaligned piece: none here.
      let badAll = await file.writeAll(from: try Support.buffer(Array(data.prefix(4097))), at: 0)
      #expect(badAll.error?.errno == .invalidArgument)
      #expect(badAll.error?.bytesTransferred == 0)
      _ = badAll.take()

      try await file.close()
      let st = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
      defer { try? st.close() }
      var back = [UInt8](repeating: 0, count: 8192 + 65536)
      let n = try back.withUnsafeMutableBytes { try st.read(fromAbsoluteOffset: 0, into: $0) }
      #expect(n == 8192 + 65536)
      #expect(Array(back[8192...]) == data, "nothing misaligned reached the file")

      // Without `.direct`, no alignment is attached and nothing is checked.
      let plain = try await AsyncFile.open(path, .readOnly, engine: engine)
      #expect(plain.directIOAlignment == nil)
      let odd = await plain.read(into: try AlignedBuffer(count: 100), at: 8192 + 3)
      #expect(try odd.count == 100)
      #expect(Support.bytes(odd.take()) == Array(data[3..<103]))
      try await plain.close()
    }
  }
}

enum FixedBuffersAsync {
  static func run(_ kind: EngineKind) async throws {
    try await withEngine(kind) { engine in
      let dir = try TemporaryDirectory()
      let path = dir.file("fixed.bin")
      let file = try await AsyncFile.open(
        path, .readWrite, options: [.create, .truncate, .direct], permissions: .ownerReadWrite, engine: engine)
      let table = try await engine.registerFixedBuffers(count: 4, size: 16384)
      #expect(table.count == 4 && table.size == 16384)
      #expect(Int(bitPattern: table[3].bytes.baseAddress) % AlignedBuffer.pageSize == 0)
      let again = await #expect(throws: ZeroCopyError.self) { _ = try await engine.registerFixedBuffers(count: 1, size: 4096) }
      #expect(again?.errno == .resourceBusy && again?.operation == .registerBuffers)

      // Write slot 0 (16 KiB at 4 KiB), read it back into slot 1 and part of slot 2.
      let data = Support.pattern(seed: 33, count: 16384)
      table[0].bytes.copyBytes(from: data)
      let w = await file.write(fromFixed: table[0], at: 4096)
      #expect(try w.get() == 16384)
      let r = await file.read(intoFixed: table[1], at: 4096)
      #expect(try r.get() == 16384)
      #expect(Array(table[1].bytes) == data)
      let part = await file.read(intoFixed: table[2], range: 4096..<8192, at: 8192)
      #expect(try part.get() == 4096)
      #expect(Array(table[2].bytes[4096..<8192]) == Array(data[4096..<8192]))
      // At the end of the file: a short read, then 0.
      let tail = await file.read(intoFixed: table[3], at: 16384)
      #expect(try tail.get() == 4096)
      let end = await file.read(intoFixed: table[3], at: 20480)
      #expect(try end.get() == 0)

      // Misaligned on a `.direct` file: refused before submission, with the explanation.
      let bad = await file.read(intoFixed: table[1], range: 0..<100, at: 0)
      guard case .failure(let error) = bad else {
        Issue.record("a 100-byte O_DIRECT read was accepted")
        return
      }
      #expect(error.errno == .invalidArgument)
      #expect(error.syscall == (kind == .ioUring ? "IORING_OP_READ_FIXED" : "pread64"))
      #expect(error.message?.contains("the length 100 is not a multiple of") == true, "\(error)")
      try await file.close()
    }
  }
}

@Suite("AsyncFile with O_DIRECT")
struct DirectIOAsyncTests {
  @Test("io_uring engine", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
  func ring() async throws { try await DirectIOAsync.run(.ioUring) }

  @Test("thread-pool engine")
  func pool() async throws { try await DirectIOAsync.run(.threadPool) }

  @Test(
    "fixed buffers, io_uring engine (READ_FIXED/WRITE_FIXED)", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
  func fixedRing() async throws { try await FixedBuffersAsync.run(.ioUring) }

  @Test("fixed buffers, thread-pool engine (pread/pwrite)")
  func fixedPool() async throws { try await FixedBuffersAsync.run(.threadPool) }
}
