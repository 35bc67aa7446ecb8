import Foundation
import SwiftCap

/// One metric of `swiftcap eval --compare`: A and B on all images and the paired-bootstrap interval of A − B.
struct ComparisonRow {
    var metric: String
    var comparison: PairedComparison
}

/// Paired bootstrap of A against B over the same images (same references, so CIDEr-D's document
/// frequencies are the same for both). BLEU-4 is corpus BLEU recomputed from resampled n-gram
/// counts; ROUGE-L and CIDEr-D are means of per-image scores (their corpus scores); METEOR, when both
/// ran, is the mean of per-image METEOR (the jar's corpus METEOR is not a per-image mean).
func comparisonRows(_ a: EvaluationResult, _ b: EvaluationResult, bootstrap: PairedBootstrap) throws -> [ComparisonRow] {
    let n = a.perImage.count
    var rows: [ComparisonRow] = []
    let sa = a.bleuStats, sb = b.bleuStats
    rows.append(ComparisonRow(metric: "BLEU-4", comparison: try bootstrap.compare(
        count: n, a: { BleuScorer.corpusBleu(sa, weights: $0) }, b: { BleuScorer.corpusBleu(sb, weights: $0) })))
    let ma = a.perImage.compactMap(\.meteor), mb = b.perImage.compactMap(\.meteor)
    if ma.count == n && mb.count == n {
        rows.append(ComparisonRow(metric: "METEOR*", comparison: try bootstrap.compare(ma, mb)))
    }
    rows.append(ComparisonRow(metric: "ROUGE-L", comparison: try bootstrap.compare(a.perImage.map(\.rougeL), b.perImage.map(\.rougeL))))
    rows.append(ComparisonRow(metric: "CIDEr-D", comparison: try bootstrap.compare(a.perImage.map(\.ciderD), b.perImage.map(\.ciderD))))
    return rows
}

private func signed(_ x: Double) -> String { String(format: "%+.4f", x) }

func comparisonTable(_ rows: [ComparisonRow], a: String, b: String, images: Int, bootstrap: PairedBootstrap) -> String {
    let pct = Int((bootstrap.confidence * 100).rounded())
    var lines = [
        "paired bootstrap over \(images) images (\(bootstrap.resamples) resamples, seed \(bootstrap.seed), \(pct)% percentile intervals)",
        "A: \(a)",
        "B: \(b)",
        "metric".padding(toLength: 10, withPad: " ", startingAt: 0) + "      A        B      A−B  "
            + "\(pct)% CI of A−B".padding(toLength: 21, withPad: " ", startingAt: 0) + "excludes 0",
    ]
    for r in rows {
        let c = r.comparison
        let ci = "[\(signed(c.difference.interval.lower)), \(signed(c.difference.interval.upper))]"
        lines.append(r.metric.padding(toLength: 10, withPad: " ", startingAt: 0)
                     + String(format: "%7.4f  %7.4f  ", c.a.estimate, c.b.estimate)
                     + signed(c.difference.estimate) + "  "
                     + ci.padding(toLength: 21, withPad: " ", startingAt: 0)
                     + (c.significant ? "yes" : "no"))
    }
    if rows.contains(where: { $0.metric == "METEOR*" }) {
        lines.append("* METEOR: mean of per-image scores (the jar's corpus METEOR is not a per-image mean)")
    }
    return lines.joined(separator: "\n")
}

/// `{"a": …, "b": …, "images": …, "resamples": …, "seed": …, "confidence": …, "b_scores": {…},
/// "metrics": {"CIDEr-D": {"a": …, "b": …, "diff": …, "ci": [lo, hi], "excludes_zero": …, "a_ci": […], "b_ci": […]}, …}}`
func comparisonJSON(_ rows: [ComparisonRow], a: String, b: String, bScores: CorpusScores, images: Int, bootstrap: PairedBootstrap) -> String {
    func pair(_ i: ConfidenceInterval) -> String { "[\(jsonNumber(i.lower)), \(jsonNumber(i.upper))]" }
    let metrics = rows.map { r -> String in
        let c = r.comparison
        return "\(jsonString(r.metric)): {\"a\": \(jsonNumber(c.a.estimate)), \"b\": \(jsonNumber(c.b.estimate)), "
            + "\"diff\": \(jsonNumber(c.difference.estimate)), \"ci\": \(pair(c.difference.interval)), "
            + "\"excludes_zero\": \(c.significant), \"a_ci\": \(pair(c.a.interval)), \"b_ci\": \(pair(c.b.interval))}"
    }
    return "{\"a\": \(jsonString(a)), \"b\": \(jsonString(b)), \"images\": \(images), \"resamples\": \(bootstrap.resamples), "
        + "\"seed\": \(bootstrap.seed), \"confidence\": \(jsonNumber(bootstrap.confidence)), \"b_scores\": \(corpusJSON(bScores)), "
        + "\"metrics\": {" + metrics.joined(separator: ", ") + "}}"
}

/// `CIDEr-D 0.7123, 95% bootstrap CI [0.6801, 0.7440] (2000 resamples over 419 images, seed 0)`
func ciderIntervalLine(_ e: BootstrapEstimate, images: Int, bootstrap: PairedBootstrap) -> String {
    let pct = Int((bootstrap.confidence * 100).rounded())
    return String(format: "CIDEr-D %.4f, %d%% bootstrap CI [%.4f, %.4f]", e.estimate, pct, e.interval.lower, e.interval.upper)
        + " (\(bootstrap.resamples) resamples over \(images) images, seed \(bootstrap.seed))"
}

func ciderIntervalJSON(_ e: BootstrapEstimate, bootstrap: PairedBootstrap) -> String {
    "{\"CIDEr-D\": \(jsonNumber(e.estimate)), \"ci\": [\(jsonNumber(e.interval.lower)), \(jsonNumber(e.interval.upper))], "
        + "\"resamples\": \(bootstrap.resamples), \"seed\": \(bootstrap.seed), \"confidence\": \(jsonNumber(bootstrap.confidence))}"
}
