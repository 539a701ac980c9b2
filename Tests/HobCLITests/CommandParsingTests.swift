// How each command reads its arguments, and the requests those arguments turn into. No daemon is contacted.

import ArgumentParser
import HobAPI
import HobCLI
import HobClient
import Testing

/// Stands in for the `hob` executable's root command, which adds `serve` next to these.
private struct Root: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hob", subcommands: HobCLI.commands)
}

@Suite("Command-line parsing")
struct CommandParsingTests {
    @Test func commandNamesAreUnique() {
        let names = HobCLI.commands.map { $0._commandName }
        #expect(Set(names).count == names.count)
        #expect(
            Set(names) == [
                "login", "create", "list", "info", "update", "destroy", "exec", "console", "sessions", "checkpoint",
                "restore", "fork", "sleep", "usage", "proxy", "services", "fs", "policy", "url", "api", "token", "events",
                "secret", "mcp",
            ])
    }

    @Test func policyResourcesSetTakesTheMemoryLimitInMB() throws {
        let parsed = try Root.parseAsRoot(["policy", "resources", "set", "demo", "--memory", "512"])
        let set = try #require(parsed as? Policy.SetLimit)
        #expect(set.name == "demo")
        #expect(set.memory == 512)
        #expect(throws: (any Error).self) { try Root.parseAsRoot(["policy", "resources", "set", "demo"]) }
    }

    @Test func policyNetworkSetTurnsFlagsIntoRules() throws {
        let parsed = try Root.parseAsRoot(["policy", "network", "set", "demo", "--allow", "github.com", "--allow", "*.npmjs.org", "--defaults", "--deny", "*"])
        let set = try #require(parsed as? Policy.Network.Replace)
        #expect(set.name == "demo")
        #expect(try set.policyToSend() == NetworkPolicy(rules: [.allow("github.com"), .allow("*.npmjs.org"), .defaults, .deny("*")]))
        let clear = try #require(try Root.parseAsRoot(["policy", "network", "set", "demo", "--clear"]) as? Policy.Network.Replace)
        #expect(try clear.policyToSend() == .unrestricted)
        #expect(throws: (any Error).self) { try Root.parseAsRoot(["policy", "network", "set", "demo"]) }
        #expect(throws: (any Error).self) { try Root.parseAsRoot(["policy", "network", "set", "demo", "--clear", "--allow", "x.com"]) }
        #expect(try Root.parseAsRoot(["policy", "network", "get", "demo", "--json"]) is Policy.Network.Get)
    }

    @Test func execTakesTheCommandAfterTheTerminator() throws {
        let exec = try Exec.parse(["demo", "-t", "--", "ls", "-la"])
        #expect(exec.name == "demo")
        #expect(exec.tty)
        #expect(exec.command == ["ls", "-la"])
    }

    @Test func execAcceptsACommandWithoutTheTerminator() throws {
        let exec = try Exec.parse(["demo", "uname"])
        #expect(exec.command == ["uname"])
        #expect(!exec.tty)
    }

    @Test func execKeepsFlagsAfterTheTerminatorForTheRemoteCommand() throws {
        let exec = try Exec.parse(["demo", "--", "grep", "--env", "-t", "x"])
        #expect(exec.command == ["grep", "--env", "-t", "x"])
        #expect(exec.environment.isEmpty)
        #expect(!exec.tty)
    }

    @Test func execReadsRepeatedEnvAndDir() throws {
        let exec = try Exec.parse(["demo", "--env", "A=1", "--env", "B=x=y", "--dir", "/srv/app", "--", "make"])
        #expect(exec.environment == ["A=1", "B=x=y"])
        #expect(exec.dir == "/srv/app")
    }

    @Test func execWithoutACommandIsRejected() {
        #expect(throws: (any Error).self) { try Exec.parse(["demo"]) }
    }

    @Test func execRejectsEnvWithoutEquals() {
        #expect(throws: (any Error).self) { try Exec.parse(["demo", "--env", "NOVALUE", "--", "ls"]) }
    }

    @Test func nonTTYExecFromATerminalSendsNoStdin() throws {
        let params = try Exec.parse(["demo", "--", "ls"]).parameters(
            stdinIsTerminal: true, size: .fallback, localTerm: "xterm")
        #expect(!params.stdin)
        #expect(!params.tty)
        #expect(params.environment.isEmpty)
    }

    @Test func nonTTYExecFromAPipeSendsStdin() throws {
        let params = try Exec.parse(["demo", "--", "cat"]).parameters(
            stdinIsTerminal: false, size: .fallback, localTerm: nil)
        #expect(params.stdin)
    }

    @Test func ttyExecSendsWindowSizeAndTerm() throws {
        let params = try Exec.parse(["demo", "-t", "--", "htop"]).parameters(
            stdinIsTerminal: true, size: TerminalSize(rows: 50, cols: 132), localTerm: "screen-256color")
        #expect(params.tty && params.stdin)
        #expect(params.rows == 50 && params.cols == 132)
        #expect(params.environment == ["TERM=screen-256color"])
    }

    @Test func ttyExecKeepsAnExplicitTerm() throws {
        let params = try Exec.parse(["demo", "-t", "--env", "TERM=vt100", "--", "top"]).parameters(
            stdinIsTerminal: true, size: .fallback, localTerm: "xterm")
        #expect(params.environment == ["TERM=vt100"])
    }

    @Test func consoleRunsALoginShellByDefault() throws {
        let params = try Console.parse(["demo"]).parameters(size: .fallback, localTerm: nil)
        #expect(params.command == ["/bin/bash", "-l"])
        #expect(params.tty && params.stdin)
        #expect(params.environment == ["TERM=xterm-256color"])
    }

    @Test func consoleRunsACustomCommandThroughSh() throws {
        let params = try Console.parse(["demo", "--command", "tmux new -A"]).parameters(
            size: TerminalSize(rows: 30, cols: 100), localTerm: "xterm")
        #expect(params.command == ["/bin/sh", "-c", "tmux new -A"])
        #expect(params.rows == 30 && params.cols == 100)
    }

    @Test func createBuildsTheRequestFromFlags() throws {
        let create = try Create.parse([
            "web", "--label", "a", "--label", "b", "--env", "PORT=8080", "--ram-mb", "2048", "--cpus", "1.5",
        ])
        let request = try create.request()
        #expect(request.name == "web")
        #expect(request.labels == ["a", "b"])
        #expect(request.environment == ["PORT": "8080"])
        #expect(request.config == SpriteConfig(ramMB: 2048, cpus: 1.5))
    }

    @Test func createWithOnlyANameSendsNoOptionalFields() throws {
        let request = try Create.parse(["demo"]).request()
        #expect(request == CreateSpriteRequest(name: "demo"))
    }

    @Test func createRejectsANonPositiveMemoryLimit() {
        #expect(throws: (any Error).self) { try Create.parse(["demo", "--ram-mb", "0"]) }
    }

    @Test func lsIsAnAliasOfList() throws {
        let command = try Root.parseAsRoot(["ls", "--prefix", "web-", "--json"])
        let list = try #require(command as? List)
        #expect(list.prefix == "web-")
        #expect(list.json)
    }

    @Test func infoTakesANameAndJSONFlag() throws {
        let info = try Info.parse(["demo", "--json"])
        #expect(info.name == "demo" && info.json)
    }

    @Test func destroyForceSkipsTheQuestion() throws {
        #expect(try Destroy.parse(["demo", "--force"]).force)
        #expect(try !Destroy.parse(["demo"]).force)
    }

    @Test func sessionsSubcommandsAreReachableFromTheRoot() throws {
        let attach = try #require(try Root.parseAsRoot(["sessions", "attach", "demo", "1234"]) as? Sessions.Attach)
        #expect(attach.name == "demo" && attach.id == "1234")
        let list = try #require(try Root.parseAsRoot(["sessions", "list", "demo", "--json"]) as? Sessions.List)
        #expect(list.json)
    }

    @Test(arguments: [("TERM", "TERM"), ("SIGINT", "INT"), ("kill", "KILL"), ("9", "KILL"), ("HUP", "HUP")])
    func sessionsKillNormalizesTheSignal(given: String, sent: String) throws {
        let kill = try Sessions.Kill.parse(["demo", "1234", "--signal", given])
        #expect(kill.signalName == sent)
    }

    @Test func sessionsKillDefaultsToTerm() throws {
        #expect(try Sessions.Kill.parse(["demo", "1234"]).signalName == "TERM")
    }

    @Test func sessionsKillRejectsAnUnknownSignal() {
        #expect(throws: (any Error).self) { try Sessions.Kill.parse(["demo", "1234", "--signal", "BOGUS"]) }
    }

    @Test func loginRejectsANonHTTPURL() {
        #expect(throws: (any Error).self) { try Login.parse(["--url", "https://example.com", "--token", "t"]) }
    }

    @Test func loginNeedsATokenForARemoteDaemon() throws {
        var login = try Login.parse(["--url", "http://10.0.0.5:7070", "--token", "t"])
        try login.validate(localDaemonURL: "http://127.0.0.1:7070")
        login.token = nil
        #expect(throws: ValidationError.self) { try login.validate(localDaemonURL: "http://127.0.0.1:7070") }
    }

    @Test func loginWithoutATokenIsFineForTheLocalDaemon() throws {
        var login = try Login.parse(["--url", "http://127.0.0.1:7070/", "--token", "t"])
        login.token = nil
        try login.validate(localDaemonURL: "http://127.0.0.1:7070")
    }
}
