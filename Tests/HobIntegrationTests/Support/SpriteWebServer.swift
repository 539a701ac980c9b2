// Fixtures for the URL proxy suites: a small web server to run inside a sprite (Python, stdlib
// only), and an HTTP/1.1 client over raw sockets for what curl and URLSession hide (keep-alive
// connections, hand-written Host headers and targets, 1xx responses, timing of streamed bodies).
import Foundation
import Testing

enum SpriteWebServer {
    /// Arguments: bind address (an IPv6 one too), port.
    ///   GET|HEAD /headers  the request as JSON: method, path, headers as [name, value] pairs
    ///   GET /name          the sprite's host name
    ///   POST|PUT /echo     the body back (read by length or chunked), with a length
    ///   GET /sse           server-sent events: one at once, one two seconds later, then the end
    ///   GET /ws            a WebSocket handshake, then every frame echoed until a close
    ///   GET /set-cookie    like /headers, with a Set-Cookie header for each `c` query parameter
    static let script = #"""
        import base64, hashlib, http.server, json, socket, socketserver, sys, time, urllib.parse

        def frame(opcode, payload):
            n = len(payload)
            if n < 126:
                head = bytes([0x80 | opcode, n])
            elif n < 65536:
                head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
            else:
                head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
            return head + payload

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type, cookies=()):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for cookie in cookies:
                    self.send_header("Set-Cookie", cookie)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/ws":
                    return self.websocket()
                if path == "/sse":
                    return self.events()
                if path == "/name":
                    return self.reply(200, socket.gethostname().encode(), "text/plain")
                about = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}
                query = urllib.parse.parse_qs(self.path.partition("?")[2]) if path == "/set-cookie" else {}
                self.reply(200, json.dumps(about).encode(), "application/json", query.get("c", []))

            do_HEAD = do_GET

            def do_POST(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    body = b"".join(parts)
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.reply(200, body, "application/octet-stream")

            do_PUT = do_POST

            def events(self):
                # No length and no chunking: the stream ends when the connection does.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for number, pause in enumerate([0, 2]):
                    time.sleep(pause)
                    self.wfile.write(f"data: event {number}\n\n".encode())
                    self.wfile.flush()

            def websocket(self):
                key = self.headers.get("Sec-WebSocket-Key", "")
                digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", base64.b64encode(digest).decode())
                self.end_headers()
                self.close_connection = True
                while True:
                    head = self.rfile.read(2)
                    if len(head) < 2:
                        return
                    opcode, length = head[0] & 0x0F, head[1] & 0x7F
                    if length == 126:
                        length = int.from_bytes(self.rfile.read(2), "big")
                    elif length == 127:
                        length = int.from_bytes(self.rfile.read(8), "big")
                    mask = self.rfile.read(4) if head[1] & 0x80 else bytes(4)
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
                    self.wfile.write(frame(opcode, payload))
                    if opcode == 8:
                        return

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def server_bind(self):
                # http.server looks the address up in DNS here, which can stall where there is none.
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = "sprite", self.server_address[1]

        host, port = sys.argv[1], int(sys.argv[2])
        if ":" in host:
            Server.address_family = socket.AF_INET6
        Server((host, port), Handler).serve_forever()
        """#
}

extension DaemonFixture {
    /// Starts `SpriteWebServer` in the sprite, detached from the exec, and waits until it answers.
    func startWebServer(in sprite: String, bind: String = "127.0.0.1", port: Int = 8080) async throws {
        let installed = try await exec(sprite, ["sh", "-c", "cat > /root/web.py"], stdin: Data(SpriteWebServer.script.utf8))
        #expect(installed.succeeded, "\(installed)")
        let url = bind.contains(":") ? "http://[\(bind)]:\(port)/name" : "http://\(bind):\(port)/name"
        let started = try await sh(sprite, """
            setsid nohup python3 /root/web.py \(bind) \(port) >/root/web.log 2>&1 </dev/null &
            for i in $(seq 100); do curl -s -o /dev/null \(url) && echo up && exit 0; sleep 0.1; done
            cat /root/web.log; exit 1
            """)
        guard started.stdout == "up\n" else { throw TestFailure("the web server in \(sprite) did not start: \(started)") }
    }

    /// One request through the URL proxy on a new connection.
    func viaURL(
        _ sprite: String, _ method: String = "GET", _ path: String = "/headers", headers: [(String, String)] = [],
        body: [UInt8]? = nil, bearer: String? = nil, timeout: Duration = .seconds(60)
    ) async throws -> URLResponse {
        let port = urlPort
        let request = RawHTTPRequest(method: method, path: path, host: urlHost(sprite), headers: headers, body: body, bearer: bearer)
        return try await offPool {
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send(request.bytes)
            guard let response = try connection.readResponse(to: method, deadline: .now + timeout) else {
                throw TestFailure("the URL proxy closed the connection without answering \(method) \(path)")
            }
            return response
        }
    }
}

/// A request written out by hand.
struct RawHTTPRequest: Sendable {
    var method = "GET"
    var path = "/"
    /// Nil: no Host header at all.
    var host: String?
    var headers: [(String, String)] = []
    var body: [UInt8]?
    var bearer: String?
    var version = "HTTP/1.1"

    var bytes: [UInt8] {
        var lines = ["\(method) \(path) \(version)"]
        if let host { lines.append("Host: \(host)") }
        if let bearer { lines.append("Authorization: Bearer \(bearer)") }
        lines += headers.map { "\($0.0): \($0.1)" }
        if let body, !headers.contains(where: { $0.0.lowercased() == "transfer-encoding" }) { lines.append("Content-Length: \(body.count)") }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + (body ?? [])
    }
}

/// A response as read off the wire.
struct URLResponse: Sendable, CustomStringConvertible {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    func headers(_ name: String) -> [String] { headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }
    /// The `/headers` answer: the request headers the sprite's server received.
    var seenHeaders: [(String, String)] {
        let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        return ((json?["headers"] as? [[String]]) ?? []).compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
    }
    func seen(_ name: String) -> [String] { seenHeaders.filter { $0.0.lowercased() == name.lowercased() }.map(\.1) }

    var description: String {
        "HTTP \(status) [\(headers.map { "\($0.0): \($0.1)" }.joined(separator: "; "))] \(text.prefix(1000).debugDescription)"
    }
}

extension RawConnection {
    /// Reads one response (an interim 1xx one too): by its length, chunked, or to the end of the
    /// stream. Nil if the stream ends before a head.
    func readResponse(to method: String, deadline: ContinuousClock.Instant) throws -> URLResponse? {
        guard let head = try readHead(deadline: deadline) else { return nil }
        let lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard let first = lines.first, let status = RawHTTP.status(of: first) else { throw TestFailure("not an HTTP response: \(head)") }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = URLResponse(status: status, headers: headers, body: [])
        if status < 200 || status == 204 || status == 304 || method == "HEAD" { return response }
        if let length = response.header("content-length").flatMap(Int.init) {
            response.body = try read(length, deadline: deadline) ?? []
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while let line = try readLine(deadline: deadline), let size = Int(line.split(separator: ";")[0], radix: 16) {
                if size == 0 {
                    while let trailer = try readLine(deadline: deadline), !trailer.isEmpty {}
                    break
                }
                response.body += try read(size, deadline: deadline) ?? []
                _ = try readLine(deadline: deadline)
            }
        } else {
            response.body = try readToEnd(deadline: deadline)
        }
        return response
    }

    /// One CRLF-terminated line, without the CRLF.
    func readLine(deadline: ContinuousClock.Instant) throws -> String? {
        var line: [UInt8] = []
        while let byte = try read(1, deadline: deadline) {
            if byte[0] == 10 { return String(decoding: line.last == 13 ? line.dropLast() : line[...], as: UTF8.self) }
            line += byte
        }
        return nil
    }
}
