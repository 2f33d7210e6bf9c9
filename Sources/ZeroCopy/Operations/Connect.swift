// Connecting a socket: `IORING_OP_CONNECT`, or `connect` on a pool worker.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Connects the socket `fd` to the `length`-byte `sockaddr` at `address`. Runs on a pool
/// worker (no readiness to wait for: `connect(2)` itself waits).
internal struct ConnectOp: EngineOperation {
  let fd: FileDescriptor
  let address: UnsafeRawPointer
  let length: UInt32

  var descriptor: FileDescriptor? { fd }

  func request() -> IOURing.Request {
    .unsafeConnect(fd, to: address.assumingMemoryBound(to: sockaddr.self), length: length)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult {
      try fd.connect(to: address, length: length)
      return 0
    }
  }

  var ringOpcodeName: String { "IORING_OP_CONNECT" }
  var systemCallName: String { "connect" }
}
