import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels

/// Errors from training code; each names what was wrong.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case invalidBatch(String)
    case checkpoint(String, String)
    case data(String)

    public var description: String {
        switch self {
        case .invalidConfig(let why): return "training config: \(why)"
        case .invalidBatch(let why): return "training batch: \(why)"
        case .checkpoint(let file, let why): return "checkpoint \(file): \(why)"
        case .data(let why): return "training data: \(why)"
        }
    }
}

/// Sizes of the decoder. The architecture is GPT-2's (pre-LayerNorm blocks, tanh-GELU MLP, learned
/// positions, output tied to the token embedding), so the trained weights load into `GPT2` for inference.
public struct DecoderShape: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var positions: Int
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var ffDim: Int

    public init(vocabSize: Int, positions: Int, dim: Int, layers: Int, heads: Int, ffDim: Int) {
        self.vocabSize = vocabSize; self.positions = positions; self.dim = dim
        self.layers = layers; self.heads = heads; self.ffDim = ffDim
    }

    public func validate() throws {
        guard vocabSize > 0, positions > 0, dim > 0, layers > 0, heads > 0, ffDim > 0 else {
            throw TrainingError.invalidConfig("every size must be positive: \(self)")
        }
        guard dim % heads == 0 else { throw TrainingError.invalidConfig("dim \(dim) is not divisible by heads \(heads)") }
    }

    public var gpt2Config: GPT2Config {
        GPT2Config(vocabSize: vocabSize, nPositions: positions, nEmbd: dim, nLayer: layers, nHead: heads,
                   nInner: ffDim, layerNormEpsilon: 1e-5, activationFunction: "gelu_new", bosTokenId: nil, eosTokenId: nil)
    }
}

/// One named parameter tensor inside the flat parameter buffer.
public struct ParameterSlot: Sendable {
    public var name: String
    public var shape: [Int]
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Matrices get weight decay; biases, LayerNorm gains and position embeddings do not.
    public var decays: Bool
}

/// A packed batch: several token sequences laid end to end (rows of every activation buffer), each
/// attending only to itself, causally. `targets` are (row, next token id) pairs that carry the loss.
public struct PackedBatch: Sendable {
    /// tokens: [rows]
    public var tokens: [Int32] = []
    /// position of each row inside its sequence: [rows]
    public var positions: [Int32] = []
    /// first row of each sequence, plus the total: [sequences + 1]
    public var starts: [Int] = [0]
    /// rows whose output predicts a token, and that token
    public var targetRows: [Int] = []
    public var targetTokens: [Int32] = []

    public init() {}

    public var rows: Int { tokens.count }
    public var sequences: Int { starts.count - 1 }

    /// Appends a sequence; the loss is on predicting `ids[i+1]` at every i in `lossFrom..<ids.count-1`.
    public mutating func append(_ ids: [Int], lossFrom: Int) {
        let base = tokens.count
        for (i, t) in ids.enumerated() {
            tokens.append(Int32(t))
            positions.append(Int32(i))
        }
        if lossFrom < ids.count - 1 {
            for i in lossFrom..<(ids.count - 1) {
                targetRows.append(base + i)
                targetTokens.append(Int32(ids[i + 1]))
            }
        }
        starts.append(tokens.count)
    }
}

/// The decoder as a training object: a flat fp32 parameter buffer and its gradient, with hand-written
/// forward and backward passes over packed batches (explicit activation buffers, GEMMs through the
/// device's BLAS backend, the rest plain loops threaded with `device.parallelFor`). Parameter names
/// and layouts are GPT-2's (`h.0.attn.c_attn.weight` is [in, out]).
public final class TrainableGPT {
    public let shape: DecoderShape
    public private(set) var slots: [ParameterSlot] = []
    /// All parameters: [parameterCount]
    public var params: [Float]
    /// Gradient of the last `backward`: [parameterCount]
    public var grads: [Float]
    public var parameterCount: Int { params.count }

    struct LayerOffsets {
        var ln1w = 0, ln1b = 0, qkvw = 0, qkvb = 0, projw = 0, projb = 0
        var ln2w = 0, ln2b = 0, fcw = 0, fcb = 0, fc2w = 0, fc2b = 0
    }
    var wte = 0, wpe = 0, lnfw = 0, lnfb = 0
    var layerOffsets: [LayerOffsets] = []

    // Activation buffers (capacity grows with the largest batch seen).
    var capacityRows = 0, capacityTargets = 0, capacityAttention = 0
    var residual: [[Float]] = []   // per layer + 1: input of layer l, [rows, d]
    var ln1: [[Float]] = [], ln1Mean: [[Float]] = [], ln1Rstd: [[Float]] = []
    var qkv: [[Float]] = []        // [rows, 3d]
    var probs: [[Float]] = []      // per sequence, per head: T×T (row-major, upper triangle unused)
    var attOut: [[Float]] = []     // [rows, d]
    var mid: [[Float]] = []        // residual after attention, [rows, d]
    var ln2: [[Float]] = [], ln2Mean: [[Float]] = [], ln2Rstd: [[Float]] = []
    var fcPre: [[Float]] = [], fcAct: [[Float]] = []  // [rows, ff]
    var lnf: [Float] = [], lnfMean: [Float] = [], lnfRstd: [Float] = []
    var selected: [Float] = []     // [targets, d]
    var logits: [Float] = []       // [targets, vocab] (holds probabilities after the loss)
    var probOffsets: [Int] = []    // per sequence: offset of its H×T×T block

    public init(shape: DecoderShape, seed: UInt64 = 1, initStd: Float = 0.02) throws {
        try shape.validate()
        self.shape = shape
        let d = shape.dim, f = shape.ffDim
        var total = 0
        var slots: [ParameterSlot] = []
        func add(_ name: String, _ s: [Int], decays: Bool) -> Int {
            let o = total
            slots.append(ParameterSlot(name: name, shape: s, offset: o, decays: decays))
            total += s.reduce(1, *)
            return o
        }
        wte = add("wte.weight", [shape.vocabSize, d], decays: true)
        wpe = add("wpe.weight", [shape.positions, d], decays: false)
        for l in 0..<shape.layers {
            var o = LayerOffsets()
            let p = "h.\(l)."
            o.ln1w = add(p + "ln_1.weight", [d], decays: false)
            o.ln1b = add(p + "ln_1.bias", [d], decays: false)
            o.qkvw = add(p + "attn.c_attn.weight", [d, 3 * d], decays: true)
            o.qkvb = add(p + "attn.c_attn.bias", [3 * d], decays: false)
            o.projw = add(p + "attn.c_proj.weight", [d, d], decays: true)
            o.projb = add(p + "attn.c_proj.bias", [d], decays: false)
            o.ln2w = add(p + "ln_2.weight", [d], decays: false)
            o.ln2b = add(p + "ln_2.bias", [d], decays: false)
            o.fcw = add(p + "mlp.c_fc.weight", [d, f], decays: true)
            o.fcb = add(p + "mlp.c_fc.bias", [f], decays: false)
            o.fc2w = add(p + "mlp.c_proj.weight", [f, d], decays: true)
            o.fc2b = add(p + "mlp.c_proj.bias", [d], decays: false)
            layerOffsets.append(o)
        }
        lnfw = add("ln_f.weight", [d], decays: false)
        lnfb = add("ln_f.bias", [d], decays: false)
        self.slots = slots
        params = [Float](repeating: 0, count: total)
        grads = [Float](repeating: 0, count: total)
        // GPT-2 initialisation: N(0, std) matrices, residual projections scaled by 1/sqrt(2·layers),
        // LayerNorm gains 1, biases 0.
        var rng = SplitMix64(seed: seed)
        func normal() -> Float {
            let u1 = max(Double(rng.nextFloat()), 1e-12), u2 = Double(rng.nextFloat())
            return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
        }
        for s in slots {
            if s.name.hasSuffix("ln_1.weight") || s.name.hasSuffix("ln_2.weight") || s.name == "ln_f.weight" {
                for i in 0..<s.count { params[s.offset + i] = 1 }
            } else if s.shape.count == 2 {
                let std = s.name.hasSuffix("c_proj.weight") ? initStd / Float(2 * shape.layers).squareRoot() : initStd
                for i in 0..<s.count { params[s.offset + i] = std * normal() }
            }
        }
    }

    public func slot(named name: String) -> ParameterSlot? { slots.first { $0.name == name } }

    /// Parameters as named tensors in GPT-2 layout (for safetensors).
    public func namedTensors(from buffer: [Float]? = nil) -> [(name: String, tensor: Tensor)] {
        let src = buffer ?? params
        return slots.map { s in (s.name, Tensor(Array(src[s.offset..<(s.offset + s.count)]), shape: s.shape)) }
    }

    /// Fills a parameter-sized buffer from named tensors (a checkpoint); every slot must be present with its shape.
    public func load(_ weights: Weights, into buffer: inout [Float], file: String) throws {
        let total = slots.last.map { $0.offset + $0.count } ?? 0
        guard buffer.count == total else { throw TrainingError.checkpoint(file, "buffer size mismatch") }
        for s in slots {
            let t: Tensor
            do { t = try weights.tensor(s.name, shape: s.shape) } catch {
                throw TrainingError.checkpoint(file, "\(error)")
            }
            let values = t.scalars
            for i in 0..<s.count { buffer[s.offset + i] = values[i] }
        }
    }

    func ensureCapacity(rows: Int, targets: Int, attention: Int) {
        let d = shape.dim, f = shape.ffDim, L = shape.layers
        if rows > capacityRows {
            capacityRows = rows
            residual = (0...L).map { _ in [Float](repeating: 0, count: rows * d) }
            ln1 = (0..<L).map { _ in [Float](repeating: 0, count: rows * d) }
            ln1Mean = (0..<L).map { _ in [Float](repeating: 0, count: rows) }
            ln1Rstd = ln1Mean
            qkv = (0..<L).map { _ in [Float](repeating: 0, count: rows * 3 * d) }
            attOut = ln1; mid = ln1; ln2 = ln1; ln2Mean = ln1Mean; ln2Rstd = ln1Mean
            fcPre = (0..<L).map { _ in [Float](repeating: 0, count: rows * f) }
            fcAct = fcPre
            lnf = [Float](repeating: 0, count: rows * d)
            lnfMean = [Float](repeating: 0, count: rows)
            lnfRstd = lnfMean
        }
        if targets > capacityTargets {
            capacityTargets = targets
            selected = [Float](repeating: 0, count: targets * d)
            logits = [Float](repeating: 0, count: targets * shape.vocabSize)
        }
        if attention > capacityAttention {
            capacityAttention = attention
            probs = (0..<L).map { _ in [Float](repeating: 0, count: attention) }
        }
    }

    func validate(_ batch: PackedBatch) throws {
        guard batch.rows > 0, batch.sequences > 0, batch.starts.last == batch.rows,
              batch.positions.count == batch.rows, batch.targetRows.count == batch.targetTokens.count,
              !batch.targetRows.isEmpty else {
            throw TrainingError.invalidBatch("\(batch.rows) rows, \(batch.sequences) sequences, \(batch.targetRows.count) targets")
        }
        for s in 0..<batch.sequences {
            let len = batch.starts[s + 1] - batch.starts[s]
            guard len > 0, len <= shape.positions else {
                throw TrainingError.invalidBatch("sequence \(s) has \(len) tokens (1…\(shape.positions) allowed)")
            }
        }
        for t in batch.tokens where t < 0 || Int(t) >= shape.vocabSize {
            throw TrainingError.invalidBatch("token \(t) outside vocabulary 0..<\(shape.vocabSize)")
        }
        for t in batch.targetTokens where t < 0 || Int(t) >= shape.vocabSize {
            throw TrainingError.invalidBatch("target \(t) outside vocabulary 0..<\(shape.vocabSize)")
        }
        for r in batch.targetRows where r < 0 || r >= batch.rows {
            throw TrainingError.invalidBatch("target row \(r) outside 0..<\(batch.rows)")
        }
    }

    // MARK: forward

    /// Mean cross-entropy (nats) of the batch's targets. Keeps the activations for `backward`.
    @discardableResult
    public func forward(_ batch: PackedBatch, device: Device) throws -> Double {
        try validate(batch)
        let d = shape.dim, f = shape.ffDim, V = shape.vocabSize, H = shape.heads, hd = d / H
        let N = batch.rows, M = batch.targetRows.count
        probOffsets = []
        var att = 0
        for s in 0..<batch.sequences {
            probOffsets.append(att)
            let T = batch.starts[s + 1] - batch.starts[s]
            att += H * T * T
        }
        ensureCapacity(rows: N, targets: M, attention: att)
        let gemm = device.gemm
        params.withUnsafeBufferPointer { P in
            let P = P.baseAddress!
            // Embeddings.
            residual[0].withUnsafeMutableBufferPointer { X in
                for r in 0..<N {
                    let t = Int(batch.tokens[r]), p = Int(batch.positions[r])
                    for j in 0..<d { X[r * d + j] = P[wte + t * d + j] + P[wpe + p * d + j] }
                }
            }
            for l in 0..<shape.layers {
                let o = layerOffsets[l]
                layerNormForward(x: residual[l], out: &ln1[l], mean: &ln1Mean[l], rstd: &ln1Rstd[l],
                                 w: P + o.ln1w, b: P + o.ln1b, rows: N, d: d, device: device)
                ln1[l].withUnsafeBufferPointer { A in
                    qkv[l].withUnsafeMutableBufferPointer { Y in
                        linearForward(gemm, x: A.baseAddress!, w: P + o.qkvw, b: P + o.qkvb, y: Y.baseAddress!, rows: N, inDim: d, outDim: 3 * d)
                    }
                }
                attentionForward(layer: l, batch: batch, H: H, hd: hd, device: device)
                // mid = residual + attOut @ Wproj + b
                mid[l].withUnsafeMutableBufferPointer { Y in
                    attOut[l].withUnsafeBufferPointer { A in
                        linearForward(gemm, x: A.baseAddress!, w: P + o.projw, b: P + o.projb, y: Y.baseAddress!, rows: N, inDim: d, outDim: d)
                    }
                    residual[l].withUnsafeBufferPointer { R in for i in 0..<(N * d) { Y[i] += R[i] } }
                }
                layerNormForward(x: mid[l], out: &ln2[l], mean: &ln2Mean[l], rstd: &ln2Rstd[l],
                                 w: P + o.ln2w, b: P + o.ln2b, rows: N, d: d, device: device)
                ln2[l].withUnsafeBufferPointer { A in
                    fcPre[l].withUnsafeMutableBufferPointer { Y in
                        linearForward(gemm, x: A.baseAddress!, w: P + o.fcw, b: P + o.fcb, y: Y.baseAddress!, rows: N, inDim: d, outDim: f)
                    }
                }
                fcPre[l].withUnsafeBufferPointer { X in
                    fcAct[l].withUnsafeMutableBufferPointer { Y in
                        let X = X.baseAddress!, Y = Y.baseAddress!
                        device.parallelFor(N * f, costPerItem: 8) { s, e in
                            for i in s..<e { Y[i] = geluForward(X[i]) }
                        }
                    }
                }
                residual[l + 1].withUnsafeMutableBufferPointer { Y in
                    fcAct[l].withUnsafeBufferPointer { A in
                        linearForward(gemm, x: A.baseAddress!, w: P + o.fc2w, b: P + o.fc2b, y: Y.baseAddress!, rows: N, inDim: f, outDim: d)
                    }
                    mid[l].withUnsafeBufferPointer { R in for i in 0..<(N * d) { Y[i] += R[i] } }
                }
            }
            layerNormForward(x: residual[shape.layers], out: &lnf, mean: &lnfMean, rstd: &lnfRstd,
                             w: P + lnfw, b: P + lnfb, rows: N, d: d, device: device)
            // Logits only where a target is: selected [M, d] @ wte^T -> [M, V].
            for (m, r) in batch.targetRows.enumerated() {
                for j in 0..<d { selected[m * d + j] = lnf[r * d + j] }
            }
            selected.withUnsafeBufferPointer { S in
                logits.withUnsafeMutableBufferPointer { Lg in
                    gemm.sgemm(transA: false, transB: true, m: M, n: V, k: d, alpha: 1, a: S.baseAddress!, lda: d,
                               b: P + wte, ldb: d, beta: 0, c: Lg.baseAddress!, ldc: V)
                }
            }
        }
        // Softmax in place (logits become probabilities) and the loss.
        var losses = [Double](repeating: 0, count: M)
        logits.withUnsafeMutableBufferPointer { Lg in
            let Lg = Lg.baseAddress!
            losses.withUnsafeMutableBufferPointer { Ls in
                let Ls = Ls.baseAddress!
                device.parallelFor(M, costPerItem: V) { s, e in
                    for m in s..<e {
                        let row = Lg + m * V
                        var mx = -Float.infinity
                        for v in 0..<V where row[v] > mx { mx = row[v] }
                        var sum: Double = 0
                        for v in 0..<V { let ex = exp(row[v] - mx); row[v] = ex; sum += Double(ex) }
                        let inv = Float(1 / sum)
                        let target = Int(batch.targetTokens[m])
                        let tp = Double(row[target]) / sum
                        for v in 0..<V { row[v] *= inv }
                        Ls[m] = -log(max(tp, 1e-30))
                    }
                }
            }
        }
        return losses.reduce(0, +) / Double(M)
    }

    func attentionForward(layer l: Int, batch: PackedBatch, H: Int, hd: Int, device: Device) {
        let d = shape.dim
        let scale = 1 / Float(hd).squareRoot()
        let S = batch.sequences
        qkv[l].withUnsafeBufferPointer { QKV in
            attOut[l].withUnsafeMutableBufferPointer { O in
                probs[l].withUnsafeMutableBufferPointer { PR in
                    let QKV = QKV.baseAddress!, O = O.baseAddress!, PR = PR.baseAddress!
                    device.parallelFor(S * H, costPerItem: 2000) { a, b in
                        for job in a..<b {
                            let s = job / H, h = job % H
                            let r0 = batch.starts[s], T = batch.starts[s + 1] - r0
                            let pbase = PR + probOffsets[s] + h * T * T
                            for t in 0..<T {
                                let q = QKV + (r0 + t) * 3 * d + h * hd
                                let prow = pbase + t * T
                                var mx = -Float.infinity
                                for u in 0...t {
                                    let k = QKV + (r0 + u) * 3 * d + d + h * hd
                                    var dot: Float = 0
                                    for i in 0..<hd { dot += q[i] * k[i] }
                                    dot *= scale
                                    prow[u] = dot
                                    if dot > mx { mx = dot }
                                }
                                var sum: Float = 0
                                for u in 0...t { let e = exp(prow[u] - mx); prow[u] = e; sum += e }
                                let inv = 1 / sum
                                let out = O + (r0 + t) * d + h * hd
                                for i in 0..<hd { out[i] = 0 }
                                for u in 0...t {
                                    prow[u] *= inv
                                    let p = prow[u]
                                    let v = QKV + (r0 + u) * 3 * d + 2 * d + h * hd
                                    for i in 0..<hd { out[i] += p * v[i] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: backward

    /// Gradient of the mean loss of the last `forward` batch, written (not accumulated) into `grads`.
    public func backward(_ batch: PackedBatch, device: Device) {
        let d = shape.dim, f = shape.ffDim, V = shape.vocabSize, H = shape.heads, hd = d / H
        let N = batch.rows, M = batch.targetRows.count
        let gemm = device.gemm
        for i in 0..<grads.count { grads[i] = 0 }
        var dX = [Float](repeating: 0, count: N * d)       // gradient w.r.t. the residual stream
        var dA = [Float](repeating: 0, count: N * d)       // scratch [rows, d]
        var dQKV = [Float](repeating: 0, count: N * 3 * d)
        var dF = [Float](repeating: 0, count: N * f)
        var dSel = [Float](repeating: 0, count: M * d)
        // dlogits = (p - onehot) / M, in place.
        let invM = 1 / Float(M)
        for m in 0..<M {
            let t = Int(batch.targetTokens[m])
            logits[m * V + t] -= 1
        }
        logits.withUnsafeMutableBufferPointer { Lg in
            let Lg = Lg.baseAddress!
            device.parallelFor(M * V) { s, e in for i in s..<e { Lg[i] *= invM } }
        }
        params.withUnsafeBufferPointer { P in
            grads.withUnsafeMutableBufferPointer { G in
                let P = P.baseAddress!, G = G.baseAddress!
                logits.withUnsafeBufferPointer { Lg in
                    selected.withUnsafeBufferPointer { S in
                        // dSel = dlogits @ wte ; dwte += dlogits^T @ selected
                        dSel.withUnsafeMutableBufferPointer { DS in
                            gemm.sgemm(transA: false, transB: false, m: M, n: d, k: V, alpha: 1, a: Lg.baseAddress!, lda: V,
                                       b: P + wte, ldb: d, beta: 0, c: DS.baseAddress!, ldc: d)
                        }
                        gemm.sgemm(transA: true, transB: false, m: V, n: d, k: M, alpha: 1, a: Lg.baseAddress!, lda: V,
                                   b: S.baseAddress!, ldb: d, beta: 1, c: G + wte, ldc: d)
                    }
                }
                // Scatter into d(lnf) rows, then through ln_f.
                dA.withUnsafeMutableBufferPointer { DA in
                    for i in 0..<(N * d) { DA[i] = 0 }
                    for (m, r) in batch.targetRows.enumerated() {
                        for j in 0..<d { DA[r * d + j] += dSel[m * d + j] }
                    }
                }
                layerNormBackward(dOut: dA, x: residual[shape.layers], mean: lnfMean, rstd: lnfRstd, w: P + lnfw,
                                  dX: &dX, dW: G + lnfw, dB: G + lnfb, rows: N, d: d, device: device, accumulate: false)
                for l in stride(from: shape.layers - 1, through: 0, by: -1) {
                    let o = layerOffsets[l]
                    // MLP: residual[l+1] = mid + gelu(ln2 @ Wfc + bfc) @ Wfc2 + bfc2
                    dX.withUnsafeBufferPointer { DY in
                        fcAct[l].withUnsafeBufferPointer { A in
                            dF.withUnsafeMutableBufferPointer { DXin in
                                linearBackward(gemm, dy: DY.baseAddress!, x: A.baseAddress!, w: P + o.fc2w, dx: DXin.baseAddress!,
                                               dw: G + o.fc2w, db: G + o.fc2b, rows: N, inDim: f, outDim: d, device: device)
                            }
                        }
                    }
                    fcPre[l].withUnsafeBufferPointer { X in
                        dF.withUnsafeMutableBufferPointer { DF in
                            let X = X.baseAddress!, DF = DF.baseAddress!
                            device.parallelFor(N * f, costPerItem: 8) { s, e in
                                for i in s..<e { DF[i] *= geluDerivative(X[i]) }
                            }
                        }
                    }
                    dF.withUnsafeBufferPointer { DY in
                        ln2[l].withUnsafeBufferPointer { A in
                            dA.withUnsafeMutableBufferPointer { DXin in
                                linearBackward(gemm, dy: DY.baseAddress!, x: A.baseAddress!, w: P + o.fcw, dx: DXin.baseAddress!,
                                               dw: G + o.fcw, db: G + o.fcb, rows: N, inDim: d, outDim: f, device: device)
                            }
                        }
                    }
                    // dX (w.r.t. mid) += LN2 backward of dA
                    layerNormBackward(dOut: dA, x: mid[l], mean: ln2Mean[l], rstd: ln2Rstd[l], w: P + o.ln2w,
                                      dX: &dX, dW: G + o.ln2w, dB: G + o.ln2b, rows: N, d: d, device: device, accumulate: true)
                    // Attention: mid = residual + attOut @ Wproj + bproj
                    dX.withUnsafeBufferPointer { DY in
                        attOut[l].withUnsafeBufferPointer { A in
                            dA.withUnsafeMutableBufferPointer { DXin in
                                linearBackward(gemm, dy: DY.baseAddress!, x: A.baseAddress!, w: P + o.projw, dx: DXin.baseAddress!,
                                               dw: G + o.projw, db: G + o.projb, rows: N, inDim: d, outDim: d, device: device)
                            }
                        }
                    }
                    attentionBackward(layer: l, batch: batch, dOut: dA, dQKV: &dQKV, H: H, hd: hd, device: device)
                    dQKV.withUnsafeBufferPointer { DY in
                        ln1[l].withUnsafeBufferPointer { A in
                            dA.withUnsafeMutableBufferPointer { DXin in
                                linearBackward(gemm, dy: DY.baseAddress!, x: A.baseAddress!, w: P + o.qkvw, dx: DXin.baseAddress!,
                                               dw: G + o.qkvw, db: G + o.qkvb, rows: N, inDim: d, outDim: 3 * d, device: device)
                            }
                        }
                    }
                    layerNormBackward(dOut: dA, x: residual[l], mean: ln1Mean[l], rstd: ln1Rstd[l], w: P + o.ln1w,
                                      dX: &dX, dW: G + o.ln1w, dB: G + o.ln1b, rows: N, d: d, device: device, accumulate: true)
                }
                // Embeddings.
                for r in 0..<N {
                    let t = Int(batch.tokens[r]), p = Int(batch.positions[r])
                    for j in 0..<d {
                        G[wte + t * d + j] += dX[r * d + j]
                        G[wpe + p * d + j] += dX[r * d + j]
                    }
                }
            }
        }
    }

    func attentionBackward(layer l: Int, batch: PackedBatch, dOut: [Float], dQKV: inout [Float], H: Int, hd: Int, device: Device) {
        let d = shape.dim
        let scale = 1 / Float(hd).squareRoot()
        let S = batch.sequences
        qkv[l].withUnsafeBufferPointer { QKV in
            probs[l].withUnsafeBufferPointer { PR in
                dOut.withUnsafeBufferPointer { DO in
                    dQKV.withUnsafeMutableBufferPointer { DQ in
                        let QKV = QKV.baseAddress!, PR = PR.baseAddress!, DO = DO.baseAddress!, DQ = DQ.baseAddress!
                        device.parallelFor(S * H, costPerItem: 4000) { a, b in
                            var dp = [Float](repeating: 0, count: shape.positions)
                            for job in a..<b {
                                let s = job / H, h = job % H
                                let r0 = batch.starts[s], T = batch.starts[s + 1] - r0
                                let pbase = PR + probOffsets[s] + h * T * T
                                for t in 0..<T {
                                    for i in 0..<hd { DQ[(r0 + t) * 3 * d + h * hd + i] = 0; DQ[(r0 + t) * 3 * d + d + h * hd + i] = 0; DQ[(r0 + t) * 3 * d + 2 * d + h * hd + i] = 0 }
                                }
                                for t in 0..<T {
                                    let prow = pbase + t * T
                                    let dout = DO + (r0 + t) * d + h * hd
                                    var dot: Float = 0
                                    for u in 0...t {
                                        let v = QKV + (r0 + u) * 3 * d + 2 * d + h * hd
                                        let dv = DQ + (r0 + u) * 3 * d + 2 * d + h * hd
                                        var g: Float = 0
                                        let p = prow[u]
                                        for i in 0..<hd { g += dout[i] * v[i]; dv[i] += p * dout[i] }
                                        dp[u] = g
                                        dot += p * g
                                    }
                                    let q = QKV + (r0 + t) * 3 * d + h * hd
                                    let dq = DQ + (r0 + t) * 3 * d + h * hd
                                    for u in 0...t {
                                        let ds = prow[u] * (dp[u] - dot) * scale
                                        let k = QKV + (r0 + u) * 3 * d + d + h * hd
                                        let dk = DQ + (r0 + u) * 3 * d + d + h * hd
                                        for i in 0..<hd { dq[i] += ds * k[i]; dk[i] += ds * q[i] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// MARK: kernels

/// y[rows, out] = x[rows, in] @ w[in, out] + b[out]
func linearForward(_ gemm: any GEMMBackend, x: UnsafePointer<Float>, w: UnsafePointer<Float>, b: UnsafePointer<Float>,
                   y: UnsafeMutablePointer<Float>, rows: Int, inDim: Int, outDim: Int) {
    for r in 0..<rows { for j in 0..<outDim { y[r * outDim + j] = b[j] } }
    gemm.sgemm(transA: false, transB: false, m: rows, n: outDim, k: inDim, alpha: 1, a: x, lda: inDim,
               b: w, ldb: outDim, beta: 1, c: y, ldc: outDim)
}

/// dx = dy @ w^T (overwritten); dw += x^T @ dy; db += sum over rows of dy.
func linearBackward(_ gemm: any GEMMBackend, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                    dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
                    rows: Int, inDim: Int, outDim: Int, device: Device) {
    gemm.sgemm(transA: false, transB: true, m: rows, n: inDim, k: outDim, alpha: 1, a: dy, lda: outDim,
               b: w, ldb: outDim, beta: 0, c: dx, ldc: inDim)
    gemm.sgemm(transA: true, transB: false, m: inDim, n: outDim, k: rows, alpha: 1, a: x, lda: inDim,
               b: dy, ldb: outDim, beta: 1, c: dw, ldc: outDim)
    device.parallelFor(outDim, costPerItem: rows) { s, e in
        for j in s..<e {
            var acc: Float = 0
            for r in 0..<rows { acc += dy[r * outDim + j] }
            db[j] += acc
        }
    }
}

func layerNormForward(x: [Float], out: inout [Float], mean: inout [Float], rstd: inout [Float],
                      w: UnsafePointer<Float>, b: UnsafePointer<Float>, rows: Int, d: Int, device: Device) {
    x.withUnsafeBufferPointer { X in
        out.withUnsafeMutableBufferPointer { Y in
            mean.withUnsafeMutableBufferPointer { MU in
                rstd.withUnsafeMutableBufferPointer { RS in
                    let X = X.baseAddress!, Y = Y.baseAddress!, MU = MU.baseAddress!, RS = RS.baseAddress!
                    device.parallelFor(rows, costPerItem: 4 * d) { s, e in
                        for r in s..<e {
                            let xr = X + r * d
                            var m: Float = 0
                            for j in 0..<d { m += xr[j] }
                            m /= Float(d)
                            var v: Float = 0
                            for j in 0..<d { let c = xr[j] - m; v += c * c }
                            v /= Float(d)
                            let rs = 1 / (v + 1e-5).squareRoot()
                            MU[r] = m; RS[r] = rs
                            for j in 0..<d { Y[r * d + j] = (xr[j] - m) * rs * w[j] + b[j] }
                        }
                    }
                }
            }
        }
    }
}

/// dX (+)= LN backward of dOut; dW, dB accumulate.
func layerNormBackward(dOut: [Float], x: [Float], mean: [Float], rstd: [Float], w: UnsafePointer<Float>,
                       dX: inout [Float], dW: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>,
                       rows: Int, d: Int, device: Device, accumulate: Bool) {
    dOut.withUnsafeBufferPointer { DY in
        x.withUnsafeBufferPointer { X in
            dX.withUnsafeMutableBufferPointer { DX in
                let DY = DY.baseAddress!, X = X.baseAddress!, DX = DX.baseAddress!
                device.parallelFor(rows, costPerItem: 6 * d) { s, e in
                    for r in s..<e {
                        let m = mean[r], rs = rstd[r]
                        var sumG: Float = 0, sumGX: Float = 0
                        for j in 0..<d {
                            let g = DY[r * d + j] * w[j]
                            let xh = (X[r * d + j] - m) * rs
                            sumG += g; sumGX += g * xh
                        }
                        sumG /= Float(d); sumGX /= Float(d)
                        for j in 0..<d {
                            let g = DY[r * d + j] * w[j]
                            let xh = (X[r * d + j] - m) * rs
                            let v = rs * (g - sumG - xh * sumGX)
                            if accumulate { DX[r * d + j] += v } else { DX[r * d + j] = v }
                        }
                    }
                }
                // Parameter gradients: reduce over rows, threaded over columns.
                device.parallelFor(d, costPerItem: rows * 2) { s, e in
                    for j in s..<e {
                        var gw: Float = 0, gb: Float = 0
                        for r in 0..<rows {
                            let xh = (X[r * d + j] - mean[r]) * rstd[r]
                            gw += DY[r * d + j] * xh
                            gb += DY[r * d + j]
                        }
                        dW[j] += gw; dB[j] += gb
                    }
                }
            }
        }
    }
}

@inline(__always) func geluForward(_ x: Float) -> Float {
    let c: Float = 0.7978845608028654
    return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)))
}

@inline(__always) func geluDerivative(_ x: Float) -> Float {
    let c: Float = 0.7978845608028654
    let u = c * (x + 0.044715 * x * x * x)
    let t = tanh(u)
    let du = c * (1 + 3 * 0.044715 * x * x)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
}
