// swift-tools-version: 6.2
// Hob: self-hosted, Sprites-compatible durable Linux sandboxes.
// Modules follow docs/ARCHITECTURE.md; dependencies point one way:
// CHobShim → HobOS → HobCore → HobStore / HobServer → executables, with HobAPI and
// HobAgentProtocol as dependency-free leaves shared by every side.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hob",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hob", targets: ["hob"]),
        .executable(name: "hob-init", targets: ["hob-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C: everything Swift cannot or must not do (clone child side, GNU syscalls).
        .target(name: "CHobShim", cSettings: [.define("_GNU_SOURCE")]),
        // Framing between the daemon and hob-init. Pure Swift, no Foundation: hob-init links it statically.
        .target(name: "HobAgentProtocol", swiftSettings: swiftSettings),
        // Sprites v1 wire types shared by server, client and CLI.
        .target(name: "HobAPI", swiftSettings: swiftSettings),
        .target(name: "HobAccess", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        // `sprite-env`, the in-sprite API command: HTTP over a unix socket, a small JSON parser,
        // argument parsing. Libc only, no Foundation: hob-init links it statically.
        .target(name: "HobSpriteEnv", swiftSettings: swiftSettings),
        // Thin Swift wrappers over Linux: spawn, mounts, cgroups, btrfs, host commands.
        .target(
            name: "HobOS",
            dependencies: ["CHobShim", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        // The domain: Fleet, Storage, Runtime, Network.
        .target(
            name: "HobCore",
            dependencies: [
                "HobOS", "HobAPI", "HobAgentProtocol", "HobAccess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // SQLite persistence (GRDB) behind HobCore's SpriteStore protocol.
        .target(
            name: "HobStore",
            dependencies: ["HobCore", "HobAPI", "HobAgentProtocol", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings),
        // The API edge: Hummingbird routes, auth, exec WebSockets, the sprite URL proxy (raw NIO,
        // with NIOSSL for its optional HTTPS), and `hob serve`.
        // WSCore is used through its WSInternal SPI (as hummingbird-websocket does) so that refused
        // upgrades can get real statuses; see ServerChannel.swift.
        .target(
            name: "HobServer",
            dependencies: [
                "HobCore", "HobStore", "HobAPI", "HobAgentProtocol", "HobAccess",
                // `/mcp`: the MCP tools, which act through the daemon's own API as a client.
                "HobMCP", "HobClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                // HMAC-SHA256 for the sprite URL session tokens (URLSessionToken.swift).
                .product(name: "Crypto", package: "swift-crypto"),
                // `/metrics`: the Fleet's swift-metrics counters, kept and written by swift-prometheus.
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The OpenAPI document, compiled into the binary (OpenAPIDocument.swift).
            // The dashboard's files (UIRoutes.swift), the same way.
            resources: [.embedInCode("Resources/openapi.json")]
                + ["index.html", "app.js", "app.css", "xterm.js", "xterm.css", "fit.js", "XTERM-LICENSE.txt"].map {
                    .embedInCode("Resources/ui/\($0)")
                },
            swiftSettings: swiftSettings),
        // HTTP + WebSocket client for the Sprites API (CLI, tests, benchmarks).
        .target(
            name: "HobClient",
            dependencies: [
                "HobAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // The MCP server (`hob mcp`, and `/mcp` on the daemon): tools that act through HobClient.
        .target(
            name: "HobMCP",
            dependencies: [
                "HobClient", "HobAPI", .product(name: "MCP", package: "swift-sdk"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The `hob` commands other than `serve`.
        .target(
            name: "HobCLI",
            dependencies: [
                "HobClient", "HobAPI", "HobAccess", "HobMCP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "hob",
            dependencies: [
                "HobCLI", "HobServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        // PID 1 inside every sprite. Fully static: it must run whatever the sprite has done to its
        // userland (no Swift runtime there, and glibc or libstdc++ may be changed or removed).
        // The linker notes that the static Swift runtime can dlopen; hob-init never relies on it.
        .executableTarget(
            name: "hob-init",
            dependencies: ["CHobShim", "HobAgentProtocol", "HobSpriteEnv"],
            swiftSettings: swiftSettings,
            linkerSettings: [.unsafeFlags(["-static-executable"])]),
        .executableTarget(
            name: "hob-bench", dependencies: ["HobCore", "HobAccess"], path: "benchmarks/hob-bench", swiftSettings: swiftSettings),
        .testTarget(
            name: "HobAccessTests", dependencies: ["HobAccess", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        .testTarget(
            name: "HobMCPTests",
            dependencies: ["HobMCP", "HobClient", .product(name: "MCP", package: "swift-sdk")], swiftSettings: swiftSettings),
        .testTarget(name: "HobAgentProtocolTests", dependencies: ["HobAgentProtocol"], swiftSettings: swiftSettings),
        .testTarget(name: "HobSpriteEnvTests", dependencies: ["HobSpriteEnv"], swiftSettings: swiftSettings),
        .testTarget(name: "HobOSTests", dependencies: ["HobOS"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HobCLITests",
            dependencies: [
                "HobCLI", "HobClient", "HobAPI", "HobAccess", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HobServerTests",
            dependencies: [
                "HobServer", "HobCore", "HobAPI", "HobOS", "HobAccess", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HobCoreTests",
            dependencies: ["HobCore", "HobStore", "HobAPI", "HobOS", "HobAccess", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings),
        // Root-only: a real `hob serve` on a temporary state directory. Skips without root.
        .testTarget(
            name: "HobIntegrationTests",
            dependencies: ["HobClient", "HobAPI", "HobOS"],
            swiftSettings: swiftSettings),
    ]
)
