// swift-tools-version:6.0
import PackageDescription
import Foundation

let portableKernels = ProcessInfo.processInfo.environment["SWIFTCAP_PORTABLE_KERNELS"] == "1"

// Layers, bottom to top (each a target; a reader finds any layer in one look at Sources/):
//   CBLAS / CJPEG / CPNG / CKernels   system libraries and C hot loops
//   SwiftCapTensor    tensor type, GEMM backends, ops; knows nothing of models
//   SwiftCapFormats   safetensors, GGUF, PyTorch (zip + legacy pickle), ONNX, XMP sidecars, CSV
//   SwiftCapImage     JPEG/PNG decoding, EXIF orientation, model preprocessing
//   SwiftCapText      tokenizers (GPT-2 BPE, CLIP BPE, WordPiece)
//   SwiftCapHub       Hugging Face hub client (URLSession) and the cache shared with huggingface_hub
//   SwiftCapMetrics   BLEU, ROUGE-L, CIDEr-D, PTB tokenisation
//   SwiftCapModels    one file per architecture
//   SwiftCapPipelines detect -> concepts -> decode; batch jobs (resumable, sharded)
//   SwiftCapTraining  hand-written forward/backward, AdamW, the decoder's training loop
//   SwiftCap          umbrella library (the public API)
//   SwiftCapService   `swiftcap serve`: HTTP captioning service + web page (Hummingbird 2, worker pool)
//   swiftcap          command-line tools (thin subcommands)
let package = Package(
    name: "SwiftCap",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "SwiftCap", targets: ["SwiftCap"]),
        .executable(name: "swiftcap", targets: ["swiftcap"]),
        // For Fuzz/ (the request-parsing harness); the CLI uses the target directly.
        .library(name: "SwiftCapService", targets: ["SwiftCapService"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SwiftCapService only (the HTTP service); the other layers build without them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // The kernels are built for this machine's CPU (AVX-512 / VNNI where it has them). SWIFTCAP_PORTABLE_KERNELS=1
        // builds them for any x86-64 / arm64 CPU instead (plain C paths): for binaries run elsewhere and for
        // valgrind, which does not emulate AVX-512 (scripts/valgrind.sh).
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(portableKernels ? ["-O3"] : ["-O3", "-march=native"])]),
        .target(name: "SwiftCapTensor",
                dependencies: [
                    "CKernels",
                    .target(name: "CBLAS", condition: .when(platforms: [.linux])),
                ]),
        .target(name: "SwiftCapFormats", dependencies: ["SwiftCapTensor"]),
        // libjpeg/libpng calls (setjmp error handling must live in C) and the resampling loops.
        .target(name: "CImageShim", dependencies: ["CJPEG", "CPNG"], path: "Sources/CImageShim",
                cSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "SwiftCapImage", dependencies: ["SwiftCapTensor", "CJPEG", "CPNG", "CImageShim"]),
        .target(name: "SwiftCapText"),
        // Hugging Face hub client and the shared cache (Foundation/URLSession only).
        .target(name: "SwiftCapHub"),
        .target(name: "SwiftCapMetrics", dependencies: ["SwiftCapTensor"]),
        .target(name: "SwiftCapModels",
                dependencies: ["SwiftCapTensor", "SwiftCapFormats", "SwiftCapImage", "SwiftCapText"]),
        .target(name: "SwiftCapPipelines",
                dependencies: ["SwiftCapModels", "SwiftCapMetrics", "SwiftCapTensor", "SwiftCapFormats", "SwiftCapImage", "SwiftCapText"]),
        .target(name: "SwiftCapTraining",
                dependencies: ["SwiftCapTensor", "SwiftCapFormats", "SwiftCapImage", "SwiftCapText", "SwiftCapModels", "SwiftCapPipelines"]),
        .target(name: "SwiftCap",
                dependencies: ["SwiftCapTensor", "SwiftCapFormats", "SwiftCapImage", "SwiftCapText",
                               "SwiftCapMetrics", "SwiftCapModels", "SwiftCapPipelines", "SwiftCapTraining", "SwiftCapHub"]),
        .target(name: "SwiftCapService",
                dependencies: ["SwiftCapPipelines", "SwiftCapImage", "SwiftCapTensor",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus")]),
        .executableTarget(name: "swiftcap",
                          dependencies: ["SwiftCap", "SwiftCapHub", "SwiftCapService", .product(name: "Logging", package: "swift-log"),
                                         "SwiftCapTensor", "SwiftCapFormats", "SwiftCapImage", "SwiftCapText",
                                         "SwiftCapMetrics", "SwiftCapModels", "SwiftCapPipelines",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Shared by the test targets: missing inputs skip locally and fail under CI.
        .target(name: "SwiftCapTestSupport", path: "Tests/SwiftCapTestSupport"),
        .testTarget(name: "SwiftCapTensorTests", dependencies: ["SwiftCapTensor"]),
        .testTarget(name: "SwiftCapFormatsTests", dependencies: ["SwiftCapTestSupport", "SwiftCapFormats"]),
        .testTarget(name: "SwiftCapImageTests", dependencies: ["SwiftCapTestSupport", "SwiftCapImage"]),
        .testTarget(name: "SwiftCapTextTests", dependencies: ["SwiftCapText", "SwiftCapTensor", "SwiftCapFormats"]),
        .testTarget(name: "SwiftCapMetricsTests", dependencies: ["SwiftCapTestSupport", "SwiftCapMetrics", "SwiftCapTensor"]),
        .testTarget(name: "SwiftCapModelsTests", dependencies: ["SwiftCapTestSupport", "SwiftCapModels"]),
        .testTarget(name: "SwiftCapPipelinesTests", dependencies: ["SwiftCapTestSupport", "SwiftCapPipelines", "SwiftCapTensor"]),
        .testTarget(name: "SwiftCapTrainingTests", dependencies: ["SwiftCapTraining"]),
        .testTarget(name: "SwiftCapHubTests", dependencies: ["SwiftCapTestSupport", "SwiftCapHub"]),
        // Runs the built `swiftcap` binary the way a user does.
        .testTarget(name: "SwiftCapCLITests", dependencies: ["SwiftCapTestSupport", "SwiftCapFormats"]),
        // Starts the real server on 127.0.0.1 and calls it over HTTP (URLSession).
        .testTarget(name: "SwiftCapServiceTests",
                    dependencies: ["SwiftCapTestSupport", "SwiftCapService", "SwiftCapPipelines", "SwiftCapImage",
                                   "SwiftCapModels", "SwiftCapText", "SwiftCapTensor"]),
    ],
    // Language mode 5: kernels share raw buffers across worker threads, which strict
    // Sendable checking cannot express without wrappers on every hot loop.
    swiftLanguageModes: [.v5]
)
