// Reading a file as an AsyncSequence of chunks, with read-ahead and back-pressure.

import LinuxIO
import SystemPackage

extension AsyncFile {
  /// The file's bytes as an `AsyncSequence` of chunks, read ahead.
  ///
  /// ```swift
  /// import ZeroCopy
  ///
  /// let file = try await AsyncFile.open("data.bin")
  /// var checksum: UInt64 = 0
  /// for try await chunk in file.chunks() {
  ///   chunk.withUnsafeBytes { bytes in checksum = bytes.reduce(checksum) { $0 &+ UInt64($1) } }
  /// }
  /// try await file.close()
  /// ```
  ///
  /// - Parameters:
  ///   - range: The bytes to read; `nil` (default) reads from offset 0 to the end of the
  ///     file (for a pipe or device: from the current position until end of input).
  ///   - chunkSize: Bytes per read. Default ``FileChunks/defaultChunkSize``.
  ///   - readAhead: Reads kept in flight ahead of the consumer (at least 1). Default
  ///     ``FileChunks/defaultReadAhead``. Pipes and devices always read one at a time.
  /// - Returns: A sequence; iterating it starts the reads.
  public func chunks(
    in range: Range<Int64>? = nil, chunkSize: Int = FileChunks.defaultChunkSize,
    readAhead: Int = FileChunks.defaultReadAhead
  ) -> FileChunks {
    FileChunks(file: self, range: range, chunkSize: chunkSize, readAhead: readAhead)
  }
}

/// A file's bytes as an `AsyncSequence` of ``FileChunk``s, read ahead with
/// `readAhead` reads in flight (``AsyncFile/chunks(in:chunkSize:readAhead:)``).
///
/// **Back-pressure.** Reads are issued only as the consumer asks for chunks: at most
/// `readAhead` are in flight, plus the chunk the consumer holds. A slow consumer slows the
/// reads; nothing is buffered beyond that.
///
/// **No per-chunk allocation.** Buffers are recycled: when the consumer asks for the next
/// chunk and no longer references the previous one, its buffer (and the chunk object) is
/// reused for a later read. A chunk the consumer keeps stays valid — it is simply not
/// reused, and a new buffer is allocated in its place.
///
/// **Errors.** Iteration throws ``ZeroCopyError`` (operation ``ZeroCopyError/Operation/readChunks``,
/// with the offset of the failed read); cancelling the consuming task ends it with
/// `ECANCELED`. Abandoning the iterator cancels its reads in flight; their buffers are
/// freed after the kernel's final completions.
///
/// The corresponding io_uring opcode is `IORING_OP_READ`; the thread-pool engine calls `pread64`.
public struct FileChunks: AsyncSequence, Sendable {
  /// The element: one chunk.
  public typealias Element = FileChunk
  /// Iteration throws ``ZeroCopyError``.
  public typealias Failure = ZeroCopyError

  /// The default chunk size: 1 MiB. Measured on a page-cached 1 GiB file (2 vCPUs), with
  /// 4 reads in flight: 0.95–1.0× a synchronous 128 KiB `pread` loop when the consumer runs
  /// on the global executor, 1.05–1.1× when it runs on the engine's executor. Smaller
  /// chunks cost more per byte when the consumer is on another thread than the ring (a
  /// hand-off per chunk): 256 KiB reached 0.75×, 128 KiB 0.55×.
  public static let defaultChunkSize = 1 << 20
  /// The default number of reads in flight: 4.
  public static let defaultReadAhead = 4

  /// The file.
  public let file: AsyncFile
  /// The byte range, or `nil` for "to the end".
  public let range: Range<Int64>?
  /// Bytes per read.
  public let chunkSize: Int
  /// Reads in flight.
  public let readAhead: Int

  /// Creates the sequence (see ``AsyncFile/chunks(in:chunkSize:readAhead:)``).
  ///
  /// - Precondition: `chunkSize > 0`, `readAhead > 0`, `range` not negative.
  public init(file: AsyncFile, range: Range<Int64>?, chunkSize: Int, readAhead: Int) {
    precondition(chunkSize > 0, "FileChunks: chunkSize must be positive (got \(chunkSize))")
    precondition(readAhead > 0, "FileChunks: readAhead must be positive (got \(readAhead))")
    if let range { precondition(range.lowerBound >= 0, "FileChunks: range must not be negative (got \(range))") }
    self.file = file
    self.range = range
    self.chunkSize = chunkSize
    self.readAhead = readAhead
  }

  /// Starts reading.
  public func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(reader: ChunkReader(self))
  }

  /// The iterator. Use it from one task at a time, as `AsyncIteratorProtocol` requires.
  public struct AsyncIterator: AsyncIteratorProtocol {
    internal let reader: ChunkReader

    /// The next chunk, or `nil` at the end of the range or file.
    ///
    /// - Throws: ``ZeroCopyError``.
    nonisolated(nonsending) public mutating func next() async throws(ZeroCopyError) -> FileChunk? {
      try await reader.next()
    }

    /// The next chunk, or `nil` at the end of the range or file.
    ///
    /// - Throws: ``ZeroCopyError``.
    public mutating func next(isolation actor: isolated (any Actor)?) async throws(ZeroCopyError) -> FileChunk? {
      try await reader.next()
    }
  }
}

/// One chunk of a file read by ``FileChunks``: `count` bytes that were at `offset`.
///
/// The bytes stay valid as long as you reference the chunk. Once you drop it, the sequence
/// may reuse its memory for a later chunk.
public final class FileChunk: @unchecked Sendable {
  // @unchecked: mutated only by the iterator, and only while it holds the sole reference.

  /// Where the bytes were in the file (for a stream: bytes delivered before this chunk).
  public internal(set) var offset: Int64
  /// How many bytes the chunk holds.
  public internal(set) var count: Int
  /// The buffer holding the bytes (taken back by the iterator for reuse).
  internal var storage: AlignedBuffer? {
    didSet { address = UnsafeRawPointer(storage?.unsafeBaseAddress) }
  }
  private var address: UnsafeRawPointer?

  internal init(storage: consuming AlignedBuffer, offset: Int64, count: Int) {
    self.address = UnsafeRawPointer(storage.unsafeBaseAddress)
    self.storage = .some(storage)
    self.offset = offset
    self.count = count
  }

  /// Calls `body` with the chunk's bytes; the pointer must not escape.
  public func withUnsafeBytes<R: ~Copyable, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    try body(UnsafeRawBufferPointer(start: address, count: count))
  }

  /// A copy of the chunk's bytes.
  public var bytes: [UInt8] {
    withUnsafeBytes { Array($0) }
  }
}

/// The state behind a ``FileChunks/AsyncIterator``.
internal final class ChunkReader: @unchecked Sendable {
  // @unchecked: used by one consuming task at a time (the iterator's contract); the
  // operations it shares with the engine synchronise themselves.

  private struct Pending {
    let op: Operation
    let offset: Int64
    let requested: Int
  }

  private let file: AsyncFile
  private let engine: IOEngine
  private let chunkSize: Int
  private let readAhead: Int
  private let isStream: Bool
  private var nextOffset: Int64
  private let end: Int64
  private var pending: [Pending] = []
  private var pendingHead = 0
  private var freeBuffers = BufferList()
  private var lastChunk: FileChunk?
  private var spareChunk: FileChunk?
  private var finished = false
  private var delivered: Int64 = 0
  private var batch: [Operation] = []

  init(_ sequence: FileChunks) {
    file = sequence.file
    engine = sequence.file.engine
    isStream = !sequence.file.isRegularFile
    chunkSize = sequence.chunkSize
    readAhead = isStream ? 1 : sequence.readAhead
    nextOffset = sequence.range?.lowerBound ?? 0
    end = sequence.range?.upperBound ?? Int64.max
    pending.reserveCapacity(readAhead + 1)
    batch.reserveCapacity(readAhead)
  }

  deinit {
    // Reads still in flight own their buffers and keep the descriptor open; cancel them so
    // that pipes and devices do not hold them forever.
    var i = pendingHead
    while i < pending.count {
      engine.cancel(pending[i].op)
      i += 1
    }
  }

  nonisolated(nonsending) func next() async throws(ZeroCopyError) -> FileChunk? {
    recycleLastChunk()
    if finished { return nil }
    if Task.isCancelled {
      finish()
      throw error(.canceled, offset: pendingHead < pending.count ? pending[pendingHead].offset : nextOffset)
    }
    try refill()
    guard pendingHead < pending.count else {
      finish()
      return nil
    }
    let current = pending[pendingHead]
    await engine.waitFor(current.op)
    pendingHead += 1
    if pendingHead == pending.count {
      pending.removeAll(keepingCapacity: true)
      pendingHead = 0
    }
    let buffer = current.op.ownedBuffer.take()!
    let result = current.op.result
    if result <= 0 {
      freeBuffers.append(buffer)
      finish()
      if result == 0 { return nil }
      throw error(Errno(rawValue: -result), offset: current.offset)
    }
    let count = Int(result)
    if !isStream && count < current.requested {
      // A short read before the end: read the gap next, ahead of the reads in flight.
      let gap = try makeRead(offset: current.offset + Int64(count), count: current.requested - count)
      pending.insert(gap, at: pendingHead)
      engine.submit(gap.op)
    }
    let offset = isStream ? delivered : current.offset
    delivered += Int64(count)
    let chunk: FileChunk
    if let spare = spareChunk {
      spareChunk = nil
      spare.storage = .some(buffer)
      spare.offset = offset
      spare.count = count
      chunk = spare
    } else {
      chunk = FileChunk(storage: buffer, offset: offset, count: count)
    }
    lastChunk = chunk
    return chunk
  }

  /// Takes back the previous chunk's buffer if the consumer no longer references it.
  private func recycleLastChunk() {
    guard var last = lastChunk else { return }
    lastChunk = nil
    if isKnownUniquelyReferenced(&last), let buffer = last.storage.take() {
      freeBuffers.append(buffer)
      spareChunk = last
    }
  }

  /// Issues reads until `readAhead` are in flight (one submission for all of them).
  private func refill() throws(ZeroCopyError) {
    while pending.count - pendingHead < readAhead && nextOffset < end {
      let count = Int(min(Int64(chunkSize), end - nextOffset))
      let read = try makeRead(offset: nextOffset, count: count)
      pending.append(read)
      batch.append(read.op)
      nextOffset += Int64(count)
    }
    if batch.count == 1 {
      engine.submit(batch[0])
    } else if !batch.isEmpty {
      engine.submit(batch: batch)
    }
    batch.removeAll(keepingCapacity: true)
  }

  private func makeRead(offset: Int64, count: Int) throws(ZeroCopyError) -> Pending {
    guard file.owner.begin() else {
      finish()
      throw error(.badFileDescriptor, offset: offset, message: "the file was closed")
    }
    let buffer: AlignedBuffer
    if !freeBuffers.isEmpty {
      buffer = freeBuffers.removeLast()
    } else {
      do {
        buffer = try AlignedBuffer(count: chunkSize, zeroed: false)
      } catch {
        file.owner.operationFinished()
        finish()
        throw self.error(error, offset: offset, message: "could not allocate a \(chunkSize)-byte buffer")
      }
    }
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress, count: count)
    let spec = ReadOp(fd: file.owner.descriptor, buffer: bytes, offset: isStream ? nil : offset)
    return Pending(op: OperationOf(spec, owner: file.owner, owning: buffer), offset: offset, requested: count)
  }

  private func finish() {
    finished = true
    var i = pendingHead
    while i < pending.count {
      engine.cancel(pending[i].op)
      i += 1
    }
    pending.removeAll()
    pendingHead = 0
  }

  private func error(_ errno: Errno, offset: Int64, message: String? = nil) -> ZeroCopyError {
    ZeroCopyError(
      .readChunks,
      syscall: engine.syscallName(
        ReadOp(fd: file.descriptor, buffer: UnsafeMutableRawBufferPointer(start: nil, count: 0), offset: isStream ? nil : 0)),
      errno: errno, paths: file.paths, descriptors: [file.descriptor], offset: isStream ? nil : offset,
      bytesTransferred: delivered, message: message)
  }
}
