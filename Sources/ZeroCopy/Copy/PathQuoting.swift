// Paths in messages: raw bytes, quoted so that every byte is visible and the text can be
// pasted into a shell, the way GNU coreutils quotes file names in its diagnostics.

public import SystemPackage

extension FilePath {
  /// The path quoted for a message the way GNU coreutils quotes names in diagnostics
  /// (`quoteaf`, the *shell-escape-always* style of `ls --quoting-style`), so that a name
  /// that is not valid UTF-8, or holds control characters, is shown exactly and can be
  /// pasted into a shell:
  ///
  /// | bytes | quoted |
  /// |---|---|
  /// | `plain` | `'plain'` |
  /// | `it's` | `"it's"` |
  /// | `a` LF `b` | `'a'$'\n''b'` |
  /// | `f` 0xFF 0xFE ` x` | `'f'$'\377\376'' x'` |
  ///
  /// Printable UTF-8 (any script) is shown as is; a byte that is not part of valid UTF-8,
  /// or a control character, is written as a C escape (`\n`, `\t`…) or three octal digits
  /// inside `$'…'`.
  public var shellQuoted: String {
    withPlatformString { pointer in
      var bytes: [UInt8] = []
      var index = 0
      while pointer[index] != 0 {
        bytes.append(UInt8(bitPattern: pointer[index]))
        index += 1
      }
      return shellQuote(bytes)
    }
  }
}

/// A printable scalar, or a byte shown as an escape.
private enum QuotedPiece {
  case text(Unicode.Scalar)
  case escaped(UInt8)
}

/// `bytes` quoted as ``FilePath/shellQuoted`` describes.
internal func shellQuote(_ bytes: [UInt8]) -> String {
  var pieces: [QuotedPiece] = []
  var iterator = bytes.makeIterator()
  var parser = Unicode.UTF8.ForwardParser()
  var consumed = 0
  while true {
    let before = consumed
    switch parser.parseScalar(from: &iterator) {
    case .valid(let encoded):
      consumed += encoded.count
      let scalar = Unicode.UTF8.decode(encoded)
      if isPrintable(scalar) {
        pieces.append(.text(scalar))
      } else {
        for byte in bytes[before..<consumed] { pieces.append(.escaped(byte)) }
      }
    case .error(let length):
      consumed += length
      for byte in bytes[before..<consumed] { pieces.append(.escaped(byte)) }
    case .emptyInput:
      return quotePieces(pieces)
    }
  }
}

private func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
  switch scalar.properties.generalCategory {
  case .control, .surrogate, .unassigned, .lineSeparator, .paragraphSeparator: return false
  default: return true
  }
}

private func quotePieces(_ pieces: [QuotedPiece]) -> String {
  let allText = pieces.allSatisfy { if case .text = $0 { return true } else { return false } }
  if allText {
    var text = ""
    for case .text(let scalar) in pieces { text.unicodeScalars.append(scalar) }
    if !text.contains("'") { return "'" + text + "'" }
    // A single quote and nothing the shell expands inside double quotes: "it's".
    if !text.contains(where: { "\"$`\\!".contains($0) }) { return "\"" + text + "\"" }
  }
  var out = "'"
  var inText = true
  var inEscape = false
  for piece in pieces {
    switch piece {
    case .text(let scalar):
      if inEscape {
        out += "'"
        inEscape = false
      }
      if !inText {
        out += "'"
        inText = true
      }
      if scalar == "'" { out += "'\\''" } else { out.unicodeScalars.append(scalar) }
    case .escaped(let byte):
      if inText {
        out += "'"
        inText = false
      }
      if !inEscape {
        out += "$'"
        inEscape = true
      }
      out += cEscape(byte)
    }
  }
  if inText || inEscape { out += "'" }
  return out
}

private func cEscape(_ byte: UInt8) -> String {
  switch byte {
  case 0x07: return "\\a"
  case 0x08: return "\\b"
  case 0x0C: return "\\f"
  case 0x0A: return "\\n"
  case 0x0D: return "\\r"
  case 0x09: return "\\t"
  case 0x0B: return "\\v"
  default:
    let octal = String(byte, radix: 8)
    return "\\" + String(repeating: "0", count: 3 - octal.count) + octal
  }
}
