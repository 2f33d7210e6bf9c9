// Accepting a connection: `IORING_OP_ACCEPT`, or `accept` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Accepts a connection on the listening socket `fd`; the result is the new descriptor.
internal struct AcceptOp: EngineOperation {
  let fd: FileDescriptor

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLIN) }

  func request() -> IOURing.Request {
    .accept(fd)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult { try fd.accept().rawValue }
  }

  var ringOpcodeName: String { "IORING_OP_ACCEPT" }
  var systemCallName: String { "accept" }
}
