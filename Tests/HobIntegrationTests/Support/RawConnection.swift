// A blocking TCP connection for what HTTP libraries will not send: hand-written upgrade requests,
// masked WebSocket frames, and deliberately malformed bytes. Used only from `offPool`.
import Foundation

final class RawConnection {
    /// Nothing arrived before the deadline.
    struct Timeout: Error, CustomStringConvertible {
        var description: String { "timed out waiting for the daemon to send something" }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(host: String = "127.0.0.1", port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let error = errno
            Glibc.close(fd)
            throw TestFailure("connect to \(host):\(port): errno \(error)")
        }
        // Small frames go out at once, as a WebSocket client's would (no Nagle delay).
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    func close() {
        if !closed { Glibc.close(fd) }
        closed = true
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a peer that already closed must be an error here, not a SIGPIPE for the test run.
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestFailure("send: errno \(errno)")
            }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Fills the buffer with whatever arrives next; false at end of stream.
    private func fill(deadline: ContinuousClock.Instant) throws -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Timeout() }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000, 60_000))
            let ready = poll(&pfd, 1, max(ms, 1))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { return false }
                throw TestFailure("recv: errno \(errno)")
            }
            if n == 0 { return false }
            buffer += chunk[0..<n]
            return true
        }
    }

    /// Reads exactly `count` bytes; nil if the stream ends first.
    func read(_ count: Int, deadline: ContinuousClock.Instant) throws -> [UInt8]? {
        while buffer.count < count {
            guard try fill(deadline: deadline) else { return nil }
        }
        let bytes = Array(buffer.prefix(count))
        buffer.removeFirst(count)
        return bytes
    }

    /// Reads an HTTP response head (through the blank line); nil if the stream ends first.
    func readHead(deadline: ContinuousClock.Instant) throws -> String? {
        let end: [UInt8] = [13, 10, 13, 10]
        while true {
            if let range = buffer.firstRange(of: end) {
                let head = String(decoding: buffer[..<range.upperBound], as: UTF8.self)
                buffer.removeFirst(range.upperBound)
                return head
            }
            guard try fill(deadline: deadline) else { return nil }
        }
    }

    /// Everything until the peer closes (or `deadline`, which is then an error).
    func readToEnd(deadline: ContinuousClock.Instant) throws -> [UInt8] {
        while try fill(deadline: deadline) {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// Whether the peer closes the connection before `deadline`, discarding what it sends meanwhile.
    func closesBefore(_ deadline: ContinuousClock.Instant) -> Bool {
        do {
            while try fill(deadline: deadline) { buffer.removeAll() }
            return true
        } catch {
            return false
        }
    }
}

/// HTTP/1.1 requests written by hand.
enum RawHTTP {
    /// A WebSocket upgrade request for `path`, with `Authorization: Bearer <token>` when a token is given.
    static func upgradeRequest(path: String, port: Int, token: String?) -> String {
        var key = [UInt8](repeating: 0, count: 16)
        for i in key.indices { key[i] = .random(in: 0...255) }
        var lines = [
            "GET \(path) HTTP/1.1",
            "Host: 127.0.0.1:\(port)",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: \(Data(key).base64EncodedString())",
            "Sec-WebSocket-Version: 13",
        ]
        if let token { lines.append("Authorization: Bearer \(token)") }
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// The status code of a response head such as "HTTP/1.1 401 Unauthorized".
    static func status(of head: String) -> Int? {
        let parts = head.split(separator: " ", maxSplits: 2)
        return parts.count >= 2 ? Int(parts[1]) : nil
    }

    /// Percent-encodes a query value; only unreserved characters stay as they are.
    static func queryEncode(_ value: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }
}
