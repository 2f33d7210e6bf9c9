// One asynchronous operation: the hand-off between the engine thread that completes it and
// the task that awaits it. What it does (its operands, its io_uring request, its
// thread-pool call) is an `EngineOperation` in Sources/ZeroCopy/Operations/, carried by
// the subclass `OperationOf<Op>`.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage
import URing

/// An in-flight operation, shared by the submitting task, the engine and (for read-ahead)
/// the object that owns its buffer.
///
/// **Hand-off.** The engine calls ``finish(result:flags:)`` exactly once, after the
/// operation's final completion (for `SEND_ZC`, its notification). A task waits with
/// ``wait()``. `handoff` orders the two without a lock: 0 pending, 1 finished, 2 a waiter is
/// parked in `waiter`, 3 abandoned (a cancelled waiter was resumed by ``abandon()`` before
/// the final completion; the operation keeps its buffer until then), 4 finished after it
/// was abandoned.
///
/// **What it does** is the ``OperationOf`` subclass's typed ``EngineOperation``; the
/// engines reach it through the overridable members below (``request()``,
/// ``perform(kind:polled:)``, ``descriptor``, ``pollEvents``). Everything else is `final`.
///
/// **Lifetime.** The io_uring engine holds a +1 reference (the SQE's user data is the
/// object's address) from preparing the SQE until the final completion, so the address
/// cannot be reused while the kernel may still post a completion for it.
internal class Operation: @unchecked Sendable {
  // @unchecked: `waiter`, `result` and `flags` are ordered by `handoff`; the `ring*`/`pool*`
  // fields belong to the engine that runs the operation (its thread or its lock).

  /// The file or socket this operation uses, kept open until the final completion.
  final let owner: ManagedDescriptor?
  /// A buffer the operation owns (read-ahead) — freed or recycled only after the final completion.
  final var ownedBuffer: AlignedBuffer?
  /// Set by cancellation (any thread).
  final let cancelRequested = Atomic<Bool>(false)

  private let handoff = Atomic<UInt8>(0)
  private var waiter: UnsafeContinuation<Void, Never>?
  /// The result: the non-negative value, or `-errno`. Valid once finished.
  private(set) final var result: Int32 = 0
  /// `IORING_CQE_F_*` of the final completion (0 for the thread pool).
  private(set) final var flags: UInt32 = 0

  // io_uring engine state (engine thread only).
  final var ringState: RingState = .new
  final var zeroCopySendResult: Int32 = 0
  final var zeroCopyCopied = false
  /// SEND_ZC: the send's own completion has arrived (`zeroCopySendResult` holds it) and only
  /// the notification is awaited. Written by the engine thread, read by ``abandon()``.
  final let zeroCopySent = Atomic<Bool>(false)
  /// The result ``abandon()`` gave the waiter.
  private(set) final var abandonedResult: Int32 = 0

  // Thread-pool engine state (guarded by the pool's lock).
  final var poolState: PoolState = .new

  enum RingState: UInt8 { case new, queued, inKernel, done }
  enum PoolState: UInt8 { case new, queued, polling, running, done }

  /// For ``OperationOf`` only.
  init(owner: ManagedDescriptor?) {
    self.owner = owner
  }

  /// For ``OperationOf`` only.
  init(owner: ManagedDescriptor?, owning buffer: consuming AlignedBuffer) {
    self.owner = owner
    self.ownedBuffer = .some(buffer)
  }

  // MARK: What it does (overridden by OperationOf)

  /// The descriptor the operation works on, if any (``EngineOperation/descriptor``).
  var descriptor: FileDescriptor? { preconditionFailure("Operation is abstract: use OperationOf") }
  /// ``EngineOperation/pollEvents``.
  var pollEvents: Int16 { preconditionFailure("Operation is abstract: use OperationOf") }
  /// The io_uring request (``EngineOperation/request()``).
  func request() -> IOURing.Request { preconditionFailure("Operation is abstract: use OperationOf") }
  /// The thread-pool call (``EngineOperation/perform(kind:polled:)``).
  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    preconditionFailure("Operation is abstract: use OperationOf")
  }

  /// Whether a cancelled waiter may return before the final completion
  /// (``EngineOperation/isAbandonable(_:)``): a read of a regular file or block device (it
  /// consumes nothing; the bytes are simply not delivered), or a SEND_ZC whose send has
  /// completed (its count is known, only the kernel's release of the pages is awaited).
  var isAbandonable: Bool { preconditionFailure("Operation is abstract: use OperationOf") }
  /// The result an abandoned waiter gets now, or nil (``EngineOperation/abandonedResult(_:)``).
  func abandonedResultNow() -> Int32? { preconditionFailure("Operation is abstract: use OperationOf") }

  // MARK: Hand-off

  /// Whether ``finish(result:flags:)`` has run.
  final var isFinished: Bool { handoff.load(ordering: .acquiring) == 1 }

  /// Whether the operation should complete as cancelled without being started: its task
  /// was cancelled, or its file is closing.
  @inline(__always)
  final var shouldSkip: Bool {
    cancelRequested.load(ordering: .relaxed) || (owner?.isClosing ?? false)
  }

  /// Records the final result and resumes the waiter, if one is parked (and was not
  /// resumed by ``abandon()``). Called exactly once, by the engine, after the kernel is done
  /// with every resource of the operation.
  final func finish(result: Int32, flags: UInt32 = 0) {
    self.result = result
    self.flags = flags
    owner?.operationFinished()
    while true {
      let previous = handoff.load(ordering: .acquiring)
      let next: UInt8 = previous == 3 ? 4 : 1
      guard handoff.compareExchange(expected: previous, desired: next, ordering: .acquiringAndReleasing).exchanged else {
        continue
      }
      if previous == 2 {
        let w = waiter.take()!
        w.resume()
      }
      return
    }
  }

  /// Resumes the parked waiter now, before the final completion — for an abandonable
  /// operation only (a read: `-ECANCELED`; a SEND_ZC: the send's count, once known). The
  /// operation keeps its buffer, and its owner stays registered, until the engine finishes
  /// it. Returns false when it cannot (yet): the caller may try again later.
  final func abandon() -> Bool {
    guard let value = abandonedResultNow() else { return false }
    abandonedResult = value
    guard handoff.compareExchange(expected: 2, desired: 3, ordering: .acquiringAndReleasing).exchanged else { return false }
    let w = waiter.take()!
    w.resume()
    return true
  }

  /// Whether ``abandon()`` resumed the waiter (then read ``abandonedResult``, and leave
  /// ``ownedBuffer`` alone: the kernel may still use it).
  final var wasAbandoned: Bool { handoff.load(ordering: .acquiring) >= 3 }

  /// Waits until the operation is finished (no cancellation handling: see `IOEngine.run`).
  @inline(__always)
  nonisolated(nonsending) final func wait() async {
    if handoff.load(ordering: .acquiring) == 1 { return }
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
      waiter = continuation
      let (exchanged, _) = handoff.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing)
      if !exchanged {
        // Finished meanwhile: nobody else will resume it.
        waiter = nil
        continuation.resume()
      }
    }
    // Pairs with the release in finish(): the continuation's own hand-off is invisible to
    // ThreadSanitizer when the resume overtakes the suspension (the runtime is not
    // instrumented), this load makes the ordering of `result` explicit. A plain load on x86.
    _ = handoff.load(ordering: .acquiring)
  }
}

extension Int32 {
  /// `-errno` for an `Errno`.
  @inline(__always)
  static func negated(_ errno: Errno) -> Int32 { -errno.rawValue }
}
