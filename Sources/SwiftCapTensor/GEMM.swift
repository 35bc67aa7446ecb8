import Foundation
import CKernels
#if canImport(Accelerate)
import Accelerate
#endif

/// Single-precision matrix multiply, row-major:
/// `C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C[m,n]`, where op transposes when asked.
/// Leading dimensions are row strides in elements.
public protocol GEMMBackend: Sendable {
    var name: String { get }
    func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int)
}

/// Portable reference GEMM in C (single-threaded, unblocked). For tests and platforms without BLAS.
public struct ReferenceGEMM: GEMMBackend {
    public init() {}
    public var name: String { "reference (portable C loops)" }
    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sc_sgemm_ref(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
                     a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

#if canImport(Accelerate)
/// Apple's Accelerate BLAS.
public struct AccelerateGEMM: GEMMBackend {
    public init(threads: Int) {}
    public var name: String { "Accelerate" }
    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
func defaultGEMMBackend(threads: Int) -> any GEMMBackend { AccelerateGEMM(threads: threads) }
#elseif os(Linux)
/// OpenBLAS through its CBLAS interface, opened at run time (`dlopen`, see Sources/CKernels/blas.c)
/// so SwiftCap picks the kernel set ("core type") before OpenBLAS initialises. Debian's OpenBLAS is
/// built DYNAMIC_ARCH; an inherited `OPENBLAS_CORETYPE=Haswell` would otherwise pin it to AVX2
/// kernels on AVX-512 machines (2-4x slower on transformer shapes, see docs/performance.md).
///
/// OpenBLAS keeps one process-wide thread count; each call sets it to this backend's count when
/// it differs. The library, and so the core, is chosen once per process by the first backend made.
public struct OpenBLASGEMM: GEMMBackend {
    public let threads: Int
    /// False when no OpenBLAS could be opened (this value then computes with the portable loops).
    public let isOpen: Bool

    /// Opens OpenBLAS with the core `OpenBLASCore.resolve()` chooses (or returns the library already
    /// open in this process). Falls back to the portable loops when no OpenBLAS can be opened;
    /// `OpenBLASGEMM.load` reports that as an error instead.
    public init(threads: Int) {
        self.threads = max(1, threads)
        switch sc_blas_state() {
        case 1: self.isOpen = true  // already open: the core is fixed, skip the environment/cpuid look-up
        case -1: self.isOpen = false
        default: self.isOpen = (try? OpenBLASGEMM.open(core: OpenBLASCore.resolve())) != nil
        }
    }

    private init(loadedThreads: Int) {
        self.threads = max(1, loadedThreads)
        self.isOpen = true
    }

    /// Opens OpenBLAS with `core` (an OpenBLAS core name such as "Cooperlake", or nil to keep the
    /// environment's `OPENBLAS_CORETYPE` / OpenBLAS's own detection).
    /// - throws: `GEMMBackendError.unavailable` when libopenblas cannot be opened.
    public static func load(threads: Int, core: String?) throws -> OpenBLASGEMM {
        try open(core: core)
        return OpenBLASGEMM(loadedThreads: threads)
    }

    static func open(core: String?) throws {
        var message = [CChar](repeating: 0, count: 512)
        let ok: Int32
        if let core { ok = sc_blas_open(nil, core, &message, message.count) }
        else { ok = sc_blas_open(nil, nil, &message, message.count) }
        if ok == 0 {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw GEMMBackendError.unavailable(text)
        }
    }

    /// The core OpenBLAS runs, e.g. "Cooperlake".
    public var coreName: String { String(cString: sc_blas_corename()) }

    public var name: String {
        guard isOpen else { return "reference (portable C loops; OpenBLAS not available)" }
        return "OpenBLAS (\(String(cString: sc_blas_config())), core \(coreName), \(threads) threads)"
    }

    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard isOpen else {
            ReferenceGEMM().sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if sc_blas_get_num_threads() != Int32(threads) { sc_blas_set_num_threads(Int32(threads)) }
        sc_blas_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                      b, Int32(ldb), beta, c, Int32(ldc))
    }
}
func defaultGEMMBackend(threads: Int) -> any GEMMBackend {
    (try? OpenBLASGEMM.load(threads: threads, core: OpenBLASCore.resolve())) ?? ReferenceGEMM()
}
#else
func defaultGEMMBackend(threads: Int) -> any GEMMBackend { ReferenceGEMM() }
#endif

/// Errors from choosing or opening a GEMM backend.
public enum GEMMBackendError: Error, CustomStringConvertible, Equatable {
    case unavailable(String)
    public var description: String {
        switch self { case .unavailable(let why): return "GEMM backend unavailable: \(why)" }
    }
}

/// Which OpenBLAS kernel set ("core type") SwiftCap asks for.
///
/// Order of precedence: `SWIFTCAP_BLAS_CORE` (an OpenBLAS core name, or `openblas` to keep
/// `OPENBLAS_CORETYPE` / OpenBLAS's own detection), then the best core for the CPU's features.
public enum OpenBLASCore {
    /// The environment variable that names the core explicitly.
    public static let environmentKey = "SWIFTCAP_BLAS_CORE"

    /// The core for this process: the explicit choice in `environment`, else `best(for:)`.
    /// nil means "do not override OpenBLAS".
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                               features: CPUFeatures = .detect()) -> String? {
        if let explicit = environment[environmentKey]?.trimmingCharacters(in: .whitespaces), !explicit.isEmpty {
            return explicit.lowercased() == "openblas" ? nil : explicit
        }
        return best(for: features)
    }

    /// The fastest OpenBLAS 0.3.21 core these features can run (measured, docs/performance.md):
    /// Cooperlake (AVX-512 + BF16), SkylakeX (AVX-512F/BW), Haswell (AVX2 + FMA); nil elsewhere
    /// (OpenBLAS's own detection).
    public static func best(for features: CPUFeatures) -> String? {
        if features.avx512f && features.avx512bw && features.avx512bf16 { return "Cooperlake" }
        if features.avx512f && features.avx512bw { return "SkylakeX" }
        if features.avx2 && features.fma { return "Haswell" }
        return nil
    }

    /// The cores the correctness tests exercise on this CPU (each one it can run).
    public static func runnable(on features: CPUFeatures) -> [String] {
        var cores: [String] = []
        if features.avx2 && features.fma { cores.append("Haswell") }
        if features.avx512f && features.avx512bw { cores.append("SkylakeX") }
        if features.avx512f && features.avx512bw && features.avx512bf16 { cores.append("Cooperlake") }
        return cores
    }
}
