// The blocking calls of an I/O engine's thread pool (FileDescriptor+Readiness.swift):
// vectored reads and writes with and without an offset, send/recv with MSG_* flags,
// accept and connect on loopback, and PollSet — exact bytes, counts, events and errnos.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("Vectored I/O, sockets and poll (the thread-pool engine's calls)")
struct ReadinessCallTests {
  @Test("writev/pwritev and readv/preadv: the buffers in order, the position moved only without an offset")
  func vectored() throws {
    let file = try temporaryFile()
    defer { try? file.close() }
    let a = pattern(1000, seed: 1)
    let b = pattern(3000, seed: 2)
    let written = try a.withUnsafeBytes { pa in
      try b.withUnsafeBytes { pb in try file.unsafeWrite([pa, pb]) }
    }
    #expect(written == 4000)
    #expect(try position(file) == 4000)
    let c = pattern(10, seed: 3)
    #expect(try c.withUnsafeBytes { try file.unsafeWrite([$0], at: 100) } == 10)
    #expect(try position(file) == 4000)  // pwritev leaves the position
    var expected = a + b
    expected.replaceSubrange(100..<110, with: c)

    var first = [UInt8](repeating: 0, count: 7)
    var second = [UInt8](repeating: 0, count: 5000)
    let read = try first.withUnsafeMutableBytes { p1 in
      try second.withUnsafeMutableBytes { p2 in try file.unsafeRead(into: [p1, p2], at: 0) }
    }
    #expect(read == 4000)
    #expect(first == Array(expected[0..<7]))
    #expect(Array(second[0..<3993]) == Array(expected[7...]))
    try file.setPosition(3990)
    var tail = [UInt8](repeating: 0, count: 64)
    #expect(try tail.withUnsafeMutableBytes { try file.unsafeRead(into: [$0]) } == 10)
    #expect(try position(file) == 4000)
    #expect(Array(tail[0..<10]) == Array(expected[3990...]))
    let pipe = try Pipe()
    #expect(throws: Errno.illegalSeek) {
      try tail.withUnsafeMutableBytes { try pipe.readEnd.unsafeRead(into: [$0], at: 0) }
    }
  }

  @Test("send and recv with MSG_DONTWAIT: the bytes, then EAGAIN on an empty socket; EPIPE without SIGPIPE")
  func sendAndReceive() throws {
    let (left, right) = try socketPair()
    defer { try? left.close() }
    let message = pattern(777)
    #expect(try message.withUnsafeBytes { try left.send($0, flags: .noSignal) } == 777)
    var buffer = [UInt8](repeating: 0, count: 1024)
    #expect(try buffer.withUnsafeMutableBytes { try right.receive(into: $0, flags: .dontWait) } == 777)
    #expect(Array(buffer[0..<777]) == message)
    #expect(throws: Errno.resourceTemporarilyUnavailable) {
      try buffer.withUnsafeMutableBytes { try right.receive(into: $0, flags: .dontWait) }
    }
    try right.close()
    #expect(peerGone(left))
    #expect(throws: Errno.brokenPipe) { try message.withUnsafeBytes { try left.send($0, flags: .noSignal) } }
    #expect(FileDescriptor.MessageFlags.dontWait.rawValue == 0x40)
    #expect(FileDescriptor.MessageFlags.noSignal.rawValue == 0x4000)
  }

  @Test("connect and accept on loopback: the accepted socket is close-on-exec and carries the bytes; ECONNREFUSED")
  func connectAndAccept() throws {
    let listener = FileDescriptor(rawValue: socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0))
    var listening = true
    defer { if listening { try? listener.close() } }  // closed once: a second close could hit another test's descriptor
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { p in
      try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { s in
        guard bind(listener.rawValue, s, length) == 0, listen(listener.rawValue, 4) == 0,
          getsockname(listener.rawValue, s, &length) == 0
        else { throw Errno(rawValue: errno) }
      }
    }
    let client = FileDescriptor(rawValue: socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0))
    defer { try? client.close() }
    try withUnsafePointer(to: &address) { try client.connect(to: $0, length: UInt32(length)) }
    let accepted = try listener.accept()
    defer { try? accepted.close() }
    #expect(isCloseOnExec(accepted))
    #expect(try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try client.send($0) } == 3)
    var buffer = [UInt8](repeating: 0, count: 8)
    #expect(try buffer.withUnsafeMutableBytes { try accepted.receive(into: $0) } == 3)
    #expect(Array(buffer[0..<3]) == [1, 2, 3])

    listening = false
    try listener.close()
    // A port bound but not listening refuses connections. The port is held by this socket,
    // so a test running beside this one cannot take it (a closed listener's port could be
    // handed to another test's bind of port 0: the connect then reached that listener —
    // seen once in CI).
    let holder = FileDescriptor(rawValue: socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0))
    defer { try? holder.close() }
    var closed = sockaddr_in()
    closed.sin_family = sa_family_t(AF_INET)
    closed.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var closedLength = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &closed) { p in
      try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { s in
        guard bind(holder.rawValue, s, closedLength) == 0, getsockname(holder.rawValue, s, &closedLength) == 0 else {
          throw Errno(rawValue: errno)
        }
      }
    }
    let refused = FileDescriptor(rawValue: socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0))
    defer { try? refused.close() }
    #expect(throws: Errno.connectionRefused) {
      try withUnsafePointer(to: &closed) { try refused.connect(to: $0, length: UInt32(closedLength)) }
    }
    let pipe = try Pipe()
    #expect(throws: Errno.notSocket) { try pipe.readEnd.accept() }
  }

  @Test("PollSet: a full pipe is not writable, a pipe with data is readable, a negative descriptor is ignored, POLLHUP")
  func pollSet() throws {
    let pipe = try Pipe()
    var set = PollSet()
    set.append(pipe.readEnd, events: .readable)
    set.append(FileDescriptor(rawValue: -1), events: .readable)
    set.append(pipe.writeEnd, events: .writable)
    #expect(set.count == 3)
    #expect(try set.wait(timeoutMilliseconds: 0) == 1)
    #expect(set.returnedEvents(at: 0).isEmpty)
    #expect(set.returnedEvents(at: 1).isEmpty)
    #expect(set.returnedEvents(at: 2) == .writable)
    _ = try pipe.writeEnd.writeAll([42])
    #expect(try set.wait(timeoutMilliseconds: 0) == 2)
    #expect(set.returnedEvents(at: 0) == .readable)
    // A pipe whose write end is closed, empty: POLLHUP alone, even with no timeout.
    let (readEnd, writeEnd) = try Pipe().releaseDescriptors()
    defer { try? readEnd.close() }
    try writeEnd.close()
    set.removeAll(keepingCapacity: true)
    set.append(readEnd, events: .readable)
    #expect(try set.wait(timeoutMilliseconds: -1) == 1)
    #expect(set.returnedEvents(at: 0) == .hangUp)
    #expect(PollEvents.readable.rawValue == 1 && PollEvents.writable.rawValue == 4)
  }

  @Test("socket setup: bind to port 0, listen, the chosen port from getsockname, SO_REUSEADDR read back, EADDRINUSE")
  func socketSetup() throws {
    let streamType = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
    let listener = try FileDescriptor.socket(domain: AF_INET, type: streamType)
    defer { try? listener.close() }
    #expect(isCloseOnExec(listener))
    try listener.setOption(level: SOL_SOCKET, SO_REUSEADDR, to: 1)
    var value: CInt = 0
    var size = socklen_t(MemoryLayout<CInt>.size)
    #expect(getsockopt(listener.rawValue, SOL_SOCKET, SO_REUSEADDR, &value, &size) == 0)
    #expect(value == 1)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let full = UInt32(MemoryLayout<sockaddr_in>.size)
    try withUnsafePointer(to: &address) { try listener.bind(to: $0, length: full) }
    try listener.listen(backlog: 8)
    var named = sockaddr_in()
    #expect(try withUnsafeMutablePointer(to: &named) { try listener.localAddress(into: $0, capacity: full) } == full)
    #expect(named.sin_port != 0)
    #expect(named.sin_addr.s_addr == UInt32(0x7F00_0001).bigEndian)
    // The same address again, without SO_REUSEPORT: in use.
    let second = try FileDescriptor.socket(domain: AF_INET, type: streamType)
    defer { try? second.close() }
    #expect(throws: Errno.addressInUse) { try withUnsafePointer(to: &named) { try second.bind(to: $0, length: full) } }
    #expect(throws: Errno.addressFamilyNotSupported) { try FileDescriptor.socket(domain: 12345, type: streamType) }
  }

  @Test("socketPair and shutdown(.write): the peer reads the end of the stream; ENOTCONN on an unconnected socket")
  func pairAndShutdown() throws {
    let (left, right) = try FileDescriptor.socketPair(
      domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue))
    defer {
      try? left.close()
      try? right.close()
    }
    #expect(isCloseOnExec(left) && isCloseOnExec(right))
    _ = try left.writeAll([5, 6])
    try left.shutdown(.write)
    #expect(try drain(right) == [5, 6])
    let lone = try FileDescriptor.socket(domain: AF_INET, type: CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue))
    defer { try? lone.close() }
    #expect(throws: Errno.socketNotConnected) { try lone.shutdown(.readWrite) }
  }

  @Test("setCloseOnExec sets FD_CLOEXEC on a descriptor made without it; EBADF on a closed one")
  func closeOnExec() throws {
    var fds: [CInt] = [-1, -1]
    #expect(Glibc.pipe(&fds) == 0)
    let (readEnd, writeEnd) = (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    defer { try? readEnd.close() }
    #expect(!isCloseOnExec(readEnd))
    try readEnd.setCloseOnExec()
    #expect(isCloseOnExec(readEnd))
    try writeEnd.close()
    #expect(throws: Errno.badFileDescriptor) { try writeEnd.setCloseOnExec() }
  }
}
