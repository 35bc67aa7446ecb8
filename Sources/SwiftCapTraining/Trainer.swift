import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels
import SwiftCapPipelines

/// Everything `swiftcap train --config FILE` reads (configs/decoder.json).
public struct TrainingConfig: Codable, Sendable, Equatable {
    /// Datastore built by `swiftcap index build` (Karpathy-train captions only).
    public var datastore: String
    /// Output folder: checkpoint.safetensors (resumable) and decoder.safetensors (f16 model).
    public var outDirectory: String
    public var dim = 256
    public var layers = 3
    public var heads = 4
    public var ffDim = 1024
    public var positions = 128
    /// Sequences per step.
    public var batchSize = 32
    public var steps = 3000
    public var learningRate: Float = 1e-3
    public var warmupSteps = 100
    public var finalLRFraction: Float = 0.1
    public var weightDecay: Float = 0.1
    public var gradientClip: Float = 1
    public var seed: UInt64 = 1
    public var checkpointEvery = 200
    /// Stop (with a checkpoint) after this many minutes of this process; 0 = no limit.
    public var maxMinutes: Double = 0
    public var data = DataConfig()

    public init(datastore: String, outDirectory: String) {
        self.datastore = datastore
        self.outDirectory = outDirectory
    }

    enum CodingKeys: String, CodingKey {
        case datastore, outDirectory, dim, layers, heads, ffDim, positions, batchSize, steps, learningRate, warmupSteps,
             finalLRFraction, weightDecay, gradientClip, seed, checkpointEvery, maxMinutes, data
    }

    /// Missing keys keep their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        datastore = try c.decode(String.self, forKey: .datastore)
        outDirectory = try c.decode(String.self, forKey: .outDirectory)
        if let v = try c.decodeIfPresent(Int.self, forKey: .dim) { dim = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .layers) { layers = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .heads) { heads = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .ffDim) { ffDim = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .positions) { positions = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .batchSize) { batchSize = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .steps) { steps = v }
        if let v = try c.decodeIfPresent(Float.self, forKey: .learningRate) { learningRate = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) { warmupSteps = v }
        if let v = try c.decodeIfPresent(Float.self, forKey: .finalLRFraction) { finalLRFraction = v }
        if let v = try c.decodeIfPresent(Float.self, forKey: .weightDecay) { weightDecay = v }
        if let v = try c.decodeIfPresent(Float.self, forKey: .gradientClip) { gradientClip = v }
        if let v = try c.decodeIfPresent(UInt64.self, forKey: .seed) { seed = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) { checkpointEvery = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .maxMinutes) { maxMinutes = v }
        if let v = try c.decodeIfPresent(DataConfig.self, forKey: .data) { data = v }
    }

    public static func load(_ url: URL) throws -> TrainingConfig {
        let bytes: Data
        do { bytes = try Data(contentsOf: url) } catch {
            throw TrainingError.invalidConfig("cannot read \(url.path): \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(TrainingConfig.self, from: bytes) } catch {
            throw TrainingError.invalidConfig("\(url.path): \(error)")
        }
    }

    public func validate() throws {
        guard batchSize > 0, steps > 0, warmupSteps >= 0, learningRate > 0, checkpointEvery > 0 else {
            throw TrainingError.invalidConfig("batchSize, steps, learningRate and checkpointEvery must be positive")
        }
        guard data.retrieved >= 0, data.captionWords > 0, data.maxWords > 0 else {
            throw TrainingError.invalidConfig("data sizes must be positive")
        }
    }
}

/// Saves and restores the complete training state (parameters, AdamW moments, step) as safetensors.
public enum TrainingCheckpoint {
    public static func save(model: TrainableGPT, optimizer: AdamW, step: Int, vocabulary: [String],
                            elapsed: Double, to url: URL) throws {
        var tensors = model.namedTensors()
        tensors += model.namedTensors(from: optimizer.m).map { ("adam.m." + $0.name, $0.tensor) }
        tensors += model.namedTensors(from: optimizer.v).map { ("adam.v." + $0.name, $0.tensor) }
        try SafetensorsWriter.write(tensors, to: url, as: .f32, metadata: metadata(model: model, vocabulary: vocabulary).merging([
            "step": String(step), "adam_step": String(optimizer.step), "elapsed_seconds": String(elapsed),
        ]) { $1 })
    }

    /// The inference file: parameters only, f16, with the metadata `ConceptDecoder` reads.
    public static func saveModel(model: TrainableGPT, vocabulary: [String], extra: [String: String] = [:], to url: URL) throws {
        try SafetensorsWriter.write(model.namedTensors(), to: url, as: .f16,
                                    metadata: metadata(model: model, vocabulary: vocabulary).merging(extra) { $1 })
    }

    static func metadata(model: TrainableGPT, vocabulary: [String]) -> [String: String] {
        let s = model.shape
        let shape = "{\"vocabSize\":\(s.vocabSize),\"positions\":\(s.positions),\"dim\":\(s.dim),\"layers\":\(s.layers),\"heads\":\(s.heads),\"ffDim\":\(s.ffDim)}"
        return ["format": ConceptDecoder.formatName, "shape": shape, "vocabulary": vocabulary.joined(separator: "\n")]
    }

    public struct Restored {
        public var step: Int
        public var vocabulary: [String]
        public var elapsed: Double
    }

    /// Reads a checkpoint into `model` and `optimizer` (whose shapes must match).
    public static func restore(from url: URL, model: TrainableGPT, optimizer: inout AdamW) throws -> Restored {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch { throw TrainingError.checkpoint(url.path, "\(error)") }
        guard let step = file.metadata["step"].flatMap({ Int($0) }), let adamStep = file.metadata["adam_step"].flatMap({ Int($0) }),
              let vocab = file.metadata["vocabulary"] else {
            throw TrainingError.checkpoint(url.path, "metadata lacks step, adam_step or vocabulary")
        }
        let w = Weights(file)
        try model.load(w, into: &model.params, file: url.path)
        try model.load(w.pp("adam").pp("m"), into: &optimizer.m, file: url.path)
        try model.load(w.pp("adam").pp("v"), into: &optimizer.v, file: url.path)
        optimizer.step = adamStep
        return Restored(step: step, vocabulary: vocab.split(separator: "\n", omittingEmptySubsequences: false).map(String.init),
                        elapsed: file.metadata["elapsed_seconds"].flatMap { Double($0) } ?? 0)
    }
}

/// One line of progress on standard error, redrawn in place.
public struct ProgressBar {
    public var total: Int
    public var width = 24
    public init(total: Int) { self.total = total }

    public func line(step: Int, loss: Double, lr: Float, tokensPerSecond: Double, secondsLeft: Double, dataShare: Double = 0) -> String {
        let done = min(width, width * step / max(1, total))
        let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
        let eta = Int(max(0, secondsLeft))
        return String(format: "\r[%@] %d/%d loss %.3f lr %.2e %.0f tok/s (waiting for data %.0f%%) ETA %d:%02d:%02d ", bar, step, total, loss, lr,
                      tokensPerSecond, dataShare * 100, eta / 3600, (eta / 60) % 60, eta % 60)
    }
}

/// The training loop: data, forward, backward, clip, AdamW, checkpoints, progress.
public struct Trainer {
    public let config: TrainingConfig
    public let device: Device
    public var log: (String) -> Void

    public init(config: TrainingConfig, device: Device, log: @escaping (String) -> Void) {
        self.config = config
        self.device = device
        self.log = log
    }

    public struct Summary {
        public var stepsDone: Int
        public var finished: Bool
        public var lastLoss: Double
        public var seconds: Double
        public var modelFile: URL
    }

    public func run(fresh: Bool = false) throws -> Summary {
        try config.validate()
        let out = URL(fileURLWithPath: config.outDirectory)
        do { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw TrainingError.invalidConfig("cannot create \(out.path): \(error.localizedDescription)")
        }
        let ckptURL = out.appendingPathComponent("checkpoint.safetensors")
        let modelURL = out.appendingPathComponent("decoder.safetensors")
        let t0 = Date()
        let store = try Datastore(contentsOf: URL(fileURLWithPath: config.datastore))
        let corpus = try TrainingCorpus(store: store, device: device)
        log(String(format: "read %d captions of %d images in %.1f s", corpus.captionCount, corpus.byImage.count, Date().timeIntervalSince(t0)))
        let resuming = !fresh && FileManager.default.fileExists(atPath: ckptURL.path)
        var vocabulary: [String]
        var startStep = 0
        var elapsedBefore = 0.0
        let model: TrainableGPT
        var optimizer: AdamW
        if resuming {
            // The vocabulary comes from the checkpoint; the model shape from it and the config.
            guard let f = try? SafetensorsFile(url: ckptURL), let v = f.metadata["vocabulary"] else {
                throw TrainingError.checkpoint(ckptURL.path, "unreadable or without a vocabulary")
            }
            vocabulary = v.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            model = try TrainableGPT(shape: shape(vocabSize: vocabulary.count), seed: config.seed)
            optimizer = AdamW(parameterCount: model.parameterCount)
            let r = try TrainingCheckpoint.restore(from: ckptURL, model: model, optimizer: &optimizer)
            startStep = r.step
            elapsedBefore = r.elapsed
            log("resumed from \(ckptURL.path) at step \(startStep)")
        } else {
            vocabulary = corpus.buildVocabulary(maxWords: config.data.maxWords, minCount: config.data.minWordCount, device: device)
            model = try TrainableGPT(shape: shape(vocabSize: vocabulary.count), seed: config.seed)
            optimizer = AdamW(parameterCount: model.parameterCount)
        }
        optimizer.weightDecay = config.weightDecay
        let s = model.shape
        log("model: vocab \(s.vocabSize), dim \(s.dim), layers \(s.layers), heads \(s.heads), ff \(s.ffDim), positions \(s.positions): \(model.parameterCount) parameters (\(String(format: "%.1f", Double(model.parameterCount) * 2 / 1e6)) MB at f16)")
        log("GEMM: \(device.gemm.name)")
        let encoder = PromptEncoder(tokens: vocabulary)
        let schedule = LearningRateSchedule(peak: config.learningRate, warmupSteps: config.warmupSteps,
                                            totalSteps: config.steps, finalFraction: config.finalLRFraction)
        let bar = ProgressBar(total: config.steps)
        let runStart = Date()
        var tokens = 0
        var emaLoss = -1.0
        var step = startStep
        var stoppedEarly = false
        var dataSeconds = 0.0
        func save() throws {
            let elapsed = elapsedBefore + Date().timeIntervalSince(runStart)
            try TrainingCheckpoint.save(model: model, optimizer: optimizer, step: step, vocabulary: vocabulary, elapsed: elapsed, to: ckptURL)
            try TrainingCheckpoint.saveModel(model: model, vocabulary: vocabulary,
                                             extra: ["step": String(step), "train_seconds": String(format: "%.0f", elapsed),
                                                     "loss": String(format: "%.4f", emaLoss)], to: modelURL)
        }
        // The next batch is made on a background queue while this one trains (data is ~20% of a step).
        let prefetch = Prefetcher()
        func makeBatch(_ k: Int) -> PackedBatch {
            corpus.batch(step: k, size: config.batchSize, seed: config.seed, encoder: encoder, config: config.data,
                         positions: s.positions, device: device)
        }
        if step < config.steps { let first = step; prefetch.start { makeBatch(first) } }
        while step < config.steps {
            let tData = Date()
            let batch = prefetch.take()
            dataSeconds += Date().timeIntervalSince(tData)
            if step + 1 < config.steps { let next = step + 1; prefetch.start { makeBatch(next) } }
            let loss = try model.forward(batch, device: device)
            model.backward(batch, device: device)
            AdamW.clip(&model.grads, maxNorm: config.gradientClip)
            let lr = schedule.rate(at: step)
            optimizer.update(params: &model.params, grads: model.grads, slots: model.slots, lr: lr, device: device)
            step += 1
            tokens += batch.rows
            emaLoss = emaLoss < 0 ? loss : 0.98 * emaLoss + 0.02 * loss
            let secs = Date().timeIntervalSince(runStart)
            let perStep = secs / Double(step - startStep)
            FileHandle.standardError.write(Data(bar.line(step: step, loss: emaLoss, lr: lr, tokensPerSecond: Double(tokens) / secs,
                                                         secondsLeft: perStep * Double(config.steps - step), dataShare: dataSeconds / secs).utf8))
            if step % config.checkpointEvery == 0 { try save() }
            if config.maxMinutes > 0 && secs > config.maxMinutes * 60 && step < config.steps {
                stoppedEarly = true
                break
            }
        }
        try save()
        FileHandle.standardError.write(Data("\n".utf8))
        let secs = Date().timeIntervalSince(runStart)
        log(String(format: "%@ at step %d/%d, loss %.3f, %.0f s this run (%.0f s in all); model %@", stoppedEarly ? "stopped (time limit)" : "finished",
                   step, config.steps, emaLoss, secs, elapsedBefore + secs, modelURL.path))
        return Summary(stepsDone: step, finished: step >= config.steps, lastLoss: emaLoss, seconds: secs, modelFile: modelURL)
    }

    func shape(vocabSize: Int) -> DecoderShape {
        DecoderShape(vocabSize: vocabSize, positions: config.positions, dim: config.dim, layers: config.layers,
                     heads: config.heads, ffDim: config.ffDim)
    }
}

/// Makes one value on a background queue; `take` waits for it.
final class Prefetcher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "swiftcap.train.prefetch")
    private let ready = DispatchSemaphore(value: 0)
    private var value: PackedBatch?

    func start(_ make: @escaping () -> PackedBatch) {
        queue.async {
            self.value = make()
            self.ready.signal()
        }
    }

    func take() -> PackedBatch {
        ready.wait()
        defer { value = nil }
        return value ?? PackedBatch()
    }
}
