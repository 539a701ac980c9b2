// `sprite-env` (SPRITES-API.md §12.2): the command a sprite's own programs use to reach the sprite
// API at /.sprite/api.sock, e.g. to checkpoint themselves. It is a personality of the static
// hob-init binary (/.sprite/bin/sprite-env links to it), so it works whatever the sprite has done
// to its userland, and like hob-init it uses libc only.
import Glibc

/// Where sprite-env writes; the standard descriptors, or a capture in tests.
public struct Output {
    public var stdout: ([UInt8]) -> Void
    public var stderr: ([UInt8]) -> Void

    public init(stdout: @escaping ([UInt8]) -> Void, stderr: @escaping ([UInt8]) -> Void) {
        self.stdout = stdout
        self.stderr = stderr
    }

    public static var standard: Output {
        Output(stdout: { writeAll(1, $0) }, stderr: { writeAll(2, $0) })
    }

    func out(_ text: String) { stdout(Array(text.utf8)) }
    func err(_ text: String) { stderr(Array(text.utf8)) }
}

public enum SpriteEnv {
    public static let defaultSocketPath = "/.sprite/api.sock"
    /// Overrides the socket path (tests, or a sprite API reached elsewhere).
    public static let socketVariable = "HOB_SPRITE_API_SOCKET"

    /// The `sprite-env` program: `arguments` without the program name. Returns the exit status:
    /// 0 done, 1 failed (message on stderr), 2 usage error.
    public static func main(_ arguments: [String]) -> Int32 {
        let override = getenv(socketVariable).map { String(cString: $0) } ?? ""
        return run(arguments, socketPath: override.isEmpty ? defaultSocketPath : override, output: .standard)
    }

    public static func run(_ arguments: [String], socketPath: String, output: Output) -> Int32 {
        let command: SpriteEnvCommand
        do {
            command = try SpriteEnvCommand.parse(arguments)
        } catch {
            output.err("sprite-env: \(error.message)\n\n\(error.topic.text)")
            return 2
        }
        do {
            try Runner(api: APIClient(socketPath: socketPath), output: output).run(command)
            return 0
        } catch {
            output.err("sprite-env: \(error.message)\n")
            return 1
        }
    }
}

/// A failed command, as told to the user.
struct Failure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Runs one parsed command.
struct Runner {
    let api: APIClient
    let output: Output

    func run(_ command: SpriteEnvCommand) throws(Failure) {
        switch command {
        case .help(let topic):
            output.out(topic.text)
        case .checkpointsList(let includeAuto, let json):
            let body = try api.fetch(HTTPRequest(method: "GET", target: "/v1/checkpoints" + (includeAuto ? "?includeAuto=true" : "")))
            if json { return printRaw(body) }
            do {
                output.out(checkpointTable(try CheckpointEntry.list(try JSONValue.parse(body))))
            } catch {
                throw Failure("unexpected checkpoint list from the sprite API: \(error)")
            }
        case .checkpointsCreate(let comment):
            let body = JSONValue.object(comment.map { ["comment": .string($0)] } ?? [:]).serialized
            try stream(
                HTTPRequest(method: "POST", target: "/v1/checkpoint", body: Array(body.utf8), contentType: "application/json"),
                operation: "checkpoint")
        case .checkpointsInfo(let id, let json):
            let body = try api.fetch(HTTPRequest(method: "GET", target: "/v1/checkpoints/\(id)"))
            if json { return printRaw(body) }
            do {
                output.out(checkpointDetails(try CheckpointEntry(try JSONValue.parse(body))))
            } catch {
                throw Failure("unexpected checkpoint from the sprite API: \(error)")
            }
        case .checkpointsRestore(let id):
            // The restore stops every process in the sprite, this one included: the stream may
            // simply end with us.
            try stream(HTTPRequest(method: "POST", target: "/v1/checkpoints/\(id)/restore"), operation: "restore")
        case .checkpointsDelete(let id):
            _ = try api.fetch(HTTPRequest(method: "DELETE", target: "/v1/checkpoints/\(id)"))
            output.out("Checkpoint \(id) deleted\n")
        case .tasksList(let json):
            let body = try api.fetch(HTTPRequest(method: "GET", target: "/v1/tasks"))
            if json { return printRaw(body) }
            do {
                output.out(taskTable(try TaskEntry.list(try JSONValue.parse(body))))
            } catch {
                throw Failure("unexpected task list from the sprite API: \(error)")
            }
        case .tasksGet(let name, let json):
            try printTask(try api.fetch(HTTPRequest(method: "GET", target: Self.taskPath(name))), json: json)
        case .tasksCreate(let name, let expire, let json):
            let body = Self.taskBody(name: name, expire: expire)
            try printTask(
                try api.fetch(HTTPRequest(method: "POST", target: "/v1/tasks", body: Array(body.utf8), contentType: "application/json")),
                json: json)
        case .tasksRenew(let name, let expire, let json):
            // The name is in the path; the API creates the task if it does not exist.
            let body = Self.taskBody(name: nil, expire: expire)
            try printTask(
                try api.fetch(HTTPRequest(method: "PUT", target: Self.taskPath(name), body: Array(body.utf8), contentType: "application/json")),
                json: json)
        case .tasksDelete(let name):
            _ = try api.fetch(HTTPRequest(method: "DELETE", target: Self.taskPath(name)))
            output.out("Task \(name) deleted\n")
        case .curl(let method, let body, let path):
            try curl(method: method, body: body, path: path)
        case .servicesList, .servicesGet, .servicesCreate, .servicesStart, .servicesStop, .servicesRestart, .servicesDelete,
            .servicesSignal:
            try runServices(command)
        }
    }

    static func taskPath(_ name: String) -> String { "/v1/tasks/" + percentEncodedPathSegment(name) }

    /// `{"name":…,"expire":…}`. The API takes `expire` as seconds (a number) or a duration
    /// string, so digits go as a number, without leading zeros (which JSON forbids), and
    /// anything else goes as typed for the API to judge. Without `expire` the API's default
    /// (1h) applies.
    static func taskBody(name: String?, expire: String?) -> String {
        var members: [String: JSONValue] = [:]
        if let name { members["name"] = .string(name) }
        if let expire {
            let isSeconds = !expire.isEmpty && expire.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            if isSeconds {
                let digits = expire.drop(while: { $0 == "0" })
                members["expire"] = .number(digits.isEmpty ? "0" : String(digits))
            } else {
                members["expire"] = .string(expire)
            }
        }
        return JSONValue.object(members).serialized
    }

    private func printTask(_ body: [UInt8], json: Bool) throws(Failure) {
        if json { return printRaw(body) }
        do {
            output.out(taskDetails(try TaskEntry(try JSONValue.parse(body))))
        } catch {
            throw Failure("unexpected task from the sprite API: \(error)")
        }
    }

    func printRaw(_ body: [UInt8]) {
        output.stdout(body.last == 0x0a || body.isEmpty ? body : body + [0x0a])
    }

    /// A request answered with NDJSON progress (SPRITES-API.md §7.2), shown line by line as it
    /// arrives. Success is a `complete` line; an `error` line or an early end is a failure.
    private func stream(_ request: HTTPRequest, operation: String) throws(Failure) {
        var outcome: StreamLine?
        try streamLines(request) { line in
            switch StreamLine(line) {
            case .output(let text): output.out(text + "\n")
            case .diagnostic(let text): output.err(text + "\n")
            case .completed(let text):
                if !text.isEmpty { output.out(text + "\n") }
                outcome = .completed(text)
            case .failed(let message): outcome = .failed(message)
            case .nothing: break
            }
            return outcome == nil
        }
        switch outcome {
        case .completed?: return
        case .failed(let message)?: throw Failure(message)
        default: throw Failure("the \(operation) stream ended without a result; `sprite-env checkpoints list` shows what exists")
        }
    }

    /// Sends a request answered with NDJSON and hands each line to `onLine` as it arrives, until
    /// it returns false or the body ends (a last line without a newline included). A non-2xx
    /// status is a failure with the API's message, except `tolerated`, which returns false.
    @discardableResult
    func streamLines(_ request: HTTPRequest, tolerating tolerated: Int? = nil, _ onLine: ([UInt8]) -> Bool) throws(Failure) -> Bool {
        var status: HTTPResponseHead?
        var errorBody: [UInt8] = []
        var lines = LineSplitter()
        var more = true
        try api.perform(request) { (head: HTTPResponseHead) throws(Failure) in
            status = head
        } onBody: { (bytes: [UInt8]) throws(Failure) -> Bool in
            guard let status, status.isSuccess else {
                errorBody += bytes.prefix(APIClient.maxErrorBodyBytes - errorBody.count)
                return true
            }
            for line in lines.append(bytes) where more { more = onLine(line) }
            return more
        }
        guard let status else { throw Failure("the sprite API sent no response") }
        guard status.isSuccess else {
            if status.status == tolerated { return false }
            throw Failure(errorMessage(status: status.status, reason: status.reason, body: errorBody))
        }
        if more, let last = lines.finish() { _ = onLine(last) }
        return true
    }

    /// A raw request: the body goes to stdout as it arrives, whatever the status.
    private func curl(method: String, body: String?, path: String) throws(Failure) {
        var status: HTTPResponseHead?
        let request = HTTPRequest(
            method: method, target: path, body: body.map { Array($0.utf8) }, contentType: body == nil ? nil : "application/json")
        try api.perform(request) { (head: HTTPResponseHead) throws(Failure) in
            status = head
        } onBody: { (bytes: [UInt8]) throws(Failure) -> Bool in
            output.stdout(bytes)
            return true
        }
        guard let status else { throw Failure("the sprite API sent no response") }
        guard status.isSuccess else { throw Failure("\(method) \(path): HTTP \(status.status) \(status.reason)") }
    }
}

/// HTTP/1.1 over the sprite API's unix socket, one request per connection.
struct APIClient {
    let socketPath: String

    /// Bodies read whole (lists, details) are bounded; streams are not.
    static let maxBodyBytes = 16 << 20
    static let maxErrorBodyBytes = 64 << 10

    /// The body of a 2xx response; any other status becomes a failure with the API's message.
    func fetch(_ request: HTTPRequest) throws(Failure) -> [UInt8] {
        var status: HTTPResponseHead?
        var body: [UInt8] = []
        try perform(request) { (head: HTTPResponseHead) throws(Failure) in
            status = head
        } onBody: { (bytes: [UInt8]) throws(Failure) -> Bool in
            body += bytes
            guard body.count <= Self.maxBodyBytes else { throw Failure("the sprite API's response is larger than 16 MiB") }
            return true
        }
        guard let status else { throw Failure("the sprite API sent no response") }
        guard status.isSuccess else { throw Failure(errorMessage(status: status.status, reason: status.reason, body: body)) }
        return body
    }

    /// Sends `request`, then reports the response head once and body pieces as they arrive,
    /// until the response ends or `onBody` returns false.
    func perform(
        _ request: HTTPRequest, onHead: (HTTPResponseHead) throws(Failure) -> Void,
        onBody: ([UInt8]) throws(Failure) -> Bool
    ) throws(Failure) {
        let fd = try connect()
        defer { close(fd) }
        try send(fd, request.serialized)

        var parser = HTTPResponseParser(requestMethod: request.method)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                throw Failure("read from the sprite API at \(socketPath): \(describe(e))")
            }
            let events: [HTTPResponseParser.Event]
            do {
                events = n == 0 ? try parser.finish() : try parser.parse(buffer[0..<n])
            } catch {
                throw Failure("invalid response from the sprite API: \(error)")
            }
            for event in events {
                switch event {
                case .head(let head): try onHead(head)
                case .body(let bytes): if try !onBody(bytes) { return }
                case .end: return
                }
            }
        }
    }

    private func connect() throws(Failure) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw Failure("the sprite API socket path is too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure("create a socket: \(describe(errno))") }
        while true {
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 { return fd }
            let e = errno
            if e == EINTR { continue }
            close(fd)
            throw Failure(connectFailure(e))
        }
    }

    private func connectFailure(_ e: Int32) -> String {
        switch e {
        case ENOENT:
            var st = stat()
            if lstat(socketPath, &st) == 0 {
                // /.sprite/api.sock is a link into the daemon's socket directory: the link is
                // there, the socket is not.
                return "the sprite API is not available (\(socketPath) leads to no socket); the Hob daemon may be restarting, try again shortly"
            }
            return "no sprite API socket at \(socketPath): sprite-env works inside a Hob sprite (\(SpriteEnv.socketVariable) sets another path)"
        case ECONNREFUSED:
            return "the sprite API at \(socketPath) refused the connection; the Hob daemon may be restarting, try again shortly"
        default:
            return "connect to the sprite API at \(socketPath): \(describe(e))"
        }
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 {
                offset += n
                continue
            }
            let e = errno
            if e == EINTR { continue }
            // The server may answer (and close) before reading everything, e.g. with an error:
            // read that answer rather than report the broken pipe.
            if e == EPIPE || e == ECONNRESET { return }
            throw Failure("send to the sprite API at \(socketPath): \(describe(e))")
        }
    }
}

func describe(_ e: Int32) -> String { String(cString: strerror(e)) }

/// Writes everything to a blocking descriptor (hob-init uses it too, for its control messages).
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += n
    }
}
