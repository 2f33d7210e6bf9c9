// Command-line arguments as raw bytes. `CommandLine.arguments` decodes each argument as
// UTF-8 and replaces invalid bytes with U+FFFD, so a file name that is not UTF-8 would be
// looked up (or created) under another name. zc reads argv itself and hands the parser
// strings that encode every byte reversibly; paths are rebuilt from those bytes.

import Glibc
import SystemPackage

enum RawArguments {
  /// Bytes that are not part of valid UTF-8 — and the bytes of any scalar in this range, so
  /// that the encoding is reversible — become the scalar `escapeBase + byte` (plane 16,
  /// private use: no real file name is expected to hold these).
  static let escapeBase: UInt32 = 0x10_FF00

  /// `argv[1...]`, each encoded by ``encode(_:)``.
  static func arguments() -> [String] {
    (1..<Int(CommandLine.argc)).map { index in
      guard let pointer = CommandLine.unsafeArgv[index] else { return "" }
      let count = strlen(pointer)
      return encode(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
    }
  }

  /// The bytes as a string: valid UTF-8 as itself, every other byte as one escape scalar.
  static func encode(_ bytes: [UInt8]) -> String {
    var out = String.UnicodeScalarView()
    var iterator = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var consumed = 0
    func escape(_ range: Range<Int>) {
      for byte in bytes[range] { out.append(Unicode.Scalar(escapeBase + UInt32(byte))!) }
    }
    loop: while true {
      let before = consumed
      switch parser.parseScalar(from: &iterator) {
      case .valid(let encoded):
        consumed += encoded.count
        let scalar = Unicode.UTF8.decode(encoded)
        if scalar.value >= escapeBase && scalar.value <= escapeBase + 0xFF {
          escape(before..<consumed)
        } else {
          out.append(scalar)
        }
      case .error(let length):
        consumed += length
        escape(before..<consumed)
      case .emptyInput:
        break loop
      }
    }
    return String(out)
  }

  /// The bytes an encoded argument stands for.
  static func bytes(_ argument: String) -> [UInt8] {
    var out: [UInt8] = []
    for scalar in argument.unicodeScalars {
      if scalar.value >= escapeBase && scalar.value <= escapeBase + 0xFF {
        out.append(UInt8(scalar.value - escapeBase))
      } else {
        out.append(contentsOf: String(scalar).utf8)
      }
    }
    return out
  }

  /// The path an encoded argument names, byte for byte.
  static func path(_ argument: String) -> FilePath {
    let raw = bytes(argument).map { CChar(bitPattern: $0) } + [0]
    return raw.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
  }

  /// Whether the argument ends with `/` (which `FilePath` drops, and which means "a
  /// directory" to cp).
  static func endsWithSlash(_ argument: String) -> Bool {
    bytes(argument).last == 0x2F
  }

  /// The argument quoted for a message, as coreutils quotes names (bytes escaped).
  static func quoted(_ argument: String) -> String {
    shellQuotedBytes(bytes(argument))
  }

  /// Raw bytes quoted like `FilePath.shellQuoted` (a trailing slash kept).
  static func shellQuotedBytes(_ bytes: [UInt8]) -> String {
    // FilePath drops a trailing slash: quote without it, then add it back inside the quotes.
    guard bytes.count > 1, bytes.last == 0x2F else {
      let raw = bytes.map { CChar(bitPattern: $0) } + [0]
      return raw.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }.shellQuoted
    }
    var trimmed = bytes
    while trimmed.count > 1 && trimmed.last == 0x2F { trimmed.removeLast() }
    let quoted = shellQuotedBytes(trimmed)
    let slashes = String(repeating: "/", count: bytes.count - trimmed.count)
    if quoted.hasSuffix("'") || quoted.hasSuffix("\"") {
      return String(quoted.dropLast()) + slashes + String(quoted.last!)
    }
    return quoted + "'" + slashes + "'"
  }
}

extension RawArguments {
  /// cp's optional-value options, which ArgumentParser cannot express, made explicit in the
  /// arguments of `zc copy` (before `--`): `--preserve` alone is `--preserve=mode,ownership,timestamps`
  /// (cp `-p`) and `--reflink` alone is `--reflink=always`. A bare `--preserve` never takes
  /// the next argument as its value, as in cp.
  static func normalizeCopyArguments(_ arguments: [String]) -> [String] {
    guard arguments.first == "copy" else { return arguments }
    var out = arguments
    for index in out.indices.dropFirst() {
      if out[index] == "--" { break }
      if out[index] == "--preserve" { out[index] = "--preserve=mode,ownership,timestamps" }
      if out[index] == "--reflink" { out[index] = "--reflink=always" }
    }
    return out
  }

  /// The arguments after `copy`, normalized (what ``CpOrderedOptions/replay(_:)`` reads).
  static func copyArguments() -> [String] {
    Array(normalizeCopyArguments(arguments()).dropFirst())
  }
}
