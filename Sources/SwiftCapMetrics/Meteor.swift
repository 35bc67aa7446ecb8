import Foundation

/// Errors from running the reference METEOR 1.5 jar.
public enum MeteorError: Error, CustomStringConvertible {
    case launchFailed(String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .launchFailed(let m): return "METEOR: could not start java: \(m)"
        case .protocolError(let m): return "METEOR: unexpected reply from meteor-1.5.jar: \(m)"
        }
    }
}

/// METEOR 1.5 through the reference jar, driven exactly as pycocoevalcap 1.2 drives it:
/// `java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm` in the jar's folder; one
/// `SCORE ||| ref1 ||| … ||| hypothesis` line per image (the hypothesis with "|||" removed and
/// double spaces collapsed once) returns a statistics line; one `EVAL ||| stats1 ||| …` line returns
/// the per-image scores and then the corpus score, each parsed from the jar's printed decimal.
public struct MeteorScorer: Sendable {
    /// meteor-1.5.jar (its `data/paraphrase-en.gz` must sit beside it).
    public let jar: URL
    /// The java executable.
    public let java: URL

    public init(jar: URL, java: URL) {
        self.jar = jar
        self.java = java
    }

    /// Finds the jar under the pycocoevalcap assets and `java` on PATH; nil with the reason when
    /// either is missing.
    public static func locate(assets: URL) -> Result<MeteorScorer, MeteorUnavailable> {
        let jar = assets.appendingPathComponent("pycocoevalcap/pycocoevalcap/meteor/meteor-1.5.jar")
        let fm = FileManager.default
        guard fm.fileExists(atPath: jar.path) else {
            return .failure(MeteorUnavailable(reason: "meteor-1.5.jar not found at \(jar.path) (run scripts/fetch-assets.sh)"))
        }
        let para = jar.deletingLastPathComponent().appendingPathComponent("data/paraphrase-en.gz")
        guard fm.fileExists(atPath: para.path) else {
            return .failure(MeteorUnavailable(reason: "METEOR paraphrase table not found at \(para.path)"))
        }
        guard let java = findExecutable("java") else {
            return .failure(MeteorUnavailable(reason: "java not found on PATH (METEOR 1.5 needs a Java runtime)"))
        }
        return .success(MeteorScorer(jar: jar, java: java))
    }

    /// candidates[i], references[i]: PTB-tokenized strings. Returns the corpus score and per-image scores.
    public func score(candidates: [String], references: [[String]]) throws -> (corpus: Double, perImage: [Double]) {
        let process = Process()
        process.executableURL = java
        process.arguments = ["-jar", "-Xmx2G", jar.lastPathComponent, "-", "-", "-stdio", "-l", "en", "-norm"]
        process.currentDirectoryURL = jar.deletingLastPathComponent()
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw MeteorError.launchFailed("\(error)") }
        defer {
            try? input.fileHandleForWriting.close()
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        var reader = LineReader(handle: output.fileHandleForReading)
        func send(_ line: String) throws {
            do { try input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8)) } catch {
                throw MeteorError.protocolError("write failed: \(error)")
            }
        }
        var evalLine = "EVAL"
        for (hyp, refs) in zip(candidates, references) {
            let h = hyp.replacingOccurrences(of: "|||", with: "").replacingOccurrences(of: "  ", with: " ")
            try send((["SCORE"] + refs + [h]).joined(separator: " ||| "))
            guard let stats = reader.readLine() else { throw MeteorError.protocolError("no statistics line (jar exited?)") }
            evalLine += " ||| " + stats.trimmingCharacters(in: .whitespaces)
        }
        try send(evalLine)
        var per: [Double] = []
        per.reserveCapacity(candidates.count)
        for _ in 0..<candidates.count {
            guard let line = reader.readLine(), let v = Double(line.trimmingCharacters(in: .whitespaces)) else {
                throw MeteorError.protocolError("missing per-image score")
            }
            per.append(v)
        }
        guard let last = reader.readLine(), let corpus = Double(last.trimmingCharacters(in: .whitespaces)) else {
            throw MeteorError.protocolError("missing corpus score")
        }
        return (corpus, per)
    }
}

/// Why METEOR could not run.
public struct MeteorUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// Searches PATH for an executable.
func findExecutable(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return nil
}

/// Reads "\n"-terminated lines from a pipe.
struct LineReader {
    let handle: FileHandle
    var buffer = Data()

    init(handle: FileHandle) { self.handle = handle }

    mutating func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                return String(decoding: line, as: UTF8.self)
            }
            let chunk = handle.availableData
            if chunk.isEmpty {
                if buffer.isEmpty { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            buffer.append(chunk)
        }
    }
}
