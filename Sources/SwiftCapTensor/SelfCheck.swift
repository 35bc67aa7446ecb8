/// A quick check that the GEMM backend and core ops compute correct values on this machine.
public enum SelfCheck {
    public struct Report: Sendable {
        public var lines: [String] = []
        public var passed = true
    }

    public static func run(device: Device) -> Report {
        var report = Report()
        var rng = SplitMix64(seed: 42)
        let reference = ReferenceGEMM()
        for (m, n, k) in [(1, 768, 3072), (50, 768, 768), (67, 129, 255)] {
            for (ta, tb) in [(false, false), (false, true), (true, false)] {
                let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }
                let b = (0..<(k * n)).map { _ in rng.nextFloat() - 0.5 }
                var c1 = [Float](repeating: 0, count: m * n), c2 = c1
                let lda = ta ? m : k, ldb = tb ? k : n
                device.gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                                  beta: 0, c: &c1, ldc: n)
                reference.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                                beta: 0, c: &c2, ldc: n)
                var err: Float = 0
                for i in 0..<(m * n) { err = max(err, abs(c1[i] - c2[i])) }
                let ok = err <= 1e-3
                if !ok { report.passed = false }
                report.lines.append("gemm \(m)x\(n)x\(k) tA=\(ta) tB=\(tb): max abs error \(err) \(ok ? "ok" : "FAILED")")
            }
        }
        return report
    }
}

/// Small deterministic random generator (SplitMix64) for tests, benchmarks and random weights.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
