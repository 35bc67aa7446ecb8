import Foundation
import SwiftCapModels
import SwiftCapTensor

/// Every datastore caption as the concept-head words it uses, so all 566k captions can be scored against
/// one photo's word probabilities in a few milliseconds. Built once per (datastore, vocabulary).
///
/// Layout (CSR): caption c uses the distinct vocabulary ids `words[start[c] ..< start[c + 1]]`;
/// `lengths[c]` is its word count (all words, saturating at 255).
public struct CaptionWordIndex: Sendable {
    public let vocabularySize: Int
    let start: [UInt32]
    let words: [UInt16]
    let lengths: [UInt8]
    public var captionCount: Int { lengths.count }

    public init(datastore: Datastore, vocabulary: [String]) {
        precondition(vocabulary.count < Int(UInt16.max), "vocabulary too large for 16-bit ids")
        vocabularySize = vocabulary.count
        var ids: [UInt64: UInt16] = [:]
        for (i, w) in vocabulary.enumerated() { ids[WordHash.hash(w)] = UInt16(i) }
        var start: [UInt32] = [0], words: [UInt16] = [], lengths: [UInt8] = []
        start.reserveCapacity(datastore.captionCount + 1)
        lengths.reserveCapacity(datastore.captionCount)
        words.reserveCapacity(datastore.captionCount * 5)
        var seen: [UInt16] = []
        datastore.forEachCaptionBytes { _, bytes in
            let hashes = WordHash.asciiWords(bytes)
                ?? ConceptVocabulary.tokenize(String(decoding: bytes, as: UTF8.self)).map { WordHash.hash($0) }
            seen.removeAll(keepingCapacity: true)
            for h in hashes { if let id = ids[h], !seen.contains(id) { seen.append(id) } }
            words += seen
            start.append(UInt32(words.count))
            lengths.append(UInt8(min(255, hashes.count)))
        }
        self.start = start; self.words = words; self.lengths = lengths
    }

    /// Σ over the vocabulary words a caption uses of `weights[word]`, for every caption; captions with fewer
    /// than `minWords` words get -∞.
    public func scores(_ weights: [Float], minWords: Int) -> [Float] {
        precondition(weights.count == vocabularySize)
        var out = [Float](repeating: -.infinity, count: captionCount)
        start.withUnsafeBufferPointer { S in
            words.withUnsafeBufferPointer { W in
                weights.withUnsafeBufferPointer { L in
                    for c in 0..<lengths.count where Int(lengths[c]) >= minWords {
                        var s: Float = 0
                        for p in Int(S[c])..<Int(S[c + 1]) { s += L[Int(W[p])] }
                        out[c] = s
                    }
                }
            }
        }
        return out
    }

    /// Indices of the `k` largest finite values, largest first (ties: lower index first).
    public static func top(_ values: [Float], _ k: Int) -> [Int] {
        let finite = values.indices.filter { values[$0].isFinite }
        guard k < finite.count else {
            return finite.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        }
        guard k > 0 else { return [] }
        // The k-th largest value by quickselect on a copy, then every index at or above it.
        var v = finite.map { values[$0] }
        var lo = 0, hi = v.count - 1
        let target = k - 1
        var rng = SplitMix64(seed: 0x70b)
        while lo < hi {
            let pivot = v[lo + Int(rng.next() % UInt64(hi - lo + 1))]
            var i = lo, j = hi
            while i <= j {
                while v[i] > pivot { i += 1 }
                while v[j] < pivot { j -= 1 }
                if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { hi = j } else if target >= i { lo = i } else { break }
        }
        let threshold = v[target]
        let chosen = finite.filter { values[$0] >= threshold }
            .sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        return Array(chosen.prefix(k))
    }
}

/// The learned-concept decoder: the concept head's word probabilities score every datastore caption by
/// the log-odds of the words it uses (a caption naming likely words and no unlikely ones scores high),
/// the best `pool` captions vote, and the consensus pick (minimum Bayes risk under CIDEr-D's gain) is
/// the caption.
public struct ConceptRetrievalCaptioner: Sendable {
    public struct Config: Sendable, Codable, Equatable {
        /// Captions retrieved per photo; all of them vote and compete.
        public var pool = 2000
        /// Captions shorter than this many words are never retrieved ("a dog." names the right word and says little).
        public var minWords = 6
        /// Probabilities are clamped to [ε, 1 − ε] before taking log-odds.
        public var epsilon: Float = 1e-4
        /// Weight of the retrieval score (standardised over the pool, in units of the consensus spread) added
        /// to the consensus when picking: the photo's own evidence against the pool's majority.
        public var evidenceWeight: Float = 0
        public var consensus = ConsensusReranker.Method.centroid
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            pool = try c.decodeIfPresent(Int.self, forKey: .pool) ?? d.pool
            minWords = try c.decodeIfPresent(Int.self, forKey: .minWords) ?? d.minWords
            epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? d.epsilon
            evidenceWeight = try c.decodeIfPresent(Float.self, forKey: .evidenceWeight) ?? d.evidenceWeight
            consensus = try c.decodeIfPresent(ConsensusReranker.Method.self, forKey: .consensus) ?? d.consensus
        }
    }

    public struct Result: Sendable {
        public var caption: String
        /// Distinct pool captions, best consensus first (at most 5).
        public var retrieved: [String]
        /// The most probable words, most probable first (at most 12).
        public var words: [(word: String, probability: Float)]
    }

    public let datastore: Datastore
    public let index: CaptionWordIndex
    public let head: ConceptHead
    public var config: Config

    public init(datastore: Datastore, head: ConceptHead, config: Config = Config()) {
        self.datastore = datastore
        self.head = head
        self.index = CaptionWordIndex(datastore: datastore, vocabulary: head.vocabulary)
        self.config = config
    }

    /// Log-odds of each vocabulary word.
    public func logOdds(_ probabilities: [Float]) -> [Float] {
        let e = config.epsilon
        return probabilities.map { p in log((p + e) / (1 - p + e)) }
    }

    public func caption(probabilities: [Float]) -> Result {
        let scores = index.scores(logOdds(probabilities), minWords: config.minWords)
        let top = CaptionWordIndex.top(scores, max(1, config.pool))
        let pool = top.map { datastore.caption($0) }
        var reranker = ConsensusReranker()
        reranker.method = config.consensus
        var consensus = reranker.scores(pool)
        if config.evidenceWeight != 0, pool.count > 1 {
            let z = top.map { Double(scores[$0]) }
            func stats(_ v: [Double]) -> (Double, Double) {
                let m = v.reduce(0, +) / Double(v.count)
                return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot())
            }
            let (zm, zs) = stats(z), (_, cs) = stats(consensus)
            for i in consensus.indices { consensus[i] += Double(config.evidenceWeight) * (z[i] - zm) / max(zs, 1e-9) * cs }
        }
        let order = consensus.indices.sorted { consensus[$0] != consensus[$1] ? consensus[$0] > consensus[$1] : $0 < $1 }
        let ranked = order.map { pool[$0] }
        let words = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(12)
            .map { (word: head.vocabulary[$0], probability: probabilities[$0]) }
        return Result(caption: CaptionCorpus.tidy(ranked.first ?? ""), retrieved: RetrievalCaptioner.distinct(ranked, 5).map(CaptionCorpus.tidy),
                      words: words)
    }
}
