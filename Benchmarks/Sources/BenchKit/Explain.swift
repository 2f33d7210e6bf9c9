// `explain`: the classic copy model of each strategy beside what was measured, with plain
// sentences where they disagree.

import Foundation

/// The textbook model of one strategy, per chunk moved from a disk file to a NIC.
public struct CopyModel: Sendable {
  /// Strategy name (the twin key).
  public var strategy: String
  /// Copies done by DMA engines (disk → page cache, socket buffer → NIC).
  public var dmaCopies: Int
  /// Copies done by the CPU.
  public var cpuCopies: Int
  /// User↔kernel mode switches per chunk.
  public var modeSwitches: String
  /// The model in one line.
  public var story: String

  /// The classic models (sources: the sendfile/zero-copy literature the README cites).
  public static let all: [CopyModel] = [
    CopyModel(
      strategy: "readWrite", dmaCopies: 2, cpuCopies: 2, modeSwitches: "4 per chunk (read + write)",
      story: "disk→page cache (DMA), page cache→user buffer (CPU), user buffer→socket buffer (CPU), socket buffer→NIC (DMA)"),
    CopyModel(
      strategy: "mmapWrite", dmaCopies: 2, cpuCopies: 1, modeSwitches: "4 (mmap + write), plus a kernel entry per page fault",
      story: "the user mapping shares the page cache; write copies page cache→socket buffer (CPU)"),
    CopyModel(
      strategy: "sendfile", dmaCopies: 2, cpuCopies: 1, modeSwitches: "2 per call (one call moves up to 2 GiB)",
      story:
        "page cache→socket buffer (CPU) inside one syscall; with scatter-gather DMA the NIC reads the page cache directly: 2 DMA + 0 CPU copies"
    ),
    CopyModel(
      strategy: "splice", dmaCopies: 2, cpuCopies: 0, modeSwitches: "4 per pipe-full (splice in + splice out)",
      story:
        "page references move into a pipe and out to the destination; no CPU copy unless the destination must copy (a file's page cache, loopback)"
    ),
    CopyModel(
      strategy: "copyFileRange", dmaCopies: 2, cpuCopies: 1, modeSwitches: "2 per call",
      story:
        "in-kernel page cache→page cache copy (0 CPU copies with a reflink-capable filesystem); files only, same superblock here"),
    CopyModel(
      strategy: "reflink", dmaCopies: 0, cpuCopies: 0, modeSwitches: "2 for the whole range (one ioctl)",
      story:
        "FICLONERANGE: the destination shares the source's extents (copy-on-write); no data moves at all; files only, one reflink-capable filesystem (Btrfs, XFS)"
    ),
    CopyModel(
      strategy: "directIO", dmaCopies: 2, cpuCopies: 0,
      modeSwitches:
        "4 per 1 MiB chunk (pread + pwrite); with depth > 1, 2 per batch of completions (io_uring_enter) for the aligned middle",
      story:
        "O_DIRECT: device→user buffer (DMA), user buffer→device (DMA); no page cache, no CPU copy (a memmove when source and destination offsets differ modulo the block size); files only"
    ),
    CopyModel(
      strategy: "ioUring", dmaCopies: 2, cpuCopies: 2,
      modeSwitches: "2 per batch of submissions (io_uring_enter), not per operation",
      story:
        "the same copies as read/write, but requests are batched; buffered file writes run on io-wq kernel workers (extra context switches)"
    ),
    CopyModel(
      strategy: "ioUringSplice", dmaCopies: 2, cpuCopies: 0, modeSwitches: "2 per batch",
      story: "splice's page moves, submitted through the ring"),
    CopyModel(
      strategy: "sendZeroCopy", dmaCopies: 2, cpuCopies: 0, modeSwitches: "2 per batch, plus a notification completion per send",
      story: "the NIC reads the user buffer in place (pages pinned until the notification); on loopback the kernel copies anyway"),
  ]

  /// The model for a strategy name, if it has one.
  public static func model(for strategy: String) -> CopyModel? {
    if strategy.hasPrefix("directIO.depth"), let m = all.first(where: { $0.strategy == "directIO" }) {
      return strategy == "directIO.depth1"
        ? CopyModel(
          strategy: strategy, dmaCopies: m.dmaCopies, cpuCopies: m.cpuCopies, modeSwitches: "4 per 1 MiB chunk (pread + pwrite)",
          story: m.story)
        : CopyModel(
          strategy: strategy, dmaCopies: m.dmaCopies, cpuCopies: m.cpuCopies,
          modeSwitches: "2 per batch of completions (io_uring_enter) for the aligned middle; 4 per chunk for head and tail",
          story: m.story)
    }
    return all.first { $0.strategy == strategy }
  }
}

/// Builds the `explain` text.
public struct Explainer {
  /// Results to put beside the models (nil: models only).
  public let results: BenchResults?

  /// Creates an explainer.
  public init(results: BenchResults?) { self.results = results }

  /// The whole explanation.
  public func text() -> String {
    var out = "The classic model counts, per chunk moved from a disk file to a network card, the copies done by DMA\n"
    out += "engines and by the CPU, and the user↔kernel mode switches (two per syscall). It assumes a cold disk\n"
    out += "source and a real NIC; a benchmark on a page-cached file and loopback measures something else, and\n"
    out += "the sentences under each strategy say where. (CPU: user+system is exact; the user/system split is\n"
    out += "the kernel's tick-sampled estimate, unreliable for samples of a few milliseconds.)\n"
    guard let results else {
      out += "\n"
      for m in CopyModel.all { out += modelLines(m) + "\n" }
      out +=
        "(No results given: run `zerocopy-bench run` first, or pass --results PATH/results.json, to see the measurements beside the models.)\n"
      return out
    }
    let info = Dictionary(results.subjects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    out +=
      "Measured: \(results.date), commit \(results.commit), \(results.plan.cold ? "cold" : "warm") cache, \(results.machine.kernel).\n\n"
    var strategies = CopyModel.all.map(\.strategy)
    for s in results.subjects where (s.family == .swift || s.family == .c) && !strategies.contains(s.strategy) {
      strategies.append(s.strategy)
    }
    for strategy in strategies {
      let ids = results.subjects.filter { $0.strategy == strategy && $0.family != .peer }.map(\.id)
      let model = CopyModel.model(for: strategy)
      if ids.isEmpty && model == nil { continue }
      if let model { out += modelLines(model) } else { out += "\(strategy)\n  model:    none (not a classic strategy)\n" }
      if ids.isEmpty {
        out += "  measured: not measured in this run (no registered strategy of that name)\n\n"
        continue
      }
      for cr in results.cells where [Destination.tcpRead, .file, .devNull].contains(cr.cell.destination) {
        let largest = results.cells.filter { $0.cell.destination == cr.cell.destination }.map(\.cell.size).max()
        guard cr.cell.size == largest else { continue }
        let es = cr.entries.filter { ids.contains($0.subject) && $0.status != .unsupported }
        guard !es.isEmpty else { continue }
        out += "  measured, \(cr.cell.destination.title), \(formatSize(cr.cell.size)):\n"
        for e in es {
          guard let s = e.summary else {
            out += "    \(e.subject): \(e.status == .failed ? "FAILED — \(e.reason ?? "")" : "–")\n"
            continue
          }
          let sc =
            s.syscallsPerTransfer.map { "\(Fmt.num($0.median)) syscalls (\(Fmt.num(2 * $0.median)) mode switches)" }
            ?? "syscalls not counted"
          out +=
            "    \(e.subject): \(Fmt.num(s.gbPerSecond.median)) GB/s; \(sc) per transfer; CPU \(Fmt.num(s.cpuSecondsPerGB.median)) s/GB (user \(Fmt.num(s.userSecondsPerGB.median)), system \(Fmt.num(s.systemSecondsPerGB.median))); \(Fmt.num(s.voluntarySwitchesPerTransfer.median)) voluntary + \(Fmt.num(s.involuntarySwitchesPerTransfer.median)) involuntary context switches and \(Fmt.num(s.minorFaultsPerTransfer.median)) minor faults per transfer\n"
        }
        for sentence in disagreements(strategy: strategy, cell: cr, entries: es, results: results, info: info) {
          out += "    ≠ \(sentence)\n"
        }
      }
      out += "\n"
    }
    return out
  }

  private func modelLines(_ m: CopyModel) -> String {
    "\(m.strategy)\n  model:    \(m.dmaCopies + m.cpuCopies) copies (\(m.dmaCopies) by DMA, \(m.cpuCopies) by the CPU); mode switches: \(m.modeSwitches)\n            \(m.story)\n"
  }

  private func disagreements(
    strategy: String, cell: CellResult, entries: [EntryResult], results: BenchResults, info: [String: SubjectInfo]
  ) -> [String] {
    var out: [String] = []
    let warm = !results.plan.cold
    let summaries = entries.compactMap(\.summary)
    guard !summaries.isEmpty else { return out }
    let med = { (f: (EntrySummary) -> Double) -> Double in
      summaries.map(f).sorted()[summaries.count / 2]
    }
    if warm {
      out.append(
        "The source was in the page cache (mincore-checked before every sample): the disk→page-cache DMA copy never happened.")
    }
    switch cell.cell.destination {
    case .tcpRead, .tcpSplice:
      out.append(
        "Loopback has no NIC: there is no DMA to a device; the receiver's kernel reads the sender's socket buffers, and the read receiver copies once more into user space (its CPU is reported separately)."
      )
    case .file, .tmpfs:
      out.append(
        "The destination is a page cache, not a socket: the last 'DMA' is the later writeback to disk, outside the timed window\(cell.cell.destination == .tmpfs ? " (tmpfs never writes back)" : "")."
      )
    case .devNull:
      out.append(
        "/dev/null discards: sendfile and splice complete without touching the data and write() from a mapping never faults it in, so this cell measures call overhead, not copies."
      )
    case .pipe:
      break
    }
    let user = med { $0.userSecondsPerGB.median }
    let cpu = med { $0.cpuSecondsPerGB.median }
    if let m = CopyModel.model(for: strategy), m.cpuCopies > 0, cpu > 0, user / cpu < 0.15, cell.cell.destination != .devNull {
      out.append(
        "The model's CPU copies run in kernel mode (copy_to_user/copy_from_user or in-kernel page copies): user CPU is only \(Int((user / cpu * 100).rounded()))% of the CPU measured."
      )
    }
    if strategy == "mmapWrite" {
      let faults = med { $0.minorFaultsPerTransfer.median }
      let pages = Double(cell.cell.size) / 4096
      if cell.cell.destination == .devNull {
        out.append("Minor faults per transfer: \(Fmt.num(faults)) — the pages were never touched.")
      } else {
        let perFault = faults > 0 ? pages / faults : 0
        out.append(
          "Minor faults per transfer: \(Fmt.num(faults)) for \(Fmt.num(pages)) pages, about \(Fmt.num(perFault)) pages mapped per fault (fault-around and large folios); each fault is a kernel entry the model leaves out."
        )
      }
    }
    if strategy == "ioUring" || strategy == "ioUringSplice" {
      let v = med { $0.voluntarySwitchesPerTransfer.median }
      if v >= 1 {
        out.append(
          "\(Fmt.num(v)) voluntary context switches per transfer: the waiting thread sleeps while io-wq workers (counted in getrusage) do buffered writes — costs the mode-switch model does not show."
        )
      }
    }
    if strategy == "sendfile" || strategy == "splice" || strategy == "copyFileRange",
      cell.cell.destination.isFile || cell.cell.destination.isSocket
    {
      if let rw = results.cells.first(where: { $0.cell == cell.cell })?.entries.first(where: {
        info[$0.subject]?.strategy == "readWrite" && info[$0.subject]?.family == .c && $0.summary != nil
      })?.summary {
        let saved = 1 - cpu / rw.cpuSecondsPerGB.median
        out.append(
          "CPU per GB is \(Int((saved * 100).rounded()))% \(saved >= 0 ? "below" : "above") C read/write's in this cell; the model predicts \(strategy == "splice" ? "both CPU copies saved" : "one of two CPU copies saved")."
        )
      }
    }
    return out
  }
}
