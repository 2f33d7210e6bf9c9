// The one error type of the ZeroCopy layer (Docs/Architecture.md, "Conventions").

import Glibc
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
  /// Extra context, if any. For a refusal (``isRefusal``), why the operation was refused.
  public var message: String?
  /// Whether the operation was refused before any system call failed — the source and
  /// destination are the same file, a directory would be copied into itself, a trailing
  /// slash names no directory… — rather than failing in a call. ``message`` says why (its
  /// first words are the reason, for people and scripts: "source and destination are the
  /// same file"); ``errno`` is the errno a caller would test (`EINVAL`, `EISDIR`,
  /// `ENOTDIR`…) and ``syscall`` the call that found the reason (`stat`, `fstatat`…).
  public var isRefusal: Bool
  /// For a transfer (``Transfer``): the strategy that was running when it stopped, which
  /// delivered ``bytesTransferred`` (after any fallbacks); `nil` for other operations.
  public var strategy: String?

  /// Creates an error.
  public init(
    _ operation: Operation, syscall: String, errno: Errno, paths: [FilePath] = [],
    descriptors: [FileDescriptor] = [], offset: Int64? = nil, bytesTransferred: Int64 = 0,
    message: String? = nil, isRefusal: Bool = false
  ) {
    self.operation = operation
    self.syscall = syscall
    self.errno = errno
    self.paths = paths
    self.descriptors = descriptors
    self.offset = offset
    self.bytesTransferred = bytesTransferred
    self.message = message
    self.isRefusal = isRefusal
  }

  /// Whether the operation ended because it (or its task) was cancelled (`ECANCELED`).
  public var isCancellation: Bool { errno == .canceled }

  /// A readable description.
  ///
  /// A failure: `copy failed: openat: No such file or directory (ENOENT, errno 2); path 'a' -> 'b'…`.
  /// A refusal says why first: `copy refused: source and destination are the same file…;
  /// stat: EINVAL (errno 22); path 'a' -> 'a'`.
  public var description: String {
    var s: String
    if isRefusal, let message {
      s = "\(operation) refused: \(message); \(syscall): \(errno.symbolicName) (errno \(errno.rawValue))"
    } else {
      s = "\(operation) failed: \(syscall): \(errno) (\(errno.symbolicName), errno \(errno.rawValue))"
    }
    // Quoted as coreutils quotes names: bytes that do not print (not UTF-8, controls) escaped.
    if !paths.isEmpty { s += "; path " + paths.map(\.shellQuoted).joined(separator: " -> ") }
    if !descriptors.isEmpty { s += "; fd " + descriptors.map { "\($0.rawValue)" }.joined(separator: " -> ") }
    if let offset { s += "; at offset \(offset)" }
    if bytesTransferred != 0 { s += "; after \(bytesTransferred) bytes" }
    if let message, !isRefusal { s += "; \(message)" }
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
    /// Allocating a file's blocks (``AsyncFile/allocate(at:length:keepSize:)``).
    public static let allocate = Operation(rawValue: "allocate")
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

extension Errno {
  /// The errno's C name (`"EXDEV"`, `"ELOOP"`, `"EADDRINUSE"`…): every value of this
  /// architecture's `<errno.h>` (Linux's uapi `asm/errno.h`; an alias such as `EWOULDBLOCK`
  /// or `ENOTSUP` gives the name that `<errno.h>` defines first, `EAGAIN`, `EOPNOTSUPP`), and
  /// the kernel-internal values 512…531 that occasionally reach user space (`ENOTSUPP`,
  /// 524, from some filesystems' `ioctl` and `copy_file_range` paths). `"errno N"` for any
  /// other value.
  public var symbolicName: String {
    errnoNames[rawValue] ?? "errno \(rawValue)"
  }
}

/// Built from Glibc's constants, so each name has this architecture's value (Alpha, MIPS,
/// SPARC and PA-RISC number many of them differently from asm-generic).
private let errnoNames: [CInt: String] = {
  let names: [(CInt, String)] = [
    (EPERM, "EPERM"), (ENOENT, "ENOENT"), (ESRCH, "ESRCH"), (EINTR, "EINTR"), (EIO, "EIO"), (ENXIO, "ENXIO"),
    (E2BIG, "E2BIG"), (ENOEXEC, "ENOEXEC"), (EBADF, "EBADF"), (ECHILD, "ECHILD"), (EAGAIN, "EAGAIN"),
    (ENOMEM, "ENOMEM"), (EACCES, "EACCES"), (EFAULT, "EFAULT"), (ENOTBLK, "ENOTBLK"), (EBUSY, "EBUSY"),
    (EEXIST, "EEXIST"), (EXDEV, "EXDEV"), (ENODEV, "ENODEV"), (ENOTDIR, "ENOTDIR"), (EISDIR, "EISDIR"),
    (EINVAL, "EINVAL"), (ENFILE, "ENFILE"), (EMFILE, "EMFILE"), (ENOTTY, "ENOTTY"), (ETXTBSY, "ETXTBSY"),
    (EFBIG, "EFBIG"), (ENOSPC, "ENOSPC"), (ESPIPE, "ESPIPE"), (EROFS, "EROFS"), (EMLINK, "EMLINK"),
    (EPIPE, "EPIPE"), (EDOM, "EDOM"), (ERANGE, "ERANGE"), (EDEADLK, "EDEADLK"), (ENAMETOOLONG, "ENAMETOOLONG"),
    (ENOLCK, "ENOLCK"), (ENOSYS, "ENOSYS"), (ENOTEMPTY, "ENOTEMPTY"), (ELOOP, "ELOOP"), (ENOMSG, "ENOMSG"),
    (EIDRM, "EIDRM"), (ECHRNG, "ECHRNG"), (EL2NSYNC, "EL2NSYNC"), (EL3HLT, "EL3HLT"), (EL3RST, "EL3RST"),
    (ELNRNG, "ELNRNG"), (EUNATCH, "EUNATCH"), (ENOCSI, "ENOCSI"), (EL2HLT, "EL2HLT"), (EBADE, "EBADE"),
    (EBADR, "EBADR"), (EXFULL, "EXFULL"), (ENOANO, "ENOANO"), (EBADRQC, "EBADRQC"), (EBADSLT, "EBADSLT"),
    (EBFONT, "EBFONT"), (ENOSTR, "ENOSTR"), (ENODATA, "ENODATA"), (ETIME, "ETIME"), (ENOSR, "ENOSR"),
    (ENONET, "ENONET"), (ENOPKG, "ENOPKG"), (EREMOTE, "EREMOTE"), (ENOLINK, "ENOLINK"), (EADV, "EADV"),
    (ESRMNT, "ESRMNT"), (ECOMM, "ECOMM"), (EPROTO, "EPROTO"), (EMULTIHOP, "EMULTIHOP"), (EDOTDOT, "EDOTDOT"),
    (EBADMSG, "EBADMSG"), (EOVERFLOW, "EOVERFLOW"), (ENOTUNIQ, "ENOTUNIQ"), (EBADFD, "EBADFD"),
    (EREMCHG, "EREMCHG"), (ELIBACC, "ELIBACC"), (ELIBBAD, "ELIBBAD"), (ELIBSCN, "ELIBSCN"), (ELIBMAX, "ELIBMAX"),
    (ELIBEXEC, "ELIBEXEC"), (EILSEQ, "EILSEQ"), (ERESTART, "ERESTART"), (ESTRPIPE, "ESTRPIPE"),
    (EUSERS, "EUSERS"), (ENOTSOCK, "ENOTSOCK"), (EDESTADDRREQ, "EDESTADDRREQ"), (EMSGSIZE, "EMSGSIZE"),
    (EPROTOTYPE, "EPROTOTYPE"), (ENOPROTOOPT, "ENOPROTOOPT"), (EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"), (EOPNOTSUPP, "EOPNOTSUPP"), (EPFNOSUPPORT, "EPFNOSUPPORT"),
    (EAFNOSUPPORT, "EAFNOSUPPORT"), (EADDRINUSE, "EADDRINUSE"), (EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (ENETDOWN, "ENETDOWN"), (ENETUNREACH, "ENETUNREACH"), (ENETRESET, "ENETRESET"),
    (ECONNABORTED, "ECONNABORTED"), (ECONNRESET, "ECONNRESET"), (ENOBUFS, "ENOBUFS"), (EISCONN, "EISCONN"),
    (ENOTCONN, "ENOTCONN"), (ESHUTDOWN, "ESHUTDOWN"), (ETOOMANYREFS, "ETOOMANYREFS"), (ETIMEDOUT, "ETIMEDOUT"),
    (ECONNREFUSED, "ECONNREFUSED"), (EHOSTDOWN, "EHOSTDOWN"), (EHOSTUNREACH, "EHOSTUNREACH"),
    (EALREADY, "EALREADY"), (EINPROGRESS, "EINPROGRESS"), (ESTALE, "ESTALE"), (EUCLEAN, "EUCLEAN"),
    (ENOTNAM, "ENOTNAM"), (ENAVAIL, "ENAVAIL"), (EISNAM, "EISNAM"), (EREMOTEIO, "EREMOTEIO"), (EDQUOT, "EDQUOT"),
    (ENOMEDIUM, "ENOMEDIUM"), (EMEDIUMTYPE, "EMEDIUMTYPE"), (ECANCELED, "ECANCELED"), (ENOKEY, "ENOKEY"),
    (EKEYEXPIRED, "EKEYEXPIRED"), (EKEYREVOKED, "EKEYREVOKED"), (EKEYREJECTED, "EKEYREJECTED"),
    (EOWNERDEAD, "EOWNERDEAD"), (ENOTRECOVERABLE, "ENOTRECOVERABLE"), (ERFKILL, "ERFKILL"),
    (EHWPOISON, "EHWPOISON"),
    // include/linux/errno.h: "should never be seen by user programs", yet a few leak (ENOTSUPP).
    (512, "ERESTARTSYS"), (513, "ERESTARTNOINTR"), (514, "ERESTARTNOHAND"), (515, "ENOIOCTLCMD"),
    (516, "ERESTART_RESTARTBLOCK"), (517, "EPROBE_DEFER"), (518, "EOPENSTALE"), (519, "ENOPARAM"),
    (521, "EBADHANDLE"), (522, "ENOTSYNC"), (523, "EBADCOOKIE"), (524, "ENOTSUPP"), (525, "ETOOSMALL"),
    (526, "ESERVERFAULT"), (527, "EBADTYPE"), (528, "EJUKEBOX"), (529, "EIOCBQUEUED"), (530, "ERECALLCONFLICT"),
    (531, "ENOGRACE"),
  ]
  var table: [CInt: String] = [:]
  for (value, name) in names where table[value] == nil { table[value] = name }
  return table
}()
