// The built-in strategies that are one family of system calls each: read/write,
// mmap+write, sendfile, splice, copy_file_range, and FICLONERANGE reflinks.

import Glibc
import LinuxIO
import SystemPackage

// MARK: - read/write

/// `read(2)` into a buffer, `write(2)` it out: works between any two descriptors, and is
/// the baseline every zero-copy strategy is measured against. Data crosses into user
/// space and back (two CPU copies).
public struct ReadWriteStrategy: TransferStrategy {
  /// The largest read; the buffer is this size, or smaller for a smaller transfer.
  public let bufferSize: Int

  /// A read/write strategy with a `bufferSize`-byte buffer (128 KiB by default).
  ///
  /// - Precondition: `bufferSize > 0`.
  public init(bufferSize: Int = 128 << 10) {
    precondition(bufferSize > 0, "ReadWriteStrategy: bufferSize must be positive")
    self.bufferSize = bufferSize
  }

  /// `"readWrite"`.
  public var name: String { "readWrite" }

  /// One line for `zc strategies`.
  public var summary: String {
    "read(2) into a \(bufferSize >> 10) KiB buffer, write(2) it out; any source and destination (the baseline: two CPU copies)"
  }

  /// Supported between any two descriptors except directories.
  public func support(for pair: EndpointPair) -> StrategySupport {
    if pair.source.kind == .directory || pair.destination.kind == .directory {
      return .unsupported("a directory is not a byte stream")
    }
    return .supported
  }

  /// Copies chunk by chunk with `readWriteCopy` (`zc_read_write_all`: `pread`/`read`,
  /// `pwrite`/`write`).
  ///
  /// - Throws: ``ZeroCopyError`` naming `read` or `write` (or `read/write` when the errno
  ///   does not tell), with the bytes delivered; `ENOMEM` if the buffer cannot be allocated.
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    let expected = context.remainingBytes ?? context.source.size.map { $0 - (context.sourceOffset ?? 0) }
    let size = Swift.min(bufferSize, Swift.max(4096, Int(clamping: expected ?? Int64(bufferSize))))
    if size <= FileDescriptor.readWriteStackBufferLimit {
      // A small transfer's buffer on the C loop's stack: no allocation per call.
      // (`withUnsafeTemporaryAllocation` would allocate: on Linux it puts anything
      // larger than 1 KiB on the heap.)
      return try copy(&context) { (chunk) throws(TransferFailure) in
        try chunk.source.readWriteCopy(
          to: chunk.destination, sourceOffset: chunk.sourceOffset, destinationOffset: chunk.destinationOffset,
          count: .bytes(chunk.count), stackBufferSize: size)
      }
    }
    var buffer: AlignedBuffer
    do {
      buffer = try AlignedBuffer(count: size, zeroed: false)
    } catch {
      throw context.error(syscall: "posix_memalign", errno: error, message: "cannot allocate the copy buffer")
    }
    return try buffer.withUnsafeMutableBytes { (scratch) throws(ZeroCopyError) -> StrategyOutcome in
      try copy(&context) { (chunk) throws(TransferFailure) in
        try chunk.source.readWriteCopy(
          to: chunk.destination, sourceOffset: chunk.sourceOffset, destinationOffset: chunk.destinationOffset,
          count: .bytes(chunk.count), buffer: scratch)
      }
    }
  }

  /// The copy loop: `move` copies one chunk.
  private func copy(
    _ context: inout TransferContext,
    _ move: (TransferContext.Chunk) throws(TransferFailure) -> TransferResult
  ) throws(ZeroCopyError) -> StrategyOutcome {
    do {
      return try context.transferChunks(syscall: "read/write", move)
    } catch var error {
      error.syscall = readWriteSyscall(for: error)
      throw error
    }
  }

  private func readWriteSyscall(for error: ZeroCopyError) -> String {
    if error.message?.contains("were not delivered") == true { return "write" }
    switch error.errno.rawValue {
    case EPIPE, ECONNRESET, ENOSPC, EFBIG, EDQUOT, EROFS: return "write"
    case EISDIR: return "read"
    default: return error.syscall
    }
  }
}

// MARK: - mmap + write

/// Maps the source in windows of ``TransferContext/chunkSize`` bytes (`mmap`) and writes
/// each window to the destination (`write` straight from the mapping, so a file
/// truncated meanwhile makes the kernel answer `EFAULT`, never SIGBUS; the strategy then
/// ends at the file's new end with ``StrategyOutcome/sourceEnded``). One CPU copy; page-table setup and
/// teardown per window make it slow for small transfers (11.8 µs for 4 KiB vs 1.9 µs
/// for read/write, Docs/LinuxFacts.md).
public struct MmapWriteStrategy: TransferStrategy {
  /// A mmap+write strategy.
  public init() {}

  /// `"mmapWrite"`.
  public var name: String { "mmapWrite" }

  /// One line for `zc strategies`.
  public var summary: String {
    "mmap(2) the source in 8 MiB windows, write(2) each from the mapping; regular-file sources (one CPU copy)"
  }

  /// Supported from regular files and block devices to anything but a directory.
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.isMappable else { return .unsupported("the source must be a regular file or block device (mmap)") }
    if pair.destination.kind == .directory { return .unsupported("a directory is not a byte stream") }
    return .supported
  }

  /// Maps and writes window by window.
  ///
  /// - Returns: ``StrategyOutcome/sourceEnded`` also when the source was truncated under
  ///   the mapping (by another process): every byte before its new end is delivered and
  ///   counted, and the report notes it.
  /// - Throws: ``ZeroCopyError`` with syscall `mmap` (`ENODEV`, `ENOMEM`…) or `write`
  ///   (`EPIPE`, `ENOSPC`…; `EFAULT` only if the mapping faulted although the file did not
  ///   shrink).
  ///
  /// The corresponding C functions are `zc_map`/`zc_unmap` (`mmap`/`munmap`) and
  /// `zc_write_from_mapping` (`pwrite`/`write`).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    var knownSize = try sourceSize(context)
    while true {
      try context.checkCancellation()
      guard let want = context.nextChunk() else { return .complete }
      let offset = context.sourceOffset ?? 0
      if knownSize <= offset {
        knownSize = try sourceSize(context)  // it may have grown
        if knownSize <= offset { return .sourceEnded }
      }
      let length = Int(Swift.min(Int64(want), knownSize - offset))
      try context.prefetchSource(length)  // the write faults the pages in: from memory, not the device
      let region: MappedRegion
      do {
        region = try MappedRegion(file: context.source.descriptor, range: offset..<(offset + Int64(length)))
      } catch {
        throw context.error(syscall: "mmap", errno: error)
      }
      context.recordSyscalls(2)  // mmap + the munmap at the end of this iteration
      let result: TransferResult
      do {
        result = try context.destination.descriptor.writeAll(fromMapping: region, at: context.destinationOffset)
      } catch {
        context.record(error.progress)
        // EFAULT: the mapping's pages past the file's new end are gone — the source was
        // truncated (by another process) under the mapping. Like every other strategy,
        // report it as the source ending early, with the exact bytes delivered.
        // (A write that faults part-way may stop a little before the new end: map what
        // is left of the shorter file and go on.)
        if error.errno == .badAddress, let now = try? sourceSize(context), now < offset + Int64(length) {
          knownSize = now
          if now <= context.sourceOffset ?? 0 {
            context.note("mmapWrite: the source was truncated under the mapping (now \(now) bytes)")
            return .sourceEnded
          }
          continue
        }
        throw context.error(
          syscall: "write", errno: error.errno,
          message: error.errno == .badAddress ? "the source was truncated under the mapping" : nil)
      }
      context.record(result.progress)
      if result.outcome == .wouldBlock { try context.waitUntilReady() }
    }
  }

  private func sourceSize(_ context: TransferContext) throws(ZeroCopyError) -> Int64 {
    if context.source.kind == .blockDevice {
      do {
        return try context.source.descriptor.blockDeviceSize()
      } catch {
        throw context.error(syscall: "ioctl(BLKGETSIZE64)", errno: error)
      }
    }
    do {
      return Int64(try context.source.descriptor.status().rawValue.st_size)
    } catch {
      throw context.error(syscall: "fstat", errno: error)
    }
  }
}

// MARK: - sendfile

/// `sendfile(2)`: the kernel moves pages from the source file to the destination without
/// a trip through user space. One syscall per chunk; the least sender CPU to a socket
/// after splice (0.10 vs 0.28 s/GB for read/write, Docs/LinuxFacts.md).
public struct SendfileStrategy: TransferStrategy {
  /// A sendfile strategy.
  public init() {}

  /// `"sendfile"`.
  public var name: String { "sendfile" }

  /// One line for `zc strategies`.
  public var summary: String {
    "sendfile(2): file pages straight to any destination (file, socket, pipe); regular-file sources"
  }

  /// Supported from regular files and block devices to anything but a directory or an
  /// `O_APPEND` file (the kernel answers `EINVAL`).
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.isMappable else {
      return .unsupported("the source must be a regular file or block device (EINVAL for pipes, sockets, /proc)")
    }
    if pair.destination.kind == .directory { return .unsupported("a directory is not a byte stream") }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination (the kernel answers EINVAL)") }
    return .supported
  }

  /// Sends chunk by chunk with `sendfileAll` (`zc_sendfile_all`). sendfile has no
  /// destination offset: a file destination is positioned with `lseek` first, and its
  /// previous position restored afterwards — unless the transfer writes at the file's
  /// position anyway (a request without a destination offset), where sendfile writes
  /// and advances it itself: no `lseek` here.
  ///
  /// - Throws: ``ZeroCopyError`` with syscall `sendfile` (`EINVAL`, `EPIPE`, `ENOSPC`…) or `lseek`.
  ///
  /// The corresponding C function is `zc_sendfile_all` (system call `sendfile`).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    let destination = context.destination.descriptor
    var savedPosition: Int64? = nil
    if let offset = context.destinationOffset, context.destination.isSeekable, !context.destinationIsAtPosition {
      do {
        let current = try destination.position()
        context.recordSyscalls(1)
        // Already there (a new file, a rewound one): no second lseek.
        if current != offset {
          try destination.setPosition(offset)
          context.recordSyscalls(1)
        }
        savedPosition = current
      } catch {
        throw context.error(syscall: "lseek", errno: error)
      }
    }
    defer {
      if let savedPosition { try? destination.setPosition(savedPosition) }
    }
    let outcome = try context.transferChunks(syscall: "sendfile") { (chunk) throws(TransferFailure) in
      try chunk.source.sendfileAll(to: chunk.destination, sourceOffset: chunk.sourceOffset, count: .bytes(chunk.count))
    }
    if savedPosition != nil { context.recordSyscalls(1) }
    return outcome
  }
}

// MARK: - splice

/// `splice(2)`: pages move source → pipe → destination inside the kernel. Direct when
/// either end is a pipe; otherwise through a pipe from ``PipePool/shared`` (1 MiB, so one
/// pair of calls moves up to 1 MiB). The least sender CPU to a socket (0.08 s/GB, Docs/LinuxFacts.md).
public struct SpliceStrategy: TransferStrategy {
  /// The pool the intermediate pipes come from.
  public let pool: PipePool

  /// A splice strategy drawing its intermediate pipes from `pool`.
  public init(pool: PipePool = .shared) {
    self.pool = pool
  }

  /// `"splice"`.
  public var name: String { "splice" }

  /// One line for `zc strategies`.
  public var summary: String {
    "splice(2) through a pooled \(pool.capacity >> 10) KiB pipe (direct when an end is a pipe); files, pipes and sockets"
  }

  /// Supported between files, pipes and sockets, except into an `O_APPEND` file.
  public func support(for pair: EndpointPair) -> StrategySupport {
    // Plain comparisons, not a Set built per call (an async transfer asks per transfer).
    let source = pair.source.kind
    let destination = pair.destination.kind
    if source == .directory || source == .other || destination == .directory || destination == .other {
      return .unsupported("splice needs files, pipes or sockets")
    }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination (the kernel answers EINVAL)") }
    return .supported
  }

  /// Splices chunk by chunk with `spliceAll` (`zc_splice_all`), through a pooled pipe
  /// when neither end is one. With a pipe end the helper is told so
  /// (`SpliceAllOptions.direct`: no `fstat` of the ends per call), and an async
  /// transfer's attempt on the caller's thread passes `SPLICE_F_NONBLOCK` on every call
  /// (`SpliceAllOptions.nonBlocking`) so that it stops where the pipe's peer would make
  /// it wait, through the caller's own (blocking) description.
  ///
  /// - Throws: ``ZeroCopyError`` with syscall `splice` (`EINVAL` for files without splice
  ///   support, `EPIPE`, `ENOSPC`…; bytes pulled into the pipe but not delivered are
  ///   dropped and not counted) or `pipe2`.
  ///
  /// The corresponding C function is `zc_splice_all_flags` (`zc_splice_all` through a
  /// pooled pipe; system call `splice`).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    if context.source.kind == .pipe || context.destination.kind == .pipe {
      let options: SpliceAllOptions =
        context.stopSignal?.perCallNonBlocking == true ? [.direct, .nonBlocking] : .direct
      return try context.transferChunks(syscall: "splice") { (chunk) throws(TransferFailure) in
        try chunk.source.spliceAll(
          to: chunk.destination, sourceOffset: chunk.sourceOffset, destinationOffset: chunk.destinationOffset,
          count: .bytes(chunk.count), options: options)
      }
    }
    return try pool.withSplicedPipe { (pipe) throws(ZeroCopyError) -> StrategyOutcome in
      try context.transferChunks(syscall: "splice") { (chunk) throws(TransferFailure) in
        try chunk.source.spliceAll(
          to: chunk.destination, sourceOffset: chunk.sourceOffset, destinationOffset: chunk.destinationOffset,
          count: .bytes(chunk.count), through: pipe)
      }
    }
  }
}

// MARK: - copy_file_range

/// `copy_file_range(2)`: the filesystem copies inside the kernel — a reflink on
/// filesystems that share extents (Btrfs, XFS), a server-side copy on NFS 4.2. Both files
/// must be on the same filesystem (`EXDEV` otherwise, on current kernels).
public struct CopyFileRangeStrategy: TransferStrategy {
  /// A copy_file_range strategy.
  public init() {}

  /// `"copyFileRange"`.
  public var name: String { "copyFileRange" }

  /// One line for `zc strategies`.
  public var summary: String {
    "copy_file_range(2): the filesystem copies (or reflinks) in the kernel; file to file on one filesystem"
  }

  /// Supported from files to regular files that are not `O_APPEND` (`EXDEV` between
  /// filesystems is left to the kernel, so the report shows the fallback).
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.isSeekable else { return .unsupported("the source must be a file") }
    guard pair.destination.kind == .file else { return .unsupported("the destination must be a regular file") }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination (the kernel answers EBADF)") }
    return .supported
  }

  /// Copies chunk by chunk with `copyFileRangeAll` (`zc_copy_file_range_all`).
  ///
  /// - Throws: ``ZeroCopyError`` with syscall `copy_file_range` (`EXDEV`, `EINVAL`,
  ///   `EOPNOTSUPP`, `ENOSPC`…).
  ///
  /// The corresponding C function is `zc_copy_file_range_all` (system call `copy_file_range`).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    // Reading ahead is for transfers above TransferContext.prefetchThreshold only: this
    // turns it off where copy_file_range may not read the data, and never on for a small
    // transfer (which would pay an fstatfs and two readiness probes per call).
    if context.prefetchesSource {
      context.prefetchesSource = CopyFileRangeStrategy.copiesThroughPageCache(context.source.descriptor)
    }
    return try context.transferChunks(syscall: "copy_file_range") { (chunk) throws(TransferFailure) in
      try chunk.source.copyFileRangeAll(
        to: chunk.destination, sourceOffset: chunk.sourceOffset, destinationOffset: chunk.destinationOffset,
        count: .bytes(chunk.count))
    }
  }
}

extension CopyFileRangeStrategy {
  /// Whether `copy_file_range` on `file`'s filesystem reads the data through the page cache
  /// (ext2/3/4, f2fs: they can neither share extents nor copy on a server), so that reading
  /// the source ahead costs nothing extra; elsewhere (Btrfs, XFS, NFS, SMB…) the copy may not
  /// read the data at all.
  ///
  /// The corresponding C function is `fstatfs` (LinuxIO's `fileSystemType()`).
  static func copiesThroughPageCache(_ file: FileDescriptor) -> Bool {
    let ext4: Int64 = 0xEF53
    let f2fs: Int64 = 0xF2F5_2010
    guard let type = try? file.fileSystemType() else { return false }
    return type == ext4 || type == f2fs
  }
}

// MARK: - reflink

/// `ioctl(FICLONERANGE)`: the destination shares the source's extents (copy-on-write), so
/// no data is copied at all. Only on filesystems with shared extents (Btrfs, XFS, OCFS2,
/// bcachefs), within one filesystem, with offsets and length aligned to its block size
/// (a length that reaches the source's end need not be). Elsewhere the kernel answers
/// `EOPNOTSUPP`, `EXDEV` or `EINVAL`, and `.automatic` falls back (ext4 and tmpfs here).
public struct ReflinkStrategy: TransferStrategy {
  /// A reflink strategy.
  public init() {}

  /// `"reflink"`.
  public var name: String { "reflink" }

  /// One line for `zc strategies`.
  public var summary: String {
    "ioctl(FICLONERANGE): share the source's extents, copying nothing; Btrfs/XFS, one filesystem, block-aligned"
  }

  /// Supported from regular files to regular files that are not `O_APPEND`.
  public func support(for pair: EndpointPair) -> StrategySupport {
    guard pair.source.kind == .file, pair.destination.kind == .file else {
      return .unsupported("both ends must be regular files")
    }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination") }
    return .supported
  }

  /// Clones the range with one `ioctl(FICLONERANGE)` (length 0, "to the end", for an
  /// "until the end" transfer; the bytes are then counted from the source's size).
  ///
  /// - Throws: ``ZeroCopyError`` with syscall `ioctl(FICLONERANGE)`: `EOPNOTSUPP` (the
  ///   filesystem cannot), `EXDEV`, `EINVAL` (misaligned, or past the source's end),
  ///   `ETXTBSY`, `EPERM`, `ENOSPC`.
  ///
  /// The corresponding C call is `ioctl(dest, FICLONERANGE, &file_clone_range)`.
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    try context.checkCancellation()
    guard let sourceOffset = context.sourceOffset, let destinationOffset = context.destinationOffset else {
      return .unsupported(reason: "reflink needs file offsets", errno: nil, syscall: nil)
    }
    let length = context.remainingBytes ?? 0  // 0: to the end of the source
    if context.isFinished { return .complete }
    context.recordSyscalls(1)
    do {
      try context.destination.descriptor.cloneRange(
        from: context.source.descriptor, sourceOffset: sourceOffset, length: length, at: destinationOffset)
    } catch {
      throw context.error(syscall: "ioctl(FICLONERANGE)", errno: error)
    }
    if length > 0 {
      context.record(bytes: length, syscalls: 0)
      return .complete
    }
    let size: Int64
    do {
      size = Int64(try context.source.descriptor.status().rawValue.st_size)
    } catch {
      throw context.error(syscall: "fstat", errno: error)
    }
    context.record(bytes: Swift.max(0, size - sourceOffset), syscalls: 0)
    return .sourceEnded
  }
}
