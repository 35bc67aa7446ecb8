import XCTest
import Dispatch
@testable import SwiftCapTensor

/// The persistent worker pool behind `Device.parallelFor`: every chunk runs exactly once, back-to-back
/// regions, nested regions and regions started from several threads at once all complete.
final class WorkerPoolTests: XCTestCase {
    func testEveryIndexRunsOnceOverManyRegions() {
        let device = Device(threads: 3)
        XCTAssertNotNil(device.pool)
        for n in [2, 3, 7, 100, 4097] {
            for _ in 0..<200 {
                var hits = [Int32](repeating: 0, count: n)
                hits.withUnsafeMutableBufferPointer { h in
                    let p = h.baseAddress!
                    device.parallelFor(n, costPerItem: 1 << 20) { s, e in
                        for i in s..<e { p[i] += 1 }
                    }
                }
                XCTAssertEqual(hits, [Int32](repeating: 1, count: n), "n \(n)")
            }
        }
    }

    func testNestedRegionsRunInline() {
        let device = Device(threads: 2)
        var total = [Int](repeating: 0, count: 8)
        total.withUnsafeMutableBufferPointer { t in
            let p = t.baseAddress!
            device.parallelFor(8, costPerItem: 1 << 20) { s, e in
                for i in s..<e {
                    var inner = 0
                    device.parallelFor(16, costPerItem: 1 << 20) { a, b in for _ in a..<b { inner += 1 } }
                    p[i] = inner
                }
            }
        }
        XCTAssertEqual(total, [Int](repeating: 16, count: 8))
    }

    func testRegionsFromSeveralThreadsAtOnce() {
        let device = Device(threads: 2)
        let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: 4)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            var sum = 0
            for _ in 0..<300 {
                let part = UnsafeMutableBufferPointer<Int>.allocate(capacity: 64)
                part.initialize(repeating: 0)
                device.parallelFor(64, costPerItem: 1 << 20) { s, e in for i in s..<e { part[i] = i } }
                sum += part.reduce(0, +)
                part.deallocate()
            }
            results[k] = sum
        }
        XCTAssertEqual(Array(results), [Int](repeating: 300 * (63 * 64 / 2), count: 4))
    }

    func testPoolIsReleasedWithTheDevice() {
        // Creating and dropping many devices must not leak or hang (each joins its workers).
        for _ in 0..<50 { _ = Device(threads: 2).pool }
        XCTAssertNil(Device(threads: 1).pool)
    }
}
