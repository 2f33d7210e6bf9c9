// libFuzzer target for the file server's HTTP layer (Sources/FileServer/HTTP, compiled
// with this file alone: `make fuzz-serve`). Every input is a request head (or several) as
// a client could send it; the invariants below abort the run when violated.
//
//  1. The parser's answer does not depend on how the bytes arrive: whole, in three pieces,
//     or (for short inputs) one byte at a time, it completes at the same length with the
//     same method, target, version and fields, or refuses with the same status.
//  2. A complete head is within the input; its target holds only RFC 3986 bytes; field
//     names are lower-case tokens; values have no surrounding whitespace.
//  3. A resolved path has no empty, "." or ".." segment, and no segment holds "/" or NUL.
//  4. Ranges lie inside the file and are not empty; a parsed date formats and parses back
//     to itself; entity-tag lists and preconditions evaluate without trapping.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let limits = HTTPRequestParser.Limits(maxRequestLineBytes: 512, maxHeadBytes: 2048, maxFieldCount: 20)

  // Whole.
  var parser = HTTPRequestParser(limits: limits)
  let whole = bytes.withUnsafeBytes { parser.parse($0) }
  // In pieces: the parser keeps its place across calls with a growing prefix.
  func inPieces(_ cuts: [Int]) -> HTTPRequestParser.Outcome {
    var p = HTTPRequestParser(limits: limits)
    var last: HTTPRequestParser.Outcome = .needMore
    for cut in cuts + [bytes.count] where cut <= bytes.count {
      last = bytes[0..<cut].withUnsafeBytes { p.parse($0) }
      if case .needMore = last { continue }
      return last
    }
    return last
  }
  let third = bytes.count / 3
  check(whole, inPieces([third, 2 * third]), bytes)
  if bytes.count <= 300 { check(whole, inPieces(Array(0..<bytes.count)), bytes) }

  if case .complete(let head, let length) = whole {
    precondition(length > 0 && length <= bytes.count, "head length \(length) outside the input")
    precondition(head.target.allSatisfy(HTTPRequestParser.isTargetByte), "target byte outside RFC 3986")
    for (name, value) in head.fields {
      precondition(!name.isEmpty && name.utf8.allSatisfy { HTTPRequestParser.isTokenByte($0) && !($0 >= 0x41 && $0 <= 0x5A) })
      precondition(value.first != " " && value.last != " " && value.first != "\t" && value.last != "\t")
    }
    if case .success(let path) = RequestPath.resolve(head.target) {
      for segment in path.segments {
        precondition(!segment.isEmpty && segment != [0x2E] && segment != [0x2E, 0x2E], "dot or empty segment")
        precondition(!segment.contains(0x2F) && !segment.contains(0), "slash or NUL in a segment")
      }
      _ = path.encodedPath
      _ = path.fileExtension
    }
    let tag = EntityTag.make(modified: Int64(size) * 7919, size: Int64(size))
    _ = Preconditions.evaluate(head, etag: tag, modified: Int64(size) * 7919)
    _ = Preconditions.rangeApplies(head, etag: tag, modified: 0)
  }

  // Any line of the input as a Range, a date, an entity-tag list.
  let text = String(decoding: bytes, as: UTF8.self)
  for line in text.split(separator: "\n", maxSplits: 8).map(String.init) {
    let fileSize = Int64(bytes.first ?? 0) * 97 + Int64(bytes.last ?? 0)
    if case .ranges(let ranges) = ByteRangeRequest.parse(line, size: fileSize) {
      for r in ranges {
        precondition(
          r.lowerBound >= 0 && r.lowerBound < r.upperBound && r.upperBound <= fileSize, "range \(r) outside \(fileSize)")
      }
    }
    if let t = HTTPDate.parse(line) {
      precondition(HTTPDate.parse(HTTPDate.format(t)) == t, "date \(line) does not round-trip")
    }
    _ = EntityTag.listMatches(line, etag: "\"5f-10\"", weak: true)
    _ = EntityTag.listMatches(line, etag: "\"5f-10\"", weak: false)
  }
  return 0
}

/// Two outcomes of the same bytes must agree.
func check(_ a: HTTPRequestParser.Outcome, _ b: HTTPRequestParser.Outcome, _ bytes: [UInt8]) {
  switch (a, b) {
  case (.needMore, .needMore):
    return
  case (.invalid(let x), .invalid(let y)):
    precondition(x.status == y.status, "refused with \(x) whole but \(y) in pieces")
  case (.complete(let x, let lx), .complete(let y, let ly)):
    precondition(lx == ly && x.method == y.method && x.target == y.target && x.minorVersion == y.minorVersion, "heads differ")
    precondition(x.fields.map(\.name) == y.fields.map(\.name) && x.fields.map(\.value) == y.fields.map(\.value), "fields differ")
  default:
    preconditionFailure("whole: \(a); in pieces: \(b)")
  }
}
