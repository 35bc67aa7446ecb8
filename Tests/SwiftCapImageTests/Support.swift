import Foundation
import XCTest
import SwiftCapTensor
@testable import SwiftCapImage

/// Paths and fixture helpers shared by the image tests.
enum Fixtures {
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let folder = repositoryRoot.appendingPathComponent("fixtures/image")
    static let decodeFolder = folder.appendingPathComponent("decode")

    static func json(_ name: String) throws -> [String: Any] {
        let url = folder.appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("\(url.path): top level is not an object")
        }
        return object
    }

    static func bytes(base64 value: Any?, _ what: String) throws -> [UInt8] {
        guard let s = value as? String, let d = Data(base64Encoded: s) else { throw FixtureError("\(what): bad base64") }
        return [UInt8](d)
    }

    /// coco-dev photos folder, or nil (with the reason) when ../shared is absent.
    static func cocoDevImages() -> (URL?, String) {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRoot)
        let folder = paths.sharedFile("eval/coco-dev/images")
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue {
            return (folder, "")
        }
        return (nil, "shared folder not found at \(folder.path) (set SWIFTCAP_SHARED or place ../shared beside the repository)")
    }

    /// A fresh temporary directory, removed at the end of the test.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Largest absolute difference between two byte arrays of equal length (Int.max if lengths differ).
func maxByteDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    guard a.count == b.count else { return Int.max }
    var m = 0
    for i in 0..<a.count { m = max(m, abs(Int(a[i]) - Int(b[i]))) }
    return m
}
