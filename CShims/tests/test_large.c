/*
 * A sparse source larger than 2 GiB (2 GiB + 12345 bytes, markers at known
 * offsets, holes elsewhere) through zc_sendfile_all, zc_copy_file_range_all and
 * zc_splice_all into a destination file: the whole count arrives (sendfile and
 * copy_file_range need more than one call: ZC_MAX_RW_COUNT is below 2 GiB), the
 * markers land at their offsets, the holes read as zeros, and 64-bit offsets
 * past 2 GiB work. Files are deleted as soon as each check is done.
 */
#define _GNU_SOURCE
#include "zc_test.h"

#define GIB (1ull << 30)
static const uint64_t big_size = 2 * GIB + 12345;

typedef struct marker {
    uint64_t off;
    char text[24];
} marker;

static marker markers[] = {
    {0, "start-of-file"},
    {4096 * 1000 + 7, "one-thousand-pages"},
    {ZC_MAX_RW_COUNT - 4, "pre-cap!"},    /* straddles the per-call cap */
    {ZC_MAX_RW_COUNT + 10, "after-cap"},
    {2 * GIB - 5, "across-2GiB"},          /* straddles 2^31 */
    {2 * GIB + 4000, "past-2GiB"},
    {2 * GIB + 12345 - 10, "end-mark!"},   /* the last 10 bytes */
};
#define NMARKERS (sizeof markers / sizeof markers[0])

/* zero-byte probes: inside holes */
static const uint64_t zero_probes[] = {1 << 20, GIB, ZC_MAX_RW_COUNT - 100, 2 * GIB + 100,
                                       2 * GIB + 8000};

static int source = -1; /* one sparse source for all tests (reading holes costs time) */

static int make_sparse_source(void) {
    if (source >= 0) return (int)SYS(dup(source));
    int fd = zt_tmpfile();
    SYS(ftruncate(fd, (off_t)big_size));
    for (size_t i = 0; i < NMARKERS; i++)
        zt_pwrite_full(fd, markers[i].text, strlen(markers[i].text), (off_t)markers[i].off);
    return fd;
}

/* dst holds the source's bytes [src_start, src_start + len) at dst_start. */
static void check_copy(int dst, uint64_t dst_start, uint64_t src_start, uint64_t len) {
    CHECK_EQ(zt_file_size(dst), (off_t)(dst_start + len));
    for (size_t i = 0; i < NMARKERS; i++) {
        uint64_t o = markers[i].off;
        size_t n = strlen(markers[i].text);
        if (o < src_start || o + n > src_start + len) continue;
        ZT_CTX("marker '%s' at %" PRIu64, markers[i].text, o);
        CHECK_FILE_AT(dst, (off_t)(dst_start + o - src_start), markers[i].text, n);
    }
    static const unsigned char zeros[64];
    for (size_t i = 0; i < sizeof zero_probes / sizeof zero_probes[0]; i++) {
        uint64_t o = zero_probes[i];
        if (o < src_start || o + sizeof zeros > src_start + len) continue;
        ZT_CTX("zeros at %" PRIu64, o);
        CHECK_FILE_AT(dst, (off_t)(dst_start + o - src_start), zeros, sizeof zeros);
    }
    zt_ctx[0] = '\0';
}

static void test_large_sendfile_all(void) {
    int src = make_sparse_source();
    int dst = zt_tmpfile();
    int64_t off = 0;
    zc_progress p;
    CHECK_RC(zc_sendfile_all(dst, src, &off, big_size, &p), ZC_DONE);
    CHECK_U64(p.bytes, big_size);
    CHECK_EQ(off, (int64_t)big_size);
    CHECK(p.syscalls >= 2); /* more than ZC_MAX_RW_COUNT */
    check_copy(dst, 0, 0, big_size);
    close(dst);
    /* a range that starts past 2 GiB: 64-bit offsets */
    dst = zt_tmpfile();
    off = (int64_t)(2 * GIB + 10);
    CHECK_RC(zc_sendfile_all(dst, src, &off, ZC_UNTIL_EOF, &p), ZC_DONE);
    CHECK_U64(p.bytes, big_size - (2 * GIB + 10));
    CHECK_EQ(off, (int64_t)big_size);
    check_copy(dst, 0, 2 * GIB + 10, big_size - (2 * GIB + 10));
    close(dst);
    close(src);
}

static void test_large_copy_file_range_all(void) {
    int src = make_sparse_source();
    int dst = zt_tmpfile();
    int64_t oi = 0, oo = 0;
    zc_progress p;
    CHECK_RC(zc_copy_file_range_all(src, &oi, dst, &oo, big_size, &p), ZC_DONE);
    CHECK_U64(p.bytes, big_size);
    CHECK_EQ(oi, (int64_t)big_size);
    CHECK_EQ(oo, (int64_t)big_size);
    CHECK(p.syscalls >= 2);
    check_copy(dst, 0, 0, big_size);
    close(dst);
    /* across 2 GiB on both sides: source at 2 GiB - 100, destination at 3 GiB */
    dst = zt_tmpfile();
    oi = (int64_t)(2 * GIB - 100);
    oo = (int64_t)(3 * GIB);
    CHECK_RC(zc_copy_file_range_all(src, &oi, dst, &oo, ZC_UNTIL_EOF, &p), ZC_DONE);
    CHECK_U64(p.bytes, big_size - (2 * GIB - 100));
    CHECK_EQ(oo, (int64_t)(3 * GIB + p.bytes));
    check_copy(dst, 3 * GIB, 2 * GIB - 100, big_size - (2 * GIB - 100));
    close(dst);
    close(src);
}

static void test_large_splice_all(void) {
    int src = make_sparse_source();
    int dst = zt_tmpfile();
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    REQUIRE(zc_pipe_set_capacity(pp[0], 1 << 20) == 1 << 20);
    int64_t oi = 0, oo = 0;
    zc_progress p;
    CHECK_RC(zc_splice_all(src, &oi, dst, &oo, big_size, pp, &p), ZC_DONE);
    CHECK_U64(p.bytes, big_size);
    CHECK_U64(p.discarded, 0);
    CHECK_EQ(oi, (int64_t)big_size);
    CHECK_EQ(oo, (int64_t)big_size);
    CHECK_EQ(zc_readable_bytes(pp[0]), 0);
    check_copy(dst, 0, 0, big_size);
    close(dst);
    /* with a temporary pipe, past 2 GiB, by file position */
    dst = zt_tmpfile();
    SYS(lseek(src, (off_t)(2 * GIB - 7), SEEK_SET));
    CHECK_RC(zc_splice_all(src, NULL, dst, NULL, ZC_UNTIL_EOF, NULL, &p), ZC_DONE);
    CHECK_U64(p.bytes, big_size - (2 * GIB - 7));
    CHECK_EQ(lseek(src, 0, SEEK_CUR), (off_t)big_size);
    check_copy(dst, 0, 2 * GIB - 7, big_size - (2 * GIB - 7));
    close(dst);
    close(pp[0]);
    close(pp[1]);
    close(src);
}

int main(void) {
    struct statfs sf;
    if (statfs(zt_tmpdir(), &sf) == 0 && (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize < 6 * GIB)
        zt_skip("less than 6 GiB free in %s for a 2 GiB destination file", zt_tmpdir());
    source = make_sparse_source();
    ZT_RUN(test_large_sendfile_all);
    ZT_RUN(test_large_copy_file_range_all);
    ZT_RUN(test_large_splice_all);
    close(source);
    return zt_finish();
}
