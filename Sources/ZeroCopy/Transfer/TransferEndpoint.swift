// What a transfer's source or destination is: a file, a pipe, a socket… and the facts
// about it that decide which strategies can move bytes to or from it.

import Glibc
public import SystemPackage

/// One end of a transfer, inspected once: what kind of descriptor it is, and the facts
/// the strategies and `.automatic` decide on (size, filesystem, open flags).
///
/// Create one with ``inspect(_:path:)``; the transfer API does it for you.
public struct TransferEndpoint: Sendable, Hashable, CustomStringConvertible {
  /// What kind of descriptor an endpoint is.
  public enum Kind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A regular file whose size describes its contents.
    case file
    /// A regular file on a pseudo filesystem (procfs, sysfs, debugfs, cgroupfs…) whose
    /// size says nothing about its contents (`/proc/self/status` has size 0). Such files
    /// refuse `sendfile` (`EINVAL`) and `copy_file_range` (`EXDEV`) and cannot be mapped;
    /// read/write is the way to copy them.
    case pseudoFile
    /// A block device.
    case blockDevice
    /// A character device (`/dev/zero`, a terminal…).
    case characterDevice
    /// A pipe or FIFO.
    case pipe
    /// A TCP socket (`AF_INET`/`AF_INET6`, `SOCK_STREAM`).
    case tcpSocket
    /// A Unix-domain socket (`AF_UNIX`).
    case unixSocket
    /// Any other socket (UDP, netlink…).
    case otherSocket
    /// A directory (never a valid transfer end).
    case directory
    /// Anything else (an eventfd, an epoll or io_uring descriptor…).
    case other

    /// The kind's name, as `zc probe` prints it.
    public var description: String { rawValue }
  }

  /// The descriptor (not owned: the caller keeps it open for the transfer).
  public let descriptor: FileDescriptor
  /// What kind of descriptor it is.
  public let kind: Kind
  /// The size in bytes of a ``Kind/file`` at inspection time; `nil` for every other kind.
  public let size: Int64?
  /// The device the file lives on (`st_dev`): two files with the same device are on the
  /// same filesystem (the condition for `copy_file_range` and reflinks).
  public let device: UInt64
  /// The inode number (`st_ino`); with ``device`` it identifies the file.
  public let inode: UInt64
  /// The file mode bits (`st_mode & 0o7777`).
  public let permissions: UInt32
  /// Whether the descriptor was opened with `O_APPEND` (`sendfile`, `splice` and
  /// `copy_file_range` then fail with `EINVAL`).
  public let isAppendOnly: Bool
  /// Whether the descriptor is non-blocking (`O_NONBLOCK`): strategies then wait with
  /// `poll` whenever the kernel answers `EAGAIN`.
  public let isNonBlocking: Bool
  /// The path the descriptor was opened from, if the caller knows it (used in errors).
  public let path: FilePath?

  /// Creates an endpoint description by hand (for tests and custom front ends). Prefer
  /// ``inspect(_:path:)``, which reads every fact from the kernel.
  public init(
    descriptor: FileDescriptor, kind: Kind, size: Int64? = nil, device: UInt64 = 0, inode: UInt64 = 0,
    permissions: UInt32 = 0o644, isAppendOnly: Bool = false, isNonBlocking: Bool = false, path: FilePath? = nil
  ) {
    self.descriptor = descriptor
    self.kind = kind
    self.size = size
    self.device = device
    self.inode = inode
    self.permissions = permissions
    self.isAppendOnly = isAppendOnly
    self.isNonBlocking = isNonBlocking
    self.path = path
  }

  /// Whether the endpoint has file offsets (a regular file, pseudo file or block device):
  /// strategies read and write it at explicit offsets.
  public var isSeekable: Bool { kind == .file || kind == .pseudoFile || kind == .blockDevice }

  /// Whether the endpoint is a socket of any family.
  public var isSocket: Bool { kind == .tcpSocket || kind == .unixSocket || kind == .otherSocket }

  /// Whether the endpoint can be mapped with `mmap` and read by `sendfile` (a regular
  /// file or a block device).
  public var isMappable: Bool { kind == .file || kind == .blockDevice }

  /// "kind fd N (path)".
  public var description: String {
    var s = "\(kind) fd \(descriptor.rawValue)"
    if let path { s += " '\(path)'" }
    return s
  }

  /// Inspects `descriptor`: `fstat` for its type, size and identity, `fcntl(F_GETFL)`
  /// for `O_APPEND`/`O_NONBLOCK`, `fstatfs` for regular files of size 0 or 4096 (to
  /// recognise pseudo filesystems, whose files report those sizes) and
  /// `getsockopt(SO_DOMAIN/SO_TYPE)` for sockets.
  ///
  /// - Parameters:
  ///   - descriptor: An open descriptor; not closed or modified.
  ///   - path: Its path, if known, for error messages.
  /// - Throws: ``ZeroCopyError`` (operation `transfer`, syscall `fstat`/`fcntl`) with
  ///   `EBADF` for a closed descriptor.
  ///
  /// The corresponding C functions are `fstat`, `fcntl`, `fstatfs` and `getsockopt`.
  public static func inspect(_ descriptor: FileDescriptor, path: FilePath? = nil) throws(ZeroCopyError) -> TransferEndpoint {
    var st = stat()
    guard fstat(descriptor.rawValue, &st) == 0 else {
      throw ZeroCopyError(
        .transfer, syscall: "fstat", errno: Errno(rawValue: Glibc.errno), paths: path.map { [$0] } ?? [],
        descriptors: [descriptor], message: "cannot inspect the descriptor")
    }
    let flags = fcntl(descriptor.rawValue, F_GETFL)
    guard flags >= 0 else {
      throw ZeroCopyError(
        .transfer, syscall: "fcntl(F_GETFL)", errno: Errno(rawValue: Glibc.errno),
        paths: path.map { [$0] } ?? [], descriptors: [descriptor])
    }
    let mode = UInt32(st.st_mode)
    var kind: Kind
    var size: Int64? = nil
    switch mode & 0o170000 {
    case 0o100000:
      // Pseudo filesystems report 0 (procfs, debugfs, cgroupfs…) or one page (sysfs,
      // configfs) whatever the contents: only such sizes cost an fstatfs.
      if (st.st_size == 0 || st.st_size == 4096) && isPseudoFileSystem(descriptor) {
        kind = .pseudoFile
      } else {
        kind = .file
        size = Int64(st.st_size)
      }
    case 0o060000: kind = .blockDevice
    case 0o020000: kind = .characterDevice
    case 0o010000: kind = .pipe
    case 0o140000: kind = socketKind(descriptor)
    case 0o040000: kind = .directory
    default: kind = .other
    }
    return TransferEndpoint(
      descriptor: descriptor, kind: kind, size: size, device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
      permissions: mode & 0o7777, isAppendOnly: flags & O_APPEND != 0, isNonBlocking: flags & O_NONBLOCK != 0,
      path: path)
  }

  /// Magic numbers (`statfs.f_type`) of filesystems whose files report sizes unrelated
  /// to their contents (linux/magic.h).
  private static let pseudoFileSystems: Set<Int> = [
    0x9fa0,  // PROC_SUPER_MAGIC
    0x6265_6572,  // SYSFS_MAGIC
    0x6462_6720,  // DEBUGFS_MAGIC
    0x7472_6163,  // TRACEFS_MAGIC
    0x7363_6673,  // SECURITYFS_MAGIC
    0x0027_e0eb,  // CGROUP_SUPER_MAGIC
    0x6367_7270,  // CGROUP2_SUPER_MAGIC
    0x6265_6570,  // CONFIGFS_MAGIC
    0xcafe_4a11,  // BPF_FS_MAGIC
    0x6165_676c,  // PSTOREFS_MAGIC
    0xde5e_81e4,  // EFIVARFS_MAGIC
    0x6573_5543,  // FUSECTL_SUPER_MAGIC
  ]

  private static func isPseudoFileSystem(_ descriptor: FileDescriptor) -> Bool {
    guard let fstatfs = fstatfsFunction else { return false }
    // struct statfs is 120 bytes on 64-bit Linux; its first field is `__fsword_t f_type`.
    var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                  UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                  UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                  UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    let type = withUnsafeMutableBytes(of: &buffer) { raw -> Int? in
      guard fstatfs(descriptor.rawValue, raw.baseAddress!) == 0 else { return nil }
      return Int(UInt32(truncatingIfNeeded: raw.load(as: Int.self)))
    }
    return type.map { pseudoFileSystems.contains($0) } ?? false
  }

  private static func socketKind(_ descriptor: FileDescriptor) -> Kind {
    var domain: CInt = 0
    var type: CInt = 0
    var length = socklen_t(MemoryLayout<CInt>.size)
    guard getsockopt(descriptor.rawValue, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 else { return .otherSocket }
    length = socklen_t(MemoryLayout<CInt>.size)
    guard getsockopt(descriptor.rawValue, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { return .otherSocket }
    if domain == AF_UNIX { return .unixSocket }
    if (domain == AF_INET || domain == AF_INET6) && type == CInt(SOCK_STREAM.rawValue) { return .tcpSocket }
    return .otherSocket
  }
}

// `fstatfs` (<sys/vfs.h>) is not part of the Glibc module: looked up once with dlsym, as
// Internal/Threads.swift does for the GNU extensions, instead of adding C for one call.
private typealias FstatfsFunction = @convention(c) (CInt, UnsafeMutableRawPointer) -> CInt
private let fstatfsFunction: FstatfsFunction? = {
  guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "fstatfs") else { return nil }
  return unsafeBitCast(symbol, to: FstatfsFunction.self)
}()

/// A transfer's two ends, as the strategies see them when they declare what they support.
public struct EndpointPair: Sendable, Hashable, CustomStringConvertible {
  /// Where the bytes come from.
  public let source: TransferEndpoint
  /// Where the bytes go.
  public let destination: TransferEndpoint

  /// Pairs two inspected endpoints.
  public init(source: TransferEndpoint, destination: TransferEndpoint) {
    self.source = source
    self.destination = destination
  }

  /// Whether both ends are files on the same filesystem (same `st_dev`): the condition
  /// for `copy_file_range` (`EXDEV` otherwise on current kernels) and reflinks.
  public var isSameFileSystem: Bool {
    source.isSeekable && destination.isSeekable && source.device == destination.device
  }

  /// Whether both ends are the same file (same device and inode).
  public var isSameFile: Bool {
    source.isSeekable && destination.isSeekable && source.device == destination.device
      && source.inode == destination.inode
  }

  /// "sourceKind → destinationKind".
  public var description: String { "\(source.kind) → \(destination.kind)" }
}
