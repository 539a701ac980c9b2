// hob-init: PID 1 inside every sprite. `setup` builds the root filesystem and re-executes
// `agent` from inside it (see Setup.swift and Agent.swift).
import Glibc

switch CommandLine.arguments.dropFirst().first {
case "setup":
    Setup.run()
case "agent":
    Agent().run()
default:
    let usage = "usage: hob-init setup|agent\nhob-init is started by the Hob daemon as PID 1 of a sprite; it is not run by hand.\n"
    writeAll(2, Array(usage.utf8))
    exit(2)
}
