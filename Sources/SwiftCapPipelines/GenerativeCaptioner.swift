import Foundation
import SwiftCapTensor
import SwiftCapModels

/// Turns concepts, retrieved captions and captions into the concept decoder's token ids. Shared by
/// training (SwiftCapTraining) and inference so both see the same sequences:
/// `[c1] (<x2>|<x3>)? [c2] … <sep> retrieved 1 <sep> retrieved 2 … <sep> <bos> caption <eos>`.
public struct PromptEncoder: Sendable {
    public let tokens: [String]
    private let ids: [String: Int]
    /// Ids a caption may contain: words and `<eos>`.
    public let generatable: [Bool]

    public init(tokens: [String]) {
        self.tokens = tokens
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where ids[t] == nil { ids[t] = i }
        self.ids = ids
        generatable = tokens.enumerated().map { (i, t) in
            i == ConceptDecoder.eos || (i >= ConceptDecoder.specialTokens.count && !t.hasPrefix("["))
        }
    }

    public func id(of token: String) -> Int? { ids[token] }

    /// Word ids of a caption (lower-case words, `<unk>` for unknown ones), at most `maxWords`.
    public func words(_ caption: String, maxWords: Int) -> [Int] {
        ConceptVocabulary.tokenize(caption).prefix(maxWords).map { ids[String($0)] ?? ConceptDecoder.unk }
    }

    /// Concept tokens: each known concept (ordered by `order`, then name) followed by `<x2>`/`<x3>`
    /// for count bins 2 and 3+. At most `maxConcepts` concepts.
    public func concepts(_ concepts: [(name: String, count: Int)], order: (String) -> Int, maxConcepts: Int) -> [Int] {
        var out: [Int] = []
        let sorted = concepts.sorted { (order($0.name), $0.name) < (order($1.name), $1.name) }
        var n = 0
        for c in sorted where n < maxConcepts {
            guard let id = ids[ConceptDecoder.conceptToken(c.name)] else { continue }
            out.append(id)
            if c.count >= 3 { out.append(ConceptDecoder.count3) } else if c.count == 2 { out.append(ConceptDecoder.count2) }
            n += 1
        }
        return out
    }

    /// The full prompt, ending in `<bos>`.
    public func prompt(concepts conceptIDs: [Int], retrieved: [String], maxWords: Int) -> [Int] {
        var out = conceptIDs
        out.append(ConceptDecoder.sep)
        for r in retrieved {
            out += words(r, maxWords: maxWords)
            out.append(ConceptDecoder.sep)
        }
        out.append(ConceptDecoder.bos)
        return out
    }

    /// Caption text of word ids (stops at `<eos>`, skips special and concept tokens).
    public func text(_ ids: [Int]) -> String {
        var words: [String] = []
        for i in ids {
            if i == ConceptDecoder.eos { break }
            guard i >= 0, i < tokens.count, generatable[i] else { continue }
            words.append(tokens[i])
        }
        return words.joined(separator: " ")
    }

    /// Canonical concept order (the standard vocabulary's index; unknown names last).
    public static func standardOrder(_ name: String) -> Int {
        ConceptVocabulary.standard.index(of: name) ?? Int.max
    }
}

/// The generative decoder: evidence -> concepts and retrieved captions (as the retrieval decoder
/// finds them) -> concept decoder with beam search -> the beam's finished captions reranked by
/// consensus with the retrieved pool plus a share of the model's own length-normalised log-probability.
public struct GenerativeCaptioner: Sendable {
    public struct Config: Sendable, Codable {
        public var beams = 5
        public var maxWords = 20
        /// Retrieved captions in the prompt (the best by consensus).
        public var retrieved = 3
        /// Words kept of each retrieved caption.
        public var retrievedWords = 20
        public var maxConcepts = 12
        /// Final score = consensus + modelWeight × mean log-probability per token.
        public var modelWeight: Double = 0.05
        /// Length normalisation of beam scores: score / length^lengthPenalty.
        public var lengthPenalty: Double = 1
        /// Hybrid rule: this many of the best retrieved captions (by consensus) compete with the beam's
        /// captions in the final rerank (0 = the beam's captions only). Their model score is their own
        /// mean log-probability under the decoder.
        public var retrievedCandidates = 0
        public init() {}

        enum CodingKeys: String, CodingKey {
            case beams, maxWords, retrieved, retrievedWords, maxConcepts, modelWeight, lengthPenalty, retrievedCandidates
        }

        /// Missing keys keep their defaults.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let v = try c.decodeIfPresent(Int.self, forKey: .beams) { beams = v }
            if let v = try c.decodeIfPresent(Int.self, forKey: .maxWords) { maxWords = v }
            if let v = try c.decodeIfPresent(Int.self, forKey: .retrieved) { retrieved = v }
            if let v = try c.decodeIfPresent(Int.self, forKey: .retrievedWords) { retrievedWords = v }
            if let v = try c.decodeIfPresent(Int.self, forKey: .maxConcepts) { maxConcepts = v }
            if let v = try c.decodeIfPresent(Double.self, forKey: .modelWeight) { modelWeight = v }
            if let v = try c.decodeIfPresent(Double.self, forKey: .lengthPenalty) { lengthPenalty = v }
            if let v = try c.decodeIfPresent(Int.self, forKey: .retrievedCandidates) { retrievedCandidates = v }
        }
    }

    public struct Result: Sendable {
        public var caption: String
        /// Beam candidates, best final score first: (caption, consensus, mean log-prob).
        public var candidates: [(caption: String, consensus: Double, logProb: Double)]
        public var retrieved: [String]
        public var query: [String: Float]
    }

    /// Settings chosen on coco-dev for the shipped decoder: the beam's captions and the 5 best retrieved
    /// captions compete, scored by consensus + 0.05 × mean log-probability (docs/model-card.md).
    public static var hybridDefaults: Config {
        var c = Config()
        c.retrievedCandidates = 5
        c.modelWeight = 0.05
        return c
    }

    public let decoder: ConceptDecoder
    public let retrieval: RetrievalCaptioner
    public let encoder: PromptEncoder
    public var config: Config

    public init(decoder: ConceptDecoder, retrieval: RetrievalCaptioner, config: Config = Config()) {
        self.decoder = decoder
        self.retrieval = retrieval
        self.encoder = PromptEncoder(tokens: decoder.tokens)
        self.config = config
    }

    public func caption(evidence: [ConceptEvidence], device: Device) throws -> Result {
        let q = retrieval.query(for: evidence)
        let ranking = retrieval.ranking(for: q)
        var pool = ranking.pool, votes = ranking.votes
        let retrieved = RetrievalCaptioner.distinct(ranking.ranked, config.retrieved)
        let conceptIDs = encoder.concepts(q.concepts.map { ($0.key, $0.value.count) }, order: PromptEncoder.standardOrder,
                                          maxConcepts: config.maxConcepts)
        let prompt = encoder.prompt(concepts: conceptIDs, retrieved: retrieved, maxWords: config.retrievedWords)
        let beams = try beamSearch(prompt: prompt, device: device)
        // Rerank: the beam's captions join the pool with no vote of their own.
        var seen = Set<String>()
        var texts: [String] = [], logps: [Double] = []
        for b in beams {
            let t = encoder.text(b.tokens)
            if t.isEmpty || !seen.insert(t).inserted { continue }
            texts.append(t); logps.append(b.meanLogProb)
        }
        for r in ranking.ranked.prefix(config.retrievedCandidates) {
            let ids = encoder.words(r, maxWords: config.maxWords)
            let t = encoder.text(ids)
            if t.isEmpty || !seen.insert(t).inserted { continue }
            texts.append(t)
            logps.append(try meanLogProb(prompt: prompt, caption: ids, device: device))
        }
        let first = pool.count
        pool += texts
        votes += [Double](repeating: 0, count: texts.count)
        // Few candidates: exact pairwise gains (CIDEr-D's clipping matters for beam outputs that repeat words).
        var finalRanker = retrieval.reranker
        finalRanker.method = .pairwise
        let cons = texts.isEmpty ? [] : finalRanker.scores(pool, weights: votes, candidates: Array(first..<pool.count))
        var scored = texts.indices.map { (caption: texts[$0], consensus: cons[$0], logProb: logps[$0]) }
        scored.sort { ($0.consensus + config.modelWeight * $0.logProb) > ($1.consensus + config.modelWeight * $1.logProb) }
        let best = scored.first?.caption ?? retrieved.first ?? ""
        return Result(caption: CaptionCorpus.tidy(best), candidates: scored, retrieved: retrieved.map(CaptionCorpus.tidy),
                      query: q.concepts.mapValues { $0.weight })
    }

    /// Mean log-probability per token of `caption` + `<eos>` after `prompt`.
    public func meanLogProb(prompt: [Int], caption: [Int], device: Device) throws -> Double {
        let seq = prompt + caption
        guard seq.count < decoder.config.nPositions else { return -.infinity }
        var cache = decoder.model.makeCache()
        let hidden = try decoder.model.hiddenStates(ids: [seq], cache: &cache, device: device)
        let logits = try decoder.model.logits(hidden, device: device).scalars  // [1, seq, vocab]
        let V = decoder.config.vocabSize
        let targets = caption + [ConceptDecoder.eos]
        var total = 0.0
        for (k, t) in targets.enumerated() {
            let row = logits[((prompt.count - 1 + k) * V)..<((prompt.count + k) * V)]
            let mx = row.max() ?? 0
            var sum = 0.0
            for v in row { sum += Double(exp(v - mx)) }
            total += Double(row[row.startIndex + t] - mx) - log(sum)
        }
        return total / Double(targets.count)
    }

    public struct Hypothesis: Sendable {
        public var tokens: [Int]
        public var logProb: Double
        public var meanLogProb: Double { logProb / Double(max(1, tokens.count)) }
    }

    /// Beam search over caption words; returns every finished hypothesis (ending in `<eos>`, which is
    /// included in `tokens`), best length-normalised score first.
    public func beamSearch(prompt: [Int], device: Device) throws -> [Hypothesis] {
        let model = decoder.model
        let V = decoder.config.vocabSize
        let width = max(1, config.beams)
        let maxSteps = min(config.maxWords + 1, decoder.config.nPositions - prompt.count)
        guard maxSteps > 0 else { throw ConceptDecoderError.invalidInput("prompt of \(prompt.count) tokens leaves no room to generate") }
        var (cache, logits) = try decoder.prefill(prompt, device: device)
        var live = [Hypothesis(tokens: [], logProb: 0)]
        var finished: [Hypothesis] = []
        func normalised(_ h: Hypothesis) -> Double { h.logProb / pow(Double(max(1, h.tokens.count)), config.lengthPenalty) }
        for step in 0..<maxSteps {
            let values = logits.scalars
            var next: [(beam: Int, token: Int, logProb: Double)] = []
            for (b, h) in live.enumerated() {
                let row = values[(b * V)..<((b + 1) * V)]
                var mx = -Float.infinity
                for v in row where v > mx { mx = v }
                var sum: Double = 0
                for v in row { sum += Double(exp(v - mx)) }
                let lse = Double(mx) + log(sum)
                // Top candidates of this beam among generatable tokens.
                var top: [(Int, Double)] = []
                let base = b * V
                for t in 0..<V where encoder.generatable[t] {
                    if t == ConceptDecoder.eos && h.tokens.count < 2 { continue }
                    if let last = h.tokens.last, last == t { continue }
                    if step == maxSteps - 1 && t != ConceptDecoder.eos { continue }
                    let lp = Double(values[base + t]) - lse
                    if top.count < 2 * width || lp > top[top.count - 1].1 {
                        var i = top.count
                        while i > 0 && top[i - 1].1 < lp { i -= 1 }
                        top.insert((t, lp), at: i)
                        if top.count > 2 * width { top.removeLast() }
                    }
                }
                for (t, lp) in top { next.append((b, t, h.logProb + lp)) }
            }
            next.sort { $0.logProb > $1.logProb }
            var newLive: [Hypothesis] = [], rows: [Int] = [], feed: [Int] = []
            for c in next {
                let h = Hypothesis(tokens: live[c.beam].tokens + [c.token], logProb: c.logProb)
                if c.token == ConceptDecoder.eos {
                    finished.append(h)
                } else if newLive.count < width {
                    newLive.append(h); rows.append(c.beam); feed.append(c.token)
                }
                if newLive.count >= width && finished.count >= width { break }
            }
            if newLive.isEmpty || finished.count >= 2 * width { break }
            // Stop when no live beam can beat the worst of `width` finished ones (scores only fall).
            if finished.count >= width {
                let sortedF = finished.map(normalised).sorted(by: >)
                let bestLive = newLive.map { $0.logProb / pow(Double(config.maxWords + 1), config.lengthPenalty) }.max() ?? -.infinity
                if bestLive < sortedF[width - 1] { break }
            }
            try model.reorderState(&cache, rows: rows, device: device)
            logits = try model.nextLogits(tokens: feed, state: &cache, device: device)
            live = newLive
        }
        return finished.sorted { normalised($0) > normalised($1) }
    }
}
