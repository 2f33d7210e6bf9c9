/* zc_sendfile and zc_sendfile_all. */
#define _GNU_SOURCE
#include "zc_xfer.h"

static int run_sendfile_all(const zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
                            uint64_t count, zc_progress *p) {
    (void)x;
    if (off_out != NULL) abort(); /* sendfile has no destination offset */
    return zc_sendfile_all(out, in, off_in, count, p);
}

static const zt_xfer sf = {.name = "zc_sendfile_all", .run = run_sendfile_all, .has_off_out = 0};

static void test_sendfile_single(void) {
    const size_t n = 20000;
    unsigned char *data = zt_data(n, 1);
    int in = zt_file_with(data, n);
    int out = zt_tmpfile();
    /* with an offset: advanced, file position untouched */
    int64_t off = 1000;
    CHECK_EQ(zc_sendfile(out, in, &off, 5000), 5000);
    CHECK_EQ(off, 6000);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 5000);
    CHECK_FILE_AT(out, 0, data + 1000, 5000);
    /* NULL offset: the file position */
    SYS(lseek(in, 19000, SEEK_SET));
    CHECK_EQ(zc_sendfile(out, in, NULL, 5000), 1000); /* short: end of file */
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 20000);
    CHECK_EQ(zc_sendfile(out, in, NULL, 5000), 0);    /* at end of file */
    CHECK_FILE_AT(out, 5000, data + 19000, 1000);
    /* errors */
    CHECK_RC(zc_sendfile(-1, in, NULL, 10), -EBADF);
    CHECK_RC(zc_sendfile(out, -1, NULL, 10), -EBADF);
    off = -5;
    CHECK_RC(zc_sendfile(out, in, &off, 10), -EINVAL);
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    off = 0;
    CHECK_RC(zc_sendfile(out, p[0], &off, 10), -ESPIPE); /* offset on a pipe source */
    CHECK_RC(zc_sendfile(out, p[0], NULL, 10), -EINVAL); /* a pipe is no sendfile source */
    close(p[0]);
    close(p[1]);
    /* O_APPEND destination: EINVAL */
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-append-XXXXXX", zt_tmpdir());
    int a = (int)SYS(mkostemp(path, O_CLOEXEC | O_APPEND));
    unlink(path);
    off = 0;
    CHECK_RC(zc_sendfile(a, in, &off, 10), -EINVAL);
    CHECK_EQ(off, 0);
    close(a);
    close(in);
    close(out);
    free(data);
}

static void test_sendfile_all_files(void) { zt_xfer_file_matrix(&sf); }
static void test_sendfile_all_truncated_source(void) { zt_xfer_truncated_source(&sf); }
static void test_sendfile_all_to_streams(void) { zt_xfer_to_streams(&sf); }
static void test_sendfile_all_nonblocking_again(void) { zt_xfer_nonblocking_again(&sf); }
static void test_sendfile_all_peer_closed(void) { zt_xfer_peer_closed(&sf); }
static void test_sendfile_all_fsize(void) { zt_xfer_fsize_limit(&sf); }
static void test_sendfile_all_ebadf(void) { zt_xfer_ebadf(&sf); }
static void test_sendfile_all_eintr(void) { zt_xfer_eintr_full_socket(&sf); }

static void test_sendfile_all_errors(void) {
    const size_t n = 5000;
    unsigned char *data = zt_data(n, 2);
    int in = zt_file_with(data, n);
    int out = zt_tmpfile();
    zc_progress p;

    /* a negative offset */
    int64_t off = -1;
    zt_progress_poison(&p);
    CHECK_RC(zc_sendfile_all(out, in, &off, 10, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(off, -1);

    /* /proc files cannot be sendfile sources: -EINVAL here (6.x); a kernel that
     * read them would end with ZC_EOF after 0 bytes only for an empty file, and
     * /proc/self/status is not empty, so exactly -EINVAL is accepted. */
    int proc = (int)SYS(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    zt_progress_poison(&p);
    int rc = zc_sendfile_all(out, proc, NULL, 4096, &p);
    if (rc != ZC_EOF) CHECK_RC(rc, -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(zt_file_size(out), 0);
    close(proc);

    /* O_APPEND destination */
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-append-XXXXXX", zt_tmpdir());
    int a = (int)SYS(mkostemp(path, O_CLOEXEC | O_APPEND));
    unlink(path);
    off = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_sendfile_all(a, in, &off, n, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(off, 0);
    close(a);

    /* a pipe as source (sendfile needs a file): -EINVAL; with an offset: -ESPIPE */
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    CHECK_EQ(write(pp[1], "abc", 3), 3);
    zt_progress_poison(&p);
    CHECK_RC(zc_sendfile_all(out, pp[0], NULL, 3, &p), -EINVAL);
    CHECK_U64(p.bytes, 0);
    off = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_sendfile_all(out, pp[0], &off, 3, &p), -ESPIPE);
    close(pp[0]);
    close(pp[1]);

    /* count 0: nothing to do */
    off = 0;
    zt_progress_poison(&p);
    CHECK_RC(zc_sendfile_all(out, in, &off, 0, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    CHECK_U64(p.discarded, 0);
    CHECK_EQ(off, 0);

    /* progress may be NULL */
    off = 0;
    CHECK_RC(zc_sendfile_all(out, in, &off, n, NULL), ZC_DONE);
    CHECK_EQ(off, (int64_t)n);
    CHECK_FILE_AT(out, 0, data, n);
    close(in);
    close(out);
    free(data);
}

/* ENOSPC: a 1 MiB tmpfs (root only) */
static void test_sendfile_all_enospc(void) {
    if (!zt_is_root()) {
        zt_note("not root: no tmpfs mount for ENOSPC");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/zc-test-mnt-XXXXXX", zt_tmpdir());
    REQUIRE(mkdtemp(dir) != NULL);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=1m zc-test %s 2>/dev/null", dir);
    if (system(cmd) != 0) {
        zt_note("cannot mount a tmpfs here: ENOSPC not checked");
        rmdir(dir);
        return;
    }
    const size_t n = 3u << 20;
    unsigned char *data = zt_data(n, 3);
    int in = zt_file_with(data, n);
    int out = zt_tmpfile_in(dir);
    int64_t off = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = zc_sendfile_all(out, in, &off, n, &p);
    CHECK_RC(rc, -ENOSPC);
    CHECK(p.bytes > 0 && p.bytes <= (1u << 20));
    CHECK_EQ(off, (int64_t)p.bytes);
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
    ZT_RUN(test_sendfile_single);
    ZT_RUN(test_sendfile_all_files);
    ZT_RUN(test_sendfile_all_truncated_source);
    ZT_RUN(test_sendfile_all_to_streams);
    ZT_RUN(test_sendfile_all_nonblocking_again);
    ZT_RUN(test_sendfile_all_peer_closed);
    ZT_RUN(test_sendfile_all_fsize);
    ZT_RUN(test_sendfile_all_ebadf);
    ZT_RUN(test_sendfile_all_eintr);
    ZT_RUN(test_sendfile_all_errors);
    ZT_RUN(test_sendfile_all_enospc);
    return zt_finish();
}
