import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels
import SwiftCapImage
import SwiftCapTestSupport

/// The published captioners at their published sizes: each model is built from the published config committed
/// under fixtures/captioners/published/ (sources in the README there) over a checkpoint of zero tensors with the
/// names and shapes the REAL transformers classes have for that config (fixtures/gen/published_shapes.py writes
/// them into shapes.json). Every name is accounted for: what Swift loads must be exactly the checkpoint's names
/// minus the explicit lists below, and the parameter count must equal transformers'.
final class PublishedShapesTests: XCTestCase {
    static let root = CaptionerFixture.root.appendingPathComponent("fixtures/captioners/published")

    /// A checkpoint of zero tensors of the given shapes, made when a model loads one (nothing is held).
    struct ZeroTensors: TensorSource {
        var shapes: [String: [Int]]
        var sourceDescription: String
        var tensorNames: [String] { shapes.keys.sorted() }
        func tensorInfo(_ name: String) -> TensorInfo? { shapes[name].map { TensorInfo(dtype: "F32", shape: $0) } }
        func loadTensor(_ name: String) throws -> Tensor {
            guard let shape = shapes[name] else { throw WeightError.missing(name: name, source: sourceDescription) }
            return Tensor(zeros: shape)
        }
    }

    /// What transformers says about one model (shapes.json).
    struct Published {
        var stateDict: [String: [Int]]
        /// Every named buffer, persistent or not: older transformers versions saved some that newer ones do not.
        var buffers: [String: [Int]]
        var parameters: Int
        /// Every name a checkpoint of this model can hold.
        var all: [String: [Int]] { stateDict.merging(buffers) { a, _ in a } }
    }

    static func published(_ dir: String) throws -> Published {
        let url = root.appendingPathComponent(dir).appendingPathComponent("shapes.json")
        try requireInput(FileManager.default.fileExists(atPath: url.path),
                         "\(url.path) (run fixtures/gen/published_shapes.py)")
        let data = try Data(contentsOf: url)
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let state = json["state_dict"] as? [String: [Int]], let buffers = json["buffers"] as? [String: [String: Any]],
              let parameters = json["parameters"] as? Int else {
            throw CaptionerError.invalidInput("\(url.path) is not a shapes fixture")
        }
        var b: [String: [Int]] = [:]
        for (name, info) in buffers {
            guard let shape = info["shape"] as? [Int] else { throw CaptionerError.invalidInput("\(url.path): buffer \(name) has no shape") }
            b[name] = shape
        }
        return Published(stateDict: state, buffers: b, parameters: parameters)
    }

    static func config(_ dir: String) throws -> URL {
        let url = root.appendingPathComponent(dir).appendingPathComponent("config.json")
        try requireInput(FileManager.default.fileExists(atPath: url.path), url.path)
        return url
    }

    /// A name pattern (a regular expression matched against the whole name) that a checkpoint may hold and Swift
    /// deliberately does not load, with the reason.
    struct Ignorable {
        var pattern: String
        var why: String
        func matches(_ name: String) -> Bool { name.range(of: "^(\(pattern))$", options: .regularExpression) != nil }
    }

    /// Buffers that carry no learned values: constants the model recomputes.
    static let constantBuffers = [
        Ignorable(pattern: #".*\.position_ids"#, why: "arange(positions): Swift indexes positions directly"),
        Ignorable(pattern: #"(.*\.)?h\.\d+\.attn\.bias"#, why: "GPT-2's causal mask (tril of ones), saved by older transformers"),
        Ignorable(pattern: #"(.*\.)?h\.\d+\.attn\.masked_bias"#, why: "GPT-2's mask fill value (-1e4), saved by older transformers"),
    ]

    /// Checks one model: `build` binds it over `source` (a recording wrapper of zero tensors of `names`);
    /// `ignorable` adds the model's own not-loaded names; `tied` maps a loaded alias to the tensor it is tied
    /// to in transformers (counted once there, so once here).
    func check(_ label: String, names: [String: [Int]], parameters: Int, ignorable: [Ignorable], tied: [String: String] = [:],
               unusedLearned: [String] = [], buffers: Set<String> = [],
               build: (Weights) throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        let recorder = RecordingTensorSource(ZeroTensors(shapes: names, sourceDescription: "zero \(label)"))
        try build(Weights(recorder))
        let loaded = recorder.loadedNames
        let lists = Self.constantBuffers + ignorable
        // A name the checkpoint holds that Swift neither loads nor lists: a tensor silently dropped.
        let unaccounted = recorder.unusedNames.filter { n in !lists.contains { $0.matches(n) } && !unusedLearned.contains(n) }
        XCTAssertEqual(unaccounted, [], "\(label): in the checkpoint, neither loaded nor listed as ignorable", file: file, line: line)
        // A listed name that Swift does load: the list is wrong.
        let listedButLoaded = loaded.filter { n in lists.contains { $0.matches(n) } || unusedLearned.contains(n) }.sorted()
        XCTAssertEqual(listedButLoaded, [], "\(label): listed as not loaded, but loaded", file: file, line: line)
        XCTAssertTrue(loaded.isSubset(of: Set(names.keys)), "\(label): loaded names outside the checkpoint", file: file, line: line)
        for (alias, target) in tied {
            XCTAssertTrue(names[alias] != nil && names[target] != nil, "\(label): tied pair \(alias) -> \(target) not in the checkpoint", file: file, line: line)
        }
        // Parameters: distinct learned tensors loaded (a tied alias once; buffers are not parameters), plus learned
        // ones captioning does not use (listed), must be transformers' count.
        let counted = loaded.filter { n in !buffers.contains(n) && !(tied[n].map { loaded.contains($0) } ?? false) }
        let swiftParameters = counted.reduce(0) { $0 + (names[$1] ?? []).reduce(1, *) }
        let unusedCount = unusedLearned.reduce(0) { $0 + (names[$1] ?? []).reduce(1, *) }
        XCTAssertEqual(swiftParameters + unusedCount, parameters, "\(label): parameter count (Swift \(swiftParameters) + unused \(unusedCount))",
                       file: file, line: line)
        print("\(label): \(names.count) checkpoint names, \(loaded.count) loaded, Swift parameters \(swiftParameters)"
              + (unusedCount > 0 ? " + \(unusedCount) unused by captioning" : "") + ", transformers \(parameters)")
    }

    func testBLIPBaseFromPublishedConfig() throws {
        let dir = "Salesforce--blip-image-captioning-base"
        let config = try BLIPConfig.load(from: Self.config(dir))
        let p = try Self.published(dir)
        // Published sizes, as read by Swift's config parser.
        XCTAssertEqual([config.vision.hiddenSize, config.vision.numHiddenLayers, config.vision.numAttentionHeads,
                        config.vision.intermediateSize, config.vision.imageSize, config.vision.patchSize], [768, 12, 12, 3072, 384, 16])
        XCTAssertEqual([config.text.vocabSize, config.text.hiddenSize, config.text.numHiddenLayers, config.text.numAttentionHeads,
                        config.text.intermediateSize, config.text.maxPositionEmbeddings, config.text.bosTokenId, config.text.sepTokenId],
                       [30524, 768, 12, 12, 3072, 512, 30522, 102])
        XCTAssertEqual(p.stateDict["text_decoder.bert.embeddings.word_embeddings.weight"], [config.text.vocabSize, config.text.hiddenSize])
        XCTAssertEqual(p.stateDict["vision_model.embeddings.position_embedding"], [1, config.vision.tokens, config.vision.hiddenSize])
        try check("BLIP base", names: p.all, parameters: p.parameters, ignorable: [
            // transformers ties the decoder's output bias to `cls.predictions.bias` (same tensor, saved under both
            // names); Swift reads `cls.predictions.bias`.
            Ignorable(pattern: #"text_decoder\.cls\.predictions\.decoder\.bias"#, why: "tied to text_decoder.cls.predictions.bias"),
        ], tied: ["text_decoder.cls.predictions.decoder.weight": "text_decoder.bert.embeddings.word_embeddings.weight"],
           buffers: Set(p.buffers.keys)) { w in
            _ = try BLIP(config: config, weights: w)
        }
    }

    /// The published BLIP preprocessor_config.json ("size": 384, no crop, CLIP mean/std) gives the BLIP recipe:
    /// a 384x384 stretch with the CLIP normalisation.
    func testBLIPPublishedPreprocessorConfig() throws {
        let url = Self.root.appendingPathComponent("Salesforce--blip-image-captioning-base/preprocessor_config.json")
        try requireInput(FileManager.default.fileExists(atPath: url.path), url.path)
        let r = try PreprocessRecipe.huggingFace(preprocessorConfig: Data(contentsOf: url), base: .blip, file: url.path)
        XCTAssertEqual(r.name, "BlipImageProcessor")
        XCTAssertEqual(r.geometry, .stretch(width: 384, height: 384))
        XCTAssertEqual(r.outputShape, [1, 3, 384, 384])
        XCTAssertEqual(r.filter, PreprocessRecipe.blip.filter)
        XCTAssertEqual(r.normalization, PreprocessRecipe.blip.normalization)
    }

    func testCLIPViTB32FromPublishedConfig() throws {
        let dir = "openai--clip-vit-base-patch32"
        let config = try CLIPConfig.load(from: Self.config(dir))
        let p = try Self.published(dir)
        let v = config.vision
        XCTAssertEqual([v.hiddenSize, v.numHiddenLayers, v.numAttentionHeads, v.intermediateSize, v.imageSize, v.patchSize],
                       [768, 12, 12, 3072, 224, 32])
        let t = try XCTUnwrap(config.text)
        XCTAssertEqual([t.vocabSize, t.hiddenSize, t.numHiddenLayers, t.numAttentionHeads, t.intermediateSize, t.maxPositionEmbeddings],
                       [49408, 512, 12, 8, 2048, 77])
        XCTAssertEqual(config.projectionDim, 512)
        let device = Device(threads: 1)
        try check("CLIP ViT-B/32", names: p.all, parameters: p.parameters, ignorable: [],
                  // The contrastive temperature: used only to scale image-text similarity logits, which no
                  // captioner computes (a learned scalar; counted so the total still equals transformers').
                  unusedLearned: ["logit_scale"], buffers: Set(p.buffers.keys)) { w in
            _ = try CLIP(huggingFace: w, config: config, device: device)
        }
    }

    func testGPT2FromPublishedConfig() throws {
        let dir = "openai-community--gpt2"
        let config = try GPT2Config.load(from: Self.config(dir))
        let p = try Self.published(dir)
        XCTAssertEqual([config.vocabSize, config.nPositions, config.nEmbd, config.nLayer, config.nHead], [50257, 1024, 768, 12, 12])
        XCTAssertEqual(config.innerDim, 3072)
        try check("GPT-2 (GPT2LMHeadModel)", names: p.all, parameters: p.parameters, ignorable: [],
                  tied: ["lm_head.weight": "transformer.wte.weight"], buffers: Set(p.buffers.keys)) { w in
            _ = try GPT2(config: config, weights: w)
        }
    }

    /// The names the published openai-community/gpt2 weights file uses: a GPT2Model save (no `transformer.`
    /// prefix, no `lm_head.weight`), and, from the transformers version that wrote it, each block's causal-mask
    /// buffers `h.N.attn.bias` [1, 1, 1024, 1024] and `h.N.attn.masked_bias` []. Current transformers no longer
    /// has those buffers, so they are added here by hand (not from shapes.json).
    func testGPT2PublishedFileLayoutWithLegacyBuffers() throws {
        let config = try GPT2Config.load(from: Self.config("openai-community--gpt2"))
        let p = try Self.published("openai-community--gpt2")
        var names: [String: [Int]] = [:]
        for (k, shape) in p.stateDict where k.hasPrefix("transformer.") { names[String(k.dropFirst("transformer.".count))] = shape }
        for i in 0..<config.nLayer {
            names["h.\(i).attn.bias"] = [1, 1, config.nPositions, config.nPositions]
            names["h.\(i).attn.masked_bias"] = []
        }
        let buffers = Set(names.keys.filter { $0.hasSuffix(".attn.bias") || $0.hasSuffix(".attn.masked_bias") })
        try check("GPT-2 (published file layout)", names: names, parameters: p.parameters, ignorable: [], buffers: buffers) { w in
            _ = try GPT2(config: config, weights: w)
        }
    }

    /// SmallCap7M at its published sizes. Its own config.json was not found in public sources, so the model is
    /// assembled from the two published configs it is built on (CLIP ViT-B/32 encoder, GPT-2 base decoder) at
    /// SmallCap7M's cross-attention reduction 4; the names/shapes come from the same assembly in transformers
    /// (smallcap7m-assembled/shapes.json). The published pytorch_model.bin was saved by a transformers that still
    /// stored GPT-2's `attn.bias` / `attn.masked_bias` buffers: added here by hand, and they must be ignored.
    func testSmallCap7MAssembledFromPublishedConfigs() throws {
        let clip = try CLIPConfig.load(from: Self.config("openai--clip-vit-base-patch32"))
        let gpt2 = try GPT2Config.load(from: Self.config("openai-community--gpt2"))
        let config = SmallCapConfig(vision: clip.vision, decoder: gpt2, crossAttentionReduceFactor: 4)
        try config.validate(file: "assembled")
        // The published configs give what SwiftCap's built-in SmallCap7M sizes say.
        let builtIn = SmallCapConfig.published(reduceFactor: 4)
        XCTAssertEqual(config.vision, builtIn.vision)
        XCTAssertEqual([gpt2.vocabSize, gpt2.nPositions, gpt2.nEmbd, gpt2.nLayer, gpt2.nHead, gpt2.innerDim],
                       [builtIn.decoder.vocabSize, builtIn.decoder.nPositions, builtIn.decoder.nEmbd, builtIn.decoder.nLayer,
                        builtIn.decoder.nHead, builtIn.decoder.innerDim])
        XCTAssertEqual([config.crossWidth, config.encoderHiddenSize], [192, 768])
        let p = try Self.published("smallcap7m-assembled")
        var names = p.all
        for i in 0..<gpt2.nLayer {
            names["decoder.transformer.h.\(i).attn.bias"] = [1, 1, gpt2.nPositions, gpt2.nPositions]
            names["decoder.transformer.h.\(i).attn.masked_bias"] = []
        }
        let device = Device(threads: 1)
        try check("SmallCap7M (assembled)", names: names, parameters: p.parameters, ignorable: [],
                  tied: ["decoder.lm_head.weight": "decoder.transformer.wte.weight"],
                  buffers: Set(names.keys.filter { p.buffers[$0] != nil || $0.hasSuffix(".attn.bias") || $0.hasSuffix(".attn.masked_bias") })) { w in
            _ = try SmallCap(config: config, weights: w, device: device)
        }
    }

    /// ClipCap's .pt files carry no config: GPT-2's heads and the prefix length are read off the tensors.
    func testClipCapInfersHeadsAndPrefixAtPublishedSizes() throws {
        let device = Device(threads: 1)
        for (dir, prefix, transformerMapper) in [("clipcap-mlp", 10, false), ("clipcap-transformer", 40, true)] {
            let p = try Self.published(dir)
            var model: ClipCap?
            try check("ClipCap (\(dir))", names: p.all, parameters: p.parameters, ignorable: [],
                      tied: ["gpt.lm_head.weight": "gpt.transformer.wte.weight"], buffers: Set(p.buffers.keys)) { w in
                model = try ClipCap(weights: w, device: device)  // no gptHeads: inferred
            }
            let m = try XCTUnwrap(model)
            XCTAssertEqual(m.gpt.config.nHead, 12, dir)       // 768 wide -> 12 heads
            XCTAssertEqual(m.gpt.config.nEmbd, 768, dir)
            XCTAssertEqual(m.gpt.config.nLayer, 12, dir)
            XCTAssertEqual(m.prefixLength, prefix, dir)
            XCTAssertEqual(m.clipDim, 512, dir)
            XCTAssertEqual(m.isTransformerMapper, transformerMapper, dir)
        }
        // The override wins over the inference, and a head count that does not divide the width is refused.
        let p = try Self.published("clipcap-mlp")
        let source = ZeroTensors(shapes: p.all, sourceDescription: "zero ClipCap")
        XCTAssertEqual(try ClipCap(weights: Weights(source), gptHeads: 6, device: device).gpt.config.nHead, 6)
        XCTAssertThrowsError(try ClipCap(weights: Weights(source), gptHeads: 7, device: device))
    }

    /// The recording wrapper itself: loads are recorded, lookups are not.
    func testRecordingTensorSource() throws {
        let r = RecordingTensorSource(ZeroTensors(shapes: ["a": [2], "b": [3], "c": []], sourceDescription: "three"))
        let w = Weights(r)
        XCTAssertTrue(w.contains("b"))
        _ = try w.tensor("a", shape: [2])
        XCTAssertEqual(r.loadedNames, ["a"])
        XCTAssertEqual(r.unusedNames, ["b", "c"])
        XCTAssertThrowsError(try w.tensor("zz"))
        XCTAssertEqual(r.loadedNames, ["a"])
    }
}
