// `sprite-env services …` (SPRITES-API.md §12.2): define, start, stop and inspect the sprite's
// services through /v1/services on the sprite API.

/// What `services create` defines.
public struct ServiceDefinition: Equatable, Sendable {
    public var cmd: String
    public var args: [String]
    public var env: [String: String]
    public var dir: String?
    public var needs: [String]
    public var httpPort: Int?

    public init(cmd: String, args: [String] = [], env: [String: String] = [:], dir: String? = nil, needs: [String] = [], httpPort: Int? = nil) {
        self.cmd = cmd
        self.args = args
        self.env = env
        self.dir = dir
        self.needs = needs
        self.httpPort = httpPort
    }

    var json: String {
        var members: [String: JSONValue] = ["cmd": .string(cmd)]
        if !args.isEmpty { members["args"] = .array(args.map { .string($0) }) }
        if !env.isEmpty { members["env"] = .object(env.mapValues { .string($0) }) }
        if let dir { members["dir"] = .string(dir) }
        if !needs.isEmpty { members["needs"] = .array(needs.map { .string($0) }) }
        if let httpPort { members["http_port"] = .number(String(httpPort)) }
        return JSONValue.object(members).serialized
    }
}

extension SpriteEnvCommand {
    static func parseServices(_ arguments: [String]) throws(UsageError) -> SpriteEnvCommand {
        guard let sub = arguments.first else { throw UsageError("services needs a subcommand", topic: .services) }
        if sub == "-h" || sub == "--help" || sub == "help" { return .help(.services) }
        let rest = Array(arguments.dropFirst())
        func name(_ options: Options, _ count: Int = 1) throws(UsageError) -> String {
            guard options.positionals.count >= 1 else { throw UsageError("\(sub) needs a service name", topic: .services) }
            guard options.positionals.count <= count else { throw UsageError("\(sub) takes \(count == 1 ? "one service name" : "a service name and a signal")", topic: .services) }
            return options.positionals[0]
        }
        switch sub {
        case "list", "ls":
            let options = try Options(rest, flags: ["--json"], topic: .services)
            if options.wantsHelp { return .help(.services) }
            try options.expectNoPositionals(sub)
            return .servicesList(json: options.flags.contains("--json"))
        case "get", "info":
            let options = try Options(rest, flags: ["--json"], topic: .services)
            if options.wantsHelp { return .help(.services) }
            return .servicesGet(name: try name(options), json: options.flags.contains("--json"))
        case "create":
            let options = try Options(
                rest, flags: ["--no-stream"],
                valued: ["--cmd": nil, "--args": nil, "--env": nil, "--dir": nil, "--needs": nil, "--http-port": nil, "--duration": nil],
                topic: .services)
            if options.wantsHelp { return .help(.services) }
            guard let service = options.positionals.first else { throw UsageError("create needs a service name", topic: .services) }
            // The command comes from --cmd, or from the words after `--`.
            var words = Array(options.positionals.dropFirst())
            let cmd: String
            if let given = options.values["--cmd"] {
                cmd = given
            } else if !words.isEmpty {
                cmd = words.removeFirst()
            } else {
                throw UsageError("create needs --cmd COMMAND (or the command after --)", topic: .services)
            }
            guard !cmd.isEmpty else { throw UsageError("--cmd must not be empty", topic: .services) }
            var definition = ServiceDefinition(cmd: cmd, args: Self.list(options.values["--args"]) + words)
            for item in Self.list(options.values["--env"]) {
                guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                    throw UsageError("--env takes KEY=VALUE pairs separated by commas, got '\(item)'", topic: .services)
                }
                definition.env[String(item[..<eq])] = String(item[item.index(after: eq)...])
            }
            definition.dir = options.values["--dir"]
            definition.needs = Self.list(options.values["--needs"])
            if let port = options.values["--http-port"] {
                guard let n = Int(port), (1...65535).contains(n) else { throw UsageError("--http-port must be a port number, got '\(port)'", topic: .services) }
                definition.httpPort = n
            }
            return .servicesCreate(
                name: service, definition: definition, duration: options.values["--duration"], stream: !options.flags.contains("--no-stream"))
        case "start":
            let options = try Options(rest, valued: ["--duration": nil], topic: .services)
            if options.wantsHelp { return .help(.services) }
            return .servicesStart(name: try name(options), duration: options.values["--duration"])
        case "stop":
            let options = try Options(rest, valued: ["--timeout": nil], topic: .services)
            if options.wantsHelp { return .help(.services) }
            return .servicesStop(name: try name(options), timeout: options.values["--timeout"])
        case "restart", "delete", "rm":
            let options = try Options(rest, topic: .services)
            if options.wantsHelp { return .help(.services) }
            let service = try name(options)
            return sub == "restart" ? .servicesRestart(name: service) : .servicesDelete(name: service)
        case "signal", "kill":
            let options = try Options(rest, topic: .services)
            if options.wantsHelp { return .help(.services) }
            let service = try name(options, 2)
            guard options.positionals.count == 2 else { throw UsageError("signal needs a service name and a signal, e.g. HUP", topic: .services) }
            return .servicesSignal(name: service, signal: options.positionals[1])
        default:
            throw UsageError("unknown services subcommand '\(sub)'", topic: .services)
        }
    }

    /// "a,b,c" as Sprites' CLI writes lists; empty items are dropped.
    static func list(_ text: String?) -> [String] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
    }
}

extension Runner {
    func runServices(_ command: SpriteEnvCommand) throws(Failure) {
        switch command {
        case .servicesList(let json):
            let body = try api.fetch(HTTPRequest(method: "GET", target: "/v1/services"))
            if json { return printRaw(body) }
            do {
                output.out(serviceTable(try ServiceEntry.list(try JSONValue.parse(body))))
            } catch {
                throw Failure("unexpected service list from the sprite API: \(error)")
            }
        case .servicesGet(let name, let json):
            let body = try api.fetch(HTTPRequest(method: "GET", target: Self.servicePath(name)))
            if json { return printRaw(body) }
            do {
                output.out(serviceDetails(try ServiceEntry(try JSONValue.parse(body))))
            } catch {
                throw Failure("unexpected service from the sprite API: \(error)")
            }
        case .servicesCreate(let name, let definition, let duration, let stream):
            try serviceStream(
                HTTPRequest(
                    method: "PUT", target: Self.servicePath(name) + Self.query("duration", duration), body: Array(definition.json.utf8),
                    contentType: "application/json"),
                quiet: !stream)
        case .servicesStart(let name, let duration):
            try serviceStream(HTTPRequest(method: "POST", target: Self.servicePath(name) + "/start" + Self.query("duration", duration)), quiet: false)
        case .servicesStop(let name, let timeout):
            try serviceStream(HTTPRequest(method: "POST", target: Self.servicePath(name) + "/stop" + Self.query("timeout", timeout)), quiet: false)
        case .servicesRestart(let name):
            try serviceStream(HTTPRequest(method: "POST", target: Self.servicePath(name) + "/stop"), quiet: false, notRunningIsFine: true)
            try serviceStream(HTTPRequest(method: "POST", target: Self.servicePath(name) + "/start"), quiet: false)
        case .servicesDelete(let name):
            _ = try api.fetch(HTTPRequest(method: "DELETE", target: Self.servicePath(name)))
            output.out("Service \(name) deleted\n")
        case .servicesSignal(let name, let signal):
            let body = JSONValue.object(["name": .string(name), "signal": .string(signal)]).serialized
            _ = try api.fetch(HTTPRequest(method: "POST", target: "/v1/services/signal", body: Array(body.utf8), contentType: "application/json"))
            output.out("Sent \(signal) to service \(name)\n")
        default:
            break
        }
    }

    static func servicePath(_ name: String) -> String { "/v1/services/" + percentEncodedPathSegment(name) }

    static func query(_ name: String, _ value: String?) -> String {
        guard let value, !value.isEmpty else { return "" }
        return "?\(name)=" + percentEncodedPathSegment(value)
    }

    /// A create, start or stop stream: the service's output as it arrives (stdout to stdout,
    /// stderr to stderr), its lifecycle events in brackets, then the `complete` line's summary.
    /// An `error` line as the last line is a failure; earlier ones (a failed start that will be
    /// retried) are shown and the stream goes on.
    private func serviceStream(_ request: HTTPRequest, quiet: Bool, notRunningIsFine: Bool = false) throws(Failure) {
        var completed = false
        var lastError: String?
        let answered = try streamLines(request, tolerating: notRunningIsFine ? 409 : nil) { line in
            guard let value = try? JSONValue.parse(line), let type = value["type"]?.stringValue else { return true }
            let data = value["data"]?.stringValue ?? ""
            lastError = nil
            switch type {
            case "stdout": if !quiet { output.out(data) }
            case "stderr": if !quiet { output.err(data) }
            case "complete":
                completed = true
                if !data.isEmpty { output.out(data + "\n") }
            case "error":
                lastError = data.isEmpty ? "the operation failed" : data
                if !quiet { output.err("[error] \(data)\n") }
            case "exit": if !quiet { output.out("[exit] status \(value["exit_code"].map { $0.numberText ?? "?" } ?? "?")\n") }
            default: if !quiet { output.out("[\(type)]" + (data.isEmpty ? "" : " \(data)") + "\n") }
            }
            return !completed
        }
        if completed || !answered { return }
        throw Failure(lastError ?? "the service stream ended without a result; `sprite-env services list` shows the state")
    }
}

/// One service of `GET /v1/services` (SPRITES-API.md §8).
public struct ServiceEntry: Equatable, Sendable {
    public var name: String
    public var command: [String]
    public var needs: [String]
    public var httpPort: String?
    public var dir: String?
    public var status: String
    public var pid: String?
    public var startedAt: String?
    public var restarts: String
    public var error: String?
    public var nextRestartAt: String?

    public init(_ value: JSONValue) throws(JSONError) {
        guard let name = value["name"]?.stringValue else { throw JSONError("service without a name") }
        self.name = name
        command = [value["cmd"]?.stringValue ?? ""] + (value["args"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        needs = value["needs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        httpPort = value["http_port"]?.numberText
        dir = value["dir"]?.stringValue
        let state = value["state"]
        status = state?["status"]?.stringValue ?? "unknown"
        pid = state?["pid"]?.numberText
        startedAt = state?["started_at"]?.stringValue
        restarts = state?["restart_count"]?.numberText ?? "0"
        error = state?["error"]?.stringValue
        nextRestartAt = state?["next_restart_at"]?.stringValue
    }

    public static func list(_ value: JSONValue) throws(JSONError) -> [ServiceEntry] {
        guard let items = value.arrayValue ?? value["services"]?.arrayValue else { throw JSONError("expected a JSON array of services") }
        var entries: [ServiceEntry] = []
        for item in items { entries.append(try ServiceEntry(item)) }
        return entries
    }
}

public func serviceTable(_ entries: [ServiceEntry]) -> String {
    guard !entries.isEmpty else { return "No services.\n" }
    let rows = entries.map { e in
        [e.name, e.status, e.pid ?? "-", e.httpPort ?? "-", e.restarts, singleLine(e.command.joined(separator: " "))]
    }
    return table(header: ["NAME", "STATUS", "PID", "HTTP", "RESTARTS", "COMMAND"], rows: rows)
}

public func serviceDetails(_ e: ServiceEntry) -> String {
    var fields = [("Name", e.name), ("Status", e.status), ("Command", singleLine(e.command.joined(separator: " ")))]
    if let pid = e.pid { fields.append(("PID", pid)) }
    if let started = e.startedAt { fields.append(("Started", started)) }
    if let port = e.httpPort { fields.append(("HTTP port", port)) }
    if let dir = e.dir { fields.append(("Directory", dir)) }
    if !e.needs.isEmpty { fields.append(("Needs", e.needs.joined(separator: ", "))) }
    fields.append(("Restarts", e.restarts))
    if let error = e.error { fields.append(("Last error", singleLine(error))) }
    if let next = e.nextRestartAt { fields.append(("Next restart", next)) }
    fields.append(("Log", "/.sprite/logs/services/\(e.name).log"))
    let width = fields.map(\.0.count).max() ?? 0
    return fields.map { name, value in "\(name):" + String(repeating: " ", count: width - name.count + 2) + value + "\n" }.joined()
}
