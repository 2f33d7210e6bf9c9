// A strict HTTP/1.1 request-head parser (RFC 9112 §2–§6, RFC 9110 §5): request line,
// field syntax, message framing. Pure Swift over bytes, no imports, so that the libFuzzer
// target compiles the files of this folder alone.
//
// What it refuses (each with the status a server should answer, then close):
//  - a bare LF or a bare CR anywhere in the head (400): no line-ending ambiguity between
//    this server and a proxy in front of it;
//  - a request line that is not exactly `token SP target SP HTTP/d.d` (400); a target byte
//    outside RFC 3986's set (400); a request line over the limit (414); a major version
//    other than 1 (505);
//  - obsolete line folding, whitespace before the colon, a field name that is not a token,
//    a control character in a value (400); a head over the size or field-count limit (431);
//  - framing that could be read two ways: Content-Length and Transfer-Encoding together,
//    Content-Length repeated or not a plain number, Transfer-Encoding in HTTP/1.0 or with a
//    final coding other than chunked (400); a transfer coding it does not implement (501);
//  - a missing or repeated Host in HTTP/1.1, and repeated conditional headers (400).

/// The status codes the server sends.
enum HTTPStatus: Int, Sendable, Hashable {
  case ok = 200
  case partialContent = 206
  case movedPermanently = 301
  case notModified = 304
  case badRequest = 400
  case forbidden = 403
  case notFound = 404
  case methodNotAllowed = 405
  case requestTimeout = 408
  case preconditionFailed = 412
  case uriTooLong = 414
  case rangeNotSatisfiable = 416
  case requestHeaderFieldsTooLarge = 431
  case internalServerError = 500
  case notImplemented = 501
  case serviceUnavailable = 503
  case httpVersionNotSupported = 505

  /// The reason phrase (RFC 9110 §15).
  var reason: String {
    switch self {
    case .ok: return "OK"
    case .partialContent: return "Partial Content"
    case .movedPermanently: return "Moved Permanently"
    case .notModified: return "Not Modified"
    case .badRequest: return "Bad Request"
    case .forbidden: return "Forbidden"
    case .notFound: return "Not Found"
    case .methodNotAllowed: return "Method Not Allowed"
    case .requestTimeout: return "Request Timeout"
    case .preconditionFailed: return "Precondition Failed"
    case .uriTooLong: return "URI Too Long"
    case .rangeNotSatisfiable: return "Range Not Satisfiable"
    case .requestHeaderFieldsTooLarge: return "Request Header Fields Too Large"
    case .internalServerError: return "Internal Server Error"
    case .notImplemented: return "Not Implemented"
    case .serviceUnavailable: return "Service Unavailable"
    case .httpVersionNotSupported: return "HTTP Version Not Supported"
    }
  }
}

/// Why a request head was refused: the status to answer and a short reason for the log.
struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
  let status: HTTPStatus
  let reason: String
  init(_ status: HTTPStatus, _ reason: String) {
    self.status = status
    self.reason = reason
  }
  var description: String { "\(status.rawValue) \(reason)" }
}

/// A parsed request head, with the fields the file server interprets.
struct HTTPRequestHead: Sendable {
  /// The method token, case-sensitive (`GET`, `HEAD`, …).
  var method: String
  /// The request-target as sent (ASCII; validated against RFC 3986's characters).
  var target: [UInt8]
  /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x.
  var minorVersion: Int
  /// Every field line, in order: lower-cased name, value without surrounding whitespace.
  var fields: [(name: String, value: String)] = []

  /// Whether the connection may carry another request after this one (HTTP/1.1 unless
  /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
  var keepAlive = true
  /// `Content-Length`, if sent.
  var contentLength: Int64?
  /// `Transfer-Encoding: chunked` was sent.
  var isChunked = false
  var host: String?
  var range: String?
  var ifRange: String?
  var ifMatch: String?
  var ifNoneMatch: String?
  var ifModifiedSince: String?
  var ifUnmodifiedSince: String?

  /// Whether a body follows the head (this server reads none: it answers and closes).
  var hasBody: Bool { isChunked || (contentLength ?? 0) > 0 }

  /// `GET` or `HEAD`.
  var isGetOrHead: Bool { method == "GET" || method == "HEAD" }

  /// The target as a string (it is ASCII).
  var targetString: String { String(decoding: target, as: UTF8.self) }
}

/// Finds the end of a request head incrementally (each byte is examined once, however the
/// head arrives), then parses it.
struct HTTPRequestParser: Sendable {
  /// Size limits; exceeding them is 414 (request line) or 431 (head, field count).
  struct Limits: Sendable, Hashable {
    /// The longest request line, CRLF excluded.
    var maxRequestLineBytes: Int
    /// The longest head: request line, fields and the empty line.
    var maxHeadBytes: Int
    /// The most field lines.
    var maxFieldCount: Int

    init(maxRequestLineBytes: Int = 8192, maxHeadBytes: Int = 16384, maxFieldCount: Int = 100) {
      self.maxRequestLineBytes = maxRequestLineBytes
      self.maxHeadBytes = maxHeadBytes
      self.maxFieldCount = maxFieldCount
    }
  }

  enum Outcome: Sendable {
    /// No complete head yet; call again with more bytes (the same prefix, extended).
    case needMore
    /// A head of `length` bytes (the empty line included) starting at offset 0.
    case complete(HTTPRequestHead, length: Int)
    /// Refused; answer `error.status` and close the connection.
    case invalid(HTTPParseError)
  }

  let limits: Limits
  /// Bytes of the current head already examined.
  private var scanned = 0
  /// Where the line being scanned starts.
  private var lineStart = 0
  /// Where the request line starts (after empty lines a client may send first).
  private var requestLineStart: Int?
  private var fieldLines = 0

  init(limits: Limits = Limits()) {
    self.limits = limits
  }

  /// Whether a head has started (a byte other than leading empty lines arrived).
  var hasPartialHead: Bool { scanned > 0 }

  /// Forgets the current head; call after consuming a complete one.
  mutating func reset() {
    scanned = 0
    lineStart = 0
    requestLineStart = nil
    fieldLines = 0
  }

  /// Examines `bytes` — everything received for the current request so far, from its
  /// first byte — and returns whether the head is complete, incomplete or invalid.
  mutating func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
    let count = bytes.count
    var i = scanned
    while i < count {
      let byte = bytes[i]
      if byte != 0x0A {
        i += 1
        continue
      }
      // A line ends at i (LF). The bytes before it are judged first, as they would be had
      // they arrived without it, so that the answer does not depend on where reads split.
      if let error = limitExceeded(count: i) {
        scanned = i
        return .invalid(error)
      }
      // It must end in CRLF.
      guard i > lineStart, bytes[i - 1] == 0x0D else {
        scanned = i
        return .invalid(HTTPParseError(.badRequest, "a line ends in a bare LF"))
      }
      let contentEnd = i - 1
      let next = i + 1
      if let start = requestLineStart {
        if contentEnd == lineStart {
          // The empty line: the head is complete.
          scanned = next
          return Self.parseHead(bytes, requestLineStart: start, headEnd: next)
        }
        fieldLines += 1
        if fieldLines > limits.maxFieldCount {
          scanned = i
          return .invalid(HTTPParseError(.requestHeaderFieldsTooLarge, "more than \(limits.maxFieldCount) header fields"))
        }
      } else if contentEnd > lineStart {
        // (Its length was judged above: contentEnd - lineStart ≤ maxRequestLineBytes here.)
        requestLineStart = lineStart
      }
      // (An empty line before the request line is ignored, RFC 9112 §2.2.)
      lineStart = next
      i = next
      if next > limits.maxHeadBytes {
        scanned = i
        return .invalid(HTTPParseError(.requestHeaderFieldsTooLarge, "request head longer than \(limits.maxHeadBytes) bytes"))
      }
    }
    scanned = i
    if let error = limitExceeded(count: count) { return .invalid(error) }
    return .needMore
  }

  /// The size limit that `count` bytes of the current head, with no line end among those
  /// not yet examined, exceed — the one that was crossed first, so that a head refused in
  /// one read and the same head refused in many get the same status.
  ///
  /// A request line of more than `maxRequestLineBytes` (plus its CR) is crossed at
  /// `lineStart + maxRequestLineBytes + 2` bytes; the head limit at `maxHeadBytes + 1`.
  private func limitExceeded(count: Int) -> HTTPParseError? {
    let (lineEnd, lineOverflow) = lineStart.addingReportingOverflow(limits.maxRequestLineBytes)
    let requestLineCrossedAt = requestLineStart == nil && !lineOverflow && lineEnd < Int.max - 2 ? lineEnd + 2 : Int.max
    let headCrossedAt = limits.maxHeadBytes == Int.max ? Int.max : limits.maxHeadBytes + 1
    guard count >= Swift.min(requestLineCrossedAt, headCrossedAt) else { return nil }
    if requestLineCrossedAt <= headCrossedAt {
      return HTTPParseError(.uriTooLong, "request line longer than \(limits.maxRequestLineBytes) bytes")
    }
    return HTTPParseError(.requestHeaderFieldsTooLarge, "request head longer than \(limits.maxHeadBytes) bytes")
  }

  // MARK: - Parsing a complete head

  /// tchar (RFC 9110 §5.6.2).
  static func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
      UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
      UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
      return true
    default: return false
    }
  }

  /// A byte RFC 3986 allows in a request-target: unreserved, sub-delims, ":", "@", "/",
  /// "?", "%" (checked further when decoded), and "[" "]" for IP literals in absolute-form.
  static func isTargetByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
      UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
      UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
      UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"),
      UInt8(ascii: "%"), UInt8(ascii: "["), UInt8(ascii: "]"):
      return true
    default: return false
    }
  }

  /// field-vchar, SP or HTAB (RFC 9110 §5.5): any byte but controls other than HTAB, and DEL.
  @inline(__always)
  static func isFieldValueByte(_ b: UInt8) -> Bool {
    b == 0x09 || (b >= 0x20 && b != 0x7F)
  }

  private static func parseHead(_ bytes: UnsafeRawBufferPointer, requestLineStart: Int, headEnd: Int) -> Outcome {
    // Request line: [requestLineStart, end of first line).
    var lineEnd = requestLineStart
    while bytes[lineEnd] != 0x0D || bytes[lineEnd + 1] != 0x0A { lineEnd += 1 }
    var p = requestLineStart
    while p < lineEnd && isTokenByte(bytes[p]) { p += 1 }
    guard p > requestLineStart, p < lineEnd, bytes[p] == 0x20 else {
      return .invalid(HTTPParseError(.badRequest, "malformed method"))
    }
    let method = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[requestLineStart..<p]), as: UTF8.self)
    p += 1
    let targetStart = p
    while p < lineEnd && bytes[p] != 0x20 {
      guard isTargetByte(bytes[p]) else {
        return .invalid(HTTPParseError(.badRequest, "invalid byte 0x\(String(bytes[p], radix: 16)) in the request target"))
      }
      p += 1
    }
    guard p > targetStart, p < lineEnd else {
      return .invalid(HTTPParseError(.badRequest, "malformed request line"))
    }
    let target = Array(UnsafeRawBufferPointer(rebasing: bytes[targetStart..<p]))
    p += 1
    // HTTP-version = "HTTP/" DIGIT "." DIGIT, then the end of the line.
    guard lineEnd - p == 8,
      bytes[p] == UInt8(ascii: "H"), bytes[p + 1] == UInt8(ascii: "T"), bytes[p + 2] == UInt8(ascii: "T"),
      bytes[p + 3] == UInt8(ascii: "P"), bytes[p + 4] == UInt8(ascii: "/"), bytes[p + 6] == UInt8(ascii: "."),
      (0x30...0x39).contains(bytes[p + 5]), (0x30...0x39).contains(bytes[p + 7])
    else {
      return .invalid(HTTPParseError(.badRequest, "malformed HTTP version"))
    }
    let major = Int(bytes[p + 5] - 0x30)
    let minor = Int(bytes[p + 7] - 0x30)
    guard major == 1 else {
      return .invalid(HTTPParseError(.httpVersionNotSupported, "HTTP/\(major).\(minor) is not supported"))
    }
    var head = HTTPRequestHead(method: method, target: target, minorVersion: minor == 0 ? 0 : 1)
    head.keepAlive = minor != 0

    // Field lines.
    var hostCount = 0
    var contentLengthSeen = false
    var transferEncodings: [String] = []
    var connectionClose = false
    var connectionKeepAlive = false
    var lineStart = lineEnd + 2
    while lineStart < headEnd - 2 {
      var end = lineStart
      while bytes[end] != 0x0D { end += 1 }
      guard bytes[end + 1] == 0x0A else {
        return .invalid(HTTPParseError(.badRequest, "a bare CR in a header field"))
      }
      // Name: a token immediately followed by ":".
      var q = lineStart
      if bytes[q] == 0x20 || bytes[q] == 0x09 {
        return .invalid(HTTPParseError(.badRequest, "obsolete line folding"))
      }
      while q < end && isTokenByte(bytes[q]) { q += 1 }
      guard q > lineStart, q < end, bytes[q] == UInt8(ascii: ":") else {
        return .invalid(HTTPParseError(.badRequest, "malformed header field name"))
      }
      var name = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[lineStart..<q]))
      for k in name.indices where name[k] >= 0x41 && name[k] <= 0x5A { name[k] |= 0x20 }
      // Value: without leading and trailing whitespace; no control characters.
      var vs = q + 1
      var ve = end
      while vs < ve && (bytes[vs] == 0x20 || bytes[vs] == 0x09) { vs += 1 }
      while ve > vs && (bytes[ve - 1] == 0x20 || bytes[ve - 1] == 0x09) { ve -= 1 }
      for k in vs..<ve where !isFieldValueByte(bytes[k]) {
        return .invalid(HTTPParseError(.badRequest, "invalid byte 0x\(String(bytes[k], radix: 16)) in a header field value"))
      }
      let nameString = String(decoding: name, as: UTF8.self)
      let value = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[vs..<ve]), as: UTF8.self)
      head.fields.append((nameString, value))
      lineStart = end + 2

      func unique(_ slot: inout String?) -> HTTPParseError? {
        if slot != nil { return HTTPParseError(.badRequest, "duplicate \(nameString) header") }
        slot = value
        return nil
      }
      var failure: HTTPParseError?
      switch nameString {
      case "host":
        hostCount += 1
        head.host = value
      case "content-length":
        if contentLengthSeen { return .invalid(HTTPParseError(.badRequest, "duplicate content-length header")) }
        contentLengthSeen = true
        guard let n = parseDecimal(value) else {
          return .invalid(HTTPParseError(.badRequest, "invalid content-length '\(value)'"))
        }
        head.contentLength = n
      case "transfer-encoding":
        transferEncodings.append(value)
      case "connection":
        for option in value.split(separator: ",") {
          let token = option.trimmingWhitespace().lowercased()
          if token == "close" { connectionClose = true }
          if token == "keep-alive" { connectionKeepAlive = true }
        }
      case "range":
        if head.range == nil { head.range = value }  // nginx uses the first
      case "if-range": failure = unique(&head.ifRange)
      case "if-match": failure = unique(&head.ifMatch)
      case "if-none-match": failure = unique(&head.ifNoneMatch)
      case "if-modified-since": failure = unique(&head.ifModifiedSince)
      case "if-unmodified-since": failure = unique(&head.ifUnmodifiedSince)
      default: break
      }
      if let failure { return .invalid(failure) }
    }

    // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0.
    if hostCount > 1 { return .invalid(HTTPParseError(.badRequest, "more than one host header")) }
    if hostCount == 0 && head.minorVersion >= 1 {
      return .invalid(HTTPParseError(.badRequest, "HTTP/1.1 request without a host header"))
    }
    if let host = head.host, !isAcceptableHost(host) {
      return .invalid(HTTPParseError(.badRequest, "invalid host header '\(host)'"))
    }

    // Framing (RFC 9112 §6.1, §6.3).
    if !transferEncodings.isEmpty {
      if head.minorVersion == 0 {
        return .invalid(HTTPParseError(.badRequest, "transfer-encoding in an HTTP/1.0 request"))
      }
      if contentLengthSeen {
        return .invalid(HTTPParseError(.badRequest, "both content-length and transfer-encoding"))
      }
      let codings = transferEncodings.flatMap { $0.split(separator: ",") }
        .map { $0.trimmingWhitespace().lowercased() }.filter { !$0.isEmpty }
      guard codings.last == "chunked", codings.filter({ $0 == "chunked" }).count == 1 else {
        return .invalid(HTTPParseError(.badRequest, "transfer-encoding whose final coding is not chunked"))
      }
      guard codings.count == 1 else {
        return .invalid(HTTPParseError(.notImplemented, "transfer coding '\(codings[0])' is not implemented"))
      }
      head.isChunked = true
    }

    if connectionClose {
      head.keepAlive = false
    } else if connectionKeepAlive {
      head.keepAlive = true
    }
    return .complete(head, length: headEnd)
  }

  /// 1*DIGIT as a non-negative Int64; nil for anything else or an overflow.
  static func parseDecimal(_ text: String) -> Int64? {
    var value: Int64 = 0
    var digits = 0
    for b in text.utf8 {
      guard b >= 0x30 && b <= 0x39 else { return nil }
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (sum, o2) = times.addingReportingOverflow(Int64(b - 0x30))
      if o1 || o2 { return nil }
      value = sum
      digits += 1
    }
    return digits > 0 ? value : nil
  }

  /// A Host value this server accepts: not empty, no path or user-info delimiters, no
  /// backslash, no "..", no whitespace (nginx refuses the same with 400).
  static func isAcceptableHost(_ host: String) -> Bool {
    if host.isEmpty { return false }
    var previous: UInt8 = 0
    for b in host.utf8 {
      switch b {
      case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "@"), 0x20, 0x09, 0x00...0x1F, 0x7F:
        return false
      case UInt8(ascii: ".") where previous == UInt8(ascii: "."):
        return false
      default:
        break
      }
      previous = b
    }
    return true
  }
}

extension Substring {
  /// Without leading and trailing spaces and tabs (OWS).
  func trimmingWhitespace() -> Substring {
    var s = self[...]
    while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
    while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
    return s
  }
}
