// PTB-style tokenisation as the COCO caption scorer (pycocoevalcap 1.2) applies it.
import Foundation
//
// pycocoevalcap joins all captions of one side (references or candidates) with "\n", runs
// Stanford CoreNLP 3.4.1's PTBTokenizer with `-preserveLines -lowerCase` over that text, and then
// drops a fixed list of punctuation tokens. This file re-implements the behaviour of that lexer
// that matters for caption-like text: words, hyphenated words, clitics ('s, n't), abbreviations and
// acronyms (including the duplicated sentence-final period after "Co." and friends), numbers,
// fractions, phone numbers, URLs, quotes, brackets, dashes, ellipses, currency and symbols.
// It works on UTF-16 code units like the Java lexer (characters outside the Basic Multilingual
// Plane are surrogate pairs, which the lexer does not know and deletes).
//
// Rules are tried the way a JFlex scanner does: at each position every rule computes the length it
// could match (including trailing context), the longest wins, ties go to the rule listed first.

/// PTB tokenizer with pycocoevalcap's post-processing (lower-casing, punctuation removal).
public struct PTBTokenizer: Sendable {
    /// Tokens pycocoevalcap removes after tokenisation (compared case-sensitively, so the
    /// lower-cased "-lrb-" stays).
    public static let removedPunctuation: Set<String> = [
        "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
        ".", "?", "!", ",", ":", "-", "--", "...", ";",
    ]

    public init() {}

    /// Tokenises captions exactly as pycocoevalcap's `PTBTokenizer.tokenize` does for one side:
    /// the captions are joined with "\n" (newlines inside a caption become spaces), lexed as one
    /// text, and each output line is filtered. Returns one space-joined string per caption.
    ///
    /// The lexer looks a few characters past a line end (an abbreviation such as "Co." at the end
    /// of a caption gets an extra "." token when the next caption starts with a capital letter),
    /// so the result for one caption can depend on the caption after it, as in the reference.
    /// Other line-break characters inside a caption (U+2028, U+0085, CR, VT, FF) are treated as
    /// spaces here; the reference would split the caption over two lines and misalign the rest.
    public func tokenize(_ captions: [String]) -> [String] {
        var units: [UInt16] = []
        units.reserveCapacity(captions.reduce(0) { $0 + $1.utf16.count + 1 })
        for (k, caption) in captions.enumerated() {
            if k > 0 { units.append(0x0A) }
            for u in caption.utf16 {
                switch u {
                case 0x0A, 0x0D, 0x0B, 0x0C, 0x85, 0x2028, 0x2029: units.append(0x20)
                default: units.append(u)
                }
            }
        }
        var lines: [String] = []
        lines.reserveCapacity(captions.count)
        var current: [String] = []
        var lexer = PTBLexer(units)
        while let token = lexer.next() {
            switch token {
            case .newline:
                lines.append(current.joined(separator: " "))
                current.removeAll(keepingCapacity: true)
            case .word(let w):
                let lower = w.lowercased()
                if !PTBTokenizer.removedPunctuation.contains(lower) { current.append(lower) }
            }
        }
        lines.append(current.joined(separator: " "))
        // Defensive: the lexer emits exactly one newline per "\n" in the joined text.
        while lines.count < captions.count { lines.append("") }
        return Array(lines.prefix(captions.count))
    }

    /// Tokenises one caption on its own (no following caption as context).
    public func tokenize(_ caption: String) -> String { tokenize([caption])[0] }

    /// The raw lexer tokens of one line (before lower-casing and punctuation removal); for tests.
    public func rawTokens(_ text: String) -> [String] {
        var lexer = PTBLexer(Array(text.utf16))
        var out: [String] = []
        while let t = lexer.next() { if case .word(let w) = t { out.append(w) } }
        return out
    }
}

enum PTBToken: Equatable {
    case word(String)
    case newline
}

/// The JFlex-style scanner. `s` is UTF-16 code units.
struct PTBLexer {
    let s: [UInt16]
    var pos = 0
    /// A token to return before scanning further (the duplicated period of "Co." etc.).
    var pending: PTBToken?

    init(_ s: [UInt16]) { self.s = s }

    // MARK: character classes

    @inline(__always) func at(_ k: Int) -> UInt16? { k < s.count ? s[k] : nil }
    @inline(__always) func c(_ k: Int) -> UInt16 { k < s.count ? s[k] : 0xFFFF }

    static func isLetter(_ u: UInt16) -> Bool {
        if u < 0x80 { return (u >= 0x41 && u <= 0x5A) || (u >= 0x61 && u <= 0x7A) }
        if u >= 0xD800 && u <= 0xDFFF { return false }
        guard let sc = Unicode.Scalar(UInt32(u)) else { return false }
        switch sc.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    /// The lexer's LETTER: Java letters plus soft hyphen and combining marks and a few others.
    static func isWordLetter(_ u: UInt16) -> Bool {
        if isLetter(u) { return true }
        if u < 0xAD { return false }
        if u == 0xAD { return true }
        let extra: [ClosedRange<UInt16>] = [
            0x0237...0x024F, 0x02C2...0x02C5, 0x02D2...0x02DF, 0x02E5...0x02FF, 0x0300...0x036F,
            0x0370...0x037D, 0x0384...0x0385, 0x03CF...0x03CF, 0x03F6...0x03F6, 0x03FC...0x03FF,
            0x0483...0x0487, 0x04CF...0x04CF, 0x04F6...0x04FF, 0x0510...0x0525, 0x055A...0x055F,
            0x0591...0x05BD, 0x05BF...0x05BF, 0x05C1...0x05C2, 0x05C4...0x05C5, 0x05C7...0x05C7,
            0x0615...0x061A, 0x063B...0x063F, 0x064B...0x065E, 0x0670...0x0670, 0x06D6...0x06EF,
            0x06FA...0x06FF, 0x0900...0x0903, 0x093C...0x093C, 0x093E...0x094E, 0x0951...0x0955,
            0x0962...0x0963, 0x0981...0x0983, 0x09BC...0x09C4, 0x0E30...0x0E3A, 0x0E47...0x0E4E,
        ]
        return extra.contains { $0.contains(u) }
    }
    static func isDigit(_ u: UInt16) -> Bool {
        if u < 0x80 { return u >= 0x30 && u <= 0x39 }
        if u >= 0xD800 && u <= 0xDFFF { return false }
        guard let sc = Unicode.Scalar(UInt32(u)) else { return false }
        return sc.properties.generalCategory == .decimalNumber || (0x07C0...0x07C9).contains(u)
    }
    static func isAsciiAlpha(_ u: UInt16) -> Bool { (u >= 0x41 && u <= 0x5A) || (u >= 0x61 && u <= 0x7A) }
    static func isAsciiUpper(_ u: UInt16) -> Bool { u >= 0x41 && u <= 0x5A }
    static func isUpper(_ u: UInt16) -> Bool {
        if u < 0x80 { return isAsciiUpper(u) }
        guard u < 0xD800 || u > 0xDFFF, let sc = Unicode.Scalar(UInt32(u)) else { return false }
        return sc.properties.generalCategory == .uppercaseLetter
    }
    static func isAsciiDigit(_ u: UInt16) -> Bool { u >= 0x30 && u <= 0x39 }
    static func isAsciiAlnum(_ u: UInt16) -> Bool { isAsciiAlpha(u) || isAsciiDigit(u) }
    static func isAlnum(_ u: UInt16) -> Bool { isLetter(u) || isDigit(u) }
    /// SPACE = [ \t\u00A0\u2000-\u200A\u3000]
    static func isSpace(_ u: UInt16) -> Bool {
        u == 0x20 || u == 0x09 || u == 0xA0 || (u >= 0x2000 && u <= 0x200A) || u == 0x3000
    }
    static func isNewline(_ u: UInt16) -> Bool {
        u == 0x0A || u == 0x0D || u == 0x2028 || u == 0x2029 || u == 0x0B || u == 0x0C || u == 0x85
    }
    static func isApos(_ u: UInt16) -> Bool { u == 0x27 || u == 0x92 || u == 0x2019 }
    static func isAposEtc(_ u: UInt16) -> Bool { isApos(u) || u == 0x91 || u == 0x2018 || u == 0x201B }
    static func isHyphen(_ u: UInt16) -> Bool { u == 0x2D || u == 0x5F || u == 0x058A || u == 0x2010 || u == 0x2011 }

    static func lower(_ u: UInt16) -> UInt16 { (u >= 0x41 && u <= 0x5A) ? u + 32 : u }

    /// Case-insensitive literal at k; returns the end index.
    func lit(_ k: Int, _ word: String) -> Int? {
        var j = k
        for ch in word.utf16 {
            guard j < s.count, PTBLexer.lower(s[j]) == PTBLexer.lower(ch) else { return nil }
            j += 1
        }
        return j
    }
    /// The longest of several literals at k.
    func lits(_ k: Int, _ words: [String]) -> Int? {
        var best: Int?
        for w in words { if let e = lit(k, w), e > (best ?? -1) { best = e } }
        return best
    }
    /// APOS = ['\u0092\u2019]|&apos;  (end index)
    func apos(_ k: Int) -> Int? {
        if let u = at(k), PTBLexer.isApos(u) { return k + 1 }
        return lit(k, "&apos;")
    }
    func aposEtc(_ k: Int) -> Int? {
        if let u = at(k), PTBLexer.isAposEtc(u) { return k + 1 }
        return lit(k, "&apos;")
    }
    func run(_ k: Int, _ pred: (UInt16) -> Bool) -> Int {
        var j = k
        while j < s.count, pred(s[j]) { j += 1 }
        return j
    }

    // MARK: token-shaped sub-patterns

    /// WORD = LETTER (LETTER|DIGIT)* ([.!?] LETTER (LETTER|DIGIT)*)*
    func word(_ k: Int) -> Int? {
        guard let u = at(k), PTBLexer.isWordLetter(u) else { return nil }
        var j = run(k + 1) { PTBLexer.isWordLetter($0) || PTBLexer.isDigit($0) }
        while j + 1 < s.count, s[j] == 0x2E || s[j] == 0x21 || s[j] == 0x3F, PTBLexer.isWordLetter(s[j + 1]) {
            j = run(j + 2) { PTBLexer.isWordLetter($0) || PTBLexer.isDigit($0) }
        }
        return j
    }
    /// REDAUX = {APOS}([msd]|re|ve|ll)
    func redaux(_ k: Int) -> Int? {
        guard let a = apos(k) else { return nil }
        if let e = lits(a, ["re", "ve", "ll"]) { return e }
        if let u = at(a), "msdMSD".utf16.contains(u) { return a + 1 }
        return nil
    }
    /// SREDAUX = n{APOSETCETERA}t
    func sredaux(_ k: Int) -> Int? {
        guard let a = lit(k, "n"), let b = aposEtc(a), let e = lit(b, "t") else { return nil }
        return e
    }
    /// SWORD/SREDAUX: letters ending in a letter other than n, followed by n't. Returns (total, tokenEnd).
    func swordSredaux(_ k: Int) -> (Int, Int)? {
        let j = run(k) { PTBLexer.isAsciiAlpha($0) || $0 == 0xAD }
        guard j > k else { return nil }
        // Try each split point from the longest: token = s[k..<t] must end in [A-MO-Za-mo-z] (soft hyphens allowed after).
        var t = j
        while t > k {
            var last = t - 1
            while last >= k, s[last] == 0xAD { last -= 1 }
            if last >= k, PTBLexer.isAsciiAlpha(s[last]), PTBLexer.lower(s[last]) != 0x6E, let e = sredaux(t) {
                return (e, t)
            }
            t -= 1
        }
        return nil
    }
    /// NUM = DIGIT+ | DIGIT* ([.:,\u00AD\u066B\u066C] DIGIT+)+  ; NUMBER = [-+]? NUM
    func num(_ k: Int) -> Int? {
        let d = run(k, PTBLexer.isDigit)
        var j = d
        while j < s.count, ".:,\u{AD}\u{66B}\u{66C}".utf16.contains(s[j]), j + 1 < s.count, PTBLexer.isDigit(s[j + 1]) {
            j = run(j + 1, PTBLexer.isDigit)
        }
        return j > k ? j : nil
    }
    func number(_ k: Int) -> Int? {
        if let u = at(k), u == 0x2D || u == 0x2B { return num(k + 1) }
        return num(k)
    }
    /// ACRO = [A-Za-z](\.[A-Za-z])+ (plus a few fixed forms, ignored here)
    func acro(_ k: Int) -> Int? {
        guard let u = at(k), PTBLexer.isAsciiAlpha(u) else { return nil }
        var j = k + 1
        while j + 1 < s.count, s[j] == 0x2E, PTBLexer.isAsciiAlpha(s[j + 1]) { j += 2 }
        return j > k + 1 ? j : nil
    }
    /// THING = ([dDoOlL]{APOSETCETERA}ALNUM)? ALNUM+ ({HYPHEN} ([dDoOlL]{APOSETCETERA}ALNUM)? ALNUM+)*
    func thingPart(_ k: Int) -> Int? {
        var start = k
        if let u = at(k), "dDoOlL".utf16.contains(u), let a = aposEtc(k + 1), let v = at(a), PTBLexer.isAlnum(v) {
            start = a + 1
            return run(start, PTBLexer.isAlnum)
        }
        let j = run(start, PTBLexer.isAlnum)
        return j > start ? j : nil
    }
    func thing(_ k: Int) -> Int? {
        guard var j = thingPart(k) else { return nil }
        while let u = at(j), PTBLexer.isHyphen(u), let e = thingPart(j + 1) { j = e }
        return j
    }
    /// HTHING = [A-Za-z0-9][A-Za-z0-9.,\u00AD]* (-([A-Za-z0-9\u00AD]+|{ACRO}\.))+
    func hthing(_ k: Int) -> Int? {
        guard let u = at(k), PTBLexer.isAsciiAlnum(u) else { return nil }
        let headEnd = run(k + 1) { PTBLexer.isAsciiAlnum($0) || $0 == 0x2E || $0 == 0x2C || $0 == 0xAD }
        // The head may give back characters so that a hyphen follows; try the longest head first.
        var best: Int?
        var h = headEnd
        while h > k {
            var j = h
            var parts = 0
            while let v = at(j), v == 0x2D {
                var e: Int? = nil
                let r = run(j + 1) { PTBLexer.isAsciiAlnum($0) || $0 == 0xAD }
                if r > j + 1 { e = r }
                if let a = acro(j + 1), at(a) == 0x2E, a + 1 > (e ?? 0) { e = a + 1 }
                guard let end = e else { break }
                j = end
                parts += 1
            }
            if parts > 0 { best = max(best ?? 0, j) }
            h -= 1
            if best != nil && h < headEnd { break }
        }
        return best
    }
    /// THING3 = [A-Za-z0-9]+(-[A-Za-z]+){0,2}(\\?\/[A-Za-z0-9]+(-[A-Za-z]+){0,2}){1,2}
    func thing3(_ k: Int) -> Int? {
        func seg(_ k: Int) -> Int? {
            var j = run(k, PTBLexer.isAsciiAlnum)
            guard j > k else { return nil }
            for _ in 0..<2 {
                if at(j) == 0x2D { let e = run(j + 1, PTBLexer.isAsciiAlpha); if e > j + 1 { j = e } else { break } } else { break }
            }
            return j
        }
        guard var j = seg(k) else { return nil }
        var slashes = 0
        while slashes < 2 {
            var p = j
            if at(p) == 0x5C { p += 1 }
            guard at(p) == 0x2F, let e = seg(p + 1) else { break }
            j = e
            slashes += 1
        }
        return slashes > 0 ? j : nil
    }
    /// FRAC = (DIGIT{1,4}[- \u00A0])? DIGIT{1,4} (\\?\/|\u2044) DIGIT{1,4}
    func frac(_ k: Int) -> Int? {
        func simple(_ k: Int) -> Int? {
            let d = run(k, PTBLexer.isDigit)
            guard d > k, d - k <= 4 else { return nil }
            var p = d
            if at(p) == 0x5C, at(p + 1) == 0x2F { p += 2 } else if at(p) == 0x2F || at(p) == 0x2044 { p += 1 } else { return nil }
            let e = run(p, PTBLexer.isDigit)
            guard e > p else { return nil }
            return min(e, p + 4)
        }
        var best = simple(k)
        let d = run(k, PTBLexer.isDigit)
        if d > k, d - k <= 4, let u = at(d), u == 0x2D || u == 0x20 || u == 0xA0, let e = simple(d + 1) {
            best = max(best ?? 0, e)
        }
        return best
    }
    /// PHONE (the lexer's pattern for (555) 123-4567, 555-123-4567, 555.123.4567 ...)
    func phone(_ k: Int) -> Int? {
        func digits(_ k: Int, _ lo: Int, _ hi: Int) -> [Int] {
            let e = run(k, PTBLexer.isAsciiDigit)
            guard e - k >= lo else { return [] }
            return Array((k + lo)...min(e, k + hi))
        }
        func isSep(_ u: UInt16?) -> Bool { u == 0x2D || u == 0x20 || u == 0xA0 }
        var best: Int?
        func tail(_ k: Int) {
            // [0-9]{3,4}[\- \u00A0]?[0-9]{3,5}
            for a in digits(k, 3, 4) {
                var starts = [a]
                if isSep(at(a)) { starts.append(a + 1) }
                for b in starts { for e in digits(b, 3, 5) { best = max(best ?? 0, e) } }
            }
        }
        // \([0-9]{2,3}\)[ \u00A0]?
        if at(k) == 0x28 {
            for a in digits(k + 1, 2, 3) where at(a) == 0x29 {
                tail(a + 1)
                if at(a + 1) == 0x20 || at(a + 1) == 0xA0 { tail(a + 2) }
            }
        }
        // (\+\+?)?([0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0]
        var p0 = [k]
        if at(k) == 0x2B { p0 = [k + 1]; if at(k + 1) == 0x2B { p0.append(k + 2) } }
        for p in p0 {
            var heads = [p]
            for a in digits(p, 2, 4) where isSep(at(a)) { heads.append(a + 1) }
            for h in heads { for a in digits(h, 2, 4) where isSep(at(a)) { tail(a + 1) } }
        }
        // ((\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}
        func dotted(_ k: Int) {
            for a in digits(k, 2, 4) where at(a) == 0x2E {
                for b in digits(a + 1, 3, 4) where at(b) == 0x2E { for e in digits(b + 1, 3, 5) { best = max(best ?? 0, e) } }
            }
        }
        for p in p0 {
            dotted(p)
            for a in digits(p, 2, 4) where at(a) == 0x2E { dotted(a + 1) }
        }
        dotted(k)
        return best
    }
    /// EMAIL = [a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0]*@([^ \t\n\f\r\"<>|().\u00A0]+\.)*([^ \t\n\f\r\"<>|().\u00A0]+)
    func email(_ k: Int) -> Int? {
        guard let u = at(k), PTBLexer.isAsciiAlnum(u) else { return nil }
        let bad: Set<UInt16> = [0x20, 0x09, 0x0A, 0x0C, 0x0D, 0x22, 0x3C, 0x3E, 0x7C, 0x28, 0x29, 0xA0, 0x7B, 0x7D]
        let end = run(k) { !bad.contains($0) }
        var e = end
        while e > k + 1 {
            // Need an '@' at a in (k, e) with s[a+1..<e] a dotted domain without empty labels.
            var a = e - 1
            while a > k {
                if s[a] == 0x40 {
                    let d = s[(a + 1)..<e]
                    if !d.isEmpty, d.first != 0x2E, d.last != 0x2E, !zip(d, d.dropFirst()).contains(where: { $0 == 0x2E && $1 == 0x2E }) {
                        return e
                    }
                }
                a -= 1
            }
            e -= 1
        }
        return nil
    }
    /// FULLURL = https?:\/\/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-]
    func fullURL(_ k: Int) -> Int? {
        guard let p = lits(k, ["http://", "https://"]) else { return nil }
        let bad: Set<UInt16> = [0x20, 0x09, 0x0A, 0x0C, 0x0D, 0x22, 0x3C, 0x3E, 0x7C, 0x28, 0x29]
        let lastBad: Set<UInt16> = bad.union([0x2E, 0x21, 0x3F, 0x7B, 0x7D, 0x2C, 0x2D])
        var e = run(p) { !bad.contains($0) }
        while e > p + 1, lastBad.contains(s[e - 1]) { e -= 1 }
        return e >= p + 2 ? e : nil
    }
    /// LIKELYURL (www.x.yy or x.com/net/org/edu, optionally with a path).
    func likelyURL(_ k: Int) -> Int? {
        let bad1: Set<UInt16> = [0x20, 0x09, 0x0A, 0x0C, 0x0D, 0x22, 0x3C, 0x3E, 0x7C, 0x2E, 0x21, 0x3F, 0x28, 0x29, 0x7B, 0x7D, 0x2C]
        var host: Int?
        if let w = lit(k, "www.") {
            // (label\.)+ [a-zA-Z]{2,4}
            var j = w
            var ends: [Int] = []
            while true {
                let e = run(j) { !bad1.contains($0) }
                guard e > j, at(e) == 0x2E else { break }
                j = e + 1
                ends.append(j)
            }
            for st in ends {
                let e = run(st, PTBLexer.isAsciiAlpha)
                if e - st >= 2 { host = max(host ?? 0, min(e, st + 4)) }
            }
        }
        // ([^ ... `'<>|.!?(){},-_$]+\.)+(com|net|org|edu) — note ",-_" is the range 0x2C...0x5F.
        func ok2(_ u: UInt16) -> Bool {
            !(bad1.contains(u) || u == 0x60 || u == 0x27 || (u >= 0x2C && u <= 0x5F) || u == 0x24)
        }
        var j = k
        while true {
            let e = run(j, ok2)
            guard e > j, at(e) == 0x2E else { break }
            j = e + 1
            if let t = lits(j, ["com", "net", "org", "edu"]) { host = max(host ?? 0, t) }
        }
        guard var end = host else { return nil }
        if at(end) == 0x2F {
            let bad: Set<UInt16> = [0x20, 0x09, 0x0A, 0x0C, 0x0D, 0x22, 0x3C, 0x3E, 0x7C, 0x28, 0x29]
            let lastBad: Set<UInt16> = bad.union([0x2E, 0x21, 0x3F, 0x7B, 0x7D, 0x2C, 0x2D])
            var e = run(end + 1) { !bad.contains($0) }
            while e > end + 1, lastBad.contains(s[e - 1]) { e -= 1 }
            if e >= end + 3 { end = e }
        }
        return end
    }
    /// SGML: `<!…>`/`<?…>`, a closing tag `</name>`, or `<name attr attr="v" …>` / `<name … />`.
    func sgml(_ k: Int) -> Int? {
        guard at(k) == 0x3C, let u = at(k + 1) else { return nil }
        func isNameChar(_ v: UInt16) -> Bool { PTBLexer.isAsciiAlnum(v) || v == 0x5F || v == 0x3A || v == 0x2E || v == 0x2D }
        if u == 0x21 || u == 0x3F {
            guard let v = at(k + 2), PTBLexer.isAsciiAlpha(v) || v == 0x2D else { return nil }
            var j = k + 3
            while let w = at(j), w != 0x3E, w != 0x0D, w != 0x0A { j += 1 }
            return at(j) == 0x3E ? j + 1 : nil
        }
        if u == 0x2F {
            guard let v = at(k + 2), PTBLexer.isAsciiAlpha(v) else { return nil }
            let j = run(k + 3, isNameChar)
            let e = run(j) { $0 == 0x20 }
            return at(e) == 0x3E ? e + 1 : nil
        }
        guard PTBLexer.isAsciiAlpha(u) else { return nil }
        var j = run(k + 2, isNameChar)
        while true {
            let sp = run(j) { $0 == 0x20 }
            guard sp > j, let v = at(sp), PTBLexer.isAsciiAlpha(v) else { break }
            var e = run(sp + 1, isNameChar)
            let eq = run(e) { $0 == 0x20 }
            if at(eq) == 0x3D {
                let vs = run(eq + 1) { $0 == 0x20 }
                if let q = at(vs), q == 0x27 || q == 0x22 {
                    var m = vs + 1
                    while let w = at(m), w != q, w != 0x0D, w != 0x0A { m += 1 }
                    if at(m) == q { e = m + 1 }
                } else if let w = at(vs), PTBLexer.isAsciiAlpha(w) {
                    e = run(vs + 1, isNameChar)
                }
            }
            j = e
        }
        var e = run(j) { $0 == 0x20 }
        if at(e) == 0x2F { e += 1 }
        return at(e) == 0x3E ? e + 1 : nil
    }
    /// SENTEND = {SPACENL}({SPACENL}|[A-Z]|{SGML}); returns the end of the context.
    func sentend(_ k: Int) -> Int? {
        guard let u = at(k), PTBLexer.isSpace(u) || PTBLexer.isNewline(u) else { return nil }
        guard let v = at(k + 1) else { return nil }
        if PTBLexer.isSpace(v) || PTBLexer.isNewline(v) || PTBLexer.isAsciiUpper(v) { return k + 2 }
        return sgml(k + 1)
    }

    static let abbrev1Words: [String] = [
        "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
        "Mon", "Tue", "Tues", "Wed", "Thu", "Thurs", "Fri",
        "Ala", "Ariz", "Calif", "Colo", "Conn", "Dak", "Del", "Fla", "Ga", "Ind", "Kan", "Kans", "Ky", "La",
        "Md", "Mich", "Minn", "Mo", "Mont", "Neb", "Nev", "Okla", "Pa", "Penn", "Tenn", "Tex", "Va", "Vt",
        "Wis", "Wisc", "Wyo",
        "Inc", "Co", "Cos", "Corp", "Pty", "Ptys", "Ppty", "Pptys", "Ltd", "Plc", "Bancorp", "Dept", "Bhd", "Assn",
        "Univ", "Intl", "Sys",
        "Ph", "tel", "est", "ext", "sq", "ft",
        "Jr", "Sr", "Bros", "Blvd", "Rd", "Esq",
        "etc", "al", "seq",
    ]
    /// Case-sensitive first letter: [A]rk, [I]ll, [M]ass, [M]iss, [O]re, [W]ash.
    static let abbrev1CapWords: [String] = ["Ark", "Ill", "Mass", "Miss", "Ore", "Wash"]
    static let abbrev4Words: [String] = [
        "Mr", "Mrs", "Ms", "Dr", "Drs", "Prof", "Profs", "Sen", "Sens", "Rep", "Reps", "Atty", "Attys", "Lt", "Col",
        "Gen", "Messrs", "Gov", "Govs", "Adm", "Rev", "Maj", "Sgt", "Cpl", "Pvt", "Mt", "Capt", "St", "Ste", "Ave",
        "Pres", "Lieut", "Hon", "Brig", "Cmdr", "Comdr", "Pfc", "Spc", "Supt", "Supts", "Det",
        "Ct", "Bldg", "vs", "Alex", "Wm", "Jos", "Cie", "a.k.a", "cf", "TREAS", "Invt", "Elec", "Natl", "Mfg", "Mtg",
    ]
    static let acronymFollowers: [String] = [
        "About", "According", "Additionally", "After", "An", "A", "As", "At", "But", "Earlier", "He", "Her", "Here",
        "However", "If", "In", "It", "Last", "Many", "More", "Mr.", "Ms.", "Now", "Once", "One", "Other", "Our",
        "She", "Since", "So", "Some", "Such", "That", "The", "Then", "There", "These", "They", "This", "We", "When",
        "While", "What", "Yet", "You",
    ]

    /// ABBREV1 = (ABMONTH|ABDAYS|ABSTATE|ABCOMP|ABNUM|ABPTIT|etc|al|seq)\.
    func abbrev1(_ k: Int) -> Int? {
        var best: Int?
        if let e = lits(k, PTBLexer.abbrev1Words), at(e) == 0x2E { best = e + 1 }
        for w in PTBLexer.abbrev1CapWords where at(k) == w.utf16.first {
            if let e = lit(k, w), at(e) == 0x2E { best = max(best ?? 0, e + 1) }
        }
        if let e = lits(k, ["Ph.D", "Ed.D"]), at(e) == 0x2E { best = max(best ?? 0, e + 1) }
        return best
    }
    /// ABBREV4 = [A-Za-z]|ABTITLE|vs|...|ACRO|ABCOMP2 (without the period)
    func abbrev4(_ k: Int) -> [Int] {
        var ends: [Int] = []
        if let u = at(k), PTBLexer.isAsciiAlpha(u) { ends.append(k + 1) }
        for w in PTBLexer.abbrev4Words { if let e = lit(k, w) { ends.append(e) } }
        if let e = acro(k) {
            // ACRO can stop after any of its letter pairs.
            var j = k + 3
            while j <= e { ends.append(j); j += 2 }
        }
        return ends
    }

    // MARK: scanning

    enum Action {
        case plain                 // token = matched text
        case text(String)          // token = given text
        case skip                  // whitespace / deleted
        case newline
        case dupPeriod             // token = matched text, then a "." token
        case quotes(left: Bool)    // LaTeX-style quote mapping
        case spaceToNBSP           // spaces inside the token become U+00A0
        case phone
        case currency
        case fraction2
        case smiley
    }

    mutating func next() -> PTBToken? {
        if let p = pending { pending = nil; return p }
        while pos < s.count {
            let (tokenLen, action) = scan(pos)
            let start = pos
            let len = max(1, tokenLen)
            pos += len
            let text = String(decoding: s[start..<(start + len)], as: UTF16.self)
            switch action {
            case .skip: continue
            case .newline: return .newline
            case .plain: return .word(text)
            case .text(let t): return .word(t)
            case .dupPeriod:
                pending = .word(".")
                return .word(text)
            case .quotes(let left): return .word(PTBLexer.latexQuotes(text, left: left))
            case .spaceToNBSP: return .word(text.replacingOccurrences(of: " ", with: "\u{A0}"))
            case .phone:
                let t = text.replacingOccurrences(of: " ", with: "\u{A0}")
                    .replacingOccurrences(of: "(", with: "-LRB-").replacingOccurrences(of: ")", with: "-RRB-")
                return .word(t)
            case .currency:
                var t = text.replacingOccurrences(of: "\u{A2}", with: "cents").replacingOccurrences(of: "\u{A3}", with: "#")
                for ch in ["\u{80}", "\u{A4}", "\u{20A0}", "\u{20AC}"] { t = t.replacingOccurrences(of: ch, with: "$") }
                return .word(t)
            case .smiley:
                return .word(text.replacingOccurrences(of: "(", with: "-LRB-").replacingOccurrences(of: ")", with: "-RRB-"))
            case .fraction2:
                let map: [String: String] = ["\u{BC}": "1/4", "\u{BD}": "1/2", "\u{BE}": "3/4", "\u{2153}": "1/3", "\u{2154}": "2/3"]
                return .word(map[text] ?? text)
            }
        }
        return nil
    }

    static func latexQuotes(_ t: String, left: Bool) -> String {
        var out = ""
        let u = Array(t.unicodeScalars)
        var i = 0
        while i < u.count {
            if t.hasPrefix("&apos;") || t.hasPrefix("&quot;") {
                // Entities are rare; handled as whole-token cases.
            }
            switch u[i] {
            case "'": out += left ? "`" : "'"
            case "\"": out += left ? "``" : "''"
            case "\u{91}", "\u{2018}", "\u{201B}", "\u{2039}": out += "`"
            case "\u{92}", "\u{2019}", "\u{203A}": out += "'"
            case "\u{93}", "\u{201C}", "\u{AB}": out += "``"
            case "\u{94}", "\u{201D}", "\u{BB}": out += "''"
            default: out.unicodeScalars.append(u[i])
            }
            i += 1
        }
        return out
    }

    /// Finds the winning rule at k: (token length, action). Longest match (trailing context
    /// included) wins; ties go to the earlier rule.
    func scan(_ k: Int) -> (Int, Action) {
        let u = s[k]
        var bestTotal = 0
        var bestTok = 0
        var bestAction: Action = .skip
        @inline(__always) func offer(_ end: Int?, _ tokenEnd: Int? = nil, _ action: Action) {
            guard let end else { return }
            let total = end - k
            if total > bestTotal {
                bestTotal = total
                bestTok = (tokenEnd ?? end) - k
                bestAction = action
            }
        }
        // Fast paths.
        if PTBLexer.isSpace(u) || u == 0 || u == 0x200B || u == 0x200E || u == 0x200F || u == 0xFEFF {
            let e = run(k) { PTBLexer.isSpace($0) || $0 == 0 || $0 == 0x200B || $0 == 0x200E || $0 == 0x200F || $0 == 0xFEFF }
            return (e - k, .skip)
        }
        if PTBLexer.isNewline(u) {
            if u == 0x0D, at(k + 1) == 0x0A { return (2, .newline) }
            return (1, .newline)
        }
        // Fast path: a run of ASCII letters ending at a space, a line end or the end of the text is
        // a WORD (every other rule matching there gives the same token), except for the split words.
        if PTBLexer.isAsciiAlpha(u) {
            let e = run(k, PTBLexer.isAsciiAlpha)
            if e == s.count || PTBLexer.isSpace(s[e]) || PTBLexer.isNewline(s[e]) {
                let n = e - k
                if n == 6 || n == 5 {
                    for w in ["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"] where w.utf16.count == n {
                        if lit(k, w) != nil { return (n - (n == 6 ? 3 : 2), .plain) }
                    }
                }
                return (n, .plain)
            }
        }

        // cannot / assimilations: "can not", "gon na", ...
        if let e = lit(k, "cannot") { offer(e, k + 3, .plain) }
        for w in ["gonna", "gotta", "lemme", "gimme", "wanna"] {
            if let e = lit(k, w), at(e).map({ !PTBLexer.isWordLetter($0) && !PTBLexer.isDigit($0) }) ?? true {
                offer(e + (at(e) == nil ? 0 : 1), e - 2, .plain)
            }
        }
        offer(sgml(k), nil, .spaceToNBSP)
        // SPMDASH
        if u == 0x96 || u == 0x97 || (u >= 0x2013 && u <= 0x2015) { offer(k + 1, nil, .text("--")) }
        offer(lits(k, ["&MD;", "&mdash;", "&ndash;"]), nil, .text("--"))
        offer(lit(k, "&amp;"), nil, .text("&"))
        let w = word(k)
        // WORD/REDAUX
        if let w, let r = redaux(w) { offer(r, w, .plain) }
        // SWORD/SREDAUX
        if let (e, t) = swordSredaux(k) { offer(e, t, .plain) }
        offer(w, nil, .plain)
        // APOWORD
        offer(apoword(k), nil, .plain)
        // APOWORD2 = y{APOS}/[:letter:]
        if let e = lit(k, "y"), let a = apos(e), let v = at(a), PTBLexer.isLetter(v) { offer(a + 1, a, .plain) }
        offer(fullURL(k), nil, .plain)
        offer(likelyURL(k), nil, .plain)
        offer(email(k), nil, .plain)
        // TWITTER
        if u == 0x40, let v = at(k + 1), PTBLexer.isAsciiAlpha(v) || v == 0x5F {
            offer(run(k + 1) { PTBLexer.isAsciiAlnum($0) || $0 == 0x5F }, nil, .plain)
        }
        if u == 0x23, let v = at(k + 1), PTBLexer.isWordLetter(v) { offer(run(k + 1, PTBLexer.isWordLetter), nil, .plain) }
        // REDAUX/[^A-Za-z]
        if let r = redaux(k), let v = at(r), !PTBLexer.isAsciiAlpha(v) { offer(r + 1, r, .quotes(left: false)) }
        offer(sredaux(k), nil, .quotes(left: false))
        // DATE
        if let d = date(k) { offer(d, nil, .plain) }
        offer(number(k), nil, .plain)
        // SUBSUPNUM (digits only)
        if "\u{2070}\u{B9}\u{B2}\u{B3}\u{2074}\u{2075}\u{2076}\u{2077}\u{2078}\u{2079}".utf16.contains(u) {
            offer(run(k) { "\u{2070}\u{B9}\u{B2}\u{B3}\u{2074}\u{2075}\u{2076}\u{2077}\u{2078}\u{2079}".utf16.contains($0) }, nil, .plain)
        } else if u >= 0x2080 && u <= 0x2089 {
            offer(run(k) { $0 >= 0x2080 && $0 <= 0x2089 }, nil, .plain)
        }
        offer(frac(k), nil, .spaceToNBSP)
        if u == 0xBC || u == 0xBD || u == 0xBE || (u >= 0x2153 && u <= 0x215E) { offer(k + 1, nil, .fraction2) }
        // TBSPEC
        offer(lits(k, ["-RRB-", "-LRB-", "-RCB-", "-LCB-", "-RSB-", "-LSB-", "C.D.s", "pro-", "anti-", "S&P-500", "S&Ls",
                       "Cap'n", "c'est", "Cap\u{2019}n", "c\u{2019}est"]), nil, .plain)
        offer(thing3(k), nil, .plain)
        offer(lit(k, "C++"), nil, .plain)
        // SMILEY = [<>]?[:;=][\-o\*']?[\(\)DPdpO\\{@\|\[\]]  (parentheses normalised)
        do {
            var j = k
            if u == 0x3C || u == 0x3E { j += 1 }
            if let v = at(j), v == 0x3A || v == 0x3B || v == 0x3D {
                j += 1
                var starts = [j]
                if let m = at(j), m == 0x2D || m == 0x6F || m == 0x2A || m == 0x27 { starts.append(j + 1) }
                for st in starts {
                    if let f = at(st), "()DPdpO\\{@|[]".utf16.contains(f),
                       at(st + 1).map({ !PTBLexer.isAsciiAlnum($0) }) ?? false {
                        offer(st + 1, nil, .smiley)
                    }
                }
            }
        }
        // DOLSIGN = [A-Z]*\$ | #
        do {
            let e = run(k, PTBLexer.isAsciiUpper)
            if at(e) == 0x24 { offer(e + 1, nil, .plain) }
            if u == 0x23 { offer(k + 1, nil, .plain) }
        }
        if [0xA2, 0xA3, 0xA4, 0xA5, 0x80, 0x20A0, 0x20AC, 0x060B, 0x0E3F, 0x20A4, 0xFFE0, 0xFFE1, 0xFFE5, 0xFFE6].contains(u) {
            offer(k + 1, nil, .currency)
        }
        // ACRONYM/({SPACENL}+)(list){SPACENL}: an acronym or single letter with its period before a
        // word that usually starts a sentence. "U.S." gives "U.S." and "."; "K." gives "K" and ".".
        if PTBLexer.isAsciiAlpha(u) {
            var a = k + 1
            while a + 1 < s.count, s[a] == 0x2E, PTBLexer.isAsciiAlpha(s[a + 1]) { a += 2 }
            if at(a) == 0x2E {
                let sp = run(a + 1) { PTBLexer.isSpace($0) || PTBLexer.isNewline($0) }
                if sp > a + 1, let g = sgml(sp) {
                    if a == k + 1 { offer(g, k + 1, .plain) } else { offer(g, a + 1, .dupPeriod) }
                }
                if sp > a + 1 {
                    for f in PTBLexer.acronymFollowers where at(sp) == f.utf16.first {
                        var j = sp
                        var okWord = true
                        for ch in f.utf16 { if at(j) == ch { j += 1 } else { okWord = false; break } }
                        if okWord, let v = at(j), PTBLexer.isSpace(v) || PTBLexer.isNewline(v) {
                            if a == k + 1 { offer(j + 1, k + 1, .plain) } else { offer(j + 1, a + 1, .dupPeriod) }
                        }
                    }
                }
            }
        }
        // ABBREV1/{SENTEND} and ABBREV1 (with at most one character after it: also duplicated).
        if let a = abbrev1(k) {
            if let e = sentend(a) { offer(e, a, .dupPeriod) }
            if a + 2 <= s.count { offer(a + 2, a, .plain) } else { offer(a, nil, .dupPeriod) }
        }
        // "No." stays an abbreviation before a digit (after at most one space) and at the end of the text.
        if let e = lit(k, "No."), at(e) == nil || PTBLexer.isDigit(c(e))
            || (PTBLexer.isSpace(c(e)) && PTBLexer.isDigit(c(e + 1))) {
            offer(e, nil, .plain)
        }
        // ABBREV2 = ABBREV4\.
        let a4 = abbrev4(k)
        for e in a4 where at(e) == 0x2E { offer(e + 1, nil, .plain) }
        // ABBREV4/{SPACE}
        for e in a4 { if let v = at(e), PTBLexer.isSpace(v) { offer(e + 1, e, .plain) } }
        // ACRO/{SPACENL}
        if let e = acro(k), let v = at(e), PTBLexer.isSpace(v) || PTBLexer.isNewline(v) { offer(e + 1, e, .plain) }
        // TBSPEC2 = {APOS}[0-9][0-9] / SPACENL
        if let a = apos(k), let d1 = at(a), let d2 = at(a + 1), PTBLexer.isAsciiDigit(d1), PTBLexer.isAsciiDigit(d2),
           let v = at(a + 2), PTBLexer.isSpace(v) || PTBLexer.isNewline(v) {
            offer(a + 3, a + 2, .plain)
        }
        // WORD\./{INSENTP}
        if let w, at(w) == 0x2E, let v = at(w + 1), isInsentp(v) { offer(w + 2, w + 1, .plain) }
        offer(phone(k), nil, .phone)
        // DBLQUOT
        if let q = (u == 0x22 ? k + 1 : lit(k, "&quot;")) {
            if let v = at(q), PTBLexer.isAsciiAlnum(v) || v == 0x24 { offer(q + 1, q, .quotes(left: true)) }
            offer(q, nil, .quotes(left: false))
        }
        switch u {
        case 0x5B: offer(k + 1, nil, .text("-LSB-"))
        case 0x5D: offer(k + 1, nil, .text("-RSB-"))
        case 0x7B: offer(k + 1, nil, .text("-LCB-"))
        case 0x7D: offer(k + 1, nil, .text("-RCB-"))
        case 0x28: offer(k + 1, nil, .text("-LRB-"))
        case 0x29: offer(k + 1, nil, .text("-RRB-"))
        default: break
        }
        // HYPHENS
        if u == 0x2D {
            let e = run(k) { $0 == 0x2D }
            let n = e - k
            offer(e, nil, (n >= 3 && n <= 4) ? .text("--") : .plain)
        }
        // LDOTS = \.{3,5} | (\.[ \u00A0]){2,4}\. | [\u0085\u2026]
        if u == 0x2E {
            let e = run(k) { $0 == 0x2E }
            if e - k >= 3 { offer(min(e, k + 5), nil, .text("...")) }
            var j = k
            var pairs = 0
            while pairs < 4, at(j) == 0x2E, let v = at(j + 1), v == 0x20 || v == 0xA0, at(j + 2) == 0x2E {
                pairs += 1
                j += 2
                if pairs >= 2 { offer(j + 1, nil, .text("...")) }
            }
        }
        if u == 0x2026 { offer(k + 1, nil, .text("...")) }
        // FNMARKS
        if u == 0x40 || u == 0x23 || u == 0x5F { offer(run(k) { $0 == u }, nil, .plain) }
        // ASTS = \*+ | (\\\*){1,3}
        if u == 0x2A { offer(run(k) { $0 == 0x2A }, nil, .plain) }
        if u == 0x5C {
            var j = k
            var n = 0
            while n < 3, at(j) == 0x5C, at(j + 1) == 0x2A { j += 2; n += 1 }
            if n > 0 { offer(j, nil, .plain) }
        }
        if isInsentp(u) { offer(k + 1, nil, .plain) }
        if u == 0x3F || u == 0x21 { offer(run(k) { $0 == 0x3F || $0 == 0x21 }, nil, .plain) }
        if [0x2E, 0xA1, 0xBF, 0x037E, 0x0589, 0x061F, 0x06D4, 0x0700, 0x0701, 0x0702, 0x07FA, 0x3002].contains(u) {
            offer(k + 1, nil, .plain)
        }
        if u == 0x3D || u == 0x2F { offer(k + 1, nil, .plain) }
        // HTHING\./{INSENTP} and HTHING
        if let h = hthing(k) {
            if at(h) == 0x2E, let v = at(h + 1), isInsentp(v) { offer(h + 2, h + 1, .plain) }
            offer(h, nil, .plain)
        }
        if let t = thing(k) {
            if at(t) == 0x2E, let v = at(t + 1), isInsentp(v) { offer(t + 2, t + 1, .plain) }
            offer(t, nil, .plain)
        }
        // THINGA = [A-Z]+(([+&]|&amp;)[A-Z]+)+
        do {
            var j = run(k, PTBLexer.isAsciiUpper)
            if j > k {
                var parts = 0
                while true {
                    var p = j
                    if at(p) == 0x2B || at(p) == 0x26 { p += 1 } else if let e = lit(p, "&amp;") { p = e } else { break }
                    let e = run(p, PTBLexer.isAsciiUpper)
                    guard e > p else { break }
                    j = e
                    parts += 1
                }
                if parts > 0 {
                    if at(j) == 0x2E, let v = at(j + 1), isInsentp(v) { offer(j + 2, j + 1, .plain) }
                    offer(j, nil, .plain)
                }
            }
        }
        // '/[A-Za-z][^ \t\n\r\u00A0]  (an opening single quote)
        if u == 0x27, let v = at(k + 1), PTBLexer.isAsciiAlpha(v), let x = at(k + 2),
           x != 0x20, x != 0x09, x != 0x0A, x != 0x0D, x != 0xA0 {
            offer(k + 3, k + 1, .quotes(left: true))
        }
        offer(redaux(k), nil, .quotes(left: false))
        // QUOTES = {APOS} | '' | [`‘’‚‛“”\u0091-\u0094„‟‹›«»]{1,2}
        if let a = apos(k) { offer(a, nil, .quotes(left: false)) }
        if u == 0x27, at(k + 1) == 0x27 { offer(k + 2, nil, .quotes(left: false)) }
        if PTBLexer.isQuoteChar(u) {
            offer((at(k + 1).map(PTBLexer.isQuoteChar) ?? false) ? k + 2 : k + 1, nil, .quotes(left: false))
        }
        if (u == 0x3C && at(k + 1) == 0x3C) || (u == 0x3E && at(k + 1) == 0x3E) { offer(k + 2, nil, .plain) }
        if PTBLexer.isMiscSymbol(u) { offer(k + 1, nil, .plain) }
        if u == 0x3C || u == 0x3E { offer(k + 1, nil, .plain) }
        if bestTotal == 0 { return (1, .skip) }  // untokenizable: deleted
        return (bestTok, bestAction)
    }

    func isInsentp(_ u: UInt16) -> Bool { u == 0x2C || u == 0x3B || u == 0x3A || u == 0x3001 }

    static func isQuoteChar(_ u: UInt16) -> Bool {
        [0x60, 0x2018, 0x2019, 0x201A, 0x201B, 0x201C, 0x201D, 0x91, 0x92, 0x93, 0x94, 0x201E, 0x201F, 0x2039, 0x203A, 0xAB, 0xBB].contains(u)
    }

    static func isMiscSymbol(_ u: UInt16) -> Bool {
        if "+%&~^|\\".utf16.contains(u) { return true }
        let ranges: [ClosedRange<UInt16>] = [
            0xA6...0xA9, 0xAC...0xAC, 0xAE...0xBA, 0xD7...0xD7, 0xF7...0xF7, 0x0387...0x0387,
            0x2016...0x2017, 0x2020...0x2023, 0x2030...0x2038, 0x203B...0x203B, 0x203E...0x2042, 0x2044...0x2044,
            0x207A...0x207F, 0x208A...0x208E, 0x2100...0x214F, 0x2190...0x21FF, 0x2200...0x2BFF, 0x3012...0x3012,
            0x30FB...0x30FB, 0xFF01...0xFF0F, 0xFF1A...0xFF20, 0xFF3B...0xFF40, 0xFF5B...0xFF65,
        ]
        return ranges.contains { $0.contains(u) }
    }

    /// DATE = DIGIT{1,2}[\-\/]DIGIT{1,2}[\-\/]DIGIT{2,4}
    func date(_ k: Int) -> Int? {
        let a = run(k, PTBLexer.isDigit)
        guard a > k, a - k <= 2, let s1 = at(a), s1 == 0x2D || s1 == 0x2F else { return nil }
        let b = run(a + 1, PTBLexer.isDigit)
        guard b > a + 1, b - a - 1 <= 2, let s2 = at(b), s2 == 0x2D || s2 == 0x2F else { return nil }
        let c = run(b + 1, PTBLexer.isDigit)
        guard c - b - 1 >= 2 else { return nil }
        return min(c, b + 5)
    }

    /// APOWORD alternatives (the longest).
    func apoword(_ k: Int) -> Int? {
        var best: Int?
        func take(_ e: Int?) { if let e, e > (best ?? -1) { best = e } }
        // {APOS}n{APOS}?
        if let a = apos(k), let n = lit(a, "n") { take(n); take(apos(n)) }
        // [lLdDjJ]{APOS}
        if let u = at(k), "lLdDjJ".utf16.contains(u) { take(apos(k + 1)) }
        // Dunkin{APOS} | somethin{APOS} | ol{APOS}
        for w in ["Dunkin", "somethin", "ol"] { if let e = lit(k, w) { take(apos(e)) } }
        // {APOS}em | {APOS}[2-9]0s | {APOS}till? | {APOS}cause
        if let a = apos(k) {
            take(lit(a, "em"))
            if let d = at(a), d >= 0x32 && d <= 0x39, at(a + 1) == 0x30, let e = lit(a + 2, "s") { take(e) }
            if let e = lit(a, "til") { take(e); take(lit(e, "l")) }
            take(lit(a, "cause"))
        }
        // [A-HJ-XZn]{APOSETCETERA}[:letter:]{2}[:letter:]*
        if let u = at(k), (u >= 0x41 && u <= 0x48) || (u >= 0x4A && u <= 0x58) || u == 0x5A || u == 0x6E,
           let a = aposEtc(k + 1) {
            let e = run(a, PTBLexer.isLetter)
            if e - a >= 2 { take(e) }
        }
        // [:letter:][:letter:]*[aeiouyAEIOUY]{APOSETCETERA}[aeiouA-Z][:letter:]*
        if let u = at(k), PTBLexer.isLetter(u) {
            let e = run(k, PTBLexer.isLetter)
            var v = e - 1
            while v >= k + 1 {
                if "aeiouyAEIOUY".utf16.contains(s[v]), let a = aposEtc(v + 1), let x = at(a),
                   "aeiou".utf16.contains(x) || PTBLexer.isAsciiUpper(x) {
                    take(run(a + 1, PTBLexer.isLetter))
                }
                v -= 1
            }
        }
        // fixed words
        if let e = lit(k, "cont'd") { take(e); if at(e) == 0x2E { take(e + 1) } }
        take(lits(k, ["'twas", "nor'easter", "c'mon", "e'er", "s'mores", "ev'ry", "li'l", "nat'l"]))
        return best
    }
}
