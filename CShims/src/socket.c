/* Sockets: accepting a connection close-on-exec from the start (accept4). */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <sys/socket.h>

int zc_accept(int listen_fd, int flags) {
    if ((flags & ~ZC_ACCEPT_NONBLOCK) != 0) return -EINVAL;
    int sflags = SOCK_CLOEXEC | ((flags & ZC_ACCEPT_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int fd;
    do {
        fd = accept4(listen_fd, NULL, NULL, sflags);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}
