// Epoll and EventFD: readiness of real pipes, sockets and counters; the exact events, data
// and errnos the kernel reports.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("Epoll")
struct EpollTests {
  @Test("a pipe is reported readable with its data once it holds a byte, and not before")
  func pipeReadability() throws {
    let epoll = try Epoll()
    #expect(isCloseOnExec(epoll.descriptor))
    let pipe = try Pipe()
    try epoll.add(pipe.readEnd, events: .readable, data: 42)
    var events: [Epoll.Event] = []
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events.isEmpty)

    #expect(try pipe.writeEnd.writeAll([7]) == 1)
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .readable, data: 42)])
    #expect(events.description == "[Event(events: readable, data: 42)]")
    // Level-triggered: still readable, so reported again.
    try epoll.wait(into: &events, maximumCount: 8, timeout: .milliseconds(1))
    #expect(events == [Epoll.Event(events: .readable, data: 42)])

    // Read the byte: no longer ready.
    var byte: UInt8 = 0
    #expect(try withUnsafeMutableBytes(of: &byte) { try pipe.readEnd.read(into: $0) } == 1)
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events.isEmpty)
  }

  @Test("the write end is writable; hang-up and error are reported without being asked for")
  func writableHangUpError() throws {
    let epoll = try Epoll()
    let pipe = try Pipe()
    let (readEnd, writeEnd) = pipe.releaseDescriptors()
    defer { try? writeEnd.close() }
    try epoll.add(writeEnd, events: .writable, data: 2)
    try epoll.add(readEnd, events: .readable, data: 1)
    var events: [Epoll.Event] = []
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .writable, data: 2)])

    // No reader left: the write end reports EPOLLERR with EPOLLOUT.
    try epoll.remove(readEnd)
    try readEnd.close()
    #expect(peerGone(writeEnd))
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: [.writable, .error], data: 2)])

    // A read end whose writer closed: EPOLLHUP only (nothing to read).
    let other = try Pipe()
    let (r, w) = other.releaseDescriptors()
    defer { try? r.close() }
    try epoll.remove(writeEnd)
    try epoll.add(r, events: .readable, data: 3)
    try w.close()
    #expect(peerGone(r))
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .hangUp, data: 3)])
    #expect(events[0].events.description == "hangUp")
  }

  @Test("one-shot fires once until modify re-arms it; edge-triggered reports a change once")
  func oneShotAndEdgeTriggered() throws {
    let epoll = try Epoll()
    let pipe = try Pipe()
    #expect(try pipe.writeEnd.writeAll([1, 2]) == 2)
    try epoll.add(pipe.readEnd, events: .readable, flags: .oneShot, data: 5)
    var events: [Epoll.Event] = []
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .readable, data: 5)])
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events.isEmpty, "a one-shot registration fired twice")
    // Still registered (disabled): a second add is EEXIST.
    #expect(throws: Errno.fileExists) { try epoll.add(pipe.readEnd, events: .readable, data: 6) }
    try epoll.modify(pipe.readEnd, events: .readable, flags: .oneShot, data: 6)
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .readable, data: 6)])

    try epoll.modify(pipe.readEnd, events: .readable, flags: .edgeTriggered, data: 7)
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .readable, data: 7)])
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events.isEmpty, "edge-triggered reported an unchanged state again")
    #expect(try pipe.writeEnd.writeAll([3]) == 1)
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(events == [Epoll.Event(events: .readable, data: 7)])
  }

  @Test("maximumCount bounds one wait; the rest come with the next")
  func maximumCount() throws {
    let epoll = try Epoll()
    let pipes = try (0..<3).map { _ in try Pipe().releaseDescriptors() }
    defer {
      for (r, w) in pipes {
        try? r.close()
        try? w.close()
      }
    }
    for (index, (r, w)) in pipes.enumerated() {
      #expect(try w.writeAll([0]) == 1)
      try epoll.add(r, events: .readable, data: UInt64(index + 10))
    }
    var events: [Epoll.Event] = []
    try epoll.wait(into: &events, maximumCount: 2, timeout: .zero)
    #expect(events.count == 2)
    try epoll.wait(into: &events, maximumCount: 8, timeout: .zero)
    #expect(Set(events.map(\.data)) == [10, 11, 12])
    #expect(events.allSatisfy { $0.events == .readable })
  }

  @Test("a wait without timeout sleeps until another thread makes a descriptor ready")
  func blockingWaitWakes() throws {
    let epoll = try Epoll()
    let counter = try EventFD()
    try epoll.add(counter.descriptor, events: .readable, data: 99)
    let epfd = epoll.descriptor
    let waiter = TestThread { () -> [UInt64] in
      // The same epoll instance, seen from this thread (not closed here).
      let borrowed = Epoll(takingOwnershipOf: epfd)
      var events: [Epoll.Event] = []
      let waited = Result { () throws(Errno) in try borrowed.wait(into: &events, maximumCount: 4) }
      _ = borrowed.releaseDescriptor()
      return (try? waited.get()) == nil ? [] : events.map(\.data)
    }
    sleepMilliseconds(20)
    try counter.signal()
    #expect(waiter.join() == [99])
  }

  @Test("errnos: EBADF, EPERM for a regular file, ENOENT, EEXIST, EINVAL")
  func errors() throws {
    let epoll = try Epoll()
    let pipe = try Pipe()
    let closed = FileDescriptor(rawValue: -1)
    #expect(throws: Errno.badFileDescriptor) { try epoll.add(closed, events: .readable, data: 0) }
    let file = try temporaryFile([1])
    defer { try? file.close() }
    #expect(throws: Errno.notPermitted) { try epoll.add(file, events: .readable, data: 0) }
    #expect(throws: Errno.noSuchFileOrDirectory) { try epoll.modify(pipe.readEnd, events: .readable, data: 0) }
    #expect(throws: Errno.noSuchFileOrDirectory) { try epoll.remove(pipe.readEnd) }
    try epoll.add(pipe.readEnd, events: .readable, data: 0)
    #expect(throws: Errno.fileExists) { try epoll.add(pipe.readEnd, events: .writable, data: 1) }
    #expect(throws: Errno.invalidArgument) { try epoll.add(epoll.descriptor, events: .readable, data: 0) }
    // EPOLLEXCLUSIVE is refused by modify.
    #expect(throws: Errno.invalidArgument) {
      try epoll.modify(pipe.readEnd, events: .readable, flags: .exclusive, data: 0)
    }
    try epoll.remove(pipe.readEnd)

    // wait on something that is not an epoll instance, and on a closed descriptor.
    let notEpoll = Epoll(takingOwnershipOf: pipe.readEnd)
    var events: [Epoll.Event] = []
    #expect(throws: Errno.invalidArgument) { try notEpoll.wait(into: &events, maximumCount: 1, timeout: .zero) }
    _ = notEpoll.releaseDescriptor()
    let bad = Epoll(takingOwnershipOf: closed)
    #expect(throws: Errno.badFileDescriptor) { try bad.wait(into: &events, maximumCount: 1, timeout: .zero) }
    _ = bad.releaseDescriptor()

    // close() reports, and ends ownership.
    let another = try Epoll()
    let fd = another.descriptor
    try another.close()
    #expect(fcntl(fd.rawValue, F_GETFD) == -1 && errno == EBADF)
  }
}

@Suite("EventFD")
struct EventFDTests {
  @Test("counts: reads return the sum of signals and reset it; EAGAIN when zero")
  func counts() throws {
    let counter = try EventFD(initialValue: 5, options: .nonBlocking)
    #expect(isCloseOnExec(counter.descriptor))
    #expect(fcntl(counter.descriptor.rawValue, F_GETFL) & O_NONBLOCK == O_NONBLOCK)
    #expect(try counter.read() == 5)
    #expect(throws: Errno.resourceTemporarilyUnavailable) { try counter.read() }
    try counter.signal()
    try counter.signal(adding: 2)
    #expect(try counter.read() == 3)
    #expect(throws: Errno.resourceTemporarilyUnavailable) { try counter.read() }
  }

  @Test("semaphore: each read takes 1")
  func semaphore() throws {
    let counter = try EventFD(initialValue: 3, options: [.semaphore, .nonBlocking])
    #expect(try counter.read() == 1)
    #expect(try counter.read() == 1)
    #expect(try counter.read() == 1)
    #expect(throws: Errno.resourceTemporarilyUnavailable) { try counter.read() }
  }

  @Test("the counter's limit: UInt64.max is EINVAL, overflowing a non-blocking counter EAGAIN")
  func limits() throws {
    let counter = try EventFD(options: .nonBlocking)
    #expect(throws: Errno.invalidArgument) { try counter.signal(adding: .max) }
    try counter.signal(adding: 0xffff_ffff_ffff_fffe)
    #expect(throws: Errno.resourceTemporarilyUnavailable) { try counter.signal() }
    #expect(try counter.read() == 0xffff_ffff_ffff_fffe)
    let blocking = try EventFD()
    #expect(fcntl(blocking.descriptor.rawValue, F_GETFL) & O_NONBLOCK == 0)
  }

  @Test("a blocking read waits for a signal from another thread")
  func blockingRead() throws {
    let counter = try EventFD()
    let fd = counter.descriptor
    let reader = TestThread { () -> UInt64 in
      // The same counter, seen from this thread (not closed here).
      let borrowed = EventFD(takingOwnershipOf: fd)
      let value = (try? borrowed.read()) ?? 0
      _ = borrowed.releaseDescriptor()
      return value
    }
    sleepMilliseconds(20)
    try counter.signal(adding: 9)
    #expect(reader.join() == 9)
  }

  @Test("EBADF on a closed descriptor")
  func badDescriptor() throws {
    let bad = EventFD(takingOwnershipOf: FileDescriptor(rawValue: -1))
    #expect(throws: Errno.badFileDescriptor) { try bad.read() }
    #expect(throws: Errno.badFileDescriptor) { try bad.signal() }
    _ = bad.releaseDescriptor()
    let counter = try EventFD()
    let fd = counter.descriptor
    try counter.close()
    #expect(fcntl(fd.rawValue, F_GETFD) == -1 && errno == EBADF)
  }
}

@Suite("Socket memory (SO_MEMINFO)")
struct SocketMemoryTests {
  @Test("the send buffer's limit is SO_SNDBUF; data the peer has not read is charged to the sender")
  func unixSocket() throws {
    let (sender, receiver) = try socketPair()
    defer {
      try? sender.close()
      try? receiver.close()
    }
    setSocketBuffer(sender, option: SO_SNDBUF, bytes: 65536)
    var sndbuf: CInt = 0
    var length = socklen_t(MemoryLayout<CInt>.size)
    #expect(getsockopt(sender.rawValue, SOL_SOCKET, SO_SNDBUF, &sndbuf, &length) == 0)
    let before = try sender.socketMemory()
    #expect(before.sendBufferLimit == Int(sndbuf) && sndbuf > 65536)  // the kernel doubles SO_SNDBUF
    #expect(before.sendAllocated == 0)
    #expect(before.drops == 0)  // reported since Linux 4.15

    #expect(try sender.writeAll(pattern(1000)) == 1000)
    let sent = try sender.socketMemory()
    #expect(sent.sendAllocated >= 1000, "\(sent)")
    expectSameBytes(try readExactly(receiver, 1000), pattern(1000))
    #expect(try sender.socketMemory().sendAllocated == 0)
  }

  @Test("errnos: ENOTSOCK for a file, EBADF")
  func errors() throws {
    let file = try temporaryFile()
    defer { try? file.close() }
    #expect(throws: Errno.notSocket) { try file.socketMemory() }
    #expect(throws: Errno.badFileDescriptor) { try FileDescriptor(rawValue: -1).socketMemory() }
  }
}
