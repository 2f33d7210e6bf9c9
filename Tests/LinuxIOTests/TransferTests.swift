// The "all" transfers: byte-exact at every interesting size, with offsets and file
// positions, exact outcomes and progress, short and odd sources, exact errors.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("All transfers")
struct TransferTests {
  /// Which "all" transfer a parameterised test runs.
  enum Method: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sendfile, splice, splicePooledPipe, copyFileRange, readWrite
    /// readWriteCopy through the C loop's own stack buffer (4,099 bytes of it: an odd
    /// size, so that reads end mid-page).
    case readWriteOnStack

    var testDescription: String { rawValue }

    /// Runs the transfer from `source` to `destination`.
    func run(
      _ source: FileDescriptor, _ destination: FileDescriptor, sourceOffset: Int64?,
      destinationOffset: Int64?, count: TransferCount
    ) throws(TransferFailure) -> TransferResult {
      switch self {
      case .sendfile:
        // sendfile has no destination offset: position the destination instead.
        if let destinationOffset {
          _ = try? destination.seek(offset: destinationOffset, from: .start)
        }
        return try source.sendfileAll(to: destination, sourceOffset: sourceOffset, count: count)
      case .splice:
        return try source.spliceAll(
          to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
          count: count)
      case .splicePooledPipe:
        let pipe: Pipe
        do { pipe = try Pipe() } catch { throw TransferFailure(errno: error, progress: .init()) }
        return try source.spliceAll(
          to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
          count: count, through: pipe)
      case .copyFileRange:
        return try source.copyFileRangeAll(
          to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
          count: count)
      case .readWrite:
        var scratch: AlignedBuffer
        do { scratch = try AlignedBuffer(count: 4096) } catch {
          throw TransferFailure(errno: error, progress: .init())
        }
        return try scratch.withUnsafeMutableBytes { buffer throws(TransferFailure) in
          try source.readWriteCopy(
            to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
            count: count, buffer: buffer)
        }
      case .readWriteOnStack:
        return try source.readWriteCopy(
          to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
          count: count, stackBufferSize: 4099)
      }
    }
  }

  static let methodsAndSizes: [(Method, Int)] = Method.allCases.flatMap { m in
    interestingSizes.map { (m, $0) }
  }

  @Test("file → file with offsets, exact count", arguments: methodsAndSizes)
  func fileToFileWithOffsets(method: Method, size: Int) throws {
    let data = pattern(size, seed: UInt32(size + 1))
    let prefix = pattern(13, seed: 77)
    let source = try temporaryFile(prefix + data + pattern(5))
    defer { try? source.close() }
    let destination = try temporaryFile(pattern(7, seed: 3))
    defer { try? destination.close() }

    let result = try method.run(
      source, destination, sourceOffset: 13, destinationOffset: 7, count: .bytes(size))
    #expect(result.outcome == .complete)
    #expect(result.bytes == Int64(size))
    #expect(result.progress.discarded == 0)
    if size == 0 { #expect(result.progress.syscalls == 0) } else { #expect(result.progress.syscalls >= 1) }
    #expect(try position(source) == 0)
    expectSameBytes(try contents(of: destination), pattern(7, seed: 3) + data)
  }

  @Test("file → file from the file positions, until end of file", arguments: methodsAndSizes)
  func fileToFileUntilEndOfFile(method: Method, size: Int) throws {
    let data = pattern(size, seed: 3)
    let source = try temporaryFile(pattern(2) + data)
    defer { try? source.close() }
    _ = try source.seek(offset: 2, from: .start)
    let destination = try temporaryFile()
    defer { try? destination.close() }

    let result = try method.run(
      source, destination, sourceOffset: nil, destinationOffset: nil, count: .untilEndOfFile)
    #expect(result.outcome == .complete)
    #expect(result.bytes == Int64(size))
    #expect(try position(source) == 2 + Int64(size))
    #expect(try position(destination) == Int64(size))
    expectSameBytes(try contents(of: destination), data)
  }

  @Test(
    "a source shorter than the count ends with .sourceEndedEarly and exact bytes",
    arguments: methodsAndSizes)
  func shortSource(method: Method, size: Int) throws {
    let data = pattern(size, seed: 11)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }

    let result = try method.run(
      source, destination, sourceOffset: 0, destinationOffset: 0, count: .bytes(size + 1000))
    #expect(result.outcome == .sourceEndedEarly)
    #expect(result.bytes == Int64(size))
    expectSameBytes(try contents(of: destination), data)
    // Starting past the end: nothing, at once.
    let past = try method.run(
      source, destination, sourceOffset: Int64(size) + 5, destinationOffset: 0, count: 10)
    #expect(past.outcome == .sourceEndedEarly)
    #expect(past.bytes == 0)
  }

  @Test(
    "file → socket (through the kernel only) with a reader", arguments: [Method.sendfile, .splice, .readWrite, .readWriteOnStack])
  func fileToSocket(method: Method) throws {
    let size = (3 << 20) + 17
    let data = pattern(size, seed: 21)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let (sender, receiver) = try socketPair()
    let reader = startReader(receiver)
    let result = try method.run(source, sender, sourceOffset: 0, destinationOffset: nil, count: .untilEndOfFile)
    try sender.close()
    let received = reader.join()
    try receiver.close()
    #expect(result.outcome == .complete)
    #expect(result.bytes == Int64(size))
    #expect(received.error == nil)
    expectSameBytes(received.bytes, data)
  }

  @Test("splice pipe → file and file → pipe move directly", arguments: interestingSizes)
  func spliceDirect(size: Int) throws {
    let data = pattern(size, seed: 8)
    // pipe → file: a writer thread feeds the pipe.
    let pipe = try Pipe()
    let (readEnd, writeEnd) = pipe.releaseDescriptors()
    let writer = TestThread { () -> Errno? in
      defer { try? writeEnd.close() }
      do { _ = try writeEnd.writeAll(data) } catch { return error as? Errno }
      return nil
    }
    let destination = try temporaryFile()
    defer { try? destination.close() }
    let intoFile = try readEnd.spliceAll(to: destination, destinationOffset: 0, count: .untilEndOfFile)
    #expect(writer.join() == nil)
    try readEnd.close()
    #expect(intoFile.outcome == .complete)
    #expect(intoFile.bytes == Int64(size))
    #expect(intoFile.progress.discarded == 0)
    expectSameBytes(try contents(of: destination), data)

    // file → pipe: a reader thread drains the pipe.
    let second = try Pipe()
    let (r2, w2) = second.releaseDescriptors()
    let reader = startReader(r2)
    let fromFile = try destination.spliceAll(to: w2, sourceOffset: 0, count: .bytes(size))
    try w2.close()
    let received = reader.join()
    try r2.close()
    #expect(fromFile.outcome == .complete)
    #expect(fromFile.bytes == Int64(size))
    expectSameBytes(received.bytes, data)
  }

  @Test("spliceAll through a caller's pipe: the pipe capacity bounds each leg")
  func splicePooledPipeCounts() throws {
    let size = (1 << 20) + 3
    let data = pattern(size)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }
    let pipe = try Pipe()
    #expect(try pipe.setCapacityRetrying(1 << 18) == 1 << 18)
    let result = try source.spliceAll(
      to: destination, sourceOffset: 0, destinationOffset: 0, count: .bytes(size), through: pipe)
    #expect(result.outcome == .complete)
    #expect(result.bytes == Int64(size))
    // 5 pulls of ≤ 256 KiB and (at least) 5 pushes.
    #expect(result.progress.syscalls >= 10)
    #expect(try pipe.readableBytes == 0)
    expectSameBytes(try contents(of: destination), data)
    // The pipe is reusable.
    let again = try source.spliceAll(
      to: destination, sourceOffset: 0, destinationOffset: Int64(size), count: 4097, through: pipe)
    #expect(again == TransferResult(outcome: .complete, progress: .init(bytes: 4097, syscalls: 2)))
  }

  @Test("spliceAll refuses a caller's pipe that is not empty (EBUSY)")
  func splicePipeNotEmpty() throws {
    let source = try temporaryFile(pattern(100))
    defer { try? source.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }
    let pipe = try Pipe()
    _ = try pipe.writeEnd.writeAll([1, 2, 3])
    let failure = #expect(throws: TransferFailure.self) {
      try source.spliceAll(to: destination, sourceOffset: 0, destinationOffset: 0, count: 100, through: pipe)
    }
    #expect(failure == TransferFailure(errno: .resourceBusy, progress: .init()))
    #expect(try pipe.readableBytes == 3)
  }

  @Test("readAll / writeAll at offsets and positions", arguments: interestingSizes)
  func readAllWriteAll(size: Int) throws {
    let data = pattern(size, seed: 99)
    let file = try temporaryFile()
    defer { try? file.close() }

    let written = try data.withUnsafeBytes { try file.writeAll($0, at: 9) }
    #expect(written.outcome == .complete)
    #expect(written.bytes == Int64(size))
    #expect(written.progress.syscalls == (size == 0 ? 0 : 1))
    #expect(try position(file) == 0)
    #expect(fileSize(file) == (size == 0 ? 0 : 9 + Int64(size)))

    var back = [UInt8](repeating: 0, count: size)
    let read = try back.withUnsafeMutableBytes { try file.readAll(into: $0, at: 9) }
    #expect(read == TransferResult(outcome: .complete, progress: .init(bytes: Int64(size), syscalls: size == 0 ? 0 : 1)))
    expectSameBytes(back, data)

    // By position: append after the current end, then read from the start.
    _ = try file.seek(offset: 0, from: .end)
    let appended = try data.withUnsafeBytes { try file.writeAll($0, at: nil) }
    #expect(appended.outcome == .complete)
    _ = try file.seek(offset: fileSize(file) - Int64(size), from: .start)
    var tail = [UInt8](repeating: 0, count: size)
    let tailRead = try tail.withUnsafeMutableBytes { try file.readAll(into: $0, at: nil) }
    #expect(tailRead.outcome == .complete)
    expectSameBytes(tail, data)

    // Reading past the end: exactly what is there.
    var more = [UInt8](repeating: 0, count: size + 10)
    let short = try more.withUnsafeMutableBytes { try file.readAll(into: $0, at: fileSize(file) - Int64(size)) }
    #expect(short.outcome == .sourceEndedEarly)
    #expect(short.bytes == Int64(size))
    expectSameBytes(Array(more[0..<size]), data)
  }

  @Test("/proc/self/status as a source: the exact outcome of each method on this kernel")
  func procSource() throws {
    let proc = try FileDescriptor.open("/proc/self/status", .readOnly, options: .closeOnExec)
    defer { try? proc.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }

    // sendfile: /proc files have no splice_read for sendfile's direct path → EINVAL.
    let sendfile = #expect(throws: TransferFailure.self) {
      try proc.sendfileAll(to: destination, sourceOffset: 0, count: .untilEndOfFile)
    }
    #expect(sendfile == TransferFailure(errno: .invalidArgument, progress: .init(bytes: 0, syscalls: 1)))
    // copy_file_range: different superblocks → EXDEV.
    let cfr = #expect(throws: TransferFailure.self) {
      try proc.copyFileRangeAll(to: destination, sourceOffset: 0, destinationOffset: 0, count: .untilEndOfFile)
    }
    #expect(cfr == TransferFailure(errno: .improperLink, progress: .init(bytes: 0, syscalls: 1)))
    // read/write works and copies the whole file.
    var scratch = [UInt8](repeating: 0, count: 1 << 16)
    let rw = try scratch.withUnsafeMutableBytes {
      try proc.readWriteCopy(to: destination, sourceOffset: 0, destinationOffset: 0, count: .untilEndOfFile, buffer: $0)
    }
    #expect(rw.outcome == .complete)
    #expect(rw.bytes > 0)
    let text = String(decoding: try contents(of: destination), as: UTF8.self)
    #expect(text.hasPrefix("Name:"))
    #expect(text.hasSuffix("\n"))
  }

  @Test("readWriteCopy on the C loop's stack: reads of at most stackBufferSize bytes, 1...16 KiB")
  func readWriteOnStackSizes() async throws {
    #expect(FileDescriptor.readWriteStackBufferLimit == 16 << 10)
    let data = pattern(40_000, seed: 9)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    // (stack buffer, reads + writes of 40,000 bytes): each read fills the buffer.
    for (size, calls) in [(4096, 2 * 10), (FileDescriptor.readWriteStackBufferLimit, 2 * 3), (1, 2 * 40_000)] {
      let destination = try temporaryFile()
      defer { try? destination.close() }
      let result = try source.readWriteCopy(
        to: destination, sourceOffset: 0, destinationOffset: 0, count: 40_000, stackBufferSize: size)
      #expect(result.outcome == .complete, "stack buffer \(size)")
      #expect(result.bytes == 40_000)
      #expect(result.progress.syscalls == calls, "stack buffer \(size)")
      expectSameBytes(try contents(of: destination), data)
    }
    // Outside 1...16 KiB: a precondition failure, not a call with a bad length.
    await #expect(processExitsWith: .failure) {
      let destination = FileDescriptor(rawValue: 1)
      _ = try? FileDescriptor(rawValue: 0).readWriteCopy(to: destination, count: 1, stackBufferSize: 0)
    }
    await #expect(processExitsWith: .failure) {
      let destination = FileDescriptor(rawValue: 1)
      _ = try? FileDescriptor(rawValue: 0).readWriteCopy(
        to: destination, count: 1, stackBufferSize: FileDescriptor.readWriteStackBufferLimit + 1)
    }
  }

  @Test("copy_file_range ext4 → tmpfs is EXDEV with no progress")
  func copyFileRangeAcrossFilesystems() throws {
    let source = try temporaryFile(pattern(5000))
    defer { try? source.close() }
    let shm = try temporaryFile(in: memoryDirectory)
    defer { try? shm.close() }
    let failure = #expect(throws: TransferFailure.self) {
      try source.copyFileRangeAll(to: shm, sourceOffset: 0, destinationOffset: 0, count: 5000)
    }
    #expect(failure == TransferFailure(errno: .improperLink, progress: .init(bytes: 0, syscalls: 1)))
    // The same within one tmpfs works.
    let shmSource = try temporaryFile(pattern(5000), in: memoryDirectory)
    defer { try? shmSource.close() }
    let ok = try shmSource.copyFileRangeAll(to: shm, sourceOffset: 0, destinationOffset: 0, count: 5000)
    #expect(ok.outcome == .complete)
    #expect(ok.bytes == 5000)
    expectSameBytes(try contents(of: shm), pattern(5000))
  }

  @Test("EBADF, EINVAL, ESPIPE from the all helpers")
  func errors() throws {
    let file = try temporaryFile(pattern(100))
    defer { try? file.close() }
    let other = try temporaryFile()
    defer { try? other.close() }
    let closed = FileDescriptor(rawValue: -1)
    let none = TransferProgress()

    #expect(throws: TransferFailure(errno: .badFileDescriptor, progress: .init(syscalls: 1))) {
      try closed.sendfileAll(to: other, count: 10)
    }
    #expect(throws: TransferFailure(errno: .badFileDescriptor, progress: none)) {
      try closed.spliceAll(to: other, count: 10)
    }
    #expect(throws: TransferFailure(errno: .badFileDescriptor, progress: .init(syscalls: 1))) {
      try file.copyFileRangeAll(to: closed, count: 10)
    }
    #expect(throws: TransferFailure(errno: .badFileDescriptor, progress: .init(syscalls: 1))) {
      try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try closed.writeAll($0, at: 0) }
    }
    // A pipe read by offset.
    let pipe = try Pipe()
    _ = try pipe.writeEnd.writeAll([1, 2, 3])
    #expect(throws: TransferFailure(errno: .illegalSeek, progress: .init(syscalls: 1))) {
      var buffer = [UInt8](repeating: 0, count: 3)
      _ = try buffer.withUnsafeMutableBytes { try pipe.readEnd.readAll(into: $0, at: 0) }
    }
    #expect(throws: TransferFailure(errno: .illegalSeek, progress: .init(syscalls: 1))) {
      try pipe.readEnd.spliceAll(to: other, sourceOffset: 0, destinationOffset: 0, count: 3)
    }
    // An O_APPEND destination.
    let named = try NamedFile()
    defer { named.remove() }
    let append = try FileDescriptor.open(FilePath(named.path), .writeOnly, options: [.append, .closeOnExec])
    defer { try? append.close() }
    #expect(throws: TransferFailure(errno: .invalidArgument, progress: .init(syscalls: 1))) {
      try file.sendfileAll(to: append, sourceOffset: 0, count: 100)
    }
    // A directory as a source.
    let directory = try FileDescriptor.open("/tmp", .readOnly, options: [.directory, .closeOnExec])
    defer { try? directory.close() }
    #expect(throws: TransferFailure(errno: .isDirectory, progress: .init(syscalls: 1))) {
      var buffer = [UInt8](repeating: 0, count: 3)
      _ = try buffer.withUnsafeMutableBytes { try directory.readAll(into: $0, at: 0) }
    }
  }
}
