// swift-tools-version:6.1
//
// The SwiftNIO peer of zerocopy-bench, in a package of its own so that neither `make bench`
// nor `swift test --package-path Benchmarks` ever resolves or compiles SwiftNIO. Built only
// by `make bench-peers` (a clean release build with swift-nio takes about two minutes).
import PackageDescription

let package = Package(
  name: "zerocopy-bench-peers",
  products: [.executable(name: "zerocopy-bench-nio", targets: ["zerocopy-bench-nio"])],
  dependencies: [
    .package(name: "swift-zerocopy-benchmarks", path: ".."),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
  ],
  targets: [
    .executableTarget(
      name: "zerocopy-bench-nio",
      dependencies: [
        .product(name: "BenchKit", package: "swift-zerocopy-benchmarks"),
        .product(name: "_NIOFileSystem", package: "swift-nio"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: [.swiftLanguageMode(.v6)]
    )
  ]
)
