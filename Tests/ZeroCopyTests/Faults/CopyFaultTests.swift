// Fault scenarios for the copies (FAULTS.md, "Copies (issue 13)", C1–C6): a destination
// filesystem that fills up mid-tree, a read-only filesystem, immutable files, names at
// NAME_MAX, a tree deeper than PATH_MAX, a source that changes while it is copied. Each
// runs in a child process under the descriptor harness (FaultSupport.swift): after the
// failure, nothing of the copy is still open, and nothing was lost.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

private typealias F = TreeFixtures
private typealias S = CopySupport

@Suite("Faults: copies", .serialized)
struct CopyFaultTests {
  static let engines = ["uring", "threads", "sequential"]

  /// Every file under `root` (raw relative paths), for "nothing extra, nothing partial" checks.
  static func files(_ root: [UInt8]) -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for (key, entry) in F.snapshot(root) {
      if case .file(_, let bytes) = entry { out[key] = bytes }
    }
    return out
  }

  /// No temporary file of an atomic copy anywhere under `root`.
  static func expectNoTemporaries(_ root: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let left = F.snapshot(root).keys.filter { $0.split(separator: "/").last?.hasPrefix(".") == true && $0.contains(".zc-") }
    #expect(left.isEmpty, "\(what): temporary files left: \(left)", sourceLocation: sourceLocation)
  }

  // MARK: C1. The destination fills up mid-tree

  @Test("C1. ENOSPC mid-tree: reported as ENOSPC by every engine; no partial file; source intact", arguments: engines)
  func diskFullTree(_ engine: String) async throws {
    guard Faults.isRoot else { try Faults.skip("C1", engine, "mounting a 1 MiB tmpfs needs root") }
    await #expect(processExitsWith: .success) { [engine] in
      try await Faults.harnessed("disk full mid-tree, \(engine)") { try CopyFaultTests.diskFullTreeBody(engine) }
    }
  }

  static func diskFullTreeBody(_ name: String) throws {
    let engine = try #require(TreeCopy.Engine(rawValue: name))
    guard let small = TransferFixtures.mountTmpfs(size: "1m") else {
      Issue.record("cannot mount a tmpfs")
      return
    }
    defer { TransferFixtures.unmount(small) }
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    try F.mkdirp(src)
    for i in 0..<24 { try F.write(src + S.b("/f\(i)"), TransferFixtures.bytes(96 << 10, from: i)) }
    try F.write(src + S.b("/big"), TransferFixtures.bytes(3 << 20))  // several chains, and copy_file_range
    let before = Self.files(src)
    for keepGoing in [false, true] {
      let dst = Array(small.path.utf8) + S.b("/dst")
      let result = Result { () throws(ZeroCopyError) in
        try TreeCopy.copyBlocking(
          from: F.filePath(src), to: F.filePath(dst), options: TreeCopy.Options(engine: engine, jobs: 4, keepGoing: keepGoing))
      }
      switch result {
      case .failure(let error):
        #expect(!keepGoing, "\(name): keep-going threw \(error)")
        #expect(error.errno == .noSpace, "\(name): \(error)")
      case .success(let report):
        #expect(keepGoing, "\(name): the copy into a full filesystem succeeded")
        #expect(!report.errors.isEmpty)
        for error in report.errors { #expect(error.errno == .noSpace, "\(name): \(error)") }
      }
      // Whatever is in the destination is complete; the files that failed were removed.
      let copied = Self.files(dst)
      #expect(copied.count < before.count, "\(name): everything fitted in 1 MiB?")
      for (key, bytes) in copied {
        TransferFixtures.expectSame(bytes, before[key] ?? [], "\(name) keepGoing \(keepGoing): \(key) (a partial file left?)")
      }
      _ = try TransferFixtures.run("/bin/rm", ["-rf", small.path + "/dst"])
    }
    #expect(Self.files(src) == before, "\(name): the source changed")
  }

  // MARK: C2. A read-only destination filesystem

  @Test("C2. a read-only filesystem: EROFS from Transfer.copy (plain, atomic) and every engine; nothing changed")
  func readOnlyFilesystem() async throws {
    guard Faults.isRoot else { try Faults.skip("C2", "copy", "mounting a tmpfs needs root") }
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("read-only destination") { try CopyFaultTests.readOnlyBody() }
    }
  }

  static func readOnlyBody() throws {
    guard let mounted = TransferFixtures.mountTmpfs(size: "4m") else {
      Issue.record("cannot mount a tmpfs")
      return
    }
    defer { TransferFixtures.unmount(mounted) }
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    try F.buildSource(src)
    let dst = Array(mounted.path.utf8) + S.b("/dst")
    _ = try TreeCopy.copyBlocking(from: F.filePath(src), to: F.filePath(dst))
    try F.write(src + S.b("/a/f3"), S.b("changed since"))  // so that the copy has work to do
    guard mount("tmpfs", mounted.path, "tmpfs", UInt(MS_REMOUNT | MS_RDONLY), nil) == 0 else {
      Issue.record("cannot remount read-only: \(Errno(rawValue: errno))")
      return
    }
    let before = F.snapshot(dst)
    for atomic in [false, true] {
      for target in ["/a/f3", "/new-file"] {
        let error = #expect(throws: ZeroCopyError.self) {
          try Transfer.copyBlocking(
            from: F.filePath(src + S.b("/a/f3")), to: F.filePath(dst + S.b(target)), options: CopyOptions(atomic: atomic))
        }
        #expect(error?.errno == .readOnlyFileSystem, "atomic \(atomic) \(target): \(String(describing: error))")
      }
    }
    for engine in [TreeCopy.Engine.ioUring, .threads, .sequential] {
      let report = try TreeCopy.copyBlocking(
        from: F.filePath(src), to: F.filePath(dst), options: TreeCopy.Options(engine: engine, keepGoing: true))
      #expect(!report.errors.isEmpty)
      for error in report.errors { #expect(error.errno == .readOnlyFileSystem, "\(engine): \(error)") }
    }
    #expect(F.snapshot(dst) == before, "the read-only destination changed")
  }

  // MARK: C3. Immutable destination files

  /// Sets or clears FS_IMMUTABLE_FL (chattr +i / -i) with FS_IOC_GETFLAGS/SETFLAGS.
  @discardableResult
  static func setImmutable(_ path: [UInt8], _ on: Bool) -> Bool {
    let fd = open(F.cPath(path), O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var flags: Int32 = 0
    let getFlags: UInt = 0x8008_6601, setFlags: UInt = 0x4008_6602, immutable: Int32 = 0x10
    guard ioctl(fd, getFlags, &flags) == 0 else { return false }
    flags = on ? flags | immutable : flags & ~immutable
    return ioctl(fd, setFlags, &flags) == 0
  }

  @Test("C3. immutable destination files (chattr +i): EPERM, the file intact, no temporary file (every path)")
  func immutableDestination() async throws {
    guard Faults.isRoot else { try Faults.skip("C3", "copy", "chattr +i needs CAP_LINUX_IMMUTABLE (root)") }
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("immutable destination") { try CopyFaultTests.immutableBody() }
    }
  }

  static func immutableBody() throws {
    let scratch = try F.Scratch()  // ext4: FS_IMMUTABLE_FL is supported
    let src = scratch.sub("src"), dst = scratch.sub("dst")
    try F.buildSource(src)
    _ = try TreeCopy.copyBlocking(from: F.filePath(src), to: F.filePath(dst))
    try F.write(src + S.b("/a/f3"), S.b("new content"))
    let locked = dst + S.b("/a/f3")
    guard Self.setImmutable(locked, true) else {
      print("fault C3 skipped: this filesystem refuses FS_IMMUTABLE_FL")
      return
    }
    defer { Self.setImmutable(locked, false) }
    let old = F.read(locked)
    for atomic in [false, true] {
      let error = #expect(throws: ZeroCopyError.self) {
        try Transfer.copyBlocking(
          from: F.filePath(src + S.b("/a/f3")), to: F.filePath(locked), options: CopyOptions(atomic: atomic))
      }
      #expect(error?.errno == .notPermitted, "atomic \(atomic): \(String(describing: error))")
    }
    for engine in [TreeCopy.Engine.ioUring, .threads, .sequential] {
      for overwrite in TreeCopy.OverwriteMode.allCases {
        let report = try TreeCopy.copyBlocking(
          from: F.filePath(src), to: F.filePath(dst),
          options: TreeCopy.Options(engine: engine, keepGoing: true, overwrite: overwrite))
        #expect(report.errors.map(\.errno) == [.notPermitted], "\(engine) \(overwrite): \(report.errors)")
        #expect(report.errors.first?.paths.last == F.filePath(locked))
      }
    }
    TransferFixtures.expectSame(F.read(locked), old, "the immutable file")
    Self.expectNoTemporaries(dst, "immutable")
  }

  // MARK: C4. Names at NAME_MAX

  @Test(
    "C4. names of 255 bytes (NAME_MAX): copied plain, atomic (the temporary name fits) and by every engine; 256 is ENAMETOOLONG")
  func nameMax() async throws {
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("NAME_MAX") { try CopyFaultTests.nameMaxBody() }
    }
  }

  static func nameMaxBody() throws {
    let scratch = try F.Scratch()
    let long = [UInt8](repeating: 0x6E, count: 254) + [0xFF]  // 255 bytes, not UTF-8 at the end
    let src = scratch.sub("src")
    try F.mkdirp(src)
    try F.mkdirp(src + [0x2F] + long)
    try F.write(src + [0x2F] + long + [0x2F] + long, TransferFixtures.bytes(70_000))
    let file = src + [0x2F] + long + [0x2F] + long
    for atomic in [false, true] {
      let target = scratch.sub("copy-\(atomic)")
      try F.mkdirp(target)
      let report = try Transfer.copyBlocking(
        from: F.filePath(file), to: F.filePath(target + [0x2F] + long), options: CopyOptions(atomic: atomic))
      #expect(report.bytes == 70_000)
      TransferFixtures.expectSame(F.read(target + [0x2F] + long), TransferFixtures.bytes(70_000), "atomic \(atomic)")
      #expect(S.names(target) == [long], "atomic \(atomic): no temporary file left")
    }
    for engine in [TreeCopy.Engine.ioUring, .threads, .sequential] {
      let dst = scratch.sub("tree-\(engine)")
      let report = try TreeCopy.copyBlocking(
        from: F.filePath(src), to: F.filePath(dst), options: TreeCopy.Options(engine: engine))
      #expect(report.files == 1 && report.errors.isEmpty, "\(engine): \(report)")
      #expect(F.snapshot(dst) == F.snapshot(src), "\(engine)")
    }
    let tooLong = scratch.path + [0x2F] + [UInt8](repeating: 0x6E, count: 256)
    let error = #expect(throws: ZeroCopyError.self) { try Transfer.copyBlocking(from: F.filePath(file), to: F.filePath(tooLong)) }
    #expect(error?.errno == .fileNameTooLong)
  }

  // MARK: C5. A tree deeper than PATH_MAX

  @Test("C5. a tree deeper than PATH_MAX (2,100 levels, 4,200-byte paths): copied by every engine through descriptors")
  func deeperThanPathMax() async throws {
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("deeper than PATH_MAX") { try CopyFaultTests.deepTreeBody() }
    }
  }

  /// Makes `depth` nested directories named "d" (mode 0750) under `root` through
  /// descriptors, a file and a symbolic link at the bottom.
  static func makeDeepTree(_ root: [UInt8], depth: Int) throws {
    try F.mkdirp(root)
    var fd = open(F.cPath(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    for _ in 0..<depth {
      guard mkdirat(fd, "d", 0o750) == 0 else { throw Errno(rawValue: errno) }
      let next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      close(fd)
      guard next >= 0 else { throw Errno(rawValue: errno) }
      fd = next
    }
    defer { close(fd) }
    let file = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0o640)
    guard file >= 0 else { throw Errno(rawValue: errno) }
    try TransferFixtures.writeAll(file, TransferFixtures.bytes(5000))
    close(file)
    guard symlinkat("../d-target", fd, "link") == 0 else { throw Errno(rawValue: errno) }
  }

  /// Walks `depth` levels of "d" under `root` by descriptors: the mode of every level, and
  /// the file and link at the bottom.
  static func checkDeepTree(_ root: [UInt8], depth: Int, _ what: String) {
    var fd = open(F.cPath(root), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    for level in 0..<depth {
      var st = stat()
      guard fstatat(fd, "d", &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & 0o7777 == 0o750 else {
        Issue.record("\(what): level \(level) missing or mode \(String(st.st_mode & 0o7777, radix: 8))")
        close(fd)
        return
      }
      let next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      close(fd)
      fd = next
    }
    defer { close(fd) }
    let file = openat(fd, "f", O_RDONLY | O_CLOEXEC)
    #expect(file >= 0, "\(what): the file at the bottom")
    if file >= 0 {
      TransferFixtures.expectSame(TransferFixtures.readToEnd(file), TransferFixtures.bytes(5000), "\(what): the file's bytes")
      close(file)
    }
    var target = [CChar](repeating: 0, count: 64)
    let n = readlinkat(fd, "link", &target, 63)
    #expect(n == 11, "\(what): the link at the bottom")
  }

  static func deepTreeBody() throws {
    let scratch = try F.Scratch(in: "/dev/shm")  // ext4 takes seconds to create and remove 8,400 directories
    let depth = 2100  // "/d" × 2100 = 4,200 bytes below the scratch directory, beyond PATH_MAX (4,096)
    try Self.makeDeepTree(scratch.sub("src"), depth: depth)
    for engine in [TreeCopy.Engine.ioUring, .threads, .sequential] {
      let report = try TreeCopy.copyBlocking(
        from: F.filePath(scratch.sub("src")), to: F.filePath(scratch.sub("dst-\(engine)")),
        options: TreeCopy.Options(engine: engine))
      #expect(report.errors.isEmpty, "\(engine): \(report.errors.first.map { "\($0.syscall) \($0.errno)" } ?? "")")
      #expect(report.files == 1 && report.symlinks == 1 && report.directories == depth + 1, "\(engine): \(report)")
      Self.checkDeepTree(scratch.sub("dst-\(engine)"), depth: depth, "\(engine)")
    }
  }

  // MARK: C6. A source that changes while it is copied

  @Test(
    "C6. a source file truncated while a tree copy reads it: the copy holds the old bytes, the new ones, or nothing — never a mix",
    arguments: engines)
  func sourceChanging(_ engine: String) async throws {
    await #expect(processExitsWith: .success) { [engine] in
      try await Faults.harnessed("source changing, \(engine)") { try CopyFaultTests.sourceChangingBody(engine) }
    }
  }

  static func sourceChangingBody(_ name: String) throws {
    let engine = try #require(TreeCopy.Engine(rawValue: name))
    let scratch = try F.Scratch(in: "/dev/shm")
    let src = scratch.sub("src")
    try F.mkdirp(src)
    var content: [UInt8] = []
    for _ in 0..<8 { content += TransferFixtures.bytes(8 << 20) }
    try F.write(src + S.b("/big"), content)
    for i in 0..<20 { try F.write(src + S.b("/small\(i)"), TransferFixtures.bytes(4000 + i)) }
    for round in 0..<3 {
      try F.write(src + S.b("/big"), content)
      let dst = scratch.sub("dst\(round)")
      // Another process truncates the file to 1 MiB a moment after the copy starts.
      let truncator = TransferFixtures.Worker { [path = String(decoding: src + S.b("/big"), as: UTF8.self), round] in
        usleep(UInt32(2_000 * round))
        Faults.truncateElsewhere(path, to: 1 << 20)
      }
      let result = Result { () throws(ZeroCopyError) in
        try TreeCopy.copyBlocking(
          from: F.filePath(src), to: F.filePath(dst), options: TreeCopy.Options(engine: engine, keepGoing: true))
      }
      truncator.join()
      let report = try result.get()
      let copy = F.read(dst + S.b("/big"))
      let whole = S.same(copy, content)
      let cut = S.same(copy, Array(content.prefix(1 << 20)))
      #expect(whole || cut || S.type(dst + S.b("/big")) == nil, "\(name) round \(round): \(copy.count) bytes, a mix")
      for error in report.errors {
        #expect(error.paths.first == F.filePath(src + S.b("/big")), "\(name): \(error)")
        #expect(error.message?.contains("changed") == true || error.message?.contains("shrank") == true, "\(name): \(error)")
      }
      #expect(report.files + report.errors.count == 21, "\(name): \(report)")
    }
  }
}
