// "All" transfers: finish a whole range, or say exactly how far they got.
//
// Every one returns a `TransferResult` (`.complete`, `.sourceEndedEarly`, `.wouldBlock`,
// with the exact `TransferProgress`) or throws a `TransferFailure` carrying the errno
// *and* the progress made before it. Each runs inside a signal guard, so a closed peer
// gives `.brokenPipe` and RLIMIT_FSIZE gives `.fileTooLarge` instead of killing the
// process, whatever the SIGPIPE/SIGXFSZ disposition.
//
// Offsets: nil means "use and advance the file position"; an explicit offset is not
// written back (the resume point is `offset + progress.bytes`) and leaves the file
// position unchanged.

import CZeroCopy
public import SystemPackage

extension FileDescriptor {
  /// Sends `count` bytes (or everything up to the end of file) from this file to
  /// `destination` with `sendfile(2)`, looping over the kernel's per-call cap
  /// (`0x7ffff000` bytes) and short counts.
  ///
  /// - Parameters:
  ///   - destination: Any descriptor (file, socket, pipe).
  ///   - sourceOffset: Where to start reading; nil to use and advance this file's position.
  ///   - count: How much to send: `.bytes(n)`, an integer literal, or `.untilEndOfFile`.
  /// - Returns: `.complete`; `.sourceEndedEarly` when this file ended (or was truncated)
  ///   before `count` bytes — never loops forever; `.wouldBlock` when a non-blocking
  ///   destination is full. `progress.bytes` is exact in every case.
  /// - Throws: `TransferFailure` with the progress so far and `.brokenPipe` /
  ///   `.connectionReset` (the peer closed), `.fileTooLarge` (RLIMIT_FSIZE), `.noSpace`,
  ///   `.invalidArgument` (an `O_APPEND` destination, a /proc source),
  ///   `.badFileDescriptor`, `.illegalSeek`...
  ///
  /// The corresponding C function is `zc_sendfile_all` (system call `sendfile`).
  public func sendfileAll(
    to destination: FileDescriptor, sourceOffset: Int64? = nil, count: TransferCount
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(sourceOffset, "sourceOffset", #function)
    return try withOptionalOffset(sourceOffset) { offset throws(TransferFailure) in
      try runTransfer { progress in
        system_sendfile_all(destination.rawValue, self.rawValue, offset, count.rawValue, progress)
      }
    }
  }

  /// Moves `count` bytes (or everything up to the end of the input) from this
  /// descriptor to `destination` with `splice(2)`, between any two descriptors.
  ///
  /// If either end is a pipe the bytes move directly; otherwise they go through a
  /// temporary `O_CLOEXEC` pipe created for this call and closed before it returns (use
  /// `spliceAll(to:sourceOffset:destinationOffset:count:through:)` to reuse a pipe).
  /// If the destination fails, bytes already pulled into the intermediate pipe are
  /// dropped (`progress.discarded`) and `progress.bytes` counts only delivered bytes, so
  /// a retry from `sourceOffset + progress.bytes` resumes exactly.
  ///
  /// - Parameters:
  ///   - destination: The descriptor to write to.
  ///   - sourceOffset: Where to start reading; nil for the file position (must be nil
  ///     for a pipe).
  ///   - destinationOffset: Where to start writing; nil for the file position (must be
  ///     nil for a pipe or socket).
  ///   - count: How much to move.
  ///   - options: How to splice when an end is a pipe (below); empty by default.
  /// - Returns: `.complete`, `.sourceEndedEarly` (the input ended before `count`), or
  ///   `.wouldBlock` (a non-blocking end would block). Through an intermediate pipe, bytes
  ///   already pulled into it when the destination would block are given back to a
  ///   seekable source (drained, offset rewound: read again next time) and `.wouldBlock`
  ///   returned at once; only a non-seekable source (a socket), whose bytes cannot be
  ///   read twice, waits (poll) until the destination took them. None are ever lost.
  /// - Throws: `TransferFailure` with the progress so far and `.invalidArgument` (a file
  ///   that does not support splice), `.illegalSeek` (an offset for a pipe),
  ///   `.brokenPipe`, `.connectionReset`, `.noSpace`, `.fileTooLarge`,
  ///   `.badFileDescriptor`, or a pipe-creation error (`.tooManyOpenFiles`...).
  ///
  /// `options` (both for a transfer with a pipe end, spliced directly):
  /// - ``SpliceAllOptions/direct``: the caller knows that an end is a pipe, so no
  ///   `fstat` of each end is made to find out (two system calls per call saved). If
  ///   neither end is a pipe the kernel refuses: `.invalidArgument`, nothing moved.
  /// - ``SpliceAllOptions/nonBlocking``: every call passes `SPLICE_F_NONBLOCK`, so a pipe
  ///   end that would wait (full, or empty with a writer) returns `.wouldBlock` with the
  ///   exact progress even when its description is blocking. The other end is not
  ///   affected (a file read may still wait for the device; a socket follows its own
  ///   `O_NONBLOCK`). `.invalidArgument` when neither end is a pipe.
  ///
  /// The corresponding C function is `zc_splice_all_flags` (`zc_splice_all` when
  /// `options` is empty; system call `splice`).
  public func spliceAll(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: TransferCount, options: SpliceAllOptions = []
  ) throws(TransferFailure) -> TransferResult {
    try spliceAll(
      to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
      count: count, pipeFDs: nil, flags: options.rawValue, function: #function)
  }

  /// Moves `count` bytes from this descriptor to `destination` with `splice(2)`, going
  /// through `pipe` when neither end is a pipe.
  ///
  /// Identical to `spliceAll(to:sourceOffset:destinationOffset:count:)` but reuses the
  /// caller's pipe (for example one from a pool, sized with `Pipe.setCapacity(_:)`:
  /// each leg moves at most the pipe's capacity). The pipe must be empty; it is empty
  /// again when this returns or throws.
  ///
  /// - Throws: `TransferFailure`, as the other overload, plus `.resourceBusy` if `pipe`
  ///   is not empty.
  ///
  /// The corresponding C function is `zc_splice_all` (system call `splice`).
  public func spliceAll(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: TransferCount, through pipe: borrowing Pipe
  ) throws(TransferFailure) -> TransferResult {
    try spliceAll(
      to: destination, sourceOffset: sourceOffset, destinationOffset: destinationOffset,
      count: count, pipeFDs: (pipe.readEnd.rawValue, pipe.writeEnd.rawValue), flags: 0,
      function: #function)
  }

  private func spliceAll(
    to destination: FileDescriptor, sourceOffset: Int64?, destinationOffset: Int64?,
    count: TransferCount, pipeFDs: (CInt, CInt)?, flags: UInt32, function: StaticString
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(sourceOffset, "sourceOffset", function)
    checkOffset(destinationOffset, "destinationOffset", function)
    return try withOptionalOffsets(sourceOffset, destinationOffset) {
      inOff, outOff throws(TransferFailure) in
      try runTransfer { progress in
        guard let pipeFDs else {
          return system_splice_all(
            self.rawValue, inOff, destination.rawValue, outOff, count.rawValue, nil, flags, progress)
        }
        var fds = pipeFDs
        return withUnsafeBytes(of: &fds) { raw in
          system_splice_all(
            self.rawValue, inOff, destination.rawValue, outOff, count.rawValue,
            raw.baseAddress!.assumingMemoryBound(to: CInt.self), flags, progress)
        }
      }
    }
  }

  /// Copies `count` bytes (or everything up to the end of file) from this file to the
  /// file `destination` with `copy_file_range(2)`, looping over short counts.
  ///
  /// A fallback strategy should treat `.sourceEndedEarly` with `progress.bytes == 0`
  /// from a source known to be longer as "not supported here" (kernels 5.3–5.18 returned
  /// 0 for /proc files).
  ///
  /// - Parameters:
  ///   - destination: A file on the same filesystem.
  ///   - sourceOffset: Where to start reading; nil for this file's position.
  ///   - destinationOffset: Where to start writing; nil for `destination`'s position.
  ///   - count: How much to copy.
  /// - Returns: `.complete` or `.sourceEndedEarly`.
  /// - Throws: `TransferFailure` with the progress so far and `.improperLink` (`EXDEV`:
  ///   different filesystems), `.invalidArgument`, `.notSupported`, `.noFunction`,
  ///   `.noSpace`, `.fileTooLarge`, `.badFileDescriptor`...
  ///
  /// The corresponding C function is `zc_copy_file_range_all` (system call `copy_file_range`).
  public func copyFileRangeAll(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: TransferCount
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(sourceOffset, "sourceOffset", #function)
    checkOffset(destinationOffset, "destinationOffset", #function)
    return try withOptionalOffsets(sourceOffset, destinationOffset) {
      inOff, outOff throws(TransferFailure) in
      try runTransfer { progress in
        system_copy_file_range_all(
          self.rawValue, inOff, destination.rawValue, outOff, count.rawValue, progress)
      }
    }
  }

  /// Reads exactly `buffer.count` bytes into `buffer`, looping over short reads
  /// (`pread(2)` at `offset`, or `read(2)` at the file position when `offset` is nil).
  ///
  /// - Parameters:
  ///   - buffer: Where to put the bytes; filled from its start.
  ///   - offset: Where to read; nil to use and advance the file position (the only
  ///     choice for pipes and sockets).
  /// - Returns: `.complete`; `.sourceEndedEarly` when the end of file came first
  ///   (`progress.bytes` were read); `.wouldBlock` when a non-blocking descriptor had no
  ///   more bytes to read.
  /// - Throws: `TransferFailure` with the bytes read so far and `.illegalSeek` (an offset
  ///   on a pipe or socket), `.badFileDescriptor`, `.isDirectory`, `.ioError`...
  ///
  /// The corresponding C function is `zc_pread_all` (system calls `pread64`/`read`).
  public func readAll(
    into buffer: UnsafeMutableRawBufferPointer, at offset: Int64?
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(offset, "offset", #function)
    return try runTransfer { progress in
      system_pread_all(self.rawValue, buffer.baseAddress, buffer.count, offset ?? -1, progress)
    }
  }

  /// Writes all of `buffer`, looping over short writes (`pwrite(2)` at `offset`, or
  /// `write(2)` at the file position when `offset` is nil).
  ///
  /// - Parameters:
  ///   - buffer: The bytes to write.
  ///   - offset: Where to write; nil to use and advance the file position (the only
  ///     choice for pipes and sockets).
  /// - Returns: `.complete`, or `.wouldBlock` when a non-blocking destination is full
  ///   (`progress.bytes` were written).
  /// - Throws: `TransferFailure` with the bytes written so far and `.brokenPipe`,
  ///   `.connectionReset`, `.noSpace`, `.fileTooLarge`, `.illegalSeek`,
  ///   `.badFileDescriptor`, `.badAddress` (the buffer is a mapping whose file was
  ///   truncated)...
  ///
  /// The corresponding C function is `zc_pwrite_all` (system calls `pwrite64`/`write`).
  public func writeAll(
    _ buffer: UnsafeRawBufferPointer, at offset: Int64?
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(offset, "offset", #function)
    return try runTransfer { progress in
      system_pwrite_all(self.rawValue, buffer.baseAddress, buffer.count, offset ?? -1, progress)
    }
  }

  /// Copies `count` bytes (or everything up to the end of file) from this descriptor to
  /// `destination` the classic way: `read(2)` into `buffer`, then `write(2)` all of it,
  /// until done. Works between any two descriptors; the baseline every zero-copy path
  /// is measured against.
  ///
  /// - Parameters:
  ///   - destination: The descriptor to write to.
  ///   - sourceOffset: Where to start reading; nil for the file position.
  ///   - destinationOffset: Where to start writing; nil for the file position.
  ///   - count: How much to copy.
  ///   - buffer: Scratch memory for each read (for example an `AlignedBuffer`'s bytes);
  ///     its size is the largest read. - Precondition: `buffer.count > 0`.
  /// - Returns: `.complete`, `.sourceEndedEarly`, or `.wouldBlock` (a non-blocking
  ///   source has nothing to read, or a non-blocking destination was full: the unwritten
  ///   rest of a chunk is given back to a seekable source — offset rewound — and
  ///   `.wouldBlock` returned at once; a non-seekable source waits (poll) for the
  ///   destination instead, since its bytes cannot be read twice. None are lost).
  /// - Throws: `TransferFailure` with the progress so far and any `read`/`write` errno;
  ///   bytes read but not written are counted in `progress.discarded` (and given back to
  ///   a source read by file position, with `lseek`).
  ///
  /// The corresponding C function is `zc_read_write_all` (system calls `read`/`pread64`,
  /// `write`/`pwrite64`).
  public func readWriteCopy(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: TransferCount,
    buffer: UnsafeMutableRawBufferPointer
  ) throws(TransferFailure) -> TransferResult {
    precondition(buffer.count > 0, "readWriteCopy: the scratch buffer must not be empty")
    return try readWriteAll(
      to: destination, sourceOffset, destinationOffset, count, buffer.baseAddress, buffer.count, #function)
  }

  /// `zc_read_write_all` through `buffer` (`length` bytes of it), or through `length` bytes
  /// of the C function's own stack buffer when `buffer` is nil.
  private func readWriteAll(
    to destination: FileDescriptor, _ sourceOffset: Int64?, _ destinationOffset: Int64?, _ count: TransferCount,
    _ buffer: UnsafeMutableRawPointer?, _ length: Int, _ caller: StaticString
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(sourceOffset, "sourceOffset", caller)
    checkOffset(destinationOffset, "destinationOffset", caller)
    return try withOptionalOffsets(sourceOffset, destinationOffset) {
      inOff, outOff throws(TransferFailure) in
      try runTransfer { progress in
        system_read_write_all(self.rawValue, inOff, destination.rawValue, outOff, count.rawValue, buffer, length, progress)
      }
    }
  }

  /// The largest `stackBufferSize` of
  /// ``readWriteCopy(to:sourceOffset:destinationOffset:count:stackBufferSize:)``: 16 KiB
  /// (`ZC_RW_STACK_BUFFER_MAX`).
  public static let readWriteStackBufferLimit = Int(ZC_RW_STACK_BUFFER_MAX)

  /// Copies like ``readWriteCopy(to:sourceOffset:destinationOffset:count:buffer:)``
  /// through a buffer on the C function's own stack instead of one the caller provides:
  /// no allocation, for small copies (it takes 16 KiB of the calling thread's stack).
  ///
  /// Swift cannot promise the same itself here: on Linux `withUnsafeTemporaryAllocation`
  /// puts anything larger than 1 KiB on the heap (the runtime's
  /// `swift_stdlib_isStackAllocationSafe` answers no).
  ///
  /// - Parameters:
  ///   - destination: The descriptor to write to.
  ///   - sourceOffset: Where to start reading; nil for the file position.
  ///   - destinationOffset: Where to start writing; nil for the file position.
  ///   - count: How much to copy.
  ///   - stackBufferSize: The largest read, in bytes. - Precondition: `1...`
  ///     ``readWriteStackBufferLimit``.
  /// - Returns: As the buffer variant.
  /// - Throws: As the buffer variant.
  ///
  /// The corresponding C call is `zc_read_write_all` with a NULL buffer (system calls
  /// `read`/`pread64`, `write`/`pwrite64`).
  public func readWriteCopy(
    to destination: FileDescriptor, sourceOffset: Int64? = nil,
    destinationOffset: Int64? = nil, count: TransferCount,
    stackBufferSize: Int
  ) throws(TransferFailure) -> TransferResult {
    precondition(
      stackBufferSize > 0 && stackBufferSize <= FileDescriptor.readWriteStackBufferLimit,
      "readWriteCopy: stackBufferSize must be 1...\(FileDescriptor.readWriteStackBufferLimit)")
    return try readWriteAll(to: destination, sourceOffset, destinationOffset, count, nil, stackBufferSize, #function)
  }

  /// Writes `range` of `region` (all of it by default) to this descriptor without
  /// touching the mapped pages in user space, so a file truncated under the mapping
  /// gives an error, never SIGBUS.
  ///
  /// - Parameters:
  ///   - region: The mapping to write from.
  ///   - range: Byte offsets within the region; nil for all of it.
  ///     - Precondition: `range` lies within `0..<region.count`.
  ///   - offset: Where to write; nil to use and advance the file position.
  /// - Returns: `.complete`, or `.wouldBlock` (a non-blocking destination is full).
  /// - Throws: `TransferFailure` with the bytes written so far and `.badAddress` (the
  ///   mapped file was truncated: the kernel wrote up to the end of the remaining data,
  ///   then failed), `.brokenPipe`, `.noSpace`, `.fileTooLarge`...
  ///
  /// The corresponding C function is `zc_write_from_mapping` (system calls `pwrite64`/`write`).
  public func writeAll(
    fromMapping region: borrowing MappedRegion, range: Range<Int>? = nil, at offset: Int64?
  ) throws(TransferFailure) -> TransferResult {
    checkOffset(offset, "offset", #function)
    let range = range ?? 0..<region.count
    region.checkRange(range, #function)
    let source = region.address(at: range.lowerBound)
    return try runTransfer { progress in
      system_write_from_mapping(self.rawValue, source, range.count, offset ?? -1, progress)
    }
  }
}

/// Options of `FileDescriptor.spliceAll(to:sourceOffset:destinationOffset:count:options:)`
/// (the `flags` of `zc_splice_all_flags`). Both describe a splice with a pipe end.
public struct SpliceAllOptions: OptionSet, Sendable, Hashable {
  /// The C flag bits (`ZC_SPLICE_ALL_*`).
  public let rawValue: UInt32

  /// Options from C flag bits (`ZC_SPLICE_ALL_*`); unknown bits make the call fail with
  /// `.invalidArgument`.
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// An end is known to be a pipe: splice directly, without the `fstat` of each end the
  /// helper otherwise makes on every call (`ZC_SPLICE_ALL_DIRECT`).
  public static let direct = SpliceAllOptions(rawValue: ZC_SPLICE_ALL_DIRECT)

  /// `SPLICE_F_NONBLOCK` on every call: a pipe end that would wait answers `.wouldBlock`,
  /// whether or not its description is `O_NONBLOCK` (`ZC_SPLICE_ALL_NONBLOCK`).
  public static let nonBlocking = SpliceAllOptions(rawValue: ZC_SPLICE_ALL_NONBLOCK)
}
