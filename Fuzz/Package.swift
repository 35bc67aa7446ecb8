// swift-tools-version:6.0
import PackageDescription

// Coverage-guided fuzzing harnesses (libFuzzer + AddressSanitizer) for SwiftCap's parsers and decoders.
// Not part of the main build: scripts/fuzz.sh builds this package with -sanitize=fuzzer,address.
let package = Package(
    name: "SwiftCapFuzz",
    dependencies: [
        .package(name: "SwiftCap", path: ".."),
        // The same version range as the main package (the http harness parses queries with Hummingbird's URI).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "SwiftCapFuzz",
            dependencies: [.product(name: "SwiftCap", package: "SwiftCap"),
                           .product(name: "SwiftCapService", package: "SwiftCap"),
                           .product(name: "HummingbirdCore", package: "hummingbird")],
            path: "Sources/SwiftCapFuzz",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v5]
)
