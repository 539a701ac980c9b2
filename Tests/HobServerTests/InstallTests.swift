import ArgumentParser
import Foundation
import Testing

@testable import HobServer

/// A stand-in for the executable's root command.
private struct TestRoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hob", subcommands: [ServeCommand.self, InstallCommand<TestRoot>.self, UninstallCommand.self])
}

@Suite("hob install: the unit")
struct ServiceUnitTests {
    func line(_ key: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    @Test("ExecStart runs hob serve from the bin directory with exactly the flags given")
    func execStart() {
        let unit = ServiceUnit(executable: "/usr/local/bin/hob", serveArguments: ["--state-dir", "/srv/hob", "--listen", "0.0.0.0:7070"])
        #expect(line("ExecStart", in: unit.text) == "/usr/local/bin/hob serve --state-dir /srv/hob --listen 0.0.0.0:7070")
    }

    @Test("it starts at boot, restarts on failure and stops with SIGTERM, leaving stray children to SIGKILL")
    func lifecycle() {
        let text = ServiceUnit(executable: "/usr/local/bin/hob", serveArguments: []).text
        #expect(line("WantedBy", in: text) == "multi-user.target")
        #expect(line("After", in: text) == "network-online.target")
        #expect(line("Wants", in: text) == "network-online.target")
        #expect(line("Restart", in: text) == "on-failure")
        #expect(line("KillSignal", in: text) == "SIGTERM")
        #expect(line("KillMode", in: text) == "mixed")
        #expect(line("Delegate", in: text) == "no")
        #expect(line("LimitNOFILE", in: text) == "1048576")
    }

    @Test("TimeoutStopSec is the shutdown grace plus a minute for sprites, network and pool")
    func timeoutStop() throws {
        let defaults = try ServeFlags.validate([])
        #expect(ServiceUnit(executable: "/h", serveArguments: [], shutdownGraceSeconds: ServeFlags.shutdownGraceSeconds(defaults)).timeoutStopSeconds == 70)
        let slow = try ServeFlags.validate(["--shutdown-grace", "1500ms"])
        #expect(line("TimeoutStopSec", in: ServiceUnit(executable: "/h", serveArguments: [], shutdownGraceSeconds: ServeFlags.shutdownGraceSeconds(slow)).text) == "62s")
    }

    @Test("words with spaces, quotes, % and $ are quoted so that systemd splits them back")
    func quoting() {
        #expect(ServiceUnit.quote("/srv/hob") == "/srv/hob")
        #expect(ServiceUnit.quote("/srv/my hob") == "\"/srv/my hob\"")
        #expect(ServiceUnit.quote("10%") == "10%%")
        #expect(ServiceUnit.quote("a\"b$c\\") == "\"a\\\"b$$c\\\\\"")
        #expect(ServiceUnit.quote("") == "\"\"")
    }
}

@Suite("hob install: serve flags")
struct InstallFlagTests {
    func message(_ arguments: [String]) -> String? {
        do {
            _ = try ServeFlags.validate(arguments)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("valid serve flags pass")
    func valid() {
        #expect(message(["--state-dir", "/srv/hob", "--listen", "0.0.0.0:7070", "--idle-timeout", "2m", "--url-listen", "off"]) == nil)
    }

    @Test("a bad value fails with hob serve's own message")
    func badValue() {
        #expect(message(["--listen", "nowhere"])?.contains("--listen must be HOST:PORT") == true)
        #expect(message(["--subnet", "10.0.0.0/33"])?.contains("--subnet") == true)
    }

    @Test("an unknown flag fails and is named")
    func unknownFlag() {
        #expect(message(["--no-such-flag"])?.contains("--no-such-flag") == true)
    }

    @Test("relative paths are refused: the service does not start in this directory")
    func relativePath() {
        #expect(message(["--state-dir", "state"])?.contains("absolute") == true)
        #expect(message(["--url-tls-cert", "c.pem", "--url-tls-key", "/k.pem"])?.contains("--url-tls-cert") == true)
    }

    @Test("--help and line breaks cannot go into the unit")
    func helpAndNewlines() {
        #expect(message(["--help"]) != nil)
        #expect(message(["--url-domain", "a\nb"])?.contains("line break") == true)
    }

    @Test("--state-dir and --listen come first, then everything after --")
    func commandLine() throws {
        let install = try InstallCommand<TestRoot>.parse(["--state-dir", "/srv/hob", "--no-start", "--", "--idle-timeout", "2m"])
        #expect(install.serveArguments == ["--state-dir", "/srv/hob", "--idle-timeout", "2m"])
        #expect(install.noStart)
    }

    @Test("hob serve --runtime takes a runtime it has, and names them when given another")
    func serveRuntime() throws {
        #expect(try ServeCommand.parse(["--runtime", "namespaces"]).runtime == "namespaces")
        do {
            _ = try ServeCommand.parse(["--runtime", "firecracker"])
            Issue.record("parsed --runtime firecracker")
        } catch {
            #expect(ServeCommand.message(for: error).contains("namespaces"))
        }
    }

    @Test("hob install with a bad serve flag is a usage error (exit 64)")
    func usageError() {
        #expect(throws: (any Error).self) { try InstallCommand<TestRoot>.parse(["--", "--instance", "Not-Valid"]) }
        do {
            _ = try TestRoot.parseAsRoot(["install", "--listen", "x"])
            Issue.record("parsed a bad --listen")
        } catch {
            #expect(TestRoot.exitCode(for: error) == ExitCode.validationFailure)
        }
    }

    @Test("--uninstall goes with locations only")
    func printAndUninstall() {
        #expect(throws: (any Error).self) { try InstallCommand<TestRoot>.parse(["--print", "--uninstall"]) }
        #expect(throws: (any Error).self) { try InstallCommand<TestRoot>.parse(["--uninstall", "--state-dir", "/srv/hob"]) }
        #expect(throws: Never.self) { try InstallCommand<TestRoot>.parse(["--uninstall", "--unit-dir", "/tmp/u"]) }
    }

    @Test("environment defaults that the service would not see are reported")
    func ignoredEnvironment() {
        let ignored = ServeFlags.ignoredEnvironment(["--listen=1.2.3.4:5"], environment: ["HOB_STATE_DIR": "/x", "HOB_LISTEN": "y"])
        #expect(ignored.map(\.flag) == ["--state-dir"])
    }
}

@Suite("hob install: files")
struct InstallationTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("hob-install-\(UUID().uuidString)").path

    func makeBuild() throws -> String {
        let build = root + "/build"
        try FileManager.default.createDirectory(atPath: build, withIntermediateDirectories: true)
        for name in ["hob", "hob-init"] {
            _ = FileManager.default.createFile(atPath: build + "/" + name, contents: Data("#!/bin/sh\necho \(name)\n".utf8), attributes: [.posixPermissions: 0o755])
        }
        return build + "/hob"
    }

    @Test("binaries, unit and completions are written; a second run changes nothing and fails nothing")
    func idempotent() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let executable = try makeBuild()
        let locations = try InstallLocations.parse(
            ["--bin-dir", root + "/bin", "--unit-dir", root + "/unit", "--completions-dir", root + "/completions"])
        let log = LineLog()
        let installation = Installation(locations: locations) { log.append($0) }
        let unit = ServiceUnit(executable: root + "/bin/hob", serveArguments: [])
        for _ in 0..<2 {
            #expect(try installation.installBinaries(running: executable) == root + "/bin/hob")
            try installation.writeUnit(unit)
            try installation.writeCompletions { "complete \($0.rawValue)\n" }
        }
        #expect(try String(contentsOfFile: root + "/bin/hob-init", encoding: .utf8) == "#!/bin/sh\necho hob-init\n")
        #expect(FileManager.default.isExecutableFile(atPath: root + "/bin/hob"))
        #expect(try String(contentsOfFile: root + "/unit/hob.service", encoding: .utf8) == unit.text)
        #expect(try String(contentsOfFile: root + "/completions/_hob", encoding: .utf8) == "complete zsh\n")
        #expect(log.lines.filter { $0.hasSuffix(": unchanged") }.count == 4, "\(log.lines)")
        // Running from the bin directory itself: nothing to copy.
        _ = try installation.installBinaries(running: root + "/bin/hob")
        #expect(log.lines.suffix(2).allSatisfy { $0.hasSuffix("already installed (running from there)") }, "\(log.lines)")
    }

    @Test("without hob-init next to hob, nothing is installed and the error says where it looked")
    func missingInit() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let executable = try makeBuild()
        try FileManager.default.removeItem(atPath: root + "/build/hob-init")
        let locations = try InstallLocations.parse(["--bin-dir", root + "/bin"])
        let installation = Installation(locations: locations) { _ in }
        #expect { try installation.installBinaries(running: executable) } throws: { "\($0)".contains(root + "/build/hob-init") }
        #expect(!FileManager.default.fileExists(atPath: root + "/bin/hob"))
    }

    @Test("removing takes the unit and the completions, never the state directory or the binaries")
    func remove() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let executable = try makeBuild()
        let locations = try InstallLocations.parse(
            ["--bin-dir", root + "/bin", "--unit-dir", root + "/unit", "--completions-dir", root + "/completions"])
        let installation = Installation(locations: locations) { _ in }
        _ = try installation.installBinaries(running: executable)
        try installation.writeUnit(ServiceUnit(executable: root + "/bin/hob", serveArguments: ["--state-dir", root + "/state"]))
        try installation.writeCompletions { _ in "x" }
        try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true)
        installation.removeFiles()
        installation.removeFiles()
        for gone in ["/unit/hob.service", "/completions/hob.bash", "/completions/_hob", "/completions/hob.fish"] {
            #expect(!FileManager.default.fileExists(atPath: root + gone), "\(gone)")
        }
        for kept in ["/state", "/bin/hob", "/bin/hob-init"] { #expect(FileManager.default.fileExists(atPath: root + kept), "\(kept)") }
    }
}

/// Lines an Installation printed.
private final class LineLog {
    var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
}
