// swift-tools-version:6.0
import PackageDescription

// A synchronous captioning driver for valgrind memcheck (scripts/valgrind.sh). The swiftcap CLI's async entry
// point parks the main thread in libdispatch (dispatch_main -> pthread_exit -> sigsuspend), which valgrind
// 3.19-3.24 does not survive; this driver calls the same library code from a plain main thread.
// Not part of the main build.
let package = Package(
    name: "SwiftCapMemcheck",
    dependencies: [.package(name: "SwiftCap", path: "../..")],
    targets: [
        .executableTarget(name: "swiftcap-memcheck",
                          dependencies: [.product(name: "SwiftCap", package: "SwiftCap")]),
    ],
    swiftLanguageModes: [.v5]
)
