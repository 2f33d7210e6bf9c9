/*
 * Pipes: zc_pipe, zc_pipe_capacity, zc_pipe_set_capacity, zc_pipe_max_capacity,
 * zc_readable_bytes; and the single-call wrappers that need pipes: zc_tee,
 * zc_vmsplice, zc_splice.
 */
#define _GNU_SOURCE
#include "zc_test.h"

static int read_sysctl_int(const char *path) {
    FILE *f = fopen(path, "re");
    if (f == NULL) return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
    return v;
}

static void test_pipe_cloexec_and_flags(void) {
    int p[2] = {-1, -1};
    CHECK_RC(zc_pipe(p, 0), 0);
    REQUIRE(p[0] >= 0 && p[1] >= 0 && p[0] != p[1]);
    CHECK_EQ(fcntl(p[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(p[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    CHECK_EQ(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
    CHECK_EQ(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
    CHECK_EQ(fcntl(p[1], F_GETFL) & O_ACCMODE, O_WRONLY);
    /* fds[0] reads what fds[1] writes */
    CHECK_EQ(write(p[1], "xyz", 3), 3);
    char b[4] = {0};
    CHECK_EQ(read(p[0], b, sizeof b), 3);
    CHECK_MEM(b, "xyz", 3);
    close(p[0]);
    close(p[1]);

    CHECK_RC(zc_pipe(p, ZC_PIPE_NONBLOCK), 0);
    CHECK_EQ(fcntl(p[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(p[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    CHECK_EQ(fcntl(p[1], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    errno = 0;
    CHECK_EQ(read(p[0], b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    close(p[0]);
    close(p[1]);

    /* fds are not leaked across many calls (ZT_RUN also counts /proc/self/fd) */
    for (int i = 0; i < 200; i++) {
        REQUIRE(zc_pipe(p, i & 1 ? ZC_PIPE_NONBLOCK : 0) == 0);
        close(p[0]);
        close(p[1]);
    }
}

static void test_pipe_emfile(void) {
    /* With RLIMIT_NOFILE at the current count, pipe2 fails with EMFILE. */
    struct rlimit old;
    SYS(getrlimit(RLIMIT_NOFILE, &old));
    int used = zt_fd_count();
    /* the lowest free descriptor number: every number below it is in use */
    unsigned char set[ZT_MAX_FD];
    zt_open_fds(set);
    int lowest_free = 0;
    while (lowest_free < ZT_MAX_FD && set[lowest_free]) lowest_free++;
    struct rlimit lim = {.rlim_cur = (rlim_t)lowest_free, .rlim_max = old.rlim_max};
    SYS(setrlimit(RLIMIT_NOFILE, &lim));
    int p[2] = {-1, -1};
    int r = zc_pipe(p, 0);
    SYS(setrlimit(RLIMIT_NOFILE, &old));
    CHECK_RC(r, -EMFILE);
    CHECK_EQ(zt_fd_count(), used);
}

static void test_pipe_capacity(void) {
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    long page = sysconf(_SC_PAGESIZE);
    CHECK_EQ(zc_pipe_capacity(p[0]), 16 * page); /* Linux default: 16 pages */
    CHECK_EQ(zc_pipe_capacity(p[1]), 16 * page);

    /* rounded up to a power-of-two number of pages */
    CHECK_EQ(zc_pipe_set_capacity(p[1], 100000), 131072);
    CHECK_EQ(zc_pipe_capacity(p[0]), 131072);
    CHECK_EQ(zc_pipe_set_capacity(p[0], (int)page), page);
    CHECK_EQ(zc_pipe_capacity(p[1]), page);
    CHECK_EQ(zc_pipe_set_capacity(p[0], 1), page);
    CHECK_EQ(zc_pipe_set_capacity(p[0], 3 * (int)page), 4 * page);
    CHECK_EQ(zc_pipe_set_capacity(p[0], 65536), 65536);

    /* the maximum is exactly /proc/sys/fs/pipe-max-size */
    int max = zc_pipe_max_capacity();
    CHECK_EQ(max, read_sysctl_int("/proc/sys/fs/pipe-max-size"));
    REQUIRE(max > 0);
    CHECK_EQ(zc_pipe_set_capacity(p[0], max), max);
    CHECK_EQ(zc_pipe_capacity(p[0]), max);

    /* above the maximum: EPERM unless CAP_SYS_RESOURCE is effective */
    int above = zc_pipe_set_capacity(p[0], max * 2);
    if (zt_has_cap(24 /* CAP_SYS_RESOURCE */))
        CHECK_EQ(above, max * 2);
    else
        CHECK_RC(above, -EPERM);

    /* smaller than the data it holds: EBUSY; the data stays */
    CHECK_EQ(zc_pipe_set_capacity(p[0], 65536), 65536);
    unsigned char *data = zt_data(20000, 1);
    CHECK_EQ(write(p[1], data, 20000), 20000);
    CHECK_RC(zc_pipe_set_capacity(p[0], (int)page), -EBUSY);
    CHECK_EQ(zc_pipe_capacity(p[0]), 65536);
    CHECK_EQ(zc_readable_bytes(p[0]), 20000);
    unsigned char back[20000];
    CHECK_EQ(read(p[0], back, sizeof back), 20000);
    CHECK_MEM(back, data, 20000);
    free(data);

    /* invalid sizes */
    CHECK_RC(zc_pipe_set_capacity(p[0], -1), -EINVAL);
    CHECK_RC(zc_pipe_set_capacity(p[0], INT32_MIN), -EINVAL);

    /* not a pipe: EBADF (the kernel's answer for F_GETPIPE_SZ/F_SETPIPE_SZ) */
    int f = zt_tmpfile();
    CHECK_RC(zc_pipe_capacity(f), -EBADF);
    CHECK_RC(zc_pipe_set_capacity(f, 65536), -EBADF);
    close(f);
    CHECK_RC(zc_pipe_capacity(-1), -EBADF);
    CHECK_RC(zc_pipe_set_capacity(-1, 65536), -EBADF);
    close(p[0]);
    close(p[1]);
    CHECK_RC(zc_pipe_capacity(p[0]), -EBADF); /* closed */
}

static int eperm_as_nobody(void *arg) {
    (void)arg;
    /* drop to an unprivileged user: no CAP_SYS_RESOURCE */
    CHILD_CHECK(setgid(65534) == 0);
    CHILD_CHECK(setuid(65534) == 0);
    int p[2];
    CHILD_CHECK(zc_pipe(p, 0) == 0);
    int max = zc_pipe_max_capacity();
    CHILD_CHECK(max > 0);
    CHILD_CHECK(zc_pipe_set_capacity(p[0], max) == max);
    int r = zc_pipe_set_capacity(p[0], max * 2);
    if (r != -EPERM) {
        fprintf(stderr, "set_capacity(2*max) as nobody: got %s, expected -EPERM\n", zt_errname(r));
        return 1;
    }
    CHILD_CHECK(zc_pipe_capacity(p[0]) == max);
    return 0;
}

static void test_pipe_capacity_eperm_unprivileged(void) {
    if (!zt_is_root()) {
        zt_note("not root: cannot switch to an unprivileged user (EPERM checked above)");
        return;
    }
    CHECK_EXITED(zt_fork_run(eperm_as_nobody, NULL, 10), 0);
}

static void test_readable_bytes(void) {
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    CHECK_EQ(zc_readable_bytes(p[0]), 0);
    CHECK_EQ(write(p[1], "hello", 5), 5);
    CHECK_EQ(zc_readable_bytes(p[0]), 5);
    unsigned char *big = zt_data(40000, 2);
    CHECK_EQ(write(p[1], big, 40000), 40000);
    CHECK_EQ(zc_readable_bytes(p[0]), 40005);
    free(big);
    close(p[0]);
    close(p[1]);

    int sv[2];
    SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    CHECK_EQ(zc_readable_bytes(sv[1]), 0);
    CHECK_EQ(write(sv[0], "abcdefg", 7), 7);
    CHECK_EQ(zc_readable_bytes(sv[1]), 7);
    close(sv[0]);
    close(sv[1]);

    /* A regular file: from the position to the end; past the end the kernel's count is
     * negative (-5 here), which must not read as -errno (it was -EIO). */
    int f = zt_tmpfile();
    REQUIRE(f >= 0);
    unsigned char *data = zt_data(1000, 3);
    CHECK_EQ(write(f, data, 1000), 1000);
    free(data);
    CHECK_EQ(lseek(f, 100, SEEK_SET), 100);
    CHECK_EQ(zc_readable_bytes(f), 900);
    CHECK_EQ(lseek(f, 1005, SEEK_SET), 1005);
    CHECK_EQ(zc_readable_bytes(f), 0);
    close(f);

    int t[2];
    zt_tcp_pair(t);
    CHECK_EQ(write(t[0], "0123456789", 10), 10);
    struct pollfd pf = {.fd = t[1], .events = POLLIN, .revents = 0};
    CHECK_EQ(poll(&pf, 1, 5000), 1);
    CHECK_EQ(zc_readable_bytes(t[1]), 10);
    close(t[0]);
    close(t[1]);

    CHECK_RC(zc_readable_bytes(-1), -EBADF);
}

static void test_tee(void) {
    int a[2], b[2];
    REQUIRE(zc_pipe(a, 0) == 0);
    REQUIRE(zc_pipe(b, 0) == 0);
    unsigned char *data = zt_data(5000, 3);
    CHECK_EQ(write(a[1], data, 5000), 5000);

    /* duplicates without consuming */
    CHECK_EQ(zc_tee(a[0], b[1], 100000, 0), 5000);
    CHECK_EQ(zc_readable_bytes(a[0]), 5000);
    CHECK_EQ(zc_readable_bytes(b[0]), 5000);
    /* a shorter len duplicates exactly len */
    CHECK_EQ(zc_tee(a[0], b[1], 10, 0), 10);
    CHECK_EQ(zc_readable_bytes(b[0]), 5010);
    unsigned char back[5010];
    CHECK_EQ(read(b[0], back, sizeof back), 5010);
    CHECK_MEM(back, data, 5000);
    CHECK_MEM(back + 5000, data, 10);
    CHECK_EQ(read(a[0], back, 5000), 5000);
    CHECK_MEM(back, data, 5000);

    /* empty source: NONBLOCK gives EAGAIN while a writer exists, 0 without writers */
    CHECK_RC(zc_tee(a[0], b[1], 10, ZC_SPLICE_F_NONBLOCK), -EAGAIN);
    close(a[1]);
    CHECK_EQ(zc_tee(a[0], b[1], 10, 0), 0);

    /* not pipes, or the same pipe: EINVAL; wrong direction: EBADF */
    int f = zt_tmpfile();
    CHECK_RC(zc_tee(f, b[1], 10, 0), -EINVAL);
    CHECK_RC(zc_tee(b[0], f, 10, 0), -EINVAL);
    CHECK_RC(zc_tee(b[0], b[1], 10, 0), -EINVAL);
    CHECK_RC(zc_tee(b[1], b[0], 10, 0), -EBADF);
    CHECK_RC(zc_tee(-1, b[1], 10, 0), -EBADF);
    close(f);
    close(a[0]);
    close(b[0]);
    close(b[1]);
    free(data);
}

static void test_vmsplice(void) {
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    unsigned char *d1 = zt_data(3000, 4), *d2 = zt_data(7000, 5);
    struct iovec iov[2] = {{d1, 3000}, {d2, 7000}};
    CHECK_EQ(zc_vmsplice(p[1], iov, 2, 0), 10000);
    CHECK_EQ(zc_readable_bytes(p[0]), 10000);
    unsigned char back[10000];
    CHECK_EQ(read(p[0], back, sizeof back), 10000);
    CHECK_MEM(back, d1, 3000);
    CHECK_MEM(back + 3000, d2, 7000);

    /* more than the pipe holds, non-blocking: a short count, then EAGAIN */
    zt_set_nonblock(p[1], 1);
    /* (page-aligned memory: then each pipe slot holds a full page) */
    unsigned char *big = aligned_alloc(4096, 200704);
    REQUIRE(big != NULL);
    zt_fill(big, 200000, 6);
    struct iovec one = {big, 200000};
    ssize_t n = zc_vmsplice(p[1], &one, 1, ZC_SPLICE_F_NONBLOCK);
    CHECK_EQ(n, zc_pipe_capacity(p[0]));
    CHECK_RC(zc_vmsplice(p[1], &one, 1, ZC_SPLICE_F_NONBLOCK), -EAGAIN);
    unsigned char *back2 = zt_malloc(200000);
    CHECK_EQ(read(p[0], back2, 200000), n);
    CHECK_MEM(back2, big, (size_t)n);
    free(back2);

    /* not a pipe / bad fd: EBADF */
    int f = zt_tmpfile();
    CHECK_RC(zc_vmsplice(f, iov, 1, 0), -EBADF);
    CHECK_RC(zc_vmsplice(-1, iov, 1, 0), -EBADF);
    close(f);
    close(p[0]);
    close(p[1]);
    free(d1);
    free(d2);
    free(big);
}

static void test_splice_single(void) {
    const size_t n = 10000;
    unsigned char *data = zt_data(n, 7);
    int f = zt_file_with(data, n);
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);

    /* file -> pipe with an offset: offset advanced, file position untouched */
    int64_t off = 123;
    CHECK_EQ(zc_splice(f, &off, p[1], NULL, 1000, 0), 1000);
    CHECK_EQ(off, 1123);
    CHECK_EQ(lseek(f, 0, SEEK_CUR), 0);
    /* pipe -> file at an offset */
    int g = zt_tmpfile();
    int64_t goff = 7;
    CHECK_EQ(zc_splice(p[0], NULL, g, &goff, 1000, 0), 1000);
    CHECK_EQ(goff, 1007);
    CHECK_FILE_AT(g, 7, data + 123, 1000);

    /* NULL offset: the file position is used and advanced */
    SYS(lseek(f, 500, SEEK_SET));
    CHECK_EQ(zc_splice(f, NULL, p[1], NULL, 300, 0), 300);
    CHECK_EQ(lseek(f, 0, SEEK_CUR), 800);
    unsigned char back[300];
    CHECK_EQ(read(p[0], back, 300), 300);
    CHECK_MEM(back, data + 500, 300);

    /* end of input: 0 */
    off = (int64_t)n;
    CHECK_EQ(zc_splice(f, &off, p[1], NULL, 100, 0), 0);
    CHECK_EQ(off, (int64_t)n);

    /* a short file: count is what is left */
    off = (int64_t)n - 10;
    CHECK_EQ(zc_splice(f, &off, p[1], NULL, 100, 0), 10);
    CHECK_EQ(read(p[0], back, 10), 10);
    CHECK_MEM(back, data + n - 10, 10);

    /* errors */
    CHECK_RC(zc_splice(f, NULL, g, NULL, 100, 0), -EINVAL);      /* neither end a pipe */
    off = 0;
    CHECK_RC(zc_splice(p[0], &off, g, NULL, 100, 0), -ESPIPE);   /* offset for a pipe */
    CHECK_RC(zc_splice(f, NULL, p[1], &off, 100, 0), -ESPIPE);
    CHECK_RC(zc_splice(-1, NULL, p[1], NULL, 100, 0), -EBADF);
    CHECK_RC(zc_splice(f, NULL, -1, NULL, 100, 0), -EBADF);
    CHECK_RC(zc_splice(p[0], NULL, g, NULL, 100, ZC_SPLICE_F_NONBLOCK), -EAGAIN); /* empty */
    off = -1;
    CHECK_RC(zc_splice(f, &off, p[1], NULL, 100, 0), -EINVAL); /* negative offset */

    /* O_APPEND destination: EINVAL */
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-append-XXXXXX", zt_tmpdir());
    int a = (int)SYS(mkostemp(path, O_CLOEXEC | O_APPEND));
    unlink(path);
    CHECK_EQ(write(p[1], "abc", 3), 3);
    CHECK_RC(zc_splice(p[0], NULL, a, NULL, 3, 0), -EINVAL);
    CHECK_EQ(zc_readable_bytes(p[0]), 3);
    close(a);

    /* an empty pipe without writers: 0 */
    CHECK_EQ(read(p[0], back, 3), 3);
    close(p[1]);
    CHECK_EQ(zc_splice(p[0], NULL, g, NULL, 100, 0), 0);
    close(p[0]);
    close(f);
    close(g);
    free(data);
}

static void test_splice_socket(void) {
    /* file -> pipe -> socket and socket -> pipe -> file with single splices */
    const size_t n = 3000;
    unsigned char *data = zt_data(n, 8);
    int f = zt_file_with(data, n);
    int p[2], t[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    zt_tcp_pair(t);
    int64_t off = 0;
    CHECK_EQ(zc_splice(f, &off, p[1], NULL, n, 0), (ssize_t)n);
    CHECK_EQ(zc_splice(p[0], NULL, t[0], NULL, n, 0), (ssize_t)n);
    size_t got = 0;
    int g = zt_tmpfile();
    int64_t goff = 0;
    while (got < n) {
        ssize_t r = zc_splice(t[1], NULL, p[1], NULL, n - got, 0);
        REQUIRE(r > 0);
        CHECK_EQ(zc_splice(p[0], NULL, g, &goff, (size_t)r, 0), r);
        got += (size_t)r;
    }
    CHECK_FILE_AT(g, 0, data, n);
    close(t[0]);
    close(t[1]);
    close(p[0]);
    close(p[1]);
    close(f);
    close(g);
    free(data);
}

int main(void) {
    ZT_RUN(test_pipe_cloexec_and_flags);
    ZT_RUN(test_pipe_emfile);
    ZT_RUN(test_pipe_capacity);
    ZT_RUN(test_pipe_capacity_eperm_unprivileged);
    ZT_RUN(test_readable_bytes);
    ZT_RUN(test_tee);
    ZT_RUN(test_vmsplice);
    ZT_RUN(test_splice_single);
    ZT_RUN(test_splice_socket);
    return zt_finish();
}
