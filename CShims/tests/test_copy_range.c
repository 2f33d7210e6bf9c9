/* zc_copy_file_range and zc_copy_file_range_all. */
#define _GNU_SOURCE
#include "zc_xfer.h"

static int run_cfr_all(const zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
                       uint64_t count, zc_progress *p) {
    (void)x;
    return zc_copy_file_range_all(in, off_in, out, off_out, count, p);
}

static const zt_xfer cfr = {.name = "zc_copy_file_range_all", .run = run_cfr_all, .has_off_out = 1};

static int append_file(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-append-XXXXXX", zt_tmpdir());
    int a = (int)SYS(mkostemp(path, O_CLOEXEC | O_APPEND));
    unlink(path);
    return a;
}

/* Whether $TMPDIR and /dev/shm are different filesystems (for EXDEV). */
static int shm_is_other_fs(void) {
    struct stat a, b;
    if (stat(zt_tmpdir(), &a) < 0 || stat("/dev/shm", &b) < 0) return 0;
    return a.st_dev != b.st_dev && access("/dev/shm", W_OK) == 0;
}

static void test_cfr_single(void) {
    const size_t n = 30000;
    unsigned char *data = zt_data(n, 1);
    int in = zt_file_with(data, n);
    int out = zt_tmpfile();
    int64_t oi = 100, oo = 5;
    CHECK_EQ(zc_copy_file_range(in, &oi, out, &oo, 10000, 0), 10000);
    CHECK_EQ(oi, 10100);
    CHECK_EQ(oo, 10005);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 0);
    CHECK_FILE_AT(out, 5, data + 100, 10000);
    /* NULL offsets: file positions */
    SYS(lseek(in, 29000, SEEK_SET));
    SYS(lseek(out, 0, SEEK_SET));
    CHECK_EQ(zc_copy_file_range(in, NULL, out, NULL, 5000, 0), 1000); /* short: end of file */
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 30000);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 1000);
    CHECK_EQ(zc_copy_file_range(in, NULL, out, NULL, 5000, 0), 0); /* at end of file */
    CHECK_FILE_AT(out, 0, data + 29000, 1000);
    /* same file, non-overlapping ranges: fine; overlapping: EINVAL */
    oi = 0;
    oo = 20000;
    CHECK_EQ(zc_copy_file_range(in, &oi, in, &oo, 5000, 0), 5000);
    CHECK_FILE_AT(in, 20000, data, 5000);
    oi = 0;
    oo = 100;
    CHECK_RC(zc_copy_file_range(in, &oi, in, &oo, 5000, 0), -EINVAL);

    /* errors */
    oi = -1;
    CHECK_RC(zc_copy_file_range(in, &oi, out, NULL, 10, 0), -EINVAL);
    CHECK_RC(zc_copy_file_range(-1, NULL, out, NULL, 10, 0), -EBADF);
    CHECK_RC(zc_copy_file_range(in, NULL, -1, NULL, 10, 0), -EBADF);
    CHECK_RC(zc_copy_file_range(in, NULL, out, NULL, 10, 1 /* no flags defined */), -EINVAL);
    /* O_APPEND destination: the kernel answers EBADF (generic_copy_file_checks),
     * not EINVAL as zerocopy.h's comment says. */
    int a = append_file();
    oi = 0;
    CHECK_RC(zc_copy_file_range(in, &oi, a, NULL, 10, 0), -EBADF);
    close(a);
    /* sockets, pipes, /dev/null: EINVAL */
    int sv[2];
    SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    oi = 0;
    CHECK_RC(zc_copy_file_range(in, &oi, sv[0], NULL, 10, 0), -EINVAL);
    close(sv[0]);
    close(sv[1]);
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    CHECK_RC(zc_copy_file_range(in, &oi, pp[1], NULL, 10, 0), -EINVAL);
    close(pp[0]);
    close(pp[1]);
    int dn = (int)SYS(open("/dev/null", O_WRONLY | O_CLOEXEC));
    CHECK_RC(zc_copy_file_range(in, &oi, dn, NULL, 10, 0), -EINVAL);
    close(dn);
    /* across filesystems: EXDEV */
    if (shm_is_other_fs()) {
        int shm = zt_tmpfile_in("/dev/shm");
        oi = 0;
        CHECK_RC(zc_copy_file_range(in, &oi, shm, NULL, 10, 0), -EXDEV);
        CHECK_EQ(oi, 0);
        close(shm);
    } else {
        zt_note("$TMPDIR and /dev/shm are one filesystem: EXDEV not checked");
    }
    close(in);
    close(out);
    free(data);
}

static void test_cfr_all_files(void) { zt_xfer_file_matrix(&cfr); }
static void test_cfr_all_truncated_source(void) { zt_xfer_truncated_source(&cfr); }
static void test_cfr_all_fsize(void) { zt_xfer_fsize_limit(&cfr); }
static void test_cfr_all_ebadf(void) { zt_xfer_ebadf(&cfr); }

static void test_cfr_all_exdev(void) {
    if (!shm_is_other_fs()) {
        zt_note("$TMPDIR and /dev/shm are one filesystem: EXDEV not checked");
        return;
    }
    const size_t n = 100000;
    unsigned char *data = zt_data(n, 2);
    int in = zt_file_with(data, n); /* ext4 (or whatever $TMPDIR is) */
    int shm = zt_tmpfile_in("/dev/shm"); /* tmpfs */
    int64_t oi = 7, oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &oi, shm, &oo, n - 7, &p), -EXDEV);
    CHECK_U64(p.bytes, 0);
    CHECK_U64(p.discarded, 0);
    CHECK_EQ(oi, 7);
    CHECK_EQ(oo, 0);
    CHECK_EQ(zt_file_size(shm), 0);
    /* and the other way round, with file positions */
    zt_pwrite_full(shm, data, 1000, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(shm, NULL, in, NULL, 1000, &p), -EXDEV);
    CHECK_U64(p.bytes, 0);
    /* tmpfs -> another tmpfs file on the same mount works */
    int shm2 = zt_tmpfile_in("/dev/shm");
    oi = 0;
    oo = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(shm, &oi, shm2, &oo, 1000, &p), ZC_DONE);
    CHECK_U64(p.bytes, 1000);
    CHECK_FILE_AT(shm2, 0, data, 1000);
    close(shm2);
    close(shm);
    close(in);
    free(data);
}

/*
 * /proc/self/status as the source. Kernel 6.18 (and since 5.19) refuses
 * copy_file_range between different superblocks, procfs included: -EXDEV with
 * 0 bytes. (Kernels 5.3-5.18 returned 0 instead, i.e. ZC_EOF with 0 bytes; that
 * is what zerocopy.h tells fallback code to treat as "unsupported".)
 */
static void test_cfr_all_proc_source(void) {
    int proc = (int)SYS(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    int out = zt_tmpfile();
    zc_progress p;
    zt_progress_poison(&p);
    int rc = zc_copy_file_range_all(proc, NULL, out, NULL, 4096, &p);
    CHECK_RC(rc, -EXDEV);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(zt_file_size(out), 0);
    zt_progress_poison(&p);
    rc = zc_copy_file_range_all(proc, NULL, out, NULL, ZC_UNTIL_EOF, &p);
    CHECK_RC(rc, -EXDEV);
    CHECK_U64(p.bytes, 0);
    close(proc);
    close(out);
}

static void test_cfr_all_errors(void) {
    const size_t n = 5000;
    unsigned char *data = zt_data(n, 3);
    int in = zt_file_with(data, n);
    int out = zt_tmpfile();
    zc_progress p;
    int64_t bad = -1, ok = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &bad, out, &ok, 10, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &ok, out, &bad, 10, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    /* sockets and pipes are not files */
    int sv[2];
    SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &ok, sv[0], NULL, 10, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(write(sv[1], "abc", 3), 3);
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(sv[0], NULL, out, &ok, 3, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    close(sv[0]);
    close(sv[1]);
    /* O_APPEND destination: -EBADF from the kernel */
    int a = append_file();
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &ok, a, NULL, 10, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    close(a);
    /* overlapping ranges of one file */
    int64_t x0 = 0, x1 = 10;
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &x0, in, &x1, 100, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    /* count 0 */
    ok = 0;
    int64_t o2 = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_copy_file_range_all(in, &ok, out, &o2, 0, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    /* progress may be NULL */
    CHECK_RC(zc_copy_file_range_all(in, &ok, out, &o2, n, NULL), ZC_DONE);
    CHECK_EQ(ok, (int64_t)n);
    CHECK_FILE_AT(out, 0, data, n);
    close(in);
    close(out);
    free(data);
}

/* ENOSPC: both files on one 1 MiB tmpfs (root only) */
static void test_cfr_all_enospc(void) {
    if (!zt_is_root()) {
        zt_note("not root: no tmpfs mount for ENOSPC");
        return;
    }
    char dir[4096], cmd[4200];
    snprintf(dir, sizeof dir, "%s/zc-test-mnt-XXXXXX", zt_tmpdir());
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=2m zc-test %s 2>/dev/null", dir);
    if (system(cmd) != 0) {
        zt_note("cannot mount a tmpfs here: ENOSPC not checked");
        rmdir(dir);
        return;
    }
    const size_t n = (1u << 20) + 12345;
    unsigned char *data = zt_data(n, 4);
    int in = zt_tmpfile_in(dir);
    zt_pwrite_full(in, data, n, 0);
    int out = zt_tmpfile_in(dir);
    int64_t oi = 0, oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = zc_copy_file_range_all(in, &oi, out, &oo, n, &p);
    CHECK_RC(rc, -ENOSPC);
    CHECK(p.bytes < n);
    CHECK_EQ(oi, (int64_t)p.bytes);
    CHECK_EQ(oo, (int64_t)p.bytes);
    CHECK_EQ(zt_file_size(out), (off_t)p.bytes);
    CHECK_FILE_AT(out, 0, data, p.bytes);
    close(out);
    close(in);
    free(data);
    snprintf(cmd, sizeof cmd, "umount %s", dir);
    CHECK_EQ(system(cmd), 0);
    rmdir(dir);
}

int main(void) {
    ZT_RUN(test_cfr_single);
    ZT_RUN(test_cfr_all_files);
    ZT_RUN(test_cfr_all_truncated_source);
    ZT_RUN(test_cfr_all_fsize);
    ZT_RUN(test_cfr_all_ebadf);
    ZT_RUN(test_cfr_all_exdev);
    ZT_RUN(test_cfr_all_proc_source);
    ZT_RUN(test_cfr_all_errors);
    ZT_RUN(test_cfr_all_enospc);
    return zt_finish();
}
