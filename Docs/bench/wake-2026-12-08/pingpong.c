/*
 * pingpong.c: the cost of waking a thread on another CPU. A parent on CPU A and a child on
 * CPU B exchange one byte over two pipes 20,000 times; prints the mean round trip (two
 * wake-ups). Build: cc -O2 -o pingpong pingpong.c; run: ./pingpong 0 1 (and ./pingpong 0 0).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("sched_setaffinity"); exit(1); }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s CPU_A CPU_B\n", argv[0]); return 64; }
    int a = atoi(argv[1]), b = atoi(argv[2]), n = 20000;
    int there[2], back[2];
    if (pipe(there) != 0 || pipe(back) != 0) { perror("pipe"); return 1; }
    char c = 'x';
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 1; }
    if (child == 0) {
        pin(b);
        for (int i = 0; i < n; i++) {
            if (read(there[0], &c, 1) != 1 || write(back[1], &c, 1) != 1) _exit(1);
        }
        _exit(0);
    }
    pin(a);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (write(there[1], &c, 1) != 1 || read(back[0], &c, 1) != 1) { perror("round trip"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    waitpid(child, NULL, 0);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("cpu %d<->%d: %.2f us per round trip\n", a, b, ns / n / 1000);
    return 0;
}
