// A pipe's capacity and the bytes waiting to be read, on a borrowed descriptor.

public import SystemPackage

extension FileDescriptor {
  /// The capacity in bytes of the pipe this descriptor is an end of (either end: both
  /// share one buffer); 64 KiB for a new pipe on Linux. ``Pipe/capacity`` is this on
  /// the pipe's read end.
  ///
  /// - Throws: `Errno`: `.badFileDescriptor` (not a pipe — a regular file, a socket, a
  ///   directory — or not an open descriptor).
  ///
  /// The corresponding C function is `zc_pipe_capacity` (`fcntl(F_GETPIPE_SZ)`).
  public var pipeCapacity: Int {
    get throws(Errno) {
      Int(try valueOrErrno { system_pipe_capacity(rawValue) })
    }
  }

  /// Sets the capacity of the pipe this descriptor is an end of (either end). The kernel
  /// rounds `bytes` up to a power-of-two number of pages (so 100 000 becomes 131 072) and
  /// returns what it set. ``Pipe/setCapacity(_:)`` is this on the pipe's write end.
  ///
  /// - Parameter bytes: The wanted capacity.
  ///   - Precondition: `0 <= bytes <= Int32.max`.
  /// - Returns: The capacity actually set (`>= bytes`).
  /// - Throws: `Errno`: `.notPermitted` (above ``Pipe/maximumCapacity`` without
  ///   `CAP_SYS_RESOURCE`, or the per-user pipe-buffer limit reached), `.resourceBusy`
  ///   (smaller than the data in the pipe), `.invalidArgument` (0),
  ///   `.badFileDescriptor` (not a pipe, or not an open descriptor).
  ///
  /// The corresponding C function is `zc_pipe_set_capacity` (`fcntl(F_SETPIPE_SZ)`).
  @discardableResult
  public func setPipeCapacity(_ bytes: Int) throws(Errno) -> Int {
    precondition(
      bytes >= 0 && bytes <= Int(Int32.max),
      "FileDescriptor.setPipeCapacity: capacity must be in 0...\(Int32.max) (got \(bytes))")
    return Int(try valueOrErrno { system_pipe_set_capacity(rawValue, CInt(bytes)) })
  }

  /// The bytes waiting to be read from this descriptor now: on a pipe (either end) the
  /// bytes in the pipe, on a stream socket the bytes in its receive queue (on a datagram
  /// socket, the size of the next datagram). On a regular file it is the bytes between
  /// the file position and the end of the file, 0 at or past the end — as the kernel's
  /// 32-bit count, so a distance of 2 GiB or more does not fit. ``Pipe/readableBytes`` is
  /// this on the pipe's read end.
  ///
  /// - Throws: `Errno`: `.badFileDescriptor` (not an open descriptor),
  ///   `.inappropriateIOCTLForDevice` (`ENOTTY`: a directory, or a device without
  ///   `FIONREAD` such as `/dev/null`).
  ///
  /// The corresponding C function is `zc_readable_bytes` (`ioctl(FIONREAD)`).
  public var readableBytes: Int {
    get throws(Errno) {
      Int(try valueOrErrno { system_readable_bytes(rawValue) })
    }
  }
}
