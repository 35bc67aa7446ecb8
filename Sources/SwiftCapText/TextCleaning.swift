import Foundation

/// Text clean-up as CLIP's tokenizer does it before BPE (open_clip `basic_clean` then
/// `whitespace_clean` then `lower`): a subset of ftfy's `fix_text`, two passes of Python's
/// `html.unescape`, whitespace collapsing with Python's notion of whitespace, Python `str.lower`.
///
/// Of ftfy's default fixes this implements: HTML entity unescaping (its own "auto" rule), C1
/// controls read as Windows-1252, Latin ligatures, full/half-width forms, curly quotes, line
/// breaks, ANSI terminal escapes, control-character removal and NFC, repeated to a fixed point
/// per line as ftfy does. It does not implement ftfy's mojibake repair (`fix_encoding`), which
/// guesses encodings from statistics; text that is valid UTF-8 read correctly is unaffected.
public enum CLIPTextCleaner {
    /// The whole open_clip "lower" cleaning: ftfy subset, html.unescape x2, strip, collapse
    /// whitespace, lower-case.
    public static func clean(_ text: String) -> String {
        var s = ftfyFixText(text)
        s = HTMLUnescape.python(HTMLUnescape.python(s))
        return pythonLower(collapseWhitespace(s))
    }

    /// `" ".join(text.split())`: runs of Python whitespace become one space, ends trimmed.
    public static func collapseWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for c in text.unicodeScalars {
            if CharClass.isPythonSpace(c) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(c)
            }
        }
        return String(out)
    }

    /// Python's `str.lower()`: full lower-case mappings, with capital sigma becoming final
    /// sigma after a cased letter and not before one (case-ignorable characters skipped).
    public static func pythonLower(_ text: String) -> String {
        let u = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, c) in u.enumerated() {
            if c.value < 128 {
                out.append((c.value >= 65 && c.value <= 90) ? Unicode.Scalar(c.value + 32)! : c)
            } else if c.value == 0x3a3 {
                var j = i - 1
                while j >= 0 && u[j].properties.isCaseIgnorable { j -= 1 }
                var final = j >= 0 && u[j].properties.isCased
                if final {
                    var k = i + 1
                    while k < u.count && u[k].properties.isCaseIgnorable { k += 1 }
                    final = k == u.count || !u[k].properties.isCased
                }
                out.append(final ? "\u{3c2}" : "\u{3c3}")
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// ftfy 6 `fix_text` with its default configuration, minus `fix_encoding` (see above).
    /// Works line by line (each segment ends after a "\n"); once a line containing "<" is seen,
    /// entity unescaping stays off for the rest of the text, as ftfy's "auto" mode does.
    public static func ftfyFixText(_ text: String) -> String {
        var out = ""
        var unescape = true
        var segment = String.UnicodeScalarView()
        func flush() {
            if segment.isEmpty { return }
            if segment.contains("<") { unescape = false }
            out += fixSegment(String(segment), unescape: unescape)
            segment = String.UnicodeScalarView()
        }
        for c in text.unicodeScalars {
            segment.append(c)
            if c == "\n" { flush() }
        }
        flush()
        return out
    }

    static func fixSegment(_ text: String, unescape: Bool) -> String {
        // Printable ASCII (plus \t \n \f) without '&' is a fixed point of every fix: skip them.
        if text.unicodeScalars.allSatisfy({ ($0.value >= 0x20 && $0.value < 0x7f && $0 != "&") || $0 == "\t" || $0 == "\n" || $0 == "\u{0c}" }) {
            return text
        }
        var s = text
        // ftfy repeats its fixes until the text stops changing.
        for _ in 0..<100 {
            let before = s
            if unescape { s = HTMLUnescape.ftfy(s) }
            var u = String.UnicodeScalarView()
            let scalars = Array(s.unicodeScalars)
            // fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes
            for c in scalars {
                var c = c
                if c.value >= 0x80 && c.value <= 0x9f { c = Unicode.Scalar(windows1252[Int(c.value - 0x80)])! }
                if let lig = ligatures[c.value] { u.append(contentsOf: lig.unicodeScalars); continue }
                if c.value == 0x3000 { u.append(" "); continue }
                if c.value >= 0xff01 && c.value < 0xfff0, let w = widthMap(c) { u.append(contentsOf: w.unicodeScalars); continue }
                if c.value == 0x2bc || (c.value >= 0x2018 && c.value <= 0x201b) { u.append("'"); continue }
                if c.value >= 0x201c && c.value <= 0x201f { u.append("\""); continue }
                u.append(c)
            }
            // fix_line_breaks
            var lb = String.UnicodeScalarView()
            let v = Array(u)
            var i = 0
            while i < v.count {
                let c = v[i]
                if c == "\r" {
                    lb.append("\n")
                    if i + 1 < v.count && v[i + 1] == "\n" { i += 1 }
                } else if c.value == 0x2028 || c.value == 0x2029 || c.value == 0x85 {
                    lb.append("\n")
                } else {
                    lb.append(c)
                }
                i += 1
            }
            // remove_terminal_escapes: ESC '[' [0-9;]* [A-Za-z]
            let t = Array(lb)
            var noEsc = String.UnicodeScalarView()
            i = 0
            while i < t.count {
                if t[i].value == 0x1b && i + 1 < t.count && t[i + 1] == "[" {
                    var j = i + 2
                    while j < t.count && ((t[j].value >= 0x30 && t[j].value <= 0x39) || t[j] == ";") { j += 1 }
                    if j < t.count && t[j].isASCIILetter { i = j + 1; continue }
                }
                noEsc.append(t[i]); i += 1
            }
            // remove_control_chars
            noEsc.removeAll(where: isFtfyControl)
            // NFC leaves ASCII unchanged; skip Foundation's normalizer for the common case.
            s = noEsc.allSatisfy({ $0.isASCII }) ? String(noEsc) : String(noEsc).precomposedStringWithCanonicalMapping
            if s.unicodeScalars.elementsEqual(before.unicodeScalars) { break }
        }
        return s
    }

    static func isFtfyControl(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return v <= 0x08 || v == 0x0b || (v >= 0x0e && v <= 0x1f) || v == 0x7f
            || (v >= 0x206a && v <= 0x206f) || v == 0xfeff || (v >= 0xfff9 && v <= 0xfffc)
    }

    /// Windows-1252 for bytes 0x80...0x9F ("sloppy": undefined bytes keep their C1 code point).
    static let windows1252: [UInt32] = [
        0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
        0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
    ]

    static let ligatures: [UInt32: String] = [
        0x132: "IJ", 0x133: "ij", 0x149: "'n" /* ftfy gives U+02BC n, which uncurl_quotes then straightens */, 0x1f1: "DZ", 0x1f2: "Dz", 0x1f3: "dz",
        0x1c4: "D\u{17d}", 0x1c5: "D\u{17e}", 0x1c6: "d\u{17e}", 0x1c7: "LJ", 0x1c8: "Lj", 0x1c9: "lj",
        0x1ca: "NJ", 0x1cb: "Nj", 0x1cc: "nj", 0xfb00: "ff", 0xfb01: "fi", 0xfb02: "fl", 0xfb03: "ffi",
        0xfb04: "ffl", 0xfb05: "\u{17f}t", 0xfb06: "st",
    ]

    /// NFKC of a half/full-width form U+FF01..U+FFEF when it differs.
    static func widthMap(_ c: Unicode.Scalar) -> String? {
        let s = String(c)
        let k = s.precomposedStringWithCompatibilityMapping
        return k.unicodeScalars.elementsEqual(s.unicodeScalars) ? nil : k
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { (value >= 65 && value <= 90) || (value >= 97 && value <= 122) }
    var isASCIIDigit: Bool { value >= 48 && value <= 57 }
    var isASCIIHexDigit: Bool { isASCIIDigit || ((value | 0x20) >= 97 && (value | 0x20) <= 102) }
}

/// HTML character-reference decoding.
public enum HTMLUnescape {
    /// name (without '&') -> replacement, from the HTML5 table.
    static let html5: [String: String] = parseTable(html5EntityTable)
    /// "&name;" -> replacement for ftfy: HTML5 names ending in ';' plus ftfy's upper-case extras.
    static let ftfyEntities: [String: String] = {
        var d: [String: String] = [:]
        for (k, v) in html5 where k.hasSuffix(";") { d["&" + k] = v }
        for (k, v) in parseTable(ftfyUpperEntityTable) { d["&" + k] = v }
        return d
    }()
    static let longestName = html5.keys.map { $0.unicodeScalars.count }.max() ?? 32

    static func parseTable(_ table: String) -> [String: String] {
        var d: [String: String] = [:]
        for line in splitLines(table) {
            let u = line.unicodeScalars
            guard let tab = u.firstIndex(of: "\t") else { continue }
            d[String(line[u.startIndex..<tab])] = String(line[u.index(after: tab)..<u.endIndex])
        }
        return d
    }

    /// Python's `html.unescape`: `&name;`, `&name` (longest known prefix), `&#123;`, `&#x7b;`
    /// (semicolon optional), with HTML's fix-ups for invalid numeric references.
    public static func python(_ text: String) -> String {
        guard text.unicodeScalars.contains("&") else { return text }
        let u = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < u.count {
            guard u[i] == "&", i + 1 < u.count else { out.append(u[i]); i += 1; continue }
            if u[i + 1] == "#" {
                // &#[0-9]+;? or &#[xX][0-9a-fA-F]+;?
                var j = i + 2
                let hex = j < u.count && (u[j] == "x" || u[j] == "X")
                if hex { j += 1 }
                let digitsStart = j
                while j < u.count && (hex ? u[j].isASCIIHexDigit : u[j].isASCIIDigit) { j += 1 }
                if j == digitsStart { out.append(u[i]); i += 1; continue }
                var num: UInt64 = 0
                for k in digitsStart..<j {
                    let d = UInt64(u[k].isASCIIDigit ? u[k].value - 48 : (u[k].value | 0x20) - 87)
                    num = min(num * (hex ? 16 : 10) + d, 0x7fff_ffff)
                }
                if j < u.count && u[j] == ";" { j += 1 }
                let n = UInt32(num)
                if let r = htmlInvalidCharrefs[n] {
                    out.append(Unicode.Scalar(r)!)
                } else if (n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff {
                    out.append("\u{fffd}")
                } else if !htmlInvalidCodepoints.contains(n) {
                    out.append(Unicode.Scalar(n)!)
                }
                i = j
                continue
            }
            // Named: [^\t\n\f <&#;]{1,32};?
            var j = i + 1
            while j < u.count && j - (i + 1) < 32 {
                let c = u[j]
                if c == "\t" || c == "\n" || c == "\u{0c}" || c == " " || c == "<" || c == "&" || c == "#" || c == ";" { break }
                j += 1
            }
            if j == i + 1 { out.append(u[i]); i += 1; continue }
            if j < u.count && u[j] == ";" { j += 1 }
            let name = Array(u[(i + 1)..<j])
            if let r = html5[String(String.UnicodeScalarView(name))] {
                out.append(contentsOf: r.unicodeScalars)
            } else {
                var found = false
                var x = name.count - 1
                while x > 1 {
                    if let r = html5[String(String.UnicodeScalarView(name[0..<x]))] {
                        out.append(contentsOf: r.unicodeScalars)
                        out.append(contentsOf: name[x...])
                        found = true
                        break
                    }
                    x -= 1
                }
                if !found { out.append("&"); out.append(contentsOf: name) }
            }
            i = j
        }
        return String(out)
    }

    /// ftfy's `unescape_html`: only `&#?[0-9A-Za-z]{1,24};` references it knows (HTML5 names
    /// with ';', ftfy's upper-case extras, numeric references that `html.unescape` fully consumes).
    public static func ftfy(_ text: String) -> String {
        guard text.unicodeScalars.contains("&") else { return text }
        let u = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < u.count {
            if u[i] == "&" {
                var j = i + 1
                if j < u.count && u[j] == "#" { j += 1 }
                let start = j
                while j < u.count && j - start < 24 && (u[j].isASCIILetter || u[j].isASCIIDigit) { j += 1 }
                if j > start && j < u.count && u[j] == ";" {
                    let ref = String(String.UnicodeScalarView(u[i...j]))
                    if let r = ftfyEntities[ref] {
                        out.append(contentsOf: r.unicodeScalars); i = j + 1; continue
                    } else if u[i + 1] == "#" {
                        let r = python(ref)
                        if !r.unicodeScalars.contains(";") { out.append(contentsOf: r.unicodeScalars); i = j + 1; continue }
                    }
                    // Unknown: leave as is.
                    out.append(contentsOf: u[i...j]); i = j + 1; continue
                }
            }
            out.append(u[i]); i += 1
        }
        return String(out)
    }
}
