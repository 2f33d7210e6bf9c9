// A memory mapping of a file range, unmapped deterministically.

import CZeroCopy
public import SystemPackage

extension Errno {
  /// The error a guarded access to a `MappedRegion` throws when the file behind the
  /// mapping was truncated (by this or any other process) so that the accessed pages
  /// no longer exist. The same value as `Errno.badAddress` (`EFAULT`), which the kernel
  /// also returns when it writes from such a mapping.
  public static var mappedFileTruncated: Errno { .badAddress }
}

/// A mapping of a range of a file into memory (`mmap(2)`), unmapped when the value goes
/// out of scope — deterministically, unlike a garbage-collected mapping — or earlier
/// with `unmap()`.
///
/// The range may start at any offset: page alignment is handled internally, and the
/// region's bytes are exactly the requested range. An empty range maps nothing and
/// gives an empty region.
///
/// **Access and SIGBUS.** If the file is truncated while mapped, touching a page past
/// its new end raises SIGBUS. The guarded accessors — `copyBytes(from:into:)`,
/// `read(_:)`, `storeBytes(_:at:)`, `write(_:to:at:)` — turn that into a thrown
/// `Errno.mappedFileTruncated`. The direct accessors — `withUnsafeBytes`,
/// `withUnsafeMutableBytes`, `withRawSpan` — are as fast as memory but *not* guarded:
/// use them only for files nobody truncates while they are mapped.
///
/// `MappedRegion` is noncopyable: one owner unmaps it. It is `Sendable` because it is
/// uniquely owned; the mapped memory itself is shared with the file (and with other
/// mappings of it), like a file descriptor's contents.
public struct MappedRegion: ~Copyable, @unchecked Sendable {
  // @unchecked: the stored raw pointers refer to a mapping owned only by this value.
  // Moving the value moves the ownership; nothing else refers to the mapping.

  /// How the mapping may be accessed.
  public enum Protection: Sendable, Hashable {
    /// `PROT_READ`. The file must be open for reading.
    case readOnly
    /// `PROT_READ | PROT_WRITE`. A `.shared` mapping needs the file open read-write.
    case readWrite
  }

  /// Whether writes reach the file.
  public enum Sharing: Sendable, Hashable {
    /// `MAP_SHARED`: writes go to the file and are seen by every other mapping.
    case shared
    /// `MAP_PRIVATE`: writes stay in this process (copy-on-write).
    case copyOnWrite
  }

  /// Access-pattern advice for `advise(_:range:)` (the kernel's `MADV_*` values).
  public enum Advice: Sendable, Hashable, CaseIterable {
    /// `MADV_NORMAL`: no special treatment.
    case normal
    /// `MADV_RANDOM`: expect random access (less read-ahead).
    case random
    /// `MADV_SEQUENTIAL`: expect sequential access (aggressive read-ahead).
    case sequential
    /// `MADV_WILLNEED`: start reading the pages in now.
    case willNeed
    /// `MADV_DONTNEED`: drop the pages (a private mapping's changes are lost).
    case dontNeed
    /// `MADV_HUGEPAGE`: use transparent huge pages where possible.
    case hugePage
    /// `MADV_POPULATE_READ`: fault the pages in now (Linux 5.14+).
    case populateRead

    internal var rawValue: CInt {
      switch self {
      case .normal: CInt(ZC_MADV_NORMAL)
      case .random: CInt(ZC_MADV_RANDOM)
      case .sequential: CInt(ZC_MADV_SEQUENTIAL)
      case .willNeed: CInt(ZC_MADV_WILLNEED)
      case .dontNeed: CInt(ZC_MADV_DONTNEED)
      case .hugePage: CInt(ZC_MADV_HUGEPAGE)
      case .populateRead: CInt(ZC_MADV_POPULATE_READ)
      }
    }
  }

  // The zc_mapping fields, stored as Swift values.
  private var base: UnsafeMutableRawPointer?
  private var mapLength: Int
  private let data: UnsafeMutableRawPointer?

  /// The number of bytes in the region (the length of the requested file range).
  public let count: Int
  /// The file offset of the region's first byte.
  public let fileOffset: Int64
  /// How the region may be accessed.
  public let protection: Protection
  /// Whether writes reach the file.
  public let sharing: Sharing

  /// Maps `range` of `file` into memory.
  ///
  /// - Parameters:
  ///   - file: An open file; it may be closed afterwards (the mapping stays valid).
  ///   - range: The file offsets to map; any start, page alignment is handled.
  ///     An empty range makes an empty region without calling mmap.
  ///     - Precondition: `range.lowerBound >= 0`.
  ///   - protection: `.readOnly` (default) or `.readWrite`.
  ///   - sharing: `.shared` (default) or `.copyOnWrite`.
  ///   - populate: Fault all pages in now (`MAP_POPULATE`), trading mapping time for no
  ///     page faults later.
  /// - Throws: `Errno`: `.permissionDenied` (the file's open mode does not allow the
  ///   protection), `.operationNotSupportedByDevice` (`ENODEV`: the file cannot be mapped: a pipe, socket, /proc file),
  ///   `.badFileDescriptor`, `.noMemory`, `.invalidArgument`, `.overflow`.
  ///
  /// The corresponding C function is `zc_map` (system call `mmap`).
  public init(
    file: FileDescriptor, range: Range<Int64>, protection: Protection = .readOnly,
    sharing: Sharing = .shared, populate: Bool = false
  ) throws(Errno) {
    precondition(
      range.lowerBound >= 0,
      "MappedRegion: the file range must not start at a negative offset (got \(range))")
    self.count = Int(range.count)
    self.fileOffset = range.lowerBound
    self.protection = protection
    self.sharing = sharing
    guard !range.isEmpty else {
      self.base = nil
      self.mapLength = 0
      self.data = nil
      return
    }
    let prot = protection == .readOnly ? CInt(ZC_PROT_READ) : CInt(ZC_PROT_READ | ZC_PROT_WRITE)
    var flags = sharing == .shared ? CInt(ZC_MAP_SHARED) : CInt(ZC_MAP_PRIVATE)
    if populate { flags |= CInt(ZC_MAP_POPULATE) }
    var mapping = zc_mapping()
    let length = Int(range.count)
    _ = try valueOrErrno {
      system_map(file.rawValue, range.lowerBound, length, prot, flags, &mapping)
    }
    self.base = mapping.base
    self.mapLength = mapping.map_length
    self.data = mapping.data
  }

  deinit {
    // munmap of a mapping we made cannot fail; there is no one to report to anyway.
    var mapping = rawMapping
    _ = system_unmap(&mapping)
  }

  /// Unmaps the region now and reports an error, instead of at the end of its lifetime.
  ///
  /// - Throws: `Errno` from munmap (`.invalidArgument`, which would mean a bug).
  ///
  /// The corresponding C function is `zc_unmap` (system call `munmap`).
  public consuming func unmap() throws(Errno) {
    var mapping = rawMapping
    discard self
    _ = try valueOrErrno { system_unmap(&mapping) }
  }

  /// Whether the region is empty.
  public var isEmpty: Bool { count == 0 }

  private var rawMapping: zc_mapping {
    zc_mapping(base: base, map_length: mapLength, data: data, length: count)
  }

  /// The address of byte `offset` of the region (nil for an empty region).
  internal func address(at offset: Int) -> UnsafeMutableRawPointer? {
    data.map { $0 + offset }
  }

  internal func checkRange(_ range: Range<Int>, _ function: StaticString) {
    precondition(
      range.lowerBound >= 0 && range.upperBound <= count,
      "MappedRegion.\(function): range \(range) is outside the mapped region 0..<\(count)")
  }

  /// Gives the kernel advice about how `range` of the region will be used.
  ///
  /// - Parameters:
  ///   - advice: The expected access pattern.
  ///   - range: Byte offsets within the region (rounded out to pages); nil for all of it.
  ///     - Precondition: `range` lies within `0..<count`.
  /// - Throws: `Errno`: `.invalidArgument` (advice this kernel or mapping does not
  ///   support, such as `.hugePage` without THP), `.noMemory`, `.ioError`
  ///   (`.populateRead` past a truncated file's end gives `.badAddress`).
  ///
  /// The corresponding C function is `zc_madvise` (system call `madvise`).
  public func advise(_ advice: Advice, range: Range<Int>? = nil) throws(Errno) {
    let range = range ?? 0..<count
    checkRange(range, #function)
    guard !range.isEmpty else { return }
    var mapping = rawMapping
    _ = try valueOrErrno {
      system_madvise(&mapping, range.lowerBound, range.count, advice.rawValue)
    }
  }

  /// Calls `body` with the region's bytes. **Unguarded**: if the file was truncated
  /// under the mapping, reading a page past its new end raises SIGBUS, which kills the
  /// process. Use `copyBytes(from:into:)` or `read(_:)` when the file may shrink.
  ///
  /// - Parameter body: Gets the bytes; the pointer must not escape the closure.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public func withUnsafeBytes<R: ~Copyable, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    try body(UnsafeRawBufferPointer(start: data, count: count))
  }

  /// Calls `body` with the region's bytes, writable. **Unguarded**, as
  /// `withUnsafeBytes(_:)`. Writes to a `.shared` region reach the file.
  ///
  /// - Precondition: `protection == .readWrite`.
  /// - Parameter body: Gets the bytes; the pointer must not escape the closure.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public mutating func withUnsafeMutableBytes<R: ~Copyable, E: Error>(
    _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
  ) throws(E) -> R {
    precondition(protection == .readWrite, "MappedRegion: the region is mapped read-only")
    return try body(UnsafeMutableRawBufferPointer(start: data, count: count))
  }

  /// Calls `body` with a `RawSpan` over the region's bytes: bounds-checked and unable to
  /// escape, but **unguarded** against SIGBUS, as `withUnsafeBytes(_:)`.
  ///
  /// - Parameter body: Gets the span.
  /// - Returns: What `body` returns.
  /// - Throws: What `body` throws.
  public func withRawSpan<R: ~Copyable, E: Error>(
    _ body: (RawSpan) throws(E) -> R
  ) throws(E) -> R {
    let buffer = UnsafeRawBufferPointer(start: data, count: count)
    return try body(buffer.bytes)
  }

  /// Copies the bytes at `range` of the region into `destination`, surviving a file
  /// truncated under the mapping: the SIGBUS is caught and becomes an error.
  ///
  /// - Parameters:
  ///   - range: Byte offsets within the region.
  ///     - Precondition: `range` lies within `0..<count`.
  ///   - destination: Where to copy to, from its start.
  ///     - Precondition: `destination.count >= range.count`.
  /// - Throws: `Errno.mappedFileTruncated` (`EFAULT`): the file behind the mapping is now
  ///   shorter than the range; `destination` then holds an unspecified prefix.
  ///
  /// The corresponding C function is `zc_guarded_copy`.
  public func copyBytes(
    from range: Range<Int>, into destination: UnsafeMutableRawBufferPointer
  ) throws(Errno) {
    checkRange(range, #function)
    precondition(
      destination.count >= range.count,
      "MappedRegion.copyBytes: the destination holds \(destination.count) bytes, the range \(range.count)")
    guard !range.isEmpty else { return }
    let source = address(at: range.lowerBound)
    _ = try valueOrErrno {
      system_guarded_copy(destination.baseAddress, source, range.count, nil)
    }
  }

  /// Returns a copy of the bytes at `range` of the region, surviving a file truncated
  /// under the mapping.
  ///
  /// - Parameter range: Byte offsets within the region.
  ///   - Precondition: `range` lies within `0..<count`.
  /// - Returns: `range.count` bytes.
  /// - Throws: `Errno.mappedFileTruncated` (`EFAULT`): the file is now shorter than the range.
  ///
  /// The corresponding C function is `zc_guarded_copy`.
  public func read(_ range: Range<Int>) throws(Errno) -> [UInt8] {
    checkRange(range, #function)
    var failure: Errno?
    let bytes = [UInt8](unsafeUninitializedCapacity: range.count) { buffer, initialized in
      do throws(Errno) {
        try copyBytes(from: range, into: UnsafeMutableRawBufferPointer(buffer))
        initialized = range.count
      } catch {
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return bytes
  }

  /// Copies `source` into the region at `offset`, surviving a file truncated under the
  /// mapping. With a `.shared` region the bytes reach the file.
  ///
  /// - Parameters:
  ///   - source: The bytes to store.
  ///   - offset: Where in the region to store them.
  ///     - Precondition: `protection == .readWrite` and
  ///       `offset..<offset + source.count` lies within `0..<count`.
  /// - Throws: `Errno.mappedFileTruncated` (`EFAULT`): the file is now shorter than the
  ///   range; an unspecified prefix was stored.
  ///
  /// The corresponding C function is `zc_guarded_copy`.
  public mutating func storeBytes(_ source: UnsafeRawBufferPointer, at offset: Int) throws(Errno) {
    precondition(protection == .readWrite, "MappedRegion: the region is mapped read-only")
    let range = offset..<(offset + source.count)
    checkRange(range, #function)
    guard !range.isEmpty else { return }
    let destination = address(at: offset)
    _ = try valueOrErrno {
      system_guarded_copy(destination, source.baseAddress, source.count, nil)
    }
  }

  /// Writes `range` of the region (all of it by default) to `file` without touching the
  /// mapped pages in user space: a truncated file gives an error, never SIGBUS.
  /// The same as `file.writeAll(fromMapping: self, range: range, at: offset)`.
  ///
  /// - Parameters:
  ///   - range: Byte offsets within the region; nil for all of it.
  ///     - Precondition: `range` lies within `0..<count`.
  ///   - file: The descriptor to write to.
  ///   - offset: Where to write; nil to use and advance the file position.
  /// - Returns: `.complete`, or `.wouldBlock` (a non-blocking destination is full).
  /// - Throws: `TransferFailure` with the bytes written so far and
  ///   `Errno.mappedFileTruncated` (`.badAddress`), `.brokenPipe`, `.noSpace`...
  ///
  /// The corresponding C function is `zc_write_from_mapping` (system calls `pwrite64`/`write`).
  public func write(
    _ range: Range<Int>? = nil, to file: FileDescriptor, at offset: Int64?
  ) throws(TransferFailure) -> TransferResult {
    try file.writeAll(fromMapping: self, range: range, at: offset)
  }
}
