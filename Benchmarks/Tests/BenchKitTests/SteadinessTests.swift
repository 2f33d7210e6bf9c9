import BenchKit
import Foundation
import Testing

/// The machine check: a run's C subjects against a reference run's, cell by cell.
@Suite struct SteadinessTests {
  /// Eight cells, each with a C subject and a Swift one (GB/s as given, 1 MB per transfer).
  static func run(c: Double, swift: Double = 1, cells count: Int = 8) -> BenchResults {
    let sizes = [4096, 65536, 1 << 20, 1 << 30]
    let cells = (0..<count).map { i in
      Fixture.cell(i % 2 == 0 ? .file : .pipe, sizes[(i / 2) % 4], [("c:sendfile", c), ("swift:sendfile", swift)])
    }
    var r = Fixture.results(cells: cells)
    r.cSources = "0123456789abcdef"
    return r
  }

  @Test func sameSpeedIsSteady() throws {
    let reference = MachineReference(Self.run(c: 2))
    #expect(reference.entries.count == 8)
    #expect(reference.entries.allSatisfy { $0.subject == "c:sendfile" })
    #expect(reference.cSources == "0123456789abcdef")
    // C 5 % slower, Swift four times slower: only the C subjects count.
    let s = Analysis.steadiness(Self.run(c: 2 / 1.05, swift: 0.25), reference: reference, referencePath: "ref.json")
    #expect(s.verdict == "steady")
    #expect(s.compared == 8)
    #expect(abs((s.medianRatio ?? 0) - 1.05) < 0.01)
    #expect(s.slowCells == 0)
    #expect(s.warning == nil)
    #expect(s.caveats.isEmpty)
    #expect(s.line.hasPrefix("[steady]"))
  }

  @Test func aSlowMachineIsSaidToBe() throws {
    let reference = MachineReference(Self.run(c: 2))
    let s = Analysis.steadiness(Self.run(c: 1), reference: reference, referencePath: "ref.json")
    #expect(s.verdict == "slow")
    #expect(abs((s.medianRatio ?? 0) - 2) < 0.01)
    #expect(s.slowCells == 8)
    #expect(s.warning?.contains("do not publish") == true)
    #expect(s.otherKernel == false)
    #expect(s.warning?.contains("kernel changed") == false)
    // Slow on another kernel: the note says the machine may have changed.
    var newKernel = Self.run(c: 1)
    newKernel.machine.kernel = "Linux 7"
    let k = Analysis.steadiness(newKernel, reference: reference, referencePath: "ref.json")
    #expect(k.verdict == "slow")
    #expect(k.otherKernel == true)
    #expect(k.warning?.contains("the machine itself changed") == true)
    // 1.2× in the median but 3 of 8 cells at ≥ 1.5×: slow too.
    var mixed = Self.run(c: 2 / 1.2)
    for i in 0..<3 { mixed.cells[i].entries[0] = Fixture.entry("c:sendfile", 1, mixed.cells[i].cell.destination) }
    let m = Analysis.steadiness(mixed, reference: reference, referencePath: "ref.json")
    #expect(m.slowCells == 3)
    #expect(m.verdict == "slow")
    // A faster machine (or a reference made on a slow hour).
    let f = Analysis.steadiness(Self.run(c: 4), reference: reference, referencePath: "ref.json")
    #expect(f.verdict == "fast")
    #expect(f.warning?.contains("reference") == true)
  }

  @Test func whatMakesTheComparisonMeanLess() throws {
    let reference = MachineReference(Self.run(c: 2))
    // A subset run: a ratio, no verdict.
    let few = Analysis.steadiness(Self.run(c: 1, cells: 2), reference: reference, referencePath: "ref.json")
    #expect(few.verdict == "not decided")
    #expect(few.compared == 2)
    #expect(few.warning == nil)
    // Another machine: not compared at all.
    var other = Self.run(c: 2)
    other.machine.cpu = "another cpu"
    let o = Analysis.steadiness(other, reference: reference, referencePath: "ref.json")
    #expect(o.verdict == "not checked")
    #expect(o.medianRatio == nil)
    #expect(o.caveats.first?.contains("another machine") == true)
    // Changed C programs or kernel: compared, and said.
    var changed = Self.run(c: 2)
    changed.cSources = "fedcba9876543210"
    changed.machine.kernel = "Linux 7"
    let c = Analysis.steadiness(changed, reference: reference, referencePath: "ref.json")
    #expect(c.verdict == "steady")
    #expect(c.caveats.count == 2)
    #expect(c.line.contains("C programs or libzerocopy changed"))
    // No cell in common.
    var disjoint = Self.run(c: 2)
    disjoint.cells = [Fixture.cell(.tmpfs, 4096, [("c:sendfile", 2)])]
    #expect(Analysis.steadiness(disjoint, reference: reference, referencePath: "ref.json").verdict == "not checked")
  }

  @Test func cellsPlacedOtherwiseAreLeftOut() throws {
    // The reference's TCP and pipe cells ran unplaced (as every reference before placement).
    let reference = MachineReference(Self.run(c: 2))
    #expect(reference.receiverPlacement == nil)
    var placed = Self.run(c: 1)  // twice the reference's time in every cell
    placed.plan.receiverPlacement = CPUPlacement(senderCPUs: [0], receiverCPU: 1)
    let s = Analysis.steadiness(placed, reference: reference, referencePath: "ref.json")
    #expect(s.compared == 4)  // the four file cells; the four pipe cells are left out
    #expect(abs((s.medianRatio ?? 0) - 2) < 0.01)
    #expect(s.caveats.contains { $0.contains("TCP and pipe cells left out") && $0.contains("receivers on CPU 1") })
    // Placed alike: every cell compared, no caveat.
    let placedReference = MachineReference(placed)
    #expect(placedReference.receiverPlacement == CPUPlacement(senderCPUs: [0], receiverCPU: 1))
    let same = Analysis.steadiness(placed, reference: placedReference, referencePath: "ref.json")
    #expect(same.compared == 8)
    #expect(same.caveats.isEmpty)
    // `compare` warns when two runs placed their TCP and pipe cells differently.
    let unplaced = Self.run(c: 1)
    #expect(Comparison(unplaced, placed).text().contains("another CPU placement (A: unpinned; B: senders on CPU 0"))
    #expect(!Comparison(placed, placed).text().contains("another CPU placement"))
    // The placement survives the reference file; a file without the key reads as unplaced.
    let decoded = try JSONDecoder().decode(MachineReference.self, from: try JSONEncoder().encode(placedReference))
    #expect(decoded.receiverPlacement == placedReference.receiverPlacement)
    var object = try #require(
      try JSONSerialization.jsonObject(with: try JSONEncoder().encode(placedReference)) as? [String: Any])
    object.removeValue(forKey: "receiverPlacement")
    let older = try JSONDecoder().decode(MachineReference.self, from: try JSONSerialization.data(withJSONObject: object))
    #expect(older.receiverPlacement == nil)
  }

  @Test func referenceFile() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zc-steady-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let missing = Analysis.steadiness(Self.run(c: 2), referenceAt: "\(dir)/none.json")
    #expect(missing.verdict == "not checked")
    #expect(missing.caveats.first?.contains("no reference file") == true)
    try Data("{".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.json"))
    #expect(
      Analysis.steadiness(Self.run(c: 2), referenceAt: "\(dir)/bad.json").caveats.first?.contains("could not be read") == true)
    try JSONEncoder().encode(MachineReference(Self.run(c: 2))).write(to: URL(fileURLWithPath: "\(dir)/ref.json"))
    let read = Analysis.steadiness(Self.run(c: 1), referenceAt: "\(dir)/ref.json")
    #expect(read.verdict == "slow")
    #expect(read.compared == 8)
  }

  @Test func cSourcesDigest() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zc-digest-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(MachineReference.cSourcesDigest(repository: dir) == nil)
    try FileManager.default.createDirectory(atPath: "\(dir)/Benchmarks/c", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: "\(dir)/CShims/src", withIntermediateDirectories: true)
    try Data("int a;\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/Benchmarks/c/a.c"))
    try Data("int b;\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/CShims/src/b.h"))
    try Data("notes".utf8).write(to: URL(fileURLWithPath: "\(dir)/CShims/src/README"))
    let first = try #require(MachineReference.cSourcesDigest(repository: dir))
    #expect(first.count == 16)
    #expect(MachineReference.cSourcesDigest(repository: dir) == first)
    // Files other than .c and .h do not count; a changed source does.
    try Data("more notes".utf8).write(to: URL(fileURLWithPath: "\(dir)/CShims/src/README"))
    #expect(MachineReference.cSourcesDigest(repository: dir) == first)
    try Data("int b2;\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/CShims/src/b.h"))
    #expect(MachineReference.cSourcesDigest(repository: dir) != first)
  }
}
