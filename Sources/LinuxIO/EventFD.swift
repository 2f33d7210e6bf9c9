// eventfd: a 64-bit counter in the kernel behind a descriptor — the cheapest way to wake a
// thread that sleeps in epoll_wait (or an io_uring) from another thread.

import CLinuxExtras
public import SystemPackage

/// An event counter (`eventfd(2)`, always `EFD_CLOEXEC`) that owns its descriptor and
/// closes it at the end of its lifetime.
///
/// ``signal(adding:)`` adds to the counter; ``read()`` returns it and resets it to zero (or,
/// with ``Options/semaphore``, returns 1 and decrements it). The descriptor is readable
/// (`EPOLLIN`) while the counter is not zero, so an ``Epoll`` can wait for it next to
/// sockets.
///
/// ```swift
/// import LinuxIO
///
/// let wakeup = try EventFD(options: .nonBlocking)
/// try wakeup.signal()
/// try wakeup.signal(adding: 2)
/// print(try wakeup.read())  // 3
/// ```
///
/// The methods may be called from several threads at once. `EventFD` is noncopyable, so
/// exactly one owner closes it; `close()` closes it early and reports errors.
public struct EventFD: ~Copyable, Sendable {
  /// The eventfd descriptor. Owned by this value: do not close it yourself.
  public let descriptor: FileDescriptor

  /// How the counter behaves (`EFD_*`).
  public struct Options: OptionSet, Sendable, Hashable {
    /// The `EFD_*` bits.
    public let rawValue: CInt
    /// Creates a set from `EFD_*` bits.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// ``EventFD/read()`` of a zero counter and ``EventFD/signal(adding:)`` that would
    /// overflow it fail with `EAGAIN` instead of blocking (`EFD_NONBLOCK`).
    public static let nonBlocking = Options(rawValue: CInt(EFD_NONBLOCK))
    /// ``EventFD/read()`` returns 1 and decrements the counter, instead of returning it
    /// and resetting it to zero (`EFD_SEMAPHORE`).
    public static let semaphore = Options(rawValue: CInt(EFD_SEMAPHORE))
  }

  /// Creates an event counter whose descriptor is close-on-exec.
  ///
  /// - Parameters:
  ///   - initialValue: The counter's starting value.
  ///   - options: ``Options/nonBlocking``, ``Options/semaphore``.
  /// - Throws: `Errno`: `.tooManyOpenFiles` (`EMFILE`), `.tooManyOpenFilesInSystem`
  ///   (`ENFILE`), `.operationNotSupportedByDevice` (`ENODEV`: no anonymous inode), `.noMemory`.
  ///
  /// The corresponding C call is `eventfd(initialValue, EFD_CLOEXEC | options)`.
  public init(initialValue: UInt32 = 0, options: Options = []) throws(Errno) {
    let flags = CInt(EFD_CLOEXEC) | options.rawValue
    let fd = try valueOrErrno { system_eventfd(initialValue, flags) }
    descriptor = FileDescriptor(rawValue: fd)
  }

  /// Takes ownership of an existing eventfd descriptor; it is closed when this value is.
  ///
  /// - Parameter descriptor: A descriptor from `eventfd`.
  public init(takingOwnershipOf descriptor: FileDescriptor) {
    self.descriptor = descriptor
  }

  deinit {
    // close(2) errors cannot be reported here; Linux releases the descriptor regardless.
    _ = try? descriptor.close()
  }

  /// Closes the descriptor now and reports an error, instead of silently at the end of
  /// the value's lifetime.
  ///
  /// - Throws: `Errno` from `close(2)` (`.badFileDescriptor`).
  ///
  /// The corresponding C function is `close` (through swift-system).
  public consuming func close() throws(Errno) {
    let fd = descriptor
    discard self
    do { try fd.close() } catch { throw error as? Errno ?? .ioError }
  }

  /// Gives up ownership of the descriptor without closing it; the caller must close it.
  ///
  /// - Returns: The eventfd descriptor.
  public consuming func releaseDescriptor() -> FileDescriptor {
    let fd = descriptor
    discard self
    return fd
  }

  /// Adds `value` to the counter, waking readers and waits for readability.
  ///
  /// - Parameter value: What to add.
  /// - Throws: `Errno`: `.resourceTemporarilyUnavailable` (`EAGAIN`: the counter would
  ///   exceed `0xffff_ffff_ffff_fffe` and the counter is ``Options/nonBlocking``; a
  ///   blocking counter waits for a read instead), `.invalidArgument` (`value` is
  ///   `UInt64.max`), `.badFileDescriptor`. `EINTR` is retried.
  ///
  /// The corresponding C call is `eventfd_write` (an 8-byte `write`).
  public func signal(adding value: UInt64 = 1) throws(Errno) {
    _ = try valueOrErrno { system_eventfd_write(descriptor.rawValue, value) }
  }

  /// Returns the counter and resets it to zero — or, with ``Options/semaphore``, returns
  /// 1 and decrements it.
  ///
  /// - Returns: The counter (at least 1).
  /// - Throws: `Errno`: `.resourceTemporarilyUnavailable` (`EAGAIN`: the counter is zero
  ///   and ``Options/nonBlocking``; a blocking counter waits for a signal instead),
  ///   `.badFileDescriptor`. `EINTR` is retried.
  ///
  /// The corresponding C call is `eventfd_read` (an 8-byte `read`).
  public func read() throws(Errno) -> UInt64 {
    var value: UInt64 = 0
    _ = try valueOrErrno { system_eventfd_read(descriptor.rawValue, &value) }
    return value
  }
}
