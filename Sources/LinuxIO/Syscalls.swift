// One funnel per C call. Each funnel:
//   - returns the shim's convention unchanged: a non-negative value, or -errno;
//   - converts Glibc's "-1 and errno" convention to -errno for the few direct Glibc calls;
//   - in debug builds, consults the syscall mocking hook first (Mocking.swift).
// Errors become `Errno` in exactly one place: `valueOrErrno` in Util.swift.
// The shim retries EINTR itself; `valueOrErrno` retries it for everything else.

import CLinuxExtras
import CZeroCopy
import Glibc

/// The injected errno for funnel `name` (debug builds, Mocking.swift), as `-errno`.
@inline(__always)
internal func forced(_ name: String) -> Int? {
  #if DEBUG
    if let errno = mockedErrno(name) { return -Int(errno.rawValue) }
  #endif
  return nil
}

// MARK: Single data-moving calls

internal func system_sendfile(
  _ outFD: CInt, _ inFD: CInt, _ offset: UnsafeMutablePointer<Int64>?, _ count: Int
) -> Int {
  if let r = forced("sendfile") { return r }
  return zc_sendfile(outFD, inFD, offset, count)
}

internal func system_splice(
  _ inFD: CInt, _ inOffset: UnsafeMutablePointer<Int64>?,
  _ outFD: CInt, _ outOffset: UnsafeMutablePointer<Int64>?,
  _ count: Int, _ flags: CUnsignedInt
) -> Int {
  if let r = forced("splice") { return r }
  return zc_splice(inFD, inOffset, outFD, outOffset, count, flags)
}

internal func system_tee(_ inFD: CInt, _ outFD: CInt, _ count: Int, _ flags: CUnsignedInt) -> Int {
  if let r = forced("tee") { return r }
  return zc_tee(inFD, outFD, count, flags)
}

internal func system_vmsplice(
  _ fd: CInt, _ iov: UnsafePointer<iovec>?, _ segments: Int, _ flags: CUnsignedInt
) -> Int {
  if let r = forced("vmsplice") { return r }
  return zc_vmsplice(fd, iov, segments, flags)
}

internal func system_copy_file_range(
  _ inFD: CInt, _ inOffset: UnsafeMutablePointer<Int64>?,
  _ outFD: CInt, _ outOffset: UnsafeMutablePointer<Int64>?,
  _ count: Int, _ flags: CUnsignedInt
) -> Int {
  if let r = forced("copy_file_range") { return r }
  return zc_copy_file_range(inFD, inOffset, outFD, outOffset, count, flags)
}

// MARK: The page cache

internal func system_fadvise(_ fd: CInt, _ offset: Int64, _ length: Int64, _ advice: CInt) -> CInt {
  if let r = forced("fadvise") { return CInt(r) }
  // posix_fadvise returns the error number itself (not -1 and errno).
  return -posix_fadvise(fd, off_t(offset), off_t(length), advice)
}

internal func system_range_ready(
  _ fd: CInt, _ offset: Int64, _ length: Int64, _ thorough: Bool, _ probes: UnsafeMutablePointer<CInt>
) -> CInt {
  if let r = forced("range_ready") { return CInt(r) }
  return zc_range_ready(fd, offset, length, thorough ? 1 : 0, probes)
}

internal func system_filesystem_type(_ fd: CInt) -> Int64 {
  if let r = forced("filesystem_type") { return Int64(r) }
  return zc_filesystem_type(fd)
}

internal func system_cached_pages(_ fd: CInt, _ offset: Int64, _ length: Int64) -> Int64 {
  if let r = forced("cached_pages") { return Int64(r) }
  return zc_cached_pages(fd, offset, length)
}

// MARK: "All" helpers (return a zc_status or -errno, always fill the progress)

internal typealias ProgressPointer = UnsafeMutablePointer<zc_progress>

@inline(__always)
private func forcedAll(_ name: String, _ progress: ProgressPointer) -> CInt? {
  guard let r = forced(name) else { return nil }
  progress.pointee = zc_progress(bytes: 0, syscalls: 0, discarded: 0)
  return CInt(r)
}

internal func system_sendfile_all(
  _ outFD: CInt, _ inFD: CInt, _ offset: UnsafeMutablePointer<Int64>?, _ count: UInt64,
  _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("sendfile_all", progress) { return r }
  return zc_sendfile_all(outFD, inFD, offset, count, progress)
}

internal func system_splice_all(
  _ inFD: CInt, _ inOffset: UnsafeMutablePointer<Int64>?,
  _ outFD: CInt, _ outOffset: UnsafeMutablePointer<Int64>?,
  _ count: UInt64, _ pipeFDs: UnsafePointer<CInt>?, _ flags: UInt32, _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("splice_all", progress) { return r }
  return zc_splice_all_flags(inFD, inOffset, outFD, outOffset, count, pipeFDs, flags, progress)
}

internal func system_copy_file_range_all(
  _ inFD: CInt, _ inOffset: UnsafeMutablePointer<Int64>?,
  _ outFD: CInt, _ outOffset: UnsafeMutablePointer<Int64>?,
  _ count: UInt64, _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("copy_file_range_all", progress) { return r }
  return zc_copy_file_range_all(inFD, inOffset, outFD, outOffset, count, progress)
}

internal func system_pread_all(
  _ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ offset: Int64,
  _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("pread_all", progress) { return r }
  return zc_pread_all(fd, buffer, count, offset, progress)
}

internal func system_pwrite_all(
  _ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int, _ offset: Int64,
  _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("pwrite_all", progress) { return r }
  return zc_pwrite_all(fd, buffer, count, offset, progress)
}

internal func system_read_write_all(
  _ inFD: CInt, _ inOffset: UnsafeMutablePointer<Int64>?,
  _ outFD: CInt, _ outOffset: UnsafeMutablePointer<Int64>?,
  _ count: UInt64, _ buffer: UnsafeMutableRawPointer?, _ bufferCount: Int,
  _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("read_write_all", progress) { return r }
  return zc_read_write_all(inFD, inOffset, outFD, outOffset, count, buffer, bufferCount, progress)
}

internal func system_write_from_mapping(
  _ fd: CInt, _ source: UnsafeRawPointer?, _ count: Int, _ offset: Int64,
  _ progress: ProgressPointer
) -> CInt {
  if let r = forcedAll("write_from_mapping", progress) { return r }
  return zc_write_from_mapping(fd, source, count, offset, progress)
}

// MARK: Pipes

internal func system_pipe(_ fds: UnsafeMutablePointer<CInt>, _ flags: CInt) -> CInt {
  if let r = forced("pipe") { return CInt(r) }
  return zc_pipe(fds, flags)
}

internal func system_pipe_capacity(_ fd: CInt) -> CInt {
  if let r = forced("pipe_capacity") { return CInt(r) }
  return zc_pipe_capacity(fd)
}

internal func system_pipe_set_capacity(_ fd: CInt, _ size: CInt) -> CInt {
  if let r = forced("pipe_set_capacity") { return CInt(r) }
  return zc_pipe_set_capacity(fd, size)
}

internal func system_pipe_max_capacity() -> CInt {
  if let r = forced("pipe_max_capacity") { return CInt(r) }
  return zc_pipe_max_capacity()
}

internal func system_readable_bytes(_ fd: CInt) -> CInt {
  if let r = forced("readable_bytes") { return CInt(r) }
  return zc_readable_bytes(fd)
}

// MARK: Signal guard

internal func system_sigguard_begin(_ guardState: UnsafeMutablePointer<zc_sigguard>) -> CInt {
  if let r = forced("sigguard_begin") { return CInt(r) }
  return zc_sigguard_begin(guardState)
}

internal func system_sigguard_end(_ guardState: UnsafeMutablePointer<zc_sigguard>) -> CInt {
  if let r = forced("sigguard_end") { return CInt(r) }
  return zc_sigguard_end(guardState)
}

internal func system_sigguard_block_thread() -> CInt {
  if let r = forced("sigguard_block_thread") { return CInt(r) }
  return zc_sigguard_block_thread()
}

internal func system_pread_nowait(_ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ offset: Int64) -> Int {
  if let r = forced("pread_nowait") { return r }
  return zc_pread_nowait(fd, buffer, count, offset)
}

// MARK: Mappings

internal func system_map(
  _ fd: CInt, _ offset: Int64, _ length: Int, _ protection: CInt, _ flags: CInt,
  _ mapping: UnsafeMutablePointer<zc_mapping>
) -> CInt {
  if let r = forced("map") { return CInt(r) }
  return zc_map(fd, offset, length, protection, flags, mapping)
}

internal func system_unmap(_ mapping: UnsafeMutablePointer<zc_mapping>) -> CInt {
  if let r = forced("unmap") { return CInt(r) }
  return zc_unmap(mapping)
}

internal func system_madvise(
  _ mapping: UnsafePointer<zc_mapping>, _ offset: Int, _ length: Int, _ advice: CInt
) -> CInt {
  if let r = forced("madvise") { return CInt(r) }
  return zc_madvise(mapping, offset, length, advice)
}

internal func system_guarded_copy(
  _ destination: UnsafeMutableRawPointer?, _ source: UnsafeRawPointer?, _ count: Int,
  _ copied: UnsafeMutablePointer<Int>?
) -> CInt {
  if let r = forced("guarded_copy") { return CInt(r) }
  return zc_guarded_copy(destination, source, count, copied)
}

internal func system_page_size() -> Int {
  zc_page_size()
}

// MARK: Direct Glibc calls

/// posix_memalign(3) reports its error as the return value (not errno): convert it
/// to -errno like everything else. Returns 0 and sets `pointer`, or -errno.
internal func system_posix_memalign(
  _ pointer: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ alignment: Int, _ size: Int
) -> CInt {
  if let r = forced("posix_memalign") { return CInt(r) }
  return -posix_memalign(pointer, alignment, size)
}

internal func system_free(_ pointer: UnsafeMutableRawPointer?) {
  free(pointer)
}

// MARK: Direct I/O

internal func system_dio_alignment(_ fd: CInt, _ out: UnsafeMutablePointer<zc_dio_alignment>) -> CInt {
  if let r = forced("dio_alignment") { return CInt(r) }
  return zc_dio_alignment_query(fd, out)
}

internal func system_reopen(_ fd: CInt, _ flags: CInt) -> CInt {
  if let r = forced("reopen") { return CInt(r) }
  return zc_reopen(fd, flags)
}

internal func system_fcntl_getfl(_ fd: CInt) -> CInt {
  if let r = forced("fcntl") { return CInt(r) }
  let r = fcntl(fd, F_GETFL)
  return r < 0 ? -errno : r
}

internal func system_pread(_ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ offset: Int64) -> Int {
  if let r = forced("pread") { return r }
  let r = pread(fd, buffer, count, off_t(offset))
  return r < 0 ? -Int(errno) : r
}

internal func system_pwrite(_ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int, _ offset: Int64) -> Int {
  if let r = forced("pwrite") { return r }
  let r = pwrite(fd, buffer, count, off_t(offset))
  return r < 0 ? -Int(errno) : r
}

// MARK: Readiness and event counters (epoll, eventfd)

internal func system_epoll_create1(_ flags: CInt) -> CInt {
  if let r = forced("epoll_create1") { return CInt(r) }
  let r = epoll_create1(flags)
  return r < 0 ? -errno : r
}

internal func system_epoll_ctl(
  _ epfd: CInt, _ operation: CInt, _ fd: CInt, _ event: UnsafeMutablePointer<epoll_event>?
) -> CInt {
  if let r = forced("epoll_ctl") { return CInt(r) }
  return epoll_ctl(epfd, operation, fd, event) < 0 ? -errno : 0
}

internal func system_epoll_wait(
  _ epfd: CInt, _ events: UnsafeMutablePointer<epoll_event>, _ maxEvents: CInt, _ timeout: CInt
) -> CInt {
  if let r = forced("epoll_wait") { return CInt(r) }
  let r = epoll_wait(epfd, events, maxEvents, timeout)
  return r < 0 ? -errno : r
}

internal func system_eventfd(_ initialValue: CUnsignedInt, _ flags: CInt) -> CInt {
  if let r = forced("eventfd") { return CInt(r) }
  let r = eventfd(initialValue, flags)
  return r < 0 ? -errno : r
}

internal func system_eventfd_read(_ fd: CInt, _ value: UnsafeMutablePointer<UInt64>) -> CInt {
  if let r = forced("eventfd_read") { return CInt(r) }
  return eventfd_read(fd, value) < 0 ? -errno : 0
}

internal func system_eventfd_write(_ fd: CInt, _ value: UInt64) -> CInt {
  if let r = forced("eventfd_write") { return CInt(r) }
  return eventfd_write(fd, value) < 0 ? -errno : 0
}

// MARK: Opening relative to a directory, temporary files

internal func system_openat(_ dirfd: CInt, _ path: UnsafePointer<CChar>, _ flags: CInt, _ mode: mode_t) -> CInt {
  if let r = forced("openat") { return CInt(r) }
  let r = openat(dirfd, path, flags, mode)
  return r < 0 ? -errno : r
}

/// The shim already returns -errno (openat2 has no Glibc wrapper: `syscall(SYS_openat2)`).
internal func system_openat2(
  _ dirfd: CInt, _ path: UnsafePointer<CChar>, _ flags: UInt64, _ mode: UInt64, _ resolve: UInt64
) -> CInt {
  if let r = forced("openat2") { return CInt(r) }
  return zc_extras_openat2(dirfd, path, flags, mode, resolve)
}

/// Creates a unique file from `template` (its last six "XXXXXX" replaced in place). The
/// header's wrapper already returns -errno (Glibc hides `mkostemp`: it is GNU-only).
internal func system_mkostemp(_ template: UnsafeMutablePointer<CChar>, _ flags: CInt) -> CInt {
  if let r = forced("mkostemp") { return CInt(r) }
  return zc_extras_mkostemp(template, flags)
}

// MARK: Sockets

/// Fills `info` with up to `capacity` SK_MEMINFO_* values; returns how many, or -errno.
internal func system_socket_meminfo(_ fd: CInt, _ info: UnsafeMutablePointer<UInt32>, _ capacity: CUnsignedInt) -> CInt {
  if let r = forced("socket_meminfo") { return CInt(r) }
  return zc_extras_socket_meminfo(fd, info, capacity)
}
