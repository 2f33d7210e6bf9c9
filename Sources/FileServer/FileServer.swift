// A static file server over HTTP/1.1 on ZeroCopy's engine and Transfer strategies.

import Glibc
public import Logging
import Synchronization
public import SystemPackage
public import ZeroCopy

/// Serves the files of one directory over HTTP/1.1: bodies go from the file to the socket
/// through a ``ZeroCopy/TransferStrategy`` (`.automatic` by default: `sendfile`), requests
/// are read on the ``ZeroCopy/IOEngine`` (io_uring, or its thread-pool fallback).
///
/// ```swift
/// import FileServer
///
/// let server = try FileServer(root: "public", configuration: .init(port: 8080))
/// await server.run()          // until shutdown(gracePeriod:) is called
/// ```
///
/// - GET and HEAD; keep-alive and pipelining; one range (206) or several (206
///   multipart/byteranges), 416 when none is satisfiable; `ETag` / `Last-Modified` and
///   the conditional headers (304, 412); `Content-Type` from the extension; `index.html`
///   for a directory ("/dir/"), a 301 to "/dir/" for "/dir"; 404 for a directory without
///   an index (no listings); 405 with `Allow` for other methods; 400/414/431/501/505 for
///   malformed requests. Statuses and fields follow nginx's for the same request (the
///   differences are listed in Docs/Serve.md).
/// - Paths never leave the root: the target is decoded and normalized (".." above the
///   root is 400), then opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`
///   (symlinks leading out and `/proc` magic links: 403), or with a component walk that
///   refuses every symlink where `openat2` is unavailable (``PathResolution``).
/// - Sockets are non-blocking. A body is sent in pieces no larger than what the socket can
///   take now (its send buffer's free space); between pieces the connection waits for
///   writability on ``ZeroCopy/Readiness`` without holding a thread, so a client that
///   stops reading costs one idle registration, never a thread. A transfer that still
///   finds the socket full (the estimate was short) is cancelled by the watchdog within
///   about 0.1–0.2 s and resumed after the wait, from the exact byte it reached.
/// - Limits: connections (accepting pauses at the limit), head size and field count,
///   header timeout (a slowloris client is answered 408 and dropped), idle keep-alive
///   timeout, send timeout (no progress), requests per connection.
public final class FileServer: Sendable {
  /// How the server behaves; every limit has nginx's default or close to it.
  public struct Configuration: Sendable {
    /// The address to listen on: an IPv4 or IPv6 literal, or `localhost`. Default
    /// `127.0.0.1` (loopback only).
    public var host: String
    /// The TCP port; 0 lets the kernel choose (see ``FileServer/port``). Default 8080.
    public var port: UInt16
    /// How bodies are moved from the file to the socket. Default `.automatic`.
    public var strategy: any TransferStrategy
    /// Whether a strategy that cannot work here gives way to `.automatic`'s choices
    /// (``ZeroCopy/TransferOptions/allowFallback``). Default true.
    public var allowFallback: Bool
    /// The most connections open at once; accepting pauses at the limit. Clamped to half
    /// the descriptor limit (a connection can hold a socket and a file). Default 4096.
    public var maxConnections: Int
    /// The longest request line (414 beyond). Default 8 KiB.
    public var maxRequestLineBytes: Int
    /// The largest request head: request line, fields, empty line (431 beyond). Default 16 KiB.
    public var maxHeadBytes: Int
    /// The most header fields (431 beyond). Default 100.
    public var maxHeaderFields: Int
    /// The time a client has to send a whole request head once it started, and to start
    /// the first one after connecting; then 408 and close. Default 20 s.
    public var headerTimeout: Duration
    /// How long a keep-alive connection may wait for its next request. Default 75 s.
    public var idleTimeout: Duration
    /// How long a response may make no progress (the client not reading) before the
    /// connection is closed. Default 60 s.
    public var sendTimeout: Duration
    /// The most requests on one connection; the last response says `Connection: close`.
    /// Default 1000.
    public var maxRequestsPerConnection: Int
    /// The file served for a directory ("/dir/"). Default `index.html`.
    public var indexFile: String
    /// How paths are kept inside the root. Default ``PathResolution/automatic``.
    public var pathResolution: PathResolution
    /// Where each response is logged (at `.info`: client, request line, status, body
    /// bytes, strategy, time), or nil for no access log. Default nil.
    public var accessLog: Logger?
    /// Errors the server hits (accept failures, transfer errors) are logged here at
    /// `.warning`, or nowhere when nil. Default nil.
    public var errorLog: Logger?
    /// The engine for accepting and receiving. Default ``ZeroCopy/IOEngine/default``.
    public var engine: IOEngine
    /// The `Server` field. Default `zc`.
    public var serverName: String
    /// The listen backlog. Default 511 (nginx's).
    public var backlog: Int32
    /// Body pieces up to this size, when the socket has room for twice as much, are sent
    /// with `Transfer.runBlocking` on the connection's own thread instead of
    /// `Transfer.run`'s worker thread: the hand-off costs more than a small `sendfile`
    /// (measured: about a quarter of the server's CPU per 4 KiB response). A read from a
    /// cold page cache then blocks that thread for one such piece, as it blocks an nginx
    /// worker. 0 sends every piece through `Transfer.run`. Never used for strategies that
    /// need a blocking socket (io_uring). Default 64 KiB.
    public var inlineTransferLimit: Int

    /// A configuration; every parameter has the default described on its property.
    public init(
      host: String = "127.0.0.1", port: UInt16 = 8080, strategy: any TransferStrategy = .automatic,
      allowFallback: Bool = true, maxConnections: Int = 4096, maxRequestLineBytes: Int = 8192,
      maxHeadBytes: Int = 16384, maxHeaderFields: Int = 100, headerTimeout: Duration = .seconds(20),
      idleTimeout: Duration = .seconds(75), sendTimeout: Duration = .seconds(60), maxRequestsPerConnection: Int = 1000,
      indexFile: String = "index.html", pathResolution: PathResolution = .automatic, accessLog: Logger? = nil,
      errorLog: Logger? = nil, engine: IOEngine = .default, serverName: String = "zc", backlog: Int32 = 511,
      inlineTransferLimit: Int = 64 << 10
    ) {
      self.host = host
      self.port = port
      self.strategy = strategy
      self.allowFallback = allowFallback
      self.maxConnections = maxConnections
      self.maxRequestLineBytes = maxRequestLineBytes
      self.maxHeadBytes = maxHeadBytes
      self.maxHeaderFields = maxHeaderFields
      self.headerTimeout = headerTimeout
      self.idleTimeout = idleTimeout
      self.sendTimeout = sendTimeout
      self.maxRequestsPerConnection = maxRequestsPerConnection
      self.indexFile = indexFile
      self.pathResolution = pathResolution
      self.accessLog = accessLog
      self.errorLog = errorLog
      self.engine = engine
      self.serverName = serverName
      self.backlog = backlog
      self.inlineTransferLimit = inlineTransferLimit
    }
  }

  /// Counters, for tests, benchmarks and monitoring (relaxed atomics: a snapshot may lag).
  public struct Statistics: Sendable, Hashable, CustomStringConvertible {
    /// Connections accepted.
    public var connectionsAccepted: Int
    /// Connections open now.
    public var connectionsOpen: Int
    /// Requests answered (any status).
    public var requests: Int
    /// Body bytes sent by transfers.
    public var bodyBytes: Int64
    /// Connections closed by the header, idle or send timeout.
    public var timeouts: Int
    /// Transfers the watchdog cancelled because the socket stayed full (then resumed).
    public var stalledTransfers: Int
    /// Transfers that failed (the client reset or closed mid-body, or an I/O error).
    public var failedTransfers: Int

    /// One line.
    public var description: String {
      "accepted \(connectionsAccepted), open \(connectionsOpen), requests \(requests), body bytes \(bodyBytes), timeouts \(timeouts), stalled transfers \(stalledTransfers), failed transfers \(failedTransfers)"
    }
  }

  /// The served directory.
  public let root: FilePath
  /// The configuration, with `maxConnections` clamped.
  public let configuration: Configuration
  /// The resolution in use: ``PathResolution/openat2`` or ``PathResolution/componentWalk``.
  public var pathResolution: PathResolution { rootDirectory.resolution }
  /// The port listened on (the kernel's choice when the configuration said 0).
  public let port: UInt16

  internal let rootDirectory: RootDirectory
  internal let listener: AsyncSocket
  internal let counters = Counters()
  internal let registry = ConnectionRegistry()
  internal let draining = Atomic<Bool>(false)
  private let shutdownRequested = Atomic<Bool>(false)
  private let started = Atomic<Bool>(false)
  private let slots: ConnectionSlots
  internal let dateCache = DateCache()
  /// Whether the strategy refuses non-blocking sockets (the io_uring ones: io_uring answers
  /// `EAGAIN` there instead of waiting); its pieces are then sent with the socket switched
  /// to blocking mode (a piece fits in the free send space, so it does not wait).
  internal let strategyNeedsBlockingSocket: Bool

  /// Opens `root` and starts listening (so that the port is known and taken when this
  /// returns); serving starts with ``run()``.
  ///
  /// - Throws: ``FileServerError``: the root cannot be opened (`ENOENT`, `ENOTDIR`,
  ///   `EACCES`), `openat2` was required but is unavailable, the host is not an address,
  ///   or binding fails (`EADDRINUSE`, `EACCES` below port 1024).
  ///
  /// The corresponding C calls are `open(O_PATH | O_DIRECTORY)`, `socket`, `setsockopt`,
  /// `bind`, `listen`.
  public init(root: FilePath, configuration: Configuration = Configuration()) throws(FileServerError) {
    precondition(configuration.maxConnections > 0, "FileServer: maxConnections must be positive")
    precondition(
      configuration.maxHeadBytes >= 256 && configuration.maxRequestLineBytes >= 64, "FileServer: head limits too small")
    precondition(configuration.maxRequestsPerConnection > 0, "FileServer: maxRequestsPerConnection must be positive")
    var configuration = configuration
    var limit = rlimit()
    if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < UInt(Int.max) {
      configuration.maxConnections = max(1, min(configuration.maxConnections, (Int(limit.rlim_cur) - 32) / 2))
    }
    self.root = root
    self.configuration = configuration
    rootDirectory = try RootDirectory(path: root, resolution: configuration.pathResolution)
    let address: SocketAddress
    do {
      address = try Self.address(configuration.host, port: configuration.port)
      listener = try AsyncSocket.listen(on: address, backlog: configuration.backlog, engine: configuration.engine)
      port = try listener.localAddress().port ?? configuration.port
    } catch {
      throw FileServerError(
        .listen, syscall: error.syscall, errno: error.errno,
        message: error.message ?? "listening on \(configuration.host):\(configuration.port)")
    }
    slots = ConnectionSlots(limit: configuration.maxConnections)
    let file = TransferEndpoint(descriptor: FileDescriptor(rawValue: -1), kind: .file, size: 1 << 20)
    func socket(nonBlocking: Bool) -> TransferEndpoint {
      TransferEndpoint(descriptor: FileDescriptor(rawValue: -1), kind: .tcpSocket, isNonBlocking: nonBlocking)
    }
    let strategy = configuration.strategy
    let nonBlocking = strategy.support(for: EndpointPair(source: file, destination: socket(nonBlocking: true)))
    let blocking = strategy.support(for: EndpointPair(source: file, destination: socket(nonBlocking: false)))
    switch (nonBlocking, blocking) {
    case (.unsupported, .supported):
      strategyNeedsBlockingSocket = true
    case (.unsupported(let reason), .unsupported) where !configuration.allowFallback:
      throw FileServerError(
        .configuration, syscall: "none", errno: .notSupported,
        message: "strategy \(strategy.name) cannot send files to sockets (\(reason)) and fallback is disabled")
    default:
      strategyNeedsBlockingSocket = false
    }
  }

  /// A server for `root` on `host:port` with the other settings at their defaults.
  ///
  /// - Throws: As ``init(root:configuration:)``.
  public convenience init(root: FilePath, host: String = "127.0.0.1", port: UInt16) throws(FileServerError) {
    try self.init(root: root, configuration: Configuration(host: host, port: port))
  }

  private static func address(_ host: String, port: UInt16) throws(ZeroCopyError) -> SocketAddress {
    let literal = host == "localhost" ? "127.0.0.1" : host
    if literal.contains(":") { return try .ipv6(literal.trimmingCharacters(in: "[]"), port: port) }
    return try .ipv4(literal, port: port)
  }

  /// A snapshot of the counters.
  public var statistics: Statistics {
    Statistics(
      connectionsAccepted: counters.accepted.load(ordering: .relaxed), connectionsOpen: registry.count,
      requests: counters.requests.load(ordering: .relaxed), bodyBytes: counters.bodyBytes.load(ordering: .relaxed),
      timeouts: counters.timeouts.load(ordering: .relaxed), stalledTransfers: counters.stalled.load(ordering: .relaxed),
      failedTransfers: counters.failedTransfers.load(ordering: .relaxed))
  }

  /// Accepts and serves connections until ``shutdown(gracePeriod:)``; returns once every
  /// connection is closed.
  ///
  /// The accept loop and the connections run as tasks that prefer the engine's executor
  /// (on the io_uring engine, its thread runs their jobs and submissions); bodies are
  /// transferred on the Transfer API's worker threads (small pieces inline, see
  /// ``Configuration/inlineTransferLimit``); a watchdog thread enforces the timeouts every
  /// 0.1 s.
  ///
  /// - Precondition: Called once.
  public func run() async {
    precondition(!started.exchange(true, ordering: .relaxed), "FileServer.run: called twice")
    // The watchdog is a thread of its own, not a task: it must keep its 0.1 s ticks when
    // the engine's thread is blocked by an inline transfer (see inlineTransferLimit) and
    // when the program keeps Swift's cooperative threads busy.
    let watchdog = Watchdog(registry: registry, counters: counters)
    await withTaskExecutorPreference(configuration.engine.preferredTaskExecutor) {
      await acceptLoop()
    }
    // Stopped accepting: wait for the connections (shutdown(gracePeriod:) ends them).
    await registry.waitUntilEmpty()
    watchdog.stop()
  }

  /// Stops the server gracefully: no more connections are accepted, idle keep-alive
  /// connections are closed, responses in progress finish (their connections then close)
  /// until `gracePeriod` has passed, when the remaining connections are closed. Returns
  /// when every connection is closed. Safe to call more than once, from any task.
  public func shutdown(gracePeriod: Duration = .seconds(10)) async {
    if !shutdownRequested.exchange(true, ordering: .acquiringAndReleasing) {
      draining.store(true, ordering: .releasing)
      try? await listener.close()
      slots.stop()
      registry.cancelIdle()
    }
    let deadline = ContinuousClock.now + gracePeriod
    while registry.count > 0 && ContinuousClock.now < deadline {
      registry.cancelIdle()
      try? await Task.sleep(for: .milliseconds(20))
    }
    registry.cancelAll()
    await registry.waitUntilEmpty()
  }

  // MARK: - Accepting

  private func acceptLoop() async {
    let executor = configuration.engine.preferredTaskExecutor
    while !draining.load(ordering: .acquiring) {
      guard await slots.acquire() else { break }
      let socket: AsyncSocket
      do {
        socket = try await listener.accept()
      } catch {
        slots.release()
        if draining.load(ordering: .acquiring) || error.errno == .canceled || error.errno == .badFileDescriptor { break }
        configuration.errorLog?.warning("accept failed: \(error)")
        // EMFILE/ENFILE/ENOBUFS: give closing connections a moment (nginx pauses accepting too).
        if error.errno != .connectionAbort { try? await Task.sleep(for: .milliseconds(100)) }
        continue
      }
      counters.accepted.add(1, ordering: .relaxed)
      let connection = ConnectionState(socket: socket)
      registry.insert(connection)
      let task = Task(executorPreference: executor) {
        var handler = Connection(server: self, state: connection)
        await handler.serve()
        self.registry.remove(connection)
        self.slots.release()
      }
      connection.attach(task)
    }
  }

}

/// An error from ``FileServer/init(root:configuration:)``.
public struct FileServerError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What failed.
  public enum Kind: String, Sendable, Hashable {
    /// Opening the root directory (or `openat2` required and unavailable).
    case root
    /// Parsing the address, creating, binding or listening on the socket.
    case listen
    /// The configuration cannot work: a strategy that cannot send files to sockets, with
    /// fallback disabled.
    case configuration
  }
  /// What failed.
  public let kind: Kind
  /// The system call (`open`, `openat2`, `bind`, `inet_pton`…).
  public let syscall: String
  /// The errno.
  public let errno: Errno
  /// Context.
  public let message: String

  init(_ kind: Kind, syscall: String, errno: Errno, message: String) {
    self.kind = kind
    self.syscall = syscall
    self.errno = errno
    self.message = message
  }

  /// "message: syscall failed: errno".
  public var description: String { "\(message): \(syscall) failed: \(errno)" }
}

// MARK: - Shared state

/// The server's counters.
internal final class Counters: Sendable {
  let accepted = Atomic<Int>(0)
  let requests = Atomic<Int>(0)
  let bodyBytes = Atomic<Int64>(0)
  let timeouts = Atomic<Int>(0)
  let stalled = Atomic<Int>(0)
  let failedTransfers = Atomic<Int>(0)
}

/// A monotonic clock in nanoseconds (`CLOCK_MONOTONIC`).
internal func monotonicNanoseconds() -> Int64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// The Date field's value, formatted once per second.
internal final class DateCache: Sendable {
  private let cached = Mutex<(Int64, String)>((-1, ""))

  var now: String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    let second = Int64(ts.tv_sec)
    return cached.withLock { entry in
      if entry.0 != second { entry = (second, HTTPDate.format(second)) }
      return entry.1
    }
  }
}

/// Counts open connections against the limit; `acquire` waits for a free slot.
internal final class ConnectionSlots: Sendable {
  private struct State {
    var available: Int
    var stopped = false
    var waiter: CheckedContinuation<Bool, Never>?
  }
  private let state: Mutex<State>

  init(limit: Int) { state = Mutex(State(available: limit)) }

  /// Takes a slot, waiting for one if none is free; false once stopped.
  func acquire() async -> Bool {
    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
      let ready: Bool? = state.withLock { s in
        if s.stopped { return false }
        if s.available > 0 {
          s.available -= 1
          return true
        }
        s.waiter = continuation
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
  }

  func release() {
    let waiter: CheckedContinuation<Bool, Never>? = state.withLock { s in
      if let w = s.waiter {
        s.waiter = nil
        return w
      }
      s.available += 1
      return nil
    }
    waiter?.resume(returning: true)
  }

  func stop() {
    let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
      s.stopped = true
      defer { s.waiter = nil }
      return s.waiter
    }
    waiter?.resume(returning: false)
  }
}

/// Every 0.1 s, on a thread of its own: closes connections past their deadline, and
/// cancels transfers that made no progress for two ticks while their socket is full (they
/// resume after a readiness wait). Stops within a tick of ``stop()``.
internal final class Watchdog: Sendable {
  private final class Flag: Sendable {
    let stopped = Atomic<Bool>(false)
  }
  private let flag = Flag()

  init(registry: ConnectionRegistry, counters: Counters) {
    let flag = self.flag
    let box = Unmanaged.passRetained(
      WatchdogBody {
        while !flag.stopped.load(ordering: .relaxed) {
          usleep(100_000)
          let now = monotonicNanoseconds()
          for connection in registry.snapshot() { connection.check(now: now, counters: counters) }
        }
      })
    var thread = pthread_t()
    let rc = pthread_create(
      &thread, nil,
      { context in
        Unmanaged<WatchdogBody>.fromOpaque(context!).takeRetainedValue().run()
        return nil
      }, box.toOpaque())
    precondition(rc == 0, "FileServer: the watchdog thread could not start (pthread_create: \(rc))")
    pthread_detach(thread)
  }

  func stop() { flag.stopped.store(true, ordering: .relaxed) }
}

private final class WatchdogBody {
  let run: @Sendable () -> Void
  init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// The open connections, for the watchdog and for shutdown.
internal final class ConnectionRegistry: Sendable {
  private struct State {
    var connections: [ObjectIdentifier: ConnectionState] = [:]
    var emptyWaiters: [CheckedContinuation<Void, Never>] = []
  }
  private let state = Mutex(State())

  var count: Int { state.withLock { $0.connections.count } }

  func insert(_ c: ConnectionState) {
    state.withLock { $0.connections[ObjectIdentifier(c)] = c }
  }

  func remove(_ c: ConnectionState) {
    let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
      s.connections[ObjectIdentifier(c)] = nil
      guard s.connections.isEmpty else { return [] }
      defer { s.emptyWaiters.removeAll() }
      return s.emptyWaiters
    }
    for w in waiters { w.resume() }
  }

  func snapshot() -> [ConnectionState] { state.withLock { Array($0.connections.values) } }

  func waitUntilEmpty() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let empty = state.withLock { s -> Bool in
        if s.connections.isEmpty { return true }
        s.emptyWaiters.append(continuation)
        return false
      }
      if empty { continuation.resume() }
    }
  }

  /// Cancels connections waiting for a request with nothing received (shutdown).
  func cancelIdle() {
    for c in snapshot() where c.isIdle { c.cancel() }
  }

  func cancelAll() {
    for c in snapshot() { c.cancel() }
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    var s = Substring(self)
    while let f = s.first, set.contains(f) { s = s.dropFirst() }
    while let l = s.last, set.contains(l) { s = s.dropLast() }
    return String(s)
  }
}
