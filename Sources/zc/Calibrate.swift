// zc calibrate: measure this machine's crossovers for `.automatic` and write a host profile.

import ArgumentParser
import Glibc
import SystemPackage
import ZeroCopy

struct Calibrate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure this machine's crossovers for .automatic and write a host profile.",
    discussion: """
      Each route whose strategy changes with the size (file → file on one filesystem and \
      onto another, file → pipe, file → TCP socket) is measured with its two strategies, \
      interleaved, at a ladder of sizes, in about 10 seconds. A size counts only when one \
      strategy is faster by more than the margin in the median and in two thirds of the \
      rounds; the parameter that contradicts the fewest sizes wins, and the current value \
      (the existing profile's, or the built-in table's) is kept whenever it is among them \
      (a size that contradicts it is measured twice before it counts), \
      so calibrating twice gives the same profile on a quiet machine. zc_transfer and \
      .automatic read the profile in every later process; a profile from another machine, \
      kernel or CPU count is ignored with a note in the report. Docs/Transfer.md, \
      "Host profiles", describes the file.
      """)

  @Option(
    name: .long,
    help: """
      Write the profile here (default: $ZEROCOPY_PROFILE, else $XDG_CACHE_HOME/swift-zerocopy/profile, \
      else ~/.cache/swift-zerocopy/profile).
      """)
  var output: String?

  @Option(name: .long, help: "Measure file copies on this directory's filesystem (default: the profile's directory).")
  var directory: String?

  @Option(name: .long, help: "Only these routes, comma-separated: sameFileSystem, otherFileSystem, pipe, socket.")
  var routes: String?

  @Flag(name: .long, help: "15 rounds of 10 ms blocks (about 25 s): the run the built-in table is derived from.")
  var thorough = false

  @Flag(name: .long, help: "3 rounds of 1 ms blocks (a few seconds): a smoke test, too noisy to trust.")
  var quick = false

  @Flag(name: .long, help: "Measure and print the profile; write nothing.")
  var dryRun = false

  @Flag(name: .long, help: "Start from the built-in table, not from the existing profile.")
  var fresh = false

  @Option(name: .long, help: "Text to add to the profile's `measured` line (a commit, a machine).")
  var note: String?

  func validate() throws {
    if thorough && quick { throw ValidationError("--thorough and --quick exclude each other") }
    _ = try selectedRoutes()
    if output == nil && !dryRun && TransferCalibration.Profile.defaultPath == nil {
      throw ValidationError(
        "no place for the profile: ZEROCOPY_PROFILE is 'builtin', or neither XDG_CACHE_HOME nor HOME is set; pass --output")
    }
  }

  func selectedRoutes() throws -> [TransferCalibration.Route] {
    guard let routes else { return TransferCalibration.Route.allCases }
    return try routes.split(separator: ",").map { name in
      guard let route = TransferCalibration.Route(rawValue: String(name)) else {
        let known = TransferCalibration.Route.allCases.map(\.rawValue).joined(separator: ", ")
        throw ValidationError("unknown route '\(name)'; known routes: \(known)")
      }
      return route
    }
  }

  func run() async throws {
    let path = output.map { FilePath($0) } ?? TransferCalibration.Profile.defaultPath
    let place = directory.map { FilePath($0) } ?? path?.removingLastComponent() ?? FilePath("/tmp")
    if directory == nil, !place.isEmpty {
      // The profile's directory: created now, so that its filesystem can be measured.
      if let failure = makeDirectories(place) {
        printError("zc calibrate: cannot create \(place): \(failure.symbolicName)")
        throw ExitCode(1)
      }
    }
    var options = TransferCalibration.Options(directory: place.isEmpty ? "." : place)
    options.routes = try selectedRoutes()
    if thorough {
      options.rounds = 15
      options.blockNanoseconds = 10_000_000
    } else if quick {
      options.rounds = 3
      options.blockNanoseconds = 1_000_000
    }
    var anchorNote = "the built-in table"
    if !fresh, let path {
      let existing = TransferCalibration.Profile.load(path)
      if existing.source == .file {
        options.anchor = existing.parameters
        anchorNote = "the existing profile"
      }
    }
    print(
      "zc calibrate: measuring in \(options.directory), \(options.rounds) rounds of \(options.blockNanoseconds / 1_000_000) ms, "
        + "margin \(Int(options.margin * 100)) %, starting from \(anchorNote)")
    var result: TransferCalibration.Result
    do {
      result = try TransferCalibration.run(options) { line in print("  " + line) }
    } catch {
      printError("zc calibrate: \(error)")
      throw ExitCode(1)
    }
    if let note { result.profile.measured += "; " + note }
    print("decisions:")
    for decision in result.decisions { print("  \(decision)") }
    let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
    if dryRun {
      print("profile (not written; \(Int(seconds.rounded())) s):")
      print(try result.profile.formatted(), terminator: "")
      return
    }
    guard let path else { throw ValidationError("no place for the profile; pass --output") }
    do {
      try SignalsDeferred.during { () throws(TransferCalibration.ProfileError) in try result.profile.write(to: path) }
    } catch {
      printError("zc calibrate: cannot write \(path): \(error) (\(error.errno.symbolicName))")
      throw ExitCode(1)
    }
    print("profile written to \(path) in \(Int(seconds.rounded())) s: \(result.profile.parameters)")
    print("(read by zc_transfer and .automatic in every new process; ZEROCOPY_PROFILE=builtin ignores it)")
  }
}

/// Holds SIGINT, SIGTERM and SIGHUP while `body` runs (they are recorded, then re-raised
/// once it returns), so that an interrupted profile write never leaves its temporary file.
enum SignalsDeferred {
  nonisolated(unsafe) private static var pending: sig_atomic_t = 0
  private static let signals: [CInt] = [SIGINT, SIGTERM, SIGHUP]

  static func during(_ body: () throws(TransferCalibration.ProfileError) -> Void) throws(TransferCalibration.ProfileError) {
    var previous: [sigaction] = []
    for signal in signals {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { received in SignalsDeferred.pending = sig_atomic_t(received) }
      sigemptyset(&action.sa_mask)
      var old = sigaction()
      sigaction(signal, &action, &old)
      previous.append(old)
    }
    defer {
      for (signal, var old) in zip(signals, previous) { sigaction(signal, &old, nil) }
      if pending != 0 { raise(CInt(pending)) }
    }
    try body()
  }
}

/// `mkdir -p`: nil, or the errno of the `mkdir` that failed.
private func makeDirectories(_ directory: FilePath) -> Errno? {
  if directory.isEmpty || directory.string == "/" { return nil }
  var st = stat()
  if stat(directory.string, &st) == 0 { return (st.st_mode & S_IFMT) == S_IFDIR ? nil : .notDirectory }
  if let failure = makeDirectories(directory.removingLastComponent()) { return failure }
  return mkdir(directory.string, 0o755) == 0 || errno == EEXIST ? nil : Errno(rawValue: errno)
}
