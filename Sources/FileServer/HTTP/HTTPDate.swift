// HTTP dates (RFC 9110 §5.6.7): formatting IMF-fixdate, parsing all three formats.
// Pure Swift, no imports (civil-date arithmetic, no time zones: HTTP dates are GMT).

enum HTTPDate {
  private static let dayNames = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
  private static let longDayNames = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"]
  private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

  /// Days since 1970-01-01 for a proleptic Gregorian date (month 1–12).
  static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let m = month > 2 ? month - 3 : month + 9
    let doy = (153 * m + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  /// The civil date of a day count since 1970-01-01.
  static func civil(days z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }

  /// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  static func format(_ seconds: Int64) -> String {
    var days = seconds / 86400
    var rest = seconds % 86400
    if rest < 0 {
      rest += 86400
      days -= 1
    }
    let (y, m, d) = civil(days: days)
    var weekday = days % 7
    if weekday < 0 { weekday += 7 }
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    var year = "\(y)"
    while year.utf8.count < 4 { year = "0" + year }
    return
      "\(dayNames[Int(weekday)]), \(two(d)) \(monthNames[Int(m - 1)]) \(year) \(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60)) GMT"
  }

  /// Parses IMF-fixdate, RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT", two-digit years
  /// 70–99 are 19xx, 00–69 are 20xx, as nginx reads them) and asctime ("Sun Nov  6
  /// 08:49:37 1994").
  ///
  /// - Returns: Seconds since the epoch, or nil for anything else (an invalid date is
  ///   ignored by the conditional-request rules, RFC 9110 §13.1).
  static func parse(_ text: String) -> Int64? {
    let b = Array(text.utf8)
    var p = 0
    func at(_ i: Int) -> UInt8 { i < b.count ? b[i] : 0 }
    func digits(_ n: Int) -> Int64? {
      var v: Int64 = 0
      for k in 0..<n {
        let c = at(p + k)
        guard c >= 0x30 && c <= 0x39 else { return nil }
        v = v * 10 + Int64(c - 0x30)
      }
      p += n
      return v
    }
    func expect(_ s: String) -> Bool {
      for c in s.utf8 {
        guard at(p) == c else { return false }
        p += 1
      }
      return true
    }
    func month() -> Int64? {
      guard p + 3 <= b.count else { return nil }
      let name = String(decoding: b[p..<(p + 3)], as: UTF8.self)
      guard let m = monthNames.firstIndex(of: name) else { return nil }
      p += 3
      return Int64(m + 1)
    }
    func time() -> (Int64, Int64, Int64)? {
      guard let h = digits(2), expect(":"), let mi = digits(2), expect(":"), let s = digits(2) else { return nil }
      return (h, mi, s)
    }

    var year: Int64
    var mon: Int64
    var day: Int64
    var clock: (Int64, Int64, Int64)
    if let comma = b.firstIndex(of: UInt8(ascii: ",")) {
      let name = String(decoding: b[..<comma], as: UTF8.self)
      p = comma + 1
      if comma == 3 {
        // IMF-fixdate
        guard dayNames.contains(name), expect(" "), let d = digits(2), expect(" "), let m = month(), expect(" "),
          let y = digits(4), expect(" "), let t = time(), expect(" GMT"), p == b.count
        else { return nil }
        (year, mon, day, clock) = (y, m, d, t)
      } else {
        // RFC 850
        guard longDayNames.contains(name), expect(" "), let d = digits(2), expect("-"), let m = month(), expect("-"),
          let yy = digits(2), expect(" "), let t = time(), expect(" GMT"), p == b.count
        else { return nil }
        (year, mon, day, clock) = (yy < 70 ? 2000 + yy : 1900 + yy, m, d, t)
      }
    } else {
      // asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space)
      guard b.count >= 3, dayNames.contains(String(decoding: b[0..<3], as: UTF8.self)) else { return nil }
      p = 3
      guard expect(" "), let m = month(), expect(" ") else { return nil }
      let d: Int64
      if at(p) == 0x20 {
        p += 1
        guard let one = digits(1) else { return nil }
        d = one
      } else {
        guard let two = digits(2) else { return nil }
        d = two
      }
      guard expect(" "), let t = time(), expect(" "), let y = digits(4), p == b.count else { return nil }
      (year, mon, day, clock) = (y, m, d, t)
    }
    let monthLengths: [Int64] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    let maxDay = mon == 2 && leap ? 29 : monthLengths[Int(mon - 1)]
    guard day >= 1, day <= maxDay, clock.0 <= 23, clock.1 <= 59, clock.2 <= 59 else { return nil }
    return days(year: year, month: mon, day: day) * 86400 + clock.0 * 3600 + clock.1 * 60 + clock.2
  }
}
