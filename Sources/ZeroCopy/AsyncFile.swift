// Async file I/O with owned buffers.

public import LinuxIO
public import SystemPackage

/// An open file (or pipe, FIFO, character device) whose reads and writes run on an
/// ``IOEngine`` and own their buffers.
///
/// ```swift
/// import LinuxIO
/// import SystemPackage
/// import ZeroCopy
///
/// func firstBlock(of path: FilePath) async throws -> AlignedBuffer {
///   let file = try await AsyncFile.open(path)
///   let result = await file.read(into: try AlignedBuffer(count: 64 << 10), at: 0)
///   let count = try result.count            // bytes now at the start of the buffer
///   let buffer = result.take()              // reuse it for the next read
///   try await file.close()
///   print("read \(count) bytes")
///   return buffer
/// }
/// ```
///
/// **Ownership.** Every read and write takes its buffer (`consuming`) and returns it in an
/// ``IOResult`` once the kernel is done with it — after success, failure or cancellation.
/// The memory is never freed or reused while a request may still write into it.
///
/// **Concurrency.** An `AsyncFile` is `Sendable`: any number of tasks may use it at once
/// (positioned reads and writes do not share a file position). ``close()`` cancels the
/// operations still in flight, waits for their final completions, and only then closes the
/// descriptor; operations started after `close()` fail with `EBADF`. A file that is never
/// closed is closed when the last reference goes away (no operation can be in flight then).
public final class AsyncFile: Sendable {
  internal let owner: ManagedDescriptor
  /// The engine that runs this file's operations.
  public let engine: IOEngine

  /// The descriptor. Owned by this file: do not close it, and do not use it after ``close()``.
  public var descriptor: FileDescriptor { owner.descriptor }
  /// The path the file was opened with, if any.
  public var path: FilePath? { owner.path }
  /// Whether the file is a regular file or block device (as opposed to a pipe, FIFO,
  /// socket or character device, which support only stream reads and writes).
  public var isRegularFile: Bool { owner.kind == .regular }
  /// The file's direct-I/O alignment when it was opened with `.direct` by
  /// ``open(_:_:options:permissions:engine:)``, else nil. When set, every read and write
  /// from an `AlignedBuffer` is checked against it before it is submitted: a misaligned
  /// buffer address, offset or length fails at once with `EINVAL` and a ``ZeroCopyError/message``
  /// naming the misaligned value and the alignment it needs (the kernel would only say `EINVAL`).
  public let directIOAlignment: DirectIOAlignment?
  /// Whether positioned reads may be served from the page cache on the calling thread: a
  /// regular file (or block device) without `O_DIRECT` (whose `RWF_NOWAIT` reads still wait
  /// for the device) on an engine with ``IOEngine/Configuration/completesReadyReadsInline``.
  internal let readsCacheInline: Bool

  internal init(
    owner: ManagedDescriptor, engine: IOEngine, directIOAlignment: DirectIOAlignment? = nil, isDirect: Bool? = nil
  ) {
    self.owner = owner
    self.engine = engine
    self.directIOAlignment = directIOAlignment
    self.readsCacheInline =
      engine.configuration.completesReadyReadsInline && owner.kind == .regular && directIOAlignment == nil
      && !(isDirect ?? ((try? owner.descriptor.isDirectIO()) ?? true))
  }

  /// Takes ownership of an open descriptor — a file, a pipe end, a FIFO, a socket or a
  /// character device. It is closed by ``close()`` or when this object goes away.
  ///
  /// - Parameters:
  ///   - descriptor: An open descriptor that nothing else will close.
  ///   - path: The path, for error messages.
  ///   - engine: The engine to run operations on.
  ///
  /// The corresponding C functions are `fstat` (to tell regular files from streams) and,
  /// for a regular file, `fcntl(F_GETFL)` (`O_DIRECT`: such a file's reads always go
  /// through the engine).
  public convenience init(takingOwnershipOf descriptor: FileDescriptor, path: FilePath? = nil, engine: IOEngine = .default) {
    self.init(
      owner: ManagedDescriptor(descriptor, kind: ManagedDescriptor.kind(of: descriptor), path: path),
      engine: engine)
  }

  // MARK: - Opening

  /// Opens a file (`O_CLOEXEC` is always added).
  ///
  /// - Parameters:
  ///   - path: The file's path (relative to the working directory if not absolute).
  ///   - mode: Read, write, or both. Default read-only.
  ///   - options: `O_*` options such as `.create`, `.truncate`, `.append`, `.direct`.
  ///   - permissions: The new file's permissions when `options` contains `.create`.
  ///   - engine: The engine that runs the open and every later operation.
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/open`` and the
  ///   path: `ENOENT`, `EACCES`, `EISDIR`, `EEXIST` (with `.exclusiveCreate`), `EMFILE`,
  ///   `ECANCELED` if the task was cancelled first.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_OPENAT`; the thread-pool engine calls
  /// `openat(2)`.
  nonisolated(nonsending) public static func open(
    _ path: FilePath, _ mode: FileDescriptor.AccessMode = .readOnly,
    options: FileDescriptor.OpenOptions = [], permissions: FilePermissions? = nil,
    engine: IOEngine = .default
  ) async throws(ZeroCopyError) -> AsyncFile {
    let spec = OpenOp(path: path, mode: mode, options: options, permissions: permissions)
    let result = await engine.run(OperationOf(spec, owner: nil))
    if result < 0 {
      throw ZeroCopyError(.open, syscall: engine.syscallName(spec), errno: Errno(rawValue: -result), paths: [path])
    }
    let descriptor = FileDescriptor(rawValue: result)
    guard options.contains(.direct) else {
      return AsyncFile(
        owner: ManagedDescriptor(descriptor, kind: ManagedDescriptor.kind(of: descriptor), path: path), engine: engine,
        isDirect: false)
    }
    let alignment: DirectIOAlignment
    do {
      alignment = try descriptor.directIOAlignment()
    } catch {
      try? descriptor.close()
      throw ZeroCopyError(.open, syscall: "statx", errno: error, paths: [path], message: "cannot query the direct-I/O alignment")
    }
    return AsyncFile(
      owner: ManagedDescriptor(descriptor, kind: ManagedDescriptor.kind(of: descriptor), path: path), engine: engine,
      directIOAlignment: alignment)
  }

  /// Creates (or truncates) a file and opens it for writing and reading.
  ///
  /// - Parameters:
  ///   - path: The file's path.
  ///   - exclusive: Fail with `EEXIST` if the file exists (`O_EXCL`), instead of truncating it.
  ///   - permissions: The new file's permissions. Default `rw-r--r--`.
  ///   - engine: The engine to use.
  /// - Throws: ``ZeroCopyError`` as ``open(_:_:options:permissions:engine:)``.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_OPENAT` with
  /// `O_CREAT | O_TRUNC` (or `O_EXCL`); the thread-pool engine calls `openat(2)`.
  nonisolated(nonsending) public static func create(
    _ path: FilePath, exclusive: Bool = false,
    permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead],
    engine: IOEngine = .default
  ) async throws(ZeroCopyError) -> AsyncFile {
    try await open(
      path, .readWrite, options: exclusive ? [.create, .exclusiveCreate] : [.create, .truncate],
      permissions: permissions, engine: engine)
  }

  // MARK: - Reading and writing

  /// Reads up to `range.count` bytes at `offset` into `buffer[range]`, like `pread(2)`.
  ///
  /// - Parameters:
  ///   - buffer: The destination; owned by the operation until it returns.
  ///   - range: Which bytes of `buffer` to fill. Default: all of it.
  ///     - Precondition: Inside the buffer.
  ///   - offset: The file offset. - Precondition: not negative.
  /// - Returns: The bytes read (0 at end of file; a short count is normal) or the error,
  ///   with the buffer. Errors: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/read``
  ///   (`EBADF` after ``close()``, `EISDIR`, `EINVAL` for misaligned `O_DIRECT` — checked
  ///   before submission, with an explanation, for files opened with `.direct`; `EIO`,
  ///   `ECANCELED` when cancelled before any byte arrived). On an engine configured with
  ///   ``IOEngine/Configuration/interruptsRegularFileOperations``, a read that the device
  ///   has not served 20 ms after its cancellation returns `ECANCELED` with a new buffer of
  ///   the same size and alignment, leaving the original to the kernel until it is done.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_READ`; the thread-pool engine calls `pread64`.
  nonisolated(nonsending) public func read(
    into buffer: consuming AlignedBuffer, range: Range<Int>? = nil, at offset: Int64
  ) async -> IOResult<AlignedBuffer> {
    precondition(offset >= 0, "AsyncFile.read: offset must not be negative (got \(offset))")
    return await read(into: buffer, range: range, offset: offset)
  }

  /// Reads up to `range.count` bytes at the current file position, like `read(2)`: the
  /// read for pipes, FIFOs and character devices.
  ///
  /// - Returns: The bytes read (0: end of file, or a pipe with no writer left) or the
  ///   error, with the buffer. See ``read(into:range:at:)``.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_READ` with offset -1; the thread-pool
  /// engine calls `read` (after `poll` for pipes and devices).
  nonisolated(nonsending) public func read(into buffer: consuming AlignedBuffer, range: Range<Int>? = nil) async -> IOResult<
    AlignedBuffer
  > {
    await read(into: buffer, range: range, offset: nil)
  }

  @inline(__always)
  nonisolated(nonsending) private func read(
    into buffer: consuming AlignedBuffer, range: Range<Int>?, offset: Int64?
  ) async -> IOResult<AlignedBuffer> {
    let r = checkedRange(range, in: buffer, #function)
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound, count: r.count)
    let spec = ReadOp(fd: owner.descriptor, buffer: bytes, offset: offset)
    if let failure = misalignment(UnsafeRawPointer(bytes.baseAddress), offset, bytes.count, .read, spec) {
      return IOResult(result: .failure(failure), buffer: buffer)
    }
    if let offset, readsCacheInline {
      // One read in 64 yields first (ManagedDescriptor.yieldsBeforeInline): a task that
      // keeps finding its data cached still lets the others on its thread run. (Reads at
      // the position never run inline, so they never need the turn.)
      if owner.yieldsBeforeInline() { await Task.yield() }
      if let cached = readCachedInline(bytes, at: offset) {
        guard cached < bytes.count && cached > 0 else { return IOResult(result: .success(cached), buffer: buffer) }
        // Only the start was cached (or the file ends): the rest through the engine, so
        // that a short count still means the end of the file, as pread's does.
        let rest = r.lowerBound + cached..<r.upperBound
        let more = await engineRead(into: buffer, range: rest, offset: offset + Int64(cached))
        // A failed rest fails the read: an abandoned one (cancelled while the device is
        // still reading into it) comes back with a new buffer, without the cached bytes.
        let result = more.result.map { cached + $0 }
        return IOResult(result: result, buffer: more.take())
      }
    }
    return await engineRead(into: buffer, range: r, offset: offset)
  }

  /// The engine's read of `buffer[range]`, after the checks of ``read(into:range:offset:)``.
  @inline(__always)
  nonisolated(nonsending) private func engineRead(
    into buffer: consuming AlignedBuffer, range r: Range<Int>, offset: Int64?
  ) async -> IOResult<AlignedBuffer> {
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound, count: r.count)
    // The operation owns the buffer: a cancelled read of a slow device may be left to the
    // kernel with it (IOEngine.Configuration.interruptsRegularFileOperations).
    return await performOwning(
      owner, engine, ReadOp(fd: owner.descriptor, buffer: bytes, offset: offset), .read, offset: offset, buffer)
  }

  /// A positioned read served from the page cache on the calling thread
  /// (``IOEngine/Configuration/completesReadyReadsInline``): the bytes read (0 at the end
  /// of the file), or nil when the engine must do it — the task is cancelled, the file is
  /// closing, the first byte is not cached, or any error (the engine's read then reports
  /// it, with the engine's system call name). The caller checked that the file is a
  /// buffered regular file (`readsCacheInline`).
  @inline(__always)
  private func readCachedInline(_ bytes: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int? {
    guard !Task.isCancelled, engine.acceptsInlineWork, owner.begin() else {
      return nil
    }
    // begin() keeps close() from closing the descriptor under the call.
    defer { owner.operationFinished() }
    return (try? owner.descriptor.readIfCached(into: bytes, at: offset)) ?? nil
  }

  /// Writes `buffer[range]` at `offset`, like `pwrite(2)` — one call, which may write fewer
  /// bytes; ``writeAll(from:range:at:)`` loops until all are written.
  ///
  /// - Returns: The bytes written or the error, with the buffer. Errors: ``ZeroCopyError``
  ///   with operation ``ZeroCopyError/Operation/write`` (`EBADF`, `ENOSPC`, `EFBIG`, `EIO`,
  ///   `ECANCELED`).
  ///
  /// The corresponding io_uring opcode is `IORING_OP_WRITE`; the thread-pool engine calls `pwrite64`.
  nonisolated(nonsending) public func write(
    from buffer: consuming AlignedBuffer, range: Range<Int>? = nil, at offset: Int64
  ) async -> IOResult<AlignedBuffer> {
    precondition(offset >= 0, "AsyncFile.write: offset must not be negative (got \(offset))")
    return await write(from: buffer, range: range, offset: offset)
  }

  /// Writes `buffer[range]` at the current file position (or the end, for `O_APPEND`), like
  /// `write(2)`: the write for pipes, FIFOs and character devices. A write to a pipe whose
  /// reader is gone fails with `EPIPE` (never `SIGPIPE` on the engines' threads).
  ///
  /// The corresponding io_uring opcode is `IORING_OP_WRITE` with offset -1; the thread-pool
  /// engine calls `write` (after `poll` for pipes).
  nonisolated(nonsending) public func write(from buffer: consuming AlignedBuffer, range: Range<Int>? = nil) async -> IOResult<
    AlignedBuffer
  > {
    await write(from: buffer, range: range, offset: nil)
  }

  @inline(__always)
  nonisolated(nonsending) private func write(
    from buffer: consuming AlignedBuffer, range: Range<Int>?, offset: Int64?
  ) async -> IOResult<AlignedBuffer> {
    let r = checkedRange(range, in: buffer, #function)
    let bytes = UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound, count: r.count)
    let spec = WriteOp(fd: owner.descriptor, buffer: bytes, offset: offset)
    if let failure = misalignment(bytes.baseAddress, offset, bytes.count, .write, spec) {
      return IOResult(result: .failure(failure), buffer: buffer)
    }
    let result = await perform(spec, .write, offset: offset)
    return IOResult(result: result, buffer: buffer)
  }

  /// Writes all of `buffer[range]` starting at `offset` (or at the file position when
  /// `offset` is `nil`), issuing more writes after short ones.
  ///
  /// - Returns: The bytes written (all of them) or the error — whose
  ///   ``ZeroCopyError/bytesTransferred`` and ``ZeroCopyError/offset`` say how far it got —
  ///   with the buffer.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_WRITE` (repeated); the thread-pool
  /// engine calls `pwrite64`/`write`.
  nonisolated(nonsending) public func writeAll(
    from buffer: consuming AlignedBuffer, range: Range<Int>? = nil, at offset: Int64?
  ) async -> IOResult<AlignedBuffer> {
    if let offset { precondition(offset >= 0, "AsyncFile.writeAll: offset must not be negative (got \(offset))") }
    let r = checkedRange(range, in: buffer, #function)
    var done = 0
    while done < r.count {
      let position = offset.map { $0 + Int64(done) }
      let bytes = UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound + done, count: r.count - done)
      let spec = WriteOp(fd: owner.descriptor, buffer: bytes, offset: position)
      if var failure = misalignment(bytes.baseAddress, position, bytes.count, .write, spec) {
        failure.bytesTransferred = Int64(done)
        return IOResult(result: .failure(failure), buffer: buffer)
      }
      switch await perform(spec, .write, offset: position) {
      case .success(let n):
        if n == 0 {
          let error = ZeroCopyError(
            .write, syscall: engine.syscallName(spec), errno: .noSpace, paths: paths, descriptors: [descriptor],
            offset: position, bytesTransferred: Int64(done), message: "the write made no progress")
          return IOResult(result: .failure(error), buffer: buffer)
        }
        done += n
      case .failure(var error):
        error.bytesTransferred = Int64(done)
        return IOResult(result: .failure(error), buffer: buffer)
      }
    }
    return IOResult(result: .success(done), buffer: buffer)
  }

  /// Reads into the buffers of `buffers`, in order, at `offset` (`preadv(2)`).
  ///
  /// - Returns: The total bytes read (filling the buffers in order) or the error, with the list.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_READV`; the thread-pool engine calls `preadv`.
  nonisolated(nonsending) public func read(into buffers: consuming BufferList, at offset: Int64) async -> IOResult<BufferList> {
    precondition(offset >= 0, "AsyncFile.read: offset must not be negative (got \(offset))")
    let iovecs = buffers.makeIOVecs()
    defer { iovecs.deallocate() }
    let spec = ReadvOp(fd: owner.descriptor, iovecs: UnsafeBufferPointer(iovecs), offset: offset)
    let result = await perform(spec, .readv, offset: offset)
    return IOResult(result: result, buffer: buffers)
  }

  /// Writes the buffers of `buffers`, in order, at `offset` (`pwritev(2)`), in one call.
  ///
  /// - Returns: The total bytes written (maybe fewer than all) or the error, with the list.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_WRITEV`; the thread-pool engine calls `pwritev`.
  nonisolated(nonsending) public func write(from buffers: consuming BufferList, at offset: Int64) async -> IOResult<BufferList> {
    precondition(offset >= 0, "AsyncFile.write: offset must not be negative (got \(offset))")
    let iovecs = buffers.makeIOVecs()
    defer { iovecs.deallocate() }
    let spec = WritevOp(fd: owner.descriptor, iovecs: UnsafeBufferPointer(iovecs), offset: offset)
    let result = await perform(spec, .writev, offset: offset)
    return IOResult(result: result, buffer: buffers)
  }

  /// Flushes the file's data (and, unless `dataOnly`, its metadata) to storage.
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/sync``: `EIO`,
  ///   `ENOSPC`, `EDQUOT`, `EINVAL` (a pipe or socket), `EBADF` after close, `ECANCELED`.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_FSYNC` (with `IORING_FSYNC_DATASYNC`
  /// for `dataOnly`); the thread-pool engine calls `fsync`/`fdatasync`.
  nonisolated(nonsending) public func sync(dataOnly: Bool = false) async throws(ZeroCopyError) {
    _ = try await perform(FsyncOp(fd: owner.descriptor, dataOnly: dataOnly), .sync, offset: nil).get()
  }

  /// Allocates the file's blocks for `length` bytes at `offset`, so that later writes there
  /// cannot fail for lack of space (`ENOSPC`). Unless `keepSize`, a file shorter than
  /// `offset + length` grows to that size; with `keepSize` its size stays and the blocks
  /// past the end are reserved for appends. Data already in the range is unchanged; the
  /// rest reads as zeros.
  ///
  /// - Parameters:
  ///   - offset: The range's first byte. - Precondition: not negative.
  ///   - length: The range's length in bytes (0 or negative: `EINVAL` from the kernel).
  ///   - keepSize: `FALLOC_FL_KEEP_SIZE`. Default false.
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/allocate`` and the
  ///   offset: `EINVAL` (`length` not positive), `EBADF` (a file not open for writing, or
  ///   after ``close()``), `ESPIPE` (a pipe or FIFO), `ENODEV` (a character device),
  ///   `EOPNOTSUPP` (a filesystem that cannot allocate without writing), `ENOSPC`, `EFBIG`,
  ///   `ECANCELED`.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_FALLOCATE` (Linux 5.6); the thread-pool
  /// engine calls `fallocate(2)` (mode 0 or `FALLOC_FL_KEEP_SIZE`).
  nonisolated(nonsending) public func allocate(at offset: Int64, length: Int64, keepSize: Bool = false)
    async throws(ZeroCopyError)
  {
    precondition(offset >= 0, "AsyncFile.allocate: offset must not be negative (got \(offset))")
    let spec = FallocateOp(fd: owner.descriptor, offset: offset, length: length, keepSize: keepSize)
    _ = try await perform(spec, .allocate, offset: offset).get()
  }

  /// The file's status (size, type, permissions, times).
  ///
  /// Runs `fstat(2)` inline on the calling thread on both engines: on an open descriptor it
  /// never waits for I/O, while io_uring's `IORING_OP_STATX` is always handed to a kernel
  /// worker thread (two context switches).
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/stat`` (`EBADF`
  ///   after ``close()``).
  ///
  /// The corresponding C function is `fstat`.
  nonisolated(nonsending) public func stat() async throws(ZeroCopyError) -> Stat {
    guard owner.begin() else { throw closedError(.stat, syscall: "fstat", offset: nil) }
    defer { owner.operationFinished() }
    do {
      return try owner.descriptor.stat()
    } catch {
      throw ZeroCopyError(.stat, syscall: "fstat", errno: error, paths: paths, descriptors: [descriptor])
    }
  }

  /// Closes the file: operations still in flight are cancelled (a cancelled read or write
  /// that had already moved bytes reports them), their final completions awaited, and then
  /// the descriptor is closed. Operations started afterwards fail with `EBADF`.
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/close``: `EBADF`
  ///   if the file was already closed, `EIO` (an error reported for earlier writes).
  ///
  /// The corresponding C function is `close` (after `IORING_OP_ASYNC_CANCEL` with
  /// `IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL` for operations in flight).
  nonisolated(nonsending) public func close() async throws(ZeroCopyError) {
    if let errno = await owner.close(engine: engine) {
      throw ZeroCopyError(
        .close, syscall: "close", errno: errno, paths: paths, descriptors: [descriptor],
        message: errno == .badFileDescriptor ? "the file was already closed" : nil)
    }
  }

  // MARK: - Helpers

  internal var paths: [FilePath] { owner.path.map { [$0] } ?? [] }

  /// For a file opened with `.direct`: the error for a misaligned request, or nil.
  @inline(__always)
  internal func misalignment(
    _ address: UnsafeRawPointer?, _ offset: Int64?, _ count: Int, _ operation: ZeroCopyError.Operation,
    _ spec: some EngineOperation
  ) -> ZeroCopyError? {
    guard let directIOAlignment else { return nil }
    do {
      try directIOAlignment.check(address: address, offset: offset, length: count)
      return nil
    } catch {
      return ZeroCopyError(
        operation, syscall: engine.syscallName(spec), errno: error.errno, paths: paths, descriptors: [descriptor],
        offset: offset, message: error.message + " (checked before submitting)")
    }
  }

  /// Runs `spec` on the engine, registered with the descriptor so close() can order itself
  /// after it, and converts the result.
  @inline(__always)
  nonisolated(nonsending) internal func perform(
    _ spec: some EngineOperation, _ operation: ZeroCopyError.Operation, offset: Int64?
  ) async -> Result<Int, ZeroCopyError> {
    await performOperation(owner, engine, spec, operation, offset: offset)
  }

  internal func closedError(_ operation: ZeroCopyError.Operation, syscall: String, offset: Int64?) -> ZeroCopyError {
    ZeroCopyError(
      operation, syscall: syscall, errno: .badFileDescriptor, paths: paths, descriptors: [descriptor],
      offset: offset, message: "the file was closed")
  }
}

/// The byte range `range` (default: all) of `buffer`, checked.
@inline(__always)
internal func checkedRange(_ range: Range<Int>?, in buffer: borrowing AlignedBuffer, _ function: StaticString) -> Range<Int> {
  guard let range else { return 0..<buffer.count }
  precondition(
    range.lowerBound >= 0 && range.upperBound <= buffer.count,
    "\(function): range \(range) is outside the buffer (0..<\(buffer.count))")
  return range
}
