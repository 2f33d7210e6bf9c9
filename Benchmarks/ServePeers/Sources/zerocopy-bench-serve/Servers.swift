// The servers under test: started on loopback ports, watched through /proc, stopped.

import Foundation

/// One server under test.
struct ServerSpec: Codable, Hashable, Sendable {
  /// The name in the report (`zc-sendfile`, `nginx-sendfile-on`, `hummingbird`).
  var name: String
  /// What it is, for the report.
  var summary: String
}

/// A running server.
final class RunningServer {
  let spec: ServerSpec
  let port: Int
  let process: Process
  /// Where its configuration and logs live (nginx).
  let workDirectory: String?

  init(spec: ServerSpec, port: Int, process: Process, workDirectory: String? = nil) {
    self.spec = spec
    self.port = port
    self.process = process
    self.workDirectory = workDirectory
  }

  /// User + system CPU seconds of the server's processes (nginx: the master and its
  /// workers), from /proc/PID/stat's utime and stime.
  func cpuSeconds() -> Double {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    var pids = [process.processIdentifier]
    pids += childProcesses(of: process.processIdentifier)
    return pids.reduce(0) { $0 + processTicks($1) } / ticks
  }

  func stop() {
    if process.isRunning {
      process.terminate()
      let deadline = Date().addingTimeInterval(10)
      while process.isRunning && Date() < deadline { usleep(20_000) }
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
    process.waitUntilExit()
  }
}

/// utime + stime of one process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
func processTicks(_ pid: Int32) -> Double {
  guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = text.lastIndex(of: ")")
  else { return 0 }
  let fields = text[text.index(after: close)...].split(separator: " ")
  // After "pid (comm)": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
  return u + s
}

/// The processes whose parent is `pid`.
func childProcesses(of pid: Int32) -> [Int32] {
  guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
  return entries.compactMap { Int32($0) }.filter { child in
    guard let text = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return false }
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 1 && Int32(fields[1]) == pid
  }
}

/// 127.0.0.1:`port`.
func loopback(_ port: Int) -> sockaddr_in {
  var addr = sockaddr_in()
  addr.sin_family = sa_family_t(AF_INET)
  addr.sin_port = UInt16(port).bigEndian
  addr.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
  return addr
}

/// Connects `fd` to 127.0.0.1:`port`; whether it worked.
func connectLoopback(_ fd: Int32, _ port: Int) -> Bool {
  var addr = loopback(port)
  return withUnsafePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
  }
}

/// A free loopback port (bound and released: the server takes it right after).
func freePort() -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var addr = loopback(0)
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafeMutablePointer(to: &addr) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
  }
  return Int(UInt16(bigEndian: addr.sin_port))
}

/// Waits until something accepts connections on `port`.
func waitForPort(_ port: Int, timeout: TimeInterval = 30) -> Bool {
  let deadline = Date().addingTimeInterval(timeout)
  while Date() < deadline {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    let ok = connectLoopback(fd, port)
    close(fd)
    if ok { return true }
    usleep(50_000)
  }
  return false
}

func launch(_ executable: String, _ arguments: [String], log: String) throws -> Process {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  _ = FileManager.default.createFile(atPath: log, contents: nil)
  let handle = FileHandle(forWritingAtPath: log)
  process.standardOutput = handle
  process.standardError = handle
  try process.run()
  return process
}

enum Servers {
  static let zcStrategies = ["automatic", "sendfile", "splice", "readWrite", "mmapWrite", "ioUring", "ioUringSplice", "sendZeroCopy"]

  static func all(zcStrategies: [String]) -> [ServerSpec] {
    zcStrategies.map { ServerSpec(name: "zc-\($0)", summary: "zc serve --strategy \($0) --no-fallback") } + [
      ServerSpec(name: "nginx-sendfile-on", summary: "nginx, sendfile on, workers = cores, access_log off"),
      ServerSpec(name: "nginx-sendfile-off", summary: "nginx, sendfile off, workers = cores, access_log off"),
      ServerSpec(name: "hummingbird", summary: "Hummingbird 2 FileMiddleware (NIOFileSystem, 128 KiB chunks)"),
    ]
  }

  /// Starts `spec` serving `root`; nil (with the reason printed) when it cannot run here.
  static func start(_ spec: ServerSpec, root: String, zc: String, hummingbird: String?, work: String) -> RunningServer? {
    let port = freePort()
    let log = "\(work)/\(spec.name).log"
    do {
      let process: Process
      var directory: String?
      if spec.name.hasPrefix("zc-") {
        let strategy = String(spec.name.dropFirst(3))
        process = try launch(zc, ["serve", root, "--port", "\(port)", "--quiet", "--strategy", strategy, "--no-fallback"], log: log)
      } else if spec.name.hasPrefix("nginx-") {
        let dir = "\(work)/\(spec.name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let sendfile = spec.name.hasSuffix("-on") ? "on" : "off"
        let config = """
          worker_processes \(ProcessInfo.processInfo.activeProcessorCount);
          pid \(dir)/nginx.pid;
          error_log \(dir)/error.log;
          daemon off;
          events { worker_connections 4096; }
          http {
            include /etc/nginx/mime.types;
            default_type application/octet-stream;
            access_log off;
            sendfile \(sendfile);
            client_body_temp_path \(dir)/body;
            proxy_temp_path \(dir)/proxy;
            fastcgi_temp_path \(dir)/fastcgi;
            uwsgi_temp_path \(dir)/uwsgi;
            scgi_temp_path \(dir)/scgi;
            server { listen 127.0.0.1:\(port) backlog=4096; root \(root); }
          }
          """
        try config.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        guard let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
          print("  skip \(spec.name): nginx is not installed")
          return nil
        }
        process = try launch(nginx, ["-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log"], log: log)
        directory = dir
      } else {
        guard let hummingbird else {
          print("  skip \(spec.name): no hb-file-server binary (--hummingbird)")
          return nil
        }
        process = try launch(hummingbird, [root, "\(port)"], log: log)
      }
      guard waitForPort(port) else {
        process.terminate()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        print("  skip \(spec.name): it did not start: \(text.split(separator: "\n").last ?? "")")
        return nil
      }
      return RunningServer(spec: spec, port: port, process: process, workDirectory: directory)
    } catch {
      print("  skip \(spec.name): \(error)")
      return nil
    }
  }
}
