// The URL proxy's rules that need no sockets: which sprite a request is for, what is refused
// before anything is connected, and how heads are rewritten on the way through. Unit-tested.
//
// The proxy must never become a way to reach anything but the sprite a Host names: it serves
// only origin-form targets ("/path?query") with exactly one Host of the form
// `<sprite>.<domain>[:port]`, and the connection it makes is always to the sprite's own
// loopback. Absolute-form and authority-form targets, CONNECT, a missing or repeated Host, and a
// Host naming another domain or an IP address are answered by Hob and go nowhere.
import Foundation
import HobCore
import NIOHTTP1

/// An answer Hob gives itself instead of forwarding: a refusal, an auth challenge, a redirect, or
/// a failure to reach the sprite. The body is a short text for a person.
struct URLAnswer: Sendable, Equatable {
    var status: HTTPResponseStatus
    var message: String
    var headers: HTTPHeaders = [:]
    /// Close the connection after this answer (the request cannot be followed by another).
    var close = false

    init(_ status: HTTPResponseStatus, _ message: String, headers: HTTPHeaders = [:], close: Bool = false) {
        self.status = status
        self.message = message
        self.headers = headers
        self.close = close
    }
}

enum URLRouting {
    enum Target: Sendable, Equatable {
        case sprite(String)
        case refused(URLAnswer)
    }

    /// The sprite `head` is for, or the answer that refuses it.
    static func target(of head: HTTPRequestHead, domain: String) -> Target {
        if head.method == .CONNECT {
            return .refused(URLAnswer(.methodNotAllowed, "CONNECT is not supported: this server forwards requests to sprites only.", close: true))
        }
        guard head.uri.hasPrefix("/") else {
            return .refused(URLAnswer(.badRequest, "The request target must be a path such as /index.html; this is not a forward proxy."))
        }
        let hosts = head.headers["host"]
        guard hosts.count == 1, let host = hosts.first else {
            let problem = hosts.isEmpty ? "has no Host header" : "has more than one Host header"
            return .refused(URLAnswer(.badRequest, "The request \(problem); send exactly one, such as Host: <sprite>.\(domain)."))
        }
        if let transferEncoding = head.headers["transfer-encoding"].first, transferEncoding.lowercased() != "chunked" {
            return .refused(URLAnswer(.notImplemented, "Only the chunked transfer coding is supported.", close: true))
        }
        guard let hostname = hostname(of: host) else {
            return .refused(URLAnswer(.badRequest, "The Host header \"\(host.prefix(200))\" is not a host name with an optional port."))
        }
        let suffix = "." + domain
        guard hostname.hasSuffix(suffix), hostname.utf8.count > suffix.utf8.count else {
            return .refused(URLAnswer(
                .misdirectedRequest, "This server serves sprite URLs only: <sprite>.\(domain), not \(hostname.prefix(200))."))
        }
        let name = String(hostname.dropLast(suffix.count))
        guard !name.contains("."), (try? SpriteName.validate(name)) != nil else {
            return .refused(URLAnswer(.notFound, "\(hostname.prefix(200)) names no sprite: sprite URLs are <sprite>.\(domain)."))
        }
        return .sprite(name)
    }

    /// The lowercased host name of a Host header value, without its port or a trailing dot; nil
    /// for a malformed value. IP literals come back as they are (and match no sprite domain,
    /// except a bracketed IPv6 literal, which is refused here).
    static func hostname(of host: String) -> String? {
        var name = Substring(host.lowercased())
        guard !name.hasPrefix("[") else { return nil }
        if let colon = name.lastIndex(of: ":") {
            let port = name[name.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCIIDigit) else { return nil }
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        let allowed = name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 46 }
        guard !name.isEmpty, allowed, !name.hasPrefix("."), !name.contains("..") else { return nil }
        return String(name)
    }
}

/// What the proxy must remember about a request to frame its response.
struct URLRequestFacts: Sendable {
    var method: HTTPMethod
    var version: HTTPVersion
    /// Closes after the response: HTTP/1.0, or `Connection: close`.
    var close: Bool
    /// The protocol asked for with `Upgrade` and `Connection: upgrade` (WebSocket), if any.
    var upgrade: String?
    /// The request announces a body (a length above zero, or chunked).
    var hasBody: Bool
    /// The Host's name (lowercased, no port): the only Domain a sprite's Set-Cookie may name.
    var host: String?

    init(_ head: HTTPRequestHead) {
        method = head.method
        version = head.version
        close = head.version != .http1_1 || URLHeaders.connectionTokens(head.headers).contains("close")
        upgrade = URLHeaders.upgrade(head)
        let length = head.headers["content-length"].first.flatMap { Int($0.trimmingCharacters(in: [" ", "\t"])) } ?? 0
        hasBody = length > 0 || head.headers.contains(name: "transfer-encoding")
        host = head.headers["host"].first.flatMap(URLRouting.hostname(of:))
    }

    /// The HTTP decoder stops after such a request (upgrade and CONNECT requests switch
    /// protocols), so a connection that does not switch must close after answering it.
    var endsParsing: Bool { upgrade != nil || method == .CONNECT }
}

enum URLHeaders {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1); the codecs frame
    /// bodies themselves.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade",
    ]

    /// The lowercased tokens of every Connection header.
    static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        Set(headers["connection"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: [" ", "\t"]).lowercased() })
    }

    /// The protocol a request asks to switch to: an Upgrade header with `upgrade` among the
    /// Connection tokens (the same test the HTTP parser applies).
    static func upgrade(_ head: HTTPRequestHead) -> String? {
        guard head.version == .http1_1, connectionTokens(head.headers).contains("upgrade"),
            let value = head.headers["upgrade"].first, !value.isEmpty
        else { return nil }
        return value
    }

    /// `headers` without hop-by-hop headers, including those the Connection header names.
    static func removingHopByHop(_ headers: HTTPHeaders) -> HTTPHeaders {
        let named = connectionTokens(headers)
        var kept = HTTPHeaders()
        for (name, value) in headers {
            let lower = name.lowercased()
            if !hopByHop.contains(lower) && !named.contains(lower) { kept.add(name: name, value: value) }
        }
        return kept
    }

    /// The request as the sprite gets it: hop-by-hop headers gone (the Upgrade pair kept when
    /// switching protocols), Hob's credential gone, framing re-declared for the codecs, and the
    /// X-Forwarded-* headers describing the client's side.
    static func forwardedRequest(
        _ head: HTTPRequestHead, facts: URLRequestFacts, removeAuthorization: Bool, clientAddress: String?, scheme: String
    ) -> HTTPRequestHead {
        var headers = removingHopByHop(head.headers)
        if let upgrade = facts.upgrade {
            headers.add(name: "Upgrade", value: upgrade)
            headers.add(name: "Connection", value: "Upgrade")
        }
        // The decoder took the chunks apart; the encoder puts them back together.
        if !head.headers.contains(name: "content-length"), head.headers.contains(name: "transfer-encoding") {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        if removeAuthorization { headers.remove(name: "authorization") }
        URLCookies.removeHobCookies(from: &headers)
        if let clientAddress {
            // Appended, as every proxy does: the last entry is the one Hob saw.
            let earlier = headers["x-forwarded-for"].joined(separator: ", ")
            headers.replaceOrAdd(name: "X-Forwarded-For", value: earlier.isEmpty ? clientAddress : "\(earlier), \(clientAddress)")
        }
        headers.replaceOrAdd(name: "X-Forwarded-Proto", value: scheme)
        if let host = head.headers["host"].first { headers.replaceOrAdd(name: "X-Forwarded-Host", value: host) }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
    }

    /// The sprite's final response as the client gets it (with the proxy's own `Fly-Request-Id`),
    /// and whether the connection must close after it. Bodies are re-framed: a length is kept, anything else is chunked for HTTP/1.1
    /// clients and ends with the connection for HTTP/1.0 ones. The sprite's cookies stay its own
    /// (URLCookies.filterSetCookies).
    static func forwardedResponse(_ head: HTTPResponseHead, to request: URLRequestFacts) -> (HTTPResponseHead, close: Bool) {
        var headers = removingHopByHop(head.headers)
        URLCookies.filterSetCookies(&headers, host: request.host)
        var close = request.close
        let bodyless = request.method == .HEAD || head.status == .noContent || head.status == .notModified
        if head.status == .noContent { headers.remove(name: "content-length") }
        if !bodyless && !headers.contains(name: "content-length") {
            if request.version == .http1_1 {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                close = true
            }
        }
        if close && request.version == .http1_1 { headers.add(name: "Connection", value: "close") }
        headers.replaceOrAdd(name: "Fly-Request-Id", value: RequestID.make())
        return (HTTPResponseHead(version: request.version, status: head.status, headers: headers), close)
    }

    /// An interim response (100 Continue, 103 Early Hints) for the client.
    static func forwardedInterim(_ head: HTTPResponseHead, host: String?) -> HTTPResponseHead {
        var headers = removingHopByHop(head.headers)
        URLCookies.filterSetCookies(&headers, host: host)
        headers.remove(name: "content-length")
        return HTTPResponseHead(version: .http1_1, status: head.status, headers: headers)
    }

    /// The sprite's 101 for the client, with the Upgrade pair that the switch needs. Browsers store
    /// the cookies of a WebSocket handshake's answer, so they are filtered here too.
    static func switchingProtocols(_ head: HTTPResponseHead, requested: String, host: String?) -> HTTPResponseHead {
        var headers = removingHopByHop(head.headers)
        URLCookies.filterSetCookies(&headers, host: host)
        headers.add(name: "Upgrade", value: head.headers["upgrade"].first ?? requested)
        headers.add(name: "Connection", value: "Upgrade")
        headers.replaceOrAdd(name: "Fly-Request-Id", value: RequestID.make())
        return HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
