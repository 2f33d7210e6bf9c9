// One test per operation, with real descriptors and exact bytes and errors.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing

@Suite("URing operations", .requiresIOURing)
struct OperationTests {
  @Test func nopCompletesWithZeroAndKeepsUserData() throws {
    var ring = try makeRing()
    let c = try ring.perform(.nop(userData: 0xDEAD_BEEF_0000_0001))
    #expect(c.userData == 0xDEAD_BEEF_0000_0001)
    #expect(c.result == .success(0))
    #expect(c.rawFlags == 0)
  }

  @Test func readAndWriteAtOffsets() throws {
    var ring = try makeRing()
    let file = try TempFile()
    let text = [UInt8]("hello, io_uring")
    let w = try text.withUnsafeBytes { try ring.perform(.unsafeWrite(file.fd, from: $0, at: 0, userData: 1)) }
    #expect(w.result == .success(Int32(text.count)))
    #expect(try file.bytes() == text)

    var buf = [UInt8](repeating: 0, count: 8)
    let r = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRead(file.fd, into: $0, at: 7, userData: 2)) }
    #expect(r.userData == 2)
    #expect(r.result == .success(8))
    #expect(buf == [UInt8]("io_uring"))

    // Past the end of file: 0 bytes.
    let eof = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRead(file.fd, into: $0, at: 100, userData: 3)) }
    #expect(eof.result == .success(0))
  }

  @Test func readUsesCurrentPositionWhenOffsetIsNil() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("abcdef"))
    _ = try file.fd.seek(offset: 2, from: .start)
    var buf = [UInt8](repeating: 0, count: 2)
    let c = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRead(file.fd, into: $0, userData: 1)) }
    #expect(c.result == .success(2))
    #expect(buf == [UInt8]("cd"))
    #expect(try file.fd.seek(offset: 0, from: .current) == 4)
  }

  @Test func failedCompletionKeepsUserDataAndErrno() throws {
    var ring = try makeRing()
    var buf = [UInt8](repeating: 0, count: 4)
    let c = try buf.withUnsafeMutableBytes {
      try ring.perform(.unsafeRead(FileDescriptor(rawValue: 1_000_000), into: $0, at: 0, userData: 0x1234_5678))
    }
    #expect(c.userData == 0x1234_5678)
    #expect(c.result == .failure(.badFileDescriptor))
    #expect(c.error == .badFileDescriptor)
    #expect(throws: Errno.badFileDescriptor) { try c.get() }
  }

  @Test func readvAndWritev() throws {
    var ring = try makeRing()
    let file = try TempFile()
    let a = [UInt8]("scatter-"), b = [UInt8]("gather")
    try a.withUnsafeBytes { pa in
      try b.withUnsafeBytes { pb in
        let iovs = [
          iovec(iov_base: UnsafeMutableRawPointer(mutating: pa.baseAddress), iov_len: pa.count),
          iovec(iov_base: UnsafeMutableRawPointer(mutating: pb.baseAddress), iov_len: pb.count),
        ]
        let c = try iovs.withUnsafeBufferPointer { try ring.perform(.unsafeWritev(file.fd, from: $0, at: 0, userData: 1)) }
        #expect(c.result == .success(14))
      }
    }
    #expect(try file.bytes() == a + b)

    var x = [UInt8](repeating: 0, count: 3), y = [UInt8](repeating: 0, count: 20)
    try x.withUnsafeMutableBytes { px in
      try y.withUnsafeMutableBytes { py in
        let iovs = [iovec(iov_base: px.baseAddress, iov_len: px.count), iovec(iov_base: py.baseAddress, iov_len: py.count)]
        let c = try iovs.withUnsafeBufferPointer { try ring.perform(.unsafeReadv(file.fd, into: $0, at: 1, userData: 2)) }
        #expect(c.result == .success(13))
      }
    }
    #expect(x == [UInt8]("cat"))
    #expect(Array(y[0..<10]) == [UInt8]("ter-gather"))
  }

  @Test func spliceFileToPipeAndBack() throws {
    var ring = try makeRing()
    let source = try TempFile(contents: [UInt8]("0123456789"))
    let dest = try TempFile()
    let pipe = try TestPipe()
    let toPipe = try ring.perform(.splice(from: source.fd, sourceOffset: 3, to: pipe.writeEnd, count: 5, userData: 1))
    #expect(toPipe.result == .success(5))
    let toFile = try ring.perform(.splice(from: pipe.readEnd, to: dest.fd, destinationOffset: 0, count: 64, userData: 2))
    #expect(toFile.result == .success(5))
    #expect(try dest.bytes() == [UInt8]("34567"))

    // Neither end a pipe: EINVAL.
    let bad = try ring.perform(
      .splice(from: source.fd, sourceOffset: 0, to: dest.fd, destinationOffset: 0, count: 4, userData: 3))
    #expect(bad.result == .failure(.invalidArgument))
  }

  @Test func teeDuplicatesWithoutConsuming() throws {
    var ring = try makeRing()
    let p1 = try TestPipe(), p2 = try TestPipe()
    _ = try [UInt8]("teeing").withUnsafeBytes { try p1.writeEnd.write($0) }
    let c = try ring.perform(.tee(from: p1.readEnd, to: p2.writeEnd, count: 64, userData: 7))
    #expect(c.result == .success(6))
    #expect(try readExactly(p2.readEnd, 6) == [UInt8]("teeing"))
    #expect(try readExactly(p1.readEnd, 6) == [UInt8]("teeing"))
    let same = try ring.perform(.tee(from: p1.readEnd, to: p1.writeEnd, count: 1, userData: 8))
    #expect(same.result == .failure(.invalidArgument))
  }

  @Test func sendAndRecvOnSocketPair() throws {
    var ring = try makeRing()
    let pair = try SocketPair()
    let msg = [UInt8]("ping over uring")
    let s = try msg.withUnsafeBytes { try ring.perform(.unsafeSend(pair.a, from: $0, userData: 1)) }
    #expect(s.result == .success(Int32(msg.count)))
    var buf = [UInt8](repeating: 0, count: 64)
    let r = try buf.withUnsafeMutableBytes { try ring.perform(.unsafeRecv(pair.b, into: $0, userData: 2)) }
    #expect(r.result == .success(Int32(msg.count)))
    #expect(Array(buf[0..<msg.count]) == msg)

    // Peer stopped reading: send gives EPIPE (no SIGPIPE: the kernel forces MSG_NOSIGNAL).
    #expect(shutdown(pair.b.rawValue, Int32(SHUT_RD)) == 0)
    let closed = try msg.withUnsafeBytes { try ring.perform(.unsafeSend(pair.a, from: $0, userData: 3)) }
    #expect(closed.result == .failure(.brokenPipe))
  }

  @Test func sendmsgAndRecvmsg() throws {
    var ring = try makeRing()
    let pair = try SocketPair()
    let part1 = [UInt8]("msg-"), part2 = [UInt8]("hdr")
    try part1.withUnsafeBytes { p1 in
      try part2.withUnsafeBytes { p2 in
        var iovs = [
          iovec(iov_base: UnsafeMutableRawPointer(mutating: p1.baseAddress), iov_len: p1.count),
          iovec(iov_base: UnsafeMutableRawPointer(mutating: p2.baseAddress), iov_len: p2.count),
        ]
        try iovs.withUnsafeMutableBufferPointer { iov in
          var hdr = msghdr()
          hdr.msg_iov = iov.baseAddress
          hdr.msg_iovlen = iov.count
          // The header must outlive the request: pass a pointer that is valid until completion.
          let c = try withUnsafePointer(to: &hdr) { try ring.perform(.unsafeSendmsg(pair.a, message: $0, userData: 1)) }
          #expect(c.result == .success(7))
        }
      }
    }
    var buf = [UInt8](repeating: 0, count: 16)
    try buf.withUnsafeMutableBytes { b in
      var iov = iovec(iov_base: b.baseAddress, iov_len: b.count)
      try withUnsafeMutablePointer(to: &iov) { iovp in
        var hdr = msghdr()
        hdr.msg_iov = iovp
        hdr.msg_iovlen = 1
        let c = try withUnsafeMutablePointer(to: &hdr) { try ring.perform(.unsafeRecvmsg(pair.b, message: $0, userData: 2)) }
        #expect(c.result == .success(7))
        #expect(hdr.msg_flags == 0)
      }
    }
    #expect(Array(buf[0..<7]) == [UInt8]("msg-hdr"))
  }

  @Test(.requires(.sendZeroCopy))
  func sendZeroCopyOverLoopbackTCPPostsResultAndNotification() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    let client = try listener.connectClient()
    defer { try? client.close() }
    let server = try listener.accept()
    defer { try? server.close() }

    let payload = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    var completions: [IOURing.Completion] = []
    try payload.withUnsafeBytes { buf in
      try ring.prepare(.unsafeSendZeroCopy(client, from: buf, userData: 42))
      try ring.submit()
      // Both completions must arrive before the buffer may go away.
      completions = try ring.waitCompletions(2, timeout: .seconds(5))
    }
    #expect(completions.count == 2)
    #expect(completions.allSatisfy { $0.userData == 42 })
    let first = try #require(completions.first)
    let second = try #require(completions.last)
    #expect(first.result == .success(Int32(payload.count)))
    #expect(first.hasMore)
    #expect(!first.isNotification)
    #expect(first.zeroCopy == .sent(.success(Int32(payload.count)), notificationFollows: true))
    #expect(second.isNotification)
    #expect(second.flags.contains(.notification))
    #expect(!second.hasMore)
    // On loopback the kernel always copies (Docs/LinuxFacts.md, io_uring), and says so.
    #expect(second.zeroCopy == .notification(copied: true))
    #expect(try readExactly(server, payload.count) == payload)
  }

  /// The kernel fact the transfer rings' batch collection relies on: a SEND_ZC cancelled
  /// because an earlier link member failed (here a short read) completes with
  /// `-ECANCELED` and *without* `IORING_CQE_F_MORE`, and still posts its notification.
  /// Counting "one more completion per F_MORE" would miss these notifications; they would
  /// then arrive in a later batch.
  @Test(.requires(.sendZeroCopy))
  func cancelledLinkedSendZeroCopyStillNotifies() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8](repeating: 0x5A, count: 100))
    let listener = try LoopbackListener()
    let client = try listener.connectClient()
    defer { try? client.close() }
    let server = try listener.accept()
    defer { try? server.close() }

    var buffer = [UInt8](repeating: 0, count: 4096)
    var completions: [IOURing.Completion] = []
    try buffer.withUnsafeMutableBytes { buf in
      // READ asks for 4096 of a 100-byte file: the short result breaks the link.
      let chain = IOURing.LinkedChain()
        .appending(.unsafeRead(file.fd, into: buf, at: 0, userData: 1))
        .appending(.unsafeSendZeroCopy(client, from: UnsafeRawBufferPointer(buf), userData: 2))
        .appending(.unsafeSendZeroCopy(client, from: UnsafeRawBufferPointer(buf), userData: 3))
      try ring.prepare(chain)
      try ring.submit()
      completions = try ring.waitCompletions(5, timeout: .seconds(5))
    }
    #expect(completions.count == 5)
    let results = completions.filter { !$0.isNotification }
    let notifications = completions.filter { $0.isNotification }
    #expect(results.map(\.userData).sorted() == [1, 2, 3])
    #expect(results.first { $0.userData == 1 }?.result == .success(100))
    for send in results where send.userData != 1 {
      #expect(send.result == .failure(.canceled), "\(send)")
      #expect(!send.hasMore, "a cancelled link member does not announce its notification: \(send)")
    }
    #expect(notifications.map(\.userData).sorted() == [2, 3], "\(completions)")
    // Nothing was sent.
    var byte: UInt8 = 0
    let received = Glibc.recv(server.rawValue, &byte, 1, Int32(MSG_DONTWAIT))
    let error = errno
    #expect(received == -1 && error == EAGAIN, "received \(received), errno \(error)")
  }

  @Test(.requires(.sendmsgZeroCopy))
  func sendmsgZeroCopyPostsResultAndNotification() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    let client = try listener.connectClient()
    defer { try? client.close() }
    let server = try listener.accept()
    defer { try? server.close() }
    let a = [UInt8]("zero-"), b = [UInt8]("copy msg")
    try a.withUnsafeBytes { pa in
      try b.withUnsafeBytes { pb in
        var iovs = [
          iovec(iov_base: UnsafeMutableRawPointer(mutating: pa.baseAddress), iov_len: pa.count),
          iovec(iov_base: UnsafeMutableRawPointer(mutating: pb.baseAddress), iov_len: pb.count),
        ]
        try iovs.withUnsafeMutableBufferPointer { iov in
          var hdr = msghdr()
          hdr.msg_iov = iov.baseAddress
          hdr.msg_iovlen = iov.count
          try withUnsafePointer(to: &hdr) { h in
            try ring.prepare(.unsafeSendmsgZeroCopy(client, message: h, userData: 4))
            try ring.submit()
            let cs = try ring.waitCompletions(2, timeout: .seconds(5))
            #expect(cs.map(\.userData) == [4, 4])
            #expect(cs.first?.result == .success(13))
            #expect(cs.first?.hasMore == true)
            #expect(cs.last?.isNotification == true)
          }
        }
      }
    }
    #expect(try readExactly(server, 13) == [UInt8]("zero-copy msg"))
  }

  @Test func acceptAndConnect() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    let client = try LoopbackListener.makeSocket()
    defer { try? client.close() }
    var peer = sockaddr_in()
    var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
    var target = listener.address
    try withUnsafeMutablePointer(to: &peerLength) { peerLengthPtr in
      try withUnsafeMutablePointer(to: &peer) { peerPtr in
        try peerPtr.withMemoryRebound(to: sockaddr.self, capacity: 1) { peerAddr in
          try withUnsafePointer(to: &target) { t in
            try t.withMemoryRebound(to: sockaddr.self, capacity: 1) { targetAddr in
              try ring.prepare(.unsafeAccept(listener.fd, address: peerAddr, addressLength: peerLengthPtr, userData: 1))
              try ring.prepare(
                .unsafeConnect(client, to: targetAddr, length: socklen_t(MemoryLayout<sockaddr_in>.size), userData: 2))
              try ring.submit()
              let cs = try ring.waitCompletions(2, timeout: .seconds(5))
              let accepted = try #require(cs.first { $0.userData == 1 })
              let connected = try #require(cs.first { $0.userData == 2 })
              #expect(connected.result == .success(0))
              let fd = try accepted.get()
              #expect(fd >= 0)
              let conn = FileDescriptor(rawValue: fd)
              defer { try? conn.close() }
              // O_CLOEXEC by default.
              #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
              _ = try [UInt8]("hi").withUnsafeBytes { try client.write($0) }
              #expect(try readExactly(conn, 2) == [UInt8]("hi"))
            }
          }
        }
      }
    }
    #expect(peer.sin_family == sa_family_t(AF_INET))
    #expect(peer.sin_addr.s_addr == inet_addr("127.0.0.1"))
  }

  @Test func connectRefused() throws {
    var ring = try makeRing()
    // A port held by a socket that does not listen: refused, and no test beside this one
    // can take the port (a closed listener's could be reused).
    let holder = try LoopbackListener(listening: false)
    defer { withExtendedLifetime(holder) {} }  // release builds end its lifetime at its last use
    var addr = holder.address
    let client = try LoopbackListener.makeSocket()
    defer { try? client.close() }
    let c = try withUnsafePointer(to: &addr) {
      try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        try ring.perform(.unsafeConnect(client, to: $0, length: socklen_t(MemoryLayout<sockaddr_in>.size), userData: 9))
      }
    }
    #expect(c.result == .failure(.connectionRefused))
  }

  @Test func acceptMultishotPostsOnePerConnection() throws {
    var ring = try makeRing()
    let listener = try LoopbackListener()
    try ring.prepare(.acceptMultishot(listener.fd, userData: 5))
    try ring.submit()
    let c1 = try listener.connectClient(), c2 = try listener.connectClient()
    defer { try? c1.close(); try? c2.close() }
    let cs = try ring.waitCompletions(2, timeout: .seconds(5))
    #expect(cs.count == 2)
    for c in cs {
      #expect(c.userData == 5)
      #expect(c.hasMore)
      let fd = try c.get()
      #expect(fd >= 0)
      _ = Glibc.close(fd)
    }
    // Stop it: the multishot accept ends with ECANCELED and no MORE flag.
    try ring.prepare(.cancel(userData: 5, userData: 6))
    try ring.submit()
    let end = try ring.waitCompletions(2, timeout: .seconds(5))
    let accept = try #require(end.first { $0.userData == 5 })
    #expect(accept.result == .failure(.canceled))
    #expect(!accept.hasMore)
  }

  @Test func openatAndClose() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("opened via uring"))
    let o = try ring.perform(.openat(FilePath(file.path), .readOnly, userData: 1))
    let fd = FileDescriptor(rawValue: try o.get())
    #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
    #expect(try readExactly(fd, 16) == [UInt8]("opened via uring"))
    let c = try ring.perform(.close(fd, userData: 2))
    #expect(c.result == .success(0))
    #expect(fcntl(fd.rawValue, F_GETFD) == -1)

    let missing = try ring.perform(.openat("/nonexistent/uring/file", .readOnly, userData: 3))
    #expect(missing.result == .failure(.noSuchFileOrDirectory))
    let created = try ring.perform(
      .openat(
        FilePath(file.path + ".new"), .writeOnly, options: [.create, .exclusiveCreate], permissions: [.ownerReadWrite],
        userData: 4))
    let newFD = try created.get()
    _ = Glibc.close(newFD)
    #expect(unlink(file.path + ".new") == 0)
  }

  @Test func statxReportsSizeAndMode() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8](repeating: 9, count: 12345))
    let raw = IOURing.StatxBuffer()
    let c = try ring.perform(.statx(FilePath(file.path), into: raw, userData: 1))
    #expect(c.result == .success(0))
    let st = raw.status
    #expect(st.size == 12345)
    #expect(st.mode & 0o170000 == 0o100000)  // S_IFREG
    #expect(st.mode & 0o777 == 0o600)  // mkstemp
    let missing = try ring.perform(.statx("/nonexistent/x", into: raw, userData: 2))
    #expect(missing.result == .failure(.noSuchFileOrDirectory))
  }

  @Test func fsyncAndFdatasync() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8]("durable"))
    #expect(try ring.perform(.fsync(file.fd, userData: 1)).result == .success(0))
    #expect(try ring.perform(.fdatasync(file.fd, userData: 2)).result == .success(0))
    #expect(try ring.perform(.fsync(FileDescriptor(rawValue: 999_999), userData: 3)).result == .failure(.badFileDescriptor))
  }

  @Test func fallocateExtendsTheFile() throws {
    var ring = try makeRing()
    let file = try TempFile()
    let c = try ring.perform(.fallocate(file.fd, offset: 0, length: 1 << 20, userData: 1))
    #expect(c.result == .success(0))
    #expect(file.size == 1 << 20)
    // KEEP_SIZE: space allocated, size unchanged.
    let keep = try ring.perform(.fallocate(file.fd, mode: 1, offset: 1 << 20, length: 4096, userData: 2))
    #expect(keep.result == .success(0))
    #expect(file.size == 1 << 20)
  }

  @Test func fadviseAndMadvise() throws {
    var ring = try makeRing()
    let file = try TempFile(contents: [UInt8](repeating: 1, count: 8192))
    #expect(try ring.perform(.fadvise(file.fd, advice: POSIX_FADV_SEQUENTIAL, userData: 1)).result == .success(0))
    let pipe = try TestPipe()
    #expect(try ring.perform(.fadvise(pipe.readEnd, advice: POSIX_FADV_SEQUENTIAL, userData: 2)).result == .failure(.illegalSeek))

    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let map = try #require(mmap(nil, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
    #expect(map != MAP_FAILED)
    defer { munmap(map, 4 * page) }
    let region = UnsafeMutableRawBufferPointer(start: map, count: 4 * page)
    #expect(try ring.perform(.unsafeMadvise(region, advice: MADV_WILLNEED, userData: 3)).result == .success(0))
    let unaligned = UnsafeMutableRawBufferPointer(start: map + 1, count: page)
    #expect(try ring.perform(.unsafeMadvise(unaligned, advice: MADV_WILLNEED, userData: 4)).result == .failure(.invalidArgument))
  }

  @Test func pollAddReportsReadiness() throws {
    var ring = try makeRing()
    let pipe = try TestPipe()
    try ring.prepare(.pollAdd(pipe.readEnd, events: UInt32(POLLIN), userData: 1))
    try ring.submit()
    #expect(try ring.waitCompletion(timeout: .milliseconds(20)) == nil)
    _ = try [UInt8]("x").withUnsafeBytes { try pipe.writeEnd.write($0) }
    let c = try #require(try ring.waitCompletion(timeout: .seconds(5)))
    #expect(c.userData == 1)
    #expect(try c.get() & Int32(POLLIN) != 0)
  }
}
