// `hob install` and `hob uninstall`: Hob as a systemd service. Generic over the root command
// only so that the completion scripts are generated from the real `hob` command tree, which lives
// in the executable.
import ArgumentParser
import Foundation
import Glibc
import HobOS

public struct InstallCommand<Root: ParsableCommand>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "install",
            abstract: "Install Hob as a systemd service that starts at boot (as root).",
            discussion: """
                Copies this hob and the hob-init next to it into --bin-dir (atomically: a running \
                daemon keeps its old copy), writes hob.service into --unit-dir, installs bash, zsh \
                and fish completions, and, when systemd is the init system, enables and starts the \
                service. Running it again is harmless; it is also how you upgrade (docs/OPERATIONS.md).

                The unit runs `hob serve` with --state-dir, --listen and whatever follows `--`; \
                they are checked as hob serve would check them. The state directory is never \
                touched, not even by --uninstall.

                Examples:
                  sudo hob install
                  sudo hob install --state-dir /srv/hob -- --idle-timeout 2m
                  hob install --print -- --url-listen off      # show the unit only
                  sudo hob install --no-start                  # write the files only
                  sudo systemctl stop hob; sudo ./hob install  # upgrade
                  sudo hob uninstall                           # the state dir stays
                """)
    }

    @OptionGroup var locations: InstallLocations

    @Option(help: ArgumentHelp("The service's state directory (hob serve --state-dir; default /var/lib/hob).", valueName: "dir"))
    var stateDir: String?

    @Option(help: ArgumentHelp("The service's API address (hob serve --listen; default 127.0.0.1:7070).", valueName: "host:port"))
    var listen: String?

    @Flag(help: "Write the files but do not enable or start the service.")
    var noStart = false

    @Flag(name: .customLong("print"), help: "Print the unit to stdout and change nothing.")
    var printUnit = false

    @Flag(help: "Stop and disable the service, remove the unit and the completions (the binaries and the state directory stay).")
    var uninstall = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("More hob serve flags for the unit, after --.", valueName: "serve-flags"))
    var serveFlags: [String] = []

    public init() {}

    /// Everything after `serve` on the unit's command line.
    var serveArguments: [String] {
        (stateDir.map { ["--state-dir", $0] } ?? []) + (listen.map { ["--listen", $0] } ?? []) + serveFlags
    }

    public func validate() throws {
        if uninstall && printUnit { throw ValidationError("--print and --uninstall do not go together") }
        if uninstall && (!serveArguments.isEmpty || noStart) {
            throw ValidationError("--uninstall takes only --unit-dir, --completions-dir and --no-completions; serve flags and --no-start are for installing")
        }
        if !uninstall { _ = try ServeFlags.validate(serveArguments) }
    }

    public func run() async throws {
        if uninstall { return try await UninstallCommand.uninstall(locations) }
        let serve = try ServeFlags.validate(serveArguments)
        let unit = ServiceUnit(
            executable: locations.binDirectory + "/hob", serveArguments: serveArguments,
            shutdownGraceSeconds: ServeFlags.shutdownGraceSeconds(serve), openFiles: Self.kernelOpenFilesMaximum())
        if printUnit {
            print(unit.text, terminator: "")
            return
        }
        try Installation.requireRoot("hob install")
        for (variable, flag) in ServeFlags.ignoredEnvironment(serveArguments, environment: ProcessInfo.processInfo.environment) {
            printError("note: \(variable) is set here, but the service does not see it; pass \(flag) to use it")
        }
        let installation = Installation(locations: locations) { print($0) }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        _ = try installation.installBinaries(running: executable)
        try installation.writeUnit(unit)
        try installation.writeCompletions { Root.completionScript(for: $0) }
        try await start(unit)
    }

    private func start(_ unit: ServiceUnit) async throws {
        guard Systemd.isInit else {
            print("systemd is not the init system here: nothing was started. Start the daemon with\n  \(unit.execStart)")
            return
        }
        if noStart {
            print("not started (--no-start): systemctl daemon-reload && systemctl enable --now hob")
            return
        }
        let wasRunning = await Systemd.isActive(ServiceUnit.fileName)
        try await Systemd.systemctl("daemon-reload")
        try await Systemd.systemctl("enable", "--now", ServiceUnit.fileName)
        if wasRunning {
            print("hob.service was already running and still runs the previous binary; to switch: systemctl restart hob")
            print("(a restart stops every sprite; their disks stay and they boot again on their next exec)")
        } else {
            print("enabled and started hob.service; its log: journalctl -u hob -f")
        }
    }

    /// fs.nr_open, the highest descriptor limit the kernel allows (systemd refuses to start a unit
    /// whose LimitNOFILE is above it).
    static func kernelOpenFilesMaximum() -> Int {
        let text = (try? Files.read("/proc/sys/fs/nr_open"))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.flatMap { Int($0) } ?? ServiceUnit.defaultOpenFiles
    }
}

public struct UninstallCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Stop and disable the Hob service, remove its unit and completions (as root).",
        discussion: """
            The state directory (sprites, checkpoints, tokens) and the binaries stay: `hob install` \
            brings the service back with every sprite. Pass the same --unit-dir and --completions-dir \
            as to hob install, if any.
            """)

    @OptionGroup var locations: InstallLocations

    public init() {}

    public func run() async throws { try await Self.uninstall(locations) }

    static func uninstall(_ locations: InstallLocations) async throws {
        try Installation.requireRoot("hob uninstall")
        let installation = Installation(locations: locations) { print($0) }
        let installed = Files.exists(locations.unitPath)
        if Systemd.isInit && installed {
            // Stopping stops every sprite, as SIGTERM always does; their disks stay.
            try await Systemd.systemctl("disable", "--now", ServiceUnit.fileName)
            print("stopped and disabled hob.service")
        }
        installation.removeFiles()
        if Systemd.isInit && installed { try await Systemd.systemctl("daemon-reload") }
        print("kept the binaries in \(locations.binDirectory) and the state directory; hob install brings the service back")
    }
}
