// `POST /mcp`: Hob's MCP tools (HobMCP) over streamable HTTP, for agents that reach the daemon
// over the network. Stateless: each POST carries one JSON-RPC message and gets one JSON answer
// (or 202 for a notification), from a server made for that request. No session to keep, and
// nothing long-lived to hold up a shutdown; the tools need no server-to-client messages.
// GET (the optional event stream) and DELETE (session end) answer 405, as the spec allows.
//
// The tools act as the request's token, through this daemon's own API on its listening address:
// every call they make is checked against that token and audited, exactly like a client's, so
// the MCP route adds no path around the access rules (docs/MCP.md).
import Foundation
import HTTPTypes
import HobAPI
import HobAccess
import HobClient
import HobCore
import HobMCP
import Hummingbird
import NIOCore

struct MCPRoute {
    /// Where the tools reach the API: this daemon's listener, by loopback when it listens on all addresses.
    let apiURL: String
    /// Largest message accepted: write_file content of a few MiB, base64-encoded.
    static let maxBody = 16 << 20

    init(listenHost: String, port: Int) {
        let host =
            switch listenHost {
            case "0.0.0.0", "": "127.0.0.1"
            case "::": "::1"
            default: listenHost
            }
        apiURL = host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
    }

    func register(on router: Router<APIRequestContext>) {
        router.post("/mcp") { request, _ in try await answer(request) }
        router.get("/mcp") { _, _ in notAllowed() }
        router.delete("/mcp") { _, _ in notAllowed() }
    }

    func answer(_ request: Request) async throws -> Response {
        // A page on another site must not drive the tools through a browser. (A DNS-rebinding page
        // passes this check, since its Origin and Host agree: the token is what keeps it out.)
        if let origin = request.headers[.origin], !Self.isSameOrigin(origin, host: request.head.authority) {
            throw HobError(.permissionDenied, "MCP requests from origin \(origin) are refused")
        }
        guard let header = request.headers[.authorization], let token = TokenAuthority.credential(inAuthorization: header) else {
            throw HobError(.unauthorized, "missing Authorization header; send `Authorization: Bearer <token>`")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBody)
        } catch is NIOTooManyBytesError {
            throw HobError(.tooLarge, "an MCP message may be at most \(Self.maxBody >> 20) MiB")
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let client = HobClient(endpoint: HobEndpoint(baseURL: apiURL, token: token))
        let exchange = await HobMCP.answer(post: Data(body.readableBytesView), headers: headers, client: client)
        var fields = HTTPFields()
        for (name, value) in exchange.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(
            status: HTTPResponse.Status(code: exchange.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: exchange.body)))
    }

    func notAllowed() -> Response {
        let body = #"{"jsonrpc":"2.0","error":{"code":-32000,"message":"this server is stateless: POST one JSON-RPC message to /mcp"},"id":null}"#
        return Response(
            status: .methodNotAllowed, headers: [.allow: "POST", .contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// Whether an `Origin` (scheme://host[:port]) names the host the request was sent to.
    static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let schemeEnd = origin.range(of: "://") else { return false }
        return origin[schemeEnd.upperBound...].lowercased() == host.lowercased()
    }
}
