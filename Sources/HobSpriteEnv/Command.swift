// sprite-env's command line (SPRITES-API.md §12.2): what the user asked for, parsed without
// touching the socket, so every form is testable.

public enum SpriteEnvCommand: Equatable, Sendable {
    case help(HelpTopic)
    case checkpointsList(includeAuto: Bool, json: Bool)
    case checkpointsCreate(comment: String?)
    case checkpointsInfo(id: String, json: Bool)
    case checkpointsRestore(id: String)
    case checkpointsDelete(id: String)
    case tasksList(json: Bool)
    case tasksGet(name: String, json: Bool)
    /// `expire` is the user's duration as typed ("30m", "3600"); nil leaves the API's default.
    case tasksCreate(name: String, expire: String?, json: Bool)
    case tasksRenew(name: String, expire: String?, json: Bool)
    case tasksDelete(name: String)
    case curl(method: String, body: String?, path: String)
    case servicesList(json: Bool)
    case servicesGet(name: String, json: Bool)
    /// `duration` as typed ("5s"); nil streams until the service has started.
    case servicesCreate(name: String, definition: ServiceDefinition, duration: String?, stream: Bool)
    case servicesStart(name: String, duration: String?)
    case servicesStop(name: String, timeout: String?)
    case servicesRestart(name: String)
    case servicesDelete(name: String)
    case servicesSignal(name: String, signal: String)
}

public enum HelpTopic: Equatable, Sendable {
    case main, checkpoints, tasks, services, curl

    public var text: String {
        switch self {
        case .main:
            return """
                usage: sprite-env <command> [arguments]

                Talks to the sprite API at /.sprite/api.sock from inside a sprite.

                commands:
                  checkpoints list [--include-auto] [--json]   list the sprite's checkpoints
                  checkpoints create [--comment TEXT]          checkpoint the sprite's disk
                  checkpoints info <id> [--json]               show one checkpoint
                  checkpoints restore <id>                     restore a checkpoint (restarts the sprite)
                  checkpoints delete <id>                      delete a checkpoint
                  tasks list [--json]                          list the tasks keeping the sprite awake
                  tasks get <name> [--json]                    show one task
                  tasks create <name> [--expire DURATION]      keep the sprite awake, 1h unless told
                  tasks renew <name> [--expire DURATION]       create or extend a task
                  tasks delete <name>                          end a task
                  services list [--json]                       list services and their state
                  services create <name> --cmd BIN [options]   define and start a service
                  services start|stop|restart|delete <name>    control a service
                  services signal <name> <SIGNAL>              signal a running service
                  curl [-X METHOD] [-d BODY] <path>            send a raw request to the sprite API
                  help [checkpoints|tasks|services|curl]       show this help, or a command's

                The last five checkpoints are also mounted read-only at /.sprite/checkpoints/<id>.

                """
        case .checkpoints:
            return """
                usage: sprite-env checkpoints <subcommand> [options]

                  list [--include-auto] [--json]   list checkpoints; "Current" is the sprite's live
                                                   state, not a checkpoint. --include-auto adds
                                                   automatic ones, --json prints the API's JSON
                                                   unchanged (alias: ls)
                  create [--comment TEXT]          checkpoint the disk (files only: no memory, no
                                                   processes) and print progress as it happens
                  info <id> [--json]               show one checkpoint, e.g. v3
                  restore <id>                     make the disk what it was at <id>; stops every
                                                   process in the sprite, this command included
                  delete <id>                      delete a checkpoint (alias: rm)

                """
        case .tasks:
            return """
                usage: sprite-env tasks <subcommand> [options]

                A task keeps the sprite running while it lasts, at most an hour; long work renews
                it, e.g. every few minutes with a short --expire, so the hold ends soon after the
                work does (or dies). DURATION is seconds (3600) or a duration such as 30m or 1h.

                  list [--json]                      list live tasks (alias: ls)
                  get <name> [--json]                show one task (alias: info)
                  create <name> [--expire DURATION]  start a task; fails if it already exists
                         [--json]
                  renew <name> [--expire DURATION]   start a task, or make an existing one end
                        [--json]                     DURATION from now
                  delete <name>                      end a task (alias: rm)

                --json prints the API's JSON unchanged.

                """
        case .services:
            return """
                usage: sprite-env services <subcommand> [options]

                Services are processes the sprite keeps running: they start when the sprite boots
                (after the services they need), restart when they crash, and stay stopped once
                stopped, even across restarts. Output goes to /.sprite/logs/services/<name>.log.

                  list [--json]                     list services (alias: ls)
                  get <name> [--json]               show one service (alias: info)
                  create <name> --cmd BIN           define (or redefine) a service and start it;
                         [--args "A,B"]             arguments, comma-separated (or after --)
                         [--env "K=V,K2=V2"]        environment
                         [--dir DIR]                working directory
                         [--needs "db,cache"]       services that must run first
                         [--http-port PORT]         the port the sprite's URL reaches
                         [--duration 5s]            follow its output this long
                         [--no-stream]              print only the result
                  start <name> [--duration 5s]      start a stopped service
                  stop <name> [--timeout 10s]       stop it (TERM, then KILL after the timeout)
                  restart <name>                    stop, then start
                  delete <name>                     stop and forget it (alias: rm)
                  signal <name> <SIGNAL>            send HUP, TERM, USR1, … (alias: kill)

                e.g. sprite-env services create web --cmd python3 --args "-m,http.server,8080" --http-port 8080

                """
        case .curl:
            return """
                usage: sprite-env curl [-X METHOD] [-d BODY] <path>

                Sends one request to the sprite API and prints the response body. <path> starts at
                /v1, e.g. /v1/checkpoints. -d sends BODY as JSON (and makes the default method POST).
                Exits 1 when the status is not 2xx.

                """
        }
    }
}

public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    /// The help to show with the message.
    public var topic: HelpTopic
    public init(_ message: String, topic: HelpTopic) {
        self.message = message
        self.topic = topic
    }
    public var description: String { message }
}

extension SpriteEnvCommand {
    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(UsageError) -> SpriteEnvCommand {
        guard let command = arguments.first else { throw UsageError("no command given", topic: .main) }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "-h", "--help": return .help(.main)
        case "help":
            switch rest.first {
            case nil: return .help(.main)
            case "checkpoints", "checkpoint": return .help(.checkpoints)
            case "tasks", "task": return .help(.tasks)
            case "services", "service": return .help(.services)
            case "curl": return .help(.curl)
            case let other?: throw UsageError("no help for unknown command '\(other)'", topic: .main)
            }
        case "checkpoints", "checkpoint": return try parseCheckpoints(rest)
        case "tasks", "task": return try parseTasks(rest)
        case "services", "service": return try parseServices(rest)
        case "curl": return try parseCurl(rest)
        default: throw UsageError("unknown command '\(command)'", topic: .main)
        }
    }

    private static func parseCheckpoints(_ arguments: [String]) throws(UsageError) -> SpriteEnvCommand {
        guard let sub = arguments.first else { throw UsageError("checkpoints needs a subcommand", topic: .checkpoints) }
        if sub == "-h" || sub == "--help" || sub == "help" { return .help(.checkpoints) }
        let rest = Array(arguments.dropFirst())
        switch sub {
        case "list", "ls":
            let options = try Options(rest, flags: ["--include-auto", "--json"], topic: .checkpoints)
            if options.wantsHelp { return .help(.checkpoints) }
            try options.expectNoPositionals(sub)
            return .checkpointsList(includeAuto: options.flags.contains("--include-auto"), json: options.flags.contains("--json"))
        case "create":
            let options = try Options(rest, valued: ["--comment": nil], topic: .checkpoints)
            if options.wantsHelp { return .help(.checkpoints) }
            try options.expectNoPositionals(sub)
            return .checkpointsCreate(comment: options.values["--comment"])
        case "info", "get":
            let options = try Options(rest, flags: ["--json"], topic: .checkpoints)
            if options.wantsHelp { return .help(.checkpoints) }
            return .checkpointsInfo(id: try options.checkpointID(sub), json: options.flags.contains("--json"))
        case "restore", "delete", "rm":
            let options = try Options(rest, topic: .checkpoints)
            if options.wantsHelp { return .help(.checkpoints) }
            let id = try options.checkpointID(sub)
            return sub == "restore" ? .checkpointsRestore(id: id) : .checkpointsDelete(id: id)
        default:
            throw UsageError("unknown checkpoints subcommand '\(sub)'", topic: .checkpoints)
        }
    }

    private static func parseTasks(_ arguments: [String]) throws(UsageError) -> SpriteEnvCommand {
        guard let sub = arguments.first else { throw UsageError("tasks needs a subcommand", topic: .tasks) }
        if sub == "-h" || sub == "--help" || sub == "help" { return .help(.tasks) }
        let rest = Array(arguments.dropFirst())
        switch sub {
        case "list", "ls":
            let options = try Options(rest, flags: ["--json"], topic: .tasks)
            if options.wantsHelp { return .help(.tasks) }
            try options.expectNoPositionals(sub)
            return .tasksList(json: options.flags.contains("--json"))
        case "get", "info":
            let options = try Options(rest, flags: ["--json"], topic: .tasks)
            if options.wantsHelp { return .help(.tasks) }
            return .tasksGet(name: try options.taskName(sub), json: options.flags.contains("--json"))
        case "create", "renew":
            let options = try Options(rest, flags: ["--json"], valued: ["--expire": nil], topic: .tasks)
            if options.wantsHelp { return .help(.tasks) }
            let name = try options.taskName(sub)
            let expire = options.values["--expire"]
            // An empty value would read as "no expiry given" to a user but as an invalid
            // duration to the API; say so here.
            if expire == "" { throw UsageError("--expire needs a duration, e.g. 30m or 3600", topic: .tasks) }
            let json = options.flags.contains("--json")
            return sub == "create" ? .tasksCreate(name: name, expire: expire, json: json) : .tasksRenew(name: name, expire: expire, json: json)
        case "delete", "rm":
            let options = try Options(rest, topic: .tasks)
            if options.wantsHelp { return .help(.tasks) }
            return .tasksDelete(name: try options.taskName(sub))
        default:
            throw UsageError("unknown tasks subcommand '\(sub)'", topic: .tasks)
        }
    }

    private static func parseCurl(_ arguments: [String]) throws(UsageError) -> SpriteEnvCommand {
        let options = try Options(arguments, valued: ["--request": "-X", "--data": "-d"], topic: .curl)
        if options.wantsHelp { return .help(.curl) }
        guard options.positionals.count == 1 else {
            throw UsageError(options.positionals.isEmpty ? "curl needs a path" : "curl takes one path", topic: .curl)
        }
        let path = try requestPath(options.positionals[0])
        let method = options.values["--request"]
        let body = options.values["--data"]
        let verb = (method ?? (body == nil ? "GET" : "POST")).uppercased()
        guard !verb.isEmpty, verb.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
            throw UsageError("invalid method '\(method ?? "")'", topic: .curl)
        }
        return .curl(method: verb, body: body, path: path)
    }

    /// The request target for a user's path: "/v1/x", "v1/x" and "http://sprite/v1/x" all mean
    /// /v1/x. Spaces and control characters would break the request line, so they are refused.
    static func requestPath(_ raw: String) throws(UsageError) -> String {
        var path = Substring(raw)
        for prefix in ["http://sprite", "http://localhost"] where path.hasPrefix(prefix) {
            path = path.dropFirst(prefix.count)
        }
        if !path.hasPrefix("/") { path = "/" + path }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else {
            throw UsageError("the path must not contain spaces or control characters (percent-encode them)", topic: .curl)
        }
        return String(path)
    }
}

/// Checkpoint IDs as the API names them (v3, auto-…, Current): letters, digits, '.', '_', '-'.
/// Anything else could not be a path segment of the request.
func isValidCheckpointID(_ id: String) -> Bool {
    !id.isEmpty && id.utf8.count <= 128
        && id.utf8.allSatisfy { b in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: "-")
        }
}

/// Options and positionals after a subcommand, read left to right (so an option's value is never
/// mistaken for an option). Options may come before or after positionals; `--` ends options.
struct Options {
    private(set) var flags: Set<String> = []
    private(set) var values: [String: String] = [:]
    private(set) var positionals: [String] = []
    private(set) var wantsHelp = false
    let topic: HelpTopic

    /// `flags` take no value; `valued` maps each long option taking a value to its short form, if
    /// any. A value is given as `--name VALUE`, `--name=VALUE`, `-X VALUE` or `-XVALUE`; the last
    /// one given wins.
    init(_ arguments: [String], flags known: Set<String> = [], valued: [String: String?] = [:], topic: HelpTopic) throws(UsageError) {
        self.topic = topic
        let shorts = Dictionary(uniqueKeysWithValues: valued.compactMap { long, short in short.map { ($0, long) } })
        var i = 0
        while i < arguments.count {
            let item = arguments[i]
            i += 1
            if item == "--" {
                positionals += arguments[i...]
                break
            }
            if item == "-h" || item == "--help" {
                wantsHelp = true
            } else if known.contains(item) {
                flags.insert(item)
            } else if let long = valued.keys.contains(item) ? item : shorts[item] {
                guard i < arguments.count else { throw UsageError("\(item) needs a value", topic: topic) }
                values[long] = arguments[i]
                i += 1
            } else if let eq = item.firstIndex(of: "="), item.hasPrefix("--") {
                let name = String(item[..<eq])
                guard valued.keys.contains(name) else {
                    throw UsageError(known.contains(name) ? "\(name) takes no value" : "unknown option '\(name)'", topic: topic)
                }
                values[name] = String(item[item.index(after: eq)...])
            } else if item.hasPrefix("-"), !item.hasPrefix("--"), item.count > 2, let long = shorts[String(item.prefix(2))] {
                values[long] = String(item.dropFirst(2))
            } else if item.hasPrefix("-") && item != "-" {
                throw UsageError("unknown option '\(item)'", topic: topic)
            } else {
                positionals.append(item)
            }
        }
    }

    func expectNoPositionals(_ subcommand: String) throws(UsageError) {
        if let extra = positionals.first { throw UsageError("\(subcommand) takes no argument (got '\(extra)')", topic: topic) }
    }

    func checkpointID(_ subcommand: String) throws(UsageError) -> String {
        guard positionals.count == 1 else {
            throw UsageError(
                positionals.isEmpty ? "\(subcommand) needs a checkpoint ID, e.g. v1" : "\(subcommand) takes one checkpoint ID",
                topic: topic)
        }
        let id = positionals[0]
        guard isValidCheckpointID(id) else { throw UsageError("invalid checkpoint ID '\(id)'", topic: topic) }
        return id
    }

    /// Task names are the API's to judge (it refuses spaces, control characters and '/'); any
    /// name is safe in a request because it is percent-encoded there. Only the empty name,
    /// which would address the task list itself, is refused here.
    func taskName(_ subcommand: String) throws(UsageError) -> String {
        guard positionals.count == 1 else {
            throw UsageError(positionals.isEmpty ? "\(subcommand) needs a task name" : "\(subcommand) takes one task name", topic: topic)
        }
        guard !positionals[0].isEmpty else { throw UsageError("the task name must not be empty", topic: topic) }
        return positionals[0]
    }
}
