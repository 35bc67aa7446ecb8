import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
import SwiftCapHub
import SwiftCapTestSupport

let repoRoot = testRepoRoot

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

/// scripts/fake_hub.py (`FakeHubServer`) with the fault-injection and request-log controls the hub tests use.
final class FakeHub {
    let server: FakeHubServer
    static let token = "hf_testSECRETtoken1234567890"
    var endpoint: URL { server.endpoint }
    var port: Int { server.port }
    var root: URL { server.root }
    var process: Process { server.process }

    /// `repos`: repo id → source folder whose files are copied in. `privateRepos` need the token.
    init(repos: [String: URL], privateRepos: [String] = []) throws {
        server = try FakeHubServer(repos: repos, token: FakeHub.token, privateRepos: privateRepos)
    }

    func stop() { server.stop() }

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
