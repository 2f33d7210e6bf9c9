// zerocopy-bench reflink: issue 5 (c). A loop-mounted XFS (reflink=1) made for the run;
// 1 GiB copied by reflink (FICLONE, ZeroCopy's `reflink` strategy), by copy_file_range
// (ZeroCopy's `copyFileRange` strategy, no fallback) and by `cp --reflink=never`; shared
// blocks shown by free space and by FIEMAP's shared flag (filefrag -v).

import ArgumentParser
import BenchKit
import Foundation
import Glibc
import SystemPackage
import ZeroCopy

struct ReflinkBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "reflink",
    abstract: "Issue 5 (c): 1 GiB by reflink vs copy_file_range vs cp --reflink=never on a loop-mounted XFS (root only).",
    discussion: """
      Needs root, mkfs.xfs (xfsprogs) and losetup; otherwise prints why and exits 0. The \
      image (sparse, 3 GiB) lives in the work directory; the loop device is detached and \
      the mount removed on every exit path (including Ctrl-C between samples).
      """)

  @Option(help: "Rounds (medians of these).") var rounds = 5
  @Option(help: "Bytes to copy, in MiB.") var mib = 1024
  @Option(help: "Image size in MiB.") var imageMiB = 3072
  @Option(help: "Parent of the image (default $TMPDIR or /tmp).") var workdir: String?
  @Option(help: "Write the results as JSON here.") var json: String?
  @Option(help: "Write the Markdown report here.") var markdown: String?

  struct Row: Codable {
    var method: String, medianWallSeconds: Double, medianSystemSeconds: Double, throughputGBps: Double
    var extraSpaceMiB: Double, sharedExtents: Int?, totalExtents: Int?, strategyReported: String, rounds: Int
  }

  func run() throws {
    Interrupt.install()
    guard getuid() == 0 else { return skip("not root: mounting a loop device needs root") }
    guard let mkfs = benchWhich("mkfs.xfs") else { return skip("mkfs.xfs not found (apt-get install xfsprogs)") }
    guard let losetup = benchWhich("losetup"), let mount = benchWhich("mount"), let umount = benchWhich("umount"),
      let cp = benchWhich("cp")
    else { return skip("losetup/mount/umount/cp not found") }
    let base = workdir ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    let dir = "\(base)/zc-reflink-bench-\(getpid())"
    let image = "\(dir)/xfs.img", mnt = "\(dir)/mnt"
    try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
    var loop: String?
    var mounted = false
    defer {
      if mounted { _ = try? benchRun(umount, [mnt]) }
      if let loop { _ = try? benchRun(losetup, ["-d", loop]) }
      try? FileManager.default.removeItem(atPath: dir)
    }
    let fd = open(image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0, ftruncate(fd, off_t(imageMiB) << 20) == 0 else {
      return skip("cannot create the image: \(String(cString: strerror(errno)))")
    }
    close(fd)
    // losetup --find --show prints the device.
    let out = "\(dir)/losetup.out"
    let child = try ChildProcess(losetup, ["--find", "--show", image], stdout: .file(out))
    guard try child.wait().succeeded,
      let device = try? String(contentsOfFile: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
      !device.isEmpty
    else { return skip("losetup failed (no loop devices in this container?)") }
    loop = device
    guard try benchRun(mkfs, ["-q", "-f", "-m", "reflink=1", device]).succeeded else {
      return skip("mkfs.xfs -m reflink=1 failed")
    }
    guard try benchRun(mount, [device, mnt]).succeeded else { return skip("mount failed") }
    mounted = true

    // The source: deterministic bytes, on disk (fsync), in the page cache (it was just written).
    let src = "\(mnt)/src"
    let size = mib << 20
    do {
      let s = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
      guard s >= 0 else { throw BenchError("open \(src)") }
      var block = [UInt8](repeating: 0, count: 1 << 20)
      var state: UInt64 = 0x1234_5678
      for chunk in 0..<mib {
        for i in stride(from: 0, to: block.count, by: 8) {
          state ^= state << 13; state ^= state >> 7; state ^= state << 17
          withUnsafeBytes(of: state &+ UInt64(chunk)) { block.replaceSubrange(i..<i + 8, with: $0) }
        }
        guard block.withUnsafeBytes({ write(s, $0.baseAddress, $0.count) }) == block.count else {
          throw BenchError("write source")
        }
      }
      fsync(s)
      close(s)
    }
    guard let expected = benchChecksum(src) else { throw BenchError("checksum of the source") }

    func freeBytes() -> Double {
      _ = try? benchRun("/bin/sync", ["-f", mnt])  // syncfs(2): Glibc hides it without _GNU_SOURCE
      var st = statvfs()
      statvfs(mnt, &st)
      return Double(st.f_bavail) * Double(st.f_frsize)
    }
    /// Free space once it stops changing (XFS frees a deleted file's blocks in the background).
    func stableFree() -> Double {
      var last = freeBytes()
      for _ in 0..<20 {
        usleep(150_000)
        let now = freeBytes()
        if now == last { return now }
        last = now
      }
      return last
    }
    func extents(_ path: String) -> (shared: Int, total: Int)? {
      guard let filefrag = benchWhich("filefrag") else { return nil }
      let out = "\(dir)/filefrag.out"
      try? FileManager.default.removeItem(atPath: out)
      guard let c = try? ChildProcess(filefrag, ["-v", path], stdout: .file(out)), (try? c.wait())?.succeeded == true,
        let text = try? String(contentsOfFile: out, encoding: .utf8)
      else { return nil }
      let lines = text.split(separator: "\n").filter { $0.contains(":") && $0.first == " " && $0.contains("..") }
      return (lines.filter { $0.contains("shared") }.count, lines.count)
    }

    let methods = ["reflink (FICLONE)", "copy_file_range", "cp --reflink=never"]
    var walls: [String: [Double]] = [:], syss: [String: [Double]] = [:], space: [String: [Double]] = [:]
    var shared: [String: (Int, Int)] = [:], reported: [String: String] = [:]
    for round in 0..<rounds {
      try Interrupt.check()
      for k in 0..<methods.count {
        let method = methods[(k + round) % methods.count]
        let dst = "\(mnt)/dst"
        unlink(dst)
        let before = stableFree()
        let t0 = monotonicNanoseconds()
        var sys = 0.0
        switch method {
        case "cp --reflink=never":
          let exit = try benchRun(cp, ["--reflink=never", src, dst])
          guard exit.succeeded else { throw BenchError("cp failed") }
          sys = Double(exit.usage.systemMicros) / 1e6
          reported[method] = "cp"
        default:
          let u0 = Usage.current()
          let strategy: any TransferStrategy = method.hasPrefix("reflink") ? ReflinkStrategy() : CopyFileRangeStrategy()
          let report = try Transfer.copyBlocking(
            from: FilePath(src), to: FilePath(dst), strategy: strategy,
            options: CopyOptions(transfer: TransferOptions(allowFallback: false)))
          sys = Double((Usage.current() - u0).systemMicros) / 1e6
          reported[method] = "\(report.strategy)"
        }
        let wall = Double(monotonicNanoseconds() - t0) / 1e9
        let used = before - stableFree()
        guard benchChecksum(dst) == expected else { throw BenchError("\(method): the copy does not match the source") }
        walls[method, default: []].append(wall)
        syss[method, default: []].append(sys)
        space[method, default: []].append(used / Double(1 << 20))
        if round == 0, let e = extents(dst) { shared[method] = e }
        FileHandle.standardError.write(
          "reflink round \(round + 1)/\(rounds) \(method): \(fmt(wall)) s, \(fmt(used / Double(1 << 20), 0)) MiB more used\n"
            .data(using: .utf8)!)
        unlink(dst)
      }
    }
    let rows = methods.map { m in
      Row(
        method: m, medianWallSeconds: benchMedian(walls[m] ?? []), medianSystemSeconds: benchMedian(syss[m] ?? []),
        throughputGBps: Double(size) / benchMedian(walls[m] ?? []) / 1e9, extraSpaceMiB: benchMedian(space[m] ?? []),
        sharedExtents: shared[m]?.0, totalExtents: shared[m]?.1, strategyReported: reported[m] ?? "?",
        rounds: walls[m]?.count ?? 0)
    }
    var md = "# 1 GiB copy on a loop-mounted XFS (reflink=1) (issue 5 c)\n\n"
    md += "\(mib) MiB source, page cache warm, medians of \(rounds) interleaved rounds, every copy verified (checksum). "
    md += "Extra space = free space before − after (after syncfs). Extents from `filefrag -v` (FIEMAP), first round.\n\n"
    md +=
      "| method | wall s | sys s | GB/s | extra space MiB | shared extents / extents | reported |\n|---|---|---|---|---|---|---|\n"
    for r in rows {
      let e = r.sharedExtents.map { "\($0) / \(r.totalExtents ?? 0)" } ?? "?"
      md +=
        "| \(r.method) | \(fmt(r.medianWallSeconds, 4)) | \(fmt(r.medianSystemSeconds, 4)) | \(fmt(r.throughputGBps, 1)) | \(fmt(r.extraSpaceMiB, 1)) | \(e) | \(r.strategyReported) |\n"
    }
    print(md)
    if let markdown { try md.write(toFile: markdown, atomically: true, encoding: .utf8) }
    if let json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try encoder.encode(rows).write(to: URL(fileURLWithPath: json))
    }
  }

  private func skip(_ reason: String) {
    let md = "# 1 GiB reflink copy (issue 5 c)\n\nSkipped: \(reason).\n"
    print(md)
    if let markdown { try? md.write(toFile: markdown, atomically: true, encoding: .utf8) }
    if let json { try? "{\"skipped\":\"\(reason)\"}\n".write(toFile: json, atomically: true, encoding: .utf8) }
  }
}
