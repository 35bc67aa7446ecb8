import Foundation
import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
@testable import SwiftCapImage

/// Preprocessing parity with the Pillow/torchvision-style references of fixtures/gen/image.py on
/// the 41 coco-dev photos (read from ../shared at test time).
///
/// Error unit: a difference in the normalised tensor, multiplied by the channel's std expressed on
/// the 0...1 pixel scale (std for CLIP/BLIP; std / 255 for PicoDet and EfficientNet-Lite), i.e. the
/// difference in pixel intensity before normalisation. Bounds: max ≤ 2/255, mean ≤ 0.5/255.
final class PreprocessTests: XCTestCase {
    static let recipes: [String: PreprocessRecipe] = Dictionary(uniqueKeysWithValues: PreprocessRecipe.all.map { ($0.name, $0) })

    func testLayoutMatchesTorchvisionGeometry() throws {
        let json = try Fixtures.json("coco-dev.json")
        guard let photos = json["photos"] as? [String: [String: Any]] else { throw FixtureError("coco-dev.json: photos") }
        XCTAssertEqual(photos.count, 41)
        var checked = 0
        for (name, p) in photos {
            guard let w = p["width"] as? Int, let h = p["height"] as? Int,
                  let recipes = p["recipes"] as? [String: [String: Any]] else { throw FixtureError("\(name)") }
            for (rname, r) in recipes {
                guard let recipe = Self.recipes[rname] else { throw FixtureError("unknown recipe \(rname)") }
                let (rw, rh, crop) = try recipe.layout(width: w, height: h)
                XCTAssertEqual([rw, rh], r["resized"] as? [Int], "\(name) \(rname)")
                XCTAssertEqual([crop.x, crop.y], r["cropOrigin"] as? [Int], "\(name) \(rname)")
                XCTAssertEqual(recipe.outputShape, r["shape"] as? [Int], "\(name) \(rname)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 41 * 4)
        // Python's round() is half-to-even: (301 - 224) / 2 = 38.5 -> 38, (299 - 224) / 2 = 37.5 -> 38.
        let l1 = try PreprocessRecipe.clip.layout(width: 301, height: 224)
        XCTAssertEqual(l1.crop.x, 38)
        let l2 = try PreprocessRecipe.clip.layout(width: 299, height: 224)
        XCTAssertEqual(l2.crop.x, 38)
        // extreme aspect: the short side still becomes 224 and the crop fits
        let thin = try PreprocessRecipe.clip.layout(width: 5000, height: 7)
        XCTAssertEqual(thin.height, 224)
        XCTAssertEqual(thin.width, 160000)
        let bad = PreprocessRecipe(name: "bad", geometry: .shortSideThenCenterCrop(shortSide: 100, crop: 224),
                                   filter: .bicubic, normalization: .byte(mean: [0, 0, 0], std: [1, 1, 1]))
        XCTAssertThrowsError(try bad.layout(width: 500, height: 400))
        XCTAssertThrowsError(try PreprocessRecipe.clip.layout(width: 0, height: 400))
    }

    func testNormalisationFormulas() throws {
        let image = try RGBImage(width: 2, height: 1, pixels: [0, 127, 255, 10, 20, 30])
        let d = Device(threads: 1)
        let t = try d.normalizedTensor(image, PreprocessRecipe.efficientNetLite.normalization)
        XCTAssertEqual(t.shape, [1, 3, 1, 2])
        XCTAssertEqual(t.scalars, [(0 - 127) / 128, (10 - 127) / 128, 0, (20 - 127) / 128, 1, (30 - 127) / 128] as [Float])
        let c = try d.normalizedTensor(image, PreprocessRecipe.clip.normalization)
        XCTAssertEqual(c[0, 0, 0, 0], (0 / 255 - 0.48145466) / 0.26862954, accuracy: 1e-6)
        XCTAssertEqual(c[0, 2, 0, 0], (255 / 255 - 0.40821073) / 0.27577711, accuracy: 1e-6)
    }

    func testCocoDevParityWithPillow() throws {
        let (folderOrNil, why) = Fixtures.cocoDevImages()
        guard let folder = folderOrNil else { throw missingInput("coco-dev parity skipped: \(why)") }
        let json = try Fixtures.json("coco-dev.json")
        guard let photos = json["photos"] as? [String: [String: Any]], let stride = json["sampleStride"] as? Int,
              let scale = json["sampleScale"] as? Double else { throw FixtureError("coco-dev.json header") }
        let device = Device()
        let decoder = ImageDecoder()
        var worstMax: [String: Double] = [:], sumAbs: [String: Double] = [:], counts: [String: Int] = [:]
        var exactSamples = 0, totalSamples = 0, worstPixel = 0, identicalSums = 0
        for name in photos.keys.sorted() {
            guard let p = photos[name], let recipes = p["recipes"] as? [String: [String: Any]] else { continue }
            let image = try decoder.decode(contentsOf: folder.appendingPathComponent(name))
            XCTAssertEqual(image.width, p["width"] as? Int, name)
            XCTAssertEqual(image.height, p["height"] as? Int, name)
            // decode parity: per-channel sums and sampled bytes
            if let sums = p["channelSums"] as? [Int], let samples = p["pixelSamples"] as? [Int] {
                var mine = [0, 0, 0]
                for i in 0..<image.pixels.count { mine[i % 3] += Int(image.pixels[i]) }
                // identical here (the same libjpeg-turbo IDCT as Pillow's build); other libjpeg builds may
                // differ by a step on a few pixels, so the bound is on the channel mean (0-255 units)
                let n = Double(image.width * image.height)
                for c in 0..<3 {
                    XCTAssertLessThanOrEqual(abs(Double(mine[c] - sums[c])) / n, 0.01, "\(name): channel \(c) mean")
                }
                if mine == sums { identicalSums += 1 }
                for (k, v) in samples.enumerated() {
                    worstPixel = max(worstPixel, abs(Int(image.pixels[(k * stride) % image.pixels.count]) - v))
                }
            }
            for (rname, r) in recipes {
                guard let recipe = Self.recipes[rname], let samples = r["samplesMilli"] as? [Int],
                      let means = r["channelMeans"] as? [Double] else { throw FixtureError("\(name) \(rname)") }
                let t = try device.preprocess(image, recipe: recipe)
                XCTAssertEqual(t.shape, recipe.outputShape)
                let values = t.scalars
                let plane = t.shape[2] * t.shape[3]
                let pixelStd = recipe.normalization.pixelStd.map(Double.init)
                for (k, expectedMilli) in samples.enumerated() {
                    let idx = (k * stride) % values.count
                    let c = idx / plane
                    let diffNorm = abs(Double(values[idx]) - Double(expectedMilli) / scale)
                    let diffPixel = diffNorm * pixelStd[c]
                    worstMax[rname] = max(worstMax[rname] ?? 0, diffPixel)
                    sumAbs[rname, default: 0] += diffPixel
                    counts[rname, default: 0] += 1
                    // within the 1e-3 rounding of the fixture: the same 8-bit value as Pillow
                    if diffNorm <= 0.5 / scale + 1e-5 { exactSamples += 1 }
                    totalSamples += 1
                }
                for c in 0..<3 {
                    var s = 0.0
                    for i in (c * plane)..<((c + 1) * plane) { s += Double(values[i]) }
                    let meanDiffPixel = abs(s / Double(plane) - means[c]) * pixelStd[c]
                    XCTAssertLessThanOrEqual(meanDiffPixel, 0.5 / 255, "\(name) \(rname) channel \(c) mean")
                }
            }
        }
        XCTAssertLessThanOrEqual(worstPixel, 1, "decoded bytes vs Pillow")
        for (rname, m) in worstMax.sorted(by: { $0.key < $1.key }) {
            let mean = sumAbs[rname]! / Double(counts[rname]!)
            XCTAssertLessThanOrEqual(m, 2.0 / 255, "\(rname): max error \(m * 255)/255")
            XCTAssertLessThanOrEqual(mean, 0.5 / 255, "\(rname): mean error \(mean * 255)/255")
            print(String(format: "coco-dev %@: %d samples, max |Δ| %.5f/255, mean |Δ| %.6f/255 (pixel units)",
                         rname, counts[rname]!, m * 255, mean * 255))
        }
        print("coco-dev: \(exactSamples)/\(totalSamples) samples identical to Pillow's 8-bit value; decode: "
              + "\(identicalSums)/\(photos.count) photos with identical channel sums, sampled bytes max |Δ| \(worstPixel)")
        XCTAssertEqual(counts.values.reduce(0, +), 41 * 4 * 2000)
    }
}
