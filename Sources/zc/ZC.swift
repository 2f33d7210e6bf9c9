// zc: copy and send files with swift-zerocopy's Transfer API, and see what this machine
// supports.

import ArgumentParser
import ZeroCopy

@main
struct ZC: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "zc",
    abstract: "Copy and send files with zero-copy system calls, and show what this machine supports.",
    discussion: """
      Exit status: 0 when every byte arrived; 1 when a transfer failed (one line on stderr \
      names the system call, the errno and the bytes that reached the destination); 64 for \
      usage errors.
      """,
    subcommands: [Copy.self, Send.self, Probe.self, Strategies.self, Calibrate.self])

  /// Registers ``extraStrategies``, then parses the arguments and runs the subcommand.
  static func main() async {
    for strategy in extraStrategies { TransferStrategies.register(strategy) }
    await main(nil)
  }
}
