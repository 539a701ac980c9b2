// What the URL proxy asks the Fleet: where, inside a sprite, its URL's requests go.

/// Where a sprite's URL leads.
public struct URLTarget: Sendable, Equatable {
    public var port: Int
    /// The service that declares the port and should be running: a refused connection may only
    /// mean it is still starting (after a boot, or a restart after a crash), so it is worth waiting.
    public var service: String?
}

extension Fleet {
    /// The port inside the sprite that `http(s)://<name>.<domain>/` forwards to: the service that
    /// declares `http_port`, else 8080 (SPRITES-API.md §11).
    public func urlTarget(_ name: String) throws -> URLTarget {
        let record = try record(name)
        guard let s = sprites[record.id]?.services.first(where: { $0.httpPort != nil }), let port = s.httpPort else {
            return URLTarget(port: 8080, service: nil)
        }
        return URLTarget(port: port, service: s.wanted ? s.name : nil)
    }
}
