// Hidden: `zerocopy-bench _strace-check` — the library's syscall counts against strace -f,
// one 1 MiB file→file transfer per strategy (run by `make bench-test`).

import ArgumentParser
import BenchKit
import Foundation
import Glibc

struct StraceCheckCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_strace-check", abstract: "Check the syscall counts against strace -f.", shouldDisplay: false)

  @Option(help: "Transfer size.") var size: String = "1m"

  mutating func run() async throws {
    guard StraceCheck.strace() != nil else {
      print(
        "strace-check: SKIPPED — strace is not installed (apt-get install strace); the syscall column is the library's own count, unchecked"
      )
      print("0 passed, 0 failed, 1 skipped")
      return
    }
    guard let bytes = parseSize(size) else { throw ValidationError("bad size") }
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    guard n > 0 else { throw BenchError("readlink /proc/self/exe failed") }
    let me = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let workspace = try Workspace(tmpfsBytes: Int.max / 2)
    defer { workspace.remove() }
    let source = try workspace.source(size: bytes)
    let subjects: [any Subject] =
      SwiftSubjects.sources().swiftTransfers().filter {
        !$0.info.strategy.hasSuffix(".async") && !$0.info.strategy.hasPrefix("automatic.") && $0.info.strategy != "corrupting"
      }
      + (LinuxIOSubject.all() as [any Subject])
    var passed = 0, failed = 0, skipped = 0
    print("strace-check: one \(formatSize(bytes)) file→file transfer per strategy, strace -f between marker syscalls")
    var results: [(any Subject, StraceComparison)] = []
    // A first pass over every subject (the lseek baseline below needs all of them), then
    // further attempts for any that disagreed.
    var attempts: [String: Int] = [:]
    for s in subjects {
      do {
        results.append(
          (
            s,
            try StraceCheck.run(
              executable: me, subject: s.info.id, strategy: s.info.strategy, source: source.path, scratch: workspace.scratch)
          ))
        attempts[s.info.id] = 1
      } catch let e as UnsupportedHere {
        print(Fmt.pad(s.info.id, 26) + "  skipped (unsupported here): \(e.reason.prefix(90))")
        skipped += 1
      } catch {
        print(Fmt.pad(s.info.id, 26) + "  FAILED: \(error)")
        failed += 1
      }
    }
    // The Transfer front end's own lseeks (offset resolution): the fewest any Swift
    // Transfer subject made.
    let baseline = results.filter { $0.0.info.family == .swift }.map { $0.1.all["lseek"] ?? 0 }.min() ?? 0
    // A disagreement is traced again (up to twice): a miscount in the library repeats
    // exactly, while a one-off (a transfer interrupted under load, so both the library's and
    // strace's counts change, or a run strace could not follow) does not. A subject passes
    // only when one whole run agrees; every attempt is printed.
    for index in results.indices {
      let (s, first) = results[index]
      let base = s.info.family == .swift ? baseline : 0
      var latest = first
      while !latest.matches && !latest.matches(countingExtraLseeksAbove: base) && attempts[s.info.id, default: 1] < 3 {
        print(
          Fmt.pad(s.info.id, 26)
            + "  attempt \(attempts[s.info.id, default: 1]) disagreed (library \(latest.reported), strace \(latest.traced)); tracing again"
        )
        attempts[s.info.id, default: 1] += 1
        guard
          let again = try? StraceCheck.run(
            executable: me, subject: s.info.id, strategy: s.info.strategy, source: source.path, scratch: workspace.scratch)
        else { break }
        latest = again
      }
      results[index] = (s, latest)
    }
    print(
      Fmt.pad("subject", 26) + Fmt.pad("library", 9, right: true) + Fmt.pad("strace", 8, right: true)
        + "  verdict; every syscall between the markers")
    for (s, c) in results {
      let detail = c.all.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
      let base = s.info.family == .swift ? baseline : 0
      let verdict: String
      if c.matches {
        verdict = "ok"
        passed += 1
      } else if c.matches(countingExtraLseeksAbove: base) {
        verdict = "ok (counts its \((c.all["lseek"] ?? 0) - base) lseek)"
        passed += 1
      } else {
        verdict = "MISMATCH"
        failed += 1
      }
      print(
        Fmt.pad(s.info.id, 26) + Fmt.pad(String(c.reported), 9, right: true) + Fmt.pad(String(c.traced), 8, right: true)
          + "  \(verdict); \(detail)")
    }
    print(
      "strace counts data-moving calls (read/write/pread64/pwrite64/sendfile/splice/copy_file_range/io_uring_enter/setup/register…; mmap/munmap for mmapWrite). getrusage is the harness's own."
    )
    print("\(passed) passed, \(failed) failed, \(skipped) skipped")
    if failed > 0 { throw ExitCode(1) }
  }
}
