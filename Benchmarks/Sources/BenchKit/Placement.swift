// Where the sender and the receiver of a TCP or pipe cell run. On loopback the receiver is
// a process on the same machine, and the kernel wakes it "in sync" with the sender (a
// socket's or pipe's reader is woken by the writer, which is about to sleep), so the
// scheduler tends to put both on one CPU: measured with `perf sched timehist` on
// 2026-12-07 (Docs/bench/placement-2026-12-07/README.md), an async sendfile's worker thread
// and recv_ref ping-ponged on CPU 0 every ~1 ms for a whole 64 MiB transfer while CPU 1
// was idle. Which subject a sample lands on that way is luck, so TCP and pipe cells were
// bimodal for C and Swift alike and goal lines flipped between runs. A server's receivers
// are on other machines; here the receiver gets a CPU of its own, and everything that
// sends (this process's threads, the C twins and peers it starts) runs on the others.

import Foundation
import Glibc

/// The CPUs of a TCP or pipe cell: the receiver process on one, every sender on the rest.
public struct CPUPlacement: Codable, Sendable, Hashable {
  /// The CPUs this process's threads, and the programs it starts while sending, run on.
  public var senderCPUs: [Int]
  /// The CPU the receiver process (recv_ref, pipe_ref) runs on.
  public var receiverCPU: Int

  /// A placement: `senderCPUs` for the senders, `receiverCPU` for the receiver.
  public init(senderCPUs: [Int], receiverCPU: Int) {
    self.senderCPUs = senderCPUs
    self.receiverCPU = receiverCPU
  }

  /// In words, for the report: "senders on CPU 0, receivers on CPU 1".
  public var description: String {
    let senders = senderCPUs.map(String.init).joined(separator: ",")
    return "senders on CPU \(senders), receivers on CPU \(receiverCPU)"
  }

  /// The placement for the CPUs this process may run on: the highest for the receivers,
  /// the others for the senders; nil when only one CPU is allowed (nothing to separate)
  /// or the affinity calls are unavailable.
  public static func forThisProcess() -> CPUPlacement? {
    guard let allowed = Affinity.get(thread: 0), allowed.count >= 2 else { return nil }
    return CPUPlacement(senderCPUs: Array(allowed.dropLast()), receiverCPU: allowed.last!)
  }

  /// The CPUs `thread` (a thread or process id; 0 for the calling thread) may run on,
  /// ascending; nil if `sched_getaffinity` failed (`ESRCH`: no such thread).
  public static func allowedCPUs(thread: pid_t = 0) -> [Int]? {
    Affinity.get(thread: thread)
  }
}

/// sched_getaffinity / sched_setaffinity on one thread (a tid; 0 is the caller), and the
/// same for every thread of this process.
enum Affinity {
  // GNU functions that `import Glibc` hides; looked up once (as ZeroCopy's Threads.swift does).
  private typealias Function = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
  private static let functions: (get: Function?, set: Function?) = {
    guard let handle = dlopen(nil, RTLD_NOW) else { return (nil, nil) }
    return (
      dlsym(handle, "sched_getaffinity").map { unsafeBitCast($0, to: Function.self) },
      dlsym(handle, "sched_setaffinity").map { unsafeBitCast($0, to: Function.self) }
    )
  }()
  private static let words = 16  // cpu_set_t: 1024 bits

  /// The CPUs `thread` may run on, ascending; nil if the call failed.
  static func get(thread: pid_t) -> [Int]? {
    guard let get = functions.get else { return nil }
    var mask = [UInt64](repeating: 0, count: words)
    let rc = mask.withUnsafeMutableBytes { get(thread, $0.count, $0.baseAddress!) }
    guard rc == 0 else { return nil }
    return (0..<(words * 64)).filter { mask[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
  }

  /// Lets `thread` run on `cpus` only. Returns 0 or the errno (`EINVAL` for io_uring's
  /// io-wq workers, which refuse it; `ESRCH` for a thread that has exited).
  @discardableResult
  static func set(thread: pid_t, cpus: [Int]) -> Int32 {
    guard let set = functions.set else { return ENOSYS }
    var mask = [UInt64](repeating: 0, count: words)
    for cpu in cpus where cpu >= 0 && cpu < words * 64 { mask[cpu / 64] |= 1 << UInt64(cpu % 64) }
    let rc = mask.withUnsafeMutableBytes { set(thread, $0.count, $0.baseAddress!) }
    return rc == 0 ? 0 : errno
  }

  /// The threads of this process (/proc/self/task).
  static func threads() -> [pid_t] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { pid_t($0) }
  }

  /// Sets every thread of this process to `cpus`. Threads started later inherit the mask
  /// of the thread that starts them; the directory is read twice so that one started by a
  /// thread not yet moved is moved too. io_uring's io-wq workers (`iou-wrk-N`) refuse
  /// (the kernel places them within the process's cpuset, for C rings and Swift rings alike).
  static func setProcess(cpus: [Int]) {
    for _ in 0..<2 {
      for tid in threads() { set(thread: tid, cpus: cpus) }
    }
  }
}
