import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import SwiftCapPipelines
import UnixSignals

/// `swiftcap serve`: the HTTP captioning service. Dependencies come in (configuration, engine, logger);
/// the server owns its worker pool and its metrics registry.
///
/// `run()` serves until SIGTERM/SIGINT (when `handleSignals`) or `shutdown()`: the listener closes, requests
/// in flight are answered, queued photos are captioned, then the workers stop and `run()` returns.
public final class CaptionServer: Sendable {
    public let configuration: ServeConfiguration
    public let engine: CaptionEngine
    public let metrics: ServiceMetrics
    let pool: WorkerPool
    let logger: Logger
    let routeTable = RouteTable()
    private let group: LockedBox<(group: ServiceGroup?, shutdownRequested: Bool)> = LockedBox((nil, false))
    private let listening: LockedBox<(port: Int?, waiters: [CheckedContinuation<Int, Never>])> = LockedBox((nil, []))

    public init(configuration: ServeConfiguration, engine: CaptionEngine, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.engine = engine
        self.logger = logger
        let metrics = ServiceMetrics()
        self.metrics = metrics
        pool = WorkerPool(workers: configuration.workers, threadsPerWorker: configuration.effectiveThreadsPerWorker,
                          capacity: configuration.queue) { depth, busy in metrics.pool(depth: depth, busy: busy) }
    }

    /// The worker pool (tests occupy it to see overload answered).
    public var workerPool: WorkerPool { pool }

    /// The router with every route and middleware (public so tests can list its routes).
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestLogMiddleware(metrics: metrics, logger: logger))
        router.add(middleware: ShutdownConnectionCloseMiddleware())
        if let origin = configuration.corsOrigin {
            router.add(middleware: CORSMiddleware(allowOrigin: .custom(origin), allowHeaders: [.accept, .authorization, .contentType],
                                                  allowMethods: [.get, .post, .options]))
        }
        router.add(middleware: ErrorMiddleware(routes: routeTable, logger: logger))
        let api = router.group("v1").add(middleware: APIKeyMiddleware(checker: APIKeyChecker(keys: configuration.apiKeys)))
        InfoController(engine: engine, metrics: metrics, pool: pool).addRoutes(to: router, api: api)
        CaptionController(engine: engine, pool: pool, metrics: metrics, configuration: configuration).addRoutes(to: api)
        routeTable.fill(router.routes.map { (path: $0.path.description, method: $0.method.rawValue) })
        return router
    }

    /// Serves until shut down; then drains the worker pool. Throws if the address cannot be bound.
    public func run(handleSignals: Bool = true) async throws {
        let router = makeRouter()
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [CloseAfterResponseHandler()])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "swiftcap"),
            onServerRunning: { [listening, logger, configuration] channel in
                let port = channel.localAddress?.port ?? configuration.port
                let waiters = listening.withLock { state -> [CheckedContinuation<Int, Never>] in
                    state.port = port
                    defer { state.waiters = [] }
                    return state.waiters
                }
                waiters.forEach { $0.resume(returning: port) }
                logger.info("listening", metadata: ["host": .string(configuration.host), "port": .stringConvertible(port),
                                                    "workers": .stringConvertible(configuration.workers),
                                                    "queue": .stringConvertible(configuration.queue)])
            },
            logger: logger)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let requested = group.withLock { state -> Bool in
            state.group = serviceGroup
            return state.shutdownRequested
        }
        if requested { await serviceGroup.triggerGracefulShutdown() }
        defer {
            logger.info("stopping workers", metadata: ["queued": .stringConvertible(pool.depth)])
            pool.shutdown()
            logger.info("stopped")
        }
        try await serviceGroup.run()
    }

    /// The port the server listens on, once it does.
    public func listeningPort() async -> Int {
        await withCheckedContinuation { continuation in
            let port = listening.withLock { state -> Int? in
                if state.port == nil { state.waiters.append(continuation) }
                return state.port
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    /// Graceful shutdown, as SIGTERM does.
    public func shutdown() async {
        let g = group.withLock { state -> ServiceGroup? in
            state.shutdownRequested = true
            return state.group
        }
        if let g { await g.triggerGracefulShutdown() }
    }
}

/// A value behind a lock.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}
