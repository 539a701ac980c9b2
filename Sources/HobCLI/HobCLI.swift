// The `hob` commands other than `serve`. The executable's root command lists `HobCLI.commands` next to `serve`;
// each command is an AsyncParsableCommand in its own file, and only talks to the daemon through HobClient.

import ArgumentParser

public enum HobCLI {
    public static let commands: [any ParsableCommand.Type] = [
        Login.self, Create.self, List.self, Info.self, Update.self, Destroy.self, Exec.self, Console.self, Sessions.self,
        Checkpoint.self, Restore.self, Fork.self, Sleep.self, Usage.self, Proxy.self, Services.self, Fs.self, Policy.self,
        SpriteURL.self, API.self, Token.self, Events.self, Secret.self, MCP.self,
    ]
}
