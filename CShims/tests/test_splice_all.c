/*
 * zc_splice_all: with a temporary pipe (pipe_fds NULL), with a caller pipe of
 * one page and of 1 MiB, and directly when the source or destination is a pipe.
 */
#define _GNU_SOURCE
#include "zc_xfer.h"

static int run_splice_all(const zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
                          uint64_t count, zc_progress *p) {
    return zc_splice_all(in, off_in, out, off_out, count, x->pipe_fds, p);
}

static int small_pipe[2] = {-1, -1}; /* one page */
static int big_pipe[2] = {-1, -1};   /* 1 MiB */

static const zt_xfer sp_null = {.name = "zc_splice_all(pipe NULL)", .run = run_splice_all, .has_off_out = 1};
static const zt_xfer sp_small = {.name = "zc_splice_all(caller pipe 4 KiB)", .run = run_splice_all,
                                 .has_off_out = 1, .pipe_fds = small_pipe};
static const zt_xfer sp_big = {.name = "zc_splice_all(caller pipe 1 MiB)", .run = run_splice_all,
                               .has_off_out = 1, .pipe_fds = big_pipe};
static const zt_xfer *const all_variants[] = {&sp_null, &sp_small, &sp_big};

/*
 * The caller pipes are shared by all tests. A failure that leaves bytes in one
 * (already reported by CHECK_PIPE_EMPTY) must not cascade into later tests or
 * block them: such a pipe is replaced by a fresh one.
 */
static void fresh_pipe_if_dirty(int fds[2], int capacity) {
    if (fds[0] >= 0 && zc_readable_bytes(fds[0]) == 0) return;
    if (fds[0] >= 0) {
        close(fds[0]);
        close(fds[1]);
    }
    if (zc_pipe(fds, 0) != 0 || zc_pipe_set_capacity(fds[0], capacity) != capacity) {
        fprintf(stderr, "cannot create the caller pipes\n");
        exit(1);
    }
}

static void reset_caller_pipes(void) {
    fresh_pipe_if_dirty(small_pipe, 4096);
    fresh_pipe_if_dirty(big_pipe, 1 << 20);
}

static void for_each_variant(void (*fn)(const zt_xfer *)) {
    for (size_t i = 0; i < sizeof all_variants / sizeof all_variants[0]; i++) {
        reset_caller_pipes();
        fn(all_variants[i]);
    }
    reset_caller_pipes();
}

static void test_splice_all_files(void) { for_each_variant(zt_xfer_file_matrix); }
static void test_splice_all_truncated_source(void) { for_each_variant(zt_xfer_truncated_source); }
static void test_splice_all_to_streams(void) { for_each_variant(zt_xfer_to_streams); }
static void test_splice_all_from_streams(void) { for_each_variant(zt_xfer_from_streams); }
static void test_splice_all_nonblocking_again(void) { for_each_variant(zt_xfer_nonblocking_again); }
static void test_splice_all_peer_closed(void) { for_each_variant(zt_xfer_peer_closed); }
static void test_splice_all_nonseekable_source(void) {
    for_each_variant(zt_xfer_nonseekable_to_nonblocking);
}
static void test_splice_all_fsize(void) { for_each_variant(zt_xfer_fsize_limit); }
static void test_splice_all_ebadf(void) { for_each_variant(zt_xfer_ebadf); }
static void test_splice_all_eintr(void) {
    reset_caller_pipes();
    zt_xfer_eintr_pipe_source(&sp_null);
    zt_xfer_eintr_full_socket(&sp_null);
    zt_xfer_eintr_full_socket(&sp_small);
    reset_caller_pipes();
}

/* A caller pipe that still holds bytes is refused: they would be delivered as ours. */
static void test_splice_all_busy_pipe(void) {
    reset_caller_pipes();
    unsigned char *data = zt_data(1000, 1);
    int in = zt_file_with(data, 1000);
    int out = zt_tmpfile();
    CHECK_EQ(write(small_pipe[1], "stale", 5), 5);
    int64_t oi = 0, oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(in, &oi, out, &oo, 1000, small_pipe, &p), -EBUSY);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(oi, 0);
    CHECK_EQ(oo, 0);
    CHECK_EQ(zt_file_size(out), 0);
    char back[5];
    CHECK_EQ(zc_readable_bytes(small_pipe[0]), 5);
    CHECK_EQ(read(small_pipe[0], back, 5), 5);
    CHECK_MEM(back, "stale", 5);
    reset_caller_pipes();
    close(in);
    close(out);
    free(data);
}

/*
 * The second leg fails (O_APPEND destination: splice refuses it with EINVAL):
 * what the first leg pulled is drained and counted as discarded, the caller
 * pipe is empty again, and *off_in points at the first undelivered byte.
 */
static void append_failure(const zt_xfer *x) {
    ZT_CTX("%s to an O_APPEND file", x->name);
    const size_t n = 50000;
    unsigned char *data = zt_data(n, 2);
    int in = zt_file_with(data, n);
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-append-XXXXXX", zt_tmpdir());
    int a = (int)SYS(mkostemp(path, O_CLOEXEC | O_APPEND));
    unlink(path);
    int64_t oi = 1000;
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(x->run(x, in, &oi, a, NULL, n - 1000, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(oi, 1000);
    CHECK(p.discarded <= n - 1000);
    CHECK_PIPE_EMPTY(x);
    CHECK_EQ(zt_file_size(a), 0);
    close(a);
    close(in);
    free(data);
    zt_ctx[0] = '\0';
}

static void test_splice_all_second_leg_failure(void) { for_each_variant(append_failure); }

/* RLIMIT_FSIZE through a 64 KiB caller pipe: exact delivered bytes, the rest discarded. */
static int fsize_discard_child(void *arg) {
    (void)arg;
    int pp[2];
    CHILD_CHECK(zc_pipe(pp, 0) == 0);
    CHILD_CHECK(zc_pipe_set_capacity(pp[0], 65536) == 65536);
    const size_t size = 300000, limit = 100003;
    unsigned char *src = zt_data(size, 3);
    int in = zt_file_with(src, size);
    int out = zt_tmpfile();
    struct rlimit rl = {limit, limit};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    int64_t oi = 0, oo = 0;
    zc_progress p;
    int rc = zc_splice_all(in, &oi, out, &oo, size, pp, &p);
    CHILD_CHECK(rc == -EFBIG);
    CHILD_CHECK(p.bytes == limit);
    /* pulled in 64 KiB pieces: the second piece was cut at the limit */
    CHILD_CHECK(p.discarded > 0 && p.discarded <= 65536);
    CHILD_CHECK(oi == (int64_t)limit);
    CHILD_CHECK(oo == (int64_t)limit);
    CHILD_CHECK(zc_readable_bytes(pp[0]) == 0);
    /* the pipe is reusable at once: the rest of the file, from *off_in, to a pipe */
    int dst[2];
    CHILD_CHECK(zc_pipe(dst, 0) == 0);
    CHILD_CHECK(zc_pipe_set_capacity(dst[0], 1 << 20) == 1 << 20);
    rc = zc_splice_all(in, &oi, dst[1], NULL, size - limit, pp, &p);
    CHILD_CHECK(rc == ZC_DONE && p.bytes == size - limit && oi == (int64_t)size);
    unsigned char *rest = zt_malloc(size - limit);
    CHILD_CHECK(read(dst[0], rest, size - limit) == (ssize_t)(size - limit));
    CHILD_CHECK(memcmp(rest, src + limit, size - limit) == 0);
    size_t got;
    unsigned char *back = zt_pread_back(out, 0, limit, &got);
    CHILD_CHECK(got == limit && memcmp(back, src, limit) == 0);
    return 0;
}

static void test_splice_all_fsize_discard(void) {
    CHECK_EXITED(zt_fork_run(fsize_discard_child, NULL, 20), 0);
}

/* Direct pipe <-> socket, with a reader/writer thread on the other side. */
static void test_splice_all_pipe_socket_direct(void) {
    const size_t n = (1u << 20) + 3;
    unsigned char *data = zt_data(n, 4);
    /* pipe -> TCP socket */
    int pp[2], t[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    zt_tcp_pair(t);
    zt_writer w;
    zt_reader r;
    zt_writer_start(&w, pp[1], data, n, 0, 1);
    zt_reader_start(&r, t[1], 0, 1);
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(pp[0], NULL, t[0], NULL, n, NULL, &p), ZC_DONE);
    CHECK_U64(p.bytes, n);
    CHECK_U64(p.discarded, 0);
    close(t[0]);
    close(pp[0]);
    zt_writer_join(&w);
    zt_reader_join(&r);
    CHECK_EQ(r.len, n);
    if (r.len == n) CHECK_MEM(r.data, data, n);
    zt_reader_free(&r);

    /* TCP socket -> pipe */
    REQUIRE(zc_pipe(pp, 0) == 0);
    zt_tcp_pair(t);
    zt_writer_start(&w, t[1], data, n, 0, 1);
    zt_reader_start(&r, pp[0], 0, 1);
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(t[0], NULL, pp[1], NULL, n, NULL, &p), ZC_DONE);
    CHECK_U64(p.bytes, n);
    close(pp[1]);
    close(t[0]);
    zt_writer_join(&w);
    zt_reader_join(&r);
    CHECK_EQ(r.len, n);
    if (r.len == n) CHECK_MEM(r.data, data, n);
    zt_reader_free(&r);
    free(data);
}

/* An empty non-blocking source pipe with a writer: ZC_AGAIN after 0 bytes. */
static void test_splice_all_nonblocking_empty_source(void) {
    int pp[2];
    REQUIRE(zc_pipe(pp, ZC_PIPE_NONBLOCK) == 0);
    int out = zt_tmpfile();
    int64_t oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(pp[0], NULL, out, &oo, 100, NULL, &p), ZC_AGAIN);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(write(pp[1], "12345", 5), 5);
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(pp[0], NULL, out, &oo, 100, NULL, &p), ZC_AGAIN);
    CHECK_U64(p.bytes, 5);
    CHECK_EQ(oo, 5);
    close(pp[1]);
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(pp[0], NULL, out, &oo, 100, NULL, &p), ZC_EOF);
    CHECK_U64(p.bytes, 0);
    CHECK_FILE_AT(out, 0, "12345", 5);
    close(pp[0]);
    close(out);
}

static void test_splice_all_errors(void) {
    reset_caller_pipes();
    unsigned char *data = zt_data(1000, 5);
    int in = zt_file_with(data, 1000);
    int out = zt_tmpfile();
    zc_progress p;
    int64_t bad = -1, ok = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(in, &bad, out, &ok, 10, NULL, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(in, &ok, out, &bad, 10, NULL, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    /* an offset for a pipe end: -ESPIPE */
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    int64_t o = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(in, &ok, pp[1], &o, 10, NULL, &p), -ESPIPE);
    CHECK_U64(p.bytes, 0);
    close(pp[0]);
    close(pp[1]);
    /* /dev/zero as a source (no splice_read in a pipe-less copy is fine; check it works) */
    int z = (int)SYS(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    zt_progress_poison(&p);
    o = 0;
    CHECK_RC(zc_splice_all(z, NULL, out, &o, 10000, NULL, &p), ZC_DONE);
    CHECK_U64(p.bytes, 10000);
    unsigned char zeros[10000];
    memset(zeros, 0, sizeof zeros);
    CHECK_FILE_AT(out, 0, zeros, sizeof zeros);
    close(z);
    /* count 0 */
    ok = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all(in, &ok, out, &o, 0, NULL, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    CHECK_U64(p.discarded, 0);
    CHECK_EQ(ok, 0);
    /* progress may be NULL */
    ok = 0;
    o = 0;
    CHECK_RC(zc_splice_all(in, &ok, out, &o, 1000, small_pipe, NULL), ZC_DONE);
    CHECK_FILE_AT(out, 0, data, 1000);
    close(in);
    close(out);
    free(data);
}

/*
 * zc_splice_all_flags: bad flag combinations are -EINVAL before anything moves;
 * ZC_SPLICE_ALL_NONBLOCK stops at a blocking pipe that would wait (full, or empty
 * with a writer) with the exact bytes, and leaves the description blocking.
 */
static void test_splice_all_flags(void) {
    enum { N = 48 << 10 };
    unsigned char *data = zt_data(N, 9);
    int in = zt_file_with(data, N);
    int out = zt_tmpfile();
    zc_progress p;
    int64_t oi = 0, oo = 0;
    const unsigned bad[] = {4u, ZC_SPLICE_ALL_DIRECT, ZC_SPLICE_ALL_NONBLOCK,
                            ZC_SPLICE_ALL_DIRECT | ZC_SPLICE_ALL_NONBLOCK};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* file -> file: no pipe end (and 4u an unknown bit) */
        oi = 0;
        oo = 0;
        zt_progress_poison(&p);
        CHECK_RC(zc_splice_all_flags(in, &oi, out, &oo, 1000, NULL, bad[i], &p), -EINVAL);
        CHECK_U64(p.bytes, 0);
        CHECK_U64(p.discarded, 0);
        CHECK_EQ(oi, 0);
        /* any flag with a caller pipe */
        if (bad[i] != 4u) {
            reset_caller_pipes();
            zt_progress_poison(&p);
            CHECK_RC(zc_splice_all_flags(in, &oi, out, &oo, 1000, small_pipe, bad[i], &p), -EINVAL);
            CHECK_U64(p.bytes, 0);
        }
    }
    struct stat st;
    REQUIRE(fstat(out, &st) == 0);
    CHECK_EQ(st.st_size, 0);

    /* A blocking pipe with room for 16 KiB of 64. */
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    REQUIRE(zc_pipe_set_capacity(pp[1], 64 << 10) == 64 << 10);
    size_t fill = (64 << 10) - (16 << 10);
    unsigned char *filler = malloc(fill);
    REQUIRE(filler != NULL);
    memset(filler, 0xA5, fill);
    CHECK_EQ(write(pp[1], filler, fill), (ssize_t)fill);
    oi = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all_flags(in, &oi, pp[1], NULL, N, NULL, ZC_SPLICE_ALL_NONBLOCK, &p), ZC_AGAIN);
    CHECK_U64(p.bytes, 16 << 10);
    CHECK_U64(p.syscalls, 2);
    CHECK_EQ(oi, 16 << 10);
    CHECK_EQ(zc_readable_bytes(pp[0]), 64 << 10);
    CHECK_EQ(fcntl(pp[1], F_GETFL) & O_NONBLOCK, 0);
    /* the same with DIRECT (no fstat): it stops at once, nothing more fits */
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all_flags(in, &oi, pp[1], NULL, N - (16 << 10), NULL,
                                 ZC_SPLICE_ALL_DIRECT | ZC_SPLICE_ALL_NONBLOCK, &p), ZC_AGAIN);
    CHECK_U64(p.bytes, 0);
    unsigned char *held = malloc(64 << 10);
    REQUIRE(held != NULL);
    size_t got = 0;
    while (got < (64u << 10)) {
        ssize_t n = read(pp[0], held + got, (64u << 10) - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    CHECK_EQ(got, 64u << 10);
    CHECK_MEM(held, filler, fill);
    CHECK_MEM(held + fill, data, 16 << 10);

    /* The empty blocking pipe, its writer open: ZC_AGAIN with 0 bytes, to a file. */
    oo = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all_flags(pp[0], NULL, out, &oo, 100, NULL, ZC_SPLICE_ALL_NONBLOCK, &p), ZC_AGAIN);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(oo, 0);
    /* DIRECT alone, with room: the rest of the file moves (a blocking splice) */
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all_flags(in, &oi, pp[1], NULL, 16 << 10, NULL, ZC_SPLICE_ALL_DIRECT, &p), ZC_DONE);
    CHECK_U64(p.bytes, 16 << 10);
    close(pp[1]);
    zt_progress_poison(&p);
    CHECK_RC(zc_splice_all_flags(pp[0], NULL, out, &oo, 100 << 10, NULL,
                                 ZC_SPLICE_ALL_DIRECT | ZC_SPLICE_ALL_NONBLOCK, &p), ZC_EOF);
    CHECK_U64(p.bytes, 16 << 10);
    CHECK_FILE_AT(out, 0, data + (16 << 10), 16 << 10);
    close(pp[0]);
    free(held);
    free(filler);
    close(in);
    close(out);
    free(data);
}

int main(void) {
    reset_caller_pipes();
    ZT_RUN(test_splice_all_files);
    ZT_RUN(test_splice_all_truncated_source);
    ZT_RUN(test_splice_all_to_streams);
    ZT_RUN(test_splice_all_from_streams);
    ZT_RUN(test_splice_all_nonblocking_again);
    ZT_RUN(test_splice_all_nonseekable_source);
    ZT_RUN(test_splice_all_peer_closed);
    ZT_RUN(test_splice_all_fsize);
    ZT_RUN(test_splice_all_fsize_discard);
    ZT_RUN(test_splice_all_ebadf);
    ZT_RUN(test_splice_all_eintr);
    ZT_RUN(test_splice_all_busy_pipe);
    ZT_RUN(test_splice_all_second_leg_failure);
    ZT_RUN(test_splice_all_pipe_socket_direct);
    ZT_RUN(test_splice_all_nonblocking_empty_source);
    ZT_RUN(test_splice_all_errors);
    ZT_RUN(test_splice_all_flags);
    return zt_finish();
}
