import Foundation
import HummingbirdCore
import SwiftCap
import SwiftCapService

/// One libFuzzer entry point; the harness is chosen by $SWIFTCAP_FUZZ_TARGET (scripts/fuzz.sh sets it).
/// A harness may throw (that is the expected answer to bad input); a crash, a sanitizer report, a hang
/// or unbounded memory is a finding.
enum Harness: String, CaseIterable {
    case jpeg, png, safetensors, gguf, pickle, torch, onnx, zip, gzip
    case gpt2Tokenizer = "gpt2-tokenizer", clipTokenizer = "clip-tokenizer", wordpiece
    case jsonConfig = "json-config", xmp, csv, journal
    case http

    static let selected: Harness = {
        let name = ProcessInfo.processInfo.environment["SWIFTCAP_FUZZ_TARGET"] ?? ""
        guard let h = Harness(rawValue: name) else {
            FileHandle.standardError.write(Data("SWIFTCAP_FUZZ_TARGET must be one of: \(Harness.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return h
    }()

    static let assets = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SWIFTCAP_ASSETS"]
                            ?? (NSHomeDirectory() + "/.cache/swiftcap/assets"))
    static let gpt2 = try? GPT2Tokenizer(vocabJSON: assets.appendingPathComponent("gpt2/gpt2_vocab.json"),
                                         mergesTXT: assets.appendingPathComponent("gpt2/gpt2_merges.txt"))
    static let clip = try? CLIPTokenizer(bpeGzip: assets.appendingPathComponent("clip/bpe_simple_vocab_16e6.txt.gz"))
    static let bert = try? WordPieceTokenizer(vocabTXT: assets.appendingPathComponent("minilm/vocab.txt"))
    static let decoder = ImageDecoder(options: ImageDecodeOptions(maxPixels: 4_000_000))

    /// Reads every tensor a source lists (bounds, dtypes and sizes all get exercised).
    static func touch(_ source: some TensorSource) {
        for name in source.tensorNames.prefix(64) {
            _ = source.tensorInfo(name)
            _ = try? source.loadTensor(name)
        }
    }

    func run(_ bytes: UnsafeRawBufferPointer) {
        let file = MappedFile(bytes: bytes, name: "<fuzz>")
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .jpeg: _ = try? Harness.decoder.decode(Data(bytes), name: "fuzz.jpg")
        case .png: _ = try? Harness.decoder.decode(Data(bytes), name: "fuzz.png")
        case .safetensors: if let f = try? SafetensorsFile(file: file) { Harness.touch(f) }
        case .gguf: if let f = try? GGUFFile(file: file) { Harness.touch(f) }
        case .pickle:
            var r = PickleReader(file: file)
            _ = try? r.load()
        case .torch: if let f = try? TorchCheckpoint(file: file) { Harness.touch(f) }
        case .onnx: if let f = try? ONNXModel(file: file) { Harness.touch(f) }
        case .zip:
            if let z = try? ZipArchive(file: file) { for e in z.entries.prefix(16) { _ = try? z.data(e) } }
        case .gzip: _ = try? Gzip.decompress(Array(bytes), limit: 1 << 24)
        case .gpt2Tokenizer:
            guard let t = Harness.gpt2 else { fatalError("GPT-2 vocabulary not found under \(Harness.assets.path)") }
            let ids = t.encode(text)
            precondition((try? t.decode(ids, skipSpecialTokens: false)) == text, "GPT-2 byte-level round trip changed the text")
            _ = try? t.decode(bytes.prefix(64).map { Int($0) * 197 })
        case .clipTokenizer:
            guard let t = Harness.clip else { fatalError("CLIP vocabulary not found under \(Harness.assets.path)") }
            _ = try? t.decode(t.encode(text))
        case .wordpiece:
            guard let t = Harness.bert else { fatalError("WordPiece vocabulary not found under \(Harness.assets.path)") }
            _ = try? t.decode(t.encode(text))
        case .jsonConfig:
            let d = Data(bytes)
            _ = try? JSONDecoder().decode(GPT2Config.self, from: d)
            _ = try? JSONDecoder().decode(BERTConfig.self, from: d)
            _ = try? JSONDecoder().decode(BLIPVisionConfig.self, from: d)
            _ = try? JSONDecoder().decode(BLIPTextConfig.self, from: d)
            _ = try? JSONDecoder().decode(ConceptRetrievalCaptioner.Config.self, from: d)
        case .xmp:
            let fields = XMPFields(description: "a dog on a beach", altText: "a dog on a beach", keywords: ["dog", "beach"])
            if let merged = try? XMPSidecar.merged(fields, into: Data(bytes), file: "<fuzz>") {
                // What we wrote must read back as what we asked for.
                let back = try? XMPSidecar.fields(in: merged, file: "<merged>")
                precondition(back?.description == fields.description, "merged sidecar does not read back its description")
                precondition(back.map { Set(fields.keywords).isSubset(of: $0.keywords) } ?? false, "merged sidecar lost keywords")
            }
        case .csv:
            let rows = CSV.parseRows(text)
            for row in rows.prefix(32) where !row.isEmpty {
                precondition(CSV.parseRows(CSV.row(row)) == [row], "CSV round trip changed \(row)")
            }
        case .journal:
            _ = try? ResultJournal.parse(Data(bytes), format: .jsonl, name: "<fuzz>")
            _ = try? ResultJournal.parse(Data(bytes), format: .csv, name: "<fuzz>")
        case .http: Harness.request(Data(bytes))
        }
    }

    static let apiKeys = APIKeyChecker(keys: ["s3cret-key-1", "k2"])

    /// What `swiftcap serve` reads of a `POST /v1/captions` request, in the order the server reads it.
    /// Input: three header lines (Content-Type, the request target with its query, Authorization),
    /// each ended by "\n", then the body.
    static func request(_ input: Data) {
        var lines: [Data] = []
        var rest = input[...]
        for _ in 0..<3 {
            guard let nl = rest.firstIndex(of: 0x0A) else { break }
            lines.append(Data(rest[..<nl]))
            rest = rest[(nl + 1)...]
        }
        while lines.count < 3 { lines.append(Data()) }
        let contentType = String(decoding: lines[0], as: UTF8.self)
        let target = String(decoding: lines[1], as: UTF8.self)
        let authorization = String(decoding: lines[2], as: UTF8.self)
        let body = Data(rest)

        // Authorization: accepted exactly when it is "Bearer " (any case) followed by one of the keys.
        let auth = Array(lines[2])
        let expected = auth.count > 7 && String(decoding: auth[0..<7], as: UTF8.self).lowercased() == "bearer "
            && ["s3cret-key-1", "k2"].contains { Array($0.utf8) == Array(auth[7...]) }
        precondition(apiKeys.accepts(authorization: authorization) == expected,
                     "APIKeyChecker disagrees with the Bearer rule on \(auth)")

        // Query string (parsed by Hummingbird as the server does), then the request options.
        let query = URI(target).queryParameters.map { (name: String($0.key), value: String($0.value)) }
        if (try? CaptionRequestOptions.parse(query, loadedDecoder: "gpt2")) != nil {
            precondition(query.allSatisfy { ["decoder", "concepts", "boxes"].contains($0.name) },
                         "options accepted an unknown query parameter")
        }

        // Content type -> boundary -> parts.
        guard let boundary = Multipart.boundary(fromContentType: contentType) else { return }
        precondition(!boundary.isEmpty && boundary.count <= 70, "boundary '\(boundary)' out of RFC 2046's 1...70")
        guard let parts = try? Multipart.parse(body, boundary: boundary) else { return }
        precondition(parts.count <= 64, "more parts than maxParts")
        // Each part's bytes lie inside the body, and writing the parts out again reads back the same bytes.
        var again = Data()
        for p in parts {
            precondition(p.data.isEmpty || body.range(of: p.data) != nil, "a part's bytes are not in the body")
            again += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".utf8) + p.data + Data("\r\n".utf8)
        }
        again += Data("--\(boundary)--\r\n".utf8)
        if !parts.isEmpty {
            let back = try? Multipart.parse(again, boundary: boundary)
            precondition(back?.map(\.data) == parts.map(\.data), "multipart round trip changed the parts' bytes")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    Harness.selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

typealias FuzzCallback = @convention(c) (UnsafeRawPointer?, Int) -> CInt
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzCallback) -> CInt

/// SwiftPM links executables with main aliased to `<module>_main`; hand control to libFuzzer's driver.
@_cdecl("SwiftCapFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = Harness.selected
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v, fuzzOne)
}
