import XCTest
import Foundation
@testable import SwiftCapTensor

/// The OpenBLAS core chosen at run time: selection rules, and correctness of every core this CPU
/// can run against the portable reference (edge shapes where AVX-512 kernels have had bugs).
final class GEMMBackendTests: XCTestCase {
    func testCoreSelectionFollowsFeaturesAndExplicitChoice() {
        func features(avx2: Bool = false, fma: Bool = false, f: Bool = false, bw: Bool = false, bf16: Bool = false) -> CPUFeatures {
            CPUFeatures(avx2: avx2, fma: fma, avx512f: f, avx512bw: bw, avx512vnni: false, avx512bf16: bf16,
                        amxTile: false, amxBF16: false, amxInt8: false, neon: false)
        }
        let zen5 = features(avx2: true, fma: true, f: true, bw: true, bf16: true)
        XCTAssertEqual(OpenBLASCore.best(for: zen5), "Cooperlake")
        XCTAssertEqual(OpenBLASCore.best(for: features(avx2: true, fma: true, f: true, bw: true)), "SkylakeX")
        XCTAssertEqual(OpenBLASCore.best(for: features(avx2: true, fma: true)), "Haswell")
        XCTAssertNil(OpenBLASCore.best(for: features()))
        // An inherited OPENBLAS_CORETYPE does not count as a SwiftCap choice; SWIFTCAP_BLAS_CORE does.
        XCTAssertEqual(OpenBLASCore.resolve(environment: ["OPENBLAS_CORETYPE": "Haswell"], features: zen5), "Cooperlake")
        XCTAssertEqual(OpenBLASCore.resolve(environment: ["SWIFTCAP_BLAS_CORE": "SkylakeX"], features: zen5), "SkylakeX")
        XCTAssertNil(OpenBLASCore.resolve(environment: ["SWIFTCAP_BLAS_CORE": "openblas"], features: zen5))
        XCTAssertEqual(OpenBLASCore.resolve(environment: ["SWIFTCAP_BLAS_CORE": " "], features: zen5), "Cooperlake")
        XCTAssertEqual(OpenBLASCore.runnable(on: zen5), ["Haswell", "SkylakeX", "Cooperlake"])
    }

    /// Checks the process's default backend on shapes that stress kernel edges: odd sizes, M=1,
    /// K=1, N=1, large N, padded leading dimensions, every transpose, alpha/beta != 1.
    /// When SWIFTCAP_BLAS_CORE is set, also checks OpenBLAS really runs that core.
    func testDefaultBackendMatchesReferenceOnEdgeShapes() throws {
        let device = Device(threads: 2)
        #if os(Linux)
        if let requested = ProcessInfo.processInfo.environment[OpenBLASCore.environmentKey],
           requested.lowercased() != "openblas", let blas = device.gemm as? OpenBLASGEMM {
            XCTAssertEqual(blas.coreName.lowercased(), requested.lowercased(), "OpenBLAS did not load the requested core")
        }
        #endif
        let reference = ReferenceGEMM()
        // Values in [-0.5, 0.5): a pool drawn once, arrays are slices at varying offsets (fast in debug builds).
        var rng = SplitMix64(seed: 11)
        let pool = (0..<(1 << 18)).map { _ in rng.nextFloat() - 0.5 }
        var cursor = 0
        func values(_ count: Int) -> [Float] {
            var out: [Float] = []
            out.reserveCapacity(count)
            while out.count < count {
                let take = min(count - out.count, pool.count - cursor)
                out.append(contentsOf: pool[cursor..<(cursor + take)])
                cursor = (cursor + take) % pool.count
            }
            cursor = (cursor + 7919) % pool.count
            return out
        }
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (1, 768, 3072), (1, 3072, 768), (1, 50257, 64), (2, 4099, 17),
                                         (7, 1, 300), (33, 65, 1), (17, 31, 129), (50, 768, 768), (97, 255, 63),
                                         (1, 16, 16), (16, 1, 16), (128, 96, 257), (3, 2049, 5)]
        for (m, n, k) in shapes {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let pad = (m * n * k) % 3  // some padded leading dimensions
                let lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad
                let a = values((ta ? k : m) * lda)
                let b = values((tb ? n : k) * ldb)
                var c1 = values(m * ldc)
                var c2 = c1
                let (alpha, beta): (Float, Float) = pad == 0 ? (1, 0) : (0.75, -1.5)
                device.gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                  beta: beta, c: &c1, ldc: ldc)
                reference.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                beta: beta, c: &c2, ldc: ldc)
                var worst: Float = 0
                for i in 0..<m {
                    for j in 0..<n { worst = max(worst, abs(c1[i * ldc + j] - c2[i * ldc + j])) }
                    // Padding columns of C must be left alone.
                    for j in n..<ldc where c1[i * ldc + j] != c2[i * ldc + j] {
                        XCTFail("padding column \(j) written, \(m)x\(n)x\(k) tA=\(ta) tB=\(tb)")
                    }
                }
                // |terms| <= 0.25, K terms: float32 accumulation error stays far below 1e-5 * K.
                XCTAssertLessThanOrEqual(worst, 1e-5 * Float(k) + 1e-5, "\(device.gemm.name) \(m)x\(n)x\(k) tA=\(ta) tB=\(tb)")
            }
        }
    }

    /// beta == 0 means C is not read: stale NaNs must not survive (matrix-vector shapes take the sgemv route).
    func testBetaZeroIgnoresStaleOutput() {
        let device = Device(threads: 2)
        for (m, n, k) in [(1, 300, 20), (300, 1, 20), (5, 7, 3)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = [Float](repeating: 1, count: m * k), b = [Float](repeating: 0.5, count: k * n)
                var c = [Float](repeating: .nan, count: m * n)
                device.gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a, lda: ta ? m : k,
                                  b: b, ldb: tb ? k : n, beta: 0, c: &c, ldc: n)
                XCTAssertTrue(c.allSatisfy { $0 == Float(k) * 0.5 }, "\(m)x\(n)x\(k) tA=\(ta) tB=\(tb): \(c.prefix(4))")
            }
        }
    }

    /// Runs the edge-shape test in a child process per OpenBLAS core this CPU supports
    /// (the core can only be chosen once per process).
    func testEveryRunnableOpenBLASCoreMatchesReference() throws {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment[OpenBLASCore.environmentKey] == nil else {
            throw XCTSkip("child process of this test")
        }
        guard (Device(threads: 1).gemm as? OpenBLASGEMM)?.isOpen == true else { throw XCTSkip("no OpenBLAS") }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0])
        let cores = OpenBLASCore.runnable(on: .detect())
        if cores.isEmpty { throw XCTSkip("no x86 OpenBLAS core to test on this CPU") }
        for core in cores {
            let process = Process()
            process.executableURL = executable
            process.arguments = ["SwiftCapTensorTests.GEMMBackendTests/testDefaultBackendMatchesReferenceOnEdgeShapes"]
            var env = ProcessInfo.processInfo.environment
            env[OpenBLASCore.environmentKey] = core
            process.environment = env
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "core \(core):\n\(output.suffix(3000))")
            XCTAssertTrue(output.contains("Executed 1 test"), "core \(core) ran no test:\n\(output.suffix(2000))")
        }
        #else
        throw XCTSkip("OpenBLAS core selection is Linux-only")
        #endif
    }
}
