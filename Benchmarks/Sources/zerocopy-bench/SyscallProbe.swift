// Hidden: one transfer between two marker syscalls, for the strace cross-check of the
// library's own syscall count (Tests/BenchKitTests/StraceTests.swift).

import ArgumentParser
import BenchKit
import Foundation
import Glibc

struct SyscallProbe: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "_syscall-probe", abstract: "One transfer between marker syscalls (for strace).",
    shouldDisplay: false)

  @Option var subject: String
  @Option var source: String

  mutating func run() async throws {
    let all: [any Subject] = SwiftSubjects.sources().swiftTransfers() + LinuxIOSubject.all()
    guard let s = all.first(where: { $0.info.id == subject }) else { throw ValidationError("unknown subject \(subject)") }
    do {
      let count = try await SyscallProbeRunner.run(s, source: source)
      print("syscalls=\(count)")
    } catch let u as UnsupportedHere {
      print("unsupported: \(u.reason)")
    }
  }
}
