// swift-tools-version:5.9
// VQACore: everything between a bundle and an answer that is not the Core ML call.
// Foundation only, so it builds and tests with a Swift toolchain on Linux as on macOS.
import PackageDescription

let package = Package(
    name: "VQACore",
    platforms: [.iOS(.v17), .macOS(.v13)],
    products: [
        .library(name: "VQACore", targets: ["VQACore"]),
    ],
    targets: [
        .target(name: "VQACore", path: "Sources/VQACore"),
        .testTarget(name: "VQACoreTests", dependencies: ["VQACore"], path: "Tests/VQACoreTests"),
    ]
)
