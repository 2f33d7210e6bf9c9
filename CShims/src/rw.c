/* Classic read/write loops: pread_all, pwrite_all, read_write_all, write_from_mapping. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <unistd.h>

int zci_write_loop(int fd, const void *buf, size_t len, int64_t *off, zc_progress *p,
                   int wait_on_again, int *hit_again) {
    const char *cur = (const char *)buf;
    size_t done = 0;
    while (done < len) {
        if (zci_cancelled()) return -ECANCELED;
        size_t want = len - done;
        if (want > ZC_MAX_RW_COUNT) want = ZC_MAX_RW_COUNT;
        ssize_t n = off ? pwrite(fd, cur + done, want, (off_t)*off) : write(fd, cur + done, want);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (zci_is_again(errno)) {
                if (!wait_on_again) return ZC_AGAIN;
                *hit_again = 1;
                int r = zci_wait_writable(fd);
                if (r < 0) return r;
                continue;
            }
            return -errno;
        }
        if (n == 0) return -EIO; /* write(2) never returns 0 for len > 0 on a working fd */
        done += (size_t)n;
        p->bytes += (uint64_t)n;
        if (off) *off += n;
    }
    return ZC_DONE;
}

int zc_pread_all(int fd, void *buf, size_t len, int64_t offset, zc_progress *p) {
    zc_progress local;
    if (p == NULL) p = &local;
    zci_progress_reset(p);
    if (buf == NULL && len > 0) return -EFAULT;
    char *cur = (char *)buf;
    while (p->bytes < len) {
        if (zci_cancelled()) return -ECANCELED;
        size_t want = len - (size_t)p->bytes;
        if (want > ZC_MAX_RW_COUNT) want = ZC_MAX_RW_COUNT;
        ssize_t n = offset >= 0 ? pread(fd, cur + p->bytes, want, (off_t)(offset + (int64_t)p->bytes))
                                : read(fd, cur + p->bytes, want);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            return zci_is_again(errno) ? ZC_AGAIN : -errno;
        }
        if (n == 0) return ZC_EOF;
        p->bytes += (uint64_t)n;
    }
    return ZC_DONE;
}

int zc_pwrite_all(int fd, const void *buf, size_t len, int64_t offset, zc_progress *p) {
    zc_progress local;
    if (p == NULL) p = &local;
    zci_progress_reset(p);
    if (buf == NULL && len > 0) return -EFAULT;
    zc_sigguard g;
    int rc = zci_guard_begin(&g);
    if (rc < 0) return rc;
    int64_t off = offset;
    rc = zci_write_loop(fd, buf, len, offset >= 0 ? &off : NULL, p, 0, NULL);
    zci_guard_end(&g, rc);
    return rc;
}

int zc_write_from_mapping(int fd, const void *src, size_t len, int64_t offset, zc_progress *p) {
    /* The kernel copies from the mapping itself (copy_from_user): a page past the
     * truncated end of the file makes write() return a short count, then EFAULT,
     * and no SIGBUS is raised in user space. */
    return zc_pwrite_all(fd, src, len, offset, p);
}

static int read_write_loop(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                           void *buf, size_t buf_len, zc_progress *p);

/* The buffer on this function's own stack: a separate frame, so that a call given a
 * buffer does not reserve 16 KiB of stack it never uses. */
__attribute__((noinline)) static int read_write_on_stack(int fd_in, int64_t *off_in, int fd_out,
                                                         int64_t *off_out, uint64_t count, size_t buf_len,
                                                         zc_progress *p) {
    unsigned char buf[ZC_RW_STACK_BUFFER_MAX] __attribute__((aligned(64)));
    return read_write_loop(fd_in, off_in, fd_out, off_out, count, buf, buf_len, p);
}

int zc_read_write_all(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                      void *buf, size_t buf_len, zc_progress *p) {
    zc_progress local;
    if (p == NULL) p = &local;
    zci_progress_reset(p);
    if (buf_len == 0 || (buf == NULL && buf_len > ZC_RW_STACK_BUFFER_MAX)) return -EINVAL;
    if ((off_in && *off_in < 0) || (off_out && *off_out < 0)) return -EINVAL;
    if (buf == NULL) return read_write_on_stack(fd_in, off_in, fd_out, off_out, count, buf_len, p);
    return read_write_loop(fd_in, off_in, fd_out, off_out, count, buf, buf_len, p);
}

static int read_write_loop(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                           void *buf, size_t buf_len, zc_progress *p) {

    zc_sigguard g;
    int rc = zci_guard_begin(&g);
    if (rc < 0) return rc;

    const int64_t in_start = off_in ? *off_in : 0;
    int64_t in_off = in_start, out_off = off_out ? *off_out : 0;
    rc = ZC_DONE;
    while (count == ZC_UNTIL_EOF || p->bytes < count) {
        if (zci_cancelled()) {
            rc = -ECANCELED;
            break;
        }
        size_t want = zci_chunk(count, p->bytes, buf_len);
        ssize_t n = off_in ? pread(fd_in, buf, want, (off_t)in_off) : read(fd_in, buf, want);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = zci_is_again(errno) ? ZC_AGAIN : -errno;
            break;
        }
        if (n == 0) {
            rc = zci_eof_status(count);
            break;
        }
        in_off += n;
        uint64_t before = p->bytes;
        int hit_again = 0;
        int w = zci_write_loop(fd_out, buf, (size_t)n, off_out ? &out_off : NULL, p, 0, NULL);
        uint64_t undelivered = (uint64_t)n - (p->bytes - before);
        if (w == ZC_AGAIN) {
            /* Give the rest of the chunk back to the source when it is seekable (it is
             * re-read next time); a socket or pipe source must wait for the destination
             * instead, since its bytes cannot be read twice. */
            if (off_in || lseek(fd_in, -(off_t)undelivered, SEEK_CUR) >= 0) {
                rc = ZC_AGAIN;
                break;
            }
            hit_again = 1;
            w = zci_write_loop(fd_out, (const char *)buf + (n - (ssize_t)undelivered),
                               (size_t)undelivered, off_out ? &out_off : NULL, p, 1, &hit_again);
            undelivered = (uint64_t)n - (p->bytes - before);
        }
        if (w < 0) {
            p->discarded += undelivered;
            /* Give the undelivered bytes back to a seekable source read by position. */
            if (!off_in && undelivered > 0) (void)lseek(fd_in, -(off_t)undelivered, SEEK_CUR);
            rc = w;
            break;
        }
        if (hit_again) {
            rc = ZC_AGAIN;
            break;
        }
    }
    if (off_in) *off_in = in_start + (int64_t)p->bytes; /* first byte not delivered */
    if (off_out) *off_out = out_off;
    zci_guard_end(&g, rc);
    return rc;
}
