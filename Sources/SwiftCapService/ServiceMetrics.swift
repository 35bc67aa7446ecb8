import CoreMetrics
import Dispatch
import Metrics
import Prometheus

/// The service's metrics: swift-metrics instruments over one Prometheus registry that this server owns
/// (no global `MetricsSystem` bootstrap, so several servers can live in one process, as the tests do).
///
/// - `swiftcap_http_requests_total{route,method,status}`: requests answered, by status.
/// - `swiftcap_http_request_duration_seconds{route,method,status}`: latency histogram.
/// - `swiftcap_stage_duration_seconds{stage}`: queue, decode, detector, classifier, decoder.
/// - `swiftcap_queue_depth`, `swiftcap_workers_busy`, `swiftcap_http_in_flight`: gauges.
/// - `swiftcap_rejections_total{reason}`: queue_full, timeout, shutting_down, not_ready.
/// - `swiftcap_photos_total{result}`: photos captioned ("ok") or failed ("error").
public struct ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let queueDepth: Metrics.Gauge
    let workersBusy: Metrics.Gauge
    let inFlight: Metrics.Meter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        let fine: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(75),
                                .milliseconds(100), .milliseconds(150), .milliseconds(250), .milliseconds(500), .milliseconds(750), .seconds(1),
                                .milliseconds(1500), .seconds(2), .milliseconds(3000), .seconds(5), .seconds(10), .seconds(30)]
        factory.defaultDurationHistogramBuckets = fine
        self.factory = factory
        queueDepth = Metrics.Gauge(label: "swiftcap_queue_depth", dimensions: [], factory: factory)
        workersBusy = Metrics.Gauge(label: "swiftcap_workers_busy", dimensions: [], factory: factory)
        inFlight = Metrics.Meter(label: "swiftcap_http_in_flight", dimensions: [], factory: factory)
        queueDepth.record(0)
        workersBusy.record(0)
        inFlight.set(0)
    }

    func request(route: String, method: String, status: Int, nanoseconds: UInt64) {
        Metrics.Counter(label: "swiftcap_http_requests_total",
                dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory).increment()
        Metrics.Timer(label: "swiftcap_http_request_duration_seconds",
                      dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory)
            .recordNanoseconds(Int64(clamping: nanoseconds))
    }

    func stage(_ name: String, milliseconds: Double) {
        Metrics.Timer(label: "swiftcap_stage_duration_seconds", dimensions: [("stage", name)], factory: factory)
            .recordNanoseconds(Int64(max(0, milliseconds) * 1e6))
    }

    func rejection(_ reason: String) {
        Metrics.Counter(label: "swiftcap_rejections_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    func photo(ok: Bool) {
        Metrics.Counter(label: "swiftcap_photos_total", dimensions: [("result", ok ? "ok" : "error")], factory: factory).increment()
    }

    func pool(depth: Int, busy: Int) {
        queueDepth.record(depth)
        workersBusy.record(busy)
    }

    /// The Prometheus text exposition.
    public func exposition() -> String { registry.emitToString() }
}
