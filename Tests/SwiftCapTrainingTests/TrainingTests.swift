import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels
import SwiftCapPipelines
@testable import SwiftCapTraining

final class TrainingTests: XCTestCase {
    let tiny = DecoderShape(vocabSize: 11, positions: 12, dim: 8, layers: 2, heads: 2, ffDim: 12)

    /// Two sequences (7 and 5 tokens) with losses on their tails.
    func tinyBatch() -> PackedBatch {
        var b = PackedBatch()
        b.append([1, 4, 7, 2, 9, 3, 5], lossFrom: 2)
        b.append([6, 0, 10, 8, 1], lossFrom: 0)
        return b
    }

    func tmp(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-training-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
    }

    /// Every parameter's analytic gradient against a central finite difference of the fp32 loss.
    func testGradientMatchesFiniteDifferences() throws {
        let device = Device(threads: 2)
        let model = try TrainableGPT(shape: tiny, seed: 7, initStd: 0.3)
        // Non-trivial LayerNorm gains and biases so their gradients are exercised too.
        var rng = SplitMix64(seed: 3)
        for s in model.slots where s.shape.count == 1 {
            for i in 0..<s.count { model.params[s.offset + i] += 0.2 * (rng.nextFloat() - 0.5) }
        }
        let batch = tinyBatch()
        try model.forward(batch, device: device)
        model.backward(batch, device: device)
        let analytic = model.grads
        let eps: Float = 1e-2
        var worst: Float = 0, checked = 0, largest: Float = 0
        for i in 0..<model.parameterCount {
            let saved = model.params[i]
            model.params[i] = saved + eps
            let up = try model.forward(batch, device: device)
            model.params[i] = saved - eps
            let down = try model.forward(batch, device: device)
            model.params[i] = saved
            let numeric = Float((up - down) / Double(2 * eps))
            let a = analytic[i]
            let tolerance = 2e-3 + 3e-2 * max(abs(a), abs(numeric))
            let err = abs(a - numeric)
            if err > tolerance {
                let slot = model.slots.last { $0.offset <= i }!
                XCTFail("parameter \(i) (\(slot.name)[\(i - slot.offset)]): analytic \(a), numeric \(numeric)")
            }
            worst = max(worst, err)
            largest = max(largest, abs(a))
            checked += 1
        }
        XCTAssertEqual(checked, model.parameterCount)
        XCTAssertGreaterThan(largest, 0.05, "gradients are too small for the check to mean anything")
        // Every slot except unused positions receives gradient.
        for s in model.slots where s.name != "wpe.weight" {
            let g = analytic[s.offset..<(s.offset + s.count)]
            XCTAssertTrue(g.contains { $0 != 0 }, "no gradient reached \(s.name)")
        }
    }

    func testTrainingReducesLossOnFixedBatch() throws {
        let device = Device(threads: 2)
        let model = try TrainableGPT(shape: tiny, seed: 1)
        var opt = AdamW(parameterCount: model.parameterCount)
        let batch = tinyBatch()
        let first = try model.forward(batch, device: device)
        var last = first
        for _ in 0..<60 {
            last = try model.forward(batch, device: device)
            model.backward(batch, device: device)
            AdamW.clip(&model.grads, maxNorm: 1)
            opt.update(params: &model.params, grads: model.grads, slots: model.slots, lr: 1e-2, device: device)
        }
        XCTAssertEqual(first, log(11), accuracy: 0.2, "an untrained model should be near uniform")
        XCTAssertLessThan(last, 0.3 * first, "60 AdamW steps should fit one batch")
    }

    /// Saved weights load into the inference model (GPT-2 code through Device ops) and give the same
    /// next-token distribution as the training forward pass.
    func testInferenceMatchesTrainingForward() throws {
        let device = Device(threads: 1)
        let shape = DecoderShape(vocabSize: 9 + ConceptDecoder.specialTokens.count, positions: 12, dim: 8, layers: 2, heads: 2, ffDim: 12)
        let model = try TrainableGPT(shape: shape, seed: 5, initStd: 0.3)
        let vocab = ConceptDecoder.specialTokens + ["[dog]", "a", "dog", "on", "the", "grass", "cat", "runs", "sits"]
        let url = tmp("decoder.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        // f32 file with the inference metadata.
        try SafetensorsWriter.write(model.namedTensors(), to: url, as: .f32,
                                    metadata: TrainingCheckpoint.metadata(model: model, vocabulary: vocab))
        let decoder = try ConceptDecoder(url: url)
        XCTAssertEqual(decoder.tokens, vocab)
        let ids = [7, 3, 8, 9, 3, 1, 8, 9]
        var b = PackedBatch()
        b.append(ids + [10], lossFrom: ids.count - 1)
        try model.forward(b, device: device)
        let trainProbs = Array(model.logits[0..<shape.vocabSize])
        let (_, logits) = try decoder.prefill(ids, device: device)
        let row = logits.scalars
        let mx = row.max()!
        let lse = mx + log(row.map { exp($0 - mx) }.reduce(0, +))
        for v in 0..<shape.vocabSize {
            XCTAssertEqual(log(trainProbs[v]), row[v] - lse, accuracy: 1e-4, "token \(v)")
        }
        // The f16 model file loads too and stays close.
        let url16 = tmp("decoder16.safetensors")
        defer { try? FileManager.default.removeItem(at: url16) }
        try TrainingCheckpoint.saveModel(model: model, vocabulary: vocab, to: url16)
        let (_, logits16) = try ConceptDecoder(url: url16).prefill(ids, device: device)
        XCTAssertLessThan(try logits16.maxAbsDifference(logits), 0.02)
    }

    /// Two steps, checkpoint, restore into fresh objects, two more steps == four steps straight.
    func testCheckpointResumeIsExact() throws {
        let device = Device(threads: 1)
        let batch = tinyBatch()
        func step(_ m: TrainableGPT, _ o: inout AdamW, _ i: Int) throws {
            try m.forward(batch, device: device)
            m.backward(batch, device: device)
            AdamW.clip(&m.grads, maxNorm: 0.5)
            o.update(params: &m.params, grads: m.grads, slots: m.slots, lr: 0.01 * Float(i + 1), device: device)
        }
        let a = try TrainableGPT(shape: tiny, seed: 2)
        var oa = AdamW(parameterCount: a.parameterCount)
        for i in 0..<4 { try step(a, &oa, i) }

        let b = try TrainableGPT(shape: tiny, seed: 2)
        var ob = AdamW(parameterCount: b.parameterCount)
        for i in 0..<2 { try step(b, &ob, i) }
        let url = tmp("ckpt.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let vocab = (0..<11).map { "t\($0)" }
        try TrainingCheckpoint.save(model: b, optimizer: ob, step: 2, vocabulary: vocab, elapsed: 1.5, to: url)
        let c = try TrainableGPT(shape: tiny, seed: 99)
        var oc = AdamW(parameterCount: c.parameterCount)
        let r = try TrainingCheckpoint.restore(from: url, model: c, optimizer: &oc)
        XCTAssertEqual(r.step, 2)
        XCTAssertEqual(r.vocabulary, vocab)
        XCTAssertEqual(r.elapsed, 1.5)
        XCTAssertEqual(oc.step, 2)
        for i in 2..<4 { try step(c, &oc, i) }
        XCTAssertEqual(c.params, a.params)
        XCTAssertEqual(oc.m, oa.m)
    }

    func testScheduleWarmupAndCosine() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, finalFraction: 0.1)
        XCTAssertEqual(s.rate(at: 0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 9), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 10), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 60), 0.55e-3, accuracy: 1e-8)
        XCTAssertEqual(s.rate(at: 110), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 500), 1e-4, accuracy: 1e-9)
    }

    func testClipScalesToMaxNorm() {
        var g: [Float] = [3, 4]
        XCTAssertEqual(AdamW.clip(&g, maxNorm: 1), 5)
        XCTAssertEqual(g[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(g[1], 0.8, accuracy: 1e-6)
    }

    func testBadInputsGiveTypedErrors() throws {
        let device = Device(threads: 1)
        let model = try TrainableGPT(shape: tiny)
        var b = PackedBatch()
        b.append([1, 2, 11], lossFrom: 0)  // 11 is outside the vocabulary
        XCTAssertThrowsError(try model.forward(b, device: device)) { XCTAssertTrue("\($0)".contains("outside vocabulary")) }
        var long = PackedBatch()
        long.append(Array(repeating: 1, count: 13), lossFrom: 0)  // 13 > 12 positions
        XCTAssertThrowsError(try model.forward(long, device: device))
        XCTAssertThrowsError(try model.forward(PackedBatch(), device: device))
        XCTAssertThrowsError(try TrainableGPT(shape: DecoderShape(vocabSize: 5, positions: 4, dim: 6, layers: 1, heads: 4, ffDim: 4)))

        let garbage = tmp("garbage.safetensors")
        defer { try? FileManager.default.removeItem(at: garbage) }
        try Data("not a checkpoint at all".utf8).write(to: garbage)
        var opt = AdamW(parameterCount: model.parameterCount)
        XCTAssertThrowsError(try TrainingCheckpoint.restore(from: garbage, model: model, optimizer: &opt)) {
            guard case TrainingError.checkpoint = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try ConceptDecoder(url: garbage)) {
            guard case ConceptDecoderError.badFile = $0 else { return XCTFail("\($0)") }
        }
        // A plain safetensors file without the decoder metadata.
        let plain = tmp("plain.safetensors")
        defer { try? FileManager.default.removeItem(at: plain) }
        try SafetensorsWriter.write(model.namedTensors(), to: plain)
        XCTAssertThrowsError(try ConceptDecoder(url: plain)) { XCTAssertTrue("\($0)".contains("format")) }
        // Decoder metadata whose vocabulary does not match the embedding, and a truncated decoder file.
        let wrongVocab = tmp("wrongvocab.safetensors")
        defer { try? FileManager.default.removeItem(at: wrongVocab) }
        try SafetensorsWriter.write(model.namedTensors(), to: wrongVocab, as: .f32,
                                    metadata: TrainingCheckpoint.metadata(model: model, vocabulary: ConceptDecoder.specialTokens))
        XCTAssertThrowsError(try ConceptDecoder(url: wrongVocab)) {
            guard case ConceptDecoderError.badFile(_, let why) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("vocabulary tokens"), why)
        }
        let good = try Data(contentsOf: wrongVocab)
        let truncated = tmp("truncated.safetensors")
        defer { try? FileManager.default.removeItem(at: truncated) }
        try good.prefix(good.count - 100).write(to: truncated)
        XCTAssertThrowsError(try ConceptDecoder(url: truncated)) {
            guard case ConceptDecoderError.badFile = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try TrainingCheckpoint.restore(from: plain, model: model, optimizer: &opt))
        XCTAssertThrowsError(try TrainingConfig.load(garbage)) {
            guard case TrainingError.invalidConfig = $0 else { return XCTFail("\($0)") }
        }
    }

    /// Training sequences from a small datastore: the prompt's retrieved captions never belong to the
    /// caption's own image, the loss starts at `<bos>`, and the target is the caption.
    func testExamplesExcludeSameImageCaptions() throws {
        let texts: [(Int, String)] = [
            (1, "a dog runs on the grass"), (1, "a brown dog on a field"), (1, "the dog plays in the grass"),
            (2, "a dog sits on the grass"), (2, "a dog lying in a field"),
            (3, "a cat on a couch"), (3, "two cats sleeping on a sofa"),
            (4, "a dog and a cat on the grass"), (5, "a dog chasing a frisbee in the park"),
        ]
        let corpus = CaptionCorpus(captions: texts.map { CorpusCaption(imageID: $0.0, text: $0.1) })
        let url = tmp("store.scds")
        defer { try? FileManager.default.removeItem(at: url) }
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: url)
        let device = Device(threads: 2)
        let data = try TrainingCorpus(store: Datastore(contentsOf: url), device: device)
        let vocab = data.buildVocabulary(maxWords: 100, minCount: 1, device: device)
        XCTAssertTrue(vocab.contains("grass") && vocab.contains("[dog]"))
        let encoder = PromptEncoder(tokens: vocab)
        var cfg = DataConfig()
        cfg.retrieved = 2
        var seen = 0
        for seed in 0..<60 {
            var rng = SplitMix64(seed: UInt64(seed))
            let i = seed % texts.count
            guard let ex = data.example(caption: i, encoder: encoder, config: cfg, positions: 128, rng: &rng) else { continue }
            seen += 1
            XCTAssertEqual(ex.ids[ex.lossFrom], ConceptDecoder.bos)
            XCTAssertEqual(encoder.text(Array(ex.ids[(ex.lossFrom + 1)...])), texts[i].1)
            // Segments between <sep>s are the retrieved captions.
            let prompt = Array(ex.ids[..<ex.lossFrom])
            let segments = prompt.split(separator: ConceptDecoder.sep, omittingEmptySubsequences: false).dropFirst()
            let sameImage = Set(texts.filter { $0.0 == texts[i].0 }.map(\.1))
            for seg in segments where !seg.isEmpty {
                let t = encoder.text(Array(seg))
                XCTAssertFalse(sameImage.contains(t), "caption \(i) retrieved its own image's caption '\(t)'")
                XCTAssertTrue(texts.contains { $0.1 == t }, "'\(t)' is not a corpus caption")
            }
        }
        XCTAssertGreaterThan(seen, 50)
        // Batches are deterministic in (seed, step): a resumed run sees the same data.
        let b1 = data.batch(step: 3, size: 4, seed: 9, encoder: encoder, config: cfg, positions: 128, device: device)
        let b2 = data.batch(step: 3, size: 4, seed: 9, encoder: encoder, config: cfg, positions: 128, device: device)
        XCTAssertEqual(b1.tokens, b2.tokens)
        XCTAssertEqual(b1.sequences, 4)
    }

    func testPromptEncoderRoundTrip() {
        let vocab = ConceptDecoder.specialTokens + ["[dog]", "[frisbee]", "a", "dog", "catches", "frisbee"]
        let e = PromptEncoder(tokens: vocab)
        let c = e.concepts([("frisbee", 1), ("dog", 3), ("unknown thing", 1)], order: PromptEncoder.standardOrder, maxConcepts: 5)
        XCTAssertEqual(c, [7, ConceptDecoder.count3, 8])  // dog (class 16) before frisbee (class 29)
        let p = e.prompt(concepts: c, retrieved: ["A dog catches a Frisbee."], maxWords: 3)
        XCTAssertEqual(p, [7, 6, 8, ConceptDecoder.sep, 9, 10, 11, ConceptDecoder.sep, ConceptDecoder.bos])
        XCTAssertEqual(e.text([9, 10, ConceptDecoder.unk, 11, ConceptDecoder.eos, 9]), "a dog catches")
        XCTAssertFalse(e.generatable[7])
        XCTAssertTrue(e.generatable[ConceptDecoder.eos])
    }

    /// Beam search scores agree with teacher-forced scoring of the same captions, every hypothesis
    /// ends in <eos> and holds only caption words, and the hypotheses come best first.
    func testBeamSearchScoresMatchTeacherForcing() throws {
        let device = Device(threads: 1)
        let corpus = CaptionCorpus(captions: [CorpusCaption(imageID: 1, text: "a dog on the grass"),
                                              CorpusCaption(imageID: 2, text: "a cat on a couch")])
        let storeURL = tmp("beam.scds")
        defer { try? FileManager.default.removeItem(at: storeURL) }
        try Datastore.build(corpus: corpus, vocabulary: .standard, to: storeURL)
        let vocab = ConceptDecoder.specialTokens + ["[dog]", "a", "dog", "on", "the", "grass", "cat", "couch"]
        let shape = DecoderShape(vocabSize: vocab.count, positions: 40, dim: 16, layers: 2, heads: 2, ffDim: 32)
        let model = try TrainableGPT(shape: shape, seed: 11, initStd: 0.5)
        let url = tmp("beam.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafetensorsWriter.write(model.namedTensors(), to: url, as: .f32,
                                    metadata: TrainingCheckpoint.metadata(model: model, vocabulary: vocab))
        var g = GenerativeCaptioner(decoder: try ConceptDecoder(url: url), retrieval: RetrievalCaptioner(datastore: try Datastore(contentsOf: storeURL)))
        g.config.beams = 3
        g.config.maxWords = 6
        let prompt = g.encoder.prompt(concepts: [7], retrieved: ["a dog on the grass"], maxWords: 10)
        let hyps = try g.beamSearch(prompt: prompt, device: device)
        XCTAssertFalse(hyps.isEmpty)
        for (i, h) in hyps.enumerated() {
            XCTAssertEqual(h.tokens.last, ConceptDecoder.eos)
            XCTAssertLessThanOrEqual(h.tokens.count, 7)
            XCTAssertTrue(h.tokens.allSatisfy { g.encoder.generatable[$0] })
            let forced = try g.meanLogProb(prompt: prompt, caption: Array(h.tokens.dropLast()), device: device)
            XCTAssertEqual(forced, h.meanLogProb, accuracy: 1e-4, "hypothesis \(i)")
            if i > 0 { XCTAssertGreaterThanOrEqual(hyps[i - 1].meanLogProb, h.meanLogProb) }
        }
        let r = try g.caption(evidence: [ConceptEvidence(name: "dog", score: 0.9, area: 0.3)], device: device)
        XCTAssertFalse(r.caption.isEmpty)
        XCTAssertEqual(r.retrieved.first, "A dog on the grass")
    }
}
