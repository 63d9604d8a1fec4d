// swift-tools-version: 6.0
// The side-by-side benchmark, in its own package so the main build stays light:
//   swift run -c release --package-path Benchmarks sheaf-bench [--smoke]
import Foundation
import PackageDescription

/// The main package is the folder above; its identity is that folder's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "SheafBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "sheaf-bench", dependencies: [
            .product(name: "Sheaf", package: root),
            .product(name: "SheafInterchange", package: root),
            .product(name: "SheafRuntime", package: root),
        ], path: "Sources/SheafBench"),
    ]
)
