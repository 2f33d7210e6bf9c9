/*
 * recv_ref.c — the benchmark's TCP receivers, in a process of their own so the
 * sender's CPU is measured alone.
 *
 *   recv_ref read|splice PORT CONNECTIONS
 *   recv_ref many PORT CONNECTIONS
 *
 * Listens on 127.0.0.1:PORT (0: any free port), prints `port=<n>` and flushes,
 * then accepts CONNECTIONS connections one after another and drains each to EOF:
 *   read    a 256 KiB read loop that checksums every byte (zc64, zc_checksum.h)
 *   splice  socket -> pipe -> /dev/null with splice: never touches the data, so
 *           it can only count bytes (its lines say checksum=none)
 * After each connection prints
 *   bytes=<n> checksum=<hex|none> utime_us=<n> stime_us=<n>
 * (the receiver's own CPU for that connection). Exits 0 after the last one.
 *
 * many: accepts CONNECTIONS connections that are open at the same time and drains them
 * all at once (epoll, non-blocking reads, a zc64 per connection) until each has ended,
 * then prints one line for all of them:
 *   bytes=<total> checksum=<hex when every connection's stream has the same zc64, else
 *   mixed> connections=<n> utime_us=<n> stime_us=<n>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "zc_checksum.h"

static long tv_us(struct timeval tv) { return tv.tv_sec * 1000000L + tv.tv_usec; }

static void die(const char *what) {
    fprintf(stderr, "recv_ref: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* many: every connection at once, through epoll. */
static int receive_many(int ls, long conns) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    zc64 *sums = calloc((size_t)conns, sizeof *sums);
    int *fds = calloc((size_t)conns, sizeof *fds);
    char *buf = malloc(256 * 1024);
    if (sums == NULL || fds == NULL || buf == NULL) die("calloc");
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    long accepted = 0, open_conns = 0;
    unsigned long long total = 0;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = (uint64_t)-1; /* the listener */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0) die("epoll_ctl listener");
    while (accepted < conns || open_conns > 0) {
        struct epoll_event events[64];
        int n = epoll_wait(ep, events, 64, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 == (uint64_t)-1) {
                while (accepted < conns) {
                    int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (c < 0 && (errno == EAGAIN || errno == EINTR)) break;
                    if (c < 0) die("accept");
                    zc64_init(&sums[accepted]);
                    fds[accepted] = c;
                    struct epoll_event ce = {.events = EPOLLIN};
                    ce.data.u64 = (uint64_t)accepted;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0) die("epoll_ctl");
                    accepted++;
                    open_conns++;
                }
                if (accepted == conns) (void)epoll_ctl(ep, EPOLL_CTL_DEL, ls, NULL);
                continue;
            }
            long k = (long)events[i].data.u64;
            for (;;) {
                ssize_t r = read(fds[k], buf, 256 * 1024);
                if (r > 0) {
                    zc64_update(&sums[k], buf, (size_t)r);
                    total += (unsigned long long)r;
                    continue;
                }
                if (r < 0 && errno == EINTR) continue;
                if (r < 0 && errno == EAGAIN) break;
                if (r < 0) die("receive");
                close(fds[k]); /* also leaves the epoll set */
                fds[k] = -1;
                open_conns--;
                break;
            }
        }
    }
    getrusage(RUSAGE_SELF, &r1);
    uint64_t first = conns > 0 ? zc64_final(&sums[0]) : 0;
    int same = 1;
    for (long i = 1; i < conns; i++) same &= zc64_final(&sums[i]) == first;
    if (same)
        printf("bytes=%llu checksum=%016llx", total, (unsigned long long)first);
    else
        printf("bytes=%llu checksum=mixed", total);
    printf(" connections=%ld utime_us=%ld stime_us=%ld\n", conns, tv_us(r1.ru_utime) - tv_us(r0.ru_utime),
           tv_us(r1.ru_stime) - tv_us(r0.ru_stime));
    fflush(stdout);
    free(sums);
    free(fds);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "read") && strcmp(argv[1], "splice") && strcmp(argv[1], "many"))) {
        fprintf(stderr, "usage: recv_ref read|splice|many PORT CONNECTIONS\n");
        return 2;
    }
    int use_splice = strcmp(argv[1], "splice") == 0;
    int many = strcmp(argv[1], "many") == 0;
    long conns = atol(argv[3]);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0) die("socket");
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    /* many: every connection may be opened before the first is accepted */
    if (listen(ls, many ? (int)(conns > 16 ? conns : 16) : 16) < 0) die("listen");
    socklen_t len = sizeof sa;
    if (getsockname(ls, (struct sockaddr *)&sa, &len) < 0) die("getsockname");
    printf("port=%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    if (many) {
        if (fcntl(ls, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
        return receive_many(ls, conns);
    }

    size_t bufsize = 256 * 1024;
    char *buf = malloc(bufsize);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe2");
    (void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    for (long i = 0; i < conns; i++) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) die("accept");
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        unsigned long long total = 0;
        zc64 ck;
        zc64_init(&ck);
        for (;;) {
            ssize_t n;
            if (use_splice) {
                n = splice(c, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE);
                if (n > 0) {
                    ssize_t left = n;
                    while (left > 0) {
                        ssize_t m = splice(p[0], NULL, devnull, NULL, (size_t)left, SPLICE_F_MOVE);
                        if (m < 0 && errno == EINTR) continue;
                        if (m <= 0) die("splice to /dev/null");
                        left -= m;
                    }
                }
            } else {
                n = read(c, buf, bufsize);
                if (n > 0) zc64_update(&ck, buf, (size_t)n);
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) die("receive");
            if (n == 0) break;
            total += (unsigned long long)n;
        }
        getrusage(RUSAGE_SELF, &r1);
        close(c);
        if (use_splice)
            printf("bytes=%llu checksum=none", total);
        else
            printf("bytes=%llu checksum=%016llx", total, (unsigned long long)zc64_final(&ck));
        printf(" utime_us=%ld stime_us=%ld\n", tv_us(r1.ru_utime) - tv_us(r0.ru_utime),
               tv_us(r1.ru_stime) - tv_us(r0.ru_stime));
        fflush(stdout);
    }
    free(buf);
    return 0;
}
