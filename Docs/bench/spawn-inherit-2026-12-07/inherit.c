// How long a child holds the parent's end of a pipe after the parent closed it, for a
// fork()ed child and a posix_spawn()ed one (Docs/LinuxFacts.md, "A fork() or posix_spawn
// child holds ..."). The parent makes a pipe, starts a child that lives about 300 ms,
// closes its write end at once and checks whether the read end has POLLHUP at once (poll
// with no events and timeout 0: POLLHUP comes when the last write end is gone), and if
// not, how long it waits for it.
//
//   fork          pipe2(O_CLOEXEC); fork(); the child sleeps 300 ms and _exits (no exec)
//   fork+exec     pipe2(O_CLOEXEC); fork(); the child execs /bin/sleep 0.3
//   spawn         pipe2(O_CLOEXEC); posix_spawn(/bin/sleep 0.3)
//   spawn-inherit pipe2(0); posix_spawn(/bin/sleep 0.3): the control, an end without O_CLOEXEC
//
// Then the case of the test process, where another thread spawns while this one closes:
//
//   concurrent    a second thread runs posix_spawn(/bin/true) + waitpid in a loop; this
//                 thread makes a pipe2(O_CLOEXEC) pipe, closes the write end and polls the
//                 read end with timeout 0, ITERATIONS times: how often POLLHUP was not there
//                 yet, and then how long it took.
//
// cc -O2 -Wall -Wextra -o inherit inherit.c -lpthread && ./inherit [runs, 50 by default]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

// 0 if POLLHUP is on fd at once (poll with timeout 0), else the wait for it in ms (up to
// 2 s; -1 on a timeout).
static double until_hangup(int fd) {
    struct pollfd p = {.fd = fd, .events = 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) return 0;
    double start = now_ms();
    int n = poll(&p, 1, 2000);
    if (n < 0) die("poll");
    if (n == 0 || !(p.revents & POLLHUP)) return -1;
    return now_ms() - start;
}

static char *sleep_argv[] = {"/bin/sleep", "0.3", NULL};

static double one_run(const char *mode) {
    int cloexec = strcmp(mode, "spawn-inherit") != 0;
    int p[2];
    if (pipe2(p, cloexec ? O_CLOEXEC : 0) != 0) die("pipe2");
    pid_t pid;
    if (strcmp(mode, "fork") == 0 || strcmp(mode, "fork+exec") == 0) {
        pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            if (strcmp(mode, "fork+exec") == 0) execve(sleep_argv[0], sleep_argv, environ);
            struct timespec t = {0, 300 * 1000 * 1000};
            nanosleep(&t, NULL);
            _exit(0);
        }
    } else {
        int rc = posix_spawn(&pid, sleep_argv[0], NULL, NULL, sleep_argv, environ);
        if (rc != 0) {
            errno = rc;
            die("posix_spawn");
        }
    }
    close(p[1]);
    double waited = until_hangup(p[0]);
    close(p[0]);
    if (waitpid(pid, NULL, 0) != pid) die("waitpid");
    return waited;
}

static atomic_int stop;
static atomic_long spawned;

static void *spawner(void *arg) {
    (void)arg;
    char *argv[] = {"/bin/true", NULL};
    while (!atomic_load(&stop)) {
        pid_t pid;
        int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
        if (rc != 0) {
            errno = rc;
            die("posix_spawn");
        }
        if (waitpid(pid, NULL, 0) != pid) die("waitpid");
        atomic_fetch_add(&spawned, 1);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 50;
    if (runs < 1 || runs > 1000) runs = 50;
    const char *modes[] = {"fork", "fork+exec", "spawn", "spawn-inherit"};
    for (unsigned m = 0; m < sizeof modes / sizeof *modes; m++) {
        double waits[1000];
        int late = 0, timeouts = 0;
        for (int i = 0; i < runs; i++) {
            waits[i] = one_run(modes[m]);
            if (waits[i] < 0) timeouts++, waits[i] = 2000;
            if (waits[i] > 0) late++;
        }
        qsort(waits, runs, sizeof *waits, cmp);
        printf("%-14s %d runs: %d without POLLHUP at once (%d timeouts)", modes[m], runs, late,
               timeouts);
        if (late > 0) // the late runs are the last `late` of the sorted waits
            printf("; then it came after min %.3f, median %.3f, max %.3f ms",
                   waits[runs - late], waits[runs - late + late / 2], waits[runs - 1]);
        printf("\n");
    }

    enum { ITERATIONS = 100000 };
    static double held[ITERATIONS];
    int nheld = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, spawner, NULL) != 0) die("pthread_create");
    double start = now_ms();
    for (int i = 0; i < ITERATIONS; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) die("pipe2");
        close(p[1]);
        double w = until_hangup(p[0]);
        if (w != 0) held[nheld++] = w < 0 ? 2000 : w;
        close(p[0]);
    }
    double elapsed = now_ms() - start;
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    qsort(held, nheld, sizeof *held, cmp);
    printf("concurrent     %d closes in %.0f ms beside %ld posix_spawns of /bin/true: "
           "%d without POLLHUP at once",
           ITERATIONS, elapsed, atomic_load(&spawned), nheld);
    if (nheld > 0)
        printf("; then it came after min %.3f, median %.3f, max %.3f ms", held[0],
               held[nheld / 2], held[nheld - 1]);
    printf("\n");
    return 0;
}
