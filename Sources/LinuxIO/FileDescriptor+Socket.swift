// Socket setup — socket, socketpair, bind, listen, getsockname, an integer setsockopt,
// shutdown — and FD_CLOEXEC. Addresses are raw `struct sockaddr` bytes (the caller's
// `sockaddr_in`, `sockaddr_in6`, `sockaddr_un`); domains, types and options are the C
// constants. Each call goes through one funnel (Syscalls+Files.swift): a typed `Errno`,
// `EINTR` retried, mockable in debug builds.

import Glibc
public import SystemPackage

extension FileDescriptor {
  /// Which directions `shutdown(2)` closes.
  public enum ShutdownDirection: Sendable, Hashable {
    /// No more receiving (`SHUT_RD`).
    case read
    /// No more sending: the peer reads the end of the stream (`SHUT_WR`).
    case write
    /// Both (`SHUT_RDWR`).
    case readWrite
  }

  /// Creates a socket.
  ///
  /// - Parameters:
  ///   - domain: `AF_INET`, `AF_INET6`, `AF_UNIX`…
  ///   - type: `SOCK_STREAM`, `SOCK_DGRAM`…, with `SOCK_CLOEXEC` and `SOCK_NONBLOCK` or'ed
  ///     in as wanted (pass `SOCK_CLOEXEC` unless the socket must survive `exec`).
  ///   - protocol: 0 for the domain's default.
  /// - Returns: The new socket; the caller closes it.
  /// - Throws: `Errno`, as `socket(2)`: `.addressFamilyNotSupported`,
  ///   `.protocolNotSupported`, `.invalidArgument`, `.tooManyOpenFiles`,
  ///   `.permissionDenied`.
  ///
  /// The corresponding C call is `socket`.
  public static func socket(domain: CInt, type: CInt, protocol: CInt = 0) throws(Errno) -> FileDescriptor {
    FileDescriptor(rawValue: try valueOrErrno { system_socket(domain, type, `protocol`) })
  }

  /// Creates a pair of connected sockets.
  ///
  /// - Parameters:
  ///   - domain: `AF_UNIX` (the only domain Linux supports here).
  ///   - type: `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`, with `SOCK_CLOEXEC` and
  ///     `SOCK_NONBLOCK` as wanted.
  /// - Returns: The two ends; the caller closes both.
  /// - Throws: `Errno`, as `socketpair(2)`: `.addressFamilyNotSupported`,
  ///   `.notSupported`, `.tooManyOpenFiles`.
  ///
  /// The corresponding C call is `socketpair`.
  public static func socketPair(domain: CInt, type: CInt) throws(Errno) -> (FileDescriptor, FileDescriptor) {
    var fds: [CInt] = [-1, -1]
    _ = try valueOrErrno { system_socketpair(domain, type, 0, &fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
  }

  /// Gives this socket the address at `address` (`length` bytes of a `struct sockaddr`).
  ///
  /// - Throws: `Errno`, as `bind(2)`: `.addressInUse`, `.addressNotAvailable`,
  ///   `.permissionDenied` (a port below 1024), `.invalidArgument` (already bound),
  ///   `.notSocket`.
  ///
  /// The corresponding C call is `bind`.
  public func bind(to address: UnsafeRawPointer, length: UInt32) throws(Errno) {
    _ = try valueOrErrno { system_bind(rawValue, address, length) }
  }

  /// Makes this socket accept connections, with up to `backlog` waiting.
  ///
  /// - Throws: `Errno`, as `listen(2)`: `.addressInUse`, `.notSupported` (not a stream
  ///   socket), `.notSocket`.
  ///
  /// The corresponding C call is `listen`.
  public func listen(backlog: CInt) throws(Errno) {
    _ = try valueOrErrno { system_listen(rawValue, backlog) }
  }

  /// Writes this socket's own address (the port the kernel chose, say) into `address`,
  /// at most `capacity` bytes.
  ///
  /// - Returns: The address's full length (more than `capacity`: it was cut).
  /// - Throws: `Errno`, as `getsockname(2)`: `.notSocket`, `.badFileDescriptor`.
  ///
  /// The corresponding C call is `getsockname`.
  public func localAddress(into address: UnsafeMutableRawPointer, capacity: UInt32) throws(Errno) -> UInt32 {
    var length = capacity
    _ = try valueOrErrno { system_getsockname(rawValue, address, &length) }
    return length
  }

  /// Sets an integer socket option (`SO_REUSEADDR`, `TCP_NODELAY`, `SO_SNDBUF`…).
  ///
  /// - Parameters:
  ///   - level: `SOL_SOCKET`, `IPPROTO_TCP`…
  ///   - option: The option's name.
  ///   - value: Its value.
  /// - Throws: `Errno`, as `setsockopt(2)`: `.protocolNotAvailable` (unknown option),
  ///   `.invalidArgument`, `.notSocket`.
  ///
  /// The corresponding C call is `setsockopt` with an `int` value.
  public func setOption(level: CInt, _ option: CInt, to value: CInt) throws(Errno) {
    _ = try valueOrErrno { system_setsockopt_int(rawValue, level, option, value) }
  }

  /// Shuts down one or both directions of this connected socket (the descriptor stays
  /// open).
  ///
  /// - Throws: `Errno`, as `shutdown(2)`: `.socketNotConnected`, `.notSocket`.
  ///
  /// The corresponding C call is `shutdown`.
  public func shutdown(_ direction: ShutdownDirection) throws(Errno) {
    let how: CInt
    switch direction {
    case .read: how = CInt(SHUT_RD)
    case .write: how = CInt(SHUT_WR)
    case .readWrite: how = CInt(SHUT_RDWR)
    }
    _ = try valueOrErrno { system_shutdown(rawValue, how) }
  }

  /// Sets `FD_CLOEXEC`: the descriptor is closed when the process calls `exec` (for a
  /// descriptor made by a call that cannot ask for it).
  ///
  /// Until this call, a child that another thread forks and execs inherits the descriptor
  /// for its whole life. Prefer creating descriptors close-on-exec at once: ``Pipe``,
  /// ``createTemporaryFile(template:)``, ``accept()``, `socket`/``socketPair(domain:type:)``
  /// with `SOCK_CLOEXEC`, `open` with `.closeOnExec`.
  ///
  /// - Throws: `Errno`, as `fcntl(2)`: `.badFileDescriptor`.
  ///
  /// The corresponding C call is `fcntl(fd, F_SETFD, FD_CLOEXEC)`.
  public func setCloseOnExec() throws(Errno) {
    _ = try valueOrErrno { system_set_cloexec(rawValue) }
  }
}
