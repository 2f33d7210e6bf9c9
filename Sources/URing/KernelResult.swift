// `-errno` becomes `Errno` here, and nowhere else in URing.
//
// The kernel (a CQE's `res`) and liburing (every `io_uring_*` function that can fail)
// report failure as a negative errno. `kernelResult(_:)` is the one conversion;
// `completionResult(res:flags:)` adds the one exception a CQE has (a SEND_ZC
// notification), and `liburing(_:)` is the funnel for liburing calls that retry `EINTR`.
// The two conversions are inlinable because `Completion.init(_:)` is (the reap loop);
// that is why this file imports CLibURing publicly.

public import CLibURing
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
  if flags & ZC_IORING_CQE_F_NOTIF != 0 {
    let copied = UInt32(bitPattern: res) & ZC_IORING_NOTIF_USAGE_ZC_COPIED != 0
    return .success(copied ? 1 : 0)
  }
  return kernelResult(res)
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
