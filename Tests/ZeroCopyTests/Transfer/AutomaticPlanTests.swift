// `.automatic` reads the decision table that C's zc_transfer uses (LinuxIO's
// TransferPlan): its plans for inspected-looking endpoint pairs, its fallback errnos
// against the C list, and parameters passed through.

import Glibc
import LinuxIO
import SystemPackage
import Testing
import ZeroCopy

@Suite("AutomaticStrategy reads the shared table")
struct AutomaticPlanTests {
  private func endpoint(_ kind: TransferEndpoint.Kind, device: UInt64 = 1, append: Bool = false) -> TransferEndpoint {
    TransferEndpoint(descriptor: FileDescriptor(rawValue: -1), kind: kind, device: device, isAppendOnly: append)
  }

  /// Explicit parameters (today's built-in values), whatever profile the machine running
  /// the tests has and however the built-in table is rederived (make builtin-profile).
  static let fixture = TransferPlan.Parameters(
    smallCopyMax: 16 << 10, readWriteBufferSize: 128 << 10, copyFileRangeMax: 256 << 10,
    pipeSendfileMax: TransferPlan.Parameters.unlimited, socketSendfileMax: 256 << 10)
  private static let builtIn = AutomaticStrategy(parameters: fixture)

  private func names(_ s: TransferEndpoint, _ d: TransferEndpoint, _ bytes: Int64?, _ a: AutomaticStrategy = builtIn) -> String {
    a.plan(for: EndpointPair(source: s, destination: d), bytes: bytes).map(\.name).joined(separator: ",")
  }

  @Test("Plans for the table's rows, with the pair's facts computed from the endpoints")
  func plans() {
    #expect(names(endpoint(.file), endpoint(.file), 4096) == "copyFileRange,sendfile,readWrite")
    #expect(names(endpoint(.file), endpoint(.file, device: 2), 4096) == "readWrite")
    #expect(names(endpoint(.file), endpoint(.file, device: 2), 1 << 20) == "sendfile,readWrite")
    #expect(names(endpoint(.file), endpoint(.file, device: 2), nil) == "sendfile,readWrite")
    #expect(names(endpoint(.file), endpoint(.file, append: true), nil) == "readWrite")
    #expect(names(endpoint(.file), endpoint(.pipe), 1) == "sendfile,splice,readWrite")
    #expect(names(endpoint(.file), endpoint(.pipe), nil) == "splice,sendfile,readWrite")
    #expect(names(endpoint(.blockDevice), endpoint(.unixSocket), 4096) == "sendfile,splice,readWrite")
    #expect(names(endpoint(.blockDevice), endpoint(.unixSocket), nil) == "splice,sendfile,readWrite")
    #expect(names(endpoint(.file), endpoint(.characterDevice), nil) == "sendfile,readWrite")
    #expect(names(endpoint(.tcpSocket), endpoint(.file), nil) == "splice,readWrite")
    #expect(names(endpoint(.pseudoFile), endpoint(.file), nil) == "readWrite")
    #expect(names(endpoint(.otherSocket), endpoint(.pipe), nil) == "readWrite")
  }

  @Test("Every kind pair: the strategies are the C table's methods, in order")
  func everyPair() {
    for s in TransferEndpoint.Kind.allCases {
      for d in TransferEndpoint.Kind.allCases {
        for device in [UInt64(1), 2] {
          for bytes in [Int64?.none, 0, 4096, 1 << 30] {
            let pair = EndpointPair(source: endpoint(s), destination: endpoint(d, device: device))
            var facts: TransferPlan.PairFacts = []
            if pair.isSameFileSystem { facts.insert(.sameFileSystem) }
            let want = TransferPlan.methods(
              source: s, destination: d,
              facts: facts, bytes: bytes, parameters: Self.fixture)
            let got = Self.builtIn.plan(for: pair, bytes: bytes).map(\.name)
            #expect(got == want.map(\.description), "\(s) → \(d) device \(device) bytes \(String(describing: bytes))")
          }
        }
      }
    }
  }

  @Test("The fallback errnos are C's (zc_fallback_errno)")
  func fallbackErrnos() {
    let c = Set((1..<4096).map { Errno(rawValue: $0) }.filter(TransferPlan.isFallback))
    let documented: Set<Errno> = [
      .improperLink, .invalidArgument, .noFunction, .notSupported, .notPermitted, Errno(rawValue: ENODEV),
    ]
    #expect(c == documented)
    #expect(TransferPlan.fallbackErrnos == documented)
    #expect(TransferContext.fallbackErrnos == documented)
  }

  @Test("Parameters reach the plan: a calibrated crossover and read/write buffer")
  func parameters() throws {
    let calibrated = AutomaticStrategy(parameters: TransferPlan.Parameters(smallCopyMax: 1 << 20, readWriteBufferSize: 32 << 10))
    #expect(names(endpoint(.file), endpoint(.file, device: 2), 64 << 10, calibrated) == "readWrite")
    #expect(names(endpoint(.file), endpoint(.file, device: 2), 64 << 10) == "sendfile,readWrite")
    let readWrite = try #require(
      calibrated.plan(for: EndpointPair(source: endpoint(.pipe), destination: endpoint(.file)), bytes: nil).last
        as? ReadWriteStrategy)
    #expect(readWrite.bufferSize == 32 << 10)
    #expect(AutomaticStrategy.smallTransferLimit == TransferPlan.Parameters.default.smallCopyMax)
    #expect(AutomaticStrategy.readWrite.bufferSize == TransferPlan.Parameters.default.readWriteBufferSize)
    #expect(calibrated.profile.source == .explicit && calibrated.profile.name == "explicit parameters")
  }

  @Test("AutomaticStrategy() decides with the host's profile; init(profile:) with the one given")
  func profiles() throws {
    #expect(AutomaticStrategy().profile == TransferPlan.Profile.host)
    var p = Self.fixture
    p[.socketSendfileMax] = 0
    let profile = TransferPlan.Profile.measuredHere(parameters: p, measured: "test")
    let automatic = AutomaticStrategy(profile: profile)
    #expect(automatic.parameters == p)
    #expect(names(endpoint(.file), endpoint(.tcpSocket), 4096, automatic) == "splice,sendfile,readWrite")
    #expect(names(endpoint(.file), endpoint(.tcpSocket), 4096) == "sendfile,splice,readWrite")
  }
}
