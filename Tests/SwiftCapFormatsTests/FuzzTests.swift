import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapFormats

/// Random mutations of valid fixture files: every reader must return a result or a typed error
/// naming the file — never crash, hang or throw an untyped error.
final class FuzzTests: XCTestCase {
    enum Mutation: CaseIterable { case flip, truncate, lengthField, splice }

    /// A mutated copy of `bytes` (deterministic in `rng`).
    static func mutate(_ bytes: [UInt8], _ rng: inout TestRNG) -> [UInt8] {
        var b = bytes
        guard !b.isEmpty else { return b }
        switch Mutation.allCases[rng.below(Mutation.allCases.count)] {
        case .flip:
            for _ in 0..<(1 + rng.below(8)) {
                let i = rng.below(b.count)
                b[i] = rng.below(2) == 0 ? b[i] ^ UInt8(1 << rng.below(8)) : UInt8(rng.below(256))
            }
        case .truncate:
            b = Array(b.prefix(rng.below(b.count)))
        case .lengthField:
            // overwrite 1, 2, 4 or 8 bytes with an extreme or random value (lengths, counts, offsets)
            let width = [1, 2, 4, 8][rng.below(4)]
            // a quarter of the time within the first 32 bytes, where the top-level lengths and counts live
            let i = rng.below(4) == 0 ? rng.below(min(32, max(1, b.count - width))) : rng.below(max(1, b.count - width))
            let extremes: [UInt64] = [0, 1, 0x7f, 0xff, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff, 0x7fff_ffff_ffff_ffff, .max, rng.next()]
            let v = extremes[rng.below(extremes.count)]
            for k in 0..<width where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
        case .splice:
            // duplicate or delete a run of bytes (shifts every later offset)
            let i = rng.below(b.count), n = 1 + rng.below(min(64, b.count - i))
            if rng.below(2) == 0 { b.insert(contentsOf: b[i..<(i + n)], at: i) } else { b.removeSubrange(i..<(i + n)) }
        }
        return b
    }

    /// Opens and fully loads `count` mutations of `fixtureName` with `open`, checking error types.
    /// Mutations per reader: 300, or `$SWIFTCAP_FUZZ_COUNT` for longer local runs (seed offset by `$SWIFTCAP_FUZZ_SEED`).
    private var mutationCount: Int { ProcessInfo.processInfo.environment["SWIFTCAP_FUZZ_COUNT"].flatMap(Int.init) ?? 300 }
    private var seedOffset: UInt64 { ProcessInfo.processInfo.environment["SWIFTCAP_FUZZ_SEED"].flatMap(UInt64.init) ?? 0 }

    private func fuzz(_ fixtureName: String, seed: UInt64, open: (MappedFile) throws -> any TensorSource) throws {
        let count = mutationCount
        let original = [UInt8](try Data(contentsOf: fixture(fixtureName)))
        // the unmutated file loads completely
        let src = try open(MappedFile(bytes: original, name: fixtureName))
        for n in src.tensorNames {
            do { _ = try src.loadTensor(n).scalars } catch WeightError.unsupportedDType { continue }
        }
        var rng = TestRNG(seed: seed &+ seedOffset)
        var opened = 0, loaded = 0, typedErrors = 0
        let start = Date()
        for i in 0..<count {
            let name = "mutant-\(i)-\(fixtureName)"
            let bytes = FuzzTests.mutate(original, &rng)
            do {
                let s = try open(MappedFile(bytes: bytes, name: name))
                opened += 1
                for t in s.tensorNames {
                    do {
                        let x = try s.loadTensor(t)
                        _ = x.scalars
                        XCTAssertEqual(x.shape, s.tensorInfo(t)?.shape, "\(name) \(t)")
                        loaded += 1
                    } catch let e as FormatError {
                        XCTAssertEqual(e.file, name); typedErrors += 1
                    } catch let e as WeightError {
                        XCTAssertTrue(e.description.contains(name), "\(e)"); typedErrors += 1
                    }
                }
            } catch let e as FormatError {
                XCTAssertEqual(e.file, name, "\(e)")
                XCTAssertFalse(e.description.isEmpty)
                typedErrors += 1
            } catch {
                XCTFail("\(name): untyped error \(type(of: error)): \(error)")
            }
        }
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, 5 * Double(max(count, 300)) / 300, "\(fixtureName): \(count) mutations took \(seconds) s")
        XCTAssertGreaterThan(typedErrors, 0, "mutations of \(fixtureName) never produced an error: the fuzzer is not reaching the checks")
        print("fuzz \(fixtureName): \(count) mutants, \(opened) opened, \(loaded) tensors loaded, \(typedErrors) typed errors, \(String(format: "%.2f", seconds)) s")
    }

    func testSafetensorsMutations() throws {
        try fuzz("tiny.safetensors", seed: 11) { try SafetensorsFile(file: $0) }
    }

    func testONNXMutations() throws {
        try fuzz("tiny.onnx", seed: 12) { try ONNXModel(file: $0) }
    }

    func testTorchZipMutations() throws {
        try fuzz("tiny_zip.pt", seed: 13) { try TorchCheckpoint(file: $0) }
    }

    func testTorchZipProtocol4Mutations() throws {
        try fuzz("tiny_zip_p4.pt", seed: 16) { try TorchCheckpoint(file: $0) }
    }

    func testTorchLegacyMutations() throws {
        try fuzz("tiny_legacy.pt", seed: 14) { try TorchCheckpoint(file: $0) }
    }

    func testGGUFMutations() throws {
        try fuzz("tiny.gguf", seed: 15) { try GGUFFile(file: $0) }
    }

    func testDeeplyNestedSafetensorsJSON() {
        var bytes: [UInt8] = []
        let json = "{\"a\":" + String(repeating: "[", count: 100_000)
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(json.utf8)
        XCTAssertThrowsError(try SafetensorsFile(file: MappedFile(bytes: bytes, name: "deep.safetensors"))) {
            XCTAssertTrue($0 is FormatError, "\($0)")
        }
    }
}
