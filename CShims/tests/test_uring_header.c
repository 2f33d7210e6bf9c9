/*
 * zerocopy_uring.h as a C user includes it: first, under -std=c11, without
 * defining _GNU_SOURCE ourselves (the header documents that order). Then a few
 * NOPs through a real ring, reaped with its helpers. Skips (77) when io_uring
 * is unavailable here.
 */
#include "zerocopy_uring.h"
#include "zc_test.h"

static struct io_uring ring;

static void test_nops_reaped(void) {
    zc_cqe out[8];
    CHECK_EQ(zc_uring_reap(&ring, out, 8), 0); /* empty */
    for (uint64_t i = 1; i <= 3; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        REQUIRE(sqe != NULL);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, 1000 + i);
        if (i < 3) zc_sqe_add_flags(sqe, ZC_IOSQE_IO_LINK);
    }
    CHECK_EQ(io_uring_submit_and_wait(&ring, 3), 3);
    struct io_uring_cqe *peek[8];
    CHECK_EQ(zc_uring_peek_batch(&ring, peek, 8), 3); /* in place, not consumed */
    CHECK_EQ(zc_uring_reap(&ring, out, 2), 2);        /* at most max */
    CHECK_EQ(zc_uring_reap(&ring, out + 2, 8), 1);
    CHECK_EQ(zc_uring_reap(&ring, out, 8), 0);
    /* linked NOPs complete in order */
    CHECK_EQ(out[0].user_data, 1001);
    CHECK_EQ(out[0].res, 0);
    CHECK_EQ(zc_cqe_buffer_id(out[0].flags), -1);
    CHECK_EQ(zc_uring_cq_overflow_count(&ring), 0);
    CHECK_EQ(zc_uring_sq_flags(&ring) & ZC_IORING_SQ_CQ_OVERFLOW, 0);
    CHECK_RC(zc_uring_flush_overflow(&ring), 0);
}

static void test_reap_order(void) {
    for (uint64_t i = 0; i < 6; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        REQUIRE(sqe != NULL);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, i);
        zc_sqe_add_flags(sqe, ZC_IOSQE_IO_LINK);
        zc_sqe_clear_flags(sqe, ZC_IOSQE_IO_LINK);
        CHECK_EQ(sqe->flags, 0);
        zc_sqe_add_flags(sqe, i < 5 ? ZC_IOSQE_IO_LINK : 0);
    }
    CHECK_EQ(io_uring_submit_and_wait(&ring, 6), 6);
    zc_cqe out[8];
    unsigned n = 0;
    while (n < 6) n += zc_uring_reap(&ring, out + n, 8 - n);
    for (unsigned i = 0; i < 6; i++) {
        CHECK_EQ(out[i].user_data, i);
        CHECK_EQ(out[i].res, 0);
    }
}

int main(void) {
    zc_uring_probe_result r;
    if (zc_uring_probe(&r) != 0) zt_skip("io_uring unavailable: %s", zc_uring_reason_string(r.reason));
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0) zt_skip("io_uring_queue_init: %s", strerror(-rc));
    ZT_RUN(test_nops_reaped);
    ZT_RUN(test_reap_order);
    io_uring_queue_exit(&ring);
    return zt_finish();
}
