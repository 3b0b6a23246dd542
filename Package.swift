// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swift-uio",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "UIO", targets: ["UIO"]),
        .library(name: "UIODriver", targets: ["UIODriver"]),
        .library(name: "UIOTesting", targets: ["UIOTesting"]),
        .executable(name: "uioctl", targets: ["uioctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibudev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),
        .target(name: "CUIOShim"),
        .target(
            name: "UIO",
            dependencies: [
                "CLibudev",
                "CUIOShim",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(name: "UIODriver", dependencies: ["UIO", "CUIOShim"]),
        .target(name: "UIOControl", dependencies: ["UIO"]),
        .executableTarget(
            name: "uioctl",
            dependencies: ["UIO", "UIOControl", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "edu-driver",
            dependencies: ["UIO", "UIODriver", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "examples/edu-driver"
        ),
        .executableTarget(
            name: "pl031-driver",
            dependencies: ["UIO", "UIODriver", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "examples/pl031-driver",
            exclude: ["README.md"]
        ),
        .target(name: "UIOTesting", dependencies: ["UIO", "CUIOShim", .product(name: "SystemPackage", package: "swift-system")]),
        .systemLibrary(
            name: "CUMockdev",
            path: "Tests/CUMockdev",
            pkgConfig: "umockdev-1.0",
            providers: [.apt(["libumockdev-dev"])]
        ),
        .testTarget(
            name: "UIOTests",
            dependencies: ["UIO", "UIOControl", "UIOTesting", "CUIOShim", "CUMockdev"]
        ),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "GuestTests",
            dependencies: ["UIO", "UIODriver", "UIOTesting", "CTestSupport", "TestSupport"]
        ),
        .testTarget(
            name: "UIODriverTests",
            dependencies: ["UIO", "UIODriver", "UIOTesting", "TestSupport"]
        ),
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["uioctl", "edu-driver", "pl031-driver"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
