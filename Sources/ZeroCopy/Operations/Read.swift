// A read into caller memory: `IORING_OP_READ`, or `pread64`/`read` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Reads into `buffer` at `offset` (nil: the file position — pipes, FIFOs, devices).
/// Used by `AsyncFile.read(into:range:at:)` and `FileChunks`, which hand the buffer to the
/// ``Operation`` (``Operation/ownedBuffer``).
internal struct ReadOp: EngineOperation {
  let fd: FileDescriptor
  let buffer: UnsafeMutableRawBufferPointer
  let offset: Int64?

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLIN) }

  func request() -> IOURing.Request {
    .unsafeRead(fd, into: buffer, at: offset.ringOffset)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult {
      if let offset { return try fd.read(fromAbsoluteOffset: offset, into: buffer) }
      return try fd.read(into: buffer)
    }
  }

  var ringOpcodeName: String { "IORING_OP_READ" }
  var systemCallName: String { offset == nil ? "read" : "pread64" }

  /// A read of a regular file or block device consumes nothing: a cancelled waiter may
  /// return before the device answers (the bytes are simply not delivered), when the
  /// operation owns the buffer the kernel writes into.
  func isAbandonable(_ operation: Operation) -> Bool {
    operation.owner?.kind == .regular && operation.ownedBuffer != nil
  }
}
