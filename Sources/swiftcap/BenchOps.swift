import ArgumentParser
import Foundation
import SwiftCap

/// `swiftcap bench ops`: median times of the transformer ops, and (with `--models`) a GPT-2 124M
/// decode step and a CLIP ViT-B/32 image encode with random weights.
struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops", abstract: "Median times of elementwise, activation, norm, softmax and attention ops.")

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Timed repetitions per op (median reported).") var runs = 21
    @Flag(help: "Also time GPT-2 124M (prefill, decode step, beam-3 caption) and CLIP ViT-B/32 with random weights.")
    var models = false

    func run() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        let device = compute.device
        print("threads: \(device.threads), backend: \(device.gemm.name)")
        var rng = SplitMix64(seed: 1)
        func random(_ shape: [Int], scale: Float = 1) -> Tensor {
            let t = Tensor(zeros: shape)
            let p = t.contiguousPointer
            for i in 0..<t.count { p[i] = (rng.nextFloat() * 2 - 1) * scale }
            return t
        }
        func median(_ body: () throws -> Void) rethrows -> Double {
            try body()
            var times: [Double] = []
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3)
            }
            return times.sorted()[times.count / 2]
        }
        func report(_ name: String, elements: Int, _ body: () throws -> Void) rethrows {
            let us = try median(body)
            print(pad(name, 48) + pad(String(format: "%.1f us", us), 14) + String(format: "%.2f ns/element", us * 1000 / Double(elements)))
        }

        let x = random([50, 3072]), bias = random([3072])
        let x768 = random([50, 768]), w768 = random([768])
        try report("add [50,3072] + [3072]", elements: x.count) { _ = try device.add(x, bias) }
        try report("mul [50,3072] * [50,3072]", elements: x.count) { _ = try device.mul(x, x) }
        report("gelu (erf) [50,3072]", elements: x.count) { _ = device.gelu(x) }
        report("gelu (tanh) [50,3072]", elements: x.count) { _ = device.geluTanh(x) }
        report("quickGELU [50,3072]", elements: x.count) { _ = device.quickGELU(x) }
        report("silu [50,3072]", elements: x.count) { _ = device.silu(x) }
        report("hardSwish [50,3072]", elements: x.count) { _ = device.hardSwish(x) }
        try report("layerNorm [50,768]", elements: x768.count) { _ = try device.layerNorm(x768, weight: w768, bias: w768) }
        let scores = random([12, 50, 50])
        try report("softmax [12,50,50]", elements: scores.count) { _ = try device.softmax(scores) }
        let logits = random([3, 50257])
        try report("softmax [3,50257]", elements: logits.count) { _ = try device.softmax(logits) }
        for (sq, sk) in [(50, 50), (197, 197), (257, 257), (1, 64)] {
            let q = random([1, 12, sq, 64]), k = random([1, 12, sk, 64]), v = random([1, 12, sk, 64])
            try report("attention 12 heads, \(sq) queries, \(sk) keys, dim 64", elements: 12 * sq * sk) {
                _ = try device.scaledDotProductAttention(query: q, key: k, value: v, causal: sq == sk)
            }
        }
        if models { try benchModels(device: device, random: { random($0, scale: 0.02) }) }
    }

    func benchModels(device: Device, random: ([Int]) -> Tensor) throws {
        func ms(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        let c = GPT2Config()
        let d = c.nEmbd
        var g: [String: Tensor] = ["wte.weight": random([c.vocabSize, d]), "wpe.weight": random([c.nPositions, d]),
                                   "ln_f.weight": Tensor(repeating: 1, shape: [d]), "ln_f.bias": Tensor(zeros: [d])]
        for i in 0..<c.nLayer {
            let p = "h.\(i)."
            for n in ["ln_1", "ln_2"] { g[p + n + ".weight"] = Tensor(repeating: 1, shape: [d]); g[p + n + ".bias"] = Tensor(zeros: [d]) }
            g[p + "attn.c_attn.weight"] = random([d, 3 * d]); g[p + "attn.c_attn.bias"] = random([3 * d])
            g[p + "attn.c_proj.weight"] = random([d, d]); g[p + "attn.c_proj.bias"] = random([d])
            g[p + "mlp.c_fc.weight"] = random([d, 4 * d]); g[p + "mlp.c_fc.bias"] = random([4 * d])
            g[p + "mlp.c_proj.weight"] = random([4 * d, d]); g[p + "mlp.c_proj.bias"] = random([d])
        }
        let gpt2 = try GPT2(config: c, weights: Weights(InMemoryTensors(g)))
        let prefix = random([1, 10, d])
        var cache = gpt2.makeCache()
        var first = Tensor(zeros: [1, c.vocabSize])
        let prefill = try ms { first = try gpt2.lastLogits(gpt2.hiddenStates(embeddings: prefix, cache: &cache, device: device), device: device) }
        var beams = cache
        try beams.reorder(batch: [0, 0, 0], device: device)
        let steps = 10
        let step = try ms { for s in 0..<steps { _ = try gpt2.nextLogits(tokens: [s, s + 1, s + 2], state: &beams, device: device) } } / Double(steps)
        var tokens = 0
        let caption = try ms {
            tokens = try Generator.generate(gpt2, state: cache, firstLogits: first, prompts: [[]],
                                            config: GenerationConfig(maxNewTokens: 20, numBeams: 3, earlyStopping: .whenBeamsFull),
                                            device: device)[0].count
        }
        print(String(format: "GPT-2 124M (random weights): prefill 10 prefix embeddings %.1f ms, decode step with 3 beams %.1f ms, beam-3 caption %.0f ms (%d tokens)",
                     prefill, step, caption, tokens))

        let v = CLIPVisionConfig.vitB32, w = v.hiddenSize
        var t: [String: Tensor] = [
            "vision_model.embeddings.patch_embedding.weight": random([w, 3, v.patchSize, v.patchSize]),
            "vision_model.embeddings.class_embedding": random([w]),
            "vision_model.embeddings.position_embedding.weight": random([v.tokens, w]),
            "vision_model.pre_layrnorm.weight": Tensor(repeating: 1, shape: [w]), "vision_model.pre_layrnorm.bias": Tensor(zeros: [w]),
            "vision_model.post_layernorm.weight": Tensor(repeating: 1, shape: [w]), "vision_model.post_layernorm.bias": Tensor(zeros: [w]),
            "visual_projection.weight": random([512, w])]
        for i in 0..<v.numHiddenLayers {
            let p = "vision_model.encoder.layers.\(i)."
            for n in ["layer_norm1", "layer_norm2"] { t[p + n + ".weight"] = Tensor(repeating: 1, shape: [w]); t[p + n + ".bias"] = Tensor(zeros: [w]) }
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"] { t[p + "self_attn.\(n).weight"] = random([w, w]); t[p + "self_attn.\(n).bias"] = random([w]) }
            t[p + "mlp.fc1.weight"] = random([v.intermediateSize, w]); t[p + "mlp.fc1.bias"] = random([v.intermediateSize])
            t[p + "mlp.fc2.weight"] = random([w, v.intermediateSize]); t[p + "mlp.fc2.bias"] = random([w])
        }
        let clip = try CLIPVisionTransformer(huggingFace: Weights(InMemoryTensors(t)), config: v, projectionDim: 512, device: device)
        let pixels = random([1, 3, v.imageSize, v.imageSize])
        _ = try clip.forward(pixels: pixels, device: device)
        var times: [Double] = []
        for _ in 0..<5 { times.append(try ms { _ = try clip.forward(pixels: pixels, device: device) }) }
        print(String(format: "CLIP ViT-B/32 image encode (random weights): median of 5 %.1f ms", times.sorted()[2]))
    }
}
