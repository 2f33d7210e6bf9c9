// One client connection: read request heads on the engine, answer them in order, send
// bodies through the Transfer strategies in pieces the socket can take now.

import Glibc
import LinuxIO
import Logging
import Synchronization
import SystemPackage
import ZeroCopy

/// What the watchdog knows about a connection (shared between its task and the watchdog).
internal final class ConnectionState: Sendable {
  enum Phase: Int {
    /// Waiting for a request, nothing of it received (shutdown closes these at once).
    case idle = 0
    /// A request head is arriving.
    case head = 1
    /// Answering.
    case responding = 2
  }

  let socket: AsyncSocket
  let phase = Atomic<Int>(Phase.idle.rawValue)
  /// When the current phase times out (`monotonicNanoseconds`), 0 for never.
  let deadline = Atomic<Int64>(0)
  let timedOut = Atomic<Bool>(false)
  private let task = Mutex<(task: Task<Void, Never>?, cancelled: Bool)>((nil, false))
  /// The transfer in flight and what the watchdog saw of it last tick.
  private let watched = Mutex<(monitor: TransferMonitor?, lastBytes: Int64, quietTicks: Int)>((nil, 0, 0))

  init(socket: AsyncSocket) { self.socket = socket }

  var isIdle: Bool { phase.load(ordering: .relaxed) == Phase.idle.rawValue }

  func set(_ p: Phase, deadline nanoseconds: Int64) {
    phase.store(p.rawValue, ordering: .relaxed)
    deadline.store(nanoseconds, ordering: .relaxed)
  }

  func attach(_ t: Task<Void, Never>) {
    let cancelNow = task.withLock { s -> Bool in
      s.task = t
      return s.cancelled
    }
    if cancelNow { t.cancel() }
  }

  func cancel() {
    let t = task.withLock { s -> Task<Void, Never>? in
      s.cancelled = true
      return s.task
    }
    t?.cancel()
  }

  func watch(_ monitor: TransferMonitor?) {
    watched.withLock { $0 = (monitor, 0, 0) }
  }

  /// Called by the watchdog every tick.
  func check(now: Int64, counters: Counters) {
    let d = deadline.load(ordering: .relaxed)
    if d != 0 && now > d {
      if !timedOut.exchange(true, ordering: .relaxed) { counters.timeouts.add(1, ordering: .relaxed) }
      cancel()
      return
    }
    // A transfer that made no progress for a whole tick while the socket is full is
    // waiting on the peer inside a worker thread: cancel it (it reports the exact bytes
    // delivered); the connection waits for writability without a thread, then resumes.
    let stalled = watched.withLock { w -> TransferMonitor? in
      guard let monitor = w.monitor else { return nil }
      let bytes = monitor.bytesTransferred
      if bytes != w.lastBytes {
        w.lastBytes = bytes
        w.quietTicks = 0
        return nil
      }
      w.quietTicks += 1
      guard w.quietTicks >= 2, !isWritable(socket.descriptor) else { return nil }
      w.monitor = nil
      return monitor
    }
    if let stalled {
      counters.stalled.add(1, ordering: .relaxed)
      stalled.cancel()
    }
  }
}

/// Whether `poll` says the socket can take data now.
private func isWritable(_ fd: FileDescriptor) -> Bool {
  var p = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
  return poll(&p, 1, 0) > 0
}

/// Why a connection ends (never surfaced: the connection just closes).
private struct ConnectionEnded: Error {}

/// A piece of a response body.
private enum BodyPart {
  case bytes([UInt8])
  case file(Range<Int64>)
}

/// Serves one connection until it closes.
internal struct Connection: ~Copyable {
  let server: FileServer
  let state: ConnectionState
  private var buffer: AlignedBuffer?
  private var start = 0
  private var end = 0
  private var parser: HTTPRequestParser
  private var requestsServed = 0
  private let fd: Int32
  /// The socket as a transfer destination, inspected once per connection (not per
  /// response: `fstat`, `fcntl` and two `getsockopt` saved each time); nil if that failed,
  /// and then every transfer inspects it.
  private var socketEndpoint: TransferEndpoint?

  init(server: FileServer, state: ConnectionState) {
    self.server = server
    self.state = state
    let c = server.configuration
    parser = HTTPRequestParser(
      limits: .init(maxRequestLineBytes: c.maxRequestLineBytes, maxHeadBytes: c.maxHeadBytes, maxFieldCount: c.maxHeaderFields))
    fd = state.socket.descriptor.rawValue
  }

  private var config: FileServer.Configuration { server.configuration }

  private func deadline(after duration: Duration) -> Int64 {
    let (s, a) = duration.components
    return monotonicNanoseconds() + s * 1_000_000_000 + a / 1_000_000_000
  }

  mutating func serve() async {
    // Non-blocking: every call this task makes itself returns at once; waits go through
    // the engine (receive) or Readiness (send). No Nagle: a response is one write per part.
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    var one: Int32 = 1
    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    if let inspected = try? TransferEndpoint.inspect(state.socket.descriptor) {
      // Strategies that need a blocking socket get it blocking for their transfer.
      socketEndpoint = TransferEndpoint(
        descriptor: inspected.descriptor, kind: inspected.kind, size: inspected.size, device: inspected.device,
        inode: inspected.inode, permissions: inspected.permissions, isAppendOnly: inspected.isAppendOnly,
        isNonBlocking: !server.strategyNeedsBlockingSocket, path: inspected.path)
    }
    do {
      buffer = try AlignedBuffer(count: config.maxHeadBytes + 4096, zeroed: false)
    } catch {
      try? await state.socket.close()
      return
    }
    state.set(.idle, deadline: deadline(after: config.headerTimeout))
    do {
      try await loop()
    } catch {}
    if state.timedOut.load(ordering: .relaxed) && state.phase.load(ordering: .relaxed) == ConnectionState.Phase.head.rawValue {
      // Header timeout with a partial head (slowloris): say so, best effort, and close.
      sendBestEffort(errorResponse(.requestTimeout, keepAlive: false, isHead: false))
    }
    try? await state.socket.close()
  }

  private mutating func loop() async throws(ConnectionEnded) {
    while true {
      let outcome = buffer!.withUnsafeBytes { all in
        parser.parse(UnsafeRawBufferPointer(rebasing: all[start..<end]))
      }
      switch outcome {
      case .needMore:
        if start == end && !parser.hasPartialHead {
          if server.draining.load(ordering: .relaxed) { throw ConnectionEnded() }
        } else if state.isIdle {
          state.set(.head, deadline: deadline(after: config.headerTimeout))
        }
        try await receiveMore()
      case .invalid(let error):
        state.set(.responding, deadline: deadline(after: config.sendTimeout))
        try await send(errorResponse(error.status, keepAlive: false, isHead: false), more: false)
        log(
          method: "-", target: "-", minor: 1, status: error.status, bytes: 0, strategy: nil, started: monotonicNanoseconds(),
          note: error.reason)
        throw ConnectionEnded()
      case .complete(let head, let length):
        start += length
        parser.reset()
        requestsServed += 1
        server.counters.requests.add(1, ordering: .relaxed)
        state.set(.responding, deadline: deadline(after: config.sendTimeout))
        let keepAlive = try await respond(head)
        guard keepAlive else { throw ConnectionEnded() }
        if start == end {
          start = 0
          end = 0
          state.set(.idle, deadline: deadline(after: config.idleTimeout))
          if server.draining.load(ordering: .relaxed) { throw ConnectionEnded() }
        } else {
          // Pipelined: the next head has (partly) arrived already.
          state.set(.head, deadline: deadline(after: config.headerTimeout))
        }
      }
    }
  }

  /// Receives more bytes after `end` (moving the unconsumed bytes to the front first if
  /// the buffer is full); throws on end of stream, error or cancellation.
  private mutating func receiveMore() async throws(ConnectionEnded) {
    var b = buffer.take()!
    if end == b.count {
      let (s, e) = (start, end)
      b.withUnsafeMutableBytes { raw in
        raw.baseAddress!.copyMemory(from: raw.baseAddress! + s, byteCount: e - s)
      }
      end = e - s
      start = 0
    }
    let result = await state.socket.receive(into: b, range: end..<b.count)
    let received = result.result
    buffer = result.take()
    switch received {
    case .success(let n) where n > 0:
      end += n
    default:
      throw ConnectionEnded()
    }
  }

  // MARK: - Responding

  /// Answers one request; returns whether the connection stays open.
  private mutating func respond(_ head: HTTPRequestHead) async throws(ConnectionEnded) -> Bool {
    let started = monotonicNanoseconds()
    var keepAlive =
      head.keepAlive && !head.hasBody && requestsServed < config.maxRequestsPerConnection
      && !server.draining.load(ordering: .relaxed)
    let isHead = head.method == "HEAD"
    func finish(_ status: HTTPStatus, _ bytes: Int64 = 0, _ strategy: String? = nil, note: String? = nil) {
      log(
        method: head.method, target: head.targetString, minor: head.minorVersion, status: status, bytes: bytes,
        strategy: strategy, started: started, note: note)
    }

    guard head.isGetOrHead else {
      var response = ResponseHead(status: .methodNotAllowed, keepAlive: keepAlive)
      response.fields.append(("Allow", "GET, HEAD"))
      try await send(errorResponse(response, isHead: false), more: false)
      finish(.methodNotAllowed)
      return keepAlive
    }
    let path: RequestPath
    switch RequestPath.resolve(head.target) {
    case .success(let p): path = p
    case .failure(let error):
      try await send(errorResponse(error.status, keepAlive: false, isHead: isHead), more: false)
      finish(error.status, note: error.reason)
      return false
    }

    var relative = path.relativePath
    if path.isDirectory {
      relative =
        path.segments.isEmpty ? Array(config.indexFile.utf8) : relative + [UInt8(ascii: "/")] + Array(config.indexFile.utf8)
    }
    var file: OpenedFile
    switch server.rootDirectory.open(relative, blocking: server.strategyNeedsBlockingSocket) {
    case .success(let f): file = f
    case .failure(let failure):
      try await send(errorResponse(failure.status, keepAlive: keepAlive, isHead: isHead), more: false)
      finish(failure.status, note: "\(failure.syscall): \(failure.errno)")
      return keepAlive
    }
    if file.isDirectory {
      file.close()
      if path.isDirectory {
        // The index is a directory: nothing to serve.
        try await send(errorResponse(.notFound, keepAlive: keepAlive, isHead: isHead), more: false)
        finish(.notFound)
        return keepAlive
      }
      var response = ResponseHead(status: .movedPermanently, keepAlive: keepAlive)
      var location = path.encodedPath + "/"
      if let query = path.query { location += "?" + String(decoding: query, as: UTF8.self) }
      response.location = location
      try await send(errorResponse(response, isHead: isHead), more: false)
      finish(.movedPermanently)
      return keepAlive
    }

    let size = file.size
    let modified = file.modified
    let etag = EntityTag.make(modified: modified, size: size)
    switch Preconditions.evaluate(head, etag: etag, modified: modified) {
    case .notModified:
      var response = ResponseHead(status: .notModified, keepAlive: keepAlive)
      response.lastModified = modified
      response.fields.append(("ETag", etag))
      try await send(response.encoded(server: config.serverName, date: server.dateCache.now), more: false)
      finish(.notModified)
      return keepAlive
    case .failed:
      try await send(errorResponse(.preconditionFailed, keepAlive: keepAlive, isHead: isHead), more: false)
      finish(.preconditionFailed)
      return keepAlive
    case .proceed:
      break
    }

    var ranges = ByteRangeRequest.whole
    if let range = head.range, Preconditions.rangeApplies(head, etag: etag, modified: modified) {
      ranges = ByteRangeRequest.parse(range, size: size)
    }
    let contentType = MediaTypes.type(forExtension: path.isDirectory ? "html" : path.fileExtension)
    var response: ResponseHead
    var body: [BodyPart]
    switch ranges {
    case .whole:
      response = ResponseHead(status: .ok, keepAlive: keepAlive)
      response.contentType = contentType
      response.contentLength = size
      response.lastModified = modified
      response.fields = [("ETag", etag), ("Accept-Ranges", "bytes")]
      body = size > 0 ? [.file(0..<size)] : []
    case .notSatisfiable:
      var r = ResponseHead(status: .rangeNotSatisfiable, keepAlive: keepAlive)
      r.fields.append(("Content-Range", "bytes */\(size)"))
      try await send(errorResponse(r, isHead: isHead), more: false)
      finish(.rangeNotSatisfiable)
      return keepAlive
    case .ranges(let list) where list.count == 1:
      let r = list[0]
      response = ResponseHead(status: .partialContent, keepAlive: keepAlive)
      response.contentType = contentType
      response.contentLength = r.upperBound - r.lowerBound
      response.lastModified = modified
      response.fields = [("ETag", etag), ("Content-Range", "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)")]
      body = [.file(r)]
    case .ranges(let list):
      let boundary = Self.boundary()
      response = ResponseHead(status: .partialContent, keepAlive: keepAlive)
      response.contentType = "multipart/byteranges; boundary=\(boundary)"
      response.lastModified = modified
      response.fields = [("ETag", etag)]
      body = []
      var length: Int64 = 0
      for r in list {
        let partHead = Array(
          "\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\nContent-Range: bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)\r\n\r\n"
            .utf8)
        body.append(.bytes(partHead))
        body.append(.file(r))
        length += Int64(partHead.count) + (r.upperBound - r.lowerBound)
      }
      let closing = Array("\r\n--\(boundary)--\r\n".utf8)
      body.append(.bytes(closing))
      response.contentLength = length + Int64(closing.count)
    }
    if isHead { body = [] }

    let headBytes = response.encoded(server: config.serverName, date: server.dateCache.now)
    try await send(headBytes, more: !body.isEmpty)
    var sent: Int64 = 0
    var strategyUsed: String?
    for (index, part) in body.enumerated() {
      let more = index < body.count - 1
      switch part {
      case .bytes(let bytes):
        try await send(bytes, more: more)
      case .file(let range):
        let outcome = await sendFile(file.transferEndpoint, range: range)
        sent += outcome.bytes
        strategyUsed = outcome.strategy ?? strategyUsed
        if let failure = outcome.failure {
          server.counters.failedTransfers.add(1, ordering: .relaxed)
          finish(response.status, sent, strategyUsed, note: failure)
          file.close()
          throw ConnectionEnded()
        }
      }
    }
    file.close()
    server.counters.bodyBytes.add(sent, ordering: .relaxed)
    finish(response.status, sent, strategyUsed)
    keepAlive = response.keepAlive
    return keepAlive
  }

  /// A multipart boundary: 20 random digits.
  private static func boundary() -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<20).map { _ in String(g.next() % 10) }.joined()
  }

  private func errorResponse(_ status: HTTPStatus, keepAlive: Bool, isHead: Bool) -> [UInt8] {
    errorResponse(ResponseHead(status: status, keepAlive: keepAlive), isHead: isHead)
  }

  /// The head (and, unless HEAD, the HTML page) of an error or redirect response.
  private func errorResponse(_ head: ResponseHead, isHead: Bool) -> [UInt8] {
    var head = head
    let page = ResponseHead.errorPage(head.status, server: config.serverName)
    head.contentType = "text/html"
    head.contentLength = Int64(page.count)
    let bytes = head.encoded(server: config.serverName, date: server.dateCache.now)
    return isHead ? bytes : bytes + page
  }

  // MARK: - Writing

  /// Writes all of `bytes` with non-blocking `send` (`MSG_MORE` when a body part follows,
  /// so that the head and a small body leave in one segment), waiting for writability on
  /// Readiness when the socket is full.
  private func send(_ bytes: [UInt8], more: Bool) async throws(ConnectionEnded) {
    var offset = 0
    let flags = Int32(MSG_DONTWAIT | MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
    while offset < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, flags) }
      if n > 0 {
        offset += n
        // The send timeout counts time without progress: only bytes taken move it.
        state.deadline.store(deadline(after: config.sendTimeout), ordering: .relaxed)
        continue
      }
      let e = errno
      if n < 0 && e == EINTR { continue }
      guard n < 0 && (e == EAGAIN || e == EWOULDBLOCK) else { throw ConnectionEnded() }
      do {
        try await state.socket.waitUntilWritable()
      } catch {
        throw ConnectionEnded()
      }
    }
  }

  /// One non-blocking attempt, for the 408 sent to a client that timed out.
  private func sendBestEffort(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
  }

  /// Sends `range` of `file` through the configured strategy in pieces no larger than the
  /// socket's free send space, waiting for writability between pieces.
  private func sendFile(_ fileEndpoint: TransferEndpoint, range: Range<Int64>) async -> (
    bytes: Int64, strategy: String?, failure: String?
  ) {
    let file = fileEndpoint.descriptor
    // Both ends known already: no inspection per piece.
    let prepared = socketEndpoint.map { PreparedTransfer(EndpointPair(source: fileEndpoint, destination: $0)) }
    var offset = range.lowerBound
    var strategy: String?
    let socket = state.socket
    let needsBlocking = server.strategyNeedsBlockingSocket
    while offset < range.upperBound {
      var room = sendSpace()
      if room <= 0 {
        do {
          try await socket.waitUntilWritable()
        } catch {
          return (offset - range.lowerBound, strategy, "waiting for the client: \(error.errno)")
        }
        // (No new deadline here: a readiness report is not progress — a client that never
        // reads can make the socket writable again and again, as TCP shrinks what it
        // queues, without taking a byte.)
        // Writable by the kernel's own test (a third of the buffer free): if the margin
        // makes the estimate disagree, send a small piece anyway (the watchdog covers it).
        room = max(sendSpace(), 4096)
      }
      let piece = min(range.upperBound - offset, Int64(room))
      let monitor = TransferMonitor()
      state.watch(monitor)
      let request = TransferRequest(from: file, offset: offset, count: piece, to: socket.descriptor)
      let options = TransferOptions(allowFallback: config.allowFallback, monitor: monitor)
      if needsBlocking { setBlocking(true) }
      // Small pieces with room to spare cannot block: send them here, without the hop.
      let inline = !needsBlocking && piece <= Int64(config.inlineTransferLimit) && Int64(room) >= 2 * piece + 4096
      let result: Result<TransferReport, ZeroCopyError>
      do {
        switch (inline, prepared) {
        case (true, let prepared?):
          result = .success(try prepared.runBlocking(offset: offset, count: piece, strategy: config.strategy, options: options))
        case (false, let prepared?):
          result = .success(try await prepared.run(offset: offset, count: piece, strategy: config.strategy, options: options))
        case (true, nil):
          result = .success(try Transfer.runBlocking(request, strategy: config.strategy, options: options))
        case (false, nil):
          result = .success(try await Transfer.run(request, strategy: config.strategy, options: options))
        }
      } catch {
        result = .failure(error)
      }
      if needsBlocking { setBlocking(false) }
      state.watch(nil)
      switch result {
      case .success(let report):
        offset += report.bytes
        strategy = report.strategy
        if report.sourceEndedEarly || report.bytes == 0 {
          return (offset - range.lowerBound, strategy, "the file ended early (truncated while being sent)")
        }
      case .failure(let error):
        offset += error.bytesTransferred
        if error.bytesTransferred > 0 {
          strategy = error.strategy ?? strategy
          state.deadline.store(deadline(after: config.sendTimeout), ordering: .relaxed)
        }
        // Cancelled by the watchdog (the socket stayed full), not by the task: resume
        // after a wait that holds no thread.
        if error.isCancellation && !Task.isCancelled { continue }
        config.errorLog?.warning("transfer failed: \(error)")
        return (offset - range.lowerBound, strategy, "\(error.syscall): \(error.errno)")
      }
      state.deadline.store(deadline(after: config.sendTimeout), ordering: .relaxed)
    }
    return (offset - range.lowerBound, strategy, nil)
  }

  /// The bytes the socket can take now without blocking, with a margin for the kernel's
  /// per-buffer overhead: (sk_sndbuf − sk_wmem_queued) · 7/8 − 2 KiB, from SO_MEMINFO.
  private func sendSpace() -> Int {
    guard let memory = try? FileDescriptor(rawValue: fd).socketMemory() else { return 64 << 10 }
    let free = memory.sendBufferLimit - memory.sendQueued
    return free * 7 / 8 - 2048
  }

  private func setBlocking(_ blocking: Bool) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK)
  }

  // MARK: - Access log

  private func log(
    method: String, target: String, minor: Int, status: HTTPStatus, bytes: Int64, strategy: String?, started: Int64,
    note: String?
  ) {
    guard let logger = config.accessLog else { return }
    let micros = (monotonicNanoseconds() - started) / 1000
    var line = "\(peer()) \"\(method) \(target) HTTP/1.\(minor)\" \(status.rawValue) \(bytes)"
    if let strategy { line += " \(strategy)" }
    line += " \(micros / 1000).\(String(micros % 1000 + 1000).dropFirst()) ms"
    if let note { line += " (\(note))" }
    logger.info("\(line)")
  }

  private static func string(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  private func peer() -> String {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
    }
    guard rc == 0 else { return "-" }
    var text = [CChar](repeating: 0, count: 64)
    if storage.ss_family == sa_family_t(AF_INET) {
      return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
          var addr = sin.pointee.sin_addr
          inet_ntop(AF_INET, &addr, &text, 64)
          return Self.string(text) + ":" + String(UInt16(bigEndian: sin.pointee.sin_port))
        }
      }
    }
    if storage.ss_family == sa_family_t(AF_INET6) {
      return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
          var addr = sin6.pointee.sin6_addr
          inet_ntop(AF_INET6, &addr, &text, 64)
          return "[" + Self.string(text) + "]:" + String(UInt16(bigEndian: sin6.pointee.sin6_port))
        }
      }
    }
    return "-"
  }
}
