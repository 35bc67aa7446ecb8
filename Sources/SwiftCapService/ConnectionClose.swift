import Hummingbird
// NIO's modules come with Hummingbird (HummingbirdCore's channel pipeline is built from them).
import NIOCore
import NIOHTTPTypes
import ServiceLifecycle

/// Ends a connection after a response that carries `Connection: close`, without reading what the client
/// still sends: a request answered before its body was read (503 on a full queue, 413 on its Content-Length,
/// 415, 400 on its query) would otherwise have its whole upload received and discarded by Hummingbird to keep
/// the connection alive. After the response the output is half-closed (the client reads the answer, then
/// end of stream) and no more bytes are read from the socket; the connection is closed for good once the
/// client has had `linger` to read the answer (closing at once could reset the connection before the answer
/// reaches the client).
final class CloseAfterResponseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let linger: TimeAmount
    private var closeAfterEnd = false
    private var lingering = false

    init(linger: TimeAmount = .seconds(2)) {
        self.linger = linger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }  // parts already buffered after the answer: dropped unread
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if lingering { return }  // no more reads from the socket
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.headerFields[.connection]?.lowercased() == "close" { closeAfterEnd = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            context.write(data, promise: promise)
            guard closeAfterEnd, !lingering else { return }
            closeAfterEnd = false
            lingering = true
            context.flush()
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            halfClosed.futureResult.whenFailure { _ in bound.value.close(promise: nil) }  // no half-close: close now
            context.close(mode: .output, promise: halfClosed)
            context.eventLoop.scheduleTask(in: linger) { bound.value.close(promise: nil) }
        }
    }
}

/// During graceful shutdown every response says `Connection: close`, so keep-alive clients open a new
/// connection (refused once the listener is closed) instead of sending their next request on a connection
/// the server is about to close, which they would see as a read error.
struct ShutdownConnectionCloseMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if Task.isShuttingDownGracefully { response.headers[.connection] = "close" }
        return response
    }
}
