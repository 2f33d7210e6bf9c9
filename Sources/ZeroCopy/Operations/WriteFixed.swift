// A positioned write from a registered buffer: `IORING_OP_WRITE_FIXED`, or `pwrite64` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Writes `buffer`, which lies inside slot `index` of the engine's fixed-buffer table, at `offset`.
internal struct WriteFixedOp: EngineOperation {
  let fd: FileDescriptor
  let buffer: UnsafeRawBufferPointer
  let index: UInt16
  let offset: Int64

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLOUT) }

  func request() -> IOURing.Request {
    .writeFixed(
      fd, from: IOURing.RegisteredBuffer(index: index, bytes: UnsafeMutableRawBufferPointer(mutating: buffer)),
      at: UInt64(offset))
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult { try fd.write(toAbsoluteOffset: offset, buffer) }
  }

  var ringOpcodeName: String { "IORING_OP_WRITE_FIXED" }
  var systemCallName: String { "pwrite64" }
}
