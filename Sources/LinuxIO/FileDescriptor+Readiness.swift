// Vectored reads and writes, socket sends and receives with their flags, accept and
// connect, and poll(2) — the blocking calls an I/O engine's thread pool makes. Each call
// goes through one funnel (Syscalls+Files.swift): a typed `Errno`, `EINTR` retried,
// mockable in debug builds.

import Glibc
public import SystemPackage

extension FileDescriptor {
  /// `MSG_*` flags of `send(2)` and `recv(2)`.
  public struct MessageFlags: OptionSet, Sendable, Hashable {
    /// The `MSG_*` bits.
    public let rawValue: CInt
    /// Creates a set from `MSG_*` bits.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// Do not block: `EAGAIN` when the call would (`MSG_DONTWAIT`), whatever the
    /// descriptor's `O_NONBLOCK`.
    public static let dontWait = MessageFlags(rawValue: CInt(MSG_DONTWAIT))
    /// No `SIGPIPE` when the peer has closed: `EPIPE` only (`MSG_NOSIGNAL`; `send` only).
    public static let noSignal = MessageFlags(rawValue: CInt(MSG_NOSIGNAL))
  }

  /// Reads into `buffers`, in order, at `offset` (or at the file position, which then
  /// advances, when `offset` is nil).
  ///
  /// - Parameters:
  ///   - buffers: The buffers to fill (at most `IOV_MAX`, 1024); they must stay valid
  ///     during the call.
  ///   - offset: The file offset (`preadv`), or nil (`readv`).
  /// - Returns: The bytes read (0 at the end of the file), filling the buffers in order.
  /// - Throws: `Errno`, as `readv(2)`: `.resourceTemporarilyUnavailable` (non-blocking,
  ///   nothing to read), `.invalidArgument` (too many buffers), `.illegalSeek` (an offset
  ///   on a pipe or socket), `.isDirectory`, `.badFileDescriptor`, `.ioError`.
  ///
  /// The corresponding C calls are `readv` and `preadv`.
  public func unsafeRead(into buffers: [UnsafeMutableRawBufferPointer], at offset: Int64? = nil) throws(Errno) -> Int {
    checkOffset(offset, "offset", "unsafeRead(into:at:)")
    let iovecs = buffers.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
    return try iovecs.withUnsafeBufferPointer { iov throws(Errno) in
      try valueOrErrno { system_readv(rawValue, iov.baseAddress, CInt(iov.count), offset) }
    }
  }

  /// Writes `buffers`, in order, at `offset` (or at the file position, which then
  /// advances, when `offset` is nil).
  ///
  /// - Parameters:
  ///   - buffers: The bytes to write (at most `IOV_MAX`, 1024 buffers); they must stay
  ///     valid during the call.
  ///   - offset: The file offset (`pwritev`), or nil (`writev`).
  /// - Returns: The bytes written (may be fewer than given: a pipe, a socket, a full disk).
  /// - Throws: `Errno`, as `writev(2)`: `.resourceTemporarilyUnavailable`, `.brokenPipe`
  ///   (with `SIGPIPE`, unless ignored or blocked), `.noSpace`, `.invalidArgument`,
  ///   `.illegalSeek`, `.badFileDescriptor`, `.ioError`.
  ///
  /// The corresponding C calls are `writev` and `pwritev`.
  public func unsafeWrite(_ buffers: [UnsafeRawBufferPointer], at offset: Int64? = nil) throws(Errno) -> Int {
    checkOffset(offset, "offset", "unsafeWrite(_:at:)")
    let iovecs = buffers.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
    return try iovecs.withUnsafeBufferPointer { iov throws(Errno) in
      try valueOrErrno { system_writev(rawValue, iov.baseAddress, CInt(iov.count), offset) }
    }
  }

  /// Sends `buffer` on this socket.
  ///
  /// - Parameters:
  ///   - buffer: The bytes to send.
  ///   - flags: `MSG_*` flags (`.noSignal` avoids `SIGPIPE`).
  /// - Returns: The bytes queued (may be fewer than given).
  /// - Throws: `Errno`, as `send(2)`: `.resourceTemporarilyUnavailable` (`.dontWait`, or a
  ///   non-blocking socket, with a full buffer), `.brokenPipe`, `.connectionReset`,
  ///   `.socketNotConnected`, `.notSocket`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `send`.
  public func send(_ buffer: UnsafeRawBufferPointer, flags: MessageFlags = []) throws(Errno) -> Int {
    try valueOrErrno { system_send(rawValue, buffer.baseAddress, buffer.count, flags.rawValue) }
  }

  /// Receives into `buffer` from this socket.
  ///
  /// - Parameters:
  ///   - buffer: Where the bytes go.
  ///   - flags: `MSG_*` flags.
  /// - Returns: The bytes received; 0 when the peer has shut down its side.
  /// - Throws: `Errno`, as `recv(2)`: `.resourceTemporarilyUnavailable`,
  ///   `.connectionReset`, `.socketNotConnected`, `.notSocket`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `recv`.
  public func receive(into buffer: UnsafeMutableRawBufferPointer, flags: MessageFlags = []) throws(Errno) -> Int {
    try valueOrErrno { system_recv(rawValue, buffer.baseAddress, buffer.count, flags.rawValue) }
  }

  /// Accepts a connection on this listening socket; the new socket is close-on-exec.
  ///
  /// - Returns: The connected socket; the caller closes it.
  /// - Throws: `Errno`, as `accept(2)`: `.resourceTemporarilyUnavailable` (non-blocking,
  ///   nobody waiting), `.invalidArgument` (not listening), `.tooManyOpenFiles`,
  ///   `.connectionAbort`, `.notSocket`, `.badFileDescriptor`.
  ///
  /// The corresponding C function is `zc_accept` (`accept4` with `SOCK_CLOEXEC`: close-on-exec
  /// from the first instant, so a process another thread forks and execs meanwhile never
  /// inherits the connection).
  public func accept() throws(Errno) -> FileDescriptor {
    FileDescriptor(rawValue: try valueOrErrno { system_accept_cloexec(rawValue) })
  }

  /// Connects this socket to the address at `address` (a `sockaddr_in`, `sockaddr_in6`,
  /// `sockaddr_un`… of `length` bytes).
  ///
  /// - Parameters:
  ///   - address: The `struct sockaddr` bytes; valid during the call.
  ///   - length: Their size.
  /// - Throws: `Errno`, as `connect(2)`: `.connectionRefused`, `.inProgress`
  ///   (non-blocking: poll for `POLLOUT`, then read `SO_ERROR`), `.timedOut`,
  ///   `.networkUnreachable`, `.addressFamilyNotSupported`, `.notSocket`. An interrupted
  ///   connect goes on in the background; it is retried here, which then answers
  ///   `.alreadyInProgress` or `.socketIsConnected`.
  ///
  /// The corresponding C call is `connect`.
  public func connect(to address: UnsafeRawPointer, length: UInt32) throws(Errno) {
    _ = try valueOrErrno { system_connect(rawValue, address, length) }
  }
}

/// `POLL*` event bits of `poll(2)`.
public struct PollEvents: OptionSet, Sendable, Hashable {
  /// The `POLL*` bits.
  public let rawValue: Int16
  /// Creates a set from `POLL*` bits.
  public init(rawValue: Int16) { self.rawValue = rawValue }

  /// Data to read, or a connection to accept (`POLLIN`).
  public static let readable = PollEvents(rawValue: Int16(POLLIN))
  /// Room to write (`POLLOUT`).
  public static let writable = PollEvents(rawValue: Int16(POLLOUT))
  /// An error condition (`POLLERR`; reported whether asked for or not).
  public static let error = PollEvents(rawValue: Int16(POLLERR))
  /// The peer hung up (`POLLHUP`; reported whether asked for or not).
  public static let hangUp = PollEvents(rawValue: Int16(POLLHUP))
  /// Not an open descriptor (`POLLNVAL`).
  public static let invalid = PollEvents(rawValue: Int16(POLLNVAL))
}

/// A list of descriptors to wait on with `poll(2)`, reusable from one wait to the next.
/// A negative descriptor is ignored by the kernel (its returned events stay empty).
public struct PollSet: Sendable {
  private var entries: [pollfd] = []

  /// An empty set.
  public init() {}

  /// The number of descriptors.
  public var count: Int { entries.count }

  /// Adds `descriptor`, waiting for `events`.
  public mutating func append(_ descriptor: FileDescriptor, events: PollEvents) {
    entries.append(pollfd(fd: descriptor.rawValue, events: events.rawValue, revents: 0))
  }

  /// Removes every descriptor.
  public mutating func removeAll(keepingCapacity: Bool = false) {
    entries.removeAll(keepingCapacity: keepingCapacity)
  }

  /// The events the last ``wait(timeoutMilliseconds:retryOnInterrupt:)`` returned for the descriptor at
  /// `index` (in the order appended).
  public func returnedEvents(at index: Int) -> PollEvents { PollEvents(rawValue: entries[index].revents) }

  /// Waits until a descriptor is ready, or `timeoutMilliseconds` passes (-1: no limit; 0:
  /// a check that does not block). A signal that interrupts the wait restarts it with the
  /// whole timeout, unless `retryOnInterrupt` is false: then it throws `.interrupted`
  /// (for a caller that interrupts its own waits with a signal, as cancellation does).
  ///
  /// - Returns: How many descriptors have events (0: the timeout passed).
  /// - Throws: `Errno`, as `poll(2)`: `.noMemory`, `.invalidArgument` (more descriptors
  ///   than `RLIMIT_NOFILE`), `.interrupted` when `retryOnInterrupt` is false.
  ///
  /// The corresponding C call is `poll`.
  @discardableResult
  public mutating func wait(timeoutMilliseconds: CInt, retryOnInterrupt: Bool = true) throws(Errno) -> Int {
    let count = entries.count
    for i in entries.indices { entries[i].revents = 0 }
    return Int(
      try entries.withUnsafeMutableBufferPointer { p throws(Errno) in
        try valueOrErrno(retryOnInterrupt: retryOnInterrupt) { system_poll(p.baseAddress, count, timeoutMilliseconds) }
      })
  }
}
