/*
 * direct_reads.c — C twin of zerocopy-bench direct-reads' `ring.qdN` subject, so the
 * Swift ring's O_DIRECT random-read rate is a ratio to plain liburing in the same run
 * (fio differs in more than the language: its own RNG, no content check, its loop).
 *
 *   direct_reads FILE SECONDS DEPTH REAP_BATCH [straddle]
 *
 * Opens FILE with O_DIRECT, registers DEPTH page-aligned 4 KiB buffers (or, with
 * `straddle`, buffers starting 512 bytes into a page) and the file, keeps DEPTH
 * IORING_OP_READ_FIXED reads of random 4 KiB blocks in flight for SECONDS, waiting for
 * min(REAP_BATCH, DEPTH/4, at least 1) completions per io_uring_enter (the replacements
 * are submitted together by the next one), and checks each
 * block's content (the BenchKit DirectReadFile format: word 0 is the block number, word 1
 * the XOR of words 2..511). Setup flags: COOP_TASKRUN | SINGLE_ISSUER | DEFER_TASKRUN,
 * as the Swift subject. Offsets: xorshift64* seeded from the clock and the pid,
 * fresh per run (a repeated sequence would re-read blocks a host cache still holds).
 * REAP_BATCH 0 is fio's default loop instead: every read is submitted by its own
 * io_uring_enter as soon as it is prepared, and each wait is for one completion
 * (all ready ones are then reaped).
 *
 * Prints one line: `ops=<reads> seconds=<wall> cpu_us_per_read=<user+sys per read>`.
 * Exit status 1 with a message on any failure, 2 on a content mismatch.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAX_DEPTH 256

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err) {
    fprintf(stderr, "direct_reads: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static uint64_t rng_state;
static uint64_t next_block(uint64_t blocks) { /* xorshift64*, as BenchKit's OffsetGenerator */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (rng_state * 0x2545f4914f6cdd1dull) % blocks;
}

static int verify(const void *block, uint64_t number) {
    const uint64_t *w = block;
    uint64_t sum = 0;
    if (w[0] != number) return 0; /* little-endian host (x86_64, aarch64) */
    for (int i = 2; i < 512; i++) sum ^= w[i];
    return sum == w[1];
}

static double cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec * 1e6 +
           (double)ru.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: direct_reads FILE SECONDS DEPTH REAP_BATCH [straddle]\n");
        return 1;
    }
    double seconds = atof(argv[2]);
    int depth = atoi(argv[3]);
    int reap = atoi(argv[4]);
    int straddle = argc == 6 && strcmp(argv[5], "straddle") == 0;
    if (seconds <= 0 || depth < 1 || depth > MAX_DEPTH || reap < 0) {
        fprintf(stderr, "direct_reads: SECONDS > 0, 1 <= DEPTH <= %d, REAP_BATCH >= 0\n", MAX_DEPTH);
        return 1;
    }
    int submit_each = reap == 0;
    if (reap > depth / 4) reap = depth / 4;
    if (reap < 1) reap = 1;

    int fd = open(argv[1], O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) die(argv[1], errno);
    struct stat st;
    if (fstat(fd, &st) < 0) die("fstat", errno);
    uint64_t blocks = (uint64_t)st.st_size / BS;
    if (blocks == 0) die("file smaller than one block", EINVAL);

    void *memory = NULL;
    int rc = posix_memalign(&memory, BS, (size_t)BS * (size_t)(depth + 1));
    if (rc != 0) die("posix_memalign", rc);
    char *base = (char *)memory + (straddle ? 512 : 0);
    struct iovec iov[MAX_DEPTH];
    for (int i = 0; i < depth; i++) iov[i] = (struct iovec){base + (size_t)i * BS, BS};

    struct io_uring ring;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    rc = io_uring_queue_init_params((unsigned)(depth < 8 ? 8 : depth), &ring, &params);
    if (rc < 0) die("io_uring_queue_init_params", rc);
    if ((rc = io_uring_register_buffers(&ring, iov, (unsigned)depth)) < 0) die("io_uring_register_buffers", rc);
    if ((rc = io_uring_register_files(&ring, &fd, 1)) < 0) die("io_uring_register_files", rc);

    rng_state = now_ns() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    if (rng_state == 0) rng_state = 1;
    uint64_t block_of[MAX_DEPTH];
    int done[MAX_DEPTH];

    double cpu0 = cpu_us();
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(seconds * 1e9), now = t0;
    long ops = 0;
    int in_flight = 0;
    for (int slot = 0; slot < depth; slot++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        block_of[slot] = next_block(blocks);
        io_uring_prep_read_fixed(sqe, 0, iov[slot].iov_base, BS, block_of[slot] * BS, slot);
        sqe->flags |= IOSQE_FIXED_FILE;
        sqe->user_data = (uint64_t)slot;
        if (submit_each && (rc = io_uring_submit(&ring)) < 0) die("io_uring_submit", rc);
    }
    in_flight = depth;
    while (in_flight > 0) {
        unsigned want = (unsigned)(reap < in_flight ? reap : in_flight);
        rc = io_uring_submit_and_wait(&ring, want);
        if (rc < 0 && rc != -EINTR) die("io_uring_submit_and_wait", rc);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        int ndone = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            int slot = (int)cqe->user_data;
            if (cqe->res != BS) {
                fprintf(stderr, "direct_reads: read of block %llu: res %d\n", (unsigned long long)block_of[slot], cqe->res);
                return 1;
            }
            if (!verify(iov[slot].iov_base, block_of[slot])) {
                fprintf(stderr, "direct_reads: block %llu: wrong content\n", (unsigned long long)block_of[slot]);
                return 2;
            }
            done[ndone++] = slot;
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
        ops += ndone;
        in_flight -= ndone;
        now = now_ns();
        if (now < deadline) {
            for (int k = 0; k < ndone; k++) {
                int slot = done[k];
                struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
                block_of[slot] = next_block(blocks);
                io_uring_prep_read_fixed(sqe, 0, iov[slot].iov_base, BS, block_of[slot] * BS, slot);
                sqe->flags |= IOSQE_FIXED_FILE;
                sqe->user_data = (uint64_t)slot;
                if (submit_each && (rc = io_uring_submit(&ring)) < 0) die("io_uring_submit", rc);
            }
            in_flight += ndone;
        }
    }
    double cpu = cpu_us() - cpu0;
    printf("ops=%ld seconds=%.6f cpu_us_per_read=%.3f\n", ops, (double)(now - t0) / 1e9, ops ? cpu / (double)ops : 0.0);
    io_uring_queue_exit(&ring);
    free(memory);
    close(fd);
    return 0;
}
