// AlignedBuffer: alignment, zeroing, access, O_DIRECT, ownership.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// O_DIRECT on x86_64 and arm64 Linux (hidden by Glibc's Swift import: GNU-only).
#if arch(x86_64)
  private let oDirect: CInt = 0o40000
#elseif arch(arm64)
  private let oDirect: CInt = 0o200000
#endif

@Suite("AlignedBuffer")
struct AlignedBufferTests {
  static let alignments = [8, 16, 64, 4096, 65536, 2 << 20]

  @Test("aligned, zeroed, exact size, readable and writable", arguments: interestingSizes, alignments)
  func alignedAndZeroed(size: Int, alignment: Int) throws {
    var buffer = try AlignedBuffer(count: size, alignment: alignment)
    #expect(buffer.count == size)
    #expect(buffer.alignment == alignment)
    #expect(Int(bitPattern: buffer.unsafeBaseAddress) % alignment == 0)
    buffer.withUnsafeBytes { bytes in
      #expect(bytes.count == size)
      #expect(bytes.allSatisfy { $0 == 0 })
    }
    let data = pattern(size, seed: UInt32(alignment))
    data.withUnsafeBytes { source in
      buffer.withUnsafeMutableBytes { $0.copyMemory(from: source) }
    }
    let back: [UInt8] = buffer.withRawSpan { span in
      (0..<span.byteCount).map { span.unsafeLoad(fromByteOffset: $0, as: UInt8.self) }
    }
    expectSameBytes(back, data)
    buffer.withMutableRawSpan { span in
      if span.byteCount > 0 { span.storeBytes(of: 0x5A, toByteOffset: span.byteCount - 1, as: UInt8.self) }
    }
    if size > 0 { #expect(buffer.unsafeBaseAddress.load(fromByteOffset: size - 1, as: UInt8.self) == 0x5A) }
  }

  @Test("the default alignment is the page size; zero bytes still get a unique address")
  func defaults() throws {
    #expect(AlignedBuffer.pageSize == Int(sysconf(CInt(_SC_PAGESIZE))))
    let a = try AlignedBuffer(count: 0)
    let b = try AlignedBuffer(count: 0)
    #expect(a.alignment == AlignedBuffer.pageSize)
    #expect(Int(bitPattern: a.unsafeBaseAddress) % AlignedBuffer.pageSize == 0)
    #expect(a.unsafeBaseAddress != b.unsafeBaseAddress)
    let uninitialised = try AlignedBuffer(count: 100, zeroed: false)
    #expect(uninitialised.count == 100)
  }

  @Test("O_DIRECT I/O works from an aligned buffer and not from a misaligned one")
  func directIO() throws {
    let named = try NamedFile()
    defer { named.remove() }
    let raw = open(named.path, O_RDWR | O_CLOEXEC | oDirect)
    try #require(raw >= 0, "O_DIRECT open failed: \(errno)")
    let direct = FileDescriptor(rawValue: raw)
    defer { try? direct.close() }

    var buffer = try AlignedBuffer(count: 8192)
    let data = pattern(8192, seed: 41)
    data.withUnsafeBytes { source in buffer.withUnsafeMutableBytes { $0.copyMemory(from: source) } }
    let written = try buffer.withUnsafeBytes { try direct.writeAll($0, at: 4096) }
    #expect(written == TransferResult(outcome: .complete, progress: .init(bytes: 8192, syscalls: 1)))

    var back = try AlignedBuffer(count: 8192, zeroed: false)
    let read = try back.withUnsafeMutableBytes { try direct.readAll(into: $0, at: 4096) }
    #expect(read.outcome == .complete)
    expectSameBytes(back.withUnsafeBytes { Array($0) }, data)

    // ext4 enforces O_DIRECT alignment: one byte off is EINVAL.
    let misaligned = try AlignedBuffer(count: 8192 + 512)
    #expect(throws: TransferFailure(errno: .invalidArgument, progress: .init(bytes: 0, syscalls: 1))) {
      try misaligned.withUnsafeBytes { bytes throws(TransferFailure) in
        try direct.writeAll(UnsafeRawBufferPointer(rebasing: bytes[1..<4097]), at: 0)
      }
    }
  }

  @Test("ownership moves with the value; the address stays stable")
  func ownershipMoves() throws {
    func consume(_ buffer: consuming AlignedBuffer) -> UnsafeMutableRawPointer {
      buffer.unsafeBaseAddress
    }
    let buffer = try AlignedBuffer(count: 4096)
    let address = buffer.unsafeBaseAddress
    var moved = buffer  // a move, not a copy: AlignedBuffer is ~Copyable
    moved.withUnsafeMutableBytes { $0[0] = 9 }
    #expect(moved.unsafeBaseAddress == address)
    #expect(consume(moved) == address)
  }

  @Test("many allocations are freed as they go (deinit runs deterministically)")
  func manyAllocations() throws {
    // 4 GiB in total, 1 MiB at a time: without deterministic frees this would exhaust
    // memory long before the end (the leak check in the child process measures it).
    for i in 0..<4096 {
      let buffer = try AlignedBuffer(count: 1 << 20, alignment: 4096, zeroed: i % 64 == 0)
      #expect(Int(bitPattern: buffer.unsafeBaseAddress) % 4096 == 0)
    }
  }
}
