// `hob token …`, `hob events` and `hob create --token`: how they read their arguments, the requests they become,
// the offline attenuation and what `inspect` says about each caveat. No daemon is contacted.

import ArgumentParser
import Foundation
import HobAPI
import HobAccess
import HobClient
@testable import HobCLI
import Testing

/// Stands in for the `hob` executable's root command, which adds `serve` next to these.
private struct Root: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hob", subcommands: HobCLI.commands)
}

/// 2026-12-07T13:00:00Z.
private let noon = Date(timeIntervalSince1970: 1_796_648_400)

private func mint(_ caveats: [Caveat] = []) -> AccessToken {
    AccessToken(org: "hob", id: "tok_0123", rootKey: [UInt8](repeating: 7, count: 32)).attenuated(with: caveats)
}

@Suite("Token commands")
struct TokenCommandTests {
    @Test func everySubcommandIsReachable() throws {
        #expect(try Root.parseAsRoot(["token", "create"]) is Token.Create)
        #expect(try Root.parseAsRoot(["token", "list", "--json"]) is Token.List)
        #expect(try Root.parseAsRoot(["token", "ls"]) is Token.List)
        #expect(try Root.parseAsRoot(["token", "revoke", "tok_1"]) is Token.Revoke)
        #expect(try Root.parseAsRoot(["token", "attenuate", "-", "--ops", "read"]) is Token.Attenuate)
        #expect(try Root.parseAsRoot(["token", "inspect"]) is Token.Inspect)
        #expect(try Root.parseAsRoot(["events"]) is Events)
    }

    @Test func createTurnsItsFlagsIntoTheMintRequest() throws {
        let create = try #require(
            try Root.parseAsRoot([
                "token", "create", "--description", "ci", "--sprite", "a", "--sprite", "b", "--prefix", "ag-", "--label", "x",
                "--ops", "exec,read", "--ttl", "1h", "--max-sprites", "3", "--json",
            ]) as? Token.Create)
        #expect(create.json)
        #expect(
            try create.request()
                == CreateTokenRequest(
                    description: "ci", sprites: ["a", "b"], prefix: "ag-", labels: ["x"], ops: ["read", "exec"], expiresIn: 3600,
                    maxSprites: 3))
        #expect(try Token.Create.parse([]).request() == CreateTokenRequest())
        #expect(try Token.Create.parse(["--sprite", "a,b"]).request().sprites == ["a", "b"])
    }

    @Test func createRefusesBadValuesBeforeContactingTheDaemon() {
        for bad in [
            ["--ops", "exec,fly"], ["--ops", ""], ["--ttl", "0"], ["--ttl", "soon"], ["--max-sprites", "-1"], ["--prefix", ""],
            ["--sprite", ""], ["--label", ""],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try Token.Create.parse(bad) }
        }
    }

    @Test func ttlIsAPositiveDurationOfAtMostTenYears() throws {
        #expect(try TokenTTL.seconds(nil, flag: "--ttl") == nil)
        #expect(try TokenTTL.seconds("10m", flag: "--ttl") == 600)
        #expect(try TokenTTL.seconds("1h", flag: "--ttl") == 3600)
        #expect(try TokenTTL.seconds("7d", flag: "--ttl") == 604_800)
        #expect(try TokenTTL.seconds("1h30m", flag: "--ttl") == 5400)
        #expect(try TokenTTL.seconds("3650d", flag: "--ttl") == 315_360_000)
        for bad in ["", "0", "0s", "-5m", "1y", "soon", "3651d"] {
            #expect(throws: ValidationError.self, "\(bad)") { try TokenTTL.seconds(bad, flag: "--ttl") }
        }
    }

    @Test func revokeTakesAnIdOrAWholeToken() throws {
        #expect(try Token.Revoke.parse(["tok_abc"]).tokenID == "tok_abc")
        #expect(try Token.Revoke.parse([mint([.ops([.read])]).string]).tokenID == "tok_0123")
        #expect(throws: (any Error).self) { try Token.Revoke.parse([]) }
    }

    @Test func listShowsRecordsWithTheExpiryInItsOwnColumn() {
        let table = Token.List.table([
            TokenInfo(
                id: "tok_1", description: "ci", caveats: ["expires=1796648400", "sprite=demo", "ops=read,exec"], parent: nil,
                createdAt: "2026-12-07T12:00:00Z", expiresAt: "2026-12-07T13:00:00Z", revokedAt: nil),
            TokenInfo(id: "tok_2", description: "", caveats: [], parent: "tok_1", createdAt: "2026-12-07T12:01:00Z", expiresAt: nil, revokedAt: "2026-12-07T12:02:00Z"),
        ])
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true) == ["ID", "DESCRIPTION", "CAVEATS", "CREATED", "EXPIRES", "REVOKED"])
        #expect(lines[1].contains("sprite=demo ops=read,exec") && !lines[1].contains("expires=") && lines[1].hasSuffix("-"))
        #expect(lines[2].contains("never") && lines[2].hasSuffix("2026-12-07T12:02:00Z"))
    }

    // MARK: attenuate

    @Test func attenuateAppendsTheNewCaveatsToTheOldOnes() throws {
        let original = mint([.ops([.read, .exec, .files])])
        let command = try #require(
            try Root.parseAsRoot([
                "token", "attenuate", original.string, "--sprite", "demo", "--ops", "exec", "--ttl", "10m", "--label", "ci",
                "--prefix", "de", "--max-sprites", "0",
            ]) as? Token.Attenuate)
        #expect(command.token == original.string)
        let added = try command.scope.caveats(now: noon)
        #expect(
            added == [
                .expires(unixSeconds: 1_796_648_400 + 600), .sprites(["demo"]), .prefix("de"), .label("ci"), .ops([.exec]), .maxSprites(0),
            ])
        let narrowed = try Token.Attenuate.narrow(try TokenText.parse(original.string + "\n"), with: added)
        let reread = try AccessToken.parse(narrowed.string)
        #expect(reread.org == "hob" && reread.id == "tok_0123")
        #expect(try reread.caveats == [.ops([.read, .exec, .files])] + added)
        #expect(reread.macaroon.signature != original.macaroon.signature)
        // The same chain as the daemon computes: the key of the original still checks it.
        #expect(reread.macaroon.isValid(rootKey: [UInt8](repeating: 7, count: 32)))
    }

    @Test func attenuateReadsStdinWhenTheTokenIsDashOrAbsent() throws {
        #expect(try Token.Attenuate.parse(["--ops", "read"]).token == nil)
        #expect(try Token.Attenuate.parse(["-", "--ops", "read"]).token == "-")
    }

    @Test func attenuateNeedsAtLeastOneCaveat() {
        #expect(throws: (any Error).self) { try Token.Attenuate.parse([mint().string]) }
        #expect(throws: (any Error).self) { try Token.Attenuate.parse([mint().string, "--ops", "fly"]) }
    }

    @Test func theAdminTokenIsRefusedWithWhatToDoInstead() {
        let error = #expect(throws: CommandError.self) { try TokenText.parse("hob_0123456789abcdef\n") }
        #expect(error?.description.contains("admin token") == true)
        #expect(error?.description.contains("hob token create") == true)
        #expect(TokenText.isAdmin("hob_0123456789abcdef"))
        #expect(!TokenText.isAdmin(mint().string))
    }

    @Test func garbageIsRefusedNotCrashedOn() {
        for bad in ["", "  \n", "garbage", "a/b", "a/b/!!", "a//AQ", "hob/tok/AQ", String(repeating: "x/", count: 20_000)] {
            let error = #expect(throws: CommandError.self, "\(bad.prefix(20))") { try TokenText.parse(bad) }
            #expect(error?.description.isEmpty == false)
        }
    }

    @Test func aNarrowingTheDaemonCouldNotReadIsRefused() {
        let long = Caveat.label(String(repeating: "l", count: Caveat.maximumLength))
        #expect(throws: CommandError.self) { try Token.Attenuate.narrow(mint(), with: [long]) }
    }

    // MARK: inspect

    @Test func eachCaveatInWords() {
        #expect(CaveatWording.describe(.expires(unixSeconds: 1_796_648_400), now: noon - 540) == "expires 2026-12-07T13:00:00Z (in 9m)")
        #expect(CaveatWording.describe(.expires(unixSeconds: 1_796_648_400), now: noon + 7200) == "expired 2026-12-07T13:00:00Z (2h ago)")
        #expect(CaveatWording.describe(.sprites(["a", "b"]), now: noon) == "only sprites: a, b")
        #expect(CaveatWording.describe(.sprites(["a"]), now: noon) == "only sprite: a")
        #expect(CaveatWording.describe(.prefix("agent-"), now: noon) == "only sprites whose name starts with \"agent-\"")
        #expect(CaveatWording.describe(.label("ci"), now: noon) == "only sprites labelled \"ci\"")
        #expect(CaveatWording.describe(.ops([.exec]), now: noon) == "only operations: exec")
        #expect(CaveatWording.describe(.ops([.files, .exec, .read]), now: noon) == "only operations: read, exec, files")
        #expect(CaveatWording.describe(.maxSprites(3), now: noon) == "creates sprites only while fewer than 3 of its sprites exist")
        #expect(CaveatWording.describe("colour=blue", now: noon) == "invalid caveat \"colour=blue\": unknown caveat \"colour\"")
        #expect(CaveatWording.describe("ops=exec", now: noon) == "only operations: exec")
    }

    @Test func spansAreRoughAndRoundedDown() {
        #expect(CaveatWording.span(0) == "0s")
        #expect(CaveatWording.span(59) == "59s")
        #expect(CaveatWording.span(599) == "9m")
        #expect(CaveatWording.span(3600) == "1h")
        #expect(CaveatWording.span(3660) == "1h1m")
        #expect(CaveatWording.span(90_000) == "1d1h")
        #expect(CaveatWording.span(7 * 86400) == "7d")
    }

    @Test func inspectShowsTheTokenItsCaveatsAndTheirScope() throws {
        let token = mint([.expires(unixSeconds: 1_796_648_400), .ops([.read, .exec]), .sprites(["a", "b"])])
            .attenuated(with: [.ops([.exec, .files]), .expires(unixSeconds: 1_796_648_400 + 3600), .maxSprites(2)])
        let report = TokenReport(token, now: noon - 540)
        #expect(report.org == "hob" && report.id == "tok_0123" && !report.admin)
        #expect(report.caveats.count == 6 && report.caveats.allSatisfy { $0.error == nil })
        let scope = try #require(report.scope)
        #expect(scope.sprites == "only those named one of a, b")
        #expect(scope.operations == ["exec"])
        #expect(scope.expiresAt == "2026-12-07T13:00:00Z")
        #expect(scope.maxSprites == 2)
        let lines = Set(report.render().split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") })
        for line in [
            "organization: hob", "id: tok_0123", "caveats: expires 2026-12-07T13:00:00Z (in 9m)", "only sprites: a, b",
            "only operations: read, exec", "creates sprites only while fewer than 2 of its sprites exist",
            "scope: sprites: only those named one of a, b", "operations: exec", "expires 2026-12-07T13:00:00Z (in 9m)",
            "signature: not checked here; only the daemon that minted the token can check it",
        ] {
            #expect(lines.contains(line), "\(line)")
        }
    }

    @Test func inspectOfAnUnrestrictedTokenSaysEverySpriteAndEveryOperation() throws {
        let scope = try #require(TokenReport(mint(), now: noon).scope)
        #expect(scope.sprites == "every sprite")
        #expect(scope.operations == Permission.allCases.map(\.rawValue))
        #expect(scope.expiresAt == nil)
        #expect(TokenReport(mint(), now: noon).render().contains("never expires"))
        // A sprite-scoped token never has admin, whatever its ops say.
        let scoped = try #require(TokenReport(mint([.prefix("ag-"), .label("ci")]), now: noon).scope)
        #expect(scoped.sprites == "only those whose name starts with \"ag-\" and labelled \"ci\"")
        #expect(!scoped.operations.contains("admin"))
    }

    @Test func inspectReportsAnInvalidCaveatInsteadOfFailing() throws {
        let token = AccessToken(org: "hob", id: "tok_9", macaroon: mint([.ops([.read])]).macaroon.adding("colour=blue"))
        let reread = try TokenText.parse(token.string)
        let report = TokenReport(reread, now: noon)
        #expect(report.caveats.map(\.error) == [nil, "unknown caveat \"colour\""])
        #expect(report.scope == nil)
        let text = report.render()
        #expect(text.contains("invalid caveat \"colour=blue\""))
        #expect(text.contains("the daemon refuses"))
    }

    @Test func inspectJSONSaysTheSignatureIsNotChecked() throws {
        let json = try JSONOutput.render(TokenReport(mint([.ops([.read])]), now: noon))
        #expect(json.contains("\"signature_checked\" : false"))
        #expect(json.contains("\"operations\" : [\n      \"read\"\n    ]"))
        #expect(try JSONOutput.render(TokenReport.admin).contains("\"admin\" : true"))
    }

    // MARK: events

    @Test func eventsTakesItsFilters() throws {
        let events = try #require(
            try Root.parseAsRoot(["events", "--sprite", "demo", "--token", "tok_1", "--limit", "20", "--before", "99", "--json"])
                as? Events)
        #expect(events.sprite == "demo" && events.token == "tok_1" && events.limit == 20 && events.before == 99 && events.json)
        for bad in [["--limit", "0"], ["--limit", "1001"], ["--before", "0"], ["--sprite", ""]] {
            #expect(throws: (any Error).self, "\(bad)") { try Events.parse(bad) }
        }
    }

    @Test func eventsTableIsNewestFirstAsTheDaemonSendsIt() {
        let table = Events.table([
            AuditEvent(id: 2, time: "2026-12-07T13:00:01Z", token: "tok_1", action: "exec", sprite: "demo", status: 403, detail: "not in scope"),
            AuditEvent(id: 1, time: "2026-12-07T13:00:00Z", token: "admin", action: "token.create", sprite: nil, status: 201, detail: nil),
        ])
        let lines = table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines == [
            "TIME TOKEN ACTION SPRITE STATUS DETAIL", "2026-12-07T13:00:01Z tok_1 exec demo 403 not in scope",
            "2026-12-07T13:00:00Z admin token.create - 201 -",
        ])
    }

    // MARK: create --token

    @Test func createAsksForASpriteTokenOnlyWhenTold() throws {
        #expect(try Create.parse(["agent"]).request().token == nil)
        #expect(try Create.parse(["agent", "--token"]).request().token == SpriteTokenRequest())
        #expect(
            try Create.parse(["agent", "--token", "--token-ops", "exec,read", "--token-ttl", "1h"]).request().token
                == SpriteTokenRequest(ops: ["read", "exec"], expiresIn: 3600))
        // Either token option implies --token.
        #expect(try Create.parse(["agent", "--token-ttl", "10m"]).request().token == SpriteTokenRequest(expiresIn: 600))
        #expect(throws: (any Error).self) { try Create.parse(["agent", "--token-ops", "run"]) }
        #expect(throws: (any Error).self) { try Create.parse(["agent", "--token-ttl", "0"]) }
    }

    @Test func createSendsTheTokenRequestOnTheWire() throws {
        let body = try JSONEncoder().encode(try Create.parse(["agent", "--token-ops", "exec", "--token-ttl", "1h"]).request())
        let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let token = try #require(object["token"] as? [String: Any])
        #expect(token["ops"] as? [String] == ["exec"])
        #expect(token["expires_in"] as? Int == 3600)
    }
}

@Suite("Refusals the CLI reports")
struct RefusalMessageTests {
    @Test("403 says permission denied with the server's reason; 401 says what was wrong with the token")
    func messages() {
        let denied = HobClientError.http(
            status: 403, body: Array(#"{"error":"permission_denied","message":"this token may not lifecycle (it may: read, exec)"}"#.utf8), url: "u")
        #expect(CommandFailure.message(for: denied, .sprite("demo")) == "permission denied: this token may not lifecycle (it may: read, exec)")
        let expired = HobClientError.http(status: 401, body: Array(#"{"error":"unauthorized","message":"token expired at 2026-12-07T13:00:00Z"}"#.utf8), url: "u")
        #expect(CommandFailure.message(for: expired, .none) == "unauthorized: token expired at 2026-12-07T13:00:00Z; check your token (hob login)")
    }
}
