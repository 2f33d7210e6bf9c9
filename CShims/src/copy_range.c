/* copy_file_range: single call and the "all" loop. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <unistd.h>

ssize_t zc_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                           unsigned flags) {
    if ((off_in && *off_in < 0) || (off_out && *off_out < 0)) return -EINVAL;
    loff_t a = off_in ? (loff_t)*off_in : 0, b = off_out ? (loff_t)*off_out : 0;
    ssize_t n;
    do {
        n = copy_file_range(fd_in, off_in ? &a : NULL, fd_out, off_out ? &b : NULL, len, flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (off_in) *off_in = (int64_t)a;
    if (off_out) *off_out = (int64_t)b;
    return n;
}

int zc_copy_file_range_all(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out,
                           uint64_t count, zc_progress *p) {
    zc_progress local;
    if (p == NULL) p = &local;
    zci_progress_reset(p);
    if ((off_in && *off_in < 0) || (off_out && *off_out < 0)) return -EINVAL;

    zc_sigguard g;
    int rc = zci_guard_begin(&g);
    if (rc < 0) return rc;

    loff_t a = off_in ? (loff_t)*off_in : 0, b = off_out ? (loff_t)*off_out : 0;
    rc = ZC_DONE;
    while (count == ZC_UNTIL_EOF || p->bytes < count) {
        if (zci_cancelled()) {
            rc = -ECANCELED;
            break;
        }
        size_t want = zci_chunk(count, p->bytes, ZC_MAX_RW_COUNT);
        ssize_t n = copy_file_range(fd_in, off_in ? &a : NULL, fd_out, off_out ? &b : NULL, want, 0);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        if (n == 0) {
            /* End of source. Kernels 5.3-5.18 also returned 0 for /proc files: callers that
             * know the source is longer treat a first 0 as "unsupported" (see zerocopy.h). */
            rc = zci_eof_status(count);
            break;
        }
        p->bytes += (uint64_t)n;
    }
    if (off_in) *off_in = (int64_t)a;
    if (off_out) *off_out = (int64_t)b;
    zci_guard_end(&g, rc);
    return rc;
}
