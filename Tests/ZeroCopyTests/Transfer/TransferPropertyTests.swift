// Property: for random sizes, offsets, lengths (past the end too), strategies (every
// entry of TransferStrategies.builtIn, `.automatic` included), chunk sizes and destination
// kinds, a transfer delivers exactly the source bytes it should — byte for byte, at the
// right place — and reports exactly that many bytes, whether or not the strategy had to
// fall back. Seeded: the seed is printed, and ZC_PROPERTY_SEED=<seed> replays a run
// (ZC_PROPERTY_CASES=<n> changes the number of cases, 400 by default).

import Glibc
import SystemPackage
import Testing
import ZeroCopy

extension TransferTests {
  @Suite("Transfer properties", .timeLimit(.hangGuard(minutes: 3)))
  struct Properties {
    enum DestinationKind: String, CaseIterable {
      case file, fileAtOffset, appendFile, pipe, unixSocket, tcpSocket
    }

    /// One generated case.
    struct Case: CustomStringConvertible {
      var size: Int
      var offset: Int
      var usesPosition: Bool
      var count: Int?
      var strategy: String
      var chunkSize: Int
      var destination: DestinationKind
      var destinationOffset: Int
      var prefill: Int
      var patternStart: Int

      var description: String {
        "size \(size), offset \(offset)\(usesPosition ? " (file position)" : ""), count \(count.map(String.init) ?? "nil (to EOF)"), "
          + "strategy \(strategy), chunkSize \(chunkSize), destination \(destination.rawValue)"
          + (destination == .fileAtOffset ? " at \(destinationOffset)" : "")
          + (prefill > 0 ? " (prefilled \(prefill) bytes)" : "")
      }

      /// The bytes that must arrive.
      var expectedCount: Int {
        let available = Swift.max(0, size - offset)
        return count.map { Swift.min($0, available) } ?? available
      }
    }

    static let seed: UInt64 = {
      if let raw = getenv("ZC_PROPERTY_SEED") {
        let text = String(cString: raw)
        if let value = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text) { return value }
      }
      return UInt64.random(in: 0...UInt64.max)
    }()

    static let caseCount: Int = {
      if let raw = getenv("ZC_PROPERTY_CASES"), let n = Int(String(cString: raw)), n > 0 { return n }
      return 400
    }()

    /// A size near an interesting boundary, or anywhere up to 3 MiB.
    static func pickSize(_ rng: inout SplitMix, chunkSize: Int) -> Int {
      let boundaries = [0, 1, 4096, 65536, 1 << 20, chunkSize, 2 * chunkSize]
      if Int.random(in: 0..<3, using: &rng) < 2 {
        let base = boundaries.randomElement(using: &rng)!
        return Swift.max(0, Swift.min(3 << 20, base + Int.random(in: -1...1, using: &rng)))
      }
      return Int.random(in: 0...(3 << 20), using: &rng)
    }

    static func generate(_ rng: inout SplitMix, strategies: [String]) -> Case {
      let chunkSize = [4096, 65536, 1 << 20, 8 << 20].randomElement(using: &rng)!
      let size = pickSize(&rng, chunkSize: chunkSize)
      let offset: Int
      switch Int.random(in: 0..<6, using: &rng) {
      case 0: offset = 0
      case 1: offset = size  // at the end: nothing to move
      case 2: offset = size + Int.random(in: 1...5000, using: &rng)  // past the end
      case 3: offset = Swift.min(size, [1, 4095, 4096, 4097, 65536].randomElement(using: &rng)!)
      default: offset = Int.random(in: 0...size, using: &rng)
      }
      let available = Swift.max(0, size - offset)
      let count: Int?
      switch Int.random(in: 0..<6, using: &rng) {
      case 0: count = nil
      case 1: count = 0
      case 2: count = available + Int.random(in: 1...100_000, using: &rng)  // past EOF
      case 3: count = available
      default: count = Int.random(in: 0...available, using: &rng)
      }
      let destination = DestinationKind.allCases.randomElement(using: &rng)!
      let prefill = (destination == .fileAtOffset || destination == .appendFile) ? Int.random(in: 0...10_000, using: &rng) : 0
      let destinationOffset = destination == .fileAtOffset ? Int.random(in: 0...(prefill + 5000), using: &rng) : 0
      return Case(
        size: size, offset: offset, usesPosition: Int.random(in: 0..<4, using: &rng) == 0, count: count,
        strategy: strategies.randomElement(using: &rng)!, chunkSize: chunkSize, destination: destination,
        destinationOffset: destinationOffset, prefill: prefill,
        patternStart: Int.random(in: 0...(TransferFixtures.pattern.count - size - 1), using: &rng))
    }

    @Test("random transfers are byte-exact with exact counts")
    func randomTransfers() async throws {
      let seed = Self.seed
      print("Transfer properties: \(Self.caseCount) cases, ZC_PROPERTY_SEED=\(seed)")
      var rng = SplitMix(seed: seed)
      let strategies = TransferStrategies.builtIn.map(\.name)
      #expect(strategies.contains("automatic"))
      let disk = try TransferFixtures.Directory(in: "/tmp")
      defer { disk.remove() }
      var byStrategy: [String: Int] = [:]
      var byDestination: [String: Int] = [:]
      var fallbacks = 0
      for index in 0..<Self.caseCount {
        let c = Self.generate(&rng, strategies: strategies)
        let label = "ZC_PROPERTY_SEED=\(seed) case #\(index): \(c)"
        do {
          let report = try await run(c, in: disk, label: label)
          byStrategy[report.strategy, default: 0] += 1
          byDestination[c.destination.rawValue, default: 0] += 1
          if !report.fallbacks.isEmpty { fallbacks += 1 }
        } catch let failure as PropertyFailure {
          Issue.record("\(label): \(failure.message)")
          return  // the first failing case is the one to replay
        } catch {
          Issue.record("\(label): threw \(error)")
          return
        }
      }
      print(
        "Transfer properties: \(Self.caseCount) cases passed (seed \(seed)); \(fallbacks) fell back; "
          + "ran: \(byStrategy.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); "
          + "destinations: \(byDestination.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }

    struct PropertyFailure: Error { var message: String }

    /// Runs one case; throws PropertyFailure with what differed.
    private func run(_ c: Case, in disk: TransferFixtures.Directory, label: String) async throws -> TransferReport {
      guard let strategy = TransferStrategies.named(c.strategy) else {
        throw PropertyFailure(message: "strategy \(c.strategy) vanished")
      }
      let content = TransferFixtures.bytes(c.size, from: c.patternStart)
      let sourcePath = disk.file("source")
      try TransferFixtures.writeFile(sourcePath, content)
      let source = try TransferFixtures.openFile(sourcePath, O_RDONLY)
      defer { try? source.close() }
      if c.usesPosition { _ = try source.seek(offset: Int64(c.offset), from: .start) }
      let expectedCount = c.expectedCount
      let expected = expectedCount > 0 ? Array(content[c.offset..<(c.offset + expectedCount)]) : []
      let options = TransferOptions(chunkSize: c.chunkSize)
      func request(_ destination: FileDescriptor, at destinationOffset: Int64? = nil) -> TransferRequest {
        TransferRequest(
          from: source, offset: c.usesPosition ? nil : Int64(c.offset), count: c.count.map(Int64.init),
          to: destination, at: destinationOffset)
      }

      let report: TransferReport
      let received: [UInt8]
      var wanted = expected
      switch c.destination {
      case .file, .fileAtOffset, .appendFile:
        let path = disk.file("destination")
        let prefillBytes = [UInt8](repeating: 0x5A, count: c.prefill)
        try TransferFixtures.writeFile(path, prefillBytes)
        let flags = c.destination == .appendFile ? O_WRONLY | O_APPEND : O_RDWR
        let destination = try TransferFixtures.openFile(path, flags)
        defer { try? destination.close() }
        let at: Int64? = c.destination == .fileAtOffset ? Int64(c.destinationOffset) : (c.destination == .file ? 0 : nil)
        report = try await Transfer.run(request(destination, at: at), strategy: strategy, options: options)
        received = try TransferFixtures.readFile(path)
        switch c.destination {
        case .appendFile:
          wanted = prefillBytes + expected
        case .fileAtOffset:
          var image = prefillBytes
          if expectedCount > 0 {
            let end = c.destinationOffset + expectedCount
            if image.count < end { image += [UInt8](repeating: 0, count: end - image.count) }
            image.replaceSubrange(c.destinationOffset..<end, with: expected)
          }
          wanted = image
        default:
          break
        }
      case .pipe, .unixSocket, .tcpSocket:
        let (readEnd, writeEnd): (FileDescriptor, FileDescriptor)
        switch c.destination {
        case .pipe: (readEnd, writeEnd) = try TransferFixtures.makePipe()
        case .unixSocket: (writeEnd, readEnd) = try TransferFixtures.makeUnixPair()
        default: (writeEnd, readEnd) = try TransferFixtures.makeTCPPair()
        }
        let reader = TransferFixtures.reader(readEnd)
        let outcome: Result<TransferReport, ZeroCopyError>
        do throws(ZeroCopyError) {
          outcome = .success(try await Transfer.run(request(writeEnd), strategy: strategy, options: options))
        } catch {
          outcome = .failure(error)
        }
        try writeEnd.close()
        received = reader.join()
        try readEnd.close()
        report = try outcome.get()
      }

      if report.bytes != Int64(expectedCount) {
        throw PropertyFailure(message: "reported \(report.bytes) bytes, expected \(expectedCount) (\(report))")
      }
      let endedEarly = c.count.map { expectedCount < $0 } ?? false
      if report.sourceEndedEarly != endedEarly {
        throw PropertyFailure(message: "sourceEndedEarly \(report.sourceEndedEarly), expected \(endedEarly) (\(report))")
      }
      let same =
        received.count == wanted.count
        && received.withUnsafeBytes { a in
          wanted.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
      if !same {
        let first = zip(received, wanted).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        throw PropertyFailure(
          message:
            "destination holds \(received.count) bytes, expected \(wanted.count); first difference at \(first.map(String.init) ?? "the end") (\(report))"
        )
      }
      if c.usesPosition {
        let position = Int(try source.seek(offset: 0, from: .current))
        if position != c.offset + expectedCount {
          throw PropertyFailure(message: "source position \(position), expected \(c.offset + expectedCount) (\(report))")
        }
      }
      return report
    }
  }
}
