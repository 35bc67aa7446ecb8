import Foundation
import SwiftCapTensor

/// A decoder that produces next-token logits one step at a time, carrying its own state (a KV
/// cache, cross-attention memory, …). Every captioner's decoder conforms, so all of them share
/// `Generator`'s greedy, sampling and beam-search loops.
public protocol CausalDecoder {
    associatedtype State
    var vocabularySize: Int { get }
    /// Feeds `tokens[r]` to row r of `state` and returns logits for the following position: [rows, vocab].
    func nextLogits(tokens: [Int], state: inout State, device: Device) throws -> Tensor
    /// Rebuilds the state so that row i is old row `rows[i]` (rows may repeat or be dropped).
    func reorderState(_ state: inout State, rows: [Int], device: Device) throws
}

/// A decoder-only language model over token ids with a `KVCache` (GPT-2, Llama). Its `CausalDecoder`
/// steps and its prompt-continuing `generate` are written once, in the extension below.
public protocol CachedTokenDecoder: CausalDecoder where State == KVCache {
    func makeCache() -> KVCache
    /// Final hidden states of `ids` (rows of equal length; `leftPadding[r]` leading pad positions where the
    /// model supports it) after the cached positions, appending their keys/values: -> [rows, seq, d].
    func hiddenStates(ids: [[Int]], cache: inout KVCache, leftPadding: [Int]?, device: Device) throws -> Tensor
    /// Logits of the last position of each row: hidden [rows, seq, d] -> [rows, vocab].
    func lastLogits(_ hidden: Tensor, device: Device) throws -> Tensor
}

extension CachedTokenDecoder {
    /// Feeds one token per row after the cached positions: -> logits [rows, vocab].
    public func nextLogits(tokens: [Int], state: inout KVCache, device: Device) throws -> Tensor {
        try lastLogits(hiddenStates(ids: tokens.map { [$0] }, cache: &state, leftPadding: nil, device: device), device: device)
    }

    public func reorderState(_ state: inout KVCache, rows: [Int], device: Device) throws {
        try state.reorder(batch: rows, device: device)
    }

    /// Runs the prompt rows, then greedy/sampled/beam decoding with `Generator`. Returns each row's new tokens.
    public func generate(ids: [[Int]], leftPadding: [Int]? = nil, config: GenerationConfig, device: Device) throws -> [[Int]] {
        var cache = makeCache()
        let hidden = try hiddenStates(ids: ids, cache: &cache, leftPadding: leftPadding, device: device)
        return try Generator.generate(self, state: cache, firstLogits: lastLogits(hidden, device: device), prompts: ids,
                                      config: config, device: device)
    }
}

/// When beam search stops, as transformers' `early_stopping`.
public enum EarlyStopping: Sendable, Equatable {
    /// `early_stopping=False`: stop when the best running beam, scored at its current length, cannot
    /// beat the worst finished one.
    case heuristic
    /// `early_stopping=True`: stop as soon as `numBeams` hypotheses are finished.
    case whenBeamsFull
    /// `early_stopping="never"`: stop only when no running beam could improve, assuming the most
    /// favourable length (the maximum length when `lengthPenalty > 0`).
    case never
}

/// Decoding settings. Defaults give greedy decoding of up to 20 new tokens.
public struct GenerationConfig: Sendable, Equatable {
    /// Most new tokens per sequence (stop tokens included).
    public var maxNewTokens: Int = 20
    /// Stop tokens are suppressed until this many new tokens exist.
    public var minNewTokens: Int = 0
    /// Tokens that end a sequence (kept as its last token).
    public var stopTokens: [Int] = []
    /// 1 = greedy or sampling; more = beam search.
    public var numBeams: Int = 1
    /// Beam scores are sum(log p) / length^lengthPenalty (length counts new tokens).
    public var lengthPenalty: Float = 1
    public var earlyStopping: EarlyStopping = .heuristic
    /// Sample instead of taking the arg-max (greedy only; not combined with beams).
    public var doSample: Bool = false
    public var temperature: Float = 1
    /// Keep only the k most likely tokens when sampling (0 = off).
    public var topK: Int = 0
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (1 = off).
    public var topP: Float = 1
    public var seed: UInt64 = 0
    /// transformers' repetition penalty: logits/log-probs of tokens already present (prompt included)
    /// are divided by it when positive and multiplied when negative. 1 = off.
    public var repetitionPenalty: Float = 1
    /// transformers' `no_repeat_ngram_size`: a token that would repeat an n-gram already in the
    /// sequence (prompt included) is banned. 0 = off.
    public var noRepeatNGramSize: Int = 0

    public init(maxNewTokens: Int = 20, minNewTokens: Int = 0, stopTokens: [Int] = [], numBeams: Int = 1,
                lengthPenalty: Float = 1, earlyStopping: EarlyStopping = .heuristic, doSample: Bool = false,
                temperature: Float = 1, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0, repetitionPenalty: Float = 1,
                noRepeatNGramSize: Int = 0) {
        self.maxNewTokens = maxNewTokens
        self.minNewTokens = minNewTokens
        self.stopTokens = stopTokens
        self.numBeams = numBeams
        self.lengthPenalty = lengthPenalty
        self.earlyStopping = earlyStopping
        self.doSample = doSample
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
        self.repetitionPenalty = repetitionPenalty
        self.noRepeatNGramSize = noRepeatNGramSize
    }
}

public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .invalidConfig(let d): return "generation config: \(d)"
        case .invalidInput(let d): return "generation: \(d)"
        }
    }
}

/// Greedy, sampling and beam-search decoding over any `CausalDecoder`, following transformers'
/// `generate` step for step (so token ids match it on the same logits).
public enum Generator {
    /// Continues `batch` sequences whose prompts (token ids or prefix embeddings) the caller has
    /// already fed to the decoder.
    ///
    /// - state: decoder state after the prompt, with one row per batch item
    /// - firstLogits: the logits that prompt produced for the next position, [batch, vocab]
    /// - prompts: each item's prompt token ids (used by the repetition penalty; may be empty,
    ///   e.g. for an embedding prefix)
    /// - returns: the new token ids of each item, ending with its stop token when one was produced
    public static func generate<D: CausalDecoder>(_ decoder: D, state: D.State, firstLogits: Tensor, prompts: [[Int]],
                                                  config: GenerationConfig, device: Device) throws -> [[Int]] {
        let vocab = decoder.vocabularySize
        guard firstLogits.rank == 2, firstLogits.shape[1] == vocab, firstLogits.shape[0] == prompts.count,
              !prompts.isEmpty else {
            throw GenerationError.invalidInput("first logits \(firstLogits.shape) for \(prompts.count) prompts and vocabulary \(vocab)")
        }
        guard config.maxNewTokens >= 1 else { throw GenerationError.invalidConfig("maxNewTokens must be >= 1") }
        guard config.numBeams >= 1 else { throw GenerationError.invalidConfig("numBeams must be >= 1") }
        guard config.repetitionPenalty > 0 else { throw GenerationError.invalidConfig("repetitionPenalty must be > 0") }
        guard config.noRepeatNGramSize >= 0 else { throw GenerationError.invalidConfig("noRepeatNGramSize must be >= 0") }
        for t in config.stopTokens where t < 0 || t >= vocab {
            throw GenerationError.invalidConfig("stop token \(t) outside vocabulary 0..<\(vocab)")
        }
        if config.numBeams > 1 {
            guard !config.doSample else { throw GenerationError.invalidConfig("beam sampling is not supported; use doSample with numBeams 1") }
            return try beamSearch(decoder, state: state, firstLogits: firstLogits, prompts: prompts, config: config, device: device)
        }
        if config.doSample {
            guard config.temperature > 0, config.topK >= 0, config.topP > 0, config.topP <= 1 else {
                throw GenerationError.invalidConfig("temperature \(config.temperature), topK \(config.topK), topP \(config.topP)")
            }
        }
        return try greedyOrSample(decoder, state: state, firstLogits: firstLogits, prompts: prompts, config: config, device: device)
    }

    // MARK: greedy and sampling

    static func greedyOrSample<D: CausalDecoder>(_ decoder: D, state initial: D.State, firstLogits: Tensor, prompts: [[Int]],
                                                 config: GenerationConfig, device: Device) throws -> [[Int]] {
        let vocab = decoder.vocabularySize
        let stop = Set(config.stopTokens)
        var state = initial
        var outputs = Array(repeating: [Int](), count: prompts.count)
        var active = Array(0..<prompts.count)   // batch item of each state row
        var logits = firstLogits.scalars
        var rng = SplitMix64(seed: config.seed)
        for step in 0..<config.maxNewTokens {
            var chosen: [Int] = []
            var stillActive: [Int] = []
            var keepRows: [Int] = []
            for (r, item) in active.enumerated() {
                var scores = Array(logits[(r * vocab)..<((r + 1) * vocab)])
                let sequence = prompts[item] + outputs[item]
                applyRepetitionPenalty(&scores, tokens: sequence, penalty: config.repetitionPenalty)
                banRepeatedNGrams(&scores, tokens: sequence, size: config.noRepeatNGramSize)
                if step < config.minNewTokens { for t in stop { scores[t] = -.infinity } }
                let token = config.doSample ? sample(scores, config: config, rng: &rng) : argmax(scores)
                outputs[item].append(token)
                if !stop.contains(token) {
                    stillActive.append(item)
                    keepRows.append(r)
                    chosen.append(token)
                }
            }
            if stillActive.isEmpty || step + 1 == config.maxNewTokens { break }
            if keepRows.count != active.count { try decoder.reorderState(&state, rows: keepRows, device: device) }
            active = stillActive
            logits = try decoder.nextLogits(tokens: chosen, state: &state, device: device).scalars
        }
        return outputs
    }

    /// transformers' `RepetitionPenaltyLogitsProcessor`: every distinct token already present is
    /// penalised once.
    static func applyRepetitionPenalty(_ scores: inout [Float], tokens: [Int], penalty: Float) {
        if penalty == 1 { return }
        for t in Set(tokens) where t >= 0 && t < scores.count {
            let s = scores[t]
            scores[t] = s < 0 ? s * penalty : s / penalty
        }
    }

    /// transformers' `NoRepeatNGramLogitsProcessor`: bans every token that, appended to the last
    /// size − 1 tokens, would form an n-gram already present in `tokens`.
    static func banRepeatedNGrams(_ scores: inout [Float], tokens: [Int], size n: Int) {
        guard n > 0, tokens.count + 1 >= n else { return }
        if n == 1 {
            for t in tokens where t >= 0 && t < scores.count { scores[t] = -.infinity }
            return
        }
        let tail = tokens.suffix(n - 1)
        var start = 0
        while start + n <= tokens.count {
            if tokens[start..<(start + n - 1)].elementsEqual(tail) {
                let t = tokens[start + n - 1]
                if t >= 0 && t < scores.count { scores[t] = -.infinity }
            }
            start += 1
        }
    }

    /// Index of the largest score (the first one on ties, as torch.argmax).
    static func argmax(_ scores: [Float]) -> Int {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return best
    }

    /// Temperature, top-k, then top-p filtering, then one draw from the softmax.
    static func sample(_ raw: [Float], config: GenerationConfig, rng: inout SplitMix64) -> Int {
        var order = Array(raw.indices)
        let scaled = raw.map { $0 / config.temperature }
        order.sort { scaled[$0] > scaled[$1] || (scaled[$0] == scaled[$1] && $0 < $1) }
        var keep = order.count
        if config.topK > 0 { keep = min(keep, config.topK) }
        let maxScore = scaled[order[0]]
        if maxScore == -.infinity { return order[0] }
        var probs = order.prefix(keep).map { Double(expf(scaled[$0] - maxScore)) }
        var total = probs.reduce(0, +)
        if config.topP < 1 {
            var cumulative = 0.0
            var n = 0
            for p in probs {
                cumulative += p / total
                n += 1
                if cumulative >= Double(config.topP) { break }
            }
            probs = Array(probs.prefix(max(n, 1)))
            total = probs.reduce(0, +)
        }
        let u = Double(rng.next() >> 11) / Double(1 << 53) * total
        var acc = 0.0
        for (i, p) in probs.enumerated() {
            acc += p
            if u < acc { return order[i] }
        }
        return order[probs.count - 1]
    }

    // MARK: beam search

    struct Hypothesis {
        var tokens: [Int]
        var score: Float
        var finished: Bool
    }

    /// Beam search as transformers' `_beam_search` (v4.50+ vectorised form), per batch item:
    /// keep the top `max(2, 1 + stops) · beams` continuations over all beams, move those among the
    /// top `beams` that hit a stop token or the length limit into the finished set (score divided by
    /// length^lengthPenalty), continue with the best `beams` unfinished ones, and stop per `earlyStopping`.
    static func beamSearch<D: CausalDecoder>(_ decoder: D, state initial: D.State, firstLogits: Tensor, prompts: [[Int]],
                                             config: GenerationConfig, device: Device) throws -> [[Int]] {
        let vocab = decoder.vocabularySize
        let beams = config.numBeams, batch = prompts.count
        let stop = Set(config.stopTokens)
        let keepCount = max(2, 1 + config.stopTokens.count) * beams
        let penaltyValue: Float = -1.0e9
        var state = initial
        // Every item's prompt state repeated once per beam.
        try decoder.reorderState(&state, rows: (0..<batch).flatMap { Array(repeating: $0, count: beams) }, device: device)
        let first = firstLogits.scalars
        var logits = [Float](repeating: 0, count: batch * beams * vocab)
        for b in 0..<batch {
            for j in 0..<beams {
                logits.replaceSubrange(((b * beams + j) * vocab)..<((b * beams + j + 1) * vocab),
                                       with: first[(b * vocab)..<((b + 1) * vocab)])
            }
        }
        var running = (0..<batch).map { _ in
            (0..<beams).map { Hypothesis(tokens: [], score: $0 == 0 ? 0 : penaltyValue, finished: false) }
        }
        var finished = (0..<batch).map { _ in
            Array(repeating: Hypothesis(tokens: [], score: penaltyValue, finished: false), count: beams)
        }
        var unsatisfied = Array(repeating: true, count: batch)
        func lengthScale(_ length: Int) -> Float { Float(pow(Double(length), Double(config.lengthPenalty))) }

        var generated = 0
        while true {
            var allHit = true
            var nextTokens: [Int] = []
            var sourceRows: [Int] = []
            for b in 0..<batch {
                // Accumulated log-probs over (beam, token), keeping the best keepCount.
                var candidates: [(score: Float, beam: Int, token: Int)] = []
                candidates.reserveCapacity(beams * keepCount)
                for j in 0..<beams {
                    let row = b * beams + j
                    var lp = logSoftmax(logits[(row * vocab)..<((row + 1) * vocab)])
                    let sequence = prompts[b] + running[b][j].tokens
                    applyRepetitionPenalty(&lp, tokens: sequence, penalty: config.repetitionPenalty)
                    banRepeatedNGrams(&lp, tokens: sequence, size: config.noRepeatNGramSize)
                    if generated < config.minNewTokens { for t in stop { lp[t] = -.infinity } }
                    let base = running[b][j].score
                    for (t, s) in topK(lp.map { $0 + base }, keepCount) { candidates.append((s, j, t)) }
                }
                candidates.sort { (x, y) -> Bool in
                    if x.score != y.score { return x.score > y.score }
                    return x.beam * vocab + x.token < y.beam * vocab + y.token
                }
                let top = Array(candidates.prefix(keepCount))
                let atLimit = generated + 1 >= config.maxNewTokens
                let hits = top.map { atLimit || stop.contains($0.token) }
                if !hits.allSatisfy({ $0 }) { allHit = false }

                // Next running beams: the best unfinished continuations.
                let adjusted: [Float] = top.indices.map { top[$0].score + (hits[$0] ? penaltyValue : 0) }
                let continuingOrder = top.indices.sorted { (x: Int, y: Int) -> Bool in
                    adjusted[x] > adjusted[y] || (adjusted[x] == adjusted[y] && x < y)
                }
                let continuing = continuingOrder.prefix(beams).map { (index: $0, score: adjusted[$0]) }
                let previous = running[b]
                running[b] = continuing.map { c in
                    let cand = top[c.index]
                    return Hypothesis(tokens: previous[cand.beam].tokens + [cand.token], score: c.score, finished: false)
                }
                for c in continuing {
                    sourceRows.append(b * beams + top[c.index].beam)
                    nextTokens.append(top[c.index].token)
                }

                // Finished set: merge newly finished (among the top `beams` only) with the old ones.
                let full = finished[b].allSatisfy(\.finished) && config.earlyStopping == .whenBeamsFull
                let scale = lengthScale(generated + 1)
                var merged = finished[b]
                for (k, cand) in top.enumerated() {
                    let justFinished = hits[k] && k < beams
                    var s = cand.score / scale
                    if full { s += penaltyValue }
                    if !unsatisfied[b] { s += penaltyValue }
                    if !justFinished { s += penaltyValue }
                    merged.append(Hypothesis(tokens: previous[cand.beam].tokens + [cand.token], score: s, finished: justFinished))
                }
                let order = merged.indices.sorted { (x: Int, y: Int) -> Bool in
                    let sx = merged[x].score, sy = merged[y].score
                    return sx > sy || (sx == sy && x < y)
                }
                finished[b] = order.prefix(beams).map { merged[$0] }
            }
            generated += 1

            // Per-item heuristic: can the best running beam still beat the worst finished one?
            for b in 0..<batch {
                let hypothetical = config.earlyStopping == .never && config.lengthPenalty > 0 ? config.maxNewTokens : generated
                let bestRunning = running[b][0].score / lengthScale(hypothetical)
                let worst = finished[b].map(\.score).min() ?? penaltyValue
                let improvable = finished[b].contains { bestRunning > ($0.finished ? worst : penaltyValue) }
                unsatisfied[b] = unsatisfied[b] && improvable
            }
            let improvementPossible = unsatisfied.contains(true)
            let allFinished = finished.allSatisfy { $0.allSatisfy(\.finished) }
            let openBeam = !(allFinished && config.earlyStopping == .whenBeamsFull)
            if !(improvementPossible && openBeam && !allHit) { break }

            try decoder.reorderState(&state, rows: sourceRows, device: device)
            logits = try decoder.nextLogits(tokens: nextTokens, state: &state, device: device).scalars
        }
        return finished.enumerated().map { b, hyps in
            hyps.first(where: \.finished)?.tokens ?? running[b][0].tokens
        }
    }

    /// Stable log-softmax of one row.
    static func logSoftmax(_ row: ArraySlice<Float>) -> [Float] {
        // 8-lane max and exp in release builds (this ran scalar and was 14 % of a beam-5 decode).
        let lse = row.withUnsafeBufferPointer { b in b.baseAddress.map { logSumExpRow($0, b.count) } ?? -.infinity }
        return row.map { $0 - lse }
    }

    /// The k largest (index, value) pairs, best first.
    static func topK(_ values: [Float], _ k: Int) -> [(Int, Float)] {
        var best: [(Int, Float)] = []
        best.reserveCapacity(k + 1)
        for (i, v) in values.enumerated() {
            if best.count == k, let last = best.last, !(v > last.1) { continue }
            var pos = best.count
            while pos > 0 && v > best[pos - 1].1 { pos -= 1 }
            best.insert((i, v), at: pos)
            if best.count > k { best.removeLast() }
        }
        return best
    }
}
