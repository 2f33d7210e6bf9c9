// MappedRegion: byte-exact access at any offset and size, guarded access that survives a
// file truncated under the mapping, advice, writable mappings, errors.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("MappedRegion")
struct MappedRegionTests {
  @Test("every accessor sees exactly the requested range", arguments: interestingSizes)
  func contents(size: Int) throws {
    let data = pattern(size, seed: 31)
    let prefix = pattern(4101, seed: 32)  // a start that is not page-aligned
    let file = try temporaryFile(prefix + data + pattern(3))
    defer { try? file.close() }
    let region = try MappedRegion(file: file, range: 4101..<(4101 + Int64(size)))
    #expect(region.count == size)
    #expect(region.isEmpty == (size == 0))
    #expect(region.fileOffset == 4101)

    region.withUnsafeBytes { expectSameBytes(Array($0), data, "withUnsafeBytes") }
    let viaSpan: [UInt8] = region.withRawSpan { span in
      (0..<span.byteCount).map { span.unsafeLoad(fromByteOffset: $0, as: UInt8.self) }
    }
    expectSameBytes(viaSpan, data, "withRawSpan")
    expectSameBytes(try region.read(0..<size), data, "read")
    if size > 2 {
      expectSameBytes(try region.read(1..<(size - 1)), Array(data[1..<(size - 1)]), "read(1..<n-1)")
    }
    var copy = [UInt8](repeating: 0, count: size)
    try copy.withUnsafeMutableBytes { try region.copyBytes(from: 0..<size, into: $0) }
    expectSameBytes(copy, data, "copyBytes")

    let destination = try temporaryFile(pattern(3, seed: 1))
    defer { try? destination.close() }
    let written = try region.write(to: destination, at: 3)
    #expect(written.outcome == .complete)
    #expect(written.bytes == Int64(size))
    expectSameBytes(try LinuxIOTests.contents(of: destination), pattern(3, seed: 1) + data, "write(to:at:)")

    // writeAll(fromMapping:) with a sub-range, by file position.
    let second = try temporaryFile()
    defer { try? second.close() }
    let half = size / 2
    let partial = try second.writeAll(fromMapping: region, range: half..<size, at: nil)
    #expect(
      partial
        == TransferResult(outcome: .complete, progress: .init(bytes: Int64(size - half), syscalls: size - half == 0 ? 0 : 1)))
    #expect(try position(second) == Int64(size - half))
    expectSameBytes(try LinuxIOTests.contents(of: second), Array(data[half...]), "writeAll(fromMapping:)")
  }

  @Test("a page-aligned start and a whole page", arguments: [0, 4096, 8192] as [Int64])
  func alignedStarts(start: Int64) throws {
    let data = pattern(3 * 4096, seed: 33)
    let file = try temporaryFile(data)
    defer { try? file.close() }
    let region = try MappedRegion(file: file, range: start..<(start + 4096), populate: true)
    expectSameBytes(try region.read(0..<4096), Array(data[Int(start)..<Int(start) + 4096]))
  }

  @Test("a shared writable mapping writes through to the file; copy-on-write does not")
  func writable() throws {
    let data = pattern(10_000, seed: 34)
    let file = try temporaryFile(data)
    defer { try? file.close() }
    var shared = try MappedRegion(file: file, range: 100..<9000, protection: .readWrite)
    let patch = pattern(50, seed: 35)
    try patch.withUnsafeBytes { try shared.storeBytes($0, at: 10) }
    shared.withUnsafeMutableBytes { $0[0] = 0xAB }
    var expected = data
    expected.replaceSubrange(110..<160, with: patch)
    expected[100] = 0xAB
    expectSameBytes(try LinuxIOTests.contents(of: file), expected, "shared")

    var privateCopy = try MappedRegion(file: file, range: 0..<10_000, protection: .readWrite, sharing: .copyOnWrite)
    privateCopy.withUnsafeMutableBytes { $0[5] = ~$0[5] }
    #expect(try privateCopy.read(5..<6) == [~expected[5]])
    expectSameBytes(try LinuxIOTests.contents(of: file), expected, "copy-on-write left the file alone")
  }

  @Test("every advice is accepted by the kernel")
  func advice() throws {
    let file = try temporaryFile(pattern(1 << 20))
    defer { try? file.close() }
    let region = try MappedRegion(file: file, range: 3..<(1 << 20))
    for advice in MappedRegion.Advice.allCases where advice != .hugePage {
      try region.advise(advice)
      try region.advise(advice, range: 5000..<9000)
    }
    // MADV_HUGEPAGE on a file mapping: accepted when THP is configured, else EINVAL.
    do { try region.advise(.hugePage) } catch { #expect(error == .invalidArgument) }
    expectSameBytes(try region.read(0..<100), Array(pattern(1 << 20)[3..<103]))
    // An empty region: nothing to advise.
    let empty = try MappedRegion(file: file, range: 7..<7)
    try empty.advise(.willNeed)
  }

  @Test(
    "a file truncated under the mapping gives mappedFileTruncated, never SIGBUS",
    .disabled(
      if: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil,
      "under ThreadSanitizer (make sanitize-thread) the runtime's signal interception turns the guarded SIGBUS into a crash; the normal and ASan runs cover this"
    ))
  func truncatedUnderneath() throws {
    let size = 16 * 4096
    let data = pattern(size, seed: 36)
    let file = try temporaryFile(data)
    defer { try? file.close() }
    var region = try MappedRegion(file: file, range: 0..<Int64(size), protection: .readWrite)
    #expect(ftruncate(file.rawValue, 8192) == 0)

    // What is still backed reads fine.
    expectSameBytes(try region.read(0..<8192), Array(data[0..<8192]))
    // Past the new end: the guarded copy catches the SIGBUS.
    #expect(throws: Errno.mappedFileTruncated) { _ = try region.read(0..<size) }
    #expect(throws: Errno.badAddress) { _ = try region.read(8192..<8193) }
    #expect(throws: Errno.mappedFileTruncated) {
      var sink = [UInt8](repeating: 0, count: 4096)
      try sink.withUnsafeMutableBytes { try region.copyBytes(from: 60_000..<64_096, into: $0) }
    }
    #expect(throws: Errno.mappedFileTruncated) {
      try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try region.storeBytes($0, at: 50_000) }
    }
    // Writing from the mapping: the kernel stops at the end of the data, then EFAULT.
    let destination = try temporaryFile()
    defer { try? destination.close() }
    let failure = #expect(throws: TransferFailure.self) { try region.write(to: destination, at: 0) }
    #expect(failure?.errno == .mappedFileTruncated)
    #expect(failure?.progress.bytes == 8192)
    expectSameBytes(try LinuxIOTests.contents(of: destination), Array(data[0..<8192]))

    // Truncated to nothing.
    #expect(ftruncate(file.rawValue, 0) == 0)
    #expect(throws: Errno.mappedFileTruncated) { _ = try region.read(0..<1) }
    let none = #expect(throws: TransferFailure.self) { try region.write(to: destination, at: 0) }
    #expect(none == TransferFailure(errno: .badAddress, progress: .init(bytes: 0, syscalls: 1)))
  }

  @Test("mmap errors map to the right Errno")
  func errors() throws {
    let pipe = try Pipe()
    #expect(throws: Errno.operationNotSupportedByDevice) { _ = try MappedRegion(file: pipe.readEnd, range: 0..<10) }
    #expect(throws: Errno.badFileDescriptor) { _ = try MappedRegion(file: FileDescriptor(rawValue: -1), range: 0..<10) }

    let named = try NamedFile(pattern(100))
    defer { named.remove() }
    let writeOnly = try FileDescriptor.open(FilePath(named.path), .writeOnly, options: .closeOnExec)
    defer { try? writeOnly.close() }
    #expect(throws: Errno.permissionDenied) { _ = try MappedRegion(file: writeOnly, range: 0..<10) }
    let readOnly = try FileDescriptor.open(FilePath(named.path), .readOnly, options: .closeOnExec)
    defer { try? readOnly.close() }
    #expect(throws: Errno.permissionDenied) {
      _ = try MappedRegion(file: readOnly, range: 0..<10, protection: .readWrite)
    }
    // A private writable mapping of a read-only file is fine.
    var cow = try MappedRegion(file: readOnly, range: 0..<10, protection: .readWrite, sharing: .copyOnWrite)
    cow.withUnsafeMutableBytes { $0[0] = 1 }
  }

  @Test("unmap() and deinit remove the mapping")
  func unmapRemovesMapping() throws {
    let pages = 13  // an unusual length, to find our mapping in /proc/self/maps
    let file = try temporaryFile(pattern(pages * 4096))
    defer { try? file.close() }
    func mapped(_ start: UInt) throws -> Bool {
      let line = String(start, radix: 16) + "-" + String(start + UInt(pages * 4096), radix: 16) + " "
      let maps = try FileDescriptor.open("/proc/self/maps", .readOnly, options: .closeOnExec)
      defer { try? maps.close() }
      return String(decoding: try drain(maps), as: UTF8.self).split(separator: "\n").contains {
        $0.hasPrefix(line)
      }
    }
    let first = try MappedRegion(file: file, range: 0..<Int64(pages * 4096))
    let firstStart = first.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    #expect(try mapped(firstStart))
    try first.unmap()
    #expect(try !mapped(firstStart))

    var secondStart: UInt = 0
    do {
      let second = try MappedRegion(file: file, range: 0..<Int64(pages * 4096))
      secondStart = second.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
      #expect(try mapped(secondStart))
    }
    #expect(try !mapped(secondStart))
  }
}
