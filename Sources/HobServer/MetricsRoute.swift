// `GET /metrics`: the daemon in Prometheus' text format (docs/OPERATIONS.md lists every series).
//
// Two kinds of series. Events (creates, execs, wakes, refusals, checkpoint and restore times) are
// swift-metrics counters and timers, kept by the Prometheus backend the daemon bootstraps
// (`MetricsBackend`). How things stand (sprites by state, pool bytes, the daemon's descriptors and
// memory, OOM kills in sprites) is read at each scrape and set as gauges just before writing.
//
// It needs a token that may read every sprite (RouteAccess: `fleetWide(.read)`), such as one made
// with `hob token create --ops read` for the scraper.
import Foundation
import HobAPI
import HobCore
import HobOS
import Hummingbird
import CoreMetrics
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// The Prometheus registry behind swift-metrics, made once per process before the Fleet.
enum MetricsBackend {
    /// Timings from a millisecond (a warm wake) to a minute (a restore of a large disk).
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]

    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }
}

struct MetricsRoute {
    let registry: PrometheusCollectorRegistry
    let fleet: Fleet
    /// The cgroup every sprite's cgroup is under: its memory.events count OOM kills in all of them.
    let spritesCgroup: String?
    let oomKills = KernelCounter(label: "hob_sprite_oom_kills_total")

    init(registry: PrometheusCollectorRegistry, fleet: Fleet, spritesCgroup: String?) {
        self.registry = registry
        self.fleet = fleet
        self.spritesCgroup = spritesCgroup
    }

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/metrics") { _, _ in
            await refreshGauges()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
    }

    func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    func refreshGauges() async {
        let now = await fleet.gauges()
        for (status, count) in now.sprites {
            gauge("hob_sprites", "Sprites by state: running, warm (frozen, memory kept), cold (stopped, disk kept).", [("state", status.rawValue)])
                .set(Int64(count))
        }
        let pool = "Bytes of the storage pool's filesystem."
        for (kind, value) in [("size", now.poolSize), ("used", now.poolUsed), ("free", now.poolFree)] {
            if let value { gauge("hob_pool_bytes", pool, [("kind", kind)]).set(value) }
        }
        if let charged = now.spritesCharged {
            gauge("hob_sprites_charged_bytes", "Bytes all sprites together are charged for (disks and checkpoints).").set(charged)
        }
        if let budget = now.spritesBudget {
            gauge("hob_sprites_budget_bytes", "Most bytes all sprites together may hold before writes fail.").set(budget)
        }
        let process = ProcessFigures.read()
        if let fds = process.openDescriptors { gauge("hob_process_open_fds", "Open file descriptors of the daemon.").set(Int64(fds)) }
        if let max = process.maxDescriptors { gauge("hob_process_max_fds", "The daemon's descriptor limit.").set(Int64(max)) }
        if let rss = process.residentBytes { gauge("hob_process_resident_memory_bytes", "Resident memory of the daemon.").set(rss) }
        if let spritesCgroup, let events = try? Files.read("\(spritesCgroup)/memory.events") {
            oomKills.advance(to: Cgroup.field("oom_kill", in: events) ?? 0)
        }
    }
}

/// A counter the kernel keeps (memory.events' oom_kill), followed by the increments it shows at
/// each scrape: a counter for Prometheus, not a gauge, since it only goes up.
final class KernelCounter: Sendable {
    private let counter: CoreMetrics.Counter
    private let last = Mutex<Int64?>(nil)

    init(label: String) { counter = CoreMetrics.Counter(label: label) }

    func advance(to value: Int64) {
        let step = last.withLock { last in
            // The first reading is where the daemon starts counting; a smaller one (the cgroup
            // made again) starts over.
            defer { last = value }
            guard let previous = last, value >= previous else { return Int64(0) }
            return value - previous
        }
        if step > 0 { counter.increment(by: step) }
    }
}

/// The daemon's own descriptors and memory, from /proc.
struct ProcessFigures {
    var openDescriptors: Int?
    var maxDescriptors: Int?
    var residentBytes: Int64?

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        figures.openDescriptors = FileDescriptors.openCount()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { figures.maxDescriptors = Int(clamping: limit.rlim_cur) }
        // statm: size resident shared … in pages.
        if let statm = try? Files.read("/proc/self/statm"), let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int64($0) }) {
            figures.residentBytes = pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
        }
        return figures
    }
}
