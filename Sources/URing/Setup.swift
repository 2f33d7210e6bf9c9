// Setup flags, and errors that say which flag the kernel rejected.

import CLibURing
public import SystemPackage

extension IOURing {
  /// Ring setup flags (`io_uring_params.flags`, `IORING_SETUP_*`).
  public struct SetupFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The raw C value.
    public let rawValue: UInt32
    /// Wraps a raw C value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IORING_SETUP_IOPOLL` (5.1): busy-poll for completions; only for `O_DIRECT` files
    /// on devices with polling queues.
    public static let ioPoll = SetupFlags(rawValue: 1 << 0)
    /// `IORING_SETUP_SQPOLL` (5.1; unprivileged since 5.11): a kernel thread polls the
    /// submission queue, so ``IOURing/submit()`` usually makes no syscall. The thread
    /// sleeps after `sqThreadIdle` and sets `IORING_SQ_NEED_WAKEUP`; `submit()` then wakes
    /// it. Costly on machines with few CPUs.
    public static let sqPoll = SetupFlags(rawValue: 1 << 1)
    /// `IORING_SETUP_SQ_AFF` (5.1): pin the SQPOLL thread to `sqThreadCPU` (set automatically).
    public static let sqAffinity = SetupFlags(rawValue: 1 << 2)
    /// `IORING_SETUP_CQSIZE` (5.5): the CQ has `completionQueueEntries` (set automatically).
    public static let cqSize = SetupFlags(rawValue: 1 << 3)
    /// `IORING_SETUP_CLAMP` (5.6): clamp too-large entry counts instead of failing.
    public static let clamp = SetupFlags(rawValue: 1 << 4)
    /// `IORING_SETUP_SUBMIT_ALL` (5.18): keep submitting a batch after a request fails to prepare.
    public static let submitAll = SetupFlags(rawValue: 1 << 7)
    /// `IORING_SETUP_COOP_TASKRUN` (5.19): run completion task work only when the task
    /// enters the kernel, instead of interrupting it with an IPI.
    public static let coopTaskrun = SetupFlags(rawValue: 1 << 8)
    /// `IORING_SETUP_TASKRUN_FLAG` (5.19): set `IORING_SQ_TASKRUN` when task work is
    /// pending (needs `coopTaskrun` or `deferTaskrun`); the reaping methods honour it.
    public static let taskrunFlag = SetupFlags(rawValue: 1 << 9)
    /// `IORING_SETUP_SINGLE_ISSUER` (6.0): only one task submits (the first one to do so).
    public static let singleIssuer = SetupFlags(rawValue: 1 << 12)
    /// `IORING_SETUP_DEFER_TASKRUN` (6.1): completions are posted only when the issuer
    /// waits for them (``IOURing/waitCompletion()``, ``IOURing/submit(waitingFor:)``).
    /// Requires `singleIssuer`; incompatible with `sqPoll`.
    public static let deferTaskrun = SetupFlags(rawValue: 1 << 13)

    /// The C name of each known flag, in diagnosis order (a flag's prerequisites first).
    internal static let known: [(flag: SetupFlags, name: String, requirement: String)] = [
      (.sqPoll, "IORING_SETUP_SQPOLL", "kernel 5.1; unprivileged since 5.11"),
      (.sqAffinity, "IORING_SETUP_SQ_AFF", "requires IORING_SETUP_SQPOLL and a valid, online sqThreadCPU"),
      (.ioPoll, "IORING_SETUP_IOPOLL", "kernel 5.1"),
      (.cqSize, "IORING_SETUP_CQSIZE", "kernel 5.5; completionQueueEntries must be >= entries and <= 65536 (or use .clamp)"),
      (.clamp, "IORING_SETUP_CLAMP", "kernel 5.6"),
      (.submitAll, "IORING_SETUP_SUBMIT_ALL", "kernel 5.18"),
      (.singleIssuer, "IORING_SETUP_SINGLE_ISSUER", "kernel 6.0"),
      (
        .deferTaskrun, "IORING_SETUP_DEFER_TASKRUN",
        "kernel 6.1; requires IORING_SETUP_SINGLE_ISSUER; incompatible with IORING_SETUP_SQPOLL"
      ),
      (.coopTaskrun, "IORING_SETUP_COOP_TASKRUN", "kernel 5.19; incompatible with IORING_SETUP_SQPOLL before 6.x"),
      (
        .taskrunFlag, "IORING_SETUP_TASKRUN_FLAG", "kernel 5.19; requires IORING_SETUP_COOP_TASKRUN or IORING_SETUP_DEFER_TASKRUN"
      ),
    ]

    public var description: String {
      var parts: [String] = []
      var rest = rawValue
      for entry in SetupFlags.known where contains(entry.flag) {
        parts.append(entry.name)
        rest &= ~entry.flag.rawValue
      }
      if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
      return "[" + parts.joined(separator: ", ") + "]"
    }
  }

  /// Why a ring could not be created.
  ///
  /// ``errno`` is the kernel's answer. For `EINVAL` the setup is re-tried flag by flag to
  /// find the culprit: ``rejectedFlag`` is the flag whose addition the kernel refused
  /// (given the flags before it), or `nil` when the entry counts themselves were refused
  /// (``rejectedEntries``). When io_uring is unavailable in this process, ``unavailable``
  /// says why and no ring was attempted.
  public struct SetupError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The errno (`io_uring_setup`'s, or the one that made io_uring unavailable).
    public let errno: Errno
    /// The flag the kernel rejected (EINVAL), if one could be singled out.
    public let rejectedFlag: SetupFlags?
    /// True when the kernel rejected the entry counts (`entries` / `completionQueueEntries`).
    public let rejectedEntries: Bool
    /// Set when io_uring is unavailable in this process (see ``IOURingAvailability``).
    public let unavailable: IOURingAvailability.Reason?
    /// A sentence naming the cause.
    public let message: String

    internal init(errno: Errno, rejectedFlag: SetupFlags? = nil, rejectedEntries: Bool = false, message: String? = nil) {
      self.errno = errno
      self.rejectedFlag = rejectedFlag
      self.rejectedEntries = rejectedEntries
      self.unavailable = nil
      self.message = message ?? "io_uring_setup failed: \(errno)"
    }

    internal init(unavailable reason: IOURingAvailability.Reason) {
      switch reason {
      case .disabledByEnvironment: errno = .canceled
      case .disabledBySysctl: errno = .notPermitted
      case .notPermitted(let e), .registerRefused(let e), .setupFailed(let e): errno = e
      case .notImplemented: errno = .noFunction
      case .outOfMemory: errno = .noMemory
      }
      rejectedFlag = nil
      rejectedEntries = false
      unavailable = reason
      message = "io_uring is unavailable: \(reason)"
    }

    public var description: String { message }

    /// Finds which part of an `EINVAL`'d setup the kernel refuses, by re-trying setup
    /// with the flags added one at a time (prerequisites first). Only runs on failure.
    internal static func diagnoseInvalidArgument(entries: UInt32, requested: io_uring_params) -> SetupError {
      let requestedFlags = SetupFlags(rawValue: requested.flags)
      func attempt(_ flags: SetupFlags) -> Errno? {
        var p = io_uring_params()
        p.flags = flags.rawValue
        if flags.contains(.cqSize) { p.cq_entries = requested.cq_entries }
        if flags.contains(.sqPoll) { p.sq_thread_idle = requested.sq_thread_idle }
        if flags.contains(.sqAffinity) { p.sq_thread_cpu = requested.sq_thread_cpu }
        var r = io_uring()
        if case .failure(let errno) = kernelResult(io_uring_queue_init_params(entries, &r, &p)) { return errno }
        io_uring_queue_exit(&r)
        return nil
      }

      if attempt([]) == .invalidArgument {
        return SetupError(
          errno: .invalidArgument, rejectedEntries: true,
          message: "io_uring_setup: EINVAL: the kernel rejected entries = \(entries) (must be 1...32768, or use .clamp)")
      }
      var accepted: SetupFlags = []
      var ordered = SetupFlags.known.filter { requestedFlags.contains($0.flag) }
      let unknown = requestedFlags.subtracting(SetupFlags(rawValue: SetupFlags.known.reduce(0) { $0 | $1.flag.rawValue }))
      if !unknown.isEmpty {
        ordered.append(
          (
            unknown, "IORING_SETUP flag bits 0x" + String(unknown.rawValue, radix: 16),
            "unknown to this kernel or unsupported by IOURing"
          ))
      }
      for entry in ordered {
        let trial = accepted.union(entry.flag)
        if let e = attempt(trial) {
          if e == .invalidArgument {
            let context = accepted.isEmpty ? "" : " together with \(accepted)"
            if entry.flag == .cqSize {
              return SetupError(
                errno: .invalidArgument, rejectedFlag: entry.flag, rejectedEntries: true,
                message:
                  "io_uring_setup: EINVAL: the kernel rejected \(entry.name) with completionQueueEntries = \(requested.cq_entries) for \(entries) entries (\(entry.requirement))"
              )
            }
            return SetupError(
              errno: .invalidArgument, rejectedFlag: entry.flag,
              message: "io_uring_setup: EINVAL: the kernel rejected \(entry.name)\(context) (\(entry.requirement))")
          }
          return SetupError(errno: e, rejectedFlag: entry.flag, message: "io_uring_setup with \(entry.name) failed: \(e)")
        }
        accepted = trial
      }
      return SetupError(
        errno: .invalidArgument,
        message:
          "io_uring_setup: EINVAL: the kernel rejected the combination \(requestedFlags) although each flag is accepted on its own"
      )
    }
  }
}
