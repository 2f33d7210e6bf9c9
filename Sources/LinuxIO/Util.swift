// The one place where the C convention (-errno on failure) becomes a thrown `Errno`,
// plus small helpers shared by the public API. Modelled on swift-system's
// `valueOrErrno(retryOnInterrupt:_:)` in `Util.swift`.

import CZeroCopy
import Glibc
import SystemPackage

/// Calls `call` and converts its result: a non-negative value is returned, a negative
/// value is `-errno` and is thrown as `Errno`. `EINTR` is retried when
/// `retryOnInterrupt` is true (the default). The shim already retries `EINTR`, so this
/// matters for the direct Glibc funnels and for injected errors; the "all" helpers pass
/// `false`, because re-running a whole transfer would lose its progress.
@inline(__always)
internal func valueOrErrno<I: FixedWidthInteger & SignedInteger>(
  retryOnInterrupt: Bool = true, _ call: () -> I
) throws(Errno) -> I {
  while true {
    let result = call()
    if result >= 0 { return result }
    let errno = Errno(rawValue: CInt(truncatingIfNeeded: -result))
    if retryOnInterrupt && errno == .interrupted { continue }
    throw errno
  }
}

/// Calls `body` with a pointer to a copy of `offset`, or with nil when `offset` is nil
/// (the C functions then use, and advance, the descriptor's file position).
@inline(__always)
internal func withOptionalOffset<R, E: Error>(
  _ offset: Int64?, _ body: (UnsafeMutablePointer<Int64>?) throws(E) -> R
) throws(E) -> R {
  guard var value = offset else { return try body(nil) }
  return try withUnsafeMutablePointer(to: &value) { pointer throws(E) in try body(pointer) }
}

@inline(__always)
internal func withOptionalOffsets<R, E: Error>(
  _ first: Int64?, _ second: Int64?,
  _ body: (UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?) throws(E) -> R
) throws(E) -> R {
  try withOptionalOffset(first) { p1 throws(E) in
    try withOptionalOffset(second) { p2 throws(E) in try body(p1, p2) }
  }
}

/// Calls `body` with `path` as a C string (typed throws, which `withPlatformString` lacks).
internal func withCPath<R>(_ path: FilePath, _ body: (UnsafePointer<CChar>) throws(Errno) -> R) throws(Errno) -> R {
  let cPath: [CChar] = path.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)) }
  return try cPath.withUnsafeBufferPointer { (pointer) throws(Errno) -> R in try body(pointer.baseAddress!) }
}

@inline(__always)
internal func checkCount(_ count: Int, _ function: StaticString) {
  precondition(count >= 0, "\(function): count must not be negative (got \(count))")
}

@inline(__always)
internal func checkOffset(_ offset: Int64?, _ name: StaticString, _ function: StaticString) {
  if let offset {
    precondition(offset >= 0, "\(function): \(name) must not be negative (got \(offset))")
  }
}

/// Runs one "all" helper and converts its status or -errno into a `TransferResult` or a
/// thrown `TransferFailure` that keeps the progress made before the error.
internal func runTransfer(
  _ call: (ProgressPointer) -> CInt
) throws(TransferFailure) -> TransferResult {
  var raw = zc_progress(bytes: 0, syscalls: 0, discarded: 0)
  let status = withUnsafeMutablePointer(to: &raw) { call($0) }
  let progress = TransferProgress(raw)
  let value: CInt
  do {
    value = try valueOrErrno(retryOnInterrupt: false) { status }
  } catch {
    throw TransferFailure(errno: error, progress: progress)
  }
  switch value {
  case CInt(ZC_DONE.rawValue): return TransferResult(outcome: .complete, progress: progress)
  case CInt(ZC_EOF.rawValue): return TransferResult(outcome: .sourceEndedEarly, progress: progress)
  case CInt(ZC_AGAIN.rawValue): return TransferResult(outcome: .wouldBlock, progress: progress)
  default:
    preconditionFailure("libzerocopy returned an unknown zc_status \(value)")
  }
}

extension TransferProgress {
  internal init(_ raw: zc_progress) {
    self.init(
      bytes: Int64(truncatingIfNeeded: raw.bytes),
      syscalls: Int(truncatingIfNeeded: raw.syscalls),
      discarded: Int64(truncatingIfNeeded: raw.discarded))
  }
}
