// The root directory's choice of path resolution when openat2 is refused (ENOSYS: a kernel
// before 5.6 or a seccomp filter; E2BIG): injected through LinuxIO's debug-only syscall
// mocking, the reason this file imports LinuxIO and FileServer with @testable (it uses
// `SyscallMocking` and `RootDirectory`, both internal).

import Glibc
import SystemPackage
import Testing

@testable import FileServer
@testable import LinuxIO

#if DEBUG
  @Suite("Root directory: openat2 refused")
  struct RootFallbackTests {
    @Test(
      "automatic falls back to the component walk, naming the errno; openat2 required fails",
      arguments: [
        Errno.noFunction, .argListTooLong,
      ])
    func fallback(errno: Errno) throws {
      let automatic = try SyscallMocking.withForcedErrnos(["openat2": [errno]]) { _ throws(FileServerError) in
        try RootDirectory(path: "/tmp", resolution: .automatic)
      }
      #expect(automatic.resolution == .componentWalk)
      #expect(automatic.fallbackReason == "openat2 failed with \(errno) (kernel before 5.6, or refused by a seccomp filter)")

      let required = Result { () throws(FileServerError) in
        try SyscallMocking.withForcedErrnos(["openat2": [errno]]) { _ throws(FileServerError) in
          try RootDirectory(path: "/tmp", resolution: .openat2)
        }
      }
      guard case .failure(let error) = required else {
        Issue.record("openat2 was required and refused, yet the root opened")
        return
      }
      #expect(error.kind == .root && error.syscall == "openat2" && error.errno == errno)

      // Without the injection the kernel has openat2 (Linux 5.6+ here).
      let real = try RootDirectory(path: "/tmp", resolution: .automatic)
      #expect(real.resolution == .openat2)
      #expect(real.fallbackReason == nil)
    }
  }
#endif
