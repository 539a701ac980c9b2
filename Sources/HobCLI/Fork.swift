// `hob fork`: new sprites whose disks are copy-on-write copies of another sprite's (Hob's `source` extension to
// POST /v1/sprites). With --count, one source fans out into NAME-1 … NAME-N, e.g. for parallel agents.

import ArgumentParser
import HobAPI
import HobClient

public struct Fork: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Create sprites from another sprite's disk or checkpoint.",
        discussion: """
            The new sprite starts from SOURCE's current disk, or from one of its checkpoints with --checkpoint. \
            Only files are copied, not memory or processes, and the copy is copy-on-write: quick, and it takes \
            space only as the sprites diverge. With --count N the sprites are named NAME-1 … NAME-N.

            Prints each new sprite's name as it is created; with --json, a JSON array of the created sprites \
            (an array even for one). If one fork fails, the sprites already created are kept and listed.

            Examples:
              hob fork demo demo-copy
              hob fork demo trial --checkpoint v2
              hob fork demo worker --count 4 --json | jq -r '.[].name'
            """)

    static let maxCount = 100

    @Argument(help: "The sprite to copy.")
    public var source: String

    @Argument(help: "Name of the new sprite (the prefix of the names with --count).")
    public var name: String

    @Option(help: ArgumentHelp("Copy this checkpoint of SOURCE instead of its current disk.", valueName: "id"))
    public var checkpoint: String?

    @Option(help: ArgumentHelp("How many sprites to create, 1 to \(maxCount).", valueName: "n"))
    public var count = 1

    @Flag(help: "Print a JSON array of the created sprites.")
    public var json = false

    public init() {}

    public func validate() throws {
        if source.isEmpty { throw ValidationError("the source sprite name must not be empty") }
        if name.isEmpty { throw ValidationError("the new sprite name must not be empty") }
        if let checkpoint, checkpoint.trimmingWhitespace().isEmpty {
            throw ValidationError("--checkpoint must not be empty")
        }
        guard (1...Self.maxCount).contains(count) else {
            throw ValidationError("--count must be between 1 and \(Self.maxCount), got \(count)")
        }
    }

    /// The names of the sprites this invocation creates, in order.
    public var names: [String] {
        count == 1 ? [name] : (1...count).map { "\(name)-\($0)" }
    }

    public func run() async throws {
        try await CommandFailure.reporting {
            let client = try Daemon.client()
            var created: [SpriteInfo] = []
            for newName in names {
                do {
                    let sprite = try await client.fork(source: source, checkpoint: checkpoint, name: newName)
                    created.append(sprite)
                    if !json { print(sprite.name) }
                } catch {
                    guard !created.isEmpty else { throw error }
                    // Say what exists now, so it can be used or destroyed; scripts get the same list as JSON.
                    if json { try JSONOutput.print(created) }
                    let done = created.map(\.name).joined(separator: ", ")
                    throw CommandError(
                        "created \(done), then creating \(newName) failed: \(CommandFailure.message(for: error, .none))")
                }
            }
            if json { try JSONOutput.print(created) }
        }
    }
}
