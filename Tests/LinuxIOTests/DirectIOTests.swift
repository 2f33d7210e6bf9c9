// Direct I/O: the O_DIRECT flag, the STATX_DIOALIGN query, checked reads and writes
// whose misalignment errors name the misaligned value, and round trips.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// Whether `directory`'s filesystem enforces O_DIRECT alignment (ext4 does; tmpfs
/// accepts O_DIRECT but does not enforce anything), found by trying a misaligned write.
func enforcesDirectIO(in directory: String) -> Bool {
  guard let named = try? NamedFile(in: directory) else { return false }
  defer { named.remove() }
  guard let direct = try? named.fd.reopen(.readWrite, options: .direct) else { return false }
  defer { try? direct.close() }
  guard let buffer = try? AlignedBuffer(count: 8192) else { return false }
  let r = pwrite(direct.rawValue, buffer.unsafeBaseAddress + 1, 4096, 0)
  return r < 0 && errno == EINVAL
}

@Suite("Direct I/O (O_DIRECT)")
struct DirectIOTests {
  static let enforced = enforcesDirectIO(in: diskDirectory)

  @Test("the O_DIRECT flag is the architecture's value and reaches the open file")
  func flag() throws {
    #if arch(x86_64)
      #expect(FileDescriptor.OpenOptions.direct.rawValue == 0x4000)
    #elseif arch(arm64)
      #expect(FileDescriptor.OpenOptions.direct.rawValue == 0x10000)
    #endif
    let named = try NamedFile(pattern(4096))
    defer { named.remove() }
    #expect(try named.fd.isDirectIO() == false)
    let direct = try named.fd.reopen(.readOnly, options: .direct)
    defer { try? direct.close() }
    #expect(try direct.isDirectIO() == true)
    #expect(try named.fd.isDirectIO() == false, "reopening leaves the original descriptor alone")
    #expect(throws: Errno.invalidArgument) { _ = try named.fd.reopen(.readWrite, options: .truncate) }
  }

  @Test("alignment: reported by statx on ext4, the 4096 fallback on tmpfs")
  func alignmentQuery() throws {
    let disk = try temporaryFile(in: diskDirectory)
    defer { try? disk.close() }
    let a = try disk.directIOAlignment()
    // ext4 on 6.18 reports its logical block size (512 here); the values are powers of two.
    #expect(a.isReported)
    #expect(a.memory >= 1 && a.memory <= 4096 && a.memory & (a.memory - 1) == 0)
    #expect(a.offset >= 512 && a.offset <= 4096 && a.offset & (a.offset - 1) == 0)
    let memory = try temporaryFile(in: memoryDirectory)
    defer { try? memory.close() }
    #expect(try memory.directIOAlignment() == .fallback)
    #expect(DirectIOAlignment.fallback == DirectIOAlignment(memory: 4096, offset: 4096, isReported: false))
    #expect(throws: Errno.badFileDescriptor) { _ = try FileDescriptor(rawValue: 9999).directIOAlignment() }
    // A sub-page memory alignment still gives a page-aligned buffer (a 4 KiB request then
    // covers one page, not two); a larger one is honoured. Sizes above glibc's mmap
    // threshold too, where posix_memalign(512) returns page + 512 here.
    let page = AlignedBuffer.pageSize
    for (memoryAlignment, count) in [(512, 4096), (2048, 4096), (512, 1 << 20), (16384, 65536)] {
      let buffer = try AlignedBuffer(count: count, directIO: DirectIOAlignment(memory: memoryAlignment, offset: 512))
      #expect(buffer.alignment == max(memoryAlignment, page))
      #expect(Int(bitPattern: buffer.unsafeBaseAddress) % max(memoryAlignment, page) == 0)
      #expect(buffer.count == count)
    }
  }

  @Test("misaligned buffer, offset and length are refused before the syscall, explained, with EINVAL")
  func misalignment() throws {
    let named = try NamedFile(pattern(16384))
    defer { named.remove() }
    let direct = try named.fd.reopen(.readWrite, options: .direct)
    defer { try? direct.close() }
    let alignment = DirectIOAlignment(memory: 512, offset: 4096)
    let buffer = try AlignedBuffer(count: 16384, alignment: 4096)

    // Buffer address off by 1.
    let address = buffer.unsafeBaseAddress + 1
    let e1 = #expect(throws: DirectIOError.self) {
      _ = try direct.directRead(into: UnsafeMutableRawBufferPointer(start: address, count: 4096), at: 0, alignment: alignment)
    }
    #expect(e1?.errno == .invalidArgument)
    #expect(e1?.misaligned == .bufferAddress)
    #expect(e1?.requiredAlignment == 512)
    #expect(e1?.value == Int64(Int(bitPattern: address)))
    #expect(
      e1?.message.contains("buffer address 0x\(String(UInt(bitPattern: address), radix: 16)) is not a multiple of 512") == true,
      "\(String(describing: e1))")
    #expect(e1?.message.contains("off by 1 bytes") == true)

    // Offset 100.
    let e2 = #expect(throws: DirectIOError.self) {
      _ = try direct.directWrite(
        UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress, count: 4096), at: 100, alignment: alignment)
    }
    #expect(e2?.errno == .invalidArgument)
    #expect(e2?.misaligned == .offset)
    #expect(e2?.value == 100 && e2?.requiredAlignment == 4096)
    #expect(
      e2?.message
        == "O_DIRECT: the file offset 100 is not a multiple of 4096 (it is off by 100 bytes); the kernel would answer EINVAL")

    // Length 4097.
    let e3 = #expect(throws: DirectIOError.self) {
      _ = try direct.directWrite(
        UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress, count: 4097), at: 4096, alignment: alignment)
    }
    #expect(e3?.errno == .invalidArgument)
    #expect(e3?.misaligned == .length)
    #expect(e3?.value == 4097)
    #expect(e3?.description.contains("the length 4097 is not a multiple of 4096") == true)
    #expect(e3?.description.contains("errno \(EINVAL)") == true)

    // Nothing reached the file: it still holds the original pattern.
    expectSameBytes(try contents(of: named.fd), pattern(16384))
  }

  @Test("the kernel itself refuses what the check refuses (ext4 enforces O_DIRECT alignment)")
  func kernelAgrees() throws {
    try #require(Self.enforced, "skipped: \(diskDirectory) does not enforce O_DIRECT alignment")
    let named = try NamedFile(pattern(8192))
    defer { named.remove() }
    let direct = try named.fd.reopen(.readWrite, options: .direct)
    defer { try? direct.close() }
    let buffer = try AlignedBuffer(count: 8192)
    // The check is bypassed with a permissive alignment to show the raw kernel answer.
    let loose = DirectIOAlignment(memory: 1, offset: 1)
    let e = #expect(throws: DirectIOError.self) {
      _ = try direct.directRead(
        into: UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress + 1, count: 4096), at: 0, alignment: loose)
    }
    #expect(e?.errno == .invalidArgument)
    #expect(e?.misaligned == nil, "this one came from the kernel")
  }

  @Test("round trip: aligned writes and reads are byte-exact; a short read at the end of file")
  func roundTrip() throws {
    for directory in [diskDirectory, memoryDirectory] {
      let named = try NamedFile(in: directory)
      defer { named.remove() }
      let direct = try named.fd.reopen(.readWrite, options: .direct)
      defer { try? direct.close() }
      let alignment = try direct.directIOAlignment()
      let size = 3 * 65536
      var buffer = try AlignedBuffer(count: size, directIO: alignment)
      let data = pattern(size, seed: 77)
      data.withUnsafeBytes { src in buffer.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
      let w = try buffer.withUnsafeBytes { try direct.directWrite($0, at: 0, alignment: alignment) }
      #expect(w == size, "\(directory)")
      // Cut the file to an unaligned size: the last aligned read comes back short.
      #expect(ftruncate(named.fd.rawValue, off_t(size - 100)) == 0)
      var back = try AlignedBuffer(count: size, directIO: alignment, zeroed: false)
      let r = try back.withUnsafeMutableBytes { try direct.directRead(into: $0, at: 0, alignment: alignment) }
      #expect(r == size - 100, "\(directory)")
      expectSameBytes(back.withUnsafeBytes { Array($0.prefix(r)) }, Array(data.prefix(size - 100)), directory)
      let eof = try back.withUnsafeMutableBytes {
        try direct.directRead(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<65536]), at: Int64(size), alignment: alignment)
      }
      #expect(eof == 0)
      // The buffered view agrees.
      expectSameBytes(try contents(of: named.fd), Array(data.prefix(size - 100)), "\(directory) buffered")
    }
  }

  @Test("a refused O_DIRECT open is EINVAL from reopen, and a syscall error is carried")
  func systemErrors() throws {
    // /proc files refuse O_DIRECT at open.
    let proc = try FileDescriptor.open("/proc/self/status", .readOnly)
    defer { try? proc.close() }
    #expect(throws: Errno.invalidArgument) { _ = try proc.reopen(.readOnly, options: .direct) }
    let readOnly = try NamedFile(pattern(4096))
    defer { readOnly.remove() }
    let direct = try readOnly.fd.reopen(.readOnly, options: .direct)
    defer { try? direct.close() }
    let buffer = try AlignedBuffer(count: 4096)
    let e = #expect(throws: DirectIOError.self) {
      _ = try buffer.withUnsafeBytes { try direct.directWrite($0, at: 0, alignment: .fallback) }
    }
    #expect(e == DirectIOError(.badFileDescriptor))
    #expect(e?.message == "\(Errno.badFileDescriptor)")
  }
}
