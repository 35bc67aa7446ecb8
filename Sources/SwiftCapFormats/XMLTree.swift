import Foundation

// A small non-validating XML reader that keeps every byte it does not need to change.
//
// Written for XMP sidecars (XMPSidecar.swift): a sidecar belongs to the photo manager that made it,
// so a merge must give back its other elements, comments, processing instructions (the xpacket
// wrapper), quoting and whitespace exactly. Each element keeps its start and end tags as the raw
// bytes read; text keeps its raw (escaped) bytes. Serialising an unchanged tree gives the input back
// byte for byte. Edits replace nodes or splice attributes out of a raw start tag.
//
// What it accepts: UTF-8 (optionally with a BOM), the five predefined entities and character
// references, comments, processing instructions, CDATA, and a DOCTYPE without an internal subset.
// Namespaces are resolved (every prefix must be bound). Anything else is a parse error: the caller
// then leaves the file alone.

/// Why a document could not be read (an offset into the bytes and a reason).
struct XMLTreeError: Error, CustomStringConvertible {
    let offset: Int
    let reason: String
    var description: String { "byte \(offset): \(reason)" }
}

enum XMLNamespace {
    static let xml = "http://www.w3.org/XML/1998/namespace"
    static let xmlns = "http://www.w3.org/2000/xmlns/"
}

/// One attribute of a start tag.
struct XMLTreeAttribute {
    let qname: String
    let prefix: String
    let local: String
    /// Namespace URI (nil for an unprefixed attribute, which is in no namespace).
    let uri: String?
    /// The value with entities decoded.
    let value: String
    /// The bytes of `name="value"` within the element's start tag, with the whitespace before it.
    var range: Range<Int>
    var isNamespaceDeclaration: Bool { qname == "xmlns" || prefix == "xmlns" }
}

final class XMLTreeElement {
    let qname: String
    let prefix: String
    let local: String
    let uri: String?
    /// In-scope namespace bindings, prefix -> URI ("" for the default namespace).
    let scope: [String: String]
    /// The raw start tag, `<a:b ...>` or `<a:b .../>`.
    var startTag: [UInt8]
    var attributes: [XMLTreeAttribute]
    var selfClosing: Bool
    var children: [XMLTreeNode] = []
    /// The enclosing element (nil for the root).
    weak var parent: XMLTreeElement?
    /// The raw end tag (empty when self-closing).
    var endTag: [UInt8] = []

    init(qname: String, prefix: String, local: String, uri: String?, scope: [String: String],
         startTag: [UInt8], attributes: [XMLTreeAttribute], selfClosing: Bool) {
        self.qname = qname; self.prefix = prefix; self.local = local; self.uri = uri; self.scope = scope
        self.startTag = startTag; self.attributes = attributes; self.selfClosing = selfClosing
    }

    func `is`(_ uri: String, _ local: String) -> Bool { self.uri == uri && self.local == local }

    var elementChildren: [XMLTreeElement] {
        children.compactMap { if case .element(let e) = $0 { return e } else { return nil } }
    }

    func attribute(_ uri: String, _ local: String) -> XMLTreeAttribute? {
        attributes.first { $0.uri == uri && $0.local == local }
    }

    /// Concatenated text and CDATA of the direct children (entities decoded).
    var text: String {
        children.reduce(into: "") { acc, n in if case .text(_, let v) = n { acc += v } }
    }

    /// True when the children are only whitespace text, comments and elements (no character data).
    var hasOnlyWhitespaceText: Bool {
        children.allSatisfy { if case .text(_, let v) = $0 { return v.allSatisfy(\.isWhitespace) } else { return true } }
    }

    /// A prefix bound to `uri` here (nil when none). Prefers a non-default prefix.
    func prefix(for uri: String) -> String? {
        let bound = scope.filter { $0.value == uri }.map(\.key).sorted()
        return bound.first { !$0.isEmpty } ?? bound.first
    }

    /// Removes one attribute from the raw start tag (with the whitespace before it).
    func removeAttribute(at index: Int) {
        let r = attributes[index].range
        startTag.removeSubrange(r)
        attributes.remove(at: index)
        for i in attributes.indices where attributes[i].range.lowerBound >= r.upperBound {
            attributes[i].range = (attributes[i].range.lowerBound - r.count)..<(attributes[i].range.upperBound - r.count)
        }
    }

    func serialize(into out: inout [UInt8]) {
        if selfClosing {
            if children.isEmpty { out += startTag; return }
            // `<a .../>` that gained children: `<a ...>` + children + `</a>`.
            var tag = Array(startTag.dropLast(2))
            while let last = tag.last, XMLTreeParser.isSpace(last) { tag.removeLast() }
            out += tag; out.append(UInt8(ascii: ">"))
            for c in children { c.serialize(into: &out) }
            out += Array("</\(qname)>".utf8)
            return
        }
        out += startTag
        for c in children { c.serialize(into: &out) }
        out += endTag
    }
}

enum XMLTreeNode {
    case element(XMLTreeElement)
    /// Character data: the raw bytes (escaped, or a CDATA section) and the decoded value.
    case text(raw: [UInt8], value: String)
    /// Comment, processing instruction, XML declaration, DOCTYPE, BOM, or bytes generated by an edit.
    case other([UInt8])

    func serialize(into out: inout [UInt8]) {
        switch self {
        case .element(let e): e.serialize(into: &out)
        case .text(let raw, _): out += raw
        case .other(let raw): out += raw
        }
    }

    static func text(_ value: String) -> XMLTreeNode { .text(raw: Array(XMLEscape.text(value).utf8), value: value) }
}

final class XMLTree {
    var prolog: [XMLTreeNode]
    let root: XMLTreeElement
    var epilog: [XMLTreeNode]

    init(prolog: [XMLTreeNode], root: XMLTreeElement, epilog: [XMLTreeNode]) {
        self.prolog = prolog; self.root = root; self.epilog = epilog
    }

    func serialize() -> [UInt8] {
        var out: [UInt8] = []
        for n in prolog { n.serialize(into: &out) }
        root.serialize(into: &out)
        for n in epilog { n.serialize(into: &out) }
        return out
    }

    /// Elements in document order (depth first), iteratively.
    func allElements() -> [XMLTreeElement] {
        var out: [XMLTreeElement] = []
        var stack = [root]
        while let e = stack.popLast() {
            out.append(e)
            stack.append(contentsOf: e.elementChildren.reversed())
        }
        return out
    }

    static func parse(_ bytes: [UInt8]) throws -> XMLTree {
        var p = XMLTreeParser(bytes)
        return try p.parseDocument()
    }
}

/// XML escaping for generated text and attribute values.
enum XMLEscape {
    /// Escapes `&`, `<`, `>`, both quotes; writes CR, DEL and C1 controls as character references (so
    /// they survive line-end normalisation and stay visible); drops the C0 controls XML 1.0 cannot
    /// represent at all (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F) and U+FFFE/U+FFFF.
    static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n": out.unicodeScalars.append(u)
            case "\r": out += "&#xD;"
            case "\u{0}"..."\u{1F}", "\u{FFFE}", "\u{FFFF}": continue
            case "\u{7F}"..."\u{9F}": out += "&#x" + String(u.value, radix: 16, uppercase: true) + ";"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// As `text`, and tab and line feed as references too (attribute values normalise them to spaces).
    static func attribute(_ s: String) -> String {
        text(s).replacingOccurrences(of: "\t", with: "&#x9;").replacingOccurrences(of: "\n", with: "&#xA;")
    }
}

struct XMLTreeParser {
    let b: [UInt8]
    var i = 0
    static let maxDepth = 512

    init(_ bytes: [UInt8]) { b = bytes }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
    static func isNameByte(_ c: UInt8) -> Bool {
        c >= 0x80 || (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
            || c == 0x5F || c == 0x3A || c == 0x2E || c == 0x2D
    }

    func fail(_ reason: String, at offset: Int? = nil) -> XMLTreeError { XMLTreeError(offset: offset ?? i, reason: reason) }

    func starts(_ s: String, at k: Int) -> Bool {
        let u = Array(s.utf8)
        return k + u.count <= b.count && Array(b[k..<(k + u.count)]) == u
    }

    /// Index just past the first `terminator` at or after `from`.
    func find(_ terminator: String, from: Int, what: String) throws -> Int {
        let t = Array(terminator.utf8)
        var k = from
        while k + t.count <= b.count {
            if b[k] == t[0] && Array(b[k..<(k + t.count)]) == t { return k + t.count }
            k += 1
        }
        throw fail("unterminated \(what)", at: from)
    }

    func string(_ r: Range<Int>) throws -> String {
        guard let s = String(bytes: b[r], encoding: .utf8) else { throw fail("invalid UTF-8", at: r.lowerBound) }
        return s
    }

    mutating func skipSpace() { while i < b.count && Self.isSpace(b[i]) { i += 1 } }

    mutating func name() throws -> String {
        let s = i
        while i < b.count && Self.isNameByte(b[i]) { i += 1 }
        guard i > s else { throw fail("expected a name") }
        let c = b[s]
        if (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E { throw fail("bad name start", at: s) }
        return try string(s..<i)
    }

    /// Decodes entity and character references in `r` (raw text or an attribute value).
    func decode(_ r: Range<Int>) throws -> String {
        var out = ""
        var k = r.lowerBound
        var runStart = k
        while k < r.upperBound {
            let c = b[k]
            if c == UInt8(ascii: "<") { throw fail("'<' in character data or attribute value", at: k) }
            guard c == UInt8(ascii: "&") else { k += 1; continue }
            out += try string(runStart..<k)
            guard let semi = b[k..<r.upperBound].firstIndex(of: UInt8(ascii: ";")), semi - k <= 12 else {
                throw fail("unterminated reference", at: k)
            }
            let ref = try string((k + 1)..<semi)
            switch ref {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                var v: UInt32?
                if ref.hasPrefix("#x") { v = UInt32(ref.dropFirst(2), radix: 16) }
                else if ref.hasPrefix("#") { v = UInt32(ref.dropFirst(), radix: 10) }
                else { throw fail("unknown entity &\(ref);", at: k) }
                guard let code = v, let u = Unicode.Scalar(code), code != 0 else { throw fail("bad character reference &\(ref);", at: k) }
                out.unicodeScalars.append(u)
            }
            k = semi + 1
            runStart = k
        }
        out += try string(runStart..<r.upperBound)
        return out
    }

    /// Prolog/epilog nodes and the markup that is not an element: comment, PI, DOCTYPE.
    mutating func misc(inProlog: Bool) throws -> XMLTreeNode? {
        if starts("<!--", at: i) {
            let e = try find("-->", from: i + 4, what: "comment")
            defer { i = e }
            return .other(Array(b[i..<e]))
        }
        if starts("<?", at: i) {
            let e = try find("?>", from: i + 2, what: "processing instruction")
            defer { i = e }
            return .other(Array(b[i..<e]))
        }
        if inProlog && starts("<!DOCTYPE", at: i) {
            let e = try find(">", from: i, what: "DOCTYPE")
            if b[i..<e].contains(UInt8(ascii: "[")) { throw fail("DOCTYPE with an internal subset is not supported") }
            defer { i = e }
            return .other(Array(b[i..<e]))
        }
        return nil
    }

    mutating func parseDocument() throws -> XMLTree {
        var prolog: [XMLTreeNode] = []
        if starts("\u{FEFF}", at: 0) { prolog.append(.other(Array(b[0..<3]))); i = 3 }
        if b.count >= 2 && ((b[0] == 0xFE && b[1] == 0xFF) || (b[0] == 0xFF && b[1] == 0xFE)) {
            throw fail("UTF-16 is not supported", at: 0)
        }
        if starts("<?xml", at: i) && i + 5 < b.count && Self.isSpace(b[i + 5]) {
            let e = try find("?>", from: i, what: "XML declaration")
            let decl = try string(i..<e).lowercased()
            if let r = decl.range(of: "encoding") {
                let rest = decl[r.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" }
                let enc = rest.prefix { $0 != "\"" && $0 != "'" }
                if enc != "utf-8" && enc != "utf8" { throw fail("encoding \(enc) is not supported (UTF-8 only)") }
            }
            prolog.append(.other(Array(b[i..<e])))
            i = e
        }
        var root: XMLTreeElement?
        var epilog: [XMLTreeNode] = []
        while i < b.count {
            if Self.isSpace(b[i]) {
                let s = i; skipSpace()
                let n = XMLTreeNode.other(Array(b[s..<i]))
                if root == nil { prolog.append(n) } else { epilog.append(n) }
            } else if let n = try misc(inProlog: root == nil) {
                if root == nil { prolog.append(n) } else { epilog.append(n) }
            } else if b[i] == UInt8(ascii: "<") && root == nil {
                root = try element()
            } else {
                throw fail(root == nil ? "expected the root element" : "content after the root element")
            }
        }
        guard let r = root else { throw fail("no root element") }
        return XMLTree(prolog: prolog, root: r, epilog: epilog)
    }

    /// Reads a start tag at `i` (which is at '<').
    mutating func startTag(parentScope: [String: String]) throws -> XMLTreeElement {
        let s = i
        i += 1
        let qname = try name()
        struct RawAttr { let qname: String; let valueRange: Range<Int>; let range: Range<Int> }
        var raw: [RawAttr] = []
        var selfClosing = false
        while true {
            let wsStart = i
            skipSpace()
            guard i < b.count else { throw fail("unterminated start tag <\(qname)", at: s) }
            if b[i] == UInt8(ascii: ">") { i += 1; break }
            if starts("/>", at: i) { i += 2; selfClosing = true; break }
            guard i > wsStart else { throw fail("expected whitespace between attributes") }
            let an = try name()
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "=") else { throw fail("expected '=' after \(an)") }
            i += 1
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") else { throw fail("expected a quoted value") }
            let q = b[i]
            let vs = i + 1
            guard let ve = b[vs...].firstIndex(of: q) else { throw fail("unterminated attribute value", at: vs) }
            i = ve + 1
            if raw.contains(where: { $0.qname == an }) { throw fail("duplicate attribute \(an)", at: wsStart) }
            raw.append(RawAttr(qname: an, valueRange: vs..<ve, range: (wsStart - s)..<(i - s)))
        }
        var scope = parentScope
        for a in raw {
            if a.qname == "xmlns" { scope[""] = try decode(a.valueRange) }
            else if a.qname.hasPrefix("xmlns:") {
                let v = try decode(a.valueRange)
                if v.isEmpty { throw fail("empty namespace for \(a.qname)", at: s) }
                scope[String(a.qname.dropFirst(6))] = v
            }
        }
        func split(_ q: String) -> (String, String) {
            guard let c = q.firstIndex(of: ":") else { return ("", q) }
            return (String(q[..<c]), String(q[q.index(after: c)...]))
        }
        var attrs: [XMLTreeAttribute] = []
        for a in raw {
            let (p, l) = split(a.qname)
            var uri: String?
            if a.qname == "xmlns" || p == "xmlns" { uri = XMLNamespace.xmlns }
            else if p == "xml" { uri = XMLNamespace.xml }
            else if !p.isEmpty {
                guard let u = scope[p] else { throw fail("unbound prefix \(p) on attribute \(a.qname)", at: s) }
                uri = u
            }
            if let u = uri, u != XMLNamespace.xmlns, attrs.contains(where: { $0.uri == u && $0.local == l }) {
                throw fail("duplicate attribute {\(u)}\(l)", at: s)
            }
            attrs.append(XMLTreeAttribute(qname: a.qname, prefix: p, local: l, uri: uri, value: try decode(a.valueRange), range: a.range))
        }
        let (p, l) = split(qname)
        var uri: String? = scope[p]
        if p == "xml" { uri = XMLNamespace.xml }
        if !p.isEmpty && uri == nil { throw fail("unbound prefix \(p) on element \(qname)", at: s) }
        if p.isEmpty && uri == "" { uri = nil }
        return XMLTreeElement(qname: qname, prefix: p, local: l, uri: uri, scope: scope, startTag: Array(b[s..<i]),
                           attributes: attrs, selfClosing: selfClosing)
    }

    /// Reads the element starting at `i` and all its content (iteratively: depth is bounded by `maxDepth`).
    mutating func element() throws -> XMLTreeElement {
        let root = try startTag(parentScope: ["xml": XMLNamespace.xml])
        if root.selfClosing { return root }
        var stack = [root]
        while let top = stack.last {
            guard i < b.count else { throw fail("unclosed element <\(top.qname)>") }
            if b[i] != UInt8(ascii: "<") {
                let s = i
                while i < b.count && b[i] != UInt8(ascii: "<") { i += 1 }
                top.children.append(.text(raw: Array(b[s..<i]), value: try decode(s..<i)))
            } else if starts("<![CDATA[", at: i) {
                let e = try find("]]>", from: i + 9, what: "CDATA section")
                top.children.append(.text(raw: Array(b[i..<e]), value: try string((i + 9)..<(e - 3))))
                i = e
            } else if starts("</", at: i) {
                let s = i
                i += 2
                let n = try name()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ">") else { throw fail("bad end tag") }
                i += 1
                guard n == top.qname else { throw fail("end tag </\(n)> does not match <\(top.qname)>", at: s) }
                top.endTag = Array(b[s..<i])
                stack.removeLast()
                if stack.isEmpty { return root }
            } else if let n = try misc(inProlog: false) {
                top.children.append(n)
            } else if starts("<!", at: i) {
                throw fail("unexpected markup declaration")
            } else {
                let e = try startTag(parentScope: top.scope)
                e.parent = top
                top.children.append(.element(e))
                if !e.selfClosing {
                    guard stack.count < Self.maxDepth else { throw fail("elements nested deeper than \(Self.maxDepth)") }
                    stack.append(e)
                }
            }
        }
        return root
    }
}
