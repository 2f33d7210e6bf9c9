// Reading what is already in the page cache, without ever waiting for the device.

import CZeroCopy
public import SystemPackage

extension FileDescriptor {
  /// Reads up to `buffer.count` bytes at `offset` only as far as they are in the page
  /// cache: one `preadv2(RWF_NOWAIT)`, which never waits for I/O. An async caller can
  /// serve a cached read on its own thread this way and hand only the rest to a worker
  /// (io_uring does the same before punting a buffered read to a kernel thread).
  ///
  /// - Parameters:
  ///   - buffer: Where the bytes go.
  ///   - offset: The file offset. - Precondition: ≥ 0.
  /// - Returns: The bytes read: all of `buffer.count` when the range is cached, fewer when
  ///   only its start is or the file ends first, 0 at or past the end; nil when its first
  ///   byte is not cached (`EAGAIN`: the read would wait for the device). A missing page
  ///   is not a guaranteed nil: before giving up, the kernel starts reading it in
  ///   (read-ahead), and when that read completes first — a fast device, a descheduled
  ///   thread — the call returns the page's bytes after all, and the page stays cached.
  /// - Throws: `.notSupported` where the file does not support `RWF_NOWAIT` (pipes, some
  ///   filesystems), `.badFileDescriptor`, `.invalidArgument`, `.isDirectory`…
  ///
  /// The corresponding C function is `zc_pread_nowait` (system call `preadv2`).
  public func readIfCached(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int? {
    precondition(offset >= 0, "FileDescriptor.readIfCached: the offset must not be negative")
    do {
      return try valueOrErrno { system_pread_nowait(rawValue, buffer.baseAddress, buffer.count, offset) }
    } catch  where error == .resourceTemporarilyUnavailable {
      return nil
    }
  }
}
