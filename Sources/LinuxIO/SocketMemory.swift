// A socket's memory counters (SO_MEMINFO): how much of its send and receive buffers is in
// use — what a server needs to size a write that will not block.

import CLinuxExtras
public import SystemPackage

/// A socket's memory counters in bytes, as `getsockopt(SO_MEMINFO)` reports them
/// (`SK_MEMINFO_*` in `<linux/sock_diag.h>`; `ss -m` shows the same numbers).
///
/// The send side decides whether a write blocks: a TCP socket accepts data while
/// ``sendQueued`` is below ``sendBufferLimit``. ``sendQueued`` counts the kernel's
/// per-buffer overhead too, so the payload that fits is somewhat less than the difference.
public struct SocketMemory: Sendable, Hashable {
  /// Memory held by received data not yet read (`SK_MEMINFO_RMEM_ALLOC`).
  public var receiveAllocated: Int
  /// The receive buffer's limit (`SK_MEMINFO_RCVBUF`, `sk_rcvbuf`: `SO_RCVBUF` doubled, or
  /// what autotuning set).
  public var receiveBufferLimit: Int
  /// Memory of sent data not yet released by the device or acknowledged
  /// (`SK_MEMINFO_WMEM_ALLOC`).
  public var sendAllocated: Int
  /// The send buffer's limit (`SK_MEMINFO_SNDBUF`, `sk_sndbuf`: `SO_SNDBUF` doubled, or
  /// what autotuning set).
  public var sendBufferLimit: Int
  /// Memory reserved ahead for the socket's future buffers (`SK_MEMINFO_FWD_ALLOC`).
  public var forwardAllocated: Int
  /// Memory queued for sending, not yet acknowledged, with its per-buffer overhead
  /// (`SK_MEMINFO_WMEM_QUEUED`, `sk_wmem_queued`).
  public var sendQueued: Int
  /// Memory for socket options and ancillary data (`SK_MEMINFO_OPTMEM`).
  public var optionMemory: Int
  /// Packets waiting in the backlog while the socket was locked (`SK_MEMINFO_BACKLOG`).
  public var backlog: Int
  /// Packets dropped because the receive buffer was full (`SK_MEMINFO_DROPS`); nil when
  /// the kernel does not report it (before Linux 4.15).
  public var drops: Int?

  /// Counters with these values.
  public init(
    receiveAllocated: Int, receiveBufferLimit: Int, sendAllocated: Int, sendBufferLimit: Int, forwardAllocated: Int,
    sendQueued: Int, optionMemory: Int, backlog: Int, drops: Int?
  ) {
    self.receiveAllocated = receiveAllocated
    self.receiveBufferLimit = receiveBufferLimit
    self.sendAllocated = sendAllocated
    self.sendBufferLimit = sendBufferLimit
    self.forwardAllocated = forwardAllocated
    self.sendQueued = sendQueued
    self.optionMemory = optionMemory
    self.backlog = backlog
    self.drops = drops
  }
}

extension FileDescriptor {
  /// The memory counters of this socket (any family: TCP, UDP, Unix).
  ///
  /// - Returns: The counters (a snapshot; they change as the peer acknowledges data).
  /// - Throws: `Errno`: `.notSocket` (`ENOTSOCK`), `.badFileDescriptor`,
  ///   `.protocolNotAvailable` (`ENOPROTOOPT`: a kernel before 4.12, which has no
  ///   `SO_MEMINFO`).
  ///
  /// The corresponding C call is `getsockopt(fd, SOL_SOCKET, SO_MEMINFO)`.
  public func socketMemory() throws(Errno) -> SocketMemory {
    // On the stack: a server asks before each write.
    let result: Result<SocketMemory, Errno> = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: SK_MEMINFO_VARS) {
      raw in
      raw.initialize(repeating: 0)
      let fd = rawValue
      let count: Int
      do throws(Errno) {
        count = Int(try valueOrErrno { system_socket_meminfo(fd, raw.baseAddress!, CUnsignedInt(raw.count)) })
      } catch {
        return .failure(error)
      }
      func value(_ index: Int) -> Int { Int(raw[index]) }
      return .success(
        SocketMemory(
          receiveAllocated: value(SK_MEMINFO_RMEM_ALLOC), receiveBufferLimit: value(SK_MEMINFO_RCVBUF),
          sendAllocated: value(SK_MEMINFO_WMEM_ALLOC), sendBufferLimit: value(SK_MEMINFO_SNDBUF),
          forwardAllocated: value(SK_MEMINFO_FWD_ALLOC), sendQueued: value(SK_MEMINFO_WMEM_QUEUED),
          optionMemory: value(SK_MEMINFO_OPTMEM), backlog: value(SK_MEMINFO_BACKLOG),
          drops: count > SK_MEMINFO_DROPS ? value(SK_MEMINFO_DROPS) : nil))
    }
    return try result.get()
  }
}
