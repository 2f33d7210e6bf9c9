// The Range header (RFC 9110 §14), interpreted as nginx's range filter interprets it, so
// that the same request gets the same status from both. Pure Swift, no imports.
//
// nginx's rules, which this follows:
//  - the value must start with "bytes=" (any case) and be at least 7 bytes, otherwise the
//    header is ignored (200, whole file);
//  - spaces (not tabs) may surround numbers, "-" and ","; any other syntax error is 416;
//  - "a-b" is clamped to the file (b past the end means "to the end"); "a-" is "to the
//    end"; "-n" is the last n bytes; a range with a > b, or starting past the end, is
//    dropped — and when a dropped range starts at 0 (an empty file) the header is ignored;
//  - no range left: 416 (with Content-Range: bytes */size);
//  - one range: 206 with Content-Range; several: 206 multipart/byteranges, unless their
//    total exceeds the file's size (then 200: "the client asked for more than the file").
// A number too large for a 63-bit offset is a syntax error (416), as in nginx.

/// What a Range header asks for, given the file's size.
enum ByteRangeRequest: Sendable, Hashable {
  /// Send the whole file (no usable Range header).
  case whole
  /// 416: nothing in the header overlaps the file.
  case notSatisfiable
  /// 206: these ranges, in the order asked, each non-empty and inside the file.
  case ranges([Range<Int64>])

  /// Interprets `header` (the Range field value) for a file of `size` bytes.
  static func parse(_ header: String, size: Int64) -> ByteRangeRequest {
    let bytes = Array(header.utf8)
    guard bytes.count >= 7 else { return .whole }
    let prefix: [UInt8] = Array("bytes=".utf8)
    for k in 0..<6 where (bytes[k] | (bytes[k] >= 0x41 && bytes[k] <= 0x5A ? 0x20 : 0)) != prefix[k] {
      return .whole
    }
    var p = 6
    func at(_ i: Int) -> UInt8 { i < bytes.count ? bytes[i] : 0 }
    func skipSpaces() { while at(p) == 0x20 { p += 1 } }
    func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    func number() -> Int64? {
      var value: Int64 = 0
      while isDigit(at(p)) {
        let (t, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = t.addingReportingOverflow(Int64(at(p) - 0x30))
        if o1 || o2 { return nil }
        value = s
        p += 1
      }
      return value
    }
    var ranges: [Range<Int64>] = []
    var total: Int64 = 0
    while true {
      var start: Int64 = 0
      var end: Int64 = 0
      var suffix = false
      var toEnd = false
      skipSpaces()
      if at(p) != UInt8(ascii: "-") {
        guard isDigit(at(p)), let s = number() else { return .notSatisfiable }
        start = s
        skipSpaces()
        guard at(p) == UInt8(ascii: "-") else { return .notSatisfiable }
        p += 1
        skipSpaces()
        if at(p) == UInt8(ascii: ",") || at(p) == 0 {
          end = size
          toEnd = true
        }
      } else {
        suffix = true
        p += 1
      }
      if !toEnd {
        guard isDigit(at(p)), let e = number() else { return .notSatisfiable }
        end = e
        skipSpaces()
        guard at(p) == UInt8(ascii: ",") || at(p) == 0 else { return .notSatisfiable }
        if suffix {
          start = end < size ? size - end : 0
          end = size - 1
        }
        // Inclusive to exclusive, clamped to the file.
        end = end >= size ? size : end + 1
      }
      if start < end {
        let (sum, overflow) = total.addingReportingOverflow(end - start)
        if overflow { return .notSatisfiable }
        total = sum
        ranges.append(start..<end)
      } else if start == 0 {
        return .whole
      }
      if at(p) != UInt8(ascii: ",") { break }
      p += 1
    }
    if ranges.isEmpty { return .notSatisfiable }
    if ranges.count > 1 {
      // nginx: more bytes than the file (overlaps), or barely less once the part headers
      // are counted (256 bytes each against 4 KiB of slack), is answered with the file.
      if total > size { return .whole }
      if total + Int64(ranges.count) * 256 > size + 4096 { return .whole }
    }
    return .ranges(ranges)
  }
}
