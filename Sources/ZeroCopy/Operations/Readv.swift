// A vectored read: `IORING_OP_READV`, or `preadv`/`readv` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Reads into the buffers that `iovecs` describe, in order, at `offset` (nil: the file position).
internal struct ReadvOp: EngineOperation {
  let fd: FileDescriptor
  let iovecs: UnsafeBufferPointer<iovec>
  let offset: Int64?

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLIN) }

  func request() -> IOURing.Request {
    .unsafeReadv(fd, into: iovecs, at: offset.ringOffset)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    let buffers = iovecs.map { UnsafeMutableRawBufferPointer(start: $0.iov_base, count: $0.iov_len) }
    return blockingResult { try fd.unsafeRead(into: buffers, at: offset) }
  }

  var ringOpcodeName: String { "IORING_OP_READV" }
  var systemCallName: String { offset == nil ? "readv" : "preadv" }
}
