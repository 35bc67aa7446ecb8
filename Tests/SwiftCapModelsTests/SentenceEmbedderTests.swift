import XCTest
import Foundation
import SwiftCapTensor
import SwiftCapFormats
import SwiftCapModels
import SwiftCapTestSupport

/// all-MiniLM-L6-v2 parity with sentence-transformers (fixtures/text/minilm_embeddings.json, written by
/// fixtures/gen/minilm.py) on the real checkpoint from scripts/fetch-assets.sh.
final class SentenceEmbedderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelDir = AssetPaths.fromEnvironment(repositoryRoot: root).asset("minilm")
    static let loaded = Result { try SentenceEmbedder(directory: modelDir) }
    let device = Device(threads: 2)

    struct Fixture: Decodable {
        struct Row: Decodable { var text: String; var tokens: Int; var untruncated_tokens: Int; var embedding: [Float] }
        var max_seq_length: Int
        var dimension: Int
        var sentences: [Row]
    }

    func fixture() throws -> Fixture {
        let url = Self.root.appendingPathComponent("fixtures/text/minilm_embeddings.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func embedder() throws -> SentenceEmbedder {
        guard FileManager.default.fileExists(atPath: Self.modelDir.appendingPathComponent("model.safetensors").path) else {
            throw missingInput("minilm asset not found at \(Self.modelDir.path); run scripts/fetch-assets.sh")
        }
        return try Self.loaded.get()
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for i in a.indices { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    func testConfigAndTruncationFollowTheModelFiles() throws {
        let model = try embedder(), f = try fixture()
        XCTAssertEqual(model.dimension, f.dimension)
        XCTAssertEqual(model.maxSequenceLength, f.max_seq_length)
        XCTAssertEqual(model.encoder.config.layerNormEps, 1e-12)
        XCTAssertEqual(model.encoder.config.numHiddenLayers, 6)
        XCTAssertTrue(model.normalizes)
        // Token counts after truncation equal the Hugging Face tokenizer's (truncation=True, max_length=256).
        XCTAssertTrue(f.sentences.contains { $0.untruncated_tokens > f.max_seq_length }, "fixture lacks a text over the limit")
        for row in f.sentences {
            XCTAssertEqual(model.tokenize(row.text).count, row.tokens, row.text)
            XCTAssertEqual(model.tokenizer.encode(row.text).count, row.untruncated_tokens, row.text)
        }
        let long = try XCTUnwrap(f.sentences.first { $0.untruncated_tokens > f.max_seq_length }).text
        let ids = model.tokenize(long)
        XCTAssertEqual(ids.first, model.tokenizer.clsID)
        XCTAssertEqual(ids.last, model.tokenizer.sepID)
        XCTAssertEqual(Array(ids.dropLast()), Array(model.tokenizer.encode(long).prefix(f.max_seq_length - 1)))
    }

    /// Every fixture sentence, one at a time and as one padded batch, within 1e-4 of sentence-transformers.
    func testEmbeddingsMatchSentenceTransformers() throws {
        let model = try embedder(), f = try fixture()
        let texts = f.sentences.map(\.text)
        let batched = try model.embed(texts, device: device, batchSize: 8)
        var worstSingle: Float = 0, worstBatch: Float = 0
        for (i, row) in f.sentences.enumerated() {
            let single = try model.embed(row.text, device: device)
            XCTAssertEqual(single.count, f.dimension)
            XCTAssertEqual(batched[i].count, f.dimension)
            let e1 = zip(single, row.embedding).map { abs($0 - $1) }.max() ?? .infinity
            let e2 = zip(batched[i], row.embedding).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(e1, 1e-4, "single: \(row.text.prefix(40))")
            XCTAssertLessThanOrEqual(e2, 1e-4, "batched: \(row.text.prefix(40))")
            worstSingle = max(worstSingle, e1)
            worstBatch = max(worstBatch, e2)
            let norm = single.reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
        print("SentenceEmbedder max abs error vs sentence-transformers: single \(worstSingle), batched \(worstBatch)")
    }

    /// Ranking sanity from the reference vectors, then the same ranking from ours.
    func testQueryRanksTheDogCaptionAboveTheKitchen() throws {
        let model = try embedder(), f = try fixture()
        let byText = Dictionary(uniqueKeysWithValues: f.sentences.map { ($0.text, $0.embedding) })
        let query = "dog on a beach", dog = "A dog running on the beach next to the ocean."
        let kitchen = "A kitchen with white cabinets and a stainless steel refrigerator."
        let q = try XCTUnwrap(byText[query]), d = try XCTUnwrap(byText[dog]), k = try XCTUnwrap(byText[kitchen])
        XCTAssertGreaterThan(Self.cosine(q, d), Self.cosine(q, k), "the reference itself ranks the kitchen first")
        // Our ranking of all other fixture sentences for the query equals the reference ranking at the top.
        let ours = try model.embed(f.sentences.map(\.text), device: device)
        let qi = try XCTUnwrap(f.sentences.firstIndex { $0.text == query })
        let others = f.sentences.indices.filter { $0 != qi }
        let refRank = others.sorted { Self.cosine(q, f.sentences[$0].embedding) > Self.cosine(q, f.sentences[$1].embedding) }
        let ourRank = others.sorted { Self.cosine(ours[qi], ours[$0]) > Self.cosine(ours[qi], ours[$1]) }
        XCTAssertEqual(Array(ourRank.prefix(5)), Array(refRank.prefix(5)))
        XCTAssertEqual(f.sentences[ourRank[0]].text, dog)
        XCTAssertGreaterThan(Self.cosine(ours[qi], ours[f.sentences.firstIndex { $0.text == dog }!]),
                             Self.cosine(ours[qi], ours[f.sentences.firstIndex { $0.text == kitchen }!]))
    }

    // MARK: errors

    /// A copy of the model folder in a temporary directory (symlinks), with `edit` applied.
    func modelCopy(_ edit: (URL) throws -> Void) throws -> URL {
        _ = try embedder()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("minilm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for name in ["config.json", "model.safetensors", "vocab.txt", "sentence_bert_config.json", "tokenizer_config.json"] {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(name),
                                                       withDestinationURL: Self.modelDir.appendingPathComponent(name))
        }
        try edit(dir)
        return dir
    }

    func testMissingCheckpointIsNamed() throws {
        let dir = try modelCopy { try FileManager.default.removeItem(at: $0.appendingPathComponent("model.safetensors")) }
        XCTAssertThrowsError(try SentenceEmbedder(directory: dir)) { error in
            XCTAssertEqual(error as? SentenceEmbedderError, .missingFile(dir.appendingPathComponent("model.safetensors").path))
        }
    }

    func testTruncatedCheckpointIsRefused() throws {
        let dir = try modelCopy { dir in
            let url = dir.appendingPathComponent("model.safetensors")
            let data = try Data(contentsOf: url)
            try FileManager.default.removeItem(at: url)
            try data.prefix(data.count / 2).write(to: url)
        }
        XCTAssertThrowsError(try SentenceEmbedder(directory: dir)) { error in
            XCTAssertTrue(error is FormatError, "\(type(of: error)): \(error)")
        }
    }

    func testWrongTensorShapeIsNamed() throws {
        let file = try SafetensorsFile(url: try modelCopy { _ in }.appendingPathComponent("model.safetensors"))
        var tensors: [String: Tensor] = [:]
        for name in file.tensorNames where file.tensorInfo(name)?.dtype == "F32" { tensors[name] = try file.loadTensor(name) }
        let config = try BERTConfig.load(from: Self.modelDir.appendingPathComponent("config.json"))
        let name = "encoder.layer.3.intermediate.dense.weight"
        tensors[name] = Tensor(zeros: [1536, 383])
        XCTAssertThrowsError(try BERTEncoder(weights: Weights(InMemoryTensors(tensors)), config: config, device: device)) { error in
            guard case .shapeMismatch(let n, let expected, let actual, _)? = error as? WeightError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(n, name)
            XCTAssertEqual(expected, [1536, 384])
            XCTAssertEqual(actual, [1536, 383])
        }
        tensors[name] = nil
        XCTAssertThrowsError(try BERTEncoder(weights: Weights(InMemoryTensors(tensors)), config: config, device: device)) { error in
            XCTAssertEqual((error as? WeightError).map { if case .missing(let n, _) = $0 { return n } else { return "" } }, name)
        }
    }

    /// A sentence-transformers pooling config where the BERT config belongs (what an earlier
    /// fetch-assets.sh extracted) is refused by name, not read as BERT-base defaults.
    func testPoolingConfigInPlaceOfBERTConfigIsRefused() throws {
        let dir = try modelCopy { dir in
            let url = dir.appendingPathComponent("config.json")
            try FileManager.default.removeItem(at: url)
            try Data(#"{"word_embedding_dimension": 384, "pooling_mode_mean_tokens": true}"#.utf8).write(to: url)
        }
        XCTAssertThrowsError(try SentenceEmbedder(directory: dir)) { error in
            guard case .config(let file, _)? = error as? SentenceEmbedderError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, dir.appendingPathComponent("config.json").path)
        }
    }

    func testUnsupportedPoolingIsRefused() throws {
        let dir = try modelCopy { dir in
            try Data(#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#.utf8)
                .write(to: dir.appendingPathComponent("modules.json"))
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
            try Data(#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#.utf8)
                .write(to: dir.appendingPathComponent("1_Pooling/config.json"))
        }
        XCTAssertThrowsError(try SentenceEmbedder(directory: dir)) { error in
            guard case .unsupported? = error as? SentenceEmbedderError else { return XCTFail("\(error)") }
        }
    }
}
