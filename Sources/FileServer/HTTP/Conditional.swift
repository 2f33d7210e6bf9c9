// Validators and conditional requests (RFC 9110 §8.8, §13), evaluated in nginx's order
// with nginx's entity tags, so that both servers answer the same request the same way.
// Pure Swift, no imports.

enum EntityTag {
  /// nginx's strong entity tag for a file: `"<mtime hex>-<size hex>"`.
  static func make(modified: Int64, size: Int64) -> String {
    "\"" + String(modified, radix: 16) + "-" + String(size, radix: 16) + "\""
  }

  /// Whether the comma-separated list `list` (an If-Match or If-None-Match value) names
  /// `etag`: "*" matches anything; with `weak`, "W/" prefixes are ignored on both sides
  /// (the weak comparison If-None-Match uses), otherwise the tags must be identical.
  static func listMatches(_ list: String, etag: String, weak: Bool) -> Bool {
    if list == "*" { return true }
    var tag = Array(etag.utf8)
    if weak && tag.count > 2 && tag[0] == UInt8(ascii: "W") && tag[1] == UInt8(ascii: "/") { tag.removeFirst(2) }
    let bytes = Array(list.utf8)
    var p = 0
    let end = bytes.count
    while p < end {
      if weak && end - p > 2 && bytes[p] == UInt8(ascii: "W") && bytes[p + 1] == UInt8(ascii: "/") { p += 2 }
      if tag.count > end - p { return false }
      if bytes[p..<(p + tag.count)].elementsEqual(tag) {
        var q = p + tag.count
        while q < end && (bytes[q] == 0x20 || bytes[q] == 0x09) { q += 1 }
        if q == end || bytes[q] == UInt8(ascii: ",") { return true }
      }
      while p < end && bytes[p] != UInt8(ascii: ",") { p += 1 }
      while p < end && (bytes[p] == 0x20 || bytes[p] == 0x09 || bytes[p] == UInt8(ascii: ",")) { p += 1 }
    }
    return false
  }
}

/// The outcome of a request's preconditions for a file that exists.
enum PreconditionOutcome: Sendable, Hashable {
  /// Answer normally (200, or 206 for a range).
  case proceed
  /// 304 Not Modified.
  case notModified
  /// 412 Precondition Failed.
  case failed
}

enum Preconditions {
  /// Evaluates If-Unmodified-Since, If-Match, If-Modified-Since and If-None-Match for a
  /// GET or HEAD of a file with validators `etag` and `modified` (seconds), as nginx does:
  ///  1. If-Unmodified-Since earlier than the file's time → 412 (an invalid date is
  ///     ignored, RFC 9110 §13.1.4; nginx answers 412);
  ///  2. If-Match without a strong match → 412;
  ///  3. If-Modified-Since and/or If-None-Match → 304 only when every one present says
  ///     "not modified": If-Modified-Since equal to the file's time (nginx's default
  ///     `if_modified_since exact`), If-None-Match naming the tag (weak comparison).
  static func evaluate(_ head: HTTPRequestHead, etag: String, modified: Int64) -> PreconditionOutcome {
    if let text = head.ifUnmodifiedSince, let since = HTTPDate.parse(text), since < modified {
      return .failed
    }
    if let list = head.ifMatch, !EntityTag.listMatches(list, etag: etag, weak: false) {
      return .failed
    }
    if head.ifModifiedSince != nil || head.ifNoneMatch != nil {
      if let text = head.ifModifiedSince, HTTPDate.parse(text) != modified { return .proceed }
      if let list = head.ifNoneMatch, !EntityTag.listMatches(list, etag: etag, weak: true) { return .proceed }
      return .notModified
    }
    return .proceed
  }

  /// Whether a Range header applies given If-Range (RFC 9110 §13.1.5, nginx's reading):
  /// no If-Range, or an entity tag identical to the file's, or a date equal to its time.
  static func rangeApplies(_ head: HTTPRequestHead, etag: String, modified: Int64) -> Bool {
    guard let ifRange = head.ifRange else { return true }
    if ifRange.utf8.count >= 2 && ifRange.utf8.last == UInt8(ascii: "\"") { return ifRange == etag }
    return HTTPDate.parse(ifRange) == modified
  }
}
