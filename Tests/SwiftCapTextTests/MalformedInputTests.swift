import Foundation
import XCTest
@testable import SwiftCapText

/// Every reader turns bad input into a typed error naming the problem.
final class MalformedInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func write(_ name: String, _ text: String) throws -> URL { try write(name, Array(text.utf8)) }

    func assertThrows<T>(_ expr: @autoclosure () throws -> T, _ check: (TokenizerError) -> Bool,
                         file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try expr()
            XCTFail("no error thrown", file: file, line: line)
        } catch let e as TokenizerError {
            XCTAssertTrue(check(e), "unexpected error \(e)", file: file, line: line)
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
    }

    func isGzip(_ e: TokenizerError) -> Bool { if case .badGzip = e { return true }; return false }
    func isMalformed(_ e: TokenizerError) -> Bool { if case .malformed = e { return true }; return false }

    /// A gzip of "hello hello hello\n" made by Python's gzip module (fixed header, deflate, trailer).
    let helloGzip: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9,
                              0xc9, 0x57, 0xc8, 0x40, 0x90, 0x5c, 0x00, 0x3b, 0x7c, 0x8a, 0xdf, 0x12, 0x00, 0x00, 0x00]

    func testGzipRoundTripAndDamage() throws {
        XCTAssertEqual(String(decoding: try Gzip.decompress(helloGzip), as: UTF8.self), "hello hello hello\n")
        assertThrows(try Gzip.decompress([]), isGzip)
        assertThrows(try Gzip.decompress(Array(helloGzip.prefix(12))), isGzip)          // truncated
        assertThrows(try Gzip.decompress(Array(helloGzip.dropLast(4))), isGzip)          // no length trailer
        var crc = helloGzip; crc[crc.count - 8] ^= 0xff
        assertThrows(try Gzip.decompress(crc), isGzip)                                   // CRC mismatch
        var magic = helloGzip; magic[0] = 0
        assertThrows(try Gzip.decompress(magic), isGzip)
        var blockType = helloGzip; blockType[10] |= 0x06                                 // reserved block type 3
        assertThrows(try Gzip.decompress(blockType), isGzip)
        assertThrows(try Gzip.decompress(helloGzip, limit: 4), isGzip)                   // output cap
        assertThrows(try Gzip.decompress([UInt8](repeating: 0x1f, count: 100)), isGzip)
    }

    func testCLIPVocabularyErrors() throws {
        assertThrows(try CLIPTokenizer(bpeGzip: dir.appendingPathComponent("missing.gz")), {
            if case .unreadable = $0 { return true }; return false
        })
        assertThrows(try CLIPTokenizer(bpeGzip: try write("bad.gz", "not gzip at all, just text........")), isGzip)
        assertThrows(try CLIPTokenizer(bpeGzip: try write("short.gz", helloGzip)), isMalformed) // too few lines
    }

    func testGPT2VocabularyErrors() throws {
        let vocab = try write("vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}")
        let good = try write("merges.txt", "#version: 0.2\na b\n")
        XCTAssertEqual(try GPT2Tokenizer(vocabJSON: vocab, mergesTXT: good).vocabularySize, 3)
        assertThrows(try GPT2Tokenizer(vocabJSON: try write("v1.json", "[1, 2]"), mergesTXT: good), isMalformed)
        assertThrows(try GPT2Tokenizer(vocabJSON: try write("v2.json", "{\"a\": \"zero\"}"), mergesTXT: good), isMalformed)
        assertThrows(try GPT2Tokenizer(vocabJSON: try write("v3.json", ""), mergesTXT: good), isMalformed)
        assertThrows(try GPT2Tokenizer(vocabJSON: try write("v4.json", "{\"a\": 0, \"b\": 0}"), mergesTXT: good), isMalformed)
        assertThrows(try GPT2Tokenizer(vocabJSON: vocab, mergesTXT: try write("m1.txt", "a b c\n")), isMalformed)
        assertThrows(try GPT2Tokenizer(vocabJSON: vocab, mergesTXT: try write("m2.txt", "a c\n")), {
            if case .unknownSymbol(_, "c") = $0 { return true }; return false
        })
        assertThrows(try GPT2Tokenizer(vocabJSON: vocab, mergesTXT: try write("m3.txt", [0x61, 0x20, 0xff, 0x0a])), isMalformed)
        let tok = try GPT2Tokenizer(vocabJSON: vocab, mergesTXT: good)
        assertThrows(try tok.decode([7]), { $0 == .unknownID(7) })
        assertThrows(try tok.decode([-1]), { $0 == .unknownID(-1) })
    }

    func testTokenizerJSONErrors() throws {
        assertThrows(try GPT2Tokenizer(tokenizerJSON: try write("t1.json", "{\"model\": {\"type\": \"WordPiece\"}}")), {
            if case .unsupported = $0 { return true }; return false
        })
        assertThrows(try GPT2Tokenizer(tokenizerJSON: try write("t2.json", "{}")), isMalformed)
        assertThrows(try GPT2Tokenizer(tokenizerJSON: try write("t3.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [3]}}")), isMalformed)
        let noPre = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}"
        assertThrows(try GPT2Tokenizer(tokenizerJSON: try write("t4.json", noPre)), {
            if case .unsupported = $0 { return true }; return false
        })
        assertThrows(try GPT2Tokenizer(tokenizerJSON: try write("t5.json", Array("{\"model\": ".utf8))), isMalformed)
    }

    func testGGUFStyleVocabularyErrors() throws {
        assertThrows(try GPT2Tokenizer(tokens: ["a", "a"], merges: []), isMalformed)
        assertThrows(try GPT2Tokenizer(tokens: ["a", "b"], merges: ["a b"]), {
            if case .unknownSymbol(_, "ab") = $0 { return true }; return false
        })
        assertThrows(try GPT2Tokenizer(tokens: [], merges: []), isMalformed)
        let t = try GPT2Tokenizer(tokens: ["a", "b", "ab", "<s>"], merges: ["a b"], specialIDs: [3])
        XCTAssertEqual(t.encode("ab<s>abc"), [2, 3, 2])   // "c" is not in the vocabulary: dropped, as tokenizers does
        XCTAssertEqual(try t.decode([2, 3, 0]), "aba")
        XCTAssertEqual(try t.decode([2, 3, 0], skipSpecialTokens: false), "ab<s>a")
    }

    func testWordPieceVocabularyErrors() throws {
        assertThrows(try WordPieceTokenizer(vocabTXT: try write("v.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n")), {
            if case .unknownSymbol(_, "[UNK]") = $0 { return true }; return false
        })
        assertThrows(try WordPieceTokenizer(vocabTXT: try write("bad.txt", [0x5b, 0xc3, 0x28])), isMalformed)
        let tok = try WordPieceTokenizer(vocabTXT: try write("ok.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\n"))
        XCTAssertEqual(tok.encode("Hellos HELLO hi"), [2, 4, 5, 4, 1, 3])
        assertThrows(try tok.decode([99]), { $0 == .unknownID(99) })
    }
}
