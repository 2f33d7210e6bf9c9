// Opening a file: `IORING_OP_OPENAT`, or `openat` on the thread pool (`O_CLOEXEC` always).

import LinuxIO
import SystemPackage
import URing

/// Opens `path` relative to the working directory; the result is the new descriptor.
internal struct OpenOp: EngineOperation {
  let path: FilePath
  let mode: FileDescriptor.AccessMode
  let options: FileDescriptor.OpenOptions
  let permissions: FilePermissions?

  var descriptor: FileDescriptor? { nil }

  func request() -> IOURing.Request {
    .openat(path, mode, options: options, permissions: permissions)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    blockingResult {
      try FileDescriptor.open(
        path, mode, options: options.union(.closeOnExec), permissions: permissions, retryOnInterrupt: true
      ).rawValue
    }
  }

  var ringOpcodeName: String { "IORING_OP_OPENAT" }
  var systemCallName: String { "openat" }
}
