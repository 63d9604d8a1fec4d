// swift-tools-version: 6.0
// Sheaf over MPI: the communicator for distributed checkpoints and the
// `sheaf-shard-demo` example, in their own package so the main package builds
// and tests without MPI installed:
//   swift build --package-path MPI && mpirun -np 4 MPI/.build/debug/sheaf-shard-demo save /tmp/ckpt
import Foundation
import PackageDescription

/// The main package is the folder above; its identity is that folder's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "SheafMPI",
    products: [
        .library(name: "SheafMPI", targets: ["SheafMPI"]),
        .executable(name: "sheaf-shard-demo", targets: ["SheafShardDemo"]),
    ],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "SheafMPI", dependencies: ["CMPI", .product(name: "Sheaf", package: root)]),
        .executableTarget(name: "SheafShardDemo", dependencies: [
            "SheafMPI", .product(name: "Sheaf", package: root),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
