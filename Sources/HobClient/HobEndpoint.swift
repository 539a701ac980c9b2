// Where the API lives and how request targets are spelled. Percent-encoding is done here by hand rather than with
// URLComponents: Foundation leaves `&`, `=` and `+` alone in query values, and exec arguments may contain any of them.

public struct HobEndpoint: Sendable, Equatable {
    /// `http://host:port`, optionally with a path prefix (`http://host/hob`).
    public var baseURL: String
    public var token: String

    public init(baseURL: String, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    /// The parsed base URL; throws `.invalidEndpoint` when it is not a usable `http://` URL.
    public func parsed() throws -> ParsedBaseURL {
        try ParsedBaseURL(baseURL)
    }
}

/// A base URL split into what a socket and an HTTP request head need.
public struct ParsedBaseURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Path prefix without a trailing slash ("" for none).
    public var pathPrefix: String

    /// `Host:` header value: the host, bracketed when it is an IPv6 literal, with the port.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? h : "\(h):\(port)"
    }

    public init(_ url: String) throws {
        let trimmed = url.trimmingWhitespace()
        let lower = trimmed.lowercased()
        guard lower.hasPrefix("http://") else {
            let hint =
                lower.hasPrefix("https://")
                ? "https is not supported yet; use http:// (for example through an SSH tunnel)"
                : "expected http://host:port"
            throw HobClientError(.invalidEndpoint, "invalid API URL \"\(url)\": \(hint)")
        }
        var rest = Substring(trimmed.dropFirst("http://".count))
        let authority: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            rest = rest[slash...]
        } else {
            authority = rest
            rest = ""
        }
        if authority.contains("@") || rest.contains("?") || rest.contains("#") {
            throw HobClientError(.invalidEndpoint, "invalid API URL \"\(url)\": expected http://host:port[/path]")
        }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw HobClientError(.invalidEndpoint, "invalid API URL \"\(url)\": unterminated IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw HobClientError(.invalidEndpoint, "invalid API URL \"\(url)\": unexpected \"\(after)\"")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else {
            throw HobClientError(.invalidEndpoint, "invalid API URL \"\(url)\": no host")
        }
        var port = 80
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw HobClientError(.invalidEndpoint, "invalid API URL \"\(url)\": bad port \"\(portText)\"")
            }
            port = p
        }
        var prefix = String(rest)
        while prefix.hasSuffix("/") { prefix.removeLast() }
        self.host = String(host)
        self.port = port
        self.pathPrefix = prefix
    }

    /// The request target (`/prefix/v1/sprites/x?a=b`) for raw path segments and query items; both are encoded here.
    public func requestTarget(segments: [String], query: [(String, String)] = []) -> String {
        var target = pathPrefix + "/" + segments.map(URLEncoding.component).joined(separator: "/")
        if !query.isEmpty { target += "?" + URLEncoding.query(query) }
        return target
    }
}

/// RFC 3986 percent-encoding: only unreserved characters (`A–Z a–z 0–9 - . _ ~`) pass through; everything else,
/// including `/`, `&`, `=`, `+` and spaces, becomes `%XX` of its UTF-8 bytes.
public enum URLEncoding {
    public static func component(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + hexDigit(byte >> 4) + hexDigit(byte & 0xF)
            }
        }
        return out
    }

    /// `k1=v1&k2=v2`, in the given order, repeated keys kept.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { component($0.0) + "=" + component($0.1) }.joined(separator: "&")
    }

    /// Decodes `%XX` sequences (and nothing else); nil when a sequence is malformed or the bytes are not UTF-8.
    public static func decode(_ value: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = value.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let hi = iterator.next().flatMap(hexValue), let lo = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static func hexDigit(_ n: UInt8) -> String {
        String(UnicodeScalar(n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "A") + n - 10))
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    /// Shared with HobCLI.
    package func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
