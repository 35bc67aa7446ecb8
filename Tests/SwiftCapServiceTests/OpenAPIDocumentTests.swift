import Foundation
import Logging
import SwiftCapService
import SwiftCapTestSupport
import XCTest

/// Python tools from the venv scripts/install-deps.sh makes (`$SWIFTCAP_VENV`, default ~/.cache/swiftcap/venv).
enum PythonVenv {
    static var python: URL {
        let env = ProcessInfo.processInfo.environment["SWIFTCAP_VENV"].flatMap { $0.isEmpty ? nil : $0 }
        let dir = env.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swiftcap/venv")
        return dir.appendingPathComponent("bin/python")
    }

    /// Runs the venv's python; returns (status, stdout, stderr).
    static func run(_ arguments: [String]) throws -> (Int32, String, String) {
        try requireInput(FileManager.default.isExecutableFile(atPath: python.path),
                         "no Python venv at \(python.path) (scripts/install-deps.sh makes it)")
        let p = Process()
        p.executableURL = python
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

final class OpenAPIDocumentTests: XCTestCase {
    /// (METHOD, path) pairs under `paths:` of the YAML document.
    static func documentedRoutes(_ yaml: String) -> Set<String> {
        var routes = Set<String>()
        var inPaths = false
        var path: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if !line.hasPrefix(" ") && !line.isEmpty { break }  // next top-level key
            if line.hasPrefix("  /") && line.hasSuffix(":") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    ") && !line.hasPrefix("     ") && line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch", "head", "options"].contains(String(method)) {
                    routes.insert("\(method.uppercased()) \(path)")
                }
            }
        }
        return routes
    }

    func testEveryDocumentedRouteExistsAndEveryRouteIsDocumented() throws {
        let server = try CaptionServer(configuration: ServeConfiguration(), engine: CaptionEngine(decoderName: "concepts", maxPixels: 100),
                                       logger: Logger(label: "test"))
        let served = Set(server.makeRouter().routes.map { r -> String in
            let p = r.path.description
            return "\(r.method.rawValue) \(p.hasPrefix("/") ? p : "/" + p)"
        })
        let documented = Self.documentedRoutes(OpenAPIDocument.yaml)
        XCTAssertEqual(documented.count, 7, "\(documented.sorted())")
        XCTAssertEqual(served, documented, "served but undocumented: \(served.subtracting(documented).sorted()); "
                       + "documented but not served: \(documented.subtracting(served).sorted())")
    }

    func testDocumentIsServedAndValidOpenAPI31() async throws {
        let h = try await ServerHarness()
        let r = try await h.request("GET", "/openapi.yaml")
        try await h.stop()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, OpenAPIDocument.yaml)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcap-openapi-\(UUID().uuidString).yaml")
        try r.body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, out, err) = try PythonVenv.run(["-c", """
            import sys
            from openapi_spec_validator import validate
            from openapi_spec_validator.readers import read_from_filename
            spec, _ = read_from_filename(sys.argv[1])
            assert spec["openapi"].startswith("3.1"), spec["openapi"]
            validate(spec)
            print("valid", len(spec["paths"]))
            """, file.path])
        XCTAssertEqual(status, 0, err)
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "valid 7", err)
    }

    /// The query parameters documented for POST /v1/captions are exactly those the server accepts, with the
    /// ranges it enforces.
    func testDocumentedQueryParametersAreTheAcceptedOnesWithTheirRanges() throws {
        let yaml = OpenAPIDocument.yaml
        let names = yaml.split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("- name: ") ? String(t.dropFirst(8)) : nil
        }
        XCTAssertEqual(names, ["decoder", "concepts", "boxes", "beams", "max_tokens"])
        let valid = ["decoder": "concepts", "concepts": "false", "boxes": "true", "beams": "2", "max_tokens": "7"]
        for name in names {
            XCTAssertNoThrow(try CaptionRequestOptions.parse([(name, valid[name] ?? "")], loadedDecoder: "concepts"), name)
        }
        XCTAssertThrowsError(try CaptionRequestOptions.parse([("temperature", "1")], loadedDecoder: "concepts"))
        for (name, range) in [("beams", CaptionRequestOptions.beamsRange), ("max_tokens", CaptionRequestOptions.maxTokensRange)] {
            let section = try XCTUnwrap(yaml.range(of: "- name: \(name)\n")).upperBound
            let rest = String(yaml[section...].prefix(1200))
            XCTAssertTrue(rest.contains("minimum: \(range.lowerBound)\n            maximum: \(range.upperBound)\n"), "\(name): \(rest)")
            XCTAssertNoThrow(try CaptionRequestOptions.parse([(name, "\(range.upperBound)")], loadedDecoder: "concepts"))
            XCTAssertThrowsError(try CaptionRequestOptions.parse([(name, "\(range.upperBound + 1)")], loadedDecoder: "concepts"))
            XCTAssertThrowsError(try CaptionRequestOptions.parse([(name, "\(range.lowerBound - 1)")], loadedDecoder: "concepts"))
        }
        XCTAssertTrue(yaml.contains("        tokens:\n          type: integer\n"), "CaptionResult documents tokens")
    }
}
