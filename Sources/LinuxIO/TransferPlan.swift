// The automatic choice's decision table, which lives in C (CShims/src/plan.c) so that C's
// `zc_transfer` and ZeroCopy's `.automatic` strategy pick the same system calls from one
// copy of it. ZeroCopy reaches it here, through LinuxIO, like every other C call.

import CZeroCopy
import Glibc
public import SystemPackage

/// The decision table that chooses system calls for a transfer by the kinds of its two
/// descriptors, a few facts about the pair, and its size — shared by C (`zc_plan`,
/// `zc_transfer`) and ZeroCopy's `AutomaticStrategy`.
///
/// The table is data: rows matched first to last (``table``), whose size tests compare
/// with ``Parameters`` rather than constants, so a per-host calibration (`zc calibrate`,
/// a ``Profile``) changes numbers, not code. Docs/Transfer.md gives the measurement
/// behind each row.
///
/// ```swift
/// import LinuxIO
///
/// let methods = TransferPlan.methods(source: .file, destination: .tcpSocket, bytes: 1 << 20)
/// print(methods)   // [splice, sendfile, readWrite] (above 256 KiB, with the built-in table)
/// ```
public enum TransferPlan {
  /// What kind of descriptor an endpoint is, as the table sees it (`zc_endpoint_kind`).
  /// ZeroCopy's `TransferEndpoint.Kind` is this type: one classification for C and Swift.
  public enum EndpointKind: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A regular file whose size describes its contents (`ZC_KIND_FILE`).
    case file = 0
    /// A regular file on a pseudo filesystem (procfs, sysfs…) whose size says nothing.
    case pseudoFile = 1
    /// A block device.
    case blockDevice = 2
    /// A character device (`/dev/null`, a terminal…).
    case characterDevice = 3
    /// A pipe or FIFO.
    case pipe = 4
    /// A TCP socket.
    case tcpSocket = 5
    /// A Unix-domain socket.
    case unixSocket = 6
    /// Any other socket.
    case otherSocket = 7
    /// A directory.
    case directory = 8
    /// Anything else (eventfd, epoll, io_uring descriptors…).
    case other = 9

    /// The kind's name, as `zc probe` and transfer reports print it: `file`, `pseudoFile`,
    /// `blockDevice`, `characterDevice`, `pipe`, `tcpSocket`, `unixSocket`, `otherSocket`,
    /// `directory`, `other`.
    public var description: String {
      switch self {
      case .file: return "file"
      case .pseudoFile: return "pseudoFile"
      case .blockDevice: return "blockDevice"
      case .characterDevice: return "characterDevice"
      case .pipe: return "pipe"
      case .tcpSocket: return "tcpSocket"
      case .unixSocket: return "unixSocket"
      case .otherSocket: return "otherSocket"
      case .directory: return "directory"
      case .other: return "other"
      }
    }
  }

  /// A descriptor as the table sees it (`zc_endpoint`), read by ``inspect(_:)``.
  public struct Endpoint: Sendable, Hashable {
    /// What kind of descriptor it is.
    public var kind: EndpointKind
    /// The size in bytes of a ``EndpointKind/file`` at inspection time; nil for every
    /// other kind (a pseudo file's size says nothing, a pipe or socket has none).
    public var size: Int64?
    /// The device the file lives on (`st_dev`).
    public var device: UInt64
    /// The inode number (`st_ino`).
    public var inode: UInt64
    /// The permission bits (`st_mode & 0o7777`).
    public var permissions: UInt32
    /// Whether the descriptor was opened with `O_APPEND`.
    public var isAppendOnly: Bool
    /// Whether the descriptor is non-blocking (`O_NONBLOCK`).
    public var isNonBlocking: Bool

    /// Creates an endpoint description by hand.
    public init(
      kind: EndpointKind, size: Int64? = nil, device: UInt64 = 0, inode: UInt64 = 0, permissions: UInt32 = 0o644,
      isAppendOnly: Bool = false, isNonBlocking: Bool = false
    ) {
      self.kind = kind
      self.size = size
      self.device = device
      self.inode = inode
      self.permissions = permissions
      self.isAppendOnly = isAppendOnly
      self.isNonBlocking = isNonBlocking
    }
  }

  /// Inspects a descriptor as the table sees it: `fstat` (type, size, identity, mode),
  /// `fcntl(F_GETFL)` (`O_APPEND`, `O_NONBLOCK`), `fstatfs` for regular files of size 0
  /// or 4096 (pseudo filesystems — procfs, sysfs, debugfs, cgroupfs… — report those
  /// sizes whatever the contents; such a file is a ``EndpointKind/pseudoFile``), and
  /// `getsockopt(SO_DOMAIN, SO_TYPE)` for sockets. The descriptor is not modified.
  ///
  /// C's `zc_transfer` and ZeroCopy's `TransferEndpoint.inspect` both classify through
  /// this one function. The corresponding C function is `zc_endpoint_inspect`.
  ///
  /// - Throws: The errno of `fstat` or `fcntl` (`EBADF` for a closed descriptor);
  ///   ``inspectEndpoint(_:)`` also says which of the two failed.
  public static func inspect(_ descriptor: FileDescriptor) throws(Errno) -> Endpoint {
    do {
      return try inspectEndpoint(descriptor)
    } catch {
      throw error.errno
    }
  }

  /// Why ``inspectEndpoint(_:)`` failed: the system call and its errno.
  public struct InspectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The system call that failed: `fstat` or `fcntl` (`F_GETFL`).
    public let syscall: String
    /// Its errno.
    public let errno: Errno

    /// An inspection error (for mocks and custom front ends).
    public init(syscall: String, errno: Errno) {
      self.syscall = syscall
      self.errno = errno
    }

    /// "fstat: EBADF".
    public var description: String { "\(syscall): \(errno)" }
  }

  /// ``inspect(_:)``, naming in its error the system call that failed: `fstat` (`EBADF`
  /// for a closed descriptor) or `fcntl(F_GETFL)`. (`fstatfs` and `getsockopt` never fail
  /// an inspection: a failed `fstatfs` means "not a pseudo filesystem", a failed
  /// `getsockopt` ``EndpointKind/otherSocket``.)
  ///
  /// - Throws: ``InspectionError``.
  ///
  /// The corresponding C function is `zc_endpoint_inspect_call`.
  public static func inspectEndpoint(_ descriptor: FileDescriptor) throws(InspectionError) -> Endpoint {
    var c = zc_endpoint()
    var failed: UnsafePointer<CChar>? = nil
    let rc = zc_endpoint_inspect_call(descriptor.rawValue, &c, &failed)
    if rc < 0 {
      throw InspectionError(syscall: failed.map { String(cString: $0) } ?? "fstat", errno: Errno(rawValue: -rc))
    }
    let kind = EndpointKind(rawValue: Int32(c.kind)) ?? .other
    return Endpoint(
      kind: kind, size: kind == .file && c.size >= 0 ? c.size : nil, device: c.device, inode: c.inode,
      permissions: c.mode, isAppendOnly: c.append_only != 0, isNonBlocking: c.non_blocking != 0)
  }

  /// The size of a file now (`st_size`): what a transfer "until the end" between
  /// endpoints inspected earlier (ZeroCopy's `PreparedTransfer`) reads up to — one
  /// `fstat`, where ``inspect(_:)`` makes two to four calls.
  ///
  /// - Throws: `fstat`'s errno (`EBADF` for a closed descriptor).
  ///
  /// The corresponding C function is `fstat`.
  public static func currentSize(of descriptor: FileDescriptor) throws(Errno) -> Int64 {
    var st = stat()
    if fstat(descriptor.rawValue, &st) != 0 { throw Errno(rawValue: errno) }
    return Int64(st.st_size)
  }

  /// A family of system calls the table chooses from (`zc_method`). Its
  /// ``description`` is the name of the ZeroCopy strategy that uses it.
  public enum Method: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `copy_file_range` (`zc_copy_file_range_all`): strategy `copyFileRange`.
    case copyFileRange = 1
    /// `sendfile` (`zc_sendfile_all`): strategy `sendfile`.
    case sendfile = 2
    /// `splice` (`zc_splice_all`): strategy `splice`.
    case splice = 3
    /// `read`/`write` (`zc_read_write_all`): strategy `readWrite`.
    case readWrite = 4

    /// The strategy's name: `copyFileRange`, `sendfile`, `splice`, `readWrite`.
    /// The corresponding C function is `zc_method_name`.
    public var description: String { String(cString: zc_method_name(Int32(rawValue))) }
  }

  /// Facts about a pair of endpoints that rows test.
  public struct PairFacts: OptionSet, Sendable, Hashable {
    /// The raw `ZC_PAIR_*` bits.
    public let rawValue: UInt32
    /// Creates facts from `ZC_PAIR_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Both ends are seekable files on the same filesystem (`ZC_PAIR_SAME_FILESYSTEM`).
    public static let sameFileSystem = PairFacts(rawValue: UInt32(ZC_PAIR_SAME_FILESYSTEM))
    /// The destination was opened with `O_APPEND` (`ZC_PAIR_APPEND_DESTINATION`).
    public static let appendOnlyDestination = PairFacts(rawValue: UInt32(ZC_PAIR_APPEND_DESTINATION))
    /// The destination's filesystem is one whose `copy_file_range` copies bytes in the
    /// kernel (ext2/3/4, tmpfs): nothing (no reflink, no server-side copy) is lost by
    /// another method (`ZC_PAIR_KERNEL_COPY`). It costs an `fstatfs`, which
    /// ``TransferPlan/facts(_:source:destination:bytes:parameters:destinationDescriptor:reused:)``
    /// pays only when the fact changes the plan.
    public static let kernelCopy = PairFacts(rawValue: UInt32(ZC_PAIR_KERNEL_COPY))
  }

  /// A parameter of the table (`zc_plan_param`). Each crossover parameter splits one
  /// route in two rows: sizes up to it take the first list, larger (or unknown) sizes
  /// the second; ``Parameters/unlimited`` keeps every known size on the first list.
  public enum Parameter: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// File → file across filesystems: up to this many bytes go by read/write, more by
    /// sendfile (`ZC_PARAM_SMALL_COPY_MAX`).
    case smallCopyMax = 0
    /// The read/write method's buffer size in bytes (`ZC_PARAM_READ_WRITE_BUFFER`).
    case readWriteBuffer = 1
    /// File → file on one filesystem that copies in the kernel (``PairFacts/kernelCopy``):
    /// up to this many bytes go by copy_file_range, more by splice
    /// (`ZC_PARAM_COPY_FILE_RANGE_MAX`).
    case copyFileRangeMax = 2
    /// File → pipe: up to this many bytes go by sendfile, more by splice
    /// (`ZC_PARAM_PIPE_SENDFILE_MAX`).
    case pipeSendfileMax = 3
    /// File → socket: up to this many bytes go by sendfile, more by splice
    /// (`ZC_PARAM_SOCKET_SENDFILE_MAX`).
    case socketSendfileMax = 4

    /// The name profiles use (`smallCopyMax`, `readWriteBuffer`, `copyFileRangeMax`,
    /// `pipeSendfileMax`, `socketSendfileMax`); the corresponding C function is
    /// `zc_plan_param_name`.
    public var description: String { zc_plan_param_name(rawValue).map { String(cString: $0) } ?? "\(rawValue)" }

    /// The crossover parameters (every case but ``readWriteBuffer``).
    public static let crossovers: [Parameter] = [.smallCopyMax, .copyFileRangeMax, .pipeSendfileMax, .socketSendfileMax]
  }

  /// The table's parameters: its crossover sizes and the read/write buffer
  /// (`zc_plan_params`). A host profile (``Profile``) sets them.
  public struct Parameters: Sendable, Hashable, CustomStringConvertible {
    /// A crossover no known size passes ("max" in a profile; `ZC_PARAM_UNLIMITED`).
    public static let unlimited = Int64.max

    /// File → file across filesystems: transfers of at most this many bytes use read/write.
    public var smallCopyMax: Int64
    /// The read/write method's buffer size in bytes.
    public var readWriteBufferSize: Int
    /// File → file on one ext2/3/4 or tmpfs filesystem: transfers of at most this many
    /// bytes use copy_file_range, larger ones splice.
    public var copyFileRangeMax: Int64
    /// File → pipe: transfers of at most this many bytes use sendfile, larger ones splice.
    public var pipeSendfileMax: Int64
    /// File → socket: transfers of at most this many bytes use sendfile, larger ones splice.
    public var socketSendfileMax: Int64

    /// Parameters with these values; those not given are the built-in table's.
    ///
    /// - Precondition: The crossovers are not negative; `readWriteBufferSize` is from
    ///   4096 to 64 MiB.
    public init(
      smallCopyMax: Int64, readWriteBufferSize: Int, copyFileRangeMax: Int64? = nil, pipeSendfileMax: Int64? = nil,
      socketSendfileMax: Int64? = nil
    ) {
      let builtIn = Parameters.default
      self.init(
        exactly: smallCopyMax, readWriteBufferSize, copyFileRangeMax ?? builtIn.copyFileRangeMax,
        pipeSendfileMax ?? builtIn.pipeSendfileMax, socketSendfileMax ?? builtIn.socketSendfileMax)
    }

    private init(exactly small: Int64, _ buffer: Int, _ cfr: Int64, _ pipe: Int64, _ socket: Int64) {
      precondition(
        small >= 0 && cfr >= 0 && pipe >= 0 && socket >= 0 && buffer >= 4096 && buffer <= 64 << 20,
        "TransferPlan.Parameters: bad values")
      smallCopyMax = small
      readWriteBufferSize = buffer
      copyFileRangeMax = cfr
      pipeSendfileMax = pipe
      socketSendfileMax = socket
    }

    /// The built-in table's parameters: those of the profile compiled into the C library
    /// (Docs/bench/profile/builtin.profile), not the host's (see ``Profile/host``). The
    /// corresponding C function is `zc_plan_params_default`.
    public static let `default`: Parameters = {
      var c = zc_plan_params()
      zc_plan_params_default(&c)
      return Parameters(c)
    }()

    /// The value of `parameter` (``unlimited`` for "max").
    ///
    /// - Precondition (set): as for ``init(smallCopyMax:readWriteBufferSize:copyFileRangeMax:pipeSendfileMax:socketSendfileMax:)``.
    public subscript(parameter: Parameter) -> Int64 {
      get {
        switch parameter {
        case .smallCopyMax: return smallCopyMax
        case .readWriteBuffer: return Int64(readWriteBufferSize)
        case .copyFileRangeMax: return copyFileRangeMax
        case .pipeSendfileMax: return pipeSendfileMax
        case .socketSendfileMax: return socketSendfileMax
        }
      }
      set {
        precondition(
          newValue >= 0 && (parameter != .readWriteBuffer || (newValue >= 4096 && newValue <= 64 << 20)),
          "TransferPlan.Parameters: bad value \(newValue) for \(parameter)")
        switch parameter {
        case .smallCopyMax: smallCopyMax = newValue
        case .readWriteBuffer: readWriteBufferSize = Int(newValue)
        case .copyFileRangeMax: copyFileRangeMax = newValue
        case .pipeSendfileMax: pipeSendfileMax = newValue
        case .socketSendfileMax: socketSendfileMax = newValue
        }
      }
    }

    /// "smallCopyMax=16384 readWriteBuffer=131072 copyFileRangeMax=262144
    /// pipeSendfileMax=max socketSendfileMax=262144".
    public var description: String {
      Parameter.allCases.map { "\($0)=\(self[$0] == Self.unlimited ? "max" : String(self[$0]))" }.joined(separator: " ")
    }

    init(_ c: zc_plan_params) {
      let values = withUnsafeBytes(of: c.value) { Array($0.bindMemory(to: UInt64.self)) }
      func value(_ p: Parameter) -> Int64 {
        let v = values[Int(p.rawValue)]
        return v == UInt64.max ? Self.unlimited : Int64(clamping: v)
      }
      self.init(
        exactly: value(.smallCopyMax), Int(clamping: max(4096, min(64 << 20, value(.readWriteBuffer)))),
        value(.copyFileRangeMax), value(.pipeSendfileMax), value(.socketSendfileMax))
    }

    var c: zc_plan_params {
      var c = zc_plan_params()
      withUnsafeMutableBytes(of: &c.value) { raw in
        let values = raw.bindMemory(to: UInt64.self)
        for p in Parameter.allCases {
          values[Int(p.rawValue)] = self[p] == Self.unlimited ? UInt64.max : UInt64(self[p])
        }
      }
      return c
    }
  }

  /// How a row tests the transfer's size.
  public enum SizeRule: Sendable, Hashable {
    /// Any size.
    case any
    /// The size is known and at most the parameter's value.
    case atMost(Parameter)
    /// The size is unknown, or above the parameter's value.
    case above(Parameter)
  }

  /// One row of the table (`zc_plan_row`).
  public struct Row: Sendable, Hashable {
    /// The source kinds it matches.
    public let sources: Set<EndpointKind>
    /// The destination kinds it matches.
    public let destinations: Set<EndpointKind>
    /// Facts that must hold.
    public let required: PairFacts
    /// Facts that must not hold.
    public let excluded: PairFacts
    /// Its size test.
    public let size: SizeRule
    /// The methods it tries, best first (the last is always ``Method/readWrite``).
    public let methods: [Method]
    /// One line: the measurement behind the row.
    public let why: String
  }

  /// The table, first row first; the last row matches every pair. The corresponding C
  /// function is `zc_plan_table`.
  public static let table: [Row] = {
    var count = 0
    guard let rows = zc_plan_table(&count) else { return [] }
    return (0..<count).map { i in
      let row = rows[i]
      let kinds = { (mask: UInt32) in Set(EndpointKind.allCases.filter { mask & (1 << UInt32($0.rawValue)) != 0 }) }
      let parameter = Parameter(rawValue: Int32(row.size_param)) ?? .smallCopyMax
      let size: SizeRule
      switch Int32(row.size_rule) {
      case ZC_SIZE_AT_MOST: size = .atMost(parameter)
      case ZC_SIZE_ABOVE: size = .above(parameter)
      default: size = .any
      }
      let methods = withUnsafeBytes(of: row.methods) { raw in
        raw.prefix { $0 != 0 }.compactMap { Method(rawValue: $0) }
      }
      return Row(
        sources: kinds(row.sources), destinations: kinds(row.destinations),
        required: PairFacts(rawValue: row.require), excluded: PairFacts(rawValue: row.exclude), size: size,
        methods: methods, why: row.why.map { String(cString: $0) } ?? "")
    }
  }()

  /// The methods to try, best first, for a transfer between endpoints of these kinds.
  ///
  /// - Parameters:
  ///   - source: The source's kind.
  ///   - destination: The destination's kind.
  ///   - facts: Facts about the pair (same filesystem, `O_APPEND` destination).
  ///   - bytes: The bytes to move, or nil when unknown.
  ///   - parameters: The table's parameters.
  /// - Returns: At least one method; the last is always ``Method/readWrite``.
  ///
  /// The corresponding C function is `zc_plan`.
  public static func methods(
    source: EndpointKind, destination: EndpointKind, facts: PairFacts = [], bytes: Int64?,
    parameters: Parameters = .default
  ) -> [Method] {
    var c = parameters.c
    var out: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
    let count = withUnsafeMutableBytes(of: &out) { raw in
      zc_plan(
        &c, source.rawValue, destination.rawValue, facts.rawValue, bytes.map { UInt64(Swift.max(0, $0)) } ?? UInt64.max,
        raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    guard count > 0 else { return [.readWrite] }
    return withUnsafeBytes(of: out) { raw in raw.prefix(Int(count)).compactMap { Method(rawValue: $0) } }
  }

  /// The facts a plan for this transfer needs beyond those known without a system call:
  /// adds ``PairFacts/kernelCopy`` (one `fstatfs` of `destinationDescriptor`) when, and
  /// only when, it changes the row the table picks — and, for a plan made for one
  /// transfer, only when the row it leads to is not a small-copy row (at most
  /// `smallCopyMax` bytes): there the `fstatfs` costs more than the row saves (4 KiB on
  /// ext4: 0.43–0.49 µs against 0.19), so a small one-shot copy pays nothing for it. A plan
  /// that is reused (`reused: true`, a prepared pair's) pays it there too, once. An
  /// `fstatfs` that fails leaves the fact out.
  ///
  /// The corresponding C functions are `zc_plan_facts` and `zc_plan_facts_reused`.
  ///
  /// - Parameters:
  ///   - facts: The facts known so far (same filesystem, `O_APPEND` destination).
  ///   - source: The source's kind.
  ///   - destination: The destination's kind.
  ///   - bytes: The bytes to move, or nil when unknown.
  ///   - parameters: The table's parameters.
  ///   - destinationDescriptor: The destination, for `fstatfs`.
  ///   - reused: Whether the plan is made once for many transfers of these descriptors.
  /// - Returns: `facts`, with the facts it found.
  public static func facts(
    _ facts: PairFacts, source: EndpointKind, destination: EndpointKind, bytes: Int64?, parameters: Parameters,
    destinationDescriptor: FileDescriptor, reused: Bool = false
  ) -> PairFacts {
    var c = parameters.c
    let size = bytes.map { UInt64(Swift.max(0, $0)) } ?? UInt64.max
    let found =
      reused
      ? zc_plan_facts_reused(
        &c, source.rawValue, destination.rawValue, facts.rawValue, size, destinationDescriptor.rawValue)
      : zc_plan_facts(&c, source.rawValue, destination.rawValue, facts.rawValue, size, destinationDescriptor.rawValue)
    return PairFacts(rawValue: found)
  }

  /// Whether the filesystem behind `descriptor` is one whose `copy_file_range` copies
  /// bytes in the kernel (ext2/3/4, tmpfs), where splicing loses no reflink and no
  /// server-side copy. The corresponding C function is `zc_fs_copies_in_kernel`.
  ///
  /// - Throws: The errno of `fstatfs` (`EBADF`…).
  public static func fileSystemCopiesInKernel(_ descriptor: FileDescriptor) throws(Errno) -> Bool {
    let rc = zc_fs_copies_in_kernel(descriptor.rawValue)
    if rc < 0 { throw Errno(rawValue: -rc) }
    return rc == 1
  }

  /// Whether a method that failed with `errno` before delivering any byte lets the next
  /// method of the plan try ("not here": `EXDEV`, `EINVAL`, `ENOSYS`, `EOPNOTSUPP`,
  /// `EPERM`, `ENODEV`). The corresponding C function is `zc_fallback_errno`.
  public static func isFallback(_ errno: Errno) -> Bool { zc_fallback_errno(errno.rawValue) != 0 }

  /// Every errno for which ``isFallback(_:)`` is true, read from C's `zc_fallback_errno`
  /// once (errno values 1–4095 are asked): the one list, used by ZeroCopy's
  /// `TransferContext.fallbackErrnos` too.
  public static let fallbackErrnos: Set<Errno> = Set((1...4095).map { Errno(rawValue: $0) }.filter(isFallback))
}
