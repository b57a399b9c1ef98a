// swift-tools-version:5.9
// VQACore: everything between a bundle and an answer that is not the Core ML call.
// Foundation only, so it builds and tests with a Swift toolchain on Linux as on macOS.
// Complete concurrency checking (warnings in the Swift 5 language mode), as the app's target.
import PackageDescription

let strictConcurrency: [SwiftSetting] = [.enableExperimentalFeature("StrictConcurrency")]

let package = Package(
    name: "VQACore",
    platforms: [.iOS(.v17), .macOS(.v13)],
    products: [
        .library(name: "VQACore", targets: ["VQACore"]),
    ],
    targets: [
        .target(name: "VQACore", path: "Sources/VQACore", swiftSettings: strictConcurrency),
        .testTarget(name: "VQACoreTests", dependencies: ["VQACore"], path: "Tests/VQACoreTests",
                    swiftSettings: strictConcurrency),
    ]
)
