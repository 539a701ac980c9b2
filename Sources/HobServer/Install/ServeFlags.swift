// The `hob serve` flags that go into the unit, checked at install time by parsing them with
// ServeCommand itself: a typo fails `hob install` with serve's own message instead of a unit that
// fails at every boot.
import ArgumentParser
import Foundation
import HobAPI

enum ServeFlags {
    /// Environment variables `hob serve` reads for defaults. A service does not see the installing
    /// shell's environment, so a value there would silently not apply.
    static let environmentDefaults = [
        ("HOB_STATE_DIR", "--state-dir"), ("HOB_LISTEN", "--listen"), ("HOB_IMAGE_CACHE", "--image-cache"),
        ("HOB_DEBIAN_MIRROR", "--debian-mirror"), ("HOB_LOG_FORMAT", "--log-format"),
    ]

    /// Parses `arguments` as `hob serve` would and returns the result; any problem is a
    /// ValidationError that names the flag.
    static func validate(_ arguments: [String]) throws -> ServeCommand {
        for word in arguments {
            if ["-h", "--help", "-help", "help"].contains(word) { throw ValidationError("\(word) cannot go into the unit; see hob serve --help") }
            if word.contains(where: \.isNewline) { throw ValidationError("a serve flag for the unit contains a line break: \(word.debugDescription)") }
        }
        let serve: ServeCommand
        do {
            serve = try ServeCommand.parse(arguments)
        } catch {
            let message = ServeCommand.message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ValidationError("not a valid hob serve command line for the unit (\(arguments.joined(separator: " "))): \(message)")
        }
        // The service starts in /, where a relative path would mean something else than here.
        let paths = [
            ("--state-dir", serve.stateDir), ("--image-cache", serve.imageCache), ("--init-path", serve.initPath),
            ("--url-tls-cert", serve.urlTlsCert), ("--url-tls-key", serve.urlTlsKey),
        ]
        for case let (flag, path?) in paths where !path.hasPrefix("/") {
            throw ValidationError("\(flag) must be an absolute path in a unit (the service does not start in this directory): \(path)")
        }
        return serve
    }

    /// Seconds of `--shutdown-grace` (validated already), rounded up.
    static func shutdownGraceSeconds(_ serve: ServeCommand) -> Int {
        let milliseconds = DurationText.milliseconds(serve.shutdownGrace) ?? 10_000
        return (milliseconds + 999) / 1000
    }

    /// Flags whose environment default is set here but not passed: worth a warning.
    static func ignoredEnvironment(_ arguments: [String], environment: [String: String]) -> [(variable: String, flag: String)] {
        environmentDefaults.filter { variable, flag in
            environment[variable] != nil && !arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
        }.map { (variable: $0.0, flag: $0.1) }
    }
}
