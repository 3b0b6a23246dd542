// swift-tools-version:6.1
// The benchmark suite, in a package of its own so the test build never compiles it.
// Run it with scripts/benchmark.sh from the repository's root.
import Foundation
import PackageDescription

/// A path dependency is known by its folder's name, which is the clone's name: find it.
let swiftUIO = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "swift-uio-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The baselines every figure is a ratio against: the same work done in plain C.
        .target(name: "CBaselines", path: "Sources/CBaselines"),
        .executableTarget(
            name: "InterruptBenchmarks",
            dependencies: [
                "CBaselines",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "UIO", package: swiftUIO),
                .product(name: "UIODriver", package: swiftUIO),
                .product(name: "UIOTesting", package: swiftUIO),
            ],
            path: "Benchmarks/InterruptBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "uio-bench",
            dependencies: [
                "CBaselines",
                .product(name: "QEMUDevices", package: swiftUIO),
                .product(name: "UIO", package: swiftUIO),
                .product(name: "UIODriver", package: swiftUIO),
                .product(name: "UIOTesting", package: swiftUIO),
            ],
            path: "Sources/uio-bench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
