// Direct-I/O requests: the read/write factories with the alignment check of LinuxIO's
// `DirectIOAlignment`, so a misaligned O_DIRECT request fails when it is built — with an
// error naming the misaligned value — instead of completing with a bare EINVAL.

public import LinuxIO

extension IOURing.Request {
  /// A read into (part of) a registered buffer from a file opened with `O_DIRECT`
  /// (``readFixed(_:into:range:at:userData:)``), checked against `alignment` first.
  ///
  /// - Parameters:
  ///   - file: A descriptor or registered-file slot opened with `O_DIRECT`.
  ///   - buffer: A registered buffer (``IOURing/RegisteredBuffer``).
  ///   - range: Which bytes of `buffer` to read into (default: all). Its start address must
  ///     be a multiple of `alignment.memory` and its length of `alignment.offset`.
  ///     - Precondition: inside the buffer.
  ///   - offset: The file offset; must be a multiple of `alignment.offset`.
  ///   - alignment: The file's alignment (`FileDescriptor.directIOAlignment()`).
  ///   - userData: Copied to `sqe->user_data` and returned unchanged in the completion's
  ///     ``IOURing/Completion/userData``, which ties the completion to this request. Avoid
  ///     ``IOURing/reservedUserData``.
  /// - Throws: `DirectIOError` (LinuxIO) (errno `EINVAL`) naming the misaligned buffer
  ///   address, offset or length and the alignment it needs — before anything is queued.
  /// - Result: Bytes read (short at the end of the file), or the `Errno`.
  /// - Lifetime: As ``readFixed(_:into:range:at:userData:)``: none for a buffer the ring owns.
  ///
  /// The corresponding C function is `io_uring_prep_read_fixed` (`IORING_OP_READ_FIXED`, kernel 5.1).
  public static func directReadFixed(
    _ file: some IOURingFile, into buffer: IOURing.RegisteredBuffer, range: Range<Int>? = nil,
    at offset: UInt64, alignment: DirectIOAlignment, userData: UInt64 = 0
  ) throws(DirectIOError) -> Self {
    let (address, count) = buffer.slice(range)
    try alignment.check(address: address, offset: Int64(bitPattern: offset), length: Int(count))
    return readFixed(file, into: buffer, range: range, at: offset, userData: userData)
  }

  /// A write of (part of) a registered buffer to a file opened with `O_DIRECT`
  /// (``writeFixed(_:from:range:at:userData:)``), checked against `alignment` first.
  ///
  /// - Throws: `DirectIOError` (LinuxIO) (errno `EINVAL`) naming the misaligned value.
  /// - Result: Bytes written, or the `Errno`.
  /// - Lifetime: As ``writeFixed(_:from:range:at:userData:)``.
  ///
  /// The corresponding C function is `io_uring_prep_write_fixed` (`IORING_OP_WRITE_FIXED`, kernel 5.1).
  public static func directWriteFixed(
    _ file: some IOURingFile, from buffer: IOURing.RegisteredBuffer, range: Range<Int>? = nil,
    at offset: UInt64, alignment: DirectIOAlignment, userData: UInt64 = 0
  ) throws(DirectIOError) -> Self {
    let (address, count) = buffer.slice(range)
    try alignment.check(address: address, offset: Int64(bitPattern: offset), length: Int(count))
    return writeFixed(file, from: buffer, range: range, at: offset, userData: userData)
  }

  /// A read into `buffer`, a raw pointer the caller keeps valid, from a file opened with
  /// `O_DIRECT` (``unsafeRead(_:into:at:userData:)``), checked against `alignment` first. For
  /// an owned buffer, check with `alignment.check(address:offset:length:)` and use
  /// ``read(_:into:range:at:userData:)``.
  ///
  /// - Throws: `DirectIOError` (LinuxIO) (errno `EINVAL`) naming the misaligned value.
  /// - Result: Bytes read, or the `Errno`.
  /// - Lifetime: As ``unsafeRead(_:into:at:userData:)``: `buffer` must stay allocated and
  ///   untouched from ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_read` (`IORING_OP_READ`, kernel 5.6).
  public static func unsafeDirectRead(
    _ file: some IOURingFile, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
    alignment: DirectIOAlignment, userData: UInt64 = 0
  ) throws(DirectIOError) -> Self {
    try alignment.check(address: buffer.baseAddress, offset: Int64(bitPattern: offset), length: buffer.count)
    return unsafeRead(file, into: buffer, at: offset, userData: userData)
  }

  /// A write of `buffer`, a raw pointer the caller keeps valid, to a file opened with
  /// `O_DIRECT` (``unsafeWrite(_:from:at:userData:)``), checked against `alignment` first.
  ///
  /// - Throws: `DirectIOError` (LinuxIO) (errno `EINVAL`) naming the misaligned value.
  /// - Result: Bytes written, or the `Errno`.
  /// - Lifetime: As ``unsafeWrite(_:from:at:userData:)``: `buffer` must stay allocated and
  ///   unmodified from ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_write` (`IORING_OP_WRITE`, kernel 5.6).
  public static func unsafeDirectWrite(
    _ file: some IOURingFile, from buffer: UnsafeRawBufferPointer, at offset: UInt64,
    alignment: DirectIOAlignment, userData: UInt64 = 0
  ) throws(DirectIOError) -> Self {
    try alignment.check(address: buffer.baseAddress, offset: Int64(bitPattern: offset), length: buffer.count)
    return unsafeWrite(file, from: buffer, at: offset, userData: userData)
  }
}
