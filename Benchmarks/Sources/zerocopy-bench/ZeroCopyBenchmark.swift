// The benchmark as a library: a user's executable passes its strategies (and, optionally,
// BenchKit subjects of its own) and gets the whole zerocopy-bench command line — run,
// check, explain, compare, report… — with them measured beside the built-ins and the C
// twins, every byte verified. No edit of this repository is needed.

public import BenchKit
import Synchronization
public import ZeroCopy

/// Runs the `zerocopy-bench` command line with extra strategies and subjects.
///
/// ```swift
/// // Package.swift: .product(name: "ZeroCopyBenchCLI", package: "swift-zerocopy-benchmarks")
/// import ZeroCopy
/// import ZeroCopyBenchCLI
///
/// struct MyStrategy: TransferStrategy { … }
///
/// await ZeroCopyBenchmark.main(strategies: [MyStrategy()])   // then: my-bench run --quick
/// ```
public enum ZeroCopyBenchmark {
  /// Registers `strategies` in `TransferStrategies` (so `run` measures them, `check` requires
  /// them, and `--only NAME` selects them), adds `subjects` to the transfer subjects, then
  /// parses `arguments` (default: the process's) and runs the command. Exits the process with
  /// the command's status when it fails.
  ///
  /// - Parameters:
  ///   - strategies: Strategies to measure; their names must not be built-in names.
  ///   - subjects: Other things to measure per transfer cell (BenchKit's `Subject`).
  ///   - arguments: The command line without the program name; nil for `CommandLine.arguments`.
  public static func main(
    strategies: [any TransferStrategy] = [], subjects: [any Subject] = [], arguments: [String]? = nil
  ) async {
    for strategy in strategies { TransferStrategies.register(strategy) }
    registeredSubjects.withLock { $0 += subjects }
    await ZeroCopyBench.main(arguments)
  }

  /// The subjects passed to ``main(strategies:subjects:arguments:)``.
  static var userSubjects: [any Subject] { registeredSubjects.withLock { $0 } }

  private static let registeredSubjects = Mutex<[any Subject]>([])
}
