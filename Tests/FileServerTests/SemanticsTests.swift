// Ranges, dates, entity tags, preconditions and media types: nginx's answers.

import Testing

@testable import FileServer

@Suite("HTTP semantics")
struct SemanticsTests {
  /// nginx's range filter, case by case (file of 1000 bytes unless said).
  @Test(
    arguments: [
      ("bytes=0-99", 1000, "0-100"),
      ("bytes=0-", 1000, "0-1000"),
      ("bytes=-100", 1000, "900-1000"),
      ("bytes=-2000", 1000, "0-1000"),
      ("bytes=990-2000", 1000, "990-1000"),
      ("BYTES=1-1", 1000, "1-2"),
      ("bytes= 1 - 2 ", 1000, "1-3"),
      ("bytes=0-0,2-3", 1000, "0-1,2-4"),
      ("bytes=5-1", 1000, "416"),
      ("bytes=1000-", 1000, "416"),
      ("bytes=1000-1000", 1000, "416"),
      ("bytes=-0", 1000, "416"),
      ("bytes=abc", 1000, "416"),
      ("bytes=1-2;", 1000, "416"),
      ("bytes=1-2,", 1000, "416"),
      ("bytes=\t1-2", 1000, "416"),
      ("bytes=99999999999999999999-", 1000, "416"),
      ("bytes=0-", 0, "whole"),
      ("bytes=0-5", 0, "whole"),
      ("bytes=5-", 0, "416"),
      ("items=0-1", 1000, "whole"),
      ("bytes=", 1000, "whole"),
      ("bytes", 1000, "whole"),
      ("bytes=0-999,0-999", 1000, "whole"),
      ("bytes=0-499,500-999", 1000, "0-500,500-1000"),
      ("bytes=0-1,3-4,6-7,9-10", 20, "0-2,3-5,6-8,9-11"),
      ("bytes=0-1,3-4", 8000, "0-2,3-5"),
      ("bytes=2000-,0-1", 1000, "0-2"),
    ] as [(String, Int64, String)])
  func ranges(_ header: String, size: Int64, expected: String) {
    let got: String
    switch ByteRangeRequest.parse(header, size: size) {
    case .whole: got = "whole"
    case .notSatisfiable: got = "416"
    case .ranges(let list): got = list.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
    #expect(got == expected, "\(header) on \(size) bytes")
  }

  /// Many small ranges: nginx counts 256 bytes of part headers each against 4 KiB of slack.
  @Test func manySmallRangesGetTheWholeFile() {
    let fifteen = (0..<15).map { "\($0 * 2)-\($0 * 2)" }.joined(separator: ",")
    let thirty = (0..<30).map { "\($0 * 2)-\($0 * 2)" }.joined(separator: ",")
    if case .ranges(let list) = ByteRangeRequest.parse("bytes=" + fifteen, size: 1000) {
      #expect(list.count == 15)
    } else {
      Issue.record("15 one-byte ranges of 1000 bytes were not served as ranges")
    }
    #expect(ByteRangeRequest.parse("bytes=" + thirty, size: 1000) == .whole)
  }

  @Test func dates() {
    #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
    #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
    #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
    #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
    #expect(HTTPDate.parse("Tue, 29 Feb 2000 00:00:00 GMT") == 951_782_400)
    #expect(HTTPDate.parse("Thursday, 01-Jan-70 00:00:00 GMT") == 0)
    #expect(HTTPDate.parse("Saturday, 01-Jan-00 00:00:00 GMT") == 946_684_800)
    for bad in [
      "", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
      "Sun, 06 nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
      "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:60 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ", "784111777", "Sun Nov 6 08:49:37 1994",
    ] {
      #expect(HTTPDate.parse(bad) == nil, "\(bad)")
    }
    // Round trips across four centuries.
    var x: UInt64 = 12345
    for _ in 0..<2000 {
      x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let t = Int64(x % 12_000_000_000)
      #expect(HTTPDate.parse(HTTPDate.format(t)) == t)
    }
  }

  @Test func entityTags() {
    #expect(EntityTag.make(modified: 0x6b14_29b2, size: 0x186a0) == "\"6b1429b2-186a0\"")
    let tag = "\"5f-10\""
    #expect(EntityTag.listMatches("*", etag: tag, weak: false))
    #expect(EntityTag.listMatches("\"5f-10\"", etag: tag, weak: false))
    #expect(EntityTag.listMatches("\"x\", \"5f-10\"", etag: tag, weak: false))
    #expect(EntityTag.listMatches("\"x\",\"5f-10\" ,\"y\"", etag: tag, weak: true))
    #expect(EntityTag.listMatches("W/\"5f-10\"", etag: tag, weak: true))
    #expect(!EntityTag.listMatches("W/\"5f-10\"", etag: tag, weak: false))
    #expect(!EntityTag.listMatches("\"5f-1\"", etag: tag, weak: true))
    #expect(!EntityTag.listMatches("\"5f-100\"", etag: tag, weak: true))
    #expect(!EntityTag.listMatches("5f-10", etag: tag, weak: true))
    #expect(!EntityTag.listMatches("", etag: tag, weak: true))
    #expect(!EntityTag.listMatches("\"5f-10\"x", etag: tag, weak: true))
  }

  func head(_ fields: [(String, String)]) -> HTTPRequestHead {
    var h = HTTPRequestHead(method: "GET", target: Array("/".utf8), minorVersion: 1)
    for (name, value) in fields {
      switch name {
      case "if-match": h.ifMatch = value
      case "if-none-match": h.ifNoneMatch = value
      case "if-modified-since": h.ifModifiedSince = value
      case "if-unmodified-since": h.ifUnmodifiedSince = value
      case "if-range": h.ifRange = value
      default: break
      }
    }
    return h
  }

  @Test func preconditions() {
    let tag = "\"2eba1ea1-5\""
    let t: Int64 = 784_111_777
    let date = "Sun, 06 Nov 1994 08:49:37 GMT"
    let later = "Sun, 06 Nov 1994 08:49:38 GMT"
    let earlier = "Sun, 06 Nov 1994 08:49:36 GMT"
    func eval(_ f: [(String, String)]) -> PreconditionOutcome { Preconditions.evaluate(head(f), etag: tag, modified: t) }
    #expect(eval([]) == .proceed)
    #expect(eval([("if-none-match", tag)]) == .notModified)
    #expect(eval([("if-none-match", "W/" + tag)]) == .notModified)
    #expect(eval([("if-none-match", "*")]) == .notModified)
    #expect(eval([("if-none-match", "\"other\"")]) == .proceed)
    #expect(eval([("if-modified-since", date)]) == .notModified)
    // nginx's default `if_modified_since exact`: only the same second is "not modified".
    #expect(eval([("if-modified-since", later)]) == .proceed)
    #expect(eval([("if-modified-since", earlier)]) == .proceed)
    #expect(eval([("if-modified-since", "garbage")]) == .proceed)
    // Both present: both must say "not modified" (nginx).
    #expect(eval([("if-none-match", tag), ("if-modified-since", date)]) == .notModified)
    #expect(eval([("if-none-match", tag), ("if-modified-since", later)]) == .proceed)
    #expect(eval([("if-none-match", "\"x\""), ("if-modified-since", date)]) == .proceed)
    #expect(eval([("if-match", tag)]) == .proceed)
    #expect(eval([("if-match", "*")]) == .proceed)
    #expect(eval([("if-match", "W/" + tag)]) == .failed)
    #expect(eval([("if-match", "\"x\"")]) == .failed)
    #expect(eval([("if-unmodified-since", date)]) == .proceed)
    #expect(eval([("if-unmodified-since", later)]) == .proceed)
    #expect(eval([("if-unmodified-since", earlier)]) == .failed)
    #expect(eval([("if-unmodified-since", "garbage")]) == .proceed)
    #expect(eval([("if-match", "\"x\""), ("if-none-match", tag)]) == .failed)
    #expect(Preconditions.rangeApplies(head([]), etag: tag, modified: t))
    #expect(Preconditions.rangeApplies(head([("if-range", tag)]), etag: tag, modified: t))
    #expect(!Preconditions.rangeApplies(head([("if-range", "\"x\"")]), etag: tag, modified: t))
    #expect(Preconditions.rangeApplies(head([("if-range", date)]), etag: tag, modified: t))
    #expect(!Preconditions.rangeApplies(head([("if-range", later)]), etag: tag, modified: t))
  }

  @Test func mediaTypes() {
    #expect(MediaTypes.type(forExtension: "html") == "text/html")
    #expect(MediaTypes.type(forExtension: "js") == "application/javascript")
    #expect(MediaTypes.type(forExtension: "svg") == "image/svg+xml")
    #expect(MediaTypes.type(forExtension: "woff2") == "font/woff2")
    #expect(MediaTypes.type(forExtension: "iso") == "application/octet-stream")
    #expect(MediaTypes.type(forExtension: "unknown") == "application/octet-stream")
    #expect(MediaTypes.type(forExtension: nil) == "application/octet-stream")
    #expect(MediaTypes.table.count >= 100)
  }

  @Test func responseHeads() {
    var head = ResponseHead(status: .partialContent, keepAlive: true)
    head.contentType = "text/plain"
    head.contentLength = 10
    head.lastModified = 784_111_777
    head.fields = [("ETag", "\"x\""), ("Content-Range", "bytes 0-9/100")]
    let text = String(decoding: head.encoded(server: "zc", date: "D"), as: UTF8.self)
    #expect(
      text
        == "HTTP/1.1 206 Partial Content\r\nServer: zc\r\nDate: D\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: keep-alive\r\nETag: \"x\"\r\nContent-Range: bytes 0-9/100\r\n\r\n"
    )
  }
}
