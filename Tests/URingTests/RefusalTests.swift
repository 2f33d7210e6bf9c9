// io_uring refused by a seccomp filter: the probe names the refusal and ring creation
// fails with it. Runs only under CShims/tests/tools/zc_seccomp_run (`make test-no-uring`),
// which sets ZC_SECCOMP_MODE; skipped (with that reason) in ordinary runs.

import Glibc
import SystemPackage
import Testing
import URing

/// The refusal this process runs under (`enosys`, `eperm`, `register-eperm`), or nil.
let seccompMode: String? = {
  guard let raw = getenv("ZC_SECCOMP_MODE") else { return nil }
  let mode = String(cString: raw)
  return mode == "none" || mode.isEmpty ? nil : mode
}()

@Suite("URing refused by seccomp", .enabled(if: seccompMode != nil, "runs only under zc_seccomp_run (make test-no-uring)"))
struct RefusalTests {
  /// The reason and setup errno each mode must produce.
  static func expectation(_ mode: String) -> (reason: IOURingAvailability.Reason, errno: Errno)? {
    switch mode {
    case "enosys": return (.notImplemented, .noFunction)
    case "eperm": return (.notPermitted(.notPermitted), .notPermitted)
    case "register-eperm": return (.registerRefused(.notPermitted), .notPermitted)
    default: return nil
    }
  }

  @Test func probeNamesTheRefusal() throws {
    let mode = try #require(seccompMode)
    let expected = try #require(Self.expectation(mode), "unknown ZC_SECCOMP_MODE '\(mode)'")
    let probe = IOURing.Probe.current
    #expect(probe.availability == .unavailable(expected.reason))
    #expect(!IOURingAvailability.isAvailable)
    #expect(IOURingAvailability.current.reason == expected.reason)
    #expect(probe.supportedOpcodes.isEmpty)
    #expect(probe.lastOpcode == nil)
    switch mode {
    case "register-eperm":
      // Setup worked (the kernel's features are known); the opcode probe was refused.
      #expect(probe.setupErrno == nil)
      #expect(probe.registerErrno == .notPermitted)
      #expect(probe.features.contains(.singleMmap))
      #expect(probe.availability.description.contains("io_uring_register is refused"))
    default:
      #expect(probe.setupErrno == expected.errno)
      #expect(probe.registerErrno == nil)
      #expect(probe.features == [])
    }
    // A fresh probe (not the cached one) agrees.
    #expect(IOURing.Probe.run() == probe)
  }

  @Test func ringCreationFailsWithTheReason() throws {
    let mode = try #require(seccompMode)
    let expected = try #require(Self.expectation(mode))
    let error = #expect(throws: IOURing.SetupError.self) { _ = try IOURing(entries: 4) }
    #expect(error?.unavailable == expected.reason)
    #expect(error?.errno == expected.errno)
    #expect(error?.message.contains("io_uring is unavailable") == true)
  }
}
