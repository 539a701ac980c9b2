// The answers the edge writes itself, before or instead of the router: malformed requests,
// timeouts, refused and malformed WebSocket upgrades. Each is final (`Connection: close`) and
// carries what every answer of the API does: the Sprites error body, `Sprite-Version` and a
// `Fly-Request-Id`.
import Foundation
import HTTPTypes
import HobAPI
import HobCore
import NIOCore
import NIOHTTP1

struct EdgeAnswer {
    let head: HTTPResponse
    let body: ByteBuffer

    init(status: HTTPResponse.Status, error code: String, message: String, extra: HTTPFields = [:]) {
        self.init(status: status, body: APIErrorBody(error: code, message: message), extra: extra)
    }

    init(status: HTTPResponse.Status, body: APIErrorBody, extra: HTTPFields = [:]) {
        let data = (try? jsonEncoder.encode(body)) ?? Data()
        var fields: HTTPFields = [
            .contentType: "application/json", .contentLength: String(data.count), .connection: "close",
            .spriteVersion: spriteAPIVersion, .flyRequestID: RequestID.make(),
        ]
        fields.append(contentsOf: extra)
        head = HTTPResponse(status: status, headerFields: fields)
        self.body = ByteBuffer(bytes: data)
    }

    /// A head or body that did not arrive in time (RFC 9110 §15.5.9).
    static func timeout() -> EdgeAnswer {
        EdgeAnswer(status: .requestTimeout, error: "request_timeout", message: "the request was not received in time")
    }

    /// The answer to a request that could not be parsed (RFC 9112: 400 and close; a head too
    /// large for the parser: 431, RFC 6585).
    static func malformed(_ error: any Error) -> EdgeAnswer {
        if let parser = error as? HTTPParserError, parser == .headerOverflow {
            return EdgeAnswer(
                status: HTTPResponse.Status(code: 431, reasonPhrase: "Request Header Fields Too Large"), error: "bad_request",
                message: "the request head is too large")
        }
        return EdgeAnswer(status: .badRequest, error: "bad_request", message: "malformed HTTP request (\(describe(error)))")
    }

    /// A refused upgrade, with the status and body its error maps to.
    static func refusal(_ error: any Error) -> EdgeAnswer {
        let (status, body) = APIError.map(error)
        var extra: HTTPFields = [:]
        if let seconds = (error as? HobError)?.retryAfter { extra[.retryAfter] = String(seconds) }
        return EdgeAnswer(status: status, body: body, extra: extra)
    }

    static func describe(_ error: any Error) -> String {
        if let parser = error as? HTTPParserError { return "\(parser)" }
        return String(describing: type(of: error))
    }
}

/// What the edge refuses in a request head that parsed (RFC 9112).
enum HeadCheck {
    /// Nil if the head may go to the router.
    static func refusal(_ head: HTTPRequest) -> EdgeAnswer? {
        let codings = head.headerFields[values: .transferEncoding].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let unknown = codings.first(where: { $0 != "chunked" }) {
            // §6.1: a transfer coding the server does not understand is 501.
            return EdgeAnswer(status: .notImplemented, error: "unsupported", message: "transfer coding \"\(unknown)\" is not supported")
        }
        if !codings.isEmpty && codings.last != "chunked" || codings.filter({ $0 == "chunked" }).count > 1 {
            // §6.3: chunked must be the final coding, and only once, or the body length is unknown.
            return EdgeAnswer(status: .badRequest, error: "bad_request", message: "chunked must be the final transfer coding, once")
        }
        return nil
    }

    /// Whether a request has a body (RFC 9112 §6.3): a Transfer-Encoding, or a Content-Length
    /// other than 0. Without either it has none.
    static func hasBody(_ head: HTTPRequest) -> Bool {
        if head.headerFields[.transferEncoding] != nil { return true }
        guard let length = head.headerFields[.contentLength] else { return false }
        return length.trimmingCharacters(in: .whitespaces) != "0"
    }
}
