// `-errno` becomes `Errno` here, and nowhere else in URing.
//
// The kernel (a CQE's `res`) and liburing (every `io_uring_*` function that can fail)
// report failure as a negative errno. `kernelResult(_:)` is the one conversion;
// `completionResult(res:flags:)` adds the one exception a CQE has (a SEND_ZC
// notification), and `liburing(_:)` is the funnel for liburing calls that retry `EINTR`.
// The two conversions are inlinable because `Completion.init(_:)` is (the reap loop), so
// they use no C declaration: the two CQE bits they test are Swift literals in `CQEBits`,
// checked against liburing's constants by KernelResultTests.

public import SystemPackage

/// A kernel or liburing return value: a non-negative value is `.success(value)`, a
/// negative one is `-errno` and becomes `.failure(Errno(rawValue: -value))`.
///
/// **The one place in URing where `-errno` becomes `Errno`.** Callers that treat some
/// errnos specially (`ETIME` from a timed wait, `EINTR`, `EBUSY`) match on the `Errno`
/// it returns instead of comparing raw values.
@inlinable @inline(__always)
internal func kernelResult(_ value: Int32) -> Result<Int32, Errno> {
  value >= 0 ? .success(value) : .failure(Errno(rawValue: -value))
}

/// A CQE's outcome from its `res` and `flags`: ``kernelResult(_:)``, except for a
/// SEND_ZC notification (`IORING_CQE_F_NOTIF` in `flags`).
///
/// A notification's `res` is 0, or has bit 31 set (`IORING_NOTIF_USAGE_ZC_COPIED`), which
/// reads as a negative `Int32` but means "the data was copied", not a failure. Its result
/// is therefore always `.success(0)` (sent zero-copy, or usage not reported) or
/// `.success(1)` (copied).
@inlinable @inline(__always)
internal func completionResult(res: Int32, flags: UInt32) -> Result<Int32, Errno> {
  if flags & CQEBits.notification != 0 {
    let copied = UInt32(bitPattern: res) & CQEBits.usageZeroCopyCopied != 0
    return .success(copied ? 1 : 0)
  }
  return kernelResult(res)
}

/// The completion-queue bits that inlinable code (the reap loop, `Completion.init(_:)`)
/// tests, as Swift literals: URing imports liburing's C module internally, so inlinable
/// code cannot name `IORING_CQE_F_NOTIF` and friends. KernelResultTests checks each value
/// against the C constant.
@usableFromInline
internal enum CQEBits {
  /// `IORING_CQE_F_NOTIF` (6.0): a SEND_ZC notification.
  @inlinable static var notification: UInt32 { 1 << 3 }
  /// `IORING_NOTIF_USAGE_ZC_COPIED` (6.2): in a notification's `res`, the data was copied.
  @inlinable static var usageZeroCopyCopied: UInt32 { 1 << 31 }
}

/// One completion-queue entry as the reap loop sees it: `user_data`, `res` and `flags`,
/// the first 16 bytes of `struct io_uring_cqe` (CLibURing's `zc_cqe`, which `zc_uring_reap`
/// fills). A Swift mirror of `zc_cqe` so that the inlinable reap loop needs no C type; the
/// ring's scratch memory is bound to this type and rebound to `zc_cqe` only for the
/// duration of the C call (same size, stride and alignment: checked by KernelResultTests
/// and by a precondition where the ring allocates it).
@usableFromInline
internal struct RawCompletion {
  @usableFromInline var userData: UInt64
  @usableFromInline var res: Int32
  @usableFromInline var flags: UInt32

  @inlinable
  init(userData: UInt64, res: Int32, flags: UInt32) {
    self.userData = userData
    self.res = res
    self.flags = flags
  }
}

/// Calls a liburing function that returns `-errno` on failure (liburing's convention for
/// everything except completions, which ``completionResult(res:flags:)`` converts),
/// retrying `EINTR`, and returns its non-negative result or throws the `Errno`.
@inline(__always)
internal func liburing(_ call: () -> Int32) throws(Errno) -> Int32 {
  while true {
    switch kernelResult(call()) {
    case .success(let value): return value
    case .failure(.interrupted): continue
    case .failure(let errno): throw errno
    }
  }
}
