// A write from caller memory: `IORING_OP_WRITE`, or `pwrite64`/`write`/`send` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Writes `buffer` at `offset` (nil: the file position, or the end for `O_APPEND`).
internal struct WriteOp: EngineOperation {
  let fd: FileDescriptor
  let buffer: UnsafeRawBufferPointer
  let offset: Int64?

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLOUT) }

  func request() -> IOURing.Request {
    .unsafeWrite(fd, from: buffer, at: offset.ringOffset)
  }

  /// A pipe that polled writable is written in `PIPE_BUF` pieces; a socket is sent to
  /// without blocking and without `SIGPIPE`.
  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    if polled && kind == .stream {
      return writeWhileWritable(fd, [buffer])
    }
    if kind == .socket {
      return blockingResult { try fd.send(buffer, flags: [.noSignal, .dontWait]) }
    }
    return blockingResult {
      if let offset { return try fd.write(toAbsoluteOffset: offset, buffer) }
      return try fd.write(buffer)
    }
  }

  var ringOpcodeName: String { "IORING_OP_WRITE" }
  var systemCallName: String { offset == nil ? "write" : "pwrite64" }
}
