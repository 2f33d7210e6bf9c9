/*
 * xfer_ref.c — the transfer strategies in plain C on libzerocopy (and liburing
 * for io_uring), so the benchmark can print a Swift/C ratio for each strategy.
 *
 *   xfer_ref STRATEGY SRC DEST ITERATIONS [OPTIONS]
 *     STRATEGY  readWrite | mmapWrite | sendfile | splice | copyFileRange | ioUring
 *     DEST      file:PATH       opened with O_TRUNC before each iteration
 *               overwrite:PATH  an existing file of the source's size, opened once; before
 *                               each iteration (untimed) every byte is overwritten with a
 *                               marker pattern (0xA5) and the offset rewound, and after it
 *                               (untimed) the file is checksummed, so stale bytes from an
 *                               earlier iteration can never pass verification
 *               tcp:HOST:PORT   one connection per iteration
 *               tcpstream:HOST:PORT  one connection for all iterations (closed at the end)
 *               fd:N            an inherited descriptor, e.g. a pipe
 *     OPTIONS   comma-separated: cold (posix_fadvise(DONTNEED) on the source before each
 *               iteration, untimed)
 *
 * For each iteration prints one line:
 *   ns=<wall> bytes=<n> syscalls=<n> utime_us=<n> stime_us=<n> nvcsw=<n> nivcsw=<n> minflt=<n>
 * and, for overwrite: destinations, ` size=<dest size> checksum=<zc64 hex>` appended.
 * Exit 0 only if every iteration moved the whole file. Timing covers the transfer
 * only (descriptors are opened before the clock starts, as in the Swift harness).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zerocopy.h>

#include "zc_checksum.h"

#define RW_BUF (128u * 1024u)
#define RING_CHUNK (256u * 1024u) /* as the Swift strategy: 4 x 256 KiB */
#define RING_DEPTH 4

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long tv_us(struct timeval tv) { return tv.tv_sec * 1000000L + tv.tv_usec; }

static void die(const char *what, int err) {
    fprintf(stderr, "xfer_ref: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

/* Fill [0, size) of fd with the marker pattern (untimed). */
static void scribble(int fd, uint64_t size) {
    static char pattern[1 << 20];
    if (pattern[0] == 0) memset(pattern, 0xA5, sizeof pattern);
    uint64_t off = 0;
    while (off < size) {
        size_t n = size - off < sizeof pattern ? (size_t)(size - off) : sizeof pattern;
        zc_progress p;
        int r = zc_pwrite_all(fd, pattern, n, (int64_t)off, &p);
        if (r < 0) die("scribble", r);
        off += n;
    }
}

/* zc64 of the whole file behind fd (untimed); *size_out = its size. */
static uint64_t checksum_fd(int fd, uint64_t *size_out) {
    static char buf[1 << 20];
    struct stat st;
    if (fstat(fd, &st) < 0) die("fstat destination", errno);
    zc64 c;
    zc64_init(&c);
    uint64_t off = 0, size = (uint64_t)st.st_size;
    while (off < size) {
        ssize_t n = pread(fd, buf, sizeof buf, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("read destination", errno);
        if (n == 0) break;
        zc64_update(&c, buf, (size_t)n);
        off += (uint64_t)n;
    }
    *size_out = off;
    return zc64_final(&c);
}

static int tcp_connect(const char *hostport) {
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) die("bad tcp destination", EINVAL);
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad host", EINVAL);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect", errno);
    return fd;
}

/* io_uring copy: RING_DEPTH linked read->write pairs over registered buffers. A short
 * write (sockets and pipes take what fits) is completed by resubmitting the rest of the
 * same buffer before the slot is reused; a short read is an error (regular files only). */
static int uring_copy(struct io_uring *ring, int in, int out, int out_seekable, uint64_t size,
                      char *bufs, zc_progress *p) {
    uint64_t next = 0, done = 0;
    unsigned inflight = 0;
    uint64_t lens[RING_DEPTH];
    uint64_t offs[RING_DEPTH];
    uint64_t written[RING_DEPTH];
    int free_slots[RING_DEPTH], nfree = RING_DEPTH;
    for (int i = 0; i < RING_DEPTH; i++) free_slots[i] = i;
    while (done < size) {
        /* Order matters for sockets and pipes: only one pair in flight there. */
        unsigned depth = out_seekable ? RING_DEPTH : 1;
        while (next < size && nfree > 0 && inflight < depth) {
            int slot = free_slots[--nfree];
            uint64_t len = size - next < RING_CHUNK ? size - next : RING_CHUNK;
            lens[slot] = len;
            offs[slot] = next;
            written[slot] = 0;
            struct io_uring_sqe *r = io_uring_get_sqe(ring);
            io_uring_prep_read_fixed(r, in, bufs + (size_t)slot * RING_CHUNK, (unsigned)len, next, slot);
            r->flags |= IOSQE_IO_LINK;
            r->user_data = (uint64_t)slot << 1;
            struct io_uring_sqe *w = io_uring_get_sqe(ring);
            io_uring_prep_write_fixed(w, out, bufs + (size_t)slot * RING_CHUNK, (unsigned)len,
                                      out_seekable ? next : (uint64_t)-1, slot);
            w->user_data = ((uint64_t)slot << 1) | 1;
            next += len;
            inflight++;
        }
        int r = io_uring_submit_and_wait(ring, 1);
        p->syscalls++;
        if (r < 0) return r;
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        int err = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            n++;
            int slot = (int)(cqe->user_data >> 1);
            int is_write = (int)(cqe->user_data & 1);
            if (cqe->res < 0) {
                if (!err) err = cqe->res;
                continue;
            }
            if (!is_write) {
                if ((uint64_t)cqe->res != lens[slot] && !err) err = -EIO;
                continue;
            }
            written[slot] += (uint64_t)cqe->res;
            done += (uint64_t)cqe->res;
            p->bytes += (uint64_t)cqe->res;
            if (cqe->res == 0 && !err) err = -EIO;
            if (written[slot] < lens[slot] && !err) {
                /* Short write: send the rest of this buffer before anything else. */
                struct io_uring_sqe *w = io_uring_get_sqe(ring);
                io_uring_prep_write_fixed(w, out, bufs + (size_t)slot * RING_CHUNK + written[slot],
                                          (unsigned)(lens[slot] - written[slot]),
                                          out_seekable ? offs[slot] + written[slot] : (uint64_t)-1, slot);
                w->user_data = ((uint64_t)slot << 1) | 1;
                continue;
            }
            free_slots[nfree++] = slot;
            inflight--;
        }
        io_uring_cq_advance(ring, n);
        if (err) return err;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: xfer_ref STRATEGY SRC file:PATH|overwrite:PATH|tcp:HOST:PORT|"
                        "tcpstream:HOST:PORT|fd:N ITERATIONS [cold]\n");
        return 2;
    }
    const char *strategy = argv[1], *src = argv[2], *dest = argv[3];
    long iterations = atol(argv[4]);
    int cold = argc == 6 && strstr(argv[5], "cold") != NULL;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) die(src, errno);
    struct stat st;
    if (fstat(in, &st) < 0) die("fstat", errno);
    uint64_t size = (uint64_t)st.st_size;

    char *rwbuf = NULL, *ringbufs = NULL;
    int pipefds[2] = {-1, -1};
    struct io_uring ring;
    int have_ring = 0;
    if (strcmp(strategy, "readWrite") == 0) {
        rwbuf = malloc(RW_BUF);
    } else if (strcmp(strategy, "splice") == 0) {
        int r = zc_pipe(pipefds, 0);
        if (r < 0) die("pipe", r);
        int max = zc_pipe_max_capacity();
        (void)zc_pipe_set_capacity(pipefds[1], max > 0 ? max : 1 << 20);
    } else if (strcmp(strategy, "ioUring") == 0) {
        if (posix_memalign((void **)&ringbufs, 4096, (size_t)RING_DEPTH * RING_CHUNK) != 0) die("memalign", ENOMEM);
        memset(ringbufs, 0, (size_t)RING_DEPTH * RING_CHUNK);
        int r = io_uring_queue_init(RING_DEPTH * 4, &ring, 0);
        if (r < 0) die("io_uring_queue_init", r);
        struct iovec iov[RING_DEPTH];
        for (int i = 0; i < RING_DEPTH; i++) iov[i] = (struct iovec){ringbufs + (size_t)i * RING_CHUNK, RING_CHUNK};
        r = io_uring_register_buffers(&ring, iov, RING_DEPTH);
        if (r < 0) die("io_uring_register_buffers", r);
        have_ring = 1;
    } else if (strcmp(strategy, "mmapWrite") && strcmp(strategy, "sendfile") && strcmp(strategy, "copyFileRange")) {
        fprintf(stderr, "xfer_ref: unknown strategy %s\n", strategy);
        return 2;
    }

    /* Destinations opened once for all iterations. */
    int shared_out = -1, overwrite = 0;
    if (strncmp(dest, "overwrite:", 10) == 0) {
        shared_out = open(dest + 10, O_RDWR | O_CLOEXEC);
        if (shared_out < 0) die(dest + 10, errno);
        overwrite = 1;
    } else if (strncmp(dest, "tcpstream:", 10) == 0) {
        shared_out = tcp_connect(dest + 10);
    }

    /* A pipe destination ("fd:N"), known once, before the timed transfers. */
    int out_is_pipe = 0;
    if (strncmp(dest, "fd:", 3) == 0) {
        struct stat ost;
        if (fstat(atoi(dest + 3), &ost) < 0) die("fstat", errno);
        out_is_pipe = S_ISFIFO(ost.st_mode);
    }

    for (long it = 0; it < iterations; it++) {
        int out = -1, seekable = 0, close_out = 1;
        if (shared_out >= 0) {
            out = shared_out;
            close_out = 0;
            seekable = overwrite;
            if (overwrite) {
                scribble(out, size);
                if (lseek(out, 0, SEEK_SET) < 0) die("lseek", errno);
            }
        } else if (strncmp(dest, "file:", 5) == 0) {
            out = open(dest + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (out < 0) die(dest + 5, errno);
            seekable = 1;
        } else if (strncmp(dest, "tcp:", 4) == 0) {
            out = tcp_connect(dest + 4);
        } else if (strncmp(dest, "fd:", 3) == 0) {
            out = atoi(dest + 3);
            close_out = 0;
        } else {
            die("bad destination", EINVAL);
        }
        if (cold) {
            int r = posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED);
            if (r != 0) die("posix_fadvise", r);
        }

        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        zc_progress p = {0, 0, 0};
        int64_t off = 0;
        int rc = 0;
        double t0 = now_ns();
        if (strcmp(strategy, "readWrite") == 0) {
            rc = zc_read_write_all(in, &off, out, NULL, size, rwbuf, RW_BUF, &p);
        } else if (strcmp(strategy, "sendfile") == 0) {
            rc = zc_sendfile_all(out, in, &off, size, &p);
        } else if (strcmp(strategy, "splice") == 0) {
            /* Into a pipe, directly (as a program that knows its destination would). */
            if (out_is_pipe)
                rc = zc_splice_all_flags(in, &off, out, NULL, size, NULL, ZC_SPLICE_ALL_DIRECT, &p);
            else
                rc = zc_splice_all(in, &off, out, NULL, size, pipefds, &p);
        } else if (strcmp(strategy, "copyFileRange") == 0) {
            rc = zc_copy_file_range_all(in, &off, out, NULL, size, &p);
        } else if (strcmp(strategy, "mmapWrite") == 0) {
            if (size > 0) {
                zc_mapping m;
                rc = zc_map(in, 0, (size_t)size, ZC_PROT_READ, ZC_MAP_SHARED, &m);
                p.syscalls++;
                if (rc == 0) {
                    zc_progress wp;
                    rc = zc_write_from_mapping(out, m.data, m.length, -1, &wp);
                    p.bytes = wp.bytes;
                    p.syscalls += wp.syscalls + 1;
                    zc_unmap(&m);
                }
            }
        } else if (have_ring) {
            rc = uring_copy(&ring, in, out, seekable, size, ringbufs, &p);
        }
        double t1 = now_ns();
        getrusage(RUSAGE_SELF, &r1);
        if (rc < 0) die(strategy, rc);
        if (p.bytes != size) {
            fprintf(stderr, "xfer_ref: %s moved %llu of %llu bytes\n", strategy,
                    (unsigned long long)p.bytes, (unsigned long long)size);
            return 1;
        }
        if (close_out) close(out);
        printf("ns=%.0f bytes=%llu syscalls=%llu utime_us=%ld stime_us=%ld nvcsw=%ld nivcsw=%ld minflt=%ld",
               t1 - t0, (unsigned long long)p.bytes, (unsigned long long)p.syscalls,
               tv_us(r1.ru_utime) - tv_us(r0.ru_utime), tv_us(r1.ru_stime) - tv_us(r0.ru_stime),
               r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw, r1.ru_minflt - r0.ru_minflt);
        if (overwrite) {
            uint64_t dsize;
            uint64_t sum = checksum_fd(out, &dsize);
            printf(" size=%llu checksum=%016llx", (unsigned long long)dsize, (unsigned long long)sum);
        }
        printf("\n");
        fflush(stdout);
    }
    if (shared_out >= 0) close(shared_out);
    if (have_ring) io_uring_queue_exit(&ring);
    free(rwbuf);
    free(ringbufs);
    return 0;
}
