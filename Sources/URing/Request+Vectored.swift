// The vectored factories (READV, WRITEV), apart from Request+Factories.swift because their
// signatures name `iovec`: liburing's headers declare one too, and in a file that imports
// CLibURing (internally) a release build resolves `iovec`, even written `Glibc.iovec`, to
// liburing's — which may not appear in a public signature. This file imports Glibc only;
// the SQE is written by `vectoredRequest` (Request+Factories.swift).

public import Glibc

extension IOURing.Request {
  /// Scatter read into `iovecs`, like `preadv(2)`, through raw pointers the caller keeps valid.
  ///
  /// - Result: Bytes read (0 at end of file), or the `Errno`.
  /// - Lifetime: The `iovecs` array **and** every buffer it describes must stay allocated
  ///   and untouched from ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion is reaped (the kernel
  ///   may import the array only when the request is issued, possibly on an io-wq worker).
  ///   ZeroCopy's `AsyncFile.read(into: BufferList, at:)` owns its buffers instead.
  ///
  /// The corresponding C function is `io_uring_prep_readv` (`IORING_OP_READV`, kernel 5.1).
  public static func unsafeReadv(
    _ file: some IOURingFile, into iovecs: UnsafeBufferPointer<Glibc.iovec>, at offset: UInt64? = nil,
    userData: UInt64 = 0
  ) -> Self {
    vectoredRequest(
      write: false, file.ioUringOperand, UnsafeRawPointer(iovecs.baseAddress), iovecs.count, offset, userData: userData)
  }

  /// Gather write from `iovecs`, like `pwritev(2)`, through raw pointers the caller keeps valid.
  ///
  /// - Result: Bytes written, or the `Errno`.
  /// - Lifetime: The `iovecs` array and every buffer it describes must stay allocated and
  ///   unmodified from ``IOURing/prepare(_:)-(IOURing.Request)`` until the completion is reaped.
  ///
  /// The corresponding C function is `io_uring_prep_writev` (`IORING_OP_WRITEV`, kernel 5.1).
  public static func unsafeWritev(
    _ file: some IOURingFile, from iovecs: UnsafeBufferPointer<Glibc.iovec>, at offset: UInt64? = nil,
    userData: UInt64 = 0
  ) -> Self {
    vectoredRequest(
      write: true, file.ioUringOperand, UnsafeRawPointer(iovecs.baseAddress), iovecs.count, offset, userData: userData)
  }

  // The names these had before issue 14 (deprecated; here, not in Request+Deprecated.swift,
  // for the reason this file exists: their signatures name `iovec` too).

  /// Deprecated: ``unsafeReadv(_:into:at:userData:)``.
  @available(*, deprecated, renamed: "unsafeReadv(_:into:at:userData:)")
  public static func readv(
    _ file: some IOURingFile, into iovecs: UnsafeBufferPointer<Glibc.iovec>, at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    unsafeReadv(file, into: iovecs, at: offset, userData: userData)
  }

  /// Deprecated: ``unsafeWritev(_:from:at:userData:)``.
  @available(*, deprecated, renamed: "unsafeWritev(_:from:at:userData:)")
  public static func writev(
    _ file: some IOURingFile, from iovecs: UnsafeBufferPointer<Glibc.iovec>, at offset: UInt64? = nil, userData: UInt64 = 0
  ) -> Self {
    unsafeWritev(file, from: iovecs, at: offset, userData: userData)
  }
}
