// How the CLI finds the API: the URL and the token are each taken from the first place that has them.
//
//   URL:   HOB_API_URL → the login config's api_url → the local daemon (http:// + HOB_LISTEN or 127.0.0.1:7070)
//   token: HOB_TOKEN → the login config's token, if the config is for that URL
//          → the local daemon's admin token (HOB_STATE_DIR or /var/lib/hob, file admin-token), if the URL is local
//
// A token is only ever sent to the URL it was saved for: a config token never goes to a HOB_API_URL pointing
// elsewhere, and the local admin token never leaves this machine. Everything reads from an injected environment so
// tests do not touch the real home directory.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// `$XDG_CONFIG_HOME/hob/config.json` (or `~/.config/hob/config.json`), written by `hob login` with mode 0600.
public struct LoginConfig: Codable, Sendable, Equatable {
    public var apiURL: String
    public var token: String

    public init(apiURL: String, token: String) {
        self.apiURL = apiURL
        self.token = token
    }

    enum CodingKeys: String, CodingKey {
        case apiURL = "api_url"
        case token
    }

    /// nil when the file does not exist.
    public static func load(from path: String) throws -> LoginConfig? {
        let bytes: [UInt8]
        do {
            guard let read = try FileText.contents(path) else { return nil }
            bytes = read
        } catch {
            throw HobClientError(.configuration, "cannot read \(path): \(error)", cause: error)
        }
        do {
            return try JSONDecoder().decode(LoginConfig.self, from: Data(bytes))
        } catch {
            throw HobClientError(
                .configuration, "cannot parse \(path): expected {\"api_url\",\"token\"}; run `hob login` again",
                cause: error)
        }
    }

    /// Writes the file atomically with mode 0600, creating its directory with mode 0700.
    public func save(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(self) + Data("\n".utf8)
            try FileText.writeAtomically(path, bytes: [UInt8](data), mode: 0o600)
        } catch let error as HobClientError {
            throw error
        } catch {
            throw HobClientError(.configuration, "cannot write \(path): \(error)", cause: error)
        }
    }
}

/// Where an endpoint came from, for messages such as "unauthorized (token from HOB_TOKEN)".
public enum EndpointSource: Sendable, Equatable, CustomStringConvertible {
    case environment
    case loginConfig(path: String)
    case localDaemon(tokenPath: String)

    public var description: String {
        switch self {
        case .environment: "HOB_TOKEN"
        case .loginConfig(let path): path
        case .localDaemon(let tokenPath): tokenPath
        }
    }
}

public struct ResolvedEndpoint: Sendable, Equatable {
    public var endpoint: HobEndpoint
    /// Where the token came from.
    public var tokenSource: EndpointSource
}

public struct EndpointResolver: Sendable {
    public static let defaultListenAddress = "127.0.0.1:7070"
    public static let defaultStateDirectory = "/var/lib/hob"

    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    private func value(_ key: String) -> String? {
        guard let v = environment[key]?.trimmingWhitespace(), !v.isEmpty else { return nil }
        return v
    }

    /// `$XDG_CONFIG_HOME/hob/config.json`, else `$HOME/.config/hob/config.json`; nil without either variable.
    public var configPath: String? {
        if let xdg = value("XDG_CONFIG_HOME"), xdg.hasPrefix("/") { return xdg + "/hob/config.json" }
        if let home = value("HOME") { return home + "/.config/hob/config.json" }
        return nil
    }

    /// The URL of a daemon on this machine: `HOB_LISTEN` (wildcard addresses mapped to loopback) or 127.0.0.1:7070.
    public var localDaemonURL: String {
        let listen = value("HOB_LISTEN") ?? Self.defaultListenAddress
        if listen.hasPrefix("http://") { return Self.normalized(listen) }
        var address = listen
        if address.hasPrefix(":") { address = "127.0.0.1" + address }
        if address.hasPrefix("0.0.0.0:") { address = "127.0.0.1" + address.dropFirst("0.0.0.0".count) }
        if address.hasPrefix("[::]:") { address = "[::1]" + address.dropFirst("[::]".count) }
        return "http://" + address
    }

    /// `(HOB_STATE_DIR or /var/lib/hob)/admin-token`.
    public var adminTokenPath: String {
        var dir = value("HOB_STATE_DIR") ?? Self.defaultStateDirectory
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        return dir + "/admin-token"
    }

    /// The local daemon's URL and admin token (what `hob login` uses without flags).
    public func localDaemonEndpoint() throws -> HobEndpoint {
        HobEndpoint(baseURL: localDaemonURL, token: try readAdminToken(required: true) ?? "")
    }

    /// Resolves the endpoint by the precedence described at the top of this file.
    public func resolve() throws -> ResolvedEndpoint {
        let config = try configPath.flatMap { try LoginConfig.load(from: $0) }
        let url = Self.normalized(value("HOB_API_URL") ?? config?.apiURL ?? localDaemonURL)
        if let token = value("HOB_TOKEN") {
            return ResolvedEndpoint(endpoint: HobEndpoint(baseURL: url, token: token), tokenSource: .environment)
        }
        if let config, let path = configPath, Self.normalized(config.apiURL) == url, !config.token.isEmpty {
            return ResolvedEndpoint(
                endpoint: HobEndpoint(baseURL: url, token: config.token), tokenSource: .loginConfig(path: path))
        }
        if url == Self.normalized(localDaemonURL), let token = try readAdminToken(required: false) {
            return ResolvedEndpoint(
                endpoint: HobEndpoint(baseURL: url, token: token), tokenSource: .localDaemon(tokenPath: adminTokenPath))
        }
        throw HobClientError(
            .noCredentials,
            "no API token for \(url): run `hob login` (or set HOB_TOKEN), or start `hob serve` on this machine")
    }

    /// The admin token, or nil when the file does not exist and `required` is false.
    private func readAdminToken(required: Bool) throws -> String? {
        let path = adminTokenPath
        let bytes: [UInt8]?
        do {
            bytes = try FileText.contents(path)
        } catch let error as FileText.Failure where error.errno == EACCES {
            throw HobClientError(
                .noCredentials,
                "cannot read \(path): permission denied; run this as root once (`sudo hob login`) or set HOB_TOKEN",
                cause: error)
        } catch {
            throw HobClientError(.noCredentials, "cannot read \(path): \(error)", cause: error)
        }
        guard let bytes else {
            guard required else { return nil }
            throw HobClientError(
                .noCredentials,
                "no local daemon token at \(path): start `hob serve` on this machine, or run `hob login --url URL --token TOKEN`"
            )
        }
        let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard !token.isEmpty else {
            throw HobClientError(.noCredentials, "\(path) is empty: restart `hob serve` to create a token")
        }
        return token
    }

    /// Trailing slashes removed, so `http://h:1/` and `http://h:1` compare equal.
    static func normalized(_ url: String) -> String {
        var u = url.trimmingWhitespace()
        while u.hasSuffix("/") { u.removeLast() }
        return u
    }
}

/// Small POSIX file helpers: errno-carrying reads and an atomic 0600 write.
enum FileText {
    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var errno: Int32
        var description: String { "\(operation): \(String(cString: strerror(errno)))" }
    }

    /// The file's bytes, or nil if it does not exist. Capped at 1 MiB: these are small config files.
    static func contents(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            if e == ENOENT || e == ENOTDIR { return nil }
            throw Failure(operation: "open", errno: e)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", errno: errno)
            }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Writes to `path.tmp-<pid>` created with `mode`, then renames over `path`.
    static func writeAtomically(_ path: String, bytes: [UInt8], mode: mode_t) throws {
        let tmp = "\(path).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(operation: "open \(tmp)", errno: errno) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw Failure(operation: "fchmod \(tmp)", errno: errno) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(operation: "write \(tmp)", errno: errno)
                }
                offset += n
            }
            guard fsync(fd) == 0 else { throw Failure(operation: "fsync \(tmp)", errno: errno) }
        }
        guard rename(tmp, path) == 0 else { throw Failure(operation: "rename \(tmp)", errno: errno) }
        ok = true
    }
}
