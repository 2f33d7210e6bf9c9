// A pipe that owns both of its ends.

import CZeroCopy
public import SystemPackage

/// A pipe (`pipe2(2)`, always `O_CLOEXEC`) that owns both of its descriptors and closes
/// them when it goes out of scope — deterministically, at the end of its lifetime.
///
/// Pipes are the kernel's zero-copy buffers: `splice` moves file pages into one and out
/// to a socket or file without copying, `tee` duplicates its contents, `vmsplice` maps
/// user memory into it. Its capacity bounds how much one splice leg moves.
///
/// `Pipe` is noncopyable, so exactly one owner closes it. Pass it `borrowing` to use it,
/// `consuming` to hand it over; `close()` closes it early and reports errors.
///
/// Both ends are close-on-exec from the moment they exist (`pipe2` with `O_CLOEXEC`), so a
/// child that another thread forks and execs never inherits them. swift-system's
/// `FileDescriptor.pipe()` calls plain `pipe`: its ends lack `O_CLOEXEC`, and setting it
/// afterwards (``SystemPackage/FileDescriptor/setCloseOnExec()``) leaves a window in which
/// such a child inherits an end and holds it open for its whole life. Use `Pipe` instead
/// (or swift-system's `FileDescriptor.pipe(options: .closeOnExec)`, which is atomic too but
/// leaves closing the ends to you).
public struct Pipe: ~Copyable, Sendable {
  /// The end to read from (`fds[0]`). Owned by this pipe: do not close it yourself.
  public let readEnd: FileDescriptor
  /// The end to write to (`fds[1]`). Owned by this pipe: do not close it yourself.
  public let writeEnd: FileDescriptor

  /// Creates a pipe whose ends are close-on-exec.
  ///
  /// - Parameter nonBlocking: Whether both ends are `O_NONBLOCK`.
  /// - Throws: `Errno`: `.tooManyOpenFiles` (`EMFILE`), `.tooManyOpenFilesInSystem`
  ///   (`ENFILE`).
  ///
  /// The corresponding C function is `zc_pipe` (system call `pipe2`).
  public init(nonBlocking: Bool = false) throws(Errno) {
    var fds: (CInt, CInt) = (-1, -1)
    let flags = nonBlocking ? CInt(ZC_PIPE_NONBLOCK) : 0
    _ = try withUnsafeMutableBytes(of: &fds) { raw throws(Errno) in
      try valueOrErrno { system_pipe(raw.baseAddress!.assumingMemoryBound(to: CInt.self), flags) }
    }
    self.readEnd = FileDescriptor(rawValue: fds.0)
    self.writeEnd = FileDescriptor(rawValue: fds.1)
  }

  /// Takes ownership of two existing pipe ends; they are closed when this value is.
  ///
  /// - Parameters:
  ///   - readEnd: The read end of a pipe.
  ///   - writeEnd: The write end of the same pipe.
  public init(takingOwnershipOf readEnd: FileDescriptor, _ writeEnd: FileDescriptor) {
    self.readEnd = readEnd
    self.writeEnd = writeEnd
  }

  deinit {
    // Errors from close(2) cannot be reported from deinit; the descriptors are released
    // by the kernel even when close fails (Linux never retries a close).
    _ = try? readEnd.close()
    _ = try? writeEnd.close()
  }

  /// Closes both ends now and reports the first error, instead of silently at the end
  /// of the pipe's lifetime. Both ends are closed even if the first close fails.
  ///
  /// - Throws: `Errno` from `close(2)` (`.badFileDescriptor`, `.ioError`).
  ///
  /// The corresponding C function is `close` (through swift-system).
  public consuming func close() throws(Errno) {
    let (r, w) = (readEnd, writeEnd)
    discard self
    var firstError: Errno?
    do { try r.close() } catch { firstError = error as? Errno ?? .ioError }
    do { try w.close() } catch { if firstError == nil { firstError = error as? Errno ?? .ioError } }
    if let firstError { throw firstError }
  }

  /// Gives up ownership of both ends without closing them (for example to keep them in a
  /// pool of descriptors); the caller must close them.
  ///
  /// - Returns: The two ends.
  public consuming func releaseDescriptors() -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
    let ends = (readEnd: readEnd, writeEnd: writeEnd)
    discard self
    return ends
  }

  /// The pipe's capacity in bytes (64 KiB for a new pipe on Linux):
  /// ``SystemPackage/FileDescriptor/pipeCapacity`` of the read end.
  ///
  /// - Throws: `Errno`: `.badFileDescriptor` (only if the ends were closed behind the
  ///   pipe's back).
  ///
  /// The corresponding C function is `zc_pipe_capacity` (`fcntl(F_GETPIPE_SZ)`).
  public var capacity: Int {
    get throws(Errno) {
      try readEnd.pipeCapacity
    }
  }

  /// Sets the pipe's capacity. The kernel rounds `bytes` up to a power-of-two number
  /// of pages (so 100 000 becomes 131 072) and returns what it set:
  /// ``SystemPackage/FileDescriptor/setPipeCapacity(_:)`` on the write end.
  ///
  /// - Parameter bytes: The wanted capacity.
  ///   - Precondition: `0 <= bytes <= Int32.max`.
  /// - Returns: The capacity actually set (`>= bytes`).
  /// - Throws: `Errno`: `.notPermitted` (above `maximumCapacity` without
  ///   `CAP_SYS_RESOURCE`, or the per-user pipe-buffer limit reached), `.resourceBusy`
  ///   (smaller than the data in the pipe), `.invalidArgument`.
  ///
  /// The corresponding C function is `zc_pipe_set_capacity` (`fcntl(F_SETPIPE_SZ)`).
  @discardableResult
  public func setCapacity(_ bytes: Int) throws(Errno) -> Int {
    precondition(
      bytes >= 0 && bytes <= Int(Int32.max),
      "Pipe.setCapacity: capacity must be in 0...\(Int32.max) (got \(bytes))")
    return try writeEnd.setPipeCapacity(bytes)
  }

  /// The largest capacity an unprivileged process may set: `/proc/sys/fs/pipe-max-size`
  /// (1 MiB by default).
  ///
  /// - Throws: `Errno` if the file cannot be read (`.noSuchFileOrDirectory` without /proc).
  ///
  /// The corresponding C function is `zc_pipe_max_capacity`.
  public static var maximumCapacity: Int {
    get throws(Errno) {
      Int(try valueOrErrno { system_pipe_max_capacity() })
    }
  }

  /// The bytes currently in the pipe, waiting to be read:
  /// ``SystemPackage/FileDescriptor/readableBytes`` of the read end.
  ///
  /// - Throws: `Errno`: `.badFileDescriptor` (only if the ends were closed behind the
  ///   pipe's back).
  ///
  /// The corresponding C function is `zc_readable_bytes` (`ioctl(FIONREAD)`).
  public var readableBytes: Int {
    get throws(Errno) {
      try readEnd.readableBytes
    }
  }
}
