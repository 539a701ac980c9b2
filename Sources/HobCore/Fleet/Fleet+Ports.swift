// What the port watch (HobServer's PortMonitor) needs to know about a running sprite's processes.
import Glibc
import HobOS

extension Fleet {
    /// Host pids of the processes of sprite `id` (its record id), as its runtime knows them: where
    /// the owner of a listening socket is looked for. (Every runtime is asked: the others know
    /// no processes of it.)
    public nonisolated func processes(ofSprite id: String) -> [pid_t] {
        runtimes.all.values.flatMap { $0.processes(id) }
    }
}
