import ArgumentParser
import Foundation
import SwiftCap

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint to f16, int8 (per output channel) or q4 (groups of 32) weights, optionally magnitude-pruned.",
        discussion: """
        Writes a safetensors file (naming convention: docs/performance.md). Rank-2 tensors with at least \
        --min-elements elements are the weight matrices that get quantized/pruned; other tensors stay F32 (F16 \
        when the source was half precision, or with --to f16). The output loads anywhere a checkpoint does; \
        GPT-2 (ClipCap, SmallCap, the concept decoder), CLIP and BLIP keep its int8/q4 matrices quantized in \
        memory and run them with dequantize-on-the-fly kernels (`swiftcap bench quantized`, docs/performance.md).
        """)

    @Option(help: "Storage of weight matrices: f32, f16, int8 or q4 (default f32, e.g. when only pruning).")
    var to: String = "f32"
    @Option(name: .customLong("prune-magnitude"), help: "Fraction of each matrix's smallest |w| set to zero (e.g. 0.2, 0.4, 0.6).")
    var pruneMagnitude: Double?
    @Option(help: "Rank-2 tensors with at least this many elements count as weight matrices.")
    var minElements = 4096
    @Flag(help: "Print one line per tensor.") var verbose = false
    @OptionGroup var compute: ComputeOptions
    @Argument(help: "Input checkpoint (safetensors, GGUF, PyTorch or ONNX).") var input: String
    @Argument(help: "Output .safetensors file.") var output: String

    func validate() throws {
        guard QuantizeTarget(rawValue: to) != nil else {
            throw ValidationError("--to must be one of \(QuantizeTarget.allCases.map(\.rawValue).joined(separator: ", ")), got '\(to)'")
        }
        if let p = pruneMagnitude, !(p > 0 && p < 1) {
            throw ValidationError("--prune-magnitude must be between 0 and 1 (exclusive), got \(p)")
        }
        guard minElements >= 1 else { throw ValidationError("--min-elements must be at least 1") }
    }

    func run() throws {
        guard let target = QuantizeTarget(rawValue: to) else { throw ExitCode.validationFailure }
        let inURL = URL(fileURLWithPath: input), outURL = URL(fileURLWithPath: output)
        let start = Date()
        let report: CheckpointQuantizer.Report
        let inputBytes: Int
        do {
            let source = try Checkpoint.open(inURL)
            inputBytes = (try? FileManager.default.attributesOfItem(atPath: inURL.path)[.size] as? Int) ?? 0
            // A safetensors source keeps its own metadata (e.g. a model's vocabulary and format tag).
            var metadata = (source as? SafetensorsFile)?.metadata ?? [:]
            metadata["swiftcap.source"] = inURL.lastPathComponent
            report = try CheckpointQuantizer.convert(
                source, to: outURL,
                options: .init(target: target, pruneFraction: pruneMagnitude, minMatrixElements: minElements),
                device: compute.device, extraMetadata: metadata)
        } catch {
            printError("swiftcap quantize: \(error)")
            throw ExitCode.failure
        }
        if verbose {
            for r in report.rows {
                print("\(r.name)  \(r.shape)  \(r.sourceDType) -> \(r.storedAs)\(r.pruned ? " (pruned)" : "")  \(r.bytes) bytes")
            }
        }
        for note in report.notes { print("note: \(note)") }
        var counts: [String: Int] = [:]
        for r in report.rows { counts[r.storedAs, default: 0] += 1 }
        print("tensors: " + counts.keys.sorted().map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", ")
              + (pruneMagnitude.map { ", matrices pruned by magnitude (\($0))" } ?? ""))
        print(String(format: "size: %@ -> %@ bytes (%.2fx smaller) in %.1f s", String(inputBytes), String(report.outputBytes),
                     Double(inputBytes) / Double(max(report.outputBytes, 1)), Date().timeIntervalSince(start)))
        print("wrote \(outURL.path)")
    }
}

/// `swiftcap bench linear`: Device.linear with fp32 vs int8 vs q4 weights.
struct BenchLinear: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linear", abstract: "Milliseconds per Device.linear call with fp32, int8 and q4 weights (random data).")

    enum Layout: String, ExpressibleByArgument { case outIn = "out-in", inOut = "in-out" }
    enum Kernel: String, ExpressibleByArgument { case best, portable }

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Timed repetitions per shape (median reported).") var runs = 21
    @Option(help: "Shapes as MxNxK (input rows x out features x in features), comma separated.")
    var shapes = "1x768x768,1x3072x768,1x768x3072,5x2304x768,1x50257x768,4x3072x768,50x3072x768,197x3072x768"
    @Option(help: "Quantized weight layout: out-in (nn.Linear, scales per output) or in-out (GPT-2 Conv1D as stored, scales per input).")
    var layout: Layout = .outIn
    @Option(help: "Quantized kernels: best (AVX-512 where compiled in) or portable (plain C).") var kernel: Kernel = .best

    func run() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        let device = compute.device
        let qk: QuantKernel = kernel == .best ? .best : .portable
        print("backend: \(device.gemm.name)   threads: \(device.threads)   layout: \(layout.rawValue)   quantized kernels: \(kernel.rawValue)"
              + (QuantKernel.hasVectorKernels ? " (AVX-512 compiled in)" : " (no AVX-512 in this build)"))
        print(device.integerGEMMEnabled && QuantKernel.hasVectorKernels
              ? "int8: integer VNNI kernels (weights read in place for M < \(Device.integerGEMMMinRows), packed blocks above); "
                + "q4: fused dequantize-dot for M <= \(Device.quantizedGEMVMaxRows), block dequantize + sgemm above; fp32 = dense [out, in] weights"
              : "fused dequantize-dot kernels for M <= \(Device.quantizedGEMVMaxRows), block dequantize + sgemm above; fp32 = dense [out, in] weights")
        print(String(format: "memory read bandwidth: %.1f GB/s (%d threads, 256 MiB)", device.measureReadBandwidth(), device.threads))
        print(pad("M x N x K", 18) + pad("fp32 ms", 10) + pad("int8 ms", 10) + pad("q4 ms", 10) + pad("int8 speed-up", 15)
              + pad("q4 speed-up", 13) + pad("weights MB f32/int8/q4", 26) + "max |err| int8 / q4 (vs fp32 output)")
        for spec in shapes.split(separator: ",") {
            let dims = spec.split(separator: "x").compactMap { Int($0) }
            guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else { throw ValidationError("bad shape '\(spec)'") }
            let (m, n, k) = (dims[0], dims[1], dims[2])
            var rng = SplitMix64(seed: 3)
            let x = Tensor((0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }, shape: [m, k])
            let w = Tensor((0..<(n * k)).map { _ in (rng.nextFloat() - 0.5) * 0.1 }, shape: [n, k])
            let stored = layout == .outIn ? w : try w.transposed().contiguous()
            let q8 = try QuantizedMatrix(quantizing: stored, scheme: .int8, device: device)
            // q4 needs the stored matrix's columns to be a multiple of 32 (the quantizer falls back to int8 otherwise).
            let q4 = QuantScheme.q4.supports(rows: stored.shape[0], columns: stored.shape[1])
                ? try QuantizedMatrix(quantizing: stored, scheme: .q4, device: device) : nil
            func run(_ q: QuantizedMatrix) throws -> Tensor {
                layout == .outIn ? try device.linear(x, weight: q, kernel: qk) : try device.linear(x, weightInOut: q, kernel: qk)
            }
            let ref = try device.linear(x, weight: w)
            let e8 = try run(q8).maxAbsDifference(ref)
            let e4 = try q4.map { try run($0).maxAbsDifference(ref) }
            let tf = try time { _ = try device.linear(x, weight: w) }
            let t8 = try time { _ = try run(q8) }
            let t4 = try q4.map { q in try time { _ = try run(q) } }
            let mb = { (b: Int) in String(format: "%.1f", Double(b) / 1e6) }
            print(pad("\(m)x\(n)x\(k)", 18) + pad(String(format: "%.3f", tf), 10) + pad(String(format: "%.3f", t8), 10)
                  + pad(t4.map { String(format: "%.3f", $0) } ?? "–", 10) + pad(String(format: "%.2fx", tf / t8), 15)
                  + pad(t4.map { String(format: "%.2fx", tf / $0) } ?? "–", 13)
                  + pad("\(mb(n * k * 4)) / \(mb(q8.storedBytes)) / \(q4.map { mb($0.storedBytes) } ?? "–")", 26)
                  + String(format: "%.2e / ", e8) + (e4.map { String(format: "%.2e", $0) } ?? "–"))
        }
    }

    /// Median milliseconds of `body` (repeated so each sample lasts >= ~2 ms).
    func time(_ body: () throws -> Void) throws -> Double {
        try body()
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        let single = Double(DispatchTime.now().uptimeNanoseconds - t0)
        let inner = single < 2e6 ? max(1, Int(2e6 / max(single, 1))) : 1
        var samples: [Double] = []
        for _ in 0..<runs {
            let s = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<inner { try body() }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - s) / Double(inner) / 1e6)
        }
        samples.sort()
        return samples[samples.count / 2]
    }
}
