// Allocating file blocks: `IORING_OP_FALLOCATE`, or `fallocate` on the thread pool.

import LinuxIO
import SystemPackage
import URing

/// Allocates the blocks of `length` bytes at `offset` (`FALLOC_FL_KEEP_SIZE` with
/// `keepSize`). Used by ``AsyncFile/allocate(at:length:keepSize:)``.
internal struct FallocateOp: EngineOperation {
  let fd: FileDescriptor
  let offset: Int64
  let length: Int64
  let keepSize: Bool

  var descriptor: FileDescriptor? { fd }

  func request() -> IOURing.Request {
    .fallocate(fd, mode: keepSize ? 1 : 0, offset: UInt64(offset), length: UInt64(bitPattern: length))
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult {
      try fd.allocate(at: offset, length: length, keepSize: keepSize)
      return 0
    }
  }

  var ringOpcodeName: String { "IORING_OP_FALLOCATE" }
  var systemCallName: String { "fallocate" }
}
