// Sprite URLs with daemons of their own: HTTPS (`--url-tls-cert`, `--url-tls-key`), start-up
// failures that name the flag at fault, and how proxied connections count as activity.
import Foundation
import Testing

extension HobIntegration {
    @Suite("Sprite URLs: serving", .enabled(if: TestEnvironment.isRoot, "requires root"))
    struct URLProxyServeTests {
        @Test("hob serve does not start when the URL port is taken or the certificate or key cannot be read, and names the flag")
        func startupFailures() async throws {
            let scratch = try TemporaryDirectory(prefix: "hob-it-url-")
            defer { scratch.remove() }
            let certificate = try await TestCertificate.make(in: scratch.path)
            let garbage = scratch.path + "/garbage.pem"
            try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: garbage))
            let taken = try ListeningSocket()
            defer { taken.close() }
            let binary = try TestEnvironment.requireHobBinary()
            let cases: [(String, [String], String)] = [
                ("the URL port is taken", ["--url-listen", "127.0.0.1:\(taken.port)"], "--url-listen"),
                ("no certificate file", ["--url-tls-cert", scratch.path + "/missing.pem", "--url-tls-key", certificate.key], "--url-tls-cert"),
                ("an unreadable key", ["--url-tls-cert", certificate.certificate, "--url-tls-key", garbage], "--url-tls-key"),
                ("a certificate without a key", ["--url-tls-cert", certificate.certificate], "--url-tls-key"),
                ("the API's port", ["--url-listen", "127.0.0.1:\(taken.port)", "--listen", "127.0.0.1:\(taken.port)"], "must not share a port"),
            ]
            for (index, (label, arguments, expected)) in cases.enumerated() {
                let state = scratch.path + "/state-\(index)"
                let result = try await HostProcess.run(
                    binary,
                    ["serve", "--state-dir", state, "--listen", "127.0.0.1:\(try HostNetworkFacts.freeTCPPort())",
                     "--instance", "hu" + TestEnvironment.randomName(4), "--subnet", "10.99.0.0/16"] + arguments,
                    timeout: .seconds(60))
                #expect(!result.succeeded, "\(label): hob serve started")
                #expect((result.stderr + result.stdout).contains(expected), "\(label): \(result)")
            }
        }

        @Test("with a certificate and key, sprite URLs are https: the url field, curl, a Secure __Host- cookie and a WebSocket")
        func https() async throws {
            let scratch = try TemporaryDirectory(prefix: "hob-it-url-")
            defer { scratch.remove() }
            let certificate = try await TestCertificate.make(in: scratch.path)
            let daemon = try await DaemonFixture.start(arguments: ["--url-tls-cert", certificate.certificate, "--url-tls-key", certificate.key])
            do {
                try await daemon.withSprite { name in
                    let url = try await daemon.spriteInfo(name)["url"] as? String
                    #expect(url == "https://\(name).hob.localhost:\(daemon.urlPort)/")
                    try await daemon.startWebServer(in: name)
                    let curl = ["-s", "--cacert", certificate.certificate, "-H", "Authorization: Bearer \(daemon.token)"]
                    let fetched = try await HostProcess.run("curl", curl + ["\(url ?? "")name"])
                    #expect(fetched.succeeded && fetched.stdout == name, "\(fetched)")
                    let signIn = try await HostProcess.run(
                        "curl", ["-s", "-o", "/dev/null", "-D", "-", "--cacert", certificate.certificate, "\(url ?? "")?hob_login=\(try await daemon.loginCode(name))"])
                    #expect(signIn.stdout.contains("Set-Cookie: __Host-hob_url_") && signIn.stdout.contains("; Secure"), "\(signIn)")
                    #expect(!signIn.stdout.contains(daemon.token), "the cookie holds the API token: \(signIn)")
                    let socket = try await HostProcess.run(
                        TinyHTTPServer.hostPython,
                        ["-c", TLSWebSocketProbe.script, "\(name).hob.localhost", "\(daemon.urlPort)", certificate.certificate, daemon.token])
                    #expect(socket.stdout == "HTTP/1.1 101 Switching Protocols|over tls\n", "\(socket)")
                }
            } catch {
                await daemon.tearDown()
                throw error
            }
            await daemon.tearDown()
        }

        @Test("an open WebSocket keeps its sprite awake; an idle keep-alive connection does not")
        func activity() async throws {
            let daemon = try await DaemonFixture.start(arguments: ["--idle-timeout", "2s"])
            do {
                try await daemon.withSprite { name in
                    try await daemon.startWebServer(in: name)
                    _ = try await daemon.http("PUT", "/v1/sprites/\(name)", body: Data(#"{"url_settings":{"auth":"public"}}"#.utf8))
                    let connection = TakenInTurn(try RawConnection(port: daemon.urlPort))
                    defer { connection.raw.close() }
                    let host = daemon.urlHost(name)
                    // One request, then the connection stays open with nothing in flight.
                    let answered = try await offPool {
                        try connection.raw.send(RawHTTPRequest(path: "/name", host: host).bytes)
                        return try connection.raw.readResponse(to: "GET", deadline: .now + .seconds(30))?.status
                    }
                    #expect(answered == 200)
                    try await daemon.waitForStatus(name, "warm", timeout: .seconds(15))

                    let upgraded = try await offPool {
                        let upgrade = RawHTTPRequest(
                            path: "/ws", host: host,
                            headers: [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
                        try connection.raw.send(upgrade.bytes)
                        return try connection.raw.readHead(deadline: .now + .seconds(30)).flatMap(RawHTTP.status(of:))
                    }
                    #expect(upgraded == 101)
                    try await Task.sleep(for: .seconds(5))
                    #expect(try await daemon.status(name) == "running", "the sprite slept under an open WebSocket")
                    connection.raw.close()
                    try await daemon.waitForStatus(name, "warm", timeout: .seconds(15))
                }
            } catch {
                await daemon.tearDown()
                throw error
            }
            await daemon.tearDown()
        }
    }
}

/// A self-signed certificate for *.hob.localhost, made with openssl.
struct TestCertificate {
    let certificate: String
    let key: String

    static func make(in directory: String) async throws -> TestCertificate {
        let made = TestCertificate(certificate: directory + "/cert.pem", key: directory + "/key.pem")
        try await HostProcess.check("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", made.key, "-out", made.certificate,
            "-subj", "/CN=hob.localhost", "-addext", "subjectAltName=DNS:*.hob.localhost,DNS:hob.localhost",
        ])
        return made
    }
}

/// A TCP port held open by a listening socket, as another program would hold it.
final class ListeningSocket: Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 1) == 0 else {
            Glibc.close(fd)
            throw TestFailure("could not hold a port: errno \(errno)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(fd) }
}

/// A WebSocket client over TLS that checks the certificate and host name: prints the status line
/// and the echo of one text frame, separated by "|". Arguments: host, port, CA file, token.
enum TLSWebSocketProbe {
    static let script = #"""
        import os, socket, ssl, sys
        host, port, ca, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        tls = ssl.create_default_context(cafile=ca).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname=host)
        tls.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += tls.recv(1)
        payload, mask = b"over tls", os.urandom(4)
        tls.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        reply = b""
        while len(reply) < 2 + len(payload):
            reply += tls.recv(64)
        print(head.split(b"\r\n")[0].decode() + "|" + reply[2:].decode())
        """#
}
