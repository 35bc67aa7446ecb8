import Foundation
import SwiftCapTensor
import XCTest
@testable import SwiftCapText

/// Shared inputs for the parity tests: fixture files, assets and the caption sentences.
enum TextFixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRoot)

    static func fixture(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("fixtures/text").appendingPathComponent(name)
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixture(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.malformed(file: name, reason: "fixture is not a JSON object")
        }
        return obj
    }

    /// An asset that must exist (scripts/fetch-assets.sh puts it there; CI runs it first).
    static func asset(_ relative: String) throws -> URL {
        let url = paths.asset(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TokenizerError.unreadable(file: url.path, reason: "asset missing: run scripts/fetch-assets.sh")
        }
        return url
    }

    /// The hand-made hard strings (committed in inputs.json).
    static let hard: Result<[String], Error> = Result {
        guard let h = try json("inputs.json")["hard"] as? [String] else {
            throw TokenizerError.malformed(file: "inputs.json", reason: "no hard strings")
        }
        return h
    }

    /// The ~10k captions of the first 2,000 Karpathy-val images, read from the COCO asset by the
    /// annotation ids the fixture lists.
    static let captions: Result<[String], Error> = Result {
        guard let ids = try json("inputs.json")["annotation_ids"] as? [Int] else {
            throw TokenizerError.malformed(file: "inputs.json", reason: "no annotation ids")
        }
        let url = try asset("coco-captions/captions_val2014.json")
        guard let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any],
              let anns = root["annotations"] as? [[String: Any]] else {
            throw TokenizerError.malformed(file: url.path, reason: "no annotations")
        }
        var byID: [Int: String] = [:]
        for a in anns {
            if let id = (a["id"] as? NSNumber)?.intValue, let c = a["caption"] as? String { byID[id] = c }
        }
        return try ids.map { id in
            guard let c = byID[id] else { throw TokenizerError.malformed(file: url.path, reason: "annotation \(id) missing") }
            return c
        }
    }

    /// Expected ids ("1 2 3" strings) and decoded texts (null = same as input) of one set.
    struct Expected {
        var ids: [[Int]]
        var decoded: [String?]
    }

    static func expected(_ obj: Any?, name: String) throws -> Expected {
        guard let o = obj as? [String: Any], let ids = o["ids"] as? [String], let dec = o["decoded"] as? [Any] else {
            throw TokenizerError.malformed(file: name, reason: "expected {ids, decoded}")
        }
        return Expected(ids: ids.map(parseIDs), decoded: dec.map { $0 as? String })
    }

    static func parseIDs(_ s: String) -> [Int] { s.split(separator: " ").compactMap { Int($0) } }
}

/// Compares encode/decode against the reference for every text; fails listing the first few
/// mismatches with their index.
func assertParity(_ name: String, texts: [String], expected: TextFixtures.Expected,
                  encode: (String) throws -> [Int], decode: ([Int]) throws -> String,
                  file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(texts.count, expected.ids.count, "\(name): fixture and inputs disagree on the count", file: file, line: line)
    var encodeBad: [String] = [], decodeBad: [String] = []
    for (i, t) in texts.enumerated() where i < expected.ids.count {
        let ids = try encode(t)
        if ids != expected.ids[i] {
            encodeBad.append("#\(i) \(t.debugDescription): got \(ids.prefix(40)) want \(expected.ids[i].prefix(40))")
        }
        let d = try decode(expected.ids[i])
        let want = expected.decoded[i] ?? t
        if d != want || !d.unicodeScalars.elementsEqual(want.unicodeScalars) {
            decodeBad.append("#\(i): got \(d.debugDescription) want \(want.debugDescription)")
        }
    }
    XCTAssertEqual(encodeBad.count, 0, "\(name): \(encodeBad.count) of \(texts.count) encodings differ:\n" + encodeBad.prefix(8).joined(separator: "\n"), file: file, line: line)
    XCTAssertEqual(decodeBad.count, 0, "\(name): \(decodeBad.count) of \(texts.count) decodings differ:\n" + decodeBad.prefix(8).joined(separator: "\n"), file: file, line: line)
}
