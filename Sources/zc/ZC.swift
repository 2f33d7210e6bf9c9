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
      says why first, then names the system call, the errno by its C name and the bytes that \
      reached the destination); 64 for usage errors. On SIGINT, SIGTERM or SIGHUP, zc cancels what it is doing, removes its \
      temporary and unfinished files, and dies of the same signal (as cp would: exit status \
      128 + the signal's number in a shell). Arguments are file names as bytes: names that \
      are not UTF-8 work, and messages quote names as coreutils does ('f'$'\\377'' x').
      """,
    subcommands: [Copy.self, Send.self, Serve.self, Probe.self, Strategies.self, Calibrate.self])

  /// Registers ``extraStrategies``, installs the SIGINT/SIGTERM/SIGHUP handling
  /// (Interrupt.swift), then parses the arguments — read from argv as raw bytes
  /// (RawArguments.swift), not from the lossy `CommandLine.arguments` — and runs the subcommand.
  static func main() async {
    for strategy in extraStrategies { TransferStrategies.register(strategy) }
    Interruption.install()
    await main(RawArguments.normalizeCopyArguments(RawArguments.arguments()))
  }
}
