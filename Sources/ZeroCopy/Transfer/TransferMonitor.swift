// Progress and cancellation of a running transfer, readable from any thread.

import Synchronization

/// Watches a running transfer from another thread or task: bytes delivered so far, the
/// total when known, and a way to cancel it. Pass one in ``TransferOptions/monitor``.
///
/// Updated by the strategy after every chunk (8 MiB by default), so polling it costs
/// the transfer nothing. `zc` polls it to draw its progress line.
public final class TransferMonitor: Sendable {
  private let delivered = Atomic<Int64>(0)
  private let expected = Atomic<Int64>(-1)
  private let cancelled = Atomic<Bool>(false)

  /// A monitor for one transfer.
  public init() {}

  /// Bytes delivered to the destination so far.
  public var bytesTransferred: Int64 { delivered.load(ordering: .relaxed) }

  /// The bytes the transfer will move when known (a range, or a regular file's size at
  /// the start), or nil.
  public var expectedBytes: Int64? {
    let value = expected.load(ordering: .relaxed)
    return value >= 0 ? value : nil
  }

  /// Asks the transfer to stop at its next chunk boundary; it then throws `ECANCELED`
  /// with the bytes delivered so far. Cancelling the transfer's task does the same.
  public func cancel() { cancelled.store(true, ordering: .relaxed) }

  /// Whether ``cancel()`` was called (or the transfer's task was cancelled).
  public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

  internal func add(_ bytes: Int64) { delivered.add(bytes, ordering: .relaxed) }

  internal func setExpected(_ bytes: Int64?) { expected.store(bytes ?? -1, ordering: .relaxed) }
}

extension ZeroCopyError.Operation {
  /// Moving bytes between two descriptors (``Transfer/run(_:strategy:options:)``,
  /// ``Transfer/send(file:range:to:strategy:options:)``).
  public static let transfer = ZeroCopyError.Operation(rawValue: "transfer")
  /// Copying a file by path (``Transfer/copy(from:to:strategy:options:)``).
  public static let copy = ZeroCopyError.Operation(rawValue: "copy")
}
