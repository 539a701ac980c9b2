// `hob checkpoint create|list|info|delete|restore` and `hob restore` (SPRITES-API.md §7, §13). Create and restore
// print the server's progress lines as they arrive; the others are single JSON calls.

import ArgumentParser
import HobAPI
import HobClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct Checkpoint: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Create, list, inspect, delete and restore a sprite's checkpoints.",
        discussion: """
            A checkpoint is a read-only copy of a sprite's disk at one moment: files only, not memory or \
            processes. It is copy-on-write, so taking one is quick and it holds only what has changed since. \
            Checkpoints are named v0, v1, …; automatic ones (auto-1, …) are hidden unless --include-auto.

            Examples:
              hob checkpoint create demo --comment "before upgrade"
              hob checkpoint list demo
              hob checkpoint info demo v1
              hob checkpoint restore demo v1
              hob checkpoint delete demo v1
            """,
        subcommands: [Create.self, List.self, Info.self, Delete.self, Restore.self])

    public init() {}
}

extension Checkpoint {
    public struct Create: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Checkpoint a sprite's disk.",
            discussion: """
                Prints the server's progress as it arrives; the sprite keeps running. With --json the progress \
                goes to stderr and stdout gets the new checkpoint's id, e.g. {"id": "v3"}.

                Examples:
                  hob checkpoint create demo
                  hob checkpoint create demo --comment "before upgrade"
                  id=$(hob checkpoint create demo --json | jq -r .id)
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Option(help: ArgumentHelp("A note stored with the checkpoint.", valueName: "text"))
        public var comment: String?

        @Flag(help: "Print the new checkpoint's id as JSON.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let progress = try await Daemon.client().createCheckpoint(sprite: name, comment: comment)
                let messages = try await ProgressOutput.follow(progress, statusTo: json ? STDERR_FILENO : STDOUT_FILENO)
                guard json else { return }
                guard let id = CheckpointProgress.createdCheckpointID(in: messages) else {
                    throw CommandError(
                        "the checkpoint of \(name) was created, but the server did not report its id; "
                            + "see `hob checkpoint list \(name)`")
                }
                try JSONOutput.print(["id": id])
            }
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List a sprite's checkpoints.",
            discussion: """
                The first row, Current, is the sprite's live disk, with the checkpoint it was last restored to or \
                forked from. SIZE is the space only that checkpoint holds, about what deleting it frees.

                Examples:
                  hob checkpoint list demo
                  hob checkpoint ls demo --include-auto
                  hob checkpoint list demo --history v1
                  hob checkpoint list demo --json | jq -r '.[].id'
                """,
            aliases: ["ls"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Flag(name: .customLong("include-auto"), help: "Include automatic checkpoints (auto-1, …).")
        public var includeAuto = false

        @Option(help: ArgumentHelp("Only checkpoints descended from this one.", valueName: "id"))
        public var history: String?

        @Flag(help: "Print a JSON array of checkpoints.")
        public var json = false

        public init() {}

        public func validate() throws {
            if let history, history.trimmingWhitespace().isEmpty { throw ValidationError("--history must not be empty") }
        }

        public func run() async throws {
            try await CommandFailure.reporting(.sprite(name)) {
                let checkpoints = try await Daemon.client().listCheckpoints(
                    sprite: name, includeAuto: includeAuto, history: history)
                if json {
                    try JSONOutput.print(checkpoints)
                } else if checkpoints.isEmpty {
                    StandardStream.printError(
                        history.map { "No checkpoints of \(name) descend from \($0)." } ?? "No checkpoints of \(name).")
                } else {
                    print(Self.table(checkpoints))
                }
            }
        }

        /// The pseudo-checkpoint that stands for the live disk.
        static let currentID = "Current"

        static func table(_ checkpoints: [CheckpointInfo]) -> String {
            var table = TextTable(headers: ["ID", "CREATED", "SIZE", "COMMENT"])
            for checkpoint in checkpoints {
                var comment = checkpoint.comment.replacing("\n", with: " ")
                if checkpoint.id == currentID {
                    // History is nearest first: its head is the checkpoint the live disk came from.
                    let marker = checkpoint.history.first.map { "(live disk, from \($0))" } ?? "(live disk)"
                    comment = comment.isEmpty ? marker : "\(marker) \(comment)"
                }
                table.rows.append([
                    checkpoint.id, checkpoint.createTime, ByteCount.format(checkpoint.sizeBytes),
                    comment.isEmpty ? "-" : comment,
                ])
            }
            return table.render()
        }
    }

    public struct Info: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show one checkpoint.",
            discussion: """
                Examples:
                  hob checkpoint info demo v1
                  hob checkpoint info demo v1 --json | jq .history
                """)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Checkpoint ID, e.g. v1 (see `hob checkpoint list`).")
        public var id: String

        @Flag(help: "Print the checkpoint as JSON.")
        public var json = false

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.checkpoint(sprite: name, id: id)) {
                let checkpoint = try await Daemon.client().checkpoint(sprite: name, id: id)
                if json { try JSONOutput.print(checkpoint) } else { print(Self.describe(checkpoint)) }
            }
        }

        static func describe(_ checkpoint: CheckpointInfo) -> String {
            var block = KeyValueBlock()
            block.add("id", checkpoint.id)
            block.add("created", checkpoint.createTime)
            block.add("comment", checkpoint.comment)
            block.add("automatic", checkpoint.isAuto ? "yes" : "no")
            block.add("size", ByteCount.format(checkpoint.sizeBytes))
            if !checkpoint.history.isEmpty {
                block.add("history", checkpoint.history.joined(separator: ", ") + " (nearest first)")
            }
            return block.render()
        }
    }

    public struct Delete: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a checkpoint.",
            discussion: """
                The checkpoint the sprite's disk came from (shown in the Current row of `hob checkpoint list`) \
                cannot be deleted.

                Examples:
                  hob checkpoint delete demo v1
                  hob checkpoint rm demo auto-2
                """,
            aliases: ["rm"])

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Checkpoint ID, e.g. v1 (see `hob checkpoint list`).")
        public var id: String

        public init() {}

        public func run() async throws {
            try await CommandFailure.reporting(.checkpoint(sprite: name, id: id)) {
                try await Daemon.client().deleteCheckpoint(sprite: name, id: id)
                print("Deleted checkpoint \(id) of \(name)")
            }
        }
    }

    public struct Restore: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Restore a sprite's disk to a checkpoint.",
            discussion: Checkpoint.restoreDiscussion)

        @Argument(help: "Sprite name.")
        public var name: String

        @Argument(help: "Checkpoint ID, e.g. v1 (see `hob checkpoint list`).")
        public var id: String

        public init() {}

        public func run() async throws {
            try await Checkpoint.restore(sprite: name, to: id)
        }
    }

    static let restoreDiscussion = """
        The sprite's disk becomes the checkpoint's. The sprite restarts: every exec session and process in it \
        ends; a sprite that was running is running again when the restore completes. The state being replaced \
        is saved first as an automatic checkpoint (auto-N, shown by `hob checkpoint list --include-auto`), so \
        a restore can be undone by restoring that. Prints the server's progress as it arrives.

        Examples:
          hob checkpoint restore demo v1
          hob restore demo v1
        """

    /// Shared by `hob checkpoint restore` and its alias `hob restore`.
    static func restore(sprite: String, to id: String) async throws {
        try await CommandFailure.reporting(.checkpoint(sprite: sprite, id: id)) {
            let progress = try await Daemon.client().restoreCheckpoint(sprite: sprite, id: id)
            _ = try await ProgressOutput.follow(progress, statusTo: STDOUT_FILENO)
        }
    }
}

/// `hob restore`: the alias of `hob checkpoint restore` that the Sprites CLI has too.
public struct Restore: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Restore a sprite's disk to a checkpoint (same as `hob checkpoint restore`).",
        discussion: Checkpoint.restoreDiscussion)

    @Argument(help: "Sprite name.")
    public var name: String

    @Argument(help: "Checkpoint ID, e.g. v1 (see `hob checkpoint list`).")
    public var id: String

    public init() {}

    public func run() async throws {
        try await Checkpoint.restore(sprite: name, to: id)
    }
}

/// Prints a checkpoint or restore stream as it arrives.
enum ProgressOutput {
    /// Writes each line's text as soon as it is received, unbuffered so that a pipe sees it live too: `stderr`
    /// lines to stderr, everything else to `statusTo`. Returns the lines; throws what the stream throws (the
    /// server's `error` line, or a stream that ended without `complete`). On a terminal, a step that takes
    /// a while (a cold sprite booting after a restore) shows a status line with the time it has taken so far.
    static func follow(_ progress: CheckpointProgress, statusTo fd: Int32, status: ProgressLine = ProgressLine()) async throws -> [StreamMessage] {
        let waiting = StepClock()
        let ticker = status.enabled ? Task { await waiting.tick(status) } : nil
        defer {
            ticker?.cancel()
            status.finish()
        }
        var messages: [StreamMessage] = []
        for try await message in progress {
            messages.append(message)
            guard let text = message.data else { continue }
            let line = text.hasSuffix("\n") ? text : text + "\n"
            // The new step first: a redraw between the two would bring the finished step back.
            waiting.started(text.trimmingWhitespace())
            status.write(message.type == .stderr ? STDERR_FILENO : fd, Array(line.utf8))
        }
        return messages
    }
}

/// The step a stream is in and since when, for the status line.
final class StepClock: Sendable {
    private let step = Mutex<(text: String, since: ContinuousClock.Instant)?>(nil)
    /// Quiet steps are not worth a status line.
    static let threshold: Duration = .seconds(1)

    func started(_ text: String) { step.withLock { $0 = text.isEmpty ? nil : (text, .now) } }

    /// Redraws `status` four times a second until cancelled.
    func tick(_ status: ProgressLine) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            if let text = statusText(at: .now) { status.show(text) }
        }
    }

    /// The step and its time so far, once it has taken longer than `threshold`.
    func statusText(at now: ContinuousClock.Instant) -> String? {
        guard let (text, since) = step.withLock({ $0 }), now - since >= Self.threshold else { return nil }
        return "\(text) \(ProgressLine.elapsed(now - since))"
    }
}
