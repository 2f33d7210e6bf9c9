/*
 * fuzz_arith.c — libFuzzer target for the shim's range and offset arithmetic
 * (CShims/src/zc_arith.h): chunk sizes of the "_all" loops, mmap offset alignment,
 * madvise page spans, guarded-copy page steps. Each input is decoded into a selector,
 * a page size (a power of two from 4 KiB to 1 GiB) and three 64-bit values, biased
 * towards the edges (0, 1, page +/- 1, the largest values, ZC_MAX_RW_COUNT,
 * ZC_UNTIL_EOF); a violated invariant (CShims/tests/arith_invariants.h) aborts, and
 * -fsanitize=undefined catches any overflow in the arithmetic itself.
 *
 *   make fuzz              FUZZ_TIME seconds from the seeds in CShims/tests/fuzz/corpus
 *   make fuzz-smoke        FUZZ_SMOKE_RUNS inputs (part of make test)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../arith_invariants.h"

static uint64_t take(const uint8_t **data, size_t *size) {
    uint64_t v = 0;
    size_t n = *size < 8 ? *size : 8;
    memcpy(&v, *data, n);
    *data += n;
    *size -= n;
    return v;
}

/* Maps a raw value to an edge case or keeps it, by its low bits. */
static uint64_t edgy(uint64_t raw, uint64_t page) {
    switch (raw & 15) {
    case 0: return 0;
    case 1: return 1;
    case 2: return page - 1;
    case 3: return page;
    case 4: return page + 1;
    case 5: return UINT64_MAX;
    case 6: return UINT64_MAX - (raw >> 4) % (2 * page);
    case 7: return (uint64_t)INT64_MAX - (raw >> 4) % (2 * page);
    case 8: return ZC_MAX_RW_COUNT;
    case 9: return (uint64_t)ZC_MAX_RW_COUNT + 1;
    case 10: return ((raw >> 4) % 64) * page + (raw >> 10) % 3 - 1; /* near a page multiple */
    default: return raw >> 4;
    }
}

static void violated(const char *what, const char *why, uint64_t a, uint64_t b, uint64_t c, uint64_t page) {
    fprintf(stderr, "fuzz_arith: %s: %s (a=%llu b=%llu c=%llu page=%llu)\n", what, why, (unsigned long long)a,
            (unsigned long long)b, (unsigned long long)c, (unsigned long long)page);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const unsigned selector = data[0] & 3;
    const uint64_t page = (uint64_t)4096 << (data[1] % 19); /* 4 KiB ... 1 GiB */
    data += 2;
    size -= 2;
    const uint64_t a = edgy(take(&data, &size), page);
    const uint64_t b = edgy(take(&data, &size), page);
    const uint64_t c = edgy(take(&data, &size), page);
    const char *why = NULL;
    switch (selector) {
    case 0: {
        /* count, done <= count (or any done with ZC_UNTIL_EOF), cap in 1...ZC_MAX_RW_COUNT. */
        uint64_t count = a;
        uint64_t done = count == ZC_UNTIL_EOF ? b : (count == 0 ? 0 : b % (count + (count != UINT64_MAX)));
        uint64_t cap = c % ZC_MAX_RW_COUNT + 1;
        why = zai_check_chunk(count, done, cap);
        if (why) violated("zci_chunk", why, count, done, cap, page);
        break;
    }
    case 1:
        why = zai_check_map_window((int64_t)a, (size_t)b, page);
        if (why) violated("zci_map_window", why, a, b, 0, page);
        break;
    case 2:
        why = zai_check_page_span((uintptr_t)a, (size_t)b, (uintptr_t)page);
        if (why) violated("zci_page_span", why, a, b, 0, page);
        break;
    default:
        why = zai_check_page_step((uintptr_t)a, (size_t)(b ? b : 1), (uintptr_t)page);
        if (why) violated("zci_page_step", why, a, b, 0, page);
        break;
    }
    return 0;
}
