// Transfers across a sparse source larger than 2 GiB (past sendfile's 0x7ffff000-byte
// per-call cap and past 2^31), and sources truncated while a transfer runs.
//
// The files live in /dev/shm (tmpfs): the sparse source costs no memory, and the 2 GiB
// destination is RAM for the duration of one test and is freed when its (unlinked)
// descriptor closes. The suite is serialized so that at most one such copy exists.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("Large sparse sources and truncation during a transfer", .serialized)
struct LargeSparseTests {
  /// 2 GiB + 5 MiB + 7 bytes: more than one sendfile call's cap (0x7ffff000) and 2^31.
  static let size: Int64 = (1 << 31) + (5 << 20) + 7
  static let cap: Int64 = 0x7fff_f000

  /// Marker bytes written into the sparse file, at boundaries that matter.
  static let markers: [(offset: Int64, bytes: [UInt8])] = [
    (0, pattern(16, seed: 1)),
    (4095, pattern(3, seed: 2)),
    (cap - 4, pattern(8, seed: 3)),  // straddles the per-call cap
    ((1 << 31) - 2, pattern(4, seed: 4)),  // straddles 2^31
    (size - 5, pattern(5, seed: 5)),  // the very end
  ]
  /// Offsets that must read as zeros (holes).
  static let holes: [Int64] = [1 << 20, 1 << 30, (1 << 31) + (1 << 20)]

  private func makeSource() throws -> FileDescriptor {
    let source = try temporaryFile(in: memoryDirectory)
    #expect(ftruncate(source.rawValue, off_t(Self.size)) == 0)
    for marker in Self.markers {
      _ = try source.writeAll(toAbsoluteOffset: marker.offset, marker.bytes)
    }
    #expect(fileSize(source) == Self.size)
    return source
  }

  /// Checks the destination holds the source's range starting at `sourceStart`.
  private func expectCopy(_ destination: FileDescriptor, sourceStart: Int64 = 0) throws {
    #expect(fileSize(destination) == Self.size - sourceStart)
    for marker in Self.markers where marker.offset >= sourceStart {
      let got = try bytes(of: destination, at: marker.offset - sourceStart, count: marker.bytes.count)
      #expect(got == marker.bytes, "marker at \(marker.offset)")
    }
    for hole in Self.holes where hole >= sourceStart {
      let got = try bytes(of: destination, at: hole - sourceStart, count: 64)
      #expect(got == [UInt8](repeating: 0, count: 64), "hole at \(hole)")
    }
  }

  /// The most calls a whole-file sendfile loop may make here. The per-call cap makes 2 the
  /// minimum; a call may return short, which the kernel is free to do and does under load
  /// (3 seen in a helper's make test, 4 in a fresh-clone CI at fbb576d with the 2 GiB copy
  /// taking 22 s): each short count adds a call and the bytes stay exact. A loop that moved
  /// the file in small pieces would make hundreds, so the bound still catches that.
  static let callBound = 16

  @Test("sendfileAll: at least two calls for the whole file (the cap); until end of file from the position")
  func sendfileAll() throws {
    let source = try makeSource()
    defer { try? source.close() }
    do {
      let destination = try temporaryFile(in: memoryDirectory)
      defer { try? destination.close() }
      // Signals blocked on this thread: a signal arriving mid-call (a test child's SIGCHLD)
      // makes the kernel return a short count, which is correct but adds a call. Short
      // counts happen under load even so (see `callBound`).
      let result = try withSignalsBlocked { try source.sendfileAll(to: destination, sourceOffset: 0, count: .bytes(Self.size)) }
      #expect(result.outcome == .complete && result.progress.bytes == Self.size)
      #expect((2...Self.callBound).contains(result.progress.syscalls), "\(result)")
      try expectCopy(destination)
    }
    do {
      // From the file position, from 1 GiB on, until end of file: one capped call would
      // not reach the end; the loop ends on sendfile's 0.
      _ = try source.seek(offset: 1 << 30, from: .start)
      let destination = try temporaryFile(in: memoryDirectory)
      defer { try? destination.close() }
      let result = try withSignalsBlocked { try source.sendfileAll(to: destination, count: .untilEndOfFile) }
      #expect(result.outcome == .complete)
      #expect(result.bytes == Self.size - (1 << 30))
      // (1 GiB + 5 MiB + 7) < cap, then the 0; a short count under load adds calls (seen:
      // 3 in a helper's make test at load 7), the bytes stay exact.
      #expect((2...Self.callBound).contains(result.progress.syscalls), "\(result)")
      #expect(try position(source) == Self.size)
      try expectCopy(destination, sourceStart: 1 << 30)
    }
  }

  @Test("sendfileAll with a count past the end: .sourceEndedEarly with the exact size")
  func sendfileAllPastEnd() throws {
    let source = try makeSource()
    defer { try? source.close() }
    let destination = try temporaryFile(in: memoryDirectory)
    defer { try? destination.close() }
    let result = try source.sendfileAll(to: destination, sourceOffset: 0, count: .bytes(Self.size + 4096))
    #expect(result.outcome == .sourceEndedEarly)
    #expect(result.bytes == Self.size)
    // Two full calls of at most 0x7ffff000 bytes and the one that reads 0 at the end;
    // under memory pressure a call may return short (one run in many under load made 4).
    #expect((3...Self.callBound).contains(result.progress.syscalls), "\(result)")
    try expectCopy(destination)
  }

  @Test("spliceAll through a 1 MiB pipe")
  func spliceAll() throws {
    let source = try makeSource()
    defer { try? source.close() }
    let destination = try temporaryFile(in: memoryDirectory)
    defer { try? destination.close() }
    let pipe = try Pipe()
    try pipe.setCapacityRetrying(1 << 20)
    let result = try source.spliceAll(
      to: destination, sourceOffset: 0, destinationOffset: 0, count: .untilEndOfFile, through: pipe)
    #expect(result.outcome == .complete)
    #expect(result.bytes == Self.size)
    #expect(result.progress.discarded == 0)
    // At least 2 legs per MiB; no more than a few per MiB.
    #expect(result.progress.syscalls >= 2 * Int(Self.size >> 20))
    #expect(try pipe.readableBytes == 0)
    try expectCopy(destination)
  }

  @Test("copyFileRangeAll within one tmpfs")
  func copyFileRangeAll() throws {
    let source = try makeSource()
    defer { try? source.close() }
    let destination = try temporaryFile(in: memoryDirectory)
    defer { try? destination.close() }
    let result = try source.copyFileRangeAll(
      to: destination, sourceOffset: 0, destinationOffset: 0, count: .bytes(Self.size))
    #expect(result.outcome == .complete)
    #expect(result.bytes == Self.size)
    #expect(result.progress.syscalls >= 2)  // one call never moves more than the cap
    try expectCopy(destination)
  }

  @Test(
    "a source truncated during the transfer: .sourceEndedEarly at exactly the new size",
    arguments: ["sendfile", "splice", "readWrite"])
  func truncatedDuringTransfer(method: String) throws {
    let size = 8 << 20
    let newSize = 2 << 20
    let data = pattern(size, seed: 51)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let pipe = try Pipe()  // 64 KiB: the sender cannot run ahead of the reader by more
    let (readEnd, writeEnd) = pipe.releaseDescriptors()
    // The reader consumes 1 MiB, truncates the source to 2 MiB (the sender is then at most
    // 1 MiB + 64 KiB + one buffer in), then drains the rest.
    let reader = TestThread { () -> ReadOutcome in
      var outcome = ReadOutcome()
      do {
        outcome.bytes = try readExactly(readEnd, 1 << 20)
        precondition(ftruncate(source.rawValue, off_t(newSize)) == 0)
        outcome.bytes += try drain(readEnd)
      } catch {
        outcome.error = error as? Errno
      }
      return outcome
    }
    let result: TransferResult
    switch method {
    case "sendfile":
      result = try source.sendfileAll(to: writeEnd, sourceOffset: 0, count: .bytes(size))
    case "splice":
      result = try source.spliceAll(to: writeEnd, sourceOffset: 0, count: .bytes(size))
    default:
      var scratch = try AlignedBuffer(count: 4096)
      result = try scratch.withUnsafeMutableBytes { buffer throws(TransferFailure) in
        try source.readWriteCopy(to: writeEnd, sourceOffset: 0, count: .bytes(size), buffer: buffer)
      }
    }
    try writeEnd.close()
    let received = reader.join()
    try readEnd.close()
    #expect(result.outcome == .sourceEndedEarly)
    #expect(result.bytes == Int64(newSize))
    #expect(received.error == nil)
    expectSameBytes(received.bytes, Array(data[0..<newSize]))
  }
}
