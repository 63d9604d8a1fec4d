// swift-tools-version: 6.0
// libFuzzer targets for Sheaf's parsers of untrusted input. Built only by
// Fuzz/run.sh (with -sanitize=fuzzer,address), never by the main build.
import Foundation
import PackageDescription

/// The main package is the folder above; its identity is that folder's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let targets = ["npy", "safetensors", "zip", "unpickler", "sheaf-index", "sheaf-binary-index"]

let package = Package(
    name: "SheafFuzz",
    dependencies: [.package(path: "..")],
    targets: [.target(name: "FuzzSupport", path: "Sources/FuzzSupport")] + targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: ["FuzzSupport", .product(name: "SheafInterchange", package: root), .product(name: "Sheaf", package: root)],
            path: "Sources/FuzzTargets",
            sources: ["Target+\(name).swift"])
    }
)
