import Foundation

/// Errors reading reference or caption files.
public enum CaptionFileError: Error, CustomStringConvertible, Equatable {
    case missing(String)
    case unreadable(String, String)
    case malformedJSON(String, String)
    case unexpectedShape(String, String)
    case noReferences(String)
    case unknownImages(String, [String])
    case missingCaptions(String, [String])
    /// The comparison file (`eval --compare`) lacks images the scored captions have.
    case comparisonMissingImages(String, [String])

    public var description: String {
        switch self {
        case .missing(let p): return "\(p): file not found"
        case .unreadable(let p, let why): return "\(p): cannot read (\(why))"
        case .malformedJSON(let p, let why): return "\(p): malformed JSON (\(why))"
        case .unexpectedShape(let p, let why): return "\(p): \(why)"
        case .noReferences(let p): return "\(p): no images with reference captions"
        case .unknownImages(let p, let names):
            return "\(p): \(names.count) caption(s) for images not in the references, e.g. \(names.prefix(5).joined(separator: ", "))"
        case .missingCaptions(let p, let names):
            return "\(p): no caption for \(names.count) reference image(s), e.g. \(names.prefix(5).joined(separator: ", "))"
        case .comparisonMissingImages(let p, let names):
            let more = names.count > 20 ? ", … (\(names.count - 20) more)" : ""
            return "\(p): no caption for \(names.count) image(s) that the compared captions have: \(names.prefix(20).joined(separator: ", "))\(more)"
        }
    }
}

/// Reference captions per image file name.
public struct ReferenceSet: Sendable {
    /// Image file names, sorted (the scoring order).
    public var imageNames: [String]
    /// file name → its reference captions.
    public var captions: [String: [String]]

    public init(captions: [String: [String]]) {
        self.captions = captions
        self.imageNames = captions.keys.sorted()
    }

    /// Reads either `{"file.jpg": ["caption", ...], ...}` (../shared/eval/coco-dev/references.json)
    /// or COCO's caption annotation JSON (`images` with `id`/`file_name`, `annotations` with
    /// `image_id`/`caption`; captions kept in annotation order).
    public static func load(_ url: URL) throws -> ReferenceSet {
        let obj = try readJSON(url)
        guard let dict = obj as? [String: Any] else {
            throw CaptionFileError.unexpectedShape(url.path, "expected a JSON object at the top level")
        }
        var out: [String: [String]] = [:]
        if let images = dict["images"] as? [Any], let anns = dict["annotations"] as? [Any] {
            var names: [Int: String] = [:]
            for (k, im) in images.enumerated() {
                guard let im = im as? [String: Any], let id = (im["id"] as? NSNumber)?.intValue,
                      let name = im["file_name"] as? String else {
                    throw CaptionFileError.unexpectedShape(url.path, "images[\(k)] needs an integer id and a file_name")
                }
                names[id] = name
            }
            for (k, a) in anns.enumerated() {
                guard let a = a as? [String: Any], let id = (a["image_id"] as? NSNumber)?.intValue,
                      let cap = a["caption"] as? String else {
                    throw CaptionFileError.unexpectedShape(url.path, "annotations[\(k)] needs an integer image_id and a caption")
                }
                guard let name = names[id] else {
                    throw CaptionFileError.unexpectedShape(url.path, "annotations[\(k)] refers to image id \(id), which is not in images")
                }
                out[name, default: []].append(cap)
            }
        } else {
            for (name, v) in dict {
                guard let caps = v as? [Any], caps.allSatisfy({ $0 is String }), let strings = caps as? [String] else {
                    throw CaptionFileError.unexpectedShape(url.path, "value for \"\(name)\" must be a list of caption strings (or use COCO annotation JSON)")
                }
                if !strings.isEmpty { out[name] = strings }
            }
        }
        if out.isEmpty { throw CaptionFileError.noReferences(url.path) }
        return ReferenceSet(captions: out)
    }
}

/// Reads `{"file.jpg": "caption", ...}`.
public func loadCaptions(_ url: URL) throws -> [String: String] {
    let obj = try readJSON(url)
    guard let dict = obj as? [String: Any] else {
        throw CaptionFileError.unexpectedShape(url.path, "expected a JSON object mapping image file name to caption")
    }
    var out: [String: String] = [:]
    for (k, v) in dict {
        guard let s = v as? String else {
            throw CaptionFileError.unexpectedShape(url.path, "caption for \"\(k)\" must be a string")
        }
        out[k] = s
    }
    return out
}

/// Reads the captions of a system to compare against: either `{"file.jpg": "caption", ...}` or a
/// results.json written by `swiftcap eval` (its `"images"` array of objects with `"file"` and `"caption"`).
public func loadCaptionsOrResults(_ url: URL) throws -> [String: String] {
    let obj = try readJSON(url)
    guard let dict = obj as? [String: Any] else {
        throw CaptionFileError.unexpectedShape(url.path, "expected a JSON object mapping image file name to caption, or an eval results.json")
    }
    if let images = dict["images"] as? [Any] {
        var out: [String: String] = [:]
        for (k, item) in images.enumerated() {
            guard let row = item as? [String: Any], let file = row["file"] as? String, let caption = row["caption"] as? String else {
                throw CaptionFileError.unexpectedShape(url.path, "images[\(k)] needs a string \"file\" and a string \"caption\" (results.json form)")
            }
            out[file] = caption
        }
        return out
    }
    return try loadCaptions(url)
}

/// The captions of a compared system for `names` (in that order). Every name must be present;
/// captions for other images are ignored. Throws `.comparisonMissingImages` naming the missing files.
public func alignComparison(_ captions: [String: String], names: [String], comparisonPath: String) throws -> [String] {
    let missing = names.filter { captions[$0] == nil }
    if !missing.isEmpty { throw CaptionFileError.comparisonMissingImages(comparisonPath, missing) }
    return names.map { captions[$0] ?? "" }
}

func readJSON(_ url: URL) throws -> Any {
    guard FileManager.default.fileExists(atPath: url.path) else { throw CaptionFileError.missing(url.path) }
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw CaptionFileError.unreadable(url.path, error.localizedDescription) }
    do {
        return try JSONSerialization.jsonObject(with: data, options: [])
    } catch {
        let ns = error as NSError
        let detail = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        throw CaptionFileError.malformedJSON(url.path, detail)
    }
}

/// Pairs captions with references: every captioned image must be in the references and every
/// reference image must have a caption. Returns (names, candidates, references) in sorted name order.
public func alignCaptions(_ captions: [String: String], with refs: ReferenceSet, captionsPath: String)
    throws -> (names: [String], candidates: [String], references: [[String]]) {
    let unknown = captions.keys.filter { refs.captions[$0] == nil }.sorted()
    if !unknown.isEmpty { throw CaptionFileError.unknownImages(captionsPath, unknown) }
    let missing = refs.imageNames.filter { captions[$0] == nil }
    if !missing.isEmpty { throw CaptionFileError.missingCaptions(captionsPath, missing) }
    let names = refs.imageNames
    return (names, names.map { captions[$0] ?? "" }, names.map { refs.captions[$0] ?? [] })
}
