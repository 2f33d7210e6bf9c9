// What waking a thread on another CPU costs on this machine. A TCP or pipe cell's sender
// wakes its receiver (on its own CPU since the placement of 2026-12-07) every time it
// fills the pipe or socket, and the receiver wakes the sender when it has drained it; on a
// VM whose idle vCPU halts, each of those wake-ups waits for the host to run the halted
// vCPU again. Measured on the project's VM (2026-12-08, Docs/bench/wake-2026-12-08/): a
// one-byte pipe round trip between threads on CPUs 0 and 1 took 66–145 µs with the
// kernel's `haltpoll.guest_halt_poll_ns=0`, 6–21 µs with 200,000 (an idle vCPU polls for
// 200 µs before it halts), 6–9 µs with both on one CPU — and the pipe cells at 64 MiB ran
// about half as fast with 0 as with 200,000. So every run that has such cells measures it
// first and records it beside the machine: two runs whose wake-ups differ are not
// comparable there.

import Foundation
import Glibc

/// A pipe round trip between two threads on two CPUs, and on one, measured at the start of
/// a run with TCP or pipe cells; plus the idle settings that decide it on a VM.
public struct WakeLatency: Codable, Sendable, Hashable {
  /// The CPU of the thread that writes first (a sender CPU).
  public var senderCPU: Int
  /// The CPU of the thread that answers (the receivers' CPU).
  public var receiverCPU: Int
  /// Mean one-byte pipe round trip, µs, with the two threads on `senderCPU` and
  /// `receiverCPU`: two wake-ups across CPUs.
  public var crossCPUMicroseconds: Double
  /// The same with both threads on `senderCPU`: two wake-ups on one CPU (the floor).
  public var sameCPUMicroseconds: Double
  /// Round trips timed for each mean (after a warm-up).
  public var roundTrips: Int
  /// `/sys/devices/system/cpu/cpuidle/current_driver` (e.g. `haltpoll` in a KVM guest,
  /// `intel_idle`, `acpi_idle`), nil when absent.
  public var idleDriver: String?
  /// `/sys/module/haltpoll/parameters/guest_halt_poll_ns`: how long an idle vCPU of a KVM
  /// guest polls before it halts (0: it halts at once); nil when the module is absent.
  public var haltPollNanoseconds: Int?

  /// Creates a record (tests; ``measure(sender:receiver:roundTrips:sysfs:)`` measures one).
  public init(
    senderCPU: Int, receiverCPU: Int, crossCPUMicroseconds: Double, sameCPUMicroseconds: Double, roundTrips: Int,
    idleDriver: String?, haltPollNanoseconds: Int?
  ) {
    self.senderCPU = senderCPU
    self.receiverCPU = receiverCPU
    self.crossCPUMicroseconds = crossCPUMicroseconds
    self.sameCPUMicroseconds = sameCPUMicroseconds
    self.roundTrips = roundTrips
    self.idleDriver = idleDriver
    self.haltPollNanoseconds = haltPollNanoseconds
  }

  /// Wake-ups across CPUs cost more than 4× those on one CPU and more than 30 µs: the
  /// TCP and pipe cells then measure the machine's wake-up as much as the code.
  public var isSlow: Bool { crossCPUMicroseconds > 30 && crossCPUMicroseconds > 4 * sameCPUMicroseconds }

  /// One line: "pipe round trip between CPUs 0 and 1: 127.4 µs (7.9 µs on one CPU; mean
  /// of 1000); idle driver haltpoll, guest_halt_poll_ns 0".
  public var description: String {
    var out =
      "pipe round trip between CPUs \(senderCPU) and \(receiverCPU): \(String(format: "%.1f", crossCPUMicroseconds)) µs (\(String(format: "%.1f", sameCPUMicroseconds)) µs on one CPU; mean of \(roundTrips))"
    var idle: [String] = []
    if let idleDriver { idle.append("idle driver \(idleDriver)") }
    if let haltPollNanoseconds { idle.append("guest_halt_poll_ns \(haltPollNanoseconds)") }
    if !idle.isEmpty { out += "; " + idle.joined(separator: ", ") }
    return out
  }

  /// Reads the idle driver and the haltpoll module's polling time under `sysfs` (a
  /// directory laid out as /sys; tests pass another).
  public static func idleSettings(sysfs: String = "/sys") -> (driver: String?, haltPollNanoseconds: Int?) {
    func value(_ path: String) -> String? {
      guard let text = try? readSmallFile(sysfs + path) else { return nil }
      let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
      return trimmed.isEmpty ? nil : trimmed
    }
    return (
      value("/devices/system/cpu/cpuidle/current_driver"),
      value("/module/haltpoll/parameters/guest_halt_poll_ns").flatMap { Int($0) }
    )
  }

  /// Measures the round trip between a thread on `sender` and one on `receiver`, and with
  /// both on `sender`: `roundTrips` one-byte exchanges over two pipes after 10 % as many
  /// untimed. Blocks the caller for that long (about 0.3 s at 145 µs per round trip).
  /// Returns nil when a thread cannot be placed on its CPU or a pipe call fails.
  public static func measure(sender: Int, receiver: Int, roundTrips: Int = 1000, sysfs: String = "/sys")
    -> WakeLatency?
  {
    precondition(roundTrips > 0, "WakeLatency.measure: roundTrips must be positive")
    guard let cross = pingPong(sender, receiver, roundTrips), let same = pingPong(sender, sender, roundTrips) else {
      return nil
    }
    let idle = idleSettings(sysfs: sysfs)
    return WakeLatency(
      senderCPU: sender, receiverCPU: receiver, crossCPUMicroseconds: cross, sameCPUMicroseconds: same,
      roundTrips: roundTrips, idleDriver: idle.driver, haltPollNanoseconds: idle.haltPollNanoseconds)
  }

  /// Mean round trip in µs between two new threads on CPUs `a` and `b`, or nil. Each
  /// thread owns two of the four pipe ends and closes them when it ends, so that the other,
  /// blocked in `read`, sees the end of the stream whatever happened (a thread that could
  /// not be placed ends at once); the caller waits for both.
  private static func pingPong(_ a: Int, _ b: Int, _ count: Int) -> Double? {
    var there: [CInt] = [-1, -1]
    var back: [CInt] = [-1, -1]
    // pipe, not pipe2 (which Glibc's module hides): the harness starts no program meanwhile.
    guard pipe(&there) == 0 else { return nil }
    guard pipe(&back) == 0 else {
      close(there[0])
      close(there[1])
      return nil
    }
    let warmup = max(1, count / 10)
    let total = warmup + count
    let finished = DispatchSemaphore(value: 0)
    let result = Locked<Double?>(nil)
    // The answering thread: on `b`, echoes every byte until the end of the stream.
    let (listen, answer) = (there[0], back[1])
    Thread {
      defer {
        close(listen)
        close(answer)
        finished.signal()
      }
      guard blockSIGPIPE(), Affinity.set(thread: 0, cpus: [b]) == 0 else { return }
      var byte: UInt8 = 0
      while retrying({ read(listen, &byte, 1) }) == 1 {
        guard retrying({ write(answer, &byte, 1) }) == 1 else { return }
      }
    }.start()
    // The asking thread: on `a`, times `count` round trips after `warmup` untimed ones.
    let (ask, hear) = (there[1], back[0])
    Thread {
      defer {
        close(ask)
        close(hear)
        finished.signal()
      }
      guard blockSIGPIPE(), Affinity.set(thread: 0, cpus: [a]) == 0 else { return }
      var byte: UInt8 = 1
      var start: UInt64 = 0
      for i in 0..<total {
        if i == warmup { start = monotonicNanoseconds() }
        guard retrying({ write(ask, &byte, 1) }) == 1, retrying({ read(hear, &byte, 1) }) == 1 else { return }
      }
      let elapsed = monotonicNanoseconds() - start
      result.set(Double(elapsed) / Double(count) / 1000)
    }.start()
    finished.wait()
    finished.wait()
    return result.get()
  }
}

/// Blocks SIGPIPE on the calling thread (one of the probe's own), so that a write to a
/// pipe whose other thread has gone fails with EPIPE instead of ending the process.
private func blockSIGPIPE() -> Bool {
  var set = sigset_t()
  sigemptyset(&set)
  sigaddset(&set, SIGPIPE)
  return pthread_sigmask(SIG_BLOCK, &set, nil) == 0
}

/// `call()` again while it fails with EINTR.
private func retrying(_ call: () -> Int) -> Int {
  while true {
    let n = call()
    if n >= 0 || errno != EINTR { return n }
  }
}

/// A value behind a lock, shared by threads.
private final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var value: Value
  init(_ value: Value) { self.value = value }
  func get() -> Value { lock.withLock { value } }
  func set(_ new: Value) { lock.withLock { value = new } }
}
