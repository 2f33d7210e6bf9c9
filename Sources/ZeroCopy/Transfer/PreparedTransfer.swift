// Two descriptors inspected once, for many transfers between them: the per-call
// inspection (two to four system calls per descriptor) paid once.

public import SystemPackage

/// A source and a destination inspected once, for many transfers between them: a server
/// sending many ranges of one file, a log shipper appending to one socket, a copier
/// writing many pieces.
///
/// ``Transfer/runBlocking(_:strategy:options:)`` inspects both descriptors on every call
/// (`fstat` and `fcntl(F_GETFL)` each, `getsockopt(SO_DOMAIN/SO_TYPE)` for a socket, and
/// an `fstatfs` for a file of 0 or 4,096 bytes on a filesystem without a block device):
/// for a 4 KiB transfer that costs more than moving the bytes. A prepared transfer holds
/// what the inspection found (an ``EndpointPair``) and runs each transfer with it:
///
/// ```swift
/// import SystemPackage
/// import ZeroCopy
///
/// func sendPieces(of file: FileDescriptor, to socket: FileDescriptor) throws(ZeroCopyError) {
///   let prepared = try PreparedTransfer(from: file, to: socket)
///   for start in stride(from: Int64(0), to: 1 << 20, by: 4096) {
///     let report = try prepared.runBlocking(offset: start, count: 4096)
///     if report.sourceEndedEarly { break }
///   }
/// }
/// ```
///
/// The inspection is a snapshot: what it found must stay true while the prepared
/// transfer is used — the same open descriptors (not closed and reused for something
/// else), the same `O_APPEND`/`O_NONBLOCK` flags. Prepare again after changing them. A
/// file's size is the one fact read again: a transfer without a `count` reads the source's
/// size then (one `fstat`), as ``Transfer/runBlocking(_:strategy:options:)`` does.
///
/// `.automatic`'s plan (the strategies it tries, in order) is made by the first transfer of
/// each size class — the sizes on the same side of each of the table's crossovers — and
/// reused by later ones without a lock; a same-filesystem copy above `copyFileRangeMax`
/// pays its `fstatfs` of the destination once. Copies of a prepared transfer share it, and
/// it may be used from several threads at once.
///
/// The corresponding C calls are those of the strategy that runs; preparing calls
/// `zc_endpoint_inspect` (C programs keep its `zc_endpoint` the same way).
public struct PreparedTransfer: Sendable {
  /// What the inspection found.
  public var endpoints: EndpointPair { state.endpoints }

  /// What one preparation holds, shared by every copy of the prepared transfer: the
  /// endpoints, and `.automatic`'s plans for them by size class.
  private final class State: Sendable {
    let endpoints: EndpointPair
    let plans = AutomaticPlanCache()

    init(_ endpoints: EndpointPair) {
      self.endpoints = endpoints
    }
  }

  private let state: State

  /// How many `.automatic` plans this prepared pair has computed (tests: a second
  /// transfer of the same size class computes none).
  internal var planComputations: Int { state.plans.computations }

  /// Inspects `source` and `destination` once.
  ///
  /// - Parameters:
  ///   - source: A file, pipe or socket; not closed.
  ///   - sourcePath: Its path, if known, for error messages.
  ///   - destination: A file, pipe or socket; not closed.
  ///   - destinationPath: Its path, if known, for error messages.
  /// - Throws: ``ZeroCopyError`` (operation `transfer`) naming the call that failed:
  ///   `fstat` (`EBADF` for a closed descriptor) or `fcntl`.
  public init(
    from source: FileDescriptor, sourcePath: FilePath? = nil, to destination: FileDescriptor,
    destinationPath: FilePath? = nil
  ) throws(ZeroCopyError) {
    state = State(
      EndpointPair(
        source: try TransferEndpoint.inspect(source, path: sourcePath),
        destination: try TransferEndpoint.inspect(destination, path: destinationPath)))
  }

  /// Uses endpoints inspected elsewhere (``TransferEndpoint/inspect(_:path:)``: for
  /// example a connection's socket inspected once, paired with each file it sends).
  public init(_ endpoints: EndpointPair) {
    state = State(endpoints)
  }

  /// The request a transfer of this pair describes.
  private func request(offset: Int64?, count: Int64?, at destinationOffset: Int64?) -> TransferRequest {
    let endpoints = state.endpoints
    return TransferRequest(
      from: endpoints.source.descriptor, offset: offset, count: count, to: endpoints.destination.descriptor,
      at: destinationOffset, sourcePath: endpoints.source.path, destinationPath: endpoints.destination.path)
  }

  /// The endpoints for a transfer of `count` bytes: "until the end" (nil) of a file means
  /// its size now, not when the pair was prepared (one `fstat`).
  private func endpoints(count: Int64?) throws(ZeroCopyError) -> EndpointPair {
    let endpoints = state.endpoints
    guard count == nil && endpoints.source.kind == .file else { return endpoints }
    return EndpointPair(source: try endpoints.source.refreshingSize(), destination: endpoints.destination)
  }

  /// Moves bytes from the source to the destination on the calling thread, as
  /// ``Transfer/runBlocking(_:strategy:options:)`` does, without inspecting them again.
  ///
  /// - Parameters:
  ///   - offset: Where to read a file source; nil for its current position (advanced).
  ///     - Precondition: not negative.
  ///   - count: How many bytes; nil for "until the source ends" (a file: its size now).
  ///     - Precondition: not negative.
  ///   - destinationOffset: Where to write a file destination; nil for its current
  ///     position (advanced). - Precondition: not negative.
  ///   - strategy: `.automatic` (the default), a built-in, a registered one or your own.
  ///   - options: Fallback, chunk size, monitor.
  /// - Returns: The report, as ``Transfer/runBlocking(_:strategy:options:)``'s.
  /// - Throws: ``ZeroCopyError``, as ``Transfer/runBlocking(_:strategy:options:)``.
  public func runBlocking(
    offset: Int64? = nil, count: Int64? = nil, at destinationOffset: Int64? = nil,
    strategy: some TransferStrategy = .automatic, options: TransferOptions = TransferOptions()
  ) throws(ZeroCopyError) -> TransferReport {
    try Transfer.perform(
      request(offset: offset, count: count, at: destinationOffset), strategy: strategy, options: options,
      operation: .transfer, endpoints: endpoints(count: count), plans: state.plans)
  }

  /// Moves bytes from the source to the destination, as
  /// ``Transfer/run(_:strategy:options:)`` does (on the calling task's thread when it is
  /// small and cannot wait for a peer: ``TransferOptions/inlineLimit``), without
  /// inspecting them again.
  ///
  /// - Parameters: As ``runBlocking(offset:count:at:strategy:options:)``'s.
  /// - Returns: The report.
  /// - Throws: ``ZeroCopyError``, as ``Transfer/run(_:strategy:options:)``; `ECANCELED`
  ///   when the task is cancelled.
  public func run(
    offset: Int64? = nil, count: Int64? = nil, at destinationOffset: Int64? = nil,
    strategy: some TransferStrategy = .automatic, options: TransferOptions = TransferOptions()
  ) async throws(ZeroCopyError) -> TransferReport {
    try await Transfer.runAsync(
      request(offset: offset, count: count, at: destinationOffset), endpoints: endpoints(count: count),
      strategy: strategy, options: options, plans: state.plans)
  }
}
