/*
 * zc_internal.h — helpers shared by the shim's .c files. Not installed.
 * Every .c file defines _GNU_SOURCE before including anything, then this.
 */
#ifndef ZC_INTERNAL_H
#define ZC_INTERNAL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE at the top of each CShims/src/*.c file before any include"
#endif

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include "zerocopy.h"

/* Hidden from the shared library's export list by the version script (zc_* only
 * are exported, and these use the zci_ prefix). */

/* Zero a progress record (p may be NULL: then a local one is used by callers). */
static inline void zci_progress_reset(zc_progress *p) {
    p->bytes = 0;
    p->syscalls = 0;
    p->discarded = 0;
}

/* zci_chunk (bytes for the next call of an "_all" helper) and the other pure range and
 * offset arithmetic live in zc_arith.h, where they are unit-tested and fuzzed. */
#include "zc_arith.h"

/* The outcome of a 0-byte read from the source: with ZC_UNTIL_EOF it is success. */
static inline int zci_eof_status(uint64_t count) {
    return count == ZC_UNTIL_EOF ? ZC_DONE : ZC_EOF;
}

static inline int zci_is_again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

/*
 * Internal signal guard used by every "_all" helper: blocks SIGPIPE/SIGXFSZ in
 * this thread (one rt_sigprocmask), and on the way out consumes a signal that
 * the helper itself raised — only when the result says it raised one (-EPIPE or
 * -EFBIG), so the common path costs two syscalls, not three.
 */
int zci_guard_begin(zc_sigguard *g);
void zci_guard_end(zc_sigguard *g, int rc);

/* Whether the cancel token installed on this thread (zc_cancel_scope_enter) has been
 * requested. Every "_all" loop checks it before each system call (cancel.c). */
int zci_cancelled(void);

/* Wait until fd is writable (poll POLLOUT, EINTR retried unless the thread's cancel token
 * was requested: then -ECANCELED). Returns 0 or -errno. */
int zci_wait_writable(int fd);

/* Write all of buf (write/pwrite loop), counting syscalls and bytes in p.
 * If wait_on_again, EAGAIN waits for POLLOUT and sets *hit_again instead of returning.
 * off: NULL = file position, else advanced. Returns ZC_DONE, ZC_AGAIN or -errno. */
int zci_write_loop(int fd, const void *buf, size_t len, int64_t *off, zc_progress *p,
                   int wait_on_again, int *hit_again);

/* The built-in profile (plan_builtin.h, parsed once; never NULL). */
const zc_profile *zci_builtin_profile(void);

#endif
