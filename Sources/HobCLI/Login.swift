// `hob login`: find and verify an API endpoint, then save it for later commands.

import ArgumentParser
import HobClient

public struct Login: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Save the API URL and token that other commands use.",
        discussion: """
            Without flags, finds the daemon on this machine (HOB_LISTEN or 127.0.0.1:7070) and reads its admin \
            token from HOB_STATE_DIR or /var/lib/hob (usually needs root). The endpoint is checked with a list \
            call, then saved with mode 0600 to $XDG_CONFIG_HOME/hob/config.json or ~/.config/hob/config.json.
            HOB_API_URL and HOB_TOKEN, when set, override the saved values.

            Examples:
              sudo hob login
              hob login --url http://10.0.0.5:7070 --token "$TOKEN"
            """)

    @Option(help: ArgumentHelp("API URL, e.g. http://10.0.0.5:7070 (default: the local daemon).", valueName: "url"))
    public var url: String?

    @Option(help: ArgumentHelp("API token (default: the local daemon's admin token).", valueName: "token"))
    public var token: String?

    public init() {}

    public func validate() throws {
        try validate(localDaemonURL: EndpointResolver().localDaemonURL)
    }

    /// Flag checks; without --token the URL must be the local daemon's, whose admin token hob can read.
    public func validate(localDaemonURL: String) throws {
        if let url {
            _ = try Self.checkURL(url)
            if token == nil && Self.trimmedURL(url) != Self.trimmedURL(localDaemonURL) {
                throw ValidationError("--token is required for a daemon that is not on this machine (\(url))")
            }
        }
        if let token, token.trimmingWhitespace().isEmpty { throw ValidationError("--token must not be empty") }
    }

    static func checkURL(_ url: String) throws -> ParsedBaseURL {
        do {
            return try ParsedBaseURL(url)
        } catch let error as HobClientError {
            throw ValidationError(error.message)
        }
    }

    public func run() async throws {
        try await CommandFailure.reporting {
            let resolver = EndpointResolver()
            guard let path = resolver.configPath else {
                throw CommandError("cannot find a config directory: set HOME or XDG_CONFIG_HOME")
            }
            let endpoint = try endpoint(resolver)
            let client = HobClient(endpoint: endpoint)
            _ = try await client.listSprites(maxResults: 1)
            try LoginConfig(apiURL: endpoint.baseURL, token: endpoint.token).save(to: path)
            print("Logged in to \(endpoint.baseURL); saved to \(path)")
        }
    }

    private func endpoint(_ resolver: EndpointResolver) throws -> HobEndpoint {
        let baseURL = url.map(Self.trimmedURL) ?? resolver.localDaemonURL
        if let token { return HobEndpoint(baseURL: baseURL, token: token.trimmingWhitespace()) }
        return try resolver.localDaemonEndpoint()
    }

    private static func trimmedURL(_ url: String) -> String {
        var u = url.trimmingWhitespace()
        while u.hasSuffix("/") { u.removeLast() }
        return u
    }
}
