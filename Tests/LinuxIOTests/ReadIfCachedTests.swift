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

  @Test("evicted (POSIX_FADV_DONTNEED after fsync): nil, nothing read — in at least 2 of 8 tries")
  func uncached() throws {
    let content = pattern(1 << 20)
    let fd = try temporaryFile(content)
    defer { try? fd.close() }
    let fileSystem = try fd.fileSystemType()
    // Eight evicted pages, each read once. preadv2(RWF_NOWAIT) on a page that is not cached
    // starts the kernel's read-ahead before it gives up (mm/filemap.c), and on this VM's
    // fast virtual disk that read can finish in time: a CI run of every suite at once got
    // all 4096 bytes of a page that mincore(2) had just shown evicted. So a try may return
    // the page's exact bytes, never other bytes; and at least two must return nil — a read
    // that ignored RWF_NOWAIT (and waited for the disk) returns data every time (checked:
    // 0 of 8 with a plain pread).
    var refused = 0
    for attempt in 0..<8 {
      let offset = (64 + attempt * 96) << 10
      // POSIX_FADV_DONTNEED skips pages something holds at that moment: advised again
      // until mincore says the page is out, up to 20 times.
      for _ in 0..<20 {
        #expect(fsync(fd.rawValue) == 0)
        #expect(posix_fadvise(fd.rawValue, 0, 0, POSIX_FADV_DONTNEED) == 0)
        if fileSystem == 0x0102_1994 || !isResident(fd, at: offset) { break }
        usleep(10_000)
      }
      var buffer = [UInt8](repeating: 0xEE, count: 4096)
      let n = try buffer.withUnsafeMutableBytes { try fd.readIfCached(into: $0, at: Int64(offset)) }
      if fileSystem == 0x0102_1994 {
        // tmpfs keeps its pages whatever the advice: all 4096 at once.
        #expect(n == 4096)
      } else if let n {
        #expect(n == 4096 && Array(buffer) == Array(content[offset..<(offset + 4096)]), "try \(attempt): \(n) bytes")
      } else {
        #expect(buffer.allSatisfy { $0 == 0xEE }, "try \(attempt): nil, but the buffer was written")
        refused += 1
      }
    }
    if fileSystem != 0x0102_1994 { #expect(refused >= 2, "only \(refused) of 8 evicted pages were refused") }
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
