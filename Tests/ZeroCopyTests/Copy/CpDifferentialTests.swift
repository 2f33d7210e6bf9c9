// The differential harness: GNU cp and `zc copy` on identical copies of generated inputs —
// every kind of source and destination cp handles (regular, empty, sparse, directory,
// symbolic link, dangling link, FIFO, socket, device node where permitted, read-only, the
// same file through another name, a hard link, names that are not UTF-8, trailing slashes),
// with every strategy for files and every engine for -r — compared on: exit status, the
// whole resulting directory (types, modes, bytes, link targets), the blocks of sparse files,
// what a FIFO's reader received, and the first words of the reason of a failure.
//
// Where zc differs on purpose, the case names the row of the table in Docs/Copy.md
// ("Differences from GNU cp") and checks that exact difference, so that the table and the
// behaviour cannot drift apart: a difference that disappears fails the case too.

import Glibc
import SystemPackage
import Testing
@testable import ZeroCopy

private typealias F = TreeFixtures
private typealias S = CopySupport

/// One input layout and one command line, run once with cp and once per strategy/engine with zc.
struct CpCase: Sendable, CustomTestStringConvertible {
  /// What the directory holds before the command (each built afresh for every run).
  enum Input: Sendable {
    case file(String, [UInt8], mode: mode_t = 0o644)
    case sparse(String, size: Int64, data: [(Int64, [UInt8])])
    case directory(String, mode: mode_t = 0o755)
    case symlink(String, target: String)
    case hardLink(String, to: String)
    case fifo(String)
    case socket(String)
    case nullDevice(String)
    case rawFile([UInt8], [UInt8])
    case tree(String)
  }

  let name: String
  let recursive: Bool
  let inputs: [Input]
  /// The arguments after `cp`/`zc copy`: paths relative to the case's directory (an
  /// absolute path, or "-", is passed as it is).
  let arguments: [[UInt8]]
  /// When a run fails: a phrase both error messages must contain.
  let reason: String?
  /// Bytes fed to a FIFO source (opened for writing while the command runs).
  var feed: (path: String, bytes: [UInt8])? = nil
  /// A FIFO destination whose reader's bytes are compared.
  var drain: String? = nil
  /// Standard input of the command.
  var standardInput: [UInt8]? = nil
  /// Sparse files whose allocated blocks are compared (zc's ≤ cp's).
  var sparse: [String] = []
  /// Needs root (mknod).
  var rootOnly = false
  /// The row of Docs/Copy.md's table when zc differs on purpose, and how.
  var difference: Difference? = nil

  var testDescription: String { name }

  enum Difference: Sendable {
    /// `zc copy -` reads standard input; cp looks for a file named "-".
    case standardInputDash
    /// cp -rT recreates FIFOs, sockets and device nodes; zc -r refuses them (named errors,
    /// the rest copied with --keep-going).
    case specialFilesInTrees
    /// A tree copied into itself: both refuse (exit 1, "into itself"), but cp has created
    /// the destination directory first; zc creates nothing.
    case intoItselfCreatesNothing
    /// zc -r copies the source's mode exactly (set-user-ID kept, umask ignored); cp without
    /// -p gives a new file the mode less the umask and drops set-user-ID.
    case treeModesExact
    /// In a tree, a symbolic link where the source has a file is replaced (never written
    /// through); an existing file's mode becomes the source's.
    case treeReplacesLinksAndModes
    /// zc -r needs a directory source; cp -r copies a file.
    case recursiveFileSource
  }
}

@Suite("Differential: GNU cp vs zc copy", .enabled(if: CpDifferential.ready, "needs GNU cp and the zc executable"))
struct CpDifferentialTests {
  @Test("cp vs zc copy (every strategy)", arguments: CpDifferential.fileCases)
  func file(_ c: CpCase) throws { try CpDifferential.check(c) }

  @Test("cp -rT vs zc copy -r --keep-going (every engine)", arguments: CpDifferential.treeCases)
  func tree(_ c: CpCase) throws { try CpDifferential.check(c) }
}

enum CpDifferential {
  static let cp: String? = { () -> String? in
    let candidates: [String] = ["/usr/bin/cp", "/bin/cp"]
    return candidates.first { access($0, X_OK) == 0 }
  }()
  static let ready: Bool = {
    guard let cp, TransferFixtures.zcExecutable != nil else { return false }
    return (try? TransferFixtures.run(cp, ["--version"]))?.standardOutput.contains("GNU coreutils") == true
  }()
  static let isRoot = geteuid() == 0

  /// Under a seccomp filter (`make test-no-uring` runs the suites again with io_uring
  /// refused): only the variants whose behaviour that changes are run again — the
  /// automatic and io_uring strategies, the io_uring engine — to keep the harness's CI time
  /// low (the full matrix runs in `swift test`).
  static let underSeccompFilter: Bool = {
    let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    let text = String(decoding: TransferFixtures.readToEnd(fd), as: UTF8.self)
    return text.split(separator: "\n").contains { $0.hasPrefix("Seccomp:") && $0.hasSuffix("2") }
  }()
  static let seccompVariants: Set<String> = ["automatic", "ioUring", "ioUringSplice", "uring"]

  /// Under ASan or TSan (`make sanitize`), every instrumented zc start costs about half a
  /// second: the harness keeps one strategy and one engine there (~240 s under TSan
  /// otherwise); the sanitizer runs look for memory and thread errors, the semantics are
  /// compared by the normal run.
  static let underSanitizer: Bool =
    dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil
    || dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil
  static let sanitizerVariants: Set<String> = ["automatic", "uring"]

  static func runs(_ variant: String) -> Bool {
    if underSanitizer { return sanitizerVariants.contains(variant) }
    if underSeccompFilter { return seccompVariants.contains(variant) }
    return true
  }

  static func b(_ s: String) -> [UInt8] { Array(s.utf8) }
  static let content = TransferFixtures.bytes(200_000)
  static let odd: [UInt8] = [0x66, 0xFF, 0xFE, 0x20, 0x78]  // "f" FF FE " x"

  // MARK: - The cases

  static let fileCases: [CpCase] = {
    let src = CpCase.Input.file("src", content)
    var cases: [CpCase] = [
      CpCase(name: "regular file to a new name", recursive: false, inputs: [src], arguments: [b("src"), b("dst")], reason: nil),
      CpCase(name: "empty file", recursive: false, inputs: [.file("empty", [])], arguments: [b("empty"), b("dst")], reason: nil),
      CpCase(
        name: "sparse file (4 MiB, 8 KiB of data)", recursive: false,
        inputs: [.sparse("sparse", size: 4 << 20, data: [(1 << 20, Array(content.prefix(4096))), ((4 << 20) - 4096, Array(content.suffix(4096)))])],
        arguments: [b("sparse"), b("dst")], reason: nil, sparse: ["dst"]),
      CpCase(name: "into an existing directory", recursive: false, inputs: [src, .directory("dir")], arguments: [b("src"), b("dir")], reason: nil),
      CpCase(name: "into a directory written with a slash", recursive: false, inputs: [src, .directory("dir")], arguments: [b("src"), b("dir/")], reason: nil),
      CpCase(
        name: "a file written with a trailing slash", recursive: false, inputs: [src, .file("existing", [1, 2])],
        arguments: [b("src"), b("existing/")], reason: "Not a directory"),
      CpCase(name: "a new name with a trailing slash", recursive: false, inputs: [src], arguments: [b("src"), b("newname/")], reason: "Not a directory"),
      CpCase(name: "a source with a trailing slash", recursive: false, inputs: [src], arguments: [b("src/"), b("dst")], reason: "Not a directory"),
      CpCase(
        name: "over a longer existing file", recursive: false, inputs: [src, .file("big", TransferFixtures.bytes(500_000), mode: 0o600)],
        arguments: [b("src"), b("big")], reason: nil),
      CpCase(
        name: "over a read-only file", recursive: false, inputs: [src, .file("ro", [1, 2, 3], mode: 0o444)],
        arguments: [b("src"), b("ro")], reason: "Permission denied"),
      CpCase(name: "a read-only source", recursive: false, inputs: [.file("ro", content, mode: 0o444)], arguments: [b("ro"), b("dst")], reason: nil),
      CpCase(name: "modes: group-writable and set-user-ID sources", recursive: false, inputs: [.file("g", content, mode: 0o4775)], arguments: [b("g"), b("dst")], reason: nil),
      CpCase(name: "a symbolic link as source", recursive: false, inputs: [src, .symlink("link", target: "src")], arguments: [b("link"), b("dst")], reason: nil),
      CpCase(name: "a dangling link as source", recursive: false, inputs: [.symlink("dangling", target: "nowhere")], arguments: [b("dangling"), b("dst")], reason: "No such file or directory"),
      CpCase(
        name: "through a symbolic link to a file", recursive: false, inputs: [src, .file("target", [9]), .symlink("link", target: "target")],
        arguments: [b("src"), b("link")], reason: nil),
      CpCase(
        name: "onto a dangling link", recursive: false, inputs: [src, .symlink("dangling", target: "nowhere")],
        arguments: [b("src"), b("dangling")], reason: "not writing through dangling symlink"),
      CpCase(name: "onto itself", recursive: false, inputs: [src], arguments: [b("src"), b("src")], reason: "same file"),
      CpCase(name: "onto a hard link of itself", recursive: false, inputs: [src, .hardLink("hard", to: "src")], arguments: [b("src"), b("hard")], reason: "same file"),
      CpCase(name: "onto a symbolic link to itself", recursive: false, inputs: [src, .symlink("link", target: "src")], arguments: [b("src"), b("link")], reason: "same file"),
      CpCase(name: "a directory without -r", recursive: false, inputs: [.tree("dir")], arguments: [b("dir"), b("dst")], reason: "omitting directory"),
      CpCase(name: "a missing source", recursive: false, inputs: [], arguments: [b("missing"), b("dst")], reason: "No such file or directory"),
      CpCase(name: "into a missing directory", recursive: false, inputs: [src], arguments: [b("src"), b("nodir/x")], reason: "No such file or directory"),
      CpCase(
        name: "where the directory holds a directory of that name", recursive: false,
        inputs: [src, .directory("dir"), .directory("dir/src")], arguments: [b("src"), b("dir")], reason: "cannot overwrite directory"),
      CpCase(name: "names that are not UTF-8", recursive: false, inputs: [.rawFile(odd, content)], arguments: [odd, [0x67, 0xFF, 0xC3]], reason: nil),
      CpCase(name: "a FIFO as source", recursive: false, inputs: [.fifo("fifo")], arguments: [b("fifo"), b("dst")], reason: nil, feed: ("fifo", content)),
      CpCase(name: "a FIFO as destination", recursive: false, inputs: [src, .fifo("fifo")], arguments: [b("src"), b("fifo")], reason: nil, drain: "fifo"),
      CpCase(name: "a socket as source", recursive: false, inputs: [.socket("sock")], arguments: [b("sock"), b("dst")], reason: "No such device or address"),
      CpCase(name: "a socket as destination", recursive: false, inputs: [src, .socket("sock")], arguments: [b("src"), b("sock")], reason: "No such device or address"),
      CpCase(name: "/dev/null as source", recursive: false, inputs: [.file("dst", [1, 2, 3])], arguments: [b("/dev/null"), b("dst")], reason: nil),
      CpCase(name: "/dev/stdin as source (a pipe)", recursive: false, inputs: [], arguments: [b("/dev/stdin"), b("dst")], reason: nil, standardInput: content),
      CpCase(
        name: "- as source", recursive: false, inputs: [], arguments: [b("-"), b("dst")], reason: nil, standardInput: content,
        difference: .standardInputDash),
    ]
    if isRoot {
      cases.append(CpCase(
        name: "a device node as destination", recursive: false, inputs: [src, .nullDevice("null")], arguments: [b("src"), b("null")],
        reason: nil, rootOnly: true))
      cases.append(CpCase(
        name: "a device node as source", recursive: false, inputs: [.nullDevice("null")], arguments: [b("null"), b("dst")], reason: nil,
        rootOnly: true))
    }
    return cases
  }()

  static let treeCases: [CpCase] = {
    var cases: [CpCase] = [
      CpCase(name: "a tree (links, dangling links, read-only entries, non-UTF-8 names) to a new name", recursive: true,
             inputs: [.tree("src")], arguments: [b("src"), b("dst")], reason: nil, difference: .treeModesExact),
      CpCase(name: "a tree into an existing empty directory", recursive: true, inputs: [.tree("src"), .directory("dst")],
             arguments: [b("src"), b("dst")], reason: nil, difference: .treeModesExact),
      CpCase(name: "a tree to a new name written with a slash", recursive: true, inputs: [.tree("src")],
             arguments: [b("src"), b("dst/")], reason: nil, difference: .treeModesExact),
      CpCase(name: "onto a file written with a slash", recursive: true, inputs: [.directory("src"), .file("file", [1])],
             arguments: [b("src"), b("file/")], reason: "Not a directory"),
      CpCase(name: "a sparse file and hard links inside a tree", recursive: true,
             inputs: [.directory("src"), .sparse("src/sparse", size: 4 << 20, data: [(8192, Array(content.prefix(4096)))]),
                      .file("src/f", content), .hardLink("src/hard", to: "src/f")],
             arguments: [b("src"), b("dst")], reason: nil, sparse: ["dst/sparse"]),
      CpCase(name: "merging: a file where the tree has a directory, and a directory where it has a file", recursive: true,
             inputs: [.directory("src"), .directory("src/sub"), .file("src/sub/x", [1]), .file("src/f", content),
                      .directory("dst"), .file("dst/sub", [2]), .directory("dst/f"), .file("dst/other", [3])],
             arguments: [b("src"), b("dst")], reason: "cannot overwrite"),
      CpCase(name: "merging: a link or another mode where the tree has a file", recursive: true,
             inputs: [.directory("src"), .file("src/f", content), .file("src/g", content),
                      .directory("dst"), .file("dst/target", [7]), .symlink("dst/f", target: "target"), .file("dst/g", [1], mode: 0o600)],
             arguments: [b("src"), b("dst")], reason: nil, difference: .treeReplacesLinksAndModes),
      CpCase(name: "a FIFO and a socket inside the tree", recursive: true,
             inputs: [.directory("src"), .file("src/f", content), .fifo("src/fifo"), .socket("src/sock")],
             arguments: [b("src"), b("dst")], reason: nil, difference: .specialFilesInTrees),
      CpCase(name: "into itself", recursive: true, inputs: [.tree("a")], arguments: [b("a"), b("a/sub")], reason: "into itself",
             difference: .intoItselfCreatesNothing),
      CpCase(name: "onto itself", recursive: true, inputs: [.tree("a")], arguments: [b("a"), b("a")], reason: "are the same file"),
      CpCase(name: "onto an existing file", recursive: true, inputs: [.directory("src"), .file("file", [1])],
             arguments: [b("src"), b("file")], reason: "cannot overwrite non-directory"),
      CpCase(name: "a missing source", recursive: true, inputs: [], arguments: [b("missing"), b("dst")], reason: "No such file or directory"),
      CpCase(name: "a file as the source of -r", recursive: true, inputs: [.file("f", content)], arguments: [b("f"), b("dst")],
             reason: nil, difference: .recursiveFileSource),
    ]
    if isRoot {
      cases.append(CpCase(
        name: "a device node inside the tree", recursive: true, inputs: [.directory("src"), .file("src/f", content), .nullDevice("src/null")],
        arguments: [b("src"), b("dst")], reason: nil, rootOnly: true, difference: .specialFilesInTrees))
    }
    return cases
  }()

  // MARK: - Running a case

  /// What one run left: exit status, stderr, the directory, a FIFO reader's bytes.
  struct Result {
    var run: CopySupport.Outcome
    var tree: [String: TreeFixtures.Entry]
    var drained: [UInt8]?
    var allocated: [String: Int64]
  }

  static func build(_ c: CpCase, in root: [UInt8]) throws {
    func p(_ s: String) -> [UInt8] { root + [0x2F] + b(s) }
    for input in c.inputs {
      switch input {
      case .file(let name, let bytes, let mode): try F.write(p(name), bytes, mode: mode)
      case .sparse(let name, let size, let data): try S.makeSparse(p(name), size: size, data: data.map { ($0.0, $0.1) })
      case .directory(let name, let mode): try F.mkdirp(p(name), mode: mode)
      case .symlink(let name, let target): try F.symlink(target, p(name))
      case .hardLink(let name, let to): guard link(F.cPath(p(to)), F.cPath(p(name))) == 0 else { throw Errno(rawValue: errno) }
      case .fifo(let name): guard mkfifo(F.cPath(p(name)), 0o644) == 0 else { throw Errno(rawValue: errno) }
      case .socket(let name):
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = p(name)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
          for (i, byte) in path.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
          $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw Errno(rawValue: errno) }
      case .nullDevice(let name):
        guard mknod(F.cPath(p(name)), S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 else { throw Errno(rawValue: errno) }
      case .rawFile(let name, let bytes): try F.write(root + [0x2F] + name, bytes)
      case .tree(let name): try F.buildSource(p(name))
      }
    }
  }

  /// Runs `command` in a fresh copy of the case's directory.
  static func run(_ c: CpCase, _ command: [[UInt8]], label: String) throws -> Result {
    let scratch = try F.Scratch(in: "/dev/shm")
    let root = scratch.sub("case")
    try F.mkdirp(root)
    try build(c, in: root)
    let arguments = c.arguments.map { $0.first == 0x2F || $0 == [0x2D] ? $0 : root + [0x2F] + $0 }
    var feeder: TransferFixtures.Worker?
    if let feed = c.feed {
      feeder = TransferFixtures.Worker {
        let fd = S.openFIFOForWriting(root + [0x2F] + b(feed.path))
        if fd >= 0 {
          S.writeSurvivingReaderDeath(fd, feed.bytes)
          close(fd)
        }
      }
    }
    let reader = c.drain.map { S.FIFOReader(root + [0x2F] + b($0)) }
    var outcome: CopySupport.Outcome
    if let input = c.standardInput {
      let (read, write) = try TransferFixtures.makePipe()
      let child = try S.Child(command[0].withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }, Array(command.dropFirst()) + arguments, standardInput: read.rawValue)
      try read.close()
      S.writeSurvivingReaderDeath(write.rawValue, input)
      try write.close()
      outcome = child.wait(timeout: 60)
    } else {
      outcome = try S.Child(String(decoding: command[0], as: UTF8.self), Array(command.dropFirst()) + arguments).wait(timeout: 60)
    }
    feeder?.join()
    // Messages name the case's directory: make them comparable.
    outcome.standardError = outcome.standardError.replacingAll(String(decoding: root, as: UTF8.self), with: "ROOT")
    var allocated: [String: Int64] = [:]
    for name in c.sparse { allocated[name] = Int64(S.lstatus(root + [0x2F] + b(name))?.st_blocks ?? -1) * 512 }
    return Result(run: outcome, tree: F.snapshot(root), drained: reader?.finish(), allocated: allocated)
  }

  /// Runs the case with cp and with zc for every strategy (files) or engine (-r), and
  /// compares.
  static func check(_ c: CpCase) throws {
    let cpCommand: [[UInt8]] = [b(cp!)] + (c.recursive ? [b("-rT")] : [])
    let reference = try run(c, cpCommand, label: "cp")
    let zc = b(TransferFixtures.zcExecutable!)
    let variants: [(String, [[UInt8]])] = c.recursive
      ? ["uring", "threads", "sequential"].map { ($0, [zc, b("copy"), b("-r"), b("--keep-going"), b("--quiet"), b("--engine"), b($0)]) }
      : TransferStrategies.builtIn.map { ($0.name, [zc, b("copy"), b("--quiet"), b("--strategy"), b($0.name)]) }
    for (variant, command) in variants where runs(variant) {
      let ours = try run(c, command, label: variant)
      let what = "\(c.name) [\(variant)]"
      if let difference = c.difference, expectDocumentedDifference(difference, c, cp: reference, zc: ours, what) { continue }
      compare(c, cp: reference, zc: ours, what)
    }
  }

  static func compare(_ c: CpCase, cp: Result, zc: Result, _ what: String) {
    #expect(zc.run.status == cp.run.status, "\(what): exit \(zc.run.status), cp \(cp.run.status); zc: \(zc.run.standardError) cp: \(cp.run.standardError)")
    if let reason = c.reason, cp.run.status != 0 {
      #expect(cp.run.standardError.contains(reason), "\(what): cp's message lacks '\(reason)': \(cp.run.standardError)")
      #expect(zc.run.standardError.contains(reason), "\(what): zc's message lacks '\(reason)': \(zc.run.standardError)")
    }
    expectSameTree(zc.tree, cp.tree, what)
    #expect(zc.drained.map(\.count) == cp.drained.map(\.count), "\(what): the FIFO's reader")
    if let a = zc.drained, let b = cp.drained { TransferFixtures.expectSame(a, b, "\(what): the FIFO's reader") }
    for (name, blocks) in cp.allocated {
      #expect((zc.allocated[name] ?? .max) <= blocks, "\(what): \(name) allocates \(zc.allocated[name] ?? -1) bytes, cp's \(blocks)")
    }
  }

  static func expectSameTree(_ zc: [String: TreeFixtures.Entry], _ cp: [String: TreeFixtures.Entry], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for key in Set(zc.keys).union(cp.keys).sorted() where zc[key] != cp[key] {
      Issue.record("\(what): \(key): zc \(zc[key].map { "\($0)" } ?? "missing"), cp \(cp[key].map { "\($0)" } ?? "missing")", sourceLocation: sourceLocation)
    }
  }

  /// Checks the documented difference; returns true when it was checked (the normal
  /// comparison is skipped).
  static func expectDocumentedDifference(_ d: CpCase.Difference, _ c: CpCase, cp: Result, zc: Result, _ what: String) -> Bool {
    switch d {
    case .standardInputDash:
      #expect(cp.run.status == 1 && cp.run.standardError.contains("cannot stat '-'"), "\(what): cp: \(cp.run)")
      #expect(zc.run.status == 0, "\(what): \(zc.run)")
      if case .file(_, let bytes) = zc.tree["dst"] { TransferFixtures.expectSame(bytes, c.standardInput ?? [], "\(what): dst") }
      else { Issue.record("\(what): no dst") }
    case .specialFilesInTrees:
      #expect(cp.run.status == 0, "\(what): cp: \(cp.run)")
      #expect(zc.run.status == 1 && zc.run.standardError.contains("is not copied"), "\(what): zc: \(zc.run)")
      // Everything else is the same.
      var a = zc.tree, b = cp.tree
      for (key, entry) in b { if case .other = entry { b.removeValue(forKey: key); a.removeValue(forKey: key) } }
      expectSameTree(a, b, what)
    case .intoItselfCreatesNothing:
      #expect(cp.run.status == 1 && zc.run.status == 1)
      #expect(cp.run.standardError.contains("into itself") && zc.run.standardError.contains("into itself"), "\(what)")
      // cp creates a/sub and copies into it everything but a/sub itself; zc creates nothing.
      let inside = cp.tree.keys.filter { $0 == "a/sub" || $0.hasPrefix("a/sub/") }
      #expect(inside.count > 1, "\(what): cp no longer fills a/sub (update Docs/Copy.md)")
      var b = cp.tree
      for key in inside { b.removeValue(forKey: key) }
      expectSameTree(zc.tree, b, what)
    case .treeModesExact:
      // The same entries and bytes; zc's modes are the source's exactly.
      #expect(zc.run.status == cp.run.status, "\(what): \(zc.run) cp: \(cp.run)")
      #expect(Set(zc.tree.keys) == Set(cp.tree.keys), "\(what)")
      var differs = false
      for (key, entry) in cp.tree {
        guard case .file(let m, let bytes) = entry, case .file(let n, let ours)? = zc.tree[key] else {
          #expect(zc.tree[key] == entry, "\(what): \(key)")
          continue
        }
        TransferFixtures.expectSame(ours, bytes, "\(what): \(key)")
        if m != n {
          differs = true
          #expect(m == n & ~S_ISUID & ~S_ISGID & ~TransferFixtures.umaskValue, "\(what): \(key) zc \(String(n, radix: 8)) cp \(String(m, radix: 8))")
        }
      }
      #expect(differs, "\(what): the documented mode difference did not show (update Docs/Copy.md?)")
    case .treeReplacesLinksAndModes:
      #expect(zc.run.status == 0 && cp.run.status == 0, "\(what)")
      #expect(cp.tree["dst/f"] == .symlink(target: b("target")), "\(what): cp wrote through the link")
      #expect(cp.tree["dst/target"] == .file(mode: 0o644, bytes: content), "\(what): cp wrote through the link")
      #expect(cp.tree["dst/g"] == .file(mode: 0o600, bytes: content), "\(what): cp kept the old mode")
      #expect(zc.tree["dst/f"] == .file(mode: 0o644, bytes: content), "\(what): zc replaced the link")
      #expect(zc.tree["dst/target"] == .file(mode: 0o644, bytes: [7]), "\(what): zc did not write through the link")
      #expect(zc.tree["dst/g"] == .file(mode: 0o644, bytes: content), "\(what): zc set the source's mode")
    case .recursiveFileSource:
      #expect(cp.run.status == 0 && cp.tree["dst"] == .file(mode: 0o644, bytes: content), "\(what): cp copied the file")
      #expect(zc.run.status == 1 && zc.run.standardError.contains("Not a directory"), "\(what): \(zc.run)")
    }
    return true
  }
}

extension String {
  fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
    guard !target.isEmpty else { return self }
    var out = ""
    var rest = self[...]
    while let range = rest.firstRange(of: target) {
      out += rest[..<range.lowerBound] + replacement
      rest = rest[range.upperBound...]
    }
    return out + rest
  }
}
