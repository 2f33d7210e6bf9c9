// What a transfer's source or destination is: a file, a pipe, a socket… and the facts
// about it that decide which strategies can move bytes to or from it.

public import LinuxIO
public import SystemPackage

/// One end of a transfer, inspected once: what kind of descriptor it is, and the facts
/// the strategies and `.automatic` decide on (size, filesystem, open flags).
///
/// Create one with ``inspect(_:path:)``; the transfer API does it for you.
public struct TransferEndpoint: Sendable, Hashable, CustomStringConvertible {
  /// What kind of descriptor an endpoint is: LinuxIO's `TransferPlan.EndpointKind`, the
  /// classification C's `zc_endpoint_inspect` makes (one type for both languages; before
  /// this alias ZeroCopy had its own copy with `String` raw values — the names, which
  /// `description` returns, are unchanged).
  public typealias Kind = TransferPlan.EndpointKind

  /// The descriptor (not owned: the caller keeps it open for the transfer).
  public let descriptor: FileDescriptor
  /// What the inspection found: LinuxIO's `TransferPlan.Endpoint` (the fields of C's
  /// `zc_endpoint`), which the properties below read.
  public let facts: TransferPlan.Endpoint
  /// The path the descriptor was opened from, if the caller knows it (used in errors).
  public let path: FilePath?

  /// What kind of descriptor it is.
  public var kind: Kind { facts.kind }
  /// The size in bytes of a `Kind.file` at inspection time; `nil` for every other kind.
  public var size: Int64? { facts.size }
  /// The device the file lives on (`st_dev`): two files with the same device are on the
  /// same filesystem (the condition for `copy_file_range` and reflinks).
  public var device: UInt64 { facts.device }
  /// The inode number (`st_ino`); with ``device`` it identifies the file.
  public var inode: UInt64 { facts.inode }
  /// The file mode bits (`st_mode & 0o7777`).
  public var permissions: UInt32 { facts.permissions }
  /// Whether the descriptor was opened with `O_APPEND` (`sendfile`, `splice` and
  /// `copy_file_range` then fail with `EINVAL`).
  public var isAppendOnly: Bool { facts.isAppendOnly }
  /// Whether the descriptor is non-blocking (`O_NONBLOCK`): strategies then wait with
  /// `poll` whenever the kernel answers `EAGAIN`.
  public var isNonBlocking: Bool { facts.isNonBlocking }

  /// Creates an endpoint description by hand (for tests and custom front ends). Prefer
  /// ``inspect(_:path:)``, which reads every fact from the kernel.
  public init(
    descriptor: FileDescriptor, kind: Kind, size: Int64? = nil, device: UInt64 = 0, inode: UInt64 = 0,
    permissions: UInt32 = 0o644, isAppendOnly: Bool = false, isNonBlocking: Bool = false, path: FilePath? = nil
  ) {
    self.init(
      descriptor: descriptor,
      facts: TransferPlan.Endpoint(
        kind: kind, size: size, device: device, inode: inode, permissions: permissions, isAppendOnly: isAppendOnly,
        isNonBlocking: isNonBlocking),
      path: path)
  }

  /// An endpoint description from facts read elsewhere (`TransferPlan.inspect`, or by hand).
  public init(descriptor: FileDescriptor, facts: TransferPlan.Endpoint, path: FilePath? = nil) {
    self.descriptor = descriptor
    self.facts = facts
    self.path = path
  }

  /// Whether the endpoint has file offsets (a regular file, pseudo file or block device):
  /// strategies read and write it at explicit offsets.
  public var isSeekable: Bool { kind.isSeekable }

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
  /// - Throws: ``ZeroCopyError`` (operation `transfer`) naming the call that failed:
  ///   `fstat` (`EBADF` for a closed descriptor) or `fcntl` (`F_GETFL`).
  ///
  /// The corresponding C function is `zc_endpoint_inspect_call` (through LinuxIO's
  /// `TransferPlan.inspectEndpoint`), which makes the calls above: C's `zc_transfer`
  /// classifies descriptors with the same code.
  public static func inspect(_ descriptor: FileDescriptor, path: FilePath? = nil) throws(ZeroCopyError) -> TransferEndpoint {
    do {
      return TransferEndpoint(descriptor: descriptor, facts: try TransferPlan.inspectEndpoint(descriptor), path: path)
    } catch {
      throw ZeroCopyError(
        .transfer, syscall: error.syscall, errno: error.errno, paths: path.map { [$0] } ?? [],
        descriptors: [descriptor], message: "cannot inspect the descriptor")
    }
  }
}

extension TransferEndpoint {
  /// This endpoint with ``size`` read again (one `fstat`): for a transfer "until the end"
  /// between endpoints inspected earlier.
  ///
  /// - Throws: ``ZeroCopyError`` (operation `transfer`, syscall `fstat`).
  internal func refreshingSize() throws(ZeroCopyError) -> TransferEndpoint {
    let size: Int64
    do {
      size = try TransferPlan.currentSize(of: descriptor)
    } catch {
      throw ZeroCopyError(
        .transfer, syscall: "fstat", errno: error, paths: path.map { [$0] } ?? [], descriptors: [descriptor],
        message: "cannot read the source's size")
    }
    var facts = self.facts
    facts.size = size
    return TransferEndpoint(descriptor: descriptor, facts: facts, path: path)
  }
}

extension TransferPlan.EndpointKind {
  /// Whether descriptors of this kind have file offsets (``TransferEndpoint/isSeekable``).
  internal var isSeekable: Bool { self == .file || self == .pseudoFile || self == .blockDevice }
}

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
