// Ctrl-C: finish the current sample, remove the workspace, exit.

import Glibc

nonisolated(unsafe) private var interruptFlag: sig_atomic_t = 0

/// SIGINT/SIGTERM handling for the run.
public enum Interrupt {
  /// Installs handlers that only set a flag (checked between samples).
  public static func install() {
    signal(SIGINT) { _ in interruptFlag = 1 }
    signal(SIGTERM) { _ in interruptFlag = 1 }
  }

  /// Whether a stop was requested.
  public static var requested: Bool { interruptFlag != 0 }

  /// Throws when a stop was requested.
  public static func check() throws {
    if requested { throw BenchError("interrupted") }
  }
}
