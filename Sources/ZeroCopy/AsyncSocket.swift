// Async stream sockets (TCP and Unix-domain) with owned buffers.

import Glibc
public import LinuxIO
public import SystemPackage

/// A connected or listening stream socket — TCP (IPv4, IPv6) or Unix-domain — whose
/// operations run on an ``IOEngine`` and own their buffers.
///
/// ```swift
/// import LinuxIO
/// import ZeroCopy
///
/// let listener = try AsyncSocket.listen(on: .loopback())
/// async let server = listener.accept()
/// let client = try await AsyncSocket.connect(to: try listener.localAddress())
/// let sent = await client.sendAll(from: try AlignedBuffer(count: 4096))
/// _ = try sent.count                      // 4096, or the ZeroCopyError
/// ```
///
/// Sends never raise `SIGPIPE` (a closed peer gives `EPIPE`). ``close()`` cancels the
/// operations in flight (a pending ``receive(into:range:)`` or ``accept()``), waits for their
/// final completions, then closes the descriptor.
public final class AsyncSocket: Sendable {
  internal let owner: ManagedDescriptor
  /// The engine that runs this socket's operations.
  public let engine: IOEngine

  /// The descriptor. Owned by this socket: do not close it, and do not use it after ``close()``.
  public var descriptor: FileDescriptor { owner.descriptor }

  /// Takes ownership of an open socket descriptor; it is closed by ``close()`` or when
  /// this object goes away.
  public init(takingOwnershipOf descriptor: FileDescriptor, engine: IOEngine = .default) {
    owner = ManagedDescriptor(descriptor, kind: .socket, path: nil)
    self.engine = engine
  }

  // MARK: - Creating

  /// Creates a stream socket and connects it to `address`.
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/socket`` or
  ///   ``ZeroCopyError/Operation/connect``: `ECONNREFUSED`, `ENOENT` (no such Unix socket),
  ///   `ETIMEDOUT`, `ENETUNREACH`, `ECANCELED`.
  ///
  /// On the thread-pool engine the `connect(2)` runs on a pool thread and cannot be
  /// interrupted once started (loopback and Unix-domain connects complete at once; a
  /// connect to an unreachable host waits for the kernel's TCP timeout).
  ///
  /// The corresponding C function is `socket` (inline); the io_uring opcode is
  /// `IORING_OP_CONNECT`, the thread-pool engine calls `connect(2)`.
  nonisolated(nonsending) public static func connect(to address: SocketAddress, engine: IOEngine = .default)
    async throws(ZeroCopyError) -> AsyncSocket
  {
    let socket = AsyncSocket(takingOwnershipOf: try makeSocket(family: address.family), engine: engine)
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(address.bytes.count, 1), alignment: 8)
    defer { storage.deallocate() }
    storage.copyBytes(from: address.bytes)
    let spec = ConnectOp(
      fd: socket.descriptor, address: UnsafeRawPointer(storage.baseAddress!), length: UInt32(address.bytes.count))
    switch await performOperation(socket.owner, socket.engine, spec, .connect, offset: nil) {
    case .success:
      return socket
    case .failure(var error):
      error.message = "connecting to \(address)"
      try? await socket.close()
      throw error
    }
  }

  /// Creates a stream socket bound to `address` and listening.
  ///
  /// - Parameters:
  ///   - address: Where to listen; port 0 picks an ephemeral port (see ``localAddress()``).
  ///   - backlog: The pending-connection queue length.
  ///   - reuseAddress: Set `SO_REUSEADDR` (TCP) first. Default true.
  ///   - engine: The engine for ``accept()``.
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/listen``:
  ///   `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`.
  ///
  /// The corresponding C functions are `socket`, `setsockopt`, `bind` and `listen` (inline:
  /// none of them waits).
  public static func listen(
    on address: SocketAddress, backlog: Int32 = 128, reuseAddress: Bool = true, engine: IOEngine = .default
  ) throws(ZeroCopyError) -> AsyncSocket {
    let fd = try makeSocket(family: address.family)
    let socket = AsyncSocket(takingOwnershipOf: fd, engine: engine)
    if reuseAddress && address.family != AF_UNIX {
      try? fd.setOption(level: SOL_SOCKET, SO_REUSEADDR, to: 1)
    }
    let bound: Result<Void, Errno> = address.bytes.withUnsafeBytes { bytes in
      Result { () throws(Errno) in try fd.bind(to: bytes.baseAddress!, length: UInt32(bytes.count)) }
    }
    if case .failure(let error) = bound {
      throw ZeroCopyError(
        .listen, syscall: "bind", errno: error, paths: address.path.map { [$0] } ?? [], descriptors: [fd],
        message: "binding to \(address)")
    }
    do throws(Errno) {
      try fd.listen(backlog: backlog)
    } catch {
      throw ZeroCopyError(.listen, syscall: "listen", errno: error, descriptors: [fd])
    }
    return socket
  }

  /// A connected pair of Unix-domain stream sockets.
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/socket`` (`EMFILE`).
  ///
  /// The corresponding C function is `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, …)`.
  public static func pair(engine: IOEngine = .default) throws(ZeroCopyError) -> (AsyncSocket, AsyncSocket) {
    let fds: (FileDescriptor, FileDescriptor)
    do throws(Errno) {
      fds = try FileDescriptor.socketPair(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
    } catch {
      throw ZeroCopyError(.socket, syscall: "socketpair", errno: error)
    }
    return (AsyncSocket(takingOwnershipOf: fds.0, engine: engine), AsyncSocket(takingOwnershipOf: fds.1, engine: engine))
  }

  private static func makeSocket(family: Int32) throws(ZeroCopyError) -> FileDescriptor {
    do throws(Errno) {
      return try FileDescriptor.socket(domain: family, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
    } catch {
      throw ZeroCopyError(.socket, syscall: "socket", errno: error)
    }
  }

  // MARK: - Operations

  /// Accepts a connection on this listening socket.
  ///
  /// - Returns: The connection, on the same engine (its descriptor is close-on-exec).
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/accept``:
  ///   `EINVAL` (not listening), `EMFILE`, `ECANCELED` (task cancelled or socket closed).
  ///
  /// The corresponding io_uring opcode is `IORING_OP_ACCEPT` (with `SOCK_CLOEXEC`); the
  /// thread-pool engine calls `accept(2)` after `poll`.
  nonisolated(nonsending) public func accept() async throws(ZeroCopyError) -> AsyncSocket {
    let fd = try await performOperation(owner, engine, AcceptOp(fd: descriptor), .accept, offset: nil).get()
    return AsyncSocket(takingOwnershipOf: FileDescriptor(rawValue: Int32(fd)), engine: engine)
  }

  /// Sends `buffer[range]` — one call, which may send fewer bytes; see ``sendAll(from:range:)``.
  ///
  /// - Returns: The bytes sent or the error (`EPIPE`, `ECONNRESET`, `ECANCELED`), with the buffer.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_SEND` (the kernel adds `MSG_NOSIGNAL`);
  /// the thread-pool engine calls `send(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT` after `poll`.
  nonisolated(nonsending) public func send(from buffer: consuming AlignedBuffer, range: Range<Int>? = nil) async -> IOResult<
    AlignedBuffer
  > {
    let r = checkedRange(range, in: buffer, #function)
    let bytes = UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound, count: r.count)
    let result = await performOperation(owner, engine, SendOp(fd: descriptor, buffer: bytes, zeroCopy: false), .send, offset: nil)
    return IOResult(result: result, buffer: buffer)
  }

  /// Sends all of `buffer[range]`, issuing more sends after short ones.
  ///
  /// - Returns: The bytes sent (all) or the error — with ``ZeroCopyError/bytesTransferred``
  ///   saying how many were sent — with the buffer.
  ///
  /// The corresponding io_uring opcode is `IORING_OP_SEND` (repeated).
  nonisolated(nonsending) public func sendAll(from buffer: consuming AlignedBuffer, range: Range<Int>? = nil) async -> IOResult<
    AlignedBuffer
  > {
    let r = checkedRange(range, in: buffer, #function)
    var done = 0
    while done < r.count {
      let bytes = UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound + done, count: r.count - done)
      switch await performOperation(owner, engine, SendOp(fd: descriptor, buffer: bytes, zeroCopy: false), .send, offset: nil) {
      case .success(let n):
        done += n
      case .failure(var error):
        error.bytesTransferred = Int64(done)
        return IOResult(result: .failure(error), buffer: buffer)
      }
    }
    return IOResult(result: .success(done), buffer: buffer)
  }

  /// Sends `buffer[range]` without copying it into the kernel: the network stack
  /// references the buffer's pages, and this returns only after the kernel's notification
  /// that it no longer does — so the returned buffer is safe to reuse. On loopback the
  /// kernel copies anyway (Docs/LinuxFacts.md, io_uring). The thread-pool engine sends normally.
  ///
  /// **Cancellation.** TCP releases the pages only when the peer has acknowledged the
  /// data, which a peer that stops reading never does. So when the task is cancelled, the
  /// send is cancelled in the kernel and, once its count is known and 20 ms have passed,
  /// this returns that count (or `ECANCELED`) with a *new* buffer of the same size and
  /// alignment; the original stays with the kernel and is freed when it is released.
  ///
  /// - Returns: The bytes sent or the error, with the buffer (after the notification, or
  ///   a new one after a cancellation, see above).
  ///
  /// The corresponding io_uring opcode is `IORING_OP_SEND_ZC` (kernel 6.0; two completions).
  nonisolated(nonsending) public func sendZeroCopy(from buffer: consuming AlignedBuffer, range: Range<Int>? = nil) async
    -> IOResult<AlignedBuffer>
  {
    let r = checkedRange(range, in: buffer, #function)
    let bytes = UnsafeRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound, count: r.count)
    return await performOwning(owner, engine, SendOp(fd: descriptor, buffer: bytes, zeroCopy: true), .send, offset: nil, buffer)
  }

  /// Receives up to `range.count` bytes into `buffer[range]`.
  ///
  /// - Returns: The bytes received (0: the peer shut down its sending side) or the error
  ///   (`ECONNRESET`, `ECANCELED`), with the buffer.
  ///
  /// With ``IOEngine/Configuration/completesReadyReadsInline`` (the default), data already
  /// queued is received on the calling thread with `recv(2)` and `MSG_DONTWAIT`; otherwise
  /// the corresponding io_uring opcode is `IORING_OP_RECV`; the thread-pool engine calls
  /// `recv(2)` with `MSG_DONTWAIT` after `poll`.
  nonisolated(nonsending) public func receive(into buffer: consuming AlignedBuffer, range: Range<Int>? = nil) async -> IOResult<
    AlignedBuffer
  > {
    let r = checkedRange(range, in: buffer, #function)
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress + r.lowerBound, count: r.count)
    // One receive in 64 yields first (ManagedDescriptor.yieldsBeforeInline).
    if engine.configuration.completesReadyReadsInline && owner.yieldsBeforeInline() { await Task.yield() }
    if let received = receiveInline(bytes) { return IOResult(result: .success(received), buffer: buffer) }
    let result = await performOperation(owner, engine, RecvOp(fd: descriptor, buffer: bytes), .receive, offset: nil)
    return IOResult(result: result, buffer: buffer)
  }

  /// A receive of data already queued, on the calling thread
  /// (``IOEngine/Configuration/completesReadyReadsInline``): the bytes received (0: the
  /// peer shut down its side), or nil when the engine must do it — nothing queued, the task
  /// is cancelled, the socket is closing, or any error (the engine's receive reports it).
  @inline(__always)
  private func receiveInline(_ bytes: UnsafeMutableRawBufferPointer) -> Int? {
    guard engine.configuration.completesReadyReadsInline, bytes.count > 0, !Task.isCancelled, engine.acceptsInlineWork,
      owner.begin()
    else {
      return nil
    }
    // begin() keeps close() from closing the descriptor under the call.
    defer { owner.operationFinished() }
    return try? descriptor.receive(into: bytes, flags: .dontWait)
  }

  /// Which direction ``shutdown(_:)`` ends.
  public enum Direction: Sendable, Hashable {
    /// No more receiving (`SHUT_RD`).
    case read
    /// No more sending: the peer reads end of stream (`SHUT_WR`).
    case write
    /// Both (`SHUT_RDWR`).
    case both
  }

  /// Shuts down one or both directions of the connection (the descriptor stays open).
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/shutdown``
  ///   (`ENOTCONN`, `EBADF` after close).
  ///
  /// The corresponding C function is `shutdown`.
  public func shutdown(_ direction: Direction) throws(ZeroCopyError) {
    guard owner.begin() else {
      throw ZeroCopyError(
        .shutdown, syscall: "shutdown", errno: .badFileDescriptor, descriptors: [descriptor], message: "the socket was closed")
    }
    defer { owner.operationFinished() }
    let how: FileDescriptor.ShutdownDirection
    switch direction {
    case .read: how = .read
    case .write: how = .write
    case .both: how = .readWrite
    }
    do throws(Errno) {
      try descriptor.shutdown(how)
    } catch {
      throw ZeroCopyError(.shutdown, syscall: "shutdown", errno: error, descriptors: [descriptor])
    }
  }

  /// The address this socket is bound to (for a listener on port 0: the chosen port).
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/address``.
  ///
  /// The corresponding C function is `getsockname`.
  public func localAddress() throws(ZeroCopyError) -> SocketAddress {
    var storage = sockaddr_storage()
    let length: UInt32
    do throws(Errno) {
      length = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(Errno) in
        try descriptor.localAddress(into: pointer, capacity: UInt32(MemoryLayout<sockaddr_storage>.size))
      }
    } catch {
      throw ZeroCopyError(.address, syscall: "getsockname", errno: error, descriptors: [descriptor])
    }
    return SocketAddress(storage: storage, length: socklen_t(length))
  }

  /// Closes the socket: operations in flight are cancelled and awaited, then the
  /// descriptor is closed. Operations started afterwards fail with `EBADF`.
  ///
  /// - Throws: ``ZeroCopyError`` with operation ``ZeroCopyError/Operation/close`` (`EBADF`
  ///   if already closed).
  ///
  /// The corresponding C function is `close` (after `IORING_OP_ASYNC_CANCEL` by descriptor).
  nonisolated(nonsending) public func close() async throws(ZeroCopyError) {
    if let errno = await owner.close(engine: engine) {
      throw ZeroCopyError(
        .close, syscall: "close", errno: errno, descriptors: [descriptor],
        message: errno == .badFileDescriptor ? "the socket was already closed" : nil)
    }
  }
}

/// Runs `spec` — whose memory is `buffer[…]` — with `buffer` owned by the operation, and
/// returns the result with the buffer. A cancelled operation that may be abandoned
/// (``Operation/isAbandonable``: a read of a regular file on an engine configured with
/// ``IOEngine/Configuration/interruptsRegularFileOperations``, a SEND_ZC whose count is
/// known) and has not ended 20 ms after its cancellation returns without waiting for the
/// kernel: the operation keeps the buffer (freed when the kernel is done with it) and the
/// caller gets a new buffer of the same size and alignment.
nonisolated(nonsending) internal func performOwning(
  _ owner: ManagedDescriptor, _ engine: IOEngine, _ spec: some EngineOperation, _ operation: ZeroCopyError.Operation,
  offset: Int64?, _ buffer: consuming AlignedBuffer
) async -> IOResult<AlignedBuffer> {
  guard owner.begin() else {
    let paths = owner.path.map { [$0] } ?? []
    let error = ZeroCopyError(
      operation, syscall: engine.syscallName(spec), errno: .badFileDescriptor, paths: paths,
      descriptors: [owner.descriptor], offset: offset,
      message: owner.kind == .socket ? "the socket was closed" : "the file was closed")
    return IOResult(result: .failure(error), buffer: buffer)
  }
  let count = buffer.count
  let alignment = buffer.alignment
  let op = OperationOf(spec, owner: owner, owning: buffer)
  var raw = await engine.run(op)
  var abandoned = op.wasAbandoned
  let back: AlignedBuffer
  if abandoned, let fresh = try? AlignedBuffer(count: count, alignment: alignment) {
    back = fresh
  } else {
    if abandoned {
      // No memory for a new buffer: wait for the kernel to hand back this one.
      while !op.isFinished { try? await Task.sleep(for: .milliseconds(1)) }
      raw = op.result
      abandoned = false
    }
    back = op.ownedBuffer.take()!
  }
  if raw >= 0 { return IOResult(result: .success(Int(raw)), buffer: back) }
  let paths = owner.path.map { [$0] } ?? []
  let error = ZeroCopyError(
    operation, syscall: engine.syscallName(spec), errno: Errno(rawValue: -raw), paths: paths,
    descriptors: [owner.descriptor], offset: offset,
    message: abandoned ? "cancelled while the kernel still held the buffer: a new buffer of the same size is returned" : nil)
  return IOResult(result: .failure(error), buffer: back)
}

/// Runs `spec` on `engine`, registered with `owner` so that closing is ordered after it,
/// and converts the result.
@inline(__always)
nonisolated(nonsending) internal func performOperation(
  _ owner: ManagedDescriptor, _ engine: IOEngine, _ spec: some EngineOperation, _ operation: ZeroCopyError.Operation,
  offset: Int64?
) async -> Result<Int, ZeroCopyError> {
  guard owner.begin() else {
    let paths = owner.path.map { [$0] } ?? []
    return .failure(
      ZeroCopyError(
        operation, syscall: engine.syscallName(spec), errno: .badFileDescriptor, paths: paths,
        descriptors: [owner.descriptor], offset: offset,
        message: owner.kind == .socket ? "the socket was closed" : "the file was closed"))
  }
  let op = OperationOf(spec, owner: owner)
  let result = await engine.run(op)
  if result >= 0 { return .success(Int(result)) }
  let paths = owner.path.map { [$0] } ?? []
  return .failure(
    ZeroCopyError(
      operation, syscall: engine.syscallName(spec), errno: Errno(rawValue: -result), paths: paths,
      descriptors: [owner.descriptor], offset: offset))
}
