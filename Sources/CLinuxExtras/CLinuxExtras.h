/*
 * CLinuxExtras.h — Linux interfaces Swift's Glibc module leaves out, for ZeroCopy's
 * Readiness (epoll, eventfd), the FileServer module (openat2, SO_MEMINFO) and LinuxIO's
 * extended attributes (<sys/xattr.h>: listxattr, getxattr, setxattr and their f/l forms).
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

/* getsockopt(SO_MEMINFO) (Linux 4.12): the send buffer's limit (sk_sndbuf) and what is
 * queued against it (sk_wmem_queued, skb overhead included) — the two numbers the kernel
 * compares before it accepts more data for a TCP socket. Returns 0, or -errno. */
static inline int zc_extras_socket_send_memory(int fd, uint32_t *sndbuf, uint32_t *queued) {
    uint32_t info[SK_MEMINFO_VARS] = {0};
    socklen_t length = sizeof info;
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &length) < 0) return -errno;
    if (length < (SK_MEMINFO_WMEM_QUEUED + 1) * sizeof(uint32_t)) return -EINVAL;
    *sndbuf = info[SK_MEMINFO_SNDBUF];
    *queued = info[SK_MEMINFO_WMEM_QUEUED];
    return 0;
}

#endif /* ZEROCOPY_CLINUXEXTRAS_H */
