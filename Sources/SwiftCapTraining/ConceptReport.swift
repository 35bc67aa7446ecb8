import Foundation
import SwiftCapTensor
import SwiftCapImage
import SwiftCapModels
import SwiftCapPipelines

/// Average precision of a ranking, as scikit-learn's `average_precision_score` computes it:
/// Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds, highest first (tied scores form one step).
/// Returns nil when there is no positive.
public func averagePrecision(scores: [Float], positives: [Bool]) -> Double? {
    let total = positives.filter { $0 }.count
    guard total > 0, scores.count == positives.count else { return nil }
    let order = scores.indices.sorted { scores[$0] > scores[$1] }
    var tp = 0, seen = 0, ap = 0.0, lastRecall = 0.0
    var i = 0
    while i < order.count {
        let s = scores[order[i]]
        while i < order.count && scores[order[i]] == s {
            if positives[order[i]] { tp += 1 }
            seen += 1
            i += 1
        }
        let recall = Double(tp) / Double(total)
        ap += (recall - lastRecall) * Double(tp) / Double(seen)
        lastRecall = recall
    }
    return ap
}

/// Per-word average precision of the concept head on held-out photos, next to what the detector and
/// classifier scores give for the same words (the previous, threshold-based extractor's evidence).
public struct ConceptReport: Sendable {
    public struct Row: Sendable {
        public var word: String
        /// Held-out photos whose references use the word.
        public var positives: Int
        public var learnedAP: Double
        /// nil when neither the detector nor the classifier can name the word.
        public var baselineAP: Double?
    }
    public var rows: [Row]
    public var photos: Int

    /// Caption words a COCO class stands for in the baseline (default: the last word of its name).
    static func words(forCOCOClass name: String) -> [String] {
        switch name {
        case "person": return ["person", "man", "woman", "people"]
        case "hot dog": return ["hot"]
        default: return [String(name.split(separator: " ").last ?? Substring(name))]
        }
    }

    public init(model: ConceptHead, dev: PhotoFeatureCache, references: [String: [String]], classifier: EfficientNetLite0,
                device: Device) throws {
        let names = dev.names.filter { references[$0] != nil }
        guard !names.isEmpty else { throw TrainingError.data("no held-out photo has references") }
        let index = Dictionary(uniqueKeysWithValues: dev.names.enumerated().map { ($1, $0) })
        let V = model.vocabulary.count
        let wordIndex = Dictionary(uniqueKeysWithValues: model.vocabulary.enumerated().map { ($1, $0) })
        let targets = ConceptLabels.targets(captions: names.map { references[$0]! }, vocabulary: model.vocabulary)
        var learned = [Float](), baseline = [Float](repeating: -1, count: names.count * V)
        for (r, name) in names.enumerated() {
            let f = dev.features(index[name]!)
            learned += try model.probabilities(f.headInput, device: device)
            for (c, cls) in COCOLabels.names.enumerated() {
                for w in Self.words(forCOCOClass: cls) { if let j = wordIndex[w] { baseline[r * V + j] = max(baseline[r * V + j], f.detections[c]) } }
            }
            let logits = try classifier.logits(pooled: Tensor(f.pooled, shape: [1, f.pooled.count]), device: device)
            let probs = try device.softmax(logits).scalars
            for (k, p) in probs.enumerated() {
                if let j = wordIndex[ImageNetLabels.captionWord(k)] { baseline[r * V + j] = max(baseline[r * V + j], p) }
            }
        }
        var rows: [Row] = []
        for j in 0..<V {
            let pos = (0..<names.count).map { targets[$0 * V + j] > 0 }
            guard let ap = averagePrecision(scores: (0..<names.count).map { learned[$0 * V + j] }, positives: pos) else { continue }
            let covered = (0..<names.count).contains { baseline[$0 * V + j] >= 0 }
            let base = covered ? averagePrecision(scores: (0..<names.count).map { max(0, baseline[$0 * V + j]) }, positives: pos) : nil
            rows.append(Row(word: model.vocabulary[j], positives: pos.filter { $0 }.count, learnedAP: ap, baselineAP: base))
        }
        self.rows = rows
        self.photos = names.count
    }

    /// Mean AP of the learned head over every word with a positive, and of both over the words the baseline covers.
    public var summary: (allWords: Int, learnedAll: Double, covered: Int, learnedCovered: Double, baselineCovered: Double) {
        let covered = rows.filter { $0.baselineAP != nil }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        return (rows.count, mean(rows.map(\.learnedAP)), covered.count, mean(covered.map(\.learnedAP)),
                mean(covered.compactMap(\.baselineAP)))
    }

    public func markdown(losses: [[Double]]) -> String {
        let s = summary
        var out = "# Concept head report\n\n"
        out += "Held-out photos: \(photos). Loss per photo by epoch (head 1): "
            + (losses.first ?? []).map { String(format: "%.2f", $0) }.joined(separator: " ") + " (loss.png).\n\n"
        out += String(format: "Mean AP over the %d words with a positive: **%.3f**. Over the %d words the detector or classifier can name: "
                      + "learned **%.3f**, detector/classifier scores **%.3f**.\n\n", s.allWords, s.learnedAll, s.covered, s.learnedCovered, s.baselineCovered)
        out += "| word | photos | AP learned | AP detector/classifier |\n|---|---|---|---|\n"
        for r in rows.sorted(by: { $0.positives != $1.positives ? $0.positives > $1.positives : $0.word < $1.word }) {
            out += String(format: "| %@ | %d | %.3f | %@ |\n", r.word, r.positives, r.learnedAP,
                          r.baselineAP.map { String(format: "%.3f", $0) } ?? "–")
        }
        return out
    }
}

/// A loss-curve plot as a PNG: one coloured line per curve on a white canvas with axes.
public enum LossPlot {
    public static func write(curves: [[Double]], to url: URL, width: Int = 640, height: Int = 360) throws {
        var px = [UInt8](repeating: 255, count: width * height * 3)
        let margin = 30
        let all = curves.flatMap { $0 }
        guard let lo = all.min(), let hi = all.max(), let longest = curves.map(\.count).max(), longest > 0 else {
            return try PNGWriter.write(try RGBImage(width: width, height: height, pixels: px), to: url)
        }
        func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let o = (y * width + x) * 3
            px[o] = c.0; px[o + 1] = c.1; px[o + 2] = c.2
        }
        for x in margin..<(width - margin) { set(x, height - margin, (0, 0, 0)) }
        for y in margin..<(height - margin) { set(margin, y, (0, 0, 0)) }
        let colors: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
        func point(_ i: Int, _ v: Double) -> (Int, Int) {
            let fx = longest > 1 ? Double(i) / Double(longest - 1) : 0
            let fy = hi > lo ? (v - lo) / (hi - lo) : 0.5
            return (margin + Int(fx * Double(width - 2 * margin - 1)), height - margin - 1 - Int(fy * Double(height - 2 * margin - 1)))
        }
        for (k, curve) in curves.enumerated() {
            let c = colors[k % colors.count]
            for i in 1..<max(1, curve.count) {
                let (x0, y0) = point(i - 1, curve[i - 1]), (x1, y1) = point(i, curve[i])
                let steps = max(abs(x1 - x0), abs(y1 - y0), 1)
                for s in 0...steps {
                    let x = x0 + (x1 - x0) * s / steps, y = y0 + (y1 - y0) * s / steps
                    set(x, y, c); set(x, y + 1, c)
                }
            }
        }
        try PNGWriter.write(try RGBImage(width: width, height: height, pixels: px), to: url)
    }
}
