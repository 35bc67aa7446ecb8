import Foundation

/// Errors reading caption data; each names the file.
public enum CorpusError: Error, CustomStringConvertible {
    case unreadable(URL, String)
    case malformed(URL, String)

    public var description: String {
        switch self {
        case .unreadable(let url, let why): return "cannot read \(url.path): \(why)"
        case .malformed(let url, let why): return "\(url.path) is not a COCO caption file: \(why)"
        }
    }
}

/// One human caption of one COCO image.
public struct CorpusCaption: Sendable {
    public var imageID: Int
    public var text: String
    public init(imageID: Int, text: String) {
        self.imageID = imageID
        self.text = text
    }
}

/// The COCO caption corpus restricted to a split (the Karpathy train split for training and retrieval).
public struct CaptionCorpus: Sendable {
    public var captions: [CorpusCaption]

    public init(captions: [CorpusCaption]) { self.captions = captions }

    /// Reads COCO caption annotation files (`captions_train2014.json`, `captions_val2014.json`) and keeps
    /// captions of images for which `keep(imageID)` is true.
    public static func load(annotationFiles: [URL], keep: (Int) -> Bool) throws -> CaptionCorpus {
        var out: [CorpusCaption] = []
        for url in annotationFiles {
            let data: Data
            do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
                throw CorpusError.unreadable(url, error.localizedDescription)
            }
            let root: Any
            do { root = try JSONSerialization.jsonObject(with: data) } catch {
                throw CorpusError.malformed(url, "invalid JSON (\(error.localizedDescription))")
            }
            guard let object = root as? [String: Any], let annotations = object["annotations"] as? [[String: Any]] else {
                throw CorpusError.malformed(url, "no \"annotations\" array")
            }
            for a in annotations {
                guard let id = (a["image_id"] as? NSNumber)?.intValue, let caption = a["caption"] as? String else {
                    throw CorpusError.malformed(url, "an annotation lacks image_id or caption")
                }
                if keep(id) { out.append(CorpusCaption(imageID: id, text: caption)) }
            }
        }
        return CaptionCorpus(captions: out)
    }

    /// Image ids listed in a Karpathy split file (`val2014/COCO_val2014_<id>.jpg <id>` per line).
    public static func karpathyImageIDs(_ url: URL) throws -> Set<Int> {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw CorpusError.unreadable(url, error.localizedDescription)
        }
        var ids = Set<Int>()
        for line in text.split(whereSeparator: \.isNewline) {
            guard let last = line.split(separator: " ").last, let id = Int(last) else {
                throw CorpusError.malformed(url, "line '\(line.prefix(80))' does not end in an image id")
            }
            ids.insert(id)
        }
        return ids
    }

    /// The Karpathy train split: every COCO-2014 caption whose image is in neither the Karpathy val
    /// nor the Karpathy test list (nor in `alsoExclude`).
    public static func karpathyTrain(captionsDirectory: URL, karpathyDirectory: URL,
                                     alsoExclude: Set<Int> = []) throws -> CaptionCorpus {
        let heldOut = try karpathyImageIDs(karpathyDirectory.appendingPathComponent("karpathy_val_images.txt"))
            .union(karpathyImageIDs(karpathyDirectory.appendingPathComponent("karpathy_test_images.txt")))
            .union(alsoExclude)
        return try load(annotationFiles: [captionsDirectory.appendingPathComponent("captions_train2014.json"),
                                          captionsDirectory.appendingPathComponent("captions_val2014.json")],
                        keep: { !heldOut.contains($0) })
    }

    /// A caption cleaned for display: trimmed, single spaces, first letter upper-case, no trailing period.
    public static func tidy(_ caption: String) -> String {
        var words = caption.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        while let last = words.last, last == "." || last == " " { words.removeLast() }
        guard let first = words.first else { return words }
        return first.uppercased() + words.dropFirst()
    }
}
