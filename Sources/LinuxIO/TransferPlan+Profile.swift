// Host profiles: the decision table's parameters measured on this machine (`zc calibrate`),
// read by the C library's parser (CShims/src/profile.c) so that C's `zc_transfer` and
// ZeroCopy's `.automatic` decide with the same numbers.

import CZeroCopy
import Glibc
public import SystemPackage

extension TransferPlan {
  /// The decision table's parameters as measured on one machine, and where they come
  /// from: a profile file written by `zc calibrate`, or the built-in table compiled into
  /// the C library (derived from a quiet run on the project's machine).
  ///
  /// The file is found at `$ZEROCOPY_PROFILE` (a path; `builtin` forces the built-in
  /// table), else `$XDG_CACHE_HOME/swift-zerocopy/profile`, else
  /// `~/.cache/swift-zerocopy/profile`. A file that cannot be used — another format
  /// version, malformed, unreadable, or written on another machine, kernel or CPU count —
  /// gives the built-in table and a ``note`` that says why; never an error.
  /// Docs/Transfer.md ("Host profiles") documents the format.
  ///
  /// ```swift
  /// import LinuxIO
  ///
  /// let profile = TransferPlan.Profile.host
  /// print(profile.name, profile.parameters)   // built-in smallCopyMax=16384 …
  /// if let note = profile.note { print(note) }
  /// ```
  public struct Profile: Sendable, Hashable, CustomStringConvertible {
    /// Where a profile's parameters came from (`zc_profile_source`).
    public enum Source: Sendable, Hashable {
      /// The built-in table: no profile file (`ZC_PROFILE_BUILTIN`).
      case builtIn
      /// The file at ``Profile/path`` (`ZC_PROFILE_FILE`).
      case file
      /// A file was named or found but not used; ``Profile/note`` says why, and the
      /// parameters are the built-in table's (`ZC_PROFILE_REJECTED`).
      case rejected
      /// Parameters a program passed in (``Profile/explicit(_:)``); no file.
      case explicit
    }

    /// The profile format this library reads and writes (`ZC_PROFILE_VERSION`).
    public static let formatVersion = Int(ZC_PROFILE_VERSION)
    /// The environment variable that names the profile file, or `builtin`
    /// (`ZC_PROFILE_ENV`).
    public static let environmentVariable = ZC_PROFILE_ENV

    /// The table's parameters.
    public var parameters: Parameters
    /// Where they came from.
    public var source: Source
    /// The file read, or considered (where a profile would be, for the built-in table;
    /// nil when there is no such place).
    public var path: FilePath?
    /// Why a file was not used, naming it; nil otherwise.
    public var note: String?
    /// The measuring host: 16 hex digits, a hash of its `/etc/machine-id` (the profile's
    /// `host` line).
    public var hostHash: String
    /// The measuring host's kernel release.
    public var kernel: String
    /// The measuring host's online CPUs.
    public var cpus: Int
    /// When it was measured (`YYYY-MM-DDTHH:MM:SSZ`).
    public var created: String
    /// How it was measured (free text, one line).
    public var measured: String

    /// What reports call it: the file's path, `built-in`, or `explicit parameters`.
    public var name: String {
      switch source {
      case .file: return path?.string ?? "?"
      case .explicit: return "explicit parameters"
      case .builtIn, .rejected: return "built-in"
      }
    }

    /// A profile for parameters a program chose itself (`AutomaticStrategy(parameters:)`):
    /// this host's identity, no file.
    public static func explicit(_ parameters: Parameters) -> Profile {
      var profile = builtIn
      profile.parameters = parameters
      profile.source = .explicit
      profile.measured = "given by the program"
      return profile
    }

    /// ``name``, and the note when a file was rejected.
    public var description: String {
      note.map { "\(name) (\($0))" } ?? name
    }

    /// The built-in table (`zc_profile_builtin`).
    public static let builtIn: Profile = {
      var c = zc_profile()
      zc_profile_builtin(&c)
      return Profile(c)
    }()

    /// This process's profile, located and read once (`zc_profile_host`): what
    /// `zc_transfer` without parameters and ZeroCopy's `AutomaticStrategy()` decide
    /// with. A profile written later is read by the next process.
    public static let host: Profile = Profile(zc_profile_host().pointee)

    /// Locates and reads this process's profile now, without the cache ``host`` keeps
    /// (`zc_profile_load_host`): no file where one would be is the built-in table with
    /// no note; a file named by ``environmentVariable`` that cannot be read is rejected.
    public static func loadHost() -> Profile {
      var c = zc_profile()
      _ = zc_profile_load_host(&c)
      return Profile(c)
    }

    /// Reads and checks the profile file at `path` (`zc_profile_load`): the profile, or
    /// the built-in table with ``Source/rejected`` and a note naming the file and the
    /// problem (cannot be opened, not a regular file, over 64 KiB, malformed, another
    /// format version, another machine, kernel or CPU count).
    public static func load(_ path: FilePath) -> Profile {
      var c = zc_profile()
      _ = path.withPlatformString { zc_profile_load($0, &c) }
      return Profile(c)
    }

    /// Parses profile text without checking where it was measured (`zc_profile_parse`).
    ///
    /// - Throws: ``TransferPlan/ProfileError`` with `EINVAL` (malformed: unknown, duplicate or missing
    ///   key, a bad value, a line over 1024 bytes, a NUL byte, over 64 KiB) or `EPROTO`
    ///   (another format version), and the reason with its line number.
    public static func parse(_ text: String) throws(ProfileError) -> Profile {
      var c = zc_profile()
      var utf8 = Array(text.utf8)
      let rc = utf8.withUnsafeMutableBufferPointer { buffer in
        buffer.baseAddress.map { base in
          base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { zc_profile_parse($0, buffer.count, &c) }
        } ?? zc_profile_parse("", 0, &c)
      }
      if rc < 0 { throw ProfileError(errno: Errno(rawValue: -rc), reason: Self.string(c.note)) }
      return Profile(c)
    }

    /// Whether this profile was measured on this machine: the same host hash, kernel
    /// release and online CPU count (`zc_profile_check_host`).
    ///
    /// - Throws: ``TransferPlan/ProfileError`` with `ESTALE` and the difference.
    public func checkHost() throws(ProfileError) {
      var c = cValue
      var note = [CChar](repeating: 0, count: 512)
      let rc = zc_profile_check_host(&c, &note, note.count)
      if rc < 0 {
        throw ProfileError(
          errno: Errno(rawValue: -rc),
          reason: String(decoding: note.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
      }
    }

    /// Where this process looks for its profile (`zc_profile_default_path`): nil when
    /// ``environmentVariable`` is `builtin`, or when neither it, `XDG_CACHE_HOME` nor
    /// `HOME` gives a place.
    public static var defaultPath: FilePath? {
      var buffer = [CChar](repeating: 0, count: 4096)
      guard zc_profile_default_path(&buffer, buffer.count) == 0 else { return nil }
      return FilePath(platformString: buffer)
    }

    /// A profile of this machine, now, with these parameters (`zc_profile_identify`):
    /// what `zc calibrate` writes.
    ///
    /// - Parameters:
    ///   - parameters: The measured parameters.
    ///   - measured: How they were measured (one line, no control characters).
    public static func measuredHere(parameters: Parameters, measured: String) -> Profile {
      var c = zc_profile()
      _ = zc_profile_identify(&c)
      c.params = parameters.c
      c.source = Int32(ZC_PROFILE_FILE.rawValue)
      var profile = Profile(c)
      profile.source = .file
      profile.path = nil
      var clean = String.UnicodeScalarView()
      for scalar in measured.unicodeScalars { clean.append(scalar.value < 0x20 || scalar.value == 0x7f ? " " : scalar) }
      profile.measured = String(clean)
      return profile
    }

    /// The profile in the file format (`zc_profile_format`): what ``write(to:)`` writes.
    ///
    /// - Throws: ``TransferPlan/ProfileError`` with `EINVAL` when a field cannot be written (a
    ///   control character, a host that is not 16 hex digits, a value out of range).
    public func formatted() throws(ProfileError) -> String {
      var c = cValue
      var buffer = [CChar](repeating: 0, count: 4096)
      let n = zc_profile_format(&c, &buffer, buffer.count)
      if n < 0 {
        throw ProfileError(errno: Errno(rawValue: -n), reason: "the profile cannot be written in format \(Self.formatVersion)")
      }
      return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes the profile to `path` atomically: a temporary file in the same directory
    /// (created, with its parents, when missing; mode 0755), fsynced, then renamed over
    /// `path` — a reader sees the old profile or the new one, never a part.
    ///
    /// - Throws: ``TransferPlan/ProfileError`` with the errno of `mkdir`, `open`, `write`, `fsync` or
    ///   `rename` (the temporary file is removed), or as ``formatted()``.
    public func write(to path: FilePath) throws(ProfileError) {
      let text = try formatted()
      let directory = path.removingLastComponent()
      try Self.makeDirectories(directory)
      let fd: CInt
      let temporary: String
      do {
        let created = try FileDescriptor.createTemporaryFile(template: FilePath(path.string + ".tmp-XXXXXX"))
        fd = created.descriptor.rawValue
        temporary = created.path.string
      } catch {
        throw ProfileError(errno: error, reason: "cannot create a file next to \(path)")
      }
      func fail(_ what: String) -> ProfileError {
        let e = Errno(rawValue: Glibc.errno)
        close(fd)
        unlink(temporary)
        return ProfileError(errno: e, reason: "\(what) \(temporary)")
      }
      var bytes = Array(text.utf8)
      var done = 0
      while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && Glibc.errno == EINTR { continue }
        if n <= 0 { throw fail("cannot write") }
        done += n
      }
      bytes.removeAll()
      if fchmod(fd, 0o644) != 0 { throw fail("cannot chmod") }
      if fsync(fd) != 0 { throw fail("cannot fsync") }
      close(fd)
      if rename(temporary, path.string) != 0 {
        let e = Errno(rawValue: Glibc.errno)
        unlink(temporary)
        throw ProfileError(errno: e, reason: "cannot rename \(temporary) to \(path)")
      }
    }

    private static func makeDirectories(_ directory: FilePath) throws(ProfileError) {
      if directory.isEmpty || directory.string == "/" { return }
      var st = stat()
      if stat(directory.string, &st) == 0 {
        if (st.st_mode & S_IFMT) == S_IFDIR { return }
        throw ProfileError(errno: .notDirectory, reason: "\(directory) is not a directory")
      }
      try makeDirectories(directory.removingLastComponent())
      if mkdir(directory.string, 0o755) != 0 && Glibc.errno != EEXIST {
        throw ProfileError(errno: Errno(rawValue: Glibc.errno), reason: "cannot create \(directory)")
      }
    }

    init(_ c: zc_profile) {
      parameters = Parameters(c.params)
      switch c.source {
      case Int32(ZC_PROFILE_FILE.rawValue): source = .file
      case Int32(ZC_PROFILE_REJECTED.rawValue): source = .rejected
      default: source = .builtIn
      }
      let p = Self.string(c.path)
      path = p.isEmpty ? nil : FilePath(p)
      let n = Self.string(c.note)
      note = n.isEmpty ? nil : n
      hostHash = Self.string(c.host)
      kernel = Self.string(c.kernel)
      cpus = Int(c.cpus)
      created = Self.string(c.created)
      measured = Self.string(c.measured)
    }

    var cValue: zc_profile {
      var c = zc_profile()
      c.params = parameters.c
      switch source {
      case .builtIn, .explicit: c.source = Int32(ZC_PROFILE_BUILTIN.rawValue)
      case .file: c.source = Int32(ZC_PROFILE_FILE.rawValue)
      case .rejected: c.source = Int32(ZC_PROFILE_REJECTED.rawValue)
      }
      Self.store(path?.string ?? "", in: &c.path)
      Self.store(note ?? "", in: &c.note)
      Self.store(hostHash, in: &c.host)
      Self.store(kernel, in: &c.kernel)
      c.cpus = Int32(clamping: cpus)
      Self.store(created, in: &c.created)
      Self.store(measured, in: &c.measured)
      return c
    }

    /// A NUL-terminated C array (imported as a tuple) as a String.
    private static func string<T>(_ tuple: T) -> String {
      withUnsafeBytes(of: tuple) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
    }

    /// Stores `value` (truncated to fit, NUL-terminated) in a C array imported as a tuple.
    private static func store<T>(_ value: String, in tuple: inout T) {
      withUnsafeMutableBytes(of: &tuple) { raw in
        let bytes = Array(value.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
      }
    }
  }

  /// Why profile text could not be parsed or checked, or a profile written.
  public struct ProfileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `EINVAL` (malformed), `EPROTO` (another format version), `ESTALE` (another
    /// machine), or the errno of the failed system call.
    public var errno: Errno
    /// The reason, with a line number for a parse error.
    public var reason: String

    /// Creates an error.
    public init(errno: Errno, reason: String) {
      self.errno = errno
      self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
  }
}
