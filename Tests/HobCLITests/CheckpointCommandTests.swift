// `hob checkpoint …`, `hob restore` and `hob fork`: how they read their arguments and how they render checkpoints and
// sizes. No daemon is contacted.

import ArgumentParser
import HobAPI
@testable import HobCLI
import Testing

/// Stands in for the `hob` executable's root command, which adds `serve` next to these.
private struct Root: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hob", subcommands: HobCLI.commands)
}

@Suite("Checkpoint commands")
struct CheckpointCommandTests {
    @Test func createTakesTheSpriteAndAnOptionalComment() throws {
        let create = try #require(
            try Root.parseAsRoot(["checkpoint", "create", "demo", "--comment", "before upgrade", "--json"])
                as? Checkpoint.Create)
        #expect(create.name == "demo")
        #expect(create.comment == "before upgrade")
        #expect(create.json)
        #expect(try Checkpoint.Create.parse(["demo"]).comment == nil)
    }

    @Test func listAndItsAliasReadTheFilters() throws {
        for verb in ["list", "ls"] {
            let list = try #require(
                try Root.parseAsRoot(["checkpoint", verb, "demo", "--include-auto", "--history", "v1", "--json"])
                    as? Checkpoint.List)
            #expect(list.name == "demo")
            #expect(list.includeAuto && list.json)
            #expect(list.history == "v1")
        }
        let plain = try Checkpoint.List.parse(["demo"])
        #expect(!plain.includeAuto && !plain.json && plain.history == nil)
    }

    @Test func listRejectsAnEmptyHistory() {
        #expect(throws: (any Error).self) { try Checkpoint.List.parse(["demo", "--history", " "]) }
    }

    @Test func infoTakesASpriteAndACheckpoint() throws {
        let info = try #require(try Root.parseAsRoot(["checkpoint", "info", "demo", "v2", "--json"]) as? Checkpoint.Info)
        #expect(info.name == "demo" && info.id == "v2" && info.json)
    }

    @Test func infoNeedsTheCheckpoint() {
        #expect(throws: (any Error).self) { try Checkpoint.Info.parse(["demo"]) }
    }

    @Test func deleteAndItsAliasTakeASpriteAndACheckpoint() throws {
        for verb in ["delete", "rm"] {
            let delete = try #require(try Root.parseAsRoot(["checkpoint", verb, "demo", "v1"]) as? Checkpoint.Delete)
            #expect(delete.name == "demo" && delete.id == "v1")
        }
    }

    @Test func restoreIsReachableUnderCheckpointAndAtTheTop() throws {
        let nested = try #require(try Root.parseAsRoot(["checkpoint", "restore", "demo", "v1"]) as? Checkpoint.Restore)
        #expect(nested.name == "demo" && nested.id == "v1")
        let alias = try #require(try Root.parseAsRoot(["restore", "demo", "v1"]) as? Restore)
        #expect(alias.name == "demo" && alias.id == "v1")
    }

    @Test func restoreNeedsTheCheckpoint() {
        #expect(throws: (any Error).self) { try Restore.parse(["demo"]) }
    }

    @Test func listMarksTheLiveDiskAndShowsSizes() {
        let table = Checkpoint.List.table([
            CheckpointInfo(
                id: "Current", createTime: "2026-07-12T06:00:00Z", comment: "", history: ["v1", "v0"], isAuto: false,
                sizeBytes: 1_300_000),
            CheckpointInfo(
                id: "v1", createTime: "2026-07-12T05:01:17Z", comment: "before\nupgrade", history: ["v0"],
                isAuto: false, sizeBytes: 348_160),
            CheckpointInfo(id: "v0", createTime: "2026-07-12T05:00:00Z", comment: "", history: [], isAuto: false),
        ])
        #expect(
            table == """
                ID        CREATED                SIZE      COMMENT
                Current   2026-07-12T06:00:00Z   1.2 MiB   (live disk, from v1)
                v1        2026-07-12T05:01:17Z   340 KiB   before upgrade
                v0        2026-07-12T05:00:00Z   -         -
                """)
    }

    @Test func aLiveDiskWithoutHistoryIsStillMarked() {
        let table = Checkpoint.List.table([
            CheckpointInfo(id: "Current", createTime: "t", comment: "", history: [], isAuto: false)
        ])
        #expect(table.hasSuffix("(live disk)"))
    }

    @Test func infoDescribesTheCheckpoint() {
        let text = Checkpoint.Info.describe(
            CheckpointInfo(
                id: "v2", createTime: "2026-07-12T05:01:17Z", comment: "nightly", history: ["v1", "v0"], isAuto: false,
                sizeBytes: 2048))
        #expect(
            text == """
                id:        v2
                created:   2026-07-12T05:01:17Z
                comment:   nightly
                automatic: no
                size:      2.0 KiB
                history:   v1, v0 (nearest first)
                """)
    }
}

@Suite("Fork command")
struct ForkCommandTests {
    @Test func oneForkKeepsTheName() throws {
        let fork = try #require(try Root.parseAsRoot(["fork", "demo", "copy"]) as? Fork)
        #expect(fork.source == "demo")
        #expect(fork.checkpoint == nil)
        #expect(fork.names == ["copy"])
        #expect(!fork.json)
    }

    @Test func aCountNumbersTheNames() throws {
        let fork = try Fork.parse(["demo", "worker", "--count", "3", "--checkpoint", "v2", "--json"])
        #expect(fork.names == ["worker-1", "worker-2", "worker-3"])
        #expect(fork.checkpoint == "v2")
        #expect(fork.json)
    }

    @Test(arguments: ["0", "101"])
    func aCountOutsideTheRangeIsRejected(count: String) throws {
        let error = try #require(throws: (any Error).self) { try Fork.parse(["demo", "worker", "--count", count]) }
        #expect(Fork.message(for: error).contains("--count must be between 1 and 100"))
    }

    @Test func theLimitsOfTheCountAreAccepted() throws {
        #expect(try Fork.parse(["demo", "w", "--count", "1"]).names == ["w"])
        #expect(try Fork.parse(["demo", "w", "--count", "100"]).names.last == "w-100")
    }

    @Test func anEmptyCheckpointIsRejected() {
        #expect(throws: (any Error).self) { try Fork.parse(["demo", "copy", "--checkpoint", ""]) }
    }

    @Test func forkNeedsANewName() {
        #expect(throws: (any Error).self) { try Fork.parse(["demo"]) }
    }
}

@Suite("Byte counts")
struct ByteCountTests {
    static let sizes: [(Int64, String)] = [
        (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (10 * 1024, "10 KiB"),
        (348_160, "340 KiB"), (1_048_575, "1.0 MiB"), (1_300_000, "1.2 MiB"), (5 << 30, "5.0 GiB"),
        (1_099_511_627_776, "1.0 TiB"),
    ]

    @Test(arguments: sizes)
    func sizesUseBinaryUnits(bytes: Int64, text: String) {
        #expect(ByteCount.format(bytes) == text)
    }

    @Test func anUnknownSizeIsADash() {
        #expect(ByteCount.format(nil as Int64?) == "-")
    }

    @Test func infoShowsStorageWhenTheServerReportsIt() {
        var sprite = SpriteInfo(
            id: "s1", name: "demo", organization: "hob", status: .cold, config: SpriteConfig(), environment: [:],
            createdAt: "t", updatedAt: "t", url: "http://demo", urlSettings: URLSettings(), labels: [])
        #expect(!Info.describe(sprite).contains("storage"))
        sprite.storageBytes = 3 << 20
        let line = Info.describe(sprite).split(separator: "\n").first { $0.hasPrefix("storage:") }
        #expect(line?.hasSuffix(" 3.0 MiB") == true)
    }

    @Test func infoShowsTheDiskQuotaAndItsUse() {
        var sprite = SpriteInfo(
            id: "s1", name: "demo", organization: "hob", status: .cold, config: SpriteConfig(), environment: [:],
            createdAt: "t", updatedAt: "t", url: "http://demo", urlSettings: URLSettings(), labels: [])
        #expect(!Info.describe(sprite).contains("disk quota"))
        sprite.storageQuotaBytes = 100 << 30
        #expect(Info.quota(sprite) == "100 GiB (not enforced)")
        sprite.storageQuotaUsedBytes = 25 << 30
        #expect(Info.quota(sprite) == "25 GiB of 100 GiB used (25%)")
        #expect(Info.describe(sprite).contains("disk quota:"))
    }
}
