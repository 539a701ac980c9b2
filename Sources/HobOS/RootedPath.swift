// A path inside a RootedDirectory as a client names it: absolute, or relative to a working
// directory, cleaned lexically like Go's path.Clean: empty and "." components are dropped and ".."
// removes the component before it, never going above "/".
//
// The cleaning only makes answers predictable (the path reported back is the path cleaned, and
// "/a/.." names "/", whose last component cannot be deleted). It is not what keeps a client inside
// the root: symlinks can point anywhere, so that is the kernel's job at every open
// (RESOLVE_IN_ROOT, see RootedDirectory).
import Glibc

public struct RootedPath: Sendable, Hashable, CustomStringConvertible {
    public let components: [String]

    /// `path` resolved against `workingDirectory` (itself taken from "/" when relative).
    /// Throws EINVAL for a NUL byte and ENAMETOOLONG beyond PATH_MAX.
    public init(_ path: String, workingDirectory: String = "/") throws {
        for part in [path, workingDirectory] where part.utf8.contains(0) {
            throw FileError("resolve", String(part.map { $0 == "\0" ? "?" : $0 }), errno: EINVAL, reason: "paths cannot contain NUL bytes")
        }
        var components = path.hasPrefix("/") ? [] : Self.clean(workingDirectory, onto: [])
        components = Self.clean(path, onto: components)
        self.components = components
        if description.utf8.count >= Int(PATH_MAX) { throw FileError("resolve", description, errno: ENAMETOOLONG) }
    }

    init(components: [String]) { self.components = components }

    private static func clean(_ path: String, onto start: [String]) -> [String] {
        var result = start
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = result.popLast()
            default: result.append(String(part))
            }
        }
        return result
    }

    public var isRoot: Bool { components.isEmpty }
    /// The last component; nil for "/".
    public var name: String? { components.last }
    public var parent: RootedPath { RootedPath(components: Array(components.dropLast())) }
    public func appending(_ name: String) -> RootedPath { RootedPath(components: components + [name]) }

    /// "/" or "/a/b".
    public var description: String { "/" + components.joined(separator: "/") }
    /// The same path relative to the root, as openat2 takes it: "." or "a/b".
    var relative: String { components.isEmpty ? "." : components.joined(separator: "/") }
}
