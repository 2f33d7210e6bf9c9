/*
 * conc_ref.c — the C twin of the many-connections workload: N threads, each with its own
 * TCP connection, each sending the first SIZE bytes of a file with sendfile, all N at
 * once — the server case (many small responses) as a thread-per-connection C server
 * would move them.
 *
 *   conc_ref PATH SIZE PORT CONNECTIONS ITERATIONS
 *
 * Opens CONNECTIONS connections to 127.0.0.1:PORT (recv_ref many drains them), starts one
 * thread per connection, then for each iteration releases every thread at once (a
 * barrier) and waits until each has sent its SIZE bytes (a second barrier). Prints one
 * line per iteration:
 *   ns=<wall from release to the last thread done> bytes=<CONNECTIONS*SIZE>
 *   syscalls=<sendfile calls> utime_us=<n> stime_us=<n> nvcsw=<n> nivcsw=<n> minflt=<n>
 * Exit 0 only if every transfer moved SIZE bytes. Threads start, and connections open,
 * before the first iteration (untimed), as in the Swift subjects.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int src_fd;
static size_t size;
static long iterations;
static pthread_barrier_t start_barrier, done_barrier;
static atomic_long sendfile_calls;
static atomic_int failed;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long tv_us(struct timeval tv) { return tv.tv_sec * 1000000L + tv.tv_usec; }

static void die(const char *what, int err) {
    fprintf(stderr, "conc_ref: %s: %s\n", what, strerror(err));
    exit(1);
}

static void *sender(void *arg) {
    int sock = (int)(intptr_t)arg;
    for (long it = 0; it < iterations; it++) {
        pthread_barrier_wait(&start_barrier);
        off_t off = 0;
        while ((size_t)off < size) {
            ssize_t n = sendfile(sock, src_fd, &off, size - (size_t)off);
            atomic_fetch_add(&sendfile_calls, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fprintf(stderr, "conc_ref: sendfile: %s\n", n < 0 ? strerror(errno) : "0 bytes");
                atomic_store(&failed, 1);
                break;
            }
        }
        pthread_barrier_wait(&done_barrier);
    }
    close(sock);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: conc_ref PATH SIZE PORT CONNECTIONS ITERATIONS\n");
        return 2;
    }
    size = (size_t)atol(argv[2]);
    int port = atoi(argv[3]);
    long conns = atol(argv[4]);
    iterations = atol(argv[5]);
    if (size == 0 || conns < 1 || iterations < 1) {
        fprintf(stderr, "conc_ref: SIZE, CONNECTIONS and ITERATIONS must be positive\n");
        return 2;
    }
    src_fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (src_fd < 0) die("open source", errno);
    if (pthread_barrier_init(&start_barrier, NULL, (unsigned)conns + 1) != 0 ||
        pthread_barrier_init(&done_barrier, NULL, (unsigned)conns + 1) != 0)
        die("pthread_barrier_init", EINVAL);
    pthread_t *threads = calloc((size_t)conns, sizeof *threads);
    if (threads == NULL) die("calloc", ENOMEM);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < conns; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) die("socket", errno);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect", errno);
        int rc = pthread_create(&threads[i], &attr, sender, (void *)(intptr_t)s);
        if (rc != 0) die("pthread_create", rc);
    }
    for (long it = 0; it < iterations; it++) {
        struct rusage r0, r1;
        long calls0 = atomic_load(&sendfile_calls);
        getrusage(RUSAGE_SELF, &r0);
        double t0 = now_ns();
        pthread_barrier_wait(&start_barrier);
        pthread_barrier_wait(&done_barrier);
        double t1 = now_ns();
        getrusage(RUSAGE_SELF, &r1);
        printf("ns=%.0f bytes=%llu syscalls=%ld utime_us=%ld stime_us=%ld nvcsw=%ld nivcsw=%ld minflt=%ld\n", t1 - t0,
               (unsigned long long)size * (unsigned long long)conns, atomic_load(&sendfile_calls) - calls0,
               tv_us(r1.ru_utime) - tv_us(r0.ru_utime), tv_us(r1.ru_stime) - tv_us(r0.ru_stime),
               r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw, r1.ru_minflt - r0.ru_minflt);
    }
    for (long i = 0; i < conns; i++) pthread_join(threads[i], NULL);
    fflush(stdout);
    free(threads);
    return atomic_load(&failed) ? 1 : 0;
}
