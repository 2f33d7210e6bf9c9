/* Direct I/O helpers: the O_DIRECT flag, the STATX_DIOALIGN query, re-opening a descriptor. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/stat.h> /* struct statx with stx_dio_mem_align / stx_dio_offset_align */

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

int zc_o_direct_flag(void) { return O_DIRECT; }

int zc_dio_alignment_query(int fd, zc_dio_alignment *out) {
    out->mem_align = 4096;
    out->offset_align = 4096;
    out->reported = 0;
    struct statx stx;
    memset(&stx, 0, sizeof stx);
    long rc;
    do {
        rc = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        if (errno == ENOSYS) return 0; /* no statx: the fallback */
        return -errno;
    }
    if ((stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_mem_align != 0 && stx.stx_dio_offset_align != 0) {
        out->mem_align = stx.stx_dio_mem_align;
        out->offset_align = stx.stx_dio_offset_align;
        out->reported = 1;
    }
    return 0;
}

int zc_reopen(int fd, int flags) {
    if (fd < 0) return -EBADF;
    if (flags & (O_CREAT | O_TRUNC | O_EXCL)) return -EINVAL;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int r;
    do {
        r = open(path, flags | O_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}
