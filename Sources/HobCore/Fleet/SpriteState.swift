// Everything the Fleet knows about one sprite, in one value: its record, where its run is, its
// checkpoints and services, its activity and metering. The Fleet keeps one per registered sprite
// (`Fleet.sprites`, by id), so a sprite's state comes and goes as a whole: a destroy removes it
// in one step, and nothing of it can linger in a side table.
//
// What outlives a registration stays in the Fleet itself: per-sprite lifecycle work queues (a
// destroy's stop runs after the sprite left the registry), destroys still to finish, and the
// fleet-wide queues of space scans and usage writes.
import Foundation
import HobAPI

/// Where a sprite's run is.
enum SpritePhase: Sendable {
    /// Being created: the disk exists, the row may not yet. Not bootable.
    case creating
    case cold
    case booting(Task<RunningSprite, any Error>)
    case running(RunningSprite)
    /// Asleep: every process frozen, memory kept.
    case warm(RunningSprite)
}

struct SpriteState: Sendable {
    var record: SpriteRecord
    var phase: SpritePhase

    /// Checkpoints, oldest first (Fleet+Checkpoints.swift).
    var checkpoints: [CheckpointRecord] = []
    /// The last space accounting (Fleet+Space.swift); nil until the first scan.
    var space: SpaceReport?
    /// The checkpoint rate (Fleet+Limits.swift); nil until the first checkpoint request.
    var checkpointRate: TokenBucket?

    // Activity (Fleet+Lifecycle.swift).
    /// When it was last active; nil when it has not run under this daemon.
    var lastActive: ContinuousClock.Instant?
    /// Open exec, console and proxied connections that keep it awake.
    var holds = 0
    /// Keep-awake tasks it placed on itself, by name.
    var tasks: [String: SpriteTaskRecord] = [:]
    /// A sleep is under way.
    var sleeping = false
    /// Its agent missed a change while it slept (checkpoint mounts, services).
    var staleAgent = false

    /// Services in order of definition (Fleet+Services.swift), and whether its running hob-init
    /// has been given a service set.
    var services: [ServiceRecord] = []
    var agentKnowsServices = false

    // Metering (Fleet+Usage.swift): totals, and the instant up to which they are counted.
    var usage: UsageRecord?
    var meterMark: ContinuousClock.Instant?

    // The file API (Fleet+Files.swift): operations in flight on its disk, a restore swapping the
    // disk (new operations are refused meanwhile), and restores waiting for those in flight.
    var fileAccess = 0
    var diskSwap = false
    var fileAccessWaiters: [CheckedContinuation<Void, Never>] = []

    init(record: SpriteRecord, phase: SpritePhase) {
        self.record = record
        self.phase = phase
    }
}
