// How long the daemon's HTTP listeners wait for a client, and how long a client may hold
// shutdown. Without them one client that sends half a request, or a body it never finishes,
// keeps a connection (and SIGTERM) waiting for as long as it likes.
//
// Each value is a `hob serve` flag; docs/API.md ("The HTTP edge") says what a client sees.
public struct HTTPEdgeLimits: Sendable, Equatable {
    /// From the first byte of a request to the end of its head (request line and headers).
    /// Past it: 408 and close.
    public var headerTimeout: Duration = .seconds(10)
    /// The longest pause while a request body is being received. Past it: 408 (when no
    /// answer has started) and close.
    public var bodyTimeout: Duration = .seconds(30)
    /// A kept-alive connection with no request under way is closed after this long.
    public var idleTimeout: Duration = .seconds(60)
    /// After SIGTERM, how long requests and WebSockets under way may go on before their
    /// connections are closed. Idle connections and requests still being sent are closed at once.
    public var shutdownGrace: Duration = .seconds(10)
    /// After a final answer that closes the connection (an error, a timeout), how long what the
    /// client still sends is read and dropped, so the kernel does not reset the connection
    /// (and the answer with it) for unread input.
    public var linger: Duration = .seconds(2)

    public init() {}
}
