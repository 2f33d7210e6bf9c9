// cp's rules in TreeCopy, for every engine: default modes (less the umask, no set-ID bits;
// existing entries keep theirs), --preserve (times, owner, mode, xattrs, POSIX ACLs, hard
// links), -n/-u/-i/--remove-destination/-f, -P/-H/-L, -v's events, how the data was copied.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

/// The access ACL's extended attribute (what `setfacl` writes and `cp -p` copies).
private let accessACL = Array("system.posix_acl_access".utf8)

enum TreeCopyPolicyBehaviours {
  typealias F = TreeFixtures

  static func copy(
    _ src: [UInt8], _ dst: [UInt8], _ engine: TreeCopy.Engine, _ policy: CopyPolicy = CopyPolicy(),
    following: SymlinkFollowing = .source
  ) async throws -> TreeCopy.Report {
    try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(dst),
      options: TreeCopy.Options(engine: engine, keepGoing: true, policy: policy, following: following))
  }

  static func mode(_ path: [UInt8]) -> mode_t? { CopySupport.lstatus(path).map { $0.st_mode & 0o7777 } }

  /// cp -r without -p: a new file gets the source's mode less the umask without set-user-ID,
  /// set-group-ID or sticky; a new directory keeps a sticky bit; existing ones keep theirs.
  static func defaultModes(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    try F.mkdirp(src, mode: 0o755)
    try F.write(scratch.sub("src/setuid"), [1, 2], mode: 0o4775)
    try F.write(scratch.sub("src/open"), [3], mode: 0o666)
    try F.write(scratch.sub("src/sticky"), [4], mode: 0o1777)
    try F.write(scratch.sub("src/big"), Support.pattern(seed: 1, count: 300_000), mode: 0o2770)
    try F.write(scratch.sub("src/kept"), [5], mode: 0o644)
    for (name, m) in [("shared", mode_t(0o1777)), ("group", 0o2775), ("private", 0o700), ("readonly", 0o555)] {
      try F.mkdirp(scratch.sub("src/" + name), mode: m)
    }
    try F.mkdirp(dst, mode: 0o700)
    try F.write(scratch.sub("dst/kept"), [9, 9, 9], mode: 0o600)
    try F.mkdirp(scratch.sub("dst/private"), mode: 0o750)
    let report = try await copy(src, dst, engine)
    #expect(report.errors.isEmpty, "\(report.errors)")
    let umask = TransferFixtures.umaskValue
    #expect(mode(scratch.sub("dst/setuid")) == 0o775 & ~umask)
    #expect(mode(scratch.sub("dst/open")) == 0o666 & ~umask)
    #expect(mode(scratch.sub("dst/sticky")) == 0o777 & ~umask)
    #expect(mode(scratch.sub("dst/big")) == 0o770 & ~umask)
    #expect(mode(scratch.sub("dst/kept")) == 0o600, "an existing file keeps its mode")
    #expect(F.read(scratch.sub("dst/kept")) == [5])
    #expect(mode(scratch.sub("dst/shared")) == 0o1777 & ~umask)
    #expect(mode(scratch.sub("dst/group")) == 0o775 & ~umask)
    #expect(mode(scratch.sub("dst/readonly")) == 0o555 & ~umask)
    #expect(mode(scratch.sub("dst/private")) == 0o750, "an existing directory keeps its mode")
    #expect(mode(dst) == 0o700, "the existing root keeps its mode")
    // --no-preserve=mode: the default permissions less the umask.
    let defaults = try await copy(src, scratch.sub("defaults"), engine, CopyPolicy(defaultPermissions: true))
    #expect(defaults.errors.isEmpty)
    #expect(mode(scratch.sub("defaults/private/")) == 0o777 & ~umask)
    #expect(mode(scratch.sub("defaults/setuid")) == 0o666 & ~umask)
  }

  /// cp -a: modes exactly, times to the nanosecond, owner and group (as root), user and
  /// trusted extended attributes (a symbolic link's too), POSIX ACLs, hard links.
  static func preservesAll(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    try F.mkdirp(src, mode: 0o750)
    try F.mkdirp(scratch.sub("src/sub"), mode: 0o2711)
    try F.write(scratch.sub("src/sub/f"), Support.pattern(seed: 2, count: 5000), mode: 0o4751)
    try F.write(scratch.sub("src/big"), Support.pattern(seed: 3, count: 400_000), mode: 0o640)
    #expect(link(F.cPath(scratch.sub("src/sub/f")), F.cPath(scratch.sub("src/hard"))) == 0)
    try F.symlink("sub/f", scratch.sub("src/link"))
    let root = geteuid() == 0
    if root {
      for name in ["src/sub/f", "src/big", "src/sub", "src"] {
        #expect(chown(F.cPath(scratch.sub(name)), 1234, 5678) == 0)
      }
      #expect(lchown(F.cPath(scratch.sub("src/link")), 4321, 8765) == 0)
      #expect(chmod(F.cPath(scratch.sub("src/sub/f")), 0o4751) == 0)  // chown cleared set-user-ID
      #expect(chmod(F.cPath(scratch.sub("src/sub")), 0o2711) == 0)
    }
    let file = try FileDescriptor.open(F.filePath(scratch.sub("src/big")), .readOnly)
    let xattrs = (try? file.setExtendedAttribute(named: Array("user.zc.test".utf8), to: [1, 2, 3])) != nil
    // An ACL: user 1000 r--, mask r-- (the xattr's binary form, as setfacl writes it).
    let acl: [UInt8] = [
      2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 4, 0, 232, 3, 0, 0, 4, 0, 4, 0, 255, 255, 255, 255,
      16, 0, 4, 0, 255, 255, 255, 255, 32, 0, 0, 0, 255, 255, 255, 255,
    ]
    let acls = (try? file.setExtendedAttribute(named: accessACL, to: acl)) != nil
    try file.close()
    if root { try ExtendedAttributes.set(named: Array("trusted.zc".utf8), to: [7], atPath: F.filePath(scratch.sub("src/link"))) }
    var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_100_000_000, tv_nsec: 987_654_321)]
    for name in ["src/sub/f", "src/big", "src/sub", "src"] {
      #expect(utimensat(AT_FDCWD, F.cPath(scratch.sub(name)), &times, 0) == 0)
    }
    #expect(utimensat(AT_FDCWD, F.cPath(scratch.sub("src/link")), &times, AT_SYMLINK_NOFOLLOW) == 0)

    let report = try await copy(src, dst, engine, CopyPolicy(preserve: .all))
    #expect(report.errors.isEmpty, "\(report.errors)")
    #expect(report.hardLinks == 1 && report.files == 2 && report.symlinks == 1, "\(report)")
    // The times first: reading the trees (the snapshots) updates their access times.
    for name in ["sub/f", "big", "sub", "", "link"] {
      let a = try #require(CopySupport.lstatus(name.isEmpty ? src : scratch.sub("src/" + name)))
      let b = try #require(CopySupport.lstatus(name.isEmpty ? dst : scratch.sub("dst/" + name)))
      #expect(b.st_mode == a.st_mode, "\(name): mode")
      #expect(b.st_mtim.tv_sec == 1_100_000_000 && b.st_mtim.tv_nsec == 987_654_321, "\(name): mtime")
      #expect(b.st_atim.tv_sec == 1_000_000_000 && b.st_atim.tv_nsec == 123_456_789, "\(name): atime")
      if root { #expect(b.st_uid == a.st_uid && b.st_gid == a.st_gid, "\(name): owner") }
    }
    #expect(F.snapshot(src) == F.snapshot(dst))
    let f = try #require(CopySupport.lstatus(scratch.sub("dst/sub/f"))),
      h = try #require(CopySupport.lstatus(scratch.sub("dst/hard")))
    #expect(f.st_ino == h.st_ino && f.st_nlink == 2, "hard links stay hard links")
    let copied = try FileDescriptor.open(F.filePath(scratch.sub("dst/big")), .readOnly)
    defer { try? copied.close() }
    if xattrs { #expect(try copied.extendedAttribute(named: Array("user.zc.test".utf8)) == [1, 2, 3]) }
    if acls { #expect(try copied.extendedAttribute(named: accessACL) == acl, "the access ACL") }
    if root {
      #expect(try ExtendedAttributes.value(named: Array("trusted.zc".utf8), atPath: F.filePath(scratch.sub("dst/link"))) == [7])
    }
    // Without .xattr nothing but the ACL (which comes with the mode) is copied.
    let modeOnly = try await copy(src, scratch.sub("mode"), engine, CopyPolicy(preserve: .mode))
    #expect(modeOnly.errors.isEmpty)
    let plain = try FileDescriptor.open(F.filePath(scratch.sub("mode/big")), .readOnly)
    defer { try? plain.close() }
    #expect(throws: Errno.noData) { try plain.extendedAttribute(named: Array("user.zc.test".utf8)) }
    if acls { #expect(try plain.extendedAttribute(named: accessACL) == acl) }
  }

  /// -n keeps existing files, -u keeps newer ones, -i asks (one question per existing
  /// non-directory), --remove-destination replaces a link or a hard link of the source.
  static func existingFiles(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    try F.mkdirp(src)
    try F.write(scratch.sub("src/a"), [1], mode: 0o644)
    try F.write(scratch.sub("src/b"), [2], mode: 0o644)
    try F.write(scratch.sub("src/c"), [3], mode: 0o644)
    try F.mkdirp(dst)
    try F.write(scratch.sub("dst/a"), [9], mode: 0o644)
    try F.write(scratch.sub("dst/b"), [9], mode: 0o644)
    var old = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
    #expect(utimensat(AT_FDCWD, F.cPath(scratch.sub("dst/b")), &old, 0) == 0)  // older than src/b

    let kept = try await copy(src, dst, engine, CopyPolicy(existing: .skip))
    #expect(kept.skipped == 2 && kept.files == 1, "\(kept)")
    #expect(F.read(scratch.sub("dst/a")) == [9] && F.read(scratch.sub("dst/b")) == [9] && F.read(scratch.sub("dst/c")) == [3])

    let updated = try await copy(src, dst, engine, CopyPolicy(existing: .replaceIfOlder))
    #expect(updated.skipped == 2 && updated.files == 1, "\(updated)")  // a and c are newer or as new
    #expect(F.read(scratch.sub("dst/a")) == [9] && F.read(scratch.sub("dst/b")) == [2])

    let asked = CopySupportBox<[String]>([])
    var policy = CopyPolicy()
    policy.confirmReplace = { question in
      asked.append(String(decoding: question.destination.lastComponent!.string.utf8, as: UTF8.self))
      return question.destination.lastComponent?.string == "a"
    }
    try F.write(scratch.sub("dst/b"), [9], mode: 0o444)
    let confirmed = try await copy(src, dst, engine, policy)
    #expect(Set(asked.value) == ["a", "b", "c"], "\(asked.value)")
    #expect(confirmed.skipped == 2 && confirmed.files == 1)
    #expect(F.read(scratch.sub("dst/a")) == [1] && F.read(scratch.sub("dst/b")) == [9])

    // --remove-destination: a symbolic link and a hard link of the source are replaced by copies.
    try F.symlink("c", scratch.sub("dst/link-a"))
    try F.write(scratch.sub("src/link-a"), [4])
    #expect(unlink(F.cPath(scratch.sub("dst/b"))) == 0)
    #expect(link(F.cPath(scratch.sub("src/b")), F.cPath(scratch.sub("dst/b"))) == 0)
    let events = CopySupportBox<[String]>([])
    var removing = CopyPolicy(replace: .removeFirst)
    removing.onEvent = { events.append($0.description) }
    let removed = try await copy(src, dst, engine, removing)
    #expect(removed.errors.isEmpty, "\(removed.errors)")
    #expect(CopySupport.type(scratch.sub("dst/link-a")) == S_IFREG && F.read(scratch.sub("dst/c")) == [3])
    let b = try #require(CopySupport.lstatus(scratch.sub("dst/b"))), sb = try #require(CopySupport.lstatus(scratch.sub("src/b")))
    #expect(b.st_ino != sb.st_ino && F.read(scratch.sub("src/b")) == [2], "the source is untouched")
    #expect(events.value.contains("removed '\(F.filePath(scratch.sub("dst/b")))'"), "\(events.value)")
    #expect(events.value.contains("'\(F.filePath(scratch.sub("src/b")))' -> '\(F.filePath(scratch.sub("dst/b")))'"))
    // Without it, a hard link of the source is refused ("same file"), the source intact.
    #expect(unlink(F.cPath(scratch.sub("dst/b"))) == 0)
    #expect(link(F.cPath(scratch.sub("src/b")), F.cPath(scratch.sub("dst/b"))) == 0)
    let refused = try await copy(src, dst, engine)
    #expect(refused.errors.count == 1 && refused.errors.first?.message?.contains("same file") == true, "\(refused.errors)")
    #expect(F.read(scratch.sub("src/b")) == [2])
  }

  /// -P copies links as links, -L follows them all (a cycle is refused), -H follows the root.
  static func following(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    try F.mkdirp(src)
    try F.mkdirp(scratch.sub("src/dir"))
    try F.write(scratch.sub("src/dir/f"), [1, 2, 3])
    try F.symlink("dir/f", scratch.sub("src/to-file"))
    try F.symlink("dir", scratch.sub("src/to-dir"))
    try F.symlink("src", scratch.sub("root-link"))
    let never = try await copy(src, scratch.sub("never"), engine, following: .never)
    #expect(never.errors.isEmpty && never.symlinks == 2)
    #expect(CopySupport.type(scratch.sub("never/to-file")) == S_IFLNK)
    let always = try await copy(src, scratch.sub("always"), engine, following: .always)
    #expect(always.errors.isEmpty, "\(always.errors)")
    #expect(CopySupport.type(scratch.sub("always/to-file")) == S_IFREG && F.read(scratch.sub("always/to-file")) == [1, 2, 3])
    #expect(CopySupport.type(scratch.sub("always/to-dir")) == S_IFDIR && F.read(scratch.sub("always/to-dir/f")) == [1, 2, 3])
    // The root as a link: -H (.source) copies the directory, -P copies the link.
    let root = try await copy(scratch.sub("root-link"), scratch.sub("via-link"), engine, following: .source)
    #expect(root.errors.isEmpty && CopySupport.type(scratch.sub("via-link")) == S_IFDIR)
    let rootLink = try await copy(scratch.sub("root-link"), scratch.sub("the-link"), engine, following: .never)
    #expect(rootLink.errors.isEmpty && CopySupport.type(scratch.sub("the-link")) == S_IFLNK, "\(rootLink)")
    // A link to an ancestor under -L: refused with cp's words, the rest copied.
    try F.symlink("..", scratch.sub("src/dir/up"))
    let cyclic = try await copy(src, scratch.sub("cyclic"), engine, following: .always)
    #expect(cyclic.errors.contains { $0.message?.contains("cyclic") == true }, "\(cyclic.errors)")
  }

  /// The report and -v's events: every entry once, the data path counted with its reasons.
  static func eventsAndDataPaths(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    let events = CopySupportBox<[CopyEvent]>([])
    var policy = CopyPolicy()
    policy.onEvent = { events.append($0) }
    let report = try await copy(src, scratch.sub("dst"), engine, policy)
    #expect(report.errors.isEmpty)
    let copying = events.value.filter { $0.kind == .copying }
    #expect(copying.count == expected.files + expected.directories + expected.symlinks, "\(copying.count)")
    #expect(Set(copying.map(\.destination)).count == copying.count)
    #expect(copying.first?.source == F.filePath(src) && copying.first?.destination == F.filePath(scratch.sub("dst")))
    let counted = report.dataPaths.values.reduce(0, +)
    #expect(counted == expected.files, "\(report.dataPaths)")
    #expect(report.dataPaths[.cloned] == nil, "ext4 cannot clone")
    #expect(report.dataPathReasons.keys.contains { $0.hasPrefix("not cloned: FICLONE: EOPNOTSUPP") }, "\(report.dataPathReasons)")
    let never = try await copy(src, scratch.sub("never"), engine, CopyPolicy(reflink: .never))
    #expect(never.dataPathReasons["not cloned: --reflink=never"] == expected.files, "\(never.dataPathReasons)")
    #expect(never.dataPaths[.kernel] == nil, "--reflink=never uses no copy_file_range")
    do {
      let always = try await copy(src, scratch.sub("always"), engine, CopyPolicy(reflink: .always))
      #expect(always.errors.count == expected.files, "every file: failed to clone")
      #expect(always.errors.first?.message?.hasPrefix("failed to clone") == true, "\(always.errors.first.map { "\($0)" } ?? "")")
    }
  }

  /// A root that is not a directory: a file (to its exact destination), a link (-P), a FIFO.
  static func singleEntries(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    try F.write(scratch.sub("file"), Support.pattern(seed: 9, count: 200_000), mode: 0o640)
    try F.symlink("file", scratch.sub("link"))
    #expect(mkfifo(F.cPath(scratch.sub("fifo")), 0o600) == 0)
    let file = try await copy(scratch.sub("file"), scratch.sub("file-copy"), engine)
    #expect(file.errors.isEmpty && file.files == 1 && file.directories == 0, "\(file)")
    #expect(F.read(scratch.sub("file-copy")) == F.read(scratch.sub("file")))
    let link = try await copy(scratch.sub("link"), scratch.sub("link-copy"), engine, following: .never)
    #expect(link.errors.isEmpty && link.symlinks == 1 && CopySupport.type(scratch.sub("link-copy")) == S_IFLNK)
    let fifo = try await copy(scratch.sub("fifo"), scratch.sub("fifo-copy"), engine)
    #expect(fifo.errors.isEmpty && fifo.specialFiles == 1 && CopySupport.type(scratch.sub("fifo-copy")) == S_IFIFO)
    try F.mkdirp(scratch.sub("a-dir"))
    let conflict = try await copy(scratch.sub("file"), scratch.sub("a-dir"), engine)
    #expect(
      conflict.errors.first?.message?.contains("cannot overwrite directory with non-directory") == true, "\(conflict.errors)")
  }
}

/// A value shared with @Sendable closures (the events, the questions).
final class CopySupportBox<Value>: @unchecked Sendable {
  // @unchecked: guarded by `lock`.
  private let lock = NSLockish()
  private var stored: Value
  init(_ value: Value) { stored = value }
  var value: Value { lock.withLock { stored } }
  func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}

extension CopySupportBox {
  func append<E>(_ element: E) where Value == [E] { update { $0.append(element) } }
}

/// A pthread mutex (the tests' own, so that they need nothing internal).
final class NSLockish: @unchecked Sendable {
  private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
    let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    m.initialize(to: pthread_mutex_t())
    pthread_mutex_init(m, nil)
    return m
  }()
  func withLock<R>(_ body: () -> R) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return body()
  }
}

@Suite("TreeCopy policy: io_uring engine", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
struct TreeCopyPolicyIOURingTests {
  @Test func defaultModes() async throws { try await TreeCopyPolicyBehaviours.defaultModes(.ioUring) }
  @Test func preservesAll() async throws { try await TreeCopyPolicyBehaviours.preservesAll(.ioUring) }
  @Test func existingFiles() async throws { try await TreeCopyPolicyBehaviours.existingFiles(.ioUring) }
  @Test func following() async throws { try await TreeCopyPolicyBehaviours.following(.ioUring) }
  @Test func eventsAndDataPaths() async throws { try await TreeCopyPolicyBehaviours.eventsAndDataPaths(.ioUring) }
  @Test func singleEntries() async throws { try await TreeCopyPolicyBehaviours.singleEntries(.ioUring) }
}

@Suite("TreeCopy policy: thread-pool engine")
struct TreeCopyPolicyThreadsTests {
  @Test func defaultModes() async throws { try await TreeCopyPolicyBehaviours.defaultModes(.threads) }
  @Test func preservesAll() async throws { try await TreeCopyPolicyBehaviours.preservesAll(.threads) }
  @Test func existingFiles() async throws { try await TreeCopyPolicyBehaviours.existingFiles(.threads) }
  @Test func following() async throws { try await TreeCopyPolicyBehaviours.following(.threads) }
  @Test func eventsAndDataPaths() async throws { try await TreeCopyPolicyBehaviours.eventsAndDataPaths(.threads) }
  @Test func singleEntries() async throws { try await TreeCopyPolicyBehaviours.singleEntries(.threads) }
}

@Suite("TreeCopy policy: sequential engine")
struct TreeCopyPolicySequentialTests {
  @Test func defaultModes() async throws { try await TreeCopyPolicyBehaviours.defaultModes(.sequential) }
  @Test func preservesAll() async throws { try await TreeCopyPolicyBehaviours.preservesAll(.sequential) }
  @Test func existingFiles() async throws { try await TreeCopyPolicyBehaviours.existingFiles(.sequential) }
  @Test func following() async throws { try await TreeCopyPolicyBehaviours.following(.sequential) }
  @Test func eventsAndDataPaths() async throws { try await TreeCopyPolicyBehaviours.eventsAndDataPaths(.sequential) }
  @Test func singleEntries() async throws { try await TreeCopyPolicyBehaviours.singleEntries(.sequential) }

  @Test("hard links across copies that share a HardLinkMap (cp --preserve=links over several operands)")
  func sharedHardLinkMap() async throws {
    let scratch = try TreeFixtures.Scratch()
    try TreeFixtures.write(scratch.sub("a"), [1, 2, 3])
    #expect(link(TreeFixtures.cPath(scratch.sub("a")), TreeFixtures.cPath(scratch.sub("b"))) == 0)
    try TreeFixtures.mkdirp(scratch.sub("out"))
    let map = HardLinkMap()
    let policy = CopyPolicy(preserve: .links, hardLinks: map)
    _ = try await Transfer.copy(
      from: TreeFixtures.filePath(scratch.sub("a")), to: TreeFixtures.filePath(scratch.sub("out/a")),
      options: CopyOptions(policy: policy))
    let second = try await TreeCopy.copy(
      from: TreeFixtures.filePath(scratch.sub("b")), to: TreeFixtures.filePath(scratch.sub("out/b")),
      options: TreeCopy.Options(policy: policy))
    #expect(second.hardLinks == 1, "\(second)")
    let a = try #require(CopySupport.lstatus(scratch.sub("out/a"))), b = try #require(CopySupport.lstatus(scratch.sub("out/b")))
    #expect(a.st_ino == b.st_ino)
    #expect(map.count == 1)
  }

  @Test(
    "progress: measure() counts a tree's entries and bytes (holes not counted) as the copy will; Progress counts every entry done"
  )
  func progressCounts() async throws {
    let scratch = try TreeFixtures.Scratch()
    let src = scratch.sub("src")
    let expected = try TreeFixtures.buildSource(src)
    #expect(mkfifo(TreeFixtures.cPath(scratch.sub("src/fifo")), 0o600) == 0)
    try CopySupport.makeSparse(scratch.sub("src/sparse"), size: 64 << 20, data: [(1 << 20, [UInt8](repeating: 1, count: 4096))])
    let entries = expected.files + expected.symlinks + 2
    let measured = TreeCopy.measure(TreeFixtures.filePath(src), following: .never)
    #expect(measured.entries == entries, "\(measured)")
    // The sparse file counts its data (what the copy moves), not its 64 MiB length.
    #expect(measured.bytes >= expected.bytes + 4096 && measured.bytes <= expected.bytes + (1 << 20), "\(measured)")
    // -L: a link to a directory counts the directory's entries again.
    #expect(TreeCopy.measure(TreeFixtures.filePath(src), following: .always).entries > entries)
    let progress = TreeCopy.Progress()
    #expect(progress.expectedEntries == nil && progress.entriesDone == 0)
    progress.setExpected(entries: measured.entries, bytes: measured.bytes)
    let report = try await TreeCopy.copy(
      from: TreeFixtures.filePath(src), to: TreeFixtures.filePath(scratch.sub("dst")),
      options: TreeCopy.Options(following: .never, progress: progress))
    #expect(report.errors.isEmpty, "\(report.errors)")
    #expect(progress.entriesDone == entries, "\(progress.entriesDone) of \(entries)")
    #expect(progress.expectedEntries == entries && progress.expectedBytesTotal == measured.bytes)
  }
}
