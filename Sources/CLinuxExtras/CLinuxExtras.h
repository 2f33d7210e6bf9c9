/*
 * CLinuxExtras.h — Linux interfaces Swift's Glibc module leaves out, for LinuxIO only (the
 * layers above reach them through LinuxIO's typed wrappers): epoll, eventfd, openat2 and
 * its RESOLVE_* flags, O_PATH, SEEK_DATA/SEEK_HOLE, SO_MEMINFO, fallocate, mkostemp (a
 * temporary file close-on-exec from the start), and extended attributes (<sys/xattr.h>:
 * listxattr, getxattr, setxattr and their f/l forms).
 *
 * <sys/types.h> comes first, as in CLibURing.h, so that glibc's fd_set is declared once.
 * syscall(2) is variadic, which Swift cannot call: openat2 has a static inline wrapper.
 */
#ifndef ZEROCOPY_CLINUXEXTRAS_H
#define ZEROCOPY_CLINUXEXTRAS_H

#include <sys/types.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/openat2.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/xattr.h>

/* O_PATH is a GNU extension that Swift's Glibc module hides. */
#ifdef O_PATH
static const int zc_extras_O_PATH = O_PATH;
#else
static const int zc_extras_O_PATH = 010000000; /* asm-generic/fcntl.h */
#endif

/* lseek's SEEK_DATA and SEEK_HOLE (Linux 3.1): <unistd.h> defines them only under
 * _GNU_SOURCE, which Swift's Glibc module does not see; the values are the same on every
 * Linux architecture (include/uapi/linux/fs.h). */
#ifdef SEEK_DATA
static const int zc_extras_SEEK_DATA = SEEK_DATA;
static const int zc_extras_SEEK_HOLE = SEEK_HOLE;
#else
static const int zc_extras_SEEK_DATA = 3;
static const int zc_extras_SEEK_HOLE = 4;
#endif

#ifndef __NR_openat2
#define __NR_openat2 437 /* the same number on every architecture (Linux 5.6) */
#endif

/*
 * openat2(2) (Linux 5.6): opens `path` relative to `dirfd` with the RESOLVE_* rules in
 * `resolve`. Returns the new descriptor, or -errno (ENOSYS before 5.6 or under a seccomp
 * filter that refuses it, E2BIG/EINVAL for unknown flags, EXDEV/ELOOP/EAGAIN for paths
 * the rules refuse).
 */
static inline int zc_extras_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    long rc = syscall(__NR_openat2, dirfd, path, &how, sizeof how);
    return rc < 0 ? -errno : (int)rc;
}

/*
 * fallocate(2) (Linux 2.6.23): allocates (mode 0: and extends the size; FALLOC_FL_KEEP_SIZE = 1:
 * not) the blocks of [offset, offset + length). <fcntl.h> declares it only under _GNU_SOURCE,
 * which Swift's Glibc module does not see; the system call is called directly (glibc's
 * wrapper adds nothing; unlike posix_fallocate, which writes zeros where the filesystem
 * refuses). Returns 0, or -errno (EINVAL for a length <= 0, EBADF on a descriptor not open
 * for writing, ESPIPE on a pipe or FIFO, EISDIR, ENODEV on a socket or character device,
 * EOPNOTSUPP on filesystems without it, ENOSPC, EFBIG).
 */
static inline int zc_extras_fallocate(int fd, int mode, int64_t offset, int64_t length) {
    long rc = syscall(SYS_fallocate, fd, mode, (off_t)offset, (off_t)length);
    return rc < 0 ? -errno : 0;
}

/* getsockopt(SOL_SOCKET, SO_MEMINFO) (Linux 4.12): the socket's memory counters, indexed by
 * SK_MEMINFO_* (<linux/sock_diag.h>), into `info` (room for `capacity` values; unreported
 * values are left 0). Returns how many values the kernel reported (SK_MEMINFO_VARS on a
 * current kernel; older kernels report fewer), or -errno. */
static inline int zc_extras_socket_meminfo(int fd, uint32_t *info, unsigned capacity) {
    socklen_t length = (socklen_t)(capacity * sizeof(uint32_t));
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &length) < 0) return -errno;
    return (int)(length / sizeof(uint32_t));
}

/*
 * mkostemp(3) (glibc 2.7): creates and opens a new file named after `path_template`, whose
 * last six characters must be "XXXXXX" and are replaced (in place) by the name made unique;
 * opened O_RDWR | O_CREAT | O_EXCL plus `flags` (O_CLOEXEC, O_APPEND, O_SYNC), mode 0600
 * (less the umask). Unlike mkstemp followed by fcntl(FD_CLOEXEC), O_CLOEXEC leaves no moment
 * in which a concurrent fork + exec inherits the descriptor. <stdlib.h> declares it only
 * under _GNU_SOURCE, which Swift's Glibc module does not see: declared here as glibc does
 * (on 64-bit targets mkostemp64 is the same function). Returns the descriptor, or -errno
 * (EINVAL for a template that does not end in "XXXXXX" — it is then left unchanged —,
 * ENOENT/ENOTDIR/EACCES/EROFS from the directory, EEXIST when no unique name was found,
 * EMFILE); after a failure other than EINVAL the six characters may have been replaced.
 */
extern int mkostemp(char *path_template, int flags);

static inline int zc_extras_mkostemp(char *path_template, int flags) {
    int fd = mkostemp(path_template, flags);
    return fd < 0 ? -errno : fd;
}

#endif /* ZEROCOPY_CLINUXEXTRAS_H */
