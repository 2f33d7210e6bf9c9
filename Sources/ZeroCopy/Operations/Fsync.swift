// Flushing a file to storage: `IORING_OP_FSYNC`, or `fsync`/`fdatasync` on the thread pool.

import LinuxIO
import SystemPackage
import URing

/// Flushes `fd`'s data and, unless `dataOnly`, its metadata (`IORING_FSYNC_DATASYNC`).
internal struct FsyncOp: EngineOperation {
  let fd: FileDescriptor
  let dataOnly: Bool

  var descriptor: FileDescriptor? { fd }

  func request() -> IOURing.Request {
    dataOnly ? .fdatasync(fd) : .fsync(fd)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult {
      try fd.synchronize(dataOnly: dataOnly)
      return 0
    }
  }

  var ringOpcodeName: String { "IORING_OP_FSYNC" }
  var systemCallName: String { dataOnly ? "fdatasync" : "fsync" }
}
