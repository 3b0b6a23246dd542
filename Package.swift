// swift-tools-version:6.1
import PackageDescription

/// What every example driver builds on: the framework, its service layer, the command line.
let exampleDependencies: [Target.Dependency] = [
    "UIO", "UIODriver", "UIOService", "QEMUDevices",
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
]

let package = Package(
    name: "swift-uio",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "UIO", targets: ["UIO"]),
        .library(name: "UIODriver", targets: ["UIODriver"]),
        .library(name: "UIOTesting", targets: ["UIOTesting"]),
        .library(name: "UIOService", targets: ["UIOService"]),
        .library(name: "QEMUDevices", targets: ["QEMUDevices"]),
        .executable(name: "uioctl", targets: ["uioctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibudev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),
        .target(name: "CUIOShim"),
        // The operating-system plumbing: the system-call seam, descriptors, threads, waits. The
        // only target that imports the C shim.
        .target(
            name: "UIOPlatform",
            dependencies: ["CUIOShim", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .target(
            name: "UIO",
            dependencies: [
                "CLibudev",
                "UIOPlatform",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "UIODriver",
            dependencies: [
                "UIO",
                "UIOPlatform",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // A device as a service: swift-service-lifecycle, systemd's readiness, metrics in a file.
        .target(
            name: "UIOService",
            dependencies: [
                "UIODriver",
                "UIOPlatform",
                "UIO",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(name: "UIOControl", dependencies: ["UIO", "UIOPlatform"]),
        .executableTarget(
            name: "uioctl",
            dependencies: [
                "UIO", "UIOControl", "UIOService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The register maps of the emulated devices the examples, tests and benchmarks drive.
        .target(name: "QEMUDevices"),
        .executableTarget(
            name: "edu-driver",
            dependencies: exampleDependencies + [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "examples/edu-driver"
        ),
        .executableTarget(
            name: "pl031-driver",
            dependencies: exampleDependencies,
            path: "examples/pl031-driver",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "e1000-nic",
            dependencies: exampleDependencies,
            path: "examples/e1000-nic",
            exclude: ["README.md"]
        ),
        .target(name: "UIOTesting", dependencies: ["UIO", "UIOPlatform", .product(name: "SystemPackage", package: "swift-system")]),
        .systemLibrary(
            name: "CUMockdev",
            path: "Tests/CUMockdev",
            pkgConfig: "umockdev-1.0",
            providers: [.apt(["libumockdev-dev"])]
        ),
        .testTarget(
            name: "UIOTests",
            dependencies: ["UIO", "UIOControl", "UIOTesting", "UIOPlatform", "CUMockdev", "TestSupport"]
        ),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "GuestTests",
            dependencies: ["UIO", "UIODriver", "UIOTesting", "UIOPlatform", "QEMUDevices", "CTestSupport", "TestSupport"]
        ),
        .testTarget(
            name: "UIODriverTests",
            dependencies: [
                "UIO", "UIODriver", "UIOTesting", "UIOPlatform", "UIOService", "CTestSupport", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ExampleDriverTests",
            dependencies: ["e1000-nic", "UIO", "UIOTesting", "QEMUDevices"]
        ),
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["uioctl", "edu-driver", "pl031-driver"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
