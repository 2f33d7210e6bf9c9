// The funnels of the file and directory calls (fstat and the *at family, the metadata
// setters, lseek, ftruncate, fallocate, poll): the same contract as Syscalls.swift — Glibc's "-1 and
// errno" becomes -errno here, the mocking hook is asked first in debug builds, and
// `valueOrErrno` (Util.swift) turns -errno into a thrown `Errno` and retries EINTR.

import CLinuxExtras
import CZeroCopy
import Glibc

@inline(__always)
private func negated(_ result: CInt) -> CInt { result < 0 ? -errno : result }

@inline(__always)
private func negated(_ result: Int) -> Int { result < 0 ? -Int(errno) : result }

// MARK: Status

internal func system_fstat(_ fd: CInt, _ status: UnsafeMutablePointer<stat>) -> CInt {
  if let r = forced("fstat") { return CInt(r) }
  return negated(fstat(fd, status))
}

internal func system_fstatat(
  _ dirfd: CInt, _ path: UnsafePointer<CChar>, _ status: UnsafeMutablePointer<stat>, _ flags: CInt
) -> CInt {
  if let r = forced("fstatat") { return CInt(r) }
  return negated(fstatat(dirfd, path, status, flags))
}

internal func system_faccessat(_ dirfd: CInt, _ path: UnsafePointer<CChar>, _ mode: CInt, _ flags: CInt) -> CInt {
  if let r = forced("faccessat") { return CInt(r) }
  return negated(faccessat(dirfd, path, mode, flags))
}

// MARK: Directory entries

internal func system_mkdirat(_ dirfd: CInt, _ path: UnsafePointer<CChar>, _ mode: mode_t) -> CInt {
  if let r = forced("mkdirat") { return CInt(r) }
  return negated(mkdirat(dirfd, path, mode))
}

internal func system_unlinkat(_ dirfd: CInt, _ path: UnsafePointer<CChar>, _ flags: CInt) -> CInt {
  if let r = forced("unlinkat") { return CInt(r) }
  return negated(unlinkat(dirfd, path, flags))
}

internal func system_linkat(
  _ fromDirectory: CInt, _ from: UnsafePointer<CChar>, _ toDirectory: CInt, _ to: UnsafePointer<CChar>, _ flags: CInt
) -> CInt {
  if let r = forced("linkat") { return CInt(r) }
  return negated(linkat(fromDirectory, from, toDirectory, to, flags))
}

internal func system_renameat(
  _ fromDirectory: CInt, _ from: UnsafePointer<CChar>, _ toDirectory: CInt, _ to: UnsafePointer<CChar>
) -> CInt {
  if let r = forced("renameat") { return CInt(r) }
  return negated(renameat(fromDirectory, from, toDirectory, to))
}

internal func system_symlinkat(_ target: UnsafePointer<CChar>, _ dirfd: CInt, _ path: UnsafePointer<CChar>) -> CInt {
  if let r = forced("symlinkat") { return CInt(r) }
  return negated(symlinkat(target, dirfd, path))
}

internal func system_readlinkat(
  _ dirfd: CInt, _ path: UnsafePointer<CChar>, _ buffer: UnsafeMutablePointer<CChar>, _ capacity: Int
) -> Int {
  if let r = forced("readlinkat") { return r }
  return negated(readlinkat(dirfd, path, buffer, capacity))
}

internal func system_mknodat(_ dirfd: CInt, _ path: UnsafePointer<CChar>, _ mode: mode_t, _ device: dev_t) -> CInt {
  if let r = forced("mknodat") { return CInt(r) }
  return negated(mknodat(dirfd, path, mode, device))
}

// MARK: Metadata

internal func system_fchmod(_ fd: CInt, _ mode: mode_t) -> CInt {
  if let r = forced("fchmod") { return CInt(r) }
  return negated(fchmod(fd, mode))
}

internal func system_fchmodat(_ dirfd: CInt, _ path: UnsafePointer<CChar>, _ mode: mode_t, _ flags: CInt) -> CInt {
  if let r = forced("fchmodat") { return CInt(r) }
  return negated(fchmodat(dirfd, path, mode, flags))
}

internal func system_fchown(_ fd: CInt, _ user: uid_t, _ group: gid_t) -> CInt {
  if let r = forced("fchown") { return CInt(r) }
  return negated(fchown(fd, user, group))
}

internal func system_fchownat(
  _ dirfd: CInt, _ path: UnsafePointer<CChar>, _ user: uid_t, _ group: gid_t, _ flags: CInt
) -> CInt {
  if let r = forced("fchownat") { return CInt(r) }
  return negated(fchownat(dirfd, path, user, group, flags))
}

internal func system_futimens(_ fd: CInt, _ times: UnsafePointer<timespec>?) -> CInt {
  if let r = forced("futimens") { return CInt(r) }
  return negated(futimens(fd, times))
}

internal func system_utimensat(
  _ dirfd: CInt, _ path: UnsafePointer<CChar>, _ times: UnsafePointer<timespec>?, _ flags: CInt
) -> CInt {
  if let r = forced("utimensat") { return CInt(r) }
  return negated(utimensat(dirfd, path, times, flags))
}

// MARK: Size and position

internal func system_ftruncate(_ fd: CInt, _ length: Int64) -> CInt {
  if let r = forced("ftruncate") { return CInt(r) }
  return negated(ftruncate(fd, off_t(length)))
}

internal func system_fallocate(_ fd: CInt, _ mode: CInt, _ offset: Int64, _ length: Int64) -> CInt {
  if let r = forced("fallocate") { return CInt(r) }
  return zc_extras_fallocate(fd, mode, offset, length)
}

internal func system_lseek(_ fd: CInt, _ offset: Int64, _ whence: CInt) -> Int64 {
  if let r = forced("lseek") { return Int64(r) }
  let r = lseek(fd, off_t(offset), whence)
  return r < 0 ? -Int64(errno) : Int64(r)
}

/// `ioctl(fd, BLKGETSIZE64, &bytes)`: a block device's size in bytes.
internal func system_block_device_size(_ fd: CInt, _ bytes: UnsafeMutablePointer<UInt64>) -> CInt {
  if let r = forced("ioctl(BLKGETSIZE64)") { return CInt(r) }
  let blkGetSize64: UInt = 0x8008_1272  // _IOR(0x12, 114, size_t)
  return negated(ioctl(fd, blkGetSize64, bytes))
}

/// `ioctl(destination, FICLONERANGE, &range)`: `struct file_clone_range { __s64 src_fd;
/// __u64 src_offset, src_length, dest_offset; }`.
internal func system_clone_range(
  _ destination: CInt, _ source: CInt, _ sourceOffset: UInt64, _ length: UInt64, _ destinationOffset: UInt64
) -> CInt {
  if let r = forced("ioctl(FICLONERANGE)") { return CInt(r) }
  var range: (Int64, UInt64, UInt64, UInt64) = (Int64(source), sourceOffset, length, destinationOffset)
  let ficloneRange: UInt = 0x4020_940d  // _IOW(0x94, 13, struct file_clone_range)
  return withUnsafeMutableBytes(of: &range) { negated(ioctl(destination, ficloneRange, $0.baseAddress!)) }
}

// MARK: Process limits

internal func system_getrlimit(_ resource: __rlimit_resource_t, _ limit: UnsafeMutablePointer<rlimit>) -> CInt {
  if let r = forced("getrlimit") { return CInt(r) }
  return negated(getrlimit(resource, limit))
}

// MARK: Readiness

internal func system_poll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: Int, _ timeout: CInt) -> CInt {
  if let r = forced("poll") { return CInt(r) }
  return negated(poll(fds, nfds_t(count), timeout))
}

// MARK: Durability

internal func system_fsync(_ fd: CInt) -> CInt {
  if let r = forced("fsync") { return CInt(r) }
  return negated(fsync(fd))
}

internal func system_fdatasync(_ fd: CInt) -> CInt {
  if let r = forced("fdatasync") { return CInt(r) }
  return negated(fdatasync(fd))
}

// MARK: Directory listing

/// Calls `body` with each name in the directory `fd` (not `.` or `..`), NUL-terminated, by
/// `readdir(3)` (getdents64 underneath) on a duplicate of `fd`, so that `fd` stays open,
/// from the start. 0, or -errno.
internal func system_list_directory(_ fd: CInt, _ body: (UnsafePointer<CChar>) -> Void) -> CInt {
  if let r = forced("getdents64") { return CInt(r) }
  let copy = dup(fd)
  guard copy >= 0 else { return -errno }
  guard let dir = fdopendir(copy) else {
    let e = errno
    _ = close(copy)
    return -e
  }
  defer { closedir(dir) }
  rewinddir(dir)  // the duplicate shares the position: list from the start every time
  while true {
    errno = 0
    guard let entry = readdir(dir) else { return -errno }
    withUnsafePointer(to: &entry.pointee.d_name) { tuple in
      tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { p in
        if p[0] == 0x2E && (p[1] == 0 || (p[1] == 0x2E && p[2] == 0)) { return }
        body(p)
      }
    }
  }
}

// MARK: Reads and writes, vectored, sockets

internal func system_readv(_ fd: CInt, _ iov: UnsafePointer<iovec>?, _ count: CInt, _ offset: Int64?) -> Int {
  if let r = forced("readv") { return r }
  if let offset { return negated(preadv(fd, iov, count, off_t(offset))) }
  return negated(readv(fd, iov, count))
}

internal func system_writev(_ fd: CInt, _ iov: UnsafePointer<iovec>?, _ count: CInt, _ offset: Int64?) -> Int {
  if let r = forced("writev") { return r }
  if let offset { return negated(pwritev(fd, iov, count, off_t(offset))) }
  return negated(writev(fd, iov, count))
}

internal func system_send(_ fd: CInt, _ buffer: UnsafeRawPointer?, _ count: Int, _ flags: CInt) -> Int {
  if let r = forced("send") { return r }
  return negated(send(fd, buffer, count, flags))
}

internal func system_recv(_ fd: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ flags: CInt) -> Int {
  if let r = forced("recv") { return r }
  return negated(recv(fd, buffer, count, flags))
}

/// accept4(2) with SOCK_CLOEXEC through `zc_accept` (Swift's Glibc module hides
/// `accept4`): the new descriptor is close-on-exec from its first instant, so a process
/// another thread forks and execs meanwhile never inherits it. The descriptor, or -errno.
internal func system_accept_cloexec(_ fd: CInt) -> CInt {
  if let r = forced("accept") { return CInt(r) }
  return zc_accept(fd, 0)
}

internal func system_connect(_ fd: CInt, _ address: UnsafeRawPointer, _ length: UInt32) -> CInt {
  if let r = forced("connect") { return CInt(r) }
  return negated(connect(fd, address.assumingMemoryBound(to: sockaddr.self), socklen_t(length)))
}

// MARK: Socket setup, descriptor flags

internal func system_socket(_ domain: CInt, _ type: CInt, _ proto: CInt) -> CInt {
  if let r = forced("socket") { return CInt(r) }
  return negated(socket(domain, type, proto))
}

internal func system_socketpair(_ domain: CInt, _ type: CInt, _ proto: CInt, _ fds: UnsafeMutablePointer<CInt>) -> CInt {
  if let r = forced("socketpair") { return CInt(r) }
  return negated(socketpair(domain, type, proto, fds))
}

internal func system_bind(_ fd: CInt, _ address: UnsafeRawPointer, _ length: UInt32) -> CInt {
  if let r = forced("bind") { return CInt(r) }
  return negated(bind(fd, address.assumingMemoryBound(to: sockaddr.self), socklen_t(length)))
}

internal func system_listen(_ fd: CInt, _ backlog: CInt) -> CInt {
  if let r = forced("listen") { return CInt(r) }
  return negated(listen(fd, backlog))
}

internal func system_getsockname(_ fd: CInt, _ address: UnsafeMutableRawPointer, _ length: UnsafeMutablePointer<UInt32>)
  -> CInt
{
  if let r = forced("getsockname") { return CInt(r) }
  return negated(getsockname(fd, address.assumingMemoryBound(to: sockaddr.self), length))
}

internal func system_setsockopt_int(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt) -> CInt {
  if let r = forced("setsockopt") { return CInt(r) }
  var value = value
  return negated(setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<CInt>.size)))
}

internal func system_shutdown(_ fd: CInt, _ how: CInt) -> CInt {
  if let r = forced("shutdown") { return CInt(r) }
  return negated(shutdown(fd, how))
}

internal func system_set_cloexec(_ fd: CInt) -> CInt {
  if let r = forced("fcntl") { return CInt(r) }
  return negated(fcntl(fd, F_SETFD, FD_CLOEXEC))
}
