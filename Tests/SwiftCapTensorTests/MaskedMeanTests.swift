import XCTest
@testable import SwiftCapTensor

final class MaskedMeanTests: XCTestCase {
    /// Mean over each row's first `lengths[b]` positions; padding values never count.
    func testMeanIgnoresPaddedPositions() throws {
        let device = Device(threads: 2)
        // batch 3, seq 3, dim 2; padded positions hold 1000 so any leak shows.
        let x = Tensor([1, 2, 3, 4, 1000, 1000,
                        5, 6, 7, 8, 9, 10,
                        1000, 1000, 1000, 1000, 1000, 1000], shape: [3, 3, 2])
        let m = try device.maskedMean(x, lengths: [2, 3, 0])
        XCTAssertEqual(m.shape, [3, 2])
        XCTAssertEqual(m.scalars, [2, 3, 7, 8, 0, 0])
    }

    func testBadLengthsThrow() {
        let device = Device(threads: 1)
        let x = Tensor(zeros: [2, 3, 4])
        XCTAssertThrowsError(try device.maskedMean(x, lengths: [1]))
        XCTAssertThrowsError(try device.maskedMean(x, lengths: [1, 4]))
        XCTAssertThrowsError(try device.maskedMean(Tensor(zeros: [3, 4]), lengths: [1, 1, 1]))
    }
}
