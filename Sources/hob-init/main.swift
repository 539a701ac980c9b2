// hob-init: PID 1 inside every sprite. `setup` builds the root filesystem and re-executes
// `agent` from inside it (see Setup.swift and Agent.swift).
//
// The same binary is `sprite-env` (/.sprite/bin/sprite-env links to it): a static executable is
// the one program guaranteed to run in a sprite, whatever has become of its userland.
import Glibc
import HobAgentProtocol
import HobSpriteEnv

let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
if invokedAs == "sprite-env" {
    exit(SpriteEnv.main(Array(CommandLine.arguments.dropFirst())))
}

switch CommandLine.arguments.dropFirst().first {
case "setup":
    Setup.run()
case "agent":
    // `hob-init agent [PRIVILEGES]`: the sprite's privileges policy in its argument form.
    let privileges = CommandLine.arguments.dropFirst(2).first.flatMap(SpritePrivileges.init(argument:)) ?? .standard
    Agent(privileges: privileges).run()
default:
    let usage = "usage: hob-init setup|agent\nhob-init is started by the Hob daemon as PID 1 of a sprite; it is not run by hand.\n"
    writeAll(2, Array(usage.utf8))
    exit(2)
}
