import BenchKit
import Foundation
import Testing

/// The Swift zc64 must equal the C one (Benchmarks/c/zc_checksum.h) on every byte count,
/// or every socket and pipe verification would fail — or worse, pass by accident.
@Suite struct ZC64Tests {
  @Test func emptyStream() {
    #expect(ZC64().hex == "243f6a8885a308d3")
  }

  @Test func chunkingDoesNotMatter() {
    var rng = SystemRandomNumberGenerator()
    let data = (0..<10_007).map { _ in UInt8.random(in: 0...255, using: &rng) }
    var whole = ZC64()
    whole.update(data)
    for split in [1, 3, 7, 8, 9, 4096, 10_006] {
      var parts = ZC64()
      parts.update(Array(data[..<split]))
      parts.update(Array(data[split...]))
      #expect(parts.value == whole.value, "split at \(split)")
    }
    var bytewise = ZC64()
    for b in data { bytewise.update([b]) }
    #expect(bytewise.value == whole.value)
  }

  @Test func matchesTheCChecksum() throws {
    let c = try CTool.build("checksum_file")
    let dir = try TempDir()
    for size in [0, 1, 7, 8, 9, 4095, 65_536, 65_539, 1_000_003] {
      var bytes = [UInt8](repeating: 0, count: size)
      var x: UInt64 = 0x1234_5678 &+ UInt64(size)
      for i in 0..<size {
        x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        bytes[i] = UInt8(truncatingIfNeeded: x >> 33)
      }
      let path = dir.path + "/f\(size)"
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      var z = ZC64()
      z.update(bytes)
      let out = try run(c, [path]).trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(out == z.hex, "size \(size)")
      let (fileSize, fileSum) = try Workspace.checksum(path: path)
      #expect(fileSize == size)
      #expect(ZC64.hex(fileSum) == z.hex)
    }
  }
}
