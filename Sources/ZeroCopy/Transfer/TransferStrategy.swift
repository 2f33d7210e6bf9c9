// The strategy protocol: one way of moving bytes between two descriptors.

public import SystemPackage

/// A way of moving bytes from one descriptor to another: `read`/`write`, `sendfile`,
/// `splice`, `copy_file_range`, io_uring… or your own.
///
/// A strategy is **synchronous**: ``transfer(_:)`` moves the bytes with blocking system
/// calls on the calling thread. The async ``Transfer`` API calls it on a small pool of
/// worker threads, off Swift's cooperative pool (only small transfers through the built-in
/// system-call strategies run on the task's thread: ``TransferOptions/inlineLimit``);
/// ``Transfer/runBlocking(_:strategy:options:)`` calls it on yours.
///
/// To add a strategy, conform a type and register it:
///
/// ```swift
/// import Glibc
/// import SystemPackage
/// import ZeroCopy
///
/// struct PreadPwrite: TransferStrategy {
///   let name = "preadPwrite"
///   let summary = "pread/pwrite through a 64 KiB Swift array"
///   func support(for pair: EndpointPair) -> StrategySupport {
///     pair.source.isSeekable && pair.destination.isSeekable ? .supported : .unsupported("files only")
///   }
///   func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome {
///     var buffer = [UInt8](repeating: 0, count: 65536)
///     while let chunk = context.nextChunk(limit: buffer.count) {
///       try context.checkCancellation()
///       let source = context.source.descriptor.rawValue, from = off_t(context.sourceOffset!)
///       let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, chunk, from) }
///       if n < 0 { throw context.error(syscall: "pread", errno: Errno(rawValue: errno)) }
///       if n == 0 { return .sourceEnded }
///       let destination = context.destination.descriptor.rawValue, to = off_t(context.destinationOffset!)
///       let written = buffer.withUnsafeBytes { pwrite(destination, $0.baseAddress, n, to) }
///       if written < 0 { throw context.error(syscall: "pwrite", errno: Errno(rawValue: errno)) }
///       context.record(bytes: Int64(written), syscalls: 2)
///     }
///     return .complete
///   }
/// }
/// TransferStrategies.register(PreadPwrite())   // now `zc copy --strategy preadPwrite`
/// ```
///
/// **Contract.** A strategy moves `context.remainingBytes` bytes (or, when that is `nil`,
/// everything up to the source's end) from `context.sourceOffset` (nil: a stream) to
/// `context.destinationOffset` (nil: a stream, or an append-only file), and calls
/// ``TransferContext/record(bytes:syscalls:)`` for every byte delivered, so the report,
/// the progress display and a failure's byte count are exact. It checks
/// ``TransferContext/checkCancellation()`` between chunks. It throws a
/// ``ZeroCopyError`` built with ``TransferContext/error(syscall:errno:message:)`` when a
/// system call fails; if nothing was delivered yet and the errno means "not here"
/// (`EXDEV`, `EINVAL`, `ENOSYS`, `EOPNOTSUPP`, `EPERM`, `ENODEV`), `.automatic` falls
/// back to the next strategy. It must not close either descriptor.
public protocol TransferStrategy: Sendable {
  /// The strategy's unique name: what `zc copy --strategy` accepts and reports show
  /// (built-ins use lowerCamelCase: `sendfile`, `copyFileRange`…).
  var name: String { get }
  /// One line saying how it moves bytes (`zc strategies` prints it).
  var summary: String { get }
  /// Whether the strategy can move bytes between these two kinds of endpoint, and if
  /// not, why. Called before ``transfer(_:)``; must be cheap and must not do I/O.
  func support(for pair: EndpointPair) -> StrategySupport
  /// Moves the bytes described by `context` (see the protocol's contract).
  ///
  /// - Returns: ``StrategyOutcome/complete`` when `remainingBytes` reached 0,
  ///   ``StrategyOutcome/sourceEnded`` when the source ended first (always the case for
  ///   "until the end"), or ``StrategyOutcome/unsupported(reason:errno:syscall:)`` when
  ///   it found, before delivering anything, that it cannot work here.
  /// - Throws: ``ZeroCopyError`` (built with ``TransferContext/error(syscall:errno:message:)``).
  func transfer(_ context: inout TransferContext) throws(ZeroCopyError) -> StrategyOutcome
}

extension TransferStrategy {
  /// Whether ``support(for:)`` says ``StrategySupport/supported``.
  public func supports(_ pair: EndpointPair) -> Bool { support(for: pair).isSupported }
}

/// Whether a strategy can move bytes between two kinds of endpoint.
public enum StrategySupport: Sendable, Hashable, CustomStringConvertible {
  /// It can (the kernel may still refuse at run time, e.g. `EXDEV`).
  case supported
  /// It cannot, for this reason ("destination must be a socket", "io_uring is unavailable: …").
  case unsupported(String)

  /// Whether this is ``supported``.
  public var isSupported: Bool { self == .supported }

  /// The reason for ``unsupported(_:)``, or nil.
  public var reason: String? {
    if case .unsupported(let r) = self { return r }
    return nil
  }

  /// "supported" or "unsupported: reason".
  public var description: String {
    switch self {
    case .supported: return "supported"
    case .unsupported(let r): return "unsupported: \(r)"
    }
  }
}

/// How a strategy's ``TransferStrategy/transfer(_:)`` ended without an error.
public enum StrategyOutcome: Sendable, Hashable {
  /// Every requested byte was delivered (`remainingBytes` is 0).
  case complete
  /// The source ended (a read returned 0) — the normal end of an "until the end"
  /// transfer; before the requested count, the source was shorter than asked, which the
  /// transfer reports as ``TransferReport/sourceEndedEarly`` (LinuxIO's "all" calls say
  /// `TransferOutcome.sourceEndedEarly`). One root for the concept: the source *ended*.
  case sourceEnded
  /// The strategy found, before delivering any byte, that it cannot work here (a ring
  /// could not be set up, a registration was refused…). `.automatic` moves on to the
  /// next strategy; an explicitly chosen strategy without fallback fails with `errno`
  /// (or `EOPNOTSUPP`).
  case unsupported(reason: String, errno: Errno?, syscall: String?)

  /// The earlier name of ``sourceEnded``.
  @available(*, deprecated, renamed: "sourceEnded")
  public static var endOfSource: StrategyOutcome { .sourceEnded }
}
