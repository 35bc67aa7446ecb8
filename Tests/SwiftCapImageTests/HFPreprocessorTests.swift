import Foundation
import XCTest
import SwiftCapImage

/// Preprocessing follows the checkpoint: `preprocessor_config.json`, or the model's `image_size`.
final class HFPreprocessorTests: XCTestCase {
    func testBlipImageProcessorConfigGivesTheBLIPRecipe() throws {
        let json = """
        {"do_normalize": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
         "image_processor_type": "BlipImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
         "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
         "size": {"height": 384, "width": 384}}
        """
        let r = try PreprocessRecipe.huggingFace(preprocessorConfig: Data(json.utf8), base: .clip)
        XCTAssertEqual(r.geometry, PreprocessRecipe.blip.geometry)
        XCTAssertEqual(r.filter, .bicubic)
        XCTAssertEqual(r.normalization, PreprocessRecipe.blip.normalization)
        XCTAssertEqual(r.name, "BlipImageProcessor")
    }

    func testCLIPImageProcessorConfigGivesTheCLIPRecipe() throws {
        for size in ["224", "{\"shortest_edge\": 224}"] {
            let json = """
            {"crop_size": {"height": 224, "width": 224}, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
             "resample": 3, "size": \(size)}
            """
            let r = try PreprocessRecipe.huggingFace(preprocessorConfig: Data(json.utf8), base: .blip)
            XCTAssertEqual(r.geometry, PreprocessRecipe.clip.geometry, size)
            XCTAssertEqual(r.normalization, PreprocessRecipe.clip.normalization)
        }
    }

    func testOtherSizesFiltersAndScales() throws {
        let r = try PreprocessRecipe.huggingFace(preprocessorConfig: Data(#"{"size": {"height": 32, "width": 48}, "resample": 2, "do_normalize": false}"#.utf8), base: .blip)
        XCTAssertEqual(r.outputShape, [1, 3, 32, 48])
        XCTAssertEqual(r.filter, .bilinear)
        XCTAssertEqual(r.normalization, .unit(mean: [0, 0, 0], std: [1, 1, 1]))
        XCTAssertEqual(PreprocessRecipe.blip.resized(to: 32).outputShape, [1, 3, 32, 32])
        XCTAssertEqual(PreprocessRecipe.clip.resized(to: 336).geometry, .shortSideThenCenterCrop(shortSide: 336, crop: 336))
        let bad = [#"[1]"#, #"{"size": "big"}"#, #"{"resample": 0}"#, #"{"image_std": [0, 1, 1]}"#, #"{"size": {"shortest_edge": 224}}"#, #"{"size": 0}"#]
        for b in bad {
            XCTAssertThrowsError(try PreprocessRecipe.huggingFace(preprocessorConfig: Data(b.utf8), base: .blip), b) { e in
                XCTAssertTrue("\(e)".contains("preprocessor_config.json"), "\(e)")
            }
        }
    }
}
