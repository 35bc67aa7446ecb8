import Foundation

/// The repository root (for scripts and fixtures), found from this file's path.
public let testRepoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The Python the tests use: `$SWIFTCAP_TEST_PYTHON`, else the venv scripts/python-deps.sh makes (.venv-test),
/// else python3.
public func testPython() -> URL {
    if let p = ProcessInfo.processInfo.environment["SWIFTCAP_TEST_PYTHON"], !p.isEmpty { return URL(fileURLWithPath: p) }
    let venv = testRepoRoot.appendingPathComponent(".venv-test/bin/python")
    if FileManager.default.isExecutableFile(atPath: venv.path) { return venv }
    return URL(fileURLWithPath: "/usr/bin/python3")
}

/// scripts/fake_hub.py (standard library only) on 127.0.0.1 with a free port, serving copies of `repos`
/// (repo id → source folder) from a temporary folder; `privateRepos` answer only with `token`.
public final class FakeHubServer {
    public let process = Process()
    public let root: URL
    public let port: Int
    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    public init(repos: [String: URL], token: String? = nil, privateRepos: [String] = []) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fakehub-\(UUID().uuidString)")
        let reposDir = root.appendingPathComponent("repos")
        try FileManager.default.createDirectory(at: reposDir, withIntermediateDirectories: true)
        for (id, src) in repos {
            let dest = reposDir.appendingPathComponent(id)
            try FileManager.default.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: src, to: dest)
        }
        let script = testRepoRoot.appendingPathComponent("scripts/fake_hub.py")
        try requireInput(FileManager.default.fileExists(atPath: script.path), "scripts/fake_hub.py")
        let python = testPython()
        try requireInput(FileManager.default.isExecutableFile(atPath: python.path), "no python3 for scripts/fake_hub.py (\(python.path))")
        process.executableURL = python
        process.arguments = [script.path, "--root", reposDir.path] + (token.map { ["--token", $0] } ?? [])
            + privateRepos.flatMap { ["--private", $0] }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The script prints "PORT N" once it listens.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("PORT "), let p = Int(text.dropFirst(5)) else {
            process.terminate()
            throw missingInput("fake hub did not start (python \(python.path)); printed '\(text)'")
        }
        port = p
    }

    /// SIGKILL (a test process may have SIGTERM ignored, a disposition children inherit; the hub keeps no
    /// state), then the served copies are removed.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: root)
    }
}
