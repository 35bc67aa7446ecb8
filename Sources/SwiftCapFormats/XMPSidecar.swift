import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// XMP sidecars for captions: `photo.jpg.xmp` (darktable, digiKam) or `photo.xmp` (Lightroom).
//
// Written properties (XMP Specification Part 1/2; IPTC Photo Metadata Standard 2021.1):
//   dc:description                      rdf:Alt, the caption under xml:lang="x-default"
//   Iptc4xmpCore:AltTextAccessibility   rdf:Alt, alt text under xml:lang="x-default"
//   dc:subject                          rdf:Bag of keywords
// exiftool reads these as XMP-dc:Description, XMP-iptcCore:AltTextAccessibility, XMP-dc:Subject.
//
// An existing sidecar is merged, never clobbered: every byte outside the properties above is kept
// (XMLTree.swift keeps raw bytes), the x-default values are replaced (other languages are kept),
// keywords are added after the existing ones (no duplicates). A sidecar that cannot be parsed is
// left as it is and `XMPSidecarError.unparsable` names it. Files are replaced atomically (a
// temporary file in the same directory, then rename), keeping the old file's permission bits.

/// Where the sidecar of a photo lives.
public enum SidecarNaming: String, Sendable, CaseIterable {
    /// `photo.jpg.xmp` (darktable, digiKam, exiftool's `%d%f.%e.xmp`).
    case appended
    /// `photo.xmp` (Lightroom, Capture One).
    case stem

    public func sidecarURL(for photo: URL) -> URL {
        switch self {
        case .appended:
            return photo.deletingLastPathComponent().appendingPathComponent(photo.lastPathComponent + ".xmp")
        case .stem:
            return photo.deletingPathExtension().appendingPathExtension("xmp")
        }
    }
}

/// The caption fields a sidecar carries.
public struct XMPFields: Sendable, Equatable {
    /// dc:description (x-default). Empty: not written (an existing value is kept).
    public var description: String
    /// Iptc4xmpCore:AltTextAccessibility (x-default). Empty: not written (an existing value is kept).
    public var altText: String
    /// dc:subject; added to the existing keywords, existing order first, no duplicates.
    public var keywords: [String]

    public init(description: String = "", altText: String = "", keywords: [String] = []) {
        self.description = description
        self.altText = altText
        self.keywords = keywords
    }
}

/// Errors reading or writing a sidecar. Every case names the file.
public enum XMPSidecarError: Error, CustomStringConvertible, Equatable {
    /// The existing file is not well-formed XML we can read (it is left untouched).
    case unparsable(file: String, reason: String)
    /// Well-formed XML without an rdf:RDF element (it is left untouched).
    case notXMP(file: String, reason: String)
    /// Reading the existing file failed.
    case cannotRead(file: String, reason: String)
    /// Writing the temporary file, or renaming it over the sidecar, failed.
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case .unparsable(let f, let r): return "\(f): existing XMP sidecar cannot be parsed (left unchanged): \(r)"
        case .notXMP(let f, let r): return "\(f): not an XMP packet (left unchanged): \(r)"
        case .cannotRead(let f, let r): return "\(f): cannot read: \(r)"
        case .cannotWrite(let f, let r): return "\(f): cannot write: \(r)"
        }
    }

    public var file: String {
        switch self {
        case .unparsable(let f, _), .notXMP(let f, _), .cannotRead(let f, _), .cannotWrite(let f, _): return f
        }
    }
}

public enum XMPSidecar {
    static let rdfNS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    static let dcNS = "http://purl.org/dc/elements/1.1/"
    static let iptcCoreNS = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"

    /// Writes `fields` to the sidecar at `url`, merging into an existing one. The file is replaced
    /// atomically and only when its bytes change.
    public static func write(_ fields: XMPFields, to url: URL) throws {
        let target = url.resolvingSymlinksInPath()
        let name = url.path
        var existing: Data?
        var mode: mode_t?
        if FileManager.default.fileExists(atPath: target.path) {
            do { existing = try Data(contentsOf: target) } catch {
                throw XMPSidecarError.cannotRead(file: name, reason: "\(error)")
            }
            var st = stat()
            if stat(target.path, &st) == 0 { mode = st.st_mode & 0o7777 }
        }
        let out = try merged(fields, into: existing, file: name)
        if let e = existing, e == out { return }
        try atomicWrite(out, to: target, mode: mode, name: name)
    }

    /// The fields in the sidecar at `url`; nil when there is no such file. Absent properties read as
    /// empty. The description and alt text are the x-default values (else the first alternative).
    public static func read(_ url: URL) throws -> XMPFields? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw XMPSidecarError.cannotRead(file: url.path, reason: "\(error)")
        }
        return try fields(in: data, file: url.path)
    }

    /// The fields in sidecar bytes (`file` names them in errors).
    public static func fields(in data: Data, file: String) throws -> XMPFields {
        let tree = try parse(data, file: file)
        let descriptions = try rdfDescriptions(tree, file: file)
        var f = XMPFields()
        f.description = find(dcNS, "description", in: descriptions).map(langAltValue) ?? ""
        f.altText = find(iptcCoreNS, "AltTextAccessibility", in: descriptions).map(langAltValue) ?? ""
        f.keywords = find(dcNS, "subject", in: descriptions).map(listValues) ?? []
        return f
    }

    /// The sidecar bytes after merging `fields` into `existing` (nil: a new sidecar).
    public static func merged(_ fields: XMPFields, into existing: Data?, file: String) throws -> Data {
        let tree = try parse(existing ?? Data(newPacket.utf8), file: file)
        let rdf = try rdfElement(tree, file: file)
        let descriptions = rdf.elementChildren.filter { $0.is(rdfNS, "Description") }

        // Pending properties: (namespace, local name, generator for a property element).
        var missing: [(ns: String, local: String, value: Value)] = []

        if !fields.description.isEmpty {
            if !setLangAlt(dcNS, "description", fields.description, in: descriptions) {
                missing.append((dcNS, "description", .langAlt(fields.description)))
            }
        }
        if !fields.altText.isEmpty {
            if !setLangAlt(iptcCoreNS, "AltTextAccessibility", fields.altText, in: descriptions) {
                missing.append((iptcCoreNS, "AltTextAccessibility", .langAlt(fields.altText)))
            }
        }
        // Keywords: a property attribute (a single value) becomes the first keyword of a Bag.
        var fromAttribute: [String] = []
        for d in descriptions {
            while let k = d.attributes.firstIndex(where: { $0.uri == dcNS && $0.local == "subject" }) {
                fromAttribute.append(d.attributes[k].value)
                d.removeAttribute(at: k)
            }
        }
        if let subject = find(dcNS, "subject", in: descriptions) {
            let existingKeywords = listValues(subject)
            let add = unique(fromAttribute + fields.keywords, excluding: existingKeywords)
            if !add.isEmpty { appendToBag(subject, add, existing: existingKeywords) }
        } else {
            let all = unique(fromAttribute + fields.keywords, excluding: [])
            if !all.isEmpty { missing.append((dcNS, "subject", .bag(all))) }
        }

        if !missing.isEmpty { addDescription(missing, to: rdf, after: descriptions) }
        return Data(tree.serialize())
    }

    // MARK: - Reading the tree

    static let newPacket = """
        <?xml version="1.0" encoding="UTF-8"?>
        <x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="SwiftCap">
         <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
         </rdf:RDF>
        </x:xmpmeta>

        """

    static func parse(_ data: Data, file: String) throws -> XMLTree {
        do { return try XMLTree.parse([UInt8](data)) } catch let e as XMLTreeError {
            throw XMPSidecarError.unparsable(file: file, reason: e.description)
        }
    }

    static func rdfElement(_ tree: XMLTree, file: String) throws -> XMLTreeElement {
        guard let rdf = tree.allElements().first(where: { $0.is(rdfNS, "RDF") }) else {
            throw XMPSidecarError.notXMP(file: file, reason: "no rdf:RDF element")
        }
        return rdf
    }

    static func rdfDescriptions(_ tree: XMLTree, file: String) throws -> [XMLTreeElement] {
        try rdfElement(tree, file: file).elementChildren.filter { $0.is(rdfNS, "Description") }
    }

    /// The first property element `{ns}local` in the descriptions. A property written as an attribute
    /// (`dc:description="…"` on rdf:Description) is read as a one-value element stand-in.
    static func find(_ ns: String, _ local: String, in descriptions: [XMLTreeElement]) -> XMLTreeElement? {
        for d in descriptions {
            if let e = d.elementChildren.first(where: { $0.is(ns, local) }) { return e }
        }
        for d in descriptions {
            if let a = d.attribute(ns, local) {
                let e = XMLTreeElement(qname: a.qname, prefix: a.prefix, local: a.local, uri: a.uri, scope: d.scope,
                                       startTag: [], attributes: [], selfClosing: false)
                e.children = [.text(a.value)]
                return e
            }
        }
        return nil
    }

    /// The array container (rdf:Alt, rdf:Bag or rdf:Seq) that is the property's only element child.
    static func container(_ property: XMLTreeElement) -> XMLTreeElement? {
        let kids = property.elementChildren
        guard kids.count == 1, property.hasOnlyWhitespaceText, let c = kids.first, c.uri == rdfNS,
              ["Alt", "Bag", "Seq"].contains(c.local) else { return nil }
        return c
    }

    static func items(_ container: XMLTreeElement) -> [XMLTreeElement] {
        container.elementChildren.filter { $0.is(rdfNS, "li") }
    }

    static func isDefaultLanguage(_ li: XMLTreeElement) -> Bool {
        li.attribute(XMLNamespace.xml, "lang")?.value.lowercased() == "x-default"
    }

    static func langAltValue(_ property: XMLTreeElement) -> String {
        guard let c = container(property) else { return property.text }
        let lis = items(c)
        return (lis.first(where: isDefaultLanguage) ?? lis.first)?.text ?? ""
    }

    static func listValues(_ property: XMLTreeElement) -> [String] {
        guard let c = container(property) else {
            let t = property.text
            return t.isEmpty ? [] : [t]
        }
        return items(c).map(\.text)
    }

    static func unique(_ values: [String], excluding existing: [String]) -> [String] {
        var seen = Set(existing)
        return values.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    // MARK: - Editing

    enum Value {
        case langAlt(String)
        case bag([String])
    }

    /// The whitespace that starts the line `node` sits on (the tail of the text node before it).
    static func indent(before index: Int, in parent: XMLTreeElement) -> String? {
        guard index > 0, case .text(_, let v) = parent.children[index - 1], v.allSatisfy(\.isWhitespace) else { return nil }
        if let nl = v.lastIndex(of: "\n") { return String(v[v.index(after: nl)...]) }
        return nil
    }

    static func indent(of element: XMLTreeElement, in parent: XMLTreeElement) -> String {
        guard let k = parent.children.firstIndex(where: { if case .element(let e) = $0 { return e === element } else { return false } })
        else { return "  " }
        return indent(before: k, in: parent) ?? "  "
    }

    static func qname(_ prefix: String, _ local: String) -> String { prefix.isEmpty ? local : prefix + ":" + local }

    static func liXML(_ rdf: String, _ value: String, lang: Bool) -> String {
        let li = qname(rdf, "li")
        return "<\(li)\(lang ? " xml:lang=\"x-default\"" : "")>\(XMLEscape.text(value))</\(li)>"
    }

    /// The content of a property element holding `value`, indented one step below `indent`.
    static func valueXML(_ value: Value, rdf: String, indent: String) -> String {
        let (kind, lis): (String, [String])
        switch value {
        case .langAlt(let s): (kind, lis) = ("Alt", [liXML(rdf, s, lang: true)])
        case .bag(let ks): (kind, lis) = ("Bag", ks.map { liXML(rdf, $0, lang: false) })
        }
        let c = qname(rdf, kind)
        var s = "\n\(indent) <\(c)>"
        for li in lis { s += "\n\(indent)  " + li }
        return s + "\n\(indent) </\(c)>\n\(indent)"
    }

    /// Replaces the property's content with `value` (keeps its start tag less any non-namespace attributes).
    static func replaceContent(_ property: XMLTreeElement, with value: Value, indent: String) {
        while let k = property.attributes.firstIndex(where: { !$0.isNamespaceDeclaration }) { property.removeAttribute(at: k) }
        let rdf = property.prefix(for: rdfNS) ?? "rdf"
        property.children = [.other(Array(valueXML(value, rdf: rdf, indent: indent).utf8))]
    }

    /// Sets the x-default value of an existing language alternative `{ns}local`; false when absent.
    static func setLangAlt(_ ns: String, _ local: String, _ value: String, in descriptions: [XMLTreeElement]) -> Bool {
        for d in descriptions {
            while let k = d.attributes.firstIndex(where: { $0.uri == ns && $0.local == local }) { d.removeAttribute(at: k) }
        }
        for d in descriptions {
            guard let p = d.elementChildren.first(where: { $0.is(ns, local) }) else { continue }
            if let c = container(p), c.local == "Alt" {
                let lis = items(c)
                if let li = lis.first(where: isDefaultLanguage) {
                    li.children = [.text(value)]
                    return true
                }
                if let first = lis.first, let k = c.children.firstIndex(where: { if case .element(let e) = $0 { return e === first } else { return false } }) {
                    // x-default goes first (XMP Part 1, 8.2.2.4); the other languages stay.
                    let rdf = c.prefix(for: rdfNS) ?? "rdf"
                    let ws = indent(before: k, in: c).map { "\n" + $0 } ?? ""
                    c.children.insert(.other(Array((liXML(rdf, value, lang: true) + ws).utf8)), at: k)
                    return true
                }
            }
            replaceContent(p, with: .langAlt(value), indent: indent(of: p, in: d))
            return true
        }
        return false
    }

    /// Adds keywords after the existing items of dc:subject (turning a single value into a Bag).
    static func appendToBag(_ property: XMLTreeElement, _ add: [String], existing: [String]) {
        if let c = container(property), c.local != "Alt", let last = items(c).last,
           let k = c.children.lastIndex(where: { if case .element(let e) = $0 { return e === last } else { return false } }) {
            let rdf = c.prefix(for: rdfNS) ?? "rdf"
            let ws = indent(before: k, in: c).map { "\n" + $0 } ?? ""
            let xml = add.map { ws + liXML(rdf, $0, lang: false) }.joined()
            c.children.insert(.other(Array(xml.utf8)), at: k + 1)
            return
        }
        guard !property.startTag.isEmpty, let d = property.parent else { return }
        replaceContent(property, with: .bag(existing + add), indent: indent(of: property, in: d))
    }

    /// Appends an rdf:Description holding the missing properties to rdf:RDF, after the last existing one.
    static func addDescription(_ props: [(ns: String, local: String, value: Value)], to rdf: XMLTreeElement,
                               after descriptions: [XMLTreeElement]) {
        var firstIndent = " "
        if let first = descriptions.first { firstIndent = indent(of: first, in: rdf) }
        else if let parent = rdf.parent { firstIndent = indent(of: rdf, in: parent) + " " }
        let ind = firstIndent
        // Prefixes: rdf, dc, Iptc4xmpCore, declared here unless already bound to the right URI.
        let about = descriptions.first?.attribute(rdfNS, "about")?.value ?? ""
        var decls = ""
        for (p, ns) in [("rdf", rdfNS), ("dc", dcNS), ("Iptc4xmpCore", iptcCoreNS)] {
            let used = p == "rdf" || props.contains { $0.ns == ns }
            if used && rdf.scope[p] != ns { decls += "\n\(ind)  xmlns:\(p)=\"\(ns)\"" }
        }
        var xml = "<rdf:Description rdf:about=\"\(XMLEscape.attribute(about))\"\(decls)>"
        for p in props {
            let q = qname(p.ns == dcNS ? "dc" : "Iptc4xmpCore", p.local)
            xml += "\n\(ind) <\(q)>" + valueXML(p.value, rdf: "rdf", indent: ind + " ") + "</\(q)>"
        }
        xml += "\n\(ind)</rdf:Description>"
        let insertAt: Int
        if let last = descriptions.last,
           let k = rdf.children.lastIndex(where: { if case .element(let e) = $0 { return e === last } else { return false } }) {
            insertAt = k + 1
        } else {
            insertAt = 0
        }
        rdf.children.insert(.other(Array(("\n" + ind + xml).utf8)), at: insertAt)
        if rdf.selfClosing && rdf.children.count == 1, let parent = rdf.parent {
            rdf.children.append(.other(Array(("\n" + indent(of: rdf, in: parent)).utf8)))
        }
    }

    // MARK: - Atomic replace

    static func atomicWrite(_ data: Data, to url: URL, mode: mode_t?, name: String) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw XMPSidecarError.cannotWrite(file: name, reason: "create \(tmp.path): \(errnoText())") }
        var ok = false
        defer {
            if !ok { unlink(tmp.path) }
        }
        do {
            defer { close(fd) }
            if let m = mode, fchmod(fd, m) != 0 {
                throw XMPSidecarError.cannotWrite(file: name, reason: "chmod: \(errnoText())")
            }
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var off = 0
                while off < raw.count {
                    let n = posixWrite(fd, raw.baseAddress! + off, raw.count - off)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw XMPSidecarError.cannotWrite(file: name, reason: "write: \(errnoText())")
                    }
                    off += n
                }
            }
            guard fsync(fd) == 0 else { throw XMPSidecarError.cannotWrite(file: name, reason: "fsync: \(errnoText())") }
        }
        guard rename(tmp.path, url.path) == 0 else {
            throw XMPSidecarError.cannotWrite(file: name, reason: "rename: \(errnoText())")
        }
        ok = true
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

#if canImport(Glibc) || canImport(Darwin)
@inline(__always) private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
#endif
