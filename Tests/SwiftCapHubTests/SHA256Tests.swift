import Foundation
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

final class SHA256Tests: XCTestCase {
    /// FIPS 180-4 examples.
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// Every length 0…300 (all padding cases) and the fixture checkpoints, fed in odd chunk sizes, against hashlib.
    func testAgainstPythonHashlib() throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        try Data(bytes).write(to: tmp.appendingPathComponent("random.bin"))
        let fixtures = ["blip-tiny/model.safetensors", "smallcap-tiny/pytorch_model.bin", "clipcap-mlp/model.pt"]
            .map { repoRoot.appendingPathComponent("fixtures/captioners/" + $0) }
        for f in fixtures { try requireInput(FileManager.default.fileExists(atPath: f.path), f.path) }
        let script = """
        import hashlib, sys
        data = open(sys.argv[1], 'rb').read()
        for n in range(len(data) + 1): print(hashlib.sha256(data[:n]).hexdigest())
        for f in sys.argv[2:]: print(hashlib.sha256(open(f, 'rb').read()).hexdigest())
        """
        let r = try runProcess(testPython(), ["-c", script, tmp.appendingPathComponent("random.bin").path] + fixtures.map(\.path))
        try requireInput(r.status == 0, "python3 for hashlib: \(r.stderr)")
        let expected = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(expected.count, 301 + fixtures.count)
        for n in 0...300 {
            var h = SHA256()
            var i = 0, step = 1 + n % 7
            while i < n { let j = min(n, i + step); h.update(Data(bytes[i..<j])); i = j; step = step % 70 + 13 }
            XCTAssertEqual(h.finalizeHex(), expected[n], "length \(n)")
        }
        for (k, f) in fixtures.enumerated() {
            XCTAssertEqual(try SHA256.hex(fileAt: f), expected[301 + k], f.lastPathComponent)
        }
    }

    /// Git blob ids (what the hub lists as `oid` for small files) against Python's hashlib.sha1.
    func testGitBlobIDAgainstPython() throws {
        let files = ["blip-tiny/vocab.txt", "blip-tiny/config.json", "smallcap-tiny/config.json", "clipcap-mlp/model.pt"]
            .map { repoRoot.appendingPathComponent("fixtures/captioners/" + $0) }
        let r = try runProcess(testPython(), ["-c", """
        import hashlib, sys
        for f in sys.argv[1:]:
            d = open(f, 'rb').read(); print(hashlib.sha1(b'blob %d\\0' % len(d) + d).hexdigest())
        """] + files.map(\.path))
        try requireInput(r.status == 0, "python3 for hashlib: \(r.stderr)")
        XCTAssertEqual(try files.map { try SHA1.gitBlobID(fileAt: $0) }, r.stdout.split(separator: "\n").map(String.init))
        var s = SHA1()
        s.update(Data("abc".utf8))
        XCTAssertEqual(s.finalizeHex(), "a9993e364706816aba3e25717850c26c9cd0d89d")
    }
}
