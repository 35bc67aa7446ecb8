import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Python the tests use: `$SWIFTCAP_TEST_PYTHON`, else the venv scripts/python-deps.sh makes (.venv-test), else python3.
func testPython() -> URL {
    if let p = ProcessInfo.processInfo.environment["SWIFTCAP_TEST_PYTHON"], !p.isEmpty { return URL(fileURLWithPath: p) }
    let venv = repoRoot.appendingPathComponent(".venv-test/bin/python")
    if FileManager.default.isExecutableFile(atPath: venv.path) { return venv }
    return URL(fileURLWithPath: "/usr/bin/python3")
}

struct ProcessResult { var status: Int32; var stdout: String; var stderr: String }

/// Runs a program to completion (stdout/stderr read concurrently so a full pipe cannot block it).
func runProcess(_ exe: URL, _ args: [String], env: [String: String] = [:], cwd: URL? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    var e = ProcessInfo.processInfo.environment
    // The fake hub is local: never through a proxy a CI machine may set for package registries.
    e["NO_PROXY"] = "127.0.0.1,localhost"
    e["no_proxy"] = "127.0.0.1,localhost"
    for (k, v) in env { e[k] = v }
    p.environment = e
    if let cwd { p.currentDirectoryURL = cwd }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let done = DispatchSemaphore(value: 0)
    let t = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); done.signal() }
    t.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    done.wait()
    let errData = errBox.data
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// scripts/fake_hub.py on 127.0.0.1 with a free port, serving `repos/ORG/NAME/…` from a temporary folder.
final class FakeHub {
    let process = Process()
    let root: URL
    let port: Int
    static let token = "hf_testSECRETtoken1234567890"
    var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// `repos`: repo id → source folder whose files are copied in. `privateRepos` need the token.
    init(repos: [String: URL], privateRepos: [String] = []) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fakehub-\(UUID().uuidString)")
        for (id, src) in repos {
            let dest = root.appendingPathComponent("repos").appendingPathComponent(id)
            try FileManager.default.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: src, to: dest)
        }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("repos"), withIntermediateDirectories: true)
        let script = repoRoot.appendingPathComponent("scripts/fake_hub.py")
        try requireInput(FileManager.default.fileExists(atPath: script.path), "scripts/fake_hub.py")
        process.executableURL = testPython()
        process.arguments = [script.path, "--root", root.appendingPathComponent("repos").path, "--token", FakeHub.token]
            + privateRepos.flatMap { ["--private", $0] }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("PORT "), let p = Int(text.dropFirst(5)) else {
            process.terminate()
            throw missingInput("fake hub did not start (python \(testPython().path)); printed '\(text)'")
        }
        port = p
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: root)
    }

    private func call(_ method: String, _ path: String, json: Any? = nil) throws -> Data {
        var r = URLRequest(url: URL(string: endpoint.absoluteString + path)!)
        r.httpMethod = method
        if let json { r.httpBody = try JSONSerialization.data(withJSONObject: json); r.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let sem = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Data?
        URLSession.shared.dataTask(with: r) { d, _, _ in result = d; sem.signal() }.resume()
        sem.wait()
        guard let result else { throw HubError.connection(url: path, received: 0, reason: "fake hub control call failed") }
        return result
    }

    /// Adds fault rules (see scripts/fake_hub.py).
    func inject(_ rules: [[String: Any]], pageSize: Int? = nil) throws {
        var body: [String: Any] = ["rules": rules]
        if let pageSize { body["page_size"] = pageSize }
        _ = try call("POST", "/_control", json: body)
    }

    func reset() throws { _ = try call("POST", "/_reset") }

    struct LogEntry { var method: String; var path: String; var range: String?; var auth: Bool; var host: String }
    func log() throws -> [LogEntry] {
        let arr = try JSONSerialization.jsonObject(with: call("GET", "/_log")) as? [[String: Any]] ?? []
        return arr.map { LogEntry(method: $0["method"] as? String ?? "", path: $0["path"] as? String ?? "",
                                  range: $0["range"] as? String, auth: $0["auth"] as? Bool ?? false, host: $0["host"] as? String ?? "") }
    }
}

/// A fresh empty cache folder.
func temporaryCache() throws -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("hubcache-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

/// The BLIP tiny fixture, the repository most tests serve.
let blipFixture = repoRoot.appendingPathComponent("fixtures/captioners/blip-tiny")
