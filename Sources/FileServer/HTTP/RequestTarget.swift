// From a request-target to a path inside the served directory: origin-form or
// absolute-form, percent-decoding, dot segments, merged slashes. Pure Swift, no imports.
//
// The rules (nginx's, where it has one):
//  - "%XY" is decoded once ("%252e" is the three characters "%2e", a file name); a "%" not
//    followed by two hex digits is 400; a decoded NUL is 400;
//  - a decoded "/" separates segments like a literal one ("..%2f" is "../");
//  - empty segments and "." are dropped, ".." removes the previous segment; a ".." that
//    would leave the root is 400 (the path never names anything outside the root, before
//    the filesystem is even asked);
//  - the path names a directory when it ends in "/" (or in "/." or "/..").
// The filesystem side (symlinks, magic links, mounts) is RootDirectory's.

/// A request-target resolved to segments under the root.
struct RequestPath: Sendable, Hashable {
  /// The segments, decoded (any byte but NUL and "/"), none of them "", "." or "..".
  var segments: [[UInt8]]
  /// Whether the target ended in "/" (a directory was asked for).
  var isDirectory: Bool
  /// The query, without "?", as sent (not decoded); nil if there was none.
  var query: [UInt8]?

  /// The path relative to the root, segments joined by "/"; "." for the root itself.
  var relativePath: [UInt8] {
    if segments.isEmpty { return [UInt8(ascii: ".")] }
    var out: [UInt8] = []
    out.reserveCapacity(segments.reduce(0) { $0 + $1.count + 1 })
    for (i, s) in segments.enumerated() {
      if i > 0 { out.append(UInt8(ascii: "/")) }
      out += s
    }
    return out
  }

  /// The path as a URL path ("/" + encoded segments, "/" at the end for a directory).
  var encodedPath: String {
    var out = "/"
    for (i, s) in segments.enumerated() {
      if i > 0 { out += "/" }
      out += RequestPath.percentEncode(s)
    }
    if isDirectory && !segments.isEmpty { out += "/" }
    return out
  }

  /// The last segment's extension, lower-cased, as nginx finds it: the text after the last
  /// "." of the last segment, unless that "." starts the segment (".bashrc" has none).
  var fileExtension: String? {
    guard let last = segments.last, let dot = last.lastIndex(of: UInt8(ascii: ".")), dot > 0 else { return nil }
    let ext = last[(dot + 1)...]
    if ext.isEmpty { return nil }
    return String(decoding: ext.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
  }

  /// Bytes kept as they are in an encoded path segment: unreserved, sub-delims, ":", "@".
  static func isPathSafe(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"),
      UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
      UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
      UInt8(ascii: ":"), UInt8(ascii: "@"):
      return true
    default: return false
    }
  }

  static func percentEncode(_ bytes: [UInt8]) -> String {
    let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    for b in bytes {
      if isPathSafe(b) {
        out.append(b)
      } else {
        out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Resolves a request-target (as validated by the parser: RFC 3986 characters only).
  ///
  /// - Returns: The path, or the error to answer (400 for every malformed target).
  static func resolve(_ target: [UInt8]) -> Result<RequestPath, HTTPParseError> {
    var start = 0
    // absolute-form: "http://authority/path" (RFC 9112 §3.2.2: a server must accept it).
    if target.first != UInt8(ascii: "/") {
      guard let afterScheme = schemeEnd(target) else {
        return .failure(HTTPParseError(.badRequest, "the request target is neither a path nor an http(s) URL"))
      }
      var p = afterScheme
      while p < target.count && target[p] != UInt8(ascii: "/") && target[p] != UInt8(ascii: "?") { p += 1 }
      if p == afterScheme {
        return .failure(HTTPParseError(.badRequest, "an absolute URL without a host"))
      }
      if p == target.count || target[p] == UInt8(ascii: "?") {
        // "http://host" or "http://host?q": the path is "/".
        let query = p < target.count ? Array(target[(p + 1)...]) : nil
        return .success(RequestPath(segments: [], isDirectory: true, query: query))
      }
      start = p
    }
    var end = target.count
    var query: [UInt8]?
    if let q = target[start...].firstIndex(of: UInt8(ascii: "?")) {
      query = Array(target[(q + 1)...])
      end = q
    }
    // Decode, then split and normalize.
    var segments: [[UInt8]] = []
    var current: [UInt8] = []
    var endsWithSlash = false
    func finishSegment() -> HTTPParseError? {
      defer { current.removeAll(keepingCapacity: true) }
      if current.isEmpty || current == [UInt8(ascii: ".")] {
        endsWithSlash = true
        return nil
      }
      if current == [UInt8(ascii: "."), UInt8(ascii: ".")] {
        if segments.isEmpty { return HTTPParseError(.badRequest, "the path leaves the root") }
        segments.removeLast()
        endsWithSlash = true
        return nil
      }
      segments.append(current)
      endsWithSlash = false
      return nil
    }
    var i = start
    while i < end {
      var b = target[i]
      if b == UInt8(ascii: "%") {
        guard i + 2 < end, let hi = hexValue(target[i + 1]), let lo = hexValue(target[i + 2])
        else {
          return .failure(HTTPParseError(.badRequest, "malformed percent-encoding"))
        }
        b = hi << 4 | lo
        if b == 0 { return .failure(HTTPParseError(.badRequest, "an encoded NUL in the path")) }
        i += 3
      } else {
        i += 1
      }
      if b == UInt8(ascii: "/") {
        if let e = finishSegment() { return .failure(e) }
      } else {
        current.append(b)
      }
    }
    if !current.isEmpty {
      if let e = finishSegment() { return .failure(e) }
    } else {
      endsWithSlash = true
    }
    return .success(RequestPath(segments: segments, isDirectory: endsWithSlash, query: query))
  }

  /// The index after "http://" or "https://" (scheme case-insensitive), or nil.
  private static func schemeEnd(_ target: [UInt8]) -> Int? {
    for scheme in ["http://", "https://"] {
      let s = Array(scheme.utf8)
      if target.count >= s.count && zip(target, s).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }) {
        return s.count
      }
    }
    return nil
  }

  private static func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: return b - 0x30
    case 0x41...0x46: return b - 0x41 + 10
    case 0x61...0x66: return b - 0x61 + 10
    default: return nil
    }
  }
}
