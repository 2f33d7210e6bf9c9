/*
 * Sockets: zc_accept (accept4 with SOCK_CLOEXEC, optionally SOCK_NONBLOCK, EINTR retried).
 */
#define _GNU_SOURCE
#include "zc_test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
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

static void on_alarm(int sig) { (void)sig; }

struct late_client {
    struct sockaddr_un addr;
    socklen_t len;
    int fd;
};

static void *connect_late(void *arg) {
    struct late_client *lc = arg;
    struct timespec t = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
    lc->fd = client(&lc->addr, lc->len);
    return NULL;
}

static void test_accept_retries_eintr(void) {
    /* A signal whose handler does not ask for SA_RESTART interrupts the blocking
     * accept4 (EINTR) after 50 ms; the client connects after 200 ms: zc_accept
     * retries and returns the connection. */
    struct late_client lc;
    int l = listener(0, &lc.addr, &lc.len);
    lc.fd = -1;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    SYS(sigaction(SIGALRM, &sa, &old));
    pthread_t thread;
    sigset_t alarm_only, saved;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    /* The thread blocks SIGALRM (inherited mask) so that it lands on this one. */
    REQUIRE(pthread_sigmask(SIG_BLOCK, &alarm_only, &saved) == 0);
    REQUIRE(pthread_create(&thread, NULL, connect_late, &lc) == 0);
    REQUIRE(pthread_sigmask(SIG_SETMASK, &saved, NULL) == 0);
    struct itimerval timer = {.it_value = {.tv_sec = 0, .tv_usec = 50 * 1000}};
    SYS(setitimer(ITIMER_REAL, &timer, NULL));
    int a = zc_accept(l, 0);
    REQUIRE(pthread_join(thread, NULL) == 0);
    SYS(sigaction(SIGALRM, &old, NULL));
    CHECK(a >= 0);
    CHECK(lc.fd >= 0);
    if (a >= 0) {
        CHECK_EQ(write(lc.fd, "z", 1), 1);
        char b = 0;
        CHECK_EQ(read(a, &b, 1), 1);
        CHECK_EQ(b, 'z');
        close(a);
    }
    if (lc.fd >= 0) close(lc.fd);
    close(l);
}

int main(void) {
    ZT_RUN(test_accept_flags);
    ZT_RUN(test_accept_errors);
    ZT_RUN(test_accept_retries_eintr);
    return zt_finish();
}
