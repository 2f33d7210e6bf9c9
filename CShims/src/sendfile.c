/* sendfile: single call and the "all" loop (0x7ffff000-byte cap, short counts, EOF). */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <sys/sendfile.h>

ssize_t zc_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count) {
    off_t off = offset ? (off_t)*offset : 0;
    if (offset && *offset < 0) return -EINVAL;
    ssize_t n;
    do { n = sendfile(out_fd, in_fd, offset ? &off : NULL, count); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (offset) *offset = (int64_t)off;
    return n;
}

int zc_sendfile_all(int out_fd, int in_fd, int64_t *offset, uint64_t count, zc_progress *p) {
    zc_progress local;
    if (p == NULL) p = &local;
    zci_progress_reset(p);
    if (offset && *offset < 0) return -EINVAL;

    zc_sigguard g;
    int rc = zci_guard_begin(&g);
    if (rc < 0) return rc;

    off_t off = offset ? (off_t)*offset : 0;
    rc = ZC_DONE;
    while (count == ZC_UNTIL_EOF || p->bytes < count) {
        if (zci_cancelled()) {
            rc = -ECANCELED;
            break;
        }
        size_t want = zci_chunk(count, p->bytes, ZC_MAX_RW_COUNT);
        ssize_t n = sendfile(out_fd, in_fd, offset ? &off : NULL, want);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = zci_is_again(errno) ? ZC_AGAIN : -errno;
            break;
        }
        if (n == 0) {
            /* sendfile returns 0 at the source's end of file: a short or truncated source. */
            rc = zci_eof_status(count);
            break;
        }
        p->bytes += (uint64_t)n;
    }
    if (offset) *offset = (int64_t)off;
    zci_guard_end(&g, rc);
    return rc;
}
