// Errors the kernel will not produce on demand, injected through the debug-only hook in
// the syscall funnels (task-local: tests running in parallel are not affected).

import Glibc
import SystemPackage
import Testing

@testable import LinuxIO

#if DEBUG
  @Suite("Injected errors")
  struct MockingTests {
    @Test("EINTR is retried by the single-call funnels")
    func interruptedIsRetried() throws {
      let source = try temporaryFile(pattern(100))
      defer { try? source.close() }
      let destination = try temporaryFile()
      defer { try? destination.close() }
      let (n, calls) = try SyscallMocking.withForcedErrnos(["sendfile": [.interrupted, .interrupted]]) {
        mock throws(Errno) in
        (try source.sendfile(to: destination, sourceOffset: 0, count: 100), mock.recordedCalls)
      }
      #expect(n == 100)
      #expect(calls == ["sendfile", "sendfile", "sendfile"])
      expectSameBytes(try contents(of: destination), pattern(100))
    }

    @Test(
      "errors reach the caller as the exact Errno",
      arguments: [
        ("copy_file_range", Errno.noFunction), ("copy_file_range", Errno.notSupported),
        ("copy_file_range", Errno.noSpace), ("splice", Errno.noMemory), ("tee", Errno.noMemory),
        ("vmsplice", Errno.resourceTemporarilyUnavailable), ("sendfile", Errno.ioError),
      ])
    func singleCallErrors(name: String, errno: Errno) throws {
      let file = try temporaryFile(pattern(10))
      defer { try? file.close() }
      let pipe = try Pipe()
      #expect(throws: errno) {
        try SyscallMocking.withForcedErrnos([name: [errno]]) { _ throws(Errno) -> Int in
          switch name {
          case "copy_file_range": try file.copyFileRange(to: file, sourceOffset: 0, destinationOffset: 100, count: 10)
          case "splice": try file.splice(to: pipe.writeEnd, sourceOffset: 0, count: 10)
          case "tee": try pipe.readEnd.tee(to: pipe.writeEnd, count: 10)
          case "vmsplice": try pipe.writeEnd.unsafeVmsplice(UnsafeRawBufferPointer(start: nil, count: 0))
          default: try file.sendfile(to: pipe.writeEnd, sourceOffset: 0, count: 10)
          }
        }
      }
    }

    @Test("an all-helper's error carries its progress; EINTR is not retried there")
    func transferErrors() throws {
      let file = try temporaryFile(pattern(10))
      defer { try? file.close() }
      let other = try temporaryFile()
      defer { try? other.close() }
      for errno in [Errno.noSpace, .interrupted, .ioError] {
        #expect(throws: TransferFailure(errno: errno, progress: .init())) {
          try SyscallMocking.withForcedErrnos(["sendfile_all": [errno]]) { _ throws(TransferFailure) in
            try file.sendfileAll(to: other, sourceOffset: 0, count: 10)
          }
        }
      }
      // The next call, without injection, works.
      #expect(try file.sendfileAll(to: other, sourceOffset: 0, count: 10).outcome == .complete)
    }

    @Test("resource exhaustion: no memory for a buffer or a mapping, no descriptors for a pipe")
    func exhaustion() throws {
      #expect(throws: Errno.noMemory) {
        try SyscallMocking.withForcedErrnos(["posix_memalign": [.noMemory]]) { _ throws(Errno) in
          _ = try AlignedBuffer(count: 4096)
        }
      }
      #expect(throws: Errno.tooManyOpenFiles) {
        try SyscallMocking.withForcedErrnos(["pipe": [.tooManyOpenFiles]]) { _ throws(Errno) in
          _ = try Pipe()
        }
      }
      let file = try temporaryFile(pattern(4096))
      defer { try? file.close() }
      #expect(throws: Errno.noMemory) {
        try SyscallMocking.withForcedErrnos(["map": [.noMemory]]) { _ throws(Errno) in
          _ = try MappedRegion(file: file, range: 0..<4096)
        }
      }
      #expect(throws: Errno.notPermitted) {
        try SyscallMocking.withForcedErrnos(["pipe_set_capacity": [.notPermitted]]) { _ throws(Errno) in
          _ = try Pipe().setCapacity(1 << 20)
        }
      }
    }

    @Test("injection is scoped to the task that asked for it")
    func scoped() throws {
      let file = try temporaryFile(pattern(10))
      defer { try? file.close() }
      let other = try temporaryFile()
      defer { try? other.close() }
      let calls = try SyscallMocking.withForcedErrnos(["sendfile": []]) { mock throws(Errno) in
        _ = try file.sendfile(to: other, sourceOffset: 0, count: 10)
        return mock.recordedCalls
      }
      #expect(calls == ["sendfile"])
      #expect(SyscallMocking.current == nil)
    }

    @Test("openat2's ENOSYS and E2BIG (the fallback cases) reach the caller; EINTR is retried unless asked not to")
    func openat2Errors() throws {
      let directory = try FileDescriptor.open("/tmp", .readOnly, options: [.path, .directory, .closeOnExec])
      defer { try? directory.close() }
      for errno in [Errno.noFunction, .argListTooLong] {
        #expect(throws: errno) {
          try SyscallMocking.withForcedErrnos(["openat2": [errno]]) { _ throws(Errno) in
            _ = try directory.open(relative: ".", .readOnly, options: .path, resolve: .beneath)
          }
        }
      }
      let calls = try SyscallMocking.withForcedErrnos(["openat2": [.interrupted]]) { mock throws(Errno) in
        let opened = try directory.open(relative: ".", .readOnly, options: .path, resolve: .beneath)
        _ = try? opened.close()
        return mock.recordedCalls
      }
      #expect(calls == ["openat2", "openat2"])
      #expect(throws: Errno.interrupted) {
        try SyscallMocking.withForcedErrnos(["openat": [.interrupted]]) { _ throws(Errno) in
          _ = try directory.open(relative: ".", .readOnly, options: .path, retryOnInterrupt: false)
        }
      }
    }

    @Test("poll: EINTR is retried by default, thrown with retryOnInterrupt: false")
    func pollInterrupted() throws {
      var set = PollSet()
      let calls = try SyscallMocking.withForcedErrnos(["poll": [.interrupted]]) { mock throws(Errno) in
        #expect(try set.wait(timeoutMilliseconds: 0) == 0)
        return mock.recordedCalls
      }
      #expect(calls == ["poll", "poll"])
      #expect(throws: Errno.interrupted) {
        try SyscallMocking.withForcedErrnos(["poll": [.interrupted]]) { _ throws(Errno) in
          try set.wait(timeoutMilliseconds: 0, retryOnInterrupt: false)
        }
      }
    }

    @Test("epoll_wait: EINTR is retried by default, thrown with retryOnInterrupt: false")
    func epollInterrupted() throws {
      let epoll = try Epoll()
      var events: [Epoll.Event] = [Epoll.Event(events: .readable, data: 1)]
      let calls = try SyscallMocking.withForcedErrnos(["epoll_wait": [.interrupted]]) { mock throws(Errno) in
        try epoll.wait(into: &events, maximumCount: 1, timeout: .zero)
        return mock.recordedCalls
      }
      #expect(calls == ["epoll_wait", "epoll_wait"])
      #expect(events.isEmpty)
      #expect(throws: Errno.interrupted) {
        try SyscallMocking.withForcedErrnos(["epoll_wait": [.interrupted]]) { _ throws(Errno) in
          try epoll.wait(into: &events, maximumCount: 1, timeout: .zero, retryOnInterrupt: false)
        }
      }
    }
  }
#endif

@Suite("Epoll timeouts")
struct EpollTimeoutTests {
  @Test("a Duration becomes epoll_wait's milliseconds: rounded up, clamped, -1 for none")
  func milliseconds() {
    #expect(Epoll.milliseconds(nil) == -1)
    #expect(Epoll.milliseconds(.zero) == 0)
    #expect(Epoll.milliseconds(.seconds(-3)) == 0)
    #expect(Epoll.milliseconds(.nanoseconds(1)) == 1)
    #expect(Epoll.milliseconds(.microseconds(1500)) == 2)
    #expect(Epoll.milliseconds(.milliseconds(50)) == 50)
    #expect(Epoll.milliseconds(.seconds(2)) == 2000)
    #expect(Epoll.milliseconds(.seconds(Int64.max)) == Int32.max)
  }
}
