// What the kernel says about this process: its resource limits and the fields of
// /proc/self/status (capabilities, umask) — read without changing anything.

import Glibc
public import SystemPackage

/// This process's limits and status, as the kernel reports them.
public enum CurrentProcess {
  /// The soft `RLIMIT_MEMLOCK` in bytes (how much memory the process may lock, which
  /// io_uring's registered buffers and rings count against unless the process has
  /// `CAP_IPC_LOCK`), or nil when it is unlimited.
  ///
  /// - Throws: `Errno` from `getrlimit(2)` (not expected on Linux).
  ///
  /// The corresponding C call is `getrlimit(RLIMIT_MEMLOCK)`.
  public static func lockedMemoryLimit() throws(Errno) -> Int? {
    var limit = rlimit()
    _ = try valueOrErrno { system_getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) }
    return limit.rlim_cur == rlim_t.max ? nil : Int(clamping: limit.rlim_cur)
  }

  /// The value of field `name` of /proc/self/status (`"Umask"`, `"CapEff"`…), without the
  /// colon and surrounding blanks, or nil when the file cannot be read (no /proc) or has
  /// no such field.
  ///
  /// The corresponding C calls are `openat`, `read` and `close` of /proc/self/status.
  public static func statusField(_ name: String) -> Substring? {
    guard let file = try? FileDescriptor.open("/proc/self/status", .readOnly, options: [.closeOnExec]) else {
      return nil
    }
    defer { try? file.close() }
    var bytes = [UInt8](repeating: 0, count: 8192)
    var filled = 0
    while filled < bytes.count {
      guard
        let n = try? bytes.withUnsafeMutableBytes({ try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
        ),
        n > 0
      else { break }
      filled += n
    }
    let prefix = name + ":"
    let text = String(decoding: bytes[0..<filled], as: UTF8.self)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
    return line.dropFirst(prefix.count).trimmingPrefix(while: { $0 == " " || $0 == "\t" })[...]
  }

  /// The effective capability set (`CapEff` of /proc/self/status, a bit per capability:
  /// bit 14 is `CAP_IPC_LOCK`), or nil when it cannot be read.
  public static func effectiveCapabilities() -> UInt64? {
    statusField("CapEff").flatMap { UInt64($0.filter { !$0.isWhitespace }, radix: 16) }
  }

  /// The file-mode creation mask, read without changing it (`Umask` of /proc/self/status,
  /// Linux 4.7), or nil when it cannot be read (`umask(2)` can only read it by setting it).
  public static func fileCreationMask() -> FilePermissions? {
    statusField("Umask").flatMap { mode_t($0.filter { !$0.isWhitespace }, radix: 8) }.map { FilePermissions(rawValue: $0) }
  }
}
