// Pipe: creation flags, capacity control, readable bytes, deterministic closing; the same
// calls on a borrowed FileDescriptor (pipeCapacity, setPipeCapacity, readableBytes).

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("Pipe")
struct PipeTests {
  @Test("both ends are O_CLOEXEC; nonBlocking sets O_NONBLOCK on both", arguments: [false, true])
  func flags(nonBlocking: Bool) throws {
    let pipe = try Pipe(nonBlocking: nonBlocking)
    #expect(isCloseOnExec(pipe.readEnd))
    #expect(isCloseOnExec(pipe.writeEnd))
    #expect(fcntl(pipe.readEnd.rawValue, F_GETFL) & O_NONBLOCK == (nonBlocking ? O_NONBLOCK : 0))
    #expect(fcntl(pipe.writeEnd.rawValue, F_GETFL) & O_NONBLOCK == (nonBlocking ? O_NONBLOCK : 0))
    #expect(fcntl(pipe.readEnd.rawValue, F_GETFL) & O_ACCMODE == O_RDONLY)
    #expect(fcntl(pipe.writeEnd.rawValue, F_GETFL) & O_ACCMODE == O_WRONLY)
  }

  @Test("capacity: default, rounding to power-of-two pages, limits")
  func capacity() throws {
    let pipe = try Pipe()
    // 64 KiB; 8 KiB when an unprivileged user is already past fs.pipe-user-pages-soft
    // (tests running in parallel hold many 1 MiB pipes).
    let initial = try pipe.capacity
    #expect(initial == 65536 || (pipeLimitsApply && initial == 8192), "initial capacity \(initial)")
    #expect(try pipe.setCapacityRetrying(100_000) == 131_072)
    #expect(try pipe.capacity == 131_072)
    #expect(try pipe.setCapacity(1) == 4096)
    #expect(try pipe.setCapacityRetrying(4097) == 8192)
    #expect(try pipe.setCapacityRetrying(1 << 20) == 1 << 20)
    #expect(throws: Errno.invalidArgument) { try pipe.setCapacity(0) }

    // The system maximum, exactly as /proc says.
    let proc = try FileDescriptor.open("/proc/sys/fs/pipe-max-size", .readOnly, options: .closeOnExec)
    let text = String(decoding: try readExactly(proc, 64), as: UTF8.self)
    try proc.close()
    let expected = Int(text.split(separator: "\n")[0])
    #expect(try Pipe.maximumCapacity == expected)
    #expect(try Pipe.maximumCapacity == 1_048_576)

    // Above the maximum: EPERM without CAP_SYS_RESOURCE (which this machine's root lacks).
    if try hasEffectiveCapability(24) {  // CAP_SYS_RESOURCE
      #expect(try pipe.setCapacity(2 << 20) == 2 << 20)
    } else {
      #expect(throws: Errno.notPermitted) { try pipe.setCapacity(2 << 20) }
    }
  }

  @Test("shrinking below the bytes in the pipe is EBUSY; readableBytes is exact")
  func busyAndReadable() throws {
    let pipe = try Pipe()
    #expect(try pipe.setCapacityRetrying(1 << 20) == 1 << 20)
    #expect(try pipe.readableBytes == 0)
    let data = pattern(200_000)
    _ = try pipe.writeEnd.writeAll(data)
    #expect(try pipe.readableBytes == 200_000)
    #expect(throws: Errno.resourceBusy) { try pipe.setCapacity(65536) }
    expectSameBytes(try readExactly(pipe.readEnd, 1000), Array(data[0..<1000]))
    #expect(try pipe.readableBytes == 199_000)
  }

  @Test("FileDescriptor.pipeCapacity/setPipeCapacity on either end agree with Pipe's")
  func borrowedCapacity() throws {
    let pipe = try Pipe()
    let initial = try pipe.capacity
    #expect(try pipe.readEnd.pipeCapacity == initial)
    #expect(try pipe.writeEnd.pipeCapacity == initial)
    // Set through one end, read through the other (and through Pipe, which reads the
    // read end and sets through the write end).
    #expect(try pipe.readEnd.setPipeCapacityRetrying(100_000) == 131_072)
    #expect(try pipe.writeEnd.pipeCapacity == 131_072)
    #expect(try pipe.capacity == 131_072)
    #expect(try pipe.setCapacityRetrying(1 << 20) == 1 << 20)
    #expect(try pipe.readEnd.pipeCapacity == 1 << 20)
    #expect(try pipe.writeEnd.setPipeCapacity(4097) == 8192)  // shrinking: never EPERM
    #expect(try pipe.readEnd.pipeCapacity == 8192)
    #expect(try pipe.capacity == 8192)
    #expect(throws: Errno.invalidArgument) { try pipe.readEnd.setPipeCapacity(0) }
    #expect(try pipe.capacity == 8192, "a refused call changes nothing")

    // Shrinking below the bytes in the pipe: EBUSY, through either end.
    _ = try pipe.writeEnd.writeAll(pattern(5000))
    #expect(throws: Errno.resourceBusy) { try pipe.readEnd.setPipeCapacity(4096) }
    #expect(throws: Errno.resourceBusy) { try pipe.writeEnd.setPipeCapacity(4096) }
    #expect(try pipe.capacity == 8192)
  }

  @Test("FileDescriptor.readableBytes: exactly the bytes written, on both ends of a pipe")
  func borrowedReadableBytesOnAPipe() throws {
    let pipe = try Pipe()
    #expect(try pipe.readEnd.readableBytes == 0)
    #expect(try pipe.writeEnd.readableBytes == 0)
    let data = pattern(3000)  // less than a page: fits even a one-page pipe
    _ = try pipe.writeEnd.writeAll(data)
    #expect(try pipe.readEnd.readableBytes == 3000)
    #expect(try pipe.writeEnd.readableBytes == 3000)
    #expect(try pipe.readableBytes == 3000)
    expectSameBytes(try readExactly(pipe.readEnd, 1234), Array(data[0..<1234]))
    #expect(try pipe.readEnd.readableBytes == 1766)
    #expect(try pipe.writeEnd.readableBytes == 1766)
    #expect(try pipe.readableBytes == 1766)
  }

  @Test("FileDescriptor.readableBytes: exactly the bytes the peer sent, on a socketpair")
  func borrowedReadableBytesOnASocket() throws {
    let (a, b) = try socketPair()
    defer {
      try? a.close()
      try? b.close()
    }
    #expect(try b.readableBytes == 0)
    let data = pattern(10_000)
    _ = try a.writeAll(data)
    #expect(try b.readableBytes == 10_000)
    #expect(try a.readableBytes == 0, "nothing was sent to a")
    _ = try b.writeAll(data[0..<7])
    #expect(try a.readableBytes == 7)
    expectSameBytes(try readExactly(b, 4000), Array(data[0..<4000]))
    #expect(try b.readableBytes == 6000)
  }

  @Test("FileDescriptor.readableBytes on a regular file: from the position to the end")
  func borrowedReadableBytesOnAFile() throws {
    let file = try temporaryFile(pattern(1000))
    defer { try? file.close() }
    #expect(try file.readableBytes == 1000)  // position 0
    _ = try file.seek(offset: 100, from: .start)
    #expect(try file.readableBytes == 900)
    _ = try file.seek(offset: 0, from: .end)
    #expect(try file.readableBytes == 0)
    // Past the end the kernel's count is negative (end - position = -5): 0, as a read
    // there returns (it read as Errno 5, EIO, before zc_readable_bytes clamped it).
    _ = try file.seek(offset: 1005, from: .start)
    #expect(try file.readableBytes == 0)
  }

  @Test("the borrowing calls' errors: not a pipe is EBADF, not a descriptor is EBADF, a directory has no FIONREAD")
  func borrowedErrors() throws {
    let file = try temporaryFile(pattern(100))
    defer { try? file.close() }
    // F_GETPIPE_SZ/F_SETPIPE_SZ on anything but a pipe: the kernel answers EBADF.
    #expect(throws: Errno.badFileDescriptor) { try file.pipeCapacity }
    #expect(throws: Errno.badFileDescriptor) { try file.setPipeCapacity(4096) }
    let (a, b) = try socketPair()
    defer {
      try? a.close()
      try? b.close()
    }
    #expect(throws: Errno.badFileDescriptor) { try a.pipeCapacity }
    #expect(throws: Errno.badFileDescriptor) { try a.setPipeCapacity(4096) }

    // Not an open descriptor (-1 is never one, unlike a closed number another test may reuse).
    let invalid = FileDescriptor(rawValue: -1)
    #expect(throws: Errno.badFileDescriptor) { try invalid.pipeCapacity }
    #expect(throws: Errno.badFileDescriptor) { try invalid.setPipeCapacity(4096) }
    #expect(throws: Errno.badFileDescriptor) { try invalid.readableBytes }

    // FIONREAD on a directory: ENOTTY.
    let directory = try FileDescriptor.open("/tmp", .readOnly, options: [.directory, .closeOnExec])
    defer { try? directory.close() }
    #expect(throws: Errno.inappropriateIOCTLForDevice) { try directory.readableBytes }
  }

  /// Proves, without racing on descriptor numbers, that a pipe's ends were closed:
  /// a duplicate of the read end sees end of file (no writer left), and a duplicate of
  /// the write end gets EPIPE (no reader left).
  private func expectClosed(
    after dispose: (consuming Pipe) throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let first = try Pipe()
    let readCopy = try first.readEnd.duplicate()
    try dispose(first)
    guard peerGone(readCopy) else {
      // The read below would wait forever.
      Issue.record("the write end is still open", sourceLocation: sourceLocation)
      try readCopy.close()
      return
    }
    var byte: UInt8 = 0
    let n = try withUnsafeMutableBytes(of: &byte) { try readCopy.read(into: $0) }
    #expect(n == 0, "the write end is still open", sourceLocation: sourceLocation)
    try readCopy.close()

    let second = try Pipe()
    let writeCopy = try second.writeEnd.duplicate()
    try dispose(second)
    #expect(peerGone(writeCopy), "the read end is still open", sourceLocation: sourceLocation)
    #expect(
      throws: TransferFailure(errno: .brokenPipe, progress: .init(bytes: 0, syscalls: 1)),
      "the read end is still open", sourceLocation: sourceLocation
    ) {
      try [UInt8](repeating: 0, count: 1).withUnsafeBytes { try writeCopy.writeAll($0, at: nil) }
    }
    try writeCopy.close()
  }

  @Test("deinit closes both ends")
  func deinitCloses() throws {
    try expectClosed { pipe in _ = consume pipe }
  }

  @Test("close() closes both ends")
  func explicitClose() throws {
    try expectClosed { pipe in try pipe.close() }
  }

  @Test("releaseDescriptors gives up ownership without closing")
  func release() throws {
    let pipe = try Pipe()
    let (r, w) = pipe.releaseDescriptors()
    _ = try w.writeAll([1, 2, 3])
    #expect(try readExactly(r, 3) == [1, 2, 3])
    // Adopt them again: the new owner closes them.
    let adopted = Pipe(takingOwnershipOf: r, w)
    #expect(try adopted.readableBytes == 0)
    try adopted.close()
  }
}
