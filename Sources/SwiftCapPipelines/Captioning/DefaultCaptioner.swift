import Foundation
import SwiftCapTensor
import SwiftCapImage
import SwiftCapModels
import SwiftCapMetrics

/// Errors setting up the default captioner; each says what is missing and how to get it.
public enum CaptionerSetupError: Error, CustomStringConvertible {
    case missingDatastore(URL)

    public var description: String {
        switch self {
        case .missingDatastore(let url):
            return "datastore \(url.path) not found: build it with `swiftcap index build --out \(url.path)` "
                + "(scripts/setup.sh does this; it needs the COCO captions from scripts/fetch-assets.sh)"
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
    /// The datastore query: concept -> weight (0…1) after thresholds.
    public var query: [String: Float]
    public var timings: StageTimings
}

/// The default captioner: photo -> visual concepts (PicoDet objects + EfficientNet-Lite labels) ->
/// retrieval decoder over the caption datastore. Loads every model once; `caption(imageAt:)` may be
/// called for many photos.
public struct DefaultCaptioner: Sendable, Captioner {
    public let device: Device
    public let decoder: RetrievalCaptioner
    public let extractor: ConceptExtractor
    public let imageDecoder: ImageDecoder
    /// Human-readable notes about missing optional parts (printed once by the CLI).
    public let warnings: [String]
    public var name: String { "default (PicoDet + EfficientNet-Lite0 concepts, retrieval decoder)" }

    public static func defaultDatastoreURL(paths: AssetPaths) -> URL {
        paths.asset("datastore/coco-karpathy-train.scds")
    }

    public init(paths: AssetPaths, datastore: URL? = nil, device: Device,
                config: RetrievalCaptioner.Config = RetrievalCaptioner.Config(),
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
        self.extractor = try ConceptExtractor.load(paths: paths, options: conceptOptions) { warnings.append($0) }
        self.warnings = warnings
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
        var t = StageTimings()
        let start = DispatchTime.now().uptimeNanoseconds
        func lap(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }
        var s = DispatchTime.now().uptimeNanoseconds
        let image = try imageDecoder.decode(contentsOf: url)
        t.decode = lap(s)
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
        let result = decoder.caption(evidence: evidence)
        t.decoder = lap(s)
        t.total = lap(start)
        return CaptionOutput(caption: result.caption, evidence: evidence, retrieved: result.retrieved, query: result.query, timings: t)
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
