import BenchKit
import Foundation
import Testing

/// The harness end to end on BenchKit's own subjects (LinuxIO layer, C twins) and the
/// planted corrupting subject: it must be caught, everything else verified.
@Suite(.serialized) struct RunnerTests {
  @Test func plantedCorruptionIsCaught() async throws {
    try await AffinityTurns.exclusively { try await plantedCorruptionIsCaughtAlone() }
  }

  func plantedCorruptionIsCaughtAlone() async throws {
    guard let tools = builtTools() else {
      print("skipped: the C reference tools are not built (make bench-tools)")
      return
    }
    setenv("ZEROCOPY_BENCH_PLANT_CORRUPTING", "1", 1)
    defer { unsetenv("ZEROCOPY_BENCH_PLANT_CORRUPTING") }
    var o = RunOptions(tools: tools, repository: repositoryRoot)
    o.mode = .smoke
    o.destinations = [.file, .pipe, .devNull]
    o.sizes = [4096, 1 << 20]
    o.rounds = 1
    o.reads = false
    o.basicPeers = false
    o.only = ["linuxio:sendfile", "c:sendfile", "corrupting"]
    o.quiet = true
    let r = try await Runner(options: o, sources: SubjectSources()).run()
    #expect(r.cells.count == 6)
    for c in r.cells {
      let bad = c.entries.first { $0.subject == "swift:corrupting" }!
      if c.cell.destination.verification == .checksum {
        #expect(bad.status == .failed, "\(c.cell)")
        #expect(bad.reason?.contains("verification failed") == true)
        #expect(bad.summary == nil && bad.samples.isEmpty)
      } else {
        #expect(bad.status == .measured, "/dev/null cannot see the corruption: \(c.cell)")
        #expect(bad.verification == .byteCount)
      }
      for e in c.entries where e.subject != "swift:corrupting" {
        #expect(e.status == .measured, "\(e.subject) in \(c.cell): \(e.reason ?? "")")
      }
    }
    #expect(ResultsCheck(r).problems().isEmpty)
    // Reports render.
    let md = ReportBuilder(r).markdown()
    #expect(md.contains("FAILED"))
    #expect(!ChartRenderer(r).transferCharts().isEmpty)
    #expect(Explainer(results: r).text().contains("sendfile"))
    #expect(Comparison(r, r).text().contains("0 change(s) beyond noise"))
  }
}
