/*
 * uringcat — print a file to standard output, read with io_uring. An example of
 * <zerocopy/zerocopy_uring.h>: liburing plus the helpers Swift and C share (SQE flag
 * constants, zc_uring_reap to copy completions out of the ring without a syscall).
 *
 *   uringcat FILE
 *
 * Build against an installed libzerocopy; pkg-config's --libs brings -luring too:
 *
 *   cc -std=c11 -Wall -Wextra -o uringcat uringcat.c $(pkg-config --cflags --libs zerocopy)
 *
 * Exits 77 (with the reason) where io_uring is refused: seccomp, a sysctl, gVisor.
 */
#define _POSIX_C_SOURCE 200809L /* open, fstat, O_CLOEXEC: POSIX; no _GNU_SOURCE needed */

#include <zerocopy/zerocopy.h>
#include <zerocopy/zerocopy_uring.h> /* either order works, even under -std=c11 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { DEPTH = 8, BLOCK = 64 << 10 };

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    zc_uring_probe_result probe;
    if (zc_uring_probe(&probe) != 0) {
        fprintf(stderr, "uringcat: io_uring unavailable: %s\n", zc_uring_reason_string(probe.reason));
        return 77;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "uringcat: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct io_uring ring;
    int rc = io_uring_queue_init(DEPTH, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "uringcat: io_uring_queue_init: %s\n", strerror(-rc));
        return 1;
    }
    static unsigned char buffers[DEPTH][BLOCK];
    const uint64_t size = (uint64_t)st.st_size;
    uint64_t next = 0; /* offset of the next read to submit */
    int status = 0;
    /* Reads go out DEPTH at a time; each batch is written in order once all of it is in. */
    while (next < size && status == 0) {
        unsigned n = 0;
        for (; n < DEPTH && next < size; n++, next += BLOCK) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            io_uring_prep_read(sqe, fd, buffers[n], BLOCK, next);
            io_uring_sqe_set_data64(sqe, n);
        }
        rc = io_uring_submit_and_wait(&ring, n);
        if (rc < 0) {
            fprintf(stderr, "uringcat: io_uring_submit_and_wait: %s\n", strerror(-rc));
            status = 1;
            break;
        }
        int32_t got[DEPTH];
        zc_cqe cqes[DEPTH];
        unsigned reaped = 0;
        while (reaped < n && status == 0) {
            unsigned k = zc_uring_reap(&ring, cqes, DEPTH);
            for (unsigned i = 0; i < k; i++) got[cqes[i].user_data] = cqes[i].res;
            reaped += k;
            struct io_uring_cqe *cqe;
            if (k == 0 && (rc = io_uring_wait_cqe(&ring, &cqe)) < 0) {
                fprintf(stderr, "uringcat: io_uring_wait_cqe: %s\n", strerror(-rc));
                status = 1;
            }
        }
        for (unsigned i = 0; i < n && status == 0; i++) {
            if (got[i] < 0) {
                fprintf(stderr, "uringcat: read: %s\n", strerror(-got[i]));
                status = 1;
            } else if (fwrite(buffers[i], 1, (size_t)got[i], stdout) != (size_t)got[i]) {
                status = 1;
            }
        }
    }
    io_uring_queue_exit(&ring);
    close(fd);
    if (fflush(stdout) != 0) status = 1;
    return status;
}
