import Foundation
import Dispatch
import CKernels

/// CPU features reported by cpuid (x86-64) or the architecture (ARM).
public struct CPUFeatures: Sendable, CustomStringConvertible {
    public let avx2, fma, avx512f, avx512bw, avx512vnni, avx512bf16, amxTile, amxBF16, amxInt8, neon: Bool

    public static func detect() -> CPUFeatures {
        let f = sc_detect_cpu_features()
        return CPUFeatures(avx2: f.avx2 != 0, fma: f.fma != 0, avx512f: f.avx512f != 0, avx512bw: f.avx512bw != 0,
                           avx512vnni: f.avx512vnni != 0, avx512bf16: f.avx512bf16 != 0, amxTile: f.amx_tile != 0,
                           amxBF16: f.amx_bf16 != 0, amxInt8: f.amx_int8 != 0, neon: f.neon != 0)
    }

    public var names: [String] {
        var n: [String] = []
        if avx2 { n.append("avx2") }
        if fma { n.append("fma") }
        if avx512f { n.append("avx512f") }
        if avx512bw { n.append("avx512bw") }
        if avx512vnni { n.append("avx512vnni") }
        if avx512bf16 { n.append("avx512bf16") }
        if amxTile { n.append("amx-tile") }
        if amxBF16 { n.append("amx-bf16") }
        if amxInt8 { n.append("amx-int8") }
        if neon { n.append("neon") }
        return n
    }

    public var description: String { names.isEmpty ? "(none detected)" : names.joined(separator: " ") }
}

/// Gives heap pages freed by the allocator back to the OS (glibc `malloc_trim`); call after a load that
/// read large temporary tensors (e.g. fp32 weights quantized and dropped), which glibc would keep resident.
public func releaseFreedHeapMemory() { _ = sc_release_freed_heap() }

/// Where tensor work runs: a thread count and a GEMM backend. Passed explicitly to every op;
/// there is no global device.
public struct Device: Sendable {
    public let threads: Int
    public let gemm: any GEMMBackend
    /// Persistent workers for `parallelFor` (threads − 1 of them; nil for one thread or when
    /// SWIFTCAP_POOL=0). Shared by copies of this device.
    let pool: WorkerPool?
    /// Whether int8 weights meeting `integerGEMMMinRows` input rows run on the integer GEMM (activations
    /// rounded to int8 per row; `Device.integerGEMM`). On by default where VNNI is compiled in;
    /// `SWIFTCAP_INT8_GEMM=0` or `withIntegerGEMM(false)` keeps fp32 activations (dequantize + sgemm).
    public private(set) var integerGEMMEnabled: Bool

    /// This device with the integer GEMM switched on or off (same threads, backend and worker pool).
    public func withIntegerGEMM(_ enabled: Bool) -> Device {
        var d = self
        d.integerGEMMEnabled = enabled
        return d
    }

    /// Number of cores the OS reports as active.
    public static var availableCores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// A CPU device. `threads` defaults to the number of cores; `gemm` to the best backend on this platform.
    public init(threads: Int? = nil, gemm: (any GEMMBackend)? = nil) {
        let t = max(1, threads ?? Device.availableCores)
        self.threads = t
        self.gemm = gemm ?? defaultGEMMBackend(threads: t)
        let env = ProcessInfo.processInfo.environment
        self.integerGEMMEnabled = env["SWIFTCAP_INT8_GEMM"] != "0"
        self.pool = t > 1 && env["SWIFTCAP_POOL"] != "0"
            ? WorkerPool(workers: t - 1, spinMicroseconds: env["SWIFTCAP_POOL_SPIN_US"].flatMap { Int($0) } ?? 50) : nil
    }

    /// The default CPU device (all cores, platform BLAS).
    public static func cpu(threads: Int? = nil) -> Device { Device(threads: threads) }

    /// Runs `body(chunkStart, chunkEnd)` over `0..<n` split into at most `threads` contiguous chunks.
    /// Small problems (`n * costPerItem` below ~32k) run inline on the calling thread.
    public func parallelFor(_ n: Int, costPerItem: Int = 1, _ body: (Int, Int) -> Void) {
        if n <= 0 { return }
        let work = n * max(1, costPerItem)
        let chunks = min(threads, n, max(1, work / 32_768))
        if chunks <= 1 { body(0, n); return }
        withoutActuallyEscaping(body) { body in
            let chunk: (Int) -> Void = { c in
                let start = n * c / chunks, end = n * (c + 1) / chunks
                if start < end { body(start, end) }
            }
            if let pool { pool.run(chunks, chunk) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: chunk) }
        }
    }
}

/// Owner of a C worker pool (Sources/CKernels/pool.c): workers spin ~50 µs (SWIFTCAP_POOL_SPIN_US) after a region, then sleep,
/// so the many short regions of a forward pass do not each pay a thread wake-up (measured ~55 µs per
/// `DispatchQueue.concurrentPerform` region on the 2-core VM).
final class WorkerPool: @unchecked Sendable {
    private let raw: OpaquePointer

    init?(workers: Int, spinMicroseconds: Int = 50) {
        guard let p = sc_pool_create(Int32(workers), Int32(spinMicroseconds)) else { return nil }
        raw = p
    }

    deinit { sc_pool_destroy(raw) }

    private final class Job {
        let body: (Int) -> Void
        init(_ body: @escaping (Int) -> Void) { self.body = body }
    }

    /// Runs body(c) for c in 0..<chunks on the workers and the calling thread.
    func run(_ chunks: Int, _ body: @escaping (Int) -> Void) {
        let job = Job(body)
        withExtendedLifetime(job) {
            sc_pool_run(raw, chunks, { ctx, c in
                Unmanaged<Job>.fromOpaque(ctx!).takeUnretainedValue().body(Int(c))
            }, Unmanaged.passUnretained(job).toOpaque())
        }
    }
}

extension Device {
    /// Memory read bandwidth of this device's threads in GB/s (10⁹ bytes per second): the best of `passes`
    /// parallel reads of a `megabytes` buffer (far larger than the caches), split over the threads as the
    /// kernels split their work. The floor under any kernel that streams its weights once (a decode step):
    /// step time ≥ weight bytes / bandwidth.
    public func measureReadBandwidth(megabytes: Int = 256, passes: Int = 5) -> Double {
        let bytes = max(1, megabytes) << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        let chunk = bytes / 64
        var best = Double.infinity
        for _ in 0..<max(1, passes) {
            let start = DispatchTime.now().uptimeNanoseconds
            parallelFor(threads, costPerItem: 1 << 20) { c0, c1 in
                for c in c0..<c1 {
                    let lo = chunk * c / threads * 64, hi = chunk * (c + 1) / threads * 64
                    _ = sc_read_checksum(buffer + lo, hi - lo)   // an opaque C call: its reads happen
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Double(bytes) / best / 1e9
    }
}
