// Which URL and token the CLI uses, and where they come from. Every test uses its own temporary directory and an
// injected environment, never the real home directory or /var/lib/hob.

import Foundation
import HobClient
import Testing

@Suite("Endpoint resolution")
struct EndpointResolutionTests {
    /// A scratch directory standing in for $HOME and the daemon's state directory.
    struct Scratch {
        let root: String

        init() throws {
            root = FileManager.default.temporaryDirectory.path + "/hob-cli-tests-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: root + "/home", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true)
        }

        var home: String { root + "/home" }
        var state: String { root + "/state" }
        var configPath: String { home + "/.config/hob/config.json" }

        func writeAdminToken(_ token: String) throws {
            try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: state + "/admin-token"))
        }

        func saveConfig(url: String, token: String) throws {
            try LoginConfig(apiURL: url, token: token).save(to: configPath)
        }

        /// The environment a test resolves against: no real HOME, no real state dir.
        func environment(_ extra: [String: String] = [:]) -> [String: String] {
            ["HOME": home, "HOB_STATE_DIR": state].merging(extra) { $1 }
        }

        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test func environmentVariablesWin() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.saveConfig(url: "http://saved:7070", token: "saved-token")
        try scratch.writeAdminToken("admin")
        let resolved = try EndpointResolver(
            environment: scratch.environment(["HOB_API_URL": "http://env:9000", "HOB_TOKEN": "env-token"])
        ).resolve()
        #expect(resolved.endpoint == HobEndpoint(baseURL: "http://env:9000", token: "env-token"))
        #expect(resolved.tokenSource == .environment)
    }

    @Test func loginConfigIsUsedWithoutEnvironmentVariables() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.saveConfig(url: "http://saved:7070/", token: "saved-token")
        try scratch.writeAdminToken("admin")
        let resolved = try EndpointResolver(environment: scratch.environment()).resolve()
        #expect(resolved.endpoint == HobEndpoint(baseURL: "http://saved:7070", token: "saved-token"))
        #expect(resolved.tokenSource == .loginConfig(path: scratch.configPath))
    }

    @Test func xdgConfigHomeTakesPrecedenceOverHome() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let xdg = scratch.root + "/xdg"
        try LoginConfig(apiURL: "http://xdg:1", token: "xdg-token").save(to: xdg + "/hob/config.json")
        try scratch.saveConfig(url: "http://home:1", token: "home-token")
        let resolver = EndpointResolver(environment: scratch.environment(["XDG_CONFIG_HOME": xdg]))
        #expect(resolver.configPath == xdg + "/hob/config.json")
        #expect(try resolver.resolve().endpoint.token == "xdg-token")
    }

    @Test func tokenFromEnvironmentCombinesWithTheSavedURL() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.saveConfig(url: "http://saved:7070", token: "saved-token")
        let resolved = try EndpointResolver(environment: scratch.environment(["HOB_TOKEN": "env-token"])).resolve()
        #expect(resolved.endpoint == HobEndpoint(baseURL: "http://saved:7070", token: "env-token"))
    }

    @Test func savedTokenIsNotSentToAnotherURL() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.saveConfig(url: "http://saved:7070", token: "saved-token")
        let resolver = EndpointResolver(environment: scratch.environment(["HOB_API_URL": "http://elsewhere:7070"]))
        let error = try #require(throws: HobClientError.self) { try resolver.resolve() }
        #expect(error.code == .noCredentials)
    }

    @Test func localDaemonIsTheFallback() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.writeAdminToken("admin-token-value")
        let resolved = try EndpointResolver(environment: scratch.environment(["HOB_LISTEN": "127.0.0.1:7777"])).resolve()
        #expect(resolved.endpoint == HobEndpoint(baseURL: "http://127.0.0.1:7777", token: "admin-token-value"))
        #expect(resolved.tokenSource == .localDaemon(tokenPath: scratch.state + "/admin-token"))
    }

    @Test func defaultLocalDaemonAddressAndStateDirectory() {
        let resolver = EndpointResolver(environment: [:])
        #expect(resolver.localDaemonURL == "http://127.0.0.1:7070")
        #expect(resolver.adminTokenPath == "/var/lib/hob/admin-token")
        #expect(resolver.configPath == nil)
    }

    @Test(arguments: [
        ("0.0.0.0:7070", "http://127.0.0.1:7070"), (":8080", "http://127.0.0.1:8080"),
        ("[::]:7070", "http://[::1]:7070"), ("10.0.0.5:7070", "http://10.0.0.5:7070"),
    ])
    func wildcardListenAddressesMapToLoopback(listen: String, url: String) {
        #expect(EndpointResolver(environment: ["HOB_LISTEN": listen]).localDaemonURL == url)
    }

    @Test func missingTokenEverywhereTellsTheUserWhatToDo() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let error = try #require(throws: HobClientError.self) {
            try EndpointResolver(environment: scratch.environment()).resolve()
        }
        #expect(error.code == .noCredentials)
        #expect(error.message.contains("hob login"))
        #expect(error.message.contains("hob serve"))
    }

    @Test func malformedConfigIsReported() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try FileManager.default.createDirectory(
            atPath: scratch.home + "/.config/hob", withIntermediateDirectories: true)
        try Data("not json".utf8).write(to: URL(fileURLWithPath: scratch.configPath))
        let error = try #require(throws: HobClientError.self) {
            try EndpointResolver(environment: scratch.environment()).resolve()
        }
        #expect(error.code == .configuration)
    }

    @Test func savedConfigIsPrivateAndRoundTrips() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let config = LoginConfig(apiURL: "http://h:1", token: "t0ken")
        try config.save(to: scratch.configPath)
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.configPath)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        let directory = try FileManager.default.attributesOfItem(atPath: scratch.home + "/.config/hob")
        #expect(directory[.posixPermissions] as? Int == 0o700)
        #expect(try LoginConfig.load(from: scratch.configPath) == config)
    }

    @Test func savedConfigUsesTheDocumentedKeys() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.saveConfig(url: "http://h:1", token: "t")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.configPath)))
        #expect((json as? [String: String]) == ["api_url": "http://h:1", "token": "t"])
    }
}
