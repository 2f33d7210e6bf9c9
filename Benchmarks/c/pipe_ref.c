/*
 * pipe_ref.c — the benchmark's pipe reader, in a process of its own so the
 * sender's CPU is measured alone (the pipe twin of recv_ref).
 *
 *   pipe_ref
 *
 * Reads its standard input (the read end of the pipe under test) to end of file
 * with a 256 KiB read loop, checksums every byte (zc64, zc_checksum.h), then prints
 *   bytes=<n> checksum=<hex> utime_us=<n> stime_us=<n>
 * (the same fields as one recv_ref line; CPU is the reader's own). Exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "zc_checksum.h"

static long tv_us(struct timeval tv) { return tv.tv_sec * 1000000L + tv.tv_usec; }

int main(int argc, char **argv) {
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: pipe_ref < PIPE\n");
        return 2;
    }
    size_t bufsize = 256 * 1024;
    char *buf = malloc(bufsize);
    if (!buf) return 1;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    unsigned long long total = 0;
    zc64 ck;
    zc64_init(&ck);
    for (;;) {
        ssize_t n = read(0, buf, bufsize);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fprintf(stderr, "pipe_ref: read: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0) break;
        zc64_update(&ck, buf, (size_t)n);
        total += (unsigned long long)n;
    }
    getrusage(RUSAGE_SELF, &r1);
    printf("bytes=%llu checksum=%016llx utime_us=%ld stime_us=%ld\n", total,
           (unsigned long long)zc64_final(&ck), tv_us(r1.ru_utime) - tv_us(r0.ru_utime),
           tv_us(r1.ru_stime) - tv_us(r0.ru_stime));
    free(buf);
    return 0;
}
