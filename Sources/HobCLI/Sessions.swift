// `hob sessions list|attach|kill`: the exec sessions running in a sprite (SPRITES-API.md §4.7, §4.9).

import ArgumentParser
import HobAPI
import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct Sessions: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "List, attach to, or signal a sprite's exec sessions.",
        discussion: """
            Examples:
              hob sessions list demo
              hob sessions attach demo 1234
              hob sessions kill demo 1234 --signal INT
            """,
        subcommands: [List.self, Attach.self, Kill.self])

    public init() {}
}

extension Sessions {
    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List a sprite's exec sessions.", aliases: ["ls"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Flag(help: "Print a JSON array of sessions.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let sessions = try await Daemon.client().listSessions(name)
                if json {
                    try JSONOutput.print(sessions)
                } else if sessions.isEmpty {
                    StandardStream.printError("No sessions in sprite \(name).")
                } else {
                    print(Self.table(sessions))
                }
            }
        }

        static func table(_ sessions: [ExecSessionInfo]) -> String {
            var table = TextTable(headers: ["ID", "TTY", "ACTIVE", "CREATED", "DIR", "COMMAND"])
            for s in sessions {
                table.rows.append([
                    s.id, s.tty ? "yes" : "no", s.isActive ? "yes" : "no", s.created, s.workdir, s.command,
                ])
            }
            return table.render()
        }
    }

    public struct Attach: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Attach to a running session.",
            discussion: """
                A TTY session takes over your terminal as `hob console` does (Ctrl+\\ detaches again); the output \
                of a non-TTY session is streamed until it exits or you press Ctrl-C, which detaches. The session's \
                recent output is replayed first.
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Session ID, from `hob sessions list`.")
        public var id: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.session(sprite: name, id: id)) {
                let connection = try await Daemon.client().attach(name, sessionID: id)
                let session = TerminalSession(
                    sprite: name, tty: nil, nonTTYStdin: .leaveAlone, resizeOnStart: true, forwardInterrupts: false)
                let outcome = await session.run(connection)
                let interactive = connection.tty == true && StandardStream.isTerminal(STDIN_FILENO)
                let status = SessionExit.status(for: outcome, sprite: name, tty: interactive)
                if status != 0 { throw ExitCode(status) }
            }
        }
    }

    public struct Kill: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Send a signal to a session's process.",
            discussion: """
                Exits 1 with a message if the process has already exited.

                Examples:
                  hob sessions kill demo 1234
                  hob sessions kill demo 1234 --signal KILL
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Session ID, from `hob sessions list`.")
        public var id: String

        @Option(help: ArgumentHelp("Signal: TERM, INT, HUP, KILL, QUIT, USR1, USR2 (or SIGTERM, 15, …).", valueName: "signal"))
        public var signal = "TERM"

        public init() {}

        /// The signal as the API spells it (`TERM`), or nil if unknown.
        public var signalName: String? {
            guard let number = SignalName.number(signal) else { return nil }
            return SignalName.numbers.first { $0.value == number }?.key
        }

        public func validate() throws {
            guard signalName != nil else { throw ValidationError("unknown signal \"\(signal)\"") }
        }

        public func run() async throws {
            try await CommandFailure.reporting(.session(sprite: name, id: id)) {
                let name = signalName ?? "TERM"
                try await Daemon.client().killSession(self.name, id: id, signal: name)
                print("Sent \(name) to session \(id) on \(self.name)")
            }
        }
    }
}
