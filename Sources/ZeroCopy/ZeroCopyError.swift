// The one error type of the ZeroCopy layer (Docs/Architecture.md, "Conventions").

public import SystemPackage

/// An I/O operation failed: what was attempted, with which system call or io_uring
/// opcode, the `errno`, the paths and descriptors involved, and how far it got.
///
/// Every throwing API in this module throws this type (typed throws), and every
/// buffer-owning API reports it in its ``IOResult``. Programmer errors (a range outside a
/// buffer, a negative offset) are preconditions instead.
///
/// ```swift
/// import ZeroCopy
///
/// do {
///   let file = try await AsyncFile.open("missing.bin")
///   try await file.close()
/// } catch {
///   print(error.operation, error.syscall, error.errno, error.paths)
///   // open  IORING_OP_OPENAT  No such file or directory  [missing.bin]
/// }
/// ```
public struct ZeroCopyError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What the caller asked for.
  public var operation: Operation
  /// The system call (`pread64`, `openat`…) or io_uring opcode (`IORING_OP_READ`…) that
  /// failed, or a short description for failures that have no single call.
  public var syscall: String
  /// The error number. Cancellation is `ECANCELED` (``isCancellation``); an operation
  /// attempted on a closed file or socket is `EBADF` with a ``message`` saying so.
  public var errno: Errno
  /// The paths involved, if known (source first).
  public var paths: [FilePath]
  /// The descriptors involved (source first).
  public var descriptors: [FileDescriptor]
  /// The byte offset the operation had reached when it failed: for a positioned read or
  /// write, its offset plus the bytes moved before the failure; `nil` for operations
  /// without an offset (open, connect, a stream read).
  public var offset: Int64?
  /// Bytes the operation moved before it failed (`writeAll`, chunk sequences, transfers).
  public var bytesTransferred: Int64
  /// Extra context, if any.
  public var message: String?
  /// For a transfer (``Transfer``): the strategy that was running when it stopped, which
  /// delivered ``bytesTransferred`` (after any fallbacks); `nil` for other operations.
  public var strategy: String?

  /// Creates an error.
  public init(
    _ operation: Operation, syscall: String, errno: Errno, paths: [FilePath] = [],
    descriptors: [FileDescriptor] = [], offset: Int64? = nil, bytesTransferred: Int64 = 0,
    message: String? = nil
  ) {
    self.operation = operation
    self.syscall = syscall
    self.errno = errno
    self.paths = paths
    self.descriptors = descriptors
    self.offset = offset
    self.bytesTransferred = bytesTransferred
    self.message = message
  }

  /// Whether the operation ended because it (or its task) was cancelled (`ECANCELED`).
  public var isCancellation: Bool { errno == .canceled }

  /// A readable description.
  public var description: String {
    var s = "\(operation) failed: \(syscall): \(errno) (errno \(errno.rawValue))"
    // Quoted as coreutils quotes names: bytes that do not print (not UTF-8, controls) escaped.
    if !paths.isEmpty { s += "; path " + paths.map(\.shellQuoted).joined(separator: " -> ") }
    if !descriptors.isEmpty { s += "; fd " + descriptors.map { "\($0.rawValue)" }.joined(separator: " -> ") }
    if let offset { s += "; at offset \(offset)" }
    if bytesTransferred != 0 { s += "; after \(bytesTransferred) bytes" }
    if let message { s += "; \(message)" }
    return s
  }

  /// The operation that failed. Extensible: other parts of the module add constants.
  public struct Operation: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The raw value.
    public let rawValue: String
    /// Creates a value from its raw value.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A readable description.
    public var description: String { rawValue }

    /// Opening or creating a file.
    public static let open = Operation(rawValue: "open")
    /// A read into a buffer.
    public static let read = Operation(rawValue: "read")
    /// A write from a buffer.
    public static let write = Operation(rawValue: "write")
    /// A scatter read.
    public static let readv = Operation(rawValue: "readv")
    /// A gather write.
    public static let writev = Operation(rawValue: "writev")
    /// Flushing a file to storage.
    public static let sync = Operation(rawValue: "sync")
    /// Reading a file's status.
    public static let stat = Operation(rawValue: "stat")
    /// Closing a file or socket.
    public static let close = Operation(rawValue: "close")
    /// Reading a file as a sequence of chunks.
    public static let readChunks = Operation(rawValue: "readChunks")
    /// Creating a socket.
    public static let socket = Operation(rawValue: "socket")
    /// Binding and listening.
    public static let listen = Operation(rawValue: "listen")
    /// Accepting a connection.
    public static let accept = Operation(rawValue: "accept")
    /// Connecting a socket.
    public static let connect = Operation(rawValue: "connect")
    /// Sending on a socket.
    public static let send = Operation(rawValue: "send")
    /// Receiving from a socket.
    public static let receive = Operation(rawValue: "receive")
    /// Shutting down a socket direction.
    public static let shutdown = Operation(rawValue: "shutdown")
    /// Reading a socket's address.
    public static let address = Operation(rawValue: "address")
    /// Starting an engine.
    public static let startEngine = Operation(rawValue: "startEngine")
  }
}
