// Input from a client connection (exec, console, attach, a port-forwarding tunnel, a request to a
// sprite's URL) is activity, and wakes a sprite put to sleep by force while the client was connected.
import HobCore

/// Tells the Fleet about a connection's input at most once a second (a stream of stdin would
/// otherwise queue a call per frame); the first input after a pause always gets through.
struct InputActivity {
    let fleet: Fleet
    let sprite: String
    private var noted: ContinuousClock.Instant?

    init(fleet: Fleet, sprite: String) {
        self.fleet = fleet
        self.sprite = sprite
    }

    mutating func note() async {
        guard isDue() else { return }
        await fleet.noteInput(sprite)
    }

    /// The same for event-loop code (the URL proxy), which must not wait: the Fleet is told in a task.
    mutating func noteSoon() {
        guard isDue() else { return }
        let (fleet, sprite) = (fleet, sprite)
        Task { await fleet.noteInput(sprite) }
    }

    private mutating func isDue() -> Bool {
        let now = ContinuousClock.now
        guard noted.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
        noted = now
        return true
    }
}
