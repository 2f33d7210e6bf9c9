// Response heads, serialized the way nginx lays them out (status line, Server, Date,
// Content-Type, Content-Length, Last-Modified, Location, Connection, then the rest). Pure Swift.

struct ResponseHead: Sendable {
  var status: HTTPStatus
  var contentType: String?
  /// nil: no Content-Length field (304).
  var contentLength: Int64?
  var lastModified: Int64?
  /// The Location field (301), placed before Connection as nginx places it.
  var location: String?
  var keepAlive: Bool
  /// Further fields, in order (ETag, Accept-Ranges, Content-Range, Location, Allow…).
  var fields: [(String, String)] = []

  init(status: HTTPStatus, keepAlive: Bool) {
    self.status = status
    self.keepAlive = keepAlive
  }

  /// The head's bytes, ending with the empty line.
  func encoded(server: String, date: String) -> [UInt8] {
    var s = "HTTP/1.1 \(status.rawValue) \(status.reason)\r\nServer: \(server)\r\nDate: \(date)\r\n"
    if let contentType { s += "Content-Type: \(contentType)\r\n" }
    if let contentLength { s += "Content-Length: \(contentLength)\r\n" }
    if let lastModified { s += "Last-Modified: \(HTTPDate.format(lastModified))\r\n" }
    if let location { s += "Location: \(location)\r\n" }
    s += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
    for (name, value) in fields { s += "\(name): \(value)\r\n" }
    s += "\r\n"
    return Array(s.utf8)
  }

  /// The small HTML page nginx sends with an error status (and with 301).
  static func errorPage(_ status: HTTPStatus, server: String) -> [UInt8] {
    let title = "\(status.rawValue) \(status.reason)"
    return Array(
      "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n<hr><center>\(server)</center>\r\n</body>\r\n</html>\r\n"
        .utf8)
  }
}
