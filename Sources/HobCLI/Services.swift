// `hob services list|get|create|start|stop|restart|delete|signal` (SPRITES-API.md §8): the processes a sprite
// keeps running. Create, start and stop print the service's events and output as they arrive.

import ArgumentParser
import HobAPI
import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct Services: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "services",
        abstract: "Define, start, stop and inspect a sprite's services.",
        discussion: """
            A service is a process the sprite keeps running: it starts when the sprite boots (after the services \
            it needs), restarts when it crashes (backing off from 0.5 s to 30 s), and stays stopped once stopped, \
            across restarts too. Its output goes to /.sprite/logs/services/<service>.log inside the sprite. The \
            service with an HTTP port is what the sprite's URL reaches (port 8080 otherwise).

            Examples:
              hob services create demo web --http-port 8080 -- python3 -m http.server 8080
              hob services list demo
              hob services stop demo web
              hob services signal demo web HUP
            """,
        subcommands: [List.self, Get.self, Create.self, Start.self, Stop.self, Restart.self, Delete.self, Signal.self, Logs.self],
        aliases: ["service"])

    public init() {}
}

extension Services {
    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List a sprite's services.", aliases: ["ls"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Flag(help: "Print the API's JSON array.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let services = try await Daemon.client().listServices(sprite: name)
                if json {
                    try JSONOutput.print(services)
                } else if services.isEmpty {
                    StandardStream.printError("No services in sprite \(name).")
                } else {
                    print(Self.table(services))
                }
            }
        }

        static func table(_ services: [ServiceInfo]) -> String {
            var table = TextTable(headers: ["NAME", "STATUS", "PID", "HTTP", "RESTARTS", "COMMAND"])
            for s in services {
                table.rows.append([
                    s.name, s.state.status, s.state.pid.map(String.init) ?? "-", s.httpPort.map(String.init) ?? "-",
                    String(s.state.restartCount), ([s.cmd] + s.args).joined(separator: " "),
                ])
            }
            return table.render()
        }
    }

    public struct Get: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show one service.", aliases: ["info"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        @Flag(help: "Print the API's JSON.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                let s = try await Daemon.client().service(sprite: name, name: service)
                if json { return try JSONOutput.print(s) }
                var block = KeyValueBlock()
                block.add("Name", s.name)
                block.add("Status", s.state.status)
                block.add("Command", ([s.cmd] + s.args).joined(separator: " "))
                block.add("PID", s.state.pid.map(String.init))
                block.add("Started", s.state.startedAt)
                block.add("HTTP port", s.httpPort.map(String.init))
                block.add("Directory", s.dir)
                block.add("Needs", s.needs.isEmpty ? nil : s.needs.joined(separator: ", "))
                block.add("Environment", s.env.isEmpty ? nil : s.env.keys.sorted().map { "\($0)=\(s.env[$0]!)" }.joined(separator: " "))
                block.add("Restarts", String(s.state.restartCount))
                block.add("Last error", s.state.error)
                block.add("Next restart", s.state.nextRestartAt)
                block.add("Log", "/.sprite/logs/services/\(s.name).log")
                print(block.render())
            }
        }
    }

    public struct Create: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Define (or redefine) a service and start it.",
            discussion: """
                The command is --cmd with --arg values, or everything after `--`. Redefining a running service \
                restarts it when its command, environment or directory changed. Prints the service's events until \
                it has started, or its output for --duration.

                Examples:
                  hob services create demo web --http-port 8080 -- python3 -m http.server 8080
                  hob services create demo worker --cmd ./worker.sh --dir /srv/app --env QUEUE=jobs --needs db
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name: letters, digits, '-', '_' and '.'.")
        public var service: String

        @Option(help: ArgumentHelp("The program to run (found on the sprite's PATH).", valueName: "command"))
        public var cmd: String?

        @Option(name: .customLong("arg"), help: ArgumentHelp("An argument (repeatable).", valueName: "arg"))
        public var args: [String] = []

        @Option(help: ArgumentHelp("An environment variable, KEY=VALUE (repeatable).", valueName: "KEY=VALUE"))
        public var env: [String] = []

        @Option(help: ArgumentHelp("Working directory inside the sprite (default /).", valueName: "dir"))
        public var dir: String?

        @Option(help: ArgumentHelp("A service that must be running first (repeatable).", valueName: "service"))
        public var needs: [String] = []

        @Option(help: ArgumentHelp("The port the sprite's URL reaches.", valueName: "port"))
        public var httpPort: Int?

        @Option(help: ArgumentHelp("Follow the service's output this long, e.g. 10s.", valueName: "duration"))
        public var duration: String?

        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
        public var command: [String] = []

        public init() {}

        public func validate() throws {
            if cmd == nil && command.isEmpty { throw ValidationError("give the command with --cmd or after --") }
            if cmd != nil && !command.isEmpty && !args.isEmpty { throw ValidationError("give arguments with --arg or after --, not both") }
            for item in env { _ = try KeyValueArgument.split(item, flag: "--env") }
        }

        var request: ServiceRequest {
            var words = command
            let program = cmd ?? words.removeFirst()
            var environment: [String: String] = [:]
            for item in env {
                if let (k, v) = try? KeyValueArgument.split(item, flag: "--env") { environment[k] = v }
            }
            return ServiceRequest(
                cmd: program, args: args + words, needs: needs.isEmpty ? nil : needs, httpPort: httpPort,
                env: environment.isEmpty ? nil : environment, dir: dir)
        }

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                try await ServiceOutput.follow(try await Daemon.client().putService(sprite: name, name: service, request, duration: duration))
            }
        }
    }

    public struct Start: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Start a stopped service (and what it needs).")

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        @Option(help: ArgumentHelp("Follow the service's output this long, e.g. 10s.", valueName: "duration"))
        public var duration: String?

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                try await ServiceOutput.follow(try await Daemon.client().startService(sprite: name, name: service, duration: duration))
            }
        }
    }

    public struct Stop: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Stop a service; it stays stopped until started again.")

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        @Option(help: ArgumentHelp("How long it gets after TERM before KILL (default 10s).", valueName: "duration"))
        public var timeout: String?

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                try await ServiceOutput.follow(try await Daemon.client().stopService(sprite: name, name: service, timeout: timeout))
            }
        }
    }

    public struct Restart: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Stop a service if it runs, then start it.")

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                // One stream: the stop (when it runs), then the start.
                try await ServiceOutput.follow(try await Daemon.client().restartService(sprite: name, name: service))
            }
        }
    }

    public struct Delete: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Stop a service and forget it.", aliases: ["rm"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                try await Daemon.client().deleteService(sprite: name, name: service)
                print("Deleted service \(service) of \(name)")
            }
        }
    }

    public struct Signal: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Send a signal to a running service's processes.", aliases: ["kill"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        @Argument(help: "Signal: HUP, TERM, INT, KILL, QUIT, USR1, USR2 (or SIGHUP, 1, …).")
        public var signal: String

        public init() {}

        public func validate() throws {
            guard SignalName.number(signal) != nil else { throw ValidationError("unknown signal \"\(signal)\"") }
        }

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                try await Daemon.client().signalService(sprite: name, name: service, signal: signal)
                print("Sent \(signal) to service \(service) of \(name)")
            }
        }
    }
}

/// Prints a service stream: output as it comes (stdout and stderr kept apart), events in brackets on stderr, the
/// summary last. Fails when the stream ends with an error or without its `complete` line.
enum ServiceOutput {
    static func follow(_ events: ServiceEvents) async throws {
        var lastError: String?
        for try await line in events {
            lastError = nil
            let data = line.data ?? ""
            switch line.type {
            case "stdout": _ = StandardStream.write(STDOUT_FILENO, Array(data.utf8))
            case "stderr": _ = StandardStream.write(STDERR_FILENO, Array(data.utf8))
            case "complete":
                StandardStream.printError(data)
                return
            case "error":
                lastError = data
                StandardStream.printError("[error] \(data)")
            case "exit": StandardStream.printError("[exit] status \(line.exitCode.map(String.init) ?? "?")")
            default: StandardStream.printError("[\(line.type)]" + (data.isEmpty ? "" : " \(data)"))
            }
        }
        throw CommandError(lastError ?? "the service stream ended early; see `hob services list`")
    }
}
