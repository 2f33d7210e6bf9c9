// The one place URing turns `-errno` into `Errno` (`KernelResult.swift`): its edge cases,
// checked directly because a real ring cannot be made to return most of them on demand.

import CLibURing
import Glibc
import SystemPackage
import Testing
@testable import URing  // kernelResult, completionResult, liburing and Completion.init are internal

@Suite("-errno becomes Errno in one place")
struct KernelResultTests {
  @Test("non-negative values are results, including 0 and Int32.max")
  func nonNegative() {
    #expect(kernelResult(0) == .success(0))
    #expect(kernelResult(1) == .success(1))
    #expect(kernelResult(65_536) == .success(65_536))
    #expect(kernelResult(Int32.max) == .success(Int32.max))
  }

  @Test("negative values are -errno: -EINTR, -EPERM, -ECANCELED, the largest errno")
  func negative() {
    #expect(kernelResult(-EINTR) == .failure(.interrupted))
    #expect(kernelResult(-1) == .failure(.notPermitted))
    #expect(kernelResult(-ECANCELED) == .failure(.canceled))
    #expect(kernelResult(-ETIME) == .failure(.timeout))
    #expect(kernelResult(-4095) == .failure(Errno(rawValue: 4095)))
  }

  @Test("a SEND_ZC notification is never a failure: bit 31 means copied")
  func notification() {
    let notif = ZC_IORING_CQE_F_NOTIF
    let copiedBit = Int32(bitPattern: ZC_IORING_NOTIF_USAGE_ZC_COPIED)
    #expect(copiedBit < 0)  // the case this guards: it reads as a negative Int32
    #expect(completionResult(res: copiedBit, flags: notif) == .success(1))
    #expect(completionResult(res: 0, flags: notif) == .success(0))
    // Any other bits without bit 31: sent zero-copy (only bit 31 is defined).
    #expect(completionResult(res: 1, flags: notif) == .success(0))
    // Without the flag, bit 31 (any negative res) is -errno, not "copied".
    #expect(completionResult(res: -EINVAL, flags: 0) == .failure(.invalidArgument))
    #expect(completionResult(res: -ECANCELED, flags: ZC_IORING_CQE_F_MORE) == .failure(.canceled))
    #expect(completionResult(res: 4096, flags: ZC_IORING_CQE_F_MORE) == .success(4096))
  }

  @Test("Completion.init keeps user data and flags and uses completionResult")
  func completion() {
    let copied = IOURing.Completion(
      zc_cqe(user_data: 7, res: Int32(bitPattern: ZC_IORING_NOTIF_USAGE_ZC_COPIED), flags: ZC_IORING_CQE_F_NOTIF))
    #expect(copied.userData == 7)
    #expect(copied.result == .success(1))
    #expect(copied.zeroCopy == .notification(copied: true))
    let failed = IOURing.Completion(zc_cqe(user_data: 8, res: -EBADF, flags: 0))
    #expect(failed.userData == 8)
    #expect(failed.error == .badFileDescriptor)
    #expect(failed.rawFlags == 0)
  }

  @Test("the liburing funnel retries -EINTR and throws any other -errno")
  func funnel() throws {
    var calls = 0
    let value = try liburing {
      calls += 1
      return calls < 3 ? -EINTR : 42
    }
    #expect(value == 42)
    #expect(calls == 3)

    calls = 0
    #expect(throws: Errno.resourceTemporarilyUnavailable) {
      _ = try liburing {
        calls += 1
        return -EAGAIN
      }
    }
    #expect(calls == 1)
  }
}
