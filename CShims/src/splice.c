/* splice, tee, vmsplice, and the splice "all" helper (direct or through a pipe). */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(ZC_SPLICE_F_MOVE == SPLICE_F_MOVE, "SPLICE_F_MOVE");
_Static_assert(ZC_SPLICE_F_NONBLOCK == SPLICE_F_NONBLOCK, "SPLICE_F_NONBLOCK");
_Static_assert(ZC_SPLICE_F_MORE == SPLICE_F_MORE, "SPLICE_F_MORE");
_Static_assert(ZC_SPLICE_F_GIFT == SPLICE_F_GIFT, "SPLICE_F_GIFT");

ssize_t zc_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                  unsigned flags) {
    if ((off_in && *off_in < 0) || (off_out && *off_out < 0)) return -EINVAL;
    loff_t a = off_in ? (loff_t)*off_in : 0, b = off_out ? (loff_t)*off_out : 0;
    ssize_t n;
    do {
        n = splice(fd_in, off_in ? &a : NULL, fd_out, off_out ? &b : NULL, len, flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (off_in) *off_in = (int64_t)a;
    if (off_out) *off_out = (int64_t)b;
    return n;
}

ssize_t zc_tee(int fd_in, int fd_out, size_t len, unsigned flags) {
    ssize_t n;
    do { n = tee(fd_in, fd_out, len, flags); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t zc_vmsplice(int fd, const struct iovec *iov, size_t nr_segs, unsigned flags) {
    ssize_t n;
    do { n = vmsplice(fd, iov, nr_segs, flags); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int zci_is_pipe(int fd, int *err) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
        *err = -errno;
        return 0;
    }
    return S_ISFIFO(st.st_mode);
}

/* Drop `pending` bytes left in the intermediate pipe's read end. Returns bytes dropped. */
static uint64_t zci_drain(int pipe_rd, uint64_t pending, zc_progress *p) {
    char sink[16384];
    uint64_t dropped = 0;
    while (dropped < pending) {
        size_t want = pending - dropped < sizeof sink ? (size_t)(pending - dropped) : sizeof sink;
        ssize_t n = read(pipe_rd, sink, want);
        p->syscalls++;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* cannot happen for bytes we put there; never spin */
        dropped += (uint64_t)n;
    }
    return dropped;
}

/* Direct: one end is a pipe. `extra`: SPLICE_F_NONBLOCK or 0. */
static int zci_splice_direct(int fd_in, loff_t *a, int fd_out, loff_t *b, uint64_t count,
                             unsigned extra, zc_progress *p) {
    while (count == ZC_UNTIL_EOF || p->bytes < count) {
        if (zci_cancelled()) return -ECANCELED;
        size_t want = zci_chunk(count, p->bytes, ZC_MAX_RW_COUNT);
        ssize_t n = splice(fd_in, a, fd_out, b, want, SPLICE_F_MOVE | extra);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            return zci_is_again(errno) ? ZC_AGAIN : -errno;
        }
        if (n == 0) return zci_eof_status(count);
        p->bytes += (uint64_t)n;
    }
    return ZC_DONE;
}

/*
 * Through an intermediate pipe: source -> pipe (leg 1), pipe -> destination (leg 2).
 * When leg 2 fails, the bytes still in the pipe are drained so the pipe is empty.
 * When leg 2 would block (non-blocking destination), the bytes still in the pipe
 * are given back to the source if it is seekable (drained, and the source offset
 * rewound: they will be read again next time) and ZC_AGAIN is returned; only a
 * non-seekable source (a socket) makes us wait for the destination instead,
 * because its bytes cannot be read twice.
 */
static int zci_splice_via(int fd_in, loff_t *a, int fd_out, loff_t *b, uint64_t count,
                          int prd, int pwr, zc_progress *p, uint64_t *undelivered) {
    *undelivered = 0;
    while (count == ZC_UNTIL_EOF || p->bytes < count) {
        if (zci_cancelled()) return -ECANCELED;
        size_t want = zci_chunk(count, p->bytes, ZC_MAX_RW_COUNT);
        ssize_t n = splice(fd_in, a, pwr, NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE);
        p->syscalls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            return zci_is_again(errno) ? ZC_AGAIN : -errno;
        }
        if (n == 0) return zci_eof_status(count);

        uint64_t pending = (uint64_t)n;
        int waited = 0;
        while (pending > 0) {
            unsigned more = (count == ZC_UNTIL_EOF || p->bytes + pending < count) ? SPLICE_F_MORE : 0;
            ssize_t m;
            if (zci_cancelled()) {
                /* Cancelled with bytes in the pipe: drop them, like a failed leg 2. */
                m = -1;
                errno = ECANCELED;
            } else {
                m = splice(prd, NULL, fd_out, b, (size_t)pending, SPLICE_F_MOVE | more);
                p->syscalls++;
                if (m < 0 && errno == EINTR) continue;
            }
            if (m < 0 && zci_is_again(errno)) {
                int rewound = a != NULL || lseek(fd_in, -(off_t)pending, SEEK_CUR) >= 0;
                if (rewound) {
                    if (a != NULL) *a -= (loff_t)pending;
                    (void)zci_drain(prd, pending, p); /* not lost: re-read on the next call */
                    return ZC_AGAIN;
                }
                waited = 1;
                int w = zci_wait_writable(fd_out);
                if (w == 0) continue;
                errno = -w;
            }
            if (m <= 0) {
                int err = m < 0 ? -errno : -EIO;
                *undelivered = pending;
                p->discarded += zci_drain(prd, pending, p);
                return err;
            }
            pending -= (uint64_t)m;
            p->bytes += (uint64_t)m;
        }
        if (waited) return ZC_AGAIN;
    }
    return ZC_DONE;
}

int zc_splice_all(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                  const int pipe_fds[2], zc_progress *p) {
    return zc_splice_all_flags(fd_in, off_in, fd_out, off_out, count, pipe_fds, 0, p);
}

int zc_splice_all_flags(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                        const int pipe_fds[2], unsigned flags, zc_progress *p) {
    zc_progress local;
    if (p == NULL) p = &local;
    zci_progress_reset(p);
    if ((off_in && *off_in < 0) || (off_out && *off_out < 0)) return -EINVAL;
    if (flags & ~(ZC_SPLICE_ALL_DIRECT | ZC_SPLICE_ALL_NONBLOCK)) return -EINVAL;
    /* Both flags describe a direct splice: an intermediate pipe contradicts them. */
    if (flags != 0 && pipe_fds != NULL) return -EINVAL;

    int err = 0;
    int direct = 0;
    if (flags & ZC_SPLICE_ALL_DIRECT) {
        direct = 1; /* the caller knows an end is a pipe: no fstat */
    } else if (pipe_fds == NULL) {
        direct = zci_is_pipe(fd_in, &err) || zci_is_pipe(fd_out, &err);
        if (err < 0) return err;
        /* SPLICE_F_NONBLOCK concerns pipe ends; without one there is nothing it could mean. */
        if (!direct && (flags & ZC_SPLICE_ALL_NONBLOCK)) return -EINVAL;
    } else {
        int queued = zc_readable_bytes(pipe_fds[0]);
        if (queued < 0) return queued;
        if (queued > 0) return -EBUSY; /* stale bytes would be delivered as ours */
    }

    zc_sigguard g;
    int rc = zci_guard_begin(&g);
    if (rc < 0) return rc;

    const int64_t in_start = off_in ? *off_in : 0;
    loff_t a = off_in ? (loff_t)in_start : 0, b = off_out ? (loff_t)*off_out : 0;
    uint64_t undelivered = 0;

    if (direct) {
        unsigned extra = (flags & ZC_SPLICE_ALL_NONBLOCK) ? SPLICE_F_NONBLOCK : 0;
        rc = zci_splice_direct(fd_in, off_in ? &a : NULL, fd_out, off_out ? &b : NULL, count, extra, p);
    } else {
        int tmp[2] = {-1, -1};
        int prd, pwr;
        if (pipe_fds) {
            prd = pipe_fds[0];
            pwr = pipe_fds[1];
        } else {
            if (pipe2(tmp, O_CLOEXEC) < 0) {
                rc = -errno;
                goto out;
            }
            prd = tmp[0];
            pwr = tmp[1];
        }
        rc = zci_splice_via(fd_in, off_in ? &a : NULL, fd_out, off_out ? &b : NULL, count, prd, pwr,
                            p, &undelivered);
        if (tmp[0] >= 0) {
            close(tmp[0]);
            close(tmp[1]);
        }
    }
    if (off_in) {
        *off_in = in_start + (int64_t)p->bytes; /* first byte not delivered */
    } else if (undelivered > 0) {
        /* Give undelivered bytes back to a seekable source read by position (ESPIPE ignored). */
        (void)lseek(fd_in, -(off_t)undelivered, SEEK_CUR);
    }
    if (off_out) *off_out = (int64_t)b;
out:
    zci_guard_end(&g, rc);
    return rc;
}
