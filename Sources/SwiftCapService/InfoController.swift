import Foundation
import Hummingbird

/// Health, readiness, models, metrics, the OpenAPI document and the web page.
struct InfoController<Context: RequestContext>: Sendable {
    let engine: CaptionEngine
    let metrics: ServiceMetrics
    let pool: WorkerPool

    struct ModelList: Codable {
        struct Model: Codable {
            var id: String
            var description: String
            var decoder: String
            var ready: Bool
        }
        var models: [Model]
    }

    struct Status: Codable {
        var status: String
        var message: String?
    }

    func addRoutes(to router: Router<Context>, api: RouterGroup<Context>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
        router.get("healthz") { _, _ in try json(Status(status: "ok")) }
        router.get("readyz") { _, _ in
            switch engine.state {
            case .ready: return try json(Status(status: "ready"))
            case .loading: throw ServiceError.notReady()
            case .failed(let message):
                throw ServiceError(.serviceUnavailable, code: "load_failed", "the captioner failed to load: \(message)", retryAfter: 60)
            }
        }
        router.get("metrics") { _, _ in
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
        api.get("models") { _, _ in
            let ready = engine.captioner != nil
            return try json(ModelList(models: [.init(id: engine.modelID, description: engine.captioner?.name ?? "default captioner (loading)",
                                                     decoder: engine.decoderName, ready: ready)]))
        }
    }
}
