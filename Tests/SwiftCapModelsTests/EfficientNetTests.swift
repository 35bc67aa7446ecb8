import Foundation
import XCTest
import SwiftCapTestSupport
@testable import SwiftCapModels
import SwiftCapFormats
import SwiftCapImage
import SwiftCapTensor

/// EfficientNet-Lite0 against the published model code (PyPI efficientnet_lite_pytorch 0.1.0, run by
/// fixtures/gen/vision.py classifier) on 41 coco-dev photos. Measured Swift vs package (2 threads):
/// logits 1.9e-5, pooled 9.4e-6, grid samples 4.5e-5, top-5 probabilities 1.5e-6; the bounds are about 5x that.
final class EfficientNetLite0Tests: XCTestCase {
    struct Fixture: Decodable {
        struct Photo: Decodable {
            let file: String; let inputSum: Double; let top5: [Int]; let top5Probs: [Float]
            let logits: [Float]; let pooled: [Float]; let gridSamples: [Float]
        }
        let photos: [Photo]
    }

    func checkpointURL() throws -> URL {
        let url = VisionTestPaths.assets.asset(EfficientNetLite0.assetRelativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("\(url.path) is absent (scripts/fetch-assets.sh fetches it)")
        }
        return url
    }

    func testCocoDevPhotosMatchPyTorch() throws {
        let model = try EfficientNetLite0(contentsOf: checkpointURL())
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: VisionTestPaths.fixture("efficientnet_lite0_coco_dev.json")))
        XCTAssertEqual(fixture.photos.count, 41)
        let device = Device(threads: 2)
        let folder = VisionTestPaths.assets.sharedFile("eval/coco-dev/images")
        var worstLogit: Float = 0, worstPooled: Float = 0, worstGrid: Float = 0, worstProb: Float = 0
        for photo in fixture.photos {
            let image = try ImageDecoder().decode(contentsOf: folder.appendingPathComponent(photo.file))
            let input = try model.preprocess(image, device: device)
            XCTAssertEqual(input.shape, [1, 3, 224, 224])
            XCTAssertEqual(input.scalars.reduce(0.0) { $0 + Double($1) }, photo.inputSum, accuracy: 0.05, photo.file)
            let c = try model.classify(input: input, topK: 5, device: device)
            XCTAssertEqual(c.grid.shape, [1, 1280, 7, 7])
            XCTAssertEqual(c.pooled.count, 1280)
            XCTAssertEqual(c.top.map(\.index), photo.top5, "\(photo.file): top-5 classes")
            for (a, b) in zip(c.logits, photo.logits) { worstLogit = max(worstLogit, abs(a - b)) }
            for (a, b) in zip(c.pooled, photo.pooled) { worstPooled = max(worstPooled, abs(a - b)) }
            for (a, b) in zip(c.top.map(\.probability), photo.top5Probs) { worstProb = max(worstProb, abs(a - b)) }
            let grid = c.grid.scalars
            for (i, ref) in zip(VisionTestPaths.sampleIndices(grid.count, 256, seed: 2000), photo.gridSamples) {
                worstGrid = max(worstGrid, abs(grid[i] - ref))
            }
        }
        print("EfficientNet-Lite0 coco-dev: max abs error logits \(worstLogit), pooled \(worstPooled), grid samples \(worstGrid), top-5 probabilities \(worstProb)")
        XCTAssertLessThanOrEqual(worstLogit, 1e-4)
        XCTAssertLessThanOrEqual(worstPooled, 5e-5)
        XCTAssertLessThanOrEqual(worstGrid, 2e-4)
        XCTAssertLessThanOrEqual(worstProb, 1e-5)
    }

    func testSamplePhotoLabels() throws {
        let model = try EfficientNetLite0(contentsOf: checkpointURL())
        let url = VisionTestPaths.assets.asset("sample-photos/chelsea.png")
        guard FileManager.default.fileExists(atPath: url.path) else { throw missingInput("sample photo absent") }
        let c = try model.classify(ImageDecoder().decode(contentsOf: url), topK: 3, device: Device(threads: 2))
        // skimage's chelsea is a tabby cat: every top-3 class is a domestic cat.
        XCTAssertEqual(Set(c.top.map { ImageNetLabels.captionWord($0.index) }), ["cat"], "\(c.top)")
        XCTAssertEqual(c.top.map(\.probability).reduce(0, +), 0.92, accuracy: 0.05)
    }

    func testLabelsTable() {
        XCTAssertEqual(ImageNetLabels.names.count, 1000)
        XCTAssertEqual(ImageNetLabels.name(0), "tench")
        XCTAssertEqual(ImageNetLabels.name(281), "tabby")
        XCTAssertEqual(ImageNetLabels.captionWord(281), "cat")
        XCTAssertEqual(ImageNetLabels.name(963), "pizza")
        XCTAssertEqual(ImageNetLabels.captionWord(963), "pizza")
        XCTAssertEqual(ImageNetLabels.captionWord(207), "dog")
        XCTAssertEqual(ImageNetLabels.name(999), "toilet tissue")
        XCTAssertEqual(ImageNetLabels.name(1000), "class 1000")
    }

    func testMissingOrWrongCheckpointIsAClearError() throws {
        XCTAssertThrowsError(try EfficientNetLite0(contentsOf: URL(fileURLWithPath: "/nonexistent/lite0.pth"))) { error in
            guard case VisionModelError.missingFile? = error as? VisionModelError else { return XCTFail("\(error)") }
        }
        // A truncated checkpoint is a thrown error.
        let real = try checkpointURL()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-lite0-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cut = dir.appendingPathComponent("cut.pth")
        try Data(contentsOf: real).prefix(1_000_000).write(to: cut)
        XCTAssertThrowsError(try EfficientNetLite0(contentsOf: cut))
        // A checkpoint without the network's tensors names the first missing key.
        let empty = InMemoryTensors(["_conv_stem.weight": Tensor(zeros: [32, 3, 3, 3])], description: "tiny.pth")
        XCTAssertThrowsError(try EfficientNetLite0(weights: Weights(empty))) { error in
            XCTAssertEqual(error as? WeightError, .missing(name: "_bn0.weight", source: "tiny.pth"))
        }
    }
}
