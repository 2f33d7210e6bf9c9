// The temporary workspace: source files with deterministic contents, destination files,
// and the marker pattern that makes stale bytes fail verification.

import Foundation
import Glibc

/// A source file the benchmark reads.
public struct SourceFile: Sendable {
  /// Its path.
  public let path: String
  /// Its size in bytes.
  public let size: Int
  /// zc64 of its contents.
  public let checksum: UInt64
}

/// The workspace of one run: a directory in the temporary directory (and one on tmpfs
/// when available), removed by `remove()`.
public final class Workspace: @unchecked Sendable {
  /// The main directory (on the temporary directory's filesystem).
  public let directory: String
  /// A directory on tmpfs (/dev/shm), or nil when none is usable.
  public let tmpfsDirectory: String?
  /// Scratch directory for child outputs (tmpfs when available, so logging never touches
  /// the measured filesystem's journal).
  public let scratch: String
  private var sources: [Int: SourceFile] = [:]
  private var streamSums: [String: UInt64] = [:]

  /// The byte the destination files are filled with before every transfer.
  public static let marker: UInt8 = 0xA5

  /// Creates the directories. `base`: the parent directory (default `$TMPDIR` or /tmp).
  /// `tmpfsBytes`: how much space the tmpfs directory must offer to be used.
  public init(base: String? = nil, tmpfsBytes: Int) throws {
    let parent = base ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    directory = try Workspace.makeTemp(in: parent)
    var shm: String?
    if filesystemType(of: "/dev/shm") == "tmpfs" {
      var s = statvfs()
      if statvfs("/dev/shm", &s) == 0, Int(s.f_bavail) * Int(s.f_frsize) > tmpfsBytes + (256 << 20) {
        shm = try? Workspace.makeTemp(in: "/dev/shm")
      }
    }
    tmpfsDirectory = shm
    scratch = shm ?? directory
  }

  private static func makeTemp(in parent: String) throws -> String {
    var template = Array("\(parent)/zerocopy-bench.XXXXXX".utf8CString)
    guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw BenchError("mkdtemp in \(parent): \(String(cString: strerror(errno)))")
    }
    return String(cString: p)
  }

  /// Removes everything the workspace created.
  public func remove() {
    try? FileManager.default.removeItem(atPath: directory)
    if let tmpfsDirectory { try? FileManager.default.removeItem(atPath: tmpfsDirectory) }
  }

  /// The source file of `size` bytes, creating it on first use: deterministic
  /// pseudo-random bytes (xorshift64*, seeded by the size), written with 1 MiB writes
  /// and fsynced, so posix_fadvise(DONTNEED) can drop its pages later.
  public func source(size: Int) throws -> SourceFile {
    if let s = sources[size] { return s }
    let path = "\(directory)/src-\(size).bin"
    let fd = try check(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644), "create \(path)")
    defer { close(fd) }
    let chunk = 1 << 20
    let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buf.deallocate() }
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(size)
    var sum = ZC64()
    var written = 0
    while written < size {
      let n = min(chunk, size - written)
      let words = buf.bindMemory(to: UInt64.self, capacity: chunk / 8)
      for i in 0..<((n + 7) / 8) {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        words[i] = (state &* 0x2545_F491_4F6C_DD1D).littleEndian
      }
      sum.update(UnsafeRawBufferPointer(start: buf, count: n))
      try writeFully(fd, UnsafeRawBufferPointer(start: buf, count: n), at: written, path: path)
      written += n
    }
    try check(fsync(fd), "fsync \(path)")
    let s = SourceFile(path: path, size: size, checksum: sum.value)
    sources[size] = s
    return s
  }

  /// The expected zc64 of a stream made of `count` copies of `source` back to back (what a
  /// socket or pipe receiver sees when `count` transfers share one connection).
  public func streamChecksum(of source: SourceFile, copies count: Int) throws -> UInt64 {
    if count == 1 { return source.checksum }
    let key = "\(source.size)x\(count)"
    if let v = streamSums[key] { return v }
    let data = try readFile(source.path, size: source.size)
    var sum = ZC64()
    data.withUnsafeBytes { raw in
      for _ in 0..<count { sum.update(raw) }
    }
    streamSums[key] = sum.value
    return sum.value
  }

  /// A destination file path for `cell` (on tmpfs for `.tmpfs`).
  public func destinationPath(for cell: Cell, suffix: String = "") -> String {
    let dir = cell.destination == .tmpfs ? (tmpfsDirectory ?? directory) : directory
    return "\(dir)/dst-\(cell.size)\(suffix).bin"
  }

  /// Creates (or re-creates) a destination file of `size` bytes filled with the marker.
  public func createDestination(_ path: String, size: Int) throws {
    let fd = try check(open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644), "create \(path)")
    defer { close(fd) }
    try Workspace.scribble(fd: fd, size: size, path: path)
  }

  /// Overwrites `[0, size)` of `fd` with the marker byte (1 MiB pwrites).
  public static func scribble(fd: CInt, size: Int, path: String) throws {
    let chunk = min(1 << 20, max(size, 1))
    let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buf.deallocate() }
    buf.initializeMemory(as: UInt8.self, repeating: marker, count: chunk)
    var off = 0
    while off < size {
      let n = min(chunk, size - off)
      try writeFully(fd, UnsafeRawBufferPointer(start: buf, count: n), at: off, path: path)
      off += n
    }
  }

  /// zc64 and size of the whole file behind `fd` (pread, 1 MiB at a time).
  public static func checksum(fd: CInt, path: String) throws -> (size: Int, checksum: UInt64) {
    var st = stat()
    try check(fstat(fd, &st), "fstat \(path)")
    let size = Int(st.st_size)
    let chunk = ChecksumBuffer.size
    ChecksumBuffer.lock.lock()
    defer { ChecksumBuffer.lock.unlock() }
    let buf = ChecksumBuffer.bytes
    var sum = ZC64()
    var off = 0
    while off < size {
      let n = pread(fd, buf, min(chunk, size - off), off_t(off))
      if n < 0 && errno == EINTR { continue }
      try check(n, "read \(path)")
      if n == 0 { break }
      sum.update(UnsafeRawBufferPointer(start: buf, count: n))
      off += n
    }
    return (off, sum.value)
  }

  /// The checksum's read buffer, allocated once, as xfer_ref's is static: a 1 MiB aligned
  /// allocation per verification is an `mmap` and a `munmap` (malloc serves blocks that
  /// large from the kernel), so every transfer of a Swift subject came after a fresh
  /// mapping's page faults and an unmapping's TLB shootdown on the other CPU, which the
  /// C twins never paid (a quarter of the measuring thread's samples at 4 KiB under perf).
  private enum ChecksumBuffer {
    static let size = 1 << 20
    nonisolated(unsafe) static let bytes = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
    static let lock = NSLock()
  }

  /// zc64 and size of the file at `path`.
  public static func checksum(path: String) throws -> (size: Int, checksum: UInt64) {
    let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
    defer { close(fd) }
    return try checksum(fd: fd, path: path)
  }
}

/// Writes all of `bytes` at `offset` (pwrite loop).
func writeFully(_ fd: CInt, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws {
  var done = 0
  while done < bytes.count {
    let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
    if n < 0 && errno == EINTR { continue }
    try check(n, "write \(path)")
    done += n
  }
}

/// Reads a whole file of known size into memory.
func readFile(_ path: String, size: Int) throws -> [UInt8] {
  let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
  defer { close(fd) }
  var data = [UInt8](repeating: 0, count: size)
  var off = 0
  try data.withUnsafeMutableBytes { raw in
    while off < size {
      let n = pread(fd, raw.baseAddress! + off, size - off, off_t(off))
      if n < 0 && errno == EINTR { continue }
      try check(n, "read \(path)")
      if n == 0 { throw BenchError("\(path) is shorter than \(size) bytes") }
      off += n
    }
  }
  return data
}
