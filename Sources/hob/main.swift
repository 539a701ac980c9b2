import ArgumentParser
import HobServer

@main
struct Hob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hob", subcommands: [ServeCommand.self])
}
