/* zc_pread_all, zc_pwrite_all and zc_read_write_all. */
#define _GNU_SOURCE
#include "zc_xfer.h"

/* ------------------------------------------------------------------------- */
/* zc_read_write_all                                                          */
/* ------------------------------------------------------------------------- */

static int run_rw_all(const zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
                      uint64_t count, zc_progress *p) {
    void *buf = zt_malloc(x->buf_len);
    memset(buf, 0xEE, x->buf_len);
    int rc = zc_read_write_all(in, off_in, out, off_out, count, buf, x->buf_len, p);
    free(buf);
    return rc;
}

/* buf NULL: the function's own stack buffer, buf_len bytes of it. */
static int run_rw_all_on_stack(const zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
                               uint64_t count, zc_progress *p) {
    return zc_read_write_all(in, off_in, out, off_out, count, NULL, x->buf_len, p);
}

static const zt_xfer rw_small = {.name = "zc_read_write_all(buf 4099)", .run = run_rw_all,
                                 .has_off_out = 1, .buf_len = 4099};
static const zt_xfer rw_big = {.name = "zc_read_write_all(buf 128 KiB)", .run = run_rw_all,
                               .has_off_out = 1, .buf_len = 128 << 10};
static const zt_xfer rw_stack_small = {.name = "zc_read_write_all(NULL, 4099: stack)", .run = run_rw_all_on_stack,
                                       .has_off_out = 1, .buf_len = 4099};
static const zt_xfer rw_stack_max = {.name = "zc_read_write_all(NULL, 16 KiB: stack)", .run = run_rw_all_on_stack,
                                     .has_off_out = 1, .buf_len = ZC_RW_STACK_BUFFER_MAX};
static const zt_xfer *const rw_variants[] = {&rw_small, &rw_big, &rw_stack_small, &rw_stack_max};

static void each_rw(void (*fn)(const zt_xfer *)) {
    for (size_t i = 0; i < sizeof rw_variants / sizeof rw_variants[0]; i++) fn(rw_variants[i]);
}

static void test_rw_all_files(void) { each_rw(zt_xfer_file_matrix); }
static void test_rw_all_truncated_source(void) { each_rw(zt_xfer_truncated_source); }
static void test_rw_all_to_streams(void) { each_rw(zt_xfer_to_streams); }
static void test_rw_all_from_streams(void) { each_rw(zt_xfer_from_streams); }
static void test_rw_all_nonblocking_again(void) { each_rw(zt_xfer_nonblocking_again); }
static void test_rw_all_peer_closed(void) { each_rw(zt_xfer_peer_closed); }
static void test_rw_all_nonseekable_source(void) { each_rw(zt_xfer_nonseekable_to_nonblocking); }
static void test_rw_all_fsize(void) { each_rw(zt_xfer_fsize_limit); }
static void test_rw_all_ebadf(void) { each_rw(zt_xfer_ebadf); }
static void test_rw_all_eintr(void) {
    zt_xfer_eintr_pipe_source(&rw_small);
    zt_xfer_eintr_full_socket(&rw_big);
}

/* A failed write: the chunk read but not written is counted as discarded. */
static int rw_discard_child(void *arg) {
    (void)arg;
    const size_t size = 300000, limit = 100003;
    unsigned char *src = zt_data(size, 1);
    int in = zt_file_with(src, size);
    int out = zt_tmpfile();
    struct rlimit rl = {limit, limit};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    unsigned char buf[65536];
    zc_progress p;
    /* offsets by pointer */
    int64_t oi = 0, oo = 0;
    int rc = zc_read_write_all(in, &oi, out, &oo, size, buf, sizeof buf, &p);
    CHILD_CHECK(rc == -EFBIG);
    CHILD_CHECK(p.bytes == limit);
    CHILD_CHECK(p.discarded == 2 * 65536 - limit); /* the second 64 KiB chunk was cut */
    CHILD_CHECK(oi == (int64_t)limit && oo == (int64_t)limit);
    /* by file position: the position is given back to the first undelivered byte */
    CHILD_CHECK(ftruncate(out, 0) == 0);
    CHILD_CHECK(lseek(in, 0, SEEK_SET) == 0 && lseek(out, 0, SEEK_SET) == 0);
    rc = zc_read_write_all(in, NULL, out, NULL, size, buf, sizeof buf, &p);
    CHILD_CHECK(rc == -EFBIG);
    CHILD_CHECK(p.bytes == limit);
    CHILD_CHECK(p.discarded == 2 * 65536 - limit);
    CHILD_CHECK(lseek(in, 0, SEEK_CUR) == (off_t)limit);
    return 0;
}

static void test_rw_all_discarded(void) { CHECK_EXITED(zt_fork_run(rw_discard_child, NULL, 10), 0); }

static void test_rw_all_errors(void) {
    const size_t n = 5000;
    unsigned char *data = zt_data(n, 2);
    int in = zt_file_with(data, n);
    int out = zt_tmpfile();
    unsigned char buf[1000];
    zc_progress p;
    int64_t bad = -1, ok = 0, o2 = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &bad, out, &o2, 10, buf, sizeof buf, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &bad, 10, buf, sizeof buf, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    /* an offset on a pipe: ESPIPE */
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    CHECK_EQ(write(pp[1], "abc", 3), 3);
    int64_t po = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(pp[0], &po, out, &o2, 3, buf, sizeof buf, &p), -ESPIPE);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, pp[1], &po, 3, buf, sizeof buf, &p), -ESPIPE);
    CHECK_U64(p.bytes, 0);
    close(pp[0]);
    close(pp[1]);
    /* a directory as source: EISDIR */
    int dir = (int)SYS(open(zt_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(dir, NULL, out, &o2, 3, buf, sizeof buf, &p), -EISDIR);
    CHECK_U64(p.bytes, 0);
    close(dir);
    /* count 0 */
    ok = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, 0, buf, sizeof buf, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    CHECK_U64(p.discarded, 0);
    /* a 1-byte buffer still copies exactly */
    ok = 0;
    o2 = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, n, buf, 1, &p), ZC_DONE);
    CHECK_U64(p.bytes, n);
    CHECK_FILE_AT(out, 0, data, n);
    /* progress may be NULL */
    ok = 0;
    o2 = 0;
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, n, buf, sizeof buf, NULL), ZC_DONE);
    CHECK_EQ(ok, (int64_t)n);
    /* buffer length 0, or NULL with more than ZC_RW_STACK_BUFFER_MAX: EINVAL, nothing read */
    ok = 0;
    o2 = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, n, buf, 0, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_U64(p.syscalls, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, n, NULL, 0, &p), -EINVAL);
    CHECK_U64(p.syscalls, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, n, NULL, ZC_RW_STACK_BUFFER_MAX + 1, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_U64(p.syscalls, 0);
    CHECK_EQ(ok, 0);
    /* NULL: the stack buffer, read buf_len bytes at a time (5000 bytes: 2 reads of at
     * most 4096, 2 writes), by file position too */
    SYS(ftruncate(out, 0));
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, &ok, out, &o2, n, NULL, 4096, &p), ZC_DONE);
    CHECK_U64(p.bytes, n);
    CHECK_U64(p.syscalls, 4);
    CHECK_EQ(ok, (int64_t)n);
    CHECK_FILE_AT(out, 0, data, n);
    SYS(ftruncate(out, 0));
    SYS(lseek(in, 0, SEEK_SET));
    SYS(lseek(out, 0, SEEK_SET));
    zt_progress_poison(&p);
    CHECK_RC(zc_read_write_all(in, NULL, out, NULL, ZC_UNTIL_EOF, NULL, ZC_RW_STACK_BUFFER_MAX, &p), ZC_DONE);
    CHECK_U64(p.bytes, n);
    CHECK_U64(p.syscalls, 3); /* read 5000, write 5000, read 0 (end of file) */
    CHECK_EQ(lseek(in, 0, SEEK_CUR), (off_t)n);
    CHECK_FILE_AT(out, 0, data, n);
    close(in);
    close(out);
    free(data);
}

/* ------------------------------------------------------------------------- */
/* zc_pread_all                                                               */
/* ------------------------------------------------------------------------- */

static void test_pread_all_sizes(void) {
    for (size_t i = 0; i < ZT_NSIZES; i++) {
        const size_t size = zt_sizes[i];
        ZT_CTX("size=%zu", size);
        const size_t flen = (size_t)zt_in_off + size + 100;
        unsigned char *data = zt_data(flen, 10 + size);
        int fd = zt_file_with(data, flen);
        unsigned char *buf = zt_malloc(size + 1);
        buf[size] = 0x5A; /* guard byte: nothing written past len */
        zc_progress p;
        /* at an offset: position untouched */
        zt_progress_poison(&p);
        CHECK_RC(zc_pread_all(fd, buf, size, zt_in_off, &p), ZC_DONE);
        CHECK_U64(p.bytes, size);
        CHECK_U64(p.discarded, 0);
        if (size) CHECK(p.syscalls >= 1);
        CHECK_MEM(buf, data + zt_in_off, size);
        CHECK_EQ(buf[size], 0x5A);
        CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
        /* offset < 0: the file position, advanced */
        memset(buf, 0, size);
        SYS(lseek(fd, zt_in_off, SEEK_SET));
        zt_progress_poison(&p);
        CHECK_RC(zc_pread_all(fd, buf, size, -1, &p), ZC_DONE);
        CHECK_U64(p.bytes, size);
        CHECK_MEM(buf, data + zt_in_off, size);
        CHECK_EQ(lseek(fd, 0, SEEK_CUR), zt_in_off + (int64_t)size);
        /* past the end: ZC_EOF with what is there */
        zt_progress_poison(&p);
        CHECK_RC(zc_pread_all(fd, buf, size, (int64_t)(flen - size / 2), &p), size ? ZC_EOF : ZC_DONE);
        CHECK_U64(p.bytes, size / 2);
        CHECK_MEM(buf, data + flen - size / 2, size / 2);
        zt_progress_poison(&p);
        CHECK_RC(zc_pread_all(fd, buf, size, (int64_t)flen + 5, &p), size ? ZC_EOF : ZC_DONE);
        CHECK_U64(p.bytes, 0);
        close(fd);
        free(buf);
        free(data);
    }
    zt_ctx[0] = '\0';
}

/* Short reads from a pipe (the writer sends small pieces) are completed. */
static void test_pread_all_pipe(void) {
    const size_t n = 200001;
    unsigned char *data = zt_data(n, 11);
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    zt_writer w;
    zt_writer_start(&w, pp[1], data, n, 0, 1);
    unsigned char *buf = zt_malloc(n);
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(pp[0], buf, n - 1, -1, &p), ZC_DONE);
    CHECK_U64(p.bytes, n - 1);
    CHECK(p.syscalls >= 2); /* a pipe holds 64 KiB: several reads */
    CHECK_MEM(buf, data, n - 1);
    /* one byte left, then EOF */
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(pp[0], buf, 10, -1, &p), ZC_EOF);
    CHECK_U64(p.bytes, 1);
    CHECK_EQ(buf[0], data[n - 1]);
    zt_writer_join(&w);
    /* offsets on a pipe: ESPIPE */
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(pp[0], buf, 10, 0, &p), -ESPIPE);
    CHECK_U64(p.bytes, 0);
    close(pp[0]);
    /* a non-blocking empty pipe with a writer: ZC_AGAIN */
    REQUIRE(zc_pipe(pp, ZC_PIPE_NONBLOCK) == 0);
    CHECK_EQ(write(pp[1], "ab", 2), 2);
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(pp[0], buf, 10, -1, &p), ZC_AGAIN);
    CHECK_U64(p.bytes, 2);
    CHECK_MEM(buf, "ab", 2);
    close(pp[0]);
    close(pp[1]);
    free(buf);
    free(data);
}

static void test_pread_all_eintr(void) {
    const size_t n = 100000;
    unsigned char *data = zt_data(n, 12);
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    zt_writer w;
    struct sigaction old;
    zt_writer_start(&w, pp[1], data, n, 200, 1);
    zt_interrupts_start(&old);
    unsigned char *buf = zt_malloc(n);
    zc_progress p;
    zt_progress_poison(&p);
    int rc = zc_pread_all(pp[0], buf, n, -1, &p);
    zt_interrupts_stop(&old);
    close(pp[0]);
    zt_writer_join(&w);
    CHECK_RC(rc, ZC_DONE);
    CHECK_U64(p.bytes, n);
    CHECK(zt_alarms >= 5);
    CHECK_MEM(buf, data, n);
    free(buf);
    free(data);
}

static void test_pread_all_errors(void) {
    unsigned char buf[16];
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(-1, buf, 10, 0, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    int wo = (int)SYS(open("/dev/null", O_WRONLY | O_CLOEXEC));
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(wo, buf, 10, 0, &p), -EBADF);
    close(wo);
    int dir = (int)SYS(open(zt_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(dir, buf, 10, 0, &p), -EISDIR);
    close(dir);
    int fd = zt_file_with("0123456789", 10);
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(fd, buf, 0, 0, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    CHECK_RC(zc_pread_all(fd, buf, 10, 0, NULL), ZC_DONE); /* progress may be NULL */
    CHECK_MEM(buf, "0123456789", 10);
    /* a buffer the kernel cannot write: EFAULT */
    zt_progress_poison(&p);
    CHECK_RC(zc_pread_all(fd, (void *)(uintptr_t)4096, 10, 0, &p), -EFAULT);
    CHECK_U64(p.bytes, 0);
    close(fd);
}

/* ------------------------------------------------------------------------- */
/* zc_pwrite_all                                                              */
/* ------------------------------------------------------------------------- */

static const zt_xfer pw = {.name = "zc_pwrite_all", .run = zt_run_buf_writer, .has_off_out = 1,
                           .write_buf = zc_pwrite_all};

static void test_pwrite_all_files(void) {
    for (size_t i = 0; i < ZT_NSIZES; i++) {
        zt_xfer_file_to_file_one(&pw, zt_sizes[i], 1);
        zt_xfer_file_to_file_one(&pw, zt_sizes[i], 0);
    }
    /* from the heap, at an offset past the end (a hole before it) */
    const size_t n = (1u << 20) + 3;
    unsigned char *data = zt_data(n, 20);
    int fd = zt_tmpfile();
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(fd, data, n, 100000, &p), ZC_DONE);
    CHECK_U64(p.bytes, n);
    CHECK_U64(p.discarded, 0);
    CHECK_EQ(zt_file_size(fd), 100000 + (off_t)n);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    CHECK_FILE_AT(fd, 100000, data, n);
    unsigned char zeros[4096];
    memset(zeros, 0, sizeof zeros);
    CHECK_FILE_AT(fd, 0, zeros, sizeof zeros);
    close(fd);
    free(data);
    zt_ctx[0] = '\0';
}

static void test_pwrite_all_to_streams(void) {
    for (int kind = ZT_PIPE; kind <= ZT_TCP; kind++) {
        for (size_t i = 0; i < ZT_NSIZES; i++) zt_xfer_file_to_stream_one(&pw, zt_sizes[i], kind, 0);
    }
    zt_ctx[0] = '\0';
}

static void test_pwrite_all_nonblocking_again(void) { zt_xfer_nonblocking_again(&pw); }
static void test_pwrite_all_peer_closed(void) { zt_xfer_peer_closed(&pw); }
static void test_pwrite_all_fsize(void) { zt_xfer_fsize_limit(&pw); }
static void test_pwrite_all_eintr(void) { zt_xfer_eintr_full_socket(&pw); }

static void test_pwrite_all_errors(void) {
    unsigned char buf[17] = "0123456789abcdef";
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(-1, buf, 10, 0, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    int ro = (int)SYS(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(ro, buf, 10, 0, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    close(ro);
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(pp[1], buf, 10, 0, &p), -ESPIPE);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(zc_readable_bytes(pp[0]), 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(pp[1], buf, 10, -1, &p), ZC_DONE);
    CHECK_U64(p.bytes, 10);
    CHECK_EQ(zc_readable_bytes(pp[0]), 10);
    close(pp[0]);
    close(pp[1]);
    int fd = zt_tmpfile();
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(fd, buf, 0, 0, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(zt_file_size(fd), 0);
    /* a buffer the kernel cannot read: EFAULT, nothing written */
    zt_progress_poison(&p);
    CHECK_RC(zc_pwrite_all(fd, (const void *)(uintptr_t)4096, 10, 0, &p), -EFAULT);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(zt_file_size(fd), 0);
    CHECK_RC(zc_pwrite_all(fd, buf, 16, 0, NULL), ZC_DONE); /* progress may be NULL */
    CHECK_FILE_AT(fd, 0, buf, 16);
    close(fd);
}

int main(void) {
    ZT_RUN(test_rw_all_files);
    ZT_RUN(test_rw_all_truncated_source);
    ZT_RUN(test_rw_all_to_streams);
    ZT_RUN(test_rw_all_from_streams);
    ZT_RUN(test_rw_all_nonblocking_again);
    ZT_RUN(test_rw_all_nonseekable_source);
    ZT_RUN(test_rw_all_peer_closed);
    ZT_RUN(test_rw_all_fsize);
    ZT_RUN(test_rw_all_discarded);
    ZT_RUN(test_rw_all_ebadf);
    ZT_RUN(test_rw_all_eintr);
    ZT_RUN(test_rw_all_errors);
    ZT_RUN(test_pread_all_sizes);
    ZT_RUN(test_pread_all_pipe);
    ZT_RUN(test_pread_all_eintr);
    ZT_RUN(test_pread_all_errors);
    ZT_RUN(test_pwrite_all_files);
    ZT_RUN(test_pwrite_all_to_streams);
    ZT_RUN(test_pwrite_all_nonblocking_again);
    ZT_RUN(test_pwrite_all_peer_closed);
    ZT_RUN(test_pwrite_all_fsize);
    ZT_RUN(test_pwrite_all_eintr);
    ZT_RUN(test_pwrite_all_errors);
    return zt_finish();
}
