// The benchmark's stream checksum ("zc64"), mirrored exactly from Benchmarks/c/zc_checksum.h
// so the C receivers and the Swift harness agree on every byte.
//
// Definition: h = 0x243F6A8885A308D3; for each 8-byte little-endian word w of the stream
// (a final partial word is zero-padded), h = rotl64(h ^ w, 29) * 0x9E3779B97F4A7C15; the
// result is h ^ length. Not cryptographic: it lets a receiver verify a stream without
// storing it.

/// A streaming zc64 checksum (see `Benchmarks/c/zc_checksum.h`).
public struct ZC64: Sendable, Hashable {
  /// The running hash over whole 8-byte words.
  private var h: UInt64 = 0x243F_6A88_85A3_08D3
  /// Bytes seen so far.
  public private(set) var length: UInt64 = 0
  /// Bytes of an incomplete word, little-endian, and how many there are.
  private var carry: UInt64 = 0
  private var carryCount = 0

  /// A checksum of the empty stream.
  public init() {}

  @inline(__always)
  private static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
    let x = h ^ w
    return ((x << 29) | (x >> 35)) &* 0x9E37_79B9_7F4A_7C15
  }

  /// Adds `bytes` to the stream.
  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard var p = bytes.baseAddress, !bytes.isEmpty else { return }
    var n = bytes.count
    length &+= UInt64(n)
    while carryCount > 0 && n > 0 {
      carry |= UInt64(p.load(as: UInt8.self)) << (8 * UInt64(carryCount))
      carryCount += 1
      p += 1
      n -= 1
      if carryCount == 8 {
        h = ZC64.mix(h, carry)
        carry = 0
        carryCount = 0
      }
    }
    var hh = h
    while n >= 8 {
      hh = ZC64.mix(hh, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
      p += 8
      n -= 8
    }
    h = hh
    while n > 0 {
      carry |= UInt64(p.load(as: UInt8.self)) << (8 * UInt64(carryCount))
      carryCount += 1
      p += 1
      n -= 1
    }
  }

  /// Adds `bytes` to the stream.
  public mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// The checksum of everything added so far (the stream may continue afterwards).
  public var value: UInt64 {
    var v = h
    if carryCount > 0 { v = ZC64.mix(v, carry) }
    return v ^ length
  }

  /// The checksum as 16 lower-case hex digits, as the C programs print it.
  public var hex: String { ZC64.hex(value) }

  /// `value` as 16 lower-case hex digits.
  public static func hex(_ value: UInt64) -> String {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
  }
}
