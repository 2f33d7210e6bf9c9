// One in-process transfer between two marker syscalls: `close(-4242)` before and
// `close(-4243)` after (both fail with EBADF and show up in strace), so a test can count
// the data-path syscalls strace saw between them and compare with the library's count.

import Glibc

/// Runs one transfer for the strace cross-check.
public enum SyscallProbeRunner {
  /// The marker descriptors.
  public static let markers: (CInt, CInt) = (-4242, -4243)

  /// Copies `source` once with `subject` into a marker-filled file of the same size in a
  /// temporary workspace, between the markers; returns the syscall count the subject
  /// reported (-1 when it does not count).
  public static func run(_ subject: any Subject, source path: String) async throws -> Int64 {
    var st = stat()
    try check(stat(path, &st), "stat \(path)")
    let size = Int(st.st_size)
    let (_, sum) = try Workspace.checksum(path: path)
    let workspace = try Workspace(tmpfsBytes: Int.max / 2)
    defer { workspace.remove() }
    let cell = Cell(.file, size)
    try workspace.createDestination(workspace.destinationPath(for: cell), size: size)
    let session = try DestinationSession(cell: cell, workspace: workspace, tools: Tools(directory: "/nonexistent"))
    let run = SampleRun(
      cell: cell, source: SourceFile(path: path, size: size, checksum: sum), session: session, iterations: 1,
      warmup: 0, cold: false, tools: Tools(directory: "/nonexistent"), workspace: workspace)
    MarkerHook.enabled = true
    defer { MarkerHook.enabled = false }
    let m = try await subject.measure(run)
    _ = try session.finish()
    guard m.failures.isEmpty else { throw BenchError(m.failures.joined(separator: "; ")) }
    return m.syscalls ?? -1
  }
}

/// When enabled, the in-process harness brackets each timed transfer (outside its clock
/// and getrusage calls) with the markers.
enum MarkerHook {
  nonisolated(unsafe) static var enabled = false
  @inline(__always) static func before() { if enabled { close(SyscallProbeRunner.markers.0) } }
  @inline(__always) static func after() { if enabled { close(SyscallProbeRunner.markers.1) } }
}
