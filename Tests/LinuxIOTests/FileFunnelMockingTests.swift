// The file and directory funnels (Syscalls+Files.swift) retry EINTR and pass any other
// errno through as the typed error, in one place: injected through the debug-only hook.

import Glibc
import SystemPackage
import Testing

@testable import LinuxIO

#if DEBUG
  @Suite("Injected errors in the file and directory funnels")
  struct FileFunnelMockingTests {
    @Test("EINTR is retried by the funnel: two injected, the third call works; the calls are recorded")
    func interruptedIsRetried() throws {
      let directory = try FileDescriptor.open("/tmp", .readOnly, options: [.directory, .closeOnExec])
      defer { try? directory.close() }
      let (status, calls) = try SyscallMocking.withForcedErrnos(["fstatat": [.interrupted, .interrupted]]) {
        mock throws(Errno) in
        (try directory.status(of: ".", followingSymbolicLinks: false), mock.recordedCalls)
      }
      #expect(status.rawValue.st_mode & S_IFMT == S_IFDIR)
      #expect(calls == ["fstatat", "fstatat", "fstatat"])
    }

    @Test(
      "each funnel throws the injected errno as is",
      arguments: [
        ("fstat", Errno.ioError), ("mkdirat", .noSpace), ("unlinkat", .resourceBusy), ("linkat", .tooManyLinks),
        ("symlinkat", .readOnlyFileSystem), ("readlinkat", .permissionDenied), ("mknodat", .notPermitted),
        ("fchmod", .notPermitted), ("fchownat", .invalidArgument), ("futimens", .permissionDenied),
        ("ftruncate", .fileTooLarge), ("fallocate", .noSpace), ("lseek", .noSuchAddressOrDevice), ("fsync", .ioError),
        ("getdents64", .noSuchFileOrDirectory), ("renameat", .improperLink), ("faccessat", .readOnlyFileSystem),
        ("readv", .ioError), ("writev", .noSpace), ("send", .connectionReset), ("recv", .connectionReset),
        ("accept", .connectionAbort), ("connect", .connectionRefused), ("poll", .noMemory), ("socket", .tooManyOpenFiles),
        ("socketpair", .tooManyOpenFiles), ("bind", .addressInUse), ("listen", .addressInUse),
        ("getsockname", .noBufferSpace), ("setsockopt", .protocolNotAvailable), ("shutdown", .socketNotConnected),
        ("fcntl", .badFileDescriptor), ("ioctl(BLKGETSIZE64)", .inappropriateIOCTLForDevice),
        ("ioctl(FICLONERANGE)", .notSupported), ("getrlimit", .invalidArgument), ("fadvise", .invalidArgument),
      ])
    func errnoPassesThrough(_ name: String, _ injected: Errno) throws {
      let directory = try FileDescriptor.open("/tmp", .readOnly, options: [.directory, .closeOnExec])
      defer { try? directory.close() }
      let thrown = #expect(throws: Errno.self) {
        try SyscallMocking.withForcedErrnos([name: [injected]]) { _ throws(Errno) in
          switch name {
          case "fstat": _ = try directory.status()
          case "mkdirat": try directory.createDirectory("never", permissions: .ownerReadWriteExecute)
          case "unlinkat": try directory.removeEntry("never")
          case "linkat": try directory.createHardLink(to: "a", named: "b", in: directory)
          case "symlinkat": try directory.createSymbolicLink("never", to: [0x78])
          case "readlinkat": _ = try directory.symbolicLinkTarget("never", capacity: 8)
          case "mknodat": try directory.createNode("never", mode: FileMode(rawValue: S_IFIFO), device: DeviceID(rawValue: 0))
          case "fchmod": try directory.setPermissions(.ownerReadWriteExecute)
          case "fchownat": try directory.setOwner(of: "never", user: nil, group: nil)
          case "futimens": try directory.setTimes(from: try directory.status())
          case "ftruncate": try directory.truncate(toSize: 0)
          case "fallocate": try directory.allocate(at: 0, length: 1)
          case "lseek": _ = try directory.seek(toData: 0)
          case "fsync": try directory.synchronize()
          case "getdents64": _ = try directory.directoryEntryNames()
          case "renameat": try directory.rename("a", to: "b", in: directory)
          case "readv": _ = try directory.unsafeRead(into: [])
          case "writev": _ = try directory.unsafeWrite([])
          case "send": _ = try directory.send(UnsafeRawBufferPointer(start: nil, count: 0))
          case "recv": _ = try directory.receive(into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
          case "accept": _ = try directory.accept()
          case "connect":
            var zero = 0
            try directory.connect(to: &zero, length: 0)
          case "poll":
            var set = PollSet()
            try set.wait(timeoutMilliseconds: 0)
          case "socket": _ = try FileDescriptor.socket(domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
          case "socketpair": _ = try FileDescriptor.socketPair(domain: AF_UNIX, type: CInt(SOCK_STREAM.rawValue))
          case "bind":
            var zero = 0
            try directory.bind(to: &zero, length: 0)
          case "listen": try directory.listen(backlog: 1)
          case "getsockname":
            var storage: UInt64 = 0
            _ = try directory.localAddress(into: &storage, capacity: 8)
          case "setsockopt": try directory.setOption(level: SOL_SOCKET, SO_REUSEADDR, to: 1)
          case "shutdown": try directory.shutdown(.write)
          case "fcntl": try directory.setCloseOnExec()
          case "ioctl(BLKGETSIZE64)": _ = try directory.blockDeviceSize()
          case "ioctl(FICLONERANGE)": try directory.cloneRange(from: directory, sourceOffset: 0, length: 0, at: 0)
          case "getrlimit": _ = try CurrentProcess.lockedMemoryLimit()
          case "fadvise": try directory.adviseDontNeed(offset: 0, length: 0)
          default: try directory.checkWritable("never")
          }
        }
      }
      #expect(thrown == injected)
    }
  }
#endif
