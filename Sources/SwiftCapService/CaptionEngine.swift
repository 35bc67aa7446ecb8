import Dispatch
import Foundation
import SwiftCapImage
import SwiftCapPipelines
import SwiftCapTensor

/// Options of one captioning request (query parameters of `POST /v1/captions`).
public struct CaptionRequestOptions: Sendable, Equatable {
    public var concepts = true
    public var boxes = false
    /// Beam width (1 = greedy); nil: the loaded captioner's setting.
    public var beams: Int?
    /// Most new tokens of the caption; nil: the loaded captioner's setting.
    public var maxTokens: Int?
    public init() {}

    /// Accepted `beams` values.
    public static let beamsRange = 1...16
    /// Accepted `max_tokens` values.
    public static let maxTokensRange = 1...128

    /// Parses the query; unknown parameters, bad booleans, integers out of range and another decoder than the
    /// loaded one are 400 (whether the loaded decoder has beams / a token limit is checked by `check(against:)`).
    public static func parse(_ query: [(name: String, value: String)], loadedDecoder: String) throws -> CaptionRequestOptions {
        var o = CaptionRequestOptions()
        func bool(_ name: String, _ value: String) throws -> Bool {
            switch value.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: throw ServiceError.badRequest("query parameter \(name) must be true or false, got '\(value.prefix(40))'")
            }
        }
        func integer(_ name: String, _ value: String, _ range: ClosedRange<Int>) throws -> Int {
            guard value.allSatisfy(\.isASCII), let n = Int(value), range.contains(n) else {
                throw ServiceError.badRequest("query parameter \(name) must be an integer from \(range.lowerBound) to \(range.upperBound), "
                                              + "got '\(value.prefix(40))'")
            }
            return n
        }
        for (name, value) in query {
            switch name {
            case "concepts": o.concepts = try bool(name, value)
            case "boxes": o.boxes = try bool(name, value)
            case "beams": o.beams = try integer(name, value, beamsRange)
            case "max_tokens": o.maxTokens = try integer(name, value, maxTokensRange)
            case "decoder":
                guard value == loadedDecoder else {
                    throw ServiceError.badRequest("decoder '\(value.prefix(40))' is not loaded; this server runs '\(loadedDecoder)' "
                                                  + "(start it with another decoder to use one)")
                }
            default:
                throw ServiceError.badRequest("unknown query parameter '\(name.prefix(40))'; accepted: decoder, concepts, boxes, beams, max_tokens")
            }
        }
        return o
    }

    /// 400 when `beams` or `max_tokens` was given but the loaded decoder has no such setting (rather than
    /// silently answering with a caption they did not shape).
    public func check(against captioner: ServedCaptioner, decoderName: String) throws {
        let has = captioner.decodingSettings
        if beams != nil && !has.beams {
            throw ServiceError.badRequest("query parameter beams does not apply: this server's '\(decoderName)' decoder "
                                          + (has.maxTokens ? "decodes greedily (no beam search)"
                                                           : "picks a caption from the datastore (no beam search)")
                                          + "; it applies to published captioners (serve --model / --arch) and the generative decoder")
        }
        if maxTokens != nil && !has.maxTokens {
            throw ServiceError.badRequest("query parameter max_tokens does not apply: this server's '\(decoderName)' decoder "
                                          + "picks a caption from the datastore (no token-by-token decoding); it applies to published "
                                          + "captioners (serve --model / --arch) and the generative and smollm2 decoders")
        }
    }
}

/// The captioner a server runs: the default pipeline (detector + classifier + a decoder), or a published
/// generative captioner (BLIP, SmallCap, ClipCap) loaded as `swiftcap caption --model/--arch` loads it.
/// Both are immutable and shared by every worker, each worker passing its own `Device`.
public enum ServedCaptioner: Sendable {
    case standard(DefaultCaptioner)
    case published(PublishedCaptioner)

    public var name: String {
        switch self {
        case .standard(let c): return c.name
        case .published(let c): return c.name
        }
    }

    /// Whether per-request `beams` / `max_tokens` apply.
    public var decodingSettings: (beams: Bool, maxTokens: Bool) {
        switch self {
        case .standard(let c): return c.decodingSettings
        case .published: return (true, true)
        }
    }
}

/// One photo's answer (the JSON body of `POST /v1/captions`).
public struct CaptionResponse: Codable, Sendable, Equatable {
    public struct BoxJSON: Codable, Sendable, Equatable {
        public var x0: Float, y0: Float, x1: Float, y1: Float
    }
    public struct Concept: Codable, Sendable, Equatable {
        public var name: String
        public var score: Float
        /// "object" (detector) or "label" (classifier, the whole photo).
        public var kind: String
        public var box: BoxJSON?
    }
    public struct Size: Codable, Sendable, Equatable {
        public var width: Int, height: Int
    }
    /// The multipart part's file name (multipart requests only).
    public var filename: String?
    public var caption: String
    /// New tokens generated (published captioners only: the end token included when produced; ≤ max_tokens).
    public var tokens: Int?
    public var keywords: [String]
    public var concepts: [Concept]?
    public var image: Size
    public var model: String
    /// queue, decode, then detector, classifier, decoder (default captioner) or encoder, decoder (published),
    /// and total (from acceptance to answer).
    public var timings_ms: [String: Double]
}

/// Several photos in one multipart request.
public struct MultiCaptionResponse: Codable, Sendable, Equatable {
    public var results: [CaptionResponse]
    public var model: String
}

/// The loaded captioner's state: loading until the models are in memory (`/readyz` answers 503 meanwhile).
public final class CaptionEngine: @unchecked Sendable {
    public enum State: Sendable {
        case loading
        case ready(ServedCaptioner)
        case failed(String)
    }
    private let lock = NSLock()
    private var _state: State = .loading
    /// The id clients see in `model` and `GET /v1/models`: "default", or the published model's name.
    public let modelID: String
    /// The decoder the server was started with (a published model's architecture may only be known once loaded).
    private let configuredDecoder: String
    public let decodeOptions: ImageDecodeOptions

    public init(modelID: String = "default", decoderName: String, maxPixels: Int) {
        self.modelID = modelID
        self.configuredDecoder = decoderName
        self.decodeOptions = ImageDecodeOptions(maxPixels: maxPixels)
    }

    public var state: State {
        lock.lock(); defer { lock.unlock() }
        return _state
    }

    /// The decoder the loaded captioner uses (the only value `decoder=` accepts): the default captioner's
    /// decoder kind, or the published architecture (blip, smallcap, clipcap) once it is loaded.
    public var decoderName: String {
        if case .published(let p)? = captioner { return p.arch.rawValue }
        return configuredDecoder
    }

    public var captioner: ServedCaptioner? {
        if case .ready(let c) = state { return c }
        return nil
    }

    /// Loads on a dedicated thread (model loading is blocking work) so the server answers meanwhile.
    public func load(_ loader: @escaping @Sendable () throws -> ServedCaptioner, completion: @escaping @Sendable (State) -> Void = { _ in }) {
        let thread = Thread { [self] in
            let new: State
            do { new = .ready(try loader()) } catch { new = .failed("\(error)") }
            lock.lock(); _state = new; lock.unlock()
            completion(new)
        }
        thread.name = "capmodel-load"
        thread.start()
    }

    /// Sets the state directly (a captioner loaded by the caller).
    public func setReady(_ captioner: ServedCaptioner) {
        lock.lock(); _state = .ready(captioner); lock.unlock()
    }

    public func setReady(_ captioner: DefaultCaptioner) { setReady(.standard(captioner)) }

    /// Decodes and captions one photo on the calling (worker) thread. Never keeps the bytes.
    static func caption(_ data: Data, name: String, captioner: ServedCaptioner, decoder: ImageDecoder, device: Device,
                        options: CaptionRequestOptions, modelID: String, queuedMilliseconds: Double) throws -> CaptionResponse {
        let start = DispatchTime.now().uptimeNanoseconds
        let image: RGBImage
        do {
            image = try decoder.decode(data, name: name)
        } catch let error as ImageError {
            throw ServiceError.from(imageError: error)
        }
        let decodeMS = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        func rounded(_ t: [String: Double]) -> [String: Double] { t.mapValues { ($0 * 100).rounded() / 100 } }
        switch captioner {
        case .published(let published):
            let out = try published.caption(image: image, beams: options.beams, maxTokens: options.maxTokens, device: device)
            let timings = ["queue": queuedMilliseconds, "decode": decodeMS, "encoder": out.encoderMilliseconds,
                           "decoder": out.decoderMilliseconds,
                           "total": queuedMilliseconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6]
            // A generative captioner has no detector: no keywords, no concepts (omitted), whatever concepts/boxes say.
            return CaptionResponse(filename: nil, caption: out.caption, tokens: out.tokens, keywords: [], concepts: nil,
                                   image: .init(width: image.width, height: image.height), model: modelID, timings_ms: rounded(timings))
        case .standard(let standard):
            let captioner = options.beams == nil && options.maxTokens == nil ? standard
                : standard.decoding(beams: options.beams, maxTokens: options.maxTokens)
            let out = try captioner.describe(image: image, device: device, decodeMilliseconds: decodeMS)
            var concepts: [CaptionResponse.Concept]? = nil
            if options.concepts {
                if let c = out.concepts {
                    var list: [CaptionResponse.Concept] = []
                    for o in c.objects {
                        for i in o.instances {
                            list.append(.init(name: o.word, score: i.score, kind: "object",
                                              box: options.boxes ? .init(x0: i.box.x0, y0: i.box.y0, x1: i.box.x1, y1: i.box.y1) : nil))
                        }
                    }
                    list += c.labels.map { .init(name: $0.word, score: $0.probability, kind: "label", box: nil) }
                    concepts = list
                } else {
                    concepts = out.evidence.map { .init(name: $0.name, score: $0.score, kind: $0.isLabel == true ? "label" : "object", box: nil) }
                }
            }
            let t = out.timings
            let timings: [String: Double] = [
                "queue": queuedMilliseconds, "decode": t.decode, "detector": t.detector, "classifier": t.classifier,
                "decoder": t.decoder, "total": queuedMilliseconds + t.total,
            ]
            return CaptionResponse(filename: nil, caption: out.caption, tokens: nil,
                                   keywords: DefaultBatchCaptioner.keywords(out, limit: 12),
                                   concepts: concepts, image: .init(width: image.width, height: image.height),
                                   model: modelID, timings_ms: rounded(timings))
        }
    }
}
