// TreeCopy: the same behaviour suite for each engine (io_uring, threads, sequential).

import Glibc
import SystemPackage
import Testing
import URing
import ZeroCopy

/// The behaviours every engine must have; each suite below runs them with its engine.
enum TreeCopyBehaviours {
  typealias F = TreeFixtures

  /// Options for `engine`. The snapshots compare modes exactly: cp's `--preserve=mode`
  /// unless `exactModes` is false (then cp's default: less the umask, no set-ID bits; an
  /// existing file or directory keeps its own — tested in TreeCopyPolicyTests).
  static func options(
    _ engine: TreeCopy.Engine, keepGoing: Bool = false, jobs: Int? = nil, fsync: Bool = false, exactModes: Bool = true
  ) -> TreeCopy.Options {
    TreeCopy.Options(
      engine: engine, jobs: jobs, fsync: fsync, keepGoing: keepGoing, policy: CopyPolicy(preserve: exactModes ? .mode : []))
  }

  /// A new tree: every byte, mode, link target and empty directory, and exact totals.
  static func copiesIntoANewTree(_ engine: TreeCopy.Engine, jobs: Int? = nil, fsync: Bool = false) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    let expected = try F.buildSource(src)
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(dst), options: options(engine, jobs: jobs, fsync: fsync))
    #expect(report.engine == engine)
    #expect(report.errors.isEmpty)
    #expect(report.files == expected.files)
    #expect(report.directories == expected.directories)
    #expect(report.symlinks == expected.symlinks)
    #expect(report.bytes == expected.bytes)
    let a = F.snapshot(src), b = F.snapshot(dst)
    #expect(a.count == expected.files + expected.directories - 1 + expected.symlinks)
    #expect(a == b)
    for key in Set(a.keys).symmetricDifference(b.keys) { Issue.record("only on one side: \(key)") }
    for (key, value) in a where b[key] != value { Issue.record("\(key): \(value) != \(b[key].map { "\($0)" } ?? "missing")") }
    // The non-UTF-8 name exists byte for byte.
    var st = stat()
    #expect(lstat(F.cPath(dst + [0x2F] + F.oddName), &st) == 0)
    #expect(st.st_mode & 0o7777 == 0o751)
  }

  /// Merging into an existing tree: larger and smaller old files end at the new exact size,
  /// old modes and link targets are replaced, entries only in DST stay.
  static func mergesAndOverwrites(_ engine: TreeCopy.Engine, overwrite: TreeCopy.OverwriteMode = .overwriteThenTruncate)
    async throws
  {
    let scratch = try F.Scratch()
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    try F.buildSource(src)
    try F.mkdirp(dst)
    try F.mkdirp(dst + Array("/a".utf8), mode: 0o777)
    try F.write(dst + Array("/a/f3".utf8), Support.pattern(seed: 1234, count: 100_000), mode: 0o600)  // larger
    try F.write(dst + Array("/a/f39".utf8), [1, 2, 3], mode: 0o777)  // smaller
    try F.write(dst + Array("/zero".utf8), Support.pattern(seed: 5, count: 4096))  // becomes empty
    try F.write(dst + Array("/only-in-dst".utf8), [9, 9, 9])
    try F.symlink("elsewhere", dst + Array("/dangling".utf8))  // other target
    try F.symlink("zero", dst + Array("/a/exec".utf8))  // a file's place held by a link: replaced, not followed
    let options = TreeCopy.Options(engine: engine, overwrite: overwrite, policy: CopyPolicy(preserve: .mode))
    let report = try await TreeCopy.copy(from: F.filePath(src), to: F.filePath(dst), options: options)
    #expect(report.errors.isEmpty)
    var a = F.snapshot(src), b = F.snapshot(dst)
    #expect(b.removeValue(forKey: "only-in-dst") == .file(mode: 0o644, bytes: [9, 9, 9]))
    #expect(a == b)
    for (key, value) in a where b[key] != value { Issue.record("\(key): \(value) != \(b[key].map { "\($0)" } ?? "missing")") }
    #expect(TreeFixtures.read(dst + Array("/a/f3".utf8)).count == 3 * 211)
    #expect(TreeFixtures.read(dst + Array("/zero".utf8)).isEmpty)
    a.removeAll()

    // A second copy over the now identical tree changes nothing.
    let again = try await TreeCopy.copy(from: F.filePath(src), to: F.filePath(dst), options: options)
    #expect(again.errors.isEmpty)
    #expect(again.files == report.files)
    var c = F.snapshot(dst)
    c.removeValue(forKey: "only-in-dst")
    #expect(c == F.snapshot(src))
  }

  /// A FIFO and a socket in the tree are recreated (`mknodat`), as cp -r does; a device node
  /// too as root, and without the privilege it is an error naming it (keep-going copies the rest).
  static func recreatesSpecialFiles(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    #expect(mkfifo(F.cPath(src + Array("/a/pipe".utf8)), 0o640) == 0)
    let socketPath = String(decoding: src, as: UTF8.self) + "/sock"
    let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(listener) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, byte) in socketPath.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
    }
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    #expect(bound == 0)
    let device = geteuid() == 0 && mknod(F.cPath(src + Array("/null".utf8)), S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(scratch.sub("dst")), options: options(engine, keepGoing: true))
    #expect(report.errors.isEmpty, "\(report.errors)")
    #expect(report.specialFiles == (device ? 3 : 2))
    #expect(report.files == expected.files)
    #expect(CopySupport.type(scratch.sub("dst/a/pipe")) == S_IFIFO)
    #expect(CopySupport.lstatus(scratch.sub("dst/a/pipe")).map { $0.st_mode & 0o7777 } == 0o640)
    #expect(CopySupport.type(scratch.sub("dst/sock")) == S_IFSOCK)
    if device {
      #expect(CopySupport.type(scratch.sub("dst/null")) == S_IFCHR)
      #expect(CopySupport.lstatus(scratch.sub("dst/null")).map { $0.st_rdev } == dev_t((1 << 8) | 3))
    }
    #expect(F.snapshot(src) == F.snapshot(scratch.sub("dst")))
  }

  /// An unreadable file (mode 000, not root): EACCES naming it; keep-going copies the rest.
  static func unreadableFile(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    let secret = src + Array("/a/secret".utf8)
    try F.write(secret, [1, 2, 3], mode: 0o000)
    do {
      _ = try await TreeCopy.copy(from: F.filePath(src), to: F.filePath(scratch.sub("stop")), options: options(engine))
      Issue.record("an unreadable file did not stop the copy")
    } catch {
      #expect(error.errno == .permissionDenied)
      #expect(error.paths.first == F.filePath(secret))
      #expect(error.description.contains("secret"))
    }
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(scratch.sub("go")), options: options(engine, keepGoing: true))
    #expect(report.errors.map(\.errno) == [.permissionDenied])
    #expect(report.files == expected.files)
    // The destination of the unreadable file was never created (the source open failed first).
    var st = stat()
    #expect(lstat(F.cPath(scratch.sub("go") + Array("/a/secret".utf8)), &st) == -1)
  }

  /// No descriptor is left open, after success and after failures: no entry of
  /// /proc/self/fd points into this test's directory (a count of all descriptors would see
  /// the tests running in parallel in this process).
  static func leaksNoDescriptors(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    try F.buildSource(src)
    func openInside() -> [String] {
      TransferFixtures.entries(of: "/proc/self/fd").compactMap { fd -> String? in
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.hasPrefix(scratch.string) ? target : nil
      }
    }
    _ = try await TreeCopy.copy(from: F.filePath(src), to: F.filePath(scratch.sub("one")), options: options(engine))
    _ = try await TreeCopy.copy(from: F.filePath(src), to: F.filePath(scratch.sub("one")), options: options(engine, jobs: 3))
    #expect(openInside() == [])
    #expect(mkfifo(F.cPath(src + Array("/fifo".utf8)), 0o644) == 0)
    try F.write(scratch.sub("src/a/b/big-too"), Support.pattern(seed: 4, count: 1 << 20))
    try F.mkdirp(scratch.sub("two"))
    try F.mkdirp(scratch.sub("two/a"))
    try F.mkdirp(scratch.sub("two/a/f1"))  // a directory where a file goes: fails mid-tree
    _ = try? await TreeCopy.copy(from: F.filePath(src), to: F.filePath(scratch.sub("two")), options: options(engine))
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(scratch.sub("two")), options: options(engine, keepGoing: true))
    #expect(report.errors.count == 1)  // the directory where a file goes (the FIFO is recreated)
    #expect(report.specialFiles == 1)
    #expect(openInside() == [])
  }

  /// A destination that is a file, and a file where DST has a directory, are named errors.
  static func destinationConflicts(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    try F.buildSource(src)
    try F.write(scratch.sub("file"), [1])
    do {
      _ = try await TreeCopy.copy(from: F.filePath(src), to: F.filePath(scratch.sub("file")), options: options(engine))
      Issue.record("copying onto a file did not fail")
    } catch {
      #expect(error.errno == .notDirectory || error.errno == .fileExists)
      #expect(error.paths.last == F.filePath(scratch.sub("file")))
    }
    let dst = scratch.sub("dst")
    try F.mkdirp(dst)
    try F.mkdirp(dst + Array("/zero".utf8))  // a directory where SRC has a file
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(dst), options: options(engine, keepGoing: true))
    #expect(report.errors.count == 1)
    #expect(report.errors.first?.errno == .isDirectory)
    #expect(report.errors.first?.paths.last == F.filePath(dst + Array("/zero".utf8)))
  }
}

private let notRoot = getuid() != 0
private let rootComment: Comment =
  "running as root: permission bits do not stop root; the FIFO test and `zc copy -r` run as uid 65534 cover unreadable entries"

@Suite("TreeCopy io_uring engine", .enabled(if: Support.ioUringAvailable, Support.ioUringSkipComment))
struct TreeCopyIOURingTests {
  @Test func copiesIntoANewTree() async throws { try await TreeCopyBehaviours.copiesIntoANewTree(.ioUring) }
  @Test func oneLaneAndFsync() async throws { try await TreeCopyBehaviours.copiesIntoANewTree(.ioUring, jobs: 1, fsync: true) }
  @Test func mergesAndOverwrites() async throws { try await TreeCopyBehaviours.mergesAndOverwrites(.ioUring) }
  @Test func mergesWithTruncateOnOpen() async throws {
    try await TreeCopyBehaviours.mergesAndOverwrites(.ioUring, overwrite: .truncateOnOpen)
  }
  @Test func recreatesSpecialFiles() async throws { try await TreeCopyBehaviours.recreatesSpecialFiles(.ioUring) }
  @Test(.enabled(if: notRoot, rootComment)) func unreadableFile() async throws {
    try await TreeCopyBehaviours.unreadableFile(.ioUring)
  }
  @Test func leaksNoDescriptors() async throws { try await TreeCopyBehaviours.leaksNoDescriptors(.ioUring) }
  @Test func destinationConflicts() async throws { try await TreeCopyBehaviours.destinationConflicts(.ioUring) }
}

@Suite("TreeCopy thread-pool engine")
struct TreeCopyThreadsTests {
  @Test func copiesIntoANewTree() async throws { try await TreeCopyBehaviours.copiesIntoANewTree(.threads) }
  @Test func oneThreadAndFsync() async throws { try await TreeCopyBehaviours.copiesIntoANewTree(.threads, jobs: 1, fsync: true) }
  @Test func mergesAndOverwrites() async throws { try await TreeCopyBehaviours.mergesAndOverwrites(.threads) }
  @Test func mergesWithTruncateOnOpen() async throws {
    try await TreeCopyBehaviours.mergesAndOverwrites(.threads, overwrite: .truncateOnOpen)
  }
  @Test func recreatesSpecialFiles() async throws { try await TreeCopyBehaviours.recreatesSpecialFiles(.threads) }
  @Test(.enabled(if: notRoot, rootComment)) func unreadableFile() async throws {
    try await TreeCopyBehaviours.unreadableFile(.threads)
  }
  @Test func leaksNoDescriptors() async throws { try await TreeCopyBehaviours.leaksNoDescriptors(.threads) }
  @Test func destinationConflicts() async throws { try await TreeCopyBehaviours.destinationConflicts(.threads) }
}

@Suite("TreeCopy sequential engine")
struct TreeCopySequentialTests {
  @Test func copiesIntoANewTree() async throws { try await TreeCopyBehaviours.copiesIntoANewTree(.sequential) }
  @Test func mergesAndOverwrites() async throws { try await TreeCopyBehaviours.mergesAndOverwrites(.sequential) }
  @Test func mergesWithTruncateOnOpen() async throws {
    try await TreeCopyBehaviours.mergesAndOverwrites(.sequential, overwrite: .truncateOnOpen)
  }
  @Test func recreatesSpecialFiles() async throws { try await TreeCopyBehaviours.recreatesSpecialFiles(.sequential) }
  @Test(.enabled(if: notRoot, rootComment)) func unreadableFile() async throws {
    try await TreeCopyBehaviours.unreadableFile(.sequential)
  }
  @Test func leaksNoDescriptors() async throws { try await TreeCopyBehaviours.leaksNoDescriptors(.sequential) }
  @Test func destinationConflicts() async throws { try await TreeCopyBehaviours.destinationConflicts(.sequential) }

  @Test("copyBlocking on the caller's thread, and preserved times")
  func blockingWithTimes() throws {
    let scratch = try TreeFixtures.Scratch()
    let src = scratch.sub("src")
    try TreeFixtures.buildSource(src)
    var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_100_000_000, tv_nsec: 987_654_321)]
    for engine in [TreeCopy.Engine.sequential, .threads, .automatic] {
      // Reset before each copy: reading the source updates its atime (relatime: atime < mtime).
      #expect(utimensat(AT_FDCWD, TreeFixtures.cPath(src + Array("/a/f5".utf8)), &times, 0) == 0)
      #expect(utimensat(AT_FDCWD, TreeFixtures.cPath(src + Array("/empty".utf8)), &times, 0) == 0)
      let dst = scratch.sub("dst-\(engine)")
      let report = try TreeCopy.copyBlocking(
        from: TreeFixtures.filePath(src), to: TreeFixtures.filePath(dst),
        options: TreeCopy.Options(engine: engine, preserveTimes: true))
      #expect(report.errors.isEmpty)
      for name in ["/a/f5", "/empty"] {
        var st = stat()
        #expect(stat(TreeFixtures.cPath(dst + Array(name.utf8)), &st) == 0)
        #expect(st.st_mtim.tv_sec == 1_100_000_000 && st.st_mtim.tv_nsec == 987_654_321, "\(engine) \(name)")
        #expect(st.st_atim.tv_sec == 1_000_000_000, "\(engine) \(name)")
      }
    }
  }

  @Test("a missing source is a named error")
  func missingSource() async throws {
    let scratch = try TreeFixtures.Scratch()
    do {
      _ = try await TreeCopy.copy(from: TreeFixtures.filePath(scratch.sub("nope")), to: TreeFixtures.filePath(scratch.sub("dst")))
      Issue.record("no error")
    } catch {
      #expect(error.errno == .noSuchFileOrDirectory)
      #expect(error.paths.first == TreeFixtures.filePath(scratch.sub("nope")))
    }
  }

  @Test("io_uring refused: the automatic engine falls back to threads and says why")
  func fallbackWhenIOURingIsUnavailable() async throws {
    // Without a way to refuse io_uring in-process, check the reported engine is consistent.
    let scratch = try TreeFixtures.Scratch()
    try TreeFixtures.buildSource(scratch.sub("src"))
    let report = try await TreeCopy.copy(
      from: TreeFixtures.filePath(scratch.sub("src")), to: TreeFixtures.filePath(scratch.sub("dst")))
    if IOURingAvailability.isAvailable {
      #expect(report.engine == .ioUring)
      #expect(report.fallbackReason == nil)
    } else {
      #expect(report.engine == .threads)
      #expect(report.fallbackReason?.hasPrefix("io_uring:") == true)
    }
  }
}
