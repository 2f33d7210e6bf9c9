import BenchKit
import Foundation
import Glibc
import Testing

/// The wake-up probe recorded with runs that have TCP or pipe cells (WakeLatency.swift).
@Suite struct WakeLatencyTests {
  /// A directory laid out as /sys with the given files (path → contents), removed by the caller.
  func fakeSysfs(_ files: [String: String]) throws -> String {
    let root = NSTemporaryDirectory() + "zc-sysfs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    for (path, contents) in files {
      let url = URL(fileURLWithPath: root + path)
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try contents.write(to: url, atomically: false, encoding: .utf8)
    }
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    return root
  }

  @Test func idleSettingsAreReadFromSysfs() throws {
    let full = try fakeSysfs([
      "/devices/system/cpu/cpuidle/current_driver": "haltpoll\n",
      "/module/haltpoll/parameters/guest_halt_poll_ns": "200000\n",
    ])
    defer { try? FileManager.default.removeItem(atPath: full) }
    let settings = WakeLatency.idleSettings(sysfs: full)
    #expect(settings.driver == "haltpoll")
    #expect(settings.haltPollNanoseconds == 200_000)

    let bare = try fakeSysfs(["/devices/system/cpu/cpuidle/current_driver": "acpi_idle"])
    defer { try? FileManager.default.removeItem(atPath: bare) }
    let noModule = WakeLatency.idleSettings(sysfs: bare)
    #expect(noModule.driver == "acpi_idle")
    #expect(noModule.haltPollNanoseconds == nil)

    let garbled = try fakeSysfs(["/module/haltpoll/parameters/guest_halt_poll_ns": "lots\n"])
    defer { try? FileManager.default.removeItem(atPath: garbled) }
    let unreadable = WakeLatency.idleSettings(sysfs: garbled)
    #expect(unreadable.driver == nil)
    #expect(unreadable.haltPollNanoseconds == nil)
  }

  @Test func measuresBetweenTwoCPUsAndOnOne() async throws {
    try await AffinityTurns.exclusively { try measuresBetweenTwoCPUsAndOnOneAlone() }
  }

  func measuresBetweenTwoCPUsAndOnOneAlone() throws {
    guard let cpus = CPUPlacement.allowedCPUs(), cpus.count >= 2 else {
      print("skipped: this process may run on one CPU only")
      return
    }
    let sysfs = try fakeSysfs(["/module/haltpoll/parameters/guest_halt_poll_ns": "1234"])
    defer { try? FileManager.default.removeItem(atPath: sysfs) }
    let before = CPUPlacement.allowedCPUs()
    let wake = try #require(WakeLatency.measure(sender: cpus[0], receiver: cpus[1], roundTrips: 200, sysfs: sysfs))
    #expect(wake.senderCPU == cpus[0] && wake.receiverCPU == cpus[1] && wake.roundTrips == 200)
    // A round trip is two wake-ups: more than nothing, less than a second.
    #expect(wake.crossCPUMicroseconds > 0.5 && wake.crossCPUMicroseconds < 1_000_000)
    #expect(wake.sameCPUMicroseconds > 0.5 && wake.sameCPUMicroseconds < 1_000_000)
    #expect(wake.haltPollNanoseconds == 1234 && wake.idleDriver == nil)
    // The probe's threads were placed, not the caller.
    #expect(CPUPlacement.allowedCPUs() == before)
  }

  @Test func aCPUThatCannotBeUsedEndsTheProbeWithoutAResult() {
    // sched_setaffinity refuses a mask of CPUs that do not exist (EINVAL): both threads end,
    // neither waits for the other, and no write to a closed pipe ends the process.
    #expect(WakeLatency.measure(sender: 0, receiver: 1000, roundTrips: 10) == nil)
    #expect(WakeLatency.measure(sender: 1000, receiver: 0, roundTrips: 10) == nil)
  }

  @Test func descriptionAndSlowness() {
    var wake = WakeLatency(
      senderCPU: 0, receiverCPU: 1, crossCPUMicroseconds: 127.44, sameCPUMicroseconds: 7.93, roundTrips: 1000,
      idleDriver: "haltpoll", haltPollNanoseconds: 0)
    #expect(
      wake.description
        == "pipe round trip between CPUs 0 and 1: 127.4 µs (7.9 µs on one CPU; mean of 1000); idle driver haltpoll, guest_halt_poll_ns 0"
    )
    #expect(wake.isSlow)
    wake.crossCPUMicroseconds = 11.1  // guest_halt_poll_ns 200000 on the same VM
    #expect(!wake.isSlow)
    wake.crossCPUMicroseconds = 40
    wake.sameCPUMicroseconds = 20  // slow, but so is a wake-up on one CPU
    #expect(!wake.isSlow)
    wake.idleDriver = nil
    wake.haltPollNanoseconds = nil
    #expect(wake.description == "pipe round trip between CPUs 0 and 1: 40.0 µs (20.0 µs on one CPU; mean of 1000)")
  }

  @Test func reportsAndComparisonsShowIt() throws {
    var a = Fixture.results(cells: [])
    var b = a
    #expect(!Comparison(a, b).text().contains("waking a thread"))
    a.machine.wakeLatency = WakeLatency(
      senderCPU: 0, receiverCPU: 1, crossCPUMicroseconds: 127, sameCPUMicroseconds: 8, roundTrips: 1000,
      idleDriver: "haltpoll", haltPollNanoseconds: 0)
    b.machine.wakeLatency = a.machine.wakeLatency
    b.machine.wakeLatency!.crossCPUMicroseconds = 100  // within 1.5×: no warning
    #expect(!Comparison(a, b).text().contains("waking a thread"))
    b.machine.wakeLatency!.crossCPUMicroseconds = 11
    #expect(
      Comparison(a, b).text().contains(
        "warning: waking a thread on another CPU cost 127.0 µs in A and 11.0 µs in B (pipe round trip)"))
    let report = ReportBuilder(a)
    #expect(report.terminalSummary().contains("Wake-ups: pipe round trip between CPUs 0 and 1: 127.0 µs"))
    #expect(report.markdown().contains("- Wake-ups across CPUs (measured before the cells): pipe round trip"))
    // Results written before the probe existed still decode.
    let data = try JSONEncoder().encode(Fixture.results(cells: []))
    var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    var machine = try #require(object["machine"] as? [String: Any])
    machine.removeValue(forKey: "wakeLatency")
    object["machine"] = machine
    let old = try JSONDecoder().decode(BenchResults.self, from: JSONSerialization.data(withJSONObject: object))
    #expect(old.machine.wakeLatency == nil)
  }
}
