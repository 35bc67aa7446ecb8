import Foundation
import SwiftCapTensor

/// Corpus-level caption metrics, as fractions (CIDEr-D around 0.9 for human captions).
public struct CorpusScores: Sendable, Equatable {
    /// BLEU-1...BLEU-4.
    public var bleu: [Double]
    /// METEOR 1.5 (nil when the reference jar or java is missing).
    public var meteor: Double?
    public var rougeL: Double
    public var ciderD: Double
    /// SPICE needs Stanford CoreNLP models downloaded at run time: always nil here.
    public var spice: Double? { nil }

    /// (name, value) in the reference scorer's order; nil where the metric could not run.
    public var named: [(String, Double?)] {
        [("BLEU-1", bleu[0]), ("BLEU-2", bleu[1]), ("BLEU-3", bleu[2]), ("BLEU-4", bleu[3]),
         ("METEOR", meteor), ("ROUGE-L", rougeL), ("CIDEr-D", ciderD), ("SPICE", spice)]
    }
}

/// Scores of one image.
public struct ImageScores: Sendable, Equatable {
    public var bleu: [Double]
    public var meteor: Double?
    public var rougeL: Double
    public var ciderD: Double
}

/// Everything one evaluation produced.
public struct EvaluationResult: Sendable {
    public var corpus: CorpusScores
    public var perImage: [ImageScores]
    /// PTB-tokenized candidates, [image].
    public var tokenizedCandidates: [String]
    /// PTB-tokenized references, [image][reference].
    public var tokenizedReferences: [[String]]
    /// Why METEOR is missing, when it is.
    public var meteorUnavailable: String?
    /// Seconds spent: tokenisation, BLEU, ROUGE-L, CIDEr-D, METEOR.
    public var timings: [String: Double]
    /// BLEU sufficient statistics per image (for bootstrapping corpus BLEU).
    public var bleuStats: [BleuScorer.Stats] = []
}

/// Problems with the inputs of an evaluation.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case empty
    case countMismatch(candidates: Int, references: Int)
    case noReferences(index: Int)

    public var description: String {
        switch self {
        case .empty: return "nothing to score: no candidates"
        case .countMismatch(let c, let r): return "\(c) candidates but \(r) reference sets"
        case .noReferences(let i): return "image #\(i) has no reference captions"
        }
    }
}

/// The COCO caption scorer (pycocoevalcap 1.2) in Swift: PTB tokenisation, BLEU-1..4, METEOR (via
/// the reference jar, when present), ROUGE-L, CIDEr-D; SPICE is reported unavailable.
public struct CaptionEvaluator: Sendable {
    /// METEOR scorer; nil to skip METEOR (with `meteorUnavailable` giving the reason).
    public var meteor: MeteorScorer?
    public var meteorUnavailable: String?
    public var device: Device

    /// `meteor`: the METEOR runner, or nil to leave METEOR out (the reason goes to `meteorUnavailable`).
    public init(device: Device = Device(), meteor: MeteorScorer?, meteorUnavailable: String? = nil) {
        self.device = device
        self.meteor = meteor
        self.meteorUnavailable = meteor == nil ? (meteorUnavailable ?? "METEOR disabled") : nil
    }

    /// An evaluator that runs METEOR when java and the jar are found under `assets`.
    public static func withMeteorIfAvailable(assets: URL, device: Device = Device()) -> CaptionEvaluator {
        switch MeteorScorer.locate(assets: assets) {
        case .success(let m): return CaptionEvaluator(device: device, meteor: m)
        case .failure(let why): return CaptionEvaluator(device: device, meteor: nil, meteorUnavailable: why.reason)
        }
    }

    /// Scores raw captions: candidates[i] against references[i], images in the given order (the
    /// order only matters for the tokenizer's look-ahead across caption boundaries, as in the reference).
    public func evaluate(candidates: [String], references: [[String]]) throws -> EvaluationResult {
        guard !candidates.isEmpty else { throw EvaluationError.empty }
        guard candidates.count == references.count else {
            throw EvaluationError.countMismatch(candidates: candidates.count, references: references.count)
        }
        if let i = references.firstIndex(where: { $0.isEmpty }) { throw EvaluationError.noReferences(index: i) }
        var timings: [String: Double] = [:]
        let t0 = Date()
        let tokCands = tokenizeParallel(candidates)
        let flatRefs = tokenizeParallel(references.flatMap { $0 })
        var tokRefs: [[String]] = []
        tokRefs.reserveCapacity(references.count)
        var p = 0
        for r in references { tokRefs.append(Array(flatRefs[p..<(p + r.count)])); p += r.count }
        timings["tokenize"] = Date().timeIntervalSince(t0)
        return try evaluateTokenized(candidates: tokCands, references: tokRefs, timings: timings)
    }

    /// Scores already PTB-tokenized captions (space-joined tokens).
    public func evaluateTokenized(candidates: [String], references: [[String]], timings: [String: Double] = [:]) throws -> EvaluationResult {
        guard !candidates.isEmpty else { throw EvaluationError.empty }
        guard candidates.count == references.count else {
            throw EvaluationError.countMismatch(candidates: candidates.count, references: references.count)
        }
        var timings = timings
        var t0 = Date()
        // Token ids: whitespace split (BLEU, CIDEr-D) and single-space split (ROUGE-L).
        var vocab = Vocabulary()
        let candWS = candidates.map { vocab.ids(pythonWhitespaceSplit($0)) }
        let refWS = references.map { $0.map { vocab.ids(pythonWhitespaceSplit($0)) } }
        let candSP = candidates.map { vocab.ids($0.split(separator: " ", omittingEmptySubsequences: false)) }
        let refSP = references.map { $0.map { vocab.ids($0.split(separator: " ", omittingEmptySubsequences: false)) } }
        timings["ids"] = Date().timeIntervalSince(t0)

        t0 = Date()
        let bleu = BleuScorer().score(candidates: candWS, references: refWS, device: device)
        timings["bleu"] = Date().timeIntervalSince(t0)

        t0 = Date()
        let n = candidates.count
        var rouge = [Double](repeating: 0, count: n)
        rouge.withUnsafeMutableBufferPointer { out in
            let out = out
            device.parallelFor(n, costPerItem: 1000) { s, e in
                for i in s..<e { out[i] = RougeLScorer.score(candidate: candSP[i], references: refSP[i]) }
            }
        }
        let rougeCorpus = pairwiseMean(rouge)
        timings["rouge"] = Date().timeIntervalSince(t0)

        t0 = Date()
        let cider = CiderDScorer().score(candidates: candWS, references: refWS, device: device)
        timings["cider"] = Date().timeIntervalSince(t0)

        var meteorCorpus: Double? = nil
        var meteorPer: [Double]? = nil
        var unavailable = meteorUnavailable
        if let meteor {
            t0 = Date()
            do {
                let m = try meteor.score(candidates: candidates, references: references)
                meteorCorpus = m.corpus
                meteorPer = m.perImage
            } catch {
                unavailable = "\(error)"
            }
            timings["meteor"] = Date().timeIntervalSince(t0)
        }
        let per = (0..<n).map { i in
            ImageScores(bleu: bleu.perImage[i], meteor: meteorPer?[i], rougeL: rouge[i], ciderD: cider.perImage[i])
        }
        return EvaluationResult(
            corpus: CorpusScores(bleu: bleu.corpus, meteor: meteorCorpus, rougeL: rougeCorpus, ciderD: cider.corpus),
            perImage: per, tokenizedCandidates: candidates, tokenizedReferences: references,
            meteorUnavailable: unavailable, timings: timings, bleuStats: bleu.stats)
    }

    /// PTB tokenisation of one side split over the device's threads. Tokens never span a line
    /// break, and the lexer looks at most into the next caption, so each chunk is lexed with the
    /// first caption of the next chunk appended as context and that line dropped.
    func tokenizeParallel(_ captions: [String]) -> [String] {
        let n = captions.count
        var out = [String](repeating: "", count: n)
        let tok = PTBTokenizer()
        out.withUnsafeMutableBufferPointer { buf in
            let buf = buf
            device.parallelFor(n, costPerItem: 300) { s, e in
                var chunk = Array(captions[s..<e])
                if e < n { chunk.append(captions[e]) }
                let t = tok.tokenize(chunk)
                for i in s..<e { buf[i] = t[i - s] }
            }
        }
        return out
    }
}
