import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels
import SwiftCapImage
import SwiftCapPipelines

/// Everything `swiftcap train --config configs/concepts.json` reads to train the concept head.
/// Paths may start with `{shared}` or `{assets}` (the shared folder and the asset cache).
public struct ConceptHeadConfig: Codable, Sendable, Equatable {
    /// Marks the file as a concept-head config (`"task": "concepts"`).
    public var task = "concepts"
    /// Training photos and their captions (file name -> 5 captions).
    public var trainImages = "{shared}/data/coco-train/images"
    public var trainCaptions = "{shared}/data/coco-train/captions.json"
    /// Photo features of the training photos: computed (and written here) when missing or stale.
    public var trainFeatures = "runs/concepts/train-features.safetensors"
    /// Optional held-out photos for the report (per-word AP); never trained on.
    public var devImages: String? = "{shared}/eval/coco-dev/images"
    public var devReferences: String? = "{shared}/eval/coco-dev/references.json"
    public var devFeatures: String? = "runs/concepts/dev-features.safetensors"
    /// The model file (f16) and the report folder.
    public var out = "models/concept-head.safetensors"
    /// The training photos' features for image retrieval (`PhotoNeighbours`), written beside the head.
    public var neighboursOut = "models/photo-neighbours.safetensors"
    public var reportDirectory = "runs/concepts"
    /// A word enters the vocabulary when the captions of at least this many training photos use it.
    public var minPhotos = 12
    public var hidden = 512
    /// Ensemble members (LightCap's ensemble heads), each trained from its own seed.
    public var heads = 3
    public var epochs = 40
    public var batchSize = 128
    public var learningRate: Float = 1e-3
    public var warmupSteps = 100
    /// L2 penalty on the matrices, added to the gradient (Adam, not decoupled).
    public var l2: Float = 1e-4
    /// Dropout on the inputs and on the hidden layer while training.
    public var dropout: Float = 0.5
    public var seed: UInt64 = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case task, trainImages, trainCaptions, trainFeatures, devImages, devReferences, devFeatures, out, neighboursOut, reportDirectory,
             minPhotos, hidden, heads, epochs, batchSize, learningRate, warmupSteps, l2, dropout, seed
    }

    /// Missing keys keep their defaults; `null` for a dev path turns the report's dev part off.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ConceptHeadConfig()
        task = try c.decodeIfPresent(String.self, forKey: .task) ?? d.task
        trainImages = try c.decodeIfPresent(String.self, forKey: .trainImages) ?? d.trainImages
        trainCaptions = try c.decodeIfPresent(String.self, forKey: .trainCaptions) ?? d.trainCaptions
        trainFeatures = try c.decodeIfPresent(String.self, forKey: .trainFeatures) ?? d.trainFeatures
        devImages = c.contains(.devImages) ? try c.decodeIfPresent(String.self, forKey: .devImages) : d.devImages
        devReferences = c.contains(.devReferences) ? try c.decodeIfPresent(String.self, forKey: .devReferences) : d.devReferences
        devFeatures = c.contains(.devFeatures) ? try c.decodeIfPresent(String.self, forKey: .devFeatures) : d.devFeatures
        out = try c.decodeIfPresent(String.self, forKey: .out) ?? d.out
        neighboursOut = try c.decodeIfPresent(String.self, forKey: .neighboursOut) ?? d.neighboursOut
        reportDirectory = try c.decodeIfPresent(String.self, forKey: .reportDirectory) ?? d.reportDirectory
        minPhotos = try c.decodeIfPresent(Int.self, forKey: .minPhotos) ?? d.minPhotos
        hidden = try c.decodeIfPresent(Int.self, forKey: .hidden) ?? d.hidden
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? d.learningRate
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        l2 = try c.decodeIfPresent(Float.self, forKey: .l2) ?? d.l2
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }

    public func validate() throws {
        guard task == "concepts" else { throw TrainingError.invalidConfig("task must be \"concepts\", got \"\(task)\"") }
        guard minPhotos >= 1, hidden >= 1, heads >= 1, epochs >= 1, batchSize >= 1, learningRate > 0, warmupSteps >= 0,
              l2 >= 0, dropout >= 0, dropout < 1 else {
            throw TrainingError.invalidConfig("minPhotos, hidden, heads, epochs, batchSize and learningRate must be positive; "
                                              + "l2 ≥ 0; dropout in [0, 1)")
        }
    }

    /// `path` with `{shared}` / `{assets}` expanded.
    public static func resolve(_ path: String, paths: AssetPaths) -> URL {
        URL(fileURLWithPath: path.replacingOccurrences(of: "{shared}", with: paths.shared.path)
            .replacingOccurrences(of: "{assets}", with: paths.assets.path))
    }
}

/// The caption words of a photo set: which words count, and each photo's targets.
public struct ConceptLabels: Sendable {
    /// Words never used as concepts: articles, prepositions, pronouns, auxiliaries.
    public static let stopWords: Set<String> = Set("""
        a an the of on in with and is are to at it its this that there their some for by while next near from his her he \
        she they them up down out has have being be as other each into over under very top front side onto or one who him \
        what been lots lot
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))

    /// Words used in the captions of at least `minPhotos` photos, most frequent first (ties by spelling).
    public static func vocabulary(captions: [[String]], minPhotos: Int) -> [String] {
        var df: [String: Int] = [:]
        for set in captions {
            var seen = Set<String>()
            for c in set { for w in ConceptVocabulary.tokenize(c) { seen.insert(String(w)) } }
            for w in seen { df[w, default: 0] += 1 }
        }
        return df.filter { $0.value >= minPhotos && !stopWords.contains($0.key) && !$0.key.allSatisfy(\.isNumber) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
    }

    /// Targets [photos × V]: 1 where any of the photo's captions uses the word.
    public static func targets(captions: [[String]], vocabulary: [String]) -> [Float] {
        var index: [String: Int] = [:]
        for (i, w) in vocabulary.enumerated() { index[w] = i }
        var y = [Float](repeating: 0, count: captions.count * vocabulary.count)
        for (p, set) in captions.enumerated() {
            for c in set { for w in ConceptVocabulary.tokenize(c) { if let j = index[String(w)] { y[p * vocabulary.count + j] = 1 } } }
        }
        return y
    }
}

/// One concept-head MLP being trained: parameters in one flat buffer (fc1.weight [D, H], fc1.bias [H],
/// fc2.weight [H, V], fc2.bias [V]), forward and backward written out (llm.c style), sigmoid
/// cross-entropy summed over words and averaged over photos.
public final class TrainableConceptMLP {
    public let inputs: Int, hidden: Int, outputs: Int
    public var params: [Float]
    public var grads: [Float]
    public let slots: [ParameterSlot]
    // Activations of the last forward: [rows, D], [rows, H] (pre-activation and after relu × mask), [rows, V].
    private var x: [Float] = [], hPre: [Float] = [], h: [Float] = [], hMask: [Float] = [], p: [Float] = []
    private var rows = 0

    public init(inputs: Int, hidden: Int, outputs: Int, outputPrior: [Float], seed: UInt64) {
        self.inputs = inputs; self.hidden = hidden; self.outputs = outputs
        slots = [ParameterSlot(name: "fc1.weight", shape: [inputs, hidden], offset: 0, decays: true),
                 ParameterSlot(name: "fc1.bias", shape: [hidden], offset: inputs * hidden, decays: false),
                 ParameterSlot(name: "fc2.weight", shape: [hidden, outputs], offset: inputs * hidden + hidden, decays: true),
                 ParameterSlot(name: "fc2.bias", shape: [outputs], offset: inputs * hidden + hidden + hidden * outputs, decays: false)]
        let count = slots[3].offset + outputs
        params = [Float](repeating: 0, count: count)
        grads = [Float](repeating: 0, count: count)
        var rng = SplitMix64(seed: seed)
        func normal() -> Float {
            let u1 = max(Float(1e-7), rng.nextFloat()), u2 = rng.nextFloat()
            return (-2 * log(u1)).squareRoot() * cos(2 * Float.pi * u2)
        }
        let s1 = (2 / Float(inputs)).squareRoot(), s2 = (1 / Float(hidden)).squareRoot()
        for i in 0..<(inputs * hidden) { params[i] = normal() * s1 }
        for i in 0..<(hidden * outputs) { params[slots[2].offset + i] = normal() * s2 }
        // Output biases start at the log-odds of each word's frequency.
        for j in 0..<outputs {
            let q = min(max(outputPrior[j], 1e-4), 1 - 1e-4)
            params[slots[3].offset + j] = log(q / (1 - q))
        }
    }

    /// Forward on `batch` rows of normalised inputs; dropout masks drawn from `rng` when `dropout` > 0.
    /// Returns the mean loss per photo; keeps what backward needs.
    public func forward(_ input: [Float], targets: [Float], dropout: Float, rng: inout SplitMix64, device: Device) -> Double {
        rows = input.count / inputs
        let D = inputs, H = hidden, V = outputs
        x = input
        let keep = 1 / (1 - dropout)
        if dropout > 0 { for i in 0..<x.count { x[i] = rng.nextFloat() < dropout ? 0 : x[i] * keep } }
        hPre = [Float](repeating: 0, count: rows * H)
        p = [Float](repeating: 0, count: rows * V)
        params.withUnsafeBufferPointer { P in
            let P = P.baseAddress!
            x.withUnsafeBufferPointer { X in
                hPre.withUnsafeMutableBufferPointer { Y in
                    linearForward(device.gemm, x: X.baseAddress!, w: P, b: P + slots[1].offset, y: Y.baseAddress!, rows: rows, inDim: D, outDim: H)
                }
            }
        }
        hMask = [Float](repeating: 1, count: rows * H)
        h = hPre
        for i in 0..<h.count {
            if h[i] < 0 { h[i] = 0; hMask[i] = 0 }
            if dropout > 0 && rng.nextFloat() < dropout { hMask[i] = 0 } else if dropout > 0 && hMask[i] > 0 { hMask[i] = keep }
            h[i] *= hMask[i]
        }
        params.withUnsafeBufferPointer { P in
            let P = P.baseAddress!
            h.withUnsafeBufferPointer { X in
                p.withUnsafeMutableBufferPointer { Y in
                    linearForward(device.gemm, x: X.baseAddress!, w: P + slots[2].offset, b: P + slots[3].offset, y: Y.baseAddress!,
                                  rows: rows, inDim: H, outDim: V)
                }
            }
        }
        // p holds logits here: loss = softplus(z) − y z, computed stably; then p = σ(z).
        var loss = 0.0
        for i in 0..<p.count {
            let z = p[i]
            loss += Double(max(z, 0) - z * targets[i] + log1p(exp(-abs(z))))
            p[i] = 1 / (1 + exp(-z))
        }
        return loss / Double(max(rows, 1))
    }

    /// Gradients of the last forward's loss (overwrites `grads`), plus `l2` × the matrices.
    public func backward(targets: [Float], l2: Float, device: Device) {
        let D = inputs, H = hidden, V = outputs
        for i in 0..<grads.count { grads[i] = 0 }
        var dz = [Float](repeating: 0, count: rows * V)
        let inv = 1 / Float(max(rows, 1))
        for i in 0..<dz.count { dz[i] = (p[i] - targets[i]) * inv }
        var dh = [Float](repeating: 0, count: rows * H)
        var dx = [Float](repeating: 0, count: rows * D)
        params.withUnsafeBufferPointer { P in
            grads.withUnsafeMutableBufferPointer { G in
                let P = P.baseAddress!, G = G.baseAddress!
                linearBackward(device.gemm, dy: dz, x: h, w: P + slots[2].offset, dx: &dh, dw: G + slots[2].offset,
                               db: G + slots[3].offset, rows: rows, inDim: H, outDim: V, device: device)
                for i in 0..<dh.count { dh[i] *= hMask[i] }
                linearBackward(device.gemm, dy: dh, x: x, w: P, dx: &dx, dw: G, db: G + slots[1].offset,
                               rows: rows, inDim: D, outDim: H, device: device)
            }
        }
        if l2 > 0 {
            for s in slots where s.decays { for i in s.offset..<(s.offset + s.count) { grads[i] += l2 * params[i] } }
        }
    }

    /// The parameters as the inference model's MLP.
    public var mlp: ConceptHead.MLP {
        func t(_ s: ParameterSlot) -> Tensor { Tensor(Array(params[s.offset..<(s.offset + s.count)]), shape: s.shape) }
        return ConceptHead.MLP(fc1Weight: t(slots[0]), fc1Bias: t(slots[1]), fc2Weight: t(slots[2]), fc2Bias: t(slots[3]))
    }
}

/// Trains the concept head: features (cached), vocabulary and targets from the training captions,
/// `heads` MLPs from different seeds, then the f16 model file and a report on held-out photos.
public struct ConceptHeadTrainer {
    public let config: ConceptHeadConfig
    public let paths: AssetPaths
    public let device: Device
    public var log: (String) -> Void
    /// Called with (done, total, label) for each phase: features computed, each head or fold trained.
    public var progress: (Int, Int, String) -> Void

    public init(config: ConceptHeadConfig, paths: AssetPaths, device: Device, log: @escaping (String) -> Void,
                progress: @escaping (Int, Int, String) -> Void = { _, _, _ in }) {
        self.config = config; self.paths = paths; self.device = device; self.log = log; self.progress = progress
    }

    public struct Summary {
        public var model: ConceptHead
        public var modelFile: URL
        /// Mean training loss per epoch, per head.
        public var losses: [[Double]]
        public var seconds: Double
        public var report: ConceptReport?
    }

    /// Features of every photo in `images` (sorted by name), read from `cacheURL` when it holds exactly
    /// those photos, else computed and written there.
    public func features(images: URL, cacheURL: URL, label: String) throws -> PhotoFeatureCache {
        let files = try ImageDecoder.photoFiles(in: images)
        let names = files.map(\.lastPathComponent)
        guard !names.isEmpty else { throw TrainingError.data("\(images.path): no .jpg/.jpeg/.png photos") }
        if FileManager.default.fileExists(atPath: cacheURL.path), let cached = try? PhotoFeatureCache(contentsOf: cacheURL),
           cached.names == names {
            log("features: \(cacheURL.path) (\(names.count) photos, cached)")
            return cached
        }
        log("features: computing \(names.count) photos of \(images.path) -> \(cacheURL.path)")
        let extractor = try ConceptExtractor.load(paths: paths) { log("warning: \($0)") }
        let cache = try PhotoFeatureCache.compute(files: files, extractor: extractor,
                                                  decoder: ImageDecoder(), device: device) { progress($0, names.count, label) }
        try FileManager.default.createDirectory(at: cacheURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        try cache.write(to: cacheURL)
        return cache
    }

    static func loadCaptions(_ url: URL) throws -> [String: [String]] {
        do { return try JSONDecoder().decode([String: [String]].self, from: Data(contentsOf: url)) } catch {
            throw TrainingError.data("\(url.path): expected a JSON object of file name -> [captions]: \(error.localizedDescription)")
        }
    }

    /// Raw input rows [N × D] of a cache (`PhotoFeatures.headInput` of each photo).
    static func inputs(_ cache: PhotoFeatureCache) -> [Float] {
        var x = [Float](); x.reserveCapacity(cache.count * PhotoFeatures.headInputDimension)
        for i in 0..<cache.count { x += cache.features(i).headInput }
        return x
    }

    /// The training photos as the head sees them: normalised inputs, targets, and what they came from.
    public struct TrainingSet {
        public var names: [String]
        public var captions: [[String]]
        public var imageIDs: [Int]
        public var pooled: [Float]
        public var vocabulary: [String]
        /// Normalised inputs [n × D] and targets [n × V].
        public var x: [Float], y: [Float]
        public var mean: [Float], std: [Float]
        /// Fraction of photos using each word.
        public var prior: [Float]
        public var count: Int { names.count }
        public var inputs: Int { mean.count }
    }

    /// Reads (or computes) the training features and captions and builds the vocabulary and targets.
    public func trainingSet() throws -> TrainingSet {
        try config.validate()
        let captionsByName = try Self.loadCaptions(ConceptHeadConfig.resolve(config.trainCaptions, paths: paths))
        let train = try features(images: ConceptHeadConfig.resolve(config.trainImages, paths: paths),
                                 cacheURL: ConceptHeadConfig.resolve(config.trainFeatures, paths: paths), label: "train features")
        let missing = train.names.filter { captionsByName[$0] == nil }
        guard missing.isEmpty else {
            throw TrainingError.data("\(missing.count) training photos have no captions (first: \(missing[0]))")
        }
        let captions = train.names.map { captionsByName[$0]! }
        let imageIDs = try train.names.map { name -> Int in
            guard let id = Int((name as NSString).deletingPathExtension) else {
                throw TrainingError.data("training photo \(name) is not named by its COCO id (e.g. 000000000009.jpg)")
            }
            return id
        }
        let vocabulary = ConceptLabels.vocabulary(captions: captions, minPhotos: config.minPhotos)
        guard !vocabulary.isEmpty else { throw TrainingError.data("no word is used by \(config.minPhotos) or more photos") }
        let y = ConceptLabels.targets(captions: captions, vocabulary: vocabulary)
        let raw = Self.inputs(train)
        let n = train.count, D = raw.count / n, V = vocabulary.count
        // Input normalisation from the training photos.
        var mean = [Float](repeating: 0, count: D), std = [Float](repeating: 0, count: D)
        for i in 0..<n { for j in 0..<D { mean[j] += raw[i * D + j] } }
        for j in 0..<D { mean[j] /= Float(n) }
        for i in 0..<n { for j in 0..<D { let d = raw[i * D + j] - mean[j]; std[j] += d * d } }
        for j in 0..<D { std[j] = (std[j] / Float(n)).squareRoot() + 1e-3 }
        var x = raw
        for i in 0..<x.count { x[i] = (x[i] - mean[i % D]) / std[i % D] }
        var prior = [Float](repeating: 0, count: V)
        for i in 0..<n { for j in 0..<V { prior[j] += y[i * V + j] } }
        for j in 0..<V { prior[j] /= Float(n) }
        return TrainingSet(names: train.names, captions: captions, imageIDs: imageIDs, pooled: train.pooled, vocabulary: vocabulary,
                           x: x, y: y, mean: mean, std: std, prior: prior)
    }

    /// Trains one MLP on the photos at `rows` from `seed`; `step` is called after every update.
    /// Returns the network and its mean loss per photo by epoch.
    public func trainHead(_ set: TrainingSet, rows: [Int], seed: UInt64, step onStep: () -> Void = {}) -> (TrainableConceptMLP, [Double]) {
        let D = set.inputs, V = set.vocabulary.count, n = rows.count
        let mlp = TrainableConceptMLP(inputs: D, hidden: config.hidden, outputs: V, outputPrior: set.prior, seed: seed)
        var optimizer = AdamW(parameterCount: mlp.params.count)
        optimizer.beta2 = 0.999
        optimizer.weightDecay = 0
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        var curve: [Double] = []
        var step = 0
        let stepsPerEpoch = (n + config.batchSize - 1) / config.batchSize
        for _ in 0..<config.epochs {
            var order = rows
            order.shuffle(using: &rng)
            var epochLoss = 0.0
            for b in 0..<stepsPerEpoch {
                let idx = order[(b * config.batchSize)..<min(n, (b + 1) * config.batchSize)]
                var xb = [Float](), yb = [Float]()
                xb.reserveCapacity(idx.count * D); yb.reserveCapacity(idx.count * V)
                for i in idx { xb += set.x[i * D ..< (i + 1) * D]; yb += set.y[i * V ..< (i + 1) * V] }
                epochLoss += mlp.forward(xb, targets: yb, dropout: config.dropout, rng: &rng, device: device) * Double(idx.count)
                mlp.backward(targets: yb, l2: config.l2, device: device)
                let lr = config.learningRate * min(1, Float(step + 1) / Float(max(1, config.warmupSteps)))
                optimizer.update(params: &mlp.params, grads: mlp.grads, slots: mlp.slots, lr: lr, device: device)
                step += 1
                onStep()
            }
            curve.append(epochLoss / Double(n))
        }
        return (mlp, curve)
    }

    /// Cross-validation: photos split into `folds` by position (i mod folds); for every photo, the word
    /// probabilities of one head trained on the other folds [n × V].
    public func outOfFoldProbabilities(_ set: TrainingSet, folds: Int) throws -> [Float] {
        guard folds >= 2, folds <= set.count else { throw TrainingError.invalidConfig("folds must be in 2...\(set.count), got \(folds)") }
        let V = set.vocabulary.count, D = set.inputs
        var out = [Float](repeating: 0, count: set.count * V)
        for f in 0..<folds {
            let trainRows = (0..<set.count).filter { $0 % folds != f }, held = (0..<set.count).filter { $0 % folds == f }
            let steps = config.epochs * ((trainRows.count + config.batchSize - 1) / config.batchSize)
            var done = 0
            let (mlp, _) = trainHead(set, rows: trainRows, seed: config.seed &+ UInt64(f) &* 7_919) {
                done += 1
                progress(done, steps, "fold \(f + 1)/\(folds)")
            }
            let head = try ConceptHead(vocabulary: set.vocabulary, mean: [Float](repeating: 0, count: D),
                                       std: [Float](repeating: 1, count: D), heads: [mlp.mlp])
            var xs = [Float]()
            for i in held { xs += set.x[i * D ..< (i + 1) * D] }
            let p = try head.probabilities(xs, device: device)
            for (r, i) in held.enumerated() { out[i * V ..< (i + 1) * V] = p[r * V ..< (r + 1) * V] }
        }
        return out
    }

    public func run() throws -> Summary {
        let t0 = Date()
        let set = try trainingSet()
        let n = set.count, D = set.inputs, V = set.vocabulary.count
        let (vocabulary, mean, std, imageIDs) = (set.vocabulary, set.mean, set.std, set.imageIDs)
        log("vocabulary: \(V) words used by ≥ \(config.minPhotos) of \(n) training photos; inputs \(D); "
            + "\(config.heads) heads of \(D)×\(config.hidden)×\(V)")
        var heads: [ConceptHead.MLP] = []
        var losses: [[Double]] = []
        let steps = config.epochs * ((n + config.batchSize - 1) / config.batchSize)
        for e in 0..<config.heads {
            var done = 0
            let (mlp, curve) = trainHead(set, rows: Array(0..<n), seed: config.seed &+ UInt64(e) &* 1_000_003) {
                done += 1
                progress(done, steps, "head \(e + 1)/\(config.heads)")
            }
            log(String(format: "head %d: loss %.3f -> %.3f per photo", e + 1, curve.first ?? 0, curve.last ?? 0))
            losses.append(curve)
            heads.append(mlp.mlp)
        }
        let model = try ConceptHead(vocabulary: vocabulary, mean: mean, std: std, heads: heads)
        let outURL = ConceptHeadConfig.resolve(config.out, paths: paths)
        try FileManager.default.createDirectory(at: outURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same config writes the same bytes
        try Self.save(model, to: outURL, extra: ["train_photos": String(n), "config": String(decoding: try encoder.encode(config), as: UTF8.self)])
        let neighboursURL = ConceptHeadConfig.resolve(config.neighboursOut, paths: paths)
        try PhotoNeighbours(pooled: set.pooled, imageIDs: imageIDs).write(to: neighboursURL)
        log("wrote \(outURL.path) and \(neighboursURL.path)")
        var report: ConceptReport?
        if let devImages = config.devImages, let devRefs = config.devReferences, let devFeatures = config.devFeatures {
            let dev = try features(images: ConceptHeadConfig.resolve(devImages, paths: paths),
                                   cacheURL: ConceptHeadConfig.resolve(devFeatures, paths: paths), label: "dev features")
            let refs = try Self.loadCaptions(ConceptHeadConfig.resolve(devRefs, paths: paths))
            let classifier = try EfficientNetLite0(contentsOf: paths.asset(EfficientNetLite0.assetRelativePath))
            report = try ConceptReport(model: model, dev: dev, references: refs, classifier: classifier, device: device)
        }
        let reportDir = ConceptHeadConfig.resolve(config.reportDirectory, paths: paths)
        try FileManager.default.createDirectory(at: reportDir, withIntermediateDirectories: true)
        try LossPlot.write(curves: losses, to: reportDir.appendingPathComponent("loss.png"))
        if let report {
            try report.markdown(losses: losses).write(to: reportDir.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
        }
        return Summary(model: model, modelFile: outURL, losses: losses, seconds: Date().timeIntervalSince(t0), report: report)
    }

    /// Writes `model` as f16 safetensors with its vocabulary in the metadata.
    public static func save(_ model: ConceptHead, to url: URL, extra: [String: String] = [:]) throws {
        var tensors: [(name: String, tensor: Tensor)] = [("input.mean", Tensor(model.mean)), ("input.std", Tensor(model.std))]
        for (e, h) in model.heads.enumerated() {
            tensors += [("heads.\(e).fc1.weight", h.fc1Weight), ("heads.\(e).fc1.bias", h.fc1Bias),
                        ("heads.\(e).fc2.weight", h.fc2Weight), ("heads.\(e).fc2.bias", h.fc2Bias)]
        }
        var meta = extra
        meta["format"] = ConceptHead.formatName
        meta["vocabulary"] = String(decoding: try JSONEncoder().encode(model.vocabulary), as: UTF8.self)
        try SafetensorsWriter.write(tensors, to: url, as: .f16, metadata: meta)
    }
}
