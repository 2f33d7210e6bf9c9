/*
 * Small copies within one filesystem: pread+pwrite against copy_file_range, and what the
 * fstatfs that tells ext4/tmpfs apart costs (Docs/Transfer.md, the prepared small-copy
 * row). Usage: cfr-vs-rw DIRECTORY [SIZE...]; run pinned (taskset -c 1), nothing else
 * running. Each size: 5 rounds of N copies of the whole file each way (N ~ 400 MB / (size
 * + 40 KB)), the best round's time per copy; every copy's byte count is checked, and the
 * destination's bytes once at the end of each round.
 * Build: cc -O2 -Wall -Wextra -Werror -o cfr-vs-rw cfr-vs-rw.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void check_same(int s, int d, size_t size) {
    char *a = malloc(size), *b = malloc(size);
    if (!a || !b) die("malloc");
    if (pread(s, a, size, 0) != (ssize_t)size || pread(d, b, size, 0) != (ssize_t)size) die("pread check");
    if (memcmp(a, b, size) != 0) {
        fprintf(stderr, "destination differs\n");
        exit(1);
    }
    free(a);
    free(b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIRECTORY [SIZE...]\n", argv[0]);
        return 64;
    }
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/cfr-vs-rw.src", argv[1]);
    snprintf(dst, sizeof dst, "%s/cfr-vs-rw.dst", argv[1]);
    const size_t chunk = 131072;
    char *buf = malloc(chunk);
    if (!buf) die("malloc");
    struct statfs fs;
    int probe = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (probe < 0 || fstatfs(probe, &fs) != 0) die(argv[1]);
    close(probe);
    printf("%s: f_type 0x%lx\n", argv[1], (unsigned long)fs.f_type);
    static const size_t defaults[] = {4096, 16384, 65536, 131072};
    int nsizes = argc > 2 ? argc - 2 : 4;
    for (int z = 0; z < nsizes; z++) {
        size_t size = argc > 2 ? (size_t)strtoull(argv[z + 2], NULL, 0) : defaults[z];
        if (size == 0) continue;
        int n = (int)(400000000ull / (size + 40000));
        int s = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600), d = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (s < 0 || d < 0) die("open");
        unlink(src);
        unlink(dst);
        for (size_t i = 0; i < chunk; i++) buf[i] = (char)(i * 131 + 7);
        for (size_t o = 0; o < size; o += chunk)
            if (pwrite(s, buf, size - o < chunk ? size - o : chunk, (off_t)o) < 0) die("pwrite source");
        double rw = 1e18, cfr = 1e18, sfs = 1e18;
        for (int round = 0; round < 5; round++) {
            double t0 = now_ns();
            for (int i = 0; i < n; i++) {
                for (size_t o = 0; o < size;) {
                    size_t want = size - o < chunk ? size - o : chunk;
                    ssize_t got = pread(s, buf, want, (off_t)o);
                    if (got <= 0 || pwrite(d, buf, (size_t)got, (off_t)o) != got) die("pread/pwrite");
                    o += (size_t)got;
                }
            }
            double t1 = now_ns();
            check_same(s, d, size);
            if (ftruncate(d, 0) != 0) die("ftruncate");
            double t2 = now_ns();
            for (int i = 0; i < n; i++) {
                loff_t in = 0, out = 0;
                size_t left = size;
                while (left > 0) {
                    ssize_t got = copy_file_range(s, &in, d, &out, left, 0);
                    if (got <= 0) die("copy_file_range");
                    left -= (size_t)got;
                }
            }
            double t3 = now_ns();
            check_same(s, d, size);
            if (ftruncate(d, 0) != 0) die("ftruncate");
            double t4 = now_ns();
            for (int i = 0; i < n; i++)
                if (fstatfs(d, &fs) != 0) die("fstatfs");
            double t5 = now_ns();
            if ((t1 - t0) / n < rw) rw = (t1 - t0) / n;
            if ((t3 - t2) / n < cfr) cfr = (t3 - t2) / n;
            if ((t5 - t4) / n < sfs) sfs = (t5 - t4) / n;
        }
        printf("%7zu B: pread+pwrite %6.0f ns, copy_file_range %6.0f ns (ratio %.2f), fstatfs %4.0f ns; %d copies x 5 rounds\n",
               size, rw, cfr, cfr / rw, sfs, n);
        close(s);
        close(d);
    }
    free(buf);
    return 0;
}
