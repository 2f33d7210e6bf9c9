/*
 * zc_test.h — a tiny harness for the C tests of libzerocopy (CShims/tests).
 *
 * Each test file is one executable: main() calls ZT_RUN(test_fn) for each test
 * and returns zt_finish(). Exit status: 0 all passed, 1 something failed,
 * 77 skipped (zt_skip). Every CHECK prints file:line and the values on failure
 * and the test continues; REQUIRE also returns from the current test function.
 *
 * ZT_RUN also checks what every test must leave behind: no new file
 * descriptors (/proc/self/fd before and after), the same thread signal mask,
 * and no SIGPIPE/SIGXFSZ left pending (the shim's signal guard must consume
 * what it caused).
 *
 * Tests use real kernel objects: temporary files in $TMPDIR (or /tmp), pipes,
 * socketpairs and TCP sockets on 127.0.0.1.
 */
#ifndef ZC_TEST_H
#define ZC_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zerocopy.h"

#define ZT_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------------- */
/* Failure reporting                                                          */
/* ------------------------------------------------------------------------- */

static int zt_failures_total;    /* all failures in this executable */
static int zt_failures_current;  /* failures in the running test */
static ZT_UNUSED const char *zt_current = "(setup)";
static char zt_ctx[256]; /* optional context printed with each failure (ZT_CTX) */

#define ZT_CTX(...) snprintf(zt_ctx, sizeof zt_ctx, __VA_ARGS__)

static ZT_UNUSED void zt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ZT_UNUSED void zt_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: [%s]%s%s FAILED: ", file, line, zt_current, zt_ctx[0] ? " " : "",
            zt_ctx);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    zt_failures_current++;
    zt_failures_total++;
}

/* "EPIPE" for 32 or -32, "0" for 0, the number otherwise. Static buffers (rotating). */
static ZT_UNUSED const char *zt_errname(long long v) {
    static char bufs[8][48];
    static int next;
    char *b = bufs[next++ & 7];
    if (v < 0 && v > -4096) {
        const char *n = strerrorname_np((int)-v);
        snprintf(b, 48, "-%s", n ? n : "?");
    } else if (v == 0) {
        snprintf(b, 48, "0");
    } else {
        snprintf(b, 48, "%lld", v);
    }
    return b;
}

static ZT_UNUSED const char *zt_status_name(long long v) {
    switch (v) {
    case ZC_DONE: return "ZC_DONE";
    case ZC_EOF: return "ZC_EOF";
    case ZC_AGAIN: return "ZC_AGAIN";
    default: return zt_errname(v);
    }
}

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) zt_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);      \
    } while (0)

#define REQUIRE(cond)                                                      \
    do {                                                                   \
        if (!(cond)) {                                                     \
            zt_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);             \
            return;                                                        \
        }                                                                  \
    } while (0)

/* Integers (any signed or unsigned type up to 64 bits). */
#define CHECK_EQ(a, b)                                                                  \
    do {                                                                                \
        long long zt_a_ = (long long)(a), zt_b_ = (long long)(b);                       \
        if (zt_a_ != zt_b_)                                                             \
            zt_fail(__FILE__, __LINE__, "%s == %s: got %lld, expected %lld", #a, #b,     \
                    zt_a_, zt_b_);                                                      \
    } while (0)

#define CHECK_U64(a, b)                                                                 \
    do {                                                                                \
        uint64_t zt_a_ = (uint64_t)(a), zt_b_ = (uint64_t)(b);                          \
        if (zt_a_ != zt_b_)                                                             \
            zt_fail(__FILE__, __LINE__, "%s == %s: got %" PRIu64 ", expected %" PRIu64, \
                    #a, #b, zt_a_, zt_b_);                                              \
    } while (0)

/* A return code: a zc_status or -errno, printed by name. */
#define CHECK_RC(expr, expected)                                                        \
    do {                                                                                \
        long long zt_a_ = (long long)(expr), zt_b_ = (long long)(expected);             \
        if (zt_a_ != zt_b_)                                                             \
            zt_fail(__FILE__, __LINE__, "%s: got %s, expected %s", #expr,               \
                    zt_status_name(zt_a_), zt_status_name(zt_b_));                      \
    } while (0)

/* Bytes: reports the first differing offset. */
#define CHECK_MEM(a, b, n)                                                              \
    do {                                                                                \
        const unsigned char *zt_p_ = (const unsigned char *)(a);                        \
        const unsigned char *zt_q_ = (const unsigned char *)(b);                        \
        size_t zt_n_ = (size_t)(n);                                                     \
        if (memcmp(zt_p_, zt_q_, zt_n_) != 0) {                                         \
            size_t zt_i_ = 0;                                                           \
            while (zt_p_[zt_i_] == zt_q_[zt_i_]) zt_i_++;                               \
            zt_fail(__FILE__, __LINE__,                                                 \
                    "%s vs %s (%zu bytes) differ first at offset %zu: 0x%02x vs 0x%02x", \
                    #a, #b, zt_n_, zt_i_, zt_p_[zt_i_], zt_q_[zt_i_]);                  \
        }                                                                               \
    } while (0)

/* A syscall-style call that must succeed (>= 0), for test set-up. */
#define SYS(expr)                                                                       \
    ({                                                                                  \
        long long zt_r_ = (long long)(expr);                                            \
        if (zt_r_ < 0) {                                                                \
            fprintf(stderr, "%s:%d: [%s] set-up call failed: %s: %s\n", __FILE__,       \
                    __LINE__, zt_current, #expr, strerror(errno));                      \
            exit(1);                                                                    \
        }                                                                               \
        zt_r_;                                                                          \
    })

static ZT_UNUSED void zt_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static ZT_UNUSED void zt_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("skip: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(77);
}

/* A note in the log for a sub-check the environment does not allow. */
static ZT_UNUSED void zt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static ZT_UNUSED void zt_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("    note [%s]: ", zt_current);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

/* ------------------------------------------------------------------------- */
/* Running tests: fd leak, signal mask and pending-signal checks              */
/* ------------------------------------------------------------------------- */

#define ZT_MAX_FD 4096

/* Marks open descriptors in set[] (excluding the directory stream's own fd). */
static ZT_UNUSED int zt_open_fds(unsigned char set[ZT_MAX_FD]) {
    memset(set, 0, ZT_MAX_FD);
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int self = dirfd(d), n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == self || fd < 0 || fd >= ZT_MAX_FD) continue;
        set[fd] = 1;
        n++;
    }
    closedir(d);
    return n;
}

static ZT_UNUSED int zt_fd_count(void) {
    unsigned char set[ZT_MAX_FD];
    return zt_open_fds(set);
}

static ZT_UNUSED void zt_run(const char *name, void (*fn)(void)) {
    static unsigned char before[ZT_MAX_FD], after[ZT_MAX_FD];
    sigset_t mask_before, mask_after, pending;
    zt_current = name;
    zt_ctx[0] = '\0';
    zt_failures_current = 0;
    int nb = zt_open_fds(before);
    pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    fn();

    clock_gettime(CLOCK_MONOTONIC, &t1);
    int na = zt_open_fds(after);
    if (na != nb) {
        for (int fd = 0; fd < ZT_MAX_FD; fd++) {
            if (before[fd] == after[fd]) continue;
            char path[64], target[256] = "?";
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(path, target, sizeof target - 1);
            if (n >= 0) target[n] = '\0';
            zt_fail(__FILE__, __LINE__, "fd %d %s during the test (%s)", fd,
                    after[fd] ? "leaked" : "closed", target);
        }
    }
    pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
    for (int s = 1; s < NSIG; s++) {
        if (s == 32 || s == 33) continue; /* glibc-internal */
        if (sigismember(&mask_before, s) != sigismember(&mask_after, s))
            zt_fail(__FILE__, __LINE__, "signal %d (%s) is %s blocked after the test", s,
                    strsignal(s), sigismember(&mask_after, s) ? "now" : "no longer");
    }
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) zt_fail(__FILE__, __LINE__, "SIGPIPE left pending");
    if (sigismember(&pending, SIGXFSZ)) zt_fail(__FILE__, __LINE__, "SIGXFSZ left pending");

    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("  %s %s (%.1f ms)\n", zt_failures_current ? "FAIL" : "ok  ", name, ms);
    fflush(stdout);
    zt_current = "(between tests)";
}

#define ZT_RUN(fn) zt_run(#fn, fn)

static ZT_UNUSED int zt_finish(void) {
    if (zt_failures_total) {
        printf("%d check(s) failed\n", zt_failures_total);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Data, files, pipes, sockets                                                */
/* ------------------------------------------------------------------------- */

static const size_t zt_sizes[] = {0, 1, 4095, 4096, 4097, (1u << 20) + 3};
#define ZT_NSIZES (sizeof zt_sizes / sizeof zt_sizes[0])

/* Deterministic bytes that differ by position and seed (catches shifted copies). */
static ZT_UNUSED void zt_fill(void *buf, size_t n, uint64_t seed) {
    unsigned char *p = buf;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
}

static ZT_UNUSED void *zt_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Random-looking bytes of length n (caller frees). */
static ZT_UNUSED unsigned char *zt_data(size_t n, uint64_t seed) {
    unsigned char *p = zt_malloc(n);
    zt_fill(p, n, seed);
    return p;
}

static ZT_UNUSED const char *zt_tmpdir(void) {
    const char *t = getenv("TMPDIR");
    return (t && *t) ? t : "/tmp";
}

/* An anonymous (already unlinked) temporary file in dir, O_RDWR|O_CLOEXEC. */
static ZT_UNUSED int zt_tmpfile_in(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-XXXXXX", dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mkostemp(%s): %s\n", path, strerror(errno));
        exit(1);
    }
    unlink(path);
    return fd;
}

static ZT_UNUSED int zt_tmpfile(void) { return zt_tmpfile_in(zt_tmpdir()); }

static ZT_UNUSED void zt_pwrite_full(int fd, const void *buf, size_t n, off_t off) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "[%s] set-up pwrite: %s\n", zt_current, strerror(errno));
            exit(1);
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
}

/* A temporary file holding exactly buf[0..n). File position 0. */
static ZT_UNUSED int zt_file_with(const void *buf, size_t n) {
    int fd = zt_tmpfile();
    zt_pwrite_full(fd, buf, n, 0);
    return fd;
}

/* Reads len bytes at off into a new buffer; *got is what was there. */
static ZT_UNUSED unsigned char *zt_pread_back(int fd, off_t off, size_t len, size_t *got) {
    unsigned char *b = zt_malloc(len);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, b + done, len - done, off + (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        done += (size_t)r;
    }
    *got = done;
    return b;
}

static ZT_UNUSED off_t zt_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    return st.st_size;
}

/* The file's content must be exactly want[0..n) at offset off. */
#define CHECK_FILE_AT(fd, off, want, n)                                                 \
    do {                                                                                \
        size_t zt_got_;                                                                 \
        unsigned char *zt_back_ = zt_pread_back((fd), (off), (n), &zt_got_);            \
        if (zt_got_ != (size_t)(n))                                                     \
            zt_fail(__FILE__, __LINE__, "file holds %zu bytes at %lld, expected %zu",    \
                    zt_got_, (long long)(off), (size_t)(n));                            \
        else                                                                            \
            CHECK_MEM(zt_back_, (want), (n));                                           \
        free(zt_back_);                                                                 \
    } while (0)

static ZT_UNUSED int zt_closep(int *fd) {
    int r = 0;
    if (*fd >= 0) r = close(*fd);
    *fd = -1;
    return r;
}

/* A connected TCP pair on 127.0.0.1: s[0] connected client, s[1] accepted. */
static ZT_UNUSED void zt_tcp_pair(int s[2]) {
    int l = (int)SYS(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    SYS(bind(l, (struct sockaddr *)&a, sizeof a));
    SYS(listen(l, 1));
    socklen_t len = sizeof a;
    SYS(getsockname(l, (struct sockaddr *)&a, &len));
    s[0] = (int)SYS(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    SYS(connect(s[0], (struct sockaddr *)&a, sizeof a));
    s[1] = (int)SYS(accept4(l, NULL, NULL, SOCK_CLOEXEC));
    close(l);
}

static ZT_UNUSED void zt_set_nonblock(int fd, int on) {
    int fl = (int)SYS(fcntl(fd, F_GETFL));
    SYS(fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)));
}

/* ------------------------------------------------------------------------- */
/* Threads that feed or drain a descriptor                                    */
/* ------------------------------------------------------------------------- */

typedef struct zt_reader {
    pthread_t thread;
    int fd;
    int close_after;        /* close fd at EOF */
    size_t limit;           /* stop (and close fd if close_after) after this many bytes; 0 = EOF */
    unsigned delay_ms;      /* sleep before the first read */
    unsigned char *data;
    size_t len, cap;
    int err;
} zt_reader;

static ZT_UNUSED void *zt_reader_main(void *arg) {
    zt_reader *r = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the thread under test */
    if (r->delay_ms) {
        struct timespec ts = {r->delay_ms / 1000, (long)(r->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    }
    for (;;) {
        if (r->limit && r->len >= r->limit) break;
        if (r->cap - r->len < 65536) {
            r->cap = r->cap ? r->cap * 2 : (1u << 20);
            r->data = realloc(r->data, r->cap);
            if (r->data == NULL) abort();
        }
        size_t want = r->cap - r->len;
        if (r->limit && want > r->limit - r->len) want = r->limit - r->len;
        ssize_t n = read(r->fd, r->data + r->len, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = r->fd, .events = POLLIN, .revents = 0};
            poll(&p, 1, 1000);
            continue;
        }
        if (n < 0) {
            r->err = errno;
            break;
        }
        if (n == 0) break;
        r->len += (size_t)n;
    }
    if (r->close_after) close(r->fd);
    return NULL;
}

/* Start a thread reading fd until EOF (or limit bytes), after delay_ms. */
static ZT_UNUSED void zt_reader_start_delayed(zt_reader *r, int fd, size_t limit, int close_after,
                                              unsigned delay_ms) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->limit = limit;
    r->close_after = close_after;
    r->delay_ms = delay_ms;
    if (pthread_create(&r->thread, NULL, zt_reader_main, r) != 0) abort();
}

static ZT_UNUSED void zt_reader_start(zt_reader *r, int fd, size_t limit, int close_after) {
    zt_reader_start_delayed(r, fd, limit, close_after, 0);
}

static ZT_UNUSED void zt_reader_join(zt_reader *r) { pthread_join(r->thread, NULL); }

static ZT_UNUSED void zt_reader_free(zt_reader *r) {
    free(r->data);
    r->data = NULL;
}

typedef struct zt_writer {
    pthread_t thread;
    int fd;
    const unsigned char *data;
    size_t len;
    unsigned delay_ms; /* sleep before writing */
    int close_after;
    int err;
} zt_writer;

static ZT_UNUSED void *zt_writer_main(void *arg) {
    zt_writer *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (w->delay_ms) {
        struct timespec ts = {w->delay_ms / 1000, (long)(w->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    }
    size_t done = 0;
    while (done < w->len) {
        ssize_t n = write(w->fd, w->data + done, w->len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            w->err = errno;
            break;
        }
        done += (size_t)n;
    }
    if (w->close_after) close(w->fd);
    return NULL;
}

/* Start a thread writing data[0..len) to fd (after delay_ms), then closing it. */
static ZT_UNUSED void zt_writer_start(zt_writer *w, int fd, const void *data, size_t len, unsigned delay_ms,
                            int close_after) {
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->data = data;
    w->len = len;
    w->delay_ms = delay_ms;
    w->close_after = close_after;
    if (pthread_create(&w->thread, NULL, zt_writer_main, w) != 0) abort();
}

static ZT_UNUSED void zt_writer_join(zt_writer *w) { pthread_join(w->thread, NULL); }

/* ------------------------------------------------------------------------- */
/* Processes                                                                  */
/* ------------------------------------------------------------------------- */

/*
 * Run fn(arg) in a forked child with a time limit; returns the wait status.
 * The child's exit code is fn's return value. SIGPIPE, SIGXFSZ and SIGBUS are
 * reset to their default disposition in the child (they kill), so a test can
 * tell "returned an error" from "was killed".
 */
static ZT_UNUSED int zt_fork_run(int (*fn)(void *), void *arg, unsigned timeout_s) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        signal(SIGXFSZ, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        alarm(timeout_s);
        int rc = fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            exit(1);
        }
    }
    return st;
}

static ZT_UNUSED const char *zt_wait_string(int st) {
    static char b[96];
    if (WIFEXITED(st))
        snprintf(b, sizeof b, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(b, sizeof b, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(b, sizeof b, "status 0x%x", st);
    return b;
}

/* The child must have exited with `code` (not been killed). */
#define CHECK_EXITED(st, code)                                                          \
    do {                                                                                \
        int zt_st_ = (st);                                                              \
        if (!WIFEXITED(zt_st_) || WEXITSTATUS(zt_st_) != (code))                        \
            zt_fail(__FILE__, __LINE__, "child %s, expected exit %d", zt_wait_string(zt_st_), \
                    (code));                                                            \
    } while (0)

/* In a child: report a failed expectation and pick the exit code. */
#define CHILD_CHECK(cond)                                                               \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: (child) FAILED: %s\n", __FILE__, __LINE__, #cond);   \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

static ZT_UNUSED int zt_is_root(void) { return geteuid() == 0; }

/* Whether capability `cap` (e.g. 24 = CAP_SYS_RESOURCE) is effective. */
static ZT_UNUSED int zt_has_cap(int cap) {
    FILE *f = fopen("/proc/self/status", "re");
    if (f == NULL) return 0;
    char line[256];
    unsigned long long eff = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1) break;
    fclose(f);
    return (int)((eff >> cap) & 1);
}

#endif /* ZC_TEST_H */
