/*
 * zc_arith.h — the shim's pure range and offset arithmetic, factored out of the
 * system-call loops so that it can be tested exhaustively at the edges
 * (CShims/tests/test_arith.c) and fuzzed (CShims/tests/fuzz/fuzz_arith.c, `make fuzz`).
 * Not installed; static inline, so nothing here is exported.
 *
 * Every function is total over its documented domain, never overflows, and reports
 * results through its return value or out-parameters only.
 */
#ifndef ZC_ARITH_H
#define ZC_ARITH_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "zerocopy.h" /* ZC_UNTIL_EOF */

/*
 * Bytes an "_all" helper asks for in its next system call: what is left of `count`
 * (or `cap` when `count` is ZC_UNTIL_EOF), at most `cap`.
 * Domain: done <= count (or count == ZC_UNTIL_EOF); cap <= SIZE_MAX.
 * Result: 0 only when done == count; otherwise 1...min(cap, count - done).
 */
static inline size_t zci_chunk(uint64_t count, uint64_t done, uint64_t cap) {
    if (count == ZC_UNTIL_EOF) return (size_t)cap;
    uint64_t left = count - done;
    return (size_t)(left < cap ? left : cap);
}

/*
 * The mapping zc_map makes for `length` bytes at file `offset`: mmap needs a
 * page-aligned file offset, so the mapping starts at `*aligned` (offset rounded down to
 * `page`) and is `*map_length` = length + `*delta` bytes long; the caller's data starts
 * `*delta` bytes into it.
 * Domain: page is a power of two. Returns 0, -EINVAL (offset < 0, length == 0) or
 * -EOVERFLOW (length + delta does not fit a size_t).
 */
static inline int zci_map_window(int64_t offset, size_t length, uint64_t page, uint64_t *aligned, size_t *delta,
                                 size_t *map_length) {
    if (length == 0 || offset < 0) return -EINVAL;
    const uint64_t a = (uint64_t)offset & ~(page - 1);
    const size_t d = (size_t)((uint64_t)offset - a);
    if (length > SIZE_MAX - d) return -EOVERFLOW;
    *aligned = a;
    *delta = d;
    *map_length = length + d;
    return 0;
}

/*
 * The page-aligned span zc_madvise advises for `length` bytes at address `start`:
 * `*span_start` = start rounded down, `*span_length` up to the end rounded up.
 * An empty range advises nothing (`*span_length` = 0).
 * Domain: page is a power of two. Returns 0, or -EOVERFLOW when the rounded-up end
 * does not fit a uintptr_t (no such user-space range exists).
 */
static inline int zci_page_span(uintptr_t start, size_t length, uintptr_t page, uintptr_t *span_start,
                                size_t *span_length) {
    *span_start = start & ~(page - 1);
    *span_length = 0;
    if (length == 0) return 0;
    if (length > UINTPTR_MAX - start || start + length > UINTPTR_MAX - (page - 1)) return -EOVERFLOW;
    const uintptr_t end = (start + length + page - 1) & ~(page - 1);
    *span_length = (size_t)(end - *span_start);
    return 0;
}

/*
 * zc_guarded_copy's step from address `here` with `left` bytes to go: up to the next
 * page boundary, at most `left` — so the bytes copied are a page-exact lower bound
 * when a SIGBUS interrupts the copy.
 * Domain: page is a power of two; left > 0. Result: 1...min(page, left), and
 * here + result is page-aligned unless result == left.
 */
static inline size_t zci_page_step(uintptr_t here, size_t left, uintptr_t page) {
    size_t step = (size_t)(page - (here & (page - 1)));
    return step < left ? step : left;
}

#endif
