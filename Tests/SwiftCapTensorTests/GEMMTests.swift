import XCTest
@testable import SwiftCapTensor

final class GEMMTests: XCTestCase {
    func testDefaultBackendMatchesReferenceOnAllTransposes() {
        let device = Device(threads: 2)
        var rng = SplitMix64(seed: 7)
        let reference = ReferenceGEMM()
        for (m, n, k) in [(1, 17, 33), (5, 64, 3), (31, 29, 70)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }
                let b = (0..<(k * n)).map { _ in rng.nextFloat() - 0.5 }
                var c1 = (0..<(m * n)).map { _ in rng.nextFloat() }
                var c2 = c1
                let lda = ta ? m : k, ldb = tb ? k : n
                device.gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: 2, c: &c1, ldc: n)
                reference.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: 2, c: &c2, ldc: n)
                for i in 0..<(m * n) { XCTAssertEqual(c1[i], c2[i], accuracy: 1e-4, "\(m)x\(n)x\(k) tA=\(ta) tB=\(tb) at \(i)") }
            }
        }
    }

    func testMatmulAndLinearByHand() throws {
        let device = Device(threads: 1)
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])
        XCTAssertEqual(try device.matmul(a, b).scalars, [4, 5, 10, 11])
        // linear: x @ Wᵀ + b with W = bᵀ
        let w = try b.transposed().contiguous()
        let y = try device.linear(a, weight: w, bias: Tensor([1, -1]))
        XCTAssertEqual(y.scalars, [5, 4, 11, 10])
        XCTAssertThrowsError(try device.matmul(a, a))
    }

    func testBatchedMatmulBroadcastsBatch() throws {
        let device = Device(threads: 2)
        let a = Tensor((0..<12).map(Float.init), shape: [2, 2, 3])
        let b = Tensor((0..<6).map(Float.init), shape: [1, 3, 2])
        let c = try device.matmul(a, b)
        XCTAssertEqual(c.shape, [2, 2, 2])
        // second batch, first row: [6,7,8] @ [[0,1],[2,3],[4,5]] = [46, 67]
        XCTAssertEqual(c[1, 0, 0], 46)
        XCTAssertEqual(c[1, 0, 1], 67)
    }

    func testViewsAndContiguous() throws {
        let t = Tensor((0..<6).map(Float.init), shape: [2, 3])
        let tt = try t.transposed()
        XCTAssertFalse(tt.isContiguous)
        XCTAssertEqual(tt.scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(try t.narrowed(dim: 1, start: 1, length: 2).scalars, [1, 2, 4, 5])
        XCTAssertEqual(try t.reshaped([3, -1]).shape, [3, 2])
        XCTAssertThrowsError(try t.reshaped([4, -1]))
    }
}
