import ArgumentParser
import Foundation
import SwiftCap

/// Models `bench quantized` knows.
enum QuantBenchArch: String, ExpressibleByArgument, CaseIterable {
    /// GPT-2 124M alone (the ClipCap decoder shape), random weights.
    case gpt2
    case clipcap, smallcap, blip
    /// The default captioner's concept decoder (a real file, models/concept-decoder.safetensors).
    case conceptDecoder = "concept-decoder"
}

/// `swiftcap bench quantized`: one quantized model file at a time (so peak RSS is that file's):
/// weights on disk and in memory, peak RSS, decoder ms/token and the logit error against fp32.
struct BenchQuantized: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantized",
        abstract: "Disk/memory size, peak RSS, decoder ms/token and logit error vs fp32 of one f32/f16/int8/q4 model file.",
        discussion: """
        Two steps, so that each measurement runs in a fresh process:
          swiftcap bench quantized --arch gpt2 --prepare DIR
            writes DIR/{f32,f16,int8,q4}.safetensors (random weights at full size under the published names;
            for concept-decoder the --source file) and DIR/reference-logits.safetensors (fp32 logits of the
            fixed prompt);
          swiftcap bench quantized --arch gpt2 --weights DIR/int8.safetensors
            loads that file (int8/q4 matrices stay quantized in memory), runs the fixed prompt and compares its
            logits with the reference, then times single decoder steps.
        The prompt is 20 token ids drawn with a fixed seed (after the image prefix for clipcap, with the image's
        encoder states for smallcap/blip).
        """)

    @OptionGroup var compute: ComputeOptions
    @Option(help: "gpt2 | clipcap | smallcap | blip | concept-decoder") var arch: QuantBenchArch
    @Option(help: "Directory to write the f32/f16/int8/q4 files and the reference logits into.") var prepare: String?
    @Option(help: "A model file written by --prepare (or `swiftcap quantize`) to measure.") var weights: String?
    @Option(help: "Reference logits (default: reference-logits.safetensors next to --weights).") var reference: String?
    @Option(help: "concept-decoder only: the decoder file to convert.") var source = "models/concept-decoder.safetensors"
    @Option(help: "Rank-2 tensors with at least this many elements are quantized (default 4096; 1024 for concept-decoder).")
    var minElements: Int?
    @Option(help: "Prompt length in tokens.") var promptTokens = 20
    @Option(help: "Rows per timed decoder step (beams).") var beams = 1
    @Option(help: "Timed decoder steps (median reported).") var steps = 20
    @Flag(help: "Print one JSON object instead of the table row.") var json = false

    func validate() throws {
        guard (prepare == nil) != (weights == nil) else { throw ValidationError("give exactly one of --prepare DIR and --weights FILE") }
        guard promptTokens >= 1, beams >= 1, steps >= 1 else { throw ValidationError("--prompt-tokens, --beams and --steps must be at least 1") }
        if let m = minElements, m < 1 { throw ValidationError("--min-elements must be at least 1") }
    }

    var matrixThreshold: Int { minElements ?? (arch == .conceptDecoder ? 1024 : 4096) }

    func run() throws {
        do {
            if let dir = prepare { try prepareFiles(URL(fileURLWithPath: dir)) } else if let w = weights { try measure(URL(fileURLWithPath: w)) }
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("swiftcap bench quantized: \(error)")
            throw ExitCode.failure
        }
    }

    // MARK: - The model under test

    /// What the bench needs of a loaded model.
    struct Runner {
        var vocab: Int
        /// Teacher-forced logits of the prompt: [promptTokens, vocab].
        var promptLogits: () throws -> Tensor
        /// Times `steps` decoder steps of `beams` rows after the prompt (one untimed warm-up step): ms per step.
        var timeSteps: () throws -> [Double]
        /// Image encoder ms (nil for text-only models).
        var encode: (() throws -> Void)?
        /// Weight bytes the model holds (nil where not computed).
        var decoderWeightBytes: Int?
    }

    /// Fixed random pixels [1, 3, size, size] in [-1, 1].
    func pixels(_ size: Int) -> Tensor {
        var rng = SplitMix64(seed: 11)
        return Tensor((0..<(3 * size * size)).map { _ in rng.nextFloat() * 2 - 1 }, shape: [1, 3, size, size])
    }

    /// The fixed prompt: `promptTokens` ids in [lowest, vocab), the first one `first` when given.
    func prompt(vocab: Int, lowest: Int = 0, first: Int? = nil) -> [Int] {
        var rng = SplitMix64(seed: 7)
        var ids = (0..<promptTokens).map { _ in lowest + Int(rng.next() % UInt64(vocab - lowest)) }
        if let first { ids[0] = first }
        return ids
    }

    /// Runs `body` once untimed, then `steps` times: ms of each timed call.
    func timeDecoder<S>(_ state: S, _ body: (inout S) throws -> Void) throws -> [Double] {
        var s = state
        try body(&s)
        var out: [Double] = []
        for _ in 0..<steps {
            let t = DispatchTime.now().uptimeNanoseconds
            try body(&s)
            out.append(milliseconds(since: t))
        }
        return out
    }

    func tokenRow(_ step: Int, vocab: Int) -> [Int] { (0..<beams).map { (1000 + 37 * step + $0) % vocab } }

    func runner(source: any TensorSource, url: URL, device: Device) throws -> Runner {
        let w = Weights(source)
        switch arch {
        case .gpt2:
            let gpt = try GPT2(config: GPT2Config(), weights: w)
            let ids = prompt(vocab: gpt.config.vocabSize)
            return Runner(
                vocab: gpt.config.vocabSize,
                promptLogits: {
                    var cache = gpt.makeCache()
                    return try gpt.logits(gpt.hiddenStates(ids: [ids], cache: &cache, device: device), device: device)
                        .reshaped([ids.count, gpt.config.vocabSize])
                },
                timeSteps: {
                    var cache = gpt.makeCache()
                    _ = try gpt.hiddenStates(ids: [ids], cache: &cache, device: device)
                    try cache.reorder(batch: Array(repeating: 0, count: beams), device: device)
                    var step = 0
                    return try timeDecoder(cache) { c in
                        _ = try gpt.nextLogits(tokens: tokenRow(step, vocab: gpt.config.vocabSize), state: &c, device: device)
                        step += 1
                    }
                },
                encode: nil, decoderWeightBytes: gpt.weightBytes)
        case .conceptDecoder:
            let decoder = try ConceptDecoder(url: url)
            let v = decoder.config.vocabSize
            let ids = prompt(vocab: v, lowest: ConceptDecoder.specialTokens.count)
            return Runner(
                vocab: v,
                promptLogits: {
                    var cache = decoder.model.makeCache()
                    return try decoder.model.logits(decoder.model.hiddenStates(ids: [ids], cache: &cache, device: device), device: device)
                        .reshaped([ids.count, v])
                },
                timeSteps: {
                    var (cache, _) = try decoder.prefill(ids, device: device)
                    try cache.reorder(batch: Array(repeating: 0, count: beams), device: device)
                    var step = 0
                    return try timeDecoder(cache) { c in
                        _ = try decoder.model.nextLogits(tokens: tokenRow(step, vocab: v), state: &c, device: device)
                        step += 1
                    }
                },
                encode: nil, decoderWeightBytes: decoder.model.weightBytes)
        case .clipcap:
            let vision = CLIPVisionConfig.vitB32
            let clip = try CLIPVisionTransformer(huggingFace: w, config: vision, projectionDim: 512, device: device)
            let model = try ClipCap(weights: w, device: device)
            let px = pixels(vision.imageSize)
            let v = model.gpt.config.vocabSize
            let ids = prompt(vocab: v)
            func prefix() throws -> Tensor {
                let e = try clip.forward(pixels: px, device: device).imageEmbeds ?? Tensor(zeros: [1, 512])
                return try model.prefix(clipEmbedding: e, device: device)
            }
            return Runner(
                vocab: v,
                promptLogits: {
                    let embeddings = try device.concat([prefix(), model.gpt.embed([ids], device: device)], dim: 1)
                    var cache = model.gpt.makeCache()
                    let hidden = try model.gpt.hiddenStates(embeddings: embeddings, cache: &cache, device: device)
                    return try model.gpt.logits(hidden.narrowed(dim: 1, start: model.prefixLength, length: ids.count), device: device)
                        .reshaped([ids.count, v])
                },
                timeSteps: {
                    var cache = model.gpt.makeCache()
                    _ = try model.gpt.hiddenStates(embeddings: device.concat([prefix(), model.gpt.embed([ids], device: device)], dim: 1),
                                                   cache: &cache, device: device)
                    try cache.reorder(batch: Array(repeating: 0, count: beams), device: device)
                    var step = 0
                    return try timeDecoder(cache) { c in
                        _ = try model.gpt.nextLogits(tokens: tokenRow(step, vocab: v), state: &c, device: device)
                        step += 1
                    }
                },
                encode: { _ = try prefix() }, decoderWeightBytes: model.gpt.weightBytes)
        case .smallcap:
            let config = SmallCapConfig.published(reduceFactor: 4)
            let model = try SmallCap(config: config, weights: w, device: device)
            let px = pixels(config.vision.imageSize)
            let v = config.decoder.vocabSize
            let ids = prompt(vocab: v)
            return Runner(
                vocab: v,
                promptLogits: {
                    var state = try model.makeState(encoderStates: model.encode(pixels: px, device: device), device: device)
                    return try model.decoder.logits(model.hiddenStates(ids: [ids], state: &state, device: device), device: device)
                        .reshaped([ids.count, v])
                },
                timeSteps: {
                    var state = try model.makeState(encoderStates: model.encode(pixels: px, device: device), device: device)
                    _ = try model.hiddenStates(ids: [ids], state: &state, device: device)
                    try model.reorderState(&state, rows: Array(repeating: 0, count: beams), device: device)
                    var step = 0
                    return try timeDecoder(state) { s in
                        _ = try model.nextLogits(tokens: tokenRow(step, vocab: v), state: &s, device: device)
                        step += 1
                    }
                },
                encode: { _ = try model.encode(pixels: px, device: device) }, decoderWeightBytes: model.decoder.weightBytes)
        case .blip:
            let config = BLIPConfig.publishedBase
            let model = try BLIP(config: config, weights: w)
            let px = pixels(config.vision.imageSize)
            let v = config.text.vocabSize
            let ids = prompt(vocab: v, first: 30522)  // [DEC]
            return Runner(
                vocab: v,
                promptLogits: {
                    var state = try model.text.makeState(imageEmbeds: model.vision.forward(pixels: px, device: device), device: device)
                    return try model.text.logits(model.text.hiddenStates(ids: [ids], state: &state, device: device), device: device)
                        .reshaped([ids.count, v])
                },
                timeSteps: {
                    var state = try model.text.makeState(imageEmbeds: model.vision.forward(pixels: px, device: device), device: device)
                    _ = try model.text.hiddenStates(ids: [ids], state: &state, device: device)
                    try model.text.reorderState(&state, rows: Array(repeating: 0, count: beams), device: device)
                    var step = 0
                    return try timeDecoder(state) { s in
                        _ = try model.text.nextLogits(tokens: tokenRow(step, vocab: v), state: &s, device: device)
                        step += 1
                    }
                },
                encode: { _ = try model.vision.forward(pixels: px, device: device) }, decoderWeightBytes: nil)
        }
    }

    // MARK: - --prepare

    /// The fp32 source tensors and the metadata to carry into every converted file.
    func sourceTensors() throws -> (any TensorSource, [String: String]) {
        var ck = RandomCheckpoint(seed: 42)
        switch arch {
        case .conceptDecoder:
            let file = try SafetensorsFile(url: URL(fileURLWithPath: source))
            return (file, file.metadata)
        case .gpt2:
            ck.gpt2("gpt", GPT2Config())
        case .clipcap:
            let vision = CLIPVisionConfig.vitB32
            ck.clipVision("vision_model", vision)
            ck.random("visual_projection.weight", [512, vision.hiddenSize])
            ck.gpt2("gpt", GPT2Config())
            ck.linear("clip_project.model.0", out: 768 * 10 / 2, in: 512)
            ck.linear("clip_project.model.2", out: 768 * 10, in: 768 * 10 / 2)
        case .smallcap:
            let config = SmallCapConfig.published(reduceFactor: 4)
            ck.clipVision("encoder", config.vision)
            ck.gpt2("decoder", config.decoder, crossFactor: config.crossAttentionReduceFactor, encoderWidth: config.encoderHiddenSize)
        case .blip:
            ck.blip(BLIPConfig.publishedBase)
        }
        // Tied lm_head entries are aliases: leave them out so the decoder ties to wte (as the published files do
        // by sharing storage) instead of storing the 154 MB matrix twice.
        var tensors = ck.tensors
        for a in ck.aliases { tensors[a] = nil }
        if arch == .gpt2 {
            // GPT-2 alone: the ClipCap decoder without the `gpt.` prefix.
            var bare: [String: Tensor] = [:]
            for (k, t) in tensors { bare[String(k.dropFirst("gpt.".count))] = t }
            tensors = bare
        }
        return (InMemoryTensors(tensors, description: "random \(arch.rawValue)"), [:])
    }

    func prepareFiles(_ dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let device = compute.device
        let (src, metadata) = try sourceTensors()
        for target in QuantizeTarget.allCases {
            let url = dir.appendingPathComponent("\(target.rawValue).safetensors")
            let t = DispatchTime.now().uptimeNanoseconds
            let report = try CheckpointQuantizer.convert(src, to: url, options: .init(target: target, minMatrixElements: matrixThreshold),
                                                         device: device, extraMetadata: metadata)
            print(String(format: "wrote %@ (%.1f MB) in %.1f s", url.path, Double(report.outputBytes) / 1e6, milliseconds(since: t) / 1000))
        }
        // Reference logits from the f32 file (so every variant is compared with the same loaded fp32 model).
        let f32 = dir.appendingPathComponent("f32.safetensors")
        let r = try runner(source: Checkpoint.open(f32), url: f32, device: device)
        let logits = try r.promptLogits()
        let out = dir.appendingPathComponent("reference-logits.safetensors")
        try SafetensorsWriter.write([("logits", logits)], to: out, metadata: ["arch": arch.rawValue, "prompt_tokens": String(promptTokens)])
        print("wrote \(out.path) (fp32 logits \(logits.shape))")
    }

    // MARK: - --weights

    func residentBytes() -> Int {
        // /proc/self/statm: size resident shared text lib data dt (pages).
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let f = s.split(separator: " ")
        return f.count > 1 ? (Int(f[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    func measure(_ url: URL) throws {
        let device = compute.device
        let refURL = reference.map { URL(fileURLWithPath: $0) }
            ?? url.deletingLastPathComponent().appendingPathComponent("reference-logits.safetensors")
        let ref = try SafetensorsFile(url: refURL).loadTensor("logits")
        let diskBytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        let rss0 = residentBytes()
        var t = DispatchTime.now().uptimeNanoseconds
        let source = try Checkpoint.open(url)
        let format = (source as? QuantizedCheckpoint)?.metadata[QuantizedCheckpoint.metadataKey] ?? "f32"
        let r = try runner(source: source, url: url, device: device)
        let loadMs = milliseconds(since: t)
        let logits = try r.promptLogits()
        let residentAfter = residentBytes() - rss0
        guard logits.shape == ref.shape else {
            throw ValidationError("logits \(logits.shape) vs reference \(ref.shape): prepared with other settings?")
        }
        // Logit error: max |Δ| over the prompt, the largest |reference logit|, top-1 agreement per position.
        let a = logits.scalars, b = ref.scalars, v = r.vocab, n = ref.shape[0]
        var maxDiff: Float = 0, maxRef: Float = 0, agree = 0
        for i in 0..<(n * v) { maxDiff = max(maxDiff, abs(a[i] - b[i])); maxRef = max(maxRef, abs(b[i])) }
        for p in 0..<n {
            let row = p * v
            var ia = 0, ib = 0
            for j in 1..<v {
                if a[row + j] > a[row + ia] { ia = j }
                if b[row + j] > b[row + ib] { ib = j }
            }
            if ia == ib { agree += 1 }
        }
        var encodeMs: Double? = nil
        if let encode = r.encode {
            try encode()
            var samples: [Double] = []
            for _ in 0..<3 {
                t = DispatchTime.now().uptimeNanoseconds
                try encode()
                samples.append(milliseconds(since: t))
            }
            encodeMs = median(samples)
        }
        let stepMs = median(try r.timeSteps())
        let peak = peakRSSBytes()
        let mb = { (b: Int) in String(format: "%.1f", Double(b) / 1e6) }
        if json {
            var fields = ["\"arch\": \"\(arch.rawValue)\"", "\"file\": \"\(url.lastPathComponent)\"", "\"format\": \"\(format)\"",
                          "\"disk_bytes\": \(diskBytes)", "\"resident_after_load_and_prompt_bytes\": \(residentAfter)",
                          "\"peak_rss_bytes\": \(peak)", "\"load_ms\": \(String(format: "%.1f", loadMs))",
                          "\"decoder_ms_per_step\": \(String(format: "%.3f", stepMs))", "\"beams\": \(beams)",
                          "\"logit_max_abs_diff\": \(maxDiff)", "\"reference_max_abs_logit\": \(maxRef)",
                          "\"top1_agreement\": \(agree)", "\"positions\": \(n)", "\"threads\": \(device.threads)"]
            if let e = encodeMs { fields.append("\"encoder_ms\": \(String(format: "%.1f", e))") }
            if let d = r.decoderWeightBytes { fields.append("\"decoder_weight_bytes\": \(d)") }
            print("{" + fields.joined(separator: ", ") + "}")
            return
        }
        print("| arch | weights | disk MB | decoder weights in memory MB | resident after load + prompt MB | peak RSS MB | encoder ms | decoder ms/step (\(beams) row\(beams == 1 ? "" : "s")) | max abs logit diff (max abs logit) | top-1 agreement |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("| \(arch.rawValue) | \(format) | \(mb(diskBytes)) | \(r.decoderWeightBytes.map(mb) ?? "–") | \(mb(residentAfter)) | \(mb(peak)) | "
              + "\(encodeMs.map { String(format: "%.1f", $0) } ?? "–") | \(String(format: "%.2f", stepMs)) | "
              + "\(String(format: "%.2e", maxDiff)) (\(String(format: "%.2f", maxRef))) | \(agree)/\(n) |")
    }
}
