// Pieces shared by the subcommands: strategy lookup, reports, the progress line, errors.

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

/// Options every transfer subcommand takes.
struct TransferFlags: ParsableArguments {
  @Option(name: .long, help: "The strategy to use, as `zc strategies` lists it (default: automatic).")
  var strategy: String?

  @Flag(name: .long, help: "Fail instead of falling back when the strategy cannot work here.")
  var noFallback = false

  @Flag(name: .long, help: "Print the transfer report (strategy, bytes, syscalls, time, fallbacks).")
  var report = false

  @Flag(name: .long, help: "Print the transfer report as one JSON object.")
  var json = false

  @Flag(name: .long, help: "No progress line.")
  var quiet = false

  /// Rejects an unknown strategy name as a usage error (exit status 64).
  func validate() throws {
    _ = try resolvedStrategy()
  }

  /// The named strategy, or a usage error listing the valid names.
  func resolvedStrategy() throws -> any TransferStrategy {
    let name = strategy ?? "automatic"
    guard let found = TransferStrategies.named(name) else {
      let names = TransferStrategies.all.map(\.name).joined(separator: ", ")
      throw ValidationError("unknown strategy \(RawArguments.quoted(name)); known strategies: \(names)")
    }
    return found
  }

  /// The transfer options given on the command line, by name (for refusing them where they
  /// do not apply).
  var given: [String] {
    var names: [String] = []
    if strategy != nil { names.append("--strategy") }
    if noFallback { names.append("--no-fallback") }
    if report { names.append("--report") }
    if json { names.append("--json") }
    return names
  }

  /// Prints the report as asked (`--json` wins over `--report`), on standard output
  /// (checked: a write error makes the command fail).
  func printReport(_ transferReport: TransferReport) {
    if json {
      StandardOutput.line(transferReport.json)
    } else if report {
      StandardOutput.line(transferReport.description)
    }
  }
}

/// Writes `text` to standard error.
func printError(_ text: String) {
  writeStandardError(text + "\n")
}

/// Writes `text` to file descriptor 2 (unbuffered, so it interleaves correctly with the
/// progress line).
func writeStandardError(_ text: String) {
  var bytes = Array(text.utf8)
  var offset = 0
  while offset < bytes.count {
    let n = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { return }
    offset += n
  }
}

/// One line for a failed transfer: what failed, the system call, the errno (by its C
/// name), and the bytes that reached the destination. A refusal (``ZeroCopyError/isRefusal``:
/// the same file, a directory into itself…) says why first:
///
///     zc copy: source and destination are the same file (device 2049, inode 12): 'a' -> 'a' (EINVAL, errno 22; stat); 0 bytes reached the destination
///     zc copy: open failed: No such file or directory (ENOENT, errno 2); 0 bytes reached the destination; 'x' -> 'y'; cannot open the source
///
/// Paths are quoted as coreutils quotes names (bytes that do not print are escaped);
/// `names` gives the text to show for a path instead (the argument as typed, with its
/// trailing slash).
func failureLine(_ command: String, _ error: ZeroCopyError, names: [FilePath: String] = [:]) -> String {
  let explanation = String(cString: strerror(error.errno.rawValue))
  let paths = error.paths.map { names[$0] ?? $0.shellQuoted }.joined(separator: " -> ")
  var line: String
  if error.isRefusal, let message = error.message {
    line = "zc \(command): \(message)"
    if !paths.isEmpty { line += ": \(paths)" }
    if error.errno != .invalidArgument { line += ": \(explanation)" }
    line += " (\(error.errno.symbolicName), errno \(error.errno.rawValue); \(error.syscall)); "
    line += "\(error.bytesTransferred) bytes reached the destination"
  } else {
    line = "zc \(command): \(error.syscall) failed: \(explanation) (\(error.errno.symbolicName), errno \(error.errno.rawValue)); "
    line += "\(error.bytesTransferred) bytes reached the destination"
    if !paths.isEmpty { line += "; " + paths }
    if let message = error.message { line += "; " + message }
  }
  return line.replacingNewlines()
}

extension String {
  func replacingNewlines() -> String {
    String(map { $0.isNewline ? " " : $0 })
  }
}

/// Runs `body` (a transfer watched by `monitor`) and, if it takes over a second and
/// standard error is a terminal, shows a progress line (bytes, rate, ETA) on stderr,
/// erased when the transfer ends.
func withProgressLine<T: Sendable>(
  _ monitor: TransferMonitor, label: String, quiet: Bool, _ body: () async throws -> T
) async throws -> T {
  let show = !quiet && isatty(STDERR_FILENO) == 1
  let display: Task<Void, Never>? =
    show
    ? Task {
      let start = ContinuousClock.now
      do { try await Task.sleep(for: .seconds(1)) } catch { return }
      var drawn = false
      while !Task.isCancelled {
        writeStandardError("\r\u{1B}[2K" + progressText(monitor, label: label, since: start))
        drawn = true
        do { try await Task.sleep(for: .milliseconds(250)) } catch { break }
      }
      if drawn { writeStandardError("\r\u{1B}[2K") }
    } : nil
  defer { display?.cancel() }
  do {
    let result = try await body()
    display?.cancel()
    await display?.value
    return result
  } catch {
    display?.cancel()
    await display?.value
    throw error
  }
}

private func progressText(_ monitor: TransferMonitor, label: String, since start: ContinuousClock.Instant) -> String {
  let done = monitor.bytesTransferred
  let elapsed = ContinuousClock.now - start
  let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
  let rate = seconds > 0 ? Double(done) / seconds : 0
  var text = "\(label): \(formatBytes(done))"
  if let total = monitor.expectedBytes, total > 0 {
    let percent = Int(Double(done) * 100 / Double(total))
    text += " / \(formatBytes(total)) (\(percent)%)"
    if rate > 0 {
      let eta = Int((Double(total - done) / rate).rounded(.up))
      text += "  \(formatBytes(Int64(rate)))/s  ETA \(eta) s"
    }
  } else if rate > 0 {
    text += "  \(formatBytes(Int64(rate)))/s"
  }
  return text
}

/// "1.5 MiB".
func formatBytes(_ bytes: Int64) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var value = Double(bytes)
  var unit = 0
  while value >= 1024 && unit < units.count - 1 {
    value /= 1024
    unit += 1
  }
  if unit == 0 { return "\(bytes) B" }
  return "\((value * 10).rounded() / 10) \(units[unit])"
}
