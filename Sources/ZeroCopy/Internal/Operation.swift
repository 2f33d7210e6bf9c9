// One asynchronous operation: plain data describing the system call, plus the hand-off
// between the engine thread that completes it and the task that awaits it.

import Glibc
import LinuxIO
import Synchronization
import SystemPackage

/// What an operation does: the engine-independent description of one system call. The
/// io_uring engine turns it into an SQE (`RingBackend.request(for:)`); the thread-pool
/// engine runs the matching blocking call (`PoolBackend.perform(_:)`).
///
/// Every pointer in it refers to memory that the operation's owner keeps alive until the
/// operation's final completion (an async frame that awaits it, or the operation itself).
internal enum OpSpec: @unchecked Sendable {
  // @unchecked: raw pointers; see the lifetime rule above.
  case nop
  case read(FileDescriptor, UnsafeMutableRawBufferPointer, offset: Int64?)
  case write(FileDescriptor, UnsafeRawBufferPointer, offset: Int64?)
  /// A positioned read into slot `index` of the engine's fixed-buffer table (`READ_FIXED`;
  /// the thread pool calls `pread`). `buffer` lies inside that slot.
  case readFixed(FileDescriptor, UnsafeMutableRawBufferPointer, index: UInt16, offset: Int64)
  /// A positioned write from slot `index` of the engine's fixed-buffer table (`WRITE_FIXED`).
  case writeFixed(FileDescriptor, UnsafeRawBufferPointer, index: UInt16, offset: Int64)
  case readv(FileDescriptor, UnsafeBufferPointer<iovec>, offset: Int64?)
  case writev(FileDescriptor, UnsafeBufferPointer<iovec>, offset: Int64?)
  case fsync(FileDescriptor, dataOnly: Bool)
  case open(FilePath, FileDescriptor.AccessMode, FileDescriptor.OpenOptions, FilePermissions?)
  case send(FileDescriptor, UnsafeRawBufferPointer, zeroCopy: Bool)
  case recv(FileDescriptor, UnsafeMutableRawBufferPointer)
  case accept(FileDescriptor)
  case connect(FileDescriptor, UnsafeRawPointer, length: UInt32)

  /// Which readiness the operation waits for on a descriptor that can block indefinitely
  /// (pipes, sockets, terminals): `POLLIN`, `POLLOUT`, or 0 for operations that never wait
  /// for a peer (regular files, open, fsync, connect).
  var pollEvents: Int16 {
    switch self {
    case .read, .readv, .recv, .accept, .readFixed: return Int16(POLLIN)
    case .write, .writev, .send, .writeFixed: return Int16(POLLOUT)
    case .nop, .fsync, .open, .connect: return 0
    }
  }

  /// The descriptor the operation works on, if any.
  var descriptor: FileDescriptor? {
    switch self {
    case .read(let fd, _, _), .write(let fd, _, _), .readv(let fd, _, _), .writev(let fd, _, _),
      .readFixed(let fd, _, _, _), .writeFixed(let fd, _, _, _),
      .fsync(let fd, _), .send(let fd, _, _), .recv(let fd, _), .accept(let fd), .connect(let fd, _, _):
      return fd
    case .nop, .open:
      return nil
    }
  }
}

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
/// **Lifetime.** The io_uring engine holds a +1 reference (the SQE's user data is the
/// object's address) from preparing the SQE until the final completion, so the address
/// cannot be reused while the kernel may still post a completion for it.
internal final class Operation: @unchecked Sendable {
  // @unchecked: `waiter`, `result` and `flags` are ordered by `handoff`; the `ring*`/`pool*`
  // fields belong to the engine that runs the operation (its thread or its lock).

  let spec: OpSpec
  /// The file or socket this operation uses, kept open until the final completion.
  let owner: ManagedDescriptor?
  /// A buffer the operation owns (read-ahead) — freed or recycled only after the final completion.
  var ownedBuffer: AlignedBuffer?
  /// Set by cancellation (any thread).
  let cancelRequested = Atomic<Bool>(false)

  private let handoff = Atomic<UInt8>(0)
  private var waiter: UnsafeContinuation<Void, Never>?
  /// The result: the non-negative value, or `-errno`. Valid once finished.
  private(set) var result: Int32 = 0
  /// `IORING_CQE_F_*` of the final completion (0 for the thread pool).
  private(set) var flags: UInt32 = 0

  // io_uring engine state (engine thread only).
  var ringState: RingState = .new
  var zeroCopySendResult: Int32 = 0
  var zeroCopyCopied = false
  /// SEND_ZC: the send's own completion has arrived (`zeroCopySendResult` holds it) and only
  /// the notification is awaited. Written by the engine thread, read by ``abandon()``.
  let zeroCopySent = Atomic<Bool>(false)
  /// The result ``abandon()`` gave the waiter.
  private(set) var abandonedResult: Int32 = 0

  // Thread-pool engine state (guarded by the pool's lock).
  var poolState: PoolState = .new

  enum RingState: UInt8 { case new, queued, inKernel, done }
  enum PoolState: UInt8 { case new, queued, polling, running, done }

  init(_ spec: OpSpec, owner: ManagedDescriptor?) {
    self.spec = spec
    self.owner = owner
  }

  init(_ spec: OpSpec, owner: ManagedDescriptor?, owning buffer: consuming AlignedBuffer) {
    self.spec = spec
    self.owner = owner
    self.ownedBuffer = .some(buffer)
  }

  /// Whether ``finish(result:flags:)`` has run.
  var isFinished: Bool { handoff.load(ordering: .acquiring) == 1 }

  /// Whether the operation should complete as cancelled without being started: its task
  /// was cancelled, or its file is closing.
  @inline(__always)
  var shouldSkip: Bool {
    cancelRequested.load(ordering: .relaxed) || (owner?.isClosing ?? false)
  }

  /// Records the final result and resumes the waiter, if one is parked (and was not
  /// resumed by ``abandon()``). Called exactly once, by the engine, after the kernel is done
  /// with every resource of the operation.
  func finish(result: Int32, flags: UInt32 = 0) {
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

  /// Whether a cancelled waiter may return before the final completion: a read of a
  /// regular file or block device (it consumes nothing; the bytes are simply not
  /// delivered), or a SEND_ZC whose send has completed (its count is known, only the
  /// kernel's release of the pages is awaited).
  var isAbandonable: Bool {
    switch spec {
    case .read: return owner?.kind == .regular && ownedBuffer != nil
    case .send(_, _, let zeroCopy): return zeroCopy && ownedBuffer != nil
    default: return false
    }
  }

  /// Resumes the parked waiter now, before the final completion — for an abandonable
  /// operation only (a read: `-ECANCELED`; a SEND_ZC: the send's count, once known). The
  /// operation keeps its buffer, and its owner stays registered, until the engine finishes
  /// it. Returns false when it cannot (yet): the caller may try again later.
  func abandon() -> Bool {
    let value: Int32
    switch spec {
    case .send:
      guard zeroCopySent.load(ordering: .acquiring) else { return false }
      value = zeroCopySendResult
    default:
      value = .negated(.canceled)
    }
    abandonedResult = value
    guard handoff.compareExchange(expected: 2, desired: 3, ordering: .acquiringAndReleasing).exchanged else { return false }
    let w = waiter.take()!
    w.resume()
    return true
  }

  /// Whether ``abandon()`` resumed the waiter (then read ``abandonedResult``, and leave
  /// ``ownedBuffer`` alone: the kernel may still use it).
  var wasAbandoned: Bool { handoff.load(ordering: .acquiring) >= 3 }

  /// Waits until the operation is finished (no cancellation handling: see `IOEngine.run`).
  @inline(__always)
  nonisolated(nonsending) func wait() async {
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
