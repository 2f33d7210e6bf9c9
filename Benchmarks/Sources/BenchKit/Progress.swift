// Live progress: one rewritten status line on a terminal, plain lines otherwise.
// Printed only between samples, never while a transfer is timed.

import Foundation
import Glibc

/// Receives progress events from the runner.
public final class ProgressReporter: @unchecked Sendable {
  private let tty: Bool
  private let quiet: Bool
  private let start = monotonicNanoseconds()
  private var lastLineLength = 0
  private var lastPlainPrint: UInt64 = 0

  /// `quiet`: only warnings. The display goes to standard error.
  public init(quiet: Bool = false, forcePlain: Bool = false) {
    self.quiet = quiet
    self.tty = !forcePlain && isatty(2) == 1
  }

  /// Seconds since the reporter was created.
  public var elapsed: Double { Double(monotonicNanoseconds() - start) / 1e9 }

  /// "1:05".
  public static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return String(format: "%d:%02d", s / 60, s % 60)
  }

  /// The status while a sample runs.
  public func status(cellIndex: Int, cellCount: Int, cell: String, round: String, subject: String, eta: Double?) {
    guard !quiet else { return }
    let etaText = eta.map { "ETA \(ProgressReporter.clock($0))" } ?? "ETA –"
    let line =
      "[\(cellIndex)/\(cellCount)] \(cell) · \(round) · \(subject) · \(ProgressReporter.clock(elapsed)) elapsed · \(etaText)"
    if tty {
      let pad = max(0, lastLineLength - line.count)
      FileHandle.standardError.write(Data(("\r" + line + String(repeating: " ", count: pad)).utf8))
      lastLineLength = line.count
    }
  }

  /// A line that stays (a finished cell, a note).
  public func line(_ text: String) {
    guard !quiet else { return }
    emit(text)
  }

  /// A warning, shown even when quiet.
  public func warn(_ text: String) { emit("warning: " + text) }

  private func emit(_ text: String) {
    if tty && lastLineLength > 0 {
      FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: lastLineLength) + "\r").utf8))
      lastLineLength = 0
    }
    FileHandle.standardError.write(Data((text + "\n").utf8))
  }

  /// Clears the status line.
  public func finish() {
    if tty && lastLineLength > 0 {
      FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: lastLineLength) + "\r").utf8))
      lastLineLength = 0
    }
  }
}
