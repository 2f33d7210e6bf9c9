// Progress and cancellation of a running transfer, readable from any thread.

public import LinuxIO
import Synchronization

/// Watches a running transfer from another thread or task: bytes delivered so far, the
/// total when known, and a way to cancel it. Pass one in ``TransferOptions/monitor``.
///
/// Updated by the strategy after every chunk (8 MiB by default), so polling it costs
/// the transfer nothing. `zc` polls it to draw its progress line.
///
/// **Cancellation** (``cancel()``, or cancelling the task of an async transfer) returns
/// within 100 ms with `ECANCELED` and the exact bytes delivered, whatever the peer or the
/// device does: a call blocked on a socket or pipe that nobody reads is interrupted
/// (``cancellationToken``, LinuxIO's `CancellationToken`); a ring cancels what it has in
/// flight (`IORING_OP_ASYNC_CANCEL`); a large transfer reads its file source into the page
/// cache ahead of each piece, waiting in cancellable steps, so no call waits for the device
/// (the kernel does not interrupt those); and an `O_DIRECT` read still in the device when
/// an async transfer is cancelled is left to finish in the background, delivering nothing
/// (Docs/Transfer.md, "Cancellation"). This is also the cancellation handle of the blocking
/// ``Transfer/runBlocking(_:strategy:options:)``: call ``cancel()`` from any thread.
///
/// A monitor watches one transfer.
public final class TransferMonitor: Sendable {
  private let delivered = Atomic<Int64>(0)
  private let expected = Atomic<Int64>(-1)
  /// The cancellation mechanism the transfer's system calls and waits observe.
  public let cancellationToken = CancellationToken()

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

  /// Asks the transfer to stop: it throws `ECANCELED` with the bytes delivered so far,
  /// within 100 ms (see "Cancellation" above). Cancelling the transfer's task does the same.
  /// Any thread; never blocks.
  public func cancel() { cancellationToken.cancel() }

  /// Whether ``cancel()`` was called (or the transfer's task was cancelled).
  public var isCancelled: Bool { cancellationToken.isCancelled }

  internal func add(_ bytes: Int64) { delivered.add(bytes, ordering: .relaxed) }

  // MARK: Abandoning a wait that delivers nothing

  /// 0: no abandonable wait; 1: the transfer waits in a call that delivers nothing (an
  /// O_DIRECT read into the strategy's own buffer, which the device serves however long it
  /// takes, uninterruptibly); 2: a cancellation abandoned that wait — the caller has
  /// returned, and the transfer must deliver nothing more.
  private let phase = Atomic<UInt8>(0)
  /// The error an abandoning cancellation returns (set by `Transfer.perform`), to which
  /// it adds the bytes delivered.
  private let abandonError = Mutex<ZeroCopyError?>(nil)

  /// The transfer enters an abandonable wait; false if it was already cancelled.
  internal func enterAbandonableWait() -> Bool {
    phase.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged && !isCancelled
  }

  /// The transfer leaves the wait; false if a cancellation abandoned it meanwhile (stop
  /// at once, deliver nothing, touch none of the caller's descriptors).
  internal func leaveAbandonableWait() -> Bool {
    phase.compareExchange(expected: 1, desired: 0, ordering: .acquiringAndReleasing).exchanged
  }

  /// Whether a cancellation abandoned the transfer's wait.
  internal var wasAbandoned: Bool { phase.load(ordering: .acquiring) == 2 }

  /// What the async caller returns when `abandon()` succeeds.
  internal func setAbandonmentError(_ error: ZeroCopyError) { abandonError.withLock { $0 = error } }

  /// From a cancellation (any thread): if the transfer is in an abandonable wait, abandons
  /// it and returns the error for its caller — `ECANCELED` with the bytes delivered, which
  /// can no longer change. Nil when the transfer is elsewhere (it stops on its own).
  internal func abandon() -> ZeroCopyError? {
    guard var error = abandonError.withLock({ $0 }),
      phase.compareExchange(expected: 1, desired: 2, ordering: .acquiringAndReleasing).exchanged
    else { return nil }
    error.bytesTransferred = bytesTransferred
    return error
  }

  internal func setExpected(_ bytes: Int64?) { expected.store(bytes ?? -1, ordering: .relaxed) }
}

extension ZeroCopyError.Operation {
  /// Moving bytes between two descriptors (``Transfer/run(_:strategy:options:)``,
  /// ``Transfer/send(file:range:to:strategy:options:)``).
  public static let transfer = ZeroCopyError.Operation(rawValue: "transfer")
  /// Copying a file by path (``Transfer/copy(from:to:strategy:options:)``).
  public static let copy = ZeroCopyError.Operation(rawValue: "copy")
}
