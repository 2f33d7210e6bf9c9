// LinuxIO's view of the shared decision table (CShims/src/plan.c): the rows, the
// parameters' round trip to C, and the fallback errnos.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("TransferPlan (the decision table shared with C)")
struct TransferPlanTests {
  @Test("Docs/Transfer.md's rows, one pair each")
  func rows() {
    func plan(_ s: TransferPlan.EndpointKind, _ d: TransferPlan.EndpointKind, _ f: TransferPlan.PairFacts = [], _ bytes: Int64?) -> String {
      TransferPlan.methods(source: s, destination: d, facts: f, bytes: bytes).map(\.description).joined(separator: ",")
    }
    #expect(plan(.file, .file, .sameFileSystem, 4096) == "copyFileRange,sendfile,readWrite")
    #expect(plan(.file, .file, [], 4096) == "readWrite")
    #expect(plan(.file, .file, [], 16 << 10) == "readWrite")
    #expect(plan(.file, .file, [], (16 << 10) + 1) == "sendfile,readWrite")
    #expect(plan(.file, .file, [], nil) == "sendfile,readWrite")
    #expect(plan(.file, .pipe, [], 1) == "splice,sendfile,readWrite")
    #expect(plan(.file, .tcpSocket, [], nil) == "sendfile,splice,readWrite")
    #expect(plan(.blockDevice, .characterDevice, [], nil) == "sendfile,readWrite")
    #expect(plan(.unixSocket, .file, [], nil) == "splice,readWrite")
    #expect(plan(.pseudoFile, .file, .sameFileSystem, nil) == "readWrite")
    #expect(plan(.file, .file, [.sameFileSystem, .appendOnlyDestination], nil) == "readWrite")
  }

  @Test("Parameters: the defaults come from C, and a calibration moves the crossover")
  func parameters() {
    let d = TransferPlan.Parameters.default
    #expect(d.smallCopyMax == 16 << 10)
    #expect(d.readWriteBufferSize == 128 << 10)
    #expect(d.description == "smallCopyMax=16384 readWriteBuffer=131072")
    let big = TransferPlan.Parameters(smallCopyMax: 1 << 20, readWriteBufferSize: 64 << 10)
    #expect(TransferPlan.methods(source: .file, destination: .file, bytes: 64 << 10, parameters: big) == [.readWrite])
    #expect(TransferPlan.methods(source: .file, destination: .file, bytes: (1 << 20) + 1, parameters: big) == [.sendfile, .readWrite])
    #expect(TransferPlan.methods(source: .file, destination: .file, bytes: 64 << 10) == [.sendfile, .readWrite])
  }

  @Test("The table as data: every row ends with readWrite, the last matches every pair")
  func table() throws {
    let table = TransferPlan.table
    try #require(table.count >= 2)
    for row in table {
      #expect(row.methods.last == .readWrite)
      #expect(!row.why.isEmpty)
    }
    let last = try #require(table.last)
    #expect(last.sources == Set(TransferPlan.EndpointKind.allCases))
    #expect(last.destinations == Set(TransferPlan.EndpointKind.allCases))
    #expect(last.required == [] && last.size == .any)
    #expect(table.contains { $0.size == .atMost(.smallCopyMax) })
    #expect(table.contains { $0.size == .above(.smallCopyMax) })
    #expect(table.first?.required == .appendOnlyDestination)
  }

  @Test("Fallback errnos: exactly EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ENODEV")
  func fallbacks() {
    let all = (1..<200).map { Errno(rawValue: $0) }.filter(TransferPlan.isFallback)
    #expect(Set(all) == Set([EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ENODEV].map { Errno(rawValue: $0) }))
  }
}
