/*
 * Memory mappings: zc_map/zc_unmap/zc_madvise, and zc_guarded_copy, a memcpy
 * that turns SIGBUS (a page past the end of a file that shrank under the
 * mapping) into -EFAULT.
 *
 * SIGBUS guard design. Swift cannot call sigsetjmp, so the whole guard lives
 * here. A SIGBUS handler is installed once (pthread_once) for the process. A
 * guarded copy publishes, in thread-local storage, the jump buffer and the two
 * address ranges it touches. The handler jumps back only when the signal hit a
 * thread that is inside a guarded copy *and* the faulting address is in one of
 * its ranges; any other SIGBUS is passed on to the handler that was installed
 * before ours (Swift's backtracer installs one), or to the default action.
 * Handlers installed after ours that do not chain to it disable the guard; we
 * cannot prevent that, only document it.
 */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(ZC_PROT_READ == PROT_READ && ZC_PROT_WRITE == PROT_WRITE, "PROT_*");
_Static_assert(ZC_MAP_SHARED == MAP_SHARED && ZC_MAP_PRIVATE == MAP_PRIVATE, "MAP_*");
_Static_assert(ZC_MAP_POPULATE == MAP_POPULATE, "MAP_POPULATE");
_Static_assert(ZC_MADV_NORMAL == MADV_NORMAL && ZC_MADV_RANDOM == MADV_RANDOM &&
                   ZC_MADV_SEQUENTIAL == MADV_SEQUENTIAL && ZC_MADV_WILLNEED == MADV_WILLNEED &&
                   ZC_MADV_DONTNEED == MADV_DONTNEED && ZC_MADV_HUGEPAGE == MADV_HUGEPAGE,
               "MADV_*");
_Static_assert(ZC_MADV_POPULATE_READ == 22, "MADV_POPULATE_READ (Linux 5.14)");

size_t zc_page_size(void) {
    /* Relaxed atomics: every thread computes the same value, and TSan stays quiet. */
    static size_t cached;
    size_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v == 0) {
        long r = sysconf(_SC_PAGESIZE);
        v = r > 0 ? (size_t)r : 4096;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

int zc_map(int fd, int64_t offset, size_t length, int prot, int flags, zc_mapping *m) {
    if (m == NULL) return -EINVAL;
    memset(m, 0, sizeof *m);
    if (length == 0 || offset < 0) return -EINVAL;
    if ((prot & ~(ZC_PROT_READ | ZC_PROT_WRITE)) != 0) return -EINVAL;
    int kind = flags & (ZC_MAP_SHARED | ZC_MAP_PRIVATE);
    if (kind != ZC_MAP_SHARED && kind != ZC_MAP_PRIVATE) return -EINVAL;
    if ((flags & ~(ZC_MAP_SHARED | ZC_MAP_PRIVATE | ZC_MAP_POPULATE)) != 0) return -EINVAL;

    uint64_t aligned;
    size_t delta, map_length;
    int rc = zci_map_window(offset, length, zc_page_size(), &aligned, &delta, &map_length);
    if (rc < 0) return rc;

    void *base = mmap(NULL, map_length, prot, flags, fd, (off_t)aligned);
    if (base == MAP_FAILED) return -errno;
    m->base = base;
    m->map_length = map_length;
    m->data = (char *)base + delta;
    m->length = length;
    return 0;
}

int zc_unmap(zc_mapping *m) {
    if (m == NULL) return -EINVAL;
    if (m->base == NULL) return 0;
    if (munmap(m->base, m->map_length) < 0) return -errno;
    memset(m, 0, sizeof *m);
    return 0;
}

int zc_madvise(const zc_mapping *m, size_t offset, size_t length, int advice) {
    if (m == NULL || m->base == NULL) return -EINVAL;
    if (offset > m->length || length > m->length - offset) return -EINVAL;
    uintptr_t start;
    size_t span;
    int rc = zci_page_span((uintptr_t)m->data + offset, length, zc_page_size(), &start, &span);
    if (rc < 0) return rc;
    if (span == 0) return 0;
    if (madvise((void *)start, span, advice) < 0) return -errno;
    return 0;
}

/* ---- SIGBUS guard ---- */

struct zci_bus_frame {
    sigjmp_buf env;
    uintptr_t lo1, hi1, lo2, hi2; /* [lo, hi) ranges this copy touches */
};

/* initial-exec: the handler must not call __tls_get_addr (not async-signal-safe). */
static _Thread_local struct zci_bus_frame *volatile zci_frame __attribute__((tls_model("initial-exec")));
static struct sigaction zci_prev_bus;
static pthread_once_t zci_bus_once = PTHREAD_ONCE_INIT;
static int zci_bus_install_error;

static void zci_bus_handler(int sig, siginfo_t *si, void *uctx) {
    struct zci_bus_frame *f = zci_frame;
    if (f != NULL && si != NULL) {
        uintptr_t a = (uintptr_t)si->si_addr;
        if ((a >= f->lo1 && a < f->hi1) || (a >= f->lo2 && a < f->hi2)) {
            zci_frame = NULL;
            siglongjmp(f->env, 1);
        }
    }
    /* Not ours: chain to the previous handler, or die the default way. */
    if (zci_prev_bus.sa_flags & SA_SIGINFO) {
        if (zci_prev_bus.sa_sigaction != NULL) {
            zci_prev_bus.sa_sigaction(sig, si, uctx);
            return;
        }
    } else if (zci_prev_bus.sa_handler != SIG_DFL && zci_prev_bus.sa_handler != SIG_IGN) {
        zci_prev_bus.sa_handler(sig);
        return;
    }
    /* Default action (SIG_IGN cannot stop a fault's SIGBUS either): restore it and
     * re-raise; it is delivered when this handler returns (or the fault repeats). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, NULL);
    raise(SIGBUS);
}

static void zci_bus_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = zci_bus_handler;
    sigemptyset(&sa.sa_mask);
    /* SA_NODEFER: SIGBUS stays unblocked in the handler, so jumping out with
     * sigsetjmp(env, 0) (no mask save: no syscall per copy) leaves a correct mask. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    if (sigaction(SIGBUS, &sa, &zci_prev_bus) < 0) zci_bus_install_error = errno;
}

int zc_guarded_copy(void *dst, const void *src, size_t len, size_t *copied) {
    if (copied) *copied = 0;
    if (len == 0) return 0;
    if (dst == NULL || src == NULL) return -EFAULT;
    pthread_once(&zci_bus_once, zci_bus_install);
    if (zci_bus_install_error) return -zci_bus_install_error;

    struct zci_bus_frame frame;
    frame.lo1 = (uintptr_t)src;
    frame.hi1 = (uintptr_t)src + len;
    frame.lo2 = (uintptr_t)dst;
    frame.hi2 = (uintptr_t)dst + len;
    volatile size_t done = 0;
    struct zci_bus_frame *volatile outer = zci_frame; /* nested guarded copies (a handler) */

    if (sigsetjmp(frame.env, 0) != 0) {
        zci_frame = outer;
        if (copied) *copied = done;
        return -EFAULT;
    }
    zci_frame = &frame;
    /* Copy up to each source page boundary so `done` is a page-exact lower bound. */
    const uintptr_t page = zc_page_size();
    const char *s = (const char *)src;
    char *d = (char *)dst;
    while (done < len) {
        size_t step = zci_page_step((uintptr_t)(s + done), len - done, page);
        memcpy(d + done, s + done, step);
        done += step;
    }
    zci_frame = outer;
    if (copied) *copied = done;
    return 0;
}
