// hob-init: PID 1 inside every sprite. `setup` builds the root filesystem and re-executes
// `agent` from inside it (see Setup.swift and Agent.swift); `gvisor` is the agent of a sprite whose
// root a runtime (runsc) already built (GVisorMode.swift).
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
    let agent: Agent
    do {
        agent = try Agent(privileges: privileges)
    } catch {
        // Nothing may run unconfined, nor without reaping: the boot fails instead. The error
        // names its step (the seccomp filter, the signalfd).
        Setup.fail("start the agent: \(error)")
    }
    agent.run {
        // Tell the daemon we are up, then drop the boot channel.
        writeAll(Setup.controlFD, Array("R".utf8))
        close(Setup.controlFD)
    }
case "gvisor":
    // `hob-init gvisor [PRIVILEGES]`: same argument form as `agent`.
    GVisorMode.run(privilegesArgument: CommandLine.arguments.dropFirst(2).first)
default:
    let usage = "usage: hob-init setup|agent|gvisor\nhob-init is started by the Hob daemon as PID 1 of a sprite; it is not run by hand.\n"
    writeAll(2, Array(usage.utf8))
    exit(2)
}
