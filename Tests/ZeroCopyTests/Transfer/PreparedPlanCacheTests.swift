// A PreparedTransfer plans `.automatic` once per size class and reuses the plan: the
// count of computed plans, a different decision for a different class, other parameters
// never served from the cache, concurrent first uses, a named strategy planning only when
// it falls back; the size classes against the C table itself; and the endpoint facts kept
// in LinuxIO's type, with the inspection naming the call that failed.

import Glibc
import LinuxIO
import SystemPackage
import Testing

@testable import ZeroCopy

extension TransferTests {
  @Suite("Prepared transfers: .automatic's plan cache")
  struct PreparedPlanCache {
    /// Today's built-in values, whatever profile the machine running the tests has.
    static let fixture = AutomaticPlanTests.fixture

    /// A source file of `size` bytes and an empty destination in a new directory, open.
    struct Files {
      let directory: TransferFixtures.Directory
      let source: FileDescriptor
      let target: FileDescriptor

      init(size: Int) throws {
        directory = try TransferFixtures.Directory()
        try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(size))
        source = try TransferFixtures.openFile(directory.file("a"), O_RDONLY)
        target = try TransferFixtures.openFile(directory.file("b"), O_RDWR | O_CREAT | O_TRUNC)
      }

      /// The destination's bytes.
      func written() throws -> [UInt8] { try TransferFixtures.readFile(directory.file("b")) }

      func close() {
        try? source.close()
        try? target.close()
        directory.remove()
      }
    }

    @Test("one plan per size class: repeated sizes and sizes of one class compute nothing; other classes decide anew")
    func onePlanPerSizeClass() throws {
      let content = TransferFixtures.bytes(1 << 20)
      let files = try Files(size: content.count)
      defer { files.close() }
      let (source, target) = (files.source, files.target)
      let prepared = try PreparedTransfer(from: source, to: target)
      let automatic = AutomaticStrategy(parameters: Self.fixture)
      // Same filesystem: copy_file_range up to copyFileRangeMax; where copy_file_range
      // copies in the kernel (ext2/3/4, tmpfs) splice first above it, and read/write up to
      // smallCopyMax — for a prepared pair, whose plan pays the fstatfs once.
      let kernelCopy = try TransferPlan.fileSystemCopiesInKernel(target)
      let large = kernelCopy ? "splice" : "copyFileRange"
      let small = kernelCopy ? "readWrite" : "copyFileRange"
      #expect(prepared.planComputations == 0)

      func run(_ count: Int64?, _ strategy: AutomaticStrategy) throws -> TransferReport {
        let report = try prepared.runBlocking(offset: 0, count: count, at: 0, strategy: strategy)
        #expect(report.bytes == count ?? (1 << 20), "\(report)")
        #expect(report.fallbacks.isEmpty, "\(report)")
        return report
      }
      for _ in 0..<3 { #expect(try run(4096, automatic).strategy == small) }
      #expect(prepared.planComputations == 1)
      // 1 MiB: another class, another decision.
      for _ in 0..<2 { #expect(try run(1 << 20, automatic).strategy == large) }
      #expect(prepared.planComputations == 2)
      // 8 KiB is in 4 KiB's class (at most every crossover); 20 KiB is not (above smallCopyMax).
      #expect(try run(8192, automatic).strategy == small)
      #expect(prepared.planComputations == 2)
      #expect(try run(20_000, automatic).strategy == "copyFileRange")
      #expect(prepared.planComputations == 3)
      // Without a count: the size read now (1 MiB) decides, in 1 MiB's class.
      #expect(try run(nil, automatic).strategy == large)
      #expect(prepared.planComputations == 3)
      // A copy of the prepared transfer shares the plans.
      let copy = prepared
      #expect(try copy.runBlocking(offset: 0, count: 4096, at: 0, strategy: automatic).strategy == small)
      #expect(copy.planComputations == 3)
      // Other parameters get their own decision: copyFileRangeMax 0 puts 4 KiB on the
      // "above" row (splice first on ext4/tmpfs), a class of its own (planned once)...
      var other = Self.fixture
      other.copyFileRangeMax = 0
      let otherAutomatic = AutomaticStrategy(parameters: other)
      #expect(try run(4096, otherAutomatic).strategy == large)
      #expect(try run(4096, otherAutomatic).strategy == large)
      #expect(prepared.planComputations == 4)
      // ...and parameters whose classes are the fixture's are never answered with the
      // fixture's plan (another read/write buffer): planned on every run, as for a
      // one-shot transfer (no fstatfs for a small copy: copy_file_range kept first).
      var buffer = Self.fixture
      buffer.readWriteBufferSize = 64 << 10
      let bufferAutomatic = AutomaticStrategy(parameters: buffer)
      #expect(try run(4096, bufferAutomatic).strategy == "copyFileRange")
      #expect(try run(4096, bufferAutomatic).strategy == "copyFileRange")
      #expect(prepared.planComputations == 6)
      // The fixture's plan is still the cached one.
      #expect(try run(4096, automatic).strategy == small)
      #expect(prepared.planComputations == 6)
      // A one-shot transfer of the same descriptors does not pay the fstatfs for 4 KiB.
      let oneShot = try Transfer.runBlocking(
        TransferRequest(from: source, offset: 0, count: 4096, to: target, at: 0), strategy: automatic)
      #expect(oneShot.strategy == "copyFileRange" && oneShot.bytes == 4096, "\(oneShot)")
      TransferFixtures.expectSame(try files.written(), content, "destination")
    }

    @Test("a named strategy with fallback allowed plans .automatic's candidates only when it gives way, once per class")
    func namedStrategyPlansOnlyOnFallback() throws {
      let files = try Files(size: 8192)
      defer { files.close() }
      let (source, target) = (files.source, files.target)
      let prepared = try PreparedTransfer(from: source, to: target)
      for _ in 0..<3 {
        let report = try prepared.runBlocking(offset: 0, count: 8192, at: 0, strategy: .readWrite)
        #expect(report.strategy == "readWrite" && report.fallbacks.isEmpty && report.profile == nil, "\(report)")
      }
      #expect(prepared.planComputations == 0)
      // copy_file_range into a pipe is not supported: .automatic's file → pipe plan
      // (sendfile first) takes over, planned once.
      let (r, w) = try TransferFixtures.makePipe()
      defer {
        try? r.close()
        try? w.close()
      }
      let toPipe = try PreparedTransfer(from: source, to: w)
      for _ in 0..<2 {
        let report = try toPipe.runBlocking(offset: 0, count: 4096, strategy: .copyFileRange)
        #expect(report.strategy == "sendfile", "\(report)")
        #expect(report.fallbacks.map(\.strategy) == ["copyFileRange"], "\(report)")
        #expect(report.profile != nil, "\(report)")
        var back = [UInt8](repeating: 0, count: 4096)
        #expect(read(r.rawValue, &back, 4096) == 4096)
        #expect(back == TransferFixtures.bytes(4096))
      }
      #expect(toPipe.planComputations == 1)
    }

    @Test("threads racing to plan the same class all get the same decision; the plan is published once")
    func concurrentFirstUse() async throws {
      let content = TransferFixtures.bytes(64 << 10)
      let files = try Files(size: content.count)
      defer { files.close() }
      let (source, target) = (files.source, files.target)
      let prepared = try PreparedTransfer(from: source, to: target)
      let automatic = AutomaticStrategy(parameters: Self.fixture)
      let workers = 4
      let strategies = try await withThrowingTaskGroup(of: [String].self) { group in
        for worker in 0..<workers {
          group.addTask {
            var names: [String] = []
            for piece in stride(from: worker, to: 16, by: workers) {
              let offset = Int64(piece * 4096)
              let report = try prepared.runBlocking(offset: offset, count: 4096, at: offset, strategy: automatic)
              #expect(report.bytes == 4096)
              names.append(report.strategy)
            }
            return names
          }
        }
        return try await group.reduce(into: []) { $0 += $1 }
      }
      let small = try TransferPlan.fileSystemCopiesInKernel(target) ? "readWrite" : "copyFileRange"
      #expect(strategies == Array(repeating: small, count: 16))
      // Every racer may have planned before the first publication; later runs did not.
      #expect((1...workers).contains(prepared.planComputations), "\(prepared.planComputations)")
      let before = prepared.planComputations
      _ = try prepared.runBlocking(offset: 0, count: 4096, at: 0, strategy: automatic)
      #expect(prepared.planComputations == before)
      TransferFixtures.expectSame(try files.written(), content, "destination")
    }

    @Test("size classes: exact bits, and two sizes of one class get the same methods for every route and fact")
    func sizeClassesMatchTheTable() {
      let p = Self.fixture
      #expect(AutomaticPlanCache.classCount == 16)
      #expect(AutomaticPlanCache.sizeClass(nil, parameters: p) == 0)
      #expect(AutomaticPlanCache.sizeClass(0, parameters: p) == 15)
      #expect(AutomaticPlanCache.sizeClass(-5, parameters: p) == 15)
      #expect(AutomaticPlanCache.sizeClass(16 << 10, parameters: p) == 15)
      #expect(AutomaticPlanCache.sizeClass((16 << 10) + 1, parameters: p) == 14)
      #expect(AutomaticPlanCache.sizeClass(256 << 10, parameters: p) == 14)
      #expect(AutomaticPlanCache.sizeClass((256 << 10) + 1, parameters: p) == 4)
      #expect(AutomaticPlanCache.sizeClass(Int64.max, parameters: p) == 4)
      // The C table, asked directly: same class => same methods, for every pair of kinds
      // and every combination of facts (the kernel-copy fact included).
      var q = p
      q.pipeSendfileMax = 1 << 20
      let sizes: [Int64?] = [
        nil, 0, 1, 4096, 16 << 10, (16 << 10) + 1, 256 << 10, (256 << 10) + 1, 1 << 20, (1 << 20) + 1, 1 << 40,
      ]
      let allFacts: [TransferPlan.PairFacts] = (0..<8).map { TransferPlan.PairFacts(rawValue: UInt32($0)) }
      var mismatches: [String] = []
      for parameters in [p, q] {
        for a in sizes {
          for b in sizes
          where AutomaticPlanCache.sizeClass(a, parameters: parameters) == AutomaticPlanCache.sizeClass(b, parameters: parameters)
          {
            for s in TransferEndpoint.Kind.allCases {
              for d in TransferEndpoint.Kind.allCases {
                for facts in allFacts {
                  let ma = TransferPlan.methods(source: s, destination: d, facts: facts, bytes: a, parameters: parameters)
                  let mb = TransferPlan.methods(source: s, destination: d, facts: facts, bytes: b, parameters: parameters)
                  if ma != mb {
                    mismatches.append("\(s)→\(d) \(facts.rawValue) \(String(describing: a)) vs \(String(describing: b))")
                  }
                }
              }
            }
          }
        }
      }
      #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
      // ...and different classes do differ somewhere (the classes are not coarser than needed).
      #expect(
        TransferPlan.methods(source: .file, destination: .file, facts: [], bytes: 16 << 10, parameters: p)
          != TransferPlan.methods(source: .file, destination: .file, facts: [], bytes: (16 << 10) + 1, parameters: p))
    }

    @Test("an endpoint keeps LinuxIO's facts; the inspection names the failed call (fstat for a closed descriptor)")
    func endpointFactsAndInspectionErrors() throws {
      let directory = try TransferFixtures.Directory()
      defer { directory.remove() }
      try TransferFixtures.writeFile(directory.file("a"), TransferFixtures.bytes(5000))
      let fd = try TransferFixtures.openFile(directory.file("a"), O_RDWR | O_APPEND)
      defer { try? fd.close() }
      let endpoint = try TransferEndpoint.inspect(fd, path: FilePath(directory.file("a")))
      let facts = try TransferPlan.inspect(fd)
      #expect(endpoint.facts == facts)
      #expect(endpoint.kind == .file && endpoint.size == 5000 && endpoint.isAppendOnly && !endpoint.isNonBlocking)
      #expect(endpoint.device == facts.device && endpoint.inode == facts.inode && endpoint.permissions == facts.permissions)
      let byHand = TransferEndpoint(
        descriptor: fd, kind: .file, size: 5000, device: facts.device, inode: facts.inode, permissions: facts.permissions,
        isAppendOnly: true, isNonBlocking: false, path: FilePath(directory.file("a")))
      #expect(byHand == endpoint)
      #expect(TransferEndpoint(descriptor: fd, facts: facts, path: FilePath(directory.file("a"))) == endpoint)

      let closed = FileDescriptor(rawValue: -1)
      #expect(throws: TransferPlan.InspectionError(syscall: "fstat", errno: .badFileDescriptor)) {
        try TransferPlan.inspectEndpoint(closed)
      }
      #expect(throws: Errno.badFileDescriptor) { try TransferPlan.inspect(closed) }
      let error = #expect(throws: ZeroCopyError.self) { try TransferEndpoint.inspect(closed) }
      #expect(error?.syscall == "fstat")
      #expect(error?.errno == .badFileDescriptor)
    }
  }
}
