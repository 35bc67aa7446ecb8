import Foundation
import XCTest
import SwiftCapTestSupport
import SwiftCapTensor
@testable import SwiftCapFormats

final class TorchCheckpointTests: XCTestCase {
    private func checkAgainstTorch(_ file: String, format: TorchCheckpoint.Format) throws {
        let ck = try TorchCheckpoint(url: fixture(file))
        XCTAssertEqual(ck.format, format, file)
        let expected = try XCTUnwrap(try loadExpected(file + ".expected.json")["tensors"] as? [[String: Any]])
        XCTAssertEqual(ck.tensorNames, expected.map { $0["name"] as? String ?? "" }, file)
        for e in expected {
            let name = try XCTUnwrap(e["name"] as? String)
            let info = try XCTUnwrap(ck.tensorInfo(name), name)
            XCTAssertEqual(info.dtype, e["dtype"] as? String, "\(file) \(name)")
            XCTAssertEqual(info.shape, ints(e["shape"]), "\(file) \(name)")
            let t = try ck.loadTensor(name)
            XCTAssertEqual(t.shape, info.shape, "\(file) \(name)")
            assertClose(t.scalars, floats(e["values"]), "\(file) \(name)")
        }
        // the non-tensor parts of the object survive
        guard case .dict(let root) = ck.root else { return XCTFail("root is not a dict: \(ck.root)") }
        XCTAssertEqual(root["epoch"]?.asInt, 7)
        XCTAssertEqual(root["names"]?.asSequence?.compactMap(\.asString), ["x", "y"])
        // strided views sharing storage: the transposed view equals the transpose of its base
        let w = try ck.loadTensor("state_dict.a.weight")
        XCTAssertEqual(try ck.loadTensor("state_dict.transposed").scalars, try w.transposed().contiguous().scalars)
        XCTAssertEqual(ck.tensorRef("state_dict.slice")?.storageOffset, 5)
        XCTAssertEqual(try Weights(ck).pp("state_dict").pp("a").tensor("weight", shape: [3, 4]).scalars, w.scalars)
    }

    func testZipFormatMatchesTorchLoad() throws {
        try checkAgainstTorch("tiny_zip.pt", format: .zip)
    }

    func testZipFormatPickleProtocol4() throws {
        try checkAgainstTorch("tiny_zip_p4.pt", format: .zip)
    }

    func testLegacyFormatMatchesTorchLoad() throws {
        try checkAgainstTorch("tiny_legacy.pt", format: .legacy)
    }

    func testZipF32IsZeroCopy() throws {
        let ck = try TorchCheckpoint(url: fixture("tiny_zip.pt"))
        XCTAssertTrue(try ck.loadTensor("state_dict.a.weight").storage.owner === ck.file)
        XCTAssertNil(try ck.loadTensor("state_dict.transposed").storage.owner, "strided views are copied to contiguous")
    }

    func testEfficientNetLite0LegacyCheckpoint() throws {
        let url = AssetPaths.fromEnvironment(repositoryRoot: repositoryRoot).asset("efficientnet-lite0/efficientnet-lite0-57934424.pth")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw missingInput("EfficientNet-Lite0 asset not found at \(url.path); run scripts/fetch-assets.sh")
        }
        let ck = try TorchCheckpoint(url: url)
        XCTAssertEqual(ck.format, .legacy)
        let expected = try XCTUnwrap(try loadExpected("efficientnet-lite0.pth.expected.json")["tensors"] as? [[String: Any]])
        XCTAssertEqual(ck.tensorNames, expected.map { $0["name"] as? String ?? "" })
        var params = 0
        for e in expected {
            let name = try XCTUnwrap(e["name"] as? String)
            XCTAssertEqual(ck.tensorInfo(name)?.dtype, e["dtype"] as? String, name)
            let t = try ck.loadTensor(name)
            XCTAssertEqual(t.shape, ints(e["shape"]), name)
            let s = t.scalars
            if e["dtype"] as? String == "float32" { params += s.count }
            assertClose(Array(s.prefix(4)), floats(e["first"]), name)
            assertClose(Array(s.suffix(2)), floats(e["last"]), name)
            let sum = s.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, e["sum"] as? Double ?? .nan, accuracy: 1e-4 * max(1, abs(sum)), name)
        }
        // float32 elements per torch (weights + batch-norm running stats; README: 4.69M parameters)
        let expectedParams = expected.filter { $0["dtype"] as? String == "float32" }.map { ints($0["shape"]).reduce(1, *) }.reduce(0, +)
        XCTAssertEqual(params, expectedParams)
        XCTAssertGreaterThan(params, 4_600_000)
    }

    // MARK: pickle safety

    private func pickle(_ body: [UInt8]) -> MappedFile { MappedFile(bytes: [0x80, 0x02] + body + [0x2e], name: "p.pkl") }

    func testPickleRefusesCodeExecutionAndUnknownOpcodes() {
        // GLOBAL os.system + REDUCE: refused at GLOBAL, nothing is called
        var r = PickleReader(file: pickle(Array("cos\nsystem\n".utf8) + [0x58, 2, 0, 0, 0] + Array("ls".utf8) + [0x85, 0x52]))
        XCTAssertThrowsError(try r.load()) { XCTAssertTrue("\($0)".contains("'os.system', which is not on the state_dict allow-list"), "\($0)") }
        // STACK_GLOBAL builtins.eval
        r = PickleReader(file: pickle([0x8c, 8] + Array("builtins".utf8) + [0x8c, 4] + Array("eval".utf8) + [0x93]))
        XCTAssertThrowsError(try r.load()) { XCTAssertTrue("\($0)".contains("builtins.eval"), "\($0)") }
        // INST opcode ('i') is not supported
        r = PickleReader(file: pickle([0x28, 0x69] + Array("os\nsystem\n".utf8)))
        XCTAssertThrowsError(try r.load()) { XCTAssertTrue("\($0)".contains("opcode 0x69"), "\($0)") }
        // protocol 0/1 header
        r = PickleReader(file: MappedFile(bytes: [0x80, 0x06, 0x4e, 0x2e], name: "p.pkl"))
        XCTAssertThrowsError(try r.load()) { XCTAssertTrue("\($0)".contains("protocol 6"), "\($0)") }
        // truncated, stack underflow, undefined memo
        for bytes: [UInt8] in [[0x80, 0x02, 0x58, 9, 0, 0, 0, 0x61], [0x80, 0x02, 0x2e], [0x80, 0x02, 0x68, 3, 0x2e], [0x80, 0x02, 0x4e]] {
            var rr = PickleReader(file: MappedFile(bytes: bytes, name: "p.pkl"))
            XCTAssertThrowsError(try rr.load()) { XCTAssertTrue($0 is FormatError && "\($0)".contains("p.pkl"), "\($0)") }
        }
    }

    func testPickleValuesAndDepthLimit() throws {
        // {'a': [1, -2, 3.5, True, None, b'xy', 2**70]}
        var body: [UInt8] = [0x7d, 0x8c, 1, 0x61, 0x5d, 0x28, 0x4b, 1, 0x4a] + withUnsafeBytes(of: Int32(-2).littleEndian, Array.init)
        body += [0x47] + withUnsafeBytes(of: (3.5 as Double).bitPattern.bigEndian, Array.init)
        body += [0x88, 0x4e, 0x43, 2, 0x78, 0x79, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x65, 0x73]
        var r = PickleReader(file: pickle(body))
        guard case .dict(let d) = try r.load(), case .list(let l)? = d["a"] else { return XCTFail("not a dict of list") }
        XCTAssertEqual(l.items.map(\.description), ["1", "-2", "3.5", "True", "None", "b<2 bytes>", "int(9 bytes)"])
        // 5000 nested TUPLE1 are refused rather than building a structure too deep to free
        r = PickleReader(file: pickle([0x4e] + [UInt8](repeating: 0x85, count: 5000)))
        XCTAssertThrowsError(try r.load()) { XCTAssertTrue("\($0)".contains("nested deeper"), "\($0)") }
        // a list appended to itself (a cycle) loads and prints without recursing forever
        r = PickleReader(file: pickle([0x5d, 0x71, 0, 0x68, 0, 0x61]))
        XCTAssertTrue(try r.load().description.contains("[…]"))
    }

    func testNotACheckpoint() throws {
        for (bytes, needle) in [([UInt8](), "not a PyTorch checkpoint"), (Array("hello".utf8), "not a PyTorch checkpoint"),
                                ([0x80, 0x02, 0x4b, 0x05, 0x2e], "magic number"), ([0x50, 0x4b, 0x03, 0x04, 0, 0], "end-of-central-directory")] {
            XCTAssertThrowsError(try TorchCheckpoint(file: MappedFile(bytes: bytes, name: "x.pt"))) {
                XCTAssertTrue("\($0)".contains(needle) && "\($0)".contains("x.pt"), "\($0)")
            }
        }
    }
}
