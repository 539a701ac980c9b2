import ArgumentParser
import Testing

@testable import HobCLI

/// A stand-in for the executable's root command.
private struct CompletionRoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hob", subcommands: [Create.self, Checkpoint.self, CompletionCommand<CompletionRoot>.self])
}

@Suite("hob completion")
struct CompletionCommandTests {
    @Test("each shell's script completes the root command's subcommands and their options", arguments: ["bash", "zsh", "fish"])
    func script(shell: String) throws {
        let command = try CompletionCommand<CompletionRoot>.parse([shell])
        let script = CompletionRoot.completionScript(for: command.shell.completionShell)
        #expect(script.contains("checkpoint"))
        #expect(script.contains("restore"))
        #expect(script.contains("ram-mb"))
    }

    @Test("an unknown shell is a usage error")
    func unknownShell() {
        #expect(throws: (any Error).self) { try CompletionCommand<CompletionRoot>.parse(["powershell"]) }
    }
}
