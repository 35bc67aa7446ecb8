import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapFormats

/// Repository root, found from this file's path (Tests/SwiftCapFormatsTests/TestSupport.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A file under fixtures/formats/.
func fixture(_ name: String) -> URL {
    repositoryRoot.appendingPathComponent("fixtures/formats").appendingPathComponent(name)
}

/// The parsed JSON object in fixtures/formats/`name`.
func loadExpected(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: fixture(name))
    guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw FormatError.malformed(file: name, detail: "expected a JSON object")
    }
    return obj
}

/// Float values from a fixture list (numbers, or "inf"/"-inf"/"nan" strings).
func floats(_ any: Any?) -> [Float] {
    guard let list = any as? [Any] else { return [] }
    return list.map { v in
        if let s = v as? String {
            switch s {
            case "inf": return Float.infinity
            case "-inf": return -Float.infinity
            default: return Float.nan
            }
        }
        if let d = v as? Double { return Float(d) }
        if let i = v as? Int { return Float(i) }
        return Float.nan
    }
}

func ints(_ any: Any?) -> [Int] {
    guard let list = any as? [Any] else { return [] }
    return list.compactMap { ($0 as? Int) ?? ($0 as? Double).map { Int($0) } }
}

/// Asserts element-wise equality within `tolerance` (exact match for infinities; NaN matches NaN).
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 0, _ message: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(message): count", file: file, line: line)
    var worst: Float = 0
    var worstIndex = -1
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], e = expected[i]
        if a.isNaN && e.isNaN { continue }
        if a.isInfinite || e.isInfinite {
            if a != e { XCTFail("\(message): element \(i) is \(a), expected \(e)", file: file, line: line); return }
            continue
        }
        let d = abs(a - e)
        if !(d <= worst) { worst = d; worstIndex = i }
    }
    if worst > tolerance || worst.isNaN {
        XCTFail("\(message): max abs error \(worst) at \(worstIndex) (\(actual[worstIndex]) vs \(expected[worstIndex])) exceeds \(tolerance)", file: file, line: line)
    }
}

/// Deterministic random numbers for mutation tests.
struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}
