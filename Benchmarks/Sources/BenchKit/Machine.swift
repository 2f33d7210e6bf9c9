// The machine description recorded with every run.

import Foundation
import Glibc
import URing

extension MachineInfo {
  /// Reads this machine's description.
  public static func current(tempDirectory: String, tmpfsDirectory: String?) -> MachineInfo {
    var u = utsname()
    uname(&u)
    func field<T>(_ t: T) -> String {
      withUnsafeBytes(of: t) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
    }
    let kernel = "\(field(u.sysname)) \(field(u.release))"
    let cpuinfo = (try? readSmallFile("/proc/cpuinfo")) ?? ""
    var cpu = "unknown"
    for line in cpuinfo.split(separator: "\n") where line.hasPrefix("model name") {
      if let colon = line.firstIndex(of: ":") {
        cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      }
      break
    }
    let virtualized = cpuinfo.contains(" hypervisor")
    let meminfo = (try? readSmallFile("/proc/meminfo")) ?? ""
    var mem: Int64 = 0
    for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
      let parts = line.split(separator: " ")
      if parts.count >= 2, let kb = Int64(parts[1]) { mem = kb * 1024 }
    }
    let ioUring: String
    switch IOURingAvailability.current {
    case .available: ioUring = "available"
    case .unavailable(let reason): ioUring = "unavailable: \(reason)"
    }
    #if compiler(>=6.3)
      let swift = "Swift 6.3 or later"
    #elseif compiler(>=6.2)
      let swift = "Swift 6.2"
    #else
      let swift = "Swift 6.1"
    #endif
    return MachineInfo(
      kernel: kernel, cpu: cpu, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), memoryBytes: mem,
      tempFilesystem: filesystemType(of: tempDirectory),
      tmpfsFilesystem: tmpfsDirectory.map { filesystemType(of: $0) } ?? "none",
      swift: swiftVersionString() ?? swift, ioUring: ioUring, virtualized: virtualized,
      loadAverage: currentLoadAverage().map { [$0] })
  }
}

/// /proc/loadavg's 1-minute value.
public func currentLoadAverage() -> Double? {
  guard let text = try? readSmallFile("/proc/loadavg") else { return nil }
  return text.split(separator: " ").first.flatMap { Double($0) }
}

/// `swift --version`'s first line, when a toolchain is on PATH (the one that built us).
func swiftVersionString() -> String? {
  for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
    let p = "\(dir)/swift"
    guard access(p, X_OK) == 0 else { continue }
    guard let child = try? ChildProcess(p, ["--version"], stdout: .pipe, stderrPath: "/dev/null") else { return nil }
    var first: String?
    while let line = try? child.readLine() {
      if first == nil, line.contains("Swift version") { first = line }
    }
    _ = try? child.wait()
    return first?.trimmingCharacters(in: .whitespaces)
  }
  return nil
}

/// The git commit of the repository containing `directory` ("unknown" outside git),
/// with "-dirty" when tracked files differ from it.
public func gitCommit(in directory: String) -> String {
  func git(_ args: [String]) -> (Int32?, String) {
    for p in ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"] where access(p, X_OK) == 0 {
      guard let c = try? ChildProcess(p, ["-C", directory] + args, stdout: .pipe, stderrPath: "/dev/null") else {
        return (nil, "")
      }
      var out: [String] = []
      while let l = try? c.readLine() { out.append(l) }
      let e = try? c.wait()
      return (e?.code, out.joined(separator: "\n"))
    }
    return (nil, "")
  }
  let (rc, head) = git(["rev-parse", "--short=12", "HEAD"])
  guard rc == 0, !head.isEmpty else { return "unknown" }
  let (_, status) = git(["status", "--porcelain", "--untracked-files=no"])
  return status.isEmpty ? head : head + "-dirty"
}
