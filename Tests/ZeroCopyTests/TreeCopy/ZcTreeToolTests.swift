// The real `zc copy -r` binary: exit status, totals, exact trees, named errors — and an
// unreadable file, as uid 65534 when the tests run as root (root ignores mode 000).

import Glibc
import SystemPackage
import Testing
import URing
import ZeroCopy

@Suite(
  "zc copy -r", .enabled(if: TransferFixtures.zcExecutable != nil, "the zc executable is not next to the test bundle"))
struct ZcTreeToolTests {
  typealias F = TreeFixtures

  static func zc(_ arguments: [String]) throws -> TransferFixtures.Run {
    try TransferFixtures.run(try #require(TransferFixtures.zcExecutable), arguments)
  }

  @Test("each engine: exit 0, the totals as JSON, an identical tree", arguments: ["uring", "threads", "sequential"])
  func copiesATree(engine: String) throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    let dst = scratch.string + "/dst"
    // --preserve=mode: the modes exactly (set-user-ID included), so the trees compare equal.
    let run = try Self.zc([
      "copy", "-r", "--preserve=mode", "--engine", engine, "--jobs", "4", "--tree-json", scratch.string + "/src", dst,
    ])
    #expect(run.status == 0, "\(run.standardError)")
    #expect(run.standardError.isEmpty)
    let used = engine == "uring" && !IOURingAvailability.isAvailable ? "threads" : engine
    #expect(run.standardOutput.contains("\"engine\":\"\(used)\""))
    #expect(
      run.standardOutput.contains(
        "\"files\":\(expected.files),\"directories\":\(expected.directories),\"symlinks\":\(expected.symlinks),\"specialFiles\":0,\"hardLinks\":0,\"skipped\":0,\"bytes\":\(expected.bytes),\"errors\":0"
      ), "\(run.standardOutput)")
    // How the data went, per file: every regular file counted once.
    #expect(run.standardOutput.contains("\"dataPaths\":{"), "\(run.standardOutput)")
    #expect(F.snapshot(src) == F.snapshot(scratch.sub("dst")))

    // Again, over the existing tree (-T: merge into it, overwrite): the plain totals line.
    try F.write(scratch.sub("dst/a/f7"), Support.pattern(seed: 3, count: 50_000))
    let again = try Self.zc(["copy", "-rT", "--preserve=mode", "--engine", engine, scratch.string + "/src", dst])
    #expect(again.status == 0, "\(again.standardError)")
    #expect(
      again.standardOutput.hasPrefix(
        "copied \(expected.files) files, \(expected.directories) directories, \(expected.symlinks) symlinks, \(expected.bytes) bytes, 0 errors"
      ))
    #expect(F.snapshot(src) == F.snapshot(scratch.sub("dst")))
  }

  @Test("io_uring refused (ZEROCOPY_DISABLE_IO_URING=1): --engine uring falls back to threads and says why")
  func refusedIOURingFallsBack() throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    let run = try TransferFixtures.run(
      try #require(TransferFixtures.zcExecutable),
      ["copy", "-r", "--preserve=mode", "--engine", "uring", "--tree-json", scratch.string + "/src", scratch.string + "/dst"],
      environment: ["ZEROCOPY_DISABLE_IO_URING": "1"])
    #expect(run.status == 0, "\(run.standardError)")
    #expect(run.standardOutput.contains("\"files\":\(expected.files),"))
    #expect(run.standardOutput.contains("\"engine\":\"threads\""))
    #expect(run.standardOutput.contains("\"fallbackReason\":\"io_uring: "))
    #expect(F.snapshot(src) == F.snapshot(scratch.sub("dst")))
  }

  @Test("a FIFO is recreated (mknodat), as cp -r does, with its mode less the umask")
  func specialFilesRecreated() throws {
    let scratch = try F.Scratch()
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    #expect(mkfifo(F.cPath(scratch.sub("src/a/the fifo")), 0o640) == 0)
    let run = try Self.zc(["copy", "-r", scratch.string + "/src", scratch.string + "/dst"])
    #expect(run.status == 0, "\(run.standardError)")
    #expect(
      run.standardOutput.hasPrefix(
        "copied \(expected.files) files, \(expected.directories) directories, \(expected.symlinks) symlinks, \(expected.bytes) bytes, 1 special files, 0 errors"
      ), "\(run.standardOutput)")
    #expect(CopySupport.type(scratch.sub("dst/a/the fifo")) == S_IFIFO)
    #expect(
      CopySupport.lstatus(scratch.sub("dst/a/the fifo")).map { $0.st_mode & 0o7777 } == 0o640 & ~TransferFixtures.umaskValue)
  }

  @Test("usage errors: unknown engine, --jobs 0", arguments: [["--engine", "warp"], ["--jobs", "0"]])
  func usageErrors(extra: [String]) throws {
    let run = try Self.zc(["copy", "-r"] + extra + ["/tmp", "/tmp/x-never-created"])
    #expect(run.status == 64)
    #expect(access("/tmp/x-never-created", F_OK) != 0)
  }

  /// An unreadable file (mode 000). As root the copy runs as uid 65534 through setpriv,
  /// because root's CAP_DAC_OVERRIDE reads any file.
  static let setprivPath: String? = { () -> String? in
    let candidates: [String] = ["/usr/bin/setpriv", "/bin/setpriv"]
    return candidates.first { access($0, X_OK) == 0 }
  }()

  @Test(
    "an unreadable file: EACCES naming it; --keep-going copies the rest",
    .enabled(if: getuid() != 0 || setprivPath != nil, "running as root without setpriv: cannot drop to uid 65534"),
    arguments: ["uring", "threads", "sequential"])
  func unreadableFile(engine: String) throws {
    let asRoot = getuid() == 0
    let setpriv = Self.setprivPath
    let scratch = try F.Scratch()
    #expect(chmod(F.cPath(scratch.path), 0o777) == 0)
    let src = scratch.sub("src")
    let expected = try F.buildSource(src)
    try F.write(scratch.sub("src/a/secret"), [1, 2, 3], mode: 0o000)
    if asRoot { _ = try TransferFixtures.run("/bin/chown", ["-R", "65534:65534", scratch.string + "/src"]) }
    func zcAs(_ args: [String]) throws -> TransferFixtures.Run {
      let zc = try #require(TransferFixtures.zcExecutable)
      // The test bundle's directory must be reachable by uid 65534 for exec: check it.
      if asRoot {
        return try TransferFixtures.run(setpriv!, ["--reuid=65534", "--regid=65534", "--clear-groups", zc] + args)
      }
      return try Self.zc(args)
    }
    let stop = try zcAs(["copy", "-r", "--stop-on-error", "--engine", engine, scratch.string + "/src", scratch.string + "/stop"])
    if asRoot && stop.status == 126 || stop.standardError.contains("Permission denied") && stop.standardError.contains("execve") {
      // The build directory is not executable by uid 65534 here.
      Issue.record("uid 65534 cannot run \(TransferFixtures.zcExecutable ?? "zc"): \(stop.standardError)")
      return
    }
    #expect(stop.status == 1)
    #expect(stop.standardError.contains("EACCES"))
    #expect(stop.standardError.contains("'\(scratch.string)/src/a/secret'"))
    #expect(stop.standardError.contains("cannot open the source file for reading"))
    // --preserve=mode: the snapshot compares modes exactly (a/exec is set-user-ID).
    let go = try zcAs([
      "copy", "-r", "--preserve=mode", "--engine", engine, "--keep-going", scratch.string + "/src", scratch.string + "/go",
    ])
    #expect(go.status == 1)
    #expect(go.standardOutput.contains("copied \(expected.files) files"))
    var a = F.snapshot(src)
    a.removeValue(forKey: "a/secret")
    #expect(a == F.snapshot(scratch.sub("go")))
  }
}
