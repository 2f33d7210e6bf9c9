// zerocopy-bench: the benchmark CLI with the library's own strategies only. A program that
// wants its strategies measured too calls ZeroCopyBenchmark.main(strategies:) the same way.

import ZeroCopyBenchCLI

await ZeroCopyBenchmark.main()
