import Dispatch
import Foundation
import Hummingbird
import Logging
import SwiftCapImage
import SwiftCapPipelines

/// `POST /v1/captions`: one photo as the raw body (image/jpeg, image/png) or several as multipart/form-data.
struct CaptionController<Context: RequestContext>: Sendable {
    let engine: CaptionEngine
    let pool: WorkerPool
    let metrics: ServiceMetrics
    let configuration: ServeConfiguration

    static var photoTypes: Set<String> { ["image/jpeg", "image/png"] }

    func addRoutes(to group: RouterGroup<Context>) {
        group.post("captions", use: caption)
    }

    @Sendable func caption(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let (options, mediaType, captioner) = try checkBeforeReading(request)
        let contentType = request.headers[.contentType]
        let limit = configuration.maxBodyBytes
        let body: Data
        do {
            body = Data(try await request.body.collect(upTo: limit).readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            var tooLarge = ServiceError.bodyTooLarge(limit: limit)
            tooLarge.extraHeaders[.connection] = "close"  // the rest of the upload is not read
            throw tooLarge
        }
        guard !body.isEmpty else { throw ServiceError.badRequest("the request body is empty; send a JPEG or PNG photo") }

        if mediaType != "multipart/form-data" {
            let result = try await captionOne(body, name: "photo", captioner: captioner, options: options)
            return try json(result)
        }
        guard let boundary = contentType.flatMap(Multipart.boundary(fromContentType:)) else {
            throw ServiceError.badRequest("multipart/form-data needs a boundary parameter")
        }
        let parts = try Multipart.parse(body, boundary: boundary)
        let photos = parts.filter { $0.filename != nil || $0.contentType.map(Self.photoTypes.contains) == true }
        guard !photos.isEmpty else { throw ServiceError.badRequest("the multipart body holds no photo part (a part with a filename)") }
        for p in photos {
            let type = p.contentType ?? "application/octet-stream"
            guard Self.photoTypes.contains(type) || type == "application/octet-stream" else {
                throw ServiceError.unsupportedMediaType("\(type.prefix(80)) (part \(p.filename?.prefix(80) ?? "?"))")
            }
        }
        let results = try await withThrowingTaskGroup(of: (Int, CaptionResponse).self) { group in
            for (i, p) in photos.enumerated() {
                let name = Self.safeName(p.filename ?? "photo \(i + 1)")
                group.addTask {
                    var r = try await captionOne(p.data, name: name, captioner: captioner, options: options)
                    r.filename = name
                    return (i, r)
                }
            }
            var out = [CaptionResponse?](repeating: nil, count: photos.count)
            for try await (i, r) in group { out[i] = r }
            return out.compactMap { $0 }
        }
        return try json(MultiCaptionResponse(results: results, model: engine.modelID))
    }

    /// Everything decided from the head alone, before the body is read. A request refused here that still has
    /// its body coming is answered with `Connection: close`: `CloseAfterResponseHandler` then ends the
    /// connection without receiving the upload (on overload above all, where reading rejected uploads in full
    /// cost the accepted ones their CPU).
    private func checkBeforeReading(_ request: Request) throws -> (CaptionRequestOptions, String, ServedCaptioner) {
        do {
            let query = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
            let options = try CaptionRequestOptions.parse(query, loadedDecoder: engine.decoderName)
            let contentType = request.headers[.contentType]
            let mediaType = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let mediaType, Self.photoTypes.contains(mediaType) || mediaType == "multipart/form-data" else {
                throw ServiceError.unsupportedMediaType(contentType.map { String($0.prefix(80)) })
            }
            let limit = configuration.maxBodyBytes
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
                throw ServiceError.bodyTooLarge(limit: limit)
            }
            guard let captioner = engine.captioner else {
                metrics.rejection("not_ready")
                throw ServiceError.notReady()
            }
            try options.check(against: captioner, decoderName: engine.decoderName)
            // Overload is answered before the body is read (the pool re-checks when the photo is submitted).
            if pool.isFull {
                metrics.rejection("queue_full")
                throw ServiceError.queueFull(depth: pool.capacity)
            }
            return (options, mediaType, captioner)
        } catch var error as ServiceError {
            let length = request.headers[.contentLength].flatMap { Int($0) }
            if length.map({ $0 > 0 }) ?? (request.headers[.transferEncoding] != nil) {
                error.extraHeaders[.connection] = "close"
            }
            throw error
        }
    }

    private func captionOne(_ data: Data, name: String, captioner: ServedCaptioner, options: CaptionRequestOptions) async throws -> CaptionResponse {
        let accepted = DispatchTime.now().uptimeNanoseconds
        let decoder = ImageDecoder(options: engine.decodeOptions)
        let modelID = engine.modelID
        do {
            let r = try await pool.run(timeout: configuration.timeoutSeconds) { device in
                let queued = Double(DispatchTime.now().uptimeNanoseconds - accepted) / 1e6
                return try CaptionEngine.caption(data, name: name, captioner: captioner, decoder: decoder, device: device,
                                                 options: options, modelID: modelID, queuedMilliseconds: queued)
            }
            for (stage, ms) in r.timings_ms where stage != "total" {
                metrics.stage(stage, milliseconds: ms)
            }
            metrics.photo(ok: true)
            return r
        } catch let error as ServiceError {
            switch error.code {
            case "queue_full": metrics.rejection("queue_full")
            case "timeout": metrics.rejection("timeout")
            case "shutting_down": metrics.rejection("shutting_down")
            default: metrics.photo(ok: false)
            }
            throw error
        } catch {
            metrics.photo(ok: false)
            throw ServiceError(.unprocessableContent, code: "caption_failed", "\(name): \(error)")
        }
    }

    /// A file name fit for messages and JSON: printable, at most 100 characters.
    static func safeName(_ s: String) -> String {
        String(String(s.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }).prefix(100))
    }
}


func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
