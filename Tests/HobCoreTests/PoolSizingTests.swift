import HobCore
import Testing

private let gib: Int64 = 1 << 30

@Suite("Pool sizing: the pool never promises more than the host can give")
struct PoolSizingTests {
    @Test("the default reserve is 5 GiB on small filesystems and 5% on large ones")
    func defaultReserve() {
        #expect(DiskReserve.standard.bytes(hostTotal: 40 * gib) == 5 * gib)
        #expect(DiskReserve.standard.bytes(hostTotal: 1000 * gib) == 50 * gib)
    }

    @Test("--disk-reserve takes sizes and shares")
    func parsesReserve() {
        #expect(DiskReserve("10G") == .bytes(10 * gib))
        #expect(DiskReserve("512M") == .bytes(512 << 20))
        #expect(DiskReserve("0") == .bytes(0))
        #expect(DiskReserve("10%") == .fraction(0.1))
        #expect(DiskReserve("default") == .standard)
        #expect(DiskReserve("10%")?.bytes(hostTotal: 200 * gib) == 20 * gib)
    }

    @Test("--disk-reserve refuses nonsense", arguments: ["", "ten", "-1G", "95%", "5X", "%"])
    func refusesReserve(_ text: String) {
        #expect(DiskReserve(text) == nil)
    }

    @Test("a new pool is the free space minus the reserve, not the filesystem's size")
    func newPoolUsesFreeSpace() {
        let host = HostSpace(total: 250 * gib, available: 80 * gib)
        #expect(PoolSizing.newPoolSize(host: host, reserve: 12 * gib, maxSize: 256 * gib) == 68 * gib)
    }

    @Test("a new pool is capped at the configured maximum")
    func newPoolIsCapped() {
        let host = HostSpace(total: 2000 * gib, available: 1500 * gib)
        #expect(PoolSizing.newPoolSize(host: host, reserve: 100 * gib, maxSize: 256 * gib) == 256 * gib)
    }

    @Test("no pool when the reserve leaves too little")
    func noPoolOnAFullHost() {
        let host = HostSpace(total: 20 * gib, available: 6 * gib)
        #expect(PoolSizing.newPoolSize(host: host, reserve: 5 * gib, maxSize: 256 * gib) == nil)
    }

    @Test("an existing pool grows when the host has gained space, counting what the file already holds")
    func existingPoolGrows() {
        let host = HostSpace(total: 250 * gib, available: 50 * gib)
        let size = PoolSizing.grownPoolSize(current: 40 * gib, allocated: 10 * gib, host: host, reserve: 5 * gib, maxSize: 256 * gib)
        #expect(size == 55 * gib)
    }

    @Test("an existing pool never shrinks, and small gains are not worth a resize")
    func existingPoolStays() {
        let host = HostSpace(total: 250 * gib, available: 10 * gib)
        #expect(PoolSizing.grownPoolSize(current: 100 * gib, allocated: 10 * gib, host: host, reserve: 5 * gib, maxSize: 256 * gib) == nil)
        #expect(PoolSizing.grownPoolSize(current: 15 * gib - (1 << 20), allocated: 10 * gib, host: host, reserve: 5 * gib, maxSize: 256 * gib) == nil)
    }

    @Test("sprites may fill the host's free space beyond the reserve, less the pool's headroom")
    func budgetFollowsHostFreeSpace() {
        // A 60 GiB pool file of which 10 GiB is used (8 by sprites); the host has 20 GiB free.
        let host = HostSpace(total: 250 * gib, available: 20 * gib)
        let budget = PoolSizing.spriteBudget(poolCapacity: 60 * gib, poolUsed: 10 * gib, spritesCharged: 8 * gib, host: host, reserve: 5 * gib)
        // It can hold 10 + 15 GiB; 2 GiB are not sprites'; 3 GiB (5%) headroom.
        #expect(budget == 25 * gib - 2 * gib - 3 * gib)
    }

    @Test("sprites may fill the pool less its headroom when the host has plenty")
    func budgetFollowsPoolCapacity() {
        let host = HostSpace(total: 1000 * gib, available: 900 * gib)
        let budget = PoolSizing.spriteBudget(poolCapacity: 40 * gib, poolUsed: 1 * gib, spritesCharged: 0, host: host, reserve: 50 * gib)
        #expect(budget == 40 * gib - 1 * gib - 2 * gib)
    }

    @Test("the budget drops below what sprites hold when the host loses free space, and never below zero")
    func budgetShrinks() {
        let host = HostSpace(total: 250 * gib, available: 4 * gib)
        let budget = PoolSizing.spriteBudget(poolCapacity: 100 * gib, poolUsed: 30 * gib, spritesCharged: 29 * gib, host: host, reserve: 5 * gib)
        #expect(budget < 29 * gib)
        #expect(PoolSizing.spriteBudget(poolCapacity: 1 * gib, poolUsed: 1 * gib, spritesCharged: 0, host: nil, reserve: 0) == 0)
    }

    @Test("the headroom is 5% of the pool, between 1 GiB and 4 GiB")
    func headroom() {
        #expect(PoolSizing.headroom(poolCapacity: 3 * gib) == 1 * gib)
        #expect(PoolSizing.headroom(poolCapacity: 40 * gib) == 2 * gib)
        #expect(PoolSizing.headroom(poolCapacity: 1000 * gib) == 4 * gib)
    }
}
