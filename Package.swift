// swift-tools-version:6.2
//
// swift-zerocopy: zero-copy I/O for Swift on Linux.
// Layers (Docs/Architecture.md): CZeroCopy (C shim) -> LinuxIO (typed sync) -> URing (typed ring)
// -> ZeroCopy (async engine, transfers). Benchmarks live in the separate Benchmarks/ package.
import PackageDescription

let strictSwift: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "swift-zerocopy",
  products: [
    .library(name: "CZeroCopy", targets: ["CZeroCopy"]),
    .library(name: "LinuxIO", targets: ["LinuxIO"]),
    .library(name: "URing", targets: ["URing"]),
    .library(name: "ZeroCopy", targets: ["ZeroCopy"]),
    .library(name: "FileServer", targets: ["FileServer"]),
    .executable(name: "zc", targets: ["zc"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // `make docs` (swift package generate-documentation); a command plugin, never linked.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // The C shim. Also built as libzerocopy.{a,so} by the Makefile for plain C users.
    .target(
      name: "CZeroCopy",
      path: "CShims",
      exclude: ["tests", "examples", "zerocopy.pc.in", "zerocopy.map"],
      sources: ["src"],
      publicHeadersPath: "include",
      cSettings: [
        .unsafeFlags(["-Wall", "-Wextra", "-Werror"])
      ],
      linkerSettings: [.linkedLibrary("uring"), .linkedLibrary("pthread")]
    ),
    // liburing itself plus the project's helpers for it (CShims/include/zerocopy_uring.h,
    // reached through the declared dependency on CZeroCopy's include directory, not a
    // relative path), for the URing layer. Header order: Sources/CLibURing/CLibURing.h
    // and Docs/LinuxFacts.md. liburing-dev comes from `make deps`.
    .target(
      name: "CLibURing",
      dependencies: ["CZeroCopy"],
      path: "Sources/CLibURing",
      publicHeadersPath: ".",
      cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
      linkerSettings: [.linkedLibrary("uring")]
    ),
    // Linux headers Swift's Glibc module leaves out (epoll, eventfd, openat2, SO_MEMINFO, O_PATH,
    // xattr), for LinuxIO only; header only.
    .systemLibrary(name: "CLinuxExtras", path: "Sources/CLinuxExtras"),
    .target(
      name: "LinuxIO",
      dependencies: [
        "CZeroCopy",
        "CLinuxExtras",
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      swiftSettings: strictSwift
    ),
    .target(
      name: "URing",
      dependencies: [
        "CLibURing",
        "CZeroCopy",
        "LinuxIO",
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      swiftSettings: strictSwift
    ),
    .target(
      name: "ZeroCopy",
      dependencies: [
        "URing",
        "LinuxIO",
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSwift
    ),
    // A static file server over HTTP/1.1 on the engine and the Transfer strategies (zc serve).
    // Sources/FileServer/HTTP is pure Swift (no imports): the libFuzzer target compiles it alone.
    .target(
      name: "FileServer",
      dependencies: [
        "ZeroCopy",
        "LinuxIO",
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSwift
    ),
    // The `zc` command-line tool (copy, send, probe, strategies) over ZeroCopy's Transfer API.
    .executableTarget(
      name: "zc",
      dependencies: ["ZeroCopy", "FileServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: strictSwift
    ),
    .testTarget(
      name: "LinuxIOTests",
      dependencies: ["LinuxIO", "CZeroCopy", .product(name: "SystemPackage", package: "swift-system")],
      swiftSettings: strictSwift
    ),
    .testTarget(
      name: "URingTests",
      dependencies: ["URing", "LinuxIO", .product(name: "SystemPackage", package: "swift-system")],
      swiftSettings: strictSwift
    ),
    .testTarget(
      name: "FileServerTests",
      dependencies: [
        "FileServer", "ZeroCopy", "LinuxIO", .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSwift
    ),
    .testTarget(
      name: "ZeroCopyTests",
      dependencies: ["ZeroCopy", "URing", "LinuxIO", .product(name: "SystemPackage", package: "swift-system")],
      swiftSettings: strictSwift
    ),
  ]
)
