// `directIO`: a file-to-file copy with O_DIRECT on both ends — the data goes device →
// user buffer → device and never through the page cache, so a large copy does not evict
// everything else the machine had cached.

import Glibc
import LinuxIO
import SystemPackage

/// Copies between two regular files with `O_DIRECT` on both ends: aligned `pread`s into
/// one aligned buffer and aligned `pwrite`s out of it, so neither file's data enters the
/// page cache (no cache pollution — the point of this strategy — and no write-back
/// storm afterwards).
///
/// The caller's descriptors are not changed: each is opened again with `O_DIRECT`
/// (LinuxIO's `FileDescriptor.reopen(_:options:)`, `open("/proc/self/fd/N")`). The
/// alignment is the stricter of the two files' (statx `STATX_DIOALIGN`, else 4096), and
/// at least the page size. Unaligned pieces are handled without giving up:
/// - every source read covers the aligned blocks around the wanted bytes (a read past the
///   end of the file is short, as O_DIRECT allows), so the source is never read through
///   the page cache;
/// - a destination head before the first aligned offset and a tail shorter than one
///   block are written with ordinary `pwrite`s on the caller's descriptor, then flushed
///   (`fdatasync`) and dropped from the cache (`posix_fadvise(POSIX_FADV_DONTNEED)`), so
///   they leave no page behind either.
///
/// A filesystem that refuses `O_DIRECT` (`EINVAL` at open) makes the strategy
/// ``StrategyOutcome/unsupported(reason:errno:syscall:)`` before any byte moved, so
/// `.automatic` — or an explicitly chosen `directIO` with fallback allowed — moves on to
/// the next strategy. tmpfs accepts `O_DIRECT` (Linux 6.6+) but serves it from memory:
/// the copy works there, without the cache benefit.
///
/// **Overlapped through io_uring, with `depth` > 1.** When at least two whole chunks are
/// aligned at both ends, that middle part goes through a ring leased from the process's
/// pool of idle rings (reused by later copies; Docs/RingDriver.md) with `depth`
/// registered chunk buffers: every slot reads its chunk (`READ_FIXED`) and then writes it
/// (`WRITE_FIXED`), so up to `depth` chunks are on the device at once instead of one read,
/// then one write. When `RLIMIT_MEMLOCK` refuses the buffers, fewer are registered, and
/// when it refuses even one the ring uses them unregistered (`READ`/`WRITE`); without io_uring the report gets a note and every chunk
/// goes through `pread`/`pwrite`. The default is
/// `depth: 1` — no ring — because on this project's measuring machine (a VM whose disk
/// serves one request at a time) overlapping gained nothing and the io-wq hand-offs of
/// ext4's direct writes cost a quarter of the throughput (Docs/DirectIO.md); depth 4 is
/// for devices that serve reads and writes in parallel.
/// A short or failed request in the ring stops it; the synchronous loop then redoes the
/// rest from the last chunk written in order, and reports any error with the exact count.
///
/// The report's system-call count is the data path (each `pread`, `pwrite` and
/// `io_uring_enter`, plus the ring's `io_uring_setup` and `io_uring_register` when no
/// pooled ring fits), as
/// `strace` sees it; the two re-opens, two `statx`, the ring's `fstat`s, and a final `fdatasync` +
/// `posix_fadvise` (only when a head or tail went through the cache) are setup, not counted.
///
/// Not chosen by `.automatic`: a copy whose source is in the page cache is slower than
/// `copy_file_range`, because it reads from the device what the cache holds
/// (Docs/DirectIO.md has the measurements). Choose it for large copies of cold data that
/// should not push hot data out of the cache.
public struct DirectIOStrategy: TransferStrategy {
  /// The size of each read and write (rounded down to the alignment; 1 MiB by default).
  public let bufferSize: Int
  /// Chunks in flight at once through io_uring; 1 (the default) means one `pread` then
  /// one `pwrite` at a time, no ring. 4 registers 4 MiB with 1 MiB chunks, under an 8 MiB
  /// `RLIMIT_MEMLOCK`.
  public let depth: Int
  /// The rings it leases with `depth` > 1 (tests give it a pool of their own).
  internal var ringPool: RingPool = .shared

  /// A direct-I/O strategy moving `bufferSize` bytes per read and write, with up to
  /// `depth` chunks in flight through io_uring.
  ///
  /// - Precondition: `bufferSize >= 4096`, `1 <= depth <= 64`.
  public init(bufferSize: Int = 1 << 20, depth: Int = 1) {
    precondition(bufferSize >= 4096, "DirectIOStrategy: bufferSize must be at least 4096")
    precondition(depth >= 1 && depth <= 64, "DirectIOStrategy: depth must be in 1...64")
    self.bufferSize = bufferSize
    self.depth = depth
  }

  /// `"directIO"`.
  public var name: String { "directIO" }

  /// One line for `zc strategies`.
  public var summary: String {
    "O_DIRECT in \(bufferSize >> 10) KiB aligned chunks, "
      + (depth > 1 ? "\(depth) in flight through io_uring (else pread/pwrite)" : "pread then pwrite")
      + ", bypassing the page cache; file to file (no cache pollution)"
  }

  /// Supported between regular files (or block devices), except into an `O_APPEND` file.
  public func support(for pair: EndpointPair) -> StrategySupport {
    let kinds: Set<TransferEndpoint.Kind> = [.file, .blockDevice]
    guard kinds.contains(pair.source.kind), kinds.contains(pair.destination.kind) else {
      return .unsupported("O_DIRECT needs a regular file or block device at both ends")
    }
    if pair.destination.isAppendOnly { return .unsupported("O_APPEND destination (O_DIRECT needs aligned offsets)") }
    return .supported
  }

  /// Copies with O_DIRECT reads and writes (see the type's description).
  ///
  /// - Returns: ``StrategyOutcome/unsupported(reason:errno:syscall:)`` when either file
  ///   cannot be opened with `O_DIRECT` (or a stream offset is involved).
  /// - Throws: ``ZeroCopyError`` with syscall `pread(O_DIRECT)`, `pwrite(O_DIRECT)`,
  ///   `pwrite` (head or tail), `fdatasync`, `posix_memalign` or `io_uring_enter` (the
  ///   ring itself failed; its buffers are then leaked, never freed under the kernel), and the exact bytes
  ///   delivered (`ENOSPC`, `EIO`, `EFBIG`…).
  ///
  /// The corresponding C functions are `zc_reopen` (`open("/proc/self/fd/N", O_DIRECT)`),
  /// `zc_dio_alignment_query` (`statx`), liburing's `io_uring_prep_read_fixed` /
  /// `io_uring_prep_write_fixed` / `io_uring_submit_and_wait`, `pread`, `pwrite`,
  /// `fdatasync` and `posix_fadvise`.
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    // A write past RLIMIT_FSIZE raises SIGXFSZ: block it in this thread so the write
    // fails with EFBIG instead of killing the process (found by the fault suite).
    try withSignalGuard { () throws(ZeroCopyError) -> StrategyOutcome in
      try guardedTransfer(&context)
    }
  }

  private func guardedTransfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    guard context.sourceOffset != nil, context.destinationOffset != nil else {
      return .unsupported(reason: "O_DIRECT needs explicit offsets", errno: nil, syscall: nil)
    }
    if context.remainingBytes == 0 { return .complete }

    // Open both files again with O_DIRECT.
    let source: FileDescriptor
    do {
      source = try context.source.descriptor.reopen(.readOnly, options: .direct)
    } catch {
      return .unsupported(reason: "the source cannot be opened with O_DIRECT (\(error))", errno: error, syscall: "open(O_DIRECT)")
    }
    defer { try? source.close() }
    let destination: FileDescriptor
    do {
      destination = try context.destination.descriptor.reopen(.writeOnly, options: .direct)
    } catch {
      return .unsupported(
        reason: "the destination cannot be opened with O_DIRECT (\(error))", errno: error, syscall: "open(O_DIRECT)")
    }
    defer { try? destination.close() }
    let queried: DirectIOAlignment
    do {
      queried = try source.directIOAlignment().combined(with: destination.directIOAlignment())
    } catch {
      return .unsupported(reason: "statx failed (\(error))", errno: error, syscall: "statx")
    }
    let page = AlignedBuffer.pageSize
    let alignment = DirectIOAlignment(
      memory: Swift.max(queried.memory, page), offset: Swift.max(queried.offset, page), isReported: queried.isReported)
    let block = alignment.offset
    let chunk = Swift.max(block, bufferSize & ~(block - 1))

    var buffer: AlignedBuffer
    do {
      buffer = try AlignedBuffer(count: chunk + block, directIO: alignment, zeroed: false)
    } catch {
      throw context.error(syscall: "posix_memalign", errno: error, message: "cannot allocate the O_DIRECT buffer")
    }
    let startDestination = context.destinationOffset!
    var bufferedWrites = false
    var abandoned = false  // the caller returned (TransferContext.abandonableWait): touch none of its descriptors
    defer {
      if bufferedWrites && !abandoned {
        // Best effort on the error path; the success path flushes below and reports errors.
        try? context.destination.descriptor.adviseDontNeed(
          offset: startDestination, length: context.destinationOffset! - startDestination)
      }
    }

    var outcome = StrategyOutcome.complete
    var ringTried = depth == 1
    copying: while true {
      try context.checkCancellation()
      guard let want = context.nextChunk(limit: chunk) else { break }
      let sourceOffset = context.sourceOffset!
      let destinationOffset = context.destinationOffset!
      // Up to the next aligned destination offset first (a head written through the cache).
      let headGap = Int(alignment.roundUp(destinationOffset) - destinationOffset)
      let n = headGap > 0 ? Swift.min(want, headGap) : want
      let shift = Int(sourceOffset - alignment.roundDown(sourceOffset))

      // Both ends aligned: the whole blocks that exist now go through the ring, once.
      if !ringTried && headGap == 0 && shift == 0 {
        ringTried = true
        if let status = try? source.status() {
          let available = Int64(status.rawValue.st_size) - sourceOffset
          let length = Swift.min(context.remainingBytes ?? available, available) & ~Int64(block - 1)
          if length >= 2 * Int64(chunk) {
            let result = try runDirectIORing(
              &context, source: source, destination: destination, length: length, chunk: chunk, depth: depth,
              alignment: alignment, pool: ringPool)
            switch result {
            case .unavailable(let reason):
              context.note("directIO: no io_uring (\(reason)); one pread then one pwrite at a time")
            case .ran(let bytes, let slots, let registered, let stoppedEarly):
              context.note(
                "directIO: \(bytes) bytes through io_uring, up to \(slots) chunks of \(chunk >> 10) KiB in flight"
                  + (registered ? "" : " (buffers not registered: RLIMIT_MEMLOCK)")
                  + (stoppedEarly ? "; the rest one chunk at a time" : ""))
            }
            continue copying
          }
        }
      }

      // Read the aligned blocks that cover [sourceOffset, sourceOffset + n).
      let readLength = Int(alignment.roundUp(Int64(shift + n)))
      let got: Int
      // The device serves an O_DIRECT read however long it takes, uninterruptibly: a
      // cancelled async transfer need not wait for it (it delivers nothing; the buffer is
      // this function's and outlives it).
      let read = context.abandonableWait { [buffer = buffer.unsafeBaseAddress] () -> Result<Int, DirectIOError> in
        Result { () throws(DirectIOError) in
          try source.directRead(
            into: UnsafeMutableRawBufferPointer(start: buffer, count: readLength), at: sourceOffset - Int64(shift),
            alignment: alignment)
        }
      }
      if read.abandoned {
        abandoned = true
        try context.checkCancellation()
      }
      switch read.result {
      case .success(let n): got = n
      case .failure(let error):
        context.recordSyscalls(1)
        throw context.error(
          syscall: "pread(O_DIRECT)", errno: error.errno, message: error.misaligned == nil ? nil : error.message)
      }
      context.recordSyscalls(1)
      let data = Swift.min(Swift.max(0, got - shift), n)
      if data == 0 {
        outcome = .sourceEnded
        break copying
      }
      if shift > 0 { memmove(buffer.unsafeBaseAddress, buffer.unsafeBaseAddress + shift, data) }

      // The aligned part with O_DIRECT, the rest (head or tail) through the cache.
      var written = 0
      if destinationOffset % Int64(block) == 0 && data >= block {
        let directPart = data & ~(block - 1)
        while written < directPart {
          let w: Int
          do {
            w = try destination.directWrite(
              UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + written, count: directPart - written),
              at: destinationOffset + Int64(written), alignment: alignment)
          } catch {
            context.recordSyscalls(1)
            throw context.error(
              syscall: "pwrite(O_DIRECT)", errno: error.errno, message: error.misaligned == nil ? nil : error.message)
          }
          context.record(bytes: Int64(w), syscalls: 1)
          written += w
          // A short direct write (a nearly full filesystem) may end unaligned: finish the
          // chunk through the cache, which reports the error with the exact count.
          if w == 0 || written % block != 0 { break }
        }
      }
      if written < data {
        bufferedWrites = true
        let rest = UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + written, count: data - written)
        do {
          let result = try context.destination.descriptor.writeAll(rest, at: destinationOffset + Int64(written))
          context.record(result.progress)
        } catch {
          context.record(error.progress)
          throw context.error(syscall: "pwrite", errno: error.errno)
        }
      }
      // A short read is the end of the file for now: the next read (at an unaligned
      // offset, which the shift handles) returns 0, or more if the file grew.
    }

    if bufferedWrites {
      // Write the cached head/tail pages back and drop them, so the copy leaves nothing
      // in the page cache (the deferred posix_fadvise runs after this).
      do {
        try context.destination.descriptor.synchronize(dataOnly: true)
      } catch {
        throw context.error(syscall: "fdatasync", errno: error)
      }
    }
    return outcome
  }
}

extension TransferStrategy where Self == DirectIOStrategy {
  /// `O_DIRECT` pread/pwrite, bypassing the page cache (``DirectIOStrategy``).
  public static var directIO: DirectIOStrategy { DirectIOStrategy() }
  /// `O_DIRECT` in `bufferSize`-byte chunks, `depth` of them in flight through io_uring
  /// (``DirectIOStrategy``).
  public static func directIO(bufferSize: Int, depth: Int = 1) -> DirectIOStrategy {
    DirectIOStrategy(bufferSize: bufferSize, depth: depth)
  }
}
