// What every response gets: `Sprite-Version`, a request id, and errors as the Sprites error body.
// Who may make a call is decided in Access/AccessMiddleware.swift.
import Foundation
import HTTPTypes
import HobAPI
import HobCore
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

extension HTTPField.Name {
    static let spriteVersion = HTTPField.Name("Sprite-Version")!
    static let spriteCapabilities = HTTPField.Name("X-Sprite-Capabilities")!
}

/// Converts every error into the Sprites error body with the right status, and stamps
/// `Sprite-Version` and a new `Fly-Request-Id` on every response, errors and 404s included.
struct SpritesResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = RequestID.make()
        // Every line logged while answering names this request and its sprite (LogContext).
        return await LogContext.serving(request: id, sprite: LogContext.sprite(inPath: request.uri.path)) {
            var response: Response
            do {
                response = try await next(request, context)
            } catch {
                response = errorResponse(error, request: request)
            }
            response.headers[.spriteVersion] = spriteAPIVersion
            response.headers[.flyRequestID] = id
            return response
        }
    }

    func errorResponse(_ error: any Error, request: Request) -> Response {
        let (status, body) = APIError.map(error)
        if status == .internalServerError {
            logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
        }
        var response = jsonResponse(body, status: status)
        // A body the parser rejected leaves the connection's framing unknown: it ends here.
        if error is HTTPParserError { response.headers[.connection] = "close" }
        if let seconds = (error as? HobError)?.retryAfter { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}

enum APIError {
    /// The HTTP status and body for an error from anywhere below the API edge.
    static func map(_ error: any Error) -> (HTTPResponse.Status, APIErrorBody) {
        if let e = error as? HobError { return (status(e.code), APIErrorBody(error: e.code.description, message: e.message)) }
        // A malformed body (bad chunked framing), met while a route reads it: the client's mistake.
        if let e = error as? HTTPParserError { return (.badRequest, APIErrorBody(error: "bad_request", message: "malformed HTTP request (\(e))")) }
        if let e = error as? HTTPError {
            let code: String
            switch e.status {
            case .notFound: code = "not_found"
            case .contentTooLarge: code = "too_large"
            case .methodNotAllowed: code = "method_not_allowed"
            case .unauthorized: code = "unauthorized"
            default: code = e.status.code >= 500 ? "internal_error" : "bad_request"
            }
            let message = e.body ?? (e.status == .notFound ? "no such endpoint" : e.status.reasonPhrase)
            return (e.status, APIErrorBody(error: code, message: message))
        }
        return (.internalServerError, APIErrorBody(error: "internal_error", message: "\(error)"))
    }

    static func status(_ code: HobError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidArgument: return .badRequest
        case .notFound: return .notFound
        case .exists, .invalidState: return .conflict
        case .unauthorized: return .unauthorized
        case .permissionDenied: return .forbidden
        case .gone: return .gone
        case .tooLarge: return .contentTooLarge
        case .unavailable: return .serviceUnavailable
        case .unsupported: return .notImplemented
        case .insufficientStorage: return HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case .rateLimited: return .tooManyRequests
        case .resourceExhausted: return .conflict
        default: return .internalServerError
        }
    }
}

let jsonEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
}()

func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? jsonEncoder.encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Reads and decodes a JSON body, with the size cap and errors a client can act on.
func decodeBody<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 1 << 20) async throws -> T {
    guard let value = try await decodeBodyIfPresent(type, from: request, limit: limit) else {
        throw HobError(.invalidArgument, "request body must be a JSON object")
    }
    return value
}

/// Like decodeBody, but an empty body is nil.
func decodeBodyIfPresent<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 1 << 20) async throws -> T? {
    var request = request
    let buffer: ByteBuffer
    do {
        buffer = try await request.collectBody(upTo: limit)
    } catch is NIOTooManyBytesError {
        throw HobError(.tooLarge, "request body is larger than \(limit) bytes")
    }
    guard buffer.readableBytes > 0 else { return nil }
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch let DecodingError.keyNotFound(key, _) {
        throw HobError(.invalidArgument, "missing field \"\(key.stringValue)\"")
    } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
        let path = ctx.codingPath.map(\.stringValue).joined(separator: ".")
        throw HobError(.invalidArgument, "field \"\(path)\" has the wrong type")
    } catch {
        throw HobError(.invalidArgument, "request body is not valid JSON")
    }
}
