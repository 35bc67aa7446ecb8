import Foundation
import SwiftCapFormats
import SwiftCapTensor

/// SmallCap-style image retrieval over the training photos: each photo's EfficientNet-Lite0 pooled
/// features, centred on the training mean and L2-normalised, with its COCO id (its captions come from
/// the datastore). Cosine similarity finds the nearest training photos of a new photo.
///
/// File (written by `swiftcap train --config configs/concepts.json`): `mean` [1280], `features` [N, 1280]
/// (f16, rows unit-length), metadata `format` = `swiftcap-photo-neighbours`, `image_ids` (JSON array of N ints).
public struct PhotoNeighbours: Sendable {
    public static let formatName = "swiftcap-photo-neighbours"
    public let mean: [Float]
    /// [N, D], unit rows.
    public let features: Tensor
    public let imageIDs: [Int]
    public var count: Int { imageIDs.count }
    public var dimension: Int { mean.count }

    /// Centres `pooled` rows ([N × D]) on their mean and normalises them.
    public init(pooled: [Float], imageIDs: [Int]) throws {
        let n = imageIDs.count
        guard n > 0, pooled.count % n == 0 else { throw FormatError.malformed(file: "photo neighbours", detail: "\(pooled.count) values for \(n) photos") }
        let d = pooled.count / n
        var mean = [Float](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += pooled[i * d + j] / Float(n) } }
        var f = pooled
        for i in 0..<n { Self.centreAndNormalise(&f[(i * d)..<((i + 1) * d)], mean: mean) }
        self.init(mean: mean, features: Tensor(f, shape: [n, d]), imageIDs: imageIDs)
    }

    public init(mean: [Float], features: Tensor, imageIDs: [Int]) {
        self.mean = mean; self.features = features; self.imageIDs = imageIDs
    }

    static func centreAndNormalise(_ row: inout ArraySlice<Float>, mean: [Float]) {
        var s: Float = 0
        for (k, j) in row.indices.enumerated() { row[j] -= mean[k]; s += row[j] * row[j] }
        let inv = 1 / max(s.squareRoot(), 1e-12)
        for j in row.indices { row[j] *= inv }
    }

    public init(url: URL) throws {
        let file = try SafetensorsFile(url: url)
        guard file.metadata["format"] == Self.formatName, let json = file.metadata["image_ids"],
              let ids = try? JSONDecoder().decode([Int].self, from: Data(json.utf8)) else {
            throw FormatError.malformed(file: url.path, detail: "not a SwiftCap photo-neighbours file (format / image_ids metadata)")
        }
        let mean = try file.loadTensor("mean"), features = try file.loadTensor("features")
        guard features.shape == [ids.count, mean.count] else {
            throw FormatError.malformed(file: url.path, detail: "features \(features.shape) for \(ids.count) ids and mean \(mean.shape)")
        }
        self.init(mean: mean.scalars, features: features, imageIDs: ids)
    }

    public func write(to url: URL) throws {
        try SafetensorsWriter.write([("mean", Tensor(mean)), ("features", features)], to: url, as: .f16,
                                    metadata: ["format": Self.formatName,
                                               "image_ids": String(decoding: try JSONEncoder().encode(imageIDs), as: UTF8.self)])
    }

    /// The `k` training photos most similar to `pooled` (indices into `imageIDs`), most similar first.
    public func nearest(_ pooled: [Float], k: Int, device: Device) throws -> [(index: Int, similarity: Float)] {
        guard pooled.count == dimension else { throw FormatError.malformed(file: "photo neighbours", detail: "query of \(pooled.count) values, expected \(dimension)") }
        var q = pooled[...]
        Self.centreAndNormalise(&q, mean: mean)
        let sims = try device.linear(Tensor(Array(q), shape: [1, dimension]), weight: features).scalars
        return CaptionWordIndex.top(sims, k).map { ($0, sims[$0]) }
    }
}

/// The nearest-neighbour baseline (and second vote): the captions of the `k` training photos nearest in
/// image features, picked by consensus among themselves.
public struct NeighbourCaptioner: Sendable {
    public let neighbours: PhotoNeighbours
    public let datastore: Datastore
    /// Datastore caption indices of each training photo (row order of `neighbours`).
    let captionsOfPhoto: [[Int]]
    public var k = 30

    public init(neighbours: PhotoNeighbours, datastore: Datastore) {
        self.neighbours = neighbours
        self.datastore = datastore
        let byID = datastore.captionIndices(ofImages: Set(neighbours.imageIDs))
        captionsOfPhoto = neighbours.imageIDs.map { byID[$0] ?? [] }
    }

    /// The captions of the `k` nearest training photos with each caption's photo similarity, nearest first;
    /// the photo with COCO id `excludingImageID` is skipped (cross-validation on the training photos).
    public func pool(_ pooled: [Float], k: Int, device: Device, excludingImageID: Int? = nil) throws -> [(caption: String, similarity: Float)] {
        try neighbours.nearest(pooled, k: k + 1, device: device).filter { neighbours.imageIDs[$0.index] != excludingImageID }
            .prefix(k).flatMap { n in captionsOfPhoto[n.index].map { (datastore.caption($0), n.similarity) } }
    }

    public func caption(pooled: [Float], device: Device, excludingImageID: Int? = nil) throws -> String {
        let pool = try self.pool(pooled, k: k, device: device, excludingImageID: excludingImageID).map(\.caption)
        let scores = ConsensusReranker().scores(pool)
        guard let best = scores.indices.max(by: { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }) else { return "" }
        return CaptionCorpus.tidy(pool[best])
    }
}
