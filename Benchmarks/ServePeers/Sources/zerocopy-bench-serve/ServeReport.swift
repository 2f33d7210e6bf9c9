// The serve benchmark's results: medians, goal lines, Markdown tables and one SVG chart.

import BenchKit
import Foundation

struct ServeReport: Codable {
  var machine: MachineInfo
  var commit: String
  var date: String
  var duration: Double
  var rounds: Int
  var sizes: [Int]
  var connections: [Int]
  var servers: [ServerSpec]
  /// Every wrk run, keyed "server|size|connections", one sample per round.
  var samples: [String: [WrkSample]]
  /// "server size before|after" → the response matched the file byte for byte.
  var checksums: [String: Bool]
  var loadAtEnd: Double?

  /// The median of one metric over a cell's rounds.
  func median(_ server: String, _ size: Int, _ connections: Int, _ metric: (WrkSample) -> Double?) -> Double? {
    let values = (samples["\(server)|\(size)|\(connections)"] ?? []).compactMap(metric).sorted()
    guard !values.isEmpty else { return nil }
    let mid = values.count / 2
    return values.count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2
  }

  func errors(_ server: String, _ size: Int, _ connections: Int) -> Int {
    (samples["\(server)|\(size)|\(connections)"] ?? []).reduce(0) { $0 + $1.errors }
  }

  static func fmt(_ v: Double?, _ digits: Int = 0) -> String {
    guard let v else { return "–" }
    if digits == 0 { return v >= 100 ? "\(Int(v.rounded()))" : String(format: "%.1f", v) }
    return String(format: "%.\(digits)f", v)
  }

  // MARK: - Goals (issue 16)

  /// The goal lines: zc serve (automatic) against nginx with sendfile on and Hummingbird.
  func goalLines() -> [String] {
    let zc = "zc-automatic", nginx = "nginx-sendfile-on", hb = "hummingbird"
    var lines: [String] = []
    // A cell is steady when each server completed at least two responses per connection
    // in the window: then requests/s measures the server. Otherwise (256 × 64 MiB is more
    // than a run moves) it measures how unfairly the server shares its bandwidth, and the
    // goal compares what wrk read per second instead — said so in the line.
    func steady(_ a: String, _ b: String, _ size: Int, _ c: Int) -> Bool {
      [a, b].allSatisfy { (median($0, size, c, { Double($0.requests) }) ?? 0) >= Double(2 * c) }
    }
    func ratio(_ a: String, _ b: String, _ size: Int, _ c: Int) -> (value: Double, metric: String)? {
      let byRequests = steady(a, b, size, c)
      let metric: (WrkSample) -> Double? = byRequests ? { $0.requestsPerSecond } : { $0.readMBPerSecond }
      guard let x = median(a, size, c, metric), let y = median(b, size, c, metric), y > 0 else { return nil }
      return (x / y, byRequests ? "req/s" : "MB/s read (not steady: < 2 responses per connection)")
    }
    for size in sizes {
      for c in connections where c >= 16 {
        if let r = ratio(zc, nginx, size, c) {
          let target = size >= 64 << 10 ? 1.0 : 0.8
          lines.append("goal: \(r.metric) zc/nginx(sendfile on) at \(label(size)), \(c) connections ≥ \(target): \(String(format: "%.2f", r.value)) \(r.value >= target ? "met" : "MISSED")")
        }
        if size >= 64 << 10, let r = ratio(zc, hb, size, c) {
          lines.append("goal: \(r.metric) zc/Hummingbird at \(label(size)), \(c) connections ≥ 3: \(String(format: "%.2f", r.value)) \(r.value >= 3 ? "met" : "MISSED")")
        }
        if let a = median(zc, size, c, { $0.cpuSecondsPerGB }), let b = median(nginx, size, c, { $0.cpuSecondsPerGB }) {
          lines.append("goal: server CPU s/GB zc ≤ nginx at \(label(size)), \(c) connections: \(String(format: "%.3f", a)) vs \(String(format: "%.3f", b)) \(a <= b ? "met" : "MISSED")")
        }
      }
    }
    let errorCount = samples.values.joined().reduce(0) { $0 + $1.errors }
    lines.append("goal: zero wrk errors: \(errorCount) \(errorCount == 0 ? "met" : "MISSED")")
    let bad = checksums.filter { !$0.value }.map(\.key).sorted()
    lines.append("goal: every sampled response exact: \(checksums.count - bad.count)/\(checksums.count) \(bad.isEmpty ? "met" : "MISSED (\(bad.joined(separator: ", ")))")")
    return lines
  }

  // MARK: - Markdown

  func markdown() -> String {
    var md = "# `make bench-serve`\n\n"
    md += "Commit \(commit), \(date). \(machine.cpu), \(machine.cores) cores, \(machine.kernel), io_uring \(machine.ioUring). "
    md += "Load average at start \(Self.fmt(machine.loadAverage?.first, 2)), at end \(Self.fmt(loadAtEnd, 2)).\n\n"
    md += "wrk, \(rounds) interleaved rounds of \(Self.fmt(duration, 1)) s per cell; medians. "
    md += "MB/s: every byte wrk read per second (10^6 B; headers, bodies, and responses still in flight when the run ended). "
    md += "req/s and the latencies count completed responses only: where a server completed fewer than two responses per connection "
    md += "(256 × 64 MiB is more than one run moves), req/s says how unevenly it shares its bandwidth, not how much it sends, "
    md += "and the goal line compares MB/s. "
    md += "CPU s/GB: the server's user + system time (/proc/PID/stat) per GB read by wrk. Errors: wrk's socket errors plus non-2xx responses, summed over rounds.\n\n"
    md += "Servers:\n\n" + servers.map { "- `\($0.name)`: \($0.summary)" }.joined(separator: "\n") + "\n\n"
    for size in sizes {
      md += "## \(label(size))\n\n| server | " + connections.map { "c=\($0) req/s | MB/s | p50 ms | p99 ms | CPU s/GB | err" }.joined(separator: " | ") + " |\n"
      md += "|---|" + connections.map { _ in "---:|---:|---:|---:|---:|---:" }.joined(separator: "|") + "|\n"
      for s in servers {
        md += "| \(s.name) | " + connections.map { c in
          [
            Self.fmt(median(s.name, size, c, { $0.requestsPerSecond })), Self.fmt(median(s.name, size, c, { $0.readMBPerSecond ?? $0.bodyMBPerSecond })),
            Self.fmt(median(s.name, size, c, { $0.p50Milliseconds }), 2), Self.fmt(median(s.name, size, c, { $0.p99Milliseconds }), 2),
            Self.fmt(median(s.name, size, c, { $0.cpuSecondsPerGB }), 3), "\(errors(s.name, size, c))",
          ].joined(separator: " | ")
        }.joined(separator: " | ") + " |\n"
      }
      md += "\n"
    }
    md += "## Goals (issue 16)\n\n" + goalLines().map { "- \($0)" }.joined(separator: "\n") + "\n\n![MB/s read by wrk](serve.svg)\n"
    return md
  }

  // MARK: - SVG

  /// One panel per size: for each connection count, a bar of MB/s read per server (log scale),
  /// zc strategies orange, nginx blue, Hummingbird grey.
  func svg() -> String {
    let panelWidth = 900.0, panelHeight = 240.0, left = 70.0, top = 40.0
    let height = top + Double(sizes.count) * (panelHeight + 50) + 60
    var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(panelWidth + left + 200))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
    out += "<text x=\"\(left)\" y=\"20\" font-size=\"14\">zc serve vs nginx vs Hummingbird: MB/s read by wrk (log scale), medians of \(rounds) rounds — \(commit)</text>\n"
    func color(_ name: String) -> String {
      name.hasPrefix("zc-automatic") ? "#C0392B" : name.hasPrefix("zc-") ? "#E8572F" : name.hasPrefix("nginx-sendfile-on") ? "#1F5FA8" : name.hasPrefix("nginx") ? "#6FA0D8" : "#8A8A8A"
    }
    for (p, size) in sizes.enumerated() {
      let y0 = top + Double(p) * (panelHeight + 50)
      let values = servers.flatMap { s in connections.compactMap { median(s.name, size, $0, { $0.readMBPerSecond ?? $0.bodyMBPerSecond }) } }
      let maxValue = max(values.max() ?? 10, 10)
      let logMax = log10(maxValue) + 0.1
      out += "<text x=\"\(left)\" y=\"\(y0 + 12)\" font-size=\"13\">\(label(size))</text>\n"
      let groupWidth = panelWidth / Double(max(connections.count, 1))
      let barWidth = (groupWidth - 20) / Double(max(servers.count, 1))
      for (g, c) in connections.enumerated() {
        let gx = left + Double(g) * groupWidth
        out += "<text x=\"\(gx + groupWidth / 2 - 30)\" y=\"\(y0 + panelHeight + 35)\">\(c) connection\(c == 1 ? "" : "s")</text>\n"
        for (i, s) in servers.enumerated() {
          guard let v = median(s.name, size, c, { $0.readMBPerSecond ?? $0.bodyMBPerSecond }), v > 0 else { continue }
          let h = max(1, (log10(max(v, 1)) / logMax) * panelHeight)
          let x = gx + Double(i) * barWidth
          out += "<rect x=\"\(x)\" y=\"\(y0 + 20 + panelHeight - h)\" width=\"\(max(1, barWidth - 2))\" height=\"\(h)\" fill=\"\(color(s.name))\"><title>\(s.name): \(Int(v)) MB/s</title></rect>\n"
        }
      }
      out += "<line x1=\"\(left)\" y1=\"\(y0 + 20 + panelHeight)\" x2=\"\(left + panelWidth)\" y2=\"\(y0 + 20 + panelHeight)\" stroke=\"#333\"/>\n"
      out += "<text x=\"5\" y=\"\(y0 + 28)\">\(Int(maxValue)) MB/s</text>\n"
    }
    for (i, s) in servers.enumerated() {
      let y = top + 20 + Double(i) * 16
      out += "<rect x=\"\(left + panelWidth + 20)\" y=\"\(y - 9)\" width=\"10\" height=\"10\" fill=\"\(color(s.name))\"/><text x=\"\(left + panelWidth + 35)\" y=\"\(y)\">\(i + 1). \(s.name)</text>\n"
    }
    return out + "</svg>\n"
  }
}
