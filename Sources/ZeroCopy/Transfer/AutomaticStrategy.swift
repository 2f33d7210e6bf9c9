// `.automatic`: the decision table of Docs/Transfer.md, with fallbacks. The table itself
// lives in C (CShims/src/plan.c) and is read through LinuxIO's `TransferPlan`, so C's
// `zc_transfer` and this strategy choose from one copy of it, with the same host profile.

public import LinuxIO

/// Chooses a strategy by the endpoints' kinds and the transfer's size, and falls back to
/// the next one when the kernel says "not here" before any byte moved (`EXDEV`, `EINVAL`,
/// `ENOSYS`, `EOPNOTSUPP`, `EPERM`, `ENODEV`, or a first call that moves 0 bytes from a
/// source that is not empty). The report names the strategy that moved the bytes, every
/// fallback, and the profile it decided with.
///
/// The table (Docs/Transfer.md gives the measurement behind each row; LinuxIO's
/// `TransferPlan` holds it as data). Its crossovers are parameters: this host's profile
/// (`zc calibrate`, `TransferPlan.Profile.host`), or the built-in table's, shown here:
///
/// | source | destination | size | tries, in order |
/// |---|---|---|---|
/// | file | file, same ext2/3/4 or tmpfs filesystem | > 128 KiB (`copyFileRangeMax`) | splice, copyFileRange, sendfile, readWrite |
/// | file | file, same ext2/3/4 or tmpfs filesystem, prepared pair | ≤ 16 KiB (`smallCopyMax`) | readWrite |
/// | file | file, same filesystem | any other | copyFileRange, sendfile, readWrite |
/// | file | file, other filesystem | ≤ 16 KiB (`smallCopyMax`) | readWrite |
/// | file | file, other filesystem | > 16 KiB or unknown | sendfile, readWrite |
/// | file | pipe | any known (`pipeSendfileMax`: max) | sendfile, splice, readWrite |
/// | file | pipe | unknown | splice, sendfile, readWrite |
/// | file | socket | ≤ 256 KiB (`socketSendfileMax`) | sendfile, splice, readWrite |
/// | file | socket | > 256 KiB or unknown | splice, sendfile, readWrite |
/// | file | character device | any | sendfile, readWrite |
/// | pipe | anything | any | splice, readWrite |
/// | TCP/Unix socket | anything | any | splice, readWrite |
/// | pseudo file (/proc, /sys), character device, other | anything | any | readWrite |
/// | anything | `O_APPEND` file | any | readWrite |
///
/// An async transfer of at most `TransferOptions.inlineLimit` bytes between a file and a
/// blocking pipe end starts on the task's thread with splice and `SPLICE_F_NONBLOCK`
/// instead (Docs/Transfer.md); a worker moves what the pipe did not take with this table.
///
/// Never chosen: mmapWrite (6× read/write for 4 KiB, 1.4–2.4× for 1 MiB), the io_uring
/// strategies (a ring round trip per piece, on a pooled ring: slower than the plain calls
/// at 4 KiB in `make bench`, Docs/bench/report.md), sendZeroCopy (slower than send on
/// loopback), reflink (copy_file_range already reflinks where the filesystem can, which
/// is why splice replaces it only on ext2/3/4 and tmpfs).
public struct AutomaticStrategy: TransferStrategy {
  /// Transfers of at most this many bytes between two filesystems use read/write with
  /// the built-in table (1.28 vs 1.62 µs for 4 KiB; equal at 16 KiB; sendfile ahead from
  /// 64 KiB): `TransferPlan.Parameters.default.smallCopyMax`.
  public static let smallTransferLimit: Int64 = TransferPlan.Parameters.default.smallCopyMax

  /// The read/write strategy `.automatic` uses with the built-in table's buffer (128 KiB,
  /// smaller for smaller transfers).
  public static let readWrite = ReadWriteStrategy(bufferSize: TransferPlan.Parameters.default.readWriteBufferSize)

  /// What an instance decides with, kept in one immutable object: copying the strategy
  /// (every transfer passes it by value) retains one reference instead of the profile's
  /// strings, and the report's profile name is made once.
  private final class Decision: Sendable {
    let profile: TransferPlan.Profile
    let parameters: TransferPlan.Parameters
    let profileName: String
    let profileNote: String?
    let readWrite: ReadWriteStrategy

    init(_ profile: TransferPlan.Profile) {
      self.profile = profile
      parameters = profile.parameters
      profileName = profile.name
      profileNote = profile.note
      readWrite =
        profile.parameters == .default
        ? AutomaticStrategy.readWrite : ReadWriteStrategy(bufferSize: profile.parameters.readWriteBufferSize)
    }

    /// The host's profile (`TransferPlan.Profile.host`, read once per process).
    static let host = Decision(.host)
  }

  private let decision: Decision

  /// The profile this instance decides with: the host's, the built-in table, or
  /// parameters given to ``init(parameters:)``. Reports name it.
  public var profile: TransferPlan.Profile { decision.profile }

  /// The decision table's parameters this instance decides with (its profile's).
  public var parameters: TransferPlan.Parameters { decision.parameters }

  /// What reports call the profile (`TransferPlan.Profile.name`).
  internal var profileName: String { decision.profileName }
  /// Why a profile file was not used (`TransferPlan.Profile.note`), for the report's notes.
  internal var profileNote: String? { decision.profileNote }

  /// The automatic strategy with this host's profile (`TransferPlan.Profile.host`: the
  /// file `zc calibrate` wrote, or the built-in table when there is none or it cannot
  /// be used — the report's notes then say why).
  public init() {
    decision = .host
  }

  /// The automatic strategy with other parameters (a calibration of your own).
  public init(parameters: TransferPlan.Parameters) {
    decision = Decision(.explicit(parameters))
  }

  /// The automatic strategy with a profile (`TransferPlan.Profile.builtIn`, or one
  /// loaded with `TransferPlan.Profile.load(_:)`).
  public init(profile: TransferPlan.Profile) {
    decision = Decision(profile)
  }

  /// `"automatic"`.
  public var name: String { "automatic" }

  /// One line for `zc strategies`.
  public var summary: String {
    "choose by endpoint kinds and size (Docs/Transfer.md), fall back on EXDEV/EINVAL/ENOSYS/EOPNOTSUPP/EPERM"
  }

  /// Supported between any two descriptors except directories.
  public func support(for pair: EndpointPair) -> StrategySupport {
    if pair.source.kind == .directory || pair.destination.kind == .directory {
      return .unsupported("a directory is not a byte stream")
    }
    return .supported
  }

  /// The strategies `.automatic` tries for `pair`, best first (the table above, read
  /// from LinuxIO's `TransferPlan.methods(source:destination:facts:bytes:parameters:)`).
  ///
  /// - Parameters:
  ///   - pair: The endpoints.
  ///   - bytes: The bytes to move, if known (a range, or a file's size past the offset).
  public func plan(for pair: EndpointPair, bytes: Int64?) -> [any TransferStrategy] {
    plan(for: pair, bytes: bytes, reused: false)
  }

  /// The plan; `reused`: made once for many transfers of this pair (``PreparedTransfer``'s
  /// cache), which pays the filesystem's `fstatfs` for a small same-filesystem copy too
  /// (`TransferPlan.facts(_:source:destination:bytes:parameters:destinationDescriptor:reused:)`).
  internal func plan(for pair: EndpointPair, bytes: Int64?, reused: Bool) -> [any TransferStrategy] {
    var facts: TransferPlan.PairFacts = []
    if pair.isSameFileSystem { facts.insert(.sameFileSystem) }
    if pair.destination.isAppendOnly { facts.insert(.appendOnlyDestination) }
    let source = pair.source.kind
    let destination = pair.destination.kind
    let parameters = self.parameters
    // ext4/tmpfs or not: an fstatfs, paid only when it changes the row (and, for one
    // transfer, not for a small copy).
    facts = TransferPlan.facts(
      facts, source: source, destination: destination, bytes: bytes, parameters: parameters,
      destinationDescriptor: pair.destination.descriptor, reused: reused)
    let methods = TransferPlan.methods(
      source: source, destination: destination, facts: facts, bytes: bytes, parameters: parameters)
    return methods.map { method -> any TransferStrategy in
      switch method {
      case .copyFileRange: return CopyFileRangeStrategy()
      case .sendfile: return SendfileStrategy()
      case .splice: return SpliceStrategy()
      case .readWrite: return decision.readWrite
      }
    }
  }

  /// Runs ``plan(for:bytes:)`` with ``TransferContext/transfer(tryingInOrder:)``.
  ///
  /// - Throws: The error of the strategy that failed after moving bytes, or of the last
  ///   candidate (see ``TransferContext/transfer(tryingInOrder:)``).
  public func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
    let bytes = context.remainingBytes ?? context.source.size.map { Swift.max(0, $0 - (context.sourceOffset ?? 0)) }
    return try context.transfer(tryingInOrder: plan(for: context.pair, bytes: bytes))
  }
}
