// `explain` and the benchmark-as-a-library entry point.

import BenchKit
import Foundation
import Testing
import ZeroCopy
import ZeroCopyBenchCLI

@Suite struct ExplainTests {
  @Test("explain without results prints every built-in strategy's copy model")
  func modelsOnly() {
    let text = Explainer(results: nil).text()
    for model in CopyModel.all {
      #expect(text.contains(model.strategy), "\(model.strategy) is missing from explain")
      #expect(text.contains(model.story), "\(model.strategy)'s model is missing")
    }
  }

  @Test("every strategy the library registers has a copy model (automatic excepted)")
  func everyBuiltInHasAModel() {
    for strategy in TransferStrategies.builtIn where strategy.name != "automatic" {
      #expect(CopyModel.model(for: strategy.name) != nil, "no copy model for \(strategy.name)")
    }
    #expect(CopyModel.model(for: "directIO.depth8")?.modeSwitches.contains("io_uring_enter") == true)
    #expect(CopyModel.model(for: "nonexistent") == nil)
  }

  @Test("ZeroCopyBenchmark.main registers the strategies, then runs the command it is given")
  func libraryEntryPoint() async throws {
    struct Renamed: TransferStrategy {
      let name = "benchkitTestRenamed", summary = "read/write under another name"
      func support(for pair: EndpointPair) -> StrategySupport { .supported }
      func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
        try ReadWriteStrategy().transfer(&context)
      }
    }
    defer { TransferStrategies.unregister(named: "benchkitTestRenamed") }
    #expect(TransferStrategies.named("benchkitTestRenamed") == nil)
    // `explain` with an empty results directory: models only, no measurement. (A failing
    // command would exit this process; the separate package in Tests/Fixtures/UserBench
    // runs a real measurement through the same entry point.)
    let empty = try TempDir()
    await ZeroCopyBenchmark.main(strategies: [Renamed()], arguments: ["explain", "--repo", empty.path])
    #expect(TransferStrategies.named("benchkitTestRenamed")?.summary == "read/write under another name")
  }
}
