// Is io_uring usable here, why not, and what does this kernel support?

import CLibURing
import CZeroCopy
public import SystemPackage

/// Whether io_uring can be used by this process, and if not, why.
///
/// One answer per process, computed on first use by ``IOURing/Probe/run()`` and cached
/// (``current``). Setting the environment variable `ZEROCOPY_DISABLE_IO_URING=1` before the
/// first use forces ``unavailable(_:)`` with ``Reason/disabledByEnvironment`` — for users
/// who want the blocking fallbacks, and for tests of them. Every layer of swift-zerocopy
/// asks this type, so the override applies everywhere.
public enum IOURingAvailability: Sendable, Hashable, CustomStringConvertible {
  /// io_uring rings can be created, registered and entered.
  case available
  /// io_uring cannot be used, for the given reason.
  case unavailable(Reason)

  /// Why io_uring is unavailable.
  public enum Reason: Sendable, Hashable, CustomStringConvertible {
    /// `ZEROCOPY_DISABLE_IO_URING=1` is set in the environment.
    case disabledByEnvironment
    /// The administrator disabled io_uring: sysctl `kernel.io_uring_disabled` has this
    /// value (2: for everyone; 1: for processes outside `kernel.io_uring_group`). Kernel 6.6+.
    case disabledBySysctl(value: Int)
    /// A security policy refused `io_uring_setup` (or `io_uring_enter`) with this errno,
    /// usually `EPERM`: a seccomp filter (Docker's default profile) or an LSM.
    case notPermitted(Errno)
    /// The kernel or sandbox does not implement io_uring (`ENOSYS`: kernel < 5.1, gVisor,
    /// or a seccomp filter answering `ENOSYS`).
    case notImplemented
    /// Ring memory could not be allocated (`ENOMEM`): for a process without
    /// `CAP_IPC_LOCK` it counts against `RLIMIT_MEMLOCK` (before 5.12, and again on recent
    /// kernels: measured on 6.18, where `ulimit -l 0` refuses even a 4-entry ring).
    case outOfMemory
    /// Rings can be created but `io_uring_register` is refused with this errno.
    case registerRefused(Errno)
    /// `io_uring_setup` failed with an unexpected errno.
    case setupFailed(Errno)

    public var description: String {
      switch self {
      case .disabledByEnvironment:
        return "disabled by the environment (ZEROCOPY_DISABLE_IO_URING=1)"
      case .disabledBySysctl(let value):
        return "disabled by the administrator (sysctl kernel.io_uring_disabled = \(value))"
      case .notPermitted(let errno):
        return "refused by a security policy (seccomp or LSM: \(errno))"
      case .notImplemented:
        return "not implemented by this kernel or sandbox (ENOSYS)"
      case .outOfMemory:
        return "ring memory could not be allocated (ENOMEM; RLIMIT_MEMLOCK without CAP_IPC_LOCK)"
      case .registerRefused(let errno):
        return "io_uring_register is refused (\(errno)) although rings can be created"
      case .setupFailed(let errno):
        return "io_uring_setup failed: \(errno)"
      }
    }
  }

  /// The process-wide answer, computed once (thread-safe) and cached.
  ///
  /// The corresponding C function is `zc_uring_probe` (run once).
  public static var current: IOURingAvailability { IOURing.Probe.current.availability }

  /// Whether io_uring is available (``current`` is ``available``).
  public static var isAvailable: Bool { current == .available }

  /// The reason io_uring is unavailable, or `nil` when it is available.
  public var reason: Reason? {
    if case .unavailable(let r) = self { return r }
    return nil
  }

  public var description: String {
    switch self {
    case .available: return "io_uring is available"
    case .unavailable(let reason): return "io_uring is unavailable: \(reason)"
    }
  }
}

extension IOURing {
  /// The process-wide, cached io_uring availability (``IOURingAvailability/current``).
  public static var availability: IOURingAvailability { IOURingAvailability.current }

  /// What the running kernel offers: availability (with the reason when unavailable),
  /// feature bits and the opcodes it supports.
  ///
  /// Obtained once per process with ``current`` (cached), or afresh with ``run()``.
  /// The corresponding C function is `zc_uring_probe` (which uses `io_uring_setup` and
  /// `io_uring_register(IORING_REGISTER_PROBE)`; kernel 5.6+ for the opcode list).
  public struct Probe: Sendable, Hashable, CustomStringConvertible {
    /// Whether io_uring is usable, and why not.
    public let availability: IOURingAvailability
    /// The kernel's feature bits (`io_uring_params.features`); empty when unavailable.
    public let features: Features
    /// The highest opcode the kernel knows (`io_uring_probe.last_op`), or `nil` when
    /// unknown (io_uring unavailable, or a kernel before 5.6 without the probe).
    public let lastOpcode: Opcode?
    /// `/proc/sys/kernel/io_uring_disabled`, or `nil` when absent (kernels before 6.6).
    public let sysctlDisabled: Int?
    /// The errno of the failing setup step (`io_uring_setup`, or the first `io_uring_enter`), if any.
    public let setupErrno: Errno?
    /// The errno of `io_uring_register(IORING_REGISTER_PROBE)`, if it failed.
    public let registerErrno: Errno?
    // Supported opcodes as a 256-bit set.
    private let supported: (UInt64, UInt64, UInt64, UInt64)

    /// The cached, process-wide probe (computed once, thread-safe).
    public static var current: Probe { cachedProbe }

    /// Probes the kernel now (not cached): honours `ZEROCOPY_DISABLE_IO_URING=1`, reads
    /// the sysctl, creates and tears down a 4-entry ring, probes opcodes, round-trips one NOP.
    ///
    /// The corresponding C function is `zc_uring_probe`.
    public static func run() -> Probe {
      var raw = zc_uring_probe_result()
      _ = zc_uring_probe(&raw)
      return Probe(raw)
    }

    private init(_ raw: zc_uring_probe_result) {
      var words: [UInt64] = [0, 0, 0, 0]
      withUnsafeBytes(of: raw.op_supported) { bytes in
        for (op, flag) in bytes.enumerated() where flag != 0 {
          words[op >> 6] |= 1 << UInt64(op & 63)
        }
      }
      supported = (words[0], words[1], words[2], words[3])
      features = Features(rawValue: raw.features)
      lastOpcode = raw.last_op >= 0 ? Opcode(rawValue: UInt8(truncatingIfNeeded: raw.last_op)) : nil
      sysctlDisabled = raw.sysctl_disabled >= 0 ? Int(raw.sysctl_disabled) : nil
      setupErrno = raw.setup_errno != 0 ? Errno(rawValue: raw.setup_errno) : nil
      registerErrno = raw.register_errno != 0 ? Errno(rawValue: raw.register_errno) : nil
      let setup = setupErrno ?? .invalidArgument
      switch raw.reason {
      case Int32(ZC_URING_AVAILABLE.rawValue): availability = .available
      case Int32(ZC_URING_DISABLED_BY_ENV.rawValue): availability = .unavailable(.disabledByEnvironment)
      case Int32(ZC_URING_DISABLED_BY_SYSCTL.rawValue):
        availability = .unavailable(.disabledBySysctl(value: Int(max(raw.sysctl_disabled, 0))))
      case Int32(ZC_URING_NOT_PERMITTED.rawValue): availability = .unavailable(.notPermitted(setup))
      case Int32(ZC_URING_NOT_IMPLEMENTED.rawValue): availability = .unavailable(.notImplemented)
      case Int32(ZC_URING_OUT_OF_MEMORY.rawValue): availability = .unavailable(.outOfMemory)
      case Int32(ZC_URING_REGISTER_REFUSED.rawValue):
        availability = .unavailable(.registerRefused(registerErrno ?? .permissionDenied))
      default: availability = .unavailable(.setupFailed(setup))
      }
    }

    /// Whether the kernel supports `opcode` (`io_uring_opcode_supported`). Always false
    /// when io_uring is unavailable, and for every opcode on kernels without the probe (< 5.6).
    public func supports(_ opcode: Opcode) -> Bool {
      let op = Int(opcode.rawValue)
      let word: UInt64
      switch op >> 6 {
      case 0: word = supported.0
      case 1: word = supported.1
      case 2: word = supported.2
      default: word = supported.3
      }
      return word & (1 << UInt64(op & 63)) != 0
    }

    /// Every opcode the kernel supports, in opcode order.
    public var supportedOpcodes: [Opcode] {
      (0...255).map { Opcode(rawValue: UInt8($0)) }.filter(supports)
    }

    public static func == (a: Probe, b: Probe) -> Bool {
      a.availability == b.availability && a.features == b.features && a.lastOpcode == b.lastOpcode
        && a.sysctlDisabled == b.sysctlDisabled && a.setupErrno == b.setupErrno
        && a.registerErrno == b.registerErrno && a.supported == b.supported
    }

    public func hash(into h: inout Hasher) {
      h.combine(availability)
      h.combine(features)
      h.combine(supported.0)
      h.combine(supported.1)
    }

    public var description: String {
      var s = "\(availability)"
      if availability == .available {
        s += "; features \(features); opcodes \(supportedOpcodes.count) supported"
        if let last = lastOpcode { s += " (last: \(last))" }
      }
      return s
    }
  }
}

/// The process-wide probe: a global `let` is initialised once, lazily and thread-safely.
private let cachedProbe = IOURing.Probe.run()

extension IOURing {
  /// An io_uring operation code (`enum io_uring_op`, `IORING_OP_*`).
  ///
  /// Constants cover every opcode up to kernel 6.18 (liburing 2.3's headers stop at 48);
  /// ask ``Probe/supports(_:)`` before relying on one.
  public struct Opcode: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The raw C value.
    public let rawValue: UInt8
    /// Wraps a raw C value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static func < (a: Opcode, b: Opcode) -> Bool { a.rawValue < b.rawValue }

    /// `IORING_OP_NOP` (5.1)
    public static let nop = Opcode(rawValue: 0)
    /// `IORING_OP_READV` (5.1)
    public static let readv = Opcode(rawValue: 1)
    /// `IORING_OP_WRITEV` (5.1)
    public static let writev = Opcode(rawValue: 2)
    /// `IORING_OP_FSYNC` (5.1)
    public static let fsync = Opcode(rawValue: 3)
    /// `IORING_OP_READ_FIXED` (5.1)
    public static let readFixed = Opcode(rawValue: 4)
    /// `IORING_OP_WRITE_FIXED` (5.1)
    public static let writeFixed = Opcode(rawValue: 5)
    /// `IORING_OP_POLL_ADD` (5.1)
    public static let pollAdd = Opcode(rawValue: 6)
    /// `IORING_OP_POLL_REMOVE` (5.1)
    public static let pollRemove = Opcode(rawValue: 7)
    /// `IORING_OP_SYNC_FILE_RANGE` (5.2)
    public static let syncFileRange = Opcode(rawValue: 8)
    /// `IORING_OP_SENDMSG` (5.3)
    public static let sendmsg = Opcode(rawValue: 9)
    /// `IORING_OP_RECVMSG` (5.3)
    public static let recvmsg = Opcode(rawValue: 10)
    /// `IORING_OP_TIMEOUT` (5.4)
    public static let timeout = Opcode(rawValue: 11)
    /// `IORING_OP_TIMEOUT_REMOVE` (5.5)
    public static let timeoutRemove = Opcode(rawValue: 12)
    /// `IORING_OP_ACCEPT` (5.5)
    public static let accept = Opcode(rawValue: 13)
    /// `IORING_OP_ASYNC_CANCEL` (5.5)
    public static let asyncCancel = Opcode(rawValue: 14)
    /// `IORING_OP_LINK_TIMEOUT` (5.5)
    public static let linkTimeout = Opcode(rawValue: 15)
    /// `IORING_OP_CONNECT` (5.5)
    public static let connect = Opcode(rawValue: 16)
    /// `IORING_OP_FALLOCATE` (5.6)
    public static let fallocate = Opcode(rawValue: 17)
    /// `IORING_OP_OPENAT` (5.6)
    public static let openat = Opcode(rawValue: 18)
    /// `IORING_OP_CLOSE` (5.6)
    public static let close = Opcode(rawValue: 19)
    /// `IORING_OP_FILES_UPDATE` (5.6)
    public static let filesUpdate = Opcode(rawValue: 20)
    /// `IORING_OP_STATX` (5.6)
    public static let statx = Opcode(rawValue: 21)
    /// `IORING_OP_READ` (5.6)
    public static let read = Opcode(rawValue: 22)
    /// `IORING_OP_WRITE` (5.6)
    public static let write = Opcode(rawValue: 23)
    /// `IORING_OP_FADVISE` (5.6)
    public static let fadvise = Opcode(rawValue: 24)
    /// `IORING_OP_MADVISE` (5.6)
    public static let madvise = Opcode(rawValue: 25)
    /// `IORING_OP_SEND` (5.6)
    public static let send = Opcode(rawValue: 26)
    /// `IORING_OP_RECV` (5.6)
    public static let recv = Opcode(rawValue: 27)
    /// `IORING_OP_OPENAT2` (5.6)
    public static let openat2 = Opcode(rawValue: 28)
    /// `IORING_OP_EPOLL_CTL` (5.6)
    public static let epollCtl = Opcode(rawValue: 29)
    /// `IORING_OP_SPLICE` (5.7)
    public static let splice = Opcode(rawValue: 30)
    /// `IORING_OP_PROVIDE_BUFFERS` (5.7)
    public static let provideBuffers = Opcode(rawValue: 31)
    /// `IORING_OP_REMOVE_BUFFERS` (5.7)
    public static let removeBuffers = Opcode(rawValue: 32)
    /// `IORING_OP_TEE` (5.8)
    public static let tee = Opcode(rawValue: 33)
    /// `IORING_OP_SHUTDOWN` (5.11)
    public static let shutdown = Opcode(rawValue: 34)
    /// `IORING_OP_RENAMEAT` (5.11)
    public static let renameat = Opcode(rawValue: 35)
    /// `IORING_OP_UNLINKAT` (5.11)
    public static let unlinkat = Opcode(rawValue: 36)
    /// `IORING_OP_MKDIRAT` (5.15)
    public static let mkdirat = Opcode(rawValue: 37)
    /// `IORING_OP_SYMLINKAT` (5.15)
    public static let symlinkat = Opcode(rawValue: 38)
    /// `IORING_OP_LINKAT` (5.15)
    public static let linkat = Opcode(rawValue: 39)
    /// `IORING_OP_MSG_RING` (5.18)
    public static let msgRing = Opcode(rawValue: 40)
    /// `IORING_OP_FSETXATTR` (5.19)
    public static let fsetxattr = Opcode(rawValue: 41)
    /// `IORING_OP_SETXATTR` (5.19)
    public static let setxattr = Opcode(rawValue: 42)
    /// `IORING_OP_FGETXATTR` (5.19)
    public static let fgetxattr = Opcode(rawValue: 43)
    /// `IORING_OP_GETXATTR` (5.19)
    public static let getxattr = Opcode(rawValue: 44)
    /// `IORING_OP_SOCKET` (5.19)
    public static let socket = Opcode(rawValue: 45)
    /// `IORING_OP_URING_CMD` (5.19)
    public static let uringCmd = Opcode(rawValue: 46)
    /// `IORING_OP_SEND_ZC` (6.0)
    public static let sendZeroCopy = Opcode(rawValue: 47)
    /// `IORING_OP_SENDMSG_ZC` (6.1)
    public static let sendmsgZeroCopy = Opcode(rawValue: 48)
    /// `IORING_OP_READ_MULTISHOT` (6.7)
    public static let readMultishot = Opcode(rawValue: 49)
    /// `IORING_OP_WAITID` (6.7)
    public static let waitid = Opcode(rawValue: 50)
    /// `IORING_OP_FUTEX_WAIT` (6.7)
    public static let futexWait = Opcode(rawValue: 51)
    /// `IORING_OP_FUTEX_WAKE` (6.7)
    public static let futexWake = Opcode(rawValue: 52)
    /// `IORING_OP_FUTEX_WAITV` (6.7)
    public static let futexWaitv = Opcode(rawValue: 53)
    /// `IORING_OP_FIXED_FD_INSTALL` (6.8)
    public static let fixedFDInstall = Opcode(rawValue: 54)
    /// `IORING_OP_FTRUNCATE` (6.9)
    public static let ftruncate = Opcode(rawValue: 55)
    /// `IORING_OP_BIND` (6.11)
    public static let bind = Opcode(rawValue: 56)
    /// `IORING_OP_LISTEN` (6.11)
    public static let listen = Opcode(rawValue: 57)
    /// `IORING_OP_RECV_ZC` (6.15)
    public static let recvZeroCopy = Opcode(rawValue: 58)
    /// `IORING_OP_EPOLL_WAIT` (6.15)
    public static let epollWait = Opcode(rawValue: 59)
    /// `IORING_OP_READV_FIXED` (6.15)
    public static let readvFixed = Opcode(rawValue: 60)
    /// `IORING_OP_WRITEV_FIXED` (6.15)
    public static let writevFixed = Opcode(rawValue: 61)
    /// `IORING_OP_PIPE` (6.16)
    public static let pipe = Opcode(rawValue: 62)

    private static let names: [String] = [
      "NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD", "POLL_REMOVE",
      "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT",
      "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT", "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE",
      "STATX", "READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL",
      "SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT", "UNLINKAT",
      "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR", "SETXATTR", "FGETXATTR",
      "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID",
      "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND",
      "LISTEN", "RECV_ZC", "EPOLL_WAIT", "READV_FIXED", "WRITEV_FIXED", "PIPE",
    ]

    /// The kernel's name without the prefix (`"SPLICE"`), or `"OP_<n>"` for opcodes newer than this table.
    public var name: String {
      Int(rawValue) < Opcode.names.count ? Opcode.names[Int(rawValue)] : "OP_\(rawValue)"
    }

    public var description: String { "IORING_OP_" + name }
  }

  /// The kernel's io_uring feature bits (`io_uring_params.features`, `IORING_FEAT_*`).
  public struct Features: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The raw C value.
    public let rawValue: UInt32
    /// Wraps a raw C value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IORING_FEAT_SINGLE_MMAP` (5.4): SQ and CQ rings share one mapping.
    public static let singleMmap = Features(rawValue: 1 << 0)
    /// `IORING_FEAT_NODROP` (5.5): completions are never dropped; overflow is kept in the kernel.
    public static let noDrop = Features(rawValue: 1 << 1)
    /// `IORING_FEAT_SUBMIT_STABLE` (5.5): data an SQE points at is read during submission.
    public static let submitStable = Features(rawValue: 1 << 2)
    /// `IORING_FEAT_RW_CUR_POS` (5.6): offset -1 means "the current file position".
    public static let readWriteCurrentPosition = Features(rawValue: 1 << 3)
    /// `IORING_FEAT_CUR_PERSONALITY` (5.6): requests run with the submitter's credentials.
    public static let currentPersonality = Features(rawValue: 1 << 4)
    /// `IORING_FEAT_FAST_POLL` (5.7): internal polling instead of io-wq for sockets and pipes.
    public static let fastPoll = Features(rawValue: 1 << 5)
    /// `IORING_FEAT_POLL_32BITS` (5.9): 32-bit poll masks.
    public static let poll32Bits = Features(rawValue: 1 << 6)
    /// `IORING_FEAT_SQPOLL_NONFIXED` (5.11): SQPOLL works with unregistered files.
    public static let sqpollNonFixed = Features(rawValue: 1 << 7)
    /// `IORING_FEAT_EXT_ARG` (5.11): `io_uring_enter` takes a timeout argument.
    public static let extendedArgument = Features(rawValue: 1 << 8)
    /// `IORING_FEAT_NATIVE_WORKERS` (5.12): io-wq workers are native threads of the process.
    public static let nativeWorkers = Features(rawValue: 1 << 9)
    /// `IORING_FEAT_RSRC_TAGS` (5.13): tagged registration and sparse updates.
    public static let resourceTags = Features(rawValue: 1 << 10)
    /// `IORING_FEAT_CQE_SKIP` (5.17): `IOSQE_CQE_SKIP_SUCCESS`.
    public static let cqeSkip = Features(rawValue: 1 << 11)
    /// `IORING_FEAT_LINKED_FILE` (5.17): linked requests resolve their file at issue time.
    public static let linkedFile = Features(rawValue: 1 << 12)
    /// `IORING_FEAT_REG_REG_RING` (6.3): registration through a registered ring fd.
    public static let registerRegisteredRing = Features(rawValue: 1 << 13)
    /// `IORING_FEAT_RECVSEND_BUNDLE` (6.10): bundled send/receive.
    public static let recvSendBundle = Features(rawValue: 1 << 14)
    /// `IORING_FEAT_MIN_TIMEOUT` (6.12): minimum wait timeouts.
    public static let minTimeout = Features(rawValue: 1 << 15)
    /// `IORING_FEAT_RW_ATTR` (6.15): read/write attributes.
    public static let readWriteAttributes = Features(rawValue: 1 << 16)
    /// `IORING_FEAT_NO_IOWAIT` (6.15): waiting need not count as iowait.
    public static let noIOWait = Features(rawValue: 1 << 17)

    private static let names = [
      "SINGLE_MMAP", "NODROP", "SUBMIT_STABLE", "RW_CUR_POS", "CUR_PERSONALITY", "FAST_POLL",
      "POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG", "NATIVE_WORKERS", "RSRC_TAGS", "CQE_SKIP",
      "LINKED_FILE", "REG_REG_RING", "RECVSEND_BUNDLE", "MIN_TIMEOUT", "RW_ATTR", "NO_IOWAIT",
    ]

    public var description: String {
      var parts: [String] = []
      for bit in 0..<32 where rawValue & (1 << UInt32(bit)) != 0 {
        parts.append(bit < Features.names.count ? Features.names[bit] : "1<<\(bit)")
      }
      return "[" + parts.joined(separator: ", ") + "]"
    }
  }
}
