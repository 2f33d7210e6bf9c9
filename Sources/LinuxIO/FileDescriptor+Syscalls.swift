// Single zero-copy system calls on `FileDescriptor`: one call each, the bytes it moved,
// `throws(Errno)`. They behave exactly like the raw calls (short counts included) and,
// like them, may raise SIGPIPE or SIGXFSZ: wrap them in `withSignalGuard` when the
// destination is a socket or pipe whose peer may close, or a file under RLIMIT_FSIZE.
//
// Offsets: nil means "use and advance the descriptor's file position". An explicit
// offset is read, not written back: the file position is then left unchanged and the
// next call's offset is `offset + returned count`.

import CZeroCopy
import Glibc
public import SystemPackage

extension FileDescriptor {
  /// Sends up to `count` bytes from this file to `destination` with one `sendfile(2)`
  /// call, the data never entering user space.
  ///
  /// This descriptor must support mmap-like reads (a regular file or a block device);
  /// `destination` may be any descriptor. One call moves at most `0x7ffff000` bytes;
  /// use `sendfileAll(to:sourceOffset:count:)` to move a whole range.
  ///
  /// - Parameters:
  ///   - destination: The descriptor to write to.
  ///   - sourceOffset: Where to read in this file; nil to use and advance its file position.
  ///   - count: The most bytes to move. - Precondition: `count >= 0`.
  /// - Returns: The bytes moved; 0 at this file's end (or when `count` is 0).
  /// - Throws: `Errno`: `.invalidArgument` (an `O_APPEND` destination, a source that
  ///   cannot be read this way such as a /proc file), `.resourceTemporarilyUnavailable`
  ///   (a non-blocking destination is full), `.brokenPipe` / `.connectionReset` (the peer
  ///   closed; SIGPIPE is raised unless guarded), `.badFileDescriptor`,
  ///   `.illegalSeek`, `.fileTooLarge`, `.noSpace`, `.ioError`.
  ///
  /// The corresponding C function is `zc_sendfile` (system call `sendfile`).
  public func sendfile(
    to destination: FileDescriptor, sourceOffset: Int64? = nil, count: Int
  ) throws(Errno) -> Int {
    checkCount(count, #function)
    checkOffset(sourceOffset, "sourceOffset", #function)
    return try withOptionalOffset(sourceOffset) { offset throws(Errno) in
      try valueOrErrno { system_sendfile(destination.rawValue, self.rawValue, offset, count) }
    }
  }

  /// Moves up to `count` bytes from this descriptor to `destination` with one `splice(2)`
  /// call. One of the two must be a pipe.
  ///
  /// A splice into a pipe stops at the pipe's free space; a splice out of a pipe at the
  /// bytes in it. Use `spliceAll(to:sourceOffset:destinationOffset:count:)` to move a
  /// whole range between any two descriptors.
  ///
  /// - Parameters:
  ///   - destination: The descriptor to write to.
  ///   - sourceOffset: Where to read in this file; nil to use its file position. Must
  ///     be nil when this descriptor is a pipe.
  ///   - destinationOffset: Where to write in `destination`; nil to use its file
  ///     position. Must be nil when `destination` is a pipe.
  ///   - count: The most bytes to move. - Precondition: `count >= 0`.
  ///   - flags: `SPLICE_F_*` flags.
  /// - Returns: The bytes moved; 0 at the end of the input (end of file, or an empty
  ///   pipe without writers).
  /// - Throws: `Errno`: `.invalidArgument` (neither end is a pipe, a file that does not
  ///   support splice, an `O_APPEND` destination), `.illegalSeek` (an offset for a pipe),
  ///   `.resourceTemporarilyUnavailable` (non-blocking and nothing can move now),
  ///   `.brokenPipe` (the reader closed; SIGPIPE is raised unless guarded),
  ///   `.badFileDescriptor`, `.noMemory`.
  ///
  /// The corresponding C function is `zc_splice` (system call `splice`).
  public func splice(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: Int, flags: SpliceFlags = []
  ) throws(Errno) -> Int {
    checkCount(count, #function)
    checkOffset(sourceOffset, "sourceOffset", #function)
    checkOffset(destinationOffset, "destinationOffset", #function)
    return try withOptionalOffsets(sourceOffset, destinationOffset) { inOff, outOff throws(Errno) in
      try valueOrErrno {
        system_splice(self.rawValue, inOff, destination.rawValue, outOff, count, flags.rawValue)
      }
    }
  }

  /// Duplicates up to `count` bytes from this pipe into the pipe `destination` with one
  /// `tee(2)` call, without consuming them: they can still be read from this pipe.
  ///
  /// - Parameters:
  ///   - destination: The write end of another pipe.
  ///   - count: The most bytes to duplicate. - Precondition: `count >= 0`.
  ///   - flags: `SPLICE_F_*` flags (`.nonBlocking` is the useful one).
  /// - Returns: The bytes duplicated; 0 if this pipe is empty and has no writers.
  /// - Throws: `Errno`: `.invalidArgument` (not two pipes, or the same pipe),
  ///   `.resourceTemporarilyUnavailable` (non-blocking and nothing can move now),
  ///   `.badFileDescriptor`, `.noMemory`.
  ///
  /// The corresponding C function is `zc_tee` (system call `tee`).
  public func tee(
    to destination: FileDescriptor, count: Int, flags: SpliceFlags = []
  ) throws(Errno) -> Int {
    checkCount(count, #function)
    return try valueOrErrno {
      system_tee(self.rawValue, destination.rawValue, count, flags.rawValue)
    }
  }

  /// Puts the bytes of `buffer` into this pipe with one `vmsplice(2)` call — **the pipe
  /// keeps pointers to the caller's pages past the call**.
  ///
  /// Without `.gift` the kernel references the pages rather than copying them: the
  /// memory must stay allocated and unmodified until the pipe's reader has consumed the
  /// bytes (the reason this call is zero-copy, and the reason it is unsafe to reuse the
  /// buffer right away). With `.gift` the pages are given to the kernel and must never be
  /// touched again — also not by the allocator that gets them back when they are freed.
  /// A short count happens when the pipe fills up.
  ///
  /// - Parameters:
  ///   - buffer: The bytes to put into the pipe.
  ///   - flags: `SPLICE_F_*` flags.
  /// - Returns: The bytes put into the pipe.
  /// - Throws: `Errno`: `.badFileDescriptor` (not a pipe's write end),
  ///   `.resourceTemporarilyUnavailable` (non-blocking and the pipe is full),
  ///   `.brokenPipe` (no reader; SIGPIPE is raised unless guarded), `.invalidArgument`,
  ///   `.noMemory`.
  ///
  /// The corresponding C function is `zc_vmsplice` (system call `vmsplice`).
  public func unsafeVmsplice(_ buffer: UnsafeRawBufferPointer, flags: SpliceFlags = []) throws(Errno) -> Int {
    try unsafeVmsplice([buffer], flags: flags)
  }

  /// Puts the bytes of `buffers`, in order, into this pipe with one `vmsplice(2)` call —
  /// the pipe keeps pointers to the caller's pages past the call.
  ///
  /// The same rules as `unsafeVmsplice(_:flags:)` apply to every buffer.
  ///
  /// - Returns: The bytes put into the pipe.
  /// - Throws: `Errno`, as `unsafeVmsplice(_:flags:)`.
  ///
  /// The corresponding C function is `zc_vmsplice` (system call `vmsplice`).
  public func unsafeVmsplice(_ buffers: [UnsafeRawBufferPointer], flags: SpliceFlags = []) throws(Errno) -> Int {
    let iovecs = buffers.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
    return try iovecs.withUnsafeBufferPointer { iov throws(Errno) in
      try valueOrErrno {
        system_vmsplice(self.rawValue, iov.baseAddress, iov.count, flags.rawValue)
      }
    }
  }

  /// Deprecated: ``unsafeVmsplice(_:flags:)-(UnsafeRawBufferPointer,_)``.
  @available(
    *, deprecated, renamed: "unsafeVmsplice(_:flags:)", message: "the pipe keeps pointers to the buffer's pages past the call"
  )
  public func vmsplice(_ buffer: UnsafeRawBufferPointer, flags: SpliceFlags = []) throws(Errno) -> Int {
    try unsafeVmsplice(buffer, flags: flags)
  }

  /// Deprecated: ``unsafeVmsplice(_:flags:)-([UnsafeRawBufferPointer],_)``.
  @available(
    *, deprecated, renamed: "unsafeVmsplice(_:flags:)", message: "the pipe keeps pointers to the buffers' pages past the call"
  )
  public func vmsplice(_ buffers: [UnsafeRawBufferPointer], flags: SpliceFlags = []) throws(Errno) -> Int {
    try unsafeVmsplice(buffers, flags: flags)
  }

  /// Copies up to `count` bytes from this file to the file `destination` inside the
  /// kernel with one `copy_file_range(2)` call (a reflink or server-side copy where the
  /// filesystem offers one).
  ///
  /// Both files must be on the same filesystem (superblock) on current kernels.
  ///
  /// - Parameters:
  ///   - destination: The file to write to.
  ///   - sourceOffset: Where to read; nil to use and advance this file's position.
  ///   - destinationOffset: Where to write; nil to use and advance `destination`'s position.
  ///   - count: The most bytes to copy. - Precondition: `count >= 0`.
  /// - Returns: The bytes copied; 0 at the end of this file.
  /// - Throws: `Errno`: `.improperLink` (`EXDEV`: different filesystems),
  ///   `.invalidArgument` (sockets, /dev/null, overlapping ranges of one file, an
  ///   `O_APPEND` destination), `.badFileDescriptor`, `.fileTooLarge`, `.noSpace`,
  ///   `.notSupported`, `.noFunction`, `.ioError`.
  ///
  /// The corresponding C function is `zc_copy_file_range` (system call `copy_file_range`).
  public func copyFileRange(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: Int
  ) throws(Errno) -> Int {
    checkCount(count, #function)
    checkOffset(sourceOffset, "sourceOffset", #function)
    checkOffset(destinationOffset, "destinationOffset", #function)
    return try withOptionalOffsets(sourceOffset, destinationOffset) { inOff, outOff throws(Errno) in
      try valueOrErrno {
        system_copy_file_range(self.rawValue, inOff, destination.rawValue, outOff, count, 0)
      }
    }
  }
}
