// Network fixtures: a tiny HTTP server (for the host, a test network namespace, or a sprite), the
// host's own addresses, and a private network only this machine can reach, for NAT tests that
// never leave the machine.
import Foundation

enum TinyHTTPServer {
    /// A Python HTTP server answering every GET with `hob-it`. Unlike `python3 -m http.server` it
    /// does no reverse DNS lookup at start (which stalls for many seconds where there is no DNS)
    /// and serves no files. Arguments: bind address, port.
    static let script = """
        import http.server, socketserver, sys
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"hob-it\\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
        """

    static let response = "hob-it\n"

    /// A shell command that starts the server in the background inside a sprite, detached from the exec session.
    static func backgroundCommand(bind: String, port: Int) -> String {
        "(python3 -c \(shellQuote(script)) \(bind) \(port) >/dev/null 2>&1 &)"
    }

    static var hostPython: String { FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3" }

    /// Runs the server on the host (optionally inside network namespace `namespace`) for the length of `body`.
    static func onHost<T: Sendable>(bind: String, port: Int, namespace: String? = nil, _ body: () async throws -> T) async throws -> T {
        let server = try await startOnHost(bind: bind, port: port, namespace: namespace)
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await server.kill()
        return try result.get()
    }

    /// Starts the server and waits until the host can fetch from it.
    private static func startOnHost(bind: String, port: Int, namespace: String?) async throws -> ChildProcess {
        let command = [hostPython, "-c", script, bind, "\(port)"]
        let server = namespace.map { try? ChildProcess("ip", ["netns", "exec", $0] + command) }
            ?? (try? ChildProcess(command[0], Array(command.dropFirst())))
        guard let server else { throw TestFailure("could not start a Python HTTP server on \(bind):\(port)") }
        let url = "http://\(bind == "0.0.0.0" ? "127.0.0.1" : bind):\(port)/"
        let up = await eventually(timeout: .seconds(15)) {
            let fetched = try? await HostProcess.run("curl", ["-s", "-m", "2", url])
            return fetched?.stdout == response
        }
        guard up else {
            await server.kill()
            throw TestFailure("the test HTTP server at \(url) did not come up")
        }
        return server
    }
}

enum HostNetworkFacts {
    /// The host's address on its default route's interface, if there is a default route.
    static func mainAddress() async throws -> String? {
        let route = try await HostProcess.check("ip", ["-4", "-o", "route", "show", "default"])
        let words = route.split(separator: " ").map(String.init)
        guard let dev = words.firstIndex(of: "dev").map({ words[$0 + 1] }) else { return nil }
        let addresses = try await HostProcess.check("ip", ["-4", "-o", "addr", "show", "dev", dev, "scope", "global"])
        let fields = addresses.split(separator: " ").map(String.init)
        return fields.firstIndex(of: "inet").map { String(fields[$0 + 1].split(separator: "/")[0]) }
    }

    /// A TCP port nothing listens on now (bound to port 0 and released).
    static func freeTCPPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("could not find a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A network namespace joined to the host by a veth pair, 198.18.<n>.1 (host) ⇄ 198.18.<n>.2,
/// serving HTTP on 198.18.<n>.2:8080. 198.18.0.0/15 is reserved for benchmarking, so nothing real
/// lives there; the traffic never leaves this machine.
struct EgressTarget: Sendable {
    let address: String
    let port = 8080
    /// The network namespace it lives in, and the host's end of its link.
    var namespace = ""
    var hostAddress = ""

    var url: String { "http://\(address):\(port)/" }

    /// Creates the namespace and its server, runs `body`, and removes everything afterwards.
    static func with<T: Sendable>(_ body: (EgressTarget) async throws -> T) async throws -> T {
        let namespace = "hobx" + TestEnvironment.randomName(4)
        let hostSide = namespace + "h", namespaceSide = namespace + "n"
        let used = try await HostProcess.check("ip", ["-4", "-o", "addr", "show"])
        guard let n = (0...255).shuffled().first(where: { !used.contains("198.18.\($0).") }) else {
            throw TestFailure("no free 198.18.x.0/24 on this host")
        }
        let target = EgressTarget(address: "198.18.\(n).2", namespace: namespace, hostAddress: "198.18.\(n).1")
        let result: Result<T, any Error>
        do {
            for command in [
                ["netns", "add", namespace],
                ["link", "add", hostSide, "type", "veth", "peer", "name", namespaceSide, "netns", namespace],
                ["addr", "add", "198.18.\(n).1/24", "dev", hostSide],
                ["link", "set", hostSide, "up"],
                ["-n", namespace, "addr", "add", "\(target.address)/24", "dev", namespaceSide],
                ["-n", namespace, "link", "set", namespaceSide, "up"],
                ["-n", namespace, "link", "set", "lo", "up"],
                ["-n", namespace, "route", "add", "default", "via", "198.18.\(n).1"],
            ] {
                try await HostProcess.check("ip", command)
            }
            result = .success(
                try await TinyHTTPServer.onHost(bind: target.address, port: target.port, namespace: namespace) {
                    try await body(target)
                })
        } catch {
            result = .failure(error)
        }
        _ = try? await HostProcess.run("ip", ["link", "del", hostSide])
        _ = try? await HostProcess.run("ip", ["netns", "del", namespace])
        return try result.get()
    }
}
