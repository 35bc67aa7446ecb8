import Dispatch
import Foundation
import SwiftCapFormats
import SwiftCapImage
import SwiftCapMetrics
import SwiftCapModels
import SwiftCapTensor
import SwiftCapText

/// The published captioners SwiftCap runs from their released checkpoints (docs/captioners.md).
public enum CaptionerArch: String, CaseIterable, Sendable {
    case clipcap, smallcap, blip
}

/// Decoding and file options of a `PublishedCaptioner`.
public struct PublishedCaptionerOptions: Sendable {
    public var beams = 3
    public var maxTokens = 20
    public var lengthPenalty: Float = 1
    /// SmallCap: retrieved captions for the prompt (at most `k` used); empty = SmallCap's plain "This image shows ".
    public var retrievedCaptions: [String] = []
    public var k = 4
    /// Where the GPT-2 `vocab.json` / `merges.txt` come from when the weights folder has none.
    public var assets = AssetPaths.fromEnvironment()
    public var threads: Int? = nil
    /// ClipCap: the CLIP ViT-B/32 folder (default: `weights/clip`).
    public var clipDirectory: URL? = nil
    /// Where vocab.json / merges.txt are looked for first (default: the weights folder).
    public var tokenizerDirectory: URL? = nil
    /// ClipCap: GPT-2 attention heads (default: inferred, width / 64; the .pt files carry no config).
    public var gptHeads: Int? = nil
    /// Refuse a checkpoint holding learned tensors the model did not load (`--strict`).
    public var strict = false
    /// Weight matrices held in memory as f32 (as stored), f16, int8 or q4 (`--quant`; encoder included).
    public var quant: QuantizeTarget = .f32

    /// The decoding and loading settings every front end (`caption`, `eval`, `bench model`, `serve`) takes.
    public init(beams: Int = 3, maxTokens: Int = 20, threads: Int? = nil, quant: QuantizeTarget = .f32) {
        self.beams = beams
        self.maxTokens = maxTokens
        self.threads = threads
        self.quant = quant
    }
}

/// `source` as the model should see it under `target` (unchanged for f32).
func quantized(_ source: any TensorSource, _ target: QuantizeTarget, device: Device) -> any TensorSource {
    target == .f32 ? source : QuantizingTensorSource(source, to: target, device: device)
}

/// One photo's caption by a published captioner.
public struct PublishedCaption: Sendable, Equatable {
    public var caption: String
    /// New tokens the decoder generated, its end token included when it produced one (≤ the max tokens asked for).
    public var tokens: Int
    /// Preprocessing and the image encoder (CLIP / ViT), in milliseconds.
    public var encoderMilliseconds: Double
    /// Generation (greedy or beam search) and detokenisation, in milliseconds.
    public var decoderMilliseconds: Double
}

/// The weights file of a Hugging Face model folder: model.safetensors, else pytorch_model.bin.
private func modelWeightsFile(in dir: URL) throws -> URL {
    let st = dir.appendingPathComponent("model.safetensors"), bin = dir.appendingPathComponent("pytorch_model.bin")
    if FileManager.default.fileExists(atPath: st.path) { return st }
    guard FileManager.default.fileExists(atPath: bin.path) else {
        throw CaptionerError.config(file: dir.path, "neither model.safetensors nor pytorch_model.bin is present")
    }
    return bin
}

/// Checkpoint names that carry no learned values: constants the model recomputes (transformers' `position_ids`,
/// GPT-2's causal mask `attn.bias` and fill value `attn.masked_bias`, which older transformers saved, also for
/// SmallCap's cross-attention).
private let constantBufferPattern = #"(^|\.)position_ids$|(^|\.)h\.\d+\.(attn|crossattention)\.(bias|masked_bias)$"#

/// Names transformers saves twice for one tied tensor, as (alias, the name SwiftCap loads).
private let tiedAliases = [("text_decoder.cls.predictions.decoder.bias", "text_decoder.cls.predictions.bias"),
                           ("text_decoder.cls.predictions.decoder.weight", "text_decoder.bert.embeddings.word_embeddings.weight")]

/// `--strict`: every tensor of the checkpoint was loaded, except constant buffers and tied aliases.
public func requireAllLoaded(_ r: RecordingTensorSource) throws {
    let loaded = r.loadedNames
    let unused = r.unusedNames.filter { name in
        name.range(of: constantBufferPattern, options: .regularExpression) == nil
            && !tiedAliases.contains { $0.0 == name && loaded.contains($0.1) }
    }
    guard unused.isEmpty else {
        let shown = unused.prefix(8).joined(separator: ", ") + (unused.count > 8 ? ", …" : "")
        throw CaptionerError.layout("--strict: \(unused.count) tensor(s) of \(r.sourceDescription) were not loaded by the model: \(shown)")
    }
}

/// A required file, or a clear error naming it and what it is for.
private func requireFile(_ url: URL, _ what: String) throws -> URL {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw CaptionerError.config(file: url.path, "missing \(what) (see docs/captioners.md)")
    }
    return url
}

/// GPT-2 tokenizer from `dir` (vocab.json + merges.txt, as Hugging Face GPT-2 repos ship) or the public assets.
private func gpt2Tokenizer(in dir: URL, assets: AssetPaths) throws -> GPT2Tokenizer {
    let local = dir.appendingPathComponent("vocab.json"), merges = dir.appendingPathComponent("merges.txt")
    if FileManager.default.fileExists(atPath: local.path), FileManager.default.fileExists(atPath: merges.path) {
        return try GPT2Tokenizer(vocabJSON: local, mergesTXT: merges)
    }
    return try GPT2Tokenizer(vocabJSON: requireFile(assets.asset("gpt2/gpt2_vocab.json"), "GPT-2 vocabulary"),
                             mergesTXT: requireFile(assets.asset("gpt2/gpt2_merges.txt"), "GPT-2 merges"))
}

/// The ClipCap checkpoint in `dir`: the one *.pt file, or clipcap.safetensors / model.safetensors.
private func clipCapCheckpoint(in dir: URL) throws -> URL {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    let pt = names.filter { $0.hasSuffix(".pt") }.sorted()
    if pt.count == 1 { return dir.appendingPathComponent(pt[0]) }
    for n in ["clipcap.safetensors", "model.safetensors"] where names.contains(n) { return dir.appendingPathComponent(n) }
    throw CaptionerError.config(file: dir.path, "no ClipCap checkpoint: expected exactly one *.pt or clipcap.safetensors"
                                + (pt.count > 1 ? " (found several .pt: \(pt.joined(separator: ", ")))" : ""))
}

/// The checkpoint's preprocessing: `preprocessor_config.json` in `dir` when there is one, else `base` at the
/// model's `imageSize` (the vision config's `image_size`), so a checkpoint at another size is fed its own size.
public func checkpointRecipe(in dir: URL, base: PreprocessRecipe, imageSize: Int) throws -> PreprocessRecipe {
    let file = dir.appendingPathComponent("preprocessor_config.json")
    if let data = try? Data(contentsOf: file) {
        return try PreprocessRecipe.huggingFace(preprocessorConfig: data, base: base, file: file.path)
    }
    return base.resized(to: imageSize)
}

/// Preprocesses a decoded photo for a published captioner's image encoder, refusing a recipe whose output is
/// not the encoder's square input size.
public func preprocessedPhoto(_ image: RGBImage, recipe: PreprocessRecipe, side: Int, encoder: String, device: Device) throws -> Tensor {
    let pixels = try device.preprocess(image, recipe: recipe)
    guard pixels.shape[2] == side, pixels.shape[3] == side else {
        throw CaptionerError.invalidInput("\(encoder) wants \(side)² images; \(recipe.name) gives \(pixels.shape[3])x\(pixels.shape[2])")
    }
    return pixels
}

/// A published checkpoint loaded once (layout per docs/captioners.md): `caption --arch/--model` prints its
/// captions, `eval --model` scores them (it is a `Captioner`), `serve --model/--arch` answers requests with it.
///
/// Thread safety: the loaded models and tokenizers are immutable values (tensors are never written after
/// loading; generation keeps its KV cache in locals), so one instance may caption on several threads at once,
/// each passing its own `Device` to `caption(image:beams:maxTokens:device:)`.
public final class PublishedCaptioner: Captioner, Sendable {
    public let name: String
    public let arch: CaptionerArch
    /// The decoding settings used when a call does not override them (beams, max tokens from the options).
    public let generation: GenerationConfig
    private let device: Device
    private let decoder = ImageDecoder()
    private typealias Run = @Sendable (RGBImage, GenerationConfig, Device) throws -> PublishedCaption
    private let run: Run

    public init(arch: CaptionerArch, weights: URL, options: PublishedCaptionerOptions, name: String? = nil) throws {
        self.name = name ?? "\(arch.rawValue) \(weights.path)"
        self.arch = arch
        let device = Device(threads: options.threads)
        self.device = device
        var gen = GenerationConfig(maxNewTokens: options.maxTokens, numBeams: options.beams, lengthPenalty: options.lengthPenalty)
        switch arch {
        case .clipcap:
            // The checkpoint first: its sizes (and --gpt-heads) are checked before CLIP is looked for.
            let recorder = RecordingTensorSource(try Checkpoint.open(clipCapCheckpoint(in: weights)))
            let model = try ClipCap(weights: Weights(quantized(recorder, options.quant, device: device)), gptHeads: options.gptHeads, device: device)
            if options.strict { try requireAllLoaded(recorder) }
            let clipDir = options.clipDirectory ?? weights.appendingPathComponent("clip")
            _ = try requireFile(clipDir.appendingPathComponent("model.safetensors"), "CLIP ViT-B/32 weights (openai/clip-vit-base-patch32)")
            let clip = try CLIP(huggingFace: Weights(quantized(SafetensorsFile(url: clipDir.appendingPathComponent("model.safetensors")),
                                                                options.quant, device: device)),
                                config: CLIPConfig.load(from: clipDir.appendingPathComponent("config.json")), device: device)
            let tok = try gpt2Tokenizer(in: options.tokenizerDirectory ?? weights, assets: options.assets)
            // The official inference stops at "." (GPT-2 id 13) and keeps it; 50256 is GPT-2's end of text.
            gen.stopTokens = [13, 50256]
            let recipe = try checkpointRecipe(in: clipDir, base: .clip, imageSize: clip.vision.config.imageSize)
            run = { image, config, device in
                let t0 = DispatchTime.now().uptimeNanoseconds
                let pixels = try device.preprocess(image, recipe: recipe)
                guard var embedding = try clip.vision.forward(pixels: pixels, device: device).imageEmbeds else {
                    throw CaptionerError.config(file: clipDir.path, "the CLIP checkpoint has no visual_projection")
                }
                if model.isTransformerMapper { embedding = try device.l2Normalize(embedding) }
                let encoded = Self.ms(since: t0), t1 = DispatchTime.now().uptimeNanoseconds
                let ids = try model.generate(clipEmbedding: embedding, config: config, device: device)[0]
                let text = try tok.decode(ids.filter { $0 != 50256 }).trimmingCharacters(in: .whitespacesAndNewlines)
                return PublishedCaption(caption: text, tokens: ids.count, encoderMilliseconds: encoded, decoderMilliseconds: Self.ms(since: t1))
            }
        case .smallcap:
            let modelConfig = try SmallCapConfig.load(from: weights.appendingPathComponent("config.json"))
            let recorder = RecordingTensorSource(try Checkpoint.open(modelWeightsFile(in: weights)))
            let model = try SmallCap(config: modelConfig, weights: Weights(quantized(recorder, options.quant, device: device)), device: device)
            if options.strict { try requireAllLoaded(recorder) }
            let tok = try gpt2Tokenizer(in: options.tokenizerDirectory ?? weights, assets: options.assets)
            let text = options.retrievedCaptions.isEmpty ? "This image shows "
                : SmallCap.prompt(retrievedCaptions: options.retrievedCaptions, k: options.k)
            let prompt = tok.encode(text)
            let eos = model.config.decoder.eosTokenId ?? 50256
            gen.stopTokens = [eos]
            let recipe = try checkpointRecipe(in: weights, base: .clip, imageSize: model.config.vision.imageSize)
            run = { image, config, device in
                let t0 = DispatchTime.now().uptimeNanoseconds
                let pixels = try preprocessedPhoto(image, recipe: recipe, side: model.config.vision.imageSize,
                                                   encoder: "SmallCap encoder", device: device)
                let enc = try model.encode(pixels: pixels, device: device)
                let encoded = Self.ms(since: t0), t1 = DispatchTime.now().uptimeNanoseconds
                let ids = try model.generate(encoderStates: enc, prompts: [prompt], config: config, device: device)[0]
                let caption = try tok.decode(ids.filter { $0 != eos }).trimmingCharacters(in: .whitespacesAndNewlines)
                return PublishedCaption(caption: caption, tokens: ids.count, encoderMilliseconds: encoded, decoderMilliseconds: Self.ms(since: t1))
            }
        case .blip:
            let modelConfig = try BLIPConfig.load(from: weights.appendingPathComponent("config.json"))
            let recorder = RecordingTensorSource(try Checkpoint.open(modelWeightsFile(in: weights)))
            let model = try BLIP(config: modelConfig, weights: Weights(quantized(recorder, options.quant, device: device)))
            if options.strict { try requireAllLoaded(recorder) }
            let tok = try WordPieceTokenizer(vocabTXT: requireFile(weights.appendingPathComponent("vocab.txt"), "BLIP vocab.txt"))
            let prompt = try model.decoderPrompt(tokenized: tok.encode("a picture of"))
            let recipe = try checkpointRecipe(in: weights, base: .blip, imageSize: model.config.vision.imageSize)
            run = { image, config, device in
                let t0 = DispatchTime.now().uptimeNanoseconds
                let pixels = try preprocessedPhoto(image, recipe: recipe, side: model.config.vision.imageSize,
                                                   encoder: "BLIP vision", device: device)
                let embeds = try model.vision.forward(pixels: pixels, device: device)
                let encoded = Self.ms(since: t0), t1 = DispatchTime.now().uptimeNanoseconds
                let ids = try model.generate(imageEmbeds: embeds, prompt: prompt, config: config, device: device)[0]
                let words = ids.filter { $0 < tok.vocabularySize && $0 != model.config.text.sepTokenId }
                let caption = "a picture of \(try tok.decode(words))"
                return PublishedCaption(caption: caption, tokens: ids.count, encoderMilliseconds: encoded, decoderMilliseconds: Self.ms(since: t1))
            }
        }
        generation = gen
        // fp32 tensors read to be quantized are gone now; give their heap pages back.
        if options.quant != .f32 { releaseFreedHeapMemory() }
    }

    private static func ms(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6 }

    /// Captions a decoded photo. `beams` / `maxTokens` override the loaded settings for this call; `device`
    /// (default: the captioner's own) lets several threads share this captioner, each with its own.
    public func caption(image: RGBImage, beams: Int? = nil, maxTokens: Int? = nil, device: Device? = nil) throws -> PublishedCaption {
        var config = generation
        if let beams { config.numBeams = beams }
        if let maxTokens { config.maxNewTokens = maxTokens }
        return try run(image, config, device ?? self.device)
    }

    public func caption(imageAt url: URL) throws -> CaptionResult {
        let start = Date()
        let text = try caption(image: decoder.decode(contentsOf: url)).caption
        return CaptionResult(caption: text, timings: ["caption": Date().timeIntervalSince(start)])
    }
}
