import Foundation
import XCTest
@testable import SwiftCapTensor

/// Conv2d, batch-norm folding, pooling and resize against PyTorch / onnxruntime values written by
/// `fixtures/gen/vision.py ops` (fixtures/vision/ops.json).
final class ConvOpsTests: XCTestCase {
    struct FixtureTensor: Decodable {
        let shape: [Int]
        let data: [Float]
        var tensor: Tensor { Tensor(data, shape: shape) }
    }

    enum PaddingSpec: Decodable {
        case same, pads([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self), s == "same" { self = .same } else { self = .pads(try c.decode([Int].self)) }
        }
        var padding: Padding2D {
            switch self {
            case .same: return .same
            case .pads(let p): return .explicit(top: p[0], left: p[1], bottom: p[2], right: p[3])
            }
        }
    }

    struct Case: Decodable {
        let name: String
        let op: String
        let x: FixtureTensor
        let y: FixtureTensor
        let weight: FixtureTensor?
        let bias: FixtureTensor?
        let gamma: FixtureTensor?, beta: FixtureTensor?, mean: FixtureTensor?, variance: FixtureTensor?
        let epsilon: Float?
        let stride: [Int]?
        let dilation: [Int]?
        let groups: Int?
        let padding: PaddingSpec?
        let activation: String?
        let kernel: [Int]?
        let ceilMode: Bool?
        let countIncludePad: Bool?
        let size: [Int]?
        let scales: [Float]?
        let mode: String?
        let rounding: String?
        let coordinates: String?
    }

    struct Fixture: Decodable { let cases: [Case] }

    static func loadCases() throws -> [Case] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("fixtures/vision/ops.json"))
        return try JSONDecoder().decode(Fixture.self, from: data).cases
    }

    func activation(_ name: String?) -> ConvActivation {
        switch name {
        case "relu": return .relu
        case "relu6": return .relu6
        case "hardSwish": return .hardSwish
        case "hardSigmoid": return .hardSigmoid(alpha: 1.0 / 6.0, beta: 0.5)
        case "sigmoid": return .sigmoid
        default: return .none
        }
    }

    func run(_ c: Case, device: Device) throws -> Tensor {
        switch c.op {
        case "conv2d":
            return try device.conv2d(c.x.tensor, weight: c.weight!.tensor, bias: c.bias?.tensor, stride: c.stride!,
                                     padding: c.padding!.padding, dilation: c.dilation!, groups: c.groups!,
                                     activation: activation(c.activation))
        case "conv_bn":
            let folded = try foldBatchNorm(weight: c.weight!.tensor, bias: c.bias?.tensor, gamma: c.gamma!.tensor,
                                           beta: c.beta!.tensor, mean: c.mean!.tensor, variance: c.variance!.tensor,
                                           epsilon: c.epsilon!)
            return try device.conv2d(c.x.tensor, weight: folded.weight, bias: folded.bias, stride: c.stride!,
                                     padding: c.padding!.padding, dilation: c.dilation!, groups: c.groups!)
        case "maxPool2d":
            return try device.maxPool2d(c.x.tensor, kernel: c.kernel!, stride: c.stride!, padding: c.padding!.padding,
                                        dilation: c.dilation!, ceilMode: c.ceilMode!)
        case "avgPool2d":
            return try device.avgPool2d(c.x.tensor, kernel: c.kernel!, stride: c.stride!, padding: c.padding!.padding,
                                        ceilMode: c.ceilMode!, countIncludePad: c.countIncludePad!)
        case "globalAveragePool":
            return try device.globalAveragePool(c.x.tensor)
        case "resize":
            let rounding: NearestRounding
            switch c.rounding {
            case "roundPreferFloor": rounding = .roundPreferFloor
            case "roundPreferCeil": rounding = .roundPreferCeil
            case "ceil": rounding = .ceil
            default: rounding = .floor
            }
            let coords: ResizeCoordinates
            switch c.coordinates {
            case "halfPixel": coords = .halfPixel
            case "pytorchHalfPixel": coords = .pytorchHalfPixel
            case "alignCorners": coords = .alignCorners
            default: coords = .asymmetric
            }
            let scales = c.scales.map { (h: $0[0], w: $0[1]) }
            return try device.resize(c.x.tensor, height: c.size![0], width: c.size![1],
                                     mode: c.mode == "linear" ? .linear : .nearest(rounding),
                                     coordinates: coords, scales: scales)
        default:
            throw TensorError.invalidArgument(op: "fixture", "unknown op \(c.op)")
        }
    }

    /// Every case within 1e-5 max abs of the reference, on 1 and 2 threads (and the portable GEMM).
    /// Batch-norm folding changes the order of the arithmetic (scale applied to the weights
    /// before the sum), so that case alone is held to 2e-5.
    func testAllCasesMatchReference() throws {
        let cases = try Self.loadCases()
        XCTAssertGreaterThan(cases.count, 30)
        for device in [Device(threads: 1), Device(threads: 2), Device(threads: 2, gemm: ReferenceGEMM())] {
            for c in cases {
                let y = try run(c, device: device)
                XCTAssertEqual(y.shape, c.y.shape, c.name)
                guard y.shape == c.y.shape else { continue }
                let err = try y.maxAbsDifference(c.y.tensor)
                let tolerance: Float = c.op == "conv_bn" ? 2e-5 : 1e-5
                XCTAssertLessThanOrEqual(err, tolerance, "\(c.name) (threads \(device.threads), \(device.gemm.name))")
            }
        }
    }

    func testSameAndSlidingWindowSizes() {
        // TF same: out = ceil(in / stride), odd pixel at the bottom/right.
        let p = Padding2D.same.resolve(inH: 16, inW: 15, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)
        XCTAssertEqual([p.top, p.left, p.bottom, p.right], [0, 1, 1, 1])
        XCTAssertEqual(slidingWindowOutputSize(416, kernel: 3, stride: 2, padBegin: 1, padEnd: 1), 208)
        XCTAssertEqual(slidingWindowOutputSize(10, kernel: 3, stride: 2, padBegin: 0, padEnd: 0, ceilMode: true), 5)
        // last window would start in the padding: dropped
        XCTAssertEqual(slidingWindowOutputSize(5, kernel: 2, stride: 2, padBegin: 1, padEnd: 1, ceilMode: true), 3)
    }

    func testBadArgumentsThrow() {
        let device = Device(threads: 1)
        let x = Tensor(zeros: [1, 4, 5, 5])
        XCTAssertThrowsError(try device.conv2d(x, weight: Tensor(zeros: [2, 3, 3, 3])))          // channel mismatch
        XCTAssertThrowsError(try device.conv2d(x, weight: Tensor(zeros: [2, 4, 7, 7])))          // kernel > input
        XCTAssertThrowsError(try device.conv2d(x, weight: Tensor(zeros: [3, 2, 1, 1]), groups: 2)) // out not divisible
        XCTAssertThrowsError(try device.conv2d(x, weight: Tensor(zeros: [2, 4, 1, 1]), bias: Tensor(zeros: [3])))
        XCTAssertThrowsError(try device.conv2d(x, weight: Tensor(zeros: [2, 4, 1, 1]), stride: [0, 1]))
        XCTAssertThrowsError(try device.conv2d(Tensor(zeros: [4, 5, 5]), weight: Tensor(zeros: [2, 4, 1, 1])))
        XCTAssertThrowsError(try device.maxPool2d(x, kernel: [3, 3], padding: .symmetric(3)))
        XCTAssertThrowsError(try device.avgPool2d(x, kernel: [9, 9]))
        XCTAssertThrowsError(try device.resize(x, height: 0, width: 3, mode: .linear, coordinates: .halfPixel))
        XCTAssertThrowsError(try device.globalAveragePool(Tensor(zeros: [1, 2, 0, 3])))
        XCTAssertThrowsError(try foldBatchNorm(weight: Tensor(zeros: [2, 1, 1, 1]), gamma: Tensor(zeros: [3]),
                                               beta: Tensor(zeros: [2]), mean: Tensor(zeros: [2]),
                                               variance: Tensor(zeros: [2]), epsilon: 1e-5))
    }
}
