import Foundation
import CKernels

/// Which implementation of the quantized kernels to run.
public enum QuantKernel: Sendable, CaseIterable {
    /// AVX-512 where compiled in (`-march=native` on an AVX-512 machine), the portable loops otherwise.
    case best
    /// Plain C loops (what ARM/Apple and older x86 run); for tests and comparisons.
    case portable

    /// Whether `.best` has vector kernels on this build.
    public static var hasVectorKernels: Bool { sc_quant_has_vector_kernels() != 0 }
    /// Whether `.best` runs int8 weights on many input rows through the VNNI integer GEMM on this build.
    public static var hasIntegerGEMM: Bool { sc_qgemm_has_vnni() != 0 }
    var flag: Int32 { self == .portable ? 1 : 0 }
}

/// The weight of a fully connected layer as a model holds it in memory: dense fp32 or quantized.
///
/// A model binds each layer once (`Weights.linearWeight` / `.conv1DWeight` in SwiftCapFormats) and calls
/// `Device.linear(_:weight:bias:)`; an int8/q4 checkpoint thereby stays int8/q4 in memory (its bytes
/// borrowed from the file mapping) and is dequantized on the fly inside the kernels.
public enum LinearWeight: Sendable {
    /// fp32 [out, in] (`nn.Linear` layout).
    case dense(Tensor)
    /// Quantized [out, in]: int8 scales per output feature, q4 scales per output feature and 32 inputs.
    case quantized(QuantizedMatrix)
    /// Quantized [in, out] (GPT-2 `Conv1D` as stored): int8 scales per input feature, q4 scales per
    /// input feature and 32 outputs.
    case quantizedInOut(QuantizedMatrix)

    /// Input features.
    public var inFeatures: Int {
        switch self {
        case .dense(let t): return t.shape[1]
        case .quantized(let m): return m.columns
        case .quantizedInOut(let m): return m.rows
        }
    }

    /// Output features.
    public var outFeatures: Int {
        switch self {
        case .dense(let t): return t.shape[0]
        case .quantized(let m): return m.rows
        case .quantizedInOut(let m): return m.columns
        }
    }

    /// Bytes the weight occupies in memory (fp32: 4 per element; quantized: data plus fp32 scales; f16: 2 per element).
    public var memoryBytes: Int {
        switch self {
        case .dense(let t): return t.count * 4
        case .quantized(let m), .quantizedInOut(let m): return m.data.count + m.scales.count * 4
        }
    }

    /// "f32", "int8", "q4" or "f16".
    public var storageName: String {
        switch self {
        case .dense: return "f32"
        case .quantized(let m), .quantizedInOut(let m): return m.scheme.rawValue
        }
    }

    /// The fp32 [out, in] matrix this weight stands for (dequantized and transposed as needed).
    public func denseOutIn(device: Device) throws -> Tensor {
        switch self {
        case .dense(let t): return t
        case .quantized(let m): return m.dequantized(device: device)
        case .quantizedInOut(let m): return try m.dequantized(device: device).transposed().contiguous()
        }
    }
}

extension Device {
    /// Inputs with at most this many rows use the fused dequantize-and-dot kernels (weights read once
    /// per 4 input rows); more rows dequantize blocks of the weight into a scratch buffer and call sgemm.
    /// Chosen by measurement (docs/performance.md): on 3072×768 weights the fused kernels beat the
    /// block path up to 48–64 rows (int8 1.7 vs 2.2 ms at 64), q4 [in, out] breaks even at 64.
    public static let quantizedGEMVMaxRows = 64

    /// `x[…, in] @ W + bias[out]` for any `LinearWeight` (dense weights take the fp32 `linear`).
    public func linear(_ x: Tensor, weight: LinearWeight, bias: Tensor? = nil) throws -> Tensor {
        switch weight {
        case .dense(let w): return try linear(x, weight: w, bias: bias)
        case .quantized(let m): return try linear(x, weight: m, bias: bias)
        case .quantizedInOut(let m): return try linear(x, weightInOut: m, bias: bias)
        }
    }

    /// `nn.Linear` with quantized weights [out, in]: `x[…, in] @ weight[out, in]ᵀ + bias[out]`.
    /// Weights are dequantized on the fly (never materialised whole): in registers for up to
    /// `quantizedGEMVMaxRows` input rows (decode steps), per block of rows followed by sgemm above.
    public func linear(_ x: Tensor, weight: QuantizedMatrix, bias: Tensor? = nil, kernel: QuantKernel = .best) throws -> Tensor {
        try quantizedLinear(x, weight: weight, inOut: false, bias: bias, kernel: kernel)
    }

    /// Fully connected layer with a quantized weight stored [in, out] (GPT-2 `Conv1D`):
    /// `x[…, in] @ weight[in, out] + bias[out]`.
    public func linear(_ x: Tensor, weightInOut weight: QuantizedMatrix, bias: Tensor? = nil, kernel: QuantKernel = .best) throws -> Tensor {
        try quantizedLinear(x, weight: weight, inOut: true, bias: bias, kernel: kernel)
    }

    private func quantizedLinear(_ x: Tensor, weight: QuantizedMatrix, inOut: Bool, bias: Tensor?, kernel: QuantKernel) throws -> Tensor {
        let op = inOut ? "linear(quantized weightInOut:)" : "linear(quantized)"
        let outF = inOut ? weight.columns : weight.rows, inF = inOut ? weight.rows : weight.columns
        guard x.rank >= 1, x.shape[x.rank - 1] == inF else {
            throw TensorError.shapeMismatch(op: op, "input \(x.shape), weight \(inOut ? "[in, out] " : "")\(weight.shape)")
        }
        if let bias, bias.shape != [outF] {
            throw TensorError.shapeMismatch(op: op, "bias \(bias.shape) for weight \(weight.shape)")
        }
        let xc = x.contiguous()
        let rows = x.count / inF
        let out = Tensor(zeros: Array(x.shape.dropLast()) + [outF])
        if rows == 0 { return out }
        let pc = out.contiguousPointer, px = UnsafePointer(xc.contiguousPointer)
        var accumulate = false
        if let bias {
            let bc = bias.contiguous()
            let src = bc.contiguousPointer
            for r in 0..<rows { (pc + r * outF).update(from: src, count: outF) }
            accumulate = true
            withExtendedLifetime(bc.storage) {}
        }
        let code = weight.scheme.code, flag = kernel.flag
        let qdata = weight.data.pointer
        let acc: Int32 = accumulate ? 1 : 0
        if weight.scheme == .int8, kernel == .best, integerGEMMEnabled, QuantKernel.hasIntegerGEMM {
            try integerGEMM(px, rows: rows, weight: weight, inOut: inOut, into: pc, accumulate: accumulate, portable: false)
            withExtendedLifetime((xc.storage, weight.data)) {}
            return out
        }
        weight.withScales { sp in
            if rows <= Device.quantizedGEMVMaxRows {
                if inOut {
                    // Output columns in blocks of 64 (the vector kernel's width; two q4 groups).
                    let blocks = (outF + 63) / 64
                    parallelFor(blocks, costPerItem: 64 * inF * rows) { b0, b1 in
                        sc_qgemv_kn(code, qdata, sp, Int32(inF), Int32(outF), Int32(b0 * 64), Int32(min(outF, b1 * 64)),
                                    px, Int32(rows), Int32(inF), pc, Int32(outF), acc, flag)
                    }
                } else {
                    // Output rows in multiples of 4 (the vector kernel's block).
                    let blocks = (outF + 3) / 4
                    parallelFor(blocks, costPerItem: 4 * inF * rows) { b0, b1 in
                        sc_qgemv_nk(code, qdata, sp, Int32(inF), Int32(b0 * 4), Int32(min(outF, b1 * 4)),
                                    px, Int32(rows), Int32(inF), pc, Int32(outF), acc, flag)
                    }
                }
                return
            }
            // Many rows: dequantize ~4 MB blocks of weight rows (threaded) into a scratch, then one sgemm each.
            let stored = weight.columns
            // ~4 MB of fp32 scratch per block: 256 KB–1 MB blocks measured no faster (docs/performance.md).
            let block = max(16, min(weight.rows, (1 << 20) / max(stored, 1)))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: block * stored)
            defer { scratch.deallocate() }
            var r0 = 0
            while r0 < weight.rows {
                let r1 = min(weight.rows, r0 + block)
                parallelFor(r1 - r0, costPerItem: stored) { a, b in
                    sc_dequantize_rows(code, qdata, sp, Int32(stored), Int32(r0 + a), Int32(r0 + b), scratch + a * stored)
                }
                if inOut {
                    // Input features r0..<r1: C += X[:, r0..<r1] · Wblock[r1 - r0, out].
                    gemm.sgemm(transA: false, transB: false, m: rows, n: outF, k: r1 - r0, alpha: 1, a: px + r0, lda: inF,
                               b: scratch, ldb: outF, beta: (accumulate || r0 > 0) ? 1 : 0, c: pc, ldc: outF)
                } else {
                    // Output features r0..<r1: C[:, r0..<r1] (+)= X · Wblockᵀ.
                    gemm.sgemm(transA: false, transB: true, m: rows, n: r1 - r0, k: inF, alpha: 1, a: px, lda: inF,
                               b: scratch, ldb: inF, beta: accumulate ? 1 : 0, c: pc + r0, ldc: outF)
                }
                r0 = r1
            }
        }
        withExtendedLifetime((xc.storage, weight.data)) {}
        return out
    }

    /// int8 weights run on integer kernels where VNNI is compiled in (`Device.integerGEMMEnabled`):
    /// activations quantized per row to int8, VPDPBUSD, int32 sums. Inputs with at least this many rows
    /// use the packed GEMM (`sc_qgemm_u8s8`); fewer rows (decode steps) read the weights in place
    /// (`sc_qgemv_u8s8`).
    public static let integerGEMMMinRows = 16

    /// `y[rows, out] (+)= x[rows, in] · W` with int8 `weight` ([out, in], or [in, out] when `inOut`) on the
    /// integer kernel: each input row is quantized to int8 with its own scale (for [in, out] weights after
    /// multiplying by the per-input-feature scales), products summed in int32, rescaled to fp32.
    /// Error per output ≤ Σₖ |w[k]| · scale(row) / 2 beyond the weights' own rounding.
    /// `portable` runs the plain C loops (bit-identical results) instead of the vector kernel.
    public func integerGEMM(_ x: UnsafePointer<Float>, rows: Int, weight: QuantizedMatrix, inOut: Bool,
                            into y: UnsafeMutablePointer<Float>, accumulate: Bool, portable: Bool) throws {
        guard weight.scheme == .int8 else {
            throw TensorError.invalidArgument(op: "integerGEMM", "needs int8 weights, got \(weight.scheme)")
        }
        let inF = inOut ? weight.rows : weight.columns, outF = inOut ? weight.columns : weight.rows
        let kp = (inF + 3) & ~3
        let qa = UnsafeMutablePointer<UInt8>.allocate(capacity: rows * kp)
        defer { qa.deallocate() }
        var sa = [Float](repeating: 0, count: rows)
        let qw = weight.data.pointer.assumingMemoryBound(to: Int8.self)
        weight.withScales { sp in
            sa.withUnsafeMutableBufferPointer { sab in
                let psa = sab.baseAddress!
                parallelFor(rows, costPerItem: inF * 4) { r0, r1 in
                    sc_quantize_activations_u8(x, Int32(inF), inOut ? sp : nil, Int32(inF), Int32(kp), Int32(r0), Int32(r1), qa, psa)
                }
                if rows < Device.integerGEMMMinRows {
                    // Decode steps: weights read in place (4 output rows / 64 output columns per block).
                    let width = inOut ? 64 : 4
                    parallelFor((outF + width - 1) / width, costPerItem: width * inF * rows / 4) { b0, b1 in
                        sc_qgemv_u8s8(inOut ? 1 : 0, qw, sp, Int32(inF), Int32(outF), Int32(b0 * width), Int32(min(outF, b1 * width)),
                                      qa, Int32(kp), psa, Int32(rows), y, Int32(outF), accumulate ? 1 : 0, portable ? 1 : 0)
                    }
                    return
                }
                let blocks = (outF + 31) / 32
                parallelFor(blocks, costPerItem: 32 * inF * rows / 4) { b0, b1 in
                    sc_qgemm_u8s8(inOut ? 1 : 0, qw, sp, Int32(inF), Int32(outF), Int32(b0 * 32), Int32(min(outF, b1 * 32)),
                                  qa, Int32(kp), psa, Int32(rows), y, Int32(outF), accumulate ? 1 : 0, portable ? 1 : 0)
                }
            }
        }
        withExtendedLifetime(weight.data) {}
    }

    /// Embedding lookup in a table held as a `LinearWeight` (a tied GPT-2 `wte`): row `ids[i]` of the
    /// [vocab, dim] table. Quantized tables dequantize only the rows looked up.
    /// ids: `shape` (default [ids.count]) -> shape + [dim]. The [in, out] layout cannot serve as a table.
    public func embedding(_ ids: [Int], table: LinearWeight, shape: [Int]? = nil) throws -> Tensor {
        switch table {
        case .dense(let t): return try embedding(ids, table: t, shape: shape)
        case .quantizedInOut(let m):
            throw TensorError.invalidArgument(op: "embedding", "a quantized [in, out] matrix \(m.shape) cannot be an embedding table")
        case .quantized(let m):
            let idShape = shape ?? [ids.count]
            guard idShape.reduce(1, *) == ids.count else {
                throw TensorError.shapeMismatch(op: "embedding", "\(ids.count) ids for shape \(idShape)")
            }
            for id in ids where id < 0 || id >= m.rows {
                throw IndexError.outOfRange(op: "embedding", index: id, count: m.rows)
            }
            let dim = m.columns
            let out = Tensor(zeros: idShape + [dim])
            let dst = out.contiguousPointer
            let code = m.scheme.code, qdata = m.data.pointer
            m.withScales { sp in
                ids.withUnsafeBufferPointer { idp in
                    parallelFor(ids.count, costPerItem: dim) { start, end in
                        for i in start..<end {
                            sc_dequantize_rows(code, qdata, sp, Int32(dim), Int32(idp[i]), Int32(idp[i] + 1), dst + i * dim)
                        }
                    }
                }
            }
            withExtendedLifetime(m.data) {}
            return out
        }
    }
}

extension QuantizedMatrix {
    /// Stacks matrices of one scheme and column count along the rows (fused q/k/v): a new owned matrix.
    public static func concatenatingRows(_ parts: [QuantizedMatrix]) throws -> QuantizedMatrix {
        guard let first = parts.first else { throw QuantError.invalidMatrix("nothing to concatenate") }
        guard parts.allSatisfy({ $0.scheme == first.scheme && $0.columns == first.columns }) else {
            throw QuantError.invalidMatrix("cannot stack \(parts.map { "\($0.scheme) \($0.shape)" }) (one scheme and column count needed)")
        }
        let rows = parts.reduce(0) { $0 + $1.rows }
        let bytes = QuantizedBytes(count: parts.reduce(0) { $0 + $1.data.count })
        guard let dst = bytes.mutablePointer else { throw QuantError.invalidMatrix("internal: unowned buffer") }
        var offset = 0
        for p in parts {
            (dst + offset).copyMemory(from: p.data.pointer, byteCount: p.data.count)
            offset += p.data.count
        }
        return try QuantizedMatrix(scheme: first.scheme, rows: rows, columns: first.columns, data: bytes,
                                   scales: parts.flatMap(\.scales))
    }
}

extension LinearWeight {
    /// [out, in] weights stacked along the outputs (fused q/k/v): quantized when every part is quantized
    /// [out, in] with one scheme, dense fp32 otherwise.
    public static func concatenatingOutputs(_ parts: [LinearWeight], device: Device) throws -> LinearWeight {
        var quantized: [QuantizedMatrix] = []
        for p in parts { if case .quantized(let m) = p { quantized.append(m) } }
        if quantized.count == parts.count, Set(quantized.map(\.scheme)).count == 1 {
            return .quantized(try QuantizedMatrix.concatenatingRows(quantized))
        }
        return .dense(try device.concat(parts.map { try $0.denseOutIn(device: device) }, dim: 0))
    }
}
