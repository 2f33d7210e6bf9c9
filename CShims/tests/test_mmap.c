/*
 * Mappings: zc_page_size, zc_map, zc_unmap, zc_madvise, zc_guarded_copy (SIGBUS
 * guard, chaining to the previous handler), zc_write_from_mapping.
 */
#define _GNU_SOURCE
#include "zc_xfer.h"

static size_t page;

/* Whether [addr, addr+len) is mapped (mincore fails with ENOMEM on unmapped pages). */
static int is_mapped(void *addr, size_t len) {
    unsigned char vec[64];
    if (len / page > sizeof vec) len = sizeof vec * page;
    return mincore(addr, len, vec) == 0;
}

/* A file of n pattern bytes (seed) and its content. */
static int pattern_file(size_t n, uint64_t seed, unsigned char **data) {
    *data = zt_data(n, seed);
    return zt_file_with(*data, n);
}

/* ------------------------------------------------------------------------- */
/* zc_map / zc_unmap / zc_madvise                                             */
/* ------------------------------------------------------------------------- */

static void test_page_size(void) {
    page = zc_page_size();
    CHECK_EQ(page, (size_t)sysconf(_SC_PAGESIZE));
    CHECK(page >= 4096 && (page & (page - 1)) == 0);
}

static void test_map_offsets(void) {
    const size_t flen = 64 * 1024 + 777;
    unsigned char *data;
    int fd = pattern_file(flen, 1, &data);
    const int64_t offs[] = {0, 1, 4095, 4096, 4097, 5000, 12288, 65536};
    const size_t lens[] = {1, 100, 4095, 4096, 4097, 20000};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            int64_t off = offs[i];
            size_t len = lens[j];
            if ((size_t)off + len > flen) continue;
            ZT_CTX("offset=%lld length=%zu", (long long)off, len);
            zc_mapping m;
            memset(&m, 0x77, sizeof m);
            REQUIRE(zc_map(fd, off, len, ZC_PROT_READ, ZC_MAP_SHARED, &m) == 0);
            size_t delta = (size_t)off % page;
            CHECK_EQ((uintptr_t)m.base % page, 0);
            CHECK(m.data == (char *)m.base + delta);
            CHECK_EQ(m.length, len);
            CHECK_EQ(m.map_length, len + delta);
            CHECK_MEM(m.data, data + off, len);
            CHECK(is_mapped(m.base, m.map_length));
            void *base = m.base;
            CHECK_RC(zc_unmap(&m), 0);
            CHECK(m.base == NULL && m.data == NULL && m.length == 0 && m.map_length == 0);
            CHECK(!is_mapped(base, page));
            CHECK_RC(zc_unmap(&m), 0); /* idempotent */
        }
    }
    zt_ctx[0] = '\0';
    /* populate, private and shared writes */
    zc_mapping m;
    REQUIRE(zc_map(fd, 4096, 8192, ZC_PROT_READ | ZC_PROT_WRITE, ZC_MAP_PRIVATE | ZC_MAP_POPULATE, &m) == 0);
    CHECK_MEM(m.data, data + 4096, 8192);
    memset(m.data, 'P', 100); /* private: the file does not change */
    CHECK_FILE_AT(fd, 4096, data + 4096, 100);
    /* MADV_DONTNEED on a private mapping drops the private copy: the file's bytes return */
    CHECK_RC(zc_madvise(&m, 0, 100, ZC_MADV_DONTNEED), 0);
    CHECK_MEM(m.data, data + 4096, 100);
    CHECK_RC(zc_unmap(&m), 0);
    REQUIRE(zc_map(fd, 5000, 100, ZC_PROT_READ | ZC_PROT_WRITE, ZC_MAP_SHARED, &m) == 0);
    memset(m.data, 'S', 100); /* shared: the file sees it at once */
    unsigned char s100[100];
    memset(s100, 'S', sizeof s100);
    CHECK_FILE_AT(fd, 5000, s100, 100);
    CHECK_RC(zc_unmap(&m), 0);
    close(fd);
    free(data);
}

static void test_map_errors(void) {
    unsigned char *data;
    int fd = pattern_file(10000, 2, &data);
    zc_mapping m;
    CHECK_RC(zc_map(fd, 0, 0, ZC_PROT_READ, ZC_MAP_SHARED, &m), -EINVAL);
    CHECK_RC(zc_map(-1, 0, 10, ZC_PROT_READ, ZC_MAP_SHARED, &m), -EBADF);
    CHECK_RC(zc_map(fd, -4096, 10, ZC_PROT_READ, ZC_MAP_SHARED, &m), -EINVAL);
    CHECK_RC(zc_map(fd, 0, 10, ZC_PROT_READ, ZC_MAP_SHARED | ZC_MAP_PRIVATE, &m), -EINVAL);
    CHECK_RC(zc_map(fd, 0, 10, ZC_PROT_READ, 0, &m), -EINVAL);
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    CHECK_RC(zc_map(pp[0], 0, 10, ZC_PROT_READ, ZC_MAP_SHARED, &m), -ENODEV);
    close(pp[0]);
    close(pp[1]);
    /* writable shared mapping of a read-only descriptor */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = (int)SYS(open(path, O_RDONLY | O_CLOEXEC));
    CHECK_RC(zc_map(ro, 0, 10, ZC_PROT_READ | ZC_PROT_WRITE, ZC_MAP_SHARED, &m), -EACCES);
    /* (a private writable mapping of it is fine) */
    CHECK_RC(zc_map(ro, 0, 10, ZC_PROT_READ | ZC_PROT_WRITE, ZC_MAP_PRIVATE, &m), 0);
    CHECK_RC(zc_unmap(&m), 0);
    close(ro);
    int wo = (int)SYS(open(path, O_WRONLY | O_CLOEXEC));
    CHECK_RC(zc_map(wo, 0, 10, ZC_PROT_READ, ZC_MAP_SHARED, &m), -EACCES);
    close(wo);
    close(fd);
    free(data);
}

static void test_madvise(void) {
    unsigned char *data;
    int fd = pattern_file(100000, 3, &data);
    zc_mapping m;
    REQUIRE(zc_map(fd, 5000, 50000, ZC_PROT_READ, ZC_MAP_SHARED, &m) == 0);
    const int advice[] = {ZC_MADV_NORMAL, ZC_MADV_RANDOM, ZC_MADV_SEQUENTIAL, ZC_MADV_WILLNEED,
                          ZC_MADV_POPULATE_READ, ZC_MADV_DONTNEED};
    for (size_t i = 0; i < sizeof advice / sizeof advice[0]; i++) {
        ZT_CTX("advice %d", advice[i]);
        CHECK_RC(zc_madvise(&m, 0, 50000, advice[i]), 0);
        CHECK_RC(zc_madvise(&m, 1, 1, advice[i]), 0);
        CHECK_RC(zc_madvise(&m, 49999, 1, advice[i]), 0);
        CHECK_RC(zc_madvise(&m, 50000, 0, advice[i]), 0);
    }
    zt_ctx[0] = '\0';
    CHECK_MEM(m.data, data + 5000, 50000);
    /* outside the requested range */
    CHECK_RC(zc_madvise(&m, 0, 50001, ZC_MADV_NORMAL), -EINVAL);
    CHECK_RC(zc_madvise(&m, 50001, 0, ZC_MADV_NORMAL), -EINVAL);
    CHECK_RC(zc_madvise(&m, 40000, 10001, ZC_MADV_NORMAL), -EINVAL);
    CHECK_RC(zc_madvise(&m, SIZE_MAX, 2, ZC_MADV_NORMAL), -EINVAL);
    CHECK_RC(zc_madvise(&m, 2, SIZE_MAX, ZC_MADV_NORMAL), -EINVAL);
    /* an advice the kernel does not know */
    CHECK_RC(zc_madvise(&m, 0, 100, 9999), -EINVAL);
    CHECK_RC(zc_unmap(&m), 0);
    CHECK_RC(zc_madvise(&m, 0, 1, ZC_MADV_NORMAL), -EINVAL); /* unmapped */
    close(fd);
    free(data);
}

/* ------------------------------------------------------------------------- */
/* zc_guarded_copy                                                            */
/* ------------------------------------------------------------------------- */

static void test_guarded_copy_plain(void) {
    unsigned char *a = zt_data(100000, 4), *b = zt_malloc(100000);
    size_t copied = 12345;
    CHECK_RC(zc_guarded_copy(b, a, 100000, &copied), 0);
    CHECK_EQ(copied, 100000);
    CHECK_MEM(b, a, 100000);
    copied = 12345;
    CHECK_RC(zc_guarded_copy(b, a, 0, &copied), 0);
    CHECK_EQ(copied, 0);
    CHECK_RC(zc_guarded_copy(b + 1, a + 3, 4097, NULL), 0);
    CHECK_MEM(b + 1, a + 3, 4097);
    /* from a healthy mapping at an unaligned offset */
    unsigned char *data;
    int fd = pattern_file(70000, 5, &data);
    zc_mapping m;
    REQUIRE(zc_map(fd, 5000, 60000, ZC_PROT_READ, ZC_MAP_SHARED, &m) == 0);
    copied = 0;
    CHECK_RC(zc_guarded_copy(b, m.data, 60000, &copied), 0);
    CHECK_EQ(copied, 60000);
    CHECK_MEM(b, data + 5000, 60000);
    zc_unmap(&m);
    close(fd);
    free(data);
    free(a);
    free(b);
}

/*
 * A file of 16 pages mapped whole, then truncated to 5 pages + 100 bytes.
 * Pages 0..5 stay readable (page 5 reads zeros after byte 100: the kernel zeroes
 * the tail of the page holding the new end); page 6 and later raise SIGBUS.
 */
typedef struct truncated {
    int fd;
    unsigned char *data;  /* the original content */
    unsigned char *want;  /* what the first 6 pages read as now */
    zc_mapping m;
} truncated;

static void truncated_make(truncated *t, int writable) {
    const size_t n = 16 * page;
    t->fd = pattern_file(n, 6, &t->data);
    int prot = ZC_PROT_READ | (writable ? ZC_PROT_WRITE : 0);
    if (zc_map(t->fd, 0, n, prot, ZC_MAP_SHARED | ZC_MAP_POPULATE, &t->m) != 0) {
        fprintf(stderr, "zc_map failed\n");
        exit(1);
    }
    SYS(ftruncate(t->fd, (off_t)(5 * page + 100)));
    t->want = zt_malloc(6 * page);
    memcpy(t->want, t->data, 5 * page + 100);
    memset(t->want + 5 * page + 100, 0, page - 100);
}

static void truncated_free(truncated *t) {
    zc_unmap(&t->m);
    close(t->fd);
    free(t->data);
    free(t->want);
}

static void check_fault_result(int rc, size_t copied, const unsigned char *dst,
                               const unsigned char *want, size_t max_ok) {
    CHECK_RC(rc, -EFAULT);
    /* a page-exact lower bound: a multiple of the page, at most one page short */
    CHECK_EQ(copied % page, 0);
    CHECK(copied <= max_ok && copied + page >= max_ok);
    CHECK_MEM(dst, want, copied);
}

static void test_guarded_copy_truncated_source(void) {
    truncated t;
    truncated_make(&t, 0);
    unsigned char *dst = zt_malloc(16 * page);
    size_t copied = 0;
    int rc = zc_guarded_copy(dst, t.m.data, 16 * page, &copied);
    check_fault_result(rc, copied, dst, t.want, 6 * page);
    /* the readable part still copies */
    copied = 0;
    CHECK_RC(zc_guarded_copy(dst, t.m.data, 6 * page, &copied), 0);
    CHECK_EQ(copied, 6 * page);
    CHECK_MEM(dst, t.want, 6 * page);
    /* starting in the dead part: nothing */
    copied = 99;
    CHECK_RC(zc_guarded_copy(dst, (char *)t.m.data + 7 * page + 5, 100, &copied), -EFAULT);
    CHECK_EQ(copied, 0);
    /* many times: no leak of stack, mask or state; SIGBUS is not left blocked */
    for (int i = 0; i < 2000; i++) {
        if (zc_guarded_copy(dst, (char *)t.m.data + 6 * page - 10, 20, NULL) != -EFAULT) {
            CHECK(!"guarded copy stopped returning -EFAULT");
            break;
        }
    }
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    CHECK(!sigismember(&mask, SIGBUS));
    truncated_free(&t);
    free(dst);
}

static void test_guarded_copy_truncated_destination(void) {
    truncated t;
    truncated_make(&t, 1);
    unsigned char *src = zt_data(16 * page, 7);
    size_t copied = 0;
    int rc = zc_guarded_copy(t.m.data, src, 16 * page, &copied);
    CHECK_RC(rc, -EFAULT);
    /* a lower bound within one page of the truth (the copy goes in source-page
     * steps, so with an unaligned source it is not a multiple of the page) */
    CHECK(copied <= 6 * page && copied + page >= 6 * page);
    /* what was copied reached the file (shared mapping) */
    CHECK_FILE_AT(t.fd, 0, src, copied < 5 * page ? copied : 5 * page);
    truncated_free(&t);
    free(src);
}

typedef struct guard_thread_arg {
    const truncated *t;
    int faults_ok, copies_ok;
} guard_thread_arg;

static void *guard_thread(void *arg) {
    guard_thread_arg *a = arg;
    unsigned char buf[256];
    for (int i = 0; i < 500; i++) {
        if (zc_guarded_copy(buf, (char *)a->t->m.data + 9 * page + (size_t)i, 100, NULL) == -EFAULT)
            a->faults_ok++;
        if (zc_guarded_copy(buf, (char *)a->t->m.data + (size_t)i, 200, NULL) == 0 &&
            memcmp(buf, a->t->want + i, 200) == 0)
            a->copies_ok++;
    }
    return NULL;
}

static void test_guarded_copy_threads(void) {
    truncated t;
    truncated_make(&t, 0);
    pthread_t th[4];
    guard_thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (guard_thread_arg){&t, 0, 0};
        REQUIRE(pthread_create(&th[i], NULL, guard_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].faults_ok, 500);
        CHECK_EQ(args[i].copies_ok, 500);
    }
    truncated_free(&t);
}

/* A thread with an alternate signal stack (as Swift's runtime threads may have). */
static void *altstack_thread(void *arg) {
    const truncated *t = arg;
    stack_t ss;
    ss.ss_sp = malloc(65536);
    ss.ss_size = 65536;
    ss.ss_flags = 0;
    if (ss.ss_sp == NULL || sigaltstack(&ss, NULL) != 0) return (void *)1;
    unsigned char buf[64];
    intptr_t bad = 0;
    for (int i = 0; i < 100; i++)
        if (zc_guarded_copy(buf, (char *)t->m.data + 8 * page, 64, NULL) != -EFAULT) bad++;
    if (zc_guarded_copy(buf, t->m.data, 64, NULL) != 0 || memcmp(buf, t->want, 64) != 0) bad++;
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    return (void *)bad;
}

static void test_guarded_copy_altstack(void) {
    truncated t;
    truncated_make(&t, 0);
    pthread_t th;
    void *res = NULL;
    REQUIRE(pthread_create(&th, NULL, altstack_thread, &t) == 0);
    pthread_join(th, &res);
    CHECK_EQ((intptr_t)res, 0);
    truncated_free(&t);
}

/* --- SIGBUS outside a guarded copy: chained to what was installed before --- */

static void *volatile expected_fault_addr; /* volatile: set before the faulting load */

static void prior_siginfo_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    _exit(sig == SIGBUS && si != NULL && si->si_addr == expected_fault_addr ? 42 : 43);
}

static void prior_plain_handler(int sig) { _exit(sig == SIGBUS ? 44 : 45); }

/* mode: 0 default action, 1 SA_SIGINFO handler, 2 plain handler, 3 SIG_IGN */
static int sigbus_child(void *arg) {
    int mode = (int)(intptr_t)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (mode == 1) {
        sa.sa_sigaction = prior_siginfo_handler;
        sa.sa_flags = SA_SIGINFO;
    } else if (mode == 2) {
        sa.sa_handler = prior_plain_handler;
    } else if (mode == 3) {
        sa.sa_handler = SIG_IGN;
    } else {
        sa.sa_handler = SIG_DFL;
    }
    CHILD_CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
    truncated t;
    truncated_make(&t, 0);
    /* install the guard (first call) and check that it still works with a prior handler */
    unsigned char buf[64];
    CHILD_CHECK(zc_guarded_copy(buf, t.m.data, 64, NULL) == 0);
    CHILD_CHECK(zc_guarded_copy(buf, (char *)t.m.data + 10 * page, 64, NULL) == -EFAULT);
    /* now an unguarded access to a dead page */
    volatile unsigned char *dead = (unsigned char *)t.m.data + 12 * page + 3;
    expected_fault_addr = (void *)dead;
    unsigned char v = *dead;
    fprintf(stderr, "unguarded read of a truncated page returned 0x%02x\n", v);
    return 99; /* survived: wrong */
}

static void test_sigbus_outside_guard_chains(void) {
    int st = zt_fork_run(sigbus_child, (void *)0, 10);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS))
        zt_fail(__FILE__, __LINE__, "default action: child %s, expected killed by SIGBUS",
                zt_wait_string(st));
    st = zt_fork_run(sigbus_child, (void *)1, 10);
    CHECK_EXITED(st, 42); /* the prior SA_SIGINFO handler ran with the faulting address */
    st = zt_fork_run(sigbus_child, (void *)2, 10);
    CHECK_EXITED(st, 44); /* the prior plain handler ran */
    st = zt_fork_run(sigbus_child, (void *)3, 10);
    /* SIG_IGN cannot ignore a fault: the kernel kills with SIGBUS */
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS))
        zt_fail(__FILE__, __LINE__, "prior SIG_IGN: child %s, expected killed by SIGBUS",
                zt_wait_string(st));
}

/* ------------------------------------------------------------------------- */
/* zc_write_from_mapping                                                      */
/* ------------------------------------------------------------------------- */

static const zt_xfer wfm = {.name = "zc_write_from_mapping", .run = zt_run_buf_writer,
                            .has_off_out = 1, .write_buf = zc_write_from_mapping};

static void test_write_from_mapping_files(void) {
    for (size_t i = 0; i < ZT_NSIZES; i++) {
        zt_xfer_file_to_file_one(&wfm, zt_sizes[i], 1);
        zt_xfer_file_to_file_one(&wfm, zt_sizes[i], 0);
    }
    zt_ctx[0] = '\0';
}

static void test_write_from_mapping_streams(void) {
    for (int kind = ZT_PIPE; kind <= ZT_TCP; kind++) {
        for (size_t i = 0; i < ZT_NSIZES; i++) zt_xfer_file_to_stream_one(&wfm, zt_sizes[i], kind, 0);
        zt_xfer_file_to_stream_one(&wfm, 100003, kind, 1);
    }
    zt_ctx[0] = '\0';
}

static void test_write_from_mapping_again(void) { zt_xfer_nonblocking_again(&wfm); }
static void test_write_from_mapping_peer_closed(void) { zt_xfer_peer_closed(&wfm); }
static void test_write_from_mapping_fsize(void) { zt_xfer_fsize_limit(&wfm); }

/*
 * The file behind the mapping was truncated to 5 pages + 100 bytes. Measured on
 * 6.18: write() copies from the mapping in the kernel, so it stops at the first
 * page past the new end of file: it delivers the whole page that holds the new
 * end (the 100 bytes, then zeros to the page boundary), i.e. the truncated size
 * rounded UP to a page, then fails with EFAULT. No SIGBUS reaches user space.
 * So progress.bytes == round_up(5 * page + 100, page) == 6 * page, not 5 * page + 100.
 * (Runs in a child with SIGBUS at its default action: touching the pages in user
 * space would kill it.)
 */
static int wfm_truncated_child(void *arg) {
    (void)arg;
    truncated t;
    truncated_make(&t, 0);
    /* to a file, at an offset */
    int out = zt_tmpfile();
    zc_progress p;
    zt_progress_poison(&p);
    int rc = zc_write_from_mapping(out, t.m.data, 16 * page, 1000, &p);
    if (rc != -EFAULT || p.bytes != 6 * page) {
        fprintf(stderr, "to a file: got %s with %" PRIu64 " bytes, expected -EFAULT with %zu\n",
                zt_status_name(rc), p.bytes, 6 * page);
        return 1;
    }
    CHILD_CHECK(zt_file_size(out) == (off_t)(1000 + 6 * page));
    size_t got;
    unsigned char *back = zt_pread_back(out, 1000, 6 * page, &got);
    CHILD_CHECK(got == 6 * page && memcmp(back, t.want, 6 * page) == 0);
    free(back);
    /* to a file by position */
    CHILD_CHECK(ftruncate(out, 0) == 0 && lseek(out, 0, SEEK_SET) == 0);
    rc = zc_write_from_mapping(out, t.m.data, 16 * page, -1, &p);
    CHILD_CHECK(rc == -EFAULT && p.bytes == 6 * page);
    CHILD_CHECK(lseek(out, 0, SEEK_CUR) == (off_t)(6 * page));
    /* to a pipe large enough for all of it */
    int pp[2];
    CHILD_CHECK(zc_pipe(pp, 0) == 0);
    CHILD_CHECK(zc_pipe_set_capacity(pp[0], 1 << 20) == 1 << 20);
    rc = zc_write_from_mapping(pp[1], t.m.data, 16 * page, -1, &p);
    if (rc != -EFAULT || p.bytes != 6 * page) {
        fprintf(stderr, "to a pipe: got %s with %" PRIu64 " bytes, expected -EFAULT with %zu\n",
                zt_status_name(rc), p.bytes, 6 * page);
        return 1;
    }
    CHILD_CHECK(zc_readable_bytes(pp[0]) == (int)(6 * page));
    unsigned char *pb = zt_malloc(6 * page);
    CHILD_CHECK(read(pp[0], pb, 6 * page) == (ssize_t)(6 * page));
    CHILD_CHECK(memcmp(pb, t.want, 6 * page) == 0);
    /* starting in the dead part: -EFAULT after 0 bytes */
    rc = zc_write_from_mapping(out, (char *)t.m.data + 8 * page, 100, 0, &p);
    CHILD_CHECK(rc == -EFAULT && p.bytes == 0);
    /* the live part alone is fine */
    rc = zc_write_from_mapping(out, t.m.data, 6 * page, 0, &p);
    CHILD_CHECK(rc == ZC_DONE && p.bytes == 6 * page);
    truncated_free(&t);

    /* unaligned start: mapping from offset 5000, file cut to 20000 bytes:
     * deliverable = round_up(20000, page) - 5000 */
    unsigned char *data;
    int fd = pattern_file(100000, 8, &data);
    zc_mapping m;
    CHILD_CHECK(zc_map(fd, 5000, 90000, ZC_PROT_READ, ZC_MAP_SHARED, &m) == 0);
    CHILD_CHECK(ftruncate(fd, 20000) == 0);
    CHILD_CHECK(ftruncate(out, 0) == 0);
    rc = zc_write_from_mapping(out, m.data, 90000, 0, &p);
    size_t expect = ((20000 + page - 1) / page) * page - 5000;
    if (rc != -EFAULT || p.bytes != expect) {
        fprintf(stderr, "unaligned: got %s with %" PRIu64 " bytes, expected -EFAULT with %zu\n",
                zt_status_name(rc), p.bytes, expect);
        return 1;
    }
    back = zt_pread_back(out, 0, 15000, &got);
    CHILD_CHECK(got == 15000 && memcmp(back, data + 5000, 15000) == 0);
    /* truncated to 0: nothing */
    CHILD_CHECK(ftruncate(fd, 0) == 0);
    rc = zc_write_from_mapping(out, m.data, 90000, 0, &p);
    CHILD_CHECK(rc == -EFAULT && p.bytes == 0);
    zc_unmap(&m);
    return 0;
}

static void test_write_from_mapping_truncated(void) {
    CHECK_EXITED(zt_fork_run(wfm_truncated_child, NULL, 10), 0);
}

static void test_write_from_mapping_errors(void) {
    unsigned char *data;
    int fd = pattern_file(10000, 9, &data);
    zc_mapping m;
    REQUIRE(zc_map(fd, 0, 10000, ZC_PROT_READ, ZC_MAP_SHARED, &m) == 0);
    zc_progress p;
    zt_progress_poison(&p);
    CHECK_RC(zc_write_from_mapping(-1, m.data, 100, 0, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    int pp[2];
    REQUIRE(zc_pipe(pp, 0) == 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_write_from_mapping(pp[1], m.data, 100, 0, &p), -ESPIPE);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(zc_write_from_mapping(pp[1], m.data, 0, -1, &p), ZC_DONE);
    CHECK_U64(p.bytes, 0);
    close(pp[0]);
    close(pp[1]);
    zc_unmap(&m);
    close(fd);
    free(data);
}

int main(void) {
    page = zc_page_size();
    /* first: its children must start without the guard's handler installed
     * (a forked child inherits it, and sigaction() in the child would replace it) */
    ZT_RUN(test_sigbus_outside_guard_chains);
    ZT_RUN(test_page_size);
    ZT_RUN(test_map_offsets);
    ZT_RUN(test_map_errors);
    ZT_RUN(test_madvise);
    ZT_RUN(test_guarded_copy_plain);
    ZT_RUN(test_guarded_copy_truncated_source);
    ZT_RUN(test_guarded_copy_truncated_destination);
    ZT_RUN(test_guarded_copy_threads);
    ZT_RUN(test_guarded_copy_altstack);
    ZT_RUN(test_write_from_mapping_files);
    ZT_RUN(test_write_from_mapping_streams);
    ZT_RUN(test_write_from_mapping_again);
    ZT_RUN(test_write_from_mapping_peer_closed);
    ZT_RUN(test_write_from_mapping_fsize);
    ZT_RUN(test_write_from_mapping_truncated);
    ZT_RUN(test_write_from_mapping_errors);
    return zt_finish();
}
