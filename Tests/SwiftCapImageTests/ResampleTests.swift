import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapImage

/// Pillow's `Image.resize` reproduced bit for bit (fixtures/image/resample.json).
final class ResampleTests: XCTestCase {
    func source() throws -> RGBImage {
        try ImageDecoder().decode(contentsOf: Fixtures.decodeFolder.appendingPathComponent("resample_source.png"))
    }

    func testEveryFilterAndSizeMatchesPillowExactly() throws {
        let json = try Fixtures.json("resample.json")
        guard let cases = json["cases"] as? [[String: Any]] else { throw FixtureError("resample.json: no cases") }
        XCTAssertEqual(cases.count, 60)
        let image = try source()
        XCTAssertEqual(image.width, 61)
        XCTAssertEqual(image.height, 43)
        for device in [Device(threads: 1), Device(threads: 2)] {
            for c in cases {
                guard let fname = c["filter"] as? String, let filter = ResampleFilter(rawValue: fname),
                      let w = c["width"] as? Int, let h = c["height"] as? Int else { throw FixtureError("bad case \(c)") }
                let expected = try Fixtures.bytes(base64: c["rgb"], "\(fname) \(w)x\(h)")
                let out = try device.resized(image, width: w, height: h, filter: filter)
                XCTAssertEqual(out.width, w)
                XCTAssertEqual(out.height, h)
                XCTAssertEqual(maxByteDifference(out.pixels, expected), 0, "\(fname) \(w)x\(h)")
            }
        }
    }

    /// Computing only a crop of the output equals resizing everything and cropping.
    func testCroppedResizeEqualsResizeThenCrop() throws {
        let image = try source()
        let device = Device(threads: 2)
        for (w, h, crop) in [(100, 70, PixelRect(x: 13, y: 7, width: 50, height: 41)),
                             (30, 20, PixelRect(x: 0, y: 19, width: 30, height: 1)),
                             (61, 90, PixelRect(x: 5, y: 5, width: 3, height: 80)),
                             (25, 43, PixelRect(x: 24, y: 0, width: 1, height: 43)),
                             (61, 43, PixelRect(x: 10, y: 11, width: 12, height: 13)),
                             (55, 10, PixelRect(x: 7, y: 2, width: 30, height: 6)),     // vertical pass first
                             (90, 12, PixelRect(x: 40, y: 0, width: 50, height: 12)),   // vertical pass first
                             (61, 5, PixelRect(x: 0, y: 1, width: 61, height: 3))] {
            for filter in ResampleFilter.allCases {
                let full = try device.resized(image, width: w, height: h, filter: filter)
                let part = try device.resized(image, width: w, height: h, filter: filter, crop: crop)
                var expected: [UInt8] = []
                for y in crop.y..<(crop.y + crop.height) {
                    let start = (y * w + crop.x) * 3
                    expected += full.pixels[start..<(start + crop.width * 3)]
                }
                XCTAssertEqual(part.pixels, expected, "\(filter) \(w)x\(h) \(crop)")
            }
        }
    }

    func testCoefficientsSumToOneInFixedPoint() throws {
        for filter in ResampleFilter.allCases {
            for (i, o) in [(640, 224), (224, 640), (480, 416), (7, 3), (3, 7), (1000, 1)] {
                let c = try ResampleCoefficients(inSize: i, outSize: o, filter: filter)
                for xx in 0..<o {
                    let n = Int(c.bounds[xx * 2 + 1])
                    let start = Int(c.bounds[xx * 2])
                    XCTAssertGreaterThan(n, 0)
                    XCTAssertLessThanOrEqual(start + n, i)
                    let sum = (0..<n).reduce(0) { $0 + Int(c.weights[xx * c.ksize + $1]) }
                    // each tap is rounded separately, so the sum may be off by up to half a unit per tap
                    XCTAssertLessThanOrEqual(abs(sum - (1 << 22)), c.ksize, "\(filter) \(i)->\(o) at \(xx)")
                }
            }
        }
    }

    func testInvalidArguments() throws {
        let image = try source()
        let d = Device(threads: 1)
        XCTAssertThrowsError(try d.resized(image, width: 0, height: 5, filter: .bicubic))
        XCTAssertThrowsError(try d.resized(image, width: 10, height: 10, filter: .bicubic, crop: PixelRect(x: 5, y: 5, width: 6, height: 1)))
        XCTAssertThrowsError(try d.resized(image, width: 10, height: 10, filter: .bicubic, crop: PixelRect(x: -1, y: 0, width: 1, height: 1)))
    }
}
