import Foundation
import SwiftCapImage
import SwiftCapModels
import SwiftCapTensor

/// Thresholds of the concept extractor.
public struct ConceptOptions: Sendable, Equatable, Codable {
    /// Detections below this score are ignored.
    public var detectionThreshold: Float = 0.4
    /// Same-class detections overlapping by more than this IoU are merged by NMS.
    public var nmsIoU: Float = 0.6
    /// Classifier labels below this probability are ignored.
    public var classifierThreshold: Float = 0.15
    /// How many classifier labels are considered.
    public var classifierTopK = 5
    /// A detected object's box covering at least this fraction of the image is "large"…
    public var largeArea: Float = 0.2
    /// …at least this fraction "medium", else "small".
    public var mediumArea: Float = 0.03
    public init() {}
}

/// One detected instance, described for a caption.
public struct ObjectInstance: Sendable, Equatable, Codable {
    public var score: Float
    public var box: Box
    /// Box area / image area.
    public var areaFraction: Float
    /// "small", "medium" or "large".
    public var size: String
    /// Rough position of the box centre: "center", "top left", "middle right", "bottom", …
    public var position: String
}

/// All instances of one COCO class.
public struct ObjectConcept: Sendable, Equatable, Codable {
    public var word: String
    public var count: Int
    /// Highest instance score.
    public var score: Float
    /// Instances, most confident first.
    public var instances: [ObjectInstance]
}

/// A confident classifier label with its plain caption word.
public struct LabelConcept: Sendable, Equatable, Codable {
    public var word: String
    public var imagenetLabel: String
    public var probability: Float
}

/// What the extractor found in one photo.
public struct Concepts: Sendable, Equatable, Codable {
    public var imageWidth: Int
    public var imageHeight: Int
    /// Detected COCO objects grouped by class, most confident class first. Empty without a detector.
    public var objects: [ObjectConcept]
    /// Confident ImageNet labels mapped to caption words (duplicates of detected words removed).
    public var labels: [LabelConcept]
    /// False when the extractor ran classifier-only.
    public var detectorUsed: Bool
    /// Caption words in order of confidence: objects first, then classifier words.
    public var words: [String] { objects.map(\.word) + labels.map(\.word) }
}

/// Detector + classifier -> concepts. Runs classifier-only when built without a detector.
public struct ConceptExtractor: Sendable {
    public var detector: PicoDet?
    public var classifier: EfficientNetLite0
    public var options: ConceptOptions

    public init(detector: PicoDet?, classifier: EfficientNetLite0, options: ConceptOptions = ConceptOptions()) {
        self.detector = detector
        self.classifier = classifier
        self.options = options
        self.detector?.config.scoreThreshold = options.detectionThreshold
        self.detector?.config.nmsIoU = options.nmsIoU
    }

    /// Loads both networks from their usual places. When the detector file is missing, `notice`
    /// is called once with a sentence saying what is missing and where to get it, and the
    /// extractor runs classifier-only; any other problem (a corrupt detector, a missing
    /// classifier) is thrown.
    public static func load(paths: AssetPaths, options: ConceptOptions = ConceptOptions(),
                            notice: (String) -> Void) throws -> ConceptExtractor {
        let classifier = try EfficientNetLite0(contentsOf: paths.asset(EfficientNetLite0.assetRelativePath))
        let detectorURL = paths.sharedFile(PicoDet.sharedRelativePath)
        var detector: PicoDet?
        if FileManager.default.fileExists(atPath: detectorURL.path) {
            detector = try PicoDet(contentsOf: detectorURL)
        } else {
            notice("Object detector not found at \(detectorURL.path): running classifier-only (no object counts, sizes or positions). \(PicoDet.missingHint)")
        }
        return ConceptExtractor(detector: detector, classifier: classifier, options: options)
    }

    /// The photo's concepts.
    public func extract(_ image: RGBImage, device: Device) throws -> Concepts {
        let detections = try detector?.detect(image, device: device) ?? []
        let classification = try classifier.classify(image, topK: options.classifierTopK, device: device)
        return describe(detections: detections, classification: classification, imageWidth: image.width,
                        imageHeight: image.height, detectorUsed: detector != nil)
    }

    /// Groups detections and filters classifier labels (the pure part of `extract`).
    public func describe(detections: [Detection], classification: Classification, imageWidth: Int, imageHeight: Int,
                         detectorUsed: Bool) -> Concepts {
        ConceptDescriber(options: options).describe(detections: detections, classification: classification,
                                                    imageWidth: imageWidth, imageHeight: imageHeight, detectorUsed: detectorUsed)
    }

    public static func position(_ box: Box, imageWidth: Int, imageHeight: Int) -> String {
        ConceptDescriber.position(box, imageWidth: imageWidth, imageHeight: imageHeight)
    }
}

/// Turns detections and a classification into concepts with `options` (no networks involved).
public struct ConceptDescriber: Sendable {
    public var options: ConceptOptions
    public init(options: ConceptOptions) { self.options = options }

    /// Groups detections and filters classifier labels (the pure part of `extract`).
    public func describe(detections: [Detection], classification: Classification, imageWidth: Int, imageHeight: Int,
                         detectorUsed: Bool) -> Concepts {
        let imageArea = Float(max(1, imageWidth * imageHeight))
        var groups: [String: [ObjectInstance]] = [:]
        var order: [String] = []
        for d in detections where d.score >= options.detectionThreshold {
            let fraction = d.box.area / imageArea
            let size = fraction >= options.largeArea ? "large" : fraction >= options.mediumArea ? "medium" : "small"
            let inst = ObjectInstance(score: d.score, box: d.box, areaFraction: fraction, size: size,
                                      position: Self.position(d.box, imageWidth: imageWidth, imageHeight: imageHeight))
            if groups[d.label] == nil { order.append(d.label) }
            groups[d.label, default: []].append(inst)
        }
        var objects = order.map { word -> ObjectConcept in
            let inst = (groups[word] ?? []).sorted { $0.score > $1.score }
            return ObjectConcept(word: word, count: inst.count, score: inst.first?.score ?? 0, instances: inst)
        }
        objects.sort { a, b in a.score != b.score ? a.score > b.score : a.count != b.count ? a.count > b.count : a.word < b.word }
        var seen = Set(objects.map(\.word))
        var labels: [LabelConcept] = []
        for t in classification.top where t.probability >= options.classifierThreshold {
            let word = ImageNetLabels.captionWord(t.index)
            if word.isEmpty || seen.contains(word) { continue }
            seen.insert(word)
            labels.append(LabelConcept(word: word, imagenetLabel: t.label, probability: t.probability))
        }
        return Concepts(imageWidth: imageWidth, imageHeight: imageHeight, objects: objects, labels: labels, detectorUsed: detectorUsed)
    }

    /// "center", or "<top|middle|bottom> <left|right>" / "top" / "bottom" from the box centre in thirds.
    public static func position(_ box: Box, imageWidth: Int, imageHeight: Int) -> String {
        let x = box.centerX / Float(max(1, imageWidth)), y = box.centerY / Float(max(1, imageHeight))
        let h = x < 1.0 / 3 ? "left" : x > 2.0 / 3 ? "right" : "center"
        let v = y < 1.0 / 3 ? "top" : y > 2.0 / 3 ? "bottom" : "middle"
        switch (v, h) {
        case ("middle", "center"): return "center"
        case (_, "center"): return v
        default: return "\(v) \(h)"
        }
    }
}
