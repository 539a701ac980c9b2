// The `hob` executable: the CLI, and `hob serve` for the daemon. Everything lives in libraries.
import ArgumentParser
import HobCLI
import HobServer

@main
struct Hob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hob",
        abstract: "Durable Linux sandboxes (sprites) that speak the Sprites v1 API.",
        subcommands: [ServeCommand.self, InstallCommand<Hob>.self, UninstallCommand.self, CompletionCommand<Hob>.self] + HobCLI.commands)
}
