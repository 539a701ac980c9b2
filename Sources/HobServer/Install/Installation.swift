// What `hob install` puts on a machine and `hob uninstall` takes away: the two binaries, the unit,
// the completion scripts. Never the state directory: sprites outlive any number of reinstalls.
import ArgumentParser
import Foundation
import Glibc
import HobCore
import HobOS

/// Where the files go; the same options for install and uninstall, so that uninstall finds them.
public struct InstallLocations: ParsableArguments, Sendable {
    @Option(help: ArgumentHelp("Where hob and hob-init go.", valueName: "dir"))
    var binDir: String = "/usr/local/bin"

    @Option(help: ArgumentHelp("Where hob.service goes.", valueName: "dir"))
    var unitDir: String = "/etc/systemd/system"

    @Option(help: ArgumentHelp(
        "Put the completion scripts (hob.bash, _hob, hob.fish) in this one directory instead of where bash, zsh and fish look for them.",
        valueName: "dir"))
    var completionsDir: String?

    @Flag(help: "Leave shell completions alone.")
    var noCompletions = false

    public init() {}

    var binDirectory: String { Self.absolute(binDir) }
    var unitPath: String { Self.absolute(unitDir) + "/" + ServiceUnit.fileName }

    /// Each shell's completion script path (none with --no-completions).
    var completionPaths: [(shell: CompletionShell, path: String)] {
        if noCompletions { return [] }
        if let completionsDir {
            let dir = Self.absolute(completionsDir)
            return [(.bash, dir + "/hob.bash"), (.zsh, dir + "/_hob"), (.fish, dir + "/hob.fish")]
        }
        return [
            (.bash, "/usr/share/bash-completion/completions/hob"),
            (.zsh, "/usr/local/share/zsh/site-functions/_hob"),
            (.fish, "/usr/share/fish/vendor_completions.d/hob.fish"),
        ]
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// The steps, each printing one line of what it did.
struct Installation {
    let locations: InstallLocations
    let say: (String) -> Void

    static func requireRoot(_ what: String) throws {
        guard geteuid() == 0 else {
            printError("\(what) must run as root: it writes to /usr/local/bin and /etc/systemd/system and runs systemctl")
            throw ExitCode(1)
        }
    }

    /// Copies the running `hob` and the `hob-init` next to it into the bin directory; a file that
    /// already is the target (running from there) is left alone. Returns the installed `hob`.
    func installBinaries(running executable: String) throws -> String {
        let directory = locations.binDirectory
        let sourceDirectory = (executable as NSString).deletingLastPathComponent
        let initSource = sourceDirectory + "/hob-init"
        guard access(initSource, X_OK) == 0 else {
            throw HobError(.notFound, "hob-init is not next to \(executable) (looked for \(initSource)); build it (swift build) or install from where both are")
        }
        do {
            try Files.makeDirectory(directory)
            // hob-init first: a hob in the bin directory must always find a hob-init at least as new.
            for (source, name) in [(initSource, "hob-init"), (executable, "hob")] {
                let target = directory + "/" + name
                if Files.isSameFile(source, target) {
                    say("\(target): already installed (running from there)")
                } else {
                    try Files.copyAtomically(from: source, to: target)
                    say("installed \(target)")
                }
            }
        } catch {
            throw HobError(.unavailable, "could not install the binaries into \(directory)", cause: error)
        }
        return directory + "/hob"
    }

    func writeUnit(_ unit: ServiceUnit) throws {
        try write(unit.text, to: locations.unitPath, what: "the unit")
    }

    func writeCompletions(_ script: (CompletionShell) -> String) throws {
        for (shell, path) in locations.completionPaths {
            try write(script(shell), to: path, what: "\(shell.rawValue) completions")
        }
    }

    /// Removes the unit and the completion scripts.
    func removeFiles() {
        for path in [locations.unitPath] + locations.completionPaths.map(\.path) {
            if Files.exists(path) {
                Files.remove(path)
                say("removed \(path)")
            }
        }
    }

    private func write(_ text: String, to path: String, what: String) throws {
        if (try? Files.read(path)) == text {
            say("\(path): unchanged")
            return
        }
        do {
            try Files.makeDirectory((path as NSString).deletingLastPathComponent)
            try Files.writeAtomically(path, text, mode: 0o644)
        } catch {
            throw HobError(.unavailable, "could not write \(what) to \(path)", cause: error)
        }
        say("wrote \(path)")
    }
}

/// systemd, when it is the init system here.
enum Systemd {
    /// systemd's own test (sd_booted): this directory exists only when it runs as PID 1.
    static var isInit: Bool { Files.isDirectory("/run/systemd/system") }

    static func systemctl(_ arguments: String...) async throws {
        do {
            try await HostCommand.run("systemctl", arguments)
        } catch {
            throw HobError(.unavailable, "systemctl \(arguments.joined(separator: " ")) failed", cause: error)
        }
    }

    static func isActive(_ unit: String) async -> Bool {
        (try? await HostCommand.run("systemctl", ["is-active", "--quiet", unit], allowFailure: true).status) == 0
    }
}
