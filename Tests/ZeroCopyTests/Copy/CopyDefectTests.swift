// Issue 13's "Defects found": each test failed on the code before the fix (see the commit
// message for how that was checked) and must keep passing.

import Glibc
import SystemPackage
import Testing
import ZeroCopy

private typealias F = TreeFixtures
private typealias S = CopySupport

private let isRoot = geteuid() == 0
private let zcAvailable = TransferFixtures.zcExecutable != nil

@Suite("Copy defects (issue 13)")
struct CopyDefectTests {
  // MARK: --atomic onto what is not a regular file

  @Test("--atomic onto a FIFO writes into it (the FIFO stays a FIFO), as the plain copy and cp do")
  func atomicOntoFIFO() async throws {
    let scratch = try F.Scratch()
    let content = TransferFixtures.bytes(300_000)
    try F.write(scratch.sub("src"), content)
    #expect(mkfifo(F.cPath(scratch.sub("fifo")), 0o600) == 0)
    let reader = S.FIFOReader(scratch.sub("fifo"))
    let report = try await Transfer.copy(
      from: F.filePath(scratch.sub("src")), to: F.filePath(scratch.sub("fifo")), options: CopyOptions(atomic: true))
    let received = reader.finish()
    #expect(report.bytes == Int64(content.count))
    TransferFixtures.expectSame(received, content, "what the FIFO's reader got")
    #expect(S.type(scratch.sub("fifo")) == S_IFIFO, "the FIFO was replaced")
    #expect(report.notes.contains { $0.hasPrefix("not atomic: the destination is a FIFO") }, "\(report.notes)")
    #expect(S.names(scratch.path) == [Array("fifo".utf8), Array("src".utf8)], "no temporary file left")
  }

  @Test(
    "--atomic onto a character device writes into it; the node is never replaced",
    .enabled(if: isRoot, "mknod needs root (CAP_MKNOD)"))
  func atomicOntoDevice() async throws {
    let scratch = try F.Scratch()
    try F.write(scratch.sub("src"), TransferFixtures.bytes(5000))
    // A node like /dev/null (1, 3) inside the scratch directory: the real one is never at risk.
    #expect(mknod(F.cPath(scratch.sub("null")), S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)
    let before = try #require(S.lstatus(scratch.sub("null")))
    for atomic in [true, false] {
      let report = try await Transfer.copy(
        from: F.filePath(scratch.sub("src")), to: F.filePath(scratch.sub("null")), options: CopyOptions(atomic: atomic))
      #expect(report.bytes == 5000)
      let after = try #require(S.lstatus(scratch.sub("null")))
      #expect(after.st_mode & S_IFMT == S_IFCHR, "atomic \(atomic): the device node was replaced")
      #expect(after.st_ino == before.st_ino && after.st_rdev == before.st_rdev)
    }
    #expect(S.names(scratch.path).count == 2, "no temporary file left")
  }

  @Test("--atomic onto a symbolic link replaces the link's target file and keeps the link")
  func atomicOntoSymlink() async throws {
    let scratch = try F.Scratch()
    try F.write(scratch.sub("src"), TransferFixtures.bytes(70_000))
    try F.mkdirp(scratch.sub("elsewhere"))
    try F.write(scratch.sub("elsewhere/target"), [1, 2, 3], mode: 0o640)
    try F.symlink("elsewhere/target", scratch.sub("link"))
    let before = try #require(S.lstatus(scratch.sub("elsewhere/target")))
    let report = try await Transfer.copy(
      from: F.filePath(scratch.sub("src")), to: F.filePath(scratch.sub("link")), options: CopyOptions(atomic: true))
    #expect(report.bytes == 70_000)
    #expect(S.type(scratch.sub("link")) == S_IFLNK, "the link became a regular file")
    let after = try #require(S.lstatus(scratch.sub("elsewhere/target")))
    #expect(after.st_ino != before.st_ino, "the target was replaced atomically (a new inode)")
    #expect(after.st_mode & 0o7777 == 0o640, "the replaced file keeps its mode, as cp's result would")
    TransferFixtures.expectSame(F.read(scratch.sub("elsewhere/target")), TransferFixtures.bytes(70_000), "the target's bytes")
    #expect(S.names(scratch.sub("elsewhere")) == [Array("target".utf8)], "no temporary file left")
  }

  @Test(
    "a dangling symbolic link as destination is refused (cp: not writing through dangling symlink)", arguments: [false, true])
  func danglingSymlink(_ atomic: Bool) async throws {
    let scratch = try F.Scratch()
    try F.write(scratch.sub("src"), [1, 2, 3])
    try F.symlink("missing-target", scratch.sub("dangling"))
    let error = await #expect(throws: ZeroCopyError.self) {
      try await Transfer.copy(
        from: F.filePath(scratch.sub("src")), to: F.filePath(scratch.sub("dangling")), options: CopyOptions(atomic: atomic))
    }
    #expect(error?.errno == .noSuchFileOrDirectory)
    #expect(error?.message?.contains("not writing through dangling symlink") == true)
    #expect(S.type(scratch.sub("dangling")) == S_IFLNK)
    #expect(S.type(scratch.sub("missing-target")) == nil, "nothing created through the link")
  }

  // MARK: A tree copy truncating its own source

  static let engineModes: [(TreeCopy.Engine, TreeCopy.OverwriteMode)] = [TreeCopy.Engine.ioUring, .threads, .sequential]
    .flatMap { e in TreeCopy.OverwriteMode.allCases.map { (e, $0) } }

  @Test(
    "cp -al S D, then a tree copy S → D: every file refused as the same file, S and D intact (every engine, every overwrite mode)",
    arguments: engineModes)
  func treeCopyOverHardLinks(_ engine: TreeCopy.Engine, _ overwrite: TreeCopy.OverwriteMode) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("S"), dst = scratch.sub("D")
    let expected = try F.buildSource(src)
    let linked = try TransferFixtures.run("/bin/cp", ["-al", scratch.string + "/S", scratch.string + "/D"])
    try #require(linked.status == 0, "cp -al: \(linked.standardError)")
    let before = F.snapshot(src)
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(dst),
      options: TreeCopy.Options(engine: engine, keepGoing: true, overwrite: overwrite))
    #expect(F.snapshot(src) == before, "\(engine) \(overwrite): the source changed")
    #expect(F.snapshot(dst) == before, "\(engine) \(overwrite): the destination changed")
    #expect(report.files == 0)
    #expect(report.errors.count == expected.files, "\(report.errors.map(\.description))")
    for error in report.errors {
      #expect(error.errno == .invalidArgument)
      #expect(error.message?.contains("same file") == true, "\(error)")
    }
  }

  @Test(
    "a bind mount of the source's file or directory inside the destination is refused, never truncated",
    .enabled(if: CopySupport.canMount, "bind mounts need root"),
    arguments: [TreeCopy.Engine.ioUring, .threads, .sequential])
  func treeCopyOverBindMounts(_ engine: TreeCopy.Engine) async throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("S"), dst = scratch.sub("D")
    try F.buildSource(src)
    try F.mkdirp(dst)
    try F.mkdirp(dst + S.b("/a"))
    try F.write(dst + S.b("/a/f7"), [0])
    try F.mkdirp(dst + S.b("/a/b"))
    let fileMount = F.cPath(dst + S.b("/a/f7")), dirMount = F.cPath(dst + S.b("/a/b"))
    #expect(mount(F.cPath(src + S.b("/a/f7")), fileMount, nil, UInt(MS_BIND), nil) == 0)
    defer { umount2(fileMount, CInt(MNT_DETACH)) }
    #expect(mount(F.cPath(src + S.b("/a/b")), dirMount, nil, UInt(MS_BIND), nil) == 0)
    defer { umount2(dirMount, CInt(MNT_DETACH)) }
    let before = F.snapshot(src)
    let report = try await TreeCopy.copy(
      from: F.filePath(src), to: F.filePath(dst),
      options: TreeCopy.Options(engine: engine, keepGoing: true, overwrite: .truncateOnOpen))
    #expect(F.snapshot(src) == before, "\(engine): the source changed")
    #expect(report.errors.count == 2, "\(report.errors.map(\.description))")
    #expect(report.errors.contains { $0.message?.contains("same file") == true })
    #expect(report.errors.contains { $0.message?.contains("same directory") == true })
  }

  // MARK: A tree copied into itself

  @Test("a tree copied into itself is refused before anything is created (cp's words)")
  func treeIntoItself() async throws {
    // On a small tmpfs when possible: a regression would fill it, not the disk.
    let small = CopySupport.canMount ? TransferFixtures.mountTmpfs(size: "4m") : nil
    defer { small.map(TransferFixtures.unmount) }
    let scratch = try F.Scratch(in: small?.path ?? "/tmp")
    let a = scratch.sub("a")
    try F.buildSource(a)
    try F.symlink(".", a + S.b("/self"))
    let before = F.snapshot(a)
    let targets = ["a/sub", "a/a/b/new", "a", "a/self/sub", "a/a/b"]
    for target in targets {
      for engine in [TreeCopy.Engine.automatic, .threads, .sequential] {
        // A regression would recurse until the filesystem is full: a watchdog cancels it.
        let monitor = TransferMonitor()
        let watchdog = Task {
          try await Task.sleep(for: .seconds(20))
          monitor.cancel()
          Issue.record("\(target) (\(engine)): still copying after 20 s")
        }
        defer { watchdog.cancel() }
        let error = await #expect(throws: ZeroCopyError.self, "\(target)") {
          try await TreeCopy.copy(
            from: F.filePath(a), to: F.filePath(scratch.sub(target)), options: TreeCopy.Options(engine: engine, monitor: monitor))
        }
        #expect(error?.errno == .invalidArgument, "\(target): \(String(describing: error))")
        #expect(error?.message?.contains(target == "a" ? "are the same file" : "cannot copy a directory, ") == true, "\(target)")
        #expect(error?.message?.contains("into itself") == true, "\(target)")
        #expect(F.snapshot(a) == before, "\(target) (\(engine)): something was created")
      }
    }
    // A sibling whose name starts the same is not inside.
    let report = try await TreeCopy.copy(from: F.filePath(a), to: F.filePath(scratch.sub("ab")))
    #expect(report.errors.isEmpty)
  }

  @Test("zc copy -r a a/sub: exit 1, cp's message, nothing created", .enabled(if: zcAvailable))
  func zcTreeIntoItself() throws {
    let small = CopySupport.canMount ? TransferFixtures.mountTmpfs(size: "4m") : nil
    defer { small.map(TransferFixtures.unmount) }
    let scratch = try F.Scratch(in: small?.path ?? "/tmp")
    try F.buildSource(scratch.sub("a"))
    let before = F.snapshot(scratch.sub("a"))
    let run = try S.zc("copy", "-r", scratch.string + "/a", scratch.string + "/a/sub")
    #expect(run.status == 1, "\(run)")
    #expect(
      run.standardError.contains("cannot copy a directory, '\(scratch.string)/a', into itself, '\(scratch.string)/a/sub'"),
      "\(run)")
    #expect(F.snapshot(scratch.sub("a")) == before)
  }

  // MARK: Trailing slash

  @Test("a destination with a trailing slash must be a directory (ENOTDIR otherwise), as in cp", .enabled(if: zcAvailable))
  func trailingSlash() async throws {
    let scratch = try F.Scratch()
    try F.write(scratch.sub("f"), TransferFixtures.bytes(1000))
    try F.write(scratch.sub("existing"), [7, 7])
    try F.mkdirp(scratch.sub("dir"))
    try F.symlink("dir", scratch.sub("link-to-dir"))
    let f = scratch.string + "/f"
    let onFile = try S.zc("copy", f, scratch.string + "/existing/")
    #expect(onFile.status == 1, "\(onFile)")
    #expect(onFile.standardError.contains("ENOTDIR"), "\(onFile)")
    #expect(onFile.standardError.contains("'\(scratch.string)/existing/'"), "the name as typed: \(onFile)")
    TransferFixtures.expectSame(F.read(scratch.sub("existing")), [7, 7], "the file was overwritten")
    let newName = try S.zc("copy", f, scratch.string + "/newname/")
    #expect(newName.status == 1, "\(newName)")
    #expect(newName.standardError.contains("ENOTDIR"), "\(newName)")
    #expect(S.type(scratch.sub("newname")) == nil, "a file 'newname' was created")
    for directory in ["dir/", "link-to-dir/", "dir//"] {
      let into = try S.zc("copy", f, scratch.string + "/" + directory)
      #expect(into.status == 0, "\(directory): \(into)")
    }
    TransferFixtures.expectSame(F.read(scratch.sub("dir/f")), TransferFixtures.bytes(1000), "dir/f")
    // A source with a trailing slash must be a directory too (cp: cannot stat 'f/').
    let sourceSlash = try S.zc("copy", f + "/", scratch.string + "/other")
    #expect(sourceSlash.status == 1)
    #expect(sourceSlash.standardError.contains("ENOTDIR"), "\(sourceSlash)")
    #expect(S.type(scratch.sub("other")) == nil)
    // The library: CopyOptions.Destination.intoDirectory.
    let error = await #expect(throws: ZeroCopyError.self) {
      try await Transfer.copy(
        from: F.filePath(scratch.sub("f")), to: F.filePath(scratch.sub("existing")),
        options: CopyOptions(destination: .intoDirectory))
    }
    #expect(error?.errno == .notDirectory)
  }

  // MARK: Pipes, FIFOs, character devices as sources

  /// The strategies that claim to support a pipe (or FIFO) source and a file destination.
  static let pipeStrategies: [String] = {
    let pair = EndpointPair(
      source: TransferEndpoint(descriptor: FileDescriptor(rawValue: 0), kind: .pipe),
      destination: TransferEndpoint(descriptor: FileDescriptor(rawValue: 1), kind: .file, size: 0))
    return TransferStrategies.builtIn.filter { $0.supports(pair) }.map(\.name)
  }()

  @Test("a FIFO source is read to its end by every strategy that supports pipes", arguments: pipeStrategies)
  func fifoSource(_ name: String) async throws {
    let strategy = try #require(TransferStrategies.named(name))
    let scratch = try F.Scratch()
    #expect(mkfifo(F.cPath(scratch.sub("fifo")), 0o600) == 0)
    let content = TransferFixtures.bytes(3 << 20)
    let writer = TransferFixtures.Worker { [path = scratch.sub("fifo")] in
      let fd = S.openFIFOForWriting(path)
      guard fd >= 0 else { return }
      S.writeSurvivingReaderDeath(fd, content)
      close(fd)
    }
    let report = try await Transfer.copy(
      from: F.filePath(scratch.sub("fifo")), to: F.filePath(scratch.sub("out")), strategy: strategy,
      options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
    writer.join()
    #expect(report.bytes == Int64(content.count), "\(name)")
    #expect(report.sourceKind == .pipe)
    TransferFixtures.expectSame(F.read(scratch.sub("out")), content, "\(name): the copy")
  }

  @Test("character devices as sources: /dev/null copies as empty; /dev/zero with a count by every strategy that supports it")
  func characterDeviceSource() async throws {
    let scratch = try F.Scratch()
    try F.write(scratch.sub("out"), [1, 2, 3])
    let report = try await Transfer.copy(from: "/dev/null", to: F.filePath(scratch.sub("out")))
    #expect(report.bytes == 0)
    #expect(F.read(scratch.sub("out")).isEmpty)
    let zero = try TransferFixtures.openFile("/dev/zero", O_RDONLY)
    defer { try? zero.close() }
    let probe = try TransferEndpoint.inspect(zero)
    for strategy in TransferStrategies.builtIn {
      let out = try TransferFixtures.openFile(String(decoding: scratch.sub("zeros"), as: UTF8.self), O_RDWR | O_CREAT | O_TRUNC)
      defer { try? out.close() }
      let pair = EndpointPair(source: probe, destination: try TransferEndpoint.inspect(out))
      guard strategy.supports(pair) else { continue }
      let result = try await Transfer.run(TransferRequest(from: zero, count: 200_000, to: out), strategy: strategy)
      #expect(result.bytes == 200_000, "\(strategy.name)")
      TransferFixtures.expectSame(F.read(scratch.sub("zeros")), [UInt8](repeating: 0, count: 200_000), "\(strategy.name)")
    }
  }

  @Test("zc copy - OUT and zc copy /dev/stdin OUT read standard input (a pipe)", .enabled(if: zcAvailable))
  func standardInput() throws {
    let scratch = try F.Scratch()
    let content = TransferFixtures.bytes(2 << 20)
    for (source, strategy) in [("-", "automatic"), ("/dev/stdin", "automatic"), ("-", "splice"), ("-", "readWrite")] {
      let out = scratch.string + "/out-\(strategy)"
      let run = try S.zc([S.b("copy"), S.b(source), S.b(out), S.b("--strategy"), S.b(strategy)], input: content)
      #expect(run.status == 0, "\(source) \(strategy): \(run)")
      TransferFixtures.expectSame(F.read(S.b(out)), content, "\(source) --strategy \(strategy)")
    }
  }

  // MARK: Paths as raw bytes

  @Test("names that are not UTF-8 work as zc copy's source and destination, and messages escape them", .enabled(if: zcAvailable))
  func rawByteNames() throws {
    let scratch = try F.Scratch()
    let source = scratch.path + [0x2F] + F.oddName  // "f" FF FE " x"
    let destination = scratch.path + [0x2F, 0x67, 0xFF, 0xC3]  // "g" FF C3 (invalid UTF-8)
    try F.write(source, TransferFixtures.bytes(5000))
    let run = try S.zc([S.b("copy"), source, destination])
    #expect(run.status == 0, "\(run)")
    TransferFixtures.expectSame(F.read(destination), TransferFixtures.bytes(5000), "the copy under its exact name")
    #expect(S.names(scratch.path).count == 2, "only the source and the copy: \(S.names(scratch.path).map(F.escaped))")
    let missing = scratch.path + S.b("/nope") + [0xFF]
    let failed = try S.zc([S.b("copy"), missing, scratch.path + S.b("/x")])
    #expect(failed.status == 1)
    #expect(failed.standardError.contains("'\(scratch.string)/nope'$'\\377'"), "\(failed.standardError)")
    // The library quotes the same way.
    #expect(F.filePath(source).shellQuoted == "'\(scratch.string)/f'$'\\377\\376'' x'")
    #expect(F.filePath(S.b("it's")).shellQuoted == "\"it's\"")
    #expect(F.filePath(S.b("a\nb")).shellQuoted == "'a'$'\\n''b'")
  }

  // MARK: Numeric options

  @Test(
    "numeric options are validated: a usage error (exit 64) with a message, never a trap",
    .enabled(if: zcAvailable),
    arguments: ["4611686018427387904", "0", "-1", "1025", "99999999999999999999999", "9223372036854775807", "x"])
  func numericOptions(_ jobs: String) throws {
    let scratch = try F.Scratch()
    try F.mkdirp(scratch.sub("src"))
    let run = try S.zc("copy", "-r", "--jobs", jobs, scratch.string + "/src", scratch.string + "/dst")
    #expect(run.status == 64, "--jobs \(jobs): \(run)")
    #expect(run.signal == nil)
    #expect(run.standardError.contains("jobs"), "\(run.standardError)")
    #expect(S.type(scratch.sub("dst")) == nil)
  }
}

@Suite("CopyCleanup")
struct CopyCleanupTests {
  @Test(
    "removeUnfinishedFiles(): an atomic copy blocked on a FIFO loses its temporary file and never renames it; the destination stays"
  )
  func removesTheTemporaryFile() async throws {
    // In a child process of its own: the registry is process-wide, and other suites' copies
    // run in parallel in this one.
    await #expect(processExitsWith: .success) {
      try await Faults.harnessed("CopyCleanup") { try await CopyCleanupTests.body() }
    }
  }

  static func body() async throws {
    let scratch = try F.Scratch()
    #expect(mkfifo(F.cPath(scratch.sub("fifo")), 0o600) == 0)
    try F.write(scratch.sub("dest"), S.b("old"))
    let source = F.filePath(scratch.sub("fifo")), destination = F.filePath(scratch.sub("dest"))
    let copy = Task { try await Transfer.copy(from: source, to: destination, options: CopyOptions(atomic: true)) }
    let writer = S.openFIFOForWriting(scratch.sub("fifo"))
    try #require(writer >= 0)
    S.writeSurvivingReaderDeath(writer, TransferFixtures.bytes(100_000))
    // Wait for the temporary file to hold the bytes, then remove it as a dying process would.
    var temporaries: [[UInt8]] = []
    for _ in 0..<4000 {
      temporaries = S.names(scratch.path).filter { $0.starts(with: S.b(".dest.zc-")) }
      if let t = temporaries.first, S.lstatus(scratch.path + [0x2F] + t)?.st_size == 100_000 { break }
      try await Task.sleep(for: .milliseconds(5))
    }
    #expect(temporaries.count == 1)
    #expect(CopyCleanup.removeUnfinishedFiles() == 1)
    #expect(S.names(scratch.path).filter { $0.starts(with: S.b(".dest.zc-")) }.isEmpty)
    close(writer)  // end of stream: the copy finishes its data and tries to rename
    let result = await copy.result
    guard case .failure(let failure) = result, let error = failure as? ZeroCopyError else {
      Issue.record("the copy succeeded after its temporary file was removed")
      return
    }
    #expect(error.errno == .canceled, "\(error)")
    #expect(error.syscall == "rename")
    TransferFixtures.expectSame(F.read(scratch.sub("dest")), S.b("old"), "the destination")
    #expect(S.names(scratch.path).count == 2)
  }
}
