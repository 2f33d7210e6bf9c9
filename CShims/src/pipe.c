/* Pipes: creation (always O_CLOEXEC), capacity control, readable byte count. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int zc_pipe(int fds[2], int flags) {
    if (fds == NULL || (flags & ~ZC_PIPE_NONBLOCK) != 0) return -EINVAL;
    int oflags = O_CLOEXEC | ((flags & ZC_PIPE_NONBLOCK) ? O_NONBLOCK : 0);
    if (pipe2(fds, oflags) < 0) return -errno;
    return 0;
}

int zc_pipe_capacity(int fd) {
    int r = fcntl(fd, F_GETPIPE_SZ);
    return r < 0 ? -errno : r;
}

int zc_pipe_set_capacity(int fd, int size) {
    if (size <= 0) return -EINVAL;
    int r = fcntl(fd, F_SETPIPE_SZ, size);
    return r < 0 ? -errno : r;
}

int zc_pipe_max_capacity(void) {
    int fd;
    do { fd = open("/proc/sys/fs/pipe-max-size", O_RDONLY | O_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd < 0) return -errno;
    char buf[32];
    ssize_t n;
    do { n = read(fd, buf, sizeof buf - 1); } while (n < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    if (n < 0) return -err;
    if (n == 0) return -EIO;
    buf[n] = '\0';
    char *end = NULL;
    long v = strtol(buf, &end, 10);
    if (end == buf || v <= 0 || v > INT32_MAX) return -EIO;
    return (int)v;
}

int zc_readable_bytes(int fd) {
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) < 0) return -errno;
    /* A regular file answers with end - position as an int: negative past the end, where a
     * read returns 0. Passed on, a negative count would read as an -errno. */
    return n < 0 ? 0 : n;
}
