// swift-tools-version:6.1
//
// `make bench-serve`: the driver (zerocopy-bench-serve: wrk against zc serve, nginx and
// Hummingbird, interleaved rounds, JSON + Markdown + SVG) and the Hummingbird 2 peer
// (hb-file-server: its FileMiddleware on a directory). A package of its own so that
// neither `make test` nor `make bench` ever resolves or compiles Hummingbird; built only by
// `make bench-serve` (a clean release build of Hummingbird takes several minutes).
import PackageDescription

let package = Package(
  name: "zerocopy-bench-serve",
  products: [
    .executable(name: "zerocopy-bench-serve", targets: ["zerocopy-bench-serve"]),
    .executable(name: "hb-file-server", targets: ["hb-file-server"]),
  ],
  dependencies: [
    .package(name: "swift-zerocopy-benchmarks", path: ".."),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
  ],
  targets: [
    .executableTarget(
      name: "zerocopy-bench-serve",
      dependencies: [.product(name: "BenchKit", package: "swift-zerocopy-benchmarks")],
      swiftSettings: [.swiftLanguageMode(.v6)]
    ),
    .executableTarget(
      name: "hb-file-server",
      dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
      swiftSettings: [.swiftLanguageMode(.v6)]
    ),
  ]
)
