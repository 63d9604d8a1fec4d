// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Sheaf",
    products: [
        // MARK: - Public API
        .library(name: "Sheaf", targets: ["Sheaf"]),
        .library(name: "SheafInterchange", targets: ["SheafInterchange"]),
        .library(name: "SheafRuntime", targets: ["SheafRuntime"]),
        .library(name: "SheafModels", targets: ["SheafModels"]),
        .executable(name: "sheaf", targets: ["SheafCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // MARK: - System libraries
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CXXHash", pkgConfig: "libxxhash",
            providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // MARK: - Implementation details
        .target(name: "SheafHDF5", dependencies: ["CHDF5"]),

        // MARK: - Public API
        .target(name: "Sheaf", dependencies: [
            "SheafHDF5", "CXXHash", "CZlib",
            .product(name: "OrderedCollections", package: "swift-collections"),
        ]),

        .target(name: "SheafInterchange", dependencies: ["Sheaf", "SheafHDF5", "CZlib"]),

        .target(name: "SheafRuntime", dependencies: ["Sheaf", "COpenBLAS"]),
        // Architectures people ship (GPT-2, Llama, ResNet) on the runtime.
        .target(name: "SheafModels", dependencies: ["Sheaf", "SheafRuntime"]),
        .executableTarget(name: "SheafCLI", dependencies: [
            "Sheaf", "SheafHDF5", "SheafInterchange", "SheafRuntime", "SheafModels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: - Tests
        // Checkpoints in a loop for the crash-safety tests, which kill it at random moments.
        .executableTarget(name: "SheafSoak", dependencies: ["Sheaf"]),
        .target(name: "SheafTestSupport", dependencies: ["Sheaf"], path: "Tests/SheafTestSupport"),
        .testTarget(name: "SheafTests", dependencies: ["Sheaf", "SheafHDF5", "SheafInterchange", "SheafSoak", "SheafCLI", "SheafTestSupport"]),
        .testTarget(name: "SheafRuntimeTests", dependencies: ["Sheaf", "SheafInterchange", "SheafRuntime", "SheafModels", "SheafTestSupport"]),
        .testTarget(name: "SheafInterchangeTests", dependencies: ["Sheaf", "SheafInterchange", "SheafTestSupport"]),
        .testTarget(name: "SheafCLITests", dependencies: ["Sheaf", "SheafInterchange", "SheafCLI", "SheafTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
