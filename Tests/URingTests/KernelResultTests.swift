// The one place URing turns `-errno` into `Errno` (`KernelResult.swift`): its edge cases,
// checked directly because a real ring cannot be made to return most of them on demand.

import CLibURing
import Glibc
import SystemPackage
import Testing

@testable import URing  // kernelResult, completionResult, liburing, CQEBits, RawCompletion and Completion.init are internal

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
      RawCompletion(userData: 7, res: Int32(bitPattern: ZC_IORING_NOTIF_USAGE_ZC_COPIED), flags: ZC_IORING_CQE_F_NOTIF))
    #expect(copied.userData == 7)
    #expect(copied.result == .success(1))
    #expect(copied.zeroCopy == .notification(copied: true))
    let failed = IOURing.Completion(RawCompletion(userData: 8, res: -EBADF, flags: 0))
    #expect(failed.userData == 8)
    #expect(failed.error == .badFileDescriptor)
    #expect(failed.rawFlags == 0)
  }

  // URing imports CLibURing internally, so its inlinable reap path spells two CQE bits and
  // the CQE layout in Swift; these tests hold them to liburing's definitions.
  @Test("the CQE bits the inlinable reap path tests are liburing's")
  func cqeBits() {
    #expect(CQEBits.notification == ZC_IORING_CQE_F_NOTIF)
    #expect(CQEBits.usageZeroCopyCopied == ZC_IORING_NOTIF_USAGE_ZC_COPIED)
    #expect(IOURing.Completion.Flags.notification.rawValue == ZC_IORING_CQE_F_NOTIF)
    #expect(IOURing.Completion.Flags.more.rawValue == ZC_IORING_CQE_F_MORE)
    #expect(IOURing.Completion.Flags.buffer.rawValue == ZC_IORING_CQE_F_BUFFER)
  }

  @Test("RawCompletion mirrors zc_cqe: size, stride, alignment, field offsets")
  func rawCompletionLayout() {
    #expect(MemoryLayout<RawCompletion>.size == MemoryLayout<zc_cqe>.size)
    #expect(MemoryLayout<RawCompletion>.stride == MemoryLayout<zc_cqe>.stride)
    #expect(MemoryLayout<RawCompletion>.alignment == MemoryLayout<zc_cqe>.alignment)
    #expect(MemoryLayout<RawCompletion>.offset(of: \.userData) == MemoryLayout<zc_cqe>.offset(of: \.user_data))
    #expect(MemoryLayout<RawCompletion>.offset(of: \.res) == MemoryLayout<zc_cqe>.offset(of: \.res))
    #expect(MemoryLayout<RawCompletion>.offset(of: \.flags) == MemoryLayout<zc_cqe>.offset(of: \.flags))
    // The bytes C writes are the values Swift reads.
    var c = zc_cqe(user_data: 0x0102_0304_0506_0708, res: -EAGAIN, flags: 0x8000_0003)
    let mirrored = withUnsafeBytes(of: &c) { $0.loadUnaligned(as: RawCompletion.self) }
    #expect(mirrored.userData == 0x0102_0304_0506_0708)
    #expect(mirrored.res == -EAGAIN)
    #expect(mirrored.flags == 0x8000_0003)
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
