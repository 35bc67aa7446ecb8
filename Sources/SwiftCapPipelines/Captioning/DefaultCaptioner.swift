import Foundation
import SwiftCapTensor
import SwiftCapImage
import SwiftCapModels

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
    public var timings: StageTimings
}

/// The default captioner: photo -> visual concepts (PicoDet objects) -> retrieval decoder over the
/// caption datastore. Loads every model once; `caption(imageAt:)` may be called for many photos.
public struct DefaultCaptioner: Sendable {
    public let device: Device
    public let decoder: RetrievalCaptioner
    /// nil when the detector file is not available (a warning says where to get it).
    public let detector: PicoDet?
    public let imageDecoder: ImageDecoder
    /// Human-readable notes about missing optional parts (printed once by the CLI).
    public let warnings: [String]

    public static func defaultDatastoreURL(paths: AssetPaths) -> URL {
        paths.asset("datastore/coco-karpathy-train.scds")
    }

    public init(paths: AssetPaths, datastore: URL? = nil, device: Device,
                config: RetrievalCaptioner.Config = RetrievalCaptioner.Config(),
                decodeOptions: ImageDecodeOptions = ImageDecodeOptions()) throws {
        self.device = device
        self.imageDecoder = ImageDecoder(options: decodeOptions)
        let storeURL = datastore ?? DefaultCaptioner.defaultDatastoreURL(paths: paths)
        guard FileManager.default.fileExists(atPath: storeURL.path) else {
            throw CaptionerSetupError.missingDatastore(storeURL)
        }
        self.decoder = RetrievalCaptioner(datastore: try Datastore(contentsOf: storeURL), config: config)
        var warnings: [String] = []
        let detectorURL = paths.sharedFile(PicoDet.sharedRelativePath)
        if FileManager.default.fileExists(atPath: detectorURL.path) {
            detector = try PicoDet(contentsOf: detectorURL)
        } else {
            detector = nil
            warnings.append("object detector not found at \(detectorURL.path): captions will only use whole-image "
                            + "labels. Get picodet_s_416_coco.onnx (hpc203/picodet-onnxruntime, coco/) and put it in "
                            + "<shared>/models/, or point $SWIFTCAP_SHARED at a folder that has models/ in it.")
        }
        self.warnings = warnings
    }

    /// Concept evidence from detections: every detection becomes one piece of evidence whose area is
    /// the fraction of the photo its box covers.
    public static func evidence(from detections: [Detection], width: Int, height: Int) -> [ConceptEvidence] {
        let imageArea = Float(max(1, width * height))
        return detections.map { d in
            let b = d.box
            let w = max(0, min(b.x1, Float(width)) - max(b.x0, 0)), h = max(0, min(b.y1, Float(height)) - max(b.y0, 0))
            return ConceptEvidence(name: d.label, score: d.score, area: w * h / imageArea)
        }
    }

    public func caption(imageAt url: URL) throws -> CaptionOutput {
        var t = StageTimings()
        let start = DispatchTime.now().uptimeNanoseconds
        func lap(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }
        var s = DispatchTime.now().uptimeNanoseconds
        let image = try imageDecoder.decode(contentsOf: url)
        t.decode = lap(s)
        var evidence: [ConceptEvidence] = []
        if let detector {
            s = DispatchTime.now().uptimeNanoseconds
            let detections = try detector.detect(image, device: device)
            evidence += DefaultCaptioner.evidence(from: detections, width: image.width, height: image.height)
            t.detector = lap(s)
        }
        s = DispatchTime.now().uptimeNanoseconds
        let result = decoder.caption(evidence: evidence)
        t.decoder = lap(s)
        t.total = lap(start)
        return CaptionOutput(caption: result.caption, evidence: evidence, retrieved: result.retrieved, timings: t)
    }
}
