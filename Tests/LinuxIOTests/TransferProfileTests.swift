// Host profiles through LinuxIO (C's parser, CShims/src/profile.c): the built-in table is
// the committed profile, text round-trips, bad files give the built-in table with a note
// (never an error or a crash), and write(to:) is atomic.

import Foundation
import Glibc
import LinuxIO
import SystemPackage
import Testing

@Suite("TransferPlan.Profile (host profiles, parsed in C)")
struct TransferProfileTests {
  /// A scratch directory, removed by `remove()`.
  struct Scratch {
    let path: String
    init() throws {
      var template = Array("/tmp/zc-profile-swift-XXXXXX".utf8CString)
      guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw Errno(rawValue: errno)
      }
      _ = made
      path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    func file(_ name: String) -> FilePath { FilePath(path + "/" + name) }
    func write(_ name: String, _ text: String) throws {
      let fd = try FileDescriptor.open(file(name), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
      defer { try? fd.close() }
      _ = try fd.writeAll(Array(text.utf8))
    }
    func remove() { _ = system("rm -rf '\(path)'") }
  }

  @Test("The built-in table is the committed Docs/bench/profile/builtin.profile, read by the same parser")
  func builtInIsTheCommittedProfile() throws {
    let builtIn = TransferPlan.Profile.builtIn
    #expect(builtIn.source == .builtIn && builtIn.name == "built-in" && builtIn.note == nil && builtIn.path == nil)
    #expect(builtIn.parameters == TransferPlan.Parameters.default)
    #expect(!builtIn.measured.isEmpty && !builtIn.measured.hasPrefix("fallback constants"))
    // The file that mk/builtin-profile.sh turned into CShims/src/plan_builtin.h.
    let repo = FilePath(#filePath).removingLastComponent().removingLastComponent().removingLastComponent()
    let path = repo.appending("Docs/bench/profile/builtin.profile")
    let fd = try FileDescriptor.open(path, .readOnly)
    defer { try? fd.close() }
    var bytes = [UInt8](repeating: 0, count: 65536)
    let n = try bytes.withUnsafeMutableBytes { try fd.read(into: $0) }
    let committed = try TransferPlan.Profile.parse(String(decoding: bytes.prefix(n), as: UTF8.self))
    #expect(committed.parameters == builtIn.parameters, "plan_builtin.h is stale: run make builtin-profile-header")
    #expect(committed.measured == builtIn.measured && committed.created == builtIn.created)
  }

  @Test("Text round-trips through format and parse; a profile measured here passes the host check")
  func roundTrip() throws {
    var p = TransferPlan.Parameters.default
    p[.pipeSendfileMax] = 65536
    p[.copyFileRangeMax] = TransferPlan.Parameters.unlimited
    let here = TransferPlan.Profile.measuredHere(parameters: p, measured: "test\nwith a newline")
    #expect(here.measured == "test with a newline")
    #expect(here.hostHash.count == 16 && here.cpus >= 1 && !here.kernel.isEmpty)
    try here.checkHost()
    let text = try here.formatted()
    #expect(
      text.contains("zerocopy-profile 1\n") && text.contains("copyFileRangeMax max\n") && text.contains("pipeSendfileMax 65536\n")
    )
    let back = try TransferPlan.Profile.parse(text)
    #expect(back.parameters == p && back.hostHash == here.hostHash && back.kernel == here.kernel && back.cpus == here.cpus)
    #expect(back.source == .file)
    var other = back
    other.kernel += "-other"
    #expect(throws: TransferPlan.ProfileError.self) { try other.checkHost() }
    do {
      try other.checkHost()
    } catch {
      #expect(error.errno == .staleNFSFileHandle && error.reason.contains("calibrated on kernel"))
    }
  }

  @Test("Malformed text and other format versions throw EINVAL / EPROTO with the line")
  func parseErrors() {
    func failure(_ text: String) -> TransferPlan.ProfileError? {
      do {
        _ = try TransferPlan.Profile.parse(text)
        return nil
      } catch { return error }
    }
    #expect(failure("")?.errno == .invalidArgument)
    #expect(failure("zerocopy-profile 9\n")?.errno == Errno(rawValue: EPROTO))
    #expect(failure("zerocopy-profile 9\n")?.reason == "format version 9; this library reads version 1")
    let e = failure("zerocopy-profile 1\nwho knows\n")
    #expect(e?.errno == .invalidArgument && e?.reason == "line 2: unknown key 'who'")
    #expect(failure("{\"a\":1}")?.reason.contains("not a swift-zerocopy profile") == true)
  }

  @Test("Bad files: the built-in table, source rejected, and a note naming the file and the problem")
  func rejectedFiles() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let builtIn = TransferPlan.Parameters.default
    func expectRejected(_ path: FilePath, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
      let p = TransferPlan.Profile.load(path)
      #expect(p.source == .rejected, sourceLocation: sourceLocation)
      #expect(p.parameters == builtIn, sourceLocation: sourceLocation)
      #expect(p.name == "built-in" && p.path == path, sourceLocation: sourceLocation)
      let note = p.note ?? ""
      #expect(
        note.contains(path.string) && note.contains(fragment) && note.contains("the built-in table decides"), "\(note)",
        sourceLocation: sourceLocation)
      #expect(p.description == "built-in (\(note))", sourceLocation: sourceLocation)
    }
    expectRejected(scratch.file("missing"), "cannot be opened: No such file or directory (ENOENT)")
    expectRejected(FilePath(scratch.path), "it is a directory")
    try scratch.write("garbage", "\u{1}\u{2}binary")
    expectRejected(scratch.file("garbage"), "line 1: not a swift-zerocopy profile")
    try scratch.write("v2", "zerocopy-profile 2\n")
    expectRejected(scratch.file("v2"), "format version 2")
    // Another machine's profile: a valid file with another host hash.
    var text = try TransferPlan.Profile.measuredHere(parameters: builtIn, measured: "x").formatted()
    let hostLine = text.split(separator: "\n").first { $0.hasPrefix("host ") }!
    text = text.replacingOccurrences(of: String(hostLine), with: "host 0123456789abcdef")
    try scratch.write("other", text)
    expectRejected(scratch.file("other"), "written on another machine")
    #expect(mkfifo(scratch.file("fifo").string, 0o600) == 0)
    expectRejected(scratch.file("fifo"), "not a regular file")
  }

  @Test("write(to:) creates the directories, replaces atomically, and load reads it back")
  func writeAndLoad() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    var p = TransferPlan.Parameters.default
    p[.smallCopyMax] = 8192
    let profile = TransferPlan.Profile.measuredHere(parameters: p, measured: "zc calibrate (test)")
    let path = scratch.file("cache/swift-zerocopy/profile")
    try profile.write(to: path)
    try profile.write(to: path)  // over an existing one
    let loaded = TransferPlan.Profile.load(path)
    #expect(loaded.source == .file && loaded.note == nil && loaded.path == path && loaded.name == path.string)
    #expect(loaded.parameters == p && loaded.measured == "zc calibrate (test)")
    // Nothing but the profile is left in the directory.
    #expect(system("test \"$(ls -A '\(scratch.path)/cache/swift-zerocopy')\" = profile") == 0)
    // A directory in the way: the errno, no temporary file.
    try scratch.write("blocker", "x")
    #expect(throws: TransferPlan.ProfileError.self) { try profile.write(to: scratch.file("blocker/profile")) }
  }
}
