// swift-tools-version:6.0
import PackageDescription

// Coverage-guided fuzzing harnesses (libFuzzer + AddressSanitizer) for SwiftCap's parsers and decoders.
// Not part of the main build: scripts/fuzz.sh builds this package with -sanitize=fuzzer,address.
let package = Package(
    name: "SwiftCapFuzz",
    dependencies: [.package(name: "SwiftCap", path: "..")],
    targets: [
        .executableTarget(
            name: "SwiftCapFuzz",
            dependencies: [.product(name: "SwiftCap", package: "SwiftCap")],
            path: "Sources/SwiftCapFuzz",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v5]
)
