// swift-tools-version:6.2
//
// swift-zerocopy's benchmarks: a separate package so that library users never resolve
// benchmark dependencies. `make bench` builds only the `zerocopy-bench` product
// (`swift build --product zerocopy-bench`), which does not compile package-benchmark.
//
//   Sources/BenchKit         workloads, fixtures, measurement, verification, reports
//   Sources/zerocopy-bench   the CLI's commands, as the library ZeroCopyBenchCLI: a user's
//                            executable calls ZeroCopyBenchmark.main(strategies:) to measure
//                            its own strategies beside the built-ins, with no edit here
//   Sources/zerocopy-bench-main  the `zerocopy-bench` executable `make bench` runs (one line)
//   Benchmarks/ZeroCopyOps   package-benchmark suite (make bench-check; Thresholds/*.json)
//   Tests/BenchKitTests      BenchKit's and the CLI library's tests (make bench-kit-test)
//   Tests/Fixtures/UserBench a separate package that measures its own strategy through
//                            ZeroCopyBenchCLI (make bench-user-test)
//   c/                       C reference programs (built by mk/bench.mk, not by SwiftPM)
//   Peers/                   SwiftNIO peer, a package of its own (make bench-peers only)
import PackageDescription

let strictSwift: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "swift-zerocopy-benchmarks",
  products: [
    .executable(name: "zerocopy-bench", targets: ["zerocopy-bench"]),
    .library(name: "BenchKit", targets: ["BenchKit"]),
    .library(name: "ZeroCopyBenchCLI", targets: ["ZeroCopyBenchCLI"]),
  ],
  dependencies: [
    .package(name: "swift-zerocopy", path: ".."),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // package-benchmark, for the per-operation suites under Benchmarks/ (make bench-check).
    // Never compiled by `swift build --product zerocopy-bench`.
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    .target(
      name: "BenchKit",
      dependencies: [
        .product(name: "CZeroCopy", package: "swift-zerocopy"),
        .product(name: "LinuxIO", package: "swift-zerocopy"),
        .product(name: "URing", package: "swift-zerocopy"),
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      swiftSettings: strictSwift
    ),
    // The CLI as a library (its sources stay in Sources/zerocopy-bench).
    .target(
      name: "ZeroCopyBenchCLI",
      dependencies: [
        "BenchKit",
        .product(name: "ZeroCopy", package: "swift-zerocopy"),
        .product(name: "LinuxIO", package: "swift-zerocopy"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/zerocopy-bench",
      swiftSettings: strictSwift
    ),
    .executableTarget(
      name: "zerocopy-bench",
      dependencies: ["ZeroCopyBenchCLI"],
      path: "Sources/zerocopy-bench-main",
      swiftSettings: strictSwift
    ),
    // package-benchmark suites: Benchmarks/<Suite>/ (the folder the plugin requires).
    .executableTarget(
      name: "ZeroCopyOps",
      dependencies: [
        .product(name: "Benchmark", package: "benchmark"),
        .product(name: "ZeroCopy", package: "swift-zerocopy"),
        .product(name: "URing", package: "swift-zerocopy"),
        .product(name: "LinuxIO", package: "swift-zerocopy"),
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      path: "Benchmarks/ZeroCopyOps",
      swiftSettings: strictSwift,
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    .testTarget(
      name: "BenchKitTests",
      dependencies: ["BenchKit", "ZeroCopyBenchCLI", .product(name: "ZeroCopy", package: "swift-zerocopy")],
      swiftSettings: strictSwift
    ),
  ]
)
