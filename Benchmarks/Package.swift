// swift-tools-version: 6.0
// The side-by-side benchmark, in its own package so the main build stays light:
//   swift run -c release --package-path Benchmarks sheaf-bench [--smoke]
import Foundation
import PackageDescription

/// The main package is the folder above; its identity is that folder's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "SheafBenchmarks",
    dependencies: [.package(path: "..")],
    targets: [
        // libhdf5 alone, in C: the per-dataset floor the writer is compared with.
        .systemLibrary(name: "CHDF5Floor", path: "Sources/CHDF5Floor", pkgConfig: "hdf5"),
        .executableTarget(name: "sheaf-bench", dependencies: [
            "CHDF5Floor",
            .product(name: "Sheaf", package: root),
            .product(name: "SheafInterchange", package: root),
            .product(name: "SheafRuntime", package: root),
            .product(name: "SheafModels", package: root),
        ], path: "Sources/SheafBench"),
    ]
)
