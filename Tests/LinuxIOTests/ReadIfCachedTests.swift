// readIfCached: cached bytes come back at once, an uncached first byte is nil (EAGAIN),
// the end of the file is 0, a pipe is EOPNOTSUPP-or-ESPIPE, a closed descriptor EBADF.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("readIfCached (preadv2 RWF_NOWAIT)")
struct ReadIfCachedTests {
  @Test("cached: every byte; past the end: 0; a short file: what there is")
  func cached() throws {
    let content = pattern(10_000)
    let fd = try temporaryFile(content)
    defer { try? fd.close() }
    var buffer = [UInt8](repeating: 0, count: 4096)
    // Written just now: in the page cache.
    let n = try buffer.withUnsafeMutableBytes { try fd.readIfCached(into: $0, at: 100) }
    #expect(n == 4096)
    #expect(Array(buffer[..<4096]) == Array(content[100..<4196]))
    let tail = try buffer.withUnsafeMutableBytes { try fd.readIfCached(into: $0, at: 8000) }
    #expect(tail == 2000)
    #expect(Array(buffer[..<2000]) == Array(content[8000..<10_000]))
    #expect(try buffer.withUnsafeMutableBytes { try fd.readIfCached(into: $0, at: 10_000) } == 0)
    #expect(try buffer.withUnsafeMutableBytes { try fd.readIfCached(into: $0, at: 1 << 30) } == 0)
  }

  @Test("evicted (POSIX_FADV_DONTNEED after fsync): nil, nothing read")
  func uncached() throws {
    let content = pattern(1 << 20)
    let fd = try temporaryFile(content)
    defer { try? fd.close() }
    // POSIX_FADV_DONTNEED skips pages something else holds at that moment (a CI run of every
    // suite at once once left the page read below in the cache): advised again until
    // mincore(2) says the page is out, up to 20 times.
    let fileSystem = try fd.fileSystemType()
    for _ in 0..<20 {
      #expect(fsync(fd.rawValue) == 0)
      #expect(posix_fadvise(fd.rawValue, 0, 0, POSIX_FADV_DONTNEED) == 0)
      if fileSystem == 0x0102_1994 || !isResident(fd, at: 512 << 10) { break }
      usleep(10_000)
    }
    if fileSystem != 0x0102_1994 { #expect(!isResident(fd, at: 512 << 10), "the page stayed cached after 20 evictions") }
    var buffer = [UInt8](repeating: 0xEE, count: 4096)
    let n = try buffer.withUnsafeMutableBytes { try fd.readIfCached(into: $0, at: 512 << 10) }
    if fileSystem == 0x0102_1994 {
      // tmpfs keeps its pages whatever the advice: all 4096 at once.
      #expect(n == 4096)
    } else {
      #expect(n == nil, "\(String(describing: n)) bytes read from evicted pages")
      #expect(buffer.allSatisfy { $0 == 0xEE })
    }
  }

  /// Whether the page of `fd` at `offset` is in the page cache (mincore of a read-only
  /// shared mapping, which faults nothing in).
  func isResident(_ fd: FileDescriptor, at offset: Int) -> Bool {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard let map = mmap(nil, page, PROT_READ, MAP_SHARED, fd.rawValue, off_t(offset)), map != MAP_FAILED else { return true }
    defer { munmap(map, page) }
    var vector: UInt8 = 0
    guard mincore(map, page, &vector) == 0 else { return true }
    return vector & 1 == 1
  }

  @Test("errors: a pipe is refused, a closed descriptor is EBADF")
  func errors() throws {
    let pipe = try Pipe()
    var buffer = [UInt8](repeating: 0, count: 16)
    let pipeError = #expect(throws: Errno.self) {
      _ = try buffer.withUnsafeMutableBytes { try pipe.readEnd.readIfCached(into: $0, at: 0) }
    }
    #expect(pipeError == .notSupported || pipeError == .illegalSeek, "\(String(describing: pipeError))")
    let (r, _) = pipe.releaseDescriptors()
    try r.close()
    let closed = #expect(throws: Errno.self) {
      _ = try buffer.withUnsafeMutableBytes { try r.readIfCached(into: $0, at: 0) }
    }
    #expect(closed == .badFileDescriptor)
  }
}
