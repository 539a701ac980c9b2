import Foundation
import Glibc
import HobSpriteEnv
import Testing

/// A one-shot sprite API on a unix socket: accepts one connection, records the request, answers
/// with `pieces` (pausing between them so the client sees a stream), then closes.
final class FakeSpriteAPI: @unchecked Sendable {
    let directory: String
    let socketPath: String
    private let listener: Int32
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var recorded = ""

    init(_ pieces: [String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sprite-env-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = "\(directory)/api.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        listener = fd
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        Thread.detachNewThread { [self] in
            let client = accept(fd, nil, nil)
            if client >= 0 {
                record(readRequest(client))
                for (i, piece) in pieces.enumerated() {
                    if i > 0 { usleep(20_000) }
                    _ = Array(piece.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                close(client)
            }
            done.signal()
        }
    }

    deinit {
        close(listener)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The request as received; waits for the exchange to finish.
    var request: String {
        done.wait()
        done.signal()
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    private func record(_ text: String) {
        lock.lock()
        recorded = text
        lock.unlock()
    }

    private func readRequest(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let text = String(decoding: bytes, as: UTF8.self)
            if let range = text.range(of: "\r\n\r\n") {
                let length = text[..<range.lowerBound].split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if text.utf8.count - text.utf8.distance(from: text.startIndex, to: range.upperBound) >= length { return text }
            }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return text }
            bytes += buffer[0..<n]
        }
    }
}

/// Runs sprite-env and captures what it prints.
func runSpriteEnv(_ arguments: [String], socketPath: String) -> (status: Int32, stdout: String, stderr: String) {
    final class Capture: @unchecked Sendable {
        var out: [UInt8] = []
        var err: [UInt8] = []
    }
    let capture = Capture()
    let status = SpriteEnv.run(
        arguments, socketPath: socketPath, output: Output(stdout: { capture.out += $0 }, stderr: { capture.err += $0 }))
    return (status, String(decoding: capture.out, as: UTF8.self), String(decoding: capture.err, as: UTF8.self))
}

func chunk(_ s: String) -> String { String(s.utf8.count, radix: 16) + "\r\n" + s + "\r\n" }

@Suite("sprite-env against a sprite API socket", .serialized)
struct SpriteEnvRunTests {
    static let streamHead = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test("create posts the comment as JSON and prints progress as it streams")
    func create() throws {
        let api = try FakeSpriteAPI([
            Self.streamHead + chunk(#"{"type":"info","data":"Creating checkpoint...","time":"2026-07-12T05:01:17Z"}"# + "\n"),
            chunk(#"{"type":"info","data":"  ID: v3"}"# + "\n" + #"{"type":"stderr","data":"slow disk"}"# + "\n"),
            chunk(#"{"type":"complete","data":"Checkpoint v3 created successfully"}"# + "\n") + "0\r\n\r\n",
        ])
        let result = runSpriteEnv(["checkpoints", "create", "--comment", "before \"upgrade\""], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == "Creating checkpoint...\n  ID: v3\nCheckpoint v3 created successfully\n")
        #expect(result.stderr == "slow disk\n")
        let request = api.request
        #expect(request.hasPrefix("POST /v1/checkpoint HTTP/1.1\r\n"))
        #expect(request.contains("Host: sprite\r\n") && request.contains("Connection: close\r\n"))
        #expect(request.contains("Content-Type: application/json\r\n"))
        #expect(request.hasSuffix(#"{"comment":"before \"upgrade\""}"#))
    }

    @Test("an error line fails the command with its message")
    func streamError() throws {
        let api = try FakeSpriteAPI([Self.streamHead + chunk(#"{"type":"error","error":"disk full"}"# + "\n") + "0\r\n\r\n"])
        let result = runSpriteEnv(["checkpoints", "restore", "v1"], socketPath: api.socketPath)
        #expect(result.status == 1)
        #expect(result.stderr == "sprite-env: disk full\n")
        #expect(api.request.hasPrefix("POST /v1/checkpoints/v1/restore HTTP/1.1\r\n"))
    }

    @Test("a stream that ends without a result is a failure")
    func streamCutShort() throws {
        let api = try FakeSpriteAPI([Self.streamHead + chunk(#"{"type":"info","data":"Restoring checkpoint v1..."}"# + "\n") + "0\r\n\r\n"])
        let result = runSpriteEnv(["checkpoints", "restore", "v1"], socketPath: api.socketPath)
        #expect(result.status == 1)
        #expect(result.stdout == "Restoring checkpoint v1...\n")
        #expect(result.stderr.contains("ended without a result"))
    }

    @Test("list asks for automatic checkpoints when told and prints a table")
    func list() throws {
        let body = #"[{"id":"Current","create_time":"","comment":"","history":[],"is_auto":false},{"id":"v1","create_time":"2026-07-12T05:01:17Z","comment":"first","history":[],"is_auto":false}]"#
        let api = try FakeSpriteAPI(["HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body])
        let result = runSpriteEnv(["checkpoints", "list", "--include-auto"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout.contains("Current  -                     (current state, not a checkpoint)\n"))
        #expect(result.stdout.contains("v1       2026-07-12T05:01:17Z  first\n"))
        #expect(api.request.hasPrefix("GET /v1/checkpoints?includeAuto=true HTTP/1.1\r\n"))
    }

    @Test("list --json prints the API's JSON unchanged")
    func listJSON() throws {
        let body = #"[{"id":"v1","create_time":"t","comment":"","history":[],"is_auto":false}]"#
        let api = try FakeSpriteAPI(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(body) + "0\r\n\r\n"])
        let result = runSpriteEnv(["checkpoints", "list", "--json"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == body + "\n")
    }

    @Test("an error status prints the API's message and exits 1")
    func errorStatus() throws {
        let body = #"{"error":"not_found","message":"checkpoint v9 not found"}"#
        let api = try FakeSpriteAPI(["HTTP/1.1 404 Not Found\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body])
        let result = runSpriteEnv(["checkpoints", "info", "v9"], socketPath: api.socketPath)
        #expect(result.status == 1)
        #expect(result.stderr == "sprite-env: checkpoint v9 not found\n")
    }

    @Test("delete expects 204 and says what it did")
    func delete() throws {
        let api = try FakeSpriteAPI(["HTTP/1.1 204 No Content\r\n\r\n"])
        let result = runSpriteEnv(["checkpoints", "delete", "v2"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == "Checkpoint v2 deleted\n")
        #expect(api.request.hasPrefix("DELETE /v1/checkpoints/v2 HTTP/1.1\r\n"))
    }

    static func jsonResponse(_ status: String, _ body: String) -> String {
        "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    static let task = #"{"name":"build","started_at":"2026-07-12T05:01:17Z","expires_at":"2026-07-12T05:31:17Z"}"#

    @Test("tasks list prints a table, or with --json the API's JSON")
    func tasksList() throws {
        let body = #"{"tasks":["# + Self.task + "]}"
        let api = try FakeSpriteAPI([Self.jsonResponse("200 OK", body)])
        let result = runSpriteEnv(["tasks", "list"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == "NAME   STARTED               EXPIRES\nbuild  2026-07-12T05:01:17Z  2026-07-12T05:31:17Z\n")
        #expect(api.request.hasPrefix("GET /v1/tasks HTTP/1.1\r\n"))

        let raw = try FakeSpriteAPI([Self.jsonResponse("200 OK", body)])
        #expect(runSpriteEnv(["tasks", "list", "--json"], socketPath: raw.socketPath).stdout == body + "\n")
    }

    @Test("tasks create posts the name and a duration string, and prints the task")
    func tasksCreate() throws {
        let api = try FakeSpriteAPI([Self.jsonResponse("201 Created", Self.task)])
        let result = runSpriteEnv(["tasks", "create", "build", "--expire", "30m"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == "Name:     build\nStarted:  2026-07-12T05:01:17Z\nExpires:  2026-07-12T05:31:17Z\n")
        let request = api.request
        #expect(request.hasPrefix("POST /v1/tasks HTTP/1.1\r\n"))
        #expect(request.contains("Content-Type: application/json\r\n"))
        #expect(request.hasSuffix(#"{"expire":"30m","name":"build"}"#))
    }

    @Test("tasks create without --expire leaves the API's default")
    func tasksCreateDefault() throws {
        let api = try FakeSpriteAPI([Self.jsonResponse("201 Created", Self.task)])
        #expect(runSpriteEnv(["tasks", "create", "build"], socketPath: api.socketPath).status == 0)
        #expect(api.request.hasSuffix("\r\n\r\n" + #"{"name":"build"}"#))
    }

    @Test("a task that exists makes create fail with the API's message")
    func tasksCreateConflict() throws {
        let api = try FakeSpriteAPI([Self.jsonResponse("409 Conflict", #"{"error":"already_exists","message":"task build already exists"}"#)])
        let result = runSpriteEnv(["tasks", "create", "build"], socketPath: api.socketPath)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "sprite-env: task build already exists\n")
    }

    @Test("tasks renew puts seconds as a JSON number to the escaped name")
    func tasksRenew() throws {
        let api = try FakeSpriteAPI([Self.jsonResponse("200 OK", Self.task)])
        let result = runSpriteEnv(["tasks", "renew", "db:migrate ü", "--expire", "0900", "--json"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == Self.task + "\n")
        let request = api.request
        #expect(request.hasPrefix("PUT /v1/tasks/db%3Amigrate%20%C3%BC HTTP/1.1\r\n"))
        #expect(request.hasSuffix("\r\n\r\n" + #"{"expire":900}"#))
    }

    @Test("tasks get asks for one task; a missing one fails with the API's message")
    func tasksGet() throws {
        let api = try FakeSpriteAPI([Self.jsonResponse("404 Not Found", #"{"error":"not_found","message":"task build not found"}"#)])
        let result = runSpriteEnv(["tasks", "get", "build"], socketPath: api.socketPath)
        #expect(result.status == 1)
        #expect(result.stderr == "sprite-env: task build not found\n")
        #expect(api.request.hasPrefix("GET /v1/tasks/build HTTP/1.1\r\n"))
    }

    @Test("tasks delete expects 204 and says what it did")
    func tasksDelete() throws {
        let api = try FakeSpriteAPI(["HTTP/1.1 204 No Content\r\n\r\n"])
        let result = runSpriteEnv(["tasks", "rm", "a/b"], socketPath: api.socketPath)
        #expect(result.status == 0)
        #expect(result.stdout == "Task a/b deleted\n")
        #expect(api.request.hasPrefix("DELETE /v1/tasks/a%2Fb HTTP/1.1\r\n"))
    }

    @Test("curl prints the body whatever the status, and fails on non-2xx")
    func curl() throws {
        let api = try FakeSpriteAPI(["HTTP/1.1 409 Conflict\r\n\r\n{\"error\":\"exists\"}"])
        let result = runSpriteEnv(["curl", "-X", "PUT", "-d", "{}", "/v1/tasks/t"], socketPath: api.socketPath)
        #expect(result.status == 1)
        #expect(result.stdout == "{\"error\":\"exists\"}")
        #expect(result.stderr == "sprite-env: PUT /v1/tasks/t: HTTP 409 Conflict\n")
        #expect(api.request.hasPrefix("PUT /v1/tasks/t HTTP/1.1\r\n"))
    }

    @Test("a missing socket is reported as such")
    func missingSocket() {
        let result = runSpriteEnv(["checkpoints", "list"], socketPath: "/nonexistent/api.sock")
        #expect(result.status == 1)
        #expect(result.stderr.contains("no sprite API socket at /nonexistent/api.sock"))
    }

    @Test("usage errors exit 2 with the relevant help on stderr")
    func usage() {
        let result = runSpriteEnv(["checkpoints", "frob"], socketPath: "/nonexistent/api.sock")
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("sprite-env: unknown checkpoints subcommand 'frob'\n\nusage: sprite-env checkpoints"))
    }
}
