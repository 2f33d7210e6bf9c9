/*
 * Sockets: zc_accept (accept4 with SOCK_CLOEXEC, optionally SOCK_NONBLOCK, EINTR retried).
 */
#define _GNU_SOURCE
#include "zc_test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

/* A listening Unix stream socket with an autobound abstract address, stored in *addr. */
static int listener(int type_flags, struct sockaddr_un *addr, socklen_t *len) {
    int fd = (int)SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0));
    sa_family_t family = AF_UNIX;
    SYS(bind(fd, (const struct sockaddr *)&family, sizeof family)); /* autobind */
    SYS(listen(fd, 8));
    *len = sizeof *addr;
    SYS(getsockname(fd, (struct sockaddr *)addr, len));
    return fd;
}

static int client(const struct sockaddr_un *addr, socklen_t len) {
    int fd = (int)SYS(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    SYS(connect(fd, (const struct sockaddr *)addr, len));
    return fd;
}

static void test_accept_flags(void) {
    struct sockaddr_un addr;
    socklen_t len;
    int l = listener(SOCK_NONBLOCK, &addr, &len);
    /* Nobody waiting on a non-blocking listener. */
    CHECK_RC(zc_accept(l, 0), -EAGAIN);

    int c1 = client(&addr, len);
    /* Unknown flags: refused before accepting, the connection still waits. */
    CHECK_RC(zc_accept(l, 2), -EINVAL);
    int a1 = zc_accept(l, 0);
    REQUIRE(a1 >= 0);
    CHECK_EQ(fcntl(a1, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(a1, F_GETFL) & O_NONBLOCK, 0); /* not inherited from the listener */
    CHECK_EQ(write(c1, "abc", 3), 3);
    char b[4] = {0};
    CHECK_EQ(read(a1, b, sizeof b), 3);
    CHECK_MEM(b, "abc", 3);

    int c2 = client(&addr, len);
    int a2 = zc_accept(l, ZC_ACCEPT_NONBLOCK);
    REQUIRE(a2 >= 0);
    CHECK_EQ(fcntl(a2, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(a2, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    errno = 0;
    CHECK_EQ(read(a2, b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    close(a1);
    close(a2);
    close(c1);
    close(c2);
    close(l);
}

static void test_accept_errors(void) {
    /* A socket that is not listening. */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    CHECK_RC(zc_accept(s, 0), -EINVAL);
    close(s);
    /* Not a socket, and no descriptor at all. */
    int p[2];
    REQUIRE(zc_pipe(p, 0) == 0);
    CHECK_RC(zc_accept(p[0], 0), -ENOTSOCK);
    close(p[0]);
    close(p[1]);
    CHECK_RC(zc_accept(-1, 0), -EBADF);
}

/*
 * The EINTR retry, made deterministic. A helper thread waits until the main thread is
 * really blocked in accept4 on the listener (/proc/self/task/<tid>/syscall names the
 * call and its first argument; stat says 'S'), sends it SIGALRM with pthread_kill (the
 * handler has no SA_RESTART, so accept4 fails with EINTR), waits until the handler ran,
 * and waits until the main thread is blocked in accept4 on the listener again: the
 * retry. Only then does it connect. Every wait is bounded; on a timeout the helper says
 * which wait failed and connects anyway, so the accept returns and the test fails
 * instead of hanging.
 */
#define EINTR_WAIT_MS 10000

/* Deliveries of SIGALRM to on_alarm; read by the helper thread too, hence the lock-free
 * atomic accesses (async-signal-safe). */
static volatile sig_atomic_t alarms_handled;

static void on_alarm(int sig) {
    (void)sig;
    __atomic_fetch_add(&alarms_handled, 1, __ATOMIC_SEQ_CST);
}

struct eintr_probe {
    struct sockaddr_un addr;
    socklen_t len;
    int listen_fd;
    pid_t tid;              /* the thread calling zc_accept */
    pthread_t thread;       /* the same thread, for pthread_kill */
    int accept_returned;    /* set (atomically) by the main thread after zc_accept */
    int fd;                 /* the client's socket */
    const char *failure;    /* the wait that timed out, or NULL */
    int reblocked;          /* the thread was seen in accept4 again after the handler */
};

static long long elapsed_ms(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)(now.tv_sec - since->tv_sec) * 1000 +
           (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Whether thread `tid` of this process sleeps ('S') in accept4 with `fd` as its first
 * argument. A running thread reads "running"; one stopped outside a system call "-1 …". */
static int blocked_in_accept4(pid_t tid, int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "re");
    if (f == NULL) return 0;
    long nr = -1;
    unsigned long long arg0 = 0;
    int n = fgets(line, sizeof line, f) ? sscanf(line, "%ld 0x%llx", &nr, &arg0) : 0;
    fclose(f);
    if (n != 2 || nr != SYS_accept4 || arg0 != (unsigned long long)fd) return 0;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    f = fopen(path, "re");
    if (f == NULL) return 0;
    char *close_paren = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    return close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'S';
}

/* Polls every millisecond for up to EINTR_WAIT_MS until `ready` or the accept returned. */
static int wait_for(struct eintr_probe *p, int (*ready)(struct eintr_probe *)) {
    struct timespec start, tick = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!ready(p)) {
        if (__atomic_load_n(&p->accept_returned, __ATOMIC_SEQ_CST)) return 0;
        if (elapsed_ms(&start) > EINTR_WAIT_MS) return 0;
        nanosleep(&tick, NULL);
    }
    return 1;
}

static int accept_blocked(struct eintr_probe *p) { return blocked_in_accept4(p->tid, p->listen_fd); }
static int handler_ran(struct eintr_probe *p) {
    (void)p;
    return __atomic_load_n(&alarms_handled, __ATOMIC_SEQ_CST) > 0;
}

static void *interrupt_then_connect(void *arg) {
    struct eintr_probe *p = arg;
    if (!wait_for(p, accept_blocked)) {
        p->failure = "the accepting thread was not seen blocked in accept4 within 10 s "
                     "(/proc/self/task/<tid>/syscall and stat)";
    } else if (pthread_kill(p->thread, SIGALRM) != 0) {
        p->failure = "pthread_kill failed";
    } else if (!wait_for(p, handler_ran)) {
        p->failure = "the SIGALRM handler did not run within 10 s";
    } else if (!wait_for(p, accept_blocked)) {
        p->failure = "after the handler ran, the thread did not block in accept4 again "
                     "(no EINTR retry): zc_accept returned or 10 s passed";
    } else {
        p->reblocked = 1;
    }
    p->fd = client(&p->addr, p->len);
    return NULL;
}

static void test_accept_retries_eintr(void) {
    struct eintr_probe p = {.fd = -1, .tid = gettid(), .thread = pthread_self()};
    p.listen_fd = listener(0, &p.addr, &p.len);
    __atomic_store_n(&alarms_handled, 0, __ATOMIC_SEQ_CST);
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0; /* no SA_RESTART: the blocked accept4 fails with EINTR */
    sigemptyset(&sa.sa_mask);
    SYS(sigaction(SIGALRM, &sa, &old));
    pthread_t helper;
    if (pthread_create(&helper, NULL, interrupt_then_connect, &p) != 0) {
        SYS(sigaction(SIGALRM, &old, NULL));
        close(p.listen_fd);
        REQUIRE(!"pthread_create failed");
    }
    int a = zc_accept(p.listen_fd, 0);
    int handled = __atomic_load_n(&alarms_handled, __ATOMIC_SEQ_CST);
    __atomic_store_n(&p.accept_returned, 1, __ATOMIC_SEQ_CST);
    REQUIRE(pthread_join(helper, NULL) == 0);
    SYS(sigaction(SIGALRM, &old, NULL));
    if (p.failure != NULL) zt_fail(__FILE__, __LINE__, "%s", p.failure);
    CHECK(p.reblocked);
    CHECK_EQ(handled, 1); /* interrupted exactly once, before the accept returned */
    if (a < 0) zt_fail(__FILE__, __LINE__, "zc_accept returned %s", zt_errname(a));
    CHECK(p.fd >= 0);
    if (a >= 0) {
        CHECK_EQ(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        CHECK_EQ(write(p.fd, "z", 1), 1);
        char b = 0;
        CHECK_EQ(read(a, &b, 1), 1);
        CHECK_EQ(b, 'z');
        close(a);
    }
    if (p.fd >= 0) close(p.fd);
    close(p.listen_fd);
}

int main(void) {
    ZT_RUN(test_accept_flags);
    ZT_RUN(test_accept_errors);
    ZT_RUN(test_accept_retries_eintr);
    return zt_finish();
}
