// zc probe

import ArgumentParser
import ZeroCopy

struct Probe: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show io_uring availability and opcodes, and which strategies work here between which kinds.",
    discussion: """
      Every strategy is tried on every route with a small real transfer (fallbacks off) and \
      the bytes that arrive are checked. Cells: ok (works), - (the strategy does not \
      support that route), an errno name (the kernel refused), skip (the route could not \
      be set up).
      """)

  @Flag(name: .long, help: "Also print why each strategy is unsupported or failed.")
  var verbose = false

  func run() async throws {
    let ioUring = TransferProbe.ioUring
    if ioUring.isAvailable {
      print("io_uring: available; features \(ioUring.features)")
      print("io_uring opcodes (\(ioUring.supportedOpcodes.count)):")
      printWrapped(ioUring.supportedOpcodes, indent: "  ", width: 100)
    } else {
      print("io_uring: unavailable: \(ioUring.reason ?? "unknown reason")")
      if let errno = ioUring.setupErrno { print("  io_uring_setup: \(errno.symbolicName) (errno \(errno.rawValue))") }
      if let errno = ioUring.registerErrno { print("  io_uring_register: \(errno.symbolicName) (errno \(errno.rawValue))") }
    }
    let maximum = TransferProbe.pipeMaximumCapacity.map(String.init) ?? "unknown"
    print(
      "pipes: pipe-max-size \(maximum) bytes; splice pool: up to \(PipePool.shared.maximumPipes) pipes of \(PipePool.shared.capacity) bytes"
    )

    let entries = TransferProbe.run()
    let routes = TransferProbe.Route.allCases
    let strategies = TransferStrategies.all.map(\.name)
    let nameWidth = (strategies.map(\.count).max() ?? 8) + 2
    let widths = routes.map { max($0.rawValue.count, 10) + 2 }
    print("strategies (a \(16385)-byte trial per route, no fallback):")
    var header = "  " + pad("", nameWidth)
    for (route, width) in zip(routes, widths) { header += pad(route.rawValue, width) }
    print(header)
    for name in strategies {
      var line = "  " + pad(name, nameWidth)
      for (route, width) in zip(routes, widths) {
        let verdict = entries.first { $0.strategy == name && $0.route == route }?.verdict
        line += pad(verdict?.cell ?? "?", width)
      }
      print(line)
    }
    if verbose {
      print("details:")
      for entry in entries {
        if case .works = entry.verdict { continue }
        print("  \(entry.strategy) \(entry.route): \(entry.verdict)")
      }
    }
  }
}

func pad(_ text: String, _ width: Int) -> String {
  text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

func printWrapped(_ words: [String], indent: String, width: Int) {
  var line = indent
  for word in words {
    if line.count + word.count + 1 > width && line != indent {
      print(line)
      line = indent
    }
    line += (line == indent ? "" : " ") + word
  }
  if line != indent { print(line) }
}
