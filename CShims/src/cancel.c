/*
 * Cancellation of the "all" helpers. A zc_cancel_token installed on a thread
 * (zc_cancel_scope_enter) is checked by every "_all" loop before each system call,
 * so EINTR and short counts lead back to the check: once another thread has called
 * zc_cancel_request, the helper stops with -ECANCELED and exact progress. What ends a
 * call blocked on a peer is a signal sent to the thread whose handler was installed
 * without SA_RESTART (the Swift layer's CancellationToken does both).
 */
#define _GNU_SOURCE
#include "zc_internal.h"

/* The token of the innermost scope on this thread, or NULL. */
static _Thread_local const zc_cancel_token *zci_scope_token;

void zc_cancel_token_init(zc_cancel_token *t) {
    if (t) __atomic_store_n(&t->requested, 0, __ATOMIC_RELAXED);
}

void zc_cancel_request(zc_cancel_token *t) {
    if (t) __atomic_store_n(&t->requested, 1, __ATOMIC_SEQ_CST);
}

int zc_cancel_requested(const zc_cancel_token *t) {
    return t != NULL && __atomic_load_n(&t->requested, __ATOMIC_SEQ_CST) != 0;
}

const zc_cancel_token *zc_cancel_scope_enter(const zc_cancel_token *t) {
    const zc_cancel_token *previous = zci_scope_token;
    zci_scope_token = t;
    return previous;
}

void zc_cancel_scope_exit(const zc_cancel_token *previous) { zci_scope_token = previous; }

int zci_cancelled(void) { return zc_cancel_requested(zci_scope_token); }
