// Copying a file by path, like cp: permissions, same-file refusal, atomic replace, fsync.

import Glibc
public import SystemPackage

/// How ``Transfer/copy(from:to:strategy:options:)`` writes the destination.
public struct CopyOptions: Sendable {
  /// Write a temporary file next to the destination and `rename` it over the destination
  /// at the end: readers see the old file or the complete new one, never a partial copy,
  /// and a failed copy leaves the destination untouched (the temporary file is removed).
  public var atomic: Bool
  /// `fsync` the copy before returning (and, with ``atomic``, the directory after the
  /// rename), so it survives a crash.
  public var fsync: Bool
  /// Options for the transfer itself (fallback, chunk size, monitor).
  public var transfer: TransferOptions

  /// Options for a copy.
  public init(atomic: Bool = false, fsync: Bool = false, transfer: TransferOptions = TransferOptions()) {
    self.atomic = atomic
    self.fsync = fsync
    self.transfer = transfer
  }
}

extension Transfer {
  /// Copies the file at `source` to `destination`, like `cp`.
  ///
  /// - A new destination is created with the source's permission bits (`& 0o777`, less
  ///   the umask, as `cp` does); an existing one keeps its permissions and is truncated
  ///   (a FIFO or device, such as `/dev/null`, is written without truncation).
  /// - A destination that is an existing directory receives the file under the source's name.
  /// - A destination that is the source itself — the same device and inode, for example
  ///   a hard link — is refused with `EINVAL` **before anything is truncated**.
  /// - With ``CopyOptions/atomic``, the copy goes to a temporary file in the destination's
  ///   directory that is renamed over the destination at the end.
  /// - With ``CopyOptions/fsync``, the data (and the directory entry) reach the disk first.
  ///
  /// - Parameters:
  ///   - source: The file to copy (anything readable: a regular file, a /proc file…).
  ///   - destination: The path to write, or an existing directory to copy into.
  ///   - strategy: `.automatic` by default.
  ///   - options: Atomic replace, fsync, transfer options.
  /// - Returns: The transfer's report.
  /// - Throws: ``ZeroCopyError`` with operation `copy`: the failing call (`open`,
  ///   `ftruncate`, `sendfile`, `rename`, `fsync`…), its errno, both paths, and the bytes
  ///   that reached the destination (or the temporary file, which is then removed).
  ///
  /// The corresponding C functions are `open`, `fstat`, `ftruncate`, the strategy's
  /// system calls, `fsync`, `rename` and `close`.
  public static func copy(
    from source: FilePath, to destination: FilePath, strategy: some TransferStrategy = .automatic,
    options: CopyOptions = CopyOptions()
  ) async throws(ZeroCopyError) -> TransferReport {
    let copyOptions = options
    return try await offloaded(options.transfer) { transferOptions throws(ZeroCopyError) in
      var configured = copyOptions
      configured.transfer = transferOptions
      return try copyBlocking(from: source, to: destination, strategy: strategy, options: configured)
    }
  }

  /// Copies a file like ``copy(from:to:strategy:options:)``, on the calling thread.
  ///
  /// - Throws: ``ZeroCopyError``, as ``copy(from:to:strategy:options:)``.
  public static func copyBlocking(
    from source: FilePath, to destination: FilePath, strategy: some TransferStrategy = .automatic,
    options: CopyOptions = CopyOptions()
  ) throws(ZeroCopyError) -> TransferReport {
    var target = destination
    func fail(_ syscall: String, _ errno: Errno, _ message: String? = nil, bytes: Int64 = 0) -> ZeroCopyError {
      ZeroCopyError(.copy, syscall: syscall, errno: errno, paths: [source, target], bytesTransferred: bytes, message: message)
    }

    let input = source.withPlatformString { open($0, O_RDONLY | O_CLOEXEC) }
    guard input >= 0 else { throw fail("open", Errno(rawValue: Glibc.errno), "cannot open the source") }
    defer { _ = Glibc.close(input) }
    var sourceStat = stat()
    guard fstat(input, &sourceStat) == 0 else { throw fail("fstat", Errno(rawValue: Glibc.errno)) }
    if sourceStat.st_mode & S_IFMT == S_IFDIR { throw fail("read", .isDirectory, "the source is a directory") }

    // Resolve the destination and refuse the source itself before touching anything.
    var targetStat = stat()
    var targetExists = target.withPlatformString { stat($0, &targetStat) } == 0
    if targetExists && targetStat.st_mode & S_IFMT == S_IFDIR, let name = source.lastComponent {
      target = target.appending(name)
      targetExists = target.withPlatformString { stat($0, &targetStat) } == 0
    }
    func isSource(_ other: stat) -> Bool {
      other.st_dev == sourceStat.st_dev && other.st_ino == sourceStat.st_ino
    }
    let sameFileMessage = "source and destination are the same file (device \(sourceStat.st_dev), inode \(sourceStat.st_ino))"
    if targetExists && isSource(targetStat) { throw fail("stat", .invalidArgument, sameFileMessage) }
    let mode = mode_t(sourceStat.st_mode & 0o777)

    if options.atomic {
      return try copyAtomically(input: input, source: source, target: target, mode: mode, strategy: strategy, options: options)
    }

    // Open without O_TRUNC, check the inode again (the path may have changed), then truncate.
    let output = target.withPlatformString { open($0, O_WRONLY | O_CREAT | O_CLOEXEC, mode) }
    guard output >= 0 else { throw fail("open", Errno(rawValue: Glibc.errno), "cannot open the destination") }
    var closed = false
    defer { if !closed { _ = Glibc.close(output) } }
    var outputStat = stat()
    guard fstat(output, &outputStat) == 0 else { throw fail("fstat", Errno(rawValue: Glibc.errno)) }
    if isSource(outputStat) { throw fail("fstat", .invalidArgument, sameFileMessage) }
    // Only regular files are truncated (as O_TRUNC would): a FIFO or /dev/null is written as is.
    if outputStat.st_mode & S_IFMT == S_IFREG {
      guard ftruncate(output, 0) == 0 else { throw fail("ftruncate", Errno(rawValue: Glibc.errno)) }
    }

    let report = try perform(
      TransferRequest(
        from: FileDescriptor(rawValue: input), offset: 0, to: FileDescriptor(rawValue: output), at: 0,
        sourcePath: source, destinationPath: target),
      strategy: strategy, options: options.transfer, operation: .copy)
    if options.fsync && Glibc.fsync(output) != 0 {
      throw fail("fsync", Errno(rawValue: Glibc.errno), bytes: report.bytes)
    }
    closed = true
    if Glibc.close(output) != 0 && Glibc.errno != EINTR {
      throw fail("close", Errno(rawValue: Glibc.errno), bytes: report.bytes)
    }
    return report
  }

  /// Copies into a temporary file in `target`'s directory, then renames it over `target`.
  private static func copyAtomically(
    input: CInt, source: FilePath, target: FilePath, mode: mode_t, strategy: some TransferStrategy,
    options: CopyOptions
  ) throws(ZeroCopyError) -> TransferReport {
    let directory = target.removingLastComponent()
    let directoryPath: FilePath = directory.isEmpty ? "." : directory
    let baseName = target.lastComponent?.string ?? "copy"
    var temporary = target
    func fail(_ syscall: String, _ errno: Errno, _ message: String? = nil, bytes: Int64 = 0) -> ZeroCopyError {
      ZeroCopyError(.copy, syscall: syscall, errno: errno, paths: [source, target], bytesTransferred: bytes, message: message)
    }

    var output: CInt = -1
    for _ in 0..<16 {
      let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
      temporary = directoryPath.appending(".\(baseName).zc-\(suffix)")
      output = temporary.withPlatformString { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
      if output >= 0 || Glibc.errno != EEXIST { break }
    }
    guard output >= 0 else {
      throw fail("open", Errno(rawValue: Glibc.errno), "cannot create a temporary file in '\(directoryPath)'")
    }
    var keepTemporary = false
    var closed = false
    defer {
      if !closed { _ = Glibc.close(output) }
      if !keepTemporary { _ = temporary.withPlatformString { unlink($0) } }
    }
    let report: TransferReport
    do {
      report = try perform(
        TransferRequest(
          from: FileDescriptor(rawValue: input), offset: 0, to: FileDescriptor(rawValue: output), at: 0,
          sourcePath: source, destinationPath: target),
        strategy: strategy, options: options.transfer, operation: .copy)
    } catch var error {
      let note = "the bytes went to a temporary file, now removed; '\(target)' is unchanged"
      error.message = [error.message, note].compactMap { $0 }.joined(separator: "; ")
      throw error
    }
    if options.fsync && Glibc.fsync(output) != 0 {
      throw fail("fsync", Errno(rawValue: Glibc.errno), bytes: report.bytes)
    }
    closed = true
    if Glibc.close(output) != 0 && Glibc.errno != EINTR {
      throw fail("close", Errno(rawValue: Glibc.errno), bytes: report.bytes)
    }
    let renamed = temporary.withPlatformString { from in target.withPlatformString { to in rename(from, to) } }
    guard renamed == 0 else {
      throw fail("rename", Errno(rawValue: Glibc.errno), "the destination was left unchanged", bytes: report.bytes)
    }
    keepTemporary = true
    if options.fsync {
      let directoryDescriptor = directoryPath.withPlatformString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
      guard directoryDescriptor >= 0 else {
        throw fail("open", Errno(rawValue: Glibc.errno), "cannot open the directory to fsync it", bytes: report.bytes)
      }
      defer { _ = Glibc.close(directoryDescriptor) }
      guard Glibc.fsync(directoryDescriptor) == 0 else {
        throw fail("fsync", Errno(rawValue: Glibc.errno), "the directory", bytes: report.bytes)
      }
    }
    return report
  }
}
