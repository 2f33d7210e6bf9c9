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
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

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
    /// Sets an entry's access and modification times (seconds, nanoseconds), not following a link.
    case times(String, seconds: Int, nanoseconds: Int = 0)
    /// Gives an entry (not followed) to another owner and group (root only).
    case owner(String, uid: uid_t, gid: gid_t)
    /// Sets an extended attribute on a file.
    case xattr(String, name: String, value: [UInt8])
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
  /// Options placed before the operands, passed as they are (cp's spelling).
  var options: [[UInt8]] = []
  /// Run zc once per tree engine (options such as -a or -r given in ``options``), not once per strategy.
  var engines = false
  /// Only these strategies (option cases: the option's effect does not depend on the strategy).
  var strategies: [String]? = nil
  /// Compare standard output (-v), its lines sorted (cp -r reads directories in inode order).
  var compareOutput = false
  /// Entries whose times (access, modification), owner and group are compared.
  var metadata: [String] = []
  /// Entries whose owner and group are compared.
  var owners: [String] = []
  /// Run the command in the case's directory, the operands relative to it (--parents).
  var relative = false
  /// Entries whose "is a hard link of" relation is compared.
  var linkGroups: [[String]] = []
  /// Extended attributes compared (entry, attribute name).
  var xattrs: [(String, String)] = []

  var testDescription: String { name }

  enum Difference: Sendable {
    /// `zc copy -` reads standard input; cp looks for a file named "-".
    case standardInputDash
    /// A tree copied into itself: both refuse (exit 1, "into itself"), but cp has created
    /// the destination directory first; zc creates nothing.
    case intoItselfCreatesNothing
    /// In a tree, a symbolic link where the source has a file is replaced (never written
    /// through); cp -r writes through it.
    case treeReplacesLinks
    /// A usage error: cp exits 1, zc 64 (both say the same words, and touch nothing).
    case usageExitStatus
  }
}

@Suite("Differential: GNU cp vs zc copy", .enabled(if: CpDifferential.ready, "needs GNU cp and the zc executable"))
struct CpDifferentialTests {
  @Test("cp vs zc copy (every strategy)", arguments: CpDifferential.fileCases)
  func file(_ c: CpCase) throws { try CpDifferential.check(c) }

  @Test("cp -rT vs zc copy -rT (every engine)", arguments: CpDifferential.treeCases)
  func tree(_ c: CpCase) throws { try CpDifferential.check(c) }

  @Test("cp's options: cp vs zc copy with the same options", arguments: CpDifferential.optionCases)
  func options(_ c: CpCase) throws { try CpDifferential.check(c) }
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
  static var underSanitizer: Bool { Support.underSanitizer }
  static let sanitizerVariants: Set<String> = ["automatic", "uring"]

  /// With io_uring switched off by `ZEROCOPY_DISABLE_IO_URING=1` (the last mode of `make
  /// test-no-uring`, which runs every suite again): as under the seccomp filter, only the
  /// variants whose behaviour that changes.
  static let ioUringSwitchedOff: Bool = getenv("ZEROCOPY_DISABLE_IO_URING").map { String(cString: $0) == "1" } ?? false

  static func runs(_ variant: String) -> Bool {
    if underSanitizer { return sanitizerVariants.contains(variant) }
    if underSeccompFilter || ioUringSwitchedOff { return seccompVariants.contains(variant) }
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
        inputs: [
          .sparse(
            "sparse", size: 4 << 20,
            data: [(1 << 20, Array(content.prefix(4096))), ((4 << 20) - 4096, Array(content.suffix(4096)))])
        ],
        arguments: [b("sparse"), b("dst")], reason: nil, sparse: ["dst"]),
      CpCase(
        name: "into an existing directory", recursive: false, inputs: [src, .directory("dir")], arguments: [b("src"), b("dir")],
        reason: nil),
      CpCase(
        name: "into a directory written with a slash", recursive: false, inputs: [src, .directory("dir")],
        arguments: [b("src"), b("dir/")], reason: nil),
      CpCase(
        name: "a file written with a trailing slash", recursive: false, inputs: [src, .file("existing", [1, 2])],
        arguments: [b("src"), b("existing/")], reason: "Not a directory"),
      CpCase(
        name: "a new name with a trailing slash", recursive: false, inputs: [src], arguments: [b("src"), b("newname/")],
        reason: "Not a directory"),
      CpCase(
        name: "a source with a trailing slash", recursive: false, inputs: [src], arguments: [b("src/"), b("dst")],
        reason: "Not a directory"),
      CpCase(
        name: "over a longer existing file", recursive: false,
        inputs: [src, .file("big", TransferFixtures.bytes(500_000), mode: 0o600)],
        arguments: [b("src"), b("big")], reason: nil),
      CpCase(
        name: "over a read-only file", recursive: false, inputs: [src, .file("ro", [1, 2, 3], mode: 0o444)],
        arguments: [b("src"), b("ro")], reason: "Permission denied"),
      CpCase(
        name: "a read-only source", recursive: false, inputs: [.file("ro", content, mode: 0o444)],
        arguments: [b("ro"), b("dst")], reason: nil),
      CpCase(
        name: "modes: group-writable and set-user-ID sources", recursive: false, inputs: [.file("g", content, mode: 0o4775)],
        arguments: [b("g"), b("dst")], reason: nil),
      CpCase(
        name: "a symbolic link as source", recursive: false, inputs: [src, .symlink("link", target: "src")],
        arguments: [b("link"), b("dst")], reason: nil),
      CpCase(
        name: "a dangling link as source", recursive: false, inputs: [.symlink("dangling", target: "nowhere")],
        arguments: [b("dangling"), b("dst")], reason: "No such file or directory"),
      CpCase(
        name: "through a symbolic link to a file", recursive: false,
        inputs: [src, .file("target", [9]), .symlink("link", target: "target")],
        arguments: [b("src"), b("link")], reason: nil),
      CpCase(
        name: "onto a dangling link", recursive: false, inputs: [src, .symlink("dangling", target: "nowhere")],
        arguments: [b("src"), b("dangling")], reason: "not writing through dangling symlink"),
      CpCase(name: "onto itself", recursive: false, inputs: [src], arguments: [b("src"), b("src")], reason: "same file"),
      CpCase(
        name: "onto a hard link of itself", recursive: false, inputs: [src, .hardLink("hard", to: "src")],
        arguments: [b("src"), b("hard")], reason: "same file"),
      CpCase(
        name: "onto a symbolic link to itself", recursive: false, inputs: [src, .symlink("link", target: "src")],
        arguments: [b("src"), b("link")], reason: "same file"),
      CpCase(
        name: "a directory without -r", recursive: false, inputs: [.tree("dir")], arguments: [b("dir"), b("dst")],
        reason: "omitting directory"),
      CpCase(
        name: "a missing source", recursive: false, inputs: [], arguments: [b("missing"), b("dst")],
        reason: "No such file or directory"),
      CpCase(
        name: "into a missing directory", recursive: false, inputs: [src], arguments: [b("src"), b("nodir/x")],
        reason: "No such file or directory"),
      CpCase(
        name: "where the directory holds a directory of that name", recursive: false,
        inputs: [src, .directory("dir"), .directory("dir/src")], arguments: [b("src"), b("dir")],
        reason: "cannot overwrite directory"),
      CpCase(
        name: "names that are not UTF-8", recursive: false, inputs: [.rawFile(odd, content)],
        arguments: [odd, [0x67, 0xFF, 0xC3]], reason: nil),
      CpCase(
        name: "a FIFO as source", recursive: false, inputs: [.fifo("fifo")], arguments: [b("fifo"), b("dst")], reason: nil,
        feed: ("fifo", content)),
      CpCase(
        name: "a FIFO as destination", recursive: false, inputs: [src, .fifo("fifo")], arguments: [b("src"), b("fifo")],
        reason: nil, drain: "fifo"),
      CpCase(
        name: "a socket as source", recursive: false, inputs: [.socket("sock")], arguments: [b("sock"), b("dst")],
        reason: "No such device or address"),
      CpCase(
        name: "a socket as destination", recursive: false, inputs: [src, .socket("sock")], arguments: [b("src"), b("sock")],
        reason: "No such device or address"),
      CpCase(
        name: "/dev/null as source", recursive: false, inputs: [.file("dst", [1, 2, 3])], arguments: [b("/dev/null"), b("dst")],
        reason: nil),
      CpCase(
        name: "/dev/stdin as source (a pipe)", recursive: false, inputs: [], arguments: [b("/dev/stdin"), b("dst")], reason: nil,
        standardInput: content),
      CpCase(
        name: "- as source", recursive: false, inputs: [], arguments: [b("-"), b("dst")], reason: nil, standardInput: content,
        difference: .standardInputDash),
    ]
    if isRoot {
      cases.append(
        CpCase(
          name: "a device node as destination", recursive: false, inputs: [src, .nullDevice("null")],
          arguments: [b("src"), b("null")],
          reason: nil, rootOnly: true))
      cases.append(
        CpCase(
          name: "a device node as source", recursive: false, inputs: [.nullDevice("null")], arguments: [b("null"), b("dst")],
          reason: nil,
          rootOnly: true))
    }
    return cases
  }()

  static let treeCases: [CpCase] = {
    var cases: [CpCase] = [
      CpCase(
        name: "a tree (links, dangling links, read-only entries, non-UTF-8 names) to a new name", recursive: true,
        inputs: [.tree("src")], arguments: [b("src"), b("dst")], reason: nil),
      CpCase(
        name: "a tree into an existing empty directory", recursive: true, inputs: [.tree("src"), .directory("dst")],
        arguments: [b("src"), b("dst")], reason: nil),
      CpCase(
        name: "a tree to a new name written with a slash", recursive: true, inputs: [.tree("src")],
        arguments: [b("src"), b("dst/")], reason: nil),
      CpCase(
        name: "onto a file written with a slash", recursive: true, inputs: [.directory("src"), .file("file", [1])],
        arguments: [b("src"), b("file/")], reason: "Not a directory"),
      CpCase(
        name: "a sparse file and hard links inside a tree", recursive: true,
        inputs: [
          .directory("src"), .sparse("src/sparse", size: 4 << 20, data: [(8192, Array(content.prefix(4096)))]),
          .file("src/f", content), .hardLink("src/hard", to: "src/f"),
        ],
        arguments: [b("src"), b("dst")], reason: nil, sparse: ["dst/sparse"]),
      CpCase(
        name: "merging: a file where the tree has a directory, and a directory where it has a file", recursive: true,
        inputs: [
          .directory("src"), .directory("src/sub"), .file("src/sub/x", [1]), .file("src/f", content),
          .directory("dst"), .file("dst/sub", [2]), .directory("dst/f"), .file("dst/other", [3]),
        ],
        arguments: [b("src"), b("dst")], reason: "cannot overwrite"),
      CpCase(
        name: "merging: a link or another mode where the tree has a file", recursive: true,
        inputs: [
          .directory("src"), .file("src/f", content), .file("src/g", content),
          .directory("dst"), .file("dst/target", [7]), .symlink("dst/f", target: "target"), .file("dst/g", [1], mode: 0o600),
        ],
        arguments: [b("src"), b("dst")], reason: nil, difference: .treeReplacesLinks),
      CpCase(
        name: "a FIFO and a socket inside the tree", recursive: true,
        inputs: [.directory("src"), .file("src/f", content), .fifo("src/fifo"), .socket("src/sock")],
        arguments: [b("src"), b("dst")], reason: nil),
      CpCase(
        name: "into itself", recursive: true, inputs: [.tree("a")], arguments: [b("a"), b("a/sub")], reason: "into itself",
        difference: .intoItselfCreatesNothing),
      CpCase(
        name: "onto itself", recursive: true, inputs: [.tree("a")], arguments: [b("a"), b("a")], reason: "are the same file"),
      CpCase(
        name: "onto an existing file", recursive: true, inputs: [.directory("src"), .file("file", [1])],
        arguments: [b("src"), b("file")], reason: "cannot overwrite non-directory"),
      CpCase(
        name: "a missing source", recursive: true, inputs: [], arguments: [b("missing"), b("dst")],
        reason: "No such file or directory"),
      CpCase(
        name: "a file as the source of -r", recursive: true, inputs: [.file("f", content)], arguments: [b("f"), b("dst")],
        reason: nil),
    ]
    if isRoot {
      cases.append(
        CpCase(
          name: "a device node inside the tree", recursive: true,
          inputs: [.directory("src"), .file("src/f", content), .nullDevice("src/null")],
          arguments: [b("src"), b("dst")], reason: nil, rootOnly: true))
    }
    return cases
  }()

  /// The command line cp users type: each option's case runs cp and zc with the same
  /// options (files: two strategies; trees: every engine).
  static let optionCases: [CpCase] = {
    let two = ["automatic", "readWrite"]
    let a = CpCase.Input.file("a", content)
    let bFile = CpCase.Input.file("b", Array(content.prefix(5000)), mode: 0o640)
    let old = CpCase.Input.file("old", [1, 2, 3], mode: 0o600)
    func file(_ name: String, _ inputs: [CpCase.Input], _ options: [String], _ operands: [String], reason: String? = nil)
      -> CpCase
    {
      CpCase(
        name: name, recursive: false, inputs: inputs, arguments: operands.map(b), reason: reason, options: options.map(b),
        strategies: two)
    }
    func tree(_ name: String, _ inputs: [CpCase.Input], _ options: [String], _ operands: [String], reason: String? = nil)
      -> CpCase
    {
      CpCase(
        name: name, recursive: false, inputs: inputs, arguments: operands.map(b), reason: reason, options: options.map(b),
        engines: true)
    }
    var cases: [CpCase] = [
      // Operands: several sources, -t, -T, a missing target.
      file("several sources into a directory", [a, bFile, .directory("dir")], [], ["a", "b", "dir"]),
      file("-t DIR before the sources", [a, bFile, .directory("dir")], ["-t"], ["dir", "a", "b"]),
      file(
        "-T: the destination is the name, even a directory (refused)", [a, .directory("dir")], ["-T"], ["a", "dir"],
        reason: "cannot overwrite directory"),
      file("-T to a new name", [a], ["-T"], ["a", "new"]),
      file("three operands, the last missing", [a, bFile], [], ["a", "b", "missing"], reason: "No such file or directory"),
      file("-t naming a file", [a, bFile], ["-t"], ["b", "a"], reason: "Not a directory"),
      // An existing destination: -n, -u, -i, -f, --remove-destination.
      file("-n keeps an existing file", [a, old], ["-n"], ["a", "old"]),
      file("-n -i: the last wins (asks; the answer y replaces)", [a, old], ["-n", "-i"], ["a", "old"]),
      file("-i -n: the last wins (keeps)", [a, old], ["-i", "-n"], ["a", "old"]),
      file(
        "-u replaces an older file", [a, .file("older", [9], mode: 0o600), .times("older", seconds: 1_000_000_000)], ["-u"],
        ["a", "older"]),
      file(
        "-u keeps a newer file", [a, .file("newer", [9], mode: 0o600), .times("newer", seconds: 4_000_000_000)], ["-u"],
        ["a", "newer"]),
      file("-f over a read-only file", [a, .file("ro", [1], mode: 0o444)], ["-f"], ["a", "ro"]),
      file(
        "--remove-destination over a symbolic link (the link replaced)",
        [a, .file("target", [7]), .symlink("link", target: "target")],
        ["--remove-destination"], ["a", "link"]),
      file(
        "--remove-destination over a hard link of the source (replaced by a copy)", [a, .hardLink("hard", to: "a")],
        ["--remove-destination"], ["a", "hard"]),
      file("-f over a link that loops: removed (cp 8.30 on)", [a, .symlink("loop", target: "loop")], ["-f"], ["a", "loop"]),
      file(
        "without -f, a link that loops is an error", [a, .symlink("loop", target: "loop")], [], ["a", "loop"],
        reason: "Too many levels of symbolic links"),
      file(
        "without it, a symbolic link is written through", [a, .file("target", [7]), .symlink("link", target: "target")], [],
        ["a", "link"]),
      // cp's just-created rule: a later operand never replaces what an earlier one made.
      file(
        "two sources with the same name into a directory (just-created)",
        [
          .directory("x"), .directory("y"), .file("x/f", content), .file("y/f", [1, 2]), .directory("dir"),
        ], [], ["x/f", "y/f", "dir"], reason: "will not overwrite just-created"),
      tree(
        "-dR: a file through a link just created (coreutils' abuse test)",
        [
          .directory("a"), .directory("b"), .directory("c"), .symlink("a/1", target: "../t"), .file("b/1", [1]), .file("t", [9]),
        ], ["-dR"], ["a/1", "b/1", "c"], reason: "through just-created symlink"),
      file(
        "-d twice over the same hard links is no just-created conflict",
        [
          a, .hardLink("h", to: "a"), .directory("dir"), .file("dir/a", [1]), .hardLink("dir/h", to: "dir/a"),
        ], ["-d"], ["a", "h", "dir"]),
      // -v, --parents.
      file("-v prints each copy", [a, bFile, .directory("dir")], ["-v"], ["a", "b", "dir"]),
      file(
        "--parents -v creates the source's directories under the target",
        [
          .directory("x"), .directory("x/y", mode: 0o750),
          .file("x/y/f", content), .directory("dir"),
        ], ["--parents", "-v"], ["x/y/f", "dir"]),
      file("--parents needs a directory", [a], ["--parents"], ["a", "new"], reason: "must be a directory"),
      tree(
        "--parents -a: the directories made get their sources' modes, times and ACLs, not their other extended attributes",
        [
          .directory("x", mode: 0o751), .directory("x/y", mode: 0o705), .file("x/y/f", content),
          .xattr("x", name: "user.zc", value: [1]), .xattr("x/y", name: "user.zc", value: [2, 3]),
          // An access ACL (user 1000 r-x, mask r-x; setfacl's binary form): cp copies it with the mode.
          .xattr(
            "x", name: "system.posix_acl_access",
            value: [
              2, 0, 0, 0, 1, 0, 7, 0, 255, 255, 255, 255, 2, 0, 5, 0, 232, 3, 0, 0, 4, 0, 5, 0, 255, 255, 255, 255,
              16, 0, 5, 0, 255, 255, 255, 255, 32, 0, 1, 0, 255, 255, 255, 255,
            ]),
          .times("x/y", seconds: 1_000_000_000, nanoseconds: 42), .times("x", seconds: 1_100_000_000), .directory("dir"),
        ], ["--parents", "-a"], ["x/y/f", "dir"]),
      // Attributes: the default, -p, --preserve, --no-preserve.
      file(
        "the default: a new file's mode less the umask, no set-user-ID; times not kept",
        [.file("s", content, mode: 0o4755), .times("s", seconds: 1_000_000_000, nanoseconds: 5)], [], ["s", "dst"]),
      file(
        "-p: mode, times to the nanosecond",
        [.file("s", content, mode: 0o4751), .times("s", seconds: 1_000_000_000, nanoseconds: 123_456_789)],
        ["-p"], ["s", "dst"]),
      file(
        "-p over an existing file: its mode and times become the source's",
        [.file("s", content, mode: 0o751), .times("s", seconds: 1_000_000_000), old],
        ["-p"], ["s", "old"]),
      file(
        "--preserve=timestamps only", [.file("s", content, mode: 0o700), .times("s", seconds: 1_200_000_000, nanoseconds: 7)],
        ["--preserve=timestamps"], ["s", "dst"]),
      file(
        "--no-preserve=mode: the default permissions", [.file("s", content, mode: 0o700)], ["--no-preserve=mode"], ["s", "dst"]),
      file(
        "-d: hard links among the operands stay hard links", [a, .hardLink("h", to: "a"), .directory("dir")], ["-d"],
        ["a", "h", "dir"]),
      file("--preserve=xattr", [a, .xattr("a", name: "user.zc", value: [1, 2, 3])], ["--preserve=xattr"], ["a", "dst"]),
      file("without --preserve=xattr none is copied", [a, .xattr("a", name: "user.zc", value: [1, 2, 3])], [], ["a", "dst"]),
      // Symbolic links on the command line: -P, -L, -H.
      file("a link without -r is followed", [a, .symlink("link", target: "a")], [], ["link", "dst"]),
      file("-P copies a link as a link", [a, .symlink("link", target: "a")], ["-P"], ["link", "dst"]),
      file("-P copies a dangling link", [.symlink("dangling", target: "nowhere")], ["-P"], ["dangling", "dst"]),
      file("-L follows it", [a, .symlink("link", target: "a")], ["-L"], ["link", "dst"]),
      // Clones.
      file("--reflink=never", [a], ["--reflink=never"], ["a", "dst"]),
      file(
        "--reflink=always where the filesystem cannot clone", [a], ["--reflink=always"], ["a", "dst"],
        reason: "Operation not supported"),
      file(
        "--reflink=always over an existing file that cannot be cloned into", [a, old], ["--reflink=always"], ["a", "old"],
        reason: "Operation not supported"),
      // Trees: -a, -r with -L/-H, -n, -u, --remove-destination, -v, several sources.
      tree(
        "-a: modes, times, links, hard links, FIFOs",
        [
          .directory("src", mode: 0o750), .file("src/f", content, mode: 0o4751), .hardLink("src/h", to: "src/f"),
          .symlink("src/l", target: "f"),
          .fifo("src/p"), .directory("src/sub", mode: 0o2711), .file("src/sub/g", [5], mode: 0o600),
          .times("src/f", seconds: 1_000_000_000, nanoseconds: 1), .times("src/l", seconds: 1_000_000_001, nanoseconds: 2),
          .times("src/sub/g", seconds: 1_000_000_002, nanoseconds: 3), .times("src/sub", seconds: 1_000_000_003, nanoseconds: 4),
          .times("src", seconds: 1_000_000_004, nanoseconds: 5),
        ], ["-a"], ["src", "dst"]),
      tree(
        "-r: hard links not kept, FIFO recreated, modes less the umask",
        [
          .directory("src"), .file("src/f", content, mode: 0o4751), .hardLink("src/h", to: "src/f"), .fifo("src/p"),
        ], ["-r"], ["src", "dst"]),
      tree(
        "-rL follows links in the tree",
        [
          .directory("src"), .file("src/f", content), .symlink("src/l", target: "f"), .directory("src/d"), .file("src/d/g", [1]),
          .symlink("src/ld", target: "d"),
        ], ["-rL"], ["src", "dst"]),
      tree(
        "-rH follows the source link only",
        [
          .directory("real"), .file("real/f", content), .symlink("real/l", target: "f"), .symlink("src", target: "real"),
        ], ["-rH"], ["src", "dst"]),
      tree(
        "-r copies a source link to a directory as a link",
        [.directory("real"), .file("real/f", content), .symlink("src", target: "real")],
        ["-r"], ["src", "dst"]),
      tree(
        "-rn merges, keeping existing files",
        [
          .directory("src"), .file("src/f", content), .file("src/g", content), .directory("dst"), .directory("dst/src"),
          .file("dst/src/f", [1]),
        ], ["-rn"], ["src", "dst"]),
      tree(
        "-ru replaces older files only",
        [
          .directory("src"), .file("src/f", content), .file("src/g", content), .times("src/f", seconds: 2_000_000_000),
          .times("src/g", seconds: 2_000_000_000), .directory("dst"), .directory("dst/src"), .file("dst/src/f", [1]),
          .file("dst/src/g", [2]),
          .times("dst/src/f", seconds: 1_000_000_000), .times("dst/src/g", seconds: 3_000_000_000),
        ], ["-ru"], ["src", "dst"]),
      tree(
        "-r --remove-destination replaces a link in the tree",
        [
          .directory("src"), .file("src/f", content), .directory("dst"), .directory("dst/src"), .file("dst/target", [7]),
          .symlink("dst/src/f", target: "../target"),
        ], ["-r", "--remove-destination"], ["src", "dst"]),
      tree(
        "-rv prints every entry",
        [.directory("src"), .file("src/f", content), .directory("src/d"), .symlink("src/d/l", target: "../f")],
        ["-rv"], ["src", "dst"]),
      tree(
        "-r with several sources into a directory",
        [.directory("s1"), .file("s1/f", content), .file("g", [3]), .directory("dir")],
        ["-r"], ["s1", "g", "dir"]),
      tree(
        "two trees with the same names merged into a directory (the rule is for operands only: the second replaces)",
        [
          .directory("a"), .directory("a/d"), .file("a/d/f", [1]), .directory("b"), .directory("b/d"), .file("b/d/f", [2, 2]),
          .file("b/d/g", [3]), .directory("dir"),
        ], ["-r"], ["a/d", "b/d", "dir"]),
      tree(
        "-iR asks before a directory where a file goes (answer n: kept)",
        [
          .directory("a"), .file("a/c", [1]), .directory("b"), .directory("b/a"), .directory("b/a/c"),
        ], ["-iR"], ["a", "b"]),
      tree(
        "-au: a kept newer file still becomes a hard link of its source's other names (coreutils' preserve-link)",
        [
          .directory("s"), .file("s/f", []), .hardLink("s/linkm", to: "s/f"), .hardLink("s/linke", to: "s/f"),
          .hardLink("s/fileo", to: "s/f"),
          .hardLink("s/fileu", to: "s/f"), .times("s/f", seconds: 2_000_000_000),
          .directory("t"), .directory("t/s"), .file("t/s/f", []), .hardLink("t/s/linke", to: "t/s/f"),
          .times("t/s/f", seconds: 3_000_000_000),
          .file("t/s/fileo", []), .times("t/s/fileo", seconds: 1_000_000_000), .file("t/s/fileu", []),
          .times("t/s/fileu", seconds: 4_000_000_000),
        ], ["-au"], ["s", "t"]),
      // Usage errors: the same words, exit 1 for cp and 64 for zc.
      file("--preserve=bogus", [a], ["--preserve=bogus"], ["a", "dst"], reason: "invalid argument"),
      file(
        "two target directories", [a, .directory("dir")], ["-t", "dir", "-t"], ["dir", "a"],
        reason: "multiple target directories specified"),
      file(
        "--reflink=always with --sparse=never", [a], ["--reflink=always", "--sparse=never"], ["a", "dst"],
        reason: "--reflink can be used only with --sparse=auto"),
    ]
    for index in cases.indices {
      let name = cases[index].name
      if name.hasPrefix("-n -i") { cases[index].standardInput = b("y\n") }
      if name.hasPrefix("--parents") { cases[index].relative = true }
      if name.hasPrefix("-v") || name.hasPrefix("--parents -v") || name.hasPrefix("-rv") { cases[index].compareOutput = true }
      if ["--preserve=bogus", "two target directories", "--reflink=always with --sparse=never", "--parents needs a directory"]
        .contains(name)
      {
        cases[index].difference = .usageExitStatus
      }
    }
    func set(_ name: String, _ change: (inout CpCase) -> Void) {
      guard let index = cases.firstIndex(where: { $0.name == name }) else { return }
      change(&cases[index])
    }
    set("the default: a new file's mode less the umask, no set-user-ID; times not kept") { $0.metadata = [] }
    set("-p: mode, times to the nanosecond") { $0.metadata = ["dst"] }
    set("--reflink=always where the filesystem cannot clone") { $0.strategies = ["automatic"] }
    set("--reflink=always over an existing file that cannot be cloned into") { $0.strategies = ["automatic"] }
    set("-p over an existing file: its mode and times become the source's") { $0.metadata = ["old"] }
    set("--preserve=timestamps only") { $0.metadata = ["dst"] }
    set("-d: hard links among the operands stay hard links") { $0.linkGroups = [["dir/a", "dir/h"]] }
    set("--preserve=xattr") { $0.xattrs = [("dst", "user.zc")] }
    set("--parents -a: the directories made get their sources' modes, times and ACLs, not their other extended attributes") {
      $0.metadata = ["dir/x", "dir/x/y"]
      $0.xattrs = [("dir/x", "user.zc"), ("dir/x/y", "user.zc"), ("dir/x", "system.posix_acl_access")]
    }
    set("without --preserve=xattr none is copied") { $0.xattrs = [("dst", "user.zc")] }
    set("-a: modes, times, links, hard links, FIFOs") {
      $0.metadata = ["dst/f", "dst/l", "dst/sub/g", "dst/sub", "dst"]
      $0.linkGroups = [["dst/f", "dst/h"]]
    }
    set("-r: hard links not kept, FIFO recreated, modes less the umask") { $0.linkGroups = [["dst/f", "dst/h"]] }
    set("-ru replaces older files only") { $0.metadata = ["dst/src/g"] }
    set("-iR asks before a directory where a file goes (answer n: kept)") { $0.standardInput = b("n\n") }
    set("-au: a kept newer file still becomes a hard link of its source's other names (coreutils' preserve-link)") {
      $0.linkGroups = [["t/s/f", "t/s/linkm", "t/s/linke", "t/s/fileo", "t/s/fileu"]]
    }
    if isRoot {
      cases.append(
        file(
          "-p as root: the owner and group too",
          [.file("s", content, mode: 0o4750), .owner("s", uid: 1234, gid: 5678), .times("s", seconds: 1_000_000_000)], ["-p"],
          ["s", "dst"]))
      cases[cases.count - 1].metadata = ["dst"]
      cases.append(
        file(
          "without -p, as root: the owner is root's", [.file("s", content, mode: 0o750), .owner("s", uid: 1234, gid: 5678)], [],
          ["s", "dst"]))
      cases[cases.count - 1].owners = ["dst"]
      cases.append(
        tree(
          "-a as root: owners in a tree, a link's own owner",
          [
            .directory("src"), .file("src/f", content, mode: 0o2755), .owner("src/f", uid: 1234, gid: 5678),
            .symlink("src/l", target: "f"),
            .owner("src/l", uid: 4321, gid: 8765), .owner("src", uid: 1111, gid: 2222),
          ], ["-a"], ["src", "dst"]))
      cases[cases.count - 1].owners = ["dst/f", "dst/l", "dst"]
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
    /// "atime mtime uid:gid" of ``CpCase/metadata``'s entries (read before the snapshot reads them).
    var metadata: [String: String] = [:]
    /// For each of ``CpCase/linkGroups``: whether all its entries are one inode.
    var linked: [Bool] = []
    /// ``CpCase/xattrs``' values (nil: absent).
    var xattrs: [String: [UInt8]] = [:]
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
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
      case .times(let name, let seconds, let nanoseconds):
        var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        guard utimensat(AT_FDCWD, F.cPath(p(name)), &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw Errno(rawValue: errno) }
      case .owner(let name, let uid, let gid):
        guard lchown(F.cPath(p(name)), uid, gid) == 0 else { throw Errno(rawValue: errno) }
      case .xattr(let name, let attribute, let value):
        try ExtendedAttributes.set(named: b(attribute), to: value, atPath: F.filePath(p(name)))
      }
    }
  }

  /// Runs `command` in a fresh copy of the case's directory.
  static func run(_ c: CpCase, _ command: [[UInt8]], label: String) throws -> Result {
    let scratch = try F.Scratch(in: "/dev/shm")
    let root = scratch.sub("case")
    try F.mkdirp(root)
    try build(c, in: root)
    var arguments = c.arguments.map { $0.first == 0x2F || $0 == [0x2D] || c.relative ? $0 : root + [0x2F] + $0 }
    var command = command
    if c.relative {
      // coreutils' env -C: the command runs in the case's directory.
      arguments = Array(command.dropFirst()) + arguments
      command = [b("/usr/bin/env"), b("-C"), root, command[0]]
    }
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
      let child = try S.Child(
        command[0].withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }, Array(command.dropFirst()) + arguments,
        standardInput: read.rawValue)
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
    outcome.standardOutput = outcome.standardOutput.replacingAll(String(decoding: root, as: UTF8.self), with: "ROOT")
    var allocated: [String: Int64] = [:]
    for name in c.sparse { allocated[name] = Int64(S.lstatus(root + [0x2F] + b(name))?.st_blocks ?? -1) * 512 }
    var metadata: [String: String] = [:]
    for name in c.metadata {
      metadata[name] =
        S.lstatus(root + [0x2F] + b(name)).map {
          "atime \($0.st_atim.tv_sec).\($0.st_atim.tv_nsec) mtime \($0.st_mtim.tv_sec).\($0.st_mtim.tv_nsec) owner \($0.st_uid):\($0.st_gid)"
        } ?? "missing"
    }
    for name in c.owners {
      metadata[name] = S.lstatus(root + [0x2F] + b(name)).map { "owner \($0.st_uid):\($0.st_gid)" } ?? "missing"
    }
    let linked = c.linkGroups.map { group in
      Set(group.map { S.lstatus(root + [0x2F] + b($0)).map { "\($0.st_dev):\($0.st_ino)" } ?? "missing \($0)" }).count == 1
    }
    var xattrs: [String: [UInt8]] = [:]
    for (name, attribute) in c.xattrs {
      xattrs["\(name) \(attribute)"] = try? ExtendedAttributes.value(
        named: b(attribute), atPath: F.filePath(root + [0x2F] + b(name)))
    }
    return Result(
      run: outcome, tree: F.snapshot(root), drained: reader?.finish(), allocated: allocated, metadata: metadata, linked: linked,
      xattrs: xattrs)
  }

  /// Runs the case with cp and with zc for every strategy (files) or engine (-r), and
  /// compares.
  static func check(_ c: CpCase) throws {
    let cpCommand: [[UInt8]] = [b(cp!)] + (c.recursive ? [b("-rT")] : []) + c.options
    let reference = try run(c, cpCommand, label: "cp")
    let zc = b(TransferFixtures.zcExecutable!)
    let base = [zc, b("copy")] + (c.recursive ? [b("-rT")] : [])
    let variants: [(String, [[UInt8]])] =
      c.recursive || c.engines
      ? ["uring", "threads", "sequential"].map { ($0, base + [b("--quiet"), b("--engine"), b($0)] + c.options) }
      : TransferStrategies.builtIn.map(\.name).filter { c.strategies?.contains($0) ?? true }.map {
        ($0, base + [b("--quiet"), b("--strategy"), b($0)] + c.options)
      }
    for (variant, command) in variants where runs(variant) {
      let ours = try run(c, command, label: variant)
      let what = "\(c.name) [\(variant)]"
      if let difference = c.difference, expectDocumentedDifference(difference, c, cp: reference, zc: ours, what) { continue }
      compare(c, cp: reference, zc: ours, what)
    }
  }

  static func compare(_ c: CpCase, cp: Result, zc: Result, _ what: String) {
    #expect(
      zc.run.status == cp.run.status,
      "\(what): exit \(zc.run.status), cp \(cp.run.status); zc: \(zc.run.standardError) cp: \(cp.run.standardError)")
    if let reason = c.reason, cp.run.status != 0 {
      #expect(cp.run.standardError.contains(reason), "\(what): cp's message lacks '\(reason)': \(cp.run.standardError)")
      #expect(zc.run.standardError.contains(reason), "\(what): zc's message lacks '\(reason)': \(zc.run.standardError)")
    }
    expectSameTree(zc.tree, cp.tree, what)
    #expect(zc.drained.map(\.count) == cp.drained.map(\.count), "\(what): the FIFO's reader")
    if let a = zc.drained, let b = cp.drained { TransferFixtures.expectSame(a, b, "\(what): the FIFO's reader") }
    for (name, blocks) in cp.allocated {
      #expect(
        (zc.allocated[name] ?? .max) <= blocks, "\(what): \(name) allocates \(zc.allocated[name] ?? -1) bytes, cp's \(blocks)")
    }
    if c.compareOutput {
      let lines = { (text: String) in text.split(separator: "\n").map(String.init).sorted() }
      #expect(lines(zc.run.standardOutput) == lines(cp.run.standardOutput), "\(what): standard output")
    }
    #expect(zc.metadata == cp.metadata, "\(what): times and owners")
    #expect(zc.linked == cp.linked, "\(what): hard links \(c.linkGroups)")
    #expect(zc.xattrs == cp.xattrs, "\(what): extended attributes")
  }

  static func expectSameTree(
    _ zc: [String: TreeFixtures.Entry], _ cp: [String: TreeFixtures.Entry], _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    for key in Set(zc.keys).union(cp.keys).sorted() where zc[key] != cp[key] {
      Issue.record(
        "\(what): \(key): zc \(zc[key].map { "\($0)" } ?? "missing"), cp \(cp[key].map { "\($0)" } ?? "missing")",
        sourceLocation: sourceLocation)
    }
  }

  /// Checks the documented difference; returns true when it was checked (the normal
  /// comparison is skipped).
  static func expectDocumentedDifference(_ d: CpCase.Difference, _ c: CpCase, cp: Result, zc: Result, _ what: String) -> Bool {
    switch d {
    case .standardInputDash:
      #expect(cp.run.status == 1 && cp.run.standardError.contains("cannot stat '-'"), "\(what): cp: \(cp.run)")
      #expect(zc.run.status == 0, "\(what): \(zc.run)")
      if case .file(_, let bytes) = zc.tree["dst"] {
        TransferFixtures.expectSame(bytes, c.standardInput ?? [], "\(what): dst")
      } else {
        Issue.record("\(what): no dst")
      }
    case .intoItselfCreatesNothing:
      #expect(cp.run.status == 1 && zc.run.status == 1)
      #expect(cp.run.standardError.contains("into itself") && zc.run.standardError.contains("into itself"), "\(what)")
      // cp creates a/sub and copies into it everything but a/sub itself; zc creates nothing.
      let inside = cp.tree.keys.filter { $0 == "a/sub" || $0.hasPrefix("a/sub/") }
      #expect(inside.count > 1, "\(what): cp no longer fills a/sub (update Docs/Copy.md)")
      var b = cp.tree
      for key in inside { b.removeValue(forKey: key) }
      expectSameTree(zc.tree, b, what)
    case .usageExitStatus:
      #expect(cp.run.status == 1 && zc.run.status == 64, "\(what): cp \(cp.run) zc \(zc.run)")
      if let reason = c.reason {
        #expect(
          cp.run.standardError.contains(reason) && zc.run.standardError.contains(reason), "\(what): cp \(cp.run) zc \(zc.run)")
      }
      expectSameTree(zc.tree, cp.tree, what)
    case .treeReplacesLinks:
      #expect(zc.run.status == 0 && cp.run.status == 0, "\(what)")
      #expect(cp.tree["dst/f"] == .symlink(target: b("target")), "\(what): cp wrote through the link")
      #expect(cp.tree["dst/target"] == .file(mode: 0o644, bytes: content), "\(what): cp wrote through the link")
      #expect(
        zc.tree["dst/f"] == .file(mode: 0o644 & ~TransferFixtures.umaskValue, bytes: content), "\(what): zc replaced the link")
      #expect(zc.tree["dst/target"] == .file(mode: 0o644, bytes: [7]), "\(what): zc did not write through the link")
      // Everything else is the same (an existing file keeps its mode, as with cp).
      var a = zc.tree, b = cp.tree
      for key in ["dst/f", "dst/target"] { a.removeValue(forKey: key); b.removeValue(forKey: key) }
      expectSameTree(a, b, what)
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
