/* zc_version, and a sanity check of zc_uring_probe / zc_uring_reason_string. */
#define _GNU_SOURCE
#include "zc_test.h"

#define STR2(x) #x
#define STR(x) STR2(x)

static void test_version(void) {
    const char *v = zc_version();
    REQUIRE(v != NULL);
    CHECK(strcmp(v, STR(ZC_VERSION_MAJOR) "." STR(ZC_VERSION_MINOR) "." STR(ZC_VERSION_PATCH)) == 0);
    CHECK(zc_version() == v || strcmp(zc_version(), v) == 0);
    int a, b, c;
    char extra;
    CHECK_EQ(sscanf(v, "%d.%d.%d%c", &a, &b, &c, &extra), 3);
    CHECK_EQ(a, ZC_VERSION_MAJOR);
    CHECK_EQ(b, ZC_VERSION_MINOR);
    CHECK_EQ(c, ZC_VERSION_PATCH);
}

static void test_constants(void) {
    /* the mirrored kernel values */
    CHECK_EQ(ZC_MAX_RW_COUNT, 0x7ffff000ull);
    CHECK_EQ(ZC_SPLICE_F_MOVE, 1);
    CHECK_EQ(ZC_SPLICE_F_NONBLOCK, 2);
    CHECK_EQ(ZC_SPLICE_F_MORE, 4);
    CHECK_EQ(ZC_SPLICE_F_GIFT, 8);
    CHECK_EQ(ZC_PROT_READ, PROT_READ);
    CHECK_EQ(ZC_PROT_WRITE, PROT_WRITE);
    CHECK_EQ(ZC_MAP_SHARED, MAP_SHARED);
    CHECK_EQ(ZC_MAP_PRIVATE, MAP_PRIVATE);
    CHECK_EQ(ZC_MAP_POPULATE, MAP_POPULATE);
    CHECK_EQ(ZC_MADV_DONTNEED, MADV_DONTNEED);
    CHECK_EQ(ZC_MADV_WILLNEED, MADV_WILLNEED);
    CHECK_EQ(ZC_MADV_SEQUENTIAL, MADV_SEQUENTIAL);
    CHECK_EQ(ZC_MADV_RANDOM, MADV_RANDOM);
    CHECK_EQ(ZC_MADV_HUGEPAGE, MADV_HUGEPAGE);
    CHECK_EQ(sizeof(((zc_sigguard *)0)->saved_mask) >= sizeof(sigset_t), 1);
    CHECK_EQ(ZC_UNTIL_EOF, UINT64_MAX);
}

static int read_proc_int(const char *path) {
    FILE *f = fopen(path, "re");
    if (f == NULL) return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1) v = -1;
    fclose(f);
    return v;
}

static void test_uring_probe(void) {
    unsetenv("ZEROCOPY_DISABLE_IO_URING");
    zc_uring_probe_result r;
    memset(&r, 0xAB, sizeof r);
    int rc = zc_uring_probe(&r);
    CHECK_EQ(r.sysctl_disabled, read_proc_int("/proc/sys/kernel/io_uring_disabled"));
    if (rc == 0) {
        CHECK_EQ(r.reason, ZC_URING_AVAILABLE);
        CHECK_EQ(r.setup_errno, 0);
        CHECK_EQ(r.register_errno, 0);
        CHECK(r.features != 0);
        CHECK(r.last_op >= 0 && r.last_op < 256);
        CHECK_EQ(r.op_supported[0 /* IORING_OP_NOP */], 1);
        int n = 0;
        for (int i = 0; i < 256; i++) {
            CHECK(r.op_supported[i] == 0 || r.op_supported[i] == 1);
            if (i > r.last_op) CHECK_EQ(r.op_supported[i], 0);
            n += r.op_supported[i];
        }
        CHECK(n > 1);
        printf("    io_uring available: last_op %d, %d ops, features 0x%x\n", r.last_op, n, r.features);
    } else {
        /* not available here: a negative errno and a reason that says why */
        CHECK(rc < 0);
        CHECK(r.reason > ZC_URING_AVAILABLE && r.reason <= ZC_URING_OTHER_ERROR);
        CHECK(r.reason != ZC_URING_DISABLED_BY_ENV);
        CHECK(r.setup_errno > 0 || r.register_errno > 0);
        printf("    io_uring unavailable here: %s (%s)\n", zc_uring_reason_string(r.reason),
               zt_errname(rc));
    }
    /* the environment override: exactly "1" */
    setenv("ZEROCOPY_DISABLE_IO_URING", "1", 1);
    memset(&r, 0xAB, sizeof r);
    CHECK_RC(zc_uring_probe(&r), -ECANCELED);
    CHECK_EQ(r.reason, ZC_URING_DISABLED_BY_ENV);
    CHECK_EQ(r.setup_errno, 0);
    CHECK_EQ(r.register_errno, 0);
    CHECK_EQ(r.sysctl_disabled, read_proc_int("/proc/sys/kernel/io_uring_disabled"));
    setenv("ZEROCOPY_DISABLE_IO_URING", "0", 1);
    memset(&r, 0xAB, sizeof r);
    CHECK_RC(zc_uring_probe(&r), rc);
    CHECK(r.reason != ZC_URING_DISABLED_BY_ENV);
    unsetenv("ZEROCOPY_DISABLE_IO_URING");
    CHECK_RC(zc_uring_probe(&r), rc);
}

static void test_uring_reason_strings(void) {
    const char *seen[8];
    for (int i = 0; i <= ZC_URING_OTHER_ERROR; i++) {
        const char *s = zc_uring_reason_string(i);
        REQUIRE(s != NULL);
        CHECK(strlen(s) > 10);
        seen[i] = s;
        for (int j = 0; j < i; j++) CHECK(strcmp(seen[j], s) != 0);
    }
    CHECK(strstr(zc_uring_reason_string(ZC_URING_DISABLED_BY_ENV), "ZEROCOPY_DISABLE_IO_URING") != NULL);
    CHECK(zc_uring_reason_string(-1) != NULL);
    CHECK(zc_uring_reason_string(1000) != NULL);
}

int main(void) {
    ZT_RUN(test_version);
    ZT_RUN(test_constants);
    ZT_RUN(test_uring_probe);
    ZT_RUN(test_uring_reason_strings);
    return zt_finish();
}
