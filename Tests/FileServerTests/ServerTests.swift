// The server end to end, in process, with a client that sends exactly the bytes given.

import FileServer
import Glibc
import Testing
import ZeroCopy

@Suite("File server", .timeLimit(.hangGuard(minutes: 3)))
struct ServerTests {
  static func site() throws -> ScratchDirectory {
    let dir = try ScratchDirectory()
    try dir.write("index.html", Array("<h1>root</h1>\n".utf8))
    try dir.write("a.txt", Array("hello, world\n".utf8))
    try dir.write("data.bin", pattern(seed: 1, count: 100_000))
    try dir.write("empty", [])
    try dir.write("dir/index.html", Array("dir index\n".utf8))
    try dir.write("noindex/file.css", Array("body{}".utf8))
    try dir.write("odd name%.TXT", Array("odd".utf8))
    return dir
  }

  @Test func getHeadRedirectsAndErrors() async throws {
    let dir = try Self.site()
    let server = try TestServer(root: dir.path)
    let port = server.port
    try await blocking {
      let c = try RawClient(port: port)
      let root = try c.request("/")
      #expect(root.status == 200)
      #expect(root.text == "<h1>root</h1>\n")
      #expect(root.header("Content-Type") == "text/html")
      #expect(root.header("Connection") == "keep-alive")
      #expect(root.header("Accept-Ranges") == "bytes")
      #expect(root.header("Server") == "zc")
      #expect(root.header("Date")?.hasSuffix(" GMT") == true)

      let head = try c.request("/a.txt", method: "HEAD")
      #expect(head.status == 200)
      #expect(head.header("Content-Length") == "13")
      #expect(head.header("Content-Type") == "text/plain")
      #expect(head.body.isEmpty)
      // Nothing of a body followed the HEAD: the next response parses from its first byte.
      let a = try c.request("/a.txt")
      #expect(a.text == "hello, world\n")
      let etag = try #require(a.header("ETag"))
      #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
      let lastModified = try #require(a.header("Last-Modified"))

      let moved = try c.request("/dir")
      #expect(moved.status == 301)
      #expect(moved.header("Location") == "/dir/")
      #expect(try c.request("/dir?x=1").header("Location") == "/dir/?x=1")
      let dirIndex = try c.request("/dir/")
      #expect(dirIndex.status == 200 && dirIndex.text == "dir index\n")
      #expect(dirIndex.header("Content-Type") == "text/html")
      #expect(try c.request("/noindex/").status == 404)
      #expect(try c.request("/missing").status == 404)
      #expect(try c.request("/a.txt/").status == 404)
      #expect(try c.request("/odd%20name%25.TXT").text == "odd")
      #expect(try c.request("/noindex/file.css").header("Content-Type") == "text/css")

      let empty = try c.request("/empty")
      #expect(empty.status == 200 && empty.body.isEmpty && empty.header("Content-Length") == "0")

      let post = try c.request("/a.txt", method: "DELETE")
      #expect(post.status == 405)
      #expect(post.header("Allow") == "GET, HEAD")
      #expect(post.header("Connection") == "keep-alive")

      // Conditional requests.
      let notModified = try c.request("/a.txt", headers: ["If-None-Match: \(etag)"])
      #expect(notModified.status == 304)
      #expect(notModified.header("ETag") == etag)
      #expect(notModified.header("Content-Length") == nil)
      #expect(notModified.header("Content-Type") == nil)
      #expect(try c.request("/a.txt", headers: ["If-Modified-Since: \(lastModified)"]).status == 304)
      #expect(try c.request("/a.txt", headers: ["If-None-Match: \"other\""]).status == 200)
      #expect(try c.request("/a.txt", headers: ["If-Match: \"other\""]).status == 412)
      #expect(try c.request("/a.txt", headers: ["If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"]).status == 412)

      // Ranges.
      let data = pattern(seed: 1, count: 100_000)
      let part = try c.request("/data.bin", headers: ["Range: bytes=10-19"])
      #expect(part.status == 206)
      #expect(part.body == Array(data[10..<20]))
      #expect(part.header("Content-Range") == "bytes 10-19/100000")
      #expect(part.header("Accept-Ranges") == nil)
      let suffix = try c.request("/data.bin", headers: ["Range: bytes=-5"])
      #expect(suffix.body == Array(data[99_995...]))
      let unsatisfiable = try c.request("/data.bin", headers: ["Range: bytes=100000-"])
      #expect(unsatisfiable.status == 416)
      #expect(unsatisfiable.header("Content-Range") == "bytes */100000")
      let ignored = try c.request("/data.bin", headers: ["Range: bytes=0-5", "If-Range: \"stale\""])
      #expect(ignored.status == 200 && ignored.body == data)
      let multi = try c.request("/data.bin", headers: ["Range: bytes=0-1,50000-50009"])
      #expect(multi.status == 206)
      let type = try #require(multi.header("Content-Type"))
      #expect(type.hasPrefix("multipart/byteranges; boundary="))
      let boundary = String(type.dropFirst("multipart/byteranges; boundary=".count))
      let expected =
        Array("\r\n--\(boundary)\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/100000\r\n\r\n".utf8)
        + data[0..<2]
        + Array(
          "\r\n--\(boundary)\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 50000-50009/100000\r\n\r\n".utf8)
        + data[50000..<50010] + Array("\r\n--\(boundary)--\r\n".utf8)
      #expect(multi.body == expected)
      // HEAD with a range: the 206 head, no body.
      let headRange = try c.request("/data.bin", method: "HEAD", headers: ["Range: bytes=0-9"])
      #expect(headRange.status == 206 && headRange.header("Content-Length") == "10")
      #expect(try c.request("/a.txt").text == "hello, world\n")
    }
    await server.stop()
  }

  @Test func pipeliningAndConnectionRules() async throws {
    let dir = try Self.site()
    let server = try TestServer(root: dir.path) { $0.maxRequestsPerConnection = 3 }
    let port = server.port
    try await blocking {
      // Three requests in one write; three responses in order.
      let c = try RawClient(port: port)
      try c.send(
        "GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\nHEAD /index.html HTTP/1.1\r\nHost: h\r\n\r\nGET /missing HTTP/1.1\r\nHost: h\r\n\r\n"
      )
      let r1 = try #require(try c.readResponse())
      let r2 = try #require(try c.readResponse(head: true))
      let r3 = try #require(try c.readResponse())
      #expect(r1.text == "hello, world\n")
      #expect(r2.status == 200 && r2.header("Content-Length") == "14")
      #expect(r3.status == 404)
      // The third request was the last this connection may carry.
      #expect(r3.header("Connection") == "close")
      #expect(c.isClosedByPeer())

      let http10 = try RawClient(port: port)
      try http10.send("GET /a.txt HTTP/1.0\r\n\r\n")
      let r10 = try #require(try http10.readResponse())
      #expect(r10.header("Connection") == "close" && r10.text == "hello, world\n")
      #expect(http10.isClosedByPeer())

      let kept10 = try RawClient(port: port)
      try kept10.send("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
      #expect(try kept10.readResponse()?.header("Connection") == "keep-alive")
      #expect(try kept10.request("/a.txt").status == 200)

      let close = try RawClient(port: port)
      #expect(try close.request("/a.txt", headers: ["Connection: close"]).header("Connection") == "close")
      #expect(close.isClosedByPeer())

      // A malformed request: 400, then the connection closes (nothing after it is read).
      let bad = try RawClient(port: port)
      try bad.send(
        "GET /a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n"
      )
      let refused = try #require(try bad.readResponse())
      #expect(refused.status == 400 && refused.header("Connection") == "close")
      #expect(bad.isClosedByPeer())

      // A request with a body is answered, then the connection closes: the body is never
      // read as a request (no smuggling).
      let body = try RawClient(port: port)
      try body.send("POST /a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 37\r\n\r\nGET /data.bin HTTP/1.1\r\nHost: h\r\n\r\n")
      let answered = try #require(try body.readResponse())
      #expect(answered.status == 405 && answered.header("Connection") == "close")
      #expect(body.isClosedByPeer())

      for (request, status) in [
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505), ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET /" + String(repeating: "x", count: 9000) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "x", count: 17000) + "\r\n\r\n", 431),
        ("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("GET /../x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
      ] {
        let c = try RawClient(port: port)
        try c.send(request)
        #expect(try c.readResponse()?.status == status, "\(request.prefix(40))")
        #expect(c.isClosedByPeer())
      }
    }
    await server.stop()
    #expect(server.server.statistics.connectionsOpen == 0)
  }
}
