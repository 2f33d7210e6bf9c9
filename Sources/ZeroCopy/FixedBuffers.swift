// Fixed (registered) buffers for the async engine: memory the engine owns, registered once
// with its ring (`IORING_REGISTER_BUFFERS`), that AsyncFile reads and writes can use with
// `READ_FIXED`/`WRITE_FIXED` — no page pinning per request, the fastest path for O_DIRECT.

public import LinuxIO
import Synchronization
import SystemPackage
import URing

extension IOEngine {
  /// A table of equally sized buffers owned by an engine and registered with its ring.
  ///
  /// Made by ``IOEngine/registerFixedBuffers(count:size:alignment:)``; an engine has at most
  /// one, which lives as long as the engine (the kernel pins its pages). Use a slot with
  /// ``AsyncFile/read(intoFixed:range:at:)`` and ``AsyncFile/write(fromFixed:range:at:)``,
  /// then look at its bytes with ``FixedBuffer/bytes``.
  ///
  /// **Sharing.** The table is `Sendable`, its memory is not guarded: the caller decides
  /// which task uses which slot, and must not touch a slot's bytes while an operation on it
  /// is running (the same rule as for any buffer handed to the kernel).
  public final class FixedBuffers: @unchecked Sendable {
    // @unchecked: `memory` is owned here and never reallocated; access to its bytes is the
    // caller's responsibility (see "Sharing").
    /// Slots in the table.
    public let count: Int
    /// Bytes per slot.
    public let size: Int
    /// The engine the table is registered with.
    public unowned let engine: IOEngine
    internal let memory: AlignedBuffer

    internal init(count: Int, size: Int, memory: consuming AlignedBuffer, engine: IOEngine) {
      self.count = count
      self.size = size
      self.memory = memory
      self.engine = engine
    }

    /// Slot `index`. - Precondition: `0 <= index < count`.
    public subscript(index: Int) -> FixedBuffer {
      precondition(index >= 0 && index < count, "IOEngine.FixedBuffers: slot \(index) is outside 0..<\(count)")
      return FixedBuffer(index: index, table: self)
    }
  }

  /// One slot of a ``FixedBuffers`` table. Keeps the table (and its memory) alive.
  public struct FixedBuffer: Sendable {
    /// The slot's index (`sqe->buf_index`).
    public let index: Int
    /// The table it belongs to.
    public let table: FixedBuffers

    /// The slot's memory: valid as long as this value (or the table) is alive. Do not touch
    /// it while an operation on this slot is running.
    public var bytes: UnsafeMutableRawBufferPointer {
      UnsafeMutableRawBufferPointer(start: table.memory.unsafeBaseAddress + index * table.size, count: table.size)
    }
  }

  /// Allocates `count` buffers of `size` bytes (each aligned to `alignment`) and registers
  /// them with this engine's ring, on the ring's own thread. On a thread-pool engine the
  /// memory is allocated but nothing is registered (its reads are `pread`s either way), so
  /// code using fixed buffers runs on both engines.
  ///
  /// - Parameters:
  ///   - count: Slots, 1…16384. - Precondition.
  ///   - size: Bytes per slot, a multiple of `alignment` (so every slot is aligned). - Precondition.
  ///   - alignment: A power of two; the page size by default (what `O_DIRECT` and the ring
  ///     want). Use `max(DirectIOAlignment.memory, …)` for direct I/O.
  /// - Returns: The table; the engine keeps it alive.
  /// - Throws: ``ZeroCopyError`` (operation ``ZeroCopyError/Operation/registerBuffers``):
  ///   `EBUSY` if this engine already has a table, `ENOMEM` (memory, or `RLIMIT_MEMLOCK`
  ///   without `CAP_IPC_LOCK`), `EPERM`/`ENOSYS` (registration refused).
  ///
  /// The corresponding C function is `io_uring_register_buffers` (run on the ring thread).
  public func registerFixedBuffers(
    count: Int, size: Int, alignment: Int = AlignedBuffer.pageSize
  ) async throws(ZeroCopyError) -> FixedBuffers {
    precondition(count > 0 && count <= 16384, "IOEngine.registerFixedBuffers: count must be 1...16384 (got \(count))")
    precondition(
      size > 0 && size % alignment == 0, "IOEngine.registerFixedBuffers: size must be a positive multiple of the alignment")
    func failure(_ errno: Errno, _ message: String? = nil) -> ZeroCopyError {
      ZeroCopyError(.registerBuffers, syscall: "io_uring_register(IORING_REGISTER_BUFFERS)", errno: errno, message: message)
    }
    if fixedBufferTable.withLock({ $0 != nil }) { throw failure(.resourceBusy, "this engine already has a fixed-buffer table") }
    let memory: AlignedBuffer
    do {
      memory = try AlignedBuffer(count: count * size, alignment: alignment)
    } catch {
      throw failure(error, "cannot allocate \(count) × \(size) bytes")
    }
    let base = memory.unsafeBaseAddress
    let slices = (0..<count).map { UnsafeMutableRawBufferPointer(start: base + $0 * size, count: size) }
    if case .ring(let ring) = backend {
      let result: Result<Void, Errno> = await withTaskExecutorPreference(self) {
        guard let loop = ring.currentLoop() else { return .failure(Errno.notSupported) }
        do throws(Errno) {
          _ = try loop.ring.unsafeRegisterBuffers(slices)
          return .success(())
        } catch {
          return .failure(error)
        }
      }
      if case .failure(let errno) = result {
        throw failure(errno, errno == .notSupported ? "could not run on the ring thread" : nil)
      }
    }
    let table = FixedBuffers(count: count, size: size, memory: memory, engine: self)
    fixedBufferTable.withLock { $0 = table }
    return table
  }
}

extension ZeroCopyError.Operation {
  /// Registering fixed buffers with an engine.
  public static let registerBuffers = ZeroCopyError.Operation(rawValue: "registerBuffers")
}

extension AsyncFile {
  /// Reads up to `range.count` bytes at `offset` into a fixed buffer slot (`READ_FIXED` on
  /// the io_uring engine: no per-request page pinning; `pread64` on the thread pool). For a
  /// file opened with `.direct`, the request is checked against ``directIOAlignment`` first.
  ///
  /// - Parameters:
  ///   - buffer: A slot of a table registered with this file's engine. - Precondition.
  ///   - range: Which bytes of the slot to fill (default: all). - Precondition: inside it.
  ///   - offset: The file offset. - Precondition: not negative.
  /// - Returns: The bytes read (0 at end of file), or the error (as ``read(into:range:at:)``).
  ///   The bytes are in `buffer.bytes[range]`.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_READ_FIXED`; the thread-pool engine calls `pread64`.
  nonisolated(nonsending) public func read(
    intoFixed buffer: IOEngine.FixedBuffer, range: Range<Int>? = nil, at offset: Int64
  ) async -> Result<Int, ZeroCopyError> {
    precondition(offset >= 0, "AsyncFile.read(intoFixed:): offset must not be negative (got \(offset))")
    precondition(buffer.table.engine === engine, "AsyncFile.read(intoFixed:): the buffer belongs to another engine")
    let bytes = Self.slice(buffer, range)
    let spec = ReadFixedOp(fd: owner.descriptor, buffer: bytes, index: UInt16(buffer.index), offset: offset)
    if let failure = misalignment(UnsafeRawPointer(bytes.baseAddress), offset, bytes.count, .read, spec) {
      return .failure(failure)
    }
    let result = await perform(spec, .read, offset: offset)
    withExtendedLifetime(buffer.table) {}  // the memory outlives the final completion
    return result
  }

  /// Writes `range` of a fixed buffer slot at `offset` — one call, which may write fewer
  /// bytes (`WRITE_FIXED`; `pwrite64` on the thread pool). For a file opened with `.direct`,
  /// checked against ``directIOAlignment`` first.
  ///
  /// - Returns: The bytes written, or the error (as ``write(from:range:at:)``).
  ///
  /// The corresponding io_uring opcode is `IORING_OP_WRITE_FIXED`; the thread-pool engine calls `pwrite64`.
  nonisolated(nonsending) public func write(
    fromFixed buffer: IOEngine.FixedBuffer, range: Range<Int>? = nil, at offset: Int64
  ) async -> Result<Int, ZeroCopyError> {
    precondition(offset >= 0, "AsyncFile.write(fromFixed:): offset must not be negative (got \(offset))")
    precondition(buffer.table.engine === engine, "AsyncFile.write(fromFixed:): the buffer belongs to another engine")
    let bytes = UnsafeRawBufferPointer(Self.slice(buffer, range))
    let spec = WriteFixedOp(fd: owner.descriptor, buffer: bytes, index: UInt16(buffer.index), offset: offset)
    if let failure = misalignment(bytes.baseAddress, offset, bytes.count, .write, spec) { return .failure(failure) }
    let result = await perform(spec, .write, offset: offset)
    withExtendedLifetime(buffer.table) {}  // the memory outlives the final completion
    return result
  }

  private static func slice(_ buffer: IOEngine.FixedBuffer, _ range: Range<Int>?) -> UnsafeMutableRawBufferPointer {
    let all = buffer.bytes
    guard let range else { return all }
    precondition(
      range.lowerBound >= 0 && range.upperBound <= all.count,
      "AsyncFile: range \(range) is outside the fixed buffer (0..<\(all.count))")
    return UnsafeMutableRawBufferPointer(rebasing: all[range])
  }
}
