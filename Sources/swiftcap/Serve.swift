import ArgumentParser
import Foundation
import Logging
import SwiftCap
import SwiftCapHub
import SwiftCapPipelines
import SwiftCapService

/// `swiftcap serve`: the captioning service and web page (Sources/SwiftCapService, docs/serving.md).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve captions over HTTP (POST /v1/captions) with a web page at /.",
        discussion: """
        Serves the default captioner, or with --model ORG/NAME[@REV] (or --arch blip|smallcap|clipcap --weights DIR) a \
        published one loaded as `swiftcap caption --model` loads it; every worker shares the one loaded model. \
        Listens at once; /readyz answers 503 until the captioner is loaded (and, for --model, downloaded). Photos are captioned by \
        --workers threads fed by a queue of --queue photos; a full queue is answered 503 with Retry-After, a \
        photo not done within --timeout-s 504. SIGTERM or SIGINT: stop accepting, answer requests in flight, \
        exit 0. API: GET /openapi.yaml. Photos are never stored or logged.
        """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed in the log).") var port = 8080
    @Option(help: "Captioner workers, each a thread with its own Device (default: one per core, at most 8).") var workers: Int?
    @Option(help: "Threads in all, split over the workers (default: all cores).") var threads: Int?
    @Option(help: "Photos waiting beyond those being captioned; more are answered 503.") var queue = 16
    @Option(name: .customLong("max-body-mb"), help: "Largest request body in MB (413 above).") var maxBodyMB = 20
    @Option(help: "Largest photo in pixels, width × height (413 above; checked before decoding).") var maxPixels = 50_000_000
    @Option(name: .customLong("timeout-s"), help: "Deadline per photo in seconds, queue wait included (504 past it).") var timeoutS = 30.0
    @Option(name: .customLong("api-keys"), help: "File of API keys, one a line: /v1 routes then need `Authorization: Bearer KEY`.")
    var apiKeys: String?
    @Option(name: .customLong("cors-origin"), help: "Allow browsers on this origin (CORS off without it).") var corsOrigin: String?
    @Option(help: "Caption datastore (default: <assets>/datastore/coco-karpathy-train.scds).") var datastore: String?
    @Option(help: "Shared folder with models/ (default: $SWIFTCAP_SHARED or ../shared).") var shared: String?
    @Option(help: "Default captioner's decoder (concepts, neighbours, retrieval, generative, smollm2).") var decoder: CaptionDecoderKind?
    @Option(help: "A published captioner ORG/NAME[@REVISION] (BLIP, SmallCap, ClipCap; fetched into the hub cache, or used from it offline), or 'default' (the default captioner).")
    var model: String?
    @Option(help: "A published architecture (clipcap | smallcap | blip): with --weights, a local checkpoint folder; with --model, overrides the guessed architecture.")
    var arch: CaptionerArch?
    @Option(help: "With --arch: folder holding the downloaded checkpoint files.") var weights: String?
    @Option(help: "Published captioner: beam width when a request gives no beams= (1 = greedy).") var beams = 3
    @Option(help: "Published captioner: most new tokens when a request gives no max_tokens=.") var maxTokens = 20
    @Option(help: "Published captioner: hold the weight matrices (encoder included) as f32 (as stored), f16, int8 or q4 in memory.")
    var quant: QuantizeTarget = .f32
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"

    func validate() throws {
        if let workers, !(1...256).contains(workers) { throw ValidationError("--workers must be 1…256, got \(workers)") }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be 1…1024, got \(threads)") }
        guard (1...4096).contains(maxBodyMB) else { throw ValidationError("--max-body-mb must be 1…4096, got \(maxBodyMB)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
        guard CaptionRequestOptions.beamsRange.contains(beams), CaptionRequestOptions.maxTokensRange.contains(maxTokens) else {
            throw ValidationError("--beams must be \(CaptionRequestOptions.beamsRange) and --max-tokens \(CaptionRequestOptions.maxTokensRange)")
        }
        if hubModel != nil && weights != nil {
            throw ValidationError("--model ORG/NAME fetches the weights; drop --weights (or use --arch with --weights for a local folder)")
        }
        if let model, hubModel == nil, model != "default" {
            throw ValidationError("--model takes ORG/NAME[@REVISION] (a hub repository) or 'default', got '\(model)'")
        }
        if hubModel == nil {
            if arch != nil && weights == nil { throw ValidationError("--arch needs --weights DIR (the downloaded checkpoint folder) or --model ORG/NAME") }
            if arch == nil && weights != nil { throw ValidationError("--weights is only used with --arch clipcap|smallcap|blip") }
        }
        if published && (decoder != nil || datastore != nil) {
            throw ValidationError("--decoder and --datastore set up the default captioner; drop them with --model ORG/NAME or --arch")
        }
    }

    /// `--model ORG/NAME[@REV]` (not `default`).
    var hubModel: String? {
        guard let model, model != "default", RepoID.looksLikeRepoID(model) else { return nil }
        return model
    }

    /// A published captioner rather than the default one.
    var published: Bool { hubModel != nil || weights != nil }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "swiftcap.serve")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let totalThreads = threads ?? cores
        var config = ServeConfiguration()
        config.host = host
        config.port = port
        config.workers = workers ?? max(1, min(8, totalThreads))
        config.threadsPerWorker = max(1, totalThreads / config.workers)
        config.queue = queue
        config.maxBodyBytes = maxBodyMB << 20
        config.maxPixels = maxPixels
        config.timeoutSeconds = timeoutS
        config.corsOrigin = corsOrigin
        do {
            if let apiKeys { config.apiKeys = try ServeConfiguration.readAPIKeys(from: URL(fileURLWithPath: apiKeys)) }
            try config.validate()
        } catch let error as ServeConfigurationError {
            throw ValidationError(error.description)
        }

        var paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        if let shared { paths.shared = URL(fileURLWithPath: shared) }
        let kind = decoder ?? .standard
        let modelID: String, decoderName: String
        if let hubModel {
            (modelID, decoderName) = (hubModel, arch?.rawValue ?? "published")
        } else if let arch, let weights {
            (modelID, decoderName) = (URL(fileURLWithPath: weights).standardizedFileURL.lastPathComponent, arch.rawValue)
        } else {
            (modelID, decoderName) = ("default", kind.rawValue)
        }
        let loader: @Sendable () throws -> ServedCaptioner
        if published {
            var settings = PublishedCaptionerOptions(beams: beams, maxTokens: maxTokens,
                                                     threads: config.effectiveThreadsPerWorker, quant: quant)
            settings.assets = paths
            let (spec, arch, weights, options) = (hubModel, self.arch, self.weights, settings)
            loader = {
                // The same resolution (hub cache, download, offline) and loading as `swiftcap caption --model/--arch`.
                if let spec {
                    let hub = try resolveHubCaptioner(spec, arch: arch, options: options)
                    return .published(try PublishedCaptioner(arch: hub.arch, weights: hub.weights, options: hub.options,
                                                             name: "\(hub.arch.rawValue) \(spec)"))
                }
                guard let arch, let weights else { throw ValidationError("--arch needs --weights") }
                return .published(try PublishedCaptioner(arch: arch, weights: URL(fileURLWithPath: weights), options: options))
            }
        } else {
            let (datastore, root, assetPaths) = (self.datastore, repositoryRootGuess(), paths)
            let fallBack = decoder == nil
            loader = {
                .standard(try DefaultCaptioner(
                    paths: assetPaths, datastore: datastore.map { URL(fileURLWithPath: $0) }, device: Device(threads: 1), decoderKind: kind,
                    model: DefaultCaptioner.defaultModelURL(repositoryRoot: root),
                    conceptHead: DefaultCaptioner.defaultConceptHeadURL(repositoryRoot: root),
                    fallBackToRetrieval: fallBack))
            }
        }
        let engine = CaptionEngine(modelID: modelID, decoderName: decoderName, maxPixels: config.maxPixels)
        let server = try CaptionServer(configuration: config, engine: engine, logger: logger)
        engine.load(loader, completion: { state in
            switch state {
            case .ready(let c):
                if case .standard(let d) = c {
                    for w in d.warnings { logger.warning("captioner", metadata: ["note": .string(w)]) }
                }
                logger.info("ready", metadata: ["model": .string(modelID), "captioner": .string(c.name)])
            case .failed(let message):
                logger.error("captioner failed to load; stopping", metadata: ["error": .string(message)])
                Task { await server.shutdown() }
            case .loading: break
            }
        })
        try await server.run()
        if case .failed(let message) = engine.state {
            printError("error: \(message)")
            throw ExitCode(1)
        }
    }
}
