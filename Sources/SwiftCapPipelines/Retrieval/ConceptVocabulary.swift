import SwiftCapModels

/// The concept words shared by the vision side (detector classes, classifier words, scene words)
/// and the caption side (words people write). A concept has a canonical name and the surface forms
/// (singular and plural, synonyms, multi-word phrases) that mention it in a caption.
public struct ConceptVocabulary: Sendable {
    public struct Concept: Sendable, Equatable {
        /// Canonical name, e.g. "dog", "dining table", "beach".
        public var name: String
        /// Singular surface forms, lower case, words separated by single spaces.
        public var singular: [String]
        /// Plural surface forms.
        public var plural: [String]
        /// True for the 80 COCO detector classes.
        public var isDetectorClass: Bool
    }

    public private(set) var concepts: [Concept]
    /// Surface form (as a token sequence joined by " ") -> (concept index, is plural).
    private var forms: [String: (Int, Bool)] = [:]
    private var nameToIndex: [String: Int] = [:]
    /// Longest surface form in tokens (for greedy longest match).
    private var maxFormLength = 1

    public init(concepts: [Concept]) {
        self.concepts = concepts
        for (i, c) in concepts.enumerated() {
            nameToIndex[c.name] = i
            for f in c.singular where forms[f] == nil { forms[f] = (i, false) }
            for f in c.plural where forms[f] == nil { forms[f] = (i, true) }
            for f in c.singular + c.plural { maxFormLength = max(maxFormLength, f.split(separator: " ").count) }
        }
    }

    public func index(of name: String) -> Int? { nameToIndex[name] }

    /// The canonical concept a word or phrase names ("television" -> "tv", "skis" -> "skis",
    /// "ski" -> "skis", "dogs" -> "dog"); nil when the vocabulary does not know it.
    public func canonicalName(_ word: String) -> String? {
        if nameToIndex[word] != nil { return word }
        let key = ConceptVocabulary.tokenize(word).joined(separator: " ")
        return forms[key].map { concepts[$0.0].name }
    }

    /// Words that say "more than one" or "many" before a noun.
    static let countWords: [String: Int] = [
        "a": 1, "an": 1, "one": 1, "single": 1, "lone": 1,
        "two": 2, "pair": 2, "couple": 2, "both": 2, "twin": 2,
        "three": 3, "four": 3, "five": 3, "six": 3, "seven": 3, "eight": 3, "nine": 3, "ten": 3,
        "several": 3, "many": 3, "multiple": 3, "group": 3, "herd": 3, "flock": 3, "bunch": 3,
        "lots": 3, "lot": 3, "crowd": 3, "team": 3, "numerous": 3, "various": 3, "few": 3, "row": 3,
        "line": 3, "pile": 3, "stack": 3, "variety": 3, "assortment": 3, "plenty": 3, "dozen": 3, "family": 3,
    ]

    /// The concepts a caption mentions, each with a count bin (1, 2 or 3 = "three or more").
    /// `tokens` are lower-case words without punctuation.
    public func mentions(in tokens: [Substring]) -> [(concept: Int, countBin: Int)] {
        var found: [Int: Int] = [:]
        var i = 0
        while i < tokens.count {
            var matched = false
            var len = min(maxFormLength, tokens.count - i)
            while len >= 1 {
                let form = tokens[i..<(i + len)].joined(separator: " ")
                if let (ci, plural) = forms[form] {
                    var bin = plural ? 2 : 1
                    // Look back up to three words for a count word ("two", "a group of", "a herd of").
                    var j = i - 1
                    while j >= max(0, i - 3) {
                        if let c = ConceptVocabulary.countWords[String(tokens[j])] {
                            bin = plural ? max(c, 2) : (c == 1 ? 1 : max(bin, c))
                            break
                        }
                        j -= 1
                    }
                    found[ci] = max(found[ci] ?? 0, bin)
                    i += len
                    matched = true
                    break
                }
                len -= 1
            }
            if !matched { i += 1 }
        }
        return found.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension ConceptVocabulary {
    /// Lower-cases and splits a caption into word tokens (letters and digits; apostrophes dropped).
    public static func tokenize(_ text: String) -> [Substring] {
        // ASCII fast path (most captions): same answer, no Unicode property lookups.
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes = Array(text.utf8)
            for i in bytes.indices where bytes[i] >= 0x41 && bytes[i] <= 0x5A { bytes[i] += 0x20 }
            let lowered = String(decoding: bytes, as: UTF8.self)
            return lowered.utf8.split(whereSeparator: { b in
                !((b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39))
            }).map { Substring($0) }
        }
        let lowered = text.lowercased()
        return lowered.split(whereSeparator: { ch in
            !(ch.isLetter || ch.isNumber)
        })
    }

    /// Singular/plural forms for a simple English noun phrase (plural on the last word).
    static func pluralize(_ phrase: String) -> String {
        var words = phrase.split(separator: " ").map(String.init)
        guard let last = words.last else { return phrase }
        let irregular = ["person": "people", "man": "men", "woman": "women", "child": "children",
                         "mouse": "mice", "knife": "knives", "sheep": "sheep", "fish": "fish", "skis": "skis",
                         "shelf": "shelves", "leaf": "leaves", "goose": "geese", "foot": "feet", "tooth": "teeth",
                         "deer": "deer", "bison": "bison", "cattle": "cattle", "scissors": "scissors", "glasses": "glasses"]
        let p: String
        if let ir = irregular[last] {
            p = ir
        } else if last.hasSuffix("y"), let before = last.dropLast().last, !"aeiou".contains(before) {
            p = last.dropLast() + "ies"
        } else if last.hasSuffix("s") || last.hasSuffix("x") || last.hasSuffix("ch") || last.hasSuffix("sh") {
            p = last + "es"
        } else if last.hasSuffix("o") && ["tomato", "potato"].contains(last) {
            p = last + "es"
        } else {
            p = last + "s"
        }
        words[words.count - 1] = p
        return words.joined(separator: " ")
    }

    /// Builds a concept from a name and singular synonyms; plurals derived.
    static func concept(_ name: String, _ synonyms: [String] = [], detector: Bool) -> Concept {
        let singular = [name] + synonyms
        var plural: [String] = []
        for s in singular {
            let p = pluralize(s)
            if p != s { plural.append(p) }
        }
        // Uncountable / same-form words count as singular mentions only.
        return Concept(name: name, singular: singular, plural: plural.filter { !singular.contains($0) }, isDetectorClass: detector)
    }

    /// The 80 COCO detector classes in the detector's output order, each with the words people
    /// use for it in captions, then scene and object words the COCO classes lack, then the
    /// classifier's caption words not already covered.
    public static let standard: ConceptVocabulary = {
        var list: [Concept] = cocoClassSynonyms.map { concept($0.0, $0.1, detector: true) }
        for (name, synonyms) in extraConceptWords { list.append(concept(name, synonyms, detector: false)) }
        // Every caption word the classifier can produce is a concept too (unless it already names one).
        let known = ConceptVocabulary(concepts: list)
        var added = Set<String>()
        for entry in ImageNetLabels.entries where !entry.word.isEmpty {
            let w = entry.word.lowercased()
            if known.canonicalName(w) == nil && added.insert(w).inserted { list.append(concept(w, detector: false)) }
        }
        return ConceptVocabulary(concepts: list)
    }()

    /// COCO-2017 class names (detector order) with caption synonyms.
    public static let cocoClassSynonyms: [(String, [String])] = [
        ("person", ["man", "woman", "boy", "girl", "child", "kid", "guy", "lady", "player", "people", "skier",
                    "surfer", "skateboarder", "snowboarder", "rider", "gentleman", "toddler", "baby", "adult",
                    "someone", "batter", "catcher", "pitcher", "umpire", "tourist", "worker", "chef", "cook",
                    "officer", "policeman", "soldier", "student", "teenager", "youngster", "spectator", "biker",
                    "cyclist", "athlete", "crowd"]),
        ("bicycle", ["bike", "cycle"]),
        ("car", ["sedan", "suv", "taxi", "cab", "vehicle", "automobile", "van", "jeep"]),
        ("motorcycle", ["motorbike", "motor bike", "scooter", "moped", "dirt bike"]),
        ("airplane", ["plane", "jet", "aircraft", "airliner", "jetliner", "airplain", "aeroplane"]),
        ("bus", ["double decker", "trolley"]),
        ("train", ["locomotive", "subway", "tram", "railcar"]),
        ("truck", ["pickup", "lorry", "firetruck", "fire truck", "semi"]),
        ("boat", ["ship", "sailboat", "canoe", "kayak", "yacht", "ferry", "vessel", "raft"]),
        ("traffic light", ["stoplight", "stop light", "traffic signal", "street light", "streetlight"]),
        ("fire hydrant", ["hydrant"]),
        ("stop sign", []),
        ("parking meter", ["meter"]),
        ("bench", ["park bench"]),
        ("bird", ["seagull", "gull", "pigeon", "duck", "parrot", "goose", "swan", "owl", "crow", "eagle",
                  "sparrow", "pelican", "hen", "chicken", "rooster", "finch", "robin", "hummingbird"]),
        ("cat", ["kitten", "kitty"]),
        ("dog", ["puppy", "pup", "doggy"]),
        ("horse", ["pony", "foal", "stallion", "mare"]),
        ("sheep", ["lamb", "ram"]),
        ("cow", ["cattle", "calf", "bull", "ox", "steer"]),
        ("elephant", []),
        ("bear", ["grizzly", "polar bear", "cub"]),
        ("zebra", []),
        ("giraffe", []),
        ("backpack", ["back pack", "knapsack", "rucksack"]),
        ("umbrella", ["parasol"]),
        ("handbag", ["purse", "bag", "hand bag"]),
        ("tie", ["necktie", "bow tie"]),
        ("suitcase", ["luggage", "suit case", "bags"]),
        ("frisbee", ["disc", "frisbe"]),
        ("skis", ["ski"]),
        ("snowboard", ["snow board"]),
        ("sports ball", ["ball", "soccer ball", "football", "baseball", "basketball", "tennis ball", "volleyball"]),
        ("kite", []),
        ("baseball bat", ["bat"]),
        ("baseball glove", ["mitt", "catchers mitt", "catcher mitt"]),
        ("skateboard", ["skate board"]),
        ("surfboard", ["surf board"]),
        ("tennis racket", ["racket", "racquet", "tennis racquet"]),
        ("bottle", []),
        ("wine glass", ["wineglass", "glass of wine"]),
        ("cup", ["mug", "coffee cup", "glass"]),
        ("fork", []),
        ("knife", []),
        ("spoon", []),
        ("bowl", []),
        ("banana", []),
        ("apple", []),
        ("sandwich", ["burger", "hamburger", "sub"]),
        ("orange", ["tangerine"]),
        ("broccoli", ["brocolli"]),
        ("carrot", []),
        ("hot dog", ["hotdog"]),
        ("pizza", []),
        ("donut", ["doughnut"]),
        ("cake", ["cupcake", "dessert"]),
        ("chair", ["stool"]),
        ("couch", ["sofa", "loveseat"]),
        ("potted plant", ["plant", "houseplant", "flower pot", "pot plant"]),
        ("bed", []),
        ("dining table", ["table", "desk"]),
        ("toilet", []),
        ("tv", ["television", "monitor", "screen", "tv set"]),
        ("laptop", ["computer", "notebook"]),
        ("mouse", []),
        ("remote", ["controller", "remote control"]),
        ("keyboard", []),
        ("cell phone", ["phone", "cellphone", "smartphone", "smart phone", "mobile phone"]),
        ("microwave", []),
        ("oven", ["stove"]),
        ("toaster", []),
        ("sink", []),
        ("refrigerator", ["fridge", "freezer"]),
        ("book", []),
        ("clock", []),
        ("vase", []),
        ("scissors", ["scissor"]),
        ("teddy bear", ["stuffed animal", "teddy"]),
        ("hair drier", ["hair dryer", "blow dryer"]),
        ("toothbrush", ["tooth brush"]),
    ]

    /// Scene and object words the 80 classes lack; the classifier's labels map onto these.
    public static let extraConceptWords: [(String, [String])] = [
        ("kitchen", []), ("bathroom", ["restroom"]), ("bedroom", []), ("living room", ["livingroom"]),
        ("office", []), ("restaurant", ["cafe", "diner"]), ("street", ["road", "intersection"]),
        ("city", ["downtown"]), ("beach", ["shore", "seashore"]), ("ocean", ["sea", "waves", "wave"]),
        ("water", []), ("lake", ["river", "pond"]), ("field", ["grass", "meadow", "pasture"]),
        ("snow", ["slope", "snowy"]), ("mountain", ["hill", "mountains"]), ("forest", ["woods", "trees", "tree"]),
        ("park", []), ("airport", ["runway", "tarmac"]), ("station", ["platform", "tracks", "track"]),
        ("zoo", ["enclosure"]), ("sky", ["air"]), ("building", ["house"]), ("tower", ["clock tower"]),
        ("plate", ["dish", "platter"]), ("food", ["meal"]), ("vegetable", ["vegetables", "veggies"]),
        ("fruit", []), ("meat", []), ("bread", ["bun", "bagel"]), ("coffee", []), ("wine", []),
        ("shelf", ["shelves", "bookshelf"]), ("window", []), ("mirror", []), ("counter", ["countertop"]),
        ("room", []), ("court", ["tennis court"]), ("baseball field", ["baseball game", "diamond"]),
        ("skate park", ["skatepark", "ramp"]), ("sign", []), ("fence", []), ("bridge", []), ("desert", ["sand"]),
        ("cabinet", ["cabinets"]), ("lamp", []), ("flower", ["flowers", "roses"]), ("tub", ["bathtub", "shower"]),
        ("motorcyclist", []), ("uniform", []), ("hat", ["cap", "helmet"]), ("shirt", []),
        ("soup", []), ("salad", []), ("rice", []), ("cheese", []), ("tomato", []), ("onion", []), ("pepper", []),
        ("egg", []), ("pasta", []), ("fries", []), ("chocolate", []), ("ice cream", []), ("pie", []),
        ("rug", ["carpet"]), ("pillow", []), ("blanket", []), ("curtain", []), ("door", []),
        ("wall", []), ("floor", []), ("wood", ["wooden"]), ("night", ["dark"]), ("rain", []), ("tennis", []),
    ]
}

/// Words as 64-bit FNV-1a hashes of their lower-cased bytes, for ASCII text read byte by byte without
/// building strings (captions are nearly all ASCII). The words are `ConceptVocabulary.tokenize`'s:
/// maximal runs of [a-z0-9] after lower-casing.
public enum WordHash {
    static let basis: UInt64 = 0xcbf2_9ce4_8422_2325
    @inline(__always)
    static func step(_ h: UInt64, _ byte: UInt8) -> UInt64 { (h ^ UInt64(byte)) &* 0x100_0000_01b3 }

    /// The hash of one word (its bytes lower-cased).
    public static func hash<S: StringProtocol>(_ word: S) -> UInt64 {
        word.utf8.reduce(basis) { h, b in step(h, b >= 0x41 && b <= 0x5A ? b + 0x20 : b) }
    }

    /// The hashes of `bytes`' words in order, or nil when the text is not ASCII (use `tokenize` then).
    @inline(__always)
    public static func asciiWords<S: Sequence>(_ bytes: S) -> [UInt64]? where S.Element == UInt8 {
        var out: [UInt64] = []
        var h = basis
        var inWord = false
        for b in bytes {
            if b >= 0x80 { return nil }
            var c = b
            if c >= 0x41 && c <= 0x5A { c += 0x20 }
            if (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) {
                h = step(h, c)
                inWord = true
            } else if inWord {
                out.append(h)
                h = basis
                inWord = false
            }
        }
        if inWord { out.append(h) }
        return out
    }
}
