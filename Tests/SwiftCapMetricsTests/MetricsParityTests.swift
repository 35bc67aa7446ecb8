import Foundation
import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
@testable import SwiftCapMetrics

/// Parity with pycocoevalcap 1.2 on the fixtures written by fixtures/gen/metrics.py.
final class MetricsParityTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("fixtures/metrics")
    static let assets = AssetPaths.fromEnvironment(repositoryRoot: root).assets

    struct KarpathyRow {
        var imageID: Int
        var cider, rouge, bleu4, meteor: Double
        var hashes: [String]
    }

    static func karpathyRows() throws -> [KarpathyRow] {
        let text = try String(contentsOf: fixtures.appendingPathComponent("karpathy_test.tsv"), encoding: .utf8)
        var rows: [KarpathyRow] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t").map(String.init)
            guard f.count >= 7, let id = Int(f[0]), let c = Double(f[1]), let r = Double(f[2]), let b = Double(f[3]),
                  let m = Double(f[4]) else { throw missingInput("bad fixture row: \(line)") }
            rows.append(KarpathyRow(imageID: id, cider: c, rouge: r, bleu4: b, meteor: m, hashes: Array(f[5...])))
        }
        return rows
    }

    static func corpus(_ name: String) throws -> [String: Double] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
        let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (obj?["corpus"] as? [String: Double]) ?? [:]
    }

    /// COCO val2014 captions per image id, in annotation-id order (from the fetched assets).
    /// Loaded once per test run (the file is 20 MB).
    static let valCaptionsOnce: Result<[Int: [String]], Error> = Result { try loadValCaptions() }

    static func valCaptions() throws -> [Int: [String]] { try valCaptionsOnce.get() }

    static func loadValCaptions() throws -> [Int: [String]] {
        let url = assets.appendingPathComponent("coco-captions/captions_val2014.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("\(url.path) missing: run scripts/fetch-assets.sh")
        }
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let anns = (obj?["annotations"] as? [[String: Any]]) ?? []
        var list: [(Int, Int, String)] = []
        for a in anns {
            if let id = (a["id"] as? NSNumber)?.intValue, let img = (a["image_id"] as? NSNumber)?.intValue, let c = a["caption"] as? String {
                list.append((id, img, c))
            }
        }
        list.sort { $0.0 < $1.0 }
        var out: [Int: [String]] = [:]
        for (_, img, c) in list { out[img, default: []].append(c.replacingOccurrences(of: "\n", with: " ")) }
        return out
    }

    static func fnv1a32(_ s: String) -> String {
        var h: UInt32 = 0x811C_9DC5
        for b in s.utf8 { h ^= UInt32(b); h = h &* 0x0100_0193 }
        return String(format: "%08x", h)
    }

    /// The Karpathy-test inputs: candidate = first caption by annotation id, references = the rest.
    static func karpathyInputs() throws -> (rows: [KarpathyRow], candidates: [String], references: [[String]]) {
        let rows = try karpathyRows()
        let caps = try valCaptions()
        var cands: [String] = [], refs: [[String]] = []
        for r in rows {
            guard let c = caps[r.imageID], c.count >= 2 else { throw missingInput("image \(r.imageID) missing from captions_val2014.json") }
            cands.append(c[0])
            refs.append(Array(c.dropFirst()))
        }
        return (rows, cands, refs)
    }

    func testKarpathyTokenizationMatchesJava() throws {
        let (rows, cands, refs) = try Self.karpathyInputs()
        let tok = PTBTokenizer()
        let tc = tok.tokenize(cands)
        let tr = tok.tokenize(refs.flatMap { $0 })
        var p = 0, diffs = 0, total = 0
        for (i, r) in rows.enumerated() {
            var got = [Self.fnv1a32(tc[i])]
            for _ in refs[i] { got.append(Self.fnv1a32(tr[p])); p += 1 }
            for (k, h) in got.enumerated() {
                total += 1
                if h != r.hashes[k] {
                    diffs += 1
                    if diffs < 10 { print("tokenization differs: image \(r.imageID) caption \(k): \(k == 0 ? cands[i] : refs[i][k - 1])") }
                }
            }
        }
        print("PTB tokenizer: \(diffs) of \(total) Karpathy-test captions differ from the Java tokenizer")
        XCTAssertEqual(total, 25_010)
        XCTAssertEqual(diffs, 0)
    }

    func testKarpathyScoresMatchReference() throws {
        let (rows, cands, refs) = try Self.karpathyInputs()
        let expected = try Self.corpus("karpathy_test.json")
        let eval = CaptionEvaluator(device: Device(threads: 2), meteor: nil)
        let res = try eval.evaluate(candidates: cands, references: refs)
        let c = res.corpus
        for (k, name) in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"].enumerated() {
            XCTAssertEqual(c.bleu[k], try XCTUnwrap(expected[name]), accuracy: 1e-6, name)
        }
        XCTAssertEqual(c.rougeL, try XCTUnwrap(expected["ROUGE-L"]), accuracy: 1e-6)
        XCTAssertEqual(c.ciderD, try XCTUnwrap(expected["CIDEr-D"]), accuracy: 1e-6)
        // The figures, measured with pycocoevalcap: BLEU-4 0.199, ROUGE-L 0.473, CIDEr-D 0.893.
        XCTAssertEqual(c.bleu[3], 0.199, accuracy: 5e-4)
        XCTAssertEqual(c.rougeL, 0.473, accuracy: 5e-4)
        XCTAssertEqual(c.ciderD, 0.893, accuracy: 5e-4)
        var worst = (0.0, 0.0, 0.0)
        for (i, r) in rows.enumerated() {
            worst.0 = max(worst.0, abs(res.perImage[i].ciderD - r.cider))
            worst.1 = max(worst.1, abs(res.perImage[i].rougeL - r.rouge))
            worst.2 = max(worst.2, abs(res.perImage[i].bleu[3] - r.bleu4))
        }
        print("Karpathy test max per-image |diff|: CIDEr-D \(worst.0), ROUGE-L \(worst.1), BLEU-4 \(worst.2)")
        XCTAssertLessThan(worst.0, 1e-6)
        XCTAssertLessThan(worst.1, 1e-6)
        XCTAssertLessThan(worst.2, 1e-6)
        XCTAssertNil(c.spice)
    }

    func testKarpathyMeteorViaJar() throws {
        guard case .success(let meteor) = MeteorScorer.locate(assets: Self.assets) else {
            throw missingInput("java or meteor-1.5.jar not available")
        }
        let (rows, cands, refs) = try Self.karpathyInputs()
        let expected = try Self.corpus("karpathy_test.json")
        let eval = CaptionEvaluator(device: Device(threads: 2), meteor: meteor)
        let res = try eval.evaluate(candidates: cands, references: refs)
        let m = try XCTUnwrap(res.corpus.meteor, res.meteorUnavailable ?? "")
        XCTAssertEqual(m, try XCTUnwrap(expected["METEOR"]), accuracy: 1e-12)
        XCTAssertEqual(m, 0.244, accuracy: 5e-4)
        for (i, r) in rows.enumerated() { XCTAssertEqual(res.perImage[i].meteor ?? -1, r.meteor, accuracy: 1e-12) }
    }

    struct Adversarial: Decodable {
        var image_ids: [Int]
        var candidates: [String]
        var candidates_tokenized: [String]
        var references_tokenized_hashes: [[String]]
        var per_image: [String: [Double]]
        var corpus: [String: Double]
    }

    func testAdversarialCandidates() throws {
        let adv = try JSONDecoder().decode(Adversarial.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("adversarial.json")))
        XCTAssertGreaterThanOrEqual(adv.candidates.count, 300)
        let caps = try Self.valCaptions()
        let refs = try adv.image_ids.map { id -> [String] in
            guard let c = caps[id] else { throw missingInput("image \(id) missing") }
            return Array(c.prefix(5))
        }
        let meteor: MeteorScorer?
        if case .success(let m) = MeteorScorer.locate(assets: Self.assets) { meteor = m } else { meteor = nil }
        let res = try CaptionEvaluator(device: Device(threads: 2), meteor: meteor).evaluate(candidates: adv.candidates, references: refs)
        var tokDiffs = 0
        for (i, t) in adv.candidates_tokenized.enumerated() where res.tokenizedCandidates[i] != t {
            tokDiffs += 1
            print("adversarial tokenization differs: \(adv.candidates[i].debugDescription)\n  java:  \(t.debugDescription)\n  swift: \(res.tokenizedCandidates[i].debugDescription)")
        }
        XCTAssertEqual(tokDiffs, 0)
        for (i, hs) in adv.references_tokenized_hashes.enumerated() {
            XCTAssertEqual(res.tokenizedReferences[i].map(Self.fnv1a32), hs, "references of image \(adv.image_ids[i])")
        }
        let c = res.corpus
        for (k, name) in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"].enumerated() {
            XCTAssertEqual(c.bleu[k], try XCTUnwrap(adv.corpus[name]), accuracy: 1e-6, name)
        }
        XCTAssertEqual(c.rougeL, try XCTUnwrap(adv.corpus["ROUGE-L"]), accuracy: 1e-6)
        XCTAssertEqual(c.ciderD, try XCTUnwrap(adv.corpus["CIDEr-D"]), accuracy: 1e-6)
        let cider = try XCTUnwrap(adv.per_image["CIDEr-D"]), rouge = try XCTUnwrap(adv.per_image["ROUGE-L"])
        let bleu4 = try XCTUnwrap(adv.per_image["BLEU-4"])
        for i in 0..<cider.count {
            XCTAssertEqual(res.perImage[i].ciderD, cider[i], accuracy: 1e-6, "CIDEr-D \(adv.candidates[i].debugDescription)")
            XCTAssertEqual(res.perImage[i].rougeL, rouge[i], accuracy: 1e-6, "ROUGE-L \(adv.candidates[i].debugDescription)")
            XCTAssertEqual(res.perImage[i].bleu[3], bleu4[i], accuracy: 1e-6, "BLEU-4 \(adv.candidates[i].debugDescription)")
        }
        if meteor != nil {
            XCTAssertEqual(try XCTUnwrap(c.meteor), try XCTUnwrap(adv.corpus["METEOR"]), accuracy: 1e-12)
            let m = try XCTUnwrap(adv.per_image["METEOR"])
            for i in 0..<m.count { XCTAssertEqual(res.perImage[i].meteor ?? -1, m[i], accuracy: 1e-12) }
        }
    }
}
