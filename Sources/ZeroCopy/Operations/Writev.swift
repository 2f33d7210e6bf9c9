// A vectored write: `IORING_OP_WRITEV`, or `pwritev`/`writev` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Writes the buffers that `iovecs` describe, in order, at `offset` (nil: the file position).
internal struct WritevOp: EngineOperation {
  let fd: FileDescriptor
  let iovecs: UnsafeBufferPointer<iovec>
  let offset: Int64?

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLOUT) }

  func request() -> IOURing.Request {
    .unsafeWritev(fd, from: iovecs, at: offset.ringOffset)
  }

  /// A pipe or socket that polled writable is written in `PIPE_BUF` pieces.
  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    let buffers = iovecs.map { UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len) }
    if polled && kind != .regular {
      return writeWhileWritable(fd, buffers)
    }
    return blockingResult { try fd.unsafeWrite(buffers, at: offset) }
  }

  var ringOpcodeName: String { "IORING_OP_WRITEV" }
  var systemCallName: String { offset == nil ? "writev" : "pwritev" }
}
