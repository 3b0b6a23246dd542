// swift-tools-version:6.1
// libFuzzer targets for the code that reads what the kernel (or a damaged tree) writes: the sysfs
// attribute parsers, /proc/interrupts, device selectors, and the config-space helpers.
// In a package of its own: a fuzzer build is a full rebuild with -sanitize=fuzzer,address.
// Run it with scripts/fuzz.sh from the repository's root.
import Foundation
import PackageDescription

/// A path dependency is known by its folder's name, which is the clone's name: find it.
let swiftUIO = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "swift-uio-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "fuzz-parsers",
            dependencies: [
                .product(name: "UIO", package: swiftUIO),
                .product(name: "UIOTesting", package: swiftUIO),
            ],
            path: "Sources/fuzz-parsers",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
