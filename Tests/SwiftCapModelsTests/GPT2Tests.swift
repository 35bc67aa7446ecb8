import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels

/// GPT-2 parity with transformers on the tiny random checkpoint written by fixtures/gen/models.py.
final class GPT2Tests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelDir = root.appendingPathComponent("fixtures/models/gpt2-tiny")
    let device = Device(threads: 2)

    func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: Self.modelDir.appendingPathComponent("expected.json"))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw GPT2Error.invalidInput("expected.json is not an object")
        }
        return json
    }

    func tensor(_ any: Any?) throws -> Tensor {
        guard let dict = any as? [String: Any], let shape = dict["shape"] as? [Int], let data = dict["data"] as? [Double] else {
            throw GPT2Error.invalidInput("fixture tensor malformed")
        }
        return Tensor(data.map { Float($0) }, shape: shape)
    }

    /// Max error where values beyond 1 in magnitude are compared relatively (the issue's "relative
    /// 1e-4 for large values").
    func maxError(_ a: Tensor, _ b: Tensor) throws -> Float {
        XCTAssertEqual(a.shape, b.shape)
        let x = a.scalars, y = b.scalars
        var worst: Float = 0
        for i in 0..<min(x.count, y.count) { worst = max(worst, abs(x[i] - y[i]) / max(1, abs(y[i]))) }
        return worst
    }

    func testConfigFromCheckpoint() throws {
        let config = try GPT2Config.load(from: Self.modelDir.appendingPathComponent("config.json"))
        XCTAssertEqual(config.nEmbd, 64)
        XCTAssertEqual(config.nLayer, 2)
        XCTAssertEqual(config.nHead, 4)
        XCTAssertEqual(config.vocabSize, 1000)
        XCTAssertEqual(config.nPositions, 64)
        XCTAssertEqual(config.innerDim, 256)
        XCTAssertEqual(config.activationFunction, "gelu_new")
    }

    func testHiddenStatesAndLogitsMatchTransformers() throws {
        let model = try GPT2(directory: Self.modelDir)
        let e = try expected()
        let prompts = try XCTUnwrap(e["prompt_ids"] as? [[Int]])
        var cache = model.makeCache()
        let hidden = try model.hiddenStates(ids: prompts, cache: &cache, device: device)
        XCTAssertLessThanOrEqual(try maxError(hidden, tensor(e["last_hidden_state"])), 1e-4)
        let logits = try model.logits(hidden, device: device)
        XCTAssertLessThanOrEqual(try maxError(logits, tensor(e["logits"])), 1e-4)
        XCTAssertEqual(cache.length, prompts[0].count)

        // The same prompt fed in two chunks through the cache gives the same last-position logits.
        var chunked = model.makeCache()
        _ = try model.hiddenStates(ids: prompts.map { Array($0.prefix(3)) }, cache: &chunked, device: device)
        let tail = try model.hiddenStates(ids: prompts.map { Array($0.dropFirst(3)) }, cache: &chunked, device: device)
        let expectedLast = try logits.narrowed(dim: 1, start: prompts[0].count - 1, length: 1).reshaped([2, 1000])
        XCTAssertLessThanOrEqual(try maxError(model.lastLogits(tail, device: device), expectedLast), 1e-4)
    }

    func testInputEmbeddingPrefixMatchesTransformers() throws {
        let model = try GPT2(directory: Self.modelDir)
        let e = try expected()
        let prefix = try tensor(e["prefix_embeds"])
        let suffix = try XCTUnwrap(e["prefix_suffix_ids"] as? [[Int]])
        let embeds = try device.concat([prefix, model.embed(suffix, device: device)], dim: 1)
        var cache = model.makeCache()
        let logits = try model.logits(model.hiddenStates(embeddings: embeds, cache: &cache, device: device), device: device)
        XCTAssertLessThanOrEqual(try maxError(logits, tensor(e["prefix_logits"])), 1e-4)
    }

    /// Greedy, repetition-penalised and beam-search ids equal transformers' `generate`.
    func testGenerationMatchesTransformers() throws {
        let model = try GPT2(directory: Self.modelDir)
        let e = try expected()
        let eos = try XCTUnwrap(e["eos_token_id"] as? Int)
        let runs = try XCTUnwrap(e["generate"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 16)
        var sawStop = false
        for run in runs {
            let kind = try XCTUnwrap(run["kind"] as? String)
            let params = try XCTUnwrap(run["params"] as? [String: Any])
            let expectedIds = try XCTUnwrap(run["output_ids"] as? [[Int]])
            var config = GenerationConfig(maxNewTokens: kind.hasSuffix("embeds") ? 8 : kind.hasPrefix("padded") ? 10 : 12,
                                          stopTokens: [eos])
            config.numBeams = params["num_beams"] as? Int ?? 1
            config.lengthPenalty = Float(params["length_penalty"] as? Double ?? 1)
            config.repetitionPenalty = Float(params["repetition_penalty"] as? Double ?? 1)
            config.noRepeatNGramSize = params["no_repeat_ngram_size"] as? Int ?? 0
            if let es = params["early_stopping"] {
                if let flag = es as? Bool { config.earlyStopping = flag ? .whenBeamsFull : .heuristic }
                else { XCTAssertEqual(es as? String, "never"); config.earlyStopping = .never }
            }
            var cache = model.makeCache()
            let prompts: [[Int]]
            let hidden: Tensor
            if kind.hasSuffix("embeds") {
                let prefix = try tensor(e["prefix_embeds"])
                prompts = Array(repeating: [], count: prefix.shape[0])
                hidden = try model.hiddenStates(embeddings: prefix, cache: &cache, device: device)
            } else {
                prompts = try XCTUnwrap(run["prompt_ids"] as? [[Int]])
                let padding = kind.hasPrefix("padded") ? try XCTUnwrap(e["padded_left_padding"] as? [Int]) : nil
                hidden = try model.hiddenStates(ids: prompts, cache: &cache, leftPadding: padding, device: device)
            }
            let got = try Generator.generate(model, state: cache, firstLogits: model.lastLogits(hidden, device: device),
                                             prompts: prompts, config: config, device: device)
            // transformers pads finished rows with the stop token; cut each row after its first stop.
            let want = expectedIds.map { row -> [Int] in
                if let i = row.firstIndex(of: eos) { sawStop = true; return Array(row[...i]) }
                return row
            }
            XCTAssertEqual(got, want, "\(kind) \(params)")
        }
        XCTAssertTrue(sawStop, "the fixtures exercise stopping on the stop token")
        // The convenience entry points give the same ids as the explicit prefill + Generator path.
        let greedyRun = try XCTUnwrap(runs.first { ($0["kind"] as? String) == "greedy" })
        let prompts = try XCTUnwrap(greedyRun["prompt_ids"] as? [[Int]])
        let direct = try model.generate(ids: prompts, config: GenerationConfig(maxNewTokens: 12, stopTokens: [eos]), device: device)
        XCTAssertEqual(direct.map { $0.count }.max(), 12)
        let expectedGreedy = try XCTUnwrap(greedyRun["output_ids"] as? [[Int]]).map { row -> [Int] in
            row.firstIndex(of: eos).map { Array(row[...$0]) } ?? row
        }
        XCTAssertEqual(direct, expectedGreedy)
        let embedsRun = try XCTUnwrap(runs.first { ($0["kind"] as? String) == "greedy-embeds" })
        let viaPrefix = try model.generate(prefix: tensor(e["prefix_embeds"]), config: GenerationConfig(maxNewTokens: 8, stopTokens: [eos]),
                                           device: device)
        XCTAssertEqual(viaPrefix, try XCTUnwrap(embedsRun["output_ids"] as? [[Int]]).map { row -> [Int] in
            row.firstIndex(of: eos).map { Array(row[...$0]) } ?? row
        })
    }

    /// A left-padded batch (prompts of 3 and 6 tokens) gives transformers' logits at every real position.
    func testLeftPaddedBatchMatchesTransformers() throws {
        let model = try GPT2(directory: Self.modelDir)
        let e = try expected()
        let ids = try XCTUnwrap(e["padded_ids"] as? [[Int]])
        let padding = try XCTUnwrap(e["padded_left_padding"] as? [Int])
        var cache = model.makeCache()
        let logits = try model.logits(model.hiddenStates(ids: ids, cache: &cache, leftPadding: padding, device: device), device: device)
        XCTAssertEqual(cache.leftPadding, padding)
        let want = try tensor(e["padded_logits"])
        for (row, pad) in padding.enumerated() {
            let got = try logits.narrowed(dim: 0, start: row, length: 1).narrowed(dim: 1, start: pad, length: 6 - pad).contiguous()
            let ref = try want.narrowed(dim: 0, start: row, length: 1).narrowed(dim: 1, start: pad, length: 6 - pad).contiguous()
            XCTAssertLessThanOrEqual(try maxError(got, ref), 1e-4, "row \(row)")
        }
        // The unpadded row alone gives the same logits as in the batch.
        var single = model.makeCache()
        let alone = try model.logits(model.hiddenStates(ids: [ids[1]], cache: &single, device: device), device: device)
        XCTAssertLessThanOrEqual(try maxError(alone, logits.narrowed(dim: 0, start: 1, length: 1).contiguous()), 1e-5)
        var bad = model.makeCache()
        XCTAssertThrowsError(try model.hiddenStates(ids: ids, cache: &bad, leftPadding: [6, 0], device: device))
        XCTAssertThrowsError(try model.hiddenStates(ids: [[1]], cache: &cache, leftPadding: [0, 0], device: device))
    }

    func testSamplingIsSeededAndFiltersApply() throws {
        let model = try GPT2(directory: Self.modelDir)
        let prompts = [[5, 6, 7]]
        var cache = model.makeCache()
        let first = try model.lastLogits(model.hiddenStates(ids: prompts, cache: &cache, device: device), device: device)
        func run(_ c: GenerationConfig) throws -> [[Int]] {
            try Generator.generate(model, state: cache, firstLogits: first, prompts: prompts, config: c, device: device)
        }
        let greedy = try run(GenerationConfig(maxNewTokens: 10))
        let a = try run(GenerationConfig(maxNewTokens: 10, doSample: true, temperature: 1.5, seed: 7))
        let b = try run(GenerationConfig(maxNewTokens: 10, doSample: true, temperature: 1.5, seed: 7))
        XCTAssertEqual(a, b, "same seed, same tokens")
        var differs = false
        for seed in 8..<12 where try run(GenerationConfig(maxNewTokens: 10, doSample: true, temperature: 1.5, seed: UInt64(seed))) != a {
            differs = true
        }
        XCTAssertTrue(differs, "other seeds give other samples")
        XCTAssertNotEqual(a, greedy)
        XCTAssertEqual(try run(GenerationConfig(maxNewTokens: 10, doSample: true, topK: 1, seed: 3)), greedy)
        XCTAssertEqual(try run(GenerationConfig(maxNewTokens: 10, doSample: true, topP: 1e-6, seed: 3)), greedy)
        // min-new-tokens suppresses the stop token: use greedy's 2nd token as the stop token.
        let stopAt = greedy[0][1]
        let stopped = try run(GenerationConfig(maxNewTokens: 10, stopTokens: [stopAt]))
        XCTAssertEqual(stopped[0].last, stopAt)
        XCTAssertLessThanOrEqual(stopped[0].count, 2)
        XCTAssertThrowsError(try run(GenerationConfig(maxNewTokens: 0)))
        XCTAssertThrowsError(try run(GenerationConfig(stopTokens: [1000])))
    }

    func testMissingOrMisshapenTensorIsNamed() throws {
        let file = try SafetensorsFile(url: Self.modelDir.appendingPathComponent("model.safetensors"))
        let config = try GPT2Config.load(from: Self.modelDir.appendingPathComponent("config.json"))
        var tensors: [String: Tensor] = [:]
        for name in file.tensorNames { tensors[name] = try file.loadTensor(name) }
        var missing = tensors
        missing["transformer.h.1.mlp.c_fc.bias"] = nil
        XCTAssertThrowsError(try GPT2(config: config, weights: Weights(InMemoryTensors(missing)))) { error in
            XCTAssertEqual(error as? WeightError, .missing(name: "transformer.h.1.mlp.c_fc.bias", source: "in-memory tensors"))
        }
        var reshaped = tensors
        reshaped["transformer.h.0.attn.c_attn.weight"] = try tensors["transformer.h.0.attn.c_attn.weight"]?.transposed().contiguous()
        XCTAssertThrowsError(try GPT2(config: config, weights: Weights(InMemoryTensors(reshaped)))) { error in
            XCTAssertEqual(error as? WeightError, .shapeMismatch(name: "transformer.h.0.attn.c_attn.weight", expected: [64, 192],
                                                                actual: [192, 64], source: "in-memory tensors"))
        }
        // The original GPT2Model export has no "transformer." prefix.
        var bare: [String: Tensor] = [:]
        for (k, v) in tensors { bare[String(k.dropFirst("transformer.".count))] = v }
        XCTAssertNoThrow(try GPT2(config: config, weights: Weights(InMemoryTensors(bare))))
    }

    func testBadConfigAndInputs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpt2-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        try Data(#"{"n_embd": 10, "n_head": 3, "n_layer": 1, "n_positions": 8, "vocab_size": 5}"#.utf8).write(to: url)
        XCTAssertThrowsError(try GPT2Config.load(from: url)) { XCTAssertTrue("\($0)".contains("not divisible")) }
        try Data("{".utf8).write(to: url)
        XCTAssertThrowsError(try GPT2Config.load(from: url))
        XCTAssertThrowsError(try GPT2Config.load(from: dir.appendingPathComponent("absent.json")))

        let model = try GPT2(directory: Self.modelDir)
        var cache = model.makeCache()
        XCTAssertThrowsError(try model.hiddenStates(ids: [[1, 2], [3]], cache: &cache, device: device))
        XCTAssertThrowsError(try model.hiddenStates(ids: [[1000]], cache: &cache, device: device))
        XCTAssertThrowsError(try model.hiddenStates(ids: [Array(repeating: 1, count: 65)], cache: &cache, device: device))
    }
}
