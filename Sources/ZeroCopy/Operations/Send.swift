// Sending on a socket: `IORING_OP_SEND` or `IORING_OP_SEND_ZC`, or `send` on the thread pool.

import Glibc
import LinuxIO
import SystemPackage
import URing

/// Sends `buffer` on the socket `fd`, without `SIGPIPE`.
///
/// With `zeroCopy` (`IORING_OP_SEND_ZC`) the ring posts two completions: the send's count
/// (with `IORING_CQE_F_MORE`), then a notification once the kernel no longer references
/// the pages. The ring loop (`RingLoop.handle`) records the first in
/// ``Operation/zeroCopySendResult`` and finishes the operation at the notification; the
/// operation owns the buffer (``Operation/ownedBuffer``) until then. The thread pool sends
/// a copy (`send`): there is no notification.
internal struct SendOp: EngineOperation {
  let fd: FileDescriptor
  let buffer: UnsafeRawBufferPointer
  let zeroCopy: Bool

  var descriptor: FileDescriptor? { fd }
  static var pollEvents: Int16 { Int16(POLLOUT) }

  func request() -> IOURing.Request {
    zeroCopy ? .unsafeSendZeroCopy(fd, from: buffer) : .unsafeSend(fd, from: buffer)
  }

  func perform(kind: ManagedDescriptor.Kind, polled: Bool) -> Int32 {
    let flags: FileDescriptor.MessageFlags = polled ? [.noSignal, .dontWait] : .noSignal
    return blockingResult { try fd.send(buffer, flags: flags) }
  }

  var ringOpcodeName: String { zeroCopy ? "IORING_OP_SEND_ZC" : "IORING_OP_SEND" }
  var systemCallName: String { "send" }

  /// A SEND_ZC whose send has completed may return its count to a cancelled waiter while
  /// TCP still holds the pages (a peer that never reads keeps them).
  func isAbandonable(_ operation: Operation) -> Bool {
    zeroCopy && operation.ownedBuffer != nil
  }

  /// The send's count, once its first completion has arrived.
  func abandonedResult(_ operation: Operation) -> Int32? {
    operation.zeroCopySent.load(ordering: .acquiring) ? operation.zeroCopySendResult : nil
  }
}
