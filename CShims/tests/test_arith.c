/*
 * test_arith.c — the shim's pure range/offset arithmetic (src/zc_arith.h) at its edges:
 * zero, one, page boundaries, the largest values, the system-call caps. The same
 * invariants are fuzzed by `make fuzz` (fuzz/fuzz_arith.c).
 */
#include "zc_test.h"
#include "arith_invariants.h"

#define CHECK_OK(what)                                                             \
    do {                                                                           \
        const char *zt_v_ = (what);                                                \
        if (zt_v_ != NULL) zt_fail(__FILE__, __LINE__, "%s: %s", #what, zt_v_);    \
    } while (0)

static const uint64_t pages[] = {4096, 16384, 65536, 2u << 20};

static void test_chunk(void) {
    CHECK_U64(zci_chunk(ZC_UNTIL_EOF, 12345, ZC_MAX_RW_COUNT), ZC_MAX_RW_COUNT);
    CHECK_U64(zci_chunk(10, 0, ZC_MAX_RW_COUNT), 10);
    CHECK_U64(zci_chunk(10, 10, ZC_MAX_RW_COUNT), 0);
    CHECK_U64(zci_chunk(10, 9, ZC_MAX_RW_COUNT), 1);
    CHECK_U64(zci_chunk(UINT64_MAX - 1, 0, ZC_MAX_RW_COUNT), ZC_MAX_RW_COUNT);
    CHECK_U64(zci_chunk((uint64_t)ZC_MAX_RW_COUNT + 1, 1, ZC_MAX_RW_COUNT), ZC_MAX_RW_COUNT);
    CHECK_U64(zci_chunk((uint64_t)ZC_MAX_RW_COUNT + 1, 2, ZC_MAX_RW_COUNT), ZC_MAX_RW_COUNT - 1);
    const uint64_t counts[] = {0, 1, 4095, 4096, 4097, ZC_MAX_RW_COUNT, (uint64_t)ZC_MAX_RW_COUNT + 1, UINT64_MAX - 1, ZC_UNTIL_EOF};
    const uint64_t caps[] = {1, 4096, 65536, ZC_MAX_RW_COUNT};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        for (size_t j = 0; j < sizeof caps / sizeof caps[0]; j++)
            for (uint64_t k = 0; k < 3; k++) {
                uint64_t c = counts[i];
                uint64_t dones[] = {0, k, c == ZC_UNTIL_EOF ? k : c - (c < k ? c : k), c == ZC_UNTIL_EOF ? UINT64_MAX - 1 : c / 2};
                for (size_t d = 0; d < 4; d++) CHECK_OK(zai_check_chunk(c, dones[d], caps[j]));
            }
}

static void test_map_window(void) {
    uint64_t aligned = 1;
    size_t delta = 1, len = 1;
    CHECK_EQ(zci_map_window(4097, 10, 4096, &aligned, &delta, &len), 0);
    CHECK_U64(aligned, 4096);
    CHECK_U64(delta, 1);
    CHECK_U64(len, 11);
    CHECK_EQ(zci_map_window(8192, 1, 4096, &aligned, &delta, &len), 0);
    CHECK_U64(aligned, 8192);
    CHECK_U64(delta, 0);
    CHECK_U64(len, 1);
    CHECK_EQ(zci_map_window(-1, 10, 4096, &aligned, &delta, &len), -EINVAL);
    CHECK_EQ(zci_map_window(0, 0, 4096, &aligned, &delta, &len), -EINVAL);
    CHECK_EQ(zci_map_window(4095, SIZE_MAX, 4096, &aligned, &delta, &len), -EOVERFLOW);
    CHECK_EQ(zci_map_window(4096, SIZE_MAX, 4096, &aligned, &delta, &len), 0);
    CHECK_U64(len, SIZE_MAX);
    CHECK_EQ(zci_map_window(INT64_MAX, 1, 4096, &aligned, &delta, &len), 0);
    CHECK_U64(delta, 4095);
    const int64_t offsets[] = {0, 1, 4095, 4096, 4097, 65535, 65536, (int64_t)1 << 40, INT64_MAX - 1, INT64_MAX, -1, INT64_MIN};
    const size_t lengths[] = {0, 1, 4095, 4096, 4097, SIZE_MAX - 4096, SIZE_MAX - 1, SIZE_MAX};
    for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++)
        for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
            for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++)
                CHECK_OK(zai_check_map_window(offsets[i], lengths[j], pages[p]));
}

static void test_page_span(void) {
    uintptr_t s = 1;
    size_t span = 1;
    CHECK_EQ(zci_page_span(4097, 1, 4096, &s, &span), 0);
    CHECK_U64(s, 4096);
    CHECK_U64(span, 4096);
    CHECK_EQ(zci_page_span(4095, 2, 4096, &s, &span), 0);
    CHECK_U64(s, 0);
    CHECK_U64(span, 8192);
    CHECK_EQ(zci_page_span(4097, 0, 4096, &s, &span), 0); /* empty: nothing (was one page) */
    CHECK_U64(span, 0);
    CHECK_EQ(zci_page_span(UINTPTR_MAX - 10, 5, 4096, &s, &span), -EOVERFLOW);
    const uintptr_t starts[] = {0, 1, 4095, 4096, 4097, (uintptr_t)1 << 46, UINTPTR_MAX - 8192, UINTPTR_MAX - 4096, UINTPTR_MAX};
    const size_t lengths[] = {0, 1, 4095, 4096, 4097, 1u << 20, SIZE_MAX / 2, SIZE_MAX};
    for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++)
        for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
            for (size_t j = 0; j < sizeof lengths / sizeof lengths[0]; j++)
                CHECK_OK(zai_check_page_span(starts[i], lengths[j], (uintptr_t)pages[p]));
}

static void test_page_step(void) {
    CHECK_U64(zci_page_step(4096, 10000, 4096), 4096);
    CHECK_U64(zci_page_step(4097, 10000, 4096), 4095);
    CHECK_U64(zci_page_step(4095, 10000, 4096), 1);
    CHECK_U64(zci_page_step(4095, 1, 4096), 1);
    CHECK_U64(zci_page_step(0, 3, 4096), 3);
    CHECK_U64(zci_page_step(UINTPTR_MAX, 10, 4096), 1); /* the old expression wrapped here */
    const uintptr_t heres[] = {0, 1, 4095, 4096, 4097, UINTPTR_MAX - 4096, UINTPTR_MAX - 1, UINTPTR_MAX};
    const size_t lefts[] = {1, 2, 4095, 4096, 4097, SIZE_MAX};
    for (size_t p = 0; p < sizeof pages / sizeof pages[0]; p++)
        for (size_t i = 0; i < sizeof heres / sizeof heres[0]; i++)
            for (size_t j = 0; j < sizeof lefts / sizeof lefts[0]; j++)
                CHECK_OK(zai_check_page_step(heres[i], lefts[j], (uintptr_t)pages[p]));
}

int main(void) {
    ZT_RUN(test_chunk);
    ZT_RUN(test_map_window);
    ZT_RUN(test_page_span);
    ZT_RUN(test_page_step);
    return zt_finish();
}
