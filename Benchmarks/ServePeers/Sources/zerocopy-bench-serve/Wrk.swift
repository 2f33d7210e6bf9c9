// Running wrk and reading its report; fetching sample responses and comparing them.

import Foundation

/// What one wrk run measured.
struct WrkSample: Codable, Sendable {
  var requests: Int
  var seconds: Double
  var requestsPerSecond: Double
  /// Body bytes per second of the completed responses (requests × file size / seconds),
  /// in MB/s (10^6).
  var bodyMBPerSecond: Double
  /// Every byte wrk read per second (its "… read" total: headers, bodies, and the part of
  /// a response still in flight when the run ended), in MB/s (10^6). Nil in reports made
  /// before it was recorded.
  var readMBPerSecond: Double?
  var p50Milliseconds: Double?
  var p99Milliseconds: Double?
  /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses.
  var errors: Int
  /// Server CPU (user + system) during the run, seconds.
  var serverCPUSeconds: Double
  /// Server CPU seconds per GB that wrk read (per GB of completed bodies in reports made
  /// before `readMBPerSecond` was recorded). Counting what was read, not what completed,
  /// keeps a cell honest when a run ends with large responses half sent: 256
  /// connections × 64 MiB is 16 GiB in flight, more than a 5 s run moves, so a server that
  /// shares its bandwidth fairly completes almost no response in the window.
  var cpuSecondsPerGB: Double?
}

enum Wrk {
  /// Runs wrk against `url` for `seconds` with `connections` connections.
  static func run(url: String, connections: Int, seconds: Double, threads: Int) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try executable())
    process.arguments = [
      "-t", "\(max(1, min(threads, connections)))", "-c", "\(connections)", "-d", "\(max(1, Int(seconds.rounded())))s",
      "--timeout", "10s", "--latency", url,
    ]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
  }

  static func executable() throws -> String {
    for p in ["/usr/bin/wrk", "/usr/local/bin/wrk"] where FileManager.default.isExecutableFile(atPath: p) { return p }
    throw BenchError("wrk is not installed (apt-get install wrk)")
  }

  /// Parses wrk's report: "N requests in Xs, Y read", latency percentiles, errors.
  static func parse(_ text: String, fileSize: Int, cpuSeconds: Double) -> WrkSample? {
    guard let m = text.firstMatch(of: /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)(B|KB|MB|GB|TB) read/),
      let requests = Int(m.1), let value = Double(m.2), let amount = Double(m.4)
    else { return nil }
    let seconds = value * unitSeconds(String(m.3))
    // wrk prints its byte counts in binary units (format_binary: KB = 1024 B).
    let units: [String: Double] = ["B": 1, "KB": 1024, "MB": 1_048_576, "GB": 1_073_741_824, "TB": 1_099_511_627_776]
    let unit = units[String(m.5)] ?? 1
    let readBytes = amount * unit
    func latency(_ percent: String) -> Double? {
      for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count == 2 && parts[0] == "\(percent)%", let v = parseDuration(String(parts[1])) { return v * 1000 }
      }
      return nil
    }
    var errors = 0
    if let s = text.firstMatch(of: /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
      errors += (Int(s.1) ?? 0) + (Int(s.2) ?? 0) + (Int(s.3) ?? 0) + (Int(s.4) ?? 0)
    }
    if let n = text.firstMatch(of: /Non-2xx or 3xx responses: (\d+)/) { errors += Int(n.1) ?? 0 }
    let bodyBytes = Double(requests) * Double(fileSize)
    return WrkSample(
      requests: requests, seconds: seconds, requestsPerSecond: Double(requests) / seconds,
      bodyMBPerSecond: bodyBytes / seconds / 1e6, readMBPerSecond: readBytes / seconds / 1e6,
      p50Milliseconds: requests > 0 ? latency("50") : nil, p99Milliseconds: requests > 0 ? latency("99") : nil,
      errors: errors, serverCPUSeconds: cpuSeconds, cpuSecondsPerGB: readBytes > 0 ? cpuSeconds / (readBytes / 1e9) : nil)
  }

  static func unitSeconds(_ unit: String) -> Double {
    switch unit {
    case "us": return 1e-6
    case "ms": return 1e-3
    case "m": return 60
    default: return 1
    }
  }

  static func parseDuration(_ text: String) -> Double? {
    guard let m = text.wholeMatch(of: /([\d.]+)(us|ms|s|m)/), let v = Double(m.1) else { return nil }
    return v * unitSeconds(String(m.2))
  }
}

struct BenchError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// GETs `path` from 127.0.0.1:`port` with a plain socket and returns the body, exactly as
/// sent (Content-Length framing), or nil on any protocol error.
func fetch(port: Int, path: String) -> [UInt8]? {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var tv = timeval(tv_sec: 30, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
  guard connectLoopback(fd, port) else { return nil }
  let request = Array("GET \(path) HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".utf8)
  guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
  var data: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 20)
  while true {
    let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if n <= 0 { break }
    data += chunk[0..<n]
  }
  guard let end = data.firstRange(of: [13, 10, 13, 10]) else { return nil }
  let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
  guard head.hasPrefix("HTTP/1.1 200"),
    let length = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
      .flatMap({ Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }),
    data.count - end.upperBound == length
  else { return nil }
  return Array(data[end.upperBound...])
}
