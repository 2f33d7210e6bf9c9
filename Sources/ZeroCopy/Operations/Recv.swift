// Receiving from a socket: `IORING_OP_RECV`, or `recv` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Receives into `buffer` from the socket `fd`.
internal struct RecvOp: EngineOperation {
  let fd: FileDescriptor
  let buffer: UnsafeMutableRawBufferPointer

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLIN) }

  func request() -> IOURing.Request {
    .unsafeRecv(fd, into: buffer)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult { try fd.receive(into: buffer, flags: polled ? .dontWait : []) }
  }

  var ringOpcodeName: String { "IORING_OP_RECV" }
  var systemCallName: String { "recv" }
}
