// zc strategies

import ArgumentParser
import ZeroCopy

struct Strategies: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the strategies: one line each, the name `--strategy` accepts, then what it does.")

  func run() throws {
    let all = TransferStrategies.all
    let width = (all.map(\.name.count).max() ?? 8) + 2
    for strategy in all {
      print(pad(strategy.name, width) + strategy.summary)
    }
  }
}
