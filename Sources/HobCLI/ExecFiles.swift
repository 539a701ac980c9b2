// `hob exec --file src:dest`: local files copied into the sprite before the command runs (as `sprite exec --file`).

import HobClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `--file` argument: a local path and where it goes in the sprite.
public struct ExecFileUpload: Equatable, Sendable {
    public var local: String
    public var remote: String

    public init(local: String, remote: String) {
        self.local = local
        self.remote = remote
    }

    /// `src:dest`, split at the first colon. A relative `dest` is taken from `directory` (the exec's --dir, or the
    /// sprite's home directory), where the command will look for it.
    public static func parse(_ argument: String, directory: String?) throws -> ExecFileUpload {
        guard let colon = argument.firstIndex(of: ":") else {
            throw CommandError("--file needs src:dest, e.g. --file ./run.sh:/tmp/run.sh; got \"\(argument)\"")
        }
        let local = String(argument[..<colon])
        let remote = String(argument[argument.index(after: colon)...])
        guard !local.isEmpty, !remote.isEmpty else {
            throw CommandError("--file needs both a local path and a path in the sprite: src:dest; got \"\(argument)\"")
        }
        guard !remote.hasPrefix("/") else { return ExecFileUpload(local: local, remote: remote) }
        let base = directory.flatMap { $0.isEmpty ? nil : $0 } ?? "/home/sprite"
        return ExecFileUpload(local: local, remote: (base.hasSuffix("/") ? base : base + "/") + remote)
    }

    /// Copies the file, keeping its permission bits (a script stays executable). Parent directories are made.
    func upload(to sprite: String, client: HobClient) async throws {
        let fd = open(local, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandError("--file: cannot open \(local): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw CommandError("--file: \(local) is not a regular file")
        }
        let source = local
        _ = try await client.writeFile(
            sprite: sprite, path: remote, mode: UInt32(st.st_mode & 0o7777), makeParents: true, length: Int64(st.st_size)
        ) {
            switch await StandardStream.read(fd, maxBytes: 1 << 20) {
            case .data(let bytes): return bytes
            case .endOfFile: return nil
            case .failed(let code): throw CommandError("--file: cannot read \(source): \(String(cString: strerror(code)))")
            }
        }
    }
}
