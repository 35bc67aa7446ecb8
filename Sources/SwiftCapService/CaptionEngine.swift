import Dispatch
import Foundation
import SwiftCapImage
import SwiftCapPipelines
import SwiftCapTensor

/// Options of one captioning request (query parameters of `POST /v1/captions`).
public struct CaptionRequestOptions: Sendable, Equatable {
    public var concepts = true
    public var boxes = false
    public init() {}

    /// Parses the query; unknown parameters, bad booleans and another decoder than the loaded one are 400.
    public static func parse(_ query: [(name: String, value: String)], loadedDecoder: String) throws -> CaptionRequestOptions {
        var o = CaptionRequestOptions()
        func bool(_ name: String, _ value: String) throws -> Bool {
            switch value.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: throw ServiceError.badRequest("query parameter \(name) must be true or false, got '\(value.prefix(40))'")
            }
        }
        for (name, value) in query {
            switch name {
            case "concepts": o.concepts = try bool(name, value)
            case "boxes": o.boxes = try bool(name, value)
            case "decoder":
                guard value == loadedDecoder else {
                    throw ServiceError.badRequest("decoder '\(value.prefix(40))' is not loaded; this server runs '\(loadedDecoder)' "
                                                  + "(start it with another decoder to use one)")
                }
            default:
                throw ServiceError.badRequest("unknown query parameter '\(name.prefix(40))'; accepted: decoder, concepts, boxes")
            }
        }
        return o
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
    public var keywords: [String]
    public var concepts: [Concept]?
    public var image: Size
    public var model: String
    /// queue, decode, detector, classifier, decoder, total (from acceptance to answer).
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
        case ready(DefaultCaptioner)
        case failed(String)
    }
    private let lock = NSLock()
    private var _state: State = .loading
    /// The id clients see in `model` and `GET /v1/models`.
    public let modelID = "default"
    /// The decoder the loaded captioner uses (the only value `decoder=` accepts).
    public let decoderName: String
    public let decodeOptions: ImageDecodeOptions

    public init(decoderName: String, maxPixels: Int) {
        self.decoderName = decoderName
        self.decodeOptions = ImageDecodeOptions(maxPixels: maxPixels)
    }

    public var state: State {
        lock.lock(); defer { lock.unlock() }
        return _state
    }

    public var captioner: DefaultCaptioner? {
        if case .ready(let c) = state { return c }
        return nil
    }

    /// Loads on a dedicated thread (model loading is blocking work) so the server answers meanwhile.
    public func load(_ loader: @escaping @Sendable () throws -> DefaultCaptioner, completion: @escaping @Sendable (State) -> Void = { _ in }) {
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
    public func setReady(_ captioner: DefaultCaptioner) {
        lock.lock(); _state = .ready(captioner); lock.unlock()
    }

    /// Decodes and captions one photo on the calling (worker) thread. Never keeps the bytes.
    static func caption(_ data: Data, name: String, captioner: DefaultCaptioner, decoder: ImageDecoder, device: Device,
                        options: CaptionRequestOptions, modelID: String, queuedMilliseconds: Double) throws -> CaptionResponse {
        let start = DispatchTime.now().uptimeNanoseconds
        let image: RGBImage
        do {
            image = try decoder.decode(data, name: name)
        } catch let error as ImageError {
            throw ServiceError.from(imageError: error)
        }
        let decodeMS = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
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
        ].mapValues { ($0 * 100).rounded() / 100 }
        return CaptionResponse(filename: nil, caption: out.caption,
                               keywords: DefaultBatchCaptioner.keywords(out, limit: 12),
                               concepts: concepts, image: .init(width: image.width, height: image.height),
                               model: modelID, timings_ms: timings)
    }
}
