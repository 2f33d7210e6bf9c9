// SVG charts: per destination, one panel per size with a GB/s bar and a CPU s/GB bar per
// subject, C twins beside their Swift strategies; and one chart for random reads.

import Foundation

/// Renders the charts of a run.
public struct ChartRenderer {
  /// The results.
  public let results: BenchResults
  private let info: [String: SubjectInfo]

  /// Creates a renderer.
  public init(_ results: BenchResults) {
    self.results = results
    info = Dictionary(results.subjects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
  }

  static func color(_ f: Family) -> String {
    switch f {
    case .swift: return "#E8572F"
    case .swiftLinuxIO: return "#F2A541"
    case .c: return "#3F7CC4"
    case .peer: return "#8A8A8A"
    }
  }

  static func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }

  /// Subjects ordered so a strategy's Swift, LinuxIO and C versions sit together.
  func pairedOrder(_ ids: [String]) -> [String] {
    func fam(_ f: Family) -> Int {
      switch f {
      case .swift: return 0
      case .swiftLinuxIO: return 1
      case .c: return 2
      case .peer: return 3
      }
    }
    return ids.sorted { a, b in
      let ia = info[a], ib = info[b]
      let pa = ia?.family == .peer ? 1 : 0, pb = ib?.family == .peer ? 1 : 0
      if pa != pb { return pa < pb }
      let sa = ia?.strategy == "automatic" ? "~" : (ia?.strategy ?? a)
      let sb = ib?.strategy == "automatic" ? "~" : (ib?.strategy ?? b)
      if sa != sb { return sa < sb }
      return fam(ia?.family ?? .peer) < fam(ib?.family ?? .peer)
    }
  }

  /// One chart per destination: file name → SVG text.
  public func transferCharts() -> [(String, String)] {
    let dests = Array(Set(results.cells.map(\.cell.destination))).sorted()
    return dests.map { d in ("transfer-\(d.rawValue).svg", chart(for: d)) }
  }

  private func chart(for d: Destination) -> String {
    let cells = results.cells.filter { $0.cell.destination == d }.sorted { $0.cell.size < $1.cell.size }
    let width = 980.0, labelW = 230.0, barW = 330.0, gap = 45.0, rowH = 15.0
    var body = ""
    var y = 58.0
    for cr in cells {
      let shown = pairedOrder(cr.entries.filter { $0.status != .unsupported }.map(\.subject))
      let entries = shown.compactMap { id in cr.entries.first { $0.subject == id } }
      let maxGB = entries.compactMap { $0.summary?.gbPerSecond.max }.max() ?? 1
      // The CPU scale ignores peers (a process start per 4 KiB copy would flatten every
      // other bar); a peer beyond the scale is drawn clipped, its value printed.
      let maxCPU =
        entries.filter { info[$0.subject]?.family != .peer }.compactMap { $0.summary?.cpuSecondsPerGB.median }.max()
        ?? entries.compactMap { $0.summary?.cpuSecondsPerGB.median }.max() ?? 1
      body += "<text x=\"10\" y=\"\(y)\" class=\"panel\">\(formatSize(cr.cell.size)) per transfer</text>\n"
      body += "<text x=\"\(labelW)\" y=\"\(y)\" class=\"axis\">GB/s (median; whisker min–max), scale 0–\(Fmt.num(maxGB))</text>\n"
      body +=
        "<text x=\"\(labelW + barW + gap)\" y=\"\(y)\" class=\"axis\">CPU s/GB (user+system, median), scale 0–\(Fmt.num(maxCPU)); » = off scale</text>\n"
      y += 8
      for e in entries {
        let fam = info[e.subject]?.family ?? .peer
        let c = ChartRenderer.color(fam)
        body +=
          "<text x=\"\(labelW - 6)\" y=\"\(y + rowH - 4)\" class=\"label\" text-anchor=\"end\">\(ChartRenderer.esc(e.subject))</text>\n"
        if e.status == .failed {
          body +=
            "<text x=\"\(labelW + 4)\" y=\"\(y + rowH - 4)\" class=\"fail\">FAILED verification or run — not counted</text>\n"
        } else if let s = e.summary {
          let w = max(1, barW * s.gbPerSecond.median / maxGB)
          body +=
            "<rect x=\"\(labelW)\" y=\"\(y + 2)\" width=\"\(String(format: "%.1f", w))\" height=\"\(rowH - 4)\" fill=\"\(c)\"/>\n"
          let x0 = labelW + barW * s.gbPerSecond.min / maxGB, x1 = labelW + barW * s.gbPerSecond.max / maxGB
          body +=
            "<line x1=\"\(String(format: "%.1f", x0))\" x2=\"\(String(format: "%.1f", x1))\" y1=\"\(y + rowH / 2)\" y2=\"\(y + rowH / 2)\" class=\"whisker\"/>\n"
          body +=
            "<text x=\"\(String(format: "%.1f", max(labelW + w, x1) + 4))\" y=\"\(y + rowH - 4)\" class=\"value\">\(Fmt.num(s.gbPerSecond.median))</text>\n"
          let clipped = s.cpuSecondsPerGB.median > maxCPU * 1.0001
          let cw = max(1, barW * min(s.cpuSecondsPerGB.median, maxCPU) / maxCPU)
          let cx = labelW + barW + gap
          body +=
            "<rect x=\"\(cx)\" y=\"\(y + 2)\" width=\"\(String(format: "%.1f", cw))\" height=\"\(rowH - 4)\" fill=\"\(c)\" fill-opacity=\"0.75\"/>\n"
          body +=
            "<text x=\"\(String(format: "%.1f", cx + cw + 4))\" y=\"\(y + rowH - 4)\" class=\"value\">\(clipped ? "» " : "")\(Fmt.num(s.cpuSecondsPerGB.median))</text>\n"
        }
        y += rowH
      }
      y += 26
    }
    let height = y + 10
    let m = results.machine
    var legend = ""
    var lx = 10.0
    for (f, name) in [
      (Family.swift, "Swift (Transfer)"), (.swiftLinuxIO, "Swift (LinuxIO layer)"), (.c, "C twin (xfer_ref)"), (.peer, "peer"),
    ] {
      legend +=
        "<rect x=\"\(lx)\" y=\"34\" width=\"10\" height=\"10\" fill=\"\(ChartRenderer.color(f))\"/><text x=\"\(lx + 14)\" y=\"43\" class=\"axis\">\(name)</text>\n"
      lx += 170
    }
    let title = "\(d.title)\(d.verification == .byteCount ? " — byte counts only" : " — every byte verified")"
    let sub =
      "\(m.cpu), \(m.cores) cores, \(m.kernel); \(results.plan.cold ? "cold" : "warm") cache; \(results.plan.rounds) rounds; \(results.date); \(results.commit)"
    return """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif">
      <style>.title{font-size:15px;font-weight:bold}.sub{font-size:10px;fill:#555}.panel{font-size:12px;font-weight:bold}.axis{font-size:10px;fill:#444}.label{font-size:10px}.value{font-size:9px;fill:#333}.fail{font-size:10px;fill:#C00;font-weight:bold}.whisker{stroke:#222;stroke-width:1}</style>
      <rect width="100%" height="100%" fill="white"/>
      <text x="10" y="18" class="title">\(ChartRenderer.esc(title))</text>
      <text x="10" y="30" class="sub">\(ChartRenderer.esc(sub))</text>
      \(legend)\(body)</svg>

      """
  }

  /// The random-read chart (ns per read), or nil without that workload.
  public func readChart() -> (String, String)? {
    guard let reads = results.reads else { return nil }
    let entries = reads.entries.filter { $0.status == .measured }
      .sorted { ($0.variant, $0.family.rawValue) < ($1.variant, $1.family.rawValue) }
    let maxNS = entries.compactMap { $0.nanosecondsPerRead?.max }.max() ?? 1
    let labelW = 230.0, barW = 600.0, rowH = 15.0
    var y = 50.0
    var body = ""
    for e in entries {
      guard let s = e.nanosecondsPerRead else { continue }
      let c = ChartRenderer.color(e.family)
      body +=
        "<text x=\"\(labelW - 6)\" y=\"\(y + rowH - 4)\" class=\"label\" text-anchor=\"end\">\(ChartRenderer.esc(e.subject))</text>\n"
      let w = max(1, barW * s.median / maxNS)
      body +=
        "<rect x=\"\(labelW)\" y=\"\(y + 2)\" width=\"\(String(format: "%.1f", w))\" height=\"\(rowH - 4)\" fill=\"\(c)\"/>\n"
      let x0 = labelW + barW * s.min / maxNS, x1 = labelW + barW * s.max / maxNS
      body +=
        "<line x1=\"\(String(format: "%.1f", x0))\" x2=\"\(String(format: "%.1f", x1))\" y1=\"\(y + rowH / 2)\" y2=\"\(y + rowH / 2)\" class=\"whisker\"/>\n"
      body +=
        "<text x=\"\(String(format: "%.1f", max(labelW + w, x1) + 4))\" y=\"\(y + rowH - 4)\" class=\"value\">\(Fmt.num(s.median)) ns</text>\n"
      y += rowH
    }
    let height = y + 20
    let svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="980" height="\(Int(height))" viewBox="0 0 980 \(Int(height))" font-family="Helvetica, Arial, sans-serif">
      <style>.title{font-size:15px;font-weight:bold}.sub{font-size:10px;fill:#555}.label{font-size:10px}.value{font-size:9px;fill:#333}.whisker{stroke:#222;stroke-width:1}</style>
      <rect width="100%" height="100%" fill="white"/>
      <text x="10" y="18" class="title">Random 4 KiB reads of a page-cached \(formatSize(reads.fileSize)) file — ns per read (lower is better)</text>
      <text x="10" y="32" class="sub">\(ChartRenderer.esc("\(results.machine.cpu), \(results.machine.cores) cores; median of \(results.plan.rounds) rounds, whisker min–max; \(results.date); \(results.commit)"))</text>
      \(body)</svg>

      """
    return ("random-reads.svg", svg)
  }
}
