// `zerocopy-bench syscalls`: the exact system calls of one 4 KiB transfer per route,
// strategy and API (`Transfer.runBlocking`, `PreparedTransfer.runBlocking` and the async
// `Transfer.run`), as strace -f
// sees them between two marker syscalls, written as Markdown (`make syscalls-4k`).
// Docs/Performance.md keeps the committed listing and says how to regenerate it.

import ArgumentParser
import BenchKit
import Foundation
import Glibc
import SystemPackage
import ZeroCopy

struct SyscallsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "syscalls",
    abstract: "List the system calls of one transfer per route, strategy and API, traced with strace -f.",
    discussion: """
      Each transfer is first run once untimed (warm-up: pipes pooled, worker threads \
      started), then once between two marker syscalls (close of a negative descriptor) \
      under strace -f. For Transfer.runBlocking the calling thread's calls are listed; for \
      Transfer.run every thread's (a call on another thread than the caller is marked ↪). \
      Pipe and socket destinations are drained after each transfer, outside the markers.
      """)

  @Option(help: "Transfer size.") var size: String = "4k"
  @Option(help: "Write the Markdown here (default: standard output).") var markdown: String?
  @Option(help: "Only these strategies (comma-separated).") var only: String?
  @OptionGroup var locations: Locations

  mutating func run() async throws {
    guard let strace = StraceCheck.strace() else {
      throw BenchError("strace is not installed (apt-get install strace)")
    }
    guard let bytes = parseSize(size), bytes > 0 else { throw ValidationError("bad size \(size)") }
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    guard n > 0 else { throw BenchError("readlink /proc/self/exe failed") }
    let me = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let scratch = NSTemporaryDirectory() + "/zc-syscalls-\(getpid())"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let trace = scratch + "/strace.txt", log = scratch + "/probe.txt"
    var args = ["-f", "-qq", "-o", trace, me, "_syscalls-trace", "--size", String(bytes), "--scratch", scratch]
    if let only { args += ["--only", only] }
    let child = try ChildProcess(strace, args, stdout: .file(log), stderrPath: scratch + "/strace.err")
    let exit = try child.wait()
    let printed = (try? readSmallFile(log)) ?? ""
    guard exit.succeeded else { throw BenchError("the traced probe failed: \(child.stderrText()) \(printed)") }
    let text = SyscallListing.markdown(
      probe: printed, trace: try readSmallFile(trace), size: bytes, commit: gitCommit(in: locations.repo))
    if let markdown {
      try text.write(toFile: markdown, atomically: true, encoding: .utf8)
      print("syscalls: \(markdown)")
    } else {
      print(text, terminator: "")
    }
  }
}

/// Hidden: the traced process. Prints one line per transfer:
/// `k=<n> route=<r> strategy=<s> api=<a> status=<ok|unsupported|refused> [reason=<the rest of the line>]`.
struct SyscallsTraceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_syscalls-trace", abstract: "Transfers between marker syscalls (for strace).", shouldDisplay: false)

  @Option var size: Int
  @Option var scratch: String
  @Option var only: String?

  mutating func run() async throws {
    let source = scratch + "/source"
    let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    try Data(data).write(to: URL(fileURLWithPath: source))
    let src = try FileDescriptor.open(FilePath(source), .readOnly, options: [.closeOnExec])
    defer { try? src.close() }
    let wanted = only.map { Set($0.split(separator: ",").map(String.init)) }
    let strategies = TransferStrategies.all.filter { wanted?.contains($0.name) ?? ($0.name != "corrupting") }
    var k = 0
    for route in SyscallListing.Route.allCases {
      guard let sink = try SyscallListing.Sink(route, scratch: scratch, size: size) else {
        print("k=-1 route=\(route.rawValue) strategy=- api=- status=unsupported reason=no such destination here")
        continue
      }
      defer { sink.close() }
      let pair = EndpointPair(source: try TransferEndpoint.inspect(src), destination: try TransferEndpoint.inspect(sink.fd))
      for strategy in strategies {
        for api in ["runBlocking", "prepared", "run"] {
          defer { k += 1 }
          let head = "k=\(k) route=\(route.rawValue) strategy=\(strategy.name) api=\(api)"
          if case .unsupported(let reason) = strategy.support(for: pair) {
            print("\(head) status=unsupported reason=\(reason)")
            continue
          }
          let request = TransferRequest(from: src, offset: 0, count: Int64(size), to: sink.fd, at: sink.isFile ? 0 : nil)
          let prepared = PreparedTransfer(pair)
          func once() async throws(ZeroCopyError) -> TransferReport {
            switch api {
            case "run": return try await Transfer.run(request, strategy: strategy)
            case "prepared":
              return try prepared.runBlocking(offset: 0, count: Int64(size), at: sink.isFile ? 0 : nil, strategy: strategy)
            default: return try Transfer.runBlocking(request, strategy: strategy)
            }
          }
          do {
            let warm = try await once()
            sink.drain()
            guard warm.fallbacks.isEmpty else {
              print("\(head) status=refused reason=fell back to \(warm.strategy)")
              continue
            }
            // Quiet gaps around the traced transfer: strace logs each thread's calls as it
            // handles them, so calls of threads still busy could land on the wrong side of
            // a marker.
            usleep(20_000)
            close(-100_000 - 2 * CInt(k))
            let report = try await once()
            close(-100_001 - 2 * CInt(k))
            usleep(20_000)
            sink.drain()
            print("\(head) status=ok bytes=\(report.bytes) counted=\(report.syscalls)")
          } catch {
            print("\(head) status=refused reason=\(error.errno.symbolicName)")
          }
        }
      }
    }
  }
}

/// The routes, their destinations, and the listing's Markdown.
enum SyscallListing {
  enum Route: String, CaseIterable {
    case file, tmpfs, tcp, pipe
    var title: String {
      switch self {
      case .file: return "file → file, same filesystem (the temporary directory)"
      case .tmpfs: return "file → file on tmpfs (/dev/shm), another filesystem"
      case .tcp: return "file → TCP loopback socket"
      case .pipe: return "file → pipe"
      }
    }
  }

  /// A destination that holds one transfer without a reader; drained after it.
  final class Sink {
    let fd: FileDescriptor
    let isFile: Bool
    private let other: CInt
    private let path: String?

    init?(_ route: Route, scratch: String, size: Int) throws {
      switch route {
      case .file, .tmpfs:
        let dir = route == .file ? scratch : "/dev/shm"
        guard access(dir, W_OK) == 0 else { return nil }
        let p = dir + "/zc-syscalls-dest-\(getpid())"
        fd = try FileDescriptor.open(
          FilePath(p), .readWrite, options: [.create, .truncate, .closeOnExec], permissions: .ownerReadWrite)
        _ = try fd.writeAll(toAbsoluteOffset: 0, [UInt8](repeating: 0xA5, count: size))
        isFile = true
        other = -1
        path = p
      case .pipe:
        var fds: [CInt] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        fd = FileDescriptor(rawValue: fds[1])
        other = fds[0]
        isFile = false
        path = nil
        _ = fcntl(other, F_SETFL, O_NONBLOCK)
      case .tcp:
        let sockets = try? TCPPair.make()
        guard let sockets else { return nil }
        fd = FileDescriptor(rawValue: sockets.0)
        other = sockets.1
        isFile = false
        path = nil
        _ = fcntl(other, F_SETFL, O_NONBLOCK)
      }
    }

    /// Reads what arrived (pipes and sockets), outside the markers.
    func drain() {
      guard other >= 0 else { return }
      var buffer = [UInt8](repeating: 0, count: 1 << 16)
      while buffer.withUnsafeMutableBytes({ read(other, $0.baseAddress, $0.count) }) > 0 {}
    }

    func close() {
      try? fd.close()
      if other >= 0 { _ = Glibc.close(other) }
      if let path { unlink(path) }
    }
  }

  enum TCPPair {
    static func make() throws -> (CInt, CInt) {
      let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      guard listener >= 0 else { throw BenchError("socket failed") }
      defer { close(listener) }
      var sa = sockaddr_in()
      sa.sin_family = sa_family_t(AF_INET)
      sa.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
      var len = socklen_t(MemoryLayout<sockaddr_in>.size)
      let ok = withUnsafeMutablePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(listener, $0, len) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &len) == 0
        }
      }
      guard ok else { throw BenchError("bind/listen failed") }
      let port = Int(UInt16(bigEndian: sa.sin_port))
      let client = try connectLoopback(port: port, count: 1)[0]
      let server = accept(listener, nil, nil)
      guard server >= 0 else {
        close(client)
        throw BenchError("accept failed")
      }
      return (client, server)
    }
  }

  /// One traced transfer's calls: (name, on the marker's thread).
  static func calls(in trace: String) -> [Int: [(String, Bool)]] {
    var result: [Int: [(String, Bool)]] = [:]
    var current: Int? = nil
    var markerThread: Substring? = nil
    for raw in trace.split(separator: "\n") {
      let (thread, line) = StraceCheck.splitThread(Substring(raw))
      // A marker: "close(-100000) = -1 EBADF", or "close(-100000 <unfinished ...>" when
      // another thread's call interleaved.
      if line.hasPrefix("close(-"),
        let value = Int(line.dropFirst(6).prefix { $0 == "-" || $0.isNumber }), value <= -100_000
      {
        let k = (-value - 100_000) / 2
        if (-value - 100_000) % 2 == 0 {
          current = k
          markerThread = thread
          result[k] = []
        } else {
          current = nil
        }
        continue
      }
      guard let k = current else { continue }
      guard !line.hasPrefix("<..."), !line.hasPrefix("+++"), !line.hasPrefix("---") else { continue }
      guard let paren = line.firstIndex(of: "(") else { continue }
      let name = String(line[..<paren])
      guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
      result[k, default: []].append((name, thread == markerThread))
    }
    return result
  }

  /// "newfstatat·fcntl·…·pwrite64×2", other threads' calls marked ↪.
  static func render(_ calls: [(String, Bool)]) -> String {
    var parts: [String] = []
    var last: String? = nil
    var count = 0
    func flush() {
      if let last { parts.append(count > 1 ? "\(last)×\(count)" : last) }
    }
    for (name, mine) in calls {
      let label = mine ? name : "↪" + name
      if label == last {
        count += 1
      } else {
        flush()
        last = label
        count = 1
      }
    }
    flush()
    return parts.joined(separator: " ")
  }

  static func markdown(probe: String, trace: String, size: Int, commit: String) -> String {
    let traced = calls(in: trace)
    var uname = utsname()
    _ = Glibc.uname(&uname)
    let release = withUnsafeBytes(of: uname.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    var out = "# System calls of one \(formatSize(size)) transfer\n\n"
    out += "Generated by `make syscalls-4k` (`zerocopy-bench syscalls --size \(size)`) at commit `\(commit)`, "
    out += "Linux \(release), \(ISO8601DateFormatter().string(from: Date())). Each transfer ran once untimed, then once "
    out += "between two marker syscalls under `strace -f`, from offset 0 with an explicit count (and offset 0 into files), "
    out += "default `TransferOptions`. `runBlocking`: the calling thread's calls. `prepared`: the same through a "
    out += "`PreparedTransfer` made before (endpoints inspected once). `run` (async): every thread's, in the "
    out += "order strace logged them; ↪ marks a call on another thread than the caller's (the hop to a worker thread "
    out += "and back). ×N: N calls in a row. The total counts every call listed.\n"
    var byRoute: [String: [String]] = [:]
    var order: [String] = []
    for line in probe.split(separator: "\n") {
      let f = parseFields(String(line))
      guard let route = f["route"], let k = f["k"].flatMap({ Int($0) }) else { continue }
      if byRoute[route] == nil { order.append(route) }
      let strategy = f["strategy"] ?? "?", api = f["api"] ?? "?"
      var row: String
      switch f["status"] ?? "?" {
      case "ok":
        let calls = traced[k] ?? []
        row = "| \(strategy) | `\(api)` | \(calls.count) | \(render(calls)) |"
      default:
        guard k >= 0 else {
          byRoute[route, default: []].append("| – | – | – | not run: no such destination here |")
          continue
        }
        let reason = line.range(of: "reason=").map { String(line[$0.upperBound...]) } ?? ""
        row = "| \(strategy) | `\(api)` | – | \(f["status"] ?? "?"): \(reason) |"
      }
      byRoute[route, default: []].append(row)
    }
    for route in order {
      let title = Route(rawValue: route)?.title ?? route
      out += "\n## \(title)\n\n| strategy | API | calls | system calls, in order |\n|---|---|---:|---|\n"
      out += byRoute[route, default: []].joined(separator: "\n") + "\n"
    }
    return out
  }
}
