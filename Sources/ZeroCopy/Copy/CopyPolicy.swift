// cp's rules that a file copy and a tree copy share: which attributes are carried over
// (--preserve), what happens to an existing destination (-n, -u, -i, -f,
// --remove-destination), whether the data may be cloned (--reflink), hard links among the
// copied files (--preserve=links), and the events -v prints.

import Glibc
import LinuxIO
public import SystemPackage

/// File attributes a copy carries over from its source — cp's `--preserve=ATTR_LIST`.
///
/// Without ``mode``, a new file gets the source's permission bits less the umask, without
/// set-user-ID, set-group-ID and sticky bits (a new directory keeps a sticky bit), and an
/// existing file keeps its own — cp's default.
public struct CopyAttributes: OptionSet, Sendable, Hashable, CustomStringConvertible {
  /// The raw bits.
  public let rawValue: UInt8
  /// Creates a set from its raw bits.
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// The permission bits exactly, set-user-ID, set-group-ID and sticky included (dropped when
  /// ``ownership`` was asked for and could not be kept, as cp does), and the POSIX ACLs
  /// (`system.posix_acl_access`, and a directory's `system.posix_acl_default`).
  public static let mode = CopyAttributes(rawValue: 1 << 0)
  /// The owner and group (`fchown`). Without the privilege to give a file away, a failure
  /// is not an error (cp's rule): the group alone is tried, and the set-user-ID and
  /// set-group-ID bits are not copied.
  public static let ownership = CopyAttributes(rawValue: 1 << 1)
  /// Access and modification times, to the nanosecond (`futimens`/`utimensat`; a
  /// symbolic link's own times with `AT_SYMLINK_NOFOLLOW`).
  public static let timestamps = CopyAttributes(rawValue: 1 << 2)
  /// Files that are hard links of each other in the source are hard links of each other
  /// in the copy (`linkat`), within one copy and across copies that share a ``HardLinkMap``.
  public static let links = CopyAttributes(rawValue: 1 << 3)
  /// Extended attributes (`user.`, `trusted.`, `security.` — `security.capability` too),
  /// except those the kernel or ``mode`` handles: the POSIX and NFSv4 ACLs, `security.evm`,
  /// XFS's `trusted.SGI_*` and `xfsroot.*`, `user.Beagle.*`, `afs.*` (the default list of
  /// libattr's `/etc/xattr.conf`, which cp follows).
  public static let xattr = CopyAttributes(rawValue: 1 << 4)

  /// cp `-p`: mode, ownership, timestamps.
  public static let standard: CopyAttributes = [.mode, .ownership, .timestamps]
  /// cp `--preserve=all` (`-a`): everything above.
  public static let all: CopyAttributes = [.mode, .ownership, .timestamps, .links, .xattr]

  /// cp's names, comma-separated: `mode,ownership,timestamps,links,xattr`.
  public var description: String {
    let names: [(CopyAttributes, String)] = [
      (.mode, "mode"), (.ownership, "ownership"), (.timestamps, "timestamps"), (.links, "links"), (.xattr, "xattr"),
    ]
    return names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
  }
}

/// What a copy does when its destination exists (cp's default, `-n`, `-u`).
public enum ExistingFilePolicy: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Replace it (cp's default).
  case replace
  /// Keep it: nothing is copied, and it is not an error (cp `-n`, `--no-clobber`, in
  /// coreutils 9.1).
  case skip
  /// Replace it only when its modification time is older than the source's (cp `-u`,
  /// `--update`). Directories are always merged into.
  case replaceIfOlder

  /// The policy's name.
  public var description: String { rawValue }
}

/// How an existing destination file is replaced (cp's default, `-f`, `--remove-destination`).
public enum ReplaceMethod: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Write into it (open without creating, then truncate): it keeps its inode, mode, owner
  /// and other links, and a symbolic link is written through (cp's default).
  case writeInto
  /// Write into it; if it cannot be opened for writing (`EACCES`, `ETXTBSY`…), remove it
  /// and create a new file (cp `-f`, `--force`).
  case removeIfUnwritable
  /// Remove it first (a symbolic link itself, not its target), then create a new file
  /// (cp `--remove-destination`). A destination that is a hard link of the source is then
  /// replaced by a copy, not refused.
  case removeFirst

  /// The method's name.
  public var description: String { rawValue }
}

/// Whether the data may be shared with the source instead of copied — cp's `--reflink`.
public enum ReflinkMode: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Clone (share the source's extents, `ioctl(FICLONE)`) where the filesystem can (Btrfs,
  /// XFS with `reflink=1`, bcachefs, OCFS2), copy otherwise — cp 9's default.
  case auto
  /// Clone or fail (`EOPNOTSUPP`, `EXDEV`…): nothing is copied byte by byte.
  case always
  /// Never share extents: no `FICLONE`, and no `copy_file_range` either (which clones on
  /// Btrfs and XFS); the bytes are copied.
  case never

  /// The mode's name, as `--reflink` spells it.
  public var description: String { rawValue }
}

/// Which symbolic links a tree copy follows (cp's `-P`, `-H`, `-L`).
public enum SymlinkFollowing: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  /// Copy every symbolic link as a link (cp `-P`, and cp `-r`'s default).
  case never
  /// Follow the source itself if it is a symbolic link; copy links inside it as links
  /// (cp `-H`).
  case source
  /// Follow every symbolic link: copy what each names (cp `-L`). A link to a directory
  /// that contains it is refused ("cyclic"); a dangling link is an error.
  case always

  /// The mode's name.
  public var description: String { rawValue }
}

/// What `-i` asks before an existing file is replaced.
public struct ReplaceQuestion: Sendable, Hashable {
  /// The existing destination.
  public var destination: FilePath
  /// Its permission bits (`& 0o7777`).
  public var mode: UInt32
  /// Whether this process may write it (`faccessat(W_OK)`); cp then asks "unwritable …; try anyway?".
  public var isWritable: Bool
  /// Whether it would be removed rather than written into (`-f`, `--remove-destination`);
  /// cp then asks "replace …, overriding mode …?".
  public var willRemove: Bool

  /// A question (the copy builds them).
  public init(destination: FilePath, mode: UInt32, isWritable: Bool, willRemove: Bool) {
    self.destination = destination
    self.mode = mode
    self.isWritable = isWritable
    self.willRemove = willRemove
  }
}

/// Something a copy did, in the order it did it — what cp `-v` prints.
public struct CopyEvent: Sendable, Hashable, CustomStringConvertible {
  /// What happened.
  public enum Kind: String, Sendable, Hashable {
    /// An entry is being copied (a file before its data, a directory once created, a
    /// symbolic link, a special file, a hard link): cp's `'src' -> 'dst'`.
    case copying
    /// An existing destination was removed first (`--remove-destination`, `-f`): cp's
    /// `removed 'dst'`.
    case removed
  }

  /// What happened.
  public var kind: Kind
  /// The source entry (nil for ``Kind/removed``).
  public var source: FilePath?
  /// The destination entry.
  public var destination: FilePath

  /// An event (the copy emits them).
  public init(kind: Kind, source: FilePath?, destination: FilePath) {
    self.kind = kind
    self.source = source
    self.destination = destination
  }

  /// cp `-v`'s line: `'a' -> 'b'`, or `removed 'b'` (names quoted as coreutils quotes them).
  public var description: String {
    switch kind {
    case .copying: return "\(source?.shellQuoted ?? "?") -> \(destination.shellQuoted)"
    case .removed: return "removed \(destination.shellQuoted)"
    }
  }
}

/// cp's rules for the existing destination, the attributes, clones and hard links —
/// shared by ``Transfer/copy(from:to:strategy:options:)`` (``CopyOptions/policy``) and
/// ``TreeCopy`` (``TreeCopy/Options/policy``). The default is cp's default: replace
/// existing files by writing into them, carry over no attribute but the mode of a new
/// file, clone where the filesystem can.
public struct CopyPolicy: Sendable {
  /// Attributes carried over (cp `-p`, `-a`, `--preserve`). Empty by default.
  public var preserve: CopyAttributes
  /// Of ``preserve``, those whose failure is an error (the others are reported as notes or
  /// in the tree's report, and the copy succeeds). cp makes every attribute required
  /// except ``CopyAttributes/xattr`` under `-a` and `--preserve=all`.
  public var required: CopyAttributes
  /// A new file gets the default permissions (`0666`, a directory or socket `0777`) less the
  /// umask instead of the source's (cp `--no-preserve=mode`).
  public var defaultPermissions: Bool
  /// What happens when the destination exists.
  public var existing: ExistingFilePolicy
  /// How an existing destination is replaced.
  public var replace: ReplaceMethod
  /// Asked before an existing destination is replaced (cp `-i`; asked for a directory in a
  /// file's place too, which a yes then refuses, as cp does): false keeps it. Called on the copy's thread, one question at a time.
  public var confirmReplace: (@Sendable (ReplaceQuestion) -> Bool)?
  /// Whether the data may be cloned.
  public var reflink: ReflinkMode
  /// With ``CopyAttributes/links``: where the copies made so far are remembered, so that
  /// copies sharing this map make hard links for sources already copied (nil: each tree
  /// copy keeps its own; a single file copy then links nothing).
  public var hardLinks: HardLinkMap?
  /// Called for each entry copied and each destination removed, in order (cp `-v`).
  public var onEvent: (@Sendable (CopyEvent) -> Void)?

  /// cp's defaults.
  public init(
    preserve: CopyAttributes = [], required: CopyAttributes = .all, defaultPermissions: Bool = false,
    existing: ExistingFilePolicy = .replace, replace: ReplaceMethod = .writeInto,
    confirmReplace: (@Sendable (ReplaceQuestion) -> Bool)? = nil, reflink: ReflinkMode = .auto,
    hardLinks: HardLinkMap? = nil, onEvent: (@Sendable (CopyEvent) -> Void)? = nil
  ) {
    self.preserve = preserve
    self.required = required
    self.defaultPermissions = defaultPermissions
    self.existing = existing
    self.replace = replace
    self.confirmReplace = confirmReplace
    self.reflink = reflink
    self.hardLinks = hardLinks
    self.onEvent = onEvent
  }

  /// A new file's permission bits before the umask: the source's (`& 0o777`), or `0666` with
  /// ``defaultPermissions`` (unless the mode is preserved).
  func newFileMode(_ source: stat) -> mode_t {
    defaultPermissions && !preserve.contains(.mode) ? 0o666 : mode_t(source.st_mode & 0o777)
  }

  /// The mode a new file is created with: ``newFileMode(_:)``, owner-only while its owner may
  /// still change (``CopyAttributes/ownership``).
  func creationMode(_ source: stat) -> mode_t {
    preserve.contains(.ownership) ? newFileMode(source) & 0o700 : newFileMode(source)
  }

  /// cp `-u`: whether an existing destination is older than the source (modification
  /// times, to the nanosecond).
  static func isOlder(_ destination: stat, than source: stat) -> Bool {
    let d = destination.st_mtim, s = source.st_mtim
    return d.tv_sec < s.tv_sec || (d.tv_sec == s.tv_sec && d.tv_nsec < s.tv_nsec)
  }

  /// Whether anything about an existing destination must be looked at before it is
  /// written (so a tree copy stats each destination first).
  var inspectsExisting: Bool {
    existing != .replace || replace == .removeFirst || confirmReplace != nil || preserve.contains(.links)
  }

  /// The umask that copies apply themselves where they set a new entry's mode after
  /// creating it owner-only ("the source's mode less the umask"): the process's, read once
  /// per process at first use from `Umask:` in `/proc/self/status` (Linux 4.7), without
  /// changing it — `umask(2)` can only read it by setting it, and a file another thread
  /// created in that instant would get the wrong mode; `0o022` where `/proc` cannot say.
  /// A caller that computes such a mode itself (`zc copy --parents` for the directories it
  /// creates) uses this one, so both agree. Never fails.
  ///
  /// There is no corresponding C function (`umask(2)` would change the mask).
  public static var fileCreationMask: FilePermissions { FilePermissions(rawValue: processUmask) }
}

/// The process's umask, read once at first use without changing it (`Umask:` in
/// /proc/self/status, Linux 4.7); 0o022 if unreadable — then a new file's mode is fixed
/// whenever it has group/other write bits. Public as `CopyPolicy.fileCreationMask`.
let processUmask: mode_t = CurrentProcess.fileCreationMask()?.rawValue ?? 0o022

/// Where the files copied so far went, by source identity (device and inode), so that a
/// source met again — another hard link of it, or the same file through a symbolic link
/// with cp's `-L`/`-H` — becomes a hard link to its first copy (cp's `--preserve=links`).
///
/// Share one map between several copies (``CopyPolicy/hardLinks``) to link across them, as
/// cp does across its command line's operands: `cp -d a b dir` where `a` and `b` are hard
/// links makes `dir/a` and `dir/b` hard links.
public final class HardLinkMap: @unchecked Sendable {
  // @unchecked: `entries` is guarded by `lock`.
  struct Key: Hashable {
    let device: UInt64
    let inode: UInt64
  }

  /// Where an inode's first copy is: a path (done), or a tree copy's file still in flight.
  enum Entry {
    case path(FilePath)
    case inFlight(FileJob)
  }

  private let lock = Lock()
  private var entries: [Key: Entry] = [:]

  /// An empty map.
  public init() {}

  /// How many source files are remembered.
  public var count: Int { lock.withLock { entries.count } }

  static func key(_ status: stat) -> Key { Key(device: UInt64(status.st_dev), inode: UInt64(status.st_ino)) }

  /// The entry for a source, or nil — and if nil, records `entry` for it (atomically, so
  /// two copies of the same inode never both copy).
  func claim(_ status: stat, _ entry: @autoclosure () -> Entry) -> Entry? {
    lock.withLock {
      let key = Self.key(status)
      if let found = entries[key] { return found }
      entries[key] = entry()
      return nil
    }
  }

  /// Replaces the entry of a source (its copy completed, or was abandoned: nil).
  func set(_ status: stat, _ entry: Entry?) {
    lock.withLock { entries[Self.key(status)] = entry }
  }

  func set(device: UInt64, inode: UInt64, _ entry: Entry?) {
    lock.withLock { entries[Key(device: device, inode: inode)] = entry }
  }
}
