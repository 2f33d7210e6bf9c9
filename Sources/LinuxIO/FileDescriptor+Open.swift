// Opening a path relative to a directory descriptor: openat(2), and openat2(2) with its
// RESOLVE_* rules, which confine the whole lookup (to the directory, to no symlinks…) in
// the kernel — the safe way to open a path that came from outside. And creating a
// temporary file with a unique name, close-on-exec from the start: mkostemp(3).

import CLinuxExtras
import Glibc
public import SystemPackage

extension FileDescriptor.OpenOptions {
  /// `O_PATH`: a descriptor that names a file without opening it for reading or writing —
  /// to use as the directory of a relative open, for `fstat`, or to pass along. Reads,
  /// writes and `fgetxattr` on it fail with `EBADF`. Other options are ignored except
  /// `.directory`, `.noFollow` (the descriptor then names the symbolic link itself) and
  /// `.closeOnExec`.
  ///
  /// Glibc hides the constant from Swift (it is GNU-only); this is `O_PATH` of the running
  /// architecture (0o10000000 on x86_64 and arm64).
  public static var path: Self { Self(rawValue: zc_extras_O_PATH) }

  /// `O_NOCTTY`: opening a terminal does not make it the process's controlling terminal.
  public static var noControllingTerminal: Self { Self(rawValue: O_NOCTTY) }
}

extension FileDescriptor {
  /// How `openat2(2)` may resolve a path: the `RESOLVE_*` rules, enforced by the kernel
  /// for every component of the path, symbolic links included.
  ///
  /// ``beneath`` with ``noMagicLinks`` keeps a path that came from outside (a URL, an
  /// archive entry) inside a directory, without races: a check of the path followed by
  /// an `open` could be fooled by a rename in between; this cannot.
  public struct ResolveOptions: OptionSet, Sendable, Hashable {
    /// The `RESOLVE_*` bits (`struct open_how`'s `resolve`).
    public let rawValue: UInt64
    /// Creates a set from `RESOLVE_*` bits.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Refuse to cross a mount point, bind mounts included (`RESOLVE_NO_XDEV`; `EXDEV`).
    public static let noMountCrossing = ResolveOptions(rawValue: UInt64(RESOLVE_NO_XDEV))
    /// Refuse `/proc` "magic links" such as `/proc/self/fd/N` and `/proc/PID/exe`
    /// (`RESOLVE_NO_MAGICLINKS`; `ELOOP`).
    public static let noMagicLinks = ResolveOptions(rawValue: UInt64(RESOLVE_NO_MAGICLINKS))
    /// Refuse every symbolic link, magic links included (`RESOLVE_NO_SYMLINKS`; `ELOOP`).
    public static let noSymbolicLinks = ResolveOptions(rawValue: UInt64(RESOLVE_NO_SYMLINKS))
    /// Refuse any step outside the directory: `..` above it, an absolute path, a symbolic
    /// link that leads out (`RESOLVE_BENEATH`; `EXDEV`). Symbolic links that stay inside
    /// are followed.
    public static let beneath = ResolveOptions(rawValue: UInt64(RESOLVE_BENEATH))
    /// Resolve as if the directory were the root (`chroot`-like): `..` stops at it and
    /// absolute paths and symbolic links start from it (`RESOLVE_IN_ROOT`).
    public static let inRoot = ResolveOptions(rawValue: UInt64(RESOLVE_IN_ROOT))
    /// Only resolve from the kernel's caches, without I/O; `EAGAIN` otherwise
    /// (`RESOLVE_CACHED`, Linux 5.12).
    public static let cachedOnly = ResolveOptions(rawValue: UInt64(RESOLVE_CACHED))
  }

  /// Opens `path` relative to this directory (`openat(2)`); an absolute `path` ignores
  /// the directory.
  ///
  /// - Parameters:
  ///   - path: The file's path, relative to this directory.
  ///   - mode: Read, write or both.
  ///   - options: `O_*` options (`.path`, `.noFollow`, `.closeOnExec`…).
  ///   - permissions: The new file's permissions, with `.create`.
  ///   - retryOnInterrupt: Whether to open again when a signal interrupts the open
  ///     (`EINTR`, as when opening a FIFO).
  /// - Returns: The new descriptor; the caller closes it.
  /// - Throws: `Errno`, as `open(2)`: `.noSuchFileOrDirectory`, `.notDirectory` (a
  ///   component, or this descriptor, is not a directory), `.tooManySymbolicLinkLevels`
  ///   (`ELOOP`, also a final symbolic link with `.noFollow`), `.permissionDenied`,
  ///   `.isDirectory`, `.badFileDescriptor`, `.tooManyOpenFiles`, `.interrupted` (only
  ///   when `retryOnInterrupt` is false).
  ///
  /// The corresponding C call is `openat`.
  public func open(
    relative path: FilePath, _ mode: AccessMode, options: OpenOptions = [], permissions: FilePermissions? = nil,
    retryOnInterrupt: Bool = true
  ) throws(Errno) -> FileDescriptor {
    try withCPath(path) { cPath throws(Errno) in
      try open(relative: cPath, mode, options: options, permissions: permissions, retryOnInterrupt: retryOnInterrupt)
    }
  }

  /// Opens the NUL-terminated `path` relative to this directory (`openat(2)`); as
  /// ``open(relative:_:options:permissions:retryOnInterrupt:)-(FilePath,_,_,_,_)``.
  ///
  /// - Parameters:
  ///   - path: A NUL-terminated path, relative to this directory.
  ///   - mode: Read, write or both.
  ///   - options: `O_*` options.
  ///   - permissions: The new file's permissions, with `.create`.
  ///   - retryOnInterrupt: Whether to open again on `EINTR`.
  /// - Returns: The new descriptor; the caller closes it.
  /// - Throws: `Errno`, as ``open(relative:_:options:permissions:retryOnInterrupt:)-(FilePath,_,_,_,_)``.
  ///
  /// The corresponding C call is `openat`.
  public func open(
    relative path: UnsafePointer<CChar>, _ mode: AccessMode, options: OpenOptions = [],
    permissions: FilePermissions? = nil, retryOnInterrupt: Bool = true
  ) throws(Errno) -> FileDescriptor {
    let flags = mode.rawValue | options.rawValue
    let fd = try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
      system_openat(rawValue, path, flags, permissions?.rawValue ?? 0)
    }
    return FileDescriptor(rawValue: fd)
  }

  /// Opens `path` relative to this directory with `openat2(2)`, which resolves the whole
  /// path under the rules in `resolve` — for example, never outside this directory.
  ///
  /// ```swift
  /// import LinuxIO
  /// import SystemPackage
  ///
  /// let root = try FileDescriptor.open("/srv/www", .readOnly, options: [.path, .directory, .closeOnExec])
  /// do {
  ///   let file = try root.open(
  ///     relative: "../etc/passwd", .readOnly, options: .closeOnExec, resolve: [.beneath, .noMagicLinks])
  ///   try file.close()
  /// } catch Errno.improperLink {
  ///   print("outside the root")  // EXDEV
  /// }
  /// ```
  ///
  /// - Parameters:
  ///   - path: The file's path, relative to this directory.
  ///   - mode: Read, write or both.
  ///   - options: `O_*` options. Unlike `open`, the kernel refuses unknown bits
  ///     (`EINVAL`).
  ///   - permissions: The new file's permissions; only with `.create` (the kernel refuses
  ///     a mode without it: `EINVAL`).
  ///   - resolve: The `RESOLVE_*` rules (may be empty: then like `openat`).
  ///   - retryOnInterrupt: Whether to open again on `EINTR`. (`EAGAIN`, which the kernel
  ///     returns with ``ResolveOptions/beneath`` or ``ResolveOptions/inRoot`` when a
  ///     rename or mount raced with the lookup, or for ``ResolveOptions/cachedOnly``, is
  ///     thrown: retry it if you want.)
  /// - Returns: The new descriptor; the caller closes it.
  /// - Throws: `Errno`: as `openat`, and `.improperLink` (`EXDEV`: the path leaves this
  ///   directory under ``ResolveOptions/beneath``, or crosses a mount under
  ///   ``ResolveOptions/noMountCrossing``), `.tooManySymbolicLinkLevels` (`ELOOP`: a link
  ///   refused by ``ResolveOptions/noSymbolicLinks`` or ``ResolveOptions/noMagicLinks``),
  ///   `.resourceTemporarilyUnavailable` (`EAGAIN`, above), `.invalidArgument` (unknown
  ///   `options` or `resolve` bits, a mode without `.create`, ``ResolveOptions/beneath``
  ///   with ``ResolveOptions/inRoot``), `.noFunction` (`ENOSYS`: a kernel before 5.6, or a
  ///   seccomp filter — container runtimes — that refuses the call) and `.argListTooLong`
  ///   (`E2BIG`: a kernel that does not know this `struct open_how`). On `ENOSYS` and
  ///   `E2BIG` fall back to `openat`, with the checks the kernel would have made done
  ///   another way (for example one `openat(O_NOFOLLOW)` per component).
  ///
  /// The corresponding C call is `openat2` (through `syscall(SYS_openat2)`; Glibc has no
  /// wrapper).
  public func open(
    relative path: FilePath, _ mode: AccessMode, options: OpenOptions = [], permissions: FilePermissions? = nil,
    resolve: ResolveOptions, retryOnInterrupt: Bool = true
  ) throws(Errno) -> FileDescriptor {
    try withCPath(path) { cPath throws(Errno) in
      try open(
        relative: cPath, mode, options: options, permissions: permissions, resolve: resolve,
        retryOnInterrupt: retryOnInterrupt)
    }
  }

  /// Opens the NUL-terminated `path` relative to this directory with `openat2(2)`; as
  /// ``open(relative:_:options:permissions:resolve:retryOnInterrupt:)-(FilePath,_,_,_,_,_)``.
  ///
  /// - Parameters:
  ///   - path: A NUL-terminated path, relative to this directory.
  ///   - mode: Read, write or both.
  ///   - options: `O_*` options.
  ///   - permissions: The new file's permissions; only with `.create`.
  ///   - resolve: The `RESOLVE_*` rules.
  ///   - retryOnInterrupt: Whether to open again on `EINTR`.
  /// - Returns: The new descriptor; the caller closes it.
  /// - Throws: `Errno`, as ``open(relative:_:options:permissions:resolve:retryOnInterrupt:)-(FilePath,_,_,_,_,_)``.
  ///
  /// The corresponding C call is `openat2`.
  public func open(
    relative path: UnsafePointer<CChar>, _ mode: AccessMode, options: OpenOptions = [],
    permissions: FilePermissions? = nil, resolve: ResolveOptions, retryOnInterrupt: Bool = true
  ) throws(Errno) -> FileDescriptor {
    // `open_how.flags` is 64 bits: the CInt flags are zero-extended, not sign-extended
    // (O_* never uses the sign bit).
    let flags = UInt64(UInt32(bitPattern: mode.rawValue | options.rawValue))
    let mode = UInt64(permissions?.rawValue ?? 0)
    let fd = try valueOrErrno(retryOnInterrupt: retryOnInterrupt) {
      system_openat2(rawValue, path, flags, mode, resolve.rawValue)
    }
    return FileDescriptor(rawValue: fd)
  }

  /// Creates a new file with a unique name made from `template` and opens it for reading
  /// and writing, close-on-exec from the start (`mkostemp(template, O_CLOEXEC)`): unlike
  /// `mkstemp` followed by ``setCloseOnExec()``, no child that another thread forks and
  /// execs in between inherits the descriptor.
  ///
  /// ```swift
  /// import LinuxIO
  /// import SystemPackage
  ///
  /// let (file, path) = try FileDescriptor.createTemporaryFile(template: "/tmp/report.XXXXXX")
  /// defer { try? file.close() }
  /// try FileDescriptor.currentWorkingDirectory.removeEntry(path)  // anonymous from now on
  /// ```
  ///
  /// The file is created with `O_CREAT | O_EXCL` (never an existing file) and mode 0600,
  /// less the process's umask. It stays in the directory until removed.
  ///
  /// - Parameter template: The new file's path; its last component must end in
  ///   `XXXXXX`, which is replaced by six characters that make the name unique.
  /// - Returns: The new descriptor (the caller closes it) and the file's path: `template`
  ///   with the six characters filled in.
  /// - Throws: `Errno`, as `mkostemp(3)` (that is, `open(2)`): `.invalidArgument`
  ///   (`template` does not end in `XXXXXX`), `.noSuchFileOrDirectory` (the directory does
  ///   not exist), `.notDirectory`, `.permissionDenied`, `.readOnlyFileSystem`,
  ///   `.fileExists` (no unique name found after many tries), `.tooManyOpenFiles`,
  ///   `.noSpace`. `EINTR` is retried, from the original template.
  ///
  /// The corresponding C call is `mkostemp` (glibc; Swift's Glibc module hides it), with
  /// `O_CLOEXEC`.
  public static func createTemporaryFile(template: FilePath) throws(Errno) -> (descriptor: FileDescriptor, path: FilePath) {
    let original: [CChar] = template.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)) }
    var name = original
    let fd = try valueOrErrno {
      // A failed attempt may have replaced the X's already: each one starts from the template.
      name = original
      return name.withUnsafeMutableBufferPointer { system_mkostemp($0.baseAddress!, O_CLOEXEC) }
    }
    let path = name.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
    return (FileDescriptor(rawValue: fd), path)
  }
}
