// A descriptor shared by async operations: counts the operations in flight so that
// closing it is ordered after the kernel's last use.

import Glibc
import Synchronization
import SystemPackage

/// Owns one descriptor for ``AsyncFile`` and ``AsyncSocket``.
///
/// Every operation on the descriptor calls ``begin()`` before it is submitted and the
/// engine calls ``operationFinished()`` after its final completion. ``close(engine:)``
/// refuses new operations, asks the engine to cancel the ones in flight, waits until the
/// count is zero, and only then closes the descriptor: the kernel never sees a descriptor
/// number that was closed (and maybe reused) under a pending request.
///
/// The count lives in one atomic word so that starting and finishing an operation takes
/// no lock: bits 0–59 count operations, `closingBit` refuses new ones, `drainedBit`
/// records that the close waiter was resumed (so it is resumed exactly once).
internal final class ManagedDescriptor: @unchecked Sendable {
  // @unchecked: `closeWaiter` is guarded by `lock`; everything else is immutable or atomic.

  /// What kind of file the descriptor is, which decides how the thread-pool engine waits.
  enum Kind: Sendable {
    /// A regular file or block device: operations finish in bounded time.
    case regular
    /// A pipe, FIFO, terminal or other character device: may wait for a peer indefinitely.
    case stream
    /// A socket.
    case socket
  }

  let descriptor: FileDescriptor
  let kind: Kind
  let path: FilePath?

  private static let closingBit = 1 << 61
  private static let drainedBit = 1 << 62
  private static let countMask = (1 << 60) - 1

  private let state = Atomic<Int>(0)
  private let lock = Lock()
  private var closeWaiter: UnsafeContinuation<Bool, Never>?  // guarded by lock
  /// Set once the descriptor has been closed (by close() or deinit).
  private let closed = Atomic<Bool>(false)
  /// Reads that asked to complete on the caller's thread (``yieldsBeforeInline()``).
  private let inlineTurns = Atomic<UInt32>(0)

  init(_ descriptor: FileDescriptor, kind: Kind, path: FilePath?) {
    self.descriptor = descriptor
    self.kind = kind
    self.path = path
  }

  /// Classifies `descriptor` with `fstat` (regular file / block device, socket, or stream).
  static func kind(of descriptor: FileDescriptor) -> Kind {
    guard let st = try? descriptor.status().rawValue else { return .stream }
    switch st.st_mode & S_IFMT {
    case S_IFREG, S_IFBLK: return .regular
    case S_IFSOCK: return .socket
    default: return .stream
    }
  }

  deinit {
    // No operation can be in flight: each one holds a reference to this object.
    if !closed.exchange(true, ordering: .relaxed) {
      _ = try? descriptor.close()
    }
  }

  /// Whether ``close(engine:)`` has started.
  @inline(__always)
  var isClosing: Bool { state.load(ordering: .relaxed) & ManagedDescriptor.closingBit != 0 }

  /// Whether this read, which may complete on the caller's thread
  /// (``IOEngine/Configuration/completesReadyReadsInline``), should first yield
  /// (`Task.yield()`): true one time in ``inlineYieldInterval``, so that a task that keeps
  /// finding its data ready still suspends now and then and lets other tasks run on its
  /// thread, as tokio's cooperative budget does. A yield, not a trip through the engine: an
  /// engine operation from a task without the engine's executor costs a wake-up of the
  /// ring thread and a resume on the cooperative pool (tens of µs on this VM; measured in
  /// the quiet make bench at 49b11b0: unpinned QD1 reads 2,483 ns against 1,333 pinned
  /// when one in 64 went through the engine).
  @inline(__always)
  func yieldsBeforeInline() -> Bool {
    inlineTurns.wrappingAdd(1, ordering: .relaxed).newValue % ManagedDescriptor.inlineYieldInterval == 0
  }

  /// One read in this many yields before completing inline.
  static let inlineYieldInterval: UInt32 = 64

  /// Registers one operation. Returns false (and registers nothing) once closing started.
  @inline(__always)
  func begin() -> Bool {
    let old = state.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
    if old & ManagedDescriptor.closingBit != 0 {
      operationFinished()  // undo; may complete the close
      return false
    }
    return true
  }

  /// Unregisters one operation (after its final completion).
  @inline(__always)
  func operationFinished() {
    let new = state.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue
    if new == ManagedDescriptor.closingBit {
      completeDrain()
    }
  }

  private func completeDrain() {
    let (exchanged, _) = state.compareExchange(
      expected: ManagedDescriptor.closingBit,
      desired: ManagedDescriptor.closingBit | ManagedDescriptor.drainedBit,
      ordering: .acquiringAndReleasing)
    guard exchanged else { return }
    let waiter = lock.withLock { closeWaiter.take() }
    waiter?.resume(returning: true)
  }

  /// Refuses new operations, cancels those in flight through `engine`, waits for their
  /// final completions, then closes the descriptor with `close(2)`.
  ///
  /// - Returns: `nil` on success, `EBADF` if the descriptor was already being closed, or
  ///   the errno of `close(2)`.
  nonisolated(nonsending) func close(engine: IOEngine) async -> Errno? {
    let first = await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
      // The waiter is installed under the lock together with the closing bit, so whoever
      // drains the count to zero (completeDrain takes the lock) finds it.
      lock.lock()
      let old = state.bitwiseOr(ManagedDescriptor.closingBit, ordering: .acquiringAndReleasing).oldValue
      if old & ManagedDescriptor.closingBit != 0 {
        lock.unlock()
        continuation.resume(returning: false)  // another close() owns the drain
        return
      }
      closeWaiter = continuation
      lock.unlock()
      if old & ManagedDescriptor.countMask == 0 {
        completeDrain()
      } else {
        engine.cancelOperations(on: self)
      }
    }
    if !first { return .badFileDescriptor }
    guard !closed.exchange(true, ordering: .relaxed) else { return .badFileDescriptor }
    do {
      try descriptor.close()
      return nil
    } catch let error as Errno {
      return error
    } catch {
      return .ioError
    }
  }
}
