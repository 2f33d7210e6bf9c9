// Shared helpers for the ZeroCopy engine tests.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import URing
import ZeroCopy

/// The two engine kinds every behavioural test runs against.
enum EngineKind: String, Sendable, CustomStringConvertible {
  case ioUring, threadPool
  var description: String { rawValue }
}

enum Support {
  /// Whether io_uring can be used here (the io_uring suite is skipped otherwise).
  static let ioUringAvailable = IOURingAvailability.isAvailable

  /// Whether this binary runs under AddressSanitizer or ThreadSanitizer (`make sanitize`).
  static let underSanitizer = Faults.underAddressSanitizer || Faults.underThreadSanitizer

  /// Why the io_uring suite is skipped.
  static var ioUringSkipComment: Comment {
    Comment(rawValue: "io_uring is unavailable here: \(IOURingAvailability.current)")
  }

  /// A fresh engine of `kind`; shut it down at the end of the test.
  /// `completesReadyReadsInline`: the library's default (true) unless a test needs every
  /// read to reach the engine (queue pressure, counted operations).
  static func engine(
    _ kind: EngineKind, submissionQueueEntries: UInt32 = 64, completionQueueEntries: UInt32? = nil,
    completesReadyReadsInline: Bool = true
  ) throws -> IOEngine {
    let engine = try IOEngine(
      IOEngine.Configuration(
        preference: kind == .ioUring ? .ioUring : .threadPool,
        submissionQueueEntries: submissionQueueEntries,
        completionQueueEntries: completionQueueEntries,
        name: "zc-test-\(kind == .ioUring ? "ring" : "pool")",
        completesReadyReadsInline: completesReadyReadsInline))
    #expect(engine.kind == (kind == .ioUring ? .ioUring : .threadPool))
    return engine
  }

  /// Deterministic bytes: `count` bytes of a pattern keyed by `seed`.
  static func pattern(seed: Int, count: Int) -> [UInt8] {
    var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
      state ^= state << 13
      state ^= state >> 7
      state ^= state << 17
      out[i] = UInt8(truncatingIfNeeded: state)
    }
    return out
  }

  /// A buffer holding `bytes` (and zeros after them, up to `capacity`).
  static func buffer(_ bytes: [UInt8], capacity: Int? = nil) throws -> AlignedBuffer {
    var buffer = try AlignedBuffer(count: capacity ?? bytes.count)
    buffer.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
    return buffer
  }

  /// A buffer filled with `byte`.
  static func filled(_ byte: UInt8, count: Int) throws -> AlignedBuffer {
    var buffer = try AlignedBuffer(count: count, zeroed: false)
    buffer.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: byte) }
    return buffer
  }

  /// The first `count` bytes of `buffer`.
  static func bytes(_ buffer: borrowing AlignedBuffer, count: Int? = nil) -> [UInt8] {
    buffer.withUnsafeBytes { Array($0.prefix(count ?? buffer.count)) }
  }

  /// Whether every byte of `buffer` is `byte`.
  static func isFilled(_ buffer: borrowing AlignedBuffer, with byte: UInt8) -> Bool {
    buffer.withUnsafeBytes { $0.allSatisfy { $0 == byte } }
  }

  /// Forks; the child runs `body` (synchronously: only this thread exists there), writes
  /// the failure it returns (nil: none) to standard error and `_exit`s with 0 or 1. Returns
  /// the child's wait status (0: it passed).
  static func inForkedChild(_ body: () -> String?) -> Int32 {
    let pid = Glibc.fork()
    if pid == 0 {
      let failure = body()
      if let failure { _ = "child: \(failure)\n".withCString { write(2, $0, strlen($0)) } }
      _exit(failure == nil ? 0 : 1)
    }
    #expect(pid > 0)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
  }
}

/// A temporary directory, removed (with the files in it) when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
  let path: FilePath

  init() throws {
    var template = Array("/tmp/zc-engine-test-XXXXXX".utf8CString)
    guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw Errno(rawValue: errno)
    }
    path = FilePath(String(cString: created))
  }

  deinit {
    if let dir = opendir(path.string) {
      while let entry = readdir(dir) {
        let name = direntName(entry)
        if name != "." && name != ".." { unlink(path.appending(name).string) }
      }
      closedir(dir)
    }
    rmdir(path.string)
  }

  func file(_ name: String) -> FilePath { path.appending(name) }

  /// Writes `bytes` to a new file `name` (synchronously) and returns its path.
  @discardableResult
  func write(_ name: String, _ bytes: [UInt8]) throws -> FilePath {
    let p = file(name)
    let fd = try FileDescriptor.open(p, .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
    defer { try? fd.close() }
    _ = try fd.writeAll(bytes)
    return p
  }

  /// The bytes of file `path` (synchronously).
  func read(_ path: FilePath) throws -> [UInt8] {
    let fd = try FileDescriptor.open(path, .readOnly)
    defer { try? fd.close() }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
      if n == 0 { break }
      out += chunk[0..<n]
    }
    return out
  }
}

/// A pipe whose ends are plain descriptors (the test decides who closes which).
struct RawPipe {
  let readEnd: FileDescriptor
  let writeEnd: FileDescriptor

  init() throws {
    let ends = try Pipe().releaseDescriptors()
    readEnd = ends.readEnd
    writeEnd = ends.writeEnd
  }
}

/// The targets of this process's open descriptors (`/proc/self/fd/N` links), by number.
func openDescriptorTargets() -> [Int32: String] {
  var result: [Int32: String] = [:]
  guard let dir = opendir("/proc/self/fd") else { return result }
  defer { closedir(dir) }
  while let entry = readdir(dir) {
    let name = direntName(entry)
    guard let fd = Int32(name) else { continue }
    var target = [CChar](repeating: 0, count: 512)
    let n = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
    if n > 0 {
      result[fd] = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }
  return result
}

/// The `/proc/self/fd` target of one descriptor (`pipe:[1234]`, `socket:[99]`, a path…).
func descriptorTarget(_ fd: FileDescriptor) -> String? {
  var target = [CChar](repeating: 0, count: 512)
  let n = readlink("/proc/self/fd/\(fd.rawValue)", &target, target.count - 1)
  guard n > 0 else { return nil }
  return String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Sleeps for `microseconds` (cooperatively).
func pause(microseconds: Int) async {
  try? await Task.sleep(for: .microseconds(microseconds))
}

/// Polls `condition` (every millisecond, cooperatively) until it holds or `limit` has
/// passed; whether it held. For a state that another thread or the kernel reaches soon
/// but not at a known moment: a suite on a loaded machine can wait a long time for it,
/// and an assertion on the outcome still fails if it never comes.
func eventually(within limit: Duration = .seconds(2), _ condition: () throws -> Bool) async rethrows -> Bool {
  let deadline = ContinuousClock.now + limit
  while true {
    if try condition() { return true }
    if ContinuousClock.now >= deadline { return false }
    try? await Task.sleep(for: .milliseconds(1))
  }
}

/// The bytes queued for reading on a socket or pipe (`readableBytes`: `ioctl(FIONREAD)`);
/// -1 on an error.
func queuedBytes(_ fd: FileDescriptor) -> Int {
  (try? fd.readableBytes) ?? -1
}

/// The name in a `dirent` (read through a pointer: the kernel's record may be shorter than
/// `d_name`'s declared 256 bytes).
func direntName(_ entry: UnsafeMutablePointer<dirent>) -> String {
  withUnsafeMutablePointer(to: &entry.pointee.d_name) {
    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
  }
}

extension TimeLimitTrait.Duration {
  /// A time limit that guards against hangs: `minutes` in the normal runs, five times that
  /// under ASan or TSan. Swift Testing runs every suite at once, so a test's wall time
  /// includes its waits for the two cooperative threads of this 2-core machine; under TSan
  /// the whole run takes about 4× as long (273 s against 67 s debug in a fresh-clone CI at
  /// 45f05db), and tests that take under a second alone took 140–250 s there. A 2-minute
  /// limit failed `cancellationStorm` and `cachedReadsSkipTheEngine` once that way (CI of
  /// stop 23); a hang still fails, later.
  static func hangGuard(minutes: Int) -> Self {
    .minutes(minutes * (Support.underSanitizer ? 5 : 1))
  }
}
