// The cross-check of the library's own syscall counts against strace: one transfer per
// strategy between two marker syscalls (see SyscallProbe.swift), traced with `strace -f`.

import Foundation
import Glibc

/// The result for one subject.
public struct StraceComparison: Sendable {
  /// Subject id.
  public var subject: String
  /// The count the implementation reported.
  public var reported: Int64
  /// strace's count of data-moving syscalls between the markers.
  public var traced: Int
  /// Every syscall strace saw between the markers, by name.
  public var all: [String: Int]
  /// Whether `reported == traced`.
  public var matches: Bool { reported == Int64(traced) }

  /// Whether the report equals the data-path count plus the `lseek` calls beyond the
  /// Transfer front end's own (`baselineLseeks`): a strategy that positions a file
  /// destination with lseek (sendfile has no destination offset) counts those calls.
  public func matches(countingExtraLseeksAbove baselineLseeks: Int) -> Bool {
    let extra = max(0, (all["lseek"] ?? 0) - baselineLseeks)
    return reported == Int64(traced) || reported == Int64(traced + extra)
  }
}

/// Runs `strace -f` on `_syscall-probe` and compares.
public enum StraceCheck {
  /// Syscalls that move data (what the library's count covers, per TransferContext.syscalls:
  /// each read, write, sendfile, splice leg, copy_file_range, io_uring_enter…).
  public static let dataPath: Set<String> = [
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
    "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "io_uring_enter", "sendto",
    "sendmsg", "recvfrom", "recvmsg", "io_uring_setup", "io_uring_register",
  ]
  /// Counted as data path only for the strategies that use them to move data.
  public static let mappingCalls: Set<String> = ["mmap", "munmap"]
  /// Counted for reflink (FICLONERANGE).
  public static let ioctlCalls: Set<String> = ["ioctl"]

  /// strace's path, if installed.
  public static func strace() -> String? {
    ["/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"].first { access($0, X_OK) == 0 }
  }

  /// Parses strace -f output: the syscalls between the two markers, by name — only those
  /// of the thread that made the first marker (the transfer runs on it), so that another
  /// thread's calls in that window (a runtime thread starting, a cleanup) are not counted.
  public static func between(markers text: String) -> [String: Int] {
    var inside = false
    var markerThread: Substring? = nil
    var counts: [String: Int] = [:]
    for raw in text.split(separator: "\n") {
      let (thread, line) = splitThread(Substring(raw))
      // A marker may be split by another thread's event: "close(-4242 <unfinished ...>",
      // later "<... close resumed>) = -1 EBADF". Both forms start with "close(-4242" and a
      // non-digit (a plain `hasPrefix("close(-4242)")` missed the split form under load, so
      // the window was never opened and the check saw 0 calls).
      if isMarker(line, "close(-4242") { inside = true; markerThread = thread; continue }
      if isMarker(line, "close(-4243"), markerThread == nil || thread == markerThread { inside = false; continue }
      guard inside, markerThread == nil || thread == markerThread else { continue }
      guard !line.hasPrefix("<..."), !line.hasPrefix("+++"), !line.hasPrefix("---") else { continue }
      guard let paren = line.firstIndex(of: "(") else { continue }
      let name = String(line[..<paren])
      guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
      counts[name, default: 0] += 1
    }
    return counts
  }

  /// Whether `line` is the marker call `prefix` (whole or split by strace).
  static func isMarker(_ line: Substring, _ prefix: String) -> Bool {
    guard line.hasPrefix(prefix) else { return false }
    let rest = line.dropFirst(prefix.count)
    return rest.first.map { !$0.isNumber } ?? true
  }

  /// A `strace -f` line's thread ("[pid N] " or "N " prefix) and the rest of it.
  public static func splitThread(_ line: Substring) -> (thread: Substring?, call: Substring) {
    if line.hasPrefix("[pid"), let close = line.firstIndex(of: "]") {
      return (
        line[line.index(line.startIndex, offsetBy: 4)..<close].drop { $0 == " " },
        line[line.index(after: close)...].drop { $0 == " " }
      )
    }
    if let space = line.firstIndex(of: " "), line[..<space].allSatisfy(\.isNumber) {
      return (line[..<space], line[line.index(after: space)...].drop { $0 == " " })
    }
    return (nil, line)
  }

  /// The data-path count for `subject` from a by-name table.
  public static func dataPathCount(_ all: [String: Int], strategy: String) -> Int {
    var names = dataPath
    if strategy == "mmapWrite" { names.formUnion(mappingCalls) }
    if strategy == "reflink" { names.formUnion(ioctlCalls) }
    return all.filter { names.contains($0.key) }.values.reduce(0, +)
  }

  /// Traces `executable _syscall-probe --subject ID --source PATH` and compares.
  public static func run(executable: String, subject: String, strategy: String, source: String, scratch: String) throws
    -> StraceComparison
  {
    guard let strace = strace() else { throw BenchError("strace is not installed") }
    let out = "\(scratch)/strace-\(subject.replacingOccurrences(of: ":", with: "_")).txt"
    let log = "\(scratch)/probe.out"
    unlink(log)
    let child = try ChildProcess(
      strace, ["-f", "-qq", "-o", out, executable, "_syscall-probe", "--subject", subject, "--source", source],
      stdout: .file(log), stderrPath: "\(scratch)/strace.err")
    let exit = try child.wait()
    let printed = (try? readSmallFile(log)) ?? ""
    if printed.hasPrefix("unsupported:") {
      throw UnsupportedHere(String(printed.dropFirst(12)).trimmingCharacters(in: .whitespacesAndNewlines))
    }
    guard exit.succeeded,
      let n = parseFields(printed.trimmingCharacters(in: .whitespacesAndNewlines))["syscalls"].flatMap({ Int64($0) })
    else {
      throw BenchError("probe of \(subject) failed: \(child.stderrText()) \(printed)")
    }
    let all = between(markers: try readSmallFile(out))
    return StraceComparison(subject: subject, reported: n, traced: dataPathCount(all, strategy: strategy), all: all)
  }
}
