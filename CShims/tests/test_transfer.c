/*
 * The automatic choice in C: the decision table (zc_plan, zc_plan_table, parameters),
 * endpoint inspection, and zc_transfer — the shared "_all" scenarios, the method each
 * pair of real descriptors gets, the fallbacks (forced with a seccomp filter in a child),
 * and sparse files (only data segments copied; holes stay holes, also over old data).
 */
#define _GNU_SOURCE
#include "zc_xfer.h"

#include <linux/audit.h>
#include <linux/falloc.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/un.h>

/* zc_transfer through the shared scenarios' adapter. */
static int run_transfer(const zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
                        uint64_t count, zc_progress *p) {
    (void)x;
    zc_transfer_report r;
    memset(&r, 0x5A, sizeof r);
    int rc = zc_transfer(in, off_in, out, off_out, count, NULL, &r);
    p->bytes = r.bytes;
    p->syscalls = r.syscalls;
    p->discarded = r.discarded;
    return rc;
}

static const zt_xfer tr = {.name = "zc_transfer", .run = run_transfer, .has_off_out = 1};

static void test_transfer_files(void) { zt_xfer_file_matrix(&tr); }
static void test_transfer_truncated_source(void) { zt_xfer_truncated_source(&tr); }
static void test_transfer_streams(void) {
    zt_xfer_to_streams(&tr);
    zt_xfer_from_streams(&tr);
}
static void test_transfer_nonblocking(void) {
    zt_xfer_nonblocking_again(&tr);
    zt_xfer_nonseekable_to_nonblocking(&tr);
}
static void test_transfer_peer_closed(void) { zt_xfer_peer_closed(&tr); }
static void test_transfer_fsize(void) { zt_xfer_fsize_limit(&tr); }
static void test_transfer_ebadf(void) { zt_xfer_ebadf(&tr); }

/* ------------------------------------------------------------------------- */
/* The table                                                                  */
/* ------------------------------------------------------------------------- */

enum { CFR = ZC_METHOD_COPY_FILE_RANGE, SF = ZC_METHOD_SENDFILE, SP = ZC_METHOD_SPLICE, RW = ZC_METHOD_READ_WRITE };

/* "cfr,sf,rw"-style rendering of a plan, for messages and comparisons. */
static const char *plan_string(const zc_plan_params *params, int src, int dst, uint32_t facts, uint64_t bytes) {
    static char b[4][96];
    static int next;
    char *s = b[next++ & 3];
    uint8_t m[ZC_PLAN_MAX];
    int n = zc_plan(params, src, dst, facts, bytes, m);
    if (n < 0) {
        snprintf(s, 96, "error %d", n);
        return s;
    }
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(s, zc_method_name(m[i]));
        if (i + 1 < n) strcat(s, ",");
    }
    return s;
}

/* The parameters the row tests decide with: explicit, so that rederiving the built-in
 * table (make builtin-profile) changes no expectation here. */
static zc_plan_params fixture(void) {
    zc_plan_params p;
    memset(&p, 0, sizeof p);
    p.value[ZC_PARAM_SMALL_COPY_MAX] = 16384;
    p.value[ZC_PARAM_READ_WRITE_BUFFER] = 131072;
    p.value[ZC_PARAM_COPY_FILE_RANGE_MAX] = 262144;
    p.value[ZC_PARAM_PIPE_SENDFILE_MAX] = ZC_PARAM_UNLIMITED;
    p.value[ZC_PARAM_SOCKET_SENDFILE_MAX] = 262144;
    return p;
}

#define CHECK_PLAN(params, src, dst, facts, bytes, want)                                        \
    do {                                                                                        \
        const char *zt_got_ = plan_string((params), (src), (dst), (facts), (bytes));            \
        if (strcmp(zt_got_, (want)) != 0)                                                       \
            zt_fail(__FILE__, __LINE__, "plan(%s -> %s, facts %u, %llu bytes): %s, expected %s", \
                    #src, #dst, (unsigned)(facts), (unsigned long long)(bytes), zt_got_, (want)); \
    } while (0)

/* Docs/Transfer.md's rows, one pair each. */
static void test_plan_rows(void) {
    const uint64_t U = ZC_UNTIL_EOF;
    const zc_plan_params fx = fixture();
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM, 4096, "copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM, U, "copyFileRange,sendfile,readWrite");
    /* a filesystem whose copy_file_range copies in the kernel: splice above the crossover */
    const uint64_t SAME_KC = ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY;
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, 256 << 10, "copyFileRange,sendfile,readWrite");
    /* ... and read/write up to smallCopyMax, where copy_file_range is the kernel's splice */
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, 0, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, 4096, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, 16384, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, 16385, "copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, (256 << 10) + 1, "splice,copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, SAME_KC, U, "splice,copyFileRange,sendfile,readWrite");
    /* the fact alone (other filesystems) changes nothing */
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_KERNEL_COPY, 1 << 20, "sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_BLOCK_DEVICE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM, 1, "copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, 0, 4096, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, 0, 16384, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, 0, 16385, "sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, 0, U, "sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_BLOCK_DEVICE, 0, 1 << 20, "sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_PIPE, 0, 4096, "sendfile,splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_PIPE, 0, 1 << 30, "sendfile,splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_PIPE, 0, U, "splice,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_TCP_SOCKET, 0, 4096, "sendfile,splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_TCP_SOCKET, 0, 256 << 10, "sendfile,splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_TCP_SOCKET, 0, (256 << 10) + 1, "splice,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_UNIX_SOCKET, 0, U, "splice,sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_OTHER_SOCKET, 0, 1, "sendfile,splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_CHARACTER_DEVICE, 0, U, "sendfile,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_PSEUDO_FILE, 0, U, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_OTHER, 0, U, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_PIPE, ZC_KIND_FILE, 0, U, "splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_TCP_SOCKET, ZC_KIND_PIPE, 0, U, "splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_UNIX_SOCKET, ZC_KIND_TCP_SOCKET, 0, 4096, "splice,readWrite");
    CHECK_PLAN(&fx, ZC_KIND_OTHER_SOCKET, ZC_KIND_FILE, 0, U, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_PSEUDO_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM, U, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_CHARACTER_DEVICE, ZC_KIND_FILE, 0, U, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_OTHER, ZC_KIND_PIPE, 0, U, "readWrite");
    /* O_APPEND destinations beat every other row */
    CHECK_PLAN(&fx, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_APPEND_DESTINATION, U, "readWrite");
    CHECK_PLAN(&fx, ZC_KIND_PIPE, ZC_KIND_FILE, ZC_PAIR_APPEND_DESTINATION, U, "readWrite");
    /* bad input */
    uint8_t m[ZC_PLAN_MAX];
    CHECK_RC(zc_plan(NULL, -1, ZC_KIND_FILE, 0, 0, m), -EINVAL);
    CHECK_RC(zc_plan(NULL, ZC_KIND_FILE, ZC_KIND_COUNT, 0, 0, m), -EINVAL);
    CHECK_RC(zc_plan(NULL, ZC_KIND_FILE, ZC_KIND_FILE, 0, 0, NULL), -EINVAL);
}

/* The crossover is a parameter, not a constant: a calibration moves it. */
static void test_plan_parameters(void) {
    zc_plan_params b;
    memset(&b, 0x77, sizeof b);
    zc_plan_params_default(&b);
    /* the committed built-in profile (Docs/bench/profile/builtin.profile), in range */
    zc_profile builtin;
    zc_profile_builtin(&builtin);
    CHECK(memcmp(&b, &builtin.params, sizeof b) == 0);
    CHECK(b.value[ZC_PARAM_READ_WRITE_BUFFER] >= 4096 && b.value[ZC_PARAM_READ_WRITE_BUFFER] <= (64u << 20));
    for (int i = 0; i < ZC_PARAM_COUNT; i++)
        CHECK(b.value[i] == ZC_PARAM_UNLIMITED || b.value[i] <= (UINT64_C(1) << 62));
    for (int i = ZC_PARAM_COUNT; i < ZC_PARAM_MAX; i++) CHECK_U64(b.value[i], 0);
    const zc_plan_params d = fixture();
    CHECK(strcmp(zc_plan_param_name(ZC_PARAM_SMALL_COPY_MAX), "smallCopyMax") == 0);
    CHECK(strcmp(zc_plan_param_name(ZC_PARAM_READ_WRITE_BUFFER), "readWriteBuffer") == 0);
    CHECK(strcmp(zc_plan_param_name(ZC_PARAM_COPY_FILE_RANGE_MAX), "copyFileRangeMax") == 0);
    CHECK(strcmp(zc_plan_param_name(ZC_PARAM_PIPE_SENDFILE_MAX), "pipeSendfileMax") == 0);
    CHECK(strcmp(zc_plan_param_name(ZC_PARAM_SOCKET_SENDFILE_MAX), "socketSendfileMax") == 0);
    CHECK(zc_plan_param_name(ZC_PARAM_COUNT) == NULL);
    CHECK(zc_plan_param_name(-1) == NULL);

    zc_plan_params big = d;
    big.value[ZC_PARAM_SMALL_COPY_MAX] = 1 << 20;
    CHECK_PLAN(&big, ZC_KIND_FILE, ZC_KIND_FILE, 0, 65536, "readWrite");
    CHECK_PLAN(&big, ZC_KIND_FILE, ZC_KIND_FILE, 0, (1 << 20) + 1, "sendfile,readWrite");
    CHECK_PLAN(&big, ZC_KIND_FILE, ZC_KIND_FILE, 0, ZC_UNTIL_EOF, "sendfile,readWrite");
    zc_plan_params none = d;
    none.value[ZC_PARAM_SMALL_COPY_MAX] = 0;
    CHECK_PLAN(&none, ZC_KIND_FILE, ZC_KIND_FILE, 0, 1, "sendfile,readWrite");
    CHECK_PLAN(&none, ZC_KIND_FILE, ZC_KIND_FILE, 0, 0, "readWrite");
    /* the parameter changes only the rows that test a size */
    CHECK_PLAN(&big, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM, 4096, "copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&big, ZC_KIND_FILE, ZC_KIND_PIPE, 0, 4096, "sendfile,splice,readWrite");
    /* each route's crossover: 0 = the second list at every size, UNLIMITED = the first at
     * every known size (an unknown size takes the second) */
    zc_plan_params p = d;
    p.value[ZC_PARAM_PIPE_SENDFILE_MAX] = 0;
    p.value[ZC_PARAM_SOCKET_SENDFILE_MAX] = ZC_PARAM_UNLIMITED;
    p.value[ZC_PARAM_COPY_FILE_RANGE_MAX] = 1;
    p.value[ZC_PARAM_SMALL_COPY_MAX] = 0; /* no small-copy row: copy_file_range at 1 byte */
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_PIPE, 0, 1, "splice,sendfile,readWrite");
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_TCP_SOCKET, 0, 1 << 30, "sendfile,splice,readWrite");
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_TCP_SOCKET, 0, ZC_UNTIL_EOF, "splice,sendfile,readWrite");
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY, 1, "copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY, 2, "splice,copyFileRange,sendfile,readWrite");
    /* smallCopyMax above copyFileRangeMax: the splice row comes first */
    p.value[ZC_PARAM_SMALL_COPY_MAX] = 1 << 20;
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY, 2, "splice,copyFileRange,sendfile,readWrite");
    CHECK_PLAN(&p, ZC_KIND_FILE, ZC_KIND_FILE, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY, 1, "readWrite");
}

/* zc_plan_facts pays its fstatfs only when the fact decides the row. */
static void test_plan_facts(void) {
    const zc_plan_params fx = fixture();
    char dir[] = "/tmp/zc-facts-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    int kernel_copy = zc_fs_copies_in_kernel(fd);
    CHECK(kernel_copy == 0 || kernel_copy == 1);
    struct statfs sfs;
    REQUIRE(fstatfs(fd, &sfs) == 0);
    CHECK_EQ(kernel_copy, sfs.f_type == 0xEF53 || sfs.f_type == 0x01021994);
    const uint32_t same = ZC_PAIR_SAME_FILESYSTEM;
    uint32_t want_big = kernel_copy == 1 ? same | ZC_PAIR_KERNEL_COPY : same;
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 1 << 30, fd), want_big);
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, ZC_UNTIL_EOF, fd), want_big);
    /* no system call where the fact cannot change the row: a bad descriptor proves it */
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 65536, -1), same);
    /* nor, for one transfer, where it leads to the small-copy row (4 KiB, 16 KiB) */
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 4096, -1), same);
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 16384, -1), same);
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 4096, fd), same);
    /* a reused plan pays it there, and only where the row changes */
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 4096, fd), want_big);
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 16384, fd), want_big);
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 1 << 30, fd), want_big);
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 65536, -1), same);
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 16385, -1), same);
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 4096, -1), same); /* fstatfs failed */
    CHECK_EQ(zc_plan_facts_reused(&fx, ZC_KIND_FILE, ZC_KIND_FILE, 0, 4096, -1), 0);
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, 0, 1 << 30, -1), 0);
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_PIPE, 0, 1 << 30, -1), 0);
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same | ZC_PAIR_APPEND_DESTINATION, 1 << 30, -1),
             same | ZC_PAIR_APPEND_DESTINATION);
    /* where it would, a failed fstatfs keeps copy_file_range first */
    CHECK_EQ(zc_plan_facts(&fx, ZC_KIND_FILE, ZC_KIND_FILE, same, 1 << 30, -1), same);
    CHECK_RC(zc_fs_copies_in_kernel(-1), -EBADF);
    CHECK_EQ(zc_plan_facts(&fx, -1, ZC_KIND_FILE, same, 1 << 30, fd), same);
    close(fd);
    unlink(path);
    rmdir(dir);
}

/* Properties of the whole table, for every kind pair and fact combination. */
static void test_plan_table_invariants(void) {
    size_t rows = 0;
    const zc_plan_row *t = zc_plan_table(&rows);
    REQUIRE(t != NULL && rows >= 2);
    const zc_plan_row *last = &t[rows - 1];
    CHECK_EQ(last->sources, (1u << ZC_KIND_COUNT) - 1);
    CHECK_EQ(last->destinations, (1u << ZC_KIND_COUNT) - 1);
    CHECK_EQ(last->require, 0);
    CHECK_EQ(last->size_rule, ZC_SIZE_ANY);
    for (size_t i = 0; i < rows; i++) {
        ZT_CTX("row %zu", i);
        CHECK(t[i].why != NULL && strlen(t[i].why) > 10);
        CHECK(t[i].methods[0] != ZC_METHOD_NONE);
        CHECK(t[i].size_rule <= ZC_SIZE_ABOVE);
        CHECK(t[i].size_param < ZC_PARAM_COUNT);
        int n = 0;
        while (n < ZC_PLAN_MAX && t[i].methods[n] != ZC_METHOD_NONE) n++;
        CHECK_EQ(t[i].methods[n - 1], RW);
    }
    zt_ctx[0] = '\0';
    const uint64_t sizes[] = {0, 4096, 16384, 16385, 1 << 30, ZC_UNTIL_EOF};
    for (int s = 0; s < ZC_KIND_COUNT; s++)
        for (int d = 0; d < ZC_KIND_COUNT; d++)
            for (uint32_t f = 0; f < 8; f++)
                for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
                    uint8_t m[ZC_PLAN_MAX];
                    int n = zc_plan(NULL, s, d, f, sizes[z], m);
                    ZT_CTX("kinds %d -> %d facts %u size %llu", s, d, f, (unsigned long long)sizes[z]);
                    REQUIRE(n >= 1 && n <= ZC_PLAN_MAX);
                    CHECK_EQ(m[n - 1], RW);
                    for (int i = 0; i < n; i++) {
                        if (m[i] == CFR) CHECK(f & ZC_PAIR_SAME_FILESYSTEM);
                        if (m[i] == SF) CHECK(s == ZC_KIND_FILE || s == ZC_KIND_BLOCK_DEVICE);
                        if (f & ZC_PAIR_APPEND_DESTINATION) CHECK_EQ(m[i], RW);
                    }
                }
    zt_ctx[0] = '\0';
    CHECK(strcmp(zc_method_name(CFR), "copyFileRange") == 0);
    CHECK(strcmp(zc_method_name(SF), "sendfile") == 0);
    CHECK(strcmp(zc_method_name(SP), "splice") == 0);
    CHECK(strcmp(zc_method_name(RW), "readWrite") == 0);
    CHECK(strcmp(zc_method_name(ZC_METHOD_NONE), "none") == 0);
    CHECK(strcmp(zc_method_name(99), "?") == 0);
}

static void test_fallback_errnos(void) {
    const int want[] = {EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ENODEV};
    int yes = 0;
    for (int e = 1; e < 4096; e++) {
        int expected = 0;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) expected |= e == want[i];
        CHECK_EQ(zc_fallback_errno(e), expected);
        CHECK_EQ(zc_fallback_errno(-e), expected);
        yes += zc_fallback_errno(e);
    }
    CHECK_EQ(yes, 6);
    CHECK_EQ(zc_fallback_errno(0), 0);
}

/* ------------------------------------------------------------------------- */
/* Endpoints                                                                  */
/* ------------------------------------------------------------------------- */

static int kind_of(int fd) {
    zc_endpoint e;
    int rc = zc_endpoint_inspect(fd, &e);
    return rc < 0 ? rc : e.kind;
}

static void test_endpoint_inspect(void) {
    unsigned char data[5000];
    zt_fill(data, sizeof data, 3);
    int f = zt_file_with(data, sizeof data);
    zc_endpoint e;
    memset(&e, 0x33, sizeof e);
    CHECK_RC(zc_endpoint_inspect(f, &e), 0);
    CHECK_EQ(e.kind, ZC_KIND_FILE);
    CHECK_EQ(e.size, 5000);
    CHECK_EQ(e.append_only, 0);
    CHECK_EQ(e.non_blocking, 0);
    struct stat st;
    SYS(fstat(f, &st));
    CHECK_U64(e.device, (uint64_t)st.st_dev);
    CHECK_U64(e.inode, (uint64_t)st.st_ino);
    CHECK_EQ((int)e.mode, (int)(st.st_mode & 07777));
    SYS(fchmod(f, 04751));
    CHECK_RC(zc_endpoint_inspect(f, &e), 0);
    CHECK_EQ((int)e.mode, 04751);
    SYS(fchmod(f, 0600));

    int proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (proc >= 0) {
        CHECK_RC(zc_endpoint_inspect(proc, &e), 0);
        CHECK_EQ(e.kind, ZC_KIND_PSEUDO_FILE);
        CHECK_EQ(e.size, -1);
        close(proc);
    }
    int p[2];
    REQUIRE(zc_pipe(p, ZC_PIPE_NONBLOCK) == 0);
    CHECK_RC(zc_endpoint_inspect(p[1], &e), 0);
    CHECK_EQ(e.kind, ZC_KIND_PIPE);
    CHECK_EQ(e.non_blocking, 1);
    CHECK_EQ(e.size, -1);
    close(p[0]);
    close(p[1]);
    int sv[2];
    SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    CHECK_EQ(kind_of(sv[0]), ZC_KIND_UNIX_SOCKET);
    close(sv[0]);
    close(sv[1]);
    int t[2];
    zt_tcp_pair(t);
    CHECK_EQ(kind_of(t[0]), ZC_KIND_TCP_SOCKET);
    close(t[0]);
    close(t[1]);
    int udp = (int)SYS(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    CHECK_EQ(kind_of(udp), ZC_KIND_OTHER_SOCKET);
    close(udp);
    int null = (int)SYS(open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC));
    CHECK_RC(zc_endpoint_inspect(null, &e), 0);
    CHECK_EQ(e.kind, ZC_KIND_CHARACTER_DEVICE);
    CHECK_EQ(e.append_only, 1);
    close(null);
    int dir = (int)SYS(open(zt_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    CHECK_EQ(kind_of(dir), ZC_KIND_DIRECTORY);
    close(dir);
    CHECK_RC(zc_endpoint_inspect(-1, &e), -EBADF);
    CHECK_RC(zc_endpoint_inspect(f, NULL), -EFAULT);
    /* zc_endpoint_inspect_call names the call that failed */
    const char *failed = "unset";
    CHECK_RC(zc_endpoint_inspect_call(-1, &e, &failed), -EBADF);
    CHECK(failed != NULL && strcmp(failed, "fstat") == 0);
    failed = "unset";
    CHECK_RC(zc_endpoint_inspect_call(f, &e, &failed), 0);
    CHECK(failed == NULL);
    CHECK_EQ(e.kind, ZC_KIND_FILE);
    CHECK_EQ(e.size, 5000);
    failed = "unset";
    CHECK_RC(zc_endpoint_inspect_call(f, NULL, &failed), -EFAULT);
    CHECK(failed == NULL);
    CHECK_RC(zc_endpoint_inspect_call(-1, &e, NULL), -EBADF);
    close(f);

    /* pair facts */
    zc_endpoint a = {.kind = ZC_KIND_FILE, .device = 7}, b = {.kind = ZC_KIND_FILE, .device = 7};
    CHECK_EQ(zc_pair_facts(&a, &b), ZC_PAIR_SAME_FILESYSTEM);
    b.device = 8;
    CHECK_EQ(zc_pair_facts(&a, &b), 0);
    b.append_only = 1;
    CHECK_EQ(zc_pair_facts(&a, &b), ZC_PAIR_APPEND_DESTINATION);
    b.device = 7;
    b.kind = ZC_KIND_PIPE;
    CHECK_EQ(zc_pair_facts(&a, &b), ZC_PAIR_APPEND_DESTINATION); /* a pipe is on no filesystem of files */
    a.kind = ZC_KIND_PSEUDO_FILE;
    b.kind = ZC_KIND_FILE;
    b.append_only = 0;
    CHECK_EQ(zc_pair_facts(&a, &b), ZC_PAIR_SAME_FILESYSTEM); /* seekable, as Swift's isSameFileSystem */
    CHECK_EQ(zc_pair_facts(NULL, &b), 0);
}

/* ------------------------------------------------------------------------- */
/* zc_transfer: the method each pair gets                                     */
/* ------------------------------------------------------------------------- */

/* Whether $TMPDIR and /dev/shm are different writable filesystems. */
static int shm_is_other_fs(void) {
    struct stat a, b;
    if (stat(zt_tmpdir(), &a) < 0 || stat("/dev/shm", &b) < 0) return 0;
    return a.st_dev != b.st_dev && access("/dev/shm", W_OK) == 0;
}

/* The first method zc_plan gives these real descriptors with the host's profile (the
 * built-in table here: main sets ZEROCOPY_PROFILE=builtin). */
static int planned_method(int in, int out, uint64_t size) {
    zc_endpoint a, b;
    if (zc_endpoint_inspect(in, &a) < 0 || zc_endpoint_inspect(out, &b) < 0) return -1;
    const zc_plan_params *p = &zc_profile_host()->params;
    uint32_t facts = zc_plan_facts(p, a.kind, b.kind, zc_pair_facts(&a, &b), size, out);
    uint8_t m[ZC_PLAN_MAX];
    return zc_plan(p, a.kind, b.kind, facts, size, m) > 0 ? m[0] : -1;
}

/* Transfers all of a fresh `size`-byte file to `out` at offset 0; checks bytes and method
 * (PLANNED: the table's first method for this pair and size). */
#define PLANNED (-1)
static void expect_method(int out, size_t size, int method, const char *what) {
    ZT_CTX("%s, %zu bytes", what, size);
    unsigned char *data = zt_data(size, size + 11);
    int in = zt_file_with(data, size);
    if (method == PLANNED) method = planned_method(in, out, size);
    zc_transfer_report r;
    int rc = zc_transfer(in, NULL, out, NULL, ZC_UNTIL_EOF, NULL, &r);
    CHECK_RC(rc, ZC_DONE);
    CHECK_U64(r.bytes, size);
    CHECK_U64(r.hole_bytes, 0);
    if (r.method != method)
        zt_fail(__FILE__, __LINE__, "method %s, expected %s", zc_method_name(r.method), zc_method_name(method));
    CHECK_EQ(r.attempts, 0);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), (off_t)size);
    close(in);
    free(data);
    zt_ctx[0] = '\0';
}

static void test_transfer_methods(void) {
    int out = zt_tmpfile();
    expect_method(out, 100000, PLANNED, "file -> file, same filesystem");
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 100000);
    expect_method(out, 1 << 20, PLANNED, "file -> file, same filesystem, 1 MiB");
    /* the same copies with explicit parameters: splice above copyFileRangeMax where
     * copy_file_range would only copy in the kernel */
    const zc_plan_params fx = fixture();
    const int kernel_copy = zc_fs_copies_in_kernel(out) == 1;
    for (size_t i = 0; i < 2; i++) {
        const size_t size = i ? 1u << 20 : 100000;
        unsigned char *data = zt_data(size, 5);
        int in = zt_file_with(data, size);
        zc_transfer_report r;
        int64_t oi = 0, oo = 0;
        CHECK_RC(zc_transfer(in, &oi, out, &oo, ZC_UNTIL_EOF, &fx, &r), ZC_DONE);
        CHECK_EQ(r.method, i && kernel_copy ? SP : CFR);
        CHECK_U64(r.bytes, size);
        close(in);
        free(data);
    }
    close(out);
    if (shm_is_other_fs()) {
        out = zt_tmpfile_in("/dev/shm");
        expect_method(out, 4096, PLANNED, "file -> tmpfs, 4 KiB");
        close(out);
        out = zt_tmpfile_in("/dev/shm");
        expect_method(out, 1 << 20, PLANNED, "file -> tmpfs, 1 MiB");
        unsigned char *back = zt_malloc(1 << 20), *want = zt_data(1 << 20, (1 << 20) + 11);
        CHECK_EQ(pread(out, back, 1 << 20, 0), 1 << 20);
        CHECK_MEM(back, want, 1 << 20);
        free(back);
        free(want);
        close(out);
    } else {
        zt_note("/dev/shm is not another writable filesystem: cross-filesystem rows not run");
    }
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    REQUIRE(zc_pipe_set_capacity(p[1], 1 << 20) > 0);
    expect_method(p[1], 5000, PLANNED, "file -> pipe");
    close(p[0]);
    close(p[1]);
    int sv[2];
    SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    int big = 1 << 20;
    SYS(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big));
    expect_method(sv[0], 5000, PLANNED, "file -> AF_UNIX socket");
    close(sv[0]);
    close(sv[1]);
    int null = (int)SYS(open("/dev/null", O_WRONLY | O_CLOEXEC));
    expect_method(null, 5000, SF, "file -> /dev/null");
    close(null);

    /* pipe -> file: splice, with the file's position advanced */
    REQUIRE(zc_pipe(p, 0) == 0);
    unsigned char msg[3000];
    zt_fill(msg, sizeof msg, 9);
    CHECK_EQ(write(p[1], msg, sizeof msg), (ssize_t)sizeof msg);
    close(p[1]);
    out = zt_tmpfile();
    zc_transfer_report r;
    CHECK_RC(zc_transfer(p[0], NULL, out, NULL, ZC_UNTIL_EOF, NULL, &r), ZC_DONE);
    CHECK_EQ(r.method, SP);
    CHECK_U64(r.bytes, sizeof msg);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), (off_t)sizeof msg);
    CHECK_FILE_AT(out, 0, msg, sizeof msg);
    close(p[0]);
    close(out);
}

/* A pseudo file (size 0) is read to its real end with read/write. */
static void test_transfer_pseudo_file(void) {
    int proc = open("/proc/sys/kernel/ostype", O_RDONLY | O_CLOEXEC);
    if (proc < 0) {
        zt_note("no /proc/sys/kernel/ostype");
        return;
    }
    char want[256];
    ssize_t n = read(proc, want, sizeof want);
    REQUIRE(n > 0);
    SYS(lseek(proc, 0, SEEK_SET));
    int out = zt_tmpfile();
    zc_transfer_report r;
    CHECK_RC(zc_transfer(proc, NULL, out, NULL, ZC_UNTIL_EOF, NULL, &r), ZC_DONE);
    CHECK_EQ(r.method, RW);
    CHECK_EQ(r.attempts, 0);
    CHECK_U64(r.bytes, (uint64_t)n);
    CHECK_FILE_AT(out, 0, want, (size_t)n);
    close(proc);
    close(out);
}

/* O_APPEND destinations: read/write, appended after what is there. */
static void test_transfer_append(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-append-XXXXXX", zt_tmpdir());
    int a = (int)SYS(mkostemp(path, O_CLOEXEC | O_APPEND));
    unlink(path);
    unsigned char head[100], body[20000];
    zt_fill(head, sizeof head, 1);
    zt_fill(body, sizeof body, 2);
    CHECK_EQ(write(a, head, sizeof head), (ssize_t)sizeof head);
    int in = zt_file_with(body, sizeof body);
    zc_transfer_report r;
    CHECK_RC(zc_transfer(in, NULL, a, NULL, ZC_UNTIL_EOF, NULL, &r), ZC_DONE);
    CHECK_EQ(r.method, RW);
    CHECK_U64(r.bytes, sizeof body);
    CHECK_EQ(zt_file_size(a), (off_t)(sizeof head + sizeof body));
    CHECK_FILE_AT(a, 0, head, sizeof head);
    CHECK_FILE_AT(a, sizeof head, body, sizeof body);
    close(a);
    close(in);
}

/* Refusals before any I/O, and the same file at distinct ranges. */
static void test_transfer_refusals(void) {
    unsigned char data[8192];
    zt_fill(data, sizeof data, 5);
    int f = zt_file_with(data, sizeof data);
    int dir = (int)SYS(open(zt_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    zc_transfer_report r;
    CHECK_RC(zc_transfer(dir, NULL, f, NULL, 10, NULL, &r), -EISDIR);
    CHECK_RC(zc_transfer(f, NULL, dir, NULL, 10, NULL, &r), -EISDIR);
    CHECK_U64(r.bytes, 0);
    close(dir);
    int64_t a = 0, b = 100;
    CHECK_RC(zc_transfer(f, &a, f, &b, 1000, NULL, &r), -EINVAL);
    CHECK_EQ(a, 0);
    CHECK_EQ(b, 100);
    b = 100;
    a = 0;
    CHECK_RC(zc_transfer(f, &a, f, &b, ZC_UNTIL_EOF, NULL, &r), -EINVAL); /* up to the end overlaps */
    a = -1;
    CHECK_RC(zc_transfer(f, &a, f, &b, 10, NULL, &r), -EINVAL);
    CHECK_FILE_AT(f, 0, data, sizeof data); /* untouched */
    /* the same file, ranges apart: fine */
    a = 0;
    b = 8192;
    CHECK_RC(zc_transfer(f, &a, f, &b, 4096, NULL, &r), ZC_DONE);
    CHECK_EQ(a, 4096);
    CHECK_EQ(b, 12288);
    CHECK_FILE_AT(f, 8192, data, 4096);
    close(f);
    CHECK_RC(zc_transfer(-1, NULL, 1, NULL, 10, NULL, NULL), -EBADF);
}

/* ------------------------------------------------------------------------- */
/* Fallbacks, forced by a seccomp filter in a child                           */
/* ------------------------------------------------------------------------- */

#if defined(__x86_64__)
#define TT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef TT_AUDIT_ARCH
typedef struct refusal {
    long nr;  /* system call */
    int ret;  /* the errno it returns (0: it "returns 0" without running) */
} refusal;

/* Up to two system calls answered with an errno (or 0) instead of running; the rest allowed. */
static int refuse(const refusal *r, int n) {
    struct sock_filter f[16];
    int k = 0;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TT_AUDIT_ARCH, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < n; i++) {
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)r[i].nr, 0, 1);
        f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)r[i].ret & SECCOMP_RET_DATA));
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {.len = (unsigned short)k, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

typedef struct fallback_case {
    refusal refused[2];
    int nrefused;
    int rc;             /* zc_transfer's expected return */
    int method;         /* the method that ran last */
    int attempts;       /* methods abandoned */
    int attempt_method[2];
    int attempt_error[2];
    size_t size;        /* bytes to copy (0: 200000, under copyFileRangeMax) */
} fallback_case;

static int fallback_child(void *arg) {
    const fallback_case *c = arg;
    const size_t size = c->size ? c->size : 200000;
    unsigned char *data = zt_data(size, 42);
    int in = zt_file_with(data, size);
    int out = zt_tmpfile();
    CHILD_CHECK(refuse(c->refused, c->nrefused) == 0);
    zc_transfer_report r;
    int64_t oi = 0, oo = 0;
    const zc_plan_params fx = fixture();
    int rc = zc_transfer(in, &oi, out, &oo, ZC_UNTIL_EOF, &fx, &r);
    if (rc != c->rc || r.method != c->method || r.attempts != c->attempts) {
        fprintf(stderr, "got %s via %s after %d attempts, expected %s via %s after %d\n", zt_status_name(rc),
                zc_method_name(r.method), r.attempts, zt_status_name(c->rc), zc_method_name(c->method),
                c->attempts);
        return 1;
    }
    for (int i = 0; i < c->attempts; i++) {
        CHILD_CHECK(r.attempt[i].method == c->attempt_method[i]);
        CHILD_CHECK(r.attempt[i].error == c->attempt_error[i]);
    }
    if (rc == ZC_DONE) {
        CHILD_CHECK(r.bytes == size && oi == (int64_t)size && oo == (int64_t)size);
        size_t got;
        unsigned char *back = zt_pread_back(out, 0, size, &got);
        CHILD_CHECK(got == size && memcmp(back, data, size) == 0);
        free(back);
    } else {
        CHILD_CHECK(r.bytes == 0 && oi == 0 && oo == 0 && zt_file_size(out) == 0);
    }
    return 0;
}

/* fcntl(F_GETFL) refused after fstat succeeded: the error names fcntl, not fstat. */
static int inspect_fcntl_refused_child(void *arg) {
    (void)arg;
    int f = zt_tmpfile();
    static const refusal refused[] = {{SYS_fcntl, EACCES}};
    CHILD_CHECK(refuse(refused, 1) == 0);
    zc_endpoint e;
    const char *failed = NULL;
    CHILD_CHECK(zc_endpoint_inspect_call(f, &e, &failed) == -EACCES);
    CHILD_CHECK(failed != NULL && strcmp(failed, "fcntl") == 0);
    CHILD_CHECK(zc_endpoint_inspect(f, &e) == -EACCES);
    return 0;
}

static void test_endpoint_inspect_failed_call(void) {
    CHECK_EXITED(zt_fork_run(inspect_fcntl_refused_child, NULL, 20), 0);
}

static void test_transfer_fallbacks(void) {
    const fallback_case cases[] = {
        /* copy_file_range refused: sendfile */
        {{{SYS_copy_file_range, ENOSYS}}, 1, ZC_DONE, SF, 1, {CFR}, {ENOSYS}, 0},
        {{{SYS_copy_file_range, EXDEV}}, 1, ZC_DONE, SF, 1, {CFR}, {EXDEV}, 0},
        /* a first call that moves 0 bytes from a non-empty file (kernels 5.3-5.18 with /proc) */
        {{{SYS_copy_file_range, 0}}, 1, ZC_DONE, SF, 1, {CFR}, {0}, 0},
        /* both refused: read/write */
        {{{SYS_copy_file_range, EOPNOTSUPP}, {SYS_sendfile, EINVAL}}, 2, ZC_DONE, RW, 2, {CFR, SF}, {EOPNOTSUPP, EINVAL}, 0},
        /* not a "not here" errno: returned, no fallback */
        {{{SYS_copy_file_range, EIO}}, 1, -EIO, CFR, 0, {0}, {0}, 0},
        {{{SYS_copy_file_range, ENOSYS}, {SYS_sendfile, ENOSPC}}, 2, -ENOSPC, SF, 1, {CFR}, {ENOSYS}, 0},
        /* the last method's fallback errno is returned as it is */
        {{{SYS_copy_file_range, EPERM}, {SYS_sendfile, EPERM}}, 2, ZC_DONE, RW, 2, {CFR, SF}, {EPERM, EPERM}, 0},
        /* above copyFileRangeMax on ext4/tmpfs, splice comes first: refused, copy_file_range */
        {{{SYS_splice, EINVAL}}, 1, ZC_DONE, CFR, 1, {SP}, {EINVAL}, 1 << 20},
        {{{SYS_splice, ENOSYS}, {SYS_copy_file_range, EXDEV}}, 2, ZC_DONE, SF, 2, {SP, CFR}, {ENOSYS, EXDEV}, 1 << 20},
    };
    int tmp = zt_tmpfile();
    const int splice_first = zc_fs_copies_in_kernel(tmp) == 1;
    close(tmp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].size > 0 && !splice_first) {
            zt_note("$TMPDIR is not ext4/tmpfs: copy_file_range stays first, splice cases not run");
            continue;
        }
        ZT_CTX("fallback case %zu", i);
        CHECK_EXITED(zt_fork_run(fallback_child, (void *)&cases[i], 20), 0);
    }
    zt_ctx[0] = '\0';
}
#else
static void test_transfer_fallbacks(void) { zt_note("no seccomp arch value for this architecture"); }
static void test_endpoint_inspect_failed_call(void) { zt_note("no seccomp arch value for this architecture"); }
#endif

/* ------------------------------------------------------------------------- */
/* Sparse files                                                               */
/* ------------------------------------------------------------------------- */

#define MiB (1 << 20)

/* A 3 MiB file: 4 KiB of data at 0 and at 1 MiB, holes elsewhere (the last one trailing).
 * Returns -1 when the filesystem does not make holes. */
static int sparse_source(const char *dir, unsigned char **content) {
    int fd = zt_tmpfile_in(dir);
    unsigned char *c = zt_malloc(3 * MiB);
    memset(c, 0, 3 * MiB);
    zt_fill(c, 4096, 1);
    zt_fill(c + MiB, 4096, 2);
    zt_pwrite_full(fd, c, 4096, 0);
    zt_pwrite_full(fd, c + MiB, 4096, MiB);
    SYS(ftruncate(fd, 3 * MiB));
    SYS(fsync(fd));
    struct stat st;
    SYS(fstat(fd, &st));
    if ((int64_t)st.st_blocks * 512 >= (int64_t)st.st_size) {
        close(fd);
        free(c);
        return -1;
    }
    *content = c;
    return fd;
}

static int64_t allocated(int fd) {
    struct stat st;
    SYS(fstat(fd, &st));
    return (int64_t)st.st_blocks * 512;
}

static void sparse_into(const char *src_dir, const char *dst_dir, const char *what) {
    ZT_CTX("%s", what);
    unsigned char *c;
    int in = sparse_source(src_dir, &c);
    if (in < 0) {
        zt_note("%s: the filesystem made no holes", src_dir);
        return;
    }
    /* 1. into a new file: holes stay holes */
    int out = zt_tmpfile_in(dst_dir);
    zc_transfer_report r;
    CHECK_RC(zc_transfer(in, NULL, out, NULL, ZC_UNTIL_EOF, NULL, &r), ZC_DONE);
    CHECK_U64(r.bytes, 3 * MiB);
    CHECK_U64(r.hole_bytes, 3 * MiB - 8192);
    CHECK_EQ(zt_file_size(out), 3 * MiB);
    CHECK_FILE_AT(out, 0, c, 3 * MiB);
    SYS(fsync(out));
    CHECK(allocated(out) <= 64 * 1024);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 3 * MiB);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 3 * MiB);
    close(out);

    /* 2. over a longer file full of 0xFF: the holes read back as zeros, the rest is kept */
    out = zt_tmpfile_in(dst_dir);
    unsigned char *old = zt_malloc(4 * MiB);
    memset(old, 0xFF, 4 * MiB);
    zt_pwrite_full(out, old, 4 * MiB, 0);
    int64_t oi = 0, oo = 0;
    CHECK_RC(zc_transfer(in, &oi, out, &oo, ZC_UNTIL_EOF, NULL, &r), ZC_DONE);
    CHECK_U64(r.bytes, 3 * MiB);
    CHECK_EQ(oi, 3 * MiB);
    CHECK_EQ(oo, 3 * MiB);
    CHECK_EQ(zt_file_size(out), 4 * MiB);
    memcpy(old, c, 3 * MiB);
    CHECK_FILE_AT(out, 0, old, 4 * MiB);
    close(out);

    /* 3. a range that starts in a hole, at offsets, asking past the end: ZC_EOF */
    out = zt_tmpfile_in(dst_dir);
    oi = 8192;
    oo = 100;
    CHECK_RC(zc_transfer(in, &oi, out, &oo, 4 * MiB, NULL, &r), ZC_EOF);
    CHECK_U64(r.bytes, 3 * MiB - 8192);
    CHECK_EQ(oi, 3 * MiB);
    CHECK_EQ(oo, 100 + 3 * MiB - 8192);
    CHECK_EQ(zt_file_size(out), 100 + 3 * MiB - 8192);
    CHECK_FILE_AT(out, 100, c + 8192, 3 * MiB - 8192);
    /* 4. a range inside one hole: nothing written, the destination extended */
    int out2 = zt_tmpfile_in(dst_dir);
    oi = 2 * MiB;
    CHECK_RC(zc_transfer(in, &oi, out2, NULL, 4096, NULL, &r), ZC_DONE);
    CHECK_U64(r.bytes, 4096);
    CHECK_U64(r.hole_bytes, 4096);
    CHECK_EQ(zt_file_size(out2), 4096);
    CHECK_FILE_AT(out2, 0, c + 2 * MiB, 4096);
    close(out2);
    close(out);
    close(in);
    free(old);
    free(c);
    zt_ctx[0] = '\0';
}

static void test_transfer_sparse(void) {
    sparse_into(zt_tmpdir(), zt_tmpdir(), "sparse file -> same filesystem");
    if (shm_is_other_fs()) {
        sparse_into(zt_tmpdir(), "/dev/shm", "sparse file -> tmpfs");
        sparse_into("/dev/shm", zt_tmpdir(), "sparse tmpfs file -> $TMPDIR");
    }
}

int main(void) {
    /* zc_transfer(..., NULL, ...) reads the host's profile: these tests expect the
     * built-in table, whatever profile the machine running them has. */
    setenv(ZC_PROFILE_ENV, "builtin", 1);
    ZT_RUN(test_plan_rows);
    ZT_RUN(test_plan_parameters);
    ZT_RUN(test_plan_facts);
    ZT_RUN(test_plan_table_invariants);
    ZT_RUN(test_fallback_errnos);
    ZT_RUN(test_endpoint_inspect);
    ZT_RUN(test_endpoint_inspect_failed_call);
    ZT_RUN(test_transfer_methods);
    ZT_RUN(test_transfer_pseudo_file);
    ZT_RUN(test_transfer_append);
    ZT_RUN(test_transfer_refusals);
    ZT_RUN(test_transfer_fallbacks);
    ZT_RUN(test_transfer_sparse);
    ZT_RUN(test_transfer_files);
    ZT_RUN(test_transfer_truncated_source);
    ZT_RUN(test_transfer_streams);
    ZT_RUN(test_transfer_nonblocking);
    ZT_RUN(test_transfer_peer_closed);
    ZT_RUN(test_transfer_fsize);
    ZT_RUN(test_transfer_ebadf);
    return zt_finish();
}
