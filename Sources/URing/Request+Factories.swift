// Typed request factories, one per io_uring operation.
//
// Each factory documents: the C function (liburing `io_uring_prep_*`) and the kernel
// version that introduced the opcode; what the result value means; and how long the
// memory it points at must stay valid ("Lifetime"). Where a factory takes a file, it
// takes `some IOURingFile`: a `FileDescriptor`, or an `IOURing.RegisteredFile` slot
// (which sets `IOSQE_FIXED_FILE`).
//
// Memory the kernel uses after the call is either owned (an `AlignedBuffer` moved into
// the request and handed back by `IOURing.takeBuffer(userData:)`, a registered buffer the
// ring owns, an object the request retains) or reached through a raw pointer — and then
// the factory's name starts with `unsafe` and its "Lifetime" is the caller's promise.
// The pre-rename names remain as deprecated shims (Request+Deprecated.swift).

import CLibURing
public import Glibc
public import LinuxIO
public import SystemPackage

extension IOURing.Request {
  // MARK: Helpers

  /// `-1` (as `__u64`): "the current file position" (`IORING_FEAT_RW_CUR_POS`, 5.6), and
  /// the required value for pipes and sockets.
  @inline(__always)
  internal static func offsetValue(_ offset: UInt64?) -> UInt64 { offset ?? UInt64.max }

  @inline(__always)
  internal static func clampedCount(_ count: Int) -> UInt32 { UInt32(clamping: count) }

  @inline(__always)
  internal static func fixing(_ sqe: UnsafeMutablePointer<io_uring_sqe>, _ operand: IOURing.FileOperand) {
    if operand.isRegistered { zc_sqe_add_flags(sqe, ZC_IOSQE_FIXED_FILE) }
  }

  // MARK: Encoders shared by both families
  //
  // The raw-pointer factories below and the owned ones (Request+Owned.swift) build the same
  // SQE for the same operation; only where the memory comes from differs (the caller's
  // pointer, or `storage` that owns an `AlignedBuffer`). One encoder per operation.

  /// `IORING_OP_READ`: `count` bytes into `address`.
  internal static func readRequest(
    _ f: IOURing.FileOperand, _ address: UnsafeMutableRawPointer?, _ count: Int, _ offset: UInt64?,
    userData: UInt64, storage: SubmissionStorage? = nil
  ) -> Self {
    Self(userData: userData, storage: storage) {
      io_uring_prep_read($0, f.value, address, clampedCount(count), offsetValue(offset))
      fixing($0, f)
    }
  }

  /// `IORING_OP_WRITE`: `count` bytes from `address`.
  internal static func writeRequest(
    _ f: IOURing.FileOperand, _ address: UnsafeRawPointer?, _ count: Int, _ offset: UInt64?,
    userData: UInt64, storage: SubmissionStorage? = nil
  ) -> Self {
    Self(userData: userData, storage: storage) {
      io_uring_prep_write($0, f.value, address, clampedCount(count), offsetValue(offset))
      fixing($0, f)
    }
  }

  /// `IORING_OP_SEND`: `count` bytes from `address`.
  internal static func sendRequest(
    _ f: IOURing.FileOperand, _ address: UnsafeRawPointer?, _ count: Int, flags: Int32,
    userData: UInt64, storage: SubmissionStorage? = nil
  ) -> Self {
    Self(userData: userData, storage: storage) {
      io_uring_prep_send($0, f.value, address, count, flags)
      fixing($0, f)
    }
  }

  /// `IORING_OP_RECV`: up to `count` bytes into `address`.
  internal static func recvRequest(
    _ f: IOURing.FileOperand, _ address: UnsafeMutableRawPointer?, _ count: Int, flags: Int32,
    userData: UInt64, storage: SubmissionStorage? = nil
  ) -> Self {
    Self(userData: userData, storage: storage) {
      io_uring_prep_recv($0, f.value, address, count, flags)
      fixing($0, f)
    }
  }

  /// `IORING_OP_SEND_ZC`: `count` bytes from `address`, with usage reporting if asked.
  internal static func sendZeroCopyRequest(
    _ f: IOURing.FileOperand, _ address: UnsafeRawPointer?, _ count: Int, flags: Int32, reportUsage: Bool,
    userData: UInt64, storage: SubmissionStorage? = nil
  ) -> Self {
    let zcFlags = reportUsage ? UInt32(ZC_IORING_SEND_ZC_REPORT_USAGE) : 0
    return Self(userData: userData, storage: storage) {
      io_uring_prep_send_zc($0, f.value, address, count, flags, zcFlags)
      fixing($0, f)
    }
  }

  /// `IORING_OP_READV` / `IORING_OP_WRITEV` over `count` iovecs at `vectors` (a pointer to
  /// Glibc's `iovec`: the public factories live in Request+Vectored.swift, which does not
  /// import CLibURing, so that their signatures name Glibc's `iovec` and not liburing's copy).
  internal static func vectoredRequest(
    write: Bool, _ f: IOURing.FileOperand, _ vectors: UnsafeRawPointer?, _ count: Int, _ offset: UInt64?,
    userData: UInt64
  ) -> Self {
    let array = vectors?.assumingMemoryBound(to: iovec.self)
    let n = UInt32(clamping: count)
    return Self(userData: userData) {
      if write {
        io_uring_prep_writev($0, f.value, array, n, offsetValue(offset))
      } else {
        io_uring_prep_readv($0, f.value, array, n, offsetValue(offset))
      }
      fixing($0, f)
    }
  }

  // MARK: No-op

  /// A request that does nothing and completes with result 0 — for measuring the ring's
  /// own overhead, waking a waiter, or as a chain element.
  ///
  /// The corresponding C function is `io_uring_prep_nop` (`IORING_OP_NOP`, kernel 5.1).
  public static func nop(userData: UInt64 = 0) -> Self {
    Self(userData: userData) { io_uring_prep_nop($0) }
  }

  // MARK: Read and write

  /// Reads up to `buffer.count` bytes from `file` at `offset` into `buffer`, like `pread(2)`,
  /// **through a raw pointer the caller keeps valid**. ``read(_:into:range:at:userData:)``
  /// takes an owned buffer instead.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - buffer: Where the bytes go: up to `buffer.count` of them, from its start.
  ///   - offset: The file offset, or `nil` for the current file position (advanced by the
  ///     read; 5.6+) — required for pipes, sockets and other streams.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes read (0 at end of file), or the `Errno`. At most `UInt32.max`
  ///   bytes are requested (the kernel moves at most 0x7ffff000 per call), so a larger
  ///   buffer yields a short count.
  /// - Lifetime: `buffer` must stay allocated, and untouched by anyone else, from
  ///   ``IOURing/prepare(_:)-(IOURing.Request)`` until this request's completion has been reaped — also when
  ///   it is cancelled (it completes with `ECANCELED` only once the kernel has let go), and
  ///   also when its descriptor is closed meanwhile (a read pending on a closed pipe can
  ///   still complete into it). Dropping the ring does not end the period (the kernel may
  ///   finish a running read after `io_uring_queue_exit`).
  ///
  /// The corresponding C function is `io_uring_prep_read` (`IORING_OP_READ`, kernel 5.6).
  public static func unsafeRead(
    _ file: some IOURingFile, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64? = nil,
    userData: UInt64 = 0
  ) -> Self {
    readRequest(file.ioUringOperand, buffer.baseAddress, buffer.count, offset, userData: userData)
  }

  /// Writes `buffer` to `file` at `offset`, like `pwrite(2)`, **through a raw pointer the
  /// caller keeps valid**. ``write(_:from:range:at:userData:)`` takes an owned buffer instead.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - buffer: The bytes to write: all `buffer.count` of them (at most `UInt32.max` are
  ///     requested).
  ///   - offset: The file offset, or `nil` for the current file position (5.6+) —
  ///     required for pipes, sockets and `O_APPEND` files.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes written (possibly fewer than `buffer.count`), or the `Errno`. A
  ///   write to a closed socket or pipe raises `SIGPIPE` like `write(2)` does — use
  ///   ``send(_:from:range:flags:userData:)`` on sockets (the kernel forces `MSG_NOSIGNAL`).
  /// - Lifetime: `buffer` must stay allocated and unmodified from ``IOURing/prepare(_:)-(IOURing.Request)``
  ///   until this request's completion has been reaped (cancelled or not).
  ///
  /// The corresponding C function is `io_uring_prep_write` (`IORING_OP_WRITE`, kernel 5.6).
  public static func unsafeWrite(
    _ file: some IOURingFile, from buffer: UnsafeRawBufferPointer, at offset: UInt64? = nil,
    userData: UInt64 = 0
  ) -> Self {
    writeRequest(file.ioUringOperand, buffer.baseAddress, buffer.count, offset, userData: userData)
  }

  /// Reads into (part of) a registered buffer: no per-request page pinning.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - buffer: A buffer registered with ``IOURing/registerBuffers(_:)`` or `IOURing.registerBuffer(_:at:)`.
  ///   - range: Which bytes of it to read into (default: all). - Precondition: inside the buffer.
  ///   - offset: The file offset, or `nil` for the current file position (5.6+) — required
  ///     for pipes, sockets and other streams.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes read, or the `Errno` (`EFAULT` if the registration was removed).
  /// - Lifetime: The registration (and the memory behind it) must last until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_read_fixed` (`IORING_OP_READ_FIXED`, kernel 5.1).
  public static func readFixed(
    _ file: some IOURingFile, into buffer: IOURing.RegisteredBuffer, range: Range<Int>? = nil,
    at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    let f = file.ioUringOperand
    let (address, count) = buffer.slice(range)
    return Self(userData: userData) {
      io_uring_prep_read_fixed($0, f.value, address, count, offsetValue(offset), Int32(buffer.index))
      fixing($0, f)
    }
  }

  /// Writes (part of) a registered buffer.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - buffer: A registered buffer.
  ///   - range: Which bytes of it to write (default: all). - Precondition: inside the buffer.
  ///   - offset: The file offset, or `nil` for the current file position (5.6+) — required
  ///     for pipes, sockets and `O_APPEND` files.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes written, or the `Errno`.
  /// - Lifetime: The registration (and the memory behind it) must last, unmodified in
  ///   `range`, until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_write_fixed` (`IORING_OP_WRITE_FIXED`, kernel 5.1).
  public static func writeFixed(
    _ file: some IOURingFile, from buffer: IOURing.RegisteredBuffer, range: Range<Int>? = nil,
    at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    let f = file.ioUringOperand
    let (address, count) = buffer.slice(range)
    return Self(userData: userData) {
      io_uring_prep_write_fixed($0, f.value, address, count, offsetValue(offset), Int32(buffer.index))
      fixing($0, f)
    }
  }

  // MARK: Splice and tee

  /// Moves up to `count` bytes from `source` to `destination` inside the kernel, like
  /// `splice(2)`; one of them must be a pipe.
  ///
  /// - Parameters:
  ///   - source: The descriptor (or registered-file slot) to read from.
  ///   - sourceOffset: Where to read in `source`, or `nil` for its file position (which
  ///     the splice advances). Must be `nil` when `source` is a pipe (`ESPIPE` otherwise).
  ///   - destination: The descriptor (or registered-file slot) to write to.
  ///   - destinationOffset: Where to write in `destination`, or `nil` for its file
  ///     position. Must be `nil` when `destination` is a pipe.
  ///   - count: At most this many bytes (a pipe holds 64 KiB by default).
  ///   - flags: `SPLICE_F_*` as LinuxIO's `SpliceFlags` (`.move`, `.nonBlocking`,
  ///     `.more`). A registered `source` adds `SPLICE_F_FD_IN_FIXED` itself.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes moved (0: end of input, or a writer-less empty pipe), or the `Errno`
  ///   (`EINVAL` when neither end is a pipe or a file does not support splice).
  /// - Lifetime: No memory is referenced; both descriptors must stay open until completion.
  ///
  /// The corresponding C function is `io_uring_prep_splice` (`IORING_OP_SPLICE`, kernel 5.7).
  public static func splice(
    from source: some IOURingFile, sourceOffset: UInt64? = nil,
    to destination: some IOURingFile, destinationOffset: UInt64? = nil,
    count: UInt32, flags: SpliceFlags = [], userData: UInt64 = 0
  ) -> Self {
    let i = source.ioUringOperand
    let o = destination.ioUringOperand
    let spliceFlags = flags.rawValue | (i.isRegistered ? SPLICE_F_FD_IN_FIXED : 0)
    return Self(userData: userData) {
      io_uring_prep_splice(
        $0, i.value, Int64(bitPattern: offsetValue(sourceOffset)), o.value,
        Int64(bitPattern: offsetValue(destinationOffset)), count, spliceFlags)
      fixing($0, o)
    }
  }

  /// Duplicates up to `count` bytes from pipe `source` into pipe `destination` without
  /// consuming them, like `tee(2)`.
  ///
  /// - Parameters:
  ///   - source: The pipe (or registered-file slot holding one) to duplicate from.
  ///   - destination: The pipe (or registered-file slot holding one) to duplicate into.
  ///   - count: At most this many bytes.
  ///   - flags: `SPLICE_F_*` as LinuxIO's `SpliceFlags` (`.nonBlocking`). A
  ///     registered `source` adds `SPLICE_F_FD_IN_FIXED` itself.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes duplicated (0 if `source` is empty with no writers), or the `Errno`
  ///   (`EINVAL` unless both are pipes, or they are the same pipe).
  /// - Lifetime: No memory is referenced.
  ///
  /// The corresponding C function is `io_uring_prep_tee` (`IORING_OP_TEE`, kernel 5.8).
  public static func tee(
    from source: some IOURingFile, to destination: some IOURingFile, count: UInt32, flags: SpliceFlags = [],
    userData: UInt64 = 0
  ) -> Self {
    let i = source.ioUringOperand
    let o = destination.ioUringOperand
    let spliceFlags = flags.rawValue | (i.isRegistered ? SPLICE_F_FD_IN_FIXED : 0)
    return Self(userData: userData) {
      io_uring_prep_tee($0, i.value, o.value, count, spliceFlags)
      fixing($0, o)
    }
  }

  // MARK: Sockets

  /// `SOCK_CLOEXEC`: the accept factories' default `flags` (the accepted descriptor is
  /// closed across `exec`). Combine with `SOCK_NONBLOCK` as `closeOnExec | Int32(SOCK_NONBLOCK.rawValue)`.
  public static let closeOnExec = Int32(SOCK_CLOEXEC.rawValue)

  /// Sends `buffer` on a connected socket, like `send(2)`, through a raw pointer the caller
  /// keeps valid. The kernel adds `MSG_NOSIGNAL`: a closed peer gives `EPIPE`, never `SIGPIPE`.
  /// ``send(_:from:range:flags:userData:)`` takes an owned buffer instead.
  ///
  /// - Parameters:
  ///   - socket: A socket descriptor, or a registered-file slot holding one.
  ///   - buffer: The bytes to send: all `buffer.count` of them.
  ///   - flags: `MSG_*` flags (e.g. `MSG_MORE`, `MSG_DONTWAIT`).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: Bytes sent, or the `Errno` (`EPIPE`, `ECONNRESET`…).
  /// - Lifetime: `buffer` must stay allocated and unmodified from ``IOURing/prepare(_:)-(IOURing.Request)``
  ///   until the completion is reaped (a send blocked on a full socket holds it until it
  ///   completes or is cancelled).
  ///
  /// The corresponding C function is `io_uring_prep_send` (`IORING_OP_SEND`, kernel 5.6).
  public static func unsafeSend(
    _ socket: some IOURingFile, from buffer: UnsafeRawBufferPointer, flags: Int32 = 0, userData: UInt64 = 0
  ) -> Self {
    sendRequest(socket.ioUringOperand, buffer.baseAddress, buffer.count, flags: flags, userData: userData)
  }

  /// Receives into `buffer` from a socket, like `recv(2)`, through a raw pointer the caller
  /// keeps valid. ``recv(_:into:range:flags:userData:)`` takes an owned buffer instead.
  ///
  /// - Result: Bytes received (0: the peer shut down its side), or the `Errno`.
  /// - Lifetime: `buffer` must stay allocated and untouched from ``IOURing/prepare(_:)-(IOURing.Request)``
  ///   until the completion is reaped (a receive waiting for data holds it indefinitely,
  ///   until it completes or is cancelled and its `ECANCELED` completion reaped).
  ///
  /// The corresponding C function is `io_uring_prep_recv` (`IORING_OP_RECV`, kernel 5.6).
  public static func unsafeRecv(
    _ socket: some IOURingFile, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0,
    userData: UInt64 = 0
  ) -> Self {
    recvRequest(socket.ioUringOperand, buffer.baseAddress, buffer.count, flags: flags, userData: userData)
  }

  /// Receives into a buffer the kernel picks from `group` when data arrives
  /// (`IOSQE_BUFFER_SELECT`), so no memory is tied up while the socket is idle.
  ///
  /// - Result: Bytes received, with ``IOURing/Completion/bufferID`` naming the buffer;
  ///   `ENOBUFS` when the group is empty.
  /// - Lifetime: The buffer group must stay registered until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_recv` with `IOSQE_BUFFER_SELECT`
  /// (kernel 5.7; buffer rings 5.19).
  public static func recv(
    _ socket: some IOURingFile, bufferGroup: IOURing.BufferGroup, flags: Int32 = 0, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_recv($0, f.value, nil, 0, flags)
      zc_sqe_add_flags($0, ZC_IOSQE_BUFFER_SELECT)
      zc_sqe_set_buf_group($0, bufferGroup.id)
      fixing($0, f)
    }
  }

  /// Multishot receive: one request that posts a completion for every chunk of data
  /// the socket receives, each into a buffer the kernel takes from `group`.
  ///
  /// Every completion but the last has ``IOURing/Completion/hasMore``. The request ends
  /// when the peer closes (result 0), on an error, or with `ENOBUFS` when `group` ran
  /// out of buffers: recycle the consumed buffers (``IOURing/recycleBuffer(_:in:)``) and
  /// submit the request again — no data is lost, it stays in the socket.
  ///
  /// - Result (per completion): bytes received into buffer ``IOURing/Completion/bufferID``.
  /// - Lifetime: The buffer group must stay registered until the final completion.
  ///
  /// The corresponding C function is `io_uring_prep_recv_multishot` (`IORING_RECV_MULTISHOT`, kernel 6.0).
  public static func recvMultishot(
    _ socket: some IOURingFile, bufferGroup: IOURing.BufferGroup, flags: Int32 = 0, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_recv_multishot($0, f.value, nil, 0, flags)
      zc_sqe_add_flags($0, ZC_IOSQE_BUFFER_SELECT)
      zc_sqe_set_buf_group($0, bufferGroup.id)
      fixing($0, f)
    }
  }

  /// Sends a message, like `sendmsg(2)` (`MSG_NOSIGNAL` is forced), through raw pointers
  /// the caller keeps valid.
  ///
  /// - Result: Bytes sent, or the `Errno`.
  /// - Lifetime: `message`, its name, iovec array, every buffer, and its control data
  ///   must stay allocated and unmodified from ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion
  ///   is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_sendmsg` (`IORING_OP_SENDMSG`, kernel 5.3).
  public static func unsafeSendmsg(
    _ socket: some IOURingFile, message: UnsafePointer<Glibc.msghdr>, flags: UInt32 = 0, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_sendmsg($0, f.value, message, flags)
      fixing($0, f)
    }
  }

  /// Receives a message, like `recvmsg(2)`, through raw pointers the caller keeps valid;
  /// the kernel updates `message`'s lengths and flags.
  ///
  /// - Result: Bytes received, or the `Errno`.
  /// - Lifetime: `message` and everything it points at must stay allocated and untouched
  ///   from ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_recvmsg` (`IORING_OP_RECVMSG`, kernel 5.3).
  public static func unsafeRecvmsg(
    _ socket: some IOURingFile, message: UnsafeMutablePointer<Glibc.msghdr>, flags: UInt32 = 0, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_recvmsg($0, f.value, message, flags)
      fixing($0, f)
    }
  }

  /// Zero-copy send from a raw pointer the caller keeps valid: the kernel transmits straight
  /// from `buffer`'s pages. ``sendZeroCopy(_:from:range:flags:reportUsage:userData:)-(_,AlignedBuffer,_,_,_,_)`` takes
  /// an owned buffer instead.
  ///
  /// Posts **two** completions with this request's user data (see
  /// ``IOURing/Completion/zeroCopy``): first the result (bytes sent, with
  /// ``IOURing/Completion/hasMore`` set when a notification follows), then the
  /// notification (``IOURing/Completion/isNotification``) once the kernel no longer
  /// references the buffer.
  ///
  /// - Parameters:
  ///   - socket: A socket descriptor, or a registered-file slot holding one.
  ///   - buffer: The bytes to send: all `buffer.count` of them, transmitted from its pages.
  ///   - flags: `MSG_*` flags.
  ///   - reportUsage: Ask the notification to say whether the data was copied after all
  ///     (`IORING_SEND_ZC_REPORT_USAGE`, kernel 6.2; older kernels reject it with `EINVAL`).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Lifetime: `buffer` must stay allocated and **unmodified until the notification** —
  ///   not merely the first completion; TCP holds the pages until the peer has acknowledged
  ///   the data, so a peer that stops reading holds them indefinitely. A result without
  ///   `IORING_CQE_F_MORE` ends the request, unless it is `ECANCELED` (a cancelled link
  ///   member still gets its notification).
  ///
  /// The corresponding C function is `io_uring_prep_send_zc` (`IORING_OP_SEND_ZC`, kernel 6.0).
  public static func unsafeSendZeroCopy(
    _ socket: some IOURingFile, from buffer: UnsafeRawBufferPointer, flags: Int32 = 0, reportUsage: Bool = true,
    userData: UInt64 = 0
  ) -> Self {
    sendZeroCopyRequest(
      socket.ioUringOperand, buffer.baseAddress, buffer.count, flags: flags, reportUsage: reportUsage, userData: userData)
  }

  /// Zero-copy send from (part of) a registered buffer (`IORING_RECVSEND_FIXED_BUF`):
  /// the pages are already pinned, so the send skips pinning them.
  ///
  /// Two completions, as for ``sendZeroCopy(_:from:flags:reportUsage:userData:)``.
  /// - Lifetime: The registration must last, unmodified in `range`, until the notification.
  ///
  /// The corresponding C function is `io_uring_prep_send_zc_fixed` (kernel 6.0).
  public static func sendZeroCopy(
    _ socket: some IOURingFile, from buffer: IOURing.RegisteredBuffer, range: Range<Int>? = nil,
    flags: Int32 = 0, reportUsage: Bool = true, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    let (address, count) = buffer.slice(range)
    let zcFlags = reportUsage ? UInt32(ZC_IORING_SEND_ZC_REPORT_USAGE) : 0
    return Self(userData: userData) {
      io_uring_prep_send_zc_fixed($0, f.value, address, Int(count), flags, zcFlags, UInt32(buffer.index))
      fixing($0, f)
    }
  }

  /// Zero-copy `sendmsg` through raw pointers the caller keeps valid: two completions, as
  /// for ``unsafeSendZeroCopy(_:from:flags:reportUsage:userData:)``.
  ///
  /// - Lifetime: `message` and everything it points at must stay allocated and unmodified
  ///   from ``IOURing/prepare(_:)-(IOURing.Request)`` until the notification has been reaped.
  ///
  /// The corresponding C function is `io_uring_prep_sendmsg_zc` (`IORING_OP_SENDMSG_ZC`, kernel 6.1).
  public static func unsafeSendmsgZeroCopy(
    _ socket: some IOURingFile, message: UnsafePointer<Glibc.msghdr>, flags: UInt32 = 0, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_sendmsg_zc($0, f.value, message, flags)
      fixing($0, f)
    }
  }

  /// Accepts a connection on a listening socket, like `accept4(2)` (the peer's address is
  /// not reported; ``unsafeAccept(_:address:addressLength:flags:userData:)`` writes it).
  ///
  /// - Parameters:
  ///   - socket: A listening socket, or a registered-file slot holding one.
  ///   - flags: `SOCK_CLOEXEC` (default) and/or `SOCK_NONBLOCK`.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: The new connection's descriptor (the caller owns it), or the `Errno`.
  /// - Lifetime: No memory is referenced.
  ///
  /// The corresponding C function is `io_uring_prep_accept` (`IORING_OP_ACCEPT`, kernel 5.5).
  public static func accept(
    _ socket: some IOURingFile, flags: Int32 = closeOnExec, userData: UInt64 = 0
  ) -> Self {
    unsafeAccept(socket, address: nil, addressLength: nil, flags: flags, userData: userData)
  }

  /// Accepts a connection on a listening socket, like `accept4(2)`, writing the peer's
  /// address through raw pointers the caller keeps valid.
  ///
  /// - Parameters:
  ///   - socket: A listening socket, or a registered-file slot holding one.
  ///   - address: Where the kernel stores the peer's address (`sockaddr_in`,
  ///     `sockaddr_in6`…, truncated to the size in `addressLength`), or `nil` not to get
  ///     it. Pass both or neither.
  ///   - addressLength: On entry the size of `address`'s storage in bytes; on completion
  ///     the peer address's real length. `nil` exactly when `address` is `nil`.
  ///   - flags: `SOCK_CLOEXEC` (default) and/or `SOCK_NONBLOCK`.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: The new connection's descriptor (the caller owns it), or the `Errno`.
  /// - Lifetime: `address` and `addressLength` must stay allocated from
  ///   ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion is reaped (the kernel writes them when a
  ///   connection arrives, which may be never).
  ///
  /// The corresponding C function is `io_uring_prep_accept` (`IORING_OP_ACCEPT`, kernel 5.5).
  public static func unsafeAccept(
    _ socket: some IOURingFile, address: UnsafeMutablePointer<Glibc.sockaddr>?,
    addressLength: UnsafeMutablePointer<Glibc.socklen_t>?, flags: Int32 = closeOnExec,
    userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_accept($0, f.value, address, addressLength, flags)
      fixing($0, f)
    }
  }

  /// Accepts a connection straight into registered-file slot `slot` (no descriptor is
  /// created in the process's table).
  ///
  /// - Result: 0 on success (the connection is in `slot`), or the `Errno`.
  ///
  /// The corresponding C function is `io_uring_prep_accept_direct` (kernel 5.15).
  public static func accept(
    _ socket: some IOURingFile, into slot: IOURing.RegisteredFile, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_accept_direct($0, f.value, nil, nil, 0, slot.index)
      fixing($0, f)
    }
  }

  /// Multishot accept: one request that posts a completion (a new descriptor) for every
  /// incoming connection, with ``IOURing/Completion/hasMore`` while it stays armed.
  ///
  /// - Result (per completion): a new connection's descriptor, or the `Errno` (which ends it).
  /// - Lifetime: No memory is referenced (peer addresses are not reported).
  ///
  /// The corresponding C function is `io_uring_prep_multishot_accept` (kernel 5.19).
  public static func acceptMultishot(
    _ socket: some IOURingFile, flags: Int32 = closeOnExec, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_multishot_accept($0, f.value, nil, nil, flags)
      fixing($0, f)
    }
  }

  /// Connects a socket to `address`, like `connect(2)`. The address is copied into the
  /// request and kept until its completion.
  ///
  /// - Parameters:
  ///   - socket: A socket descriptor, or a registered-file slot holding one.
  ///   - address: The peer's address (`sockaddr_in`, `sockaddr_in6` or `sockaddr_un` in the
  ///     storage's first `length` bytes).
  ///   - length: The address's length. - Precondition: at most `sizeof(sockaddr_storage)`.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: 0, or the `Errno` (`ECONNREFUSED`, `ETIMEDOUT`…).
  /// - Lifetime: Nothing to keep alive: the request owns its copy until the completion.
  ///
  /// The corresponding C function is `io_uring_prep_connect` (`IORING_OP_CONNECT`, kernel 5.5).
  public static func connect(
    _ socket: some IOURingFile, to address: Glibc.sockaddr_storage, length: Glibc.socklen_t, userData: UInt64 = 0
  ) -> Self {
    precondition(
      Int(length) <= MemoryLayout<sockaddr_storage>.size, "IOURing.Request.connect: length \(length) exceeds sockaddr_storage")
    let f = socket.ioUringOperand
    let storage = SubmissionStorage(
      byteCount: MemoryLayout<sockaddr_storage>.size, alignment: MemoryLayout<sockaddr_storage>.alignment,
      untilCompletion: true)
    storage.pointer!.storeBytes(of: address, as: sockaddr_storage.self)
    return Self(userData: userData, storage: storage) {
      io_uring_prep_connect($0, f.value, storage.pointer!.assumingMemoryBound(to: sockaddr.self), length)
      fixing($0, f)
    }
  }

  /// Connects a socket to `address`, like `connect(2)`, reading the address through a raw
  /// pointer the caller keeps valid.
  ///
  /// - Result: 0, or the `Errno` (`ECONNREFUSED`, `ETIMEDOUT`…).
  /// - Lifetime: `address` must stay allocated and unmodified from ``IOURing/prepare(_:)-(IOURing.Request)``
  ///   until the completion is reaped (kernels since 5.x copy it at submission, but that is
  ///   not a documented guarantee).
  ///
  /// The corresponding C function is `io_uring_prep_connect` (`IORING_OP_CONNECT`, kernel 5.5).
  public static func unsafeConnect(
    _ socket: some IOURingFile, to address: UnsafePointer<Glibc.sockaddr>, length: Glibc.socklen_t, userData: UInt64 = 0
  ) -> Self {
    let f = socket.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_connect($0, f.value, address, length)
      fixing($0, f)
    }
  }

  // MARK: Files

  /// Opens `path` relative to `directory` (default: the working directory), like `openat(2)`.
  /// `O_CLOEXEC` is always added (the project's convention).
  ///
  /// - Result: The new descriptor (the caller owns it), or the `Errno`.
  /// - Lifetime: The path is copied into the request; nothing to keep alive.
  ///
  /// The corresponding C function is `io_uring_prep_openat` (`IORING_OP_OPENAT`, kernel 5.6).
  public static func openat(
    _ path: FilePath, relativeTo directory: FileDescriptor? = nil, _ mode: FileDescriptor.AccessMode,
    options: FileDescriptor.OpenOptions = [], permissions: FilePermissions? = nil, userData: UInt64 = 0
  ) -> Self {
    let storage = SubmissionStorage.path(path)
    let dfd = directory?.rawValue ?? AT_FDCWD
    let flags = mode.rawValue | options.rawValue | O_CLOEXEC
    let perms = permissions?.rawValue ?? 0
    return Self(userData: userData, storage: storage) {
      io_uring_prep_openat($0, dfd, storage.pointer!.assumingMemoryBound(to: CChar.self), flags, perms)
    }
  }

  /// Opens `path` straight into registered-file slot `slot` (no process descriptor).
  /// `O_CLOEXEC` is not allowed here (the kernel answers `EINVAL`) and not added.
  ///
  /// - Result: 0 on success (the file is in `slot`), or the `Errno`.
  /// - Lifetime: The path is copied into the request.
  ///
  /// The corresponding C function is `io_uring_prep_openat_direct` (kernel 5.15).
  public static func openat(
    _ path: FilePath, relativeTo directory: FileDescriptor? = nil, _ mode: FileDescriptor.AccessMode,
    options: FileDescriptor.OpenOptions = [], permissions: FilePermissions? = nil,
    into slot: IOURing.RegisteredFile, userData: UInt64 = 0
  ) -> Self {
    let storage = SubmissionStorage.path(path)
    let dfd = directory?.rawValue ?? AT_FDCWD
    let flags = mode.rawValue | options.rawValue
    let perms = permissions?.rawValue ?? 0
    return Self(userData: userData, storage: storage) {
      io_uring_prep_openat_direct(
        $0, dfd, storage.pointer!.assumingMemoryBound(to: CChar.self), flags, perms, slot.index)
    }
  }

  /// Closes a descriptor, like `close(2)`.
  ///
  /// - Result: 0, or the `Errno`. Do not use `fd` after preparing this request.
  ///
  /// The corresponding C function is `io_uring_prep_close` (`IORING_OP_CLOSE`, kernel 5.6).
  public static func close(_ fd: FileDescriptor, userData: UInt64 = 0) -> Self {
    Self(userData: userData) { io_uring_prep_close($0, fd.rawValue) }
  }

  /// Empties registered-file slot `slot` (dropping the ring's reference to its file).
  ///
  /// - Result: 0, or the `Errno` (`EBADF` if the slot is empty).
  ///
  /// The corresponding C function is `io_uring_prep_close_direct` (kernel 5.15).
  public static func close(_ slot: IOURing.RegisteredFile, userData: UInt64 = 0) -> Self {
    Self(userData: userData) { io_uring_prep_close_direct($0, slot.index) }
  }

  /// Gets a file's status, like `statx(2)`, into `buffer`.
  ///
  /// - Parameters:
  ///   - path: The path, relative to `directory` (default: the working directory); an
  ///     empty path with `flags` containing `AT_EMPTY_PATH` (0x1000) stats `directory` itself.
  ///   - directory: The directory a relative `path` starts from (`dirfd`), or `nil` for the
  ///     working directory (`AT_FDCWD`); ignored for an absolute path.
  ///   - flags: `AT_*` flags (`AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`, `AT_STATX_*`).
  ///   - mask: `STATX_*` fields wanted (default: `STATX_BASIC_STATS`).
  ///   - buffer: Receives the result; read it with ``IOURing/StatxBuffer/status``.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: 0, or the `Errno`.
  /// - Lifetime: Nothing to keep alive: the path is copied, and the request keeps `buffer`
  ///   (the object, which the kernel writes into at completion time) alive until its
  ///   completion has been reaped.
  ///
  /// The corresponding C function is `io_uring_prep_statx` (`IORING_OP_STATX`, kernel 5.6).
  public static func statx(
    _ path: FilePath, relativeTo directory: FileDescriptor? = nil, flags: Int32 = 0,
    mask: UInt32 = 0x7FF /* STATX_BASIC_STATS */, into buffer: IOURing.StatxBuffer, userData: UInt64 = 0
  ) -> Self {
    let length = path.withPlatformString { Int(strlen($0)) + 1 }
    let storage = SubmissionStorage(retaining: buffer, byteCount: length)
    path.withPlatformString { storage.pointer!.copyMemory(from: $0, byteCount: length) }
    let dfd = directory?.rawValue ?? AT_FDCWD
    return Self(userData: userData, storage: storage) {
      io_uring_prep_statx($0, dfd, storage.pointer!.assumingMemoryBound(to: CChar.self), flags, mask, buffer.raw)
    }
  }

  /// Flushes a file's data and metadata to storage, like `fsync(2)`.
  ///
  /// - Result: 0, or the `Errno` (`EIO`, `ENOSPC`…).
  ///
  /// The corresponding C function is `io_uring_prep_fsync` (`IORING_OP_FSYNC`, kernel 5.1).
  public static func fsync(_ file: some IOURingFile, userData: UInt64 = 0) -> Self {
    let f = file.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_fsync($0, f.value, 0)
      fixing($0, f)
    }
  }

  /// Flushes a file's data (and only the metadata needed to read it), like `fdatasync(2)`.
  ///
  /// - Result: 0, or the `Errno`.
  ///
  /// The corresponding C function is `io_uring_prep_fsync` with `IORING_FSYNC_DATASYNC` (kernel 5.1).
  public static func fdatasync(_ file: some IOURingFile, userData: UInt64 = 0) -> Self {
    let f = file.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_fsync($0, f.value, IORING_FSYNC_DATASYNC)
      fixing($0, f)
    }
  }

  /// Sets a file's size, like `ftruncate(2)`: cuts it to `length` bytes, or extends it with zeros.
  ///
  /// - Result: 0, or the `Errno` (`EINVAL` for a file not open for writing; `EINVAL`
  ///   from kernels before 6.9, which do not know the opcode — check
  ///   ``IOURing/Probe/supports(_:)`` with ``IOURing/Opcode/ftruncate``).
  ///
  /// liburing 2.3 has no `io_uring_prep_ftruncate`; this prepares the same SQE
  /// (`io_uring_prep_rw(IORING_OP_FTRUNCATE, fd, NULL, 0, length)`).
  /// The corresponding C function is `io_uring_prep_ftruncate` (`IORING_OP_FTRUNCATE`, kernel 6.9).
  public static func ftruncate(_ file: some IOURingFile, length: UInt64, userData: UInt64 = 0) -> Self {
    let f = file.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_rw(Int32(IOURing.Opcode.ftruncate.rawValue), $0, f.value, nil, 0, length)
      fixing($0, f)
    }
  }

  /// Allocates (or, with `mode`, punches/zeroes) file space, like `fallocate(2)`.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - mode: `FALLOC_FL_*` (0: allocate and extend the size; `FALLOC_FL_KEEP_SIZE` = 1;
  ///     `FALLOC_FL_PUNCH_HOLE` = 2 with KEEP_SIZE; `FALLOC_FL_ZERO_RANGE` = 0x10).
  ///   - offset: The first byte of the range, in bytes from the start of the file.
  ///   - length: The range's length in bytes; must be greater than 0 (`EINVAL` otherwise).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: 0, or the `Errno` (`EOPNOTSUPP` on filesystems without it, `ENOSPC`).
  ///
  /// The corresponding C function is `io_uring_prep_fallocate` (`IORING_OP_FALLOCATE`, kernel 5.6).
  public static func fallocate(
    _ file: some IOURingFile, mode: Int32 = 0, offset: UInt64, length: UInt64, userData: UInt64 = 0
  ) -> Self {
    let f = file.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_fallocate($0, f.value, mode, Int(bitPattern: UInt(offset)), Int(bitPattern: UInt(length)))
      fixing($0, f)
    }
  }

  /// Advises the kernel about a file range's access pattern, like `posix_fadvise(2)`.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - offset: The first byte of the range (default: 0, the start of the file).
  ///   - length: Bytes from `offset` (0: to the end of the file). - Precondition: fits in
  ///     32 bits (liburing 2.3 passes it in `sqe->len`).
  ///   - advice: `POSIX_FADV_*` (`NORMAL` 0, `RANDOM` 1, `SEQUENTIAL` 2, `WILLNEED` 3, `DONTNEED` 4, `NOREUSE` 5).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: 0, or the `Errno` (`ESPIPE` for pipes).
  ///
  /// The corresponding C function is `io_uring_prep_fadvise` (`IORING_OP_FADVISE`, kernel 5.6).
  public static func fadvise(
    _ file: some IOURingFile, offset: UInt64 = 0, length: UInt64 = 0, advice: Int32, userData: UInt64 = 0
  ) -> Self {
    precondition(length <= UInt64(UInt32.max), "IOURing.Request.fadvise: length must fit in 32 bits")
    let f = file.ioUringOperand
    return Self(userData: userData) {
      io_uring_prep_fadvise($0, f.value, offset, Int(length), advice)
      fixing($0, f)
    }
  }

  /// Advises the kernel about a memory range's use, like `madvise(2)`, naming the range by
  /// a raw pointer.
  ///
  /// - Parameters:
  ///   - region: Page-aligned start; length at most `UInt32.max` (liburing 2.3).
  ///   - advice: `MADV_*` (`NORMAL` 0, `RANDOM` 1, `SEQUENTIAL` 2, `WILLNEED` 3, `DONTNEED` 4).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: 0, or the `Errno` (`EINVAL` for unaligned ranges).
  /// - Lifetime: The mapping must stay mapped from ``IOURing/prepare(_:)-(IOURing.Request)`` until the
  ///   completion is reaped (advice applied to a range unmapped and mapped again meanwhile
  ///   would apply to the new mapping).
  ///
  /// The corresponding C function is `io_uring_prep_madvise` (`IORING_OP_MADVISE`, kernel 5.6).
  public static func unsafeMadvise(_ region: UnsafeMutableRawBufferPointer, advice: Int32, userData: UInt64 = 0) -> Self {
    precondition(region.count <= Int(UInt32.max), "IOURing.Request.madvise: length must fit in 32 bits")
    return Self(userData: userData) {
      io_uring_prep_madvise($0, region.baseAddress, Int(region.count), advice)
    }
  }

  // MARK: Polling

  /// Waits until `file` is ready for `events` (`POLLIN`, `POLLOUT`…), like `poll(2)` on one descriptor.
  ///
  /// - Parameters:
  ///   - file: A descriptor, or a registered-file slot (``IOURing/RegisteredFile``, which
  ///     sets `IOSQE_FIXED_FILE`).
  ///   - events: The `poll(2)` events to wait for (`POLLIN` = 1, `POLLPRI` = 2, `POLLOUT` = 4,
  ///     `POLLRDHUP` = 0x2000…); `POLLERR` and `POLLHUP` are reported whether asked or not.
  ///   - multishot: Stay armed and post a completion per readiness event (5.13), with
  ///     ``IOURing/Completion/hasMore`` while armed.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: The ready event mask (`revents`), or the `Errno`.
  ///
  /// The corresponding C functions are `io_uring_prep_poll_add` (`IORING_OP_POLL_ADD`,
  /// kernel 5.1) and `io_uring_prep_poll_multishot`.
  public static func pollAdd(
    _ file: some IOURingFile, events: UInt32, multishot: Bool = false, userData: UInt64 = 0
  ) -> Self {
    let f = file.ioUringOperand
    return Self(userData: userData) {
      if multishot { io_uring_prep_poll_multishot($0, f.value, events) } else { io_uring_prep_poll_add($0, f.value, events) }
      fixing($0, f)
    }
  }

  /// Removes a poll request by its user data.
  ///
  /// - Result: 0, or `ENOENT` (no such poll) / `EALREADY`. The removed poll completes with `ECANCELED`.
  ///
  /// The corresponding C function is `io_uring_prep_poll_remove` (`IORING_OP_POLL_REMOVE`, kernel 5.1).
  public static func pollRemove(target: UInt64, userData: UInt64 = 0) -> Self {
    Self(userData: userData) { io_uring_prep_poll_remove($0, target) }
  }

  // MARK: Timeouts

  /// A timer: completes with `ETIME` after `duration`, or with 0 as soon as
  /// `completionCount` other completions have been posted (if non-zero).
  ///
  /// - Parameters:
  ///   - duration: How long from submission until it fires (a negative duration counts as
  ///     zero); with `absolute`, the time on `clock` at which it fires.
  ///   - completionCount: Complete with 0 early once this many other completions have been
  ///     posted after it was armed (the `off` argument); 0 (the default): only the timer.
  ///   - clock: Which clock measures it (default monotonic).
  ///   - absolute: `duration` is an absolute time on `clock` (`IORING_TIMEOUT_ABS`).
  ///   - etimeIsSuccess: Report expiry as success 0 rather than `ETIME`, so it does not
  ///     break a link chain (`IORING_TIMEOUT_ETIME_SUCCESS`, 5.16).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: `ETIME` when it fired (an expected outcome, not a failure of the ring),
  ///   0 when the count was reached, `ECANCELED` when removed.
  /// - Lifetime: The timespec is copied into the request.
  ///
  /// The corresponding C function is `io_uring_prep_timeout` (`IORING_OP_TIMEOUT`, kernel 5.4).
  public static func timeout(
    _ duration: Duration, completionCount: UInt32 = 0, clock: IOURing.TimeoutClock = .monotonic,
    absolute: Bool = false, etimeIsSuccess: Bool = false, userData: UInt64 = 0
  ) -> Self {
    let storage = SubmissionStorage.timespec(__kernel_timespec(duration))
    let flags = clock.rawValue | (absolute ? IORING_TIMEOUT_ABS : 0) | (etimeIsSuccess ? IORING_TIMEOUT_ETIME_SUCCESS : 0)
    return Self(userData: userData, storage: storage) {
      io_uring_prep_timeout($0, storage.pointer!.assumingMemoryBound(to: __kernel_timespec.self), completionCount, flags)
    }
  }

  /// Removes a pending ``timeout(_:completionCount:clock:absolute:etimeIsSuccess:userData:)`` by its user data.
  ///
  /// - Result: 0 (the timeout then completes with `ECANCELED`), `ENOENT`, or `EALREADY`.
  ///
  /// The corresponding C function is `io_uring_prep_timeout_remove` (`IORING_OP_TIMEOUT_REMOVE`, kernel 5.5).
  public static func timeoutRemove(target: UInt64, userData: UInt64 = 0) -> Self {
    Self(userData: userData) { io_uring_prep_timeout_remove($0, target, 0) }
  }

  /// A deadline for the request just before it in a ``IOURing/LinkedChain``: if that
  /// request has not completed after `duration`, it is cancelled (`ECANCELED`) and this
  /// completes with `ETIME`; if it completes in time, this completes with `ECANCELED`.
  ///
  /// - Precondition (kernel): must directly follow the request it guards, linked to it;
  ///   otherwise the kernel answers `EINVAL`.
  /// - Lifetime: The timespec is copied into the request.
  ///
  /// The corresponding C function is `io_uring_prep_link_timeout` (`IORING_OP_LINK_TIMEOUT`, kernel 5.5).
  public static func linkTimeout(
    _ duration: Duration, clock: IOURing.TimeoutClock = .monotonic, absolute: Bool = false, userData: UInt64 = 0
  ) -> Self {
    let storage = SubmissionStorage.timespec(__kernel_timespec(duration))
    let flags = clock.rawValue | (absolute ? IORING_TIMEOUT_ABS : 0)
    return Self(userData: userData, storage: storage) {
      io_uring_prep_link_timeout($0, storage.pointer!.assumingMemoryBound(to: __kernel_timespec.self), flags)
    }
  }

  // MARK: Cancellation

  /// Cancels the in-flight request(s) whose user data is `target`.
  ///
  /// The cancelled request still posts its own completion (usually `ECANCELED`; a
  /// request that already finished may report its real result), after or before this
  /// one. Its buffers stay in use until then.
  ///
  /// - Parameters:
  ///   - target: The user data of the request(s) to cancel, compared with each in-flight
  ///     request's `sqe->user_data`.
  ///   - all: Cancel every match, not just the first (`IORING_ASYNC_CANCEL_ALL`, 5.19).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: 0 (one cancelled) or the number cancelled with `all`; `ENOENT` (nothing
  ///   matched) or `EALREADY` (running; cancellation was attempted).
  ///
  /// The corresponding C function is `io_uring_prep_cancel64` (`IORING_OP_ASYNC_CANCEL`, kernel 5.5).
  public static func cancel(userData target: UInt64, all: Bool = false, userData: UInt64 = 0) -> Self {
    Self(userData: userData) {
      io_uring_prep_cancel64($0, target, all ? Int32(IORING_ASYNC_CANCEL_ALL) : 0)
    }
  }

  /// Cancels the in-flight request(s) on `file`.
  ///
  /// - Parameters:
  ///   - file: The descriptor, or registered-file slot (`IORING_ASYNC_CANCEL_FD_FIXED`),
  ///     whose in-flight requests to cancel.
  ///   - all: Cancel every request on `file` (default), not just the first.
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Result: The number cancelled (or 0 for one), `ENOENT`, or `EALREADY`.
  ///
  /// The corresponding C function is `io_uring_prep_cancel_fd` (`IORING_ASYNC_CANCEL_FD`, kernel 5.19).
  public static func cancel(file: some IOURingFile, all: Bool = true, userData: UInt64 = 0) -> Self {
    let f = file.ioUringOperand
    let flags = (all ? IORING_ASYNC_CANCEL_ALL : 0) | (f.isRegistered ? IORING_ASYNC_CANCEL_FD_FIXED : 0)
    return Self(userData: userData) { io_uring_prep_cancel_fd($0, f.value, flags) }
  }

  /// Cancels every in-flight request of the ring (`IORING_ASYNC_CANCEL_ANY`).
  ///
  /// - Result: The number cancelled, or `ENOENT` when nothing was in flight.
  ///
  /// The corresponding C function is `io_uring_prep_cancel64` with `IORING_ASYNC_CANCEL_ANY` (kernel 5.19).
  public static func cancelAll(userData: UInt64 = 0) -> Self {
    Self(userData: userData) {
      io_uring_prep_cancel64($0, 0, Int32(IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL))
    }
  }
}

extension IOURing {
  /// The clock a timeout is measured on (`IORING_TIMEOUT_BOOTTIME` / `_REALTIME`, 5.15).
  public struct TimeoutClock: Sendable, Hashable {
    internal let rawValue: UInt32
    /// `CLOCK_MONOTONIC` (the default).
    public static let monotonic = TimeoutClock(rawValue: 0)
    /// `CLOCK_BOOTTIME`: counts time suspended.
    public static let boottime = TimeoutClock(rawValue: IORING_TIMEOUT_BOOTTIME)
    /// `CLOCK_REALTIME`: wall-clock time.
    public static let realtime = TimeoutClock(rawValue: IORING_TIMEOUT_REALTIME)
  }

  /// Memory for one `struct statx` (256 bytes) that a ``Request/statx(_:relativeTo:flags:mask:into:userData:)``
  /// request fills. A class, so its address is stable; keep it alive until the completion.
  public final class StatxBuffer: @unchecked Sendable {
    internal let raw: UnsafeMutablePointer<statx>

    /// Zeroed memory for one `struct statx`.
    public init() {
      raw = .allocate(capacity: 1)
      raw.initialize(to: statx())
    }

    deinit { raw.deallocate() }

    /// The fields as the kernel filled them (valid after a successful completion).
    public var status: FileStatus { FileStatus(raw.pointee) }
  }

  /// The fields of a `struct statx` filled by ``Request/statx(_:relativeTo:flags:mask:into:userData:)``.
  public struct FileStatus: Sendable, Hashable {
    /// `stx_mask`: which fields the kernel filled (`STATX_*`).
    public var mask: UInt32
    /// `stx_size`: size in bytes.
    public var size: UInt64
    /// `stx_mode`: file type and permission bits.
    public var mode: UInt16
    /// `stx_nlink`: number of hard links.
    public var linkCount: UInt32
    /// `stx_uid`: owner.
    public var userID: UInt32
    /// `stx_gid`: group.
    public var groupID: UInt32
    /// `stx_ino`: inode number.
    public var inode: UInt64
    /// `stx_blocks`: allocated space in 512-byte units.
    public var blocks: UInt64
    /// `stx_blksize`: preferred I/O size.
    public var blockSize: UInt32
    /// `stx_mtime` as seconds and nanoseconds since the epoch.
    public var modificationTime: (seconds: Int64, nanoseconds: UInt32) { (mtimeSeconds, mtimeNanoseconds) }
    internal var mtimeSeconds: Int64
    internal var mtimeNanoseconds: UInt32

    internal init(_ raw: statx) {
      mask = raw.stx_mask
      size = raw.stx_size
      mode = raw.stx_mode
      linkCount = raw.stx_nlink
      userID = raw.stx_uid
      groupID = raw.stx_gid
      inode = raw.stx_ino
      blocks = raw.stx_blocks
      blockSize = raw.stx_blksize
      mtimeSeconds = raw.stx_mtime.tv_sec
      mtimeNanoseconds = raw.stx_mtime.tv_nsec
    }
  }
}
