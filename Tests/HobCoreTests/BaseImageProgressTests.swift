import Testing

@testable import HobCore

@Suite("Base image build progress")
struct BaseImageProgressTests {
    func events(_ text: String) -> [DebootstrapProgress.Event] {
        var parser = DebootstrapProgress()
        return text.split(separator: "\n").compactMap { parser.feed($0) }
    }

    func fractions(_ events: [DebootstrapProgress.Event]) -> [Double] {
        events.compactMap { if case .progress(let f, _) = $0 { f } else { nil } }
    }

    @Test("messages are debootstrap's format filled with their arguments")
    func messages() {
        let parsed = events("""
            I: RETRIEVING
            IA: adduser
            IA: 3.134
            IF: Retrieving %s %s
            W: SOMETHING
            WA: x
            WF: Could not %s
            I: BASESUCCESS
            IF: Base system installed successfully.
            """)
        #expect(parsed == [.info("Retrieving adduser 3.134"), .warning("Could not x"), .info("Base system installed successfully.")])
    }

    @Test("the fraction follows the real counts within each phase and the phases in order")
    func fraction() {
        let parsed = events("""
            P: 0 74985124 DOWNDEBS
            PF: Downloading packages
            P: 37492562 74985124
            P: 74985124 74985124 DOWNDEBS
            P: 44 88 EXTRACTPKGS
            PF: Extracting packages
            P: 79 79 CONFBASE
            """)
        let values = fractions(parsed)
        #expect(values.count == 5)
        #expect(abs(values[1] - (0.09 + 0.36 / 2)) < 1e-9, "\(values)")
        #expect(abs(values[3] - 0.475) < 1e-9, "\(values)")
        #expect(values.last == 1.0)
        #expect(parsed.first == .progress(0.09, phase: "downloading packages"))
    }

    @Test("it never goes back, even when debootstrap restarts a phase's count")
    func monotonic() {
        let values = fractions(events("P: 50 100 DOWNDEBS\nP: 0 100 DOWNDEBS\nP: 1 10 DOWNREL\nP: 1 7 INSTCORE"))
        #expect(values == values.sorted(), "\(values)")
    }

    @Test("lines that are no record (debootstrap's own log) are ignored")
    func noise() {
        #expect(events("Selecting previously unselected package adduser.\nSetting up libc6:amd64 (2.36) ...\nP: garbage\n").isEmpty)
    }

    @Test("the terminal line shows percentage, bar, ETA and what is happening, cut to the width")
    func bar() {
        let line = BuildProgress.bar(title: "base image", fraction: 0.5, eta: .seconds(80), label: "unpacking", width: 120)
        #expect(line == "base image  50% [############............] ETA 1m20s  unpacking")
        #expect(BuildProgress.bar(title: "base image", fraction: 0.5, eta: nil, label: String(repeating: "x", count: 200), width: 60).count == 59)
    }

    @Test("the ETA is the pace so far, once there is enough to tell")
    func eta() {
        #expect(BuildProgress.eta(elapsed: .seconds(30), fraction: 0.25) == .seconds(90))
        #expect(BuildProgress.eta(elapsed: .seconds(1), fraction: 0.5) == nil)
        #expect(BuildProgress.eta(elapsed: .seconds(30), fraction: 0.01) == nil)
        #expect(BuildProgress.text(.seconds(45)) == "45s")
        #expect(BuildProgress.text(.seconds(185)) == "3m05s")
        #expect(BuildProgress.text(.seconds(3720)) == "1h02m")
    }
}
