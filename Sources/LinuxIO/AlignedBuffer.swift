// Page-aligned off-heap memory, freed deterministically.

import CZeroCopy
import Glibc
public import SystemPackage

/// Aligned memory outside the Swift heap (`posix_memalign(3)`), owned by exactly one
/// value and freed when it goes out of scope — the deterministic analogue of Java's
/// `DirectByteBuffer`.
///
/// Use it where the kernel wants aligned memory: `O_DIRECT` reads and writes (aligned to
/// the device's logical block size; the page size always works), io_uring registered
/// buffers, `vmsplice` with `.gift`. Its address never changes for the buffer's whole
/// lifetime, so later layers can hand `unsafeBaseAddress` to the kernel and return the
/// buffer, moved, with the result.
///
/// `AlignedBuffer` is noncopyable: moving it moves ownership, and only the last owner
/// frees the memory. It is `Sendable` for the same reason.
public struct AlignedBuffer: ~Copyable, @unchecked Sendable {
  // @unchecked: the only stored pointer refers to memory owned by this value alone;
  // moving the value to another task moves that ownership with it.

  /// The address of the first byte. **Unsafe**: valid only while this buffer is alive
  /// (not consumed, not out of scope); the memory is freed at the end of its lifetime.
  /// It is stable for that whole lifetime, which is what the kernel needs for
  /// asynchronous I/O into it.
  public let unsafeBaseAddress: UnsafeMutableRawPointer
  /// The buffer's size in bytes.
  public let count: Int
  /// The alignment of `unsafeBaseAddress` in bytes (a power of two).
  public let alignment: Int

  /// The system's page size, the default alignment.
  ///
  /// The corresponding C function is `zc_page_size` (`sysconf(_SC_PAGESIZE)`).
  public static var pageSize: Int { system_page_size() }

  /// Allocates `count` bytes aligned to `alignment`.
  ///
  /// - Parameters:
  ///   - count: The size in bytes. A zero-byte buffer still has a valid, aligned,
  ///     unique address. - Precondition: `count >= 0`.
  ///   - alignment: A power of two, at least the pointer size; the page size by default.
  ///   - zeroed: Whether to fill the memory with zeros (default). Pass `false` for
  ///     memory the next read overwrites anyway; its contents are then unspecified.
  /// - Throws: `Errno.noMemory` (`ENOMEM`) when the memory is not available.
  ///
  /// The corresponding C function is `posix_memalign`.
  public init(count: Int, alignment: Int = AlignedBuffer.pageSize, zeroed: Bool = true) throws(Errno) {
    precondition(count >= 0, "AlignedBuffer: count must not be negative (got \(count))")
    precondition(
      alignment >= MemoryLayout<UnsafeRawPointer>.size && alignment & (alignment - 1) == 0,
      "AlignedBuffer: alignment must be a power of two and at least \(MemoryLayout<UnsafeRawPointer>.size) (got \(alignment))")
    var pointer: UnsafeMutableRawPointer? = nil
    // posix_memalign(…, 0) may return NULL; allocate at least one byte so that every
    // buffer has a unique, valid address.
    _ = try valueOrErrno { system_posix_memalign(&pointer, alignment, Swift.max(count, 1)) }
    guard let pointer else { throw Errno.noMemory }
    // memset, not initializeMemory(as:repeating:count:): that one is a byte loop in debug
    // builds (4 MiB: 8–17 ms here), on the path of a cancelled operation's new buffer.
    if zeroed { _ = memset(pointer, 0, Swift.max(count, 1)) }
    self.unsafeBaseAddress = pointer
    self.count = count
    self.alignment = alignment
  }

  deinit {
    system_free(unsafeBaseAddress)
  }

  /// Calls `body` with the buffer's bytes.
  ///
  /// - Parameter body: Gets the bytes; the pointer must not escape the closure.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public func withUnsafeBytes<R: ~Copyable, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    try body(UnsafeRawBufferPointer(start: unsafeBaseAddress, count: count))
  }

  /// Calls `body` with the buffer's bytes, writable.
  ///
  /// - Parameter body: Gets the bytes; the pointer must not escape the closure.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public mutating func withUnsafeMutableBytes<R: ~Copyable, E: Error>(
    _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    try body(UnsafeMutableRawBufferPointer(start: unsafeBaseAddress, count: count))
  }

  /// Calls `body` with a bounds-checked `RawSpan` over the buffer's bytes.
  ///
  /// - Parameter body: Gets the span.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public func withRawSpan<R: ~Copyable, E: Error>(
    _ body: (RawSpan) throws(E) -> R
  ) throws(E) -> R {
    try body(UnsafeRawBufferPointer(start: unsafeBaseAddress, count: count).bytes)
  }

  /// Calls `body` with a bounds-checked `MutableRawSpan` over the buffer's bytes.
  ///
  /// - Parameter body: Gets the span.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public mutating func withMutableRawSpan<R: ~Copyable, E: Error>(
    _ body: (inout MutableRawSpan) throws(E) -> R
  ) throws(E) -> R {
    var span = UnsafeMutableRawBufferPointer(start: unsafeBaseAddress, count: count).mutableBytes
    return try body(&span)
  }
}
