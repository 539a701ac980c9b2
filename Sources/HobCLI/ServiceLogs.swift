// `hob services logs NAME SERVICE [-n LINES] [-f]`: a service's log (SPRITES-API.md §8,
// `GET …/services/{svc}/logs`), like `sprite services logs`.

import ArgumentParser
import Foundation
import Glibc
import HobAPI
import HobClient

extension Services {
    public struct Logs: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Print a service's log.",
            discussion: """
                Prints /.sprite/logs/services/<service>.log (stdout and stderr together, with Hob's \
                "--- hob: … ---" notes) without booting a sleeping sprite. With -f, then prints what the service \
                writes while the sprite is awake, until interrupted.

                Examples:
                  hob services logs web api
                  hob services logs web api -n 50 -f
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Service name.")
        public var service: String

        @Option(name: [.customShort("n"), .long], help: "Only the last this many lines (default: all).")
        public var lines: Int?

        @Flag(name: [.short, .long], help: "Keep printing new output until interrupted.")
        public var follow = false

        public init() {}

        public func validate() throws {
            if let lines, lines < 0 { throw ValidationError("--lines must be 0 or more") }
        }

        /// How long one request follows; -f asks again when it ends.
        static let followSpan = "1h"

        public func run() async throws {
            try await CommandFailure.reporting(.service(sprite: name, name: service)) {
                let client = try Daemon.client()
                var wanted = lines
                while true {
                    let started = ContinuousClock.now
                    try await ServiceLogOutput.print(
                        try await client.serviceLogs(sprite: name, name: service, lines: wanted, duration: follow ? Self.followSpan : nil))
                    guard follow else { return }
                    // The next request follows on from here: nothing saved again.
                    wanted = 0
                    // A sleeping sprite is not followed (its stream ends at once): look again in a while.
                    if ContinuousClock.now - started < .seconds(2) { try await Task.sleep(for: .seconds(2)) }
                }
            }
        }
    }
}

/// Prints a logs stream: the service's output to stdout and stderr, its events as notes on
/// stderr, nothing for the last line.
enum ServiceLogOutput {
    static func print(_ events: ServiceEvents) async throws {
        for try await line in events {
            let data = line.data ?? ""
            switch line.type {
            case "stdout": _ = StandardStream.write(STDOUT_FILENO, Array(data.utf8))
            case "stderr": _ = StandardStream.write(STDERR_FILENO, Array(data.utf8))
            case "complete": return
            case "exit": StandardStream.printError("[exit] status \(line.exitCode.map(String.init) ?? "?")")
            default: StandardStream.printError("[\(line.type)]" + (data.isEmpty ? "" : " \(data)"))
            }
        }
        throw CommandError("the log stream ended early")
    }
}
