// A positioned read into a registered buffer: `IORING_OP_READ_FIXED`, or `pread64` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Reads at `offset` into `buffer`, which lies inside slot `index` of the engine's
/// fixed-buffer table (FixedBuffers.swift).
internal struct ReadFixedOp: EngineOperation {
  let fd: FileDescriptor
  let buffer: UnsafeMutableRawBufferPointer
  let index: UInt16
  let offset: Int64

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLIN) }

  func request() -> IOURing.Request {
    .readFixed(fd, into: IOURing.RegisteredBuffer(index: index, bytes: buffer), at: UInt64(offset))
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult { try fd.read(fromAbsoluteOffset: offset, into: buffer) }
  }

  var ringOpcodeName: String { "IORING_OP_READ_FIXED" }
  var systemCallName: String { "pread64" }
}
