// O_DIRECT random 4 KiB reads over a large file, so every read reaches the device:
// pread QD1, the URing ring at QD 1/8/32 (registered buffers + registered file), a thread
// pool of preads, and fio (io_uring QD32 fixed buffers + registered files, psync QD1) in
// the same run, interleaved rounds, medians. Every Swift read is verified: each 4 KiB
// block of the file carries its block number and a checksum of its other words.

import Foundation
import Glibc
import LinuxIO
import SystemPackage
import URing

// MARK: - The file

/// The benchmark's data file: `size` bytes of self-describing 4 KiB blocks.
///
/// Block `b` holds 512 little-endian `UInt64` words: word 0 is `b`, words 2…511 are
/// `mix(b * 512 + i)`, and word 1 is the XOR of words 2…511 — so a read is verified by
/// checking word 0 against the block asked for and XOR-ing 510 words (~0.1 µs).
public struct DirectReadFile: Sendable {
  /// The file's path.
  public let path: String
  /// Its size in bytes (a multiple of 4096).
  public let size: Int
  /// 4 KiB blocks.
  public var blocks: Int { size / 4096 }

  static func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Fills `block` (4096 bytes) with block number `b`'s content.
  static func fill(_ block: UnsafeMutableRawPointer, number b: UInt64) {
    let words = block.bindMemory(to: UInt64.self, capacity: 512)
    var checksum: UInt64 = 0
    for i in 2..<512 {
      let w = mix(b &* 512 &+ UInt64(i))
      words[i] = w.littleEndian
      checksum ^= w
    }
    words[0] = b.littleEndian
    words[1] = checksum.littleEndian
  }

  /// Whether `block` holds block number `b`, intact.
  @inline(__always)
  public static func verify(_ block: UnsafeRawPointer, number b: UInt64) -> Bool {
    let words = block.assumingMemoryBound(to: UInt64.self)
    guard UInt64(littleEndian: words[0]) == b else { return false }
    var checksum: UInt64 = 0
    for i in 2..<512 { checksum ^= UInt64(littleEndian: words[i]) }
    return checksum == UInt64(littleEndian: words[1])
  }

  /// Uses the file at `path` if it has `size` bytes and its sampled blocks verify;
  /// otherwise (re)writes it with O_DIRECT 1 MiB writes (so the page cache stays clean).
  public static func prepare(path: String, size: Int, log: (String) -> Void) throws -> DirectReadFile {
    precondition(size >= 1 << 20 && size % (1 << 20) == 0, "DirectReadFile: size must be a multiple of 1 MiB")
    let file = DirectReadFile(path: path, size: size)
    if file.looksValid() {
      log("using \(path) (\(size >> 20) MiB, sampled blocks verified)")
      return file
    }
    log("writing \(path): \(size >> 20) MiB of self-describing 4 KiB blocks with O_DIRECT…")
    let fd = try check(
      open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | FileDescriptor.OpenOptions.direct.rawValue, 0o644),
      "open \(path) with O_DIRECT")
    defer { close(fd) }
    let chunk = 1 << 20
    let buffer = try AlignedBuffer(count: chunk, alignment: 4096)
    var offset = 0
    let t0 = monotonicNanoseconds()
    while offset < size {
      for k in 0..<(chunk / 4096) {
        fill(buffer.unsafeBaseAddress + k * 4096, number: UInt64(offset / 4096 + k))
      }
      let n = pwrite(fd, buffer.unsafeBaseAddress, chunk, off_t(offset))
      guard n == chunk else {
        throw BenchError("writing \(path) at \(offset): \(n < 0 ? String(cString: strerror(errno)) : "short write \(n)")")
      }
      offset += chunk
    }
    try check(fsync(fd), "fsync \(path)")
    log(String(format: "wrote %d MiB in %.1f s", size >> 20, Double(monotonicNanoseconds() - t0) / 1e9))
    return file
  }

  private func looksValid() -> Bool {
    var st = stat()
    guard stat(path, &st) == 0, Int(st.st_size) == size else { return false }
    let fd = open(path, O_RDONLY | O_CLOEXEC | FileDescriptor.OpenOptions.direct.rawValue)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard let buffer = try? AlignedBuffer(count: 4096, alignment: 4096) else { return false }
    var gen = OffsetGenerator(fileSize: size, stream: 99)
    for probe in 0..<64 {
      let offset = probe == 0 ? 0 : (probe == 1 ? UInt64(size - 4096) : gen.next())
      guard pread(fd, buffer.unsafeBaseAddress, 4096, off_t(offset)) == 4096,
        Self.verify(buffer.unsafeBaseAddress, number: offset / 4096)
      else { return false }
    }
    return true
  }
}

// MARK: - Subjects

/// One timed run of a subject.
public struct DirectReadSample: Sendable, Codable {
  /// Reads completed (and verified, for the Swift subjects).
  public var operations: Int
  /// Wall-clock seconds.
  public var seconds: Double
  /// CPU (user + system) microseconds per read, of the whole process (fio: its own report).
  public var cpuMicrosPerRead: Double
  /// Reads per second.
  public var iops: Double { Double(operations) / seconds }

  /// Creates a sample.
  public init(operations: Int, seconds: Double, cpuMicrosPerRead: Double) {
    self.operations = operations
    self.seconds = seconds
    self.cpuMicrosPerRead = cpuMicrosPerRead
  }
}

/// A way of doing O_DIRECT random 4 KiB reads.
public protocol DirectReadSubject: Sendable {
  /// A short id: "pread.qd1", "ring.qd32", "fio.io_uring.qd32".
  var id: String { get }
  /// One line: what it does.
  var summary: String { get }
  /// Reads random blocks of `file` for about `seconds`, verifying each one.
  func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample
}

/// Opens `file` read-only with O_DIRECT.
func openDirect(_ file: DirectReadFile) throws -> FileDescriptor {
  try FileDescriptor.open(FilePath(file.path), .readOnly, options: [.direct, .closeOnExec])
}

/// `pread` one at a time (LinuxIO `directRead`, alignment checked, then `pread`).
public struct DirectPreadSubject: DirectReadSubject {
  public let id = "pread.qd1"
  public let summary = "LinuxIO FileDescriptor.directRead (pread), one at a time"
  /// Creates the subject.
  public init() {}

  public func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    let seed = OffsetGenerator.randomSeed()
    let fd = try openDirect(file)
    defer { try? fd.close() }
    let alignment = try fd.directIOAlignment()
    let buffer = try AlignedBuffer(count: 4096, directIO: alignment)
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress, count: 4096)
    var gen = OffsetGenerator(fileSize: file.size, stream: 1, seed: seed)
    var ops = 0
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    let deadline = t0 + UInt64(seconds * 1e9)
    var now = t0
    while now < deadline {
      for _ in 0..<16 {
        let offset = gen.next()
        let n = try fd.directRead(into: bytes, at: Int64(offset), alignment: alignment)
        guard n == 4096, DirectReadFile.verify(buffer.unsafeBaseAddress, number: offset / 4096) else {
          throw BenchError("pread at \(offset): \(n) bytes, content \(n == 4096 ? "wrong" : "short")")
        }
      }
      ops += 16
      now = monotonicNanoseconds()
    }
    let u = Usage.current() - u0
    return DirectReadSample(
      operations: ops, seconds: Double(now - t0) / 1e9, cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / Double(ops))
  }
}

/// The URing ring with `depth` reads always in flight: registered buffers (`READ_FIXED`)
/// and a registered file; each completion is verified and replaced by a new read.
public struct DirectRingSubject: DirectReadSubject {
  /// Reads kept in flight.
  public let depth: Int
  /// Ring setup flags: by default `COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN` (completions
  /// are run when this thread enters the kernel to wait, never by interrupting it).
  public let flags: IOURing.SetupFlags
  /// Whether each 4 KiB buffer starts `alignment.memory` bytes into a page (the smallest
  /// address the kernel accepts, 512 on ext4), so that it straddles two pages: the id then
  /// ends in `.straddle`. This is what `posix_memalign(512)` gives for larger blocks, and
  /// what `AlignedBuffer(count:directIO:)` did before it aligned to the page size.
  public let straddle: Bool
  /// Whether `flags` are the plain defaults (no flags): the id then ends in `.plain`.
  public var id: String {
    "ring.qd\(depth)" + (flags.isEmpty ? ".plain" : "") + (straddle ? ".straddle" : "") + (submitEach ? ".each" : "")
  }
  public var summary: String {
    "URing IOURing, \(depth) in flight, READ_FIXED into registered buffers, registered file"
      + (flags.isEmpty ? ", no setup flags" : ", COOP_TASKRUN|SINGLE_ISSUER|DEFER_TASKRUN")
      + (submitEach
        ? ", one io_uring_enter per read, then waits for 1 completion (fio's loop)"
        : ", waits for \(Swift.max(1, Swift.min(reapBatch, depth / 4))) completion(s) per enter, replacements submitted together")
      + (straddle ? ", buffers at page + 512 bytes (two pages each)" : ", page-aligned buffers")
  }
  /// Completions to wait for per `io_uring_enter` (at most a quarter of `depth`): the
  /// replacements are then submitted together. 8 measured best of the batched loops here
  /// at QD32 (virtio-blk: ~0.7× fio with 1, ~0.8–0.9× with 8). Ignored with `submitEach`.
  public let reapBatch: Int
  /// Whether each read is submitted by its own `io_uring_enter` as soon as it is prepared,
  /// and each wait is for one completion (all ready ones are then reaped): fio's default
  /// loop (`iodepth_batch_submit=1`, `iodepth_batch_complete_min=1`). The id ends in
  /// `.each`. More system calls, but the device is told about every read at once: on this
  /// machine's virtio-blk disk it beat batched submission (see Docs/DirectIO.md).
  public let submitEach: Bool
  /// Creates the subject.
  public init(
    depth: Int, flags: IOURing.SetupFlags = [.coopTaskrun, .singleIssuer, .deferTaskrun], reapBatch: Int = 8,
    straddle: Bool = false,
    submitEach: Bool = false
  ) {
    self.depth = depth
    self.flags = flags
    self.reapBatch = reapBatch
    self.straddle = straddle
    self.submitEach = submitEach
  }

  public func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    let seed = OffsetGenerator.randomSeed()
    let fd = try openDirect(file)
    defer { try? fd.close() }
    let alignment = try fd.directIOAlignment()
    if straddle && alignment.memory >= 4096 {
      throw BenchError("cannot straddle pages: the direct-I/O memory alignment is \(alignment.memory)")
    }
    var ring = try IOURing(entries: UInt32(max(depth, 8)), flags: flags)
    // One registered buffer the ring owns (it outlives every read, also on a throw); each
    // slot reads into its own 4 KiB of it — shifted by the memory alignment to straddle pages.
    let table = try ring.registerBuffers(count: 1, size: 4096 * depth + 4096, alignment: Swift.max(4096, alignment.memory))[0]
    let base = table.bytes.baseAddress! + (straddle ? alignment.memory : 0)
    let buffers = (0..<depth).map {
      IOURing.RegisteredBuffer(index: table.index, bytes: UnsafeMutableRawBufferPointer(start: base + $0 * 4096, count: 4096))
    }
    let files = try ring.registerFiles([fd])
    var gen = OffsetGenerator(fileSize: file.size, stream: 2, seed: seed)
    var blockOf = [UInt64](repeating: 0, count: depth)
    func start(_ slot: Int, _ ring: inout IOURing) throws {
      let offset = gen.next()
      blockOf[slot] = offset / 4096
      try ring.prepare(
        IOURing.Request.directReadFixed(files[0], into: buffers[slot], at: offset, alignment: alignment, userData: UInt64(slot)))
    }
    var ops = 0
    var inFlight = 0
    var done: [Int] = []
    done.reserveCapacity(depth)
    var bad: String?
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    let deadline = t0 + UInt64(seconds * 1e9)
    for slot in 0..<depth {
      try start(slot, &ring)
      if submitEach { _ = try ring.submit() }
    }
    inFlight = depth
    var now = t0
    let batch = submitEach ? 1 : Swift.max(1, Swift.min(reapBatch, depth / 4))
    while inFlight > 0 {
      _ = try ring.submit(waitingFor: Swift.min(batch, inFlight))
      done.removeAll(keepingCapacity: true)
      _ = ring.forEachCompletion { c in
        let slot = Int(c.userData)
        if case .success(4096) = c.result, DirectReadFile.verify(buffers[slot].bytes.baseAddress!, number: blockOf[slot]) {
          done.append(slot)
        } else {
          done.append(slot)
          if bad == nil { bad = "read of block \(blockOf[slot]) completed with \(c.result)" }
        }
      }
      ops += done.count
      inFlight -= done.count
      now = monotonicNanoseconds()
      if now < deadline && bad == nil {
        for slot in done {
          try start(slot, &ring)
          if submitEach { _ = try ring.submit() }
        }
        inFlight += done.count
      }
    }
    let u = Usage.current() - u0
    if let bad { throw BenchError(bad) }
    return DirectReadSample(
      operations: ops, seconds: Double(now - t0) / 1e9, cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / Double(ops))
  }
}

private final class PoolWorker: @unchecked Sendable {
  // @unchecked: each field is written by its own thread before the join, read after.
  var operations = 0
  var failure: String?
}

/// `threads` threads, each doing O_DIRECT `pread`s one at a time on the shared descriptor.
public struct DirectThreadPoolSubject: DirectReadSubject {
  /// Threads.
  public let threads: Int
  public var id: String { "threads.\(threads)" }
  public var summary: String { "\(threads) threads, each one pread at a time (LinuxIO directRead)" }
  /// Creates the subject.
  public init(threads: Int) { self.threads = threads }

  public func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    let seed = OffsetGenerator.randomSeed()
    let fd = try openDirect(file)
    defer { try? fd.close() }
    let alignment = try fd.directIOAlignment()
    let workers = (0..<threads).map { _ in PoolWorker() }
    let group = DispatchGroup()
    let u0 = Usage.current()
    let t0 = monotonicNanoseconds()
    let deadline = t0 + UInt64(seconds * 1e9)
    let size = file.size
    for (index, worker) in workers.enumerated() {
      group.enter()
      let thread = Thread {
        defer { group.leave() }
        do {
          let buffer = try AlignedBuffer(count: 4096, directIO: alignment)
          let bytes = UnsafeMutableRawBufferPointer(start: buffer.unsafeBaseAddress, count: 4096)
          var gen = OffsetGenerator(fileSize: size, stream: 10 + index, seed: seed)
          while monotonicNanoseconds() < deadline {
            for _ in 0..<8 {
              let offset = gen.next()
              let n = try fd.directRead(into: bytes, at: Int64(offset), alignment: alignment)
              guard n == 4096, DirectReadFile.verify(buffer.unsafeBaseAddress, number: offset / 4096) else {
                worker.failure = "pread at \(offset): \(n) bytes"
                return
              }
            }
            worker.operations += 8
          }
        } catch {
          worker.failure = "\(error)"
        }
      }
      thread.stackSize = 256 << 10
      thread.start()
    }
    group.wait()
    let t1 = monotonicNanoseconds()
    let u = Usage.current() - u0
    if let failure = workers.compactMap(\.failure).first { throw BenchError(failure) }
    let ops = workers.reduce(0) { $0 + $1.operations }
    return DirectReadSample(
      operations: ops, seconds: Double(t1 - t0) / 1e9, cpuMicrosPerRead: Double(u.userMicros + u.systemMicros) / Double(ops))
  }
}

/// The C twin of `DirectRingSubject` (`Benchmarks/c/direct_reads.c`, plain liburing), in a
/// child process: the same loop, setup flags, registered buffers and file, content check
/// and reap batch, so `ring.qdN / c.ring.qdN` is the Swift layers' cost alone (fio's loop
/// and RNG differ too).
public struct CDirectRingSubject: DirectReadSubject {
  /// The `direct_reads` executable (`make bench-tools` builds it into `build/bench`).
  public let executable: String
  /// Reads kept in flight.
  public let depth: Int
  /// Completions to wait for per enter (capped at a quarter of the depth, as in Swift).
  public let reapBatch: Int
  /// Buffers 512 bytes into a page, as `DirectRingSubject.straddle`.
  public let straddle: Bool
  /// One `io_uring_enter` per read, waiting for one completion, as `DirectRingSubject.submitEach`.
  public let submitEach: Bool
  public var id: String { "c.ring.qd\(depth)" + (straddle ? ".straddle" : "") + (submitEach ? ".each" : "") }
  public var summary: String {
    "C liburing twin of ring.qd\(depth)\(submitEach ? ".each" : "") (Benchmarks/c/direct_reads.c), "
      + (submitEach ? "one enter per read, waits for 1" : "reap batch \(Swift.max(1, Swift.min(reapBatch, depth / 4)))")
      + (straddle ? ", buffers at page + 512 bytes" : ", page-aligned buffers")
  }
  /// Creates the subject.
  public init(executable: String, depth: Int, reapBatch: Int, straddle: Bool = false, submitEach: Bool = false) {
    self.executable = executable
    self.depth = depth
    self.reapBatch = reapBatch
    self.straddle = straddle
    self.submitEach = submitEach
  }

  public func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    let errors = NSTemporaryDirectory() + "zc-direct-reads-\(getpid()).err"
    defer { unlink(errors) }
    let child = try ChildProcess(
      executable,
      [file.path, String(seconds), String(depth), submitEach ? "0" : String(reapBatch)] + (straddle ? ["straddle"] : []),
      stdout: .pipe, stderrPath: errors)
    let line = try child.readLine() ?? ""
    let exit = try child.wait()
    guard exit.succeeded else {
      throw BenchError("\(child.commandLine) failed (\(exit.code.map { "exit \($0)" } ?? "signal")): \(child.stderrText())")
    }
    let fields = parseFields(line)
    guard let ops = fields["ops"].flatMap(Int.init), let secs = fields["seconds"].flatMap(Double.init),
      let cpu = fields["cpu_us_per_read"].flatMap(Double.init), ops > 0
    else { throw BenchError("cannot parse \(child.commandLine)'s output: \(line)") }
    return DirectReadSample(operations: ops, seconds: secs, cpuMicrosPerRead: cpu)
  }
}

/// fio 3.x, in a child process: its own IOPS and CPU figures (`--output-format=json`).
/// fio does not verify content; it reads the same file.
public struct FioSubject: DirectReadSubject {
  /// fio's `--ioengine`.
  public let engine: String
  /// `--iodepth`.
  public let depth: Int
  /// `--fixedbufs --registerfiles` (io_uring only).
  public let registered: Bool
  public var id: String { "fio.\(engine).qd\(depth)" + (registered ? ".fixed" : "") }
  public var summary: String {
    "fio --ioengine=\(engine) --direct=1 --rw=randread --bs=4k --iodepth=\(depth)"
      + (registered ? " --fixedbufs --registerfiles" : "")
  }
  /// Creates the subject.
  public init(engine: String, depth: Int, registered: Bool) {
    self.engine = engine
    self.depth = depth
    self.registered = registered
  }

  /// The fio executable on `PATH`, or nil.
  public static var executable: String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
      let candidate = "\(dir)/fio"
      if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
  }

  public func sample(file: DirectReadFile, seconds: Double) async throws -> DirectReadSample {
    guard let fio = Self.executable else { throw BenchError("fio is not installed") }
    var arguments = [
      "--name=directreads", "--filename=\(file.path)", "--size=\(file.size)", "--direct=1", "--rw=randread", "--bs=4k",
      "--ioengine=\(engine)", "--iodepth=\(depth)", "--time_based", "--runtime=\(Int(seconds * 1000))ms",
      "--norandommap", "--randrepeat=0", "--output-format=json", "--thread",
    ]
    if registered { arguments += ["--fixedbufs", "--registerfiles"] }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: fio)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchError("fio exited with \(process.terminationStatus)") }
    guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
      let job = (json["jobs"] as? [[String: Any]])?.first,
      let read = job["read"] as? [String: Any],
      let ios = (read["total_ios"] as? NSNumber)?.intValue,
      let runtimeMs = (read["runtime"] as? NSNumber)?.doubleValue,
      let usr = (job["usr_cpu"] as? NSNumber)?.doubleValue,
      let sys = (job["sys_cpu"] as? NSNumber)?.doubleValue,
      ios > 0
    else { throw BenchError("cannot parse fio's JSON output") }
    let runtime = runtimeMs / 1000
    return DirectReadSample(operations: ios, seconds: runtime, cpuMicrosPerRead: (usr + sys) / 100 * runtime * 1e6 / Double(ios))
  }
}

// MARK: - Running and reporting

/// The results of a `direct-reads` run.
public struct DirectReadResults: Sendable, Codable {
  /// One subject's samples and medians.
  public struct Entry: Sendable, Codable {
    /// The subject's id.
    public var id: String
    /// What it does.
    public var summary: String
    /// One sample per round.
    public var samples: [DirectReadSample]
    /// Median IOPS.
    public var medianIOPS: Double
    /// Smallest and largest IOPS.
    public var minIOPS: Double
    /// Largest IOPS.
    public var maxIOPS: Double
    /// Median CPU µs per read.
    public var medianCPUMicrosPerRead: Double
  }

  /// A goal of issue #5 and whether this run met it.
  public struct Goal: Sendable, Codable {
    /// What is compared.
    public var text: String
    /// The measured ratio.
    public var ratio: Double
    /// The target.
    public var target: Double
    /// Whether ratio >= target.
    public var met: Bool
  }

  /// The file read.
  public var file: String
  /// Its size.
  public var fileSize: Int
  /// Its filesystem's type.
  public var filesystem: String
  /// The direct-I/O alignment reported for it.
  public var alignment: String
  /// Rounds.
  public var rounds: Int
  /// Seconds per sample.
  public var secondsPerSample: Double
  /// When it ran (UTC, ISO 8601).
  public var date: String
  /// Per subject, in the order measured.
  public var entries: [Entry]
  /// The goals.
  public var goals: [Goal]
  /// Remarks (noise, missing subjects).
  public var notes: [String]

  /// Markdown: a table of medians and the goals.
  public var markdown: String {
    var s = "## O_DIRECT random 4 KiB reads\n\n"
    s += "File: `\(file)`, \(fileSize >> 20) MiB on \(filesystem) (direct-I/O alignment: \(alignment)); "
    s += "\(rounds) interleaved rounds of \(String(format: "%.1f", secondsPerSample)) s per subject; \(date).\n\n"
    s += "| subject | IOPS (median) | min–max | CPU µs/read | × pread QD1 | what |\n|---|---:|---:|---:|---:|---|\n"
    let base = entries.first { $0.id == "pread.qd1" }?.medianIOPS
    for e in entries {
      let ratio = base.map { String(format: "%.2f", e.medianIOPS / $0) } ?? "–"
      s += String(
        format: "| %@ | %.0f | %.0f–%.0f | %.2f | %@ | %@ |\n", e.id, e.medianIOPS, e.minIOPS, e.maxIOPS,
        e.medianCPUMicrosPerRead, ratio, e.summary)
    }
    if !goals.isEmpty {
      s += "\n| goal | ratio | target | met |\n|---|---:|---:|---|\n"
      for g in goals { s += String(format: "| %@ | %.2f | %.2f | %@ |\n", g.text, g.ratio, g.target, g.met ? "yes" : "**no**") }
    }
    for note in notes { s += "\n- \(note)" }
    return s + "\n"
  }
}

/// Runs the subjects in interleaved rounds (the order rotates every round) and summarises.
public enum DirectReads {
  /// Runs `subjects` for `rounds` rounds of `seconds` each.
  public static func run(
    file: DirectReadFile, subjects: [any DirectReadSubject], rounds: Int, seconds: Double, log: (String) -> Void
  ) async throws -> DirectReadResults {
    var samples: [String: [DirectReadSample]] = [:]
    var failures: [String: String] = [:]
    for round in 0..<rounds {
      for k in 0..<subjects.count {
        let subject = subjects[(k + round) % subjects.count]
        if failures[subject.id] != nil { continue }
        do {
          let sample = try await subject.sample(file: file, seconds: seconds)
          samples[subject.id, default: []].append(sample)
          log(
            String(
              format: "round %d/%d  %-22@ %9.0f IOPS  %6.2f µs CPU/read", round + 1, rounds, subject.id, sample.iops,
              sample.cpuMicrosPerRead))
        } catch {
          failures[subject.id] = "\(error)"
          log("round \(round + 1)/\(rounds)  \(subject.id): FAILED: \(error)")
        }
      }
    }
    func median(_ v: [Double]) -> Double {
      let s = v.sorted()
      return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    var entries: [DirectReadResults.Entry] = []
    for subject in subjects {
      guard let list = samples[subject.id], !list.isEmpty else { continue }
      let iops = list.map(\.iops)
      entries.append(
        .init(
          id: subject.id, summary: subject.summary, samples: list, medianIOPS: median(iops), minIOPS: iops.min()!,
          maxIOPS: iops.max()!, medianCPUMicrosPerRead: median(list.map(\.cpuMicrosPerRead))))
    }
    func iops(_ id: String) -> Double? { entries.first { $0.id == id }?.medianIOPS }
    var goals: [DirectReadResults.Goal] = []
    /// Appends `numerator / denominator ≥ target` when both subjects ran.
    func goal(_ numerator: String, _ denominator: String, _ target: Double, note: String = "") {
      guard let a = iops(numerator), let b = iops(denominator) else { return }
      goals.append(.init(text: "\(numerator) / \(denominator)\(note)", ratio: a / b, target: target, met: a / b >= target))
    }
    // The issue's goals for the batched loop, then for fio's submission loop (one enter per read).
    for (ring, twin) in [("ring.qd32", "c.ring.qd32"), ("ring.qd32.each", "c.ring.qd32.each")] {
      goal(ring, "pread.qd1", 5)
      goal(ring, "fio.io_uring.qd32.fixed", 0.95)
      goal(ring, twin, 0.95, note: " (its C twin; not an issue goal)")
      let pools = entries.filter { $0.id.hasPrefix("threads.") }
      if let best = pools.max(by: { $0.medianIOPS < $1.medianIOPS }) {
        goal(ring, best.id, 1, note: " (best thread pool)")
      }
    }
    var notes = failures.sorted { $0.key < $1.key }.map { "\($0.key) failed: \($0.value)" }
    notes.append(
      "Swift subjects verify every block read (block number + checksum); fio does not verify. CPU per read is the whole process's user+system time (getrusage), fio's is its own usr_cpu+sys_cpu."
    )
    let fd = try openDirect(file)
    defer { try? fd.close() }
    let alignment = try fd.directIOAlignment()
    let formatter = ISO8601DateFormatter()
    return DirectReadResults(
      file: file.path, fileSize: file.size, filesystem: filesystemType(of: file.path), alignment: "\(alignment)",
      rounds: rounds, secondsPerSample: seconds, date: formatter.string(from: Date()), entries: entries, goals: goals,
      notes: notes)
  }
}
