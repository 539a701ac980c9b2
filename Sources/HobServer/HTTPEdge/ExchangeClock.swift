// When a connection of the API has waited long enough for its client, and what to do then.
//
// A connection is always in one of four states, counted from what has been read and written:
//   idle        no request under way and no byte of the next one: closed after `idleTimeout`
//   head        bytes of a request whose head is not complete: 408 after `headerTimeout` from the first byte
//   body        a head read, its body not yet complete: 408 (or only a close, once an answer
//               has started) when no byte arrives for `bodyTimeout` while the daemon asks for
//               more (a route that reads slowly holds reads back: its pause is not the client's)
//   answering   the request is read and its answer is not finished: no deadline (the daemon is
//               the slow one: a checkpoint, a stream)
// Pure logic, driven by ExchangeWatch and ByteWatch (EdgeHandlers.swift) with the time passed in.
import HobCore

struct ExchangeClock {
    typealias Instant = ContinuousClock.Instant

    /// What the connection has run out of.
    enum Expiry: Equatable {
        /// Nothing arrived on an idle connection: close without an answer.
        case idle
        /// The head did not complete: 408 and close.
        case head
        /// The body stalled: 408 and close if nothing was answered yet, else only close.
        case body(answered: Bool)
    }

    let limits: HTTPEdgeLimits
    /// Request heads and ends read; response heads and ends written.
    private(set) var heads = 0
    private(set) var ends = 0
    private(set) var answersStarted = 0
    private(set) var answersEnded = 0
    /// The first byte of a head not yet complete.
    private(set) var firstByte: Instant?
    /// The last byte of a body being read, or when the connection last became idle.
    private(set) var lastActivity: Instant
    /// SIGTERM: the connection closes as soon as it has no request under way.
    private(set) var quiescing = false
    /// A read is outstanding: the daemon waits for the client's bytes. False while the request's
    /// consumer holds reads back (backpressure).
    private(set) var waitingForBytes = true

    init(limits: HTTPEdgeLimits, now: Instant) {
        self.limits = limits
        lastActivity = now
    }

    var isReadingBody: Bool { ends < heads }
    /// No request under way (bytes of the next head may have arrived).
    var isBetweenRequests: Bool { ends == heads && answersEnded >= heads }

    /// Bytes arrived (before they are decoded).
    mutating func bytesArrived(at now: Instant) {
        waitingForBytes = false
        if isReadingBody {
            lastActivity = now
        } else if firstByte == nil {
            firstByte = now
        }
    }

    /// The daemon asked for more input; a body's silence counts from here.
    mutating func readRequested(at now: Instant) {
        guard !waitingForBytes else { return }
        waitingForBytes = true
        if isReadingBody { lastActivity = now }
    }

    mutating func headRead(at now: Instant) {
        heads += 1
        firstByte = nil
        lastActivity = now
    }

    mutating func bodyRead(at now: Instant) { lastActivity = now }

    mutating func endRead(at now: Instant) {
        ends += 1
        lastActivity = now
    }

    mutating func answerStarted() { answersStarted += 1 }

    /// The answer ended; true if the connection is to close now (shutdown under way).
    mutating func answerEnded(at now: Instant) -> Bool {
        answersEnded += 1
        if isBetweenRequests { lastActivity = now }
        return quiescing && isBetweenRequests
    }

    /// SIGTERM; true if the connection can close at once.
    mutating func quiesce() -> Bool {
        quiescing = true
        return isBetweenRequests
    }

    /// The next deadline and what happens at it; nil while the daemon is answering.
    func deadline() -> (at: Instant, expiry: Expiry)? {
        if isReadingBody {
            guard waitingForBytes else { return nil }
            return (lastActivity + limits.bodyTimeout, .body(answered: answersStarted >= heads))
        }
        guard answersEnded >= heads else { return nil }
        if let firstByte { return (firstByte + limits.headerTimeout, .head) }
        return (lastActivity + limits.idleTimeout, .idle)
    }

    /// What expired by `now`, if anything.
    func expired(at now: Instant) -> Expiry? {
        guard let (at, expiry) = deadline(), now >= at else { return nil }
        return expiry
    }
}
