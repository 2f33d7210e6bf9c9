// The built `zc` binary: exit codes, output, and the bytes it copies and sends.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

extension TransferFixtures {
  /// A finished child process.
  struct Run {
    var status: Int32
    var standardOutput: String
    var standardError: String
  }

  /// Runs `path` with `arguments`, stdout and stderr captured through pipes, and waits
  /// (``CopySupport/Child``, which also takes raw-byte arguments and sends signals).
  static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Run {
    let outcome = try CopySupport.Child(path, arguments.map { Array($0.utf8) }, environment: environment).wait()
    return Run(status: outcome.status, standardOutput: outcome.standardOutput, standardError: outcome.standardError)
  }

  /// `zc` in the directory of the running test binary (`.build/debug/`), if it exists.
  static let zcExecutable: String? = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = exe
    while let slash = directory.lastIndex(of: "/"), directory.contains(".xctest") {
      directory = String(directory[..<slash])
    }
    let candidate = directory + "/zc"
    return access(candidate, X_OK) == 0 ? candidate : nil
  }()
}

extension TransferTests {
  /// Runs the `zc` executable that `swift build`/`swift test` put beside the test bundle.
  @Suite(
    "Transfer zc tool", .enabled(if: TransferFixtures.zcExecutable != nil, "the zc executable is not next to the test bundle"))
  struct ZcToolTests {
    /// Runs zc with `arguments` (stdout and stderr through pipes, so stderr is not a terminal).
    static func zc(_ arguments: [String], environment: [String: String] = [:]) throws -> TransferFixtures.Run {
      try TransferFixtures.run(try #require(TransferFixtures.zcExecutable), arguments, environment: environment)
    }

    @Test("zc strategies: one line per strategy, starting with its name")
    func strategies() throws {
      let run = try Self.zc(["strategies"])
      #expect(run.status == 0)
      let names = run.standardOutput.split(separator: "\n").map { String($0.prefix { $0 != " " }) }
      #expect(names == TransferStrategies.builtIn.map(\.name))
      #expect(run.standardError.isEmpty)
    }

    @Test("zc copy: exit 0, exact bytes, the report as JSON, nothing on stderr when it is not a terminal")
    func copy() throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(3 << 20))
      let run = try Self.zc(["copy", disk.file("a"), disk.file("b"), "--json"])
      #expect(run.status == 0, "\(run.standardError)")
      #expect(run.standardError.isEmpty)
      // The table: splice above copyFileRangeMax where copy_file_range only copies in the
      // kernel (ext4, tmpfs), copy_file_range elsewhere (zc reads the same profile).
      let a = try TransferFixtures.openFile(disk.file("a"), O_RDONLY)
      let splices = try TransferPlan.fileSystemCopiesInKernel(a) && 3 << 20 > AutomaticStrategy().parameters.copyFileRangeMax
      try a.close()
      #expect(run.standardOutput.hasPrefix("{\"strategy\":\"\(splices ? "splice" : "copyFileRange")\""))
      #expect(run.standardOutput.contains("\"profile\":"))
      #expect(run.standardOutput.contains("\"bytes\":\(3 << 20)"))
      // Clone or copy, said plainly: ext4 cannot clone, the kernel copied.
      #expect(
        run.standardOutput.contains("\"dataPath\":{\"kind\":\"kernel\",\"reason\":\"not cloned: FICLONE: EOPNOTSUPP"),
        "\(run.standardOutput)")
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("b")), TransferFixtures.bytes(3 << 20), "zc copy")

      let memory = try TransferFixtures.Directory(in: "/dev/shm")
      defer { memory.remove() }
      let named = try Self.zc([
        "copy", disk.file("a"), memory.file("c"), "--strategy", "copyFileRange", "--report", "--atomic", "--fsync",
      ])
      #expect(named.status == 0, "\(named.standardError)")
      #expect(named.standardOutput.hasPrefix("sendfile: \(3 << 20) bytes"))
      #expect(named.standardOutput.contains("fell back from copyFileRange (copy_file_range: EXDEV)"))
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(memory.file("c")), TransferFixtures.bytes(3 << 20), "zc copy --atomic")
    }

    @Test(
      "zc copy --json > /dev/full and -v > /dev/full: a write error on standard output is an error (exit 1, ENOSPC named)",
      arguments: [["--json"], ["-v"]])
    func standardOutputWriteError(_ option: [String]) throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(1000))
      let full = try TransferFixtures.openFile("/dev/full", O_WRONLY)
      defer { try? full.close() }
      let child = try CopySupport.Child(
        try #require(TransferFixtures.zcExecutable),
        (["copy"] + option + [disk.file("a"), disk.file("b")]).map { Array($0.utf8) },
        standardOutput: full.rawValue)
      let run = child.wait(timeout: 60)
      #expect(run.status == 1, "\(run)")
      #expect(run.standardError.contains("write error on standard output") && run.standardError.contains("ENOSPC"), "\(run)")
      TransferFixtures.expectSame(
        try TransferFixtures.readFile(disk.file("b")), TransferFixtures.bytes(1000), "the copy itself is made")
    }

    @Test("zc copy failures: exit 1 and one line naming the syscall, the errno and the bytes delivered")
    func copyFailures() throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      let missing = try Self.zc(["copy", disk.file("missing"), disk.file("b")])
      #expect(missing.status == 1)
      // cp's words first ("cannot stat 'x': No such file or directory"), then the errno's name.
      #expect(
        missing.standardError.hasPrefix(
          "zc copy: cannot stat '\(disk.file("missing"))': No such file or directory (ENOENT, errno 2; stat)"))
      #expect(missing.standardError.contains("; 0 bytes reached the destination"))
      #expect(missing.standardError.split(separator: "\n").count == 1)

      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(1000))
      #expect(link(disk.file("a"), disk.file("link")) == 0)
      let same = try Self.zc(["copy", disk.file("a"), disk.file("link")])
      #expect(same.status == 1)
      #expect(same.standardError.contains("same file"))
      TransferFixtures.expectSame(try TransferFixtures.readFile(disk.file("a")), TransferFixtures.bytes(1000), "source intact")

      let bogus = try Self.zc(["copy", disk.file("a"), disk.file("b"), "--strategy", "bogus"])
      #expect(bogus.status == 64)
      #expect(bogus.standardError.contains("unknown strategy 'bogus'"))

      if let small = TransferFixtures.mountTmpfs(size: "1m") {
        defer { TransferFixtures.unmount(small) }
        try TransferFixtures.writeFile(disk.file("big"), TransferFixtures.bytes(2 << 20))
        let full = try Self.zc(["copy", disk.file("big"), small.file("out"), "--strategy", "readWrite", "--no-fallback"])
        #expect(full.status == 1)
        let delivered = TransferFixtures.status(small.file("out"))?.size ?? -1
        #expect(full.standardError.hasPrefix("zc copy: write failed: "), "\(full.standardError)")
        #expect(
          full.standardError.contains("(ENOSPC, errno 28); \(delivered) bytes reached the destination"), "\(full.standardError)")
      }
    }

    @Test("zc send: every byte reaches a TCP listener")
    func send() throws {
      let disk = try TransferFixtures.Directory()
      defer { disk.remove() }
      try TransferFixtures.writeFile(disk.file("a"), TransferFixtures.bytes(5 << 20))
      for strategy in ["automatic", "splice", "readWrite"] {
        let (listener, port) = try TransferFixtures.makeListener()
        let received = TransferFixtures.Box<[UInt8]>([])
        let acceptor = TransferFixtures.Worker {
          let connection = accept(listener.rawValue, nil, nil)
          guard connection >= 0 else { return }
          received.value = TransferFixtures.readToEnd(connection)
          close(connection)
        }
        let run = try Self.zc(["send", disk.file("a"), "--to", "127.0.0.1:\(port)", "--strategy", strategy, "--report"])
        acceptor.join()
        try listener.close()
        #expect(run.status == 0, "\(strategy): \(run.standardError)")
        #expect(run.standardOutput.contains("\(5 << 20) bytes"), "\(strategy): \(run.standardOutput)")
        TransferFixtures.expectSame(received.value, TransferFixtures.bytes(5 << 20), "zc send --strategy \(strategy)")
      }
      let refused = try Self.zc(["send", disk.file("a"), "--to", "127.0.0.1:1"])
      #expect(refused.status == 1)
      #expect(refused.standardError.contains("ECONNREFUSED"))
    }

    @Test("zc probe: io_uring status and the strategy table")
    func probe() throws {
      let run = try Self.zc(["probe"])
      #expect(run.status == 0, "\(run.standardError)")
      #expect(run.standardOutput.hasPrefix("io_uring: "))
      #expect(run.standardOutput.contains("file→file"))
      for name in TransferStrategies.builtIn.map(\.name) {
        #expect(run.standardOutput.contains("\n  \(name) "), "\(name)")
      }
      let disabled = try Self.zc(["probe"], environment: ["ZEROCOPY_DISABLE_IO_URING": "1"])
      #expect(disabled.status == 0)
      #expect(disabled.standardOutput.hasPrefix("io_uring: unavailable: disabled by the environment"))
    }
  }
}
