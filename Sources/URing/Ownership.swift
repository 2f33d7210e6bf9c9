// The ring's ownership ledger: memory the kernel may use after a call has returned is
// owned by the ring until the kernel says it is done with it.
//
// Three kinds of memory, three ways of knowing when the kernel is done:
// - A buffer (or object, or socket address) moved into a request: the request's final
//   completion (for SEND_ZC its notification). The ledger keeps it by user data and hands
//   the buffer back with `takeBuffer(userData:)`.
// - A registered buffer the ring owns: the kernel's resource tag. Every owned registration
//   carries a tag from the reserved user-data range; when the slot is replaced, cleared or
//   the table removed, the kernel posts a completion with that tag once no request uses the
//   buffer any more (IORING_REGISTER_BUFFERS2 / _UPDATE, kernel 5.13 — measured on 6.18: a
//   READ_FIXED pending on a pipe holds the tag back until it completes). Those completions
//   are consumed here, never delivered.
// - A provided-buffer ring: the final completion of every request that selects from its
//   group (`IOSQE_BUFFER_SELECT`), counted per group; an unregistered ring's memory is
//   freed when the count reaches zero.
//
// A ring with nothing owned never creates a ledger: its submission and reaping paths test
// one optional reference.

import CLibURing
import CZeroCopy
import Glibc
public import LinuxIO
import SystemPackage

extension IOURing {
  /// User data values the ring reserves for its own completions (resource tags, the
  /// cancellation it submits when it ends): `0xFFFF_FFFF_0000_0000...0xFFFF_FFFF_FFFF_FFFE`.
  /// While the ring owns memory, preparing a request with such user data is a precondition
  /// failure; the top 32 bits all set is rare in practice (pointers, small counters and
  /// `UInt64.max` are outside the range).
  public static let reservedUserData: ClosedRange<UInt64> = 0xFFFF_FFFF_0000_0000...0xFFFF_FFFF_FFFF_FFFE

  /// Owned requests (those that took a buffer, object or address) the kernel has not
  /// finished with yet: their final completion has not been reaped.
  public var ownedRequestsInFlight: Int { ownership?.inFlight.count ?? 0 }

  /// Buffers of finished owned requests that ``takeBuffer(userData:)`` has not taken yet.
  public var returnedBufferCount: Int { ownership?.returned.values.count { $0.buffer != nil } ?? 0 }

  /// Registered-buffer memory the ring owns that the kernel still holds (slots replaced,
  /// cleared or unregistered whose release the kernel has not posted yet).
  public var registeredBuffersBeingReleased: Int { ownership?.releasing.count ?? 0 }

  /// The buffer an owned request (``Request/read(_:into:range:at:userData:)`` and the other
  /// factories that take an `AlignedBuffer`) was given, once its final completion has been
  /// reaped — for a SEND_ZC, its notification. The same memory, with the bytes the kernel
  /// read into it.
  ///
  /// Until then, and after the buffer was taken, this returns nil. A buffer nobody takes is
  /// freed when another owned request with the same user data finishes, or with the ring.
  public mutating func takeBuffer(userData: UInt64) -> AlignedBuffer? {
    guard let ownership, let storage = ownership.returned.removeValue(forKey: userData) else { return nil }
    return storage.buffer.take()
  }

  /// The ledger, created on first use.
  @usableFromInline
  internal mutating func ensureOwnership() -> RingOwnership {
    if let ownership { return ownership }
    let created = RingOwnership()
    ownership = created
    return created
  }

  /// Takes over a prepared request's storage (keeping it until the kernel has consumed the
  /// SQE, or, for owned memory, until the final completion) and records buffer-select
  /// requests. Called for every prepared request that has storage, and for every request
  /// while the ring owns memory.
  @inline(never)
  internal mutating func adopt(_ storage: SubmissionStorage?, _ sqe: io_uring_sqe) {
    if let storage, !storage.untilCompletion {
      retainUntilSubmitted(storage)
      if ownership == nil { return }
    }
    let ledger = ensureOwnership()
    if !ledger.isIdle || storage != nil {
      precondition(
        !IOURing.reservedUserData.contains(sqe.user_data),
        "IOURing: user data \(sqe.user_data) is reserved by the ring while it owns memory (IOURing.reservedUserData)")
    }
    if let storage, storage.untilCompletion {
      ledger.adoptOwned(storage, sqe)
    }
    if sqe.flags & ZC_IOSQE_BUFFER_SELECT != 0 {
      ledger.adoptSelecting(sqe)
    }
  }

  /// Consumes the ledger's share of the `count` completions just reaped into `reapScratch`
  /// (in place): resource-tag completions are removed, final completions of owned and
  /// buffer-select requests release what they held. Returns how many remain to deliver.
  @usableFromInline @inline(never)
  internal mutating func intercept(_ count: Int) -> Int {
    guard let ownership, !ownership.isIdle else { return count }
    var kept = 0
    for i in 0..<count {
      let cqe = reapScratch[i]
      if ownership.consume(cqe) { continue }
      reapScratch[kept] = cqe
      kept += 1
    }
    return kept
  }
}

/// A registered buffer's memory, owned by the ring: a whole table's (shared by its slots)
/// or one buffer's.
internal final class OwnedMemory {
  var buffer: AlignedBuffer?
  /// The buffer's address and size (fixed: the buffer never moves).
  let base: UnsafeMutableRawPointer
  let count: Int
  init(_ buffer: consuming AlignedBuffer) {
    base = buffer.unsafeBaseAddress
    count = buffer.count
    self.buffer = .some(buffer)
  }
}

/// The ring's ownership ledger (see the top of this file).
@usableFromInline
internal final class RingOwnership {
  /// Owned requests in flight, by user data (unique while in flight).
  var inFlight: [UInt64: SubmissionStorage] = [:]
  /// Owned requests finished, by user data, until their buffer is taken.
  var returned: [UInt64: SubmissionStorage] = [:]
  /// Buffer-select requests in flight, by user data: how many, and the groups they named.
  var selecting: [UInt64: (count: Int, groups: [UInt16])] = [:]
  /// Requests in flight per buffer group.
  var groupUses: [UInt16: Int] = [:]
  /// Buffer rings unregistered while requests that select from them were in flight.
  var retiredBufferRings: [UInt16: [BufferRingStorage]] = [:]
  /// Registered-buffer slots whose memory the ring owns: the registration's tag and memory.
  var slots: [Int: (tag: UInt64, memory: OwnedMemory)] = [:]
  /// Registrations removed whose memory the kernel may still use, by tag.
  var releasing: [UInt64: OwnedMemory] = [:]
  /// Objects kept until the ring's memory is released (the ring's buffer rings, at the end).
  var keptAlive: [AnyObject] = []
  private var nextTag: UInt64 = 0

  /// Nothing in flight, nothing being released: completions need no look.
  var isIdle: Bool { inFlight.isEmpty && selecting.isEmpty && releasing.isEmpty }

  /// A tag for a new registration, from the reserved range (distinct from every tag still
  /// registered or being released).
  func makeTag() -> UInt64 {
    let span = IOURing.reservedUserData.upperBound - IOURing.reservedUserData.lowerBound  // the last value is for the final cancel
    while true {
      let tag = IOURing.reservedUserData.lowerBound + nextTag % span
      nextTag &+= 1
      if releasing[tag] == nil && !slots.values.contains(where: { $0.tag == tag }) { return tag }
    }
  }

  /// The user data of the cancellation the ring submits when it ends.
  static let finalCancelUserData = IOURing.reservedUserData.upperBound

  func adoptOwned(_ storage: SubmissionStorage, _ sqe: io_uring_sqe) {
    precondition(!storage.adopted, "IOURing: a request that owns memory was prepared twice (a copied LinkedChain?)")
    precondition(
      sqe.flags & ZC_IOSQE_CQE_SKIP_SUCCESS == 0,
      "IOURing: a request that owns memory cannot skip its completion (skipSuccessCompletion): the ring would never learn that the kernel is done"
    )
    precondition(
      inFlight[sqe.user_data] == nil,
      "IOURing: another request that owns memory is in flight with user data \(sqe.user_data); give such requests distinct user data"
    )
    storage.adopted = true
    inFlight[sqe.user_data] = storage
  }

  func adoptSelecting(_ sqe: io_uring_sqe) {
    let group = sqe.buf_group
    selecting[sqe.user_data, default: (0, [])].count += 1
    selecting[sqe.user_data]!.groups.append(group)
    groupUses[group, default: 0] += 1
  }

  /// Takes one reaped completion into account; true if it is the ring's own (a resource
  /// tag) and must not be delivered.
  func consume(_ cqe: RawCompletion) -> Bool {
    let userData = cqe.userData
    if IOURing.reservedUserData.contains(userData) {
      if userData == RingOwnership.finalCancelUserData { return true }
      if cqe.res == 0 && cqe.flags == 0, releasing.removeValue(forKey: userData) != nil { return true }
    }
    let more = cqe.flags & ZC_IORING_CQE_F_MORE != 0
    if let storage = inFlight[userData] {
      let final: Bool
      if storage.zeroCopy {
        // SEND_ZC: the notification is the last completion. A result without F_MORE ends
        // the request too (it failed before the kernel took the pages), except -ECANCELED:
        // a cancelled link member still gets a notification (measured on 6.18).
        final = cqe.flags & ZC_IORING_CQE_F_NOTIF != 0 || (!more && kernelResult(cqe.res) != .failure(.canceled))
      } else {
        final = !more
      }
      if final {
        inFlight[userData] = nil
        returned[userData] = storage
      }
    }
    if !more, var entry = selecting[userData] {
      entry.count -= 1
      if entry.count == 0 {
        selecting[userData] = nil
        for group in entry.groups { releaseGroupUse(group) }
      } else {
        selecting[userData] = entry
      }
    }
    return false
  }

  private func releaseGroupUse(_ group: UInt16) {
    let uses = (groupUses[group] ?? 1) - 1
    if uses > 0 {
      groupUses[group] = uses
      return
    }
    groupUses[group] = nil
    retiredBufferRings[group] = nil  // freed: nothing can select from it any more
  }

  /// Moves slot `slot`'s owned memory (if any) to `releasing`: the kernel posts its tag when
  /// no request uses it. Returns the memory.
  @discardableResult
  func release(slot: Int) -> (tag: UInt64, memory: OwnedMemory)? {
    guard let entry = slots.removeValue(forKey: slot) else { return nil }
    releasing[entry.tag] = entry.memory
    return entry
  }

  /// Moves every owned slot to `releasing` (the table was removed).
  func releaseAllSlots() {
    for slot in Array(slots.keys) { release(slot: slot) }
  }

  /// Before the ring is closed: cancels every request in flight and waits (at most
  /// `limit`) until the kernel has finished with everything the ring owns. Returns false if
  /// it gave up: the caller must then never free that memory.
  func quiesce(_ ring: UnsafeMutablePointer<io_uring>, _ scratch: UnsafeMutablePointer<RawCompletion>, limit: Duration) -> Bool {
    if !slots.isEmpty {
      if io_uring_unregister_buffers(ring) >= 0 {
        releaseAllSlots()
      } else {
        // Still registered: the memory stays pinned and referenced by the table until
        // the ring's own teardown, which may run after this returns. Never free it.
        return false
      }
    }
    if isIdle { return true }
    // Requests that use the memory may be untracked (a READ_FIXED): cancel everything.
    _ = io_uring_submit(ring)
    do {
      var sqe = io_uring_get_sqe(ring)
      if sqe == nil {
        _ = io_uring_submit(ring)
        sqe = io_uring_get_sqe(ring)
      }
      if let sqe {
        io_uring_prep_cancel64(sqe, 0, Int32(IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL))
        sqe.pointee.user_data = RingOwnership.finalCancelUserData
        _ = io_uring_submit(ring)
      }
    }
    let deadline = ContinuousClock.now + limit
    while !isIdle {
      let left = ContinuousClock.now.duration(to: deadline)
      if left <= .zero { return false }
      var ts = __kernel_timespec(min(left, .milliseconds(50)))
      var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
      switch kernelResult(io_uring_wait_cqe_timeout(ring, &cqe, &ts)) {
      case .success, .failure(.timeout), .failure(.interrupted): break
      case .failure: return false
      }
      while true {
        let n = IOURing.reap(ring, into: scratch, max: IOURing.reapBatch)
        if n == 0 {
          if zc_uring_sq_flags(ring) & ZC_IORING_SQ_CQ_OVERFLOW != 0 && zc_uring_flush_overflow(ring) >= 0
            && io_uring_cq_ready(ring) > 0
          {
            continue
          }
          break
        }
        for i in 0..<n { _ = consume(scratch[i]) }
      }
    }
    return true
  }
}
