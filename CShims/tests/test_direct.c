/* zc_o_direct_flag, zc_dio_alignment_query, zc_reopen. */
#define _GNU_SOURCE
#include "zc_test.h"

static void test_flag(void) {
    CHECK_EQ(zc_o_direct_flag(), O_DIRECT);
    CHECK(zc_o_direct_flag() != 0);
}

static void test_alignment(void) {
    int fd = zt_tmpfile();
    zc_dio_alignment a;
    memset(&a, 0xff, sizeof a);
    CHECK_RC(zc_dio_alignment_query(fd, &a), 0);
    /* Reported (ext4: the logical block size) or the fallback: powers of two, <= 4096. */
    CHECK(a.mem_align > 0 && (a.mem_align & (a.mem_align - 1)) == 0 && a.mem_align <= 4096);
    CHECK(a.offset_align > 0 && (a.offset_align & (a.offset_align - 1)) == 0 && a.offset_align <= 4096);
    CHECK(a.reported == 0 || a.reported == 1);
    if (!a.reported) CHECK(a.mem_align == 4096 && a.offset_align == 4096);
    close(fd);
    CHECK_RC(zc_dio_alignment_query(-1, &a), -EBADF);
    CHECK(a.mem_align == 4096 && a.offset_align == 4096 && a.reported == 0);
}

static void test_reopen(void) {
    unsigned char *data = zt_data(8192, 3);
    int fd = zt_file_with(data, 8192);
    int d = zc_reopen(fd, O_RDONLY | O_DIRECT);
    REQUIRE(d >= 0);
    CHECK((fcntl(d, F_GETFL) & O_DIRECT) != 0);
    CHECK((fcntl(fd, F_GETFL) & O_DIRECT) == 0);
    CHECK((fcntl(d, F_GETFD) & FD_CLOEXEC) != 0);
    void *buf = NULL;
    REQUIRE(posix_memalign(&buf, 4096, 8192) == 0);
    CHECK_EQ(pread(d, buf, 8192, 0), 8192);
    CHECK_MEM(buf, data, 8192);
    free(buf);
    close(d);
    CHECK_RC(zc_reopen(fd, O_RDWR | O_TRUNC), -EINVAL);
    CHECK_RC(zc_reopen(-1, O_RDONLY), -EBADF);
    close(fd);
    int proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    REQUIRE(proc >= 0);
    CHECK_RC(zc_reopen(proc, O_RDONLY | O_DIRECT), -EINVAL); /* procfs refuses O_DIRECT */
    close(proc);
    free(data);
}

int main(void) {
    ZT_RUN(test_flag);
    ZT_RUN(test_alignment);
    ZT_RUN(test_reopen);
    return zt_finish();
}
