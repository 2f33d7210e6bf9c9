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
 * Strategy, best first:
 *   1. zc_copy_file_range_all: the kernel copies inside the filesystem (or shares
 *      extents on filesystems that reflink); no data crosses into user space.
 *      Refused across filesystems (EXDEV) and for special files (EINVAL).
 *   2. zc_sendfile_all: the kernel moves page-cache pages to the destination;
 *      works across filesystems.
 *   3. zc_read_write_all: the classic read/write loop through a user buffer;
 *      works for anything that can be read and written.
 * Each step resumes where the previous one stopped (the helpers report exactly
 * how far they got in a zc_progress and advance the offsets they are given), so
 * a fallback never copies a byte twice or skips one.
 *
 * Conventions worth copying: every zc_* function returns -errno on failure
 * (never sets errno as its way of reporting), the "_all" helpers return a
 * zc_status (ZC_DONE, ZC_EOF, ZC_AGAIN) otherwise, and they never die of
 * SIGPIPE/SIGXFSZ — those come back as -EPIPE/-EFBIG.
 */
#define _POSIX_C_SOURCE 200809L /* open, fstat, ftruncate: POSIX; no _GNU_SOURCE needed */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zerocopy/zerocopy.h>

/* Errors after which the next strategy may succeed where this one could not. */
static int worth_falling_back(int rc) {
    return rc == -EXDEV || rc == -EINVAL || rc == -EOPNOTSUPP || rc == -ENOSYS;
}

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

    /* Where the copy stands; every strategy continues from here. */
    int64_t in_off = 0, out_off = 0;
    uint64_t total = 0;
    zc_progress p;
    const char *used = NULL;
    char fallbacks[512] = "";
    int rc;

    /* 1. copy_file_range */
    rc = zc_copy_file_range_all(in, &in_off, out, &out_off, ZC_UNTIL_EOF, &p);
    total += p.bytes;
    if (rc == ZC_DONE && !(p.bytes == 0 && st.st_size > 0)) {
        used = "copy_file_range";
    } else if (rc == ZC_DONE || worth_falling_back(rc)) {
        /* "0 bytes from a source known to be longer" means unsupported (old kernels, /proc) */
        snprintf(fallbacks, sizeof fallbacks, "copy_file_range: %s",
                 rc == ZC_DONE ? "no data" : strerror(-rc));

        /* 2. sendfile: writes at the destination's file position */
        if (lseek(out, (off_t)out_off, SEEK_SET) < 0) {
            fprintf(stderr, "zccp: %s: %s\n", dst, strerror(errno));
            return 1;
        }
        rc = zc_sendfile_all(out, in, &in_off, ZC_UNTIL_EOF, &p);
        total += p.bytes;
        out_off += (int64_t)p.bytes;
        if (rc == ZC_DONE) {
            used = "sendfile";
        } else if (worth_falling_back(rc)) {
            size_t n = strlen(fallbacks);
            snprintf(fallbacks + n, sizeof fallbacks - n, "; sendfile: %s", strerror(-rc));

            /* 3. read/write through a 128 KiB buffer */
            size_t buf_len = 128 * 1024;
            void *buf = malloc(buf_len);
            if (buf == NULL) {
                fprintf(stderr, "zccp: out of memory\n");
                return 1;
            }
            rc = zc_read_write_all(in, &in_off, out, &out_off, ZC_UNTIL_EOF, buf, buf_len, &p);
            total += p.bytes;
            free(buf);
            if (rc == ZC_DONE) used = "read/write";
        }
    }
    if (used == NULL) {
        /* rc is -errno here (ZC_EOF/ZC_AGAIN cannot happen with ZC_UNTIL_EOF and blocking fds) */
        fprintf(stderr, "zccp: %s -> %s: %s after %llu bytes\n", src, dst,
                rc < 0 ? strerror(-rc) : "unexpected status", (unsigned long long)total);
        close(in);
        close(out);
        return 1;
    }
    if (close(out) < 0) { /* a delayed write error (NFS, quota) shows up here */
        fprintf(stderr, "zccp: %s: %s\n", dst, strerror(errno));
        return 1;
    }
    close(in);
    printf("zccp: %s -> %s: %llu bytes via %s%s%s%s\n", src, dst, (unsigned long long)total, used,
           fallbacks[0] ? " (after " : "", fallbacks, fallbacks[0] ? ")" : "");
    return 0;
}
