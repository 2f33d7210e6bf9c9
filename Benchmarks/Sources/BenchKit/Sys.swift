// Thin system helpers the harness needs and the library layers do not offer (on purpose:
// they are measurement tools, not I/O APIs): clocks, getrusage, mincore, posix_fadvise,
// statfs, and child processes with inherited descriptors.

import CZeroCopy
import Foundation
import Glibc

/// An error from the harness itself (not from a measured strategy).
public struct BenchError: Error, CustomStringConvertible, Sendable {
  /// What went wrong, in a sentence.
  public var message: String
  /// Creates an error with a message.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}

/// Throws `BenchError` with `what` and the current errno when `result` is -1.
@discardableResult
func check<T: BinaryInteger>(_ result: T, _ what: @autoclosure () -> String) throws -> T {
  if result == -1 {
    throw BenchError("\(what()): \(String(cString: strerror(errno)))")
  }
  return result
}

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`, as the C references use).
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Resource usage counters of this process (`getrusage(RUSAGE_SELF)`: every thread,
/// including io_uring's io-wq workers) or of a reaped child.
public struct Usage: Sendable, Hashable, Codable {
  /// User CPU, microseconds.
  public var userMicros: Int64 = 0
  /// System CPU, microseconds.
  public var systemMicros: Int64 = 0
  /// Voluntary context switches (the thread blocked).
  public var voluntarySwitches: Int64 = 0
  /// Involuntary context switches (the thread was preempted).
  public var involuntarySwitches: Int64 = 0
  /// Minor page faults.
  public var minorFaults: Int64 = 0

  /// Zero usage.
  public init() {}

  /// The usage a C reference program printed: the fields `utime_us`, `stime_us`, `nvcsw`,
  /// `nivcsw` and `minflt` of one of its lines (0 for a missing one).
  public init(fields f: [String: String]) {
    func int(_ k: String) -> Int64 { Int64(f[k] ?? "") ?? 0 }
    userMicros = int("utime_us")
    systemMicros = int("stime_us")
    voluntarySwitches = int("nvcsw")
    involuntarySwitches = int("nivcsw")
    minorFaults = int("minflt")
  }

  init(_ r: rusage) {
    userMicros = Int64(r.ru_utime.tv_sec) * 1_000_000 + Int64(r.ru_utime.tv_usec)
    systemMicros = Int64(r.ru_stime.tv_sec) * 1_000_000 + Int64(r.ru_stime.tv_usec)
    voluntarySwitches = Int64(r.ru_nvcsw)
    involuntarySwitches = Int64(r.ru_nivcsw)
    minorFaults = Int64(r.ru_minflt)
  }

  /// This process's usage now.
  @inline(__always)
  public static func current() -> Usage {
    var r = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &r)
    return Usage(r)
  }

  /// Counter-wise difference.
  public static func - (a: Usage, b: Usage) -> Usage {
    var d = Usage()
    d.userMicros = a.userMicros - b.userMicros
    d.systemMicros = a.systemMicros - b.systemMicros
    d.voluntarySwitches = a.voluntarySwitches - b.voluntarySwitches
    d.involuntarySwitches = a.involuntarySwitches - b.involuntarySwitches
    d.minorFaults = a.minorFaults - b.minorFaults
    return d
  }

  /// Counter-wise sum.
  public static func + (a: Usage, b: Usage) -> Usage {
    var d = Usage()
    d.userMicros = a.userMicros + b.userMicros
    d.systemMicros = a.systemMicros + b.systemMicros
    d.voluntarySwitches = a.voluntarySwitches + b.voluntarySwitches
    d.involuntarySwitches = a.involuntarySwitches + b.involuntarySwitches
    d.minorFaults = a.minorFaults + b.minorFaults
    return d
  }
}

/// Page-cache residency and eviction for one file.
public enum PageCache {
  /// The fraction (0...1) of `path`'s pages that are in the page cache, by `mincore(2)`
  /// over a read-only shared mapping of the whole file. 1 for an empty file.
  public static func residency(of path: String) throws -> Double {
    let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
    defer { close(fd) }
    var st = stat()
    try check(fstat(fd, &st), "fstat \(path)")
    let size = Int(st.st_size)
    if size == 0 { return 1 }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let pages = (size + page - 1) / page
    guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else {
      throw BenchError("mmap \(path): \(String(cString: strerror(errno)))")
    }
    defer { munmap(base, size) }
    var vec = [UInt8](repeating: 0, count: pages)
    try check(vec.withUnsafeMutableBufferPointer { mincore(base, size, $0.baseAddress) }, "mincore \(path)")
    var resident = 0
    for v in vec where v & 1 != 0 { resident += 1 }
    return Double(resident) / Double(pages)
  }

  /// Drops `path`'s clean pages from the page cache (`posix_fadvise(POSIX_FADV_DONTNEED)`).
  public static func drop(_ path: String) throws {
    let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
    defer { close(fd) }
    try drop(fd: fd, path: path)
  }

  /// Drops the clean pages of an open file (`posix_fadvise(POSIX_FADV_DONTNEED)`).
  public static func drop(fd: CInt, path: String = "file") throws {
    let r = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
    if r != 0 { throw BenchError("posix_fadvise(DONTNEED) \(path): \(String(cString: strerror(r)))") }
  }

  /// Reads the whole file once (1 MiB reads), so its pages are cached.
  public static func warm(_ path: String) throws {
    let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
    defer { close(fd) }
    let buf = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 4096)
    defer { buf.deallocate() }
    while true {
      let n = read(fd, buf, 1 << 20)
      if n < 0 && errno == EINTR { continue }
      try check(n, "read \(path)")
      if n == 0 { break }
    }
  }
}

/// The filesystem type of the filesystem holding `path`, from /proc/self/mountinfo (the
/// mount whose mount point is the longest prefix of the path's real path).
public func filesystemType(of path: String) -> String {
  guard let real = realpath(path, nil) else { return "unknown" }
  let p = String(cString: real)
  free(real)
  guard let info = try? readSmallFile("/proc/self/mountinfo") else { return "unknown" }
  var best = ""
  var type = "unknown"
  for line in info.split(separator: "\n") {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    let fields = line.split(separator: " ")
    guard fields.count > 5, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
    let mountPoint = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
    let inside = p == mountPoint || mountPoint == "/" || p.hasPrefix(mountPoint + "/")
    if inside && mountPoint.count >= best.count {
      best = mountPoint
      type = String(fields[dash + 1])
    }
  }
  return type
}

/// pipe2(O_CLOEXEC) through the C shim (Glibc's import hides pipe2).
func makePipe(_ fds: inout [CInt]) throws {
  let r = fds.withUnsafeMutableBufferPointer { zc_pipe($0.baseAddress!, 0) }
  if r < 0 { throw BenchError("pipe2: \(String(cString: strerror(-r)))") }
}

/// The `st_dev` of `path`: two paths with the same value are on one filesystem.
public func deviceID(of path: String) -> UInt64? {
  var st = stat()
  guard stat(path, &st) == 0 else { return nil }
  return UInt64(st.st_dev)
}

/// A child process started with `posix_spawn`, with chosen descriptors inherited.
public final class ChildProcess {
  /// Its process id.
  public let pid: pid_t
  /// What it was started as (for error messages).
  public let commandLine: String
  /// The read end of its standard output, when captured through a pipe.
  private var stdoutFD: CInt
  private var buffer: [UInt8] = []
  private var reaped = false
  /// Where its standard error went (a file), when redirected.
  public let stderrPath: String?

  /// How the child's standard output is handled.
  public enum Output {
    /// A pipe the parent reads with `readLine()`.
    case pipe
    /// Appended to a file.
    case file(String)
    /// Inherited from this process.
    case inherit
  }

  /// Starts `path` with `arguments` (argv[1...]).
  ///
  /// - Parameters:
  ///   - stdin: A descriptor to become the child's standard input (nil: /dev/null).
  ///   - stdout: Where its standard output goes.
  ///   - stderrPath: A file for its standard error (nil: inherited).
  ///   - inherit: Descriptors to pass: child fd number → parent descriptor.
  public init(
    _ path: String, _ arguments: [String], stdin: CInt? = nil, stdout: Output = .pipe,
    stderrPath: String? = nil, inherit: [CInt: CInt] = [:]
  ) throws {
    commandLine = ([path] + arguments).joined(separator: " ")
    self.stderrPath = stderrPath
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var pipeFDs: [CInt] = [-1, -1]
    if case .pipe = stdout {
      try makePipe(&pipeFDs)
      posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
    } else if case .file(let p) = stdout {
      posix_spawn_file_actions_addopen(&actions, 1, p, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    }
    if let stdin {
      posix_spawn_file_actions_adddup2(&actions, stdin, 0)
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let stderrPath {
      posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    }
    for (child, parent) in inherit.sorted(by: { $0.key < $1.key }) {
      // dup2 clears FD_CLOEXEC on the new descriptor; when the numbers are equal it
      // would not, so go through a scratch number first.
      if child == parent {
        posix_spawn_file_actions_adddup2(&actions, parent, 1000 + child)
        posix_spawn_file_actions_adddup2(&actions, 1000 + child, child)
        posix_spawn_file_actions_addclose(&actions, 1000 + child)
      } else {
        posix_spawn_file_actions_adddup2(&actions, parent, child)
      }
    }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let rc = argv.withUnsafeBufferPointer { av in
      posix_spawn(&pid, path, &actions, nil, av.baseAddress!, environ)
    }
    if pipeFDs[1] >= 0 { close(pipeFDs[1]) }
    if rc != 0 {
      if pipeFDs[0] >= 0 { close(pipeFDs[0]) }
      throw BenchError("cannot start \(path): \(String(cString: strerror(rc)))")
    }
    self.pid = pid
    self.stdoutFD = pipeFDs[0]
  }

  /// The next line of the child's standard output (without the newline), or nil at
  /// end of file. Only with `Output.pipe`.
  public func readLine() throws -> String? {
    precondition(stdoutFD >= 0, "ChildProcess.readLine: standard output is not a pipe")
    while true {
      if let nl = buffer.firstIndex(of: 10) {
        let line = String(decoding: buffer[..<nl], as: UTF8.self)
        buffer.removeSubrange(...nl)
        return line
      }
      var chunk = [UInt8](repeating: 0, count: 4096)
      let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, 4096) }
      if n < 0 && errno == EINTR { continue }
      try check(n, "read from \(commandLine)")
      if n == 0 {
        if buffer.isEmpty { return nil }
        let line = String(decoding: buffer, as: UTF8.self)
        buffer.removeAll()
        return line
      }
      buffer.append(contentsOf: chunk[..<n])
    }
  }

  /// The child's exit status and resource usage.
  public struct Exit: Sendable {
    /// Exit code (0...255), or nil when killed by a signal.
    public var code: Int32?
    /// The signal that killed it, if any.
    public var signal: Int32?
    /// The child's own CPU and counters (`wait4`).
    public var usage: Usage
    /// Whether it exited with code 0.
    public var succeeded: Bool { code == 0 }
  }

  /// Waits for the child to exit (`wait4`) and returns its status and usage.
  public func wait() throws -> Exit {
    precondition(!reaped, "ChildProcess.wait: already reaped")
    var status: Int32 = 0
    var ru = rusage()
    while wait4(pid, &status, 0, &ru) < 0 {
      if errno == EINTR { continue }
      throw BenchError("wait4 \(commandLine): \(String(cString: strerror(errno)))")
    }
    reaped = true
    if stdoutFD >= 0 {
      close(stdoutFD)
      stdoutFD = -1
    }
    let termSig = status & 0x7F
    if termSig == 0 {
      return Exit(code: (status >> 8) & 0xFF, signal: nil, usage: Usage(ru))
    }
    return Exit(code: nil, signal: termSig, usage: Usage(ru))
  }

  /// The start of the child's standard error (when redirected to a file), for messages.
  public func stderrText(limit: Int = 2000) -> String {
    guard let stderrPath, let text = try? readSmallFile(stderrPath) else { return "" }
    return String(text.prefix(limit)).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Sends SIGKILL and reaps the child if it is still running.
  public func kill() {
    if !reaped {
      Glibc.kill(pid, SIGKILL)
      _ = try? wait()
    }
  }

  deinit {
    if !reaped {
      Glibc.kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
    }
    if stdoutFD >= 0 { close(stdoutFD) }
  }
}

/// Reads a small text file whole.
public func readSmallFile(_ path: String) throws -> String {
  let fd = try check(open(path, O_RDONLY | O_CLOEXEC), "open \(path)")
  defer { close(fd) }
  var out: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
    if n < 0 && errno == EINTR { continue }
    try check(n, "read \(path)")
    if n == 0 { break }
    out.append(contentsOf: chunk[..<n])
  }
  return String(decoding: out, as: UTF8.self)
}

/// Parses `key=value key=value ...` lines as the C programs print them.
public func parseFields(_ line: String) -> [String: String] {
  var out: [String: String] = [:]
  for token in line.split(separator: " ") {
    guard let eq = token.firstIndex(of: "=") else { continue }
    out[String(token[..<eq])] = String(token[token.index(after: eq)...])
  }
  return out
}
