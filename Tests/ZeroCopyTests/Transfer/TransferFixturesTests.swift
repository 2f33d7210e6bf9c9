// The fixtures' own promises that tests rely on: pipes and Unix socket pairs are connected
// and close-on-exec from the start (TransferFixtures.makePipe, makeUnixPair).

import Glibc
import LinuxIO
import SystemPackage
import Testing

extension TransferTests {
  /// Under TransferTests (serialized): it opens descriptors, which the descriptor-counting
  /// suites there must not see.
  @Suite("Transfer fixtures")
  struct FixturesTests {
    static func isCloseOnExec(_ fd: FileDescriptor) -> Bool {
      let flags = fcntl(fd.rawValue, F_GETFD)
      return flags >= 0 && flags & FD_CLOEXEC != 0
    }

    @Test("makePipe and makeUnixPair: every end is close-on-exec, and the ends are connected")
    func closeOnExecAndConnected() throws {
      let (readEnd, writeEnd) = try TransferFixtures.makePipe()
      defer {
        try? readEnd.close()
        try? writeEnd.close()
      }
      let (a, b) = try TransferFixtures.makeUnixPair()
      defer {
        try? a.close()
        try? b.close()
      }
      for (name, fd) in [("pipe read end", readEnd), ("pipe write end", writeEnd), ("socket a", a), ("socket b", b)] {
        #expect(Self.isCloseOnExec(fd), "\(name) lacks FD_CLOEXEC")
      }
      var byte: UInt8 = 0
      for (from, to, value) in [(writeEnd, readEnd, UInt8(7)), (a, b, 8), (b, a, 9)] {
        #expect(try from.writeAll([value]) == 1)
        // Waits at most 10 s for the byte, so that ends that are not connected fail the test
        // instead of blocking it.
        var set = PollSet()
        set.append(to, events: .readable)
        guard try set.wait(timeoutMilliseconds: 10_000) == 1 else {
          Issue.record("the byte \(value) did not arrive within 10 s")
          continue
        }
        #expect(try withUnsafeMutableBytes(of: &byte) { try to.read(into: $0) } == 1)
        #expect(byte == value)
      }
    }
  }
}
