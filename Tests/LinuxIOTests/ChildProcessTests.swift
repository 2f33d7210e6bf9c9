// Tests that need a process of their own, written as Swift Testing exit tests (the body
// runs in a fresh child process; its issues are reported back here):
//   - RLIMIT_FSIZE is process-wide: lowering it in the test process would make every
//     other test that writes a larger file fail (or die of SIGXFSZ) meanwhile.
//   - The unguarded controls must kill their process.
//   - Descriptor and memory leak checks need a process where nothing else runs.
//   - Preconditions (negative counts, ranges past a mapping) trap.

import Glibc
import LinuxIO
import SystemPackage
import Testing

/// A pipe of 64 KiB (`setCapacityRetrying`); stops the process on a failure.
private func pipeOf64KiB() -> Pipe {
  do {
    let pipe = try Pipe()
    let capacity = try pipe.setCapacityRetrying(65536)
    precondition(capacity == 65536, "pipe capacity \(capacity)")
    return pipe
  } catch {
    preconditionFailure("\(error)")
  }
}

/// Runs `body` on a new thread whose SIGPIPE and SIGXFSZ are unblocked: Swift
/// Concurrency's pool threads block SIGXFSZ, which would hide a missing guard.
private func onThreadWithSignalsUnblocked<R: Sendable>(_ body: @escaping @Sendable () -> R) -> R {
  TestThread { () -> R in
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGPIPE)
    sigaddset(&set, SIGXFSZ)
    precondition(pthread_sigmask(SIG_UNBLOCK, &set, nil) == 0)
    return body()
  }.join()
}

@Suite("In a child process")
struct ChildProcessTests {
  @Test("RLIMIT_FSIZE with SIGXFSZ at its default disposition gives EFBIG, exact progress")
  func fileSizeLimit() async {
    await #expect(processExitsWith: .success) { try ChildProcessTests.fileSizeLimitBody() }
  }

  @Test("no descriptor, mapping or memory leaks across every API, errors included")
  func leaks() async {
    await #expect(processExitsWith: .success) { try ChildProcessTests.leaksBody() }
  }

  @Test("control: an unguarded write past RLIMIT_FSIZE kills the process with SIGXFSZ")
  func unguardedFileSizeControl() async {
    await #expect(processExitsWith: .signal(SIGXFSZ)) { try ChildProcessTests.unguardedBody(fileSizeLimit: true) }
  }

  @Test("control: an unguarded write to a closed socket kills the process with SIGPIPE")
  func unguardedBrokenPipeControl() async {
    await #expect(processExitsWith: .signal(SIGPIPE)) { try ChildProcessTests.unguardedBody(fileSizeLimit: false) }
  }

  @Test("programmer errors are preconditions")
  func preconditions() async throws {
    await #expect(processExitsWith: .failure) { _ = TransferCount.bytes(-1) }
    await #expect(processExitsWith: .failure) {
      let file = try temporaryFile(pattern(10))
      _ = try file.sendfile(to: file, count: -1)
    }
    await #expect(processExitsWith: .failure) {
      let file = try temporaryFile(pattern(10))
      _ = try file.copyFileRangeAll(to: file, sourceOffset: -1, count: 10)
    }
    await #expect(processExitsWith: .failure) {
      let file = try temporaryFile(pattern(10))
      let region = try MappedRegion(file: file, range: 0..<10)
      _ = try region.read(5..<11)
    }
    await #expect(processExitsWith: .failure) {
      let file = try temporaryFile(pattern(10))
      var region = try MappedRegion(file: file, range: 0..<10)
      region.withUnsafeMutableBytes { $0[0] = 1 }  // mapped read-only
    }
    await #expect(processExitsWith: .failure) { _ = try AlignedBuffer(count: 10, alignment: 24) }
    await #expect(processExitsWith: .failure) { _ = try Pipe().setCapacity(-1) }
  }

  // MARK: Child bodies

  static func unguardedBody(fileSizeLimit: Bool) throws {
    let destination: FileDescriptor
    if fileSizeLimit {
      destination = try temporaryFile()
      var limit = rlimit(rlim_cur: 4096, rlim_max: rlim_t.max)  // RLIM_INFINITY
      #expect(setrlimit(RLIMIT_FSIZE_CONSTANT, &limit) == 0)
    } else {
      let (sender, receiver) = try socketPair()
      try receiver.close()
      destination = sender
    }
    let data = pattern(8192)
    // A plain pwrite(2)/write(2), no guard, on a thread with both signals unblocked: the
    // kernel's signal terminates the process here. (A write that starts below the limit is
    // only shortened; the signal comes with a write that starts at or past it.)
    _ = onThreadWithSignalsUnblocked { () -> Int in
      data.withUnsafeBytes {
        fileSizeLimit
          ? pwrite(destination.rawValue, $0.baseAddress, $0.count, 4096)
          : write(destination.rawValue, $0.baseAddress, $0.count)
      }
    }
  }

  static func fileSizeLimitBody() throws {
    #expect(signalHandlerIsDefault(SIGXFSZ))
    #expect(signalHandlerIsDefault(SIGPIPE))
    let limit = 1 << 20
    let size = 2 << 20
    let data = pattern(size, seed: 61)
    // Sources are created before the limit is lowered.
    let source = try temporaryFile(data)
    let shmSource = try temporaryFile(data, in: memoryDirectory)
    let region = try MappedRegion(file: source, range: 0..<Int64(size))

    var old = rlimit()
    #expect(getrlimit(RLIMIT_FSIZE_CONSTANT, &old) == 0)
    var lowered = old
    lowered.rlim_cur = rlim_t(limit)
    #expect(setrlimit(RLIMIT_FSIZE_CONSTANT, &lowered) == 0)
    defer { _ = setrlimit(RLIMIT_FSIZE_CONSTANT, &old) }

    let expected = TransferFailure(errno: .fileTooLarge, progress: .init(bytes: Int64(limit), syscalls: 2))
    let results: [String: TransferFailure?] = onThreadWithSignalsUnblocked {
      var results: [String: TransferFailure?] = [:]
      func attempt(
        _ name: String, in directory: String = diskDirectory, _ run: (FileDescriptor) throws(TransferFailure) -> TransferResult
      ) {
        do {
          let destination = try temporaryFile(in: directory)
          defer { try? destination.close() }
          do throws(TransferFailure) {
            _ = try run(destination)
            results[name] = .some(nil)
          } catch {
            results[name] = error
          }
          precondition(!isPending(SIGXFSZ), "\(name) left SIGXFSZ pending")
        } catch {
          preconditionFailure("\(error)")
        }
      }
      attempt("sendfileAll") { d throws(TransferFailure) in try source.sendfileAll(to: d, sourceOffset: 0, count: .bytes(size)) }
      // spliceAll's pipe, of a set 64 KiB: its own temporary pipe holds whatever a new
      // pipe holds (one page for an unprivileged user past fs.pipe-user-pages-soft), and
      // the counts checked below depend on it.
      let splicePipe = pipeOf64KiB()
      attempt("spliceAll") { d throws(TransferFailure) in
        try source.spliceAll(to: d, sourceOffset: 0, destinationOffset: 0, count: .bytes(size), through: splicePipe)
      }
      precondition((try? splicePipe.readableBytes) == 0, "spliceAll left bytes in its pipe")
      attempt("copyFileRangeAll", in: memoryDirectory) { d throws(TransferFailure) in
        try shmSource.copyFileRangeAll(to: d, sourceOffset: 0, destinationOffset: 0, count: .bytes(size))
      }
      attempt("writeAll") { d throws(TransferFailure) in
        try region.withUnsafeBytes { bytes throws(TransferFailure) in try d.writeAll(bytes, at: 0) }
      }
      attempt("writeAll(fromMapping:)") { d throws(TransferFailure) in try region.write(to: d, at: 0) }
      attempt("readWriteCopy") { d throws(TransferFailure) in
        do {
          var scratch = try AlignedBuffer(count: limit)
          return try scratch.withUnsafeMutableBytes { buffer throws(TransferFailure) in
            try source.readWriteCopy(to: d, sourceOffset: 0, count: .bytes(size), buffer: buffer)
          }
        } catch let error as TransferFailure { throw error } catch { preconditionFailure("\(error)") }
      }
      // A single call inside withSignalGuard, starting at the limit.
      do {
        let destination = try temporaryFile()
        defer { try? destination.close() }
        _ = try withSignalGuard { () throws(Errno) in
          try source.sendfile(to: destination, sourceOffset: 0, count: limit)  // fits exactly
        }
        _ = try withSignalGuard { () throws(Errno) in
          try source.sendfile(to: destination, sourceOffset: 0, count: 1)  // one past the limit
        }
        results["sendfile"] = .some(nil)
      } catch let error as Errno {
        results["sendfile"] = TransferFailure(errno: error, progress: .init())
      } catch {
        preconditionFailure("\(error)")
      }
      precondition(!isPending(SIGXFSZ))
      return results
    }
    for name in ["sendfileAll", "copyFileRangeAll", "writeAll", "writeAll(fromMapping:)"] {
      #expect(results[name] == .some(expected), "\(name)")
    }
    // spliceAll through its 64 KiB pipe: 16 × (pull + push) reach the limit, a 17th pull
    // fills the pipe, its push fails, and the 64 KiB are drained in four 16 KiB reads: 38
    // syscalls, 65536 bytes discarded (and the pipe is empty again).
    #expect(
      results["spliceAll"]
        == .some(
          TransferFailure(
            errno: .fileTooLarge, progress: .init(bytes: Int64(limit), syscalls: 38, discarded: 65536))))
    // readWriteCopy: one 1 MiB read, then a write that stops at the limit, then a 2nd
    // read and a write that fails; the 2nd read's bytes are dropped (discarded).
    #expect(
      results["readWriteCopy"]
        == .some(
          TransferFailure(
            errno: .fileTooLarge, progress: .init(bytes: Int64(limit), syscalls: 4, discarded: Int64(limit)))))
    #expect(results["sendfile"] == .some(TransferFailure(errno: .fileTooLarge, progress: .init())))
    try source.close()
    try shmSource.close()
  }

  static func leaksBody() throws {
    func openDescriptors() throws -> [String] {
      let dir = try #require(opendir("/proc/self/fd"))
      defer { closedir(dir) }
      var names: [String] = []
      while let entry = readdir(dir) {
        // In place: copying the whole d_name tuple reads past a short dirent record.
        let name = withUnsafePointer(to: &entry.pointee.d_name) {
          String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if !name.hasPrefix(".") { names.append(name) }
      }
      return names.sorted()
    }
    func residentKiB() throws -> Int {
      let status = try FileDescriptor.open("/proc/self/status", .readOnly, options: .closeOnExec)
      defer { try? status.close() }
      let line = String(decoding: try drain(status), as: UTF8.self).split(separator: "\n")
        .first { $0.hasPrefix("VmRSS:") }
      return Int(try #require(line).split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    // File-backed mappings only (inode ≠ 0): a leaked MappedRegion is one of them, while
    // anonymous ones come and go with malloc's arenas and heaps (how glibc splits them into
    // /proc/self/maps lines varies between runs of a release build); anonymous memory is
    // covered by the resident-size check.
    func mappingCount() throws -> Int {
      let maps = try FileDescriptor.open("/proc/self/maps", .readOnly, options: .closeOnExec)
      defer { try? maps.close() }
      return String(decoding: try drain(maps), as: UTF8.self).split(separator: "\n").count { line in
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        return fields.count > 4 && fields[4] != "0"
      }
    }

    let data = pattern(300_000, seed: 71)
    func exercise() throws {
      let source = try temporaryFile(data)
      defer { try? source.close() }
      let destination = try temporaryFile()
      defer { try? destination.close() }
      // Pipes: deinit, close(), release + adopt.
      do { let p = try Pipe(nonBlocking: true); _ = try p.setCapacityRetrying(1 << 20) }
      try Pipe().close()
      let (r, w) = try Pipe().releaseDescriptors()
      try Pipe(takingOwnershipOf: r, w).close()
      _ = try Pipe.maximumCapacity
      // Transfers, including spliceAll's temporary pipe, on success and on failure.
      _ = try source.sendfileAll(to: destination, sourceOffset: 0, count: .untilEndOfFile)
      _ = try source.spliceAll(to: destination, sourceOffset: 0, destinationOffset: 0, count: .untilEndOfFile)
      let (sender, receiver) = try socketPair()
      try receiver.close()
      #expect(throws: TransferFailure.self) { try source.spliceAll(to: sender, sourceOffset: 0, count: 100_000) }
      try sender.close()
      #expect(throws: TransferFailure.self) {
        try source.spliceAll(to: FileDescriptor(rawValue: -1), sourceOffset: 0, count: 10)
      }
      // Mappings: deinit, unmap(), truncated access.
      do {
        let region = try MappedRegion(file: source, range: 5..<200_000)
        _ = try region.read(0..<1000)
      }
      try MappedRegion(file: source, range: 0..<4096).unmap()
      // Aligned memory.
      for _ in 0..<8 { _ = try AlignedBuffer(count: 1 << 20) }
    }

    try exercise()  // warm up: lazy runtime and library state is allocated once
    let descriptorsBefore = try openDescriptors()
    let mappingsBefore = try mappingCount()
    let residentBefore = try residentKiB()
    for _ in 0..<50 { try exercise() }
    let residentAfter = try residentKiB()
    // A descriptor another thread of the runtime holds for a moment (a sanitizer reading
    // /proc/self/maps, the exit-test machinery) is not a leak: a leaked one stays. Wait up
    // to 2 s for the set to settle, then name what differs.
    var descriptorsAfter = try openDescriptors()
    for _ in 0..<20 where descriptorsAfter != descriptorsBefore {
      usleep(100_000)
      descriptorsAfter = try openDescriptors()
    }
    func described(_ names: [String]) -> [String] {
      names.map { name in
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
        return n > 0 ? "\(name) → \(String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))" : name
      }
    }
    #expect(
      descriptorsAfter == descriptorsBefore,
      "opened and kept: \(described(descriptorsAfter.filter { !descriptorsBefore.contains($0) })); closed: \(descriptorsBefore.filter { !descriptorsAfter.contains($0) })"
    )
    // Under AddressSanitizer freed memory sits in a quarantine, and both it and
    // ThreadSanitizer map shadow pages as they go, so mappings and resident size are not
    // the program's own: only descriptors are checked there (make sanitize).
    if underSanitizer { return }
    #expect(try mappingCount() == mappingsBefore)
    // 50 rounds allocate (and zero) 400 MiB of aligned memory and map 10 MiB: if any of
    // it stayed, the resident size would grow by that much.
    #expect(residentAfter - residentBefore < 16 << 10, "resident KiB before \(residentBefore), after \(residentAfter)")
  }
}

/// RLIMIT_FSIZE (an enum case in Glibc's Swift import).
private let RLIMIT_FSIZE_CONSTANT = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
