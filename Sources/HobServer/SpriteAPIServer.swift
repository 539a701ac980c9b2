// The in-sprite API: plain HTTP on <state>/run/api/api.sock, which every sprite sees as
// /.sprite/api.sock (SPRITES-API.md §12.1).
//
// There is no token: the caller is identified by the kernel. The connection's peer credentials
// (SO_PEERCRED) go to the sprite's runtime, which knows whose they are (namespace sprites: each
// sprite's users map onto their own range of host uids), so a sprite can act on itself only.
// Host processes and unknown callers are refused.
//
// The same uid decides how many connections a sprite may hold (SpriteConnectionGate): one sprite
// cannot take the daemon's descriptors, or its neighbours' share of this socket.
import Glibc
import HobAPI
import HobCore
import Hummingbird
import Logging
import NIOCore

/// Request context that keeps the connection, to read its peer credentials.
struct SpriteAPIContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The name of the sprite the calling process runs in.
    func callerSprite(_ fleet: Fleet) async throws -> String {
        guard let provider = channel as? any SocketOptionProvider else {
            throw HobError(.unauthorized, "cannot identify the calling process")
        }
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE);
        // a homogeneous tuple has the same layout.
        let credentials: (UInt32, UInt32, UInt32) = try await provider.unsafeGetSocketOption(
            level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)
        ).get()
        let caller = PeerCredentials(pid: pid_t(bitPattern: credentials.0), uid: credentials.1, gid: credentials.2)
        guard let name = await fleet.spriteName(ofCaller: caller) else {
            throw HobError(.unauthorized, "this socket serves processes inside sprites only")
        }
        return name
    }
}

enum SpriteAPIServer {
    static func application(config: DaemonConfig, fleet: Fleet, descriptors: DescriptorBudget, logger: Logger) -> some ApplicationProtocol {
        // NamespaceRuntime made the directory (sprites get it mounted at boot).
        let path = "\(config.spriteAPIDirectory)/api.sock"
        unlink(path)  // left by a daemon that was killed

        let router = Router(context: SpriteAPIContext.self)
        router.add(middleware: SpritesResponseMiddleware(logger: logger))
        let handlers = CheckpointHandlers(fleet: fleet)
        router.get("/v1/checkpoints") { request, context in
            try await handlers.list(sprite: try await context.callerSprite(fleet), request: request)
        }
        router.get("/v1/checkpoints/:id") { _, context in
            try await handlers.get(sprite: try await context.callerSprite(fleet), id: try context.parameters.require("id"))
        }
        router.post("/v1/checkpoint") { request, context in
            try await handlers.create(sprite: try await context.callerSprite(fleet), request: request)
        }
        router.post("/v1/checkpoints/:id/restore") { _, context in
            try await handlers.restore(sprite: try await context.callerSprite(fleet), id: try context.parameters.require("id"))
        }
        router.delete("/v1/checkpoints/:id") { _, context in
            try await handlers.delete(sprite: try await context.callerSprite(fleet), id: try context.parameters.require("id"))
        }
        TaskRoutes(fleet: fleet).register(on: router)
        ServiceHandlers(fleet: fleet).register(on: router)
        let limits = config.limits
        var edgeLimits = config.http
        edgeLimits.idleTimeout = limits.apiIdleTimeout
        return Application(
            router: router,
            // The public API's edge (deadlines, parse errors, bounded shutdown), without WebSockets.
            // A connection with no request under way is closed after `apiIdleTimeout`, so idle
            // ones cannot pile up against the per-sprite cap (or the daemon's descriptors).
            server: .sprites(accept: nil, limits: edgeLimits),
            configuration: .init(address: .unixDomainSocket(path: path), serverName: nil),
            onServerRunning: { channel in
                await guardListener(channel, gate: (limits, descriptors), logger: logger)
                // Every process in a sprite may use it, whatever its uid; who it is decides what it reaches.
                chmod(path, 0o666)
            },
            logger: logger)
    }
}
