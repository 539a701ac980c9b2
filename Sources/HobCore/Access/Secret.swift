// A credential a sprite uses without seeing it: HTTP headers the daemon's gateway adds to requests
// a sprite sends to `http://gateway.hob/<name>/<path>`, forwarded to one upstream host. The values
// live only in the vault (sealed at rest) and in the forwarded request; the API, the CLI and the
// database's readable columns know the header names alone.
import Foundation
import HobAPI

public struct SecretHeader: Codable, Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct Secret: Sendable, Equatable {
    public var name: String
    /// A DNS name or an IPv4 address: no scheme, port or path.
    public var host: String
    /// `https` (the default) or `http`.
    public var scheme: String
    /// Nil: the scheme's port.
    public var port: Int?
    public var headers: [SecretHeader]
    public var access: SecretAccess
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        name: String, host: String, scheme: String = "https", port: Int? = nil, headers: [SecretHeader], access: SecretAccess,
        createdAt: Date = Date(), updatedAt: Date? = nil
    ) {
        self.name = name
        self.host = host
        self.scheme = scheme
        self.port = port
        self.headers = headers
        self.access = access
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// Most headers one secret injects, and the longest value.
    public static let maxHeaders = 32
    public static let maxValueBytes = 16 * 1024

    /// Headers that frame or route the request itself: injecting one would break the forwarded
    /// request, not authenticate it.
    static let reservedHeaders: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "proxy-connection",
    ]

    /// This secret with its host and scheme in lowercase; throws 400 naming what is wrong.
    public func validated() throws(HobError) -> Secret {
        var s = self
        try SecretName.validate(name)
        s.host = try SecretHost.validate(host)
        s.scheme = scheme.lowercased()
        guard ["https", "http"].contains(s.scheme) else {
            throw HobError(.invalidArgument, "scheme of secret \(name) must be https or http, not \"\(scheme)\"")
        }
        if s.scheme == "https", s.host.utf8.allSatisfy({ (48...57).contains($0) || $0 == 46 }) {
            // TLS checks the certificate against a name sent in SNI, which cannot be an address.
            throw HobError(.invalidArgument, "secret \(name): https needs a host name, not an IP address (or use --scheme http)")
        }
        if let port, !(1...65535).contains(port) {
            throw HobError(.invalidArgument, "port of secret \(name) must be 1 to 65535")
        }
        guard !headers.isEmpty else {
            throw HobError(.invalidArgument, "secret \(name) needs at least one header to inject (e.g. Authorization: Bearer …)")
        }
        guard headers.count <= Self.maxHeaders else {
            throw HobError(.invalidArgument, "secret \(name) has \(headers.count) headers; at most \(Self.maxHeaders) are allowed")
        }
        var seen: Set<String> = []
        for header in headers {
            try Self.validate(header, of: name)
            guard seen.insert(header.name.lowercased()).inserted else {
                throw HobError(.invalidArgument, "header \(header.name) is given twice in secret \(name)")
            }
        }
        try s.access.validate()
        return s
    }

    static func validate(_ header: SecretHeader, of secret: String) throws(HobError) {
        guard !header.name.isEmpty, header.name.utf8.count <= 256, header.name.utf8.allSatisfy(isTokenByte) else {
            throw HobError(
                .invalidArgument,
                "header name \"\(header.name.prefix(80))\" of secret \(secret) is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
        }
        guard !reservedHeaders.contains(header.name.lowercased()) else {
            throw HobError(.invalidArgument, "header \(header.name) cannot be injected: the gateway sets it for the forwarded request")
        }
        // The value is never echoed: the message names the header only.
        guard !header.value.isEmpty else { throw HobError(.invalidArgument, "header \(header.name) of secret \(secret) has no value") }
        guard header.value.utf8.count <= maxValueBytes else {
            throw HobError(.invalidArgument, "the value of header \(header.name) of secret \(secret) is longer than \(maxValueBytes) bytes")
        }
        guard !header.value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7f }) else {
            throw HobError(
                .invalidArgument, "the value of header \(header.name) of secret \(secret) contains a line break, NUL or other control character")
        }
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ b: UInt8) -> Bool {
        (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

public enum SecretName {
    /// The rules of sprite names (1–63 of a–z, 0–9 and '-', no '-' at either end): the name is
    /// the first segment of the gateway path, `http://gateway.hob/<name>/…`.
    public static func validate(_ name: String) throws(HobError) {
        guard !name.isEmpty else { throw HobError(.invalidArgument, "secret name must not be empty") }
        guard name.utf8.count <= 63 else { throw HobError(.invalidArgument, "secret name \"\(name.prefix(70))\" is longer than 63 characters") }
        guard name.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }) else {
            throw HobError(.invalidArgument, "secret name \"\(name)\" may contain only lowercase letters, digits and '-'")
        }
        guard name.first != "-", name.last != "-" else {
            throw HobError(.invalidArgument, "secret name \"\(name)\" must not start or end with '-'")
        }
    }
}

public enum SecretHost {
    /// A DNS name or a dotted IPv4 address, in lowercase; throws 400 for anything else (a scheme,
    /// a port, a path, IPv6).
    public static func validate(_ host: String) throws(HobError) -> String {
        let h = host.lowercased()
        let hint = "host must be a DNS name or an IPv4 address, e.g. api.example.com (no scheme, port or path; use --scheme and --port)"
        guard !h.isEmpty, h.utf8.count <= 253 else { throw HobError(.invalidArgument, hint) }
        let labels = h.split(separator: ".", omittingEmptySubsequences: false)
        if h.utf8.allSatisfy({ (48...57).contains($0) || $0 == 46 }) {
            guard labels.count == 4, labels.allSatisfy({ !$0.isEmpty && $0.count <= 3 && Int($0).map { $0 <= 255 } == true }) else {
                throw HobError(.invalidArgument, "\"\(host.prefix(80))\" is not an IPv4 address; \(hint)")
            }
            return h
        }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-",
                label.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 })
            else { throw HobError(.invalidArgument, "\"\(host.prefix(80))\" is not a host name; \(hint)") }
        }
        return h
    }
}
