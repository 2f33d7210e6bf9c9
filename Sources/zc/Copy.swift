// zc copy: cp's command line (several sources into a directory, -t, -T, -r, -a, -p,
// --preserve, -P/-L/-H, -n/-i/-f/-u, --remove-destination, --parents, -v, --reflink,
// --sparse) on the Transfer API (files) and TreeCopy (directories, links, special files).
// Tree options and the tree progress line are in CopyTree.swift; the order-dependent options
// in CpOptions.swift.

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

struct Copy: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Copy files and directory trees like cp, with zero-copy strategies.",
    usage: """
      zc copy [OPTIONS] SOURCE DEST
      zc copy [OPTIONS] SOURCE... DIRECTORY
      zc copy [OPTIONS] -t DIRECTORY SOURCE...
      """,
    discussion: """
      As GNU cp (coreutils 9.1), with its refusals, messages and exit status (1 when any \
      operand failed: the others are still copied; 64 for usage errors). The last operand \
      is a directory to copy into, or with two operands the new name (-T: always the name; \
      -t DIR: the directory). DEST ending in '/' must be a directory. A new file gets the \
      source's permissions less the umask; an existing one keeps its own (-p, -a, \
      --preserve=mode,ownership,timestamps,links,xattr,all carry them over; POSIX ACLs come \
      with mode). The source itself as destination (the same path, a hard link, a symbolic \
      link to it, a bind mount) is refused ("same file") before anything is opened for \
      writing. A destination that is a symbolic link is written through, a dangling one is \
      refused; a FIFO or device (/dev/null) is written in place, never replaced.

      -r copies directories (a file, link or special file as cp -r does: links as links, \
      FIFOs and device nodes recreated). -P copies symbolic links as links, -L follows \
      them, -H follows those named on the command line; -r's default is -P, otherwise -L. \
      -n keeps existing files, -u replaces only older ones, -i asks (on stderr, an answer \
      starting with y on stdin), -f removes a file that cannot be opened and retries, \
      --remove-destination removes it first. -v prints each copy on stdout ('a' -> 'b').

      Clones (--reflink, as cp): auto (default) shares the source's extents where the \
      filesystem can (Btrfs, XFS), always fails otherwise, never copies the bytes. The \
      report (--report, --json; -r: the totals) says for every copy whether it was cloned, \
      copied in the kernel or copied through user space, and why not faster.

      SOURCE may be - (standard input), a FIFO or a character device: read to their end. \
      Holes (--sparse, as cp): auto (default) copies only the data of a file with holes; \
      always also turns runs of zeros into holes (through user space); never writes zeros.

      --atomic writes a temporary file beside the destination and renames it over it at \
      the end (readers see the old file or the new one); it applies to regular files (a \
      FIFO or device is written in place, as cp does).

      On SIGINT, SIGTERM or SIGHUP the copy is cancelled, temporary and unfinished new \
      files are removed (an existing file is cut to the bytes written), and zc dies of the \
      signal. A write error on standard output (--json, -v) is an error. Options that do \
      not apply to the chosen mode are refused (exit status 64).
      """)

  @Argument(help: "The files to copy (- for standard input), then the destination.")
  var operands: [String] = []

  @Flag(
    name: [.customShort("a"), .customLong("archive")],
    help: "-dR --preserve=all: a tree exactly (links as links, hard links, modes, owners, times, xattrs).")
  var archive = false

  @Flag(name: .customShort("d"), help: "--no-dereference --preserve=links.")
  var noDereferencePreserveLinks = false

  @Flag(name: [.customShort("P"), .customLong("no-dereference")], help: "Copy symbolic links as links (default with -r).")
  var noDereference = false

  @Flag(
    name: [.customShort("L"), .customLong("dereference")], help: "Follow every symbolic link in SOURCE (default without -r).")
  var dereference = false

  @Flag(name: .customShort("H"), help: "Follow symbolic links named on the command line.")
  var dereferenceCommandLine = false

  @Flag(name: .customShort("p"), help: "--preserve=mode,ownership,timestamps.")
  var preserveStandard = false

  @Option(
    name: .customLong("preserve"),
    help: ArgumentHelp(
      "Carry over mode, ownership, timestamps, links, xattr or all (--preserve alone: mode,ownership,timestamps).",
      valueName: "LIST"))
  var preserve: String?

  @Option(
    name: .customLong("no-preserve"),
    help: ArgumentHelp(
      "Do not carry over these attributes (--no-preserve=mode: new files get the default permissions).", valueName: "LIST"))
  var noPreserve: String?

  @Flag(name: [.customShort("n"), .customLong("no-clobber")], help: "Keep existing files (overrides an earlier -i).")
  var noClobber = false

  @Flag(
    name: [.customShort("i"), .customLong("interactive")],
    help: "Ask before replacing an existing file (overrides an earlier -n).")
  var interactive = false

  @Flag(
    name: [.customShort("f"), .customLong("force")], help: "Remove an existing file that cannot be opened for writing, and retry."
  )
  var force = false

  @Flag(name: [.customShort("u"), .customLong("update")], help: "Replace only files older than their source.")
  var update = false

  @Flag(name: .customLong("remove-destination"), help: "Remove each existing destination file before copying.")
  var removeDestination = false

  @Option(
    name: [.customShort("t", allowingJoined: true), .customLong("target-directory")],
    help: ArgumentHelp("Copy every SOURCE into DIRECTORY.", valueName: "DIRECTORY"))
  var targetDirectory: String?

  @Flag(
    name: [.customShort("T"), .customLong("no-target-directory")], help: "DEST is the copy's name, even when it is a directory.")
  var noTargetDirectory = false

  @Flag(name: .customLong("parents"), help: "Use each SOURCE's full path under DIRECTORY (creating its directories).")
  var parents = false

  @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print each copy ('a' -> 'b') on standard output.")
  var verbose = false

  @Option(
    name: .customLong("reflink"),
    help: ArgumentHelp("Clones: auto (default), always (--reflink alone), never.", valueName: "WHEN"))
  var reflink: String?

  @Option(name: .long, help: ArgumentHelp("Holes: auto (default), always (runs of zeros too), never.", valueName: "WHEN"))
  var sparse: String?

  @Flag(name: .long, help: "Write a temporary file next to the destination and rename it over the destination at the end.")
  var atomic = false

  @Flag(name: .long, help: "fsync the copies (and with --atomic, the directory) before exiting.")
  var fsync = false

  @OptionGroup var flags: TransferFlags

  @OptionGroup(title: "Directory trees") var tree: TreeFlags

  // MARK: - Checks before anything is copied (usage errors: exit status 64)

  func validate() throws {
    let ordered = try CpOrderedOptions.replay(RawArguments.copyArguments())
    let recursive = tree.recursive || ordered.archive
    let sparseMode = try resolvedSparse()
    let reflinkMode = try resolvedReflink()
    if ordered.targetDirectories > 1 { throw ValidationError("multiple target directories specified") }
    if targetDirectory != nil && noTargetDirectory {
      throw ValidationError("cannot combine --target-directory (-t) and --no-target-directory (-T)")
    }
    if operands.isEmpty { throw ValidationError("missing file operand") }
    if targetDirectory == nil && operands.count == 1 {
      throw ValidationError("missing destination file operand after \(RawArguments.quoted(operands[0]))")
    }
    if noTargetDirectory && operands.count > 2 { throw ValidationError("extra operand \(RawArguments.quoted(operands[2]))") }
    if parents && noTargetDirectory { throw ValidationError("with --parents, the destination must be a directory") }
    if reflinkMode == .always && sparseMode != .auto {
      throw ValidationError("--reflink can be used only with --sparse=auto")
    }
    if recursive {
      var fileOnly = flags.given
      if atomic { fileOnly.insert("--atomic", at: 0) }
      if !fileOnly.isEmpty {
        throw ValidationError(
          "\(fileOnly.joined(separator: ", ")) cannot be used with -r: they apply to single files (--tree-json prints a tree's totals)"
        )
      }
      if operands.dropLast(targetDirectory == nil ? 1 : 0).contains("-") {
        throw ValidationError("-r copies a directory; standard input (-) is not one")
      }
    } else {
      let treeOnly = tree.given
      if !treeOnly.isEmpty {
        throw ValidationError("\(treeOnly.joined(separator: ", ")) cannot be used without -r: they apply to directory trees")
      }
    }
    if atomic && (force || removeDestination) {
      throw ValidationError(
        "--atomic cannot be used with \(force ? "-f" : "--remove-destination"): an atomic copy renames a new file over the destination, it never opens or removes it"
      )
    }
    if let name = flags.strategy {
      let strategy = try flags.resolvedStrategy()
      if reflinkMode == .never && (strategy is ReflinkStrategy || strategy is CopyFileRangeStrategy) {
        throw ValidationError("--strategy \(name) may share extents, which --reflink=never forbids")
      }
      if reflinkMode == .always && !(strategy is AutomaticStrategy || strategy is ReflinkStrategy) {
        throw ValidationError("--reflink=always clones the data; --strategy \(name) copies it")
      }
    }
  }

  func resolvedSparse() throws -> SparseMode {
    guard let sparse else { return .auto }
    guard let mode = SparseMode(rawValue: sparse) else {
      throw ValidationError("unknown --sparse value \(RawArguments.quoted(sparse)); known: auto, always, never")
    }
    return mode
  }

  func resolvedReflink() throws -> ReflinkMode {
    guard let reflink else { return .auto }
    guard let mode = ReflinkMode(rawValue: reflink) else {
      throw ValidationError("unknown --reflink value \(RawArguments.quoted(reflink)); known: auto, always, never")
    }
    return mode
  }

  // MARK: - What to copy where

  /// One source and where it goes.
  struct Operation {
    /// The source as typed.
    var source: String
    /// The destination path, and the name to show for it (as typed when it is the operand).
    var destination: FilePath
    var destinationText: String
    /// How the destination names the file (for Transfer.copy).
    var rule: CopyOptions.Destination
    /// With --parents: the directories to create first (relative to the target), and the
    /// source directories they copy.
    var parentDirectories: [(source: FilePath, destination: FilePath)] = []
  }

  /// cp's do_copy: a target directory (-t, or the last operand when it is a directory, or
  /// any when there are more than two operands), or one source and its new name.
  func plan() throws -> [Operation] {
    var target: String? = targetDirectory
    var sources = operands
    if target == nil && !noTargetDirectory {
      let last = operands.last!
      var st = stat()
      let found = RawArguments.path(last).withPlatformString({ stat($0, &st) }) == 0
      let why = found ? ENOTDIR : errno
      if found && st.st_mode & S_IFMT == S_IFDIR {
        target = last
        sources.removeLast()
      } else if operands.count > 2 {
        throw CommandFailure(text: "target \(RawArguments.quoted(last))", errno: Errno(rawValue: why))
      }
    } else if let target {
      var st = stat()
      guard RawArguments.path(target).withPlatformString({ stat($0, &st) }) == 0 else {
        throw CommandFailure(text: "target directory \(RawArguments.quoted(target))", errno: Errno(rawValue: errno))
      }
      guard st.st_mode & S_IFMT == S_IFDIR else {
        throw CommandFailure(text: "target directory \(RawArguments.quoted(target))", errno: .notDirectory)
      }
    }
    guard let directory = target else {
      if parents { throw UsageFailure("with --parents, the destination must be a directory") }
      let destination = operands[1]
      let rule: CopyOptions.Destination =
        noTargetDirectory ? .exactPath : RawArguments.endsWithSlash(destination) ? .intoDirectory : .automatic
      return [
        Operation(
          source: operands[0], destination: RawArguments.path(destination), destinationText: RawArguments.quoted(destination),
          rule: rule)
      ]
    }
    let base = RawArguments.path(directory)
    return sources.map { source in
      var bytes = RawArguments.bytes(source)
      while bytes.count > 1 && bytes.last == 0x2F { bytes.removeLast() }
      let sourcePath = RawArguments.path(RawArguments.encode(bytes))
      if parents {
        // The whole source path under the directory; its directories are created first.
        var destination = base
        var parentDirectories: [(FilePath, FilePath)] = []
        var walked = FilePath(root: sourcePath.root)
        let components = Array(sourcePath.components)
        for component in components.dropLast() {
          walked.append(component)
          destination.append(component)
          parentDirectories.append((walked, destination))
        }
        if let last = components.last { destination.append(last) }
        return Operation(
          source: source, destination: destination, destinationText: destination.shellQuoted, rule: .exactPath,
          parentDirectories: parentDirectories)
      }
      let name = sourcePath.lastComponent.map { FilePath(root: nil, [$0]) } ?? FilePath()
      let destination = name.isEmpty ? base : base.appending(name.components)
      return Operation(source: source, destination: destination, destinationText: destination.shellQuoted, rule: .exactPath)
    }
  }

  // MARK: - Running

  func run() async throws {
    let ordered = try CpOrderedOptions.replay(RawArguments.copyArguments())
    let settings = Settings(command: self, ordered: ordered)
    let operations: [Operation]
    do {
      operations = try plan()
    } catch let failure as CommandFailure {
      printError(failure.line)
      throw ExitCode.failure
    } catch let failure as UsageFailure {
      printError("zc copy: \(failure.text)\nUsage: zc copy [OPTIONS] SOURCE DEST (see zc copy --help)")
      throw ExitCode(64)
    }
    let runner = CopyRunner(command: self, settings: settings)
    for operation in operations {
      if Interruption.received != nil { break }
      await runner.copy(operation)
    }
    Interruption.exitIfInterrupted()
    await runner.finish()
    if let line = StandardOutput.failureLine("copy") {
      printError(line)
      throw ExitCode.failure
    }
    if runner.failed { throw ExitCode.failure }
  }
}

/// A failure of the command line itself (exit status 1): "target 'x': Not a directory".
struct CommandFailure: Error {
  var text: String
  var errno: Errno
  var line: String {
    "zc copy: \(text): \(String(cString: strerror(errno.rawValue))) (\(errno.symbolicName), errno \(errno.rawValue))"
  }
}

/// A usage error found once the file system was looked at (exit status 64).
struct UsageFailure: Error {
  var text: String
  init(_ text: String) { self.text = text }
}

/// What the options mean, once.
struct Settings {
  let recursive: Bool
  /// For the command-line operands (cp's -H/-L/-P and defaults).
  let followCommandLine: Bool
  let following: SymlinkFollowing
  let policy: CopyPolicy
  let sparse: SparseMode
  let quiet: Bool

  init(command: Copy, ordered: CpOrderedOptions) {
    recursive = command.tree.recursive || ordered.archive
    let follow = ordered.following ?? (recursive ? .never : .always)
    followCommandLine = follow != .never
    following = follow == .never ? .never : follow == .commandLine ? .source : .always
    var policy = CopyPolicy()
    policy.preserve = ordered.preserve
    if command.tree.preserveTimes { policy.preserve.insert(.timestamps) }
    policy.required = ordered.required
    if command.tree.preserveTimes { policy.required.insert(.timestamps) }
    policy.defaultPermissions = ordered.explicitNoPreserveMode
    switch ordered.interactive {
    case .never?: policy.existing = .skip
    default: policy.existing = command.update ? .replaceIfOlder : .replace
    }
    if ordered.interactive == .ask {
      policy.confirmReplace = { askToReplace($0, force: command.force || command.removeDestination) }
    }
    policy.replace = command.removeDestination ? .removeFirst : command.force ? .removeIfUnwritable : .writeInto
    policy.reflink = (try? command.resolvedReflink()) ?? .auto
    if policy.preserve.contains(.links) { policy.hardLinks = HardLinkMap() }
    if command.verbose { policy.onEvent = { StandardOutput.line($0.description) } }
    self.policy = policy
    sparse = (try? command.resolvedSparse()) ?? .auto
    quiet = command.flags.quiet || ordered.interactive == .ask || command.verbose
  }
}

/// cp -i's question, on standard error; the answer is a line on standard input (yes when
/// it starts with y or Y, as cp's yesno() in the C locale).
func askToReplace(_ question: ReplaceQuestion, force: Bool) -> Bool {
  let mode = String(question.mode, radix: 8)
  let padded = String(repeating: "0", count: max(0, 4 - mode.count)) + mode
  if !question.isWritable {
    let text =
      force
      ? "zc copy: replace \(question.destination.shellQuoted), overriding mode \(padded) (\(permissionString(question.mode)))? "
      : "zc copy: unwritable \(question.destination.shellQuoted) (mode \(padded), \(permissionString(question.mode))); try anyway? "
    writeStandardError(text)
  } else {
    writeStandardError("zc copy: overwrite \(question.destination.shellQuoted)? ")
  }
  var first: UInt8? = nil
  var byte: UInt8 = 0
  while read(STDIN_FILENO, &byte, 1) == 1 {
    if byte == 0x0A { break }
    if first == nil { first = byte }
  }
  return first == 0x79 || first == 0x59
}

/// "rw-r--r--".
func permissionString(_ mode: UInt32) -> String {
  var s = ""
  for (index, letter) in "rwxrwxrwx".enumerated() { s.append(mode & (0o400 >> UInt32(index)) != 0 ? letter : "-") }
  return s
}
