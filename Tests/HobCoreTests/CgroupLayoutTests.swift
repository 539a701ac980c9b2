import HobOS
import Testing

@Suite("cgroup layout detection")
struct CgroupLayoutTests {
    // Trimmed from a hybrid host: v1 controllers plus a controller-less cgroup2 at unified.
    static let hybrid = """
        30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
        31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate
        33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct
        34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,memory
        35 30 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,pids
        36 30 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,freezer
        37 30 0:33 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        """

    @Test("hybrid: v1 controllers found, comounted cpu,cpuacct mapped, v2 kept")
    func hybridLayout() {
        let layout = CgroupLayout.parse(mountinfo: Self.hybrid)
        #expect(layout.v1["cpu"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(layout.v1["memory"] == "/sys/fs/cgroup/memory")
        #expect(layout.v1["systemd"] == nil)
        #expect(layout.v2 == "/sys/fs/cgroup/unified")
    }

    @Test("pure v2")
    func pureV2() {
        let layout = CgroupLayout.parse(mountinfo: "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate")
        #expect(layout.v1.isEmpty)
        #expect(layout.v2 == "/sys/fs/cgroup")
    }

    @Test("flat-keyed cgroup files: the value of one key")
    func flatKeyedField() {
        let stat = "usage_usec 13583\nuser_usec 9000\nsystem_usec 4583\n"
        #expect(Cgroup.field("usage_usec", in: stat) == 13583)
        #expect(Cgroup.field("system_usec", in: stat) == 4583)
        #expect(Cgroup.field("nice_usec", in: stat) == nil)
    }
}
