// Checkpoints as a test drives them: create and restore answer with NDJSON progress streams (read
// whole here, or cut short by a crash), lists are JSON arrays, forks are sprites created with a
// `source`, and the in-sprite API is reached with curl from inside a sprite.
import Foundation
import Testing

/// One entry of `GET …/checkpoints` (or `GET …/checkpoints/{id}`).
struct CheckpointEntry: Sendable, Equatable, CustomStringConvertible {
    let id: String
    let createTime: String
    let comment: String
    /// Lineage, nearest first.
    let history: [String]
    let isAuto: Bool

    init?(_ json: [String: Any]) {
        guard let id = json["id"] as? String, let createTime = json["create_time"] as? String,
            let comment = json["comment"] as? String, let history = json["history"] as? [String],
            let isAuto = json["is_auto"] as? Bool
        else { return nil }
        self.id = id
        self.createTime = createTime
        self.comment = comment
        self.history = history
        self.isAuto = isAuto
    }

    var description: String { "\(id)\(isAuto ? " (auto)" : "") \(history) \"\(comment.prefix(60))\"" }
}

extension HTTPResult {
    /// The body as a JSON array of objects (checkpoint lists).
    var jsonArray: [[String: Any]]? { try? JSONSerialization.jsonObject(with: body) as? [[String: Any]] }

    /// The body as NDJSON, one object per line (an empty object for a line that is not one).
    var ndjson: [[String: Any]] {
        text.split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        }
    }

    /// `type` and `data` (or `error`) of each NDJSON line.
    var streamMessages: [(type: String, data: String)] {
        ndjson.map { ($0["type"] as? String ?? "?", $0["data"] as? String ?? $0["error"] as? String ?? "") }
    }

    /// A 200 whose stream ends with a `complete` line.
    var streamCompleted: Bool { status == 200 && streamMessages.last?.type == "complete" }
}

extension DaemonFixture {
    /// `POST …/checkpoint`; fails unless the stream completes. Returns the new checkpoint's id,
    /// read from the stream's "  ID: vN" line.
    @discardableResult
    func checkpoint(_ sprite: String, comment: String? = nil) async throws -> String {
        let body = try comment.map { try JSONSerialization.data(withJSONObject: ["comment": $0]) }
        let response = try await http("POST", "/v1/sprites/\(sprite)/checkpoint", body: body)
        let idLine = response.streamMessages.first { $0.type == "info" && $0.data.hasPrefix("  ID: ") }
        guard response.streamCompleted, let id = idLine.map({ String($0.data.dropFirst("  ID: ".count)) }) else {
            throw TestFailure("checkpoint of \(sprite) did not complete: \(response)")
        }
        return id
    }

    /// `POST …/checkpoints/{id}/restore`; fails unless the stream completes.
    func restore(_ sprite: String, _ id: String) async throws {
        let response = try await http("POST", "/v1/sprites/\(sprite)/checkpoints/\(id)/restore")
        guard response.streamCompleted else { throw TestFailure("restore of \(id) on \(sprite) did not complete: \(response)") }
    }

    /// `GET …/checkpoints`, without the leading `Current` entry.
    func checkpoints(_ sprite: String, includeAuto: Bool = false) async throws -> [CheckpointEntry] {
        let all = try await checkpointList(sprite, includeAuto: includeAuto)
        guard all.first?.id == "Current" else { throw TestFailure("the checkpoint list of \(sprite) does not start with Current: \(all)") }
        return Array(all.dropFirst())
    }

    /// `GET …/checkpoints` as listed, `Current` included.
    func checkpointList(_ sprite: String, includeAuto: Bool = false) async throws -> [CheckpointEntry] {
        let response = try await http("GET", "/v1/sprites/\(sprite)/checkpoints" + (includeAuto ? "?includeAuto=true" : ""))
        guard response.status == 200, let array = response.jsonArray else {
            throw TestFailure("listing checkpoints of \(sprite): \(response)")
        }
        let entries = array.compactMap(CheckpointEntry.init)
        guard entries.count == array.count else { throw TestFailure("malformed checkpoint entries for \(sprite): \(response)") }
        return entries
    }

    /// The checkpoint the live disk descends from (the head): the first of `Current`'s history.
    func head(_ sprite: String) async throws -> String? {
        try await checkpointList(sprite).first?.history.first
    }

    /// `POST /v1/sprites` with a fork source (the live disk when `checkpoint` is nil).
    func fork(_ name: String, from source: String, checkpoint: String? = nil) async throws -> HTTPResult {
        var from: [String: String] = ["sprite": source]
        from["checkpoint"] = checkpoint
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "source": from])
        return try await http("POST", "/v1/sprites", body: body)
    }

    /// A fork that must succeed (201).
    func forkSprite(_ name: String, from source: String, checkpoint: String? = nil) async throws {
        let response = try await fork(name, from: source, checkpoint: checkpoint)
        guard response.status == 201 else {
            throw TestFailure("forking \(source) at \(checkpoint ?? "its live disk") as \(name): \(response)")
        }
    }

    /// `GET /v1/sprites/{name}` as JSON; fails unless 200.
    func spriteInfo(_ name: String) async throws -> [String: Any] {
        let response = try await http("GET", "/v1/sprites/\(name)")
        guard response.status == 200, let json = response.json else { throw TestFailure("GET sprite \(name): \(response)") }
        return json
    }

    /// A request to the in-sprite API, made with curl by a process inside `sprite` (as `user`, or root).
    /// The result has no headers.
    func spriteAPI(
        in sprite: String, _ method: String, _ path: String, body: String? = nil, asUser user: Int? = nil
    ) async throws -> HTTPResult {
        var curl = ["curl", "-s", "-S", "--unix-socket", "/.sprite/api.sock", "-X", method, "-w", "\\n%{http_code}"]
        if let body { curl += ["-H", "Content-Type: application/json", "--data-binary", body] }
        curl.append("http://sprite" + path)
        if let user { curl = ["setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups"] + curl }
        let result = try await exec(sprite, curl)
        guard result.succeeded, let newline = result.stdout.lastIndex(of: "\n"),
            let status = Int(result.stdout[result.stdout.index(after: newline)...])
        else { throw TestFailure("curl \(method) \(path) on /.sprite/api.sock in \(sprite) failed: \(result)") }
        return HTTPResult(status: status, body: Data(result.stdout[..<newline].utf8), headers: [:])
    }

    /// The names under /.sprite/checkpoints inside a running sprite, sorted.
    func mountedCheckpoints(_ sprite: String) async throws -> [String] {
        let listed = try await exec(sprite, ["ls", "-1", "/.sprite/checkpoints"])
        guard listed.succeeded else { throw TestFailure("ls /.sprite/checkpoints in \(sprite): \(listed)") }
        return listed.stdout.lines.sorted()
    }

    /// The host path of the in-sprite API's socket (which refuses host processes).
    var spriteAPISocket: String { stateDirectory + "/run/api/api.sock" }

    /// Sends a request answered with an NDJSON stream and SIGKILLs the daemon as soon as the first
    /// line of the stream arrives (plus `delay`), as a crash in the middle of the operation would.
    /// The daemon is not running afterwards.
    func crash(during method: String, _ path: String, body: Data? = nil, after delay: Duration = .zero) async throws -> Crash {
        guard let pid else { throw TestFailure("crash: hob serve is not running") }
        let port = port
        let token = token
        let received = try await offPool {
            let deadline = ContinuousClock.now + .seconds(120)
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            let payload = body ?? Data()
            try connection.send(
                [
                    "\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Authorization: Bearer \(token)",
                    "Content-Type: application/json", "Content-Length: \(payload.count)",
                ].joined(separator: "\r\n") + "\r\n\r\n")
            try connection.send(Array(payload))
            guard let head = try connection.readHead(deadline: deadline), RawHTTP.status(of: head) == 200 else {
                throw TestFailure("\(method) \(path) was not answered with a stream")
            }
            // The body is chunked; the first NDJSON line ends with "}\n".
            var bytes: [UInt8] = []
            while !(bytes.suffix(2) == [UInt8(ascii: "}"), UInt8(ascii: "\n")]) {
                guard let byte = try connection.read(1, deadline: deadline) else {
                    throw TestFailure("\(method) \(path): the stream ended before its first line")
                }
                bytes += byte
            }
            if delay > .zero {
                let (seconds, attoseconds) = delay.components
                Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
            }
            Glibc.kill(pid, SIGKILL)
            // Without the chunk-size line that precedes it.
            return String(decoding: bytes.drop { $0 != UInt8(ascii: "{") }, as: UTF8.self)
        }
        await kill9()  // waits for the exit, and makes tearDown restart the daemon if a test ends here
        return Crash(received: received.trimmed, strays: strayProcesses())
    }
}

/// What `DaemonFixture.crash` left.
struct Crash: Sendable {
    /// The stream's first line, which arrived before the kill.
    let received: String
    /// Processes of the killed daemon that outlived it (see `DaemonFixture.strayProcesses`).
    let strays: [pid_t]
}

/// A checkpoint list's ids, in order.
func ids(_ entries: [CheckpointEntry]) -> [String] { entries.map(\.id) }
