/*
 * uring_ops.c — C reference for per-operation io_uring costs, so the Swift
 * layers' overhead is a ratio measured in the same run, not a guess.
 *
 *   uring_ops nop   ITER [ROUNDS]       NOP round trips: one at a time, and 32 per submit
 *   uring_ops read  FILE ITER [ROUNDS]  4 KiB random reads of a (page-cached) file:
 *                                       pread QD1, ring QD1, ring QD8, ring QD32,
 *                                       ring QD32 fixed buffers
 *
 * Prints one line per measurement: `name ns_per_op=<median of ROUNDS rounds>` (ROUNDS
 * defaults to 5; the benchmark CLI passes 1 and interleaves the rounds itself).
 * Offsets come from a xorshift64* generator seeded with 0x9e3779b97f4a7c15, the same
 * sequence BenchKit's Swift readers use.
 * Built by the Makefile against liburing; not part of libzerocopy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 101
static int ROUNDS = 5;
#define QD 32
#define BS 4096

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void die(const char *what, int err) {
    fprintf(stderr, "uring_ops: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void reap(struct io_uring *ring, unsigned want) {
    unsigned seen = 0;
    while (seen < want) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(ring, &cqe);
        if (r < 0) die("wait_cqe", r);
        if (cqe->res < 0) die("cqe", cqe->res);
        unsigned head, n = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            if (cqe->res < 0) die("cqe", cqe->res);
            n++;
        }
        io_uring_cq_advance(ring, n);
        seen += n;
    }
}

static void bench_nop(long iter) {
    struct io_uring ring;
    int r = io_uring_queue_init(64, &ring, 0);
    if (r < 0) die("queue_init", r);
    double single[MAX_ROUNDS], batch[MAX_ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iter; i++) {
            io_uring_prep_nop(io_uring_get_sqe(&ring));
            r = io_uring_submit_and_wait(&ring, 1);
            if (r < 0) die("submit", r);
            reap(&ring, 1);
        }
        single[round] = (now_ns() - t0) / (double)iter;
        long batches = iter / QD > 0 ? iter / QD : 1;
        t0 = now_ns();
        for (long b = 0; b < batches; b++) {
            for (int k = 0; k < QD; k++) io_uring_prep_nop(io_uring_get_sqe(&ring));
            r = io_uring_submit_and_wait(&ring, QD);
            if (r < 0) die("submit", r);
            reap(&ring, QD);
        }
        batch[round] = (now_ns() - t0) / (double)(batches * QD);
    }
    printf("c.nop.qd1 ns_per_op=%.1f\n", median(single, ROUNDS));
    printf("c.nop.batch32 ns_per_op=%.1f\n", median(batch, ROUNDS));
    io_uring_queue_exit(&ring);
}

static void bench_read(const char *path, long iter) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path, errno);
    struct stat st;
    if (fstat(fd, &st) < 0) die("fstat", errno);
    uint64_t blocks = (uint64_t)st.st_size / BS;
    if (blocks == 0) die("file smaller than 4 KiB", EINVAL);
    char *bufs;
    if (posix_memalign((void **)&bufs, 4096, (size_t)QD * BS) != 0) die("posix_memalign", ENOMEM);
    memset(bufs, 0, (size_t)QD * BS);

    struct io_uring ring;
    int r = io_uring_queue_init(QD * 2, &ring, 0);
    if (r < 0) die("queue_init", r);
    struct iovec iov[QD];
    for (int i = 0; i < QD; i++) iov[i] = (struct iovec){bufs + (size_t)i * BS, BS};
    r = io_uring_register_buffers(&ring, iov, QD);
    if (r < 0) die("register_buffers", r);

    double pr[MAX_ROUNDS], q1[MAX_ROUNDS], q8[MAX_ROUNDS], q32[MAX_ROUNDS], q32f[MAX_ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iter; i++) {
            off_t off = (off_t)(next_rand() % blocks) * BS;
            if (pread(fd, bufs, BS, off) != BS) die("pread", errno);
        }
        pr[round] = (now_ns() - t0) / (double)iter;

        t0 = now_ns();
        for (long i = 0; i < iter; i++) {
            off_t off = (off_t)(next_rand() % blocks) * BS;
            io_uring_prep_read(io_uring_get_sqe(&ring), fd, bufs, BS, (uint64_t)off);
            r = io_uring_submit_and_wait(&ring, 1);
            if (r < 0) die("submit", r);
            reap(&ring, 1);
        }
        q1[round] = (now_ns() - t0) / (double)iter;

        {
            long batches = iter / 8 > 0 ? iter / 8 : 1;
            t0 = now_ns();
            for (long b = 0; b < batches; b++) {
                for (int k = 0; k < 8; k++) {
                    off_t off = (off_t)(next_rand() % blocks) * BS;
                    io_uring_prep_read(io_uring_get_sqe(&ring), fd, iov[k].iov_base, BS, (uint64_t)off);
                }
                r = io_uring_submit_and_wait(&ring, 8);
                if (r < 0) die("submit", r);
                reap(&ring, 8);
            }
            q8[round] = (now_ns() - t0) / (double)(batches * 8);
        }

        for (int fixed = 0; fixed <= 1; fixed++) {
            long batches = iter / QD > 0 ? iter / QD : 1;
            t0 = now_ns();
            for (long b = 0; b < batches; b++) {
                for (int k = 0; k < QD; k++) {
                    off_t off = (off_t)(next_rand() % blocks) * BS;
                    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                    if (fixed)
                        io_uring_prep_read_fixed(sqe, fd, iov[k].iov_base, BS, (uint64_t)off, k);
                    else
                        io_uring_prep_read(sqe, fd, iov[k].iov_base, BS, (uint64_t)off);
                }
                r = io_uring_submit_and_wait(&ring, QD);
                if (r < 0) die("submit", r);
                reap(&ring, QD);
            }
            (fixed ? q32f : q32)[round] = (now_ns() - t0) / (double)(batches * QD);
        }
    }
    printf("c.read4k.pread ns_per_op=%.1f\n", median(pr, ROUNDS));
    printf("c.read4k.ring.qd1 ns_per_op=%.1f\n", median(q1, ROUNDS));
    printf("c.read4k.ring.qd8 ns_per_op=%.1f\n", median(q8, ROUNDS));
    printf("c.read4k.ring.qd32 ns_per_op=%.1f\n", median(q32, ROUNDS));
    printf("c.read4k.ring.qd32.fixed ns_per_op=%.1f\n", median(q32f, ROUNDS));
    io_uring_queue_exit(&ring);
    free(bufs);
    close(fd);
}

int main(int argc, char **argv) {
    const char *rounds_arg = NULL;
    if (argc >= 2 && strcmp(argv[1], "nop") == 0 && argc >= 4) rounds_arg = argv[3];
    if (argc >= 2 && strcmp(argv[1], "read") == 0 && argc >= 5) rounds_arg = argv[4];
    if (rounds_arg) {
        ROUNDS = atoi(rounds_arg);
        if (ROUNDS < 1 || ROUNDS > MAX_ROUNDS) {
            fprintf(stderr, "uring_ops: ROUNDS must be 1...%d\n", MAX_ROUNDS);
            return 2;
        }
    }
    if (argc >= 3 && strcmp(argv[1], "nop") == 0) {
        bench_nop(atol(argv[2]));
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "read") == 0) {
        bench_read(argv[2], atol(argv[3]));
        return 0;
    }
    fprintf(stderr, "usage: uring_ops nop ITER [ROUNDS] | uring_ops read FILE ITER [ROUNDS]\n");
    return 2;
}
