// The single zero-copy calls: byte-exact at every interesting size, with explicit
// offsets (not written back, file position untouched) and with file positions.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("Single calls")
struct SingleCallTests {
  @Test("sendfile with an explicit source offset", arguments: interestingSizes)
  func sendfileWithOffset(size: Int) throws {
    let data = pattern(size)
    let source = try temporaryFile(pattern(7, seed: 5) + data)
    defer { try? source.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }

    var done = 0
    var calls = 0
    while done < size {
      let n = try source.sendfile(to: destination, sourceOffset: 7 + Int64(done), count: size - done)
      calls += 1
      try #require(n > 0)
      done += n
    }
    #expect(done == size)
    #expect(calls == (size == 0 ? 0 : 1))  // a regular file moves all of it in one call
    expectSameBytes(try contents(of: destination), data)
    #expect(try position(source) == 0)  // the explicit offset left the position alone
    #expect(try position(destination) == Int64(size))
    // At the end of the file: 0.
    #expect(try source.sendfile(to: destination, sourceOffset: 7 + Int64(size), count: 10) == 0)
  }

  @Test("sendfile from the file position", arguments: interestingSizes)
  func sendfileFromPosition(size: Int) throws {
    let data = pattern(size)
    let source = try temporaryFile(pattern(3, seed: 9) + data)
    defer { try? source.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }
    _ = try source.seek(offset: 3, from: .start)

    let n = try source.sendfile(to: destination, count: size)
    #expect(n == size)
    #expect(try position(source) == 3 + Int64(size))
    expectSameBytes(try contents(of: destination), data)
  }

  @Test("splice file → pipe → file with offsets on both files", arguments: interestingSizes)
  func spliceThroughPipe(size: Int) throws {
    let data = pattern(size)
    let source = try temporaryFile(pattern(5, seed: 1) + data)
    defer { try? source.close() }
    let destination = try temporaryFile(pattern(3, seed: 2))
    defer { try? destination.close() }
    let pipe = try Pipe()
    let capacity = try pipe.capacity

    var done = 0
    while done < size {
      let pulled = try source.splice(
        to: pipe.writeEnd, sourceOffset: 5 + Int64(done), count: min(size - done, capacity))
      try #require(pulled > 0)
      #expect(try pipe.readableBytes == pulled)
      var pushed = 0
      while pushed < pulled {
        let n = try pipe.readEnd.splice(
          to: destination, destinationOffset: 3 + Int64(done + pushed), count: pulled - pushed)
        try #require(n > 0)
        pushed += n
      }
      done += pulled
    }
    #expect(try pipe.readableBytes == 0)
    #expect(try position(source) == 0)
    #expect(try position(destination) == 0)
    let written = try contents(of: destination)
    #expect(written.count == 3 + size)
    expectSameBytes(Array(written.dropFirst(3)), data)
    // End of the input: 0.
    #expect(try source.splice(to: pipe.writeEnd, sourceOffset: 5 + Int64(size), count: 1) == 0)
  }

  @Test("splice from the file positions", arguments: interestingSizes)
  func spliceFromPositions(size: Int) throws {
    let data = pattern(size)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    let destination = try temporaryFile()
    defer { try? destination.close() }
    _ = try source.seek(offset: 0, from: .start)
    let pipe = try Pipe()
    try pipe.setCapacityRetrying(1 << 20)

    var done = 0
    while done < size {
      let pulled = try source.splice(to: pipe.writeEnd, count: size - done, flags: [.move, .more])
      try #require(pulled > 0)
      var pushed = 0
      while pushed < pulled {
        pushed += try pipe.readEnd.splice(to: destination, count: pulled - pushed)
      }
      done += pulled
    }
    #expect(try position(source) == Int64(size))
    #expect(try position(destination) == Int64(size))
    expectSameBytes(try contents(of: destination), data)
  }

  @Test("tee duplicates without consuming", arguments: interestingSizes)
  func tee(size: Int) throws {
    let data = pattern(size)
    let first = try Pipe()
    let second = try Pipe()
    let chunk = 1 << 16
    var copyA: [UInt8] = []
    var copyB: [UInt8] = []
    var offset = 0
    while offset < size {
      let piece = Array(data[offset..<min(size, offset + chunk)])
      _ = try first.writeEnd.writeAll(piece)
      var teed = 0
      while teed < piece.count {
        // tee always starts at the head of the source pipe: count the duplicate once.
        let n = try first.readEnd.tee(to: second.writeEnd, count: piece.count)
        try #require(n == piece.count)
        teed = n
      }
      #expect(try first.readableBytes == piece.count)  // not consumed
      #expect(try second.readableBytes == piece.count)
      copyA += try readExactly(first.readEnd, piece.count)
      copyB += try readExactly(second.readEnd, piece.count)
      offset += piece.count
    }
    expectSameBytes(copyA, data, "source pipe")
    expectSameBytes(copyB, data, "teed pipe")
    // An empty pipe whose writers are gone: 0.
    let empty = try Pipe()
    let (r, w) = empty.releaseDescriptors()
    try w.close()
    let sink = try Pipe()
    #expect(try r.tee(to: sink.writeEnd, count: 10) == 0)
    try r.close()
  }

  @Test("vmsplice user memory into a pipe", arguments: interestingSizes)
  func vmsplice(size: Int) throws {
    let data = pattern(size)
    let pipe = try Pipe()
    var received: [UInt8] = []
    try data.withUnsafeBytes { all in
      var offset = 0
      while offset < size {
        let n = try pipe.writeEnd.unsafeVmsplice(UnsafeRawBufferPointer(rebasing: all[offset...]))
        try #require(n > 0)
        // The reader must consume before the memory may change; it is immutable here.
        received += try readExactly(pipe.readEnd, n)
        offset += n
      }
    }
    expectSameBytes(received, data)
  }

  @Test("vmsplice several buffers in one call")
  func vmspliceVector() throws {
    let a = pattern(100, seed: 1)
    let b = pattern(4097, seed: 2)
    let c = pattern(1, seed: 3)
    let pipe = try Pipe()
    let n = try a.withUnsafeBytes { pa in
      try b.withUnsafeBytes { pb in
        try c.withUnsafeBytes { pc in
          try pipe.writeEnd.unsafeVmsplice([pa, pb, pc], flags: [.nonBlocking])
        }
      }
    }
    #expect(n == 4198)
    expectSameBytes(try readExactly(pipe.readEnd, n), a + b + c)
  }

  @Test("copy_file_range with offsets on both files", arguments: interestingSizes)
  func copyFileRange(size: Int) throws {
    let data = pattern(size)
    let source = try temporaryFile(pattern(5, seed: 4) + data)
    defer { try? source.close() }
    let destination = try temporaryFile(pattern(11, seed: 6))
    defer { try? destination.close() }
    var done = 0
    while done < size {
      let n = try source.copyFileRange(
        to: destination, sourceOffset: 5 + Int64(done), destinationOffset: 11 + Int64(done),
        count: size - done)
      try #require(n > 0)
      done += n
    }
    #expect(try position(source) == 0)
    #expect(try position(destination) == 0)
    let written = try contents(of: destination)
    expectSameBytes(written, pattern(11, seed: 6) + data)
    #expect(try source.copyFileRange(to: destination, sourceOffset: 5 + Int64(size), count: 9) == 0)
  }

  @Test("copy_file_range from the file positions", arguments: interestingSizes)
  func copyFileRangeFromPositions(size: Int) throws {
    let data = pattern(size)
    let source = try temporaryFile(data)
    defer { try? source.close() }
    _ = try source.seek(offset: 0, from: .start)
    let destination = try temporaryFile()
    defer { try? destination.close() }
    var done = 0
    while done < size {
      let n = try source.copyFileRange(to: destination, count: size - done)
      try #require(n > 0)
      done += n
    }
    #expect(try position(source) == Int64(size))
    #expect(try position(destination) == Int64(size))
    expectSameBytes(try contents(of: destination), data)
  }

  // MARK: Errors

  @Test("EBADF, EINVAL, ESPIPE, EXDEV map to the right Errno")
  func errors() throws {
    let file = try temporaryFile(pattern(100))
    defer { try? file.close() }
    let other = try temporaryFile()
    defer { try? other.close() }
    let closed = FileDescriptor(rawValue: -1)
    let pipe = try Pipe()

    #expect(throws: Errno.badFileDescriptor) { try closed.sendfile(to: other, count: 1) }
    #expect(throws: Errno.badFileDescriptor) { try file.splice(to: closed, count: 1) }
    #expect(throws: Errno.badFileDescriptor) { try closed.copyFileRange(to: other, count: 1) }
    #expect(throws: Errno.badFileDescriptor) { try closed.tee(to: pipe.writeEnd, count: 1) }
    // splice between two regular files: neither end is a pipe.
    #expect(throws: Errno.invalidArgument) { try file.splice(to: other, count: 10) }
    // tee needs two pipes.
    #expect(throws: Errno.invalidArgument) { try file.tee(to: pipe.writeEnd, count: 10) }
    // tee from a pipe to itself.
    #expect(throws: Errno.invalidArgument) { try pipe.readEnd.tee(to: pipe.writeEnd, count: 10) }
    // An offset for a pipe end.
    #expect(throws: Errno.illegalSeek) {
      try file.splice(to: pipe.writeEnd, sourceOffset: 0, destinationOffset: 0, count: 10)
    }
    // sendfile reading a pipe by offset.
    _ = try pipe.writeEnd.writeAll([1, 2, 3])
    #expect(throws: Errno.illegalSeek) { try pipe.readEnd.sendfile(to: other, sourceOffset: 0, count: 3) }
    // copy_file_range across filesystems (ext4 → tmpfs).
    let shm = try temporaryFile(in: memoryDirectory)
    defer { try? shm.close() }
    #expect(throws: Errno.improperLink) {
      try file.copyFileRange(to: shm, sourceOffset: 0, destinationOffset: 0, count: 100)
    }
    // vmsplice into a descriptor that is not a pipe.
    #expect(throws: Errno.badFileDescriptor) {
      try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try file.unsafeVmsplice($0) }
    }
  }

  @Test("sendfile to an O_APPEND file is EINVAL")
  func sendfileToAppend() throws {
    let named = try NamedFile()
    defer { named.remove() }
    let append = try FileDescriptor.open(
      FilePath(named.path), .writeOnly, options: [.append, .closeOnExec])
    defer { try? append.close() }
    let source = try temporaryFile(pattern(10))
    defer { try? source.close() }
    #expect(throws: Errno.invalidArgument) { try source.sendfile(to: append, sourceOffset: 0, count: 10) }
  }

  @Test("a non-blocking full pipe gives EAGAIN, not a partial hang")
  func nonBlockingSplice() throws {
    let pipe = try Pipe(nonBlocking: true)
    let capacity = try pipe.capacity
    let source = try temporaryFile(pattern(capacity + 4096))
    defer { try? source.close() }
    let n = try source.splice(to: pipe.writeEnd, sourceOffset: 0, count: capacity + 4096, flags: .nonBlocking)
    #expect(n == capacity)
    #expect(throws: Errno.resourceTemporarilyUnavailable) {
      try source.splice(to: pipe.writeEnd, sourceOffset: Int64(n), count: 4096, flags: .nonBlocking)
    }
  }
}
