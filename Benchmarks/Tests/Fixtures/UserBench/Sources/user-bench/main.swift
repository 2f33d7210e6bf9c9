// A user's strategy, measured by the benchmark beside the built-ins and the C twins.

import ZeroCopy
import ZeroCopyBenchCLI

/// read/write through a 32 KiB buffer: a strategy this repository does not have.
struct SmallBuffers: TransferStrategy {
  let name = "userSmallBuffers"
  let summary = "read(2)/write(2) through a 32 KiB buffer (a user's strategy)"
  func support(for pair: EndpointPair) -> StrategySupport { ReadWriteStrategy().support(for: pair) }
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    try ReadWriteStrategy(bufferSize: 32 << 10).transfer(&context)
  }
}

await ZeroCopyBenchmark.main(strategies: [SmallBuffers()])
