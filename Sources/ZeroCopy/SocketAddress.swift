// Socket addresses: IPv4, IPv6 and Unix-domain.

import Glibc
public import SystemPackage

/// A socket address (`struct sockaddr_in`, `sockaddr_in6` or `sockaddr_un`).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
  /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
  public let family: Int32
  /// The raw `sockaddr` bytes.
  internal let bytes: [UInt8]

  internal init(family: Int32, bytes: [UInt8]) {
    self.family = family
    self.bytes = bytes
  }

  /// Reads a `sockaddr` the kernel filled (`getsockname`, `accept`).
  internal init(storage: sockaddr_storage, length: socklen_t) {
    var copy = storage
    self.family = Int32(storage.ss_family)
    self.bytes = withUnsafeBytes(of: &copy) { Array($0.prefix(Int(length))) }
  }

  /// An IPv4 address and port.
  ///
  /// - Parameters:
  ///   - address: Dotted decimal, such as `"127.0.0.1"`.
  ///   - port: The port (0: let the kernel choose, when binding).
  /// - Throws: ``ZeroCopyError`` (`EINVAL`) if `address` is not an IPv4 address.
  ///
  /// The corresponding C function is `inet_pton(AF_INET, …)`.
  public static func ipv4(_ address: String, port: UInt16) throws(ZeroCopyError) -> SocketAddress {
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else {
      throw ZeroCopyError(.address, syscall: "inet_pton", errno: .invalidArgument, message: "'\(address)' is not an IPv4 address")
    }
    return SocketAddress(family: AF_INET, bytes: withUnsafeBytes(of: &sin) { Array($0) })
  }

  /// An IPv6 address and port.
  ///
  /// - Parameters:
  ///   - address: Such as `"::1"`.
  ///   - port: The port.
  /// - Throws: ``ZeroCopyError`` (`EINVAL`) if `address` is not an IPv6 address.
  ///
  /// The corresponding C function is `inet_pton(AF_INET6, …)`.
  public static func ipv6(_ address: String, port: UInt16) throws(ZeroCopyError) -> SocketAddress {
    var sin6 = sockaddr_in6()
    sin6.sin6_family = sa_family_t(AF_INET6)
    sin6.sin6_port = port.bigEndian
    guard inet_pton(AF_INET6, address, &sin6.sin6_addr) == 1 else {
      throw ZeroCopyError(.address, syscall: "inet_pton", errno: .invalidArgument, message: "'\(address)' is not an IPv6 address")
    }
    return SocketAddress(family: AF_INET6, bytes: withUnsafeBytes(of: &sin6) { Array($0) })
  }

  /// `127.0.0.1` at `port` (0: an ephemeral port when binding).
  public static func loopback(port: UInt16 = 0) -> SocketAddress {
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return SocketAddress(family: AF_INET, bytes: withUnsafeBytes(of: &sin) { Array($0) })
  }

  /// A Unix-domain socket path.
  ///
  /// - Throws: ``ZeroCopyError`` (`ENAMETOOLONG`) if the path does not fit in `sun_path`
  ///   (107 bytes).
  public static func unix(_ path: FilePath) throws(ZeroCopyError) -> SocketAddress {
    var sun = sockaddr_un()
    sun.sun_family = sa_family_t(AF_UNIX)
    let utf8 = Array(path.string.utf8)
    let capacity = MemoryLayout.size(ofValue: sun.sun_path)
    guard utf8.count < capacity else {
      throw ZeroCopyError(
        .address, syscall: "sockaddr_un", errno: .fileNameTooLong, paths: [path],
        message: "a Unix socket path holds at most \(capacity - 1) bytes")
    }
    withUnsafeMutableBytes(of: &sun.sun_path) { raw in
      raw.copyBytes(from: utf8)
      raw[utf8.count] = 0
    }
    let length = MemoryLayout<sa_family_t>.size + utf8.count + 1
    return SocketAddress(family: AF_UNIX, bytes: withUnsafeBytes(of: &sun) { Array($0.prefix(length)) })
  }

  /// The port, for IPv4 and IPv6 addresses.
  public var port: UInt16? {
    switch family {
    case AF_INET, AF_INET6:
      // sin_port and sin6_port are both at offset 2.
      return UInt16(bytes[2]) << 8 | UInt16(bytes[3])
    default:
      return nil
    }
  }

  /// The Unix-domain path, for `AF_UNIX` addresses.
  public var path: FilePath? {
    guard family == AF_UNIX, bytes.count > 2 else { return nil }
    let raw = bytes[2...].prefix { $0 != 0 }
    return FilePath(String(decoding: raw, as: UTF8.self))
  }

  /// A readable description.
  public var description: String {
    switch family {
    case AF_INET:
      return "\(bytes[4]).\(bytes[5]).\(bytes[6]).\(bytes[7]):\(port ?? 0)"
    case AF_INET6:
      var text = [CChar](repeating: 0, count: 64)
      var sin6 = sockaddr_in6()
      withUnsafeMutableBytes(of: &sin6) { $0.copyBytes(from: bytes.prefix(MemoryLayout<sockaddr_in6>.size)) }
      _ = inet_ntop(AF_INET6, &sin6.sin6_addr, &text, socklen_t(text.count))
      let host = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
      return "[\(host)]:\(port ?? 0)"
    case AF_UNIX:
      return "unix:\(path?.string ?? "")"
    default:
      return "family \(family)"
    }
  }
}
