// Results that hand the caller's buffers back, whatever happened.

import Glibc
public import LinuxIO
import SystemPackage

/// The outcome of an operation that owned a buffer: the byte count or the error, **and**
/// the buffer, returned in every case — success, failure and cancellation.
///
/// An async read or write takes ownership of its buffer (`consuming`), because the kernel
/// may write into it (or read from it) until the operation's final completion, and
/// nothing else may touch or free it meanwhile. The operation returns only after that
/// final completion, handing the buffer back in this value:
///
/// ```swift
/// import LinuxIO
/// import ZeroCopy
///
/// func readTwice(_ file: AsyncFile) async throws {
///   var buffer = try AlignedBuffer(count: 4096)
///   let result = await file.read(into: buffer, at: 0)
///   let count = try result.count          // throws the ZeroCopyError, if any
///   buffer = result.take()                // the same memory, ready for the next read
///   _ = try await file.read(into: buffer, at: Int64(count)).count
/// }
/// ```
///
/// `Buffer` is `AlignedBuffer` (LinuxIO) for single-buffer operations and ``BufferList`` for
/// vectored ones. (A noncopyable buffer cannot travel inside an `Error`, which must be
/// copyable, so the buffer rides beside the error rather than in it.)
public struct IOResult<Buffer: ~Copyable & Sendable>: ~Copyable, Sendable {
  /// Bytes transferred (0 for a read at end of file or from a closed peer), or the error.
  public let result: Result<Int, ZeroCopyError>
  /// The buffer the operation owned.
  public var buffer: Buffer

  /// Creates a result.
  public init(result: Result<Int, ZeroCopyError>, buffer: consuming Buffer) {
    self.result = result
    self.buffer = buffer
  }

  /// The bytes transferred; throws the operation's error instead (the buffer stays in
  /// this value either way).
  public var count: Int {
    get throws(ZeroCopyError) { try result.get() }
  }

  /// The error, if the operation failed.
  public var error: ZeroCopyError? {
    if case .failure(let e) = result { return e }
    return nil
  }

  /// Whether the operation ended by cancellation (`ECANCELED`). A cancelled operation
  /// that had already moved bytes reports them as a success instead.
  public var isCancelled: Bool { error?.isCancellation ?? false }

  /// Takes the buffer out, ending this result.
  public consuming func take() -> Buffer {
    buffer
  }

  /// Takes the buffer out and returns it with the byte count, or throws the error (the
  /// buffer is then freed). For callers that do not need the buffer back on failure.
  public consuming func get() throws(ZeroCopyError) -> Filled<Buffer> {
    let count = try result.get()
    return Filled(count: count, buffer: buffer)
  }
}

/// A buffer and the number of bytes an operation moved into or out of it (the success
/// value of ``IOResult/get()``).
public struct Filled<Buffer: ~Copyable & Sendable>: ~Copyable, Sendable {
  /// Bytes transferred.
  public let count: Int
  /// The buffer.
  public var buffer: Buffer

  /// Creates a value.
  public init(count: Int, buffer: consuming Buffer) {
    self.count = count
    self.buffer = buffer
  }

  /// Takes the buffer out.
  public consuming func take() -> Buffer { buffer }
}

/// An ordered list of `AlignedBuffer` (LinuxIO)s that owns them, for vectored I/O
/// (`readv`/`writev`). Noncopyable, like the buffers it holds (a Swift `Array` cannot hold
/// noncopyable elements).
public struct BufferList: ~Copyable, @unchecked Sendable {
  // @unchecked: the storage is owned by this value alone, like each buffer in it.
  private var storage: UnsafeMutablePointer<AlignedBuffer>
  private var capacity: Int
  /// The number of buffers.
  public private(set) var count: Int

  /// An empty list.
  public init() {
    storage = .allocate(capacity: 4)
    capacity = 4
    count = 0
  }

  /// A list holding `buffer`.
  public init(_ buffer: consuming AlignedBuffer) {
    self.init()
    append(buffer)
  }

  deinit {
    storage.deinitialize(count: count)
    storage.deallocate()
  }

  /// Appends a buffer, taking ownership of it.
  public mutating func append(_ buffer: consuming AlignedBuffer) {
    if count == capacity {
      let grown = UnsafeMutablePointer<AlignedBuffer>.allocate(capacity: capacity * 2)
      grown.moveInitialize(from: storage, count: count)
      storage.deallocate()
      storage = grown
      capacity *= 2
    }
    (storage + count).initialize(to: buffer)
    count += 1
  }

  /// Removes and returns the last buffer.
  ///
  /// - Precondition: The list is not empty.
  public mutating func removeLast() -> AlignedBuffer {
    precondition(count > 0, "BufferList.removeLast: the list is empty")
    count -= 1
    return (storage + count).move()
  }

  /// Whether the list is empty.
  public var isEmpty: Bool { count == 0 }

  /// The sum of the buffers' sizes.
  public var totalByteCount: Int {
    var total = 0
    for i in 0..<count { total += storage[i].count }
    return total
  }

  /// Calls `body` with buffer `index`.
  ///
  /// - Precondition: `0 <= index < count`.
  public func withBuffer<R: ~Copyable, E: Error>(
    at index: Int, _ body: (borrowing AlignedBuffer) throws(E) -> R
  ) throws(E) -> R {
    precondition(index >= 0 && index < count, "BufferList: index \(index) out of range 0..<\(count)")
    return try body(storage[index])
  }

  /// Calls `body` with buffer `index`, mutable.
  ///
  /// - Precondition: `0 <= index < count`.
  public mutating func withMutableBuffer<R: ~Copyable, E: Error>(
    at index: Int, _ body: (inout AlignedBuffer) throws(E) -> R
  ) throws(E) -> R {
    precondition(index >= 0 && index < count, "BufferList: index \(index) out of range 0..<\(count)")
    return try body(&storage[index])
  }

  /// The `iovec`s describing every buffer whole, in a new allocation the caller frees.
  ///
  /// - Precondition: The list is not empty.
  internal func makeIOVecs() -> UnsafeMutableBufferPointer<iovec> {
    precondition(count > 0, "vectored I/O needs at least one buffer")
    let iovecs = UnsafeMutableBufferPointer<iovec>.allocate(capacity: count)
    for i in 0..<count {
      iovecs[i] = iovec(iov_base: storage[i].unsafeBaseAddress, iov_len: storage[i].count)
    }
    return iovecs
  }
}
