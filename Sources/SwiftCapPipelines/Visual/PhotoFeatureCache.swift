import Foundation
import SwiftCapFormats
import SwiftCapImage
import SwiftCapTensor

/// Features of many photos, cached in one safetensors file:
/// `pooled` [N, 1280] and `detections` [N, 240] (f32), the photo file names in the metadata key `names`
/// (a JSON array, row order).
public struct PhotoFeatureCache: Sendable {
    public var names: [String]
    /// [N × 1280], row-major.
    public var pooled: [Float]
    /// [N × 240], row-major.
    public var detections: [Float]

    public init(names: [String], pooled: [Float], detections: [Float]) {
        self.names = names
        self.pooled = pooled
        self.detections = detections
    }

    public var count: Int { names.count }

    public func features(_ i: Int) -> PhotoFeatures {
        let p = PhotoFeatures.pooledDimension, d = PhotoFeatures.detectionDimension
        return PhotoFeatures(pooled: Array(pooled[i * p ..< (i + 1) * p]), detections: Array(detections[i * d ..< (i + 1) * d]))
    }

    /// Runs the extractor on every file in order; `progress` is called after each photo. A photo that
    /// cannot be read stops the run with an error naming it.
    public static func compute(files: [URL], extractor: ConceptExtractor, decoder: ImageDecoder, device: Device,
                               progress: (Int) -> Void = { _ in }) throws -> PhotoFeatureCache {
        var cache = PhotoFeatureCache(names: [], pooled: [], detections: [])
        cache.pooled.reserveCapacity(files.count * PhotoFeatures.pooledDimension)
        cache.detections.reserveCapacity(files.count * PhotoFeatures.detectionDimension)
        for (i, f) in files.enumerated() {
            let image = try decoder.decode(contentsOf: f)
            let a = try extractor.analyze(image, device: device)
            cache.names.append(f.lastPathComponent)
            cache.pooled += a.features.pooled
            cache.detections += a.features.detections
            progress(i + 1)
        }
        return cache
    }

    public func write(to url: URL) throws {
        let names = String(decoding: try JSONEncoder().encode(self.names), as: UTF8.self)
        try SafetensorsWriter.write([
            ("pooled", Tensor(pooled, shape: [count, PhotoFeatures.pooledDimension])),
            ("detections", Tensor(detections, shape: [count, PhotoFeatures.detectionDimension])),
        ], to: url, metadata: ["names": names, "format": "swiftcap-photo-features-1"])
    }

    /// Reads a cache written by `write(to:)`; a file of another kind or with inconsistent shapes is refused by name.
    public init(contentsOf url: URL) throws {
        let file = try SafetensorsFile(url: url)
        guard let json = file.metadata["names"], let names = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
            throw FormatError.malformed(file: url.path, detail: "not a SwiftCap photo-feature cache (no `names` metadata)")
        }
        let pooled = try file.loadTensor("pooled"), detections = try file.loadTensor("detections")
        guard pooled.shape == [names.count, PhotoFeatures.pooledDimension],
              detections.shape == [names.count, PhotoFeatures.detectionDimension] else {
            throw FormatError.malformed(file: url.path, detail: "pooled \(pooled.shape) / detections \(detections.shape) for \(names.count) names")
        }
        self.init(names: names, pooled: pooled.scalars, detections: detections.scalars)
    }
}
