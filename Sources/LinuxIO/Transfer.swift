// Value types shared by the transfer APIs: how much to move, how far a transfer got,
// how it ended, and how it failed.

import CZeroCopy
public import SystemPackage

/// How many bytes an "all" transfer should move: an exact count, or everything up to
/// the source's end of file.
///
/// Integer literals work directly (`count: 4096`); use `.bytes(n)` for a variable and
/// `.untilEndOfFile` for "until the source ends".
public struct TransferCount: Sendable, Hashable, ExpressibleByIntegerLiteral,
  CustomStringConvertible
{
  /// The value passed to the C helpers (`ZC_UNTIL_EOF` is `UInt64.max`).
  internal let rawValue: UInt64

  private init(rawValue: UInt64) { self.rawValue = rawValue }

  /// Transfer exactly `count` bytes (fewer only if the source ends first).
  ///
  /// - Precondition: `count >= 0`.
  public static func bytes(_ count: Int64) -> TransferCount {
    precondition(count >= 0, "TransferCount.bytes: count must not be negative (got \(count))")
    return TransferCount(rawValue: UInt64(count))
  }

  /// Transfer exactly `count` bytes (fewer only if the source ends first).
  ///
  /// - Precondition: `count >= 0`.
  public static func bytes(_ count: Int) -> TransferCount { .bytes(Int64(count)) }

  /// Transfer until the source's end of file. The transfer then ends with
  /// `TransferOutcome.complete` when the source ends. The C value is `ZC_UNTIL_EOF`.
  public static let untilEndOfFile = TransferCount(rawValue: UInt64.max)

  /// Transfer exactly `value` bytes. - Precondition: `value >= 0`.
  public init(integerLiteral value: Int64) { self = .bytes(value) }

  /// The exact byte count, or nil for `untilEndOfFile`.
  public var byteCount: Int64? { rawValue == UInt64.max ? nil : Int64(rawValue) }

  /// "N bytes" or "until end of file".
  public var description: String {
    byteCount.map { "\($0) bytes" } ?? "until end of file"
  }
}

/// How far an "all" transfer got. Always exact, on success and on failure alike.
public struct TransferProgress: Sendable, Hashable, CustomStringConvertible {
  /// Bytes delivered to the destination.
  public var bytes: Int64
  /// Data-moving system calls issued (for a splice through a pipe, each leg counts).
  public var syscalls: Int
  /// Splice through an intermediate pipe only: bytes read from the source into the pipe
  /// that could not be delivered because the destination failed. They were drained and
  /// dropped, so the pipe is empty again; the source offset to resume from is
  /// `start + bytes`. Zero for every other transfer.
  public var discarded: Int64

  /// Creates a progress record.
  public init(bytes: Int64 = 0, syscalls: Int = 0, discarded: Int64 = 0) {
    self.bytes = bytes
    self.syscalls = syscalls
    self.discarded = discarded
  }

  /// "B bytes in S syscalls[, D discarded]".
  public var description: String {
    "\(bytes) bytes in \(syscalls) syscalls" + (discarded > 0 ? ", \(discarded) discarded" : "")
  }
}

/// How an "all" transfer ended without an error.
public enum TransferOutcome: Sendable, Hashable {
  /// The whole requested count was delivered; with `TransferCount.untilEndOfFile`, the
  /// source ended and everything up to its end was delivered. (`ZC_DONE`)
  case complete
  /// The source ended before the requested count: it is shorter than asked, or it was
  /// truncated while the transfer ran. `progress.bytes` says exactly how much was
  /// delivered. Never returned for `untilEndOfFile`. (`ZC_EOF`)
  case sourceEndedEarly
  /// A non-blocking descriptor would block. `progress.bytes` were delivered; retry
  /// later with the remaining count from the advanced offsets. (`ZC_AGAIN`)
  case wouldBlock
}

/// The result of an "all" transfer that did not fail: how it ended and how far it got.
public struct TransferResult: Sendable, Hashable, CustomStringConvertible {
  /// How the transfer ended.
  public var outcome: TransferOutcome
  /// How far it got.
  public var progress: TransferProgress

  /// Creates a result.
  public init(outcome: TransferOutcome, progress: TransferProgress) {
    self.outcome = outcome
    self.progress = progress
  }

  /// Bytes delivered to the destination (`progress.bytes`).
  public var bytes: Int64 { progress.bytes }

  /// "outcome: progress".
  public var description: String { "\(outcome): \(progress)" }
}

/// The error thrown by the "all" transfers: the errno that stopped the transfer, and
/// exactly how far the transfer got before it (bytes delivered, syscalls made, bytes
/// discarded from an intermediate pipe).
///
/// The "all" transfers throw this typed error instead of returning a `.failed(Errno)`
/// outcome, so a caller cannot mistake a failure for progress by forgetting a case, and
/// `catch` gives the progress without losing the errno.
public struct TransferFailure: Error, Sendable, Hashable, CustomStringConvertible {
  /// The error that stopped the transfer.
  public var errno: Errno
  /// How far the transfer got before the error.
  public var progress: TransferProgress

  /// Creates a failure record.
  public init(errno: Errno, progress: TransferProgress) {
    self.errno = errno
    self.progress = progress
  }

  /// "errno after progress".
  public var description: String { "\(errno) after \(progress)" }
}

/// Flags for `splice`, `tee` and `vmsplice` (the kernel's `SPLICE_F_*`).
public struct SpliceFlags: OptionSet, Sendable, Hashable {
  /// The kernel's bit values.
  public let rawValue: UInt32
  /// Creates flags from the kernel's bit values.
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// `SPLICE_F_MOVE`: a hint to move pages instead of copying (a no-op on current kernels).
  public static let move = SpliceFlags(rawValue: UInt32(ZC_SPLICE_F_MOVE))
  /// `SPLICE_F_NONBLOCK`: do not block on the pipe (the other end may still block).
  public static let nonBlocking = SpliceFlags(rawValue: UInt32(ZC_SPLICE_F_NONBLOCK))
  /// `SPLICE_F_MORE`: more data will follow (like `MSG_MORE` for sockets).
  public static let more = SpliceFlags(rawValue: UInt32(ZC_SPLICE_F_MORE))
  /// `SPLICE_F_GIFT` (vmsplice only): the pages are given to the kernel; the memory
  /// must be page-aligned and must not be touched again.
  public static let gift = SpliceFlags(rawValue: UInt32(ZC_SPLICE_F_GIFT))
}
