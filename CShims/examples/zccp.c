/*
 * zccp — copy a file like cp(1), the zero-copy way. An example of using
 * libzerocopy from C.
 *
 *   zccp SRC DST
 *
 * Build against an installed libzerocopy:
 *
 *   cc -std=c11 -Wall -Wextra -o zccp zccp.c $(pkg-config --cflags --libs zerocopy)
 *
 * One call does the work: zc_transfer() inspects both descriptors and takes the row of
 * the decision table that Swift's `.automatic` strategy uses too (zc_plan_table()):
 * for two files on one filesystem copy_file_range (the filesystem copies or reflinks),
 * then sendfile, then read/write; across filesystems read/write up to 16 KiB and
 * sendfile above. A method refused before it delivered a byte (EXDEV, EINVAL, ENOSYS,
 * EOPNOTSUPP, EPERM, ENODEV, or a first call that moves nothing from a non-empty
 * file) hands over to the next one; the report lists each. Like cp, only the source's
 * data segments are copied: its holes stay holes in DST.
 *
 * Conventions worth copying: every zc_* function returns -errno on failure
 * (never sets errno as its way of reporting), the transfer functions return a
 * zc_status (ZC_DONE, ZC_EOF, ZC_AGAIN) otherwise, and they never die of
 * SIGPIPE/SIGXFSZ — those come back as -EPIPE/-EFBIG.
 */
#define _POSIX_C_SOURCE 200809L /* open, fstat: POSIX; no _GNU_SOURCE needed */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zerocopy/zerocopy.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SRC DST\n(libzerocopy %s)\n", argv[0], zc_version());
        return 2;
    }
    const char *src = argv[1], *dst = argv[2];

    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "zccp: %s: %s\n", src, strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(in, &st) < 0) {
        fprintf(stderr, "zccp: %s: %s\n", src, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "zccp: %s: %s\n", src, strerror(EISDIR));
        return 1;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0) {
        fprintf(stderr, "zccp: %s: %s\n", dst, strerror(errno));
        return 1;
    }

    /* The whole file, from both file positions (0), with the default table parameters. */
    zc_transfer_report r;
    int rc = zc_transfer(in, NULL, out, NULL, ZC_UNTIL_EOF, NULL, &r);

    char fallbacks[256] = "";
    for (int i = 0; i < r.attempts; i++) {
        size_t n = strlen(fallbacks);
        snprintf(fallbacks + n, sizeof fallbacks - n, "%s%s: %s", i ? "; " : "",
                 zc_method_name(r.attempt[i].method),
                 r.attempt[i].error ? strerror(r.attempt[i].error) : "no data");
    }
    if (rc != ZC_DONE) {
        /* -errno; or ZC_EOF: the source shrank while it was copied */
        fprintf(stderr, "zccp: %s -> %s: %s after %llu bytes (%s)\n", src, dst,
                rc < 0 ? strerror(-rc) : "the source shrank during the copy",
                (unsigned long long)r.bytes, zc_method_name(r.method));
        close(in);
        close(out);
        return 1;
    }
    if (close(out) < 0) { /* a delayed write error (NFS, quota) shows up here */
        fprintf(stderr, "zccp: %s: %s\n", dst, strerror(errno));
        return 1;
    }
    close(in);
    printf("zccp: %s -> %s: %llu bytes via %s", src, dst, (unsigned long long)r.bytes,
           zc_method_name(r.method));
    if (r.hole_bytes) printf(", %llu left as holes", (unsigned long long)r.hole_bytes);
    if (fallbacks[0]) printf(" (after %s)", fallbacks);
    printf("\n");
    return 0;
}
