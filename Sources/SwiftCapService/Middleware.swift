import Dispatch
import Foundation
import Hummingbird
import Logging

/// Which methods each path answers, filled once from the router before the server starts: unknown paths
/// are 404, known paths with another method 405 (with `Allow`).
public final class RouteTable: @unchecked Sendable {
    public private(set) var methodsByPath: [String: [String]] = [:]
    public init() {}
    func fill(_ routes: [(path: String, method: String)]) {
        methodsByPath = [:]
        for r in routes { methodsByPath[r.path, default: []].append(r.method) }
    }
}

/// Outermost: one structured log line and the request metrics per request, whatever the outcome.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        metrics.inFlight.increment()
        defer { metrics.inFlight.decrement() }
        let status: Int
        let response: Response
        do {
            response = try await next(request, context)
            status = Int(response.status.code)
        } catch {
            status = (error as? any HTTPResponseError).map { Int($0.status.code) } ?? 500
            record(request, context: context, status: status, start: start)
            throw error
        }
        record(request, context: context, status: status, start: start)
        return response
    }

    private func record(_ request: Request, context: Context, status: Int, start: UInt64) {
        let ns = DispatchTime.now().uptimeNanoseconds - start
        let route = context.endpointPath ?? "unmatched"
        metrics.request(route: route, method: request.method.rawValue, status: status, nanoseconds: ns)
        // Never the body: method, path, status and time only.
        logger.log(level: status >= 500 ? .warning : .info, "request", metadata: [
            "method": .string(request.method.rawValue), "path": .string(String(request.uri.path.prefix(200))),
            "route": .string(route), "status": .stringConvertible(status),
            "duration_ms": .string(String(format: "%.1f", Double(ns) / 1e6)),
        ])
    }
}

/// Turns every error into the API's JSON error body; 404 becomes 405 where the path exists for other methods.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ServiceError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let path = request.uri.path
            if error.status == .notFound {
                if let allowed = routes.methodsByPath[path], !allowed.contains(request.method.rawValue) {
                    return try ServiceError.methodNotAllowed(request.method.rawValue, path: String(path.prefix(200)), allowed: allowed.sorted())
                        .response(from: request, context: context)
                }
                return try ServiceError.notFound(String(path.prefix(200))).response(from: request, context: context)
            }
            return try ServiceError(error.status, code: "http_\(error.status.code)", error.status.reasonPhrase)
                .response(from: request, context: context)
        } catch {
            logger.error("unexpected error", metadata: ["error": .string("\(type(of: error))")])
            return try ServiceError.internalError("internal error").response(from: request, context: context)
        }
    }
}

/// `Authorization: Bearer KEY` for the API routes when keys are configured.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let checker: APIKeyChecker

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard checker.isEnabled else { return try await next(request, context) }
        guard checker.accepts(authorization: request.headers[.authorization]) else { throw ServiceError.unauthorized() }
        return try await next(request, context)
    }
}
