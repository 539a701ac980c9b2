// What the URL proxy asks the Fleet: where, inside a sprite, its URL's requests go.

extension Fleet {
    /// The port inside the sprite that `http(s)://<name>.<domain>/` forwards to. Sprites route
    /// their URL to 8080 (SPRITES-API.md §11) unless a service declares `http_port`; services
    /// will supply that port here, so this is the one place that changes when they land.
    public func urlTarget(_ name: String) async throws -> Int {
        _ = try record(name)
        return 8080
    }
}
