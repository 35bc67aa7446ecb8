import Foundation
import XCTest
import SwiftCapTestSupport
@testable import SwiftCapPipelines
import SwiftCapImage
import SwiftCapModels
import SwiftCapTensor

final class ConceptsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testPositionsInThirds() {
        func pos(_ x: Float, _ y: Float) -> String {
            ConceptExtractor.position(Box(x0: x - 1, y0: y - 1, x1: x + 1, y1: y + 1), imageWidth: 300, imageHeight: 300)
        }
        XCTAssertEqual(pos(150, 150), "center")
        XCTAssertEqual(pos(20, 20), "top left")
        XCTAssertEqual(pos(280, 150), "middle right")
        XCTAssertEqual(pos(150, 290), "bottom")
        XCTAssertEqual(pos(150, 10), "top")
    }

    func testClassifierOnlyWhenDetectorMissingSaysSoOnce() throws {
        let real = AssetPaths.fromEnvironment(repositoryRoot: Self.root)
        guard FileManager.default.fileExists(atPath: real.asset(EfficientNetLite0.assetRelativePath).path) else {
            throw missingInput("EfficientNet-Lite0 checkpoint absent")
        }
        let paths = AssetPaths(assets: real.assets, shared: URL(fileURLWithPath: "/nonexistent-shared"))
        var notices: [String] = []
        let extractor = try ConceptExtractor.load(paths: paths) { notices.append($0) }
        XCTAssertNil(extractor.detector)
        XCTAssertEqual(notices.count, 1)
        XCTAssertTrue(notices[0].contains("/nonexistent-shared/models/picodet_s_416_coco.onnx"), notices[0])
        XCTAssertTrue(notices[0].contains("classifier-only"))
        let photo = real.asset("sample-photos/chelsea.png")
        guard FileManager.default.fileExists(atPath: photo.path) else { throw missingInput("sample photo absent") }
        let c = try extractor.extract(ImageDecoder().decode(contentsOf: photo), device: Device(threads: 2))
        XCTAssertFalse(c.detectorUsed)
        XCTAssertTrue(c.objects.isEmpty)
        XCTAssertEqual(c.words, ["cat"], "tiger cat / Egyptian cat / tabby all map to one word")
    }

    func testFullExtractorOnACocoPhoto() throws {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: Self.root)
        let photo = paths.sharedFile("eval/coco-dev/images/000000002006.jpg")
        guard FileManager.default.fileExists(atPath: photo.path),
              FileManager.default.fileExists(atPath: paths.asset(EfficientNetLite0.assetRelativePath).path) else {
            throw missingInput("shared folder or classifier checkpoint absent")
        }
        var notices: [String] = []
        let extractor = try ConceptExtractor.load(paths: paths) { notices.append($0) }
        XCTAssertTrue(notices.isEmpty)
        let image = try ImageDecoder().decode(contentsOf: photo)
        let c = try extractor.extract(image, device: Device(threads: 2))
        XCTAssertTrue(c.detectorUsed)
        // A purple bus filling the frame, a driver and a pedestrian.
        let bus = try XCTUnwrap(c.objects.first { $0.word == "bus" })
        XCTAssertEqual(bus.count, 1)
        XCTAssertEqual(bus.instances[0].size, "large")
        XCTAssertEqual(bus.instances[0].position, "center")
        // The bus spans about x 45...600, y 80...420 of the 640x480 photo.
        XCTAssertEqual(bus.instances[0].box.x0, 45, accuracy: 25)
        XCTAssertEqual(bus.instances[0].box.x1, 600, accuracy: 25)
        XCTAssertEqual(bus.instances[0].box.y0, 80, accuracy: 25)
        XCTAssertEqual(bus.instances[0].box.y1, 420, accuracy: 25)
        XCTAssertEqual(c.objects.first { $0.word == "person" }?.count, 2)
        XCTAssertEqual(c.words.first, "bus")
        XCTAssertFalse(c.labels.contains { $0.word == "bus" }, "classifier's bus is not repeated")
        // Drawing gives an image of the same size with some pixels changed.
        let drawn = try DetectionDrawing.draw(extractor.detector?.detect(image, device: Device(threads: 2)) ?? [], on: image)
        XCTAssertEqual([drawn.width, drawn.height], [640, 480])
        XCTAssertNotEqual(drawn.pixels, image.pixels)
    }

    func testThresholdsAreApplied() {
        var options = ConceptOptions()
        options.detectionThreshold = 0.5
        options.classifierThreshold = 0.3
        let det = [Detection(label: "dog", classIndex: 16, score: 0.9, box: Box(x0: 0, y0: 0, x1: 50, y1: 50)),
                   Detection(label: "dog", classIndex: 16, score: 0.6, box: Box(x0: 60, y0: 60, x1: 80, y1: 80)),
                   Detection(label: "cat", classIndex: 15, score: 0.45, box: Box(x0: 0, y0: 0, x1: 10, y1: 10))]
        let cls = Classification(top: [.init(index: 207, label: "golden retriever", probability: 0.6),
                                       .init(index: 963, label: "pizza", probability: 0.35),
                                       .init(index: 281, label: "tabby", probability: 0.05)],
                                 pooled: [], grid: Tensor(zeros: [1]), logits: [])
        let text = ConceptExtractorTestHelper.describe(det, cls, options)
        XCTAssertEqual(text.objects.map(\.word), ["dog"])
        XCTAssertEqual(text.objects[0].count, 2)
        XCTAssertEqual(text.objects[0].instances.map(\.size), ["medium", "small"])
        XCTAssertEqual(text.labels.map(\.word), ["pizza"], "dog already detected; tabby below threshold")
        XCTAssertEqual(text.words, ["dog", "pizza"])
    }
}

/// Runs `describe` without loading networks.
enum ConceptExtractorTestHelper {
    static func describe(_ d: [Detection], _ c: Classification, _ o: ConceptOptions) -> Concepts {
        ConceptDescriber(options: o).describe(detections: d, classification: c, imageWidth: 200, imageHeight: 200, detectorUsed: true)
    }
}
