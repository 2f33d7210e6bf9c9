// The code samples of Docs/Copy.md, verbatim, so that they keep compiling (they are not
// run: they name files of the reader's). Update both together.

import SystemPackage
import ZeroCopy

enum CopyDocSamples {
  static func overview() async throws {
    // A file, like cp: holes kept, the same file refused, a FIFO or device written in place.
    let report = try await Transfer.copy(from: "big.img", to: "backup")   // into it if it is a directory
    print(report.strategy, report.bytes, report.notes)

    // Atomic replace, a trailing slash's meaning, cp's --sparse=always.
    let options = CopyOptions(atomic: true, sparse: .always, destination: .intoDirectory)
    _ = try await Transfer.copy(from: "big.img", to: "backup", options: options)

    // Standard input (zc copy - OUT), from its position to its end.
    _ = try await Transfer.copy(from: FileDescriptor.standardInput, named: nil, to: "out")

    // A tree, cancellable from anywhere (the task, or the monitor).
    let monitor = TransferMonitor()
    let tree = try await TreeCopy.copy(from: "src", to: "dst", options: TreeCopy.Options(monitor: monitor))
    print(tree)
  }
}
