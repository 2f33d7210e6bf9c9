// One sample's destination: the file, socket or pipe a subject writes to, the receiver
// process behind it, and the checks that decide whether the sample counts.

import Foundation
import Glibc

/// Paths of the C programs the harness runs (built by `make bench` into build/bench/).
public struct Tools: Sendable {
  /// Directory holding xfer_ref, recv_ref, pipe_ref, uring_ops.
  public var directory: String
  /// Creates the tool set.
  public init(directory: String) { self.directory = directory }
  /// Path of one tool.
  public func path(_ name: String) -> String { "\(directory)/\(name)" }
  /// Names of the tools that must exist.
  public static let required = ["xfer_ref", "recv_ref", "pipe_ref", "uring_ops"]
  /// The tools that are missing or not executable.
  public func missing() -> [String] {
    Tools.required.filter { access(path($0), X_OK) != 0 }
  }
}

/// What a receiver process reported for one sample.
public struct ReceiverReport: Sendable, Codable, Hashable {
  /// Bytes it received.
  public var bytes: Int64
  /// zc64 of the stream, or nil for a receiver that never touches the data.
  public var checksum: UInt64?
  /// The receiver's own CPU for the sample.
  public var userMicros: Int64
  /// The receiver's own system CPU for the sample.
  public var systemMicros: Int64
}

/// A destination for one sample (all iterations of one subject).
///
/// Files: an existing file of the transfer's size; before each iteration it is
/// overwritten with the marker and rewound, after it the whole file is checksummed, so
/// no stale byte can pass. Sockets and pipes: a receiver process started for the sample,
/// reached through one connection (TCP) or one pipe for all iterations; it checksums
/// the whole stream (or, for the splice receiver, only counts it).
public final class DestinationSession {
  /// The cell.
  public let cell: Cell
  /// The file path, for file destinations.
  public let path: String?
  private var fd: CInt = -1
  private var receiver: ChildProcess?
  private var port: Int = 0
  private var pipeWriteEnd: CInt = -1
  private let scratch: String

  /// Opens the destination (for files: the file must already exist, filled with the
  /// marker; for sockets/pipes: starts the receiver, on `receiverCPU` alone when given).
  public init(cell: Cell, workspace: Workspace, tools: Tools, receiverCPU: Int? = nil) throws {
    self.cell = cell
    self.scratch = workspace.scratch
    switch cell.destination {
    case .file, .tmpfs:
      let p = workspace.destinationPath(for: cell)
      path = p
      fd = try check(open(p, O_RDWR | O_CLOEXEC), "open \(p)")
    case .devNull:
      path = "/dev/null"
      fd = try check(open("/dev/null", O_WRONLY | O_CLOEXEC), "open /dev/null")
    case .tcpRead, .tcpSplice:
      path = nil
      let mode = cell.destination == .tcpRead ? "read" : "splice"
      let r = try ChildProcess(
        tools.path("recv_ref"), [mode, "0", "1"], stdout: .pipe,
        stderrPath: "\(workspace.scratch)/recv_ref.err")
      guard let line = try r.readLine(), let p = parseFields(line)["port"].flatMap({ Int($0) }) else {
        _ = try? r.wait()
        throw BenchError("recv_ref did not report a port: \(r.stderrText())")
      }
      receiver = r
      port = p
      try Self.pin(r, to: receiverCPU)
    case .pipe:
      path = nil
      var fds: [CInt] = [-1, -1]
      try makePipe(&fds)
      do {
        receiver = try ChildProcess(
          tools.path("pipe_ref"), [], stdin: fds[0], stdout: .pipe,
          stderrPath: "\(workspace.scratch)/pipe_ref.err")
      } catch {
        close(fds[0])
        close(fds[1])
        throw error
      }
      close(fds[0])
      pipeWriteEnd = fds[1]
      fd = fds[1]
      try Self.pin(receiver!, to: receiverCPU)
    }
  }

  /// Moves a receiver that has just started (it waits for a connection or for data) to
  /// `cpu`; a failure ends the sample, as a placement that did not happen must not be
  /// reported as one.
  private static func pin(_ receiver: ChildProcess, to cpu: Int?) throws {
    guard let cpu else { return }
    let rc = Affinity.set(thread: receiver.pid, cpus: [cpu])
    if rc != 0 {
      receiver.kill()
      throw BenchError("sched_setaffinity(receiver \(receiver.pid), CPU \(cpu)): \(String(cString: strerror(rc)))")
    }
  }

  /// The receiver process's id (TCP and pipes), nil for files and /dev/null.
  public var receiverPID: pid_t? { receiver?.pid }

  deinit {
    if fd >= 0 && fd != pipeWriteEnd { close(fd) }
    if pipeWriteEnd >= 0 { close(pipeWriteEnd) }
    receiver?.kill()
  }

  /// The descriptor an in-process subject writes to (connecting to the receiver on first
  /// use for TCP: one connection for all iterations).
  public func descriptor() throws -> CInt {
    if fd >= 0 { return fd }
    precondition(cell.destination.isSocket)
    let s = try check(socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket")
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = in_port_t(UInt16(port).bigEndian)
    sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let rc = withUnsafePointer(to: &sa) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    if rc != 0 {
      let e = errno
      close(s)
      throw BenchError("connect 127.0.0.1:\(port): \(String(cString: strerror(e)))")
    }
    fd = s
    return s
  }

  /// The DEST argument of xfer_ref, and the descriptors it must inherit.
  public func cReferenceDestination() -> (argument: String, inherit: [CInt: CInt]) {
    switch cell.destination {
    case .file, .tmpfs: return ("overwrite:\(path!)", [:])
    case .devNull: return ("file:/dev/null", [:])
    case .tcpRead, .tcpSplice: return ("tcpstream:127.0.0.1:\(port)", [:])
    case .pipe: return ("fd:3", [3: pipeWriteEnd])
    }
  }

  /// Untimed work before each iteration: for files, overwrite every byte with the marker
  /// and rewind the file position.
  public func prepareIteration() throws {
    guard cell.destination.isFile else { return }
    try Workspace.scribble(fd: fd, size: cell.size, path: path!)
    try check(lseek(fd, 0, SEEK_SET), "lseek \(path!)")
  }

  /// Untimed check after each iteration, for files: the whole destination's size and
  /// zc64. Returns nil when it matches, else what was wrong.
  public func verifyIteration(expected: UInt64) throws -> String? {
    guard cell.destination.isFile else { return nil }
    let (size, sum) = try Workspace.checksum(fd: fd, path: path!)
    return DestinationSession.compare(size: size, checksum: sum, expectedSize: cell.size, expected: expected)
  }

  /// nil when size and checksum match, else a sentence.
  public static func compare(size: Int, checksum: UInt64, expectedSize: Int, expected: UInt64) -> String? {
    if size != expectedSize { return "destination holds \(size) bytes, expected \(expectedSize)" }
    if checksum != expected {
      return "destination checksum \(ZC64.hex(checksum)) differs from the source's \(ZC64.hex(expected))"
    }
    return nil
  }

  /// Ends the sample: closes the writing end and, for sockets and pipes, waits for the
  /// receiver's report.
  public func finish() throws -> ReceiverReport? {
    if cell.destination.isSocket || cell.destination == .pipe {
      if fd >= 0 { close(fd) }
      if pipeWriteEnd >= 0 && pipeWriteEnd != fd { close(pipeWriteEnd) }
      fd = -1
      pipeWriteEnd = -1
      guard let r = receiver else { return nil }
      receiver = nil
      let line = try r.readLine()
      let exit = try r.wait()
      guard exit.succeeded, let line else {
        throw BenchError("receiver failed (\(exit.code.map { "exit \($0)" } ?? "signal \(exit.signal ?? 0)")): \(r.stderrText())")
      }
      let f = parseFields(line)
      guard let bytes = f["bytes"].flatMap({ Int64($0) }) else {
        throw BenchError("receiver printed no byte count: \(line)")
      }
      let sum = f["checksum"].flatMap { $0 == "none" ? nil : UInt64($0, radix: 16) }
      return ReceiverReport(
        bytes: bytes, checksum: sum, userMicros: Int64(f["utime_us"] ?? "0") ?? 0,
        systemMicros: Int64(f["stime_us"] ?? "0") ?? 0)
    }
    if fd >= 0 { close(fd) }
    fd = -1
    return nil
  }

  /// Ends a failed sample: kills the receiver, closes everything.
  public func abort() {
    receiver?.kill()
    receiver = nil
    if fd >= 0 && fd != pipeWriteEnd { close(fd) }
    if pipeWriteEnd >= 0 { close(pipeWriteEnd) }
    fd = -1
    pipeWriteEnd = -1
  }
}
