// `hob secret …`: how `set` reads its headers (flags, files, stdin) and flags into the PUT body, and what `list`
// shows. No daemon is contacted.

import ArgumentParser
import Foundation
import HobAPI
@testable import HobCLI
import Testing

/// Stands in for the `hob` executable's root command, which adds `serve` next to these.
private struct Root: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hob", subcommands: HobCLI.commands)
}

@Suite("Secret commands")
struct SecretCommandTests {
    @Test func everySubcommandIsReachable() throws {
        #expect(try Root.parseAsRoot(["secret", "set", "a", "--host", "h.example", "--header", "A: b"]) is Secret.Save)
        #expect(try Root.parseAsRoot(["secret", "list"]) is Secret.List)
        #expect(try Root.parseAsRoot(["secret", "ls", "--json"]) is Secret.List)
        #expect(try Root.parseAsRoot(["secret", "rm", "a"]) is Secret.Remove)
    }

    @Test func setTurnsItsFlagsIntoThePutBody() throws {
        let set = try Secret.Save.parse([
            "openai", "--host", "api.openai.com", "--scheme", "HTTP", "--port", "8443", "--header", "Authorization: Bearer sk-1",
            "--header", "OpenAI-Organization:org-9", "--sprite", "a", "--sprite", "b", "--prefix", "agent-", "--label", "x", "--path",
            "/v1/*", "--path", "/v2/models", "--json",
        ])
        #expect(set.json)
        #expect(set.admitsAnySprite)
        #expect(
            try set.request()
                == SecretRequest(
                    host: "api.openai.com", scheme: "http", port: 8443,
                    headers: ["Authorization": "Bearer sk-1", "OpenAI-Organization": "org-9"],
                    access: SecretAccess(sprites: ["a", "b"], prefix: "agent-", labels: ["x"], paths: ["/v1/*", "/v2/models"])))
    }

    @Test func allSpritesAndNoSpriteAtAll() throws {
        let all = try Secret.Save.parse(["a", "--host", "h.example", "--header", "A: b", "--all-sprites"])
        #expect(try all.request().access == SecretAccess(allSprites: true))
        let none = try Secret.Save.parse(["a", "--host", "h.example", "--header", "A: b"])
        #expect(!none.admitsAnySprite)
        #expect(try none.request().access == SecretAccess())
        #expect(try none.request().scheme == nil)
    }

    @Test func headerLinesSplitAtTheFirstColonAndTrimTheValue() throws {
        #expect(try SecretHeaderLines.parse("Authorization: Bearer a:b:c ", source: "--header") == .init(name: "Authorization", value: "Bearer a:b:c"))
        #expect(try SecretHeaderLines.parse("x-api-key:\tk", source: "--header") == .init(name: "x-api-key", value: "k"))
        for bad in ["no colon here", ": value", "Bad Name: v", "A:", "A:   ", "A: v\u{7}"] {
            #expect(throws: ValidationError.self, "\(bad)") { try SecretHeaderLines.parse(bad, source: "--header") }
        }
    }

    @Test func aBadHeaderLineIsNeverEchoed() {
        do {
            _ = try SecretHeaderLines.parse("sk-live-0123456789", source: "--header")
            Issue.record("accepted a line without a colon")
        } catch {
            #expect(!"\(error)".contains("sk-live"))
        }
        do {
            _ = try SecretHeaderLines.parseFile("A: fine\nsk-live-0123456789\n", source: "keys.txt")
            Issue.record("accepted a line without a colon")
        } catch {
            #expect("\(error)".contains("line 2 of keys.txt"))
            #expect(!"\(error)".contains("sk-live"))
        }
    }

    @Test func headerFilesSkipBlankAndCommentLinesAndAcceptCRLF() throws {
        let text = "# keys for the gateway\r\nAuthorization: Bearer t1\r\n\r\n  \nX-Team: a\n"
        #expect(
            try SecretHeaderLines.parseFile(text, source: "-")
                == [.init(name: "Authorization", value: "Bearer t1"), .init(name: "X-Team", value: "a")])
        #expect(throws: ValidationError.self) { try SecretHeaderLines.parseFile("# nothing\n\n", source: "f") }
    }

    @Test func headerFileIsReadFromDisk() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hob-headers-\(UUID().uuidString)").path
        try "Authorization: Bearer from-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = try await SecretHeaderLines.read(path)
        let set = try Secret.Save.parse(["a", "--host", "h.example", "--header-file", path, "--header", "X-Team: t"])
        #expect(set.headerFile == path)
        let body = try set.request(fileHeaders: try SecretHeaderLines.parseFile(text, source: path))
        #expect(body.headers == ["Authorization": "Bearer from-file", "X-Team": "t"])
        await #expect(throws: (any Error).self) { try await SecretHeaderLines.read(path + "-missing") }
    }

    @Test func aHeaderGivenTwiceIsRefused() throws {
        let set = try Secret.Save.parse(["a", "--host", "h.example", "--header", "Authorization: x", "--header-file", "-"])
        #expect(throws: ValidationError.self) { try set.request(fileHeaders: [.init(name: "authorization", value: "y")]) }
    }

    @Test func setRefusesBadFlagsBeforeContactingTheDaemon() {
        let base = ["a", "--host", "h.example"]
        for bad in [
            [], ["--header", "nocolon"], ["--header", "A: b", "--scheme", "ftp"], ["--header", "A: b", "--port", "0"],
            ["--header", "A: b", "--all-sprites", "--sprite", "x"], ["--header", "A: b", "--prefix", ""],
            ["--header", "A: b", "--path", "v1/*"], ["--header", "A: b", "--label", ""],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try Secret.Save.parse(base + bad) }
        }
        #expect(throws: (any Error).self) { try Secret.Save.parse(["a", "--header", "A: b"]) }
    }

    @Test func listShowsNamesHostsAndWhoNeverValues() {
        let secrets = [
            SecretInfo(
                name: "openai", host: "api.openai.com", scheme: "https", port: nil, headerNames: ["Authorization"],
                access: SecretAccess(labels: ["agents"], paths: ["/v1/*"]), createdAt: "t", updatedAt: "t"),
            SecretInfo(
                name: "internal", host: "10.0.0.5", scheme: "http", port: 8080, headerNames: ["X-Token", "X-Team"],
                access: SecretAccess(), createdAt: "t", updatedAt: "t"),
            SecretInfo(
                name: "everyone", host: "h.example", scheme: "https", port: nil, headerNames: ["A"],
                access: SecretAccess(allSprites: true), createdAt: "t", updatedAt: "t"),
        ]
        #expect(
            Secret.List.table(secrets) == """
                NAME       HOST                   HEADERS          WHO             PATHS
                openai     api.openai.com         Authorization    labels=agents   /v1/*
                internal   http://10.0.0.5:8080   X-Token,X-Team   nobody          all
                everyone   h.example              A                all sprites     all
                """)
        #expect(Secret.List.who(SecretAccess(sprites: ["a", "b"], prefix: "p-")) == "sprites=a,b prefix=p-")
    }
}
