import ArgumentParser
import Foundation
import SwiftCap

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find captioned photos by meaning: rank the records of caption jobs against a query.",
        discussion: """
        Embeds the query with all-MiniLM-L6-v2 and ranks photos by cosine similarity to their caption \
        embeddings (stored by `caption --out`; a record without one is embedded now). --html writes a \
        self-contained contact sheet with thumbnails of the top hits.
        """)

    @OptionGroup var compute: ComputeOptions
    @Argument(help: "What to look for, e.g. \"dog on a beach\".") var query: String
    @Argument(help: "Caption job outputs (.jsonl or .csv).") var results: [String]
    @Option(help: "How many hits to show.") var top = 10
    @Flag(help: "Print the hits as JSON lines.") var json = false
    @Option(help: "Also write an HTML contact sheet of the hits (thumbnails embedded) to this file.") var html: String?

    func validate() throws {
        if results.isEmpty { throw ValidationError("give at least one caption job output (.jsonl or .csv)") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        if query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("the query is empty") }
    }

    func run() throws {
        let paths = AssetPaths.fromEnvironment(repositoryRoot: repositoryRootGuess())
        guard let embedder = loadSentenceEmbedder(paths: paths) else {
            throw InputError(description: "the sentence embedder is missing (\(paths.asset("minilm").path)); run scripts/fetch-assets.sh")
        }
        for r in results where !FileManager.default.fileExists(atPath: r) { throw InputError(description: "\(r): no such file") }
        let records = try ResultMerge.merge(results.map { URL(fileURLWithPath: $0) }).filter { $0.caption != nil }
        if records.isEmpty { throw InputError(description: "no captioned photos in \(results.joined(separator: ", "))") }
        let device = compute.device
        let q = try embedder.embed(query, device: device)
        var scored: [(Double, BatchRecord)] = []
        for r in records {
            var v = r.embeddingVector ?? []
            if v.count != q.count { v = try embedder.embed(r.caption!, device: device) }
            scored.append((cosine(q, v), r))
        }
        scored.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1.path < $1.1.path }
        let hits = Array(scored.prefix(top))
        for (s, r) in hits {
            if json { printJSONLine(SearchHit(score: s, path: r.path, caption: r.caption ?? "", keywords: r.keywords)) }
            else { print(String(format: "%.3f  %@  %@", s, r.path, r.caption ?? "")) }
        }
        if let html {
            try contactSheet(query: query, hits: hits).write(toFile: html, atomically: true, encoding: .utf8)
            printError("search: contact sheet written to \(html)")
        }
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in 0..<min(a.count, b.count) { dot += Double(a[i] * b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i]) }
        return na > 0 && nb > 0 ? dot / (na * nb).squareRoot() : 0
    }

    /// A self-contained page: each hit's thumbnail (≤ 240 px, PNG as a data URI), caption and score.
    func contactSheet(query: String, hits: [(Double, BatchRecord)]) throws -> String {
        let decoder = ImageDecoder()
        let device = Device(threads: 1)
        func esc(_ s: String) -> String {
            s.unicodeScalars.map { u -> String in
                switch u {
                case "&": return "&amp;"
                case "<": return "&lt;"
                case ">": return "&gt;"
                case "\"": return "&quot;"
                default: return u.value < 0x20 && u != "\n" && u != "\t" ? " " : String(u)
                }
            }.joined()
        }
        var cells: [String] = []
        for (score, r) in hits {
            var img = "<div class=\"missing\">photo not readable</div>"
            if let photo = try? decoder.decode(contentsOf: URL(fileURLWithPath: r.path)) {
                let s = min(1, 240 / Double(max(photo.width, photo.height)))
                let w = max(1, Int(Double(photo.width) * s)), h = max(1, Int(Double(photo.height) * s))
                if let thumb = try? device.resized(photo, width: w, height: h, filter: .lanczos), let png = try? PNGWriter.encode(thumb) {
                    img = "<img src=\"data:image/png;base64,\(png.base64EncodedString())\" width=\"\(w)\" height=\"\(h)\" alt=\"\(esc(r.caption ?? ""))\">"
                }
            }
            cells.append("<figure>\(img)<figcaption>\(esc(r.caption ?? ""))<br><small>\(String(format: "%.3f", score)) · \(esc(r.path))</small></figcaption></figure>")
        }
        return """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(esc(query)) — swiftcap search</title>
        <style>body{font-family:sans-serif;margin:1em}main{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:250px}
        figcaption{font-size:14px}small{color:#555;word-break:break-all}.missing{width:240px;height:160px;background:#eee}</style></head>
        <body><h1>\(esc(query))</h1><main>
        \(cells.joined(separator: "\n"))
        </main></body></html>
        """
    }
}

struct SearchHit: Encodable {
    var score: Double
    var path: String
    var caption: String
    var keywords: [String]
}

/// The all-MiniLM-L6-v2 embedder from the assets folder, or nil when it is not there.
func loadSentenceEmbedder(paths: AssetPaths) -> SentenceEmbedder? {
    let dir = paths.asset("minilm")
    guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else { return nil }
    do { return try SentenceEmbedder(directory: dir) } catch {
        printError("warning: sentence embedder not loaded (\(error)); captions are stored without embeddings")
        return nil
    }
}
