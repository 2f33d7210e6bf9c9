// Request factories that take ownership of an `AlignedBuffer`: the request moves the buffer
// into the ring's ownership ledger when it is prepared, and the ring hands it back with
// `IOURing.takeBuffer(userData:)` once the request's final completion has been reaped. No
// caller can free the memory while the kernel may use it, and no release build can end its
// lifetime early: the caller no longer has it.

import CLibURing
import CZeroCopy
public import LinuxIO
import SystemPackage

extension IOURing.Request {
  /// A request that owns `buffer`; `prep` gets the SQE and the address and length of `range`.
  internal static func owning(
    _ buffer: consuming AlignedBuffer, range: Range<Int>?, zeroCopy: Bool = false, userData: UInt64,
    _ function: StaticString, _ prep: (UnsafeMutablePointer<io_uring_sqe>, UnsafeMutableRawPointer, Int) -> Void
  ) -> Self {
    let storage = SubmissionStorage(owning: buffer, zeroCopy: zeroCopy)
    let (address, count) = storage.slice(range, function)
    return Self(userData: userData, storage: storage) { prep($0, address, count) }
  }

  /// Reads up to `range.count` bytes from `file` at `offset` into `buffer[range]` (all of it
  /// by default), like `pread(2)`. The request owns `buffer` from now on.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - buffer: The destination, moved into the request; the ring hands it back with
  ///     ``IOURing/takeBuffer(userData:)`` after the completion (also when the read failed or
  ///     was cancelled).
  ///   - range: Which bytes of `buffer` to fill. - Precondition: inside the buffer.
  ///   - offset: The file offset, or `nil` for the current file position (5.6+) — required
  ///     for pipes, sockets and other streams.
  ///   - userData: Must differ from that of every other request in flight that owns memory.
  /// - Result: Bytes read (0 at end of file), or the `Errno`.
  /// - Lifetime: Nothing to keep alive.
  ///
  /// The corresponding C function is `io_uring_prep_read` (`IORING_OP_READ`, kernel 5.6).
  public static func read(
    _ file: some IOURingFile, into buffer: consuming AlignedBuffer, range: Range<Int>? = nil,
    at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    let f = file.ioURingOperand
    return owning(buffer, range: range, userData: userData, #function) { sqe, address, count in
      io_uring_prep_read(sqe, f.value, address, clampedCount(count), offsetValue(offset))
      fixing(sqe, f)
    }
  }

  /// Writes `buffer[range]` (all of it by default) to `file` at `offset`, like `pwrite(2)`.
  /// The request owns `buffer` from now on; ``IOURing/takeBuffer(userData:)`` hands it back
  /// after the completion.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - buffer: The source, moved into the request; the ring hands it back with
  ///     ``IOURing/takeBuffer(userData:)`` after the completion (also when the write failed
  ///     or was cancelled).
  ///   - range: Which bytes of `buffer` to write. - Precondition: inside the buffer.
  ///   - offset: The file offset, or `nil` for the current file position (5.6+).
  ///   - userData: Must differ from that of every other request in flight that owns memory.
  /// - Result: Bytes written (possibly fewer), or the `Errno`. A write to a closed socket or
  ///   pipe raises `SIGPIPE`, like `write(2)`: use ``send(_:from:range:flags:userData:)`` on sockets.
  /// - Lifetime: Nothing to keep alive.
  ///
  /// The corresponding C function is `io_uring_prep_write` (`IORING_OP_WRITE`, kernel 5.6).
  public static func write(
    _ file: some IOURingFile, from buffer: consuming AlignedBuffer, range: Range<Int>? = nil,
    at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    let f = file.ioURingOperand
    return owning(buffer, range: range, userData: userData, #function) { sqe, address, count in
      io_uring_prep_write(sqe, f.value, address, clampedCount(count), offsetValue(offset))
      fixing(sqe, f)
    }
  }

  /// Sends `buffer[range]` (all of it by default) on a connected socket, like `send(2)`
  /// (the kernel adds `MSG_NOSIGNAL`). The request owns `buffer` from now on;
  /// ``IOURing/takeBuffer(userData:)`` hands it back after the completion.
  ///
  /// - Parameters:
  ///   - socket: A socket descriptor, or a registered-file slot holding one.
  ///   - buffer: The bytes to send, moved into the request; the ring hands it back with
  ///     ``IOURing/takeBuffer(userData:)`` after the completion.
  ///   - range: Which bytes of `buffer` to send (default: all). - Precondition: inside the buffer.
  ///   - flags: `MSG_*` flags (e.g. `MSG_MORE`, `MSG_DONTWAIT`).
  ///   - userData: Must differ from that of every other request in flight that owns memory.
  /// - Result: Bytes sent, or the `Errno` (`EPIPE`, `ECONNRESET`…).
  /// - Lifetime: Nothing to keep alive.
  ///
  /// The corresponding C function is `io_uring_prep_send` (`IORING_OP_SEND`, kernel 5.6).
  public static func send(
    _ socket: some IOURingFile, from buffer: consuming AlignedBuffer, range: Range<Int>? = nil, flags: Int32 = 0,
    userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioURingOperand
    return owning(buffer, range: range, userData: userData, #function) { sqe, address, count in
      io_uring_prep_send(sqe, f.value, address, count, flags)
      fixing(sqe, f)
    }
  }

  /// Receives into `buffer[range]` (all of it by default) from a socket, like `recv(2)`.
  /// The request owns `buffer` from now on; ``IOURing/takeBuffer(userData:)`` hands it back
  /// after the completion (for a receive that waits for data: after it completes, or after
  /// it was cancelled and its `ECANCELED` completion reaped).
  ///
  /// - Parameters:
  ///   - socket: A socket descriptor, or a registered-file slot holding one.
  ///   - buffer: The destination, moved into the request; the ring hands it back with
  ///     ``IOURing/takeBuffer(userData:)`` after the completion.
  ///   - range: Which bytes of `buffer` to fill (default: all). - Precondition: inside the buffer.
  ///   - flags: `MSG_*` flags (e.g. `MSG_WAITALL`, `MSG_PEEK`).
  ///   - userData: Must differ from that of every other request in flight that owns memory.
  /// - Result: Bytes received (0: the peer shut down its side), or the `Errno`.
  /// - Lifetime: Nothing to keep alive.
  ///
  /// The corresponding C function is `io_uring_prep_recv` (`IORING_OP_RECV`, kernel 5.6).
  public static func recv(
    _ socket: some IOURingFile, into buffer: consuming AlignedBuffer, range: Range<Int>? = nil, flags: Int32 = 0,
    userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioURingOperand
    return owning(buffer, range: range, userData: userData, #function) { sqe, address, count in
      io_uring_prep_recv(sqe, f.value, address, count, flags)
      fixing(sqe, f)
    }
  }

  /// Zero-copy send of `buffer[range]` (all of it by default): the kernel transmits straight
  /// from the buffer's pages. The request owns `buffer` until the kernel's notification
  /// (``IOURing/Completion/isNotification``), then ``IOURing/takeBuffer(userData:)`` hands it
  /// back — never after the first completion alone.
  ///
  /// Two completions, as for ``unsafeSendZeroCopy(_:from:flags:reportUsage:userData:)``; a
  /// result without `IORING_CQE_F_MORE` (other than `ECANCELED`) ends the request.
  ///
  /// - Parameters:
  ///   - socket: A socket descriptor, or a registered-file slot holding one.
  ///   - buffer: The bytes to send, moved into the request; the kernel transmits from its
  ///     pages, and the ring hands it back with ``IOURing/takeBuffer(userData:)`` after the
  ///     notification.
  ///   - range: Which bytes of `buffer` to send (default: all). - Precondition: inside the buffer.
  ///   - flags: `MSG_*` flags.
  ///   - reportUsage: Ask the notification to say whether the data was copied after all
  ///     (`IORING_SEND_ZC_REPORT_USAGE`, kernel 6.2; older kernels reject it with `EINVAL`).
  ///   - userData: Must differ from that of every other request in flight that owns memory.
  /// - Lifetime: Nothing to keep alive. TCP releases the pages once the peer has
  ///   acknowledged the data: a peer that stops reading keeps the buffer in the ring.
  ///
  /// The corresponding C function is `io_uring_prep_send_zc` (`IORING_OP_SEND_ZC`, kernel 6.0).
  public static func sendZeroCopy(
    _ socket: some IOURingFile, from buffer: consuming AlignedBuffer, range: Range<Int>? = nil, flags: Int32 = 0,
    reportUsage: Bool = true, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioURingOperand
    let zcFlags = reportUsage ? UInt32(ZC_IORING_SEND_ZC_REPORT_USAGE) : 0
    return owning(buffer, range: range, zeroCopy: true, userData: userData, #function) { sqe, address, count in
      io_uring_prep_send_zc(sqe, f.value, address, count, flags, zcFlags)
      fixing(sqe, f)
    }
  }
}
