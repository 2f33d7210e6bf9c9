// What every async engine operation provides, and the typed operation object that carries
// one. Each operation lives in its own file in this directory (Read.swift, Send.swift, …):
// its operands, its io_uring request, its thread-pool call, its names for errors.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// One kind of engine operation: the engine-independent description of one system call.
/// The io_uring engine prepares ``request()``; the thread-pool engine runs
/// ``perform(kind:polled:)`` (on the poller, after ``pollEvents`` readiness, for a
/// descriptor that can wait for a peer; on a worker otherwise).
///
/// A conforming type is a small struct of operands. Every pointer in it refers to memory
/// that the operation's owner keeps alive until the operation's final completion (an async
/// frame that awaits it, or the ``Operation`` itself through ``Operation/ownedBuffer``).
///
/// Adding an operation is one file here (its struct) and the public method that builds it
/// (`AsyncFile`/`AsyncSocket`), plus its test in `Tests/ZeroCopyTests/Behaviours.swift`.
internal protocol EngineOperation {
  /// The descriptor the operation works on (nil for `open`). The thread-pool poller waits
  /// for its readiness.
  var descriptor: FileDescriptor? { get }

  /// Which readiness the operation waits for on a descriptor that can block indefinitely
  /// (pipes, sockets, terminals): `POLLIN`, `POLLOUT`, or 0 (the default) for operations
  /// that never wait for a peer (regular files, open, fsync, connect): those run on a
  /// pool worker whatever the descriptor.
  static var pollEvents: Int16 { get }

  /// The io_uring request (the engine sets its user data).
  func request() -> IOURing.Request

  /// The thread-pool engine's blocking call: its result, or `-errno` (see
  /// ``blockingResult(_:)``). With `polled`, the descriptor was reported ready and the
  /// call must not block: sockets use `MSG_DONTWAIT` (`-EAGAIN` means "wait again"), pipe
  /// writes go in `PIPE_BUF` pieces while the pipe stays writable
  /// (``writeWhileWritable(_:_:)``).
  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32

  /// The io_uring opcode's name, for errors (`IORING_OP_READ`).
  var ringOpcodeName: String { get }
  /// The thread-pool engine's system call's name, for errors (`pread64`).
  var systemCallName: String { get }

  /// Whether a cancelled waiter of `operation` may be resumed before its final completion
  /// (``Operation/abandon()``). Default false.
  func isAbandonable(_ operation: Operation) -> Bool
  /// The result an abandoned waiter gets, or nil when it cannot be abandoned yet. Default
  /// `-ECANCELED`.
  func abandonedResult(_ operation: Operation) -> Int32?
}

extension EngineOperation {
  static var pollEvents: Int16 { 0 }
  func isAbandonable(_ operation: Operation) -> Bool { false }
  func abandonedResult(_ operation: Operation) -> Int32? { .negated(.canceled) }
}

/// An ``Operation`` carrying a typed ``EngineOperation``: the operands are stored inline
/// in the one object the engine allocates per operation anyway, and the engines reach the
/// operation's calls through the class's dispatch table (no existential box, no switch).
internal final class OperationOf<Op: EngineOperation>: Operation, @unchecked Sendable {
  // @unchecked: `op` is immutable; its pointers follow EngineOperation's lifetime rule.
  let op: Op

  init(_ op: Op, owner: ManagedDescriptor?) {
    self.op = op
    super.init(owner: owner)
  }

  init(_ op: Op, owner: ManagedDescriptor?, owning buffer: consuming AlignedBuffer) {
    self.op = op
    super.init(owner: owner, owning: buffer)
  }

  override var descriptor: FileDescriptor? { op.descriptor }
  override var pollEvents: Int16 { Op.pollEvents }
  override func request() -> IOURing.Request { op.request() }
  override func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 { op.perform(kind: kind, polled: polled) }
  override var isAbandonable: Bool { op.isAbandonable(self) }
  override func abandonedResultNow() -> Int32? { op.abandonedResult(self) }
}

extension IOEngine {
  /// The name of the system call or opcode this engine uses for `op`, for errors.
  @inline(__always)
  internal func syscallName(_ op: some EngineOperation) -> String {
    kind == .ioUring ? op.ringOpcodeName : op.systemCallName
  }
}

// MARK: - Helpers for the thread-pool calls

/// `call`'s result, or `-errno` (an error that is not an `Errno` — none of LinuxIO's or
/// swift-system's calls throws one — as `-EIO`). Those calls retry `EINTR`.
@inline(__always)
internal func blockingResult<T: BinaryInteger>(_ call: () throws -> T) -> Int32 {
  do {
    return Int32(truncatingIfNeeded: try call())
  } catch let error as Errno {
    return .negated(error)
  } catch {
    return .negated(.ioError)
  }
}

/// Writes `pieces` to a pipe-like descriptor that `poll` reported writable, in pieces of
/// at most `PIPE_BUF` bytes (each fits in the free slot `POLLOUT` promises, so none
/// blocks), re-checking writability between pieces. Returns the bytes written, or
/// `-errno` if none were.
internal func writeWhileWritable(_ fd: FileDescriptor, _ pieces: [UnsafeRawBufferPointer]) -> Int32 {
  let pipeBuf = 4096
  var total = 0
  for piece in pieces {
    var done = 0
    while done < piece.count {
      let n = min(piece.count - done, pipeBuf)
      let r: Int
      do {
        r = try fd.write(UnsafeRawBufferPointer(rebasing: piece[done..<(done + n)]))  // retries EINTR
      } catch {
        return total > 0 ? Int32(total) : .negated(error as? Errno ?? .ioError)
      }
      done += r
      total += r
      if total >= Int(Int32.max) - pipeBuf { return Int32(total) }
      var writable = PollSet()
      writable.append(fd, events: .writable)
      if (try? writable.wait(timeoutMilliseconds: 0)) ?? 0 <= 0 || !writable.returnedEvents(at: 0).contains(.writable) {
        return Int32(total)
      }
    }
  }
  return Int32(total)
}

extension Int64? {
  /// An `Int64?` file offset as io_uring's (nil: the file position).
  @inline(__always)
  var ringOffset: UInt64? { map { UInt64($0) } }
}
