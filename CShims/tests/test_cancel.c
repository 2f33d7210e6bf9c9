/*
 * zc_cancel_token + zc_cancel_scope_enter: an "_all" helper blocked on a peer that never
 * reads (a full pipe, a full TCP socket) returns -ECANCELED within 100 ms of
 * zc_cancel_request + a signal (handler without SA_RESTART), with exact progress: the
 * bytes the peer can read afterwards are exactly progress.bytes. A token that was never
 * requested changes nothing (a storm of the same signal: every byte arrives); a token
 * requested before the call stops it before its first system call.
 */
#define _GNU_SOURCE
#include "zc_test.h"

#define SIG_INTERRUPT (SIGRTMIN + 5)

static void on_interrupt(int sig) { (void)sig; }

static void install_interrupt(void) {
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_handler = on_interrupt;
    sigemptyset(&a.sa_mask);
    a.sa_flags = 0; /* no SA_RESTART: a blocked call returns EINTR or a short count */
    SYS(sigaction(SIG_INTERRUPT, &a, NULL));
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

enum op { OP_PWRITE, OP_SENDFILE, OP_SPLICE, OP_RW };

/*
 * The time thread `tid` of this process has spent runnable but waiting for a CPU, in ms
 * (the second field of /proc/self/task/<tid>/schedstat, in ns); -1 where the kernel keeps
 * no schedstat or the thread has exited. make check-c runs the C tests side by side and
 * make test beside the Swift suites (2 CPUs on CI; several times slower under ASan+UBSan):
 * that wait is the scheduler's, not the cancellation's.
 */
static double run_queue_ms(pid_t tid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    unsigned long long running, waiting;
    int n = fscanf(f, "%llu %llu", &running, &waiting);
    fclose(f);
    return n == 2 ? (double)waiting / 1e6 : -1;
}

/* The growth of a run_queue_ms reading; zero if either is missing. */
static double waited_ms(double before, double after) {
    return before >= 0 && after > before ? after - before : 0;
}

struct job {
    enum op op;
    int src, dst;
    size_t count;
    const void *buf;
    zc_cancel_token token;
    zc_progress progress;
    int rc;
    volatile int started;
    pid_t tid;           /* the worker, set before `started` */
    double end_ms;       /* when its call returned (now_ms) */
    double end_wait_ms;  /* its run_queue_ms then, read first */
};

static void *run_job(void *arg) {
    struct job *j = arg;
    const zc_cancel_token *previous = zc_cancel_scope_enter(&j->token);
    j->tid = gettid();
    __atomic_store_n(&j->started, 1, __ATOMIC_SEQ_CST);
    int64_t off = 0;
    char scratch[65536];
    switch (j->op) {
    case OP_PWRITE: j->rc = zc_pwrite_all(j->dst, j->buf, j->count, -1, &j->progress); break;
    case OP_SENDFILE: j->rc = zc_sendfile_all(j->dst, j->src, &off, j->count, &j->progress); break;
    case OP_SPLICE: j->rc = zc_splice_all(j->src, &off, j->dst, NULL, j->count, NULL, &j->progress); break;
    case OP_RW:
        j->rc = zc_read_write_all(j->src, &off, j->dst, NULL, j->count, scratch, sizeof scratch, &j->progress);
        break;
    }
    /* The wait first, then the clock: what is not subtracted still counts. */
    j->end_wait_ms = run_queue_ms(j->tid);
    j->end_ms = now_ms();
    zc_cancel_scope_exit(previous);
    return NULL;
}

/*
 * Runs j on a thread, cancels it after 100 ms, returns the ms it took to return: from the
 * request until the worker's call returned, less the time spent runnable but waiting for a
 * CPU by this thread until it had sent the first signal, and by the worker from then on
 * (run_queue_ms). A sleep, a poll or a missed signal is not a wait for a CPU and counts.
 */
static double cancel_after(struct job *j) {
    zc_cancel_token_init(&j->token);
    pthread_t t;
    if (pthread_create(&t, NULL, run_job, j) != 0) {
        zt_fail(__FILE__, __LINE__, "pthread_create failed");
        return 1e9;
    }
    while (!__atomic_load_n(&j->started, __ATOMIC_SEQ_CST)) usleep(1000);
    usleep(100 * 1000); /* blocked by now */
    pid_t self = gettid();
    double t0 = now_ms();
    double self_before = run_queue_ms(self);
    zc_cancel_request(&j->token);
    pthread_kill(t, SIG_INTERRUPT);
    double self_after = run_queue_ms(self);
    double worker_before = run_queue_ms(j->tid); /* -1 if it has returned already */
    /* Signals race with the thread entering a call: repeat until it returned. */
    void *ret;
    while (pthread_tryjoin_np(t, &ret) == EBUSY) {
        pthread_kill(t, SIG_INTERRUPT);
        usleep(2000);
    }
    double wall = j->end_ms - t0;
    double waited = waited_ms(self_before, self_after) + waited_ms(worker_before, j->end_wait_ms);
    double ms = waited >= wall ? 0 : wall - waited;
    ZT_CTX("returned %.1f ms after the request (%.1f ms wall, less %.1f ms waiting for a CPU)", ms, wall, waited);
    return ms;
}

/* Reads fd until end of file (its writer is closed or shut down) and returns the count. */
static size_t read_to_end(int fd) {
    char b[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, b, sizeof b);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += (size_t)n;
    }
    return total;
}

/* Reads everything in a pipe whose write end is still open (non-blocking) and returns the count. */
static size_t drain_count(int fd) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    char b[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, b, sizeof b);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += (size_t)n;
    }
    fcntl(fd, F_SETFL, flags);
    return total;
}

/* The writer end of `reader`'s pipe or socket must be closed or shut down. */
static void check_cancelled(struct job *j, double ms, int reader) {
    CHECK_RC(j->rc, -ECANCELED);
    CHECK(ms < 100.0);
    CHECK(j->progress.bytes > 0 && j->progress.bytes < j->count);
    CHECK_U64(read_to_end(reader), j->progress.bytes);
}

static void test_pwrite_to_full_pipe(void) {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    size_t n = 4u << 20;
    unsigned char *data = zt_data(n, 1);
    struct job j = {.op = OP_PWRITE, .dst = p[1], .count = n, .buf = data};
    double ms = cancel_after(&j);
    close(p[1]);
    check_cancelled(&j, ms, p[0]);
    free(data);
    close(p[0]);
}

/* A 32 MiB file sent by `op` to a TCP socket whose peer does not read, cancelled. */
static void file_to_full_socket(int op, unsigned seed) {
    int s[2];
    zt_tcp_pair(s);
    size_t n = 32u << 20;
    unsigned char *data = zt_data(n, seed);
    int f = zt_file_with(data, n);
    struct job j = {.op = op, .src = f, .dst = s[0], .count = n};
    double ms = cancel_after(&j);
    shutdown(s[0], SHUT_WR); /* the peer receives exactly the counted bytes, then EOF */
    check_cancelled(&j, ms, s[1]);
    free(data);
    close(f);
    close(s[0]);
    close(s[1]);
}

static void test_sendfile_to_full_socket(void) { file_to_full_socket(OP_SENDFILE, 2); }

static void test_splice_through_pipe_to_full_socket(void) { file_to_full_socket(OP_SPLICE, 3); }

static void test_read_write_to_full_pipe(void) {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    size_t n = 8u << 20;
    unsigned char *data = zt_data(n, 4);
    int f = zt_file_with(data, n);
    struct job j = {.op = OP_RW, .src = f, .dst = p[1], .count = n};
    double ms = cancel_after(&j);
    close(p[1]);
    check_cancelled(&j, ms, p[0]);
    free(data);
    close(f);
    close(p[0]);
}

/* A token never requested: signals only interrupt, every byte arrives. */
static void *drain_slowly(void *arg) {
    int fd = *(int *)arg;
    char b[4096];
    size_t total = 0;
    for (;;) {
        ssize_t r = read(fd, b, sizeof b);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        total += (size_t)r;
        if (total % (64 * 1024) == 0) usleep(1000);
    }
    return (void *)(uintptr_t)total;
}

static void test_unrequested_token_changes_nothing(void) {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    size_t n = 2u << 20;
    unsigned char *data = zt_data(n, 5);
    struct job j = {.op = OP_PWRITE, .dst = p[1], .count = n, .buf = data};
    zc_cancel_token_init(&j.token);
    pthread_t reader, writer;
    int rfd = p[0];
    REQUIRE(pthread_create(&reader, NULL, drain_slowly, &rfd) == 0);
    REQUIRE(pthread_create(&writer, NULL, run_job, &j) == 0);
    void *ret;
    while (pthread_tryjoin_np(writer, &ret) == EBUSY) {
        pthread_kill(writer, SIG_INTERRUPT);
        usleep(500);
    }
    close(p[1]);
    void *total;
    pthread_join(reader, &total);
    CHECK_RC(j.rc, ZC_DONE);
    CHECK_U64(j.progress.bytes, n);
    CHECK_U64((uint64_t)(uintptr_t)total, n);
    free(data);
    close(p[0]);
}

static void test_requested_before_the_call(void) {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    zc_cancel_token t;
    zc_cancel_token_init(&t);
    CHECK(!zc_cancel_requested(&t));
    zc_cancel_request(&t);
    CHECK(zc_cancel_requested(&t));
    const zc_cancel_token *previous = zc_cancel_scope_enter(&t);
    CHECK(previous == NULL);
    zc_progress pr;
    CHECK_RC(zc_pwrite_all(p[1], "abc", 3, -1, &pr), -ECANCELED);
    CHECK_U64(pr.syscalls, 0);
    CHECK_U64(pr.bytes, 0);
    zc_cancel_scope_exit(previous);
    /* Outside the scope the same call runs. */
    CHECK_RC(zc_pwrite_all(p[1], "abc", 3, -1, &pr), ZC_DONE);
    CHECK_U64(drain_count(p[0]), 3);
    close(p[0]);
    close(p[1]);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    install_interrupt();
    ZT_RUN(test_requested_before_the_call);
    ZT_RUN(test_pwrite_to_full_pipe);
    ZT_RUN(test_read_write_to_full_pipe);
    ZT_RUN(test_sendfile_to_full_socket);
    ZT_RUN(test_splice_through_pipe_to_full_socket);
    ZT_RUN(test_unrequested_token_changes_nothing);
    return zt_finish();
}
