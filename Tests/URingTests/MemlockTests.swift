// Registered buffers count against RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK:
// beyond the limit, io_uring_register fails with ENOMEM. Root has CAP_IPC_LOCK, so this
// runs only unprivileged (`make test-unprivileged` runs the suites as uid 65534 with
// `ulimit -l 64`); as root it is skipped with that reason.

import Glibc
import SystemPackage
import Testing
import URing

/// Memlock facts for this process.
enum Memlock {
  /// Whether CAP_IPC_LOCK is in the effective set (`CapEff` in /proc/self/status, bit 14):
  /// then RLIMIT_MEMLOCK does not apply.
  static let hasIPCLock: Bool = {
    guard let fd = try? FileDescriptor.open("/proc/self/status", .readOnly) else { return true }
    defer { try? fd.close() }
    var buf = [UInt8](repeating: 0, count: 8192)
    guard let n = try? buf.withUnsafeMutableBytes({ try fd.read(into: $0) }), n > 0 else { return true }
    let text = String(decoding: buf[0..<n], as: UTF8.self)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
      let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(), radix: 16)
    else { return true }
    return mask & (1 << 14) != 0
  }()

  /// The soft RLIMIT_MEMLOCK in bytes, or nil when unlimited.
  static var limit: Int? {
    var rl = rlimit()
    guard getrlimit(RLIMIT_MEMLOCK_ID, &rl) == 0, rl.rlim_cur != rlim_t.max else { return nil }
    return Int(rl.rlim_cur)
  }

  /// Why the memlock tests cannot run here, or nil when they can.
  static var skipReason: String? {
    if hasIPCLock {
      return "this process has CAP_IPC_LOCK (root), which ignores RLIMIT_MEMLOCK: run unprivileged (make test-unprivileged)"
    }
    guard let limit else { return "RLIMIT_MEMLOCK is unlimited" }
    if limit > 64 << 20 { return "RLIMIT_MEMLOCK is \(limit) bytes; the test wants at most 64 MiB" }
    return nil
  }
}

private let RLIMIT_MEMLOCK_ID = __rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue)

extension Substring {
  fileprivate func trimmingCharacters() -> String {
    String(drop(while: { $0 == " " || $0 == "\t" }).prefix(while: { $0 != " " && $0 != "\t" }))
  }
}

@Suite("URing registration beyond RLIMIT_MEMLOCK", .requiresIOURing)
struct MemlockTests {
  @Test(.enabled(if: Memlock.skipReason == nil, Comment(rawValue: Memlock.skipReason ?? "")))
  func registeringMoreThanTheLimitFailsWithENOMEM() async throws {
    let limit = try #require(Memlock.limit)
    let size = (limit + 4095) / 4096 * 4096 + 4096
    let region = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
    defer { region.deallocate() }
    var ring = try makeRing(entries: 4)
    let error = #expect(throws: Errno.self) { _ = try ring.unsafeRegisterBuffers([region]) }
    #expect(error == .noMemory)

    // A page within the limit registers. Other tests of this user (suites side by side,
    // several processes in make test-unprivileged) may hold pinned pages for a while,
    // and they count against the same limit: ENOMEM from the registration, or from the
    // ring's own setup, is retried for up to 6 s before calling it a failure (it was
    // 20 × 50 ms, and a refused ring setup failed the test at once).
    let page = UnsafeMutableRawBufferPointer(rebasing: region[0..<4096])
    let deadline = ContinuousClock.now + .seconds(6)
    var registered = false
    var refusals: [String] = []
    while !registered {
      let refusal: String
      do {
        var small = try IOURing(entries: 4)
        let buffers = try small.unsafeRegisterBuffers([page])
        #expect(buffers.count == 1)
        registered = true
        break
      } catch let error as IOURing.SetupError where error.errno == .noMemory {
        refusal = "io_uring_setup: \(error.errno)"
      } catch let error as Errno where error == .noMemory {
        refusal = "io_uring_register: \(error)"
      }
      if refusals.last != refusal { refusals.append(refusal) }
      if ContinuousClock.now >= deadline { break }
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(
      registered, "one 4 KiB buffer could not be registered under a \(limit)-byte RLIMIT_MEMLOCK for 6 s: \(refusals)")
  }
}
