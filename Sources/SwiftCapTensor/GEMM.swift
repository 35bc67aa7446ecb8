import CKernels
#if canImport(Accelerate)
import Accelerate
#elseif canImport(CBLAS)
import CBLAS
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
#elseif canImport(CBLAS)
/// OpenBLAS through its CBLAS interface. OpenBLAS keeps one process-wide thread count;
/// each call sets it to this backend's count when it differs.
public struct OpenBLASGEMM: GEMMBackend {
    public let threads: Int
    public init(threads: Int) { self.threads = threads }
    public var name: String {
        let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
        let config = openblas_get_config().map { String(cString: $0) } ?? "?"
        return "OpenBLAS (\(config), core \(core), \(threads) threads)"
    }
    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if openblas_get_num_threads() != Int32(threads) { openblas_set_num_threads(Int32(threads)) }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
func defaultGEMMBackend(threads: Int) -> any GEMMBackend { OpenBLASGEMM(threads: threads) }
#else
func defaultGEMMBackend(threads: Int) -> any GEMMBackend { ReferenceGEMM() }
#endif
