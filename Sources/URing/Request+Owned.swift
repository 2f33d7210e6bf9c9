// Request factories that take ownership of an `AlignedBuffer`: the request moves the buffer
// into the ring's ownership ledger when it is prepared, and the ring hands it back with
// `IOURing.takeBuffer(userData:)` once the request's final completion has been reaped. No
// caller can free the memory while the kernel may use it, and no release build can end its
// lifetime early: the caller no longer has it.

public import LinuxIO
import SystemPackage

extension IOURing.Request {
  /// Storage that owns `buffer`, and the address and length of `range` of it (all of it by
  /// default): what the shared encoders (Request+Factories.swift) put in the SQE.
  internal static func ownedSlice(
    _ buffer: consuming AlignedBuffer, _ range: Range<Int>?, zeroCopy: Bool = false, _ function: StaticString
  ) -> (storage: SubmissionStorage, address: UnsafeMutableRawPointer, count: Int) {
    let storage = SubmissionStorage(owning: buffer, zeroCopy: zeroCopy)
    let (address, count) = storage.slice(range, function)
    return (storage, address, count)
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
    let owned = ownedSlice(buffer, range, #function)
    return readRequest(
      file.ioUringOperand, owned.address, owned.count, offset, userData: userData, storage: owned.storage)
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
    let owned = ownedSlice(buffer, range, #function)
    return writeRequest(
      file.ioUringOperand, owned.address, owned.count, offset, userData: userData, storage: owned.storage)
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
    let owned = ownedSlice(buffer, range, #function)
    return sendRequest(
      socket.ioUringOperand, owned.address, owned.count, flags: flags, userData: userData, storage: owned.storage)
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
    let owned = ownedSlice(buffer, range, #function)
    return recvRequest(
      socket.ioUringOperand, owned.address, owned.count, flags: flags, userData: userData, storage: owned.storage)
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
    let owned = ownedSlice(buffer, range, zeroCopy: true, #function)
    return sendZeroCopyRequest(
      socket.ioUringOperand, owned.address, owned.count, flags: flags, reportUsage: reportUsage, userData: userData,
      storage: owned.storage)
  }
}
