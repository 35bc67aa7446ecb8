import Foundation
import SwiftCapImage
import SwiftCapTensor

/// The default captioner as a batch job's captioner: one loaded model shared by every worker (the models
/// are immutable values), one `Device` per worker, and an optional sentence embedder for `search`.
public struct DefaultBatchCaptioner: BatchPhotoCaptioner {
    public let captioner: DefaultCaptioner
    public let devices: [Device]
    /// Embeds a caption (e.g. all-MiniLM-L6-v2); nil runs the job without embeddings.
    public let embed: (@Sendable (String, Device) throws -> [Float])?
    public var maxKeywords = 12
    private let readerDevice = Device(threads: 1)

    /// `threads` are split over `workers` (at least one each).
    public init(captioner: DefaultCaptioner, workers: Int, threads: Int,
                embed: (@Sendable (String, Device) throws -> [Float])? = nil) {
        self.captioner = captioner
        let per = max(1, threads / max(1, workers))
        devices = (0..<max(1, workers)).map { _ in Device(threads: per) }
        self.embed = embed
    }

    /// Reader stage: decode, and for the learned decoders also bring the photo to the training scale
    /// (≤ 352 px, the first step of their analysis), so that work overlaps inference too.
    public func load(_ path: String) throws -> RGBImage {
        let image = try captioner.imageDecoder.decode(contentsOf: URL(fileURLWithPath: path))
        guard captioner.concepts != nil || captioner.neighboursOnly else { return image }
        return try PhotoFeatures.atTrainingScale(image, device: readerDevice)
    }

    public func caption(_ image: RGBImage, worker: Int) throws -> BatchCaption {
        let device = devices[worker % devices.count]
        let out = try captioner.describe(image: image, device: device)
        let keywords = DefaultBatchCaptioner.keywords(out, limit: maxKeywords)
        return BatchCaption(caption: out.caption, keywords: keywords, embedding: try embed?(out.caption, device))
    }

    /// Keywords for a photo: detected objects and classifier words (score ≥ 0.5), then the concept words the
    /// decoder was most sure of (probability ≥ 0.5), most confident first, without repeats.
    public static func keywords(_ out: CaptionOutput, limit: Int) -> [String] {
        var scored: [(String, Float)] = out.evidence.filter { $0.score >= 0.5 }.map { ($0.name, $0.score) }
        scored += out.query.filter { $0.value >= 0.5 }.map { ($0.key, $0.value) }
        scored.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        var seen = Set<String>()
        var out: [String] = []
        for (w, _) in scored where seen.insert(w.lowercased()).inserted {
            out.append(w.lowercased())
            if out.count == limit { break }
        }
        return out
    }
}
