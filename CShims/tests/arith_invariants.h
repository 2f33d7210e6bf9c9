/*
 * arith_invariants.h — the properties of the shim's range/offset arithmetic
 * (CShims/src/zc_arith.h), checked by the unit test (test_arith.c) on chosen edge cases
 * and by the libFuzzer target (fuzz/fuzz_arith.c) on generated ones.
 *
 * Each zai_check_* function returns NULL when every invariant holds for its inputs, or
 * a description of the first one violated.
 */
#ifndef ARITH_INVARIANTS_H
#define ARITH_INVARIANTS_H

#include <stdint.h>

#include "../src/zc_arith.h"

/* zci_chunk, for done <= count or count == ZC_UNTIL_EOF. */
static inline const char *zai_check_chunk(uint64_t count, uint64_t done, uint64_t cap) {
    if (count != ZC_UNTIL_EOF && done > count) return NULL; /* outside the domain */
    if (cap > SIZE_MAX) return NULL;
    size_t n = zci_chunk(count, done, cap);
    if (n > cap) return "chunk larger than the cap";
    if (count == ZC_UNTIL_EOF) return n == cap ? NULL : "until EOF: chunk is not the cap";
    if (n > count - done) return "chunk past the requested count";
    if (n == 0 && done != count && cap != 0) return "zero chunk with bytes left";
    if (n != 0 && n != cap && n != count - done) return "chunk neither the cap nor the rest";
    return NULL;
}

/* zci_map_window, for a power-of-two page. */
static inline const char *zai_check_map_window(int64_t offset, size_t length, uint64_t page) {
    uint64_t aligned = 0;
    size_t delta = 0, map_length = 0;
    int rc = zci_map_window(offset, length, page, &aligned, &delta, &map_length);
    if (offset < 0 || length == 0) return rc == -EINVAL ? NULL : "invalid input not EINVAL";
    if (rc == -EOVERFLOW) {
        /* Only when length + (offset % page) really does not fit. */
        return length > SIZE_MAX - (size_t)((uint64_t)offset % page) ? NULL : "spurious EOVERFLOW";
    }
    if (rc != 0) return "unexpected error";
    if (aligned % page != 0) return "mmap offset not page-aligned";
    if (aligned > (uint64_t)offset) return "aligned offset past the requested one";
    if (delta >= page) return "delta not below one page";
    if (aligned + delta != (uint64_t)offset) return "aligned + delta != offset";
    if (map_length < length || map_length - length != delta) return "map length != length + delta";
    return NULL;
}

/* zci_page_span, for a power-of-two page. */
static inline const char *zai_check_page_span(uintptr_t start, size_t length, uintptr_t page) {
    uintptr_t s = 0;
    size_t span = 1;
    int rc = zci_page_span(start, length, page, &s, &span);
    if (length == 0) return rc == 0 && span == 0 ? NULL : "empty range advises something";
    if (rc == -EOVERFLOW) {
        /* Only when start + length, rounded up to a page, does not fit. */
        int fits = length <= UINTPTR_MAX - start && start + length <= UINTPTR_MAX - (page - 1);
        return fits ? "spurious EOVERFLOW" : NULL;
    }
    if (rc != 0) return "unexpected error";
    if (s % page != 0 || span % page != 0) return "span not page-aligned";
    if (s > start) return "span starts after the range";
    if (s + span < start + length) return "span ends before the range";
    if (span == 0) return "non-empty range with an empty span";
    if (span - length >= 2 * page) return "span more than one page larger on each side";
    if (start - s >= page) return "span starts a page or more early";
    return NULL;
}

/* zci_page_step, for a power-of-two page and left > 0. */
static inline const char *zai_check_page_step(uintptr_t here, size_t left, uintptr_t page) {
    if (left == 0) return NULL; /* outside the domain */
    size_t step = zci_page_step(here, left, page);
    if (step == 0) return "no progress";
    if (step > left) return "step past the end";
    if (step > page) return "step longer than a page";
    if (step != left && ((here + step) & (page - 1)) != 0) return "step does not end on a page boundary";
    /* The step must end at the first boundary after `here` (or at the end). */
    size_t to_boundary = (size_t)(page - (here % page));
    if (step != (to_boundary < left ? to_boundary : left)) return "step is not the distance to the next boundary";
    return NULL;
}

#endif
