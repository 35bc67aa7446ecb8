import ArgumentParser
import Foundation
import SwiftCap

/// One image's line in results.json / report.html.
struct EvalRow {
    var name: String
    var caption: String
    var tokenized: String
    var references: [String]
    var scores: ImageScores
    var extra: CaptionResult?
}

/// JSON number (shortest round-trip form) or null.
func jsonNumber(_ x: Double?) -> String {
    guard let x, x.isFinite else { return "null" }
    return "\(x)"
}

/// A JSON string literal.
func jsonString(_ s: String) -> String { JSONText.string(s) }

/// `{"BLEU-1": …, …, "SPICE": null}` in the reference scorer's order.
func corpusJSON(_ c: CorpusScores) -> String {
    "{" + c.named.map { "\(jsonString($0.0)): \(jsonNumber($0.1))" }.joined(separator: ", ") + "}"
}

func scoreTable(_ r: EvaluationResult, images: Int, seconds: Double) -> String {
    var lines = ["metric     score"]
    for (name, v) in r.corpus.named {
        let shown: String
        if let v { shown = String(format: "%.4f", v) } else if name == "SPICE" {
            shown = "n/a (needs Stanford CoreNLP models downloaded at run time)"
        } else {
            shown = "n/a (\(r.meteorUnavailable ?? "unavailable"))"
        }
        lines.append(name.padding(toLength: 11, withPad: " ", startingAt: 0) + shown)
    }
    lines.append(String(format: "%d images scored in %.2f s", images, seconds))
    return lines.joined(separator: "\n")
}

func writeResultsJSON(to url: URL, result: EvaluationResult, rows: [EvalRow], timings: [String: Double],
                      references: String, captions: String, bootstrap: String? = nil, comparison: String? = nil) throws {
    var s = "{\n"
    s += " \"references\": \(jsonString(references)),\n \"captions\": \(jsonString(captions)),\n"
    s += " \"scores\": \(corpusJSON(result.corpus)),\n"
    s += " \"meteor_unavailable\": \(result.meteorUnavailable.map(jsonString) ?? "null"),\n"
    s += " \"spice_unavailable\": \"SPICE needs Stanford CoreNLP models downloaded at run time\",\n"
    if let bootstrap { s += " \"bootstrap\": \(bootstrap),\n" }
    if let comparison { s += " \"comparison\": \(comparison),\n" }
    s += " \"timings_s\": {" + timings.keys.sorted().map { "\(jsonString($0)): \(jsonNumber(timings[$0]))" }.joined(separator: ", ") + "},\n"
    s += " \"images\": [\n"
    for (k, r) in rows.enumerated() {
        var f: [String] = [
            "\"file\": \(jsonString(r.name))",
            "\"caption\": \(jsonString(r.caption))",
            "\"tokenized\": \(jsonString(r.tokenized))",
            "\"CIDEr-D\": \(jsonNumber(r.scores.ciderD))",
            "\"BLEU-4\": \(jsonNumber(r.scores.bleu[3]))",
            "\"ROUGE-L\": \(jsonNumber(r.scores.rougeL))",
            "\"METEOR\": \(jsonNumber(r.scores.meteor))",
            "\"references\": [" + r.references.map(jsonString).joined(separator: ", ") + "]",
        ]
        if let e = r.extra {
            f.append("\"concepts\": [" + e.concepts.map(jsonString).joined(separator: ", ") + "]")
            f.append("\"timings_s\": {" + e.timings.keys.sorted().map { "\(jsonString($0)): \(jsonNumber(e.timings[$0]))" }.joined(separator: ", ") + "}")
        }
        s += "  {" + f.joined(separator: ", ") + "}" + (k + 1 < rows.count ? ",\n" : "\n")
    }
    s += " ]\n}\n"
    do { try Data(s.utf8).write(to: url) } catch {
        throw EvalFailure("cannot write \(url.path): \(error.localizedDescription)")
    }
}

func htmlEscape(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(ch)
        }
    }
    return out
}

/// A self-contained HTML page: corpus scores, then every image (photo embedded as a data URI when
/// the photo folder has it) beside its caption, references and scores, worst CIDEr-D first.
func writeReport(to url: URL, result: EvaluationResult, rows: [EvalRow], photos: URL?, title: String) throws {
    var h = """
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8"><title>\(htmlEscape(title))</title>
    <style>
    body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
    h1{font-size:20px} table.s{border-collapse:collapse;margin-bottom:20px}
    table.s td,table.s th{border:1px solid #ccc;padding:4px 10px;text-align:right}
    .row{display:flex;gap:16px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:10px 0}
    .row img{width:320px;max-height:320px;object-fit:contain;background:#eee;flex:none}
    .noimg{width:320px;height:120px;background:#eee;color:#888;display:flex;align-items:center;justify-content:center;flex:none}
    .cap{font-size:18px;font-weight:600;margin:4px 0 8px} .score{font-family:monospace;color:#555}
    .bad{color:#b00020} .ok{color:#0a7a32} ul{margin:6px 0;padding-left:20px;color:#444}
    </style></head><body>
    <h1>\(htmlEscape(title))</h1>
    <table class="s"><tr>
    """
    for (name, _) in result.corpus.named { h += "<th>\(name)</th>" }
    h += "</tr><tr>"
    for (_, v) in result.corpus.named { h += "<td>\(v.map { String(format: "%.4f", $0) } ?? "n/a")</td>" }
    h += "</tr></table>\n"
    if let why = result.meteorUnavailable { h += "<p>METEOR unavailable: \(htmlEscape(why))</p>\n" }
    h += "<p>\(rows.count) images, worst CIDEr-D first. SPICE is not computed (it needs Stanford CoreNLP models downloaded at run time).</p>\n"
    let order = rows.indices.sorted { (rows[$0].scores.ciderD, rows[$0].name) < (rows[$1].scores.ciderD, rows[$1].name) }
    for i in order {
        let r = rows[i]
        h += "<div class=\"row\">"
        if let photos, let data = try? Data(contentsOf: photos.appendingPathComponent(r.name)) {
            let mime = r.name.lowercased().hasSuffix(".png") ? "image/png" : "image/jpeg"
            h += "<img alt=\"\(htmlEscape(r.name))\" src=\"data:\(mime);base64,\(data.base64EncodedString())\">"
        } else {
            h += "<div class=\"noimg\">no photo</div>"
        }
        let cls = r.scores.ciderD < 0.5 ? "bad" : (r.scores.ciderD >= 1 ? "ok" : "")
        h += "<div><div class=\"score\">\(htmlEscape(r.name)) · <span class=\"\(cls)\">CIDEr-D \(String(format: "%.3f", r.scores.ciderD))</span>"
        h += String(format: " · BLEU-4 %.3f · ROUGE-L %.3f", r.scores.bleu[3], r.scores.rougeL)
        if let m = r.scores.meteor { h += String(format: " · METEOR %.3f", m) }
        h += "</div><div class=\"cap\">\(htmlEscape(r.caption.isEmpty ? "(empty caption)" : r.caption))</div>"
        if let e = r.extra, !e.concepts.isEmpty {
            h += "<div class=\"score\">concepts: \(htmlEscape(e.concepts.joined(separator: ", ")))</div>"
        }
        h += "<ul>" + r.references.map { "<li>\(htmlEscape($0))</li>" }.joined() + "</ul></div></div>\n"
    }
    h += "</body></html>\n"
    do { try Data(h.utf8).write(to: url) } catch {
        throw EvalFailure("cannot write \(url.path): \(error.localizedDescription)")
    }
}
