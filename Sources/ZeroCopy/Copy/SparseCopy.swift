// Holes: finding a file's data segments (SEEK_DATA/SEEK_HOLE) and writing runs of zeros
// as holes, for Transfer.copy and the tree copy.

import Glibc
import SystemPackage

/// How a copy treats holes — ranges of a regular file that were never written, take no
/// disk space and read as zeros — with the meanings of `cp --sparse=WHEN`.
public enum SparseMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// The default, as cp's: a regular source that holds fewer blocks than its size needs
  /// (`st_blocks * 512 < st_size`) has holes. Its data segments — found with
  /// `lseek(SEEK_DATA)`/`lseek(SEEK_HOLE)` — are copied by the strategy, each at its own
  /// offset, and the holes are recreated by skipping them and setting the length with
  /// `ftruncate`. A 3 GiB file holding 8 KiB of data costs a few system calls and 8 KiB of
  /// copying. Other sources are copied whole (the kernel may still clone: `copy_file_range`
  /// on XFS and Btrfs shares extents, holes included).
  case auto
  /// Every run of zeros at least one destination block long becomes a hole, whatever the
  /// source: the data passes through user space to be checked (read into a buffer, blocks
  /// of zeros skipped, the rest written with `pwrite`), so the report names `readWrite`
  /// and lists the requested strategy as a fallback saying why.
  case always
  /// No hole is created on purpose: the source is copied whole, its holes read as zeros
  /// and written. (A filesystem that clones in `copy_file_range` — XFS, Btrfs — may still
  /// share the source's extents, holes included; ext4 and tmpfs write the zeros.)
  case never

  /// The mode's name, as `--sparse` spells it.
  public var description: String { rawValue }
}

/// Data segments and zero runs.
enum SparseFiles {
  /// cp's heuristic: a regular file whose allocated blocks cannot hold its size has holes.
  static func looksSparse(_ status: stat) -> Bool {
    status.st_mode & S_IFMT == S_IFREG && Int64(status.st_blocks) < Int64(status.st_size) / 512
  }

  /// Walks the data segments of an open file between two offsets with
  /// `lseek(SEEK_DATA)` and `lseek(SEEK_HOLE)`. Does not move the file's position for
  /// anyone else in a way that matters: callers read at explicit offsets.
  struct Segments {
    let descriptor: CInt
    var position: Int64
    let end: Int64
    /// `lseek` calls made.
    private(set) var syscalls = 0

    /// Whether the filesystem refused `SEEK_DATA` (`EINVAL`/`EOPNOTSUPP`) on the first
    /// call: the whole range was then given as one segment.
    private(set) var holesUnsupported = false
    private var first = true

    init(_ descriptor: CInt, from start: Int64, to end: Int64) {
      self.descriptor = descriptor
      position = start
      self.end = end
    }

    /// The next data segment (clamped to `end`), or nil when only holes are left. A
    /// filesystem that does not report holes (`lseek(SEEK_DATA)` answers `EINVAL` or
    /// `EOPNOTSUPP` the first time) gives the whole range as one segment.
    ///
    /// - Throws: any other `lseek` errno.
    mutating func next() throws(Errno) -> Range<Int64>? {
      guard position < end else { return nil }
      defer { first = false }
      syscalls += 1
      let file = FileDescriptor(rawValue: descriptor)
      let start: Int64
      do throws(Errno) {
        start = try file.seek(toData: position)
      } catch {
        if error == .noSuchAddressOrDevice { return nil }  // only a hole is left before the end of the file
        if first && (error == .invalidArgument || error == .notSupported) {
          holesUnsupported = true
          defer { position = end }
          return position..<end
        }
        throw error
      }
      guard start < end else { return nil }
      syscalls += 1
      var stop: Int64
      do throws(Errno) {
        stop = try file.seek(toHole: start)
      } catch {
        // ENXIO: the file shrank under us; the segment ends where the file now ends.
        guard error == .noSuchAddressOrDevice else { throw error }
        stop = start
      }
      stop = Swift.min(stop, end)
      position = stop
      guard stop > Int64(start) else { return nil }
      return Int64(start)..<stop
    }
  }

  /// Whether `bytes` holds only zeros.
  static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var index = 0
    let count = bytes.count
    let words = count / 8
    while index < words {
      if bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) != 0 { return false }
      index += 1
    }
    var tail = words * 8
    while tail < count {
      if bytes[tail] != 0 { return false }
      tail += 1
    }
    return true
  }

  /// What ``copySkippingZeros(from:at:to:at:count:block:buffer:checkCancelled:)`` did.
  struct ZeroRunResult {
    /// Bytes read from the source (data and zeros): the destination's length grows by this.
    var bytesRead: Int64 = 0
    /// Bytes written to the destination (the rest became holes).
    var bytesWritten: Int64 = 0
    /// Read and write calls.
    var syscalls = 0
    /// Whether the source ended before `count` bytes (or this was "until the end").
    var reachedEnd = false
  }

  /// A failed read or write of ``copySkippingZeros(from:at:to:at:count:block:buffer:checkCancelled:)``.
  struct ZeroRunFailure: Error {
    var syscall: String
    var errno: Errno
    var result: ZeroRunResult
  }

  /// Copies `count` bytes (nil: until the source ends) from `input` (at `inputOffset`, or
  /// from its position when nil) to the regular file `output` at `outputOffset`, writing
  /// only the `block`-sized pieces that are not all zeros: the others become holes. The
  /// caller sets the final length (`ftruncate`), since a trailing run of zeros writes
  /// nothing. `checkCancelled` runs between buffers; a throw from it stops the copy.
  static func copySkippingZeros(
    from input: CInt, at inputOffset: Int64?, to output: CInt, at outputOffset: Int64, count: Int64?, block: Int,
    buffer: UnsafeMutableRawBufferPointer, checkCancelled: () -> Errno?
  ) throws(ZeroRunFailure) -> ZeroRunResult {
    var result = ZeroRunResult()
    let block = Swift.max(512, Swift.min(block, buffer.count))
    let usable = buffer.count / block * block
    while true {
      if let errno = checkCancelled() { throw ZeroRunFailure(syscall: "cancellation", errno: errno, result: result) }
      var want = usable
      if let count {
        let left = count - result.bytesRead
        if left <= 0 { return result }
        want = Int(Swift.min(Int64(want), left))
      }
      let n: Int
      let into = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want])
      do {
        // One read or pread64 (swift-system's, which retries EINTR).
        if let inputOffset {
          n = try FileDescriptor(rawValue: input).read(fromAbsoluteOffset: inputOffset + result.bytesRead, into: into)
        } else {
          n = try FileDescriptor(rawValue: input).read(into: into)
        }
        result.syscalls += 1
      } catch {
        result.syscalls += 1
        throw ZeroRunFailure(syscall: inputOffset == nil ? "read" : "pread64", errno: error as? Errno ?? .ioError, result: result)
      }
      if n == 0 {
        result.reachedEnd = true
        return result
      }
      // Write each maximal run of non-zero blocks with one pwrite.
      var runStart: Int? = nil
      var position = 0
      while position <= n {
        let pieceEnd = Swift.min(position + block, n)
        let isData =
          position < n
          && !isZero(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[position..<pieceEnd]))
        if isData {
          if runStart == nil { runStart = position }
        } else if let start = runStart {
          var written = start
          while written < position {
            let w: Int
            do {
              // One pwrite64 (swift-system's, which retries EINTR).
              w = try FileDescriptor(rawValue: output).write(
                toAbsoluteOffset: outputOffset + result.bytesRead + Int64(written),
                UnsafeRawBufferPointer(rebasing: buffer[written..<position]))
              result.syscalls += 1
            } catch {
              result.syscalls += 1
              throw ZeroRunFailure(syscall: "pwrite64", errno: error as? Errno ?? .ioError, result: result)
            }
            written += w
            result.bytesWritten += Int64(w)
          }
          runStart = nil
        }
        if position == n { break }
        position = pieceEnd
      }
      result.bytesRead += Int64(n)
    }
  }
}
