// `hob destroy`: DELETE /v1/sprites/{name}, after asking when a person is at the terminal.

import ArgumentParser
import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct Destroy: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Destroy a sprite and its disk.",
        discussion: """
            Asks for confirmation when stdin is a terminal; --force skips the question.

            Examples:
              hob destroy demo
              hob destroy demo --force
            """)

    @Argument(help: "Sprite name.")
    public var name: String

    @Flag(help: "Do not ask for confirmation.")
    public var force = false

    public init() {}

    public func run() async throws {
        try await CommandFailure.reporting(.sprite(name)) {
            if !force && StandardStream.isTerminal(STDIN_FILENO) {
                StandardStream.write(STDOUT_FILENO, Array("Destroy sprite \(name) and its disk? [y/N] ".utf8))
                let answer = readLine()?.trimmingWhitespace().lowercased() ?? ""
                guard answer == "y" || answer == "yes" else {
                    print("Not destroyed.")
                    throw ExitCode.failure
                }
            }
            try await Daemon.client().deleteSprite(name)
            print("Destroyed sprite \(name)")
        }
    }
}
