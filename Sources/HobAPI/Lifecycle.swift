// Wire types of the lifecycle: forced sleep and usage (Hob extensions, docs/API.md) and the
// in-sprite tasks API (SPRITES-API.md §12.1).

/// `POST /v1/sprites/{name}/sleep`. Without a body the sprite goes `warm`.
public struct SleepRequest: Codable, Sendable, Equatable {
    /// `warm` (frozen, memory kept) or `cold` (stopped). Text, so that a wrong value gets a clear
    /// error rather than a decoding failure.
    public var state: String?

    public init(state: String? = nil) { self.state = state }
}

/// What one sprite has used since it was created.
public struct SpriteUsage: Codable, Sendable, Equatable {
    public var name: String
    public var id: String
    public var status: SpriteStatus
    public var since: String
    public var cpuSeconds: Double
    /// Average and peak memory while running (a sleeping sprite accrues none).
    public var memoryAverageBytes: Int64
    public var memoryPeakBytes: Int64
    /// Memory integrated over running time (what GB-hour billing multiplies).
    public var memoryByteSeconds: Double
    public var runningSeconds: Double
    public var warmSeconds: Double
    /// Bytes the sprite holds beyond the shared base image (`storage_bytes`); nil before its
    /// first space scan or without space accounting.
    public var diskBytes: Int64?

    public init(
        name: String, id: String, status: SpriteStatus, since: String, cpuSeconds: Double, memoryAverageBytes: Int64,
        memoryPeakBytes: Int64, memoryByteSeconds: Double, runningSeconds: Double, warmSeconds: Double, diskBytes: Int64?
    ) {
        self.name = name
        self.id = id
        self.status = status
        self.since = since
        self.cpuSeconds = cpuSeconds
        self.memoryAverageBytes = memoryAverageBytes
        self.memoryPeakBytes = memoryPeakBytes
        self.memoryByteSeconds = memoryByteSeconds
        self.runningSeconds = runningSeconds
        self.warmSeconds = warmSeconds
        self.diskBytes = diskBytes
    }

    enum CodingKeys: String, CodingKey {
        case name, id, status, since
        case cpuSeconds = "cpu_seconds"
        case memoryAverageBytes = "memory_average_bytes"
        case memoryPeakBytes = "memory_peak_bytes"
        case memoryByteSeconds = "memory_byte_seconds"
        case runningSeconds = "running_seconds"
        case warmSeconds = "warm_seconds"
        case diskBytes = "disk_bytes"
    }
}

/// Sums over a host.
public struct UsageTotal: Codable, Sendable, Equatable {
    public var sprites: Int
    public var cpuSeconds: Double
    public var memoryByteSeconds: Double
    public var runningSeconds: Double
    public var warmSeconds: Double
    public var diskBytes: Int64

    public init(sprites: Int, cpuSeconds: Double, memoryByteSeconds: Double, runningSeconds: Double, warmSeconds: Double, diskBytes: Int64) {
        self.sprites = sprites
        self.cpuSeconds = cpuSeconds
        self.memoryByteSeconds = memoryByteSeconds
        self.runningSeconds = runningSeconds
        self.warmSeconds = warmSeconds
        self.diskBytes = diskBytes
    }

    enum CodingKeys: String, CodingKey {
        case sprites
        case cpuSeconds = "cpu_seconds"
        case memoryByteSeconds = "memory_byte_seconds"
        case runningSeconds = "running_seconds"
        case warmSeconds = "warm_seconds"
        case diskBytes = "disk_bytes"
    }
}

/// `GET /v1/usage`: every sprite, the total of live sprites, and what destroyed sprites used
/// (so the host total never goes backwards).
public struct HostUsage: Codable, Sendable, Equatable {
    public var sprites: [SpriteUsage]
    public var total: UsageTotal
    public var destroyed: UsageTotal

    public init(sprites: [SpriteUsage], total: UsageTotal, destroyed: UsageTotal) {
        self.sprites = sprites
        self.total = total
        self.destroyed = destroyed
    }
}

/// A keep-awake hold, as the in-sprite API shows it.
public struct TaskInfo: Codable, Sendable, Equatable {
    public var name: String
    public var startedAt: String
    public var expiresAt: String

    public init(name: String, startedAt: String, expiresAt: String) {
        self.name = name
        self.startedAt = startedAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case name
        case startedAt = "started_at"
        case expiresAt = "expires_at"
    }
}

public struct TaskList: Codable, Sendable, Equatable {
    public var tasks: [TaskInfo]
    public init(tasks: [TaskInfo]) { self.tasks = tasks }
}

/// `POST /v1/tasks`, `PUT /v1/tasks[/{name}]`. `expire` is seconds or a duration ("30m", "1h").
public struct TaskRequest: Codable, Sendable, Equatable {
    public var name: String?
    public var expire: DurationValue?

    public init(name: String? = nil, expire: DurationValue? = nil) {
        self.name = name
        self.expire = expire
    }
}

/// A number of seconds, or a duration string such as "90s", "15m", "1h30m".
public enum DurationValue: Codable, Sendable, Equatable {
    case seconds(Double)
    case text(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) {
            self = .seconds(n)
        } else {
            self = .text(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .seconds(let n): try c.encode(n)
        case .text(let t): try c.encode(t)
        }
    }

    /// Whole seconds, or nil if the text is not a duration.
    public var seconds: Int? {
        switch self {
        case .seconds(let n): return n.isFinite && n >= 0 && n < 1e12 ? Int(n.rounded(.up)) : nil
        case .text(let t): return DurationText.seconds(t)
        }
    }
}

/// Durations as people write them: "45" or "45s", "15m", "2h", "1d", and sums such as "1h30m".
public enum DurationText {
    public static func seconds(_ text: String) -> Int? {
        let t = String(text.filter { $0 != " " }).lowercased()
        guard !t.isEmpty else { return nil }
        if let n = Int(t), n >= 0 { return n }
        var total = 0
        var digits = ""
        for ch in t {
            if ch.isASCII, ch.isNumber {
                digits.append(ch)
                continue
            }
            guard let n = Int(digits), let unit = ["s": 1, "m": 60, "h": 3600, "d": 86400][String(ch)] else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: unit)
            guard !overflow, total <= Int.max - product else { return nil }
            total += product
            digits = ""
        }
        return digits.isEmpty ? total : nil
    }

    /// Milliseconds of a duration as Go and Python clients print it: "5s", "5.0s", "1m30s",
    /// "500ms", "1.5h"; a bare number is seconds. Nil for anything else or a negative value.
    public static func milliseconds(_ text: String) -> Int? {
        let t = String(text.filter { $0 != " " }).lowercased()
        guard !t.isEmpty else { return nil }
        if let n = Double(t), n >= 0, n < 1e12 { return Int((n * 1000).rounded(.up)) }
        let units: [(String, Double)] = [("ns", 1e-6), ("us", 1e-3), ("µs", 1e-3), ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var rest = Substring(t)
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // Longest unit first: "ms" before "m".
            guard let (unit, size) = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * size
        }
        guard total < 1e15 else { return nil }
        return Int(total.rounded(.up))
    }

    /// A sleep timeout: a duration, or "never"/"off" for 0 (never).
    public static func timeout(_ text: String) -> Int? {
        ["never", "off"].contains(text.lowercased()) ? 0 : seconds(text)
    }

    /// "1h30m", "45s", "0s": the reverse of `seconds`.
    public static func format(_ seconds: Int) -> String {
        if seconds == 0 { return "0s" }
        var rest = seconds
        var out = ""
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }
}
