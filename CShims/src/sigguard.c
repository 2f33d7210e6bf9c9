/*
 * Signal guard: SIGPIPE and SIGXFSZ at their default disposition kill the
 * process when a write hits a closed peer or RLIMIT_FSIZE. Libraries must not
 * change the process-wide disposition (the application owns it), so instead
 * the signals are blocked in the calling thread for the duration of a transfer;
 * the syscall then fails with EPIPE/EFBIG and the signal stays pending for this
 * thread, where sigtimedwait with a zero timeout consumes it before the old
 * mask is restored. Only signals this guard blocked are consumed: if the
 * caller had already blocked SIGPIPE, a pending SIGPIPE is the caller's.
 * (Measured to work on this kernel: Docs/LinuxFacts.md, Signals.)
 */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

_Static_assert(sizeof(sigset_t) <= sizeof(((zc_sigguard *)0)->saved_mask),
               "zc_sigguard.saved_mask must hold a sigset_t");

enum {
    ZCI_GUARD_ACTIVE = 1,
    ZCI_GUARD_OWNS_PIPE = 2,  /* SIGPIPE was unblocked before: we consume it */
    ZCI_GUARD_OWNS_XFSZ = 4,  /* SIGXFSZ was unblocked before: we consume it */
};

/* Set by zc_sigguard_block_thread: both signals are blocked on this thread for good. */
static _Thread_local int zci_thread_blocks_signals;

int zc_sigguard_block_thread(void) {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    sigaddset(&block, SIGXFSZ);
    int r = pthread_sigmask(SIG_BLOCK, &block, NULL);
    if (r != 0) return -r;
    zci_thread_blocks_signals = 1;
    return 0;
}

int zc_sigguard_begin(zc_sigguard *g) {
    if (g == NULL) return -EINVAL;
    if (zci_thread_blocks_signals) {
        g->active = 0; /* nothing to change, nothing to restore */
        return 0;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    sigaddset(&block, SIGXFSZ);
    int r = pthread_sigmask(SIG_BLOCK, &block, &old);
    if (r != 0) {
        g->active = 0;
        return -r;
    }
    memcpy(g->saved_mask, &old, sizeof old);
    g->active = ZCI_GUARD_ACTIVE | (sigismember(&old, SIGPIPE) ? 0 : ZCI_GUARD_OWNS_PIPE) |
                (sigismember(&old, SIGXFSZ) ? 0 : ZCI_GUARD_OWNS_XFSZ);
    return 0;
}

/* Consume one pending instance of sig for this thread without waiting. */
static void zci_consume(int sig) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    struct timespec zero = {0, 0};
    int r;
    do { r = sigtimedwait(&one, NULL, &zero); } while (r < 0 && errno == EINTR);
}

static int zci_guard_finish(zc_sigguard *g, int check_pipe, int check_xfsz) {
    if (g == NULL) return -EINVAL;
    if (!(g->active & ZCI_GUARD_ACTIVE)) return 0;
    if (check_pipe || check_xfsz) {
        sigset_t pending;
        if (sigpending(&pending) == 0) {
            if (check_pipe && (g->active & ZCI_GUARD_OWNS_PIPE) && sigismember(&pending, SIGPIPE))
                zci_consume(SIGPIPE);
            if (check_xfsz && (g->active & ZCI_GUARD_OWNS_XFSZ) && sigismember(&pending, SIGXFSZ))
                zci_consume(SIGXFSZ);
        }
    }
    sigset_t old;
    memcpy(&old, g->saved_mask, sizeof old);
    g->active = 0;
    int r = pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r == 0 ? 0 : -r;
}

int zc_sigguard_end(zc_sigguard *g) { return zci_guard_finish(g, 1, 1); }

int zci_guard_begin(zc_sigguard *g) { return zc_sigguard_begin(g); }

void zci_guard_end(zc_sigguard *g, int rc) {
    (void)zci_guard_finish(g, rc == -EPIPE, rc == -EFBIG);
}

int zci_wait_writable(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLOUT, .revents = 0};
    for (;;) {
        if (zci_cancelled()) return -ECANCELED;
        int r = poll(&pfd, 1, -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        /* POLLERR/POLLHUP: let the next write report the real error. */
        return 0;
    }
}
