// swift-tools-version:6.2
//
// A package outside the benchmark that measures its own strategy with it: what a user
// does, and what `make bench-user-test` builds and runs. It depends on the library and on
// the benchmark package's ZeroCopyBenchCLI product, and edits neither.
import PackageDescription

let package = Package(
  name: "user-bench",
  dependencies: [
    .package(name: "swift-zerocopy", path: "../../../.."),
    .package(name: "swift-zerocopy-benchmarks", path: "../../.."),
  ],
  targets: [
    .executableTarget(
      name: "user-bench",
      dependencies: [
        .product(name: "ZeroCopy", package: "swift-zerocopy"),
        .product(name: "ZeroCopyBenchCLI", package: "swift-zerocopy-benchmarks"),
      ],
      swiftSettings: [.swiftLanguageMode(.v6)]
    )
  ]
)
