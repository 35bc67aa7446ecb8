import Foundation
import Hummingbird
import SwiftCapImage

/// Every error the service answers with, rendered as `{"error": {"code": ..., "message": ...}}`.
/// Handlers throw these; `ErrorMiddleware` turns any other error into a 500 without its details.
public struct ServiceError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    public var status: HTTPResponse.Status
    /// Stable machine-readable code ("queue_full", "pixel_limit", ...).
    public var code: String
    public var message: String
    /// Seconds for a `Retry-After` header (503).
    public var retryAfter: Int?
    /// Extra headers (`Allow` for 405, `WWW-Authenticate` for 401).
    public var extraHeaders: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    public var headers: HTTPFields {
        var h = extraHeaders
        h[.contentType] = "application/json; charset=utf-8"
        if let retryAfter { h[.retryAfter] = String(retryAfter) }
        return h
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = ErrorBody(error: .init(code: code, message: message))
        let data = (try? JSONEncoder().encode(body)) ?? Data(#"{"error":{"code":"internal","message":"?"}}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct ErrorBody: Codable {
        struct Detail: Codable { var code: String; var message: String }
        var error: Detail
    }

    // MARK: the errors the API documents

    public static func badRequest(_ message: String) -> ServiceError { ServiceError(.badRequest, code: "bad_request", message) }
    public static func unauthorized() -> ServiceError {
        var e = ServiceError(.unauthorized, code: "unauthorized", "missing or invalid API key (send `Authorization: Bearer KEY`)")
        e.extraHeaders[.wwwAuthenticate] = "Bearer"
        return e
    }
    public static func notFound(_ path: String) -> ServiceError { ServiceError(.notFound, code: "not_found", "no route \(path)") }
    public static func methodNotAllowed(_ method: String, path: String, allowed: [String]) -> ServiceError {
        var e = ServiceError(.methodNotAllowed, code: "method_not_allowed", "\(method) is not allowed on \(path); allowed: \(allowed.joined(separator: ", "))")
        e.extraHeaders[.allow] = allowed.joined(separator: ", ")
        return e
    }
    public static func bodyTooLarge(limit: Int) -> ServiceError {
        ServiceError(.contentTooLarge, code: "body_too_large", "request body is over the limit of \(limit) bytes")
    }
    public static func unsupportedMediaType(_ type: String?) -> ServiceError {
        ServiceError(.unsupportedMediaType, code: "unsupported_media_type",
                     "Content-Type \(type.map { "'\($0)'" } ?? "(none)") is not accepted; send image/jpeg, image/png or multipart/form-data")
    }
    public static func notReady() -> ServiceError {
        ServiceError(.serviceUnavailable, code: "not_ready", "the captioner is still loading", retryAfter: 2)
    }
    public static func queueFull(depth: Int) -> ServiceError {
        ServiceError(.serviceUnavailable, code: "queue_full", "all workers are busy and the queue (\(depth)) is full; retry later", retryAfter: 1)
    }
    public static func shuttingDown() -> ServiceError {
        ServiceError(.serviceUnavailable, code: "shutting_down", "the server is shutting down", retryAfter: 2)
    }
    public static func timeout(seconds: Double) -> ServiceError {
        ServiceError(.gatewayTimeout, code: "timeout", "the photo was not captioned within the deadline of \(seconds) s")
    }
    public static func internalError(_ message: String) -> ServiceError {
        ServiceError(.internalServerError, code: "internal", message)
    }

    /// Maps a decoding error to the API's status: a pixel count over the limit is 413, anything else that
    /// stops the photo from decoding is 422 (bytes that are not the JPEG or PNG their Content-Type says too:
    /// 415 is for the Content-Type itself). The message names the problem (never the bytes).
    public static func from(imageError error: ImageError) -> ServiceError {
        switch error {
        case .tooLarge, .outOfMemory:
            return ServiceError(.contentTooLarge, code: "pixel_limit", error.description)
        default:
            return ServiceError(.unprocessableContent, code: "undecodable_photo", error.description)
        }
    }
}
