// A request: one prepared SQE, plain data.

import CLibURing
import LinuxIO
public import SystemPackage

/// Something a request can name as its file: a plain descriptor, or a slot in the ring's
/// registered-file table (``IOURing/RegisteredFile``, which makes the request use
/// `IOSQE_FIXED_FILE` and saves the kernel a file-table lookup and reference count).
public protocol IOURingFile: Sendable {
  /// The value the SQE carries in its `fd` field, and whether it is a registered slot.
  var ioUringOperand: IOURing.FileOperand { get }
}

extension FileDescriptor: IOURingFile {
  /// This descriptor, as a plain (unregistered) file operand.
  public var ioUringOperand: IOURing.FileOperand { IOURing.FileOperand(value: rawValue, isRegistered: false) }
}

extension IOURing {
  /// A request's file operand: a descriptor, or a registered-file index (`IOSQE_FIXED_FILE`).
  public struct FileOperand: Sendable, Hashable {
    /// The descriptor or the registered-file index.
    public let value: Int32
    /// Whether `value` is a registered-file index.
    public let isRegistered: Bool

    /// A descriptor (`isRegistered == false`) or a registered-file index.
    public init(value: Int32, isRegistered: Bool) {
      self.value = value
      self.isRegistered = isRegistered
    }
  }

  /// One io_uring operation, prepared but not yet submitted: plain data (the 64-byte SQE)
  /// plus storage for data the kernel copies at submission (paths, timeouts).
  ///
  /// Create requests with the static factories (`.read(…)`, `.splice(…)`, `.timeout(…)`…),
  /// each documenting its C counterpart, its kernel version, and **how long the memory
  /// it points at must stay valid**. Then `IOURing.prepare(_:)` and ``IOURing/submit()``.
  ///
  /// **Memory contract.** A request stores raw addresses of the caller's buffers, iovec
  /// arrays, socket addresses and message headers. Unless a factory says otherwise, that
  /// memory must stay allocated — and must not be read (for reads) or written (for
  /// writes) by anyone else — from `IOURing.prepare(_:)` until the request's *final*
  /// completion has been reaped: for SEND_ZC the notification, for multishot requests the
  /// completion without ``Completion/hasMore``. Cancelling a request does not end this
  /// period: its buffers are in use until its own completion (typically `ECANCELED`)
  /// arrives, and a read pending on a descriptor that is closed meanwhile can still write
  /// into its buffer. The async engine (a later layer) owns buffers for you; this layer
  /// does not.
  ///
  /// A request is **noncopyable**: it describes one submission and is consumed by
  /// `IOURing.prepare(_:)` (or a ``IOURing/LinkedChain``). Being moved, never copied, it
  /// costs no reference counting on the submission path, and a request with owned
  /// storage (a path, a timeout) cannot be submitted twice by accident. Build a fresh one
  /// for each submission — factories are cheap.
  ///
  /// `Request` is `Sendable` so it can be built on one task and submitted on the ring's;
  /// the memory contract above is what makes that sound.
  public struct Request: ~Copyable, @unchecked Sendable {
    /// The SQE, exactly as it will be copied into the submission queue.
    internal var sqe: io_uring_sqe
    /// A retained `SubmissionStorage` (`Unmanaged`, +1) kept alive until the kernel has
    /// consumed the SQE, or nil. A raw pointer rather than a class reference so that the
    /// common case (no storage) costs no reference counting: the request's `deinit`
    /// releases it, and ``take()`` hands it over to the ring.
    internal var storage: UnsafeMutableRawPointer?

    @inline(__always)
    internal init(userData: UInt64, storage: SubmissionStorage? = nil, _ prep: (UnsafeMutablePointer<io_uring_sqe>) -> Void) {
      var sqe = io_uring_sqe()
      prep(&sqe)
      sqe.user_data = userData
      self.sqe = sqe
      self.storage = storage.map { Unmanaged.passRetained($0).toOpaque() }
    }

    deinit {
      if let storage { Unmanaged<SubmissionStorage>.fromOpaque(storage).release() }
    }

    /// Consumes the request: its SQE, and its storage (ownership transferred to the caller).
    @inline(__always)
    internal consuming func take() -> (sqe: io_uring_sqe, storage: SubmissionStorage?) {
      let result = (sqe, storage.map { Unmanaged<SubmissionStorage>.fromOpaque($0).takeRetainedValue() })
      discard self
      return result
    }

    /// The value the completion will carry back (`sqe->user_data`).
    ///
    /// The corresponding C function is `io_uring_sqe_set_data64`.
    public var userData: UInt64 {
      get { sqe.user_data }
      set { sqe.user_data = newValue }
    }

    /// This request with `userData` set.
    public consuming func userData(_ value: UInt64) -> Request {
      sqe.user_data = value
      return self
    }

    /// The operation (`sqe->opcode`).
    public var opcode: Opcode { Opcode(rawValue: sqe.opcode) }

    /// The request's `IOSQE_*` flags (`sqe->flags`).
    public var options: Options { Options(rawValue: sqe.flags) }

    /// This request with `IOSQE_IO_DRAIN` (5.2): it starts only after every request
    /// submitted before it has completed, and later ones wait for it.
    public consuming func drain() -> Request { adding(.drain) }

    /// This request with `IOSQE_ASYNC` (5.6): skip the non-blocking attempt and go
    /// straight to an io-wq worker thread.
    public consuming func async() -> Request { adding(.async) }

    /// This request with `IOSQE_CQE_SKIP_SUCCESS` (5.17): no completion is posted if it
    /// succeeds (failures still are). Use for requests whose success needs no action.
    public consuming func skipSuccessCompletion() -> Request { adding(.skipSuccess) }

    internal consuming func adding(_ o: Options) -> Request {
      sqe.flags |= o.rawValue
      return self
    }

    /// The `IOSQE_*` SQE flags.
    public struct Options: OptionSet, Sendable, Hashable {
      /// The raw C value.
      public let rawValue: UInt8
      /// Wraps a raw C value.
      public init(rawValue: UInt8) { self.rawValue = rawValue }
      /// `IOSQE_FIXED_FILE` (5.1): `fd` is a registered-file index.
      public static let fixedFile = Options(rawValue: ZC_IOSQE_FIXED_FILE)
      /// `IOSQE_IO_DRAIN` (5.2).
      public static let drain = Options(rawValue: ZC_IOSQE_IO_DRAIN)
      /// `IOSQE_IO_LINK` (5.3): set by ``IOURing/LinkedChain``.
      public static let link = Options(rawValue: ZC_IOSQE_IO_LINK)
      /// `IOSQE_IO_HARDLINK` (5.5): set by ``IOURing/LinkedChain``.
      public static let hardLink = Options(rawValue: ZC_IOSQE_IO_HARDLINK)
      /// `IOSQE_ASYNC` (5.6).
      public static let async = Options(rawValue: ZC_IOSQE_ASYNC)
      /// `IOSQE_BUFFER_SELECT` (5.7): set by the provided-buffer factories.
      public static let bufferSelect = Options(rawValue: ZC_IOSQE_BUFFER_SELECT)
      /// `IOSQE_CQE_SKIP_SUCCESS` (5.17).
      public static let skipSuccess = Options(rawValue: ZC_IOSQE_CQE_SKIP_SUCCESS)
    }
  }
}

// MARK: - Storage a request keeps alive

/// What a request owns: bytes the kernel reads when it consumes the SQE (a NUL-terminated
/// path, a timespec), kept until the kernel has consumed every prepared SQE; or memory the
/// kernel uses until the request's *final* completion — an ``LinuxIO/AlignedBuffer`` moved
/// into the request, an object it writes into (a ``IOURing/StatxBuffer``), or a socket
/// address — which the ring keeps in its ownership ledger (Ownership.swift) until then.
internal final class SubmissionStorage: @unchecked Sendable {
  // @unchecked: owned by one request, then by one ring (exclusive access through it).

  /// Bytes the SQE points at, or nil for storage that only owns a buffer or an object.
  let pointer: UnsafeMutableRawPointer?
  /// Whether the ring must keep this storage until the request's final completion
  /// (rather than until the kernel has consumed the SQE).
  let untilCompletion: Bool
  /// A SEND_ZC: the final completion is the notification (``IOURing/Completion/isNotification``).
  let zeroCopy: Bool
  /// The caller's buffer, handed back by ``IOURing/takeBuffer(userData:)`` after the final completion.
  var buffer: AlignedBuffer?
  /// An object the kernel writes into until the final completion.
  let object: AnyObject?
  /// Set when a ring adopts the storage: one storage serves exactly one submission (a
  /// copied ``IOURing/LinkedChain`` prepared twice would otherwise submit the same buffer twice).
  var adopted = false

  init(byteCount: Int, alignment: Int, untilCompletion: Bool = false) {
    pointer = .allocate(byteCount: max(byteCount, 1), alignment: alignment)
    self.untilCompletion = untilCompletion
    zeroCopy = false
    object = nil
  }

  /// Storage that owns `buffer` until the request's final completion.
  init(owning buffer: consuming AlignedBuffer, zeroCopy: Bool = false) {
    pointer = nil
    untilCompletion = true
    self.zeroCopy = zeroCopy
    self.buffer = .some(buffer)
    object = nil
  }

  /// Storage that keeps `object` alive until the request's final completion, and optionally
  /// owns bytes too (`byteCount > 0`).
  init(retaining object: AnyObject, byteCount: Int = 0) {
    pointer = byteCount > 0 ? .allocate(byteCount: byteCount, alignment: 16) : nil
    untilCompletion = true
    zeroCopy = false
    self.object = object
  }

  deinit { pointer?.deallocate() }

  /// A copy of `path` as a C string (kept until the kernel has consumed the SQE: the kernel
  /// copies a path when it prepares the request).
  static func path(_ path: FilePath) -> SubmissionStorage {
    path.withPlatformString { cString in
      let length = strlenOf(cString) + 1
      let s = SubmissionStorage(byteCount: length, alignment: 1)
      s.pointer!.copyMemory(from: cString, byteCount: length)
      return s
    }
  }

  /// A copy of `ts` (the kernel copies a timeout's timespec when it prepares the request).
  static func timespec(_ ts: __kernel_timespec) -> SubmissionStorage {
    let s = SubmissionStorage(
      byteCount: MemoryLayout<__kernel_timespec>.size, alignment: MemoryLayout<__kernel_timespec>.alignment)
    s.pointer!.storeBytes(of: ts, as: __kernel_timespec.self)
    return s
  }

  /// The address and length of `range` of the owned buffer (all of it by default).
  func slice(_ range: Range<Int>?, _ function: StaticString) -> (UnsafeMutableRawPointer, Int) {
    let base = buffer?.unsafeBaseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!
    let count = buffer?.count ?? 0
    guard let range else { return (base, count) }
    precondition(
      range.lowerBound >= 0 && range.upperBound <= count,
      "IOURing.Request.\(function): range \(range) is outside the \(count)-byte buffer")
    return (base + range.lowerBound, range.count)
  }
}

@inline(__always)
private func strlenOf(_ p: UnsafePointer<CChar>) -> Int {
  var n = 0
  while p[n] != 0 { n += 1 }
  return n
}
