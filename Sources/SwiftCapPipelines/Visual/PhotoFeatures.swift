import Foundation
import SwiftCapImage
import SwiftCapModels
import SwiftCapTensor

/// What the learned parts of the default captioner see of one photo: the classifier's pooled features
/// and a fixed-size summary of the detections. Computed the same way for training photos and for photos
/// users send (see `PhotoFeatures.trainingScale`).
public struct PhotoFeatures: Sendable, Equatable {
    /// The training photos in ../shared/data/coco-train are stored at 352 px on the long side; every photo
    /// is brought to that scale (Lanczos, never enlarged) before the networks run, so a user's 4000-px
    /// photo and a training photo of the same scene give close features.
    public static let trainingScale = 352
    /// EfficientNet-Lite0 pooled head activations: [1280].
    public var pooled: [Float]
    /// Per COCO class (80, detector order): the highest detection score, then min(count, 4)/4 of
    /// detections ≥ 0.3, then the largest box's share of the photo: [3 × 80].
    public var detections: [Float]
    public static let pooledDimension = 1280
    public static let detectionDimension = 3 * 80

    /// What the concept head reads: the pooled features, then the detection summary [1,520].
    public var headInput: [Float] { pooled + detections }
    public static let headInputDimension = pooledDimension + detectionDimension

    public init(pooled: [Float], detections: [Float]) {
        self.pooled = pooled
        self.detections = detections
    }

    /// The detection summary of `detections` (any threshold ≥ 0; counts use 0.3).
    public static func summarize(_ detections: [Detection], imageWidth: Int, imageHeight: Int) -> [Float] {
        var out = [Float](repeating: 0, count: detectionDimension)
        let area = Float(max(1, imageWidth * imageHeight))
        for d in detections where d.classIndex >= 0 && d.classIndex < 80 {
            let c = d.classIndex
            out[c] = max(out[c], d.score)
            if d.score >= 0.3 { out[80 + c] = min(1, out[80 + c] + 0.25) }
            out[160 + c] = max(out[160 + c], min(1, d.box.area / area))
        }
        return out
    }

    /// `image` scaled so its long side is at most `trainingScale` (Lanczos, as the training photos were).
    public static func atTrainingScale(_ image: RGBImage, device: Device) throws -> RGBImage {
        let long = max(image.width, image.height)
        guard long > trainingScale else { return image }
        let s = Double(trainingScale) / Double(long)
        let w = max(1, Int((Double(image.width) * s).rounded())), h = max(1, Int((Double(image.height) * s).rounded()))
        return try device.resized(image, width: w, height: h, filter: .lanczos)
    }
}

/// One photo seen once: the concepts of the threshold-based extractor and the features of the learned one.
public struct PhotoAnalysis: Sendable {
    public var concepts: Concepts
    public var features: PhotoFeatures
    /// Milliseconds in the detector and the classifier.
    public var detectorMilliseconds: Double
    public var classifierMilliseconds: Double
}

extension ConceptExtractor {
    /// Detections down to this score feed the features (the concepts keep `options.detectionThreshold`).
    public static let featureDetectionThreshold: Float = 0.25

    /// Runs the detector and the classifier once on `image` brought to the training scale.
    public func analyze(_ image: RGBImage, device: Device) throws -> PhotoAnalysis {
        let scaled = try PhotoFeatures.atTrainingScale(image, device: device)
        func ms(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }
        var t = DispatchTime.now().uptimeNanoseconds
        var detections: [Detection] = []
        if var d = detector {
            d.config.scoreThreshold = min(d.config.scoreThreshold, Self.featureDetectionThreshold)
            detections = try d.detect(scaled, device: device)
        }
        let detectorMS = ms(t)
        t = DispatchTime.now().uptimeNanoseconds
        let classification = try classifier.classify(scaled, topK: options.classifierTopK, device: device)
        let classifierMS = ms(t)
        // Boxes are reported in the caller's pixel coordinates.
        let sx = Float(image.width) / Float(scaled.width), sy = Float(image.height) / Float(scaled.height)
        let original = detections.map { d -> Detection in
            var d = d
            d.box = Box(x0: d.box.x0 * sx, y0: d.box.y0 * sy, x1: d.box.x1 * sx, y1: d.box.y1 * sy)
            return d
        }
        let concepts = describe(detections: original, classification: classification, imageWidth: image.width,
                                imageHeight: image.height, detectorUsed: detector != nil)
        let features = PhotoFeatures(pooled: classification.pooled,
                                     detections: PhotoFeatures.summarize(detections, imageWidth: scaled.width, imageHeight: scaled.height))
        return PhotoAnalysis(concepts: concepts, features: features, detectorMilliseconds: detectorMS, classifierMilliseconds: classifierMS)
    }
}
