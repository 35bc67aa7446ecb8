import ArgumentParser
import Foundation
import SwiftCap

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (prints a table of medians).",
        subcommands: [BenchGEMM.self, BenchLinear.self, BenchImage.self, BenchTokenizers.self, BenchEmbed.self, BenchConcepts.self, BenchOps.self, BenchModel.self, BenchCaption.self, BenchBatch.self, BenchQuantized.self, BenchQuantQuality.self, BenchPeers.self])
}

struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "GFLOP/s of square and transformer-shaped GEMMs.")

    @OptionGroup var compute: ComputeOptions
    @Option(help: "Timed repetitions per shape (median reported).") var runs = 15
    @Flag(help: "Also time the portable reference kernel (slow).") var reference = false
    @Option(name: .long, help: ArgumentHelp(
        "OpenBLAS core type to load (e.g. Haswell, SkylakeX, Cooperlake; 'openblas' keeps OPENBLAS_CORETYPE). "
        + "Default: $SWIFTCAP_BLAS_CORE, else the best core for this CPU.", valueName: "core"))
    var blasCore: String?

    func run() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        // The OpenBLAS core is fixed when the library is first opened: choose it before any Device exists.
        let device: Device
        #if os(Linux)
        if let blasCore {
            let core: String? = blasCore.lowercased() == "openblas" ? nil : blasCore
            let threads = max(1, compute.threads ?? Device.availableCores)
            let gemm = try OpenBLASGEMM.load(threads: threads, core: core)
            if let core, gemm.coreName.lowercased() != core.lowercased() {
                printError("note: asked OpenBLAS for core \(core), it runs \(gemm.coreName) "
                           + "(unknown name, or the library was already open in this process)")
            }
            device = Device(threads: threads, gemm: gemm)
        } else {
            device = compute.device
        }
        #else
        if blasCore != nil { throw ValidationError("--blas-core applies to OpenBLAS on Linux only") }
        device = compute.device
        #endif
        print("backend: \(device.gemm.name)")
        print("core chosen by: \(blasCore != nil ? "--blas-core" : ProcessInfo.processInfo.environment[OpenBLASCore.environmentKey] != nil ? "$" + OpenBLASCore.environmentKey : "CPU features") "
              + "(inherited OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"))")
        print("cpu features: \(CPUFeatures.detect())")
        let shapes: [(String, Int, Int, Int)] = [
            ("square", 256, 256, 256), ("square", 512, 512, 512), ("square", 1024, 1024, 1024),
            ("square", 2048, 2048, 2048),
            ("ViT-B/32 qkv (50x768x2304)", 50, 2304, 768), ("ViT-B/32 mlp (50x768x3072)", 50, 3072, 768),
            ("attn proj (50x768x768)", 50, 768, 768), ("decode step mlp (1x768x3072)", 1, 3072, 768),
            ("decode step lm head (1x768x50257)", 1, 50257, 768), ("ViT-B/16 mlp (197x768x3072)", 197, 3072, 768),
        ]
        var backends: [any GEMMBackend] = [device.gemm]
        if reference { backends.append(ReferenceGEMM()) }
        print(pad("shape", 36) + pad("M", 6) + pad("N", 7) + pad("K", 6) + backends.map { pad("GFLOP/s " + shortName($0) + " median / best", 34) }.joined())
        for (label, m, n, k) in shapes {
            var row = pad(label, 36) + pad("\(m)", 6) + pad("\(n)", 7) + pad("\(k)", 6)
            for backend in backends {
                let (median, best) = measure(backend, m: m, n: n, k: k)
                row += pad(String(format: "%.1f / %.1f", median, best), 34)
            }
            print(row)
        }
    }

    func shortName(_ b: any GEMMBackend) -> String { String(b.name.prefix(while: { $0 != " " })) }

    /// GFLOP/s at the median and at the fastest sample (the best sample shows what the machine
    /// allows when other processes share the cores).
    func measure(_ backend: any GEMMBackend, m: Int, n: Int, k: Int) -> (median: Double, best: Double) {
        var rng = SplitMix64(seed: 1)
        let a = (0..<(m * k)).map { _ in rng.nextFloat() }
        let b = (0..<(k * n)).map { _ in rng.nextFloat() }
        var c = [Float](repeating: 0, count: m * n)
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        // Repeat small shapes so each sample lasts >= ~2 ms.
        var inner = 1
        func once() { backend.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: &c, ldc: n) }
        once()
        let t0 = DispatchTime.now().uptimeNanoseconds
        once()
        let single = Double(DispatchTime.now().uptimeNanoseconds - t0)
        if single < 2e6 { inner = max(1, Int(2e6 / max(single, 1))) }
        var samples: [Double] = []
        for _ in 0..<runs {
            let s = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<inner { once() }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - s) / Double(inner))
        }
        samples.sort()
        return (flops / samples[samples.count / 2], flops / samples[0])
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}
