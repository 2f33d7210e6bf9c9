// epoll: one descriptor that reports which of many others are ready, so that one thread
// can wait for thousands of sockets and pipes.

import CLinuxExtras
public import SystemPackage

/// An epoll instance (`epoll_create1(2)`, always `EPOLL_CLOEXEC`) that owns its descriptor
/// and closes it at the end of its lifetime.
///
/// Register descriptors with ``add(_:events:flags:data:)``, then collect the ready ones
/// with ``wait(into:maximumCount:timeout:retryOnInterrupt:)``: each reported ``Event``
/// carries the 64 bits of `data` given at registration (a token, an index), never the
/// descriptor itself.
///
/// ```swift
/// import LinuxIO
/// import SystemPackage
///
/// let epoll = try Epoll()
/// let pipe = try Pipe()
/// try epoll.add(pipe.readEnd, events: .readable, data: 7)
/// _ = try pipe.writeEnd.writeAll([1, 2, 3])
/// var ready: [Epoll.Event] = []
/// try epoll.wait(into: &ready, maximumCount: 16, timeout: .zero)
/// print(ready)  // [Event(events: readable, data: 7)]
/// ```
///
/// The methods may be called from several threads at once (the kernel serializes them):
/// one thread may wait while others add and remove registrations. A registration belongs
/// to the open file description, not the descriptor number: close every duplicate of a
/// descriptor, or ``remove(_:)`` it first, to end it.
///
/// `Epoll` is noncopyable, so exactly one owner closes it; `close()` closes it early and
/// reports errors.
public struct Epoll: ~Copyable, Sendable {
  /// The epoll descriptor. Owned by this value: do not close it yourself.
  public let descriptor: FileDescriptor

  /// Readiness conditions: what a registration waits for and what ``wait(into:maximumCount:timeout:retryOnInterrupt:)``
  /// reports (`EPOLLIN`, `EPOLLOUT`, …).
  public struct Events: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `EPOLL*` bits.
    public let rawValue: UInt32
    /// Creates a set from `EPOLL*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Data, an end of stream or a pending connection can be read (`EPOLLIN`).
    public static let readable = Events(rawValue: EPOLLIN.rawValue)
    /// Data can be written without blocking (`EPOLLOUT`).
    public static let writable = Events(rawValue: EPOLLOUT.rawValue)
    /// Exceptional data: TCP out-of-band data, a pseudo-terminal's state change
    /// (`EPOLLPRI`).
    public static let priority = Events(rawValue: EPOLLPRI.rawValue)
    /// The peer shut down its writing half of a stream socket (`EPOLLRDHUP`).
    public static let readHangUp = Events(rawValue: EPOLLRDHUP.rawValue)
    /// An error is pending on the descriptor (`EPOLLERR`; also the write end of a pipe
    /// whose read end was closed). Always reported, whether asked for or not.
    public static let error = Events(rawValue: EPOLLERR.rawValue)
    /// The descriptor hung up: the peer closed, or a pipe lost its last writer
    /// (`EPOLLHUP`). Always reported, whether asked for or not.
    public static let hangUp = Events(rawValue: EPOLLHUP.rawValue)

    /// The names of the conditions, joined by `+` (`"readable+hangUp"`), and the raw
    /// value of any unnamed bits.
    public var description: String {
      let named: [(Events, String)] = [
        (.readable, "readable"), (.writable, "writable"), (.priority, "priority"),
        (.readHangUp, "readHangUp"), (.error, "error"), (.hangUp, "hangUp"),
      ]
      var parts = named.filter { contains($0.0) }.map(\.1)
      let rest = subtracting(Events(named.map(\.0)))
      if !rest.isEmpty { parts.append("0x" + String(rest.rawValue, radix: 16)) }
      return parts.isEmpty ? "[]" : parts.joined(separator: "+")
    }
  }

  /// How a registration behaves (`EPOLLET`, `EPOLLONESHOT`, …).
  public struct Flags: OptionSet, Sendable, Hashable {
    /// The `EPOLL*` bits.
    public let rawValue: UInt32
    /// Creates a set from `EPOLL*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Edge-triggered: report a condition once when it arises, not as long as it holds
    /// (`EPOLLET`). The caller must then read or write until `EAGAIN`.
    public static let edgeTriggered = Flags(rawValue: EPOLLET.rawValue)
    /// Report the registration once, then disable it until ``Epoll/modify(_:events:flags:data:)``
    /// arms it again (`EPOLLONESHOT`). The registration stays: ``Epoll/add(_:events:flags:data:)``
    /// of the same descriptor fails with `EEXIST` until ``Epoll/remove(_:)``.
    public static let oneShot = Flags(rawValue: EPOLLONESHOT.rawValue)
    /// Keep the system from suspending while this event is pending (`EPOLLWAKEUP`;
    /// ignored without `CAP_BLOCK_SUSPEND`).
    public static let wakeUp = Flags(rawValue: EPOLLWAKEUP.rawValue)
    /// Wake only one of the epoll instances that wait for the same descriptor
    /// (`EPOLLEXCLUSIVE`, Linux 4.5); allowed with ``Epoll/add(_:events:flags:data:)``
    /// only.
    public static let exclusive = Flags(rawValue: EPOLLEXCLUSIVE.rawValue)
  }

  /// One ready registration, as ``wait(into:maximumCount:timeout:retryOnInterrupt:)``
  /// reports it (`struct epoll_event`).
  public struct Event: Sendable, Hashable, CustomStringConvertible {
    /// The conditions found (``Events/error`` and ``Events/hangUp`` even if not asked for).
    public var events: Events
    /// The `data` given when the descriptor was registered.
    public var data: UInt64

    /// An event with these conditions and data.
    public init(events: Events, data: UInt64) {
      self.events = events
      self.data = data
    }

    /// `Event(events: readable, data: 7)`.
    public var description: String { "Event(events: \(events), data: \(data))" }
  }

  /// Creates an epoll instance whose descriptor is close-on-exec.
  ///
  /// - Throws: `Errno`: `.tooManyOpenFiles` (`EMFILE`), `.tooManyOpenFilesInSystem`
  ///   (`ENFILE`), `.noMemory`.
  ///
  /// The corresponding C call is `epoll_create1(EPOLL_CLOEXEC)`.
  public init() throws(Errno) {
    let fd = try valueOrErrno { system_epoll_create1(CInt(EPOLL_CLOEXEC)) }
    descriptor = FileDescriptor(rawValue: fd)
  }

  /// Takes ownership of an existing epoll descriptor; it is closed when this value is.
  ///
  /// - Parameter descriptor: A descriptor from `epoll_create1` (or `epoll_create`).
  public init(takingOwnershipOf descriptor: FileDescriptor) {
    self.descriptor = descriptor
  }

  deinit {
    // close(2) errors cannot be reported here; Linux releases the descriptor regardless.
    _ = try? descriptor.close()
  }

  /// Closes the epoll descriptor now and reports an error, instead of silently at the end
  /// of the value's lifetime. Registrations end with it.
  ///
  /// - Throws: `Errno` from `close(2)` (`.badFileDescriptor`).
  ///
  /// The corresponding C function is `close` (through swift-system).
  public consuming func close() throws(Errno) {
    let fd = descriptor
    discard self
    do { try fd.close() } catch { throw error as? Errno ?? .ioError }
  }

  /// Gives up ownership of the descriptor without closing it; the caller must close it.
  ///
  /// - Returns: The epoll descriptor.
  public consuming func releaseDescriptor() -> FileDescriptor {
    let fd = descriptor
    discard self
    return fd
  }

  /// Registers `target`: the next waits report it when one of `events` holds.
  ///
  /// - Parameters:
  ///   - target: A socket, pipe, FIFO, terminal, eventfd, another epoll instance… It
  ///     must stay open while registered.
  ///   - events: The conditions to wait for (``Events/error`` and ``Events/hangUp`` are
  ///     reported anyway).
  ///   - flags: ``Flags/edgeTriggered``, ``Flags/oneShot``, ``Flags/wakeUp``,
  ///     ``Flags/exclusive``.
  ///   - data: Reported back in each ``Event`` of this registration.
  /// - Throws: `Errno`: `.fileExists` (`EEXIST`: `target` is already registered),
  ///   `.notPermitted` (`EPERM`: a regular file or directory, which is always ready),
  ///   `.badFileDescriptor`, `.invalidArgument` (`target` is this instance, or
  ///   ``Flags/exclusive`` with an event it does not allow), `.tooManySymbolicLinkLevels`
  ///   (`ELOOP`: nesting epoll instances in a cycle or more than 5 deep), `.noMemory`,
  ///   `.noSpace` (`ENOSPC`: the user's `max_user_watches`).
  ///
  /// The corresponding C call is `epoll_ctl(EPOLL_CTL_ADD)`.
  public func add(_ target: FileDescriptor, events: Events, flags: Flags = [], data: UInt64) throws(Errno) {
    try control(EPOLL_CTL_ADD, target, events.rawValue | flags.rawValue, data)
  }

  /// Changes the registration of `target` (and arms a ``Flags/oneShot`` registration
  /// that has fired again).
  ///
  /// - Parameters:
  ///   - target: A registered descriptor.
  ///   - events: The conditions to wait for from now on.
  ///   - flags: As for ``add(_:events:flags:data:)``, except ``Flags/exclusive``.
  ///   - data: The new data reported for this registration.
  /// - Throws: `Errno`: `.noSuchFileOrDirectory` (`ENOENT`: `target` is not registered),
  ///   `.invalidArgument` (``Flags/exclusive``, or a registration added with it),
  ///   `.badFileDescriptor`, `.noMemory`.
  ///
  /// The corresponding C call is `epoll_ctl(EPOLL_CTL_MOD)`.
  public func modify(_ target: FileDescriptor, events: Events, flags: Flags = [], data: UInt64) throws(Errno) {
    try control(EPOLL_CTL_MOD, target, events.rawValue | flags.rawValue, data)
  }

  /// Ends the registration of `target`. A wait that is already collecting events may
  /// still report it once.
  ///
  /// - Parameter target: A registered descriptor, still open.
  /// - Throws: `Errno`: `.noSuchFileOrDirectory` (`ENOENT`: `target` is not registered),
  ///   `.badFileDescriptor` (`target` is closed: its registration ended when its last
  ///   duplicate was closed).
  ///
  /// The corresponding C call is `epoll_ctl(EPOLL_CTL_DEL)`.
  public func remove(_ target: FileDescriptor) throws(Errno) {
    try control(EPOLL_CTL_DEL, target, 0, 0)
  }

  private func control(_ operation: CInt, _ target: FileDescriptor, _ bits: UInt32, _ data: UInt64) throws(Errno) {
    var event = epoll_event()
    event.events = bits
    event.data.u64 = data
    _ = try valueOrErrno { system_epoll_ctl(descriptor.rawValue, operation, target.rawValue, &event) }
  }

  /// Waits until at least one registration is ready, or `timeout` passes, and replaces the
  /// contents of `events` with the ready ones (none after a timeout).
  ///
  /// `events` keeps its capacity, so a loop that passes the same array allocates only on
  /// its first wait.
  ///
  /// - Parameters:
  ///   - events: Receives up to `maximumCount` events, in the kernel's order.
  ///   - maximumCount: The most events to collect in this call; the others are reported
  ///     by the next. - Precondition: positive, and at most the kernel's limit
  ///     (`INT_MAX / sizeof(struct epoll_event)`, about 178 million on x86_64).
  ///   - timeout: The longest wait, rounded up to whole milliseconds (at most `Int32.max`
  ///     ms, about 24.8 days); `.zero` checks without waiting; `nil` waits until an event.
  ///   - retryOnInterrupt: Whether to wait again, with the whole `timeout`, when a signal
  ///     handler interrupts the wait (`EINTR`).
  /// - Throws: `Errno`: `.interrupted` (`EINTR`, only when `retryOnInterrupt` is false),
  ///   `.badFileDescriptor`, `.invalidArgument` (not an epoll descriptor).
  ///
  /// The corresponding C call is `epoll_wait`.
  public func wait(
    into events: inout [Event], maximumCount: Int, timeout: Duration? = nil, retryOnInterrupt: Bool = true
  ) throws(Errno) {
    precondition(
      maximumCount > 0 && maximumCount <= Int(Int32.max) / MemoryLayout<epoll_event>.stride,
      "Epoll.wait: maximumCount must be in 1...\(Int(Int32.max) / MemoryLayout<epoll_event>.stride) (got \(maximumCount))")
    events.removeAll(keepingCapacity: true)
    let milliseconds = Self.milliseconds(timeout)
    let epfd = descriptor.rawValue
    let result: Result<Void, Errno> = withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: maximumCount) {
      buffer in
      do throws(Errno) {
        let count = try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
          system_epoll_wait(epfd, buffer.baseAddress!, CInt(maximumCount), milliseconds)
        }
        for i in 0..<Int(count) {
          events.append(Event(events: Events(rawValue: buffer[i].events), data: buffer[i].data.u64))
        }
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
  }

  /// `timeout` as `epoll_wait`'s milliseconds: -1 for nil, rounded up, at most `Int32.max`.
  internal static func milliseconds(_ timeout: Duration?) -> CInt {
    guard let timeout else { return -1 }
    if timeout <= .zero { return 0 }
    let (seconds, attoseconds) = timeout.components
    let attosecondsPerMillisecond: Int64 = 1_000_000_000_000_000
    let whole = min(seconds, Int64(Int32.max)) * 1000
    let rest = (attoseconds + attosecondsPerMillisecond - 1) / attosecondsPerMillisecond
    return CInt(clamping: whole + rest)
  }
}
