import Foundation

/// Errors reading or writing a datastore file; each names the file.
public enum DatastoreError: Error, CustomStringConvertible {
    case unreadable(URL, String)
    case malformed(URL, String)
    case unwritable(URL, String)
    case empty(String)

    public var description: String {
        switch self {
        case .unreadable(let url, let why): return "cannot read datastore \(url.path): \(why)"
        case .malformed(let url, let why): return "\(url.path) is not a valid SwiftCap datastore: \(why)"
        case .unwritable(let url, let why): return "cannot write datastore \(url.path): \(why)"
        case .empty(let why): return "cannot build a datastore: \(why)"
        }
    }
}

/// SmallCap's datastore without image features: every training caption indexed by the concepts it
/// mentions. Features per concept c: "c" (mentioned), "c+" (two or more), "c++" (three or more),
/// weighted by inverse document frequency; a caption's norm counts only the detector-class features. Queried by a concept vector; the answer is the captions
/// with the highest cosine similarity. Swapping the file changes the domain without retraining.
///
/// File layout (little-endian), memory-mapped at load:
/// ```
/// magic "SCDSTORE" | u32 version=1 | u32 nCaptions | u32 nFeatures | u32 nPostings | u32 textBytes
/// feature names: nFeatures × (u16 byteLength, UTF-8 bytes)   then zero-padding to 4 bytes
/// f32 idf[nFeatures] | u32 postingStart[nFeatures+1] | u32 postingCaption[nPostings] | f32 postingValue[nPostings]
/// f32 captionNorm[nCaptions] | u32 imageID[nCaptions] | u32 textStart[nCaptions+1] | UTF-8 text[textBytes]
/// ```
public struct Datastore: @unchecked Sendable {
    public let featureNames: [String]
    public let captionCount: Int
    public let source: String
    private let featureIndex: [String: Int]
    private let data: Data
    // Byte offsets of the arrays inside `data`.
    private let idfOffset, postingStartOffset, postingCaptionOffset, postingValueOffset: Int
    private let normOffset, imageIDOffset, textStartOffset, textOffset: Int
    private let normVocabulary: ConceptVocabulary
    /// The image-level view, built on the first image query (costs ~30 ms and ~15 MB for COCO).
    private let imageViewBox = LazyImageView()
    public var imageCount: Int { imageView.norm.count }

    static let magic = Array("SCDSTORE".utf8)

    // MARK: building

    /// Feature names of a concept: mentioned, two or more, three or more.
    public static func featureNames(forConcept name: String) -> [String] { [name, name + "+", name + "++"] }

    /// Indexes `corpus` by `vocabulary` and writes the datastore to `url`. Captions that mention no
    /// concept are kept (they can still be retrieved by an empty query's fallback) with a zero vector.
    public static func build(corpus: CaptionCorpus, vocabulary: ConceptVocabulary, to url: URL) throws {
        guard !corpus.captions.isEmpty else { throw DatastoreError.empty("the corpus has no captions") }
        let names = vocabulary.concepts.flatMap { featureNames(forConcept: $0.name) }
        var perCaption: [[(Int, Float)]] = []
        perCaption.reserveCapacity(corpus.captions.count)
        var df = [Int](repeating: 0, count: names.count)
        for c in corpus.captions {
            var feats: [(Int, Float)] = []
            for (concept, bin) in vocabulary.mentions(in: ConceptVocabulary.tokenize(c.text)) {
                feats.append((3 * concept, 1))
                if bin >= 2 { feats.append((3 * concept + 1, 1)) }
                if bin >= 3 { feats.append((3 * concept + 2, 1)) }
            }
            for (f, _) in feats { df[f] += 1 }
            perCaption.append(feats)
        }
        let n = Float(corpus.captions.count)
        let idf = df.map { $0 == 0 ? 0 : Float(log(Double(n) / Double($0))) }
        // Postings grouped by feature.
        var postings = [[(UInt32, Float)]](repeating: [], count: names.count)
        var norms = [Float](repeating: 0, count: corpus.captions.count)
        for (ci, feats) in perCaption.enumerated() {
            var s: Float = 0
            for (f, v) in feats {
                let w = v * idf[f]
                postings[f].append((UInt32(ci), w))
                // The caption's norm counts only what the detector can see: words the vision side rarely
                // produces (scene words, most classifier words) then add to the match without
                // penalising captions that mention them (coco-dev CIDEr-D 0.60 -> 0.69 at equal settings).
                if vocabulary.concepts[f / 3].isDetectorClass { s += w * w }
            }
            norms[ci] = s.squareRoot()
        }
        var out = Data()
        out.append(contentsOf: magic)
        func u32(_ v: Int) { var x = UInt32(v).littleEndian; withUnsafeBytes(of: &x) { out.append(contentsOf: $0) } }
        func f32(_ v: Float) { var x = v.bitPattern.littleEndian; withUnsafeBytes(of: &x) { out.append(contentsOf: $0) } }
        var text = Data()
        var textStarts: [Int] = [0]
        for c in corpus.captions {
            text.append(contentsOf: Array(c.text.utf8))
            textStarts.append(text.count)
        }
        let nPostings = postings.reduce(0) { $0 + $1.count }
        u32(1); u32(corpus.captions.count); u32(names.count); u32(nPostings); u32(text.count)
        for name in names {
            let bytes = Array(name.utf8)
            var len = UInt16(bytes.count).littleEndian
            withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
            out.append(contentsOf: bytes)
        }
        while out.count % 4 != 0 { out.append(0) }
        for v in idf { f32(v) }
        var start = 0
        u32(0)
        for p in postings { start += p.count; u32(start) }
        for p in postings { for (c, _) in p { u32(Int(c)) } }
        for p in postings { for (_, v) in p { f32(v) } }
        for v in norms { f32(v) }
        for c in corpus.captions { u32(c.imageID) }
        for s in textStarts { u32(s) }
        out.append(text)
        do { try out.write(to: url, options: .atomic) } catch {
            throw DatastoreError.unwritable(url, error.localizedDescription)
        }
    }

    // MARK: loading

    /// Memory-maps a datastore file and validates its layout.
    /// `normVocabulary` says which features count in an image profile's norm (its detector classes),
    /// as `build` does for caption norms.
    public init(contentsOf url: URL, normVocabulary: ConceptVocabulary = .standard) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw DatastoreError.unreadable(url, error.localizedDescription)
        }
        self.data = data
        self.source = url.path
        self.normVocabulary = normVocabulary
        func fail(_ why: String) -> DatastoreError { .malformed(url, why) }
        guard data.count >= 32, Array(data.prefix(8)) == Datastore.magic else { throw fail("bad magic (not a datastore file)") }
        func readU32(_ at: Int) -> Int {
            data.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        }
        guard readU32(8) == 1 else { throw fail("unsupported version \(readU32(8))") }
        let nCaptions = readU32(12), nFeatures = readU32(16), nPostings = readU32(20), textBytes = readU32(24)
        // Every count must fit in the file before anything is sized by it.
        let budget = data.count / 4
        guard nFeatures <= budget, nCaptions <= budget, nPostings <= budget, textBytes <= data.count else {
            throw fail("header counts exceed the file size (\(data.count) bytes)")
        }
        var p = 28
        var names: [String] = []
        names.reserveCapacity(nFeatures)
        for _ in 0..<nFeatures {
            guard p + 2 <= data.count else { throw fail("truncated in feature names") }
            let len = data.withUnsafeBytes { Int(UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: p, as: UInt16.self))) }
            p += 2
            guard p + len <= data.count, let s = String(data: data[p..<(p + len)], encoding: .utf8) else {
                throw fail("truncated or invalid feature name")
            }
            names.append(s)
            p += len
        }
        p = (p + 3) / 4 * 4
        idfOffset = p; p += 4 * nFeatures
        postingStartOffset = p; p += 4 * (nFeatures + 1)
        postingCaptionOffset = p; p += 4 * nPostings
        postingValueOffset = p; p += 4 * nPostings
        normOffset = p; p += 4 * nCaptions
        imageIDOffset = p; p += 4 * nCaptions
        textStartOffset = p; p += 4 * (nCaptions + 1)
        textOffset = p; p += textBytes
        guard p == data.count else { throw fail("size \(data.count) bytes does not match its header (\(p) bytes)") }
        featureNames = names
        captionCount = nCaptions
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() { index[n] = i }
        featureIndex = index
        // Validate the offset tables so queries can index without checks.
        let starts = (0...nFeatures).map { readU32(postingStartOffset + 4 * $0) }
        guard starts.first == 0, starts.last == nPostings, zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw fail("posting table is inconsistent")
        }
        let ok = data.withUnsafeBytes { raw -> Bool in
            for i in 0..<nPostings where Int(raw.loadUnaligned(fromByteOffset: postingCaptionOffset + 4 * i, as: UInt32.self)) >= nCaptions { return false }
            var prev = 0
            for i in 0...nCaptions {
                let s = Int(raw.loadUnaligned(fromByteOffset: textStartOffset + 4 * i, as: UInt32.self))
                if s < prev || s > textBytes { return false }
                prev = s
            }
            return true
        }
        guard ok else { throw fail("caption or text offsets out of range") }
    }

    // MARK: image-level view

    /// Captions grouped by training image: dense image index per caption, captions per image
    /// (CSR: `captions[start[i]..<start[i+1]]`), and the norm of each image's concept profile (the mean
    /// of its captions' vectors over detector-class features, as caption norms are).
    struct ImageView {
        var ofCaption: [Int32] = []
        var start: [Int32] = []
        var captions: [Int32] = []
        var norm: [Float] = []
    }

    final class LazyImageView: @unchecked Sendable {
        private let lock = NSLock()
        private var view: ImageView?
        func get(_ make: () -> ImageView) -> ImageView {
            lock.lock()
            defer { lock.unlock() }
            if let view { return view }
            let v = make()
            view = v
            return v
        }
    }

    var imageView: ImageView { imageViewBox.get(makeImageView) }

    private func makeImageView() -> ImageView {
        let nCaptions = captionCount
        var dense: [Int: Int32] = [:]
        var v = ImageView()
        v.ofCaption = [Int32](repeating: 0, count: nCaptions)
        var counts: [Int32] = []
        for c in 0..<nCaptions {
            let id = imageID(c)
            let d: Int32
            if let e = dense[id] { d = e } else { d = Int32(counts.count); dense[id] = d; counts.append(0) }
            v.ofCaption[c] = d
            counts[Int(d)] += 1
        }
        v.start = [Int32](repeating: 0, count: counts.count + 1)
        for i in 0..<counts.count { v.start[i + 1] = v.start[i] + counts[i] }
        var fill = Array(v.start.dropLast())
        v.captions = [Int32](repeating: 0, count: nCaptions)
        for c in 0..<nCaptions { let d = Int(v.ofCaption[c]); v.captions[Int(fill[d])] = Int32(c); fill[d] += 1 }
        var norm2 = [Float](repeating: 0, count: counts.count)
        var acc = [Float](repeating: 0, count: counts.count)
        var touched: [Int32] = []
        data.withUnsafeBytes { raw in
            for (f, name) in featureNames.enumerated() {
                let concept = String(name.prefix { $0 != "+" })
                guard let ci = normVocabulary.index(of: concept), normVocabulary.concepts[ci].isDetectorClass else { continue }
                forEachPosting(raw, f) { c, x in
                    let d = Int(v.ofCaption[c])
                    if acc[d] == 0 { touched.append(Int32(d)) }
                    acc[d] += x / Float(counts[d])
                }
                for d in touched { norm2[Int(d)] += acc[Int(d)] * acc[Int(d)]; acc[Int(d)] = 0 }
                touched.removeAll(keepingCapacity: true)
            }
        }
        v.norm = norm2.map { $0.squareRoot() }
        return v
    }

    // MARK: queries

    public func caption(_ i: Int) -> String {
        data.withUnsafeBytes { raw in String(decoding: captionBytes(raw, i), as: UTF8.self) }
    }

    /// Caption i's UTF-8 bytes inside the mapped file.
    @inline(__always)
    private func captionBytes(_ raw: UnsafeRawBufferPointer, _ i: Int) -> UnsafeRawBufferPointer {
        let s = Int(raw.loadUnaligned(fromByteOffset: textStartOffset + 4 * i, as: UInt32.self))
        let e = Int(raw.loadUnaligned(fromByteOffset: textStartOffset + 4 * i + 4, as: UInt32.self))
        return UnsafeRawBufferPointer(rebasing: raw[(textOffset + s)..<(textOffset + e)])
    }

    /// Calls `body(i, utf8)` for every caption in order, with its UTF-8 bytes in place (no copies).
    public func forEachCaptionBytes(_ body: (Int, UnsafeRawBufferPointer) -> Void) {
        data.withUnsafeBytes { raw in
            for i in 0..<captionCount { body(i, captionBytes(raw, i)) }
        }
    }

    /// The caption indices of each of `imageIDs` (COCO ids), in datastore order; ids without captions are absent.
    public func captionIndices(ofImages imageIDs: Set<Int>) -> [Int: [Int]] {
        var out: [Int: [Int]] = [:]
        data.withUnsafeBytes { raw in
            for i in 0..<captionCount {
                let id = Int(raw.loadUnaligned(fromByteOffset: imageIDOffset + 4 * i, as: UInt32.self))
                if imageIDs.contains(id) { out[id, default: []].append(i) }
            }
        }
        return out
    }

    public func imageID(_ i: Int) -> Int {
        data.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: imageIDOffset + 4 * i, as: UInt32.self)) }
    }

    public func idf(ofFeature name: String) -> Float? {
        featureIndex[name].map { f in data.withUnsafeBytes { idf(raw: $0, f) } }
    }

    @inline(__always)
    private func idf(raw: UnsafeRawBufferPointer, _ f: Int) -> Float {
        Float(bitPattern: raw.loadUnaligned(fromByteOffset: idfOffset + 4 * f, as: UInt32.self))
    }

    /// Calls `body(caption, value)` for every posting of feature `f`.
    @inline(__always)
    private func forEachPosting(_ raw: UnsafeRawBufferPointer, _ f: Int, _ body: (Int, Float) -> Void) {
        let s = Int(raw.loadUnaligned(fromByteOffset: postingStartOffset + 4 * f, as: UInt32.self))
        let e = Int(raw.loadUnaligned(fromByteOffset: postingStartOffset + 4 * f + 4, as: UInt32.self))
        for i in s..<e {
            body(Int(raw.loadUnaligned(fromByteOffset: postingCaptionOffset + 4 * i, as: UInt32.self)),
                 Float(bitPattern: raw.loadUnaligned(fromByteOffset: postingValueOffset + 4 * i, as: UInt32.self)))
        }
    }

    /// Walks the posting lists of the query's features, calling `add(caption, w·idf · value)` for each
    /// posting; returns the norm of the idf-weighted query vector.
    @inline(__always)
    private func accumulate(_ qFeatures: [(Int, Float)], _ add: (Int, Float) -> Void) -> Float {
        var qNorm2: Float = 0
        data.withUnsafeBytes { raw in
            for (f, w) in qFeatures {
                let qv = w * idf(raw: raw, f)
                qNorm2 += qv * qv
                forEachPosting(raw, f) { c, v in add(c, qv * v) }
            }
        }
        return qNorm2.squareRoot()
    }

    /// A query: concept name -> (weight, count). Weight is how sure and how salient (0…1);
    /// count is how many instances were seen (1, 2, 3+).
    public struct Query: Sendable {
        public var concepts: [String: (weight: Float, count: Int)]
        public init(_ concepts: [String: (weight: Float, count: Int)] = [:]) { self.concepts = concepts }
    }

    public struct Hit: Sendable {
        public var caption: Int
        public var score: Float
    }

    /// SmallCap-style image retrieval without image features: training images ranked by the cosine of
    /// the query with each image's concept profile (the mean of its captions' vectors, which says how
    /// often people mention each thing in that photo); returns every caption of the best `images`
    /// images, each scored by its image's similarity.
    public func searchImages(_ query: Query, images: Int = 30) -> [Hit] {
        let qFeatures = features(of: query)
        let view = imageView
        let nImages = view.norm.count
        var scores = [Float](repeating: 0, count: nImages)
        let qNorm = accumulate(qFeatures) { c, x in
            let d = Int(view.ofCaption[c])
            scores[d] += x / Float(view.start[d + 1] - view.start[d])
        }
        guard qNorm > 0 else { return [] }
        for d in 0..<nImages where scores[d] != 0 { scores[d] = view.norm[d] > 0 ? scores[d] / (view.norm[d] * qNorm) : 0 }
        // Top `images` by score (ties broken by index for reproducibility).
        var ranked: [Int] = []
        for d in 0..<nImages where scores[d] > 0 { ranked.append(d) }
        ranked.sort { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        let top = ranked.prefix(images)
        var hits: [Hit] = []
        for d in top {
            for k in Int(view.start[d])..<Int(view.start[d + 1]) { hits.append(Hit(caption: Int(view.captions[k]), score: scores[d])) }
        }
        return hits
    }

    /// The query's (feature index, weight) pairs in a reproducible order.
    private func features(of query: Query) -> [(Int, Float)] {
        var qFeatures: [(Int, Float)] = []
        for (name, q) in query.concepts.sorted(by: { $0.key < $1.key }) {  // sorted: reproducible float sums
            let names = Datastore.featureNames(forConcept: name)
            let bins = [true, q.count >= 2, q.count >= 3]
            for (k, on) in bins.enumerated() where on {
                if let f = featureIndex[names[k]] { qFeatures.append((f, q.weight)) }
            }
        }
        return qFeatures
    }

    /// Captions ranked by idf-weighted cosine similarity with the query. Returns every caption within
    /// `tolerance` of the best score (ties are common: many captions share a concept set), at least
    /// `minimum` and at most `maximum`.
    public func search(_ query: Query, minimum: Int = 20, maximum: Int = 400, tolerance: Float = 0.02) -> [Hit] {
        let qFeatures = features(of: query)
        // No known concept: an even sample over the whole store (every caption equally likely), so the
        // consensus picks a generic caption instead of one of the file's first captions.
        if qFeatures.isEmpty {
            let k = min(maximum, captionCount)
            return (0..<k).map { Hit(caption: $0 * captionCount / max(k, 1), score: 0) }
        }
        var scores = [Float](repeating: 0, count: captionCount)
        let qNorm = accumulate(qFeatures) { c, x in scores[c] += x }
        data.withUnsafeBytes { raw in
            if qNorm > 0 {
                for c in 0..<captionCount where scores[c] != 0 {
                    let n = Float(bitPattern: raw.loadUnaligned(fromByteOffset: normOffset + 4 * c, as: UInt32.self))
                    scores[c] = n > 0 ? scores[c] / (n * qNorm) : 0
                }
            }
        }
        // Everything within `tolerance` of the best, else the best `minimum` (small insertion list).
        var best: Float = 0
        for v in scores where v > best { best = v }
        var picked: [Int] = []
        if best > 0 {
            for c in 0..<captionCount where scores[c] >= best - tolerance { picked.append(c) }
        }
        if picked.count < minimum {
            var top: [Int] = []
            for c in 0..<captionCount {
                let v = scores[c]
                if top.count == minimum, let last = top.last, scores[last] >= v { continue }
                var i = top.count
                while i > 0 && scores[top[i - 1]] < v { i -= 1 }
                top.insert(c, at: i)
                if top.count > minimum { top.removeLast() }
            }
            picked = top
        }
        picked.sort { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var hits: [Hit] = []
        for c in picked.prefix(maximum) { hits.append(Hit(caption: c, score: scores[c])) }
        return hits
    }
}
