// Names and signatures URing had before, deprecated, not removed: they still compile, with
// a warning naming the replacement.
// - Issue 14 gave every factory that hands the kernel a pointer it keeps past the call an
//   `unsafe` prefix (and added owned-buffer factories under the plain names).
// - Issue 17 gave `splice`/`tee` LinuxIO's typed `SpliceFlags` instead of a raw `UInt32`,
//   and spelled the ring `IOURing…` in type names and `ioUring…` in values
//   (`IOURingAvailability`, `IOURingFile.ioUringOperand`; Docs/Architecture.md, "Vocabulary").

public import Glibc
public import LinuxIO
public import SystemPackage

extension IOURing.Request {
  /// Deprecated: ``unsafeRead(_:into:at:userData:)``, or the owned ``read(_:into:range:at:userData:)``.
  @available(
    *, deprecated, renamed: "unsafeRead(_:into:at:userData:)",
    message: "the raw-pointer read is unsafe; or pass an AlignedBuffer, which the ring owns until the completion"
  )
  public static func read(
    _ file: some IOURingFile, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    unsafeRead(file, into: buffer, at: offset, userData: userData)
  }

  /// Deprecated: ``unsafeWrite(_:from:at:userData:)``, or the owned ``write(_:from:range:at:userData:)``.
  @available(
    *, deprecated, renamed: "unsafeWrite(_:from:at:userData:)",
    message: "the raw-pointer write is unsafe; or pass an AlignedBuffer, which the ring owns until the completion"
  )
  public static func write(
    _ file: some IOURingFile, from buffer: UnsafeRawBufferPointer, at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    unsafeWrite(file, from: buffer, at: offset, userData: userData)
  }

  /// Deprecated: ``unsafeSend(_:from:flags:userData:)``, or the owned ``send(_:from:range:flags:userData:)``.
  @available(
    *, deprecated, renamed: "unsafeSend(_:from:flags:userData:)",
    message: "the raw-pointer send is unsafe; or pass an AlignedBuffer"
  )
  public static func send(
    _ socket: some IOURingFile, from buffer: UnsafeRawBufferPointer, flags: Int32 = 0, userData: UInt64 = 0
  ) -> Self {
    unsafeSend(socket, from: buffer, flags: flags, userData: userData)
  }

  /// Deprecated: ``unsafeRecv(_:into:flags:userData:)``, or the owned ``recv(_:into:range:flags:userData:)``.
  @available(
    *, deprecated, renamed: "unsafeRecv(_:into:flags:userData:)",
    message: "the raw-pointer recv is unsafe; or pass an AlignedBuffer"
  )
  public static func recv(
    _ socket: some IOURingFile, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0, userData: UInt64 = 0
  ) -> Self {
    unsafeRecv(socket, into: buffer, flags: flags, userData: userData)
  }

  /// Deprecated: ``unsafeSendmsg(_:message:flags:userData:)``.
  @available(*, deprecated, renamed: "unsafeSendmsg(_:message:flags:userData:)")
  public static func sendmsg(
    _ socket: some IOURingFile, message: UnsafePointer<msghdr>, flags: UInt32 = 0, userData: UInt64 = 0
  ) -> Self {
    unsafeSendmsg(socket, message: message, flags: flags, userData: userData)
  }

  /// Deprecated: ``unsafeRecvmsg(_:message:flags:userData:)``.
  @available(*, deprecated, renamed: "unsafeRecvmsg(_:message:flags:userData:)")
  public static func recvmsg(
    _ socket: some IOURingFile, message: UnsafeMutablePointer<msghdr>, flags: UInt32 = 0, userData: UInt64 = 0
  ) -> Self {
    unsafeRecvmsg(socket, message: message, flags: flags, userData: userData)
  }

  /// Deprecated: ``unsafeSendZeroCopy(_:from:flags:reportUsage:userData:)``, or the owned
  /// ``sendZeroCopy(_:from:range:flags:reportUsage:userData:)-(_,AlignedBuffer,_,_,_,_)``.
  @available(
    *, deprecated, renamed: "unsafeSendZeroCopy(_:from:flags:reportUsage:userData:)",
    message: "the raw-pointer SEND_ZC is unsafe; or pass an AlignedBuffer, which the ring owns until the notification"
  )
  public static func sendZeroCopy(
    _ socket: some IOURingFile, from buffer: UnsafeRawBufferPointer, flags: Int32 = 0, reportUsage: Bool = true,
    userData: UInt64 = 0
  ) -> Self {
    unsafeSendZeroCopy(socket, from: buffer, flags: flags, reportUsage: reportUsage, userData: userData)
  }

  /// Deprecated: ``unsafeSendmsgZeroCopy(_:message:flags:userData:)``.
  @available(*, deprecated, renamed: "unsafeSendmsgZeroCopy(_:message:flags:userData:)")
  public static func sendmsgZeroCopy(
    _ socket: some IOURingFile, message: UnsafePointer<msghdr>, flags: UInt32 = 0, userData: UInt64 = 0
  ) -> Self {
    unsafeSendmsgZeroCopy(socket, message: message, flags: flags, userData: userData)
  }

  /// Deprecated: ``unsafeAccept(_:address:addressLength:flags:userData:)`` (or ``accept(_:flags:userData:)``
  /// when the peer's address is not needed).
  @available(*, deprecated, renamed: "unsafeAccept(_:address:addressLength:flags:userData:)")
  public static func accept(
    _ socket: some IOURingFile, address: UnsafeMutablePointer<sockaddr>?, addressLength: UnsafeMutablePointer<socklen_t>?,
    flags: Int32 = closeOnExec, userData: UInt64 = 0
  ) -> Self {
    unsafeAccept(socket, address: address, addressLength: addressLength, flags: flags, userData: userData)
  }

  /// Deprecated: ``unsafeConnect(_:to:length:userData:)``, or ``connect(_:to:length:userData:)``
  /// with a `sockaddr_storage` (copied into the request).
  @available(*, deprecated, renamed: "unsafeConnect(_:to:length:userData:)")
  public static func connect(
    _ socket: some IOURingFile, to address: UnsafePointer<sockaddr>, length: socklen_t, userData: UInt64 = 0
  ) -> Self {
    unsafeConnect(socket, to: address, length: length, userData: userData)
  }

  /// Deprecated: ``unsafeMadvise(_:advice:userData:)``.
  @available(*, deprecated, renamed: "unsafeMadvise(_:advice:userData:)")
  public static func madvise(_ region: UnsafeMutableRawBufferPointer, advice: Int32, userData: UInt64 = 0) -> Self {
    unsafeMadvise(region, advice: advice, userData: userData)
  }

  /// Deprecated: ``splice(from:sourceOffset:to:destinationOffset:count:flags:userData:)-(_,_,_,_,_,SpliceFlags,_)`` with
  /// `SpliceFlags` instead of raw `SPLICE_F_*` bits.
  @available(*, deprecated, message: "pass LinuxIO's SpliceFlags (e.g. [.move, .more]) instead of raw SPLICE_F_* bits")
  public static func splice(
    from source: some IOURingFile, sourceOffset: UInt64? = nil,
    to destination: some IOURingFile, destinationOffset: UInt64? = nil,
    count: UInt32, flags: UInt32, userData: UInt64 = 0
  ) -> Self {
    splice(
      from: source, sourceOffset: sourceOffset, to: destination, destinationOffset: destinationOffset, count: count,
      flags: SpliceFlags(rawValue: flags), userData: userData)
  }

  /// Deprecated: ``tee(from:to:count:flags:userData:)-(_,_,_,SpliceFlags,_)`` with `SpliceFlags` instead of
  /// raw `SPLICE_F_*` bits.
  @available(*, deprecated, message: "pass LinuxIO's SpliceFlags (e.g. .nonBlocking) instead of raw SPLICE_F_* bits")
  public static func tee(
    from source: some IOURingFile, to destination: some IOURingFile, count: UInt32, flags: UInt32,
    userData: UInt64 = 0
  ) -> Self {
    tee(from: source, to: destination, count: count, flags: SpliceFlags(rawValue: flags), userData: userData)
  }

  /// Deprecated: ``unsafeDirectRead(_:into:at:alignment:userData:)``.
  @available(*, deprecated, renamed: "unsafeDirectRead(_:into:at:alignment:userData:)")
  public static func directRead(
    _ file: some IOURingFile, into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64,
    alignment: DirectIOAlignment, userData: UInt64 = 0
  ) throws(DirectIOError) -> Self {
    try unsafeDirectRead(file, into: buffer, at: offset, alignment: alignment, userData: userData)
  }

  /// Deprecated: ``unsafeDirectWrite(_:from:at:alignment:userData:)``.
  @available(*, deprecated, renamed: "unsafeDirectWrite(_:from:at:alignment:userData:)")
  public static func directWrite(
    _ file: some IOURingFile, from buffer: UnsafeRawBufferPointer, at offset: UInt64,
    alignment: DirectIOAlignment, userData: UInt64 = 0
  ) throws(DirectIOError) -> Self {
    try unsafeDirectWrite(file, from: buffer, at: offset, alignment: alignment, userData: userData)
  }
}

extension IOURing {
  /// Deprecated: ``unsafeRegisterBuffers(_:)``, or the ring-owned ``registerBuffers(count:size:alignment:)``.
  @available(
    *, deprecated, renamed: "unsafeRegisterBuffers(_:)",
    message: "registering caller memory is unsafe; or let the ring own the table: registerBuffers(count:size:alignment:)"
  )
  public mutating func registerBuffers(_ regions: [UnsafeMutableRawBufferPointer]) throws(Errno) -> [RegisteredBuffer] {
    try unsafeRegisterBuffers(regions)
  }

  /// Deprecated: ``unsafeRegisterBuffer(_:at:)``, or ``registerBuffer(_:at:)`` with an `AlignedBuffer`.
  @available(
    *, deprecated, renamed: "unsafeRegisterBuffer(_:at:)",
    message: "registering caller memory is unsafe; or move an AlignedBuffer into the ring: registerBuffer(_:at:)"
  )
  public mutating func registerBuffer(_ region: UnsafeMutableRawBufferPointer, at slot: Int) throws(Errno) -> RegisteredBuffer {
    try unsafeRegisterBuffer(region, at: slot)
  }
}

/// Deprecated: ``IOURingAvailability`` (type names spell the ring `IOURing`; Docs/Architecture.md,
/// "Vocabulary").
@available(*, deprecated, renamed: "IOURingAvailability")
public typealias URingAvailability = IOURingAvailability

extension IOURingFile {
  /// Deprecated: ``IOURingFile/ioUringOperand`` (values spell the ring `ioUring`). A type that
  /// conforms to ``IOURingFile`` implements `ioUringOperand`.
  @available(*, deprecated, renamed: "ioUringOperand")
  public var ioURingOperand: IOURing.FileOperand { ioUringOperand }
}
