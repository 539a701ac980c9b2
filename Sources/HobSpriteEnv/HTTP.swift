// HTTP/1.1 for the sprite API socket: one request per connection (`Connection: close`), and an
// incremental response parser, so NDJSON streams (checkpoint create and restore) are shown line by
// line as the daemon writes them. Bodies are framed by chunked encoding, Content-Length, or the
// end of the connection.

public struct HTTPRequest: Equatable, Sendable {
    public var method: String
    /// Origin form: "/v1/checkpoints?includeAuto=true".
    public var target: String
    public var body: [UInt8]?
    public var contentType: String?

    public init(method: String, target: String, body: [UInt8]? = nil, contentType: String? = nil) {
        self.method = method
        self.target = target
        self.body = body
        self.contentType = contentType
    }

    /// The bytes on the wire. The sprite API is a virtual host named `sprite` (SPRITES-API.md §12.1).
    public var serialized: [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: sprite\r\nUser-Agent: sprite-env (hob)\r\nAccept: */*\r\nConnection: close\r\n"
        if let body {
            if let contentType { head += "Content-Type: \(contentType)\r\n" }
            head += "Content-Length: \(body.count)\r\n"
        } else if method == "POST" || method == "PUT" || method == "PATCH" {
            head += "Content-Length: 0\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }
}

/// `text` as one path segment: every byte outside RFC 3986's unreserved characters
/// (letters, digits, '-', '.', '_', '~') becomes %XX, so '/', '?', '#', spaces and non-ASCII
/// names cannot change which resource a request addresses, or break its request line.
public func percentEncodedPathSegment(_ text: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for b in text.utf8 {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.append(b)
        default:
            out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0x0f)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

public struct HTTPHeader: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct HTTPResponseHead: Equatable, Sendable {
    public var status: Int
    public var reason: String
    public var headers: [HTTPHeader]

    public init(status: Int, reason: String, headers: [HTTPHeader]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

public struct HTTPParseError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Feed it the bytes of one response as they arrive; it returns what they completed.
public struct HTTPResponseParser {
    public enum Event: Equatable, Sendable {
        case head(HTTPResponseHead)
        case body([UInt8])
        case end
    }

    private enum State {
        case head
        case fixed(remaining: Int)
        case untilClose
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers
        case done
    }

    /// Limits for a peer that does not stop: the head, and any one chunk-size or trailer line.
    static let maxHeadBytes = 64 * 1024
    static let maxLineBytes = 4096

    private let bodyless: Bool
    private var state = State.head
    private var buffer: [UInt8] = []
    private var offset = 0

    /// `requestMethod` matters: the answer to HEAD has no body whatever its headers say.
    public init(requestMethod: String = "GET") {
        bodyless = requestMethod == "HEAD"
    }

    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    public mutating func parse(_ bytes: some Collection<UInt8>) throws(HTTPParseError) -> [Event] {
        if case .done = state { return [] }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        while try step(&events) {}
        buffer.removeFirst(offset)
        offset = 0
        return events
    }

    /// The connection ended: completes a body that runs until the close, or reports truncation.
    public mutating func finish() throws(HTTPParseError) -> [Event] {
        switch state {
        case .done: return []
        case .untilClose:
            state = .done
            return [.end]
        case .head where buffer.isEmpty:
            throw HTTPParseError("the server closed the connection without a response")
        default:
            throw HTTPParseError("the server closed the connection before the response was complete")
        }
    }

    /// Advances one step; false when more bytes are needed.
    private mutating func step(_ events: inout [Event]) throws(HTTPParseError) -> Bool {
        let available = buffer.count - offset
        switch state {
        case .done:
            return false
        case .head:
            guard let end = headEnd() else {
                guard available <= Self.maxHeadBytes else { throw HTTPParseError("response headers larger than 64 KiB") }
                return false
            }
            let head = try parseHead(buffer[offset..<end.headerEnd])
            offset = end.bodyStart
            // 1xx answers (100 Continue) precede the real one; 101 would switch protocols.
            if (100..<200).contains(head.status) && head.status != 101 { return true }
            events.append(.head(head))
            state = try framing(of: head)
            if case .done = state { events.append(.end) }
            return true
        case .fixed(let remaining):
            guard available > 0 else { return false }
            let n = min(remaining, available)
            events.append(.body(Array(buffer[offset..<offset + n])))
            offset += n
            if n == remaining {
                state = .done
                events.append(.end)
            } else {
                state = .fixed(remaining: remaining - n)
            }
            return true
        case .untilClose:
            guard available > 0 else { return false }
            events.append(.body(Array(buffer[offset...])))
            offset = buffer.count
            return false
        case .chunkSize:
            guard let line = try takeLine() else { return false }
            let size = try chunkSize(line)
            state = size == 0 ? .trailers : .chunkData(remaining: size)
            return true
        case .chunkData(let remaining):
            guard available > 0 else { return false }
            let n = min(remaining, available)
            events.append(.body(Array(buffer[offset..<offset + n])))
            offset += n
            state = n == remaining ? .chunkEnd : .chunkData(remaining: remaining - n)
            return true
        case .chunkEnd:
            guard let line = try takeLine() else { return false }
            guard line.isEmpty else { throw HTTPParseError("chunk not followed by CRLF") }
            state = .chunkSize
            return true
        case .trailers:
            guard let line = try takeLine() else { return false }
            if line.isEmpty {
                state = .done
                events.append(.end)
            }
            return true
        }
    }

    /// Where the head ends (before the blank line) and the body starts. Bare LF line ends are
    /// accepted, as most clients do.
    private func headEnd() -> (headerEnd: Int, bodyStart: Int)? {
        var i = offset
        while i < buffer.count {
            if buffer[i] == 0x0a {
                if i + 1 < buffer.count, buffer[i + 1] == 0x0a { return (i, i + 2) }
                if i + 2 < buffer.count, buffer[i + 1] == 0x0d, buffer[i + 2] == 0x0a { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPResponseHead {
        var lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 0x0d ? line.dropLast() : line, as: UTF8.self)
        }
        guard !lines.isEmpty else { throw HTTPParseError("empty response head") }
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]), status >= 100
        else { throw HTTPParseError("malformed status line \"\(statusLine.prefix(80))\"") }
        var headers: [HTTPHeader] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw HTTPParseError("malformed header line \"\(line.prefix(80))\"")
            }
            headers.append(HTTPHeader(name: String(line[..<colon]), value: trimmed(line[line.index(after: colon)...])))
        }
        return HTTPResponseHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers)
    }

    /// RFC 9112 §6.3: no body for HEAD, 204 and 304; chunked wins over Content-Length; otherwise
    /// Content-Length, or everything until the server closes.
    private func framing(of head: HTTPResponseHead) throws(HTTPParseError) -> State {
        if bodyless || head.status == 204 || head.status == 304 { return .done }
        if let te = head.header("Transfer-Encoding") {
            let last = te.split(separator: ",").last.map { trimmed($0).lowercased() }
            return last == "chunked" ? .chunkSize : .untilClose
        }
        let lengths = head.headers.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        guard let first = lengths.first else { return .untilClose }
        guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let length = Int(first)
        else { throw HTTPParseError("invalid Content-Length \"\(first.prefix(40))\"") }
        return length == 0 ? .done : .fixed(remaining: length)
    }

    private func chunkSize(_ line: [UInt8]) throws(HTTPParseError) -> Int {
        // chunk-size [; extensions]; extensions are ignored.
        let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 0x20 && $0 != 0x09 }
        guard !digits.isEmpty, digits.count <= 15 else { throw HTTPParseError("invalid chunk size") }
        var size = 0
        for b in digits {
            guard let d = hexDigitValue(b) else { throw HTTPParseError("invalid chunk size") }
            size = size << 4 | Int(d)
        }
        return size
    }

    /// The next line without its CR LF (or LF), nil until one is complete.
    private mutating func takeLine() throws(HTTPParseError) -> [UInt8]? {
        guard let lf = buffer[offset...].firstIndex(of: 0x0a) else {
            guard buffer.count - offset <= Self.maxLineBytes else { throw HTTPParseError("chunk framing line too long") }
            return nil
        }
        var line = Array(buffer[offset..<lf])
        if line.last == 0x0d { line.removeLast() }
        offset = lf + 1
        return line
    }
}

private func trimmed(_ s: Substring) -> String {
    var t = s
    while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
    while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
    return String(t)
}

/// Splits a byte stream into lines (NDJSON). Lines end at LF; a trailing CR is dropped.
public struct LineSplitter {
    private var pending: [UInt8] = []
    /// A line that never ends is cut here rather than buffered without bound.
    static let maxLineBytes = 1 << 20

    public init() {}

    public mutating func append(_ bytes: some Collection<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for b in bytes {
            if b == 0x0a {
                lines.append(take())
            } else {
                pending.append(b)
                if pending.count >= Self.maxLineBytes { lines.append(take()) }
            }
        }
        return lines
    }

    /// The last line when the stream ended without a final LF.
    public mutating func finish() -> [UInt8]? {
        pending.isEmpty ? nil : take()
    }

    private mutating func take() -> [UInt8] {
        var line = pending
        pending.removeAll(keepingCapacity: true)
        if line.last == 0x0d { line.removeLast() }
        return line
    }
}
