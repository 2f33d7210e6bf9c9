/*
 * zc_sigguard_begin / zc_sigguard_end: SIGPIPE and SIGXFSZ at their default
 * (killing) disposition become plain EPIPE / EFBIG inside a guard, the thread's
 * mask is restored exactly, the process-wide disposition is never touched, and
 * a signal that was the caller's (already blocked and pending) is left alone.
 * Each scenario runs in a child with both signals at SIG_DFL.
 */
#define _GNU_SOURCE
#include "zc_test.h"

static int is_blocked(int sig) {
    sigset_t m;
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    return sigismember(&m, sig);
}

static int is_pending(int sig) {
    sigset_t m;
    sigpending(&m);
    return sigismember(&m, sig);
}

static int same_mask(const sigset_t *a, const sigset_t *b) {
    for (int s = 1; s < NSIG; s++)
        if (s != 32 && s != 33 && sigismember(a, s) != sigismember(b, s)) return 0;
    return 1;
}

/* A pipe whose read end is closed: writing raises SIGPIPE. */
static int broken_pipe(void) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) exit(1);
    close(p[0]);
    return p[1];
}

static int epipe_child(void *arg) {
    (void)arg;
    struct sigaction before, after;
    sigaction(SIGPIPE, NULL, &before);
    sigset_t m0, m1;
    pthread_sigmask(SIG_SETMASK, NULL, &m0);
    CHILD_CHECK(!is_blocked(SIGPIPE) && !is_blocked(SIGXFSZ));
    zc_sigguard g;
    memset(&g, 0xCC, sizeof g);
    CHILD_CHECK(zc_sigguard_begin(&g) == 0);
    CHILD_CHECK(is_blocked(SIGPIPE) && is_blocked(SIGXFSZ));
    int w = broken_pipe();
    errno = 0;
    CHILD_CHECK(write(w, "x", 1) == -1 && errno == EPIPE);
    CHILD_CHECK(is_pending(SIGPIPE)); /* raised, held back by the guard */
    CHILD_CHECK(zc_sigguard_end(&g) == 0);
    /* consumed before the mask was restored, so we are still alive */
    CHILD_CHECK(!is_pending(SIGPIPE));
    pthread_sigmask(SIG_SETMASK, NULL, &m1);
    CHILD_CHECK(same_mask(&m0, &m1));
    sigaction(SIGPIPE, NULL, &after);
    CHILD_CHECK(after.sa_handler == SIG_DFL && before.sa_handler == SIG_DFL);
    /* many rounds */
    for (int i = 0; i < 1000; i++) {
        CHILD_CHECK(zc_sigguard_begin(&g) == 0);
        CHILD_CHECK(write(w, "x", 1) == -1 && errno == EPIPE);
        CHILD_CHECK(zc_sigguard_end(&g) == 0);
    }
    close(w);
    return 0;
}

static void test_sigguard_epipe(void) { CHECK_EXITED(zt_fork_run(epipe_child, NULL, 10), 0); }

static int efbig_child(void *arg) {
    (void)arg;
    int fd = zt_tmpfile();
    struct rlimit rl = {1000, 1000};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    char buf[2000];
    memset(buf, 'x', sizeof buf);
    zc_sigguard g;
    CHILD_CHECK(zc_sigguard_begin(&g) == 0);
    CHILD_CHECK(write(fd, buf, sizeof buf) == 1000); /* short, up to the limit */
    errno = 0;
    CHILD_CHECK(write(fd, buf, 1) == -1 && errno == EFBIG);
    CHILD_CHECK(is_pending(SIGXFSZ));
    CHILD_CHECK(zc_sigguard_end(&g) == 0);
    CHILD_CHECK(!is_pending(SIGXFSZ) && !is_blocked(SIGXFSZ));
    close(fd);
    return 0;
}

static void test_sigguard_efbig(void) { CHECK_EXITED(zt_fork_run(efbig_child, NULL, 10), 0); }

/* Without the guard the same write kills: the scenario above is meaningful. */
static int unguarded_child(void *arg) {
    (void)arg;
    int w = broken_pipe();
    ssize_t r = write(w, "x", 1);
    fprintf(stderr, "unguarded write to a broken pipe returned %zd (errno %d)\n", r, errno);
    return 0;
}

static void test_unguarded_write_is_killed(void) {
    int st = zt_fork_run(unguarded_child, NULL, 10);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE))
        zt_fail(__FILE__, __LINE__, "child %s, expected killed by SIGPIPE", zt_wait_string(st));
}

/* The caller had blocked SIGPIPE and one was pending: the guard must not eat it. */
static int callers_signal_child(void *arg) {
    (void)arg;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);
    raise(SIGPIPE);
    CHILD_CHECK(is_pending(SIGPIPE));
    zc_sigguard g;
    CHILD_CHECK(zc_sigguard_begin(&g) == 0);
    int w = broken_pipe();
    CHILD_CHECK(write(w, "x", 1) == -1 && errno == EPIPE);
    CHILD_CHECK(zc_sigguard_end(&g) == 0);
    CHILD_CHECK(is_pending(SIGPIPE));  /* still the caller's */
    CHILD_CHECK(is_blocked(SIGPIPE));  /* the caller's mask */
    CHILD_CHECK(!is_blocked(SIGXFSZ));
    /* the same through an "_all" helper */
    zc_progress p;
    CHILD_CHECK(zc_pwrite_all(w, "abc", 3, -1, &p) == -EPIPE);
    CHILD_CHECK(is_pending(SIGPIPE) && is_blocked(SIGPIPE));
    struct timespec zero = {0, 0};
    CHILD_CHECK(sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE);
    CHILD_CHECK(!is_pending(SIGPIPE));
    close(w);
    return 0;
}

static void test_sigguard_leaves_callers_signal(void) {
    CHECK_EXITED(zt_fork_run(callers_signal_child, NULL, 10), 0);
}

/* Nested guards, and a guard that was never begun. */
static int nested_child(void *arg) {
    (void)arg;
    sigset_t m0, m;
    pthread_sigmask(SIG_SETMASK, NULL, &m0);
    zc_sigguard a, b;
    CHILD_CHECK(zc_sigguard_begin(&a) == 0);
    CHILD_CHECK(zc_sigguard_begin(&b) == 0);
    int w = broken_pipe();
    CHILD_CHECK(write(w, "x", 1) == -1 && errno == EPIPE);
    CHILD_CHECK(zc_sigguard_end(&b) == 0);
    CHILD_CHECK(is_blocked(SIGPIPE)); /* the outer guard still holds */
    CHILD_CHECK(zc_sigguard_end(&a) == 0);
    CHILD_CHECK(!is_pending(SIGPIPE));
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    CHILD_CHECK(same_mask(&m0, &m));
    zc_sigguard never;
    memset(&never, 0, sizeof never);
    CHILD_CHECK(zc_sigguard_end(&never) == 0);
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    CHILD_CHECK(same_mask(&m0, &m));
    close(w);
    return 0;
}

static void test_sigguard_nested(void) { CHECK_EXITED(zt_fork_run(nested_child, NULL, 10), 0); }

/* The guard is per thread: another thread's mask is untouched. */
static volatile int other_blocked = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase;

static void *other_thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    while (phase != 1) pthread_cond_wait(&cv, &mu);
    other_blocked = is_blocked(SIGPIPE);
    phase = 2;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void test_sigguard_is_per_thread(void) {
    pthread_t t;
    phase = 0;
    REQUIRE(pthread_create(&t, NULL, other_thread, NULL) == 0);
    zc_sigguard g;
    REQUIRE(zc_sigguard_begin(&g) == 0);
    pthread_mutex_lock(&mu);
    phase = 1;
    pthread_cond_broadcast(&cv);
    while (phase != 2) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    CHECK(is_blocked(SIGPIPE));
    CHECK_RC(zc_sigguard_end(&g), 0);
    pthread_join(t, NULL);
    CHECK_EQ(other_blocked, 0);
}

/* zc_sigguard_block_thread: both signals blocked for good; later guards on this
 * thread change nothing (active == 0: no rt_sigprocmask), a write to a broken pipe is
 * EPIPE through the "_all" helpers too, and the signal stays pending, undelivered. */
static int block_thread_child(void *arg) {
    (void)arg;
    zc_sigguard g;
    CHILD_CHECK(zc_sigguard_begin(&g) == 0);
    CHILD_CHECK(g.active != 0); /* an ordinary thread: the guard changes the mask */
    CHILD_CHECK(zc_sigguard_end(&g) == 0);
    CHILD_CHECK(!is_blocked(SIGPIPE) && !is_blocked(SIGXFSZ));
    CHILD_CHECK(zc_sigguard_block_thread() == 0);
    CHILD_CHECK(is_blocked(SIGPIPE) && is_blocked(SIGXFSZ));
    sigset_t m0, m1;
    pthread_sigmask(SIG_SETMASK, NULL, &m0);
    memset(&g, 0xCC, sizeof g);
    CHILD_CHECK(zc_sigguard_begin(&g) == 0);
    CHILD_CHECK(g.active == 0);
    int w = broken_pipe();
    char byte = 'x';
    zc_progress p;
    CHILD_CHECK(zc_pwrite_all(w, &byte, 1, -1, &p) == -EPIPE);
    CHILD_CHECK(is_pending(SIGPIPE)); /* held back for good: never delivered */
    CHILD_CHECK(zc_sigguard_end(&g) == 0);
    pthread_sigmask(SIG_SETMASK, NULL, &m1);
    CHILD_CHECK(same_mask(&m0, &m1));
    CHILD_CHECK(is_blocked(SIGPIPE) && is_blocked(SIGXFSZ));
    close(w);
    return 0;
}

static void test_sigguard_block_thread(void) { CHECK_EXITED(zt_fork_run(block_thread_child, NULL, 10), 0); }

int main(void) {
    ZT_RUN(test_sigguard_block_thread);
    ZT_RUN(test_unguarded_write_is_killed);
    ZT_RUN(test_sigguard_epipe);
    ZT_RUN(test_sigguard_efbig);
    ZT_RUN(test_sigguard_leaves_callers_signal);
    ZT_RUN(test_sigguard_nested);
    ZT_RUN(test_sigguard_is_per_thread);
    return zt_finish();
}
