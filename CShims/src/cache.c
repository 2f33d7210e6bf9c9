/*
 * The page cache, without waiting for I/O: how much of a range is in it (cachestat(2),
 * Linux 6.5), and whether a range can be read without waiting (preadv2 RWF_NOWAIT probes:
 * readahead inserts pages before their read completes, so "in the cache" is not "ready").
 * Used to wait for a readahead (posix_fadvise WILLNEED) in short, cancellable steps
 * instead of sleeping uninterruptibly in a read. And fstatfs's filesystem type.
 */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_cachestat
#if defined(__x86_64__) || defined(__aarch64__) || defined(__i386__) || defined(__riscv)
#define SYS_cachestat 451 /* the same number on every architecture (the generic table) */
#endif
#endif

struct zci_cachestat_range {
    uint64_t off;
    uint64_t len;
};

struct zci_cachestat {
    uint64_t nr_cache;
    uint64_t nr_dirty;
    uint64_t nr_writeback;
    uint64_t nr_evicted;
    uint64_t nr_recently_evicted;
};

/* 1 when the byte at `off` is in the page cache, 0 when not, -errno otherwise; counts the
 * preadv2 in *probes. */
static int zci_byte_cached(int fd, int64_t off, int *probes) {
    char byte;
    struct iovec v = {.iov_base = &byte, .iov_len = 1};
    ssize_t n;
    do {
        n = preadv2(fd, &v, 1, (off_t)off, RWF_NOWAIT);
        ++*probes;
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return 1; /* read, or end of file (nothing to wait for) */
    return errno == EAGAIN ? 0 : -errno;
}

static int64_t zci_cached_pages(int fd, int64_t offset, int64_t length, int *probes) {
    if (offset < 0 || length < 0) return -EINVAL;
    if (length == 0) return 0;
#ifdef SYS_cachestat
    struct zci_cachestat_range range = {(uint64_t)offset, (uint64_t)length};
    struct zci_cachestat cs;
    long r = syscall(SYS_cachestat, fd, &range, &cs, 0);
    if (r == 0) return (int64_t)cs.nr_cache;
    if (errno != ENOSYS) return -errno;
#endif
    /* Older kernels: the first and last byte stand for the range. */
    long page = sysconf(_SC_PAGESIZE);
    int64_t pages = (offset + length + page - 1) / page - offset / page;
    int a = zci_byte_cached(fd, offset, probes), b = zci_byte_cached(fd, offset + length - 1, probes);
    if (a < 0) return a;
    if (b < 0) return b;
    return a && b ? pages : 0;
}

int64_t zc_cached_pages(int fd, int64_t offset, int64_t length) {
    int probes = 0;
    return zci_cached_pages(fd, offset, length, &probes);
}

int zc_range_ready(int fd, int64_t offset, int64_t length, int thorough, int *probes) {
    int unused = 0;
    if (!probes) probes = &unused;
    if (offset < 0 || length < 0) return -EINVAL;
    if (length == 0) return 1;
    /* The reads of a readahead complete in order, the last one last: its last byte first
     * (the common answer either way, one call)... */
    int last = zci_byte_cached(fd, offset + length - 1, probes);
    if (last <= 0) return last;
    /* ...then every page present (one may have been evicted in the middle; cachestat counts
     * pages a readahead inserted before their read completes, hence the probe above). */
    long page = sysconf(_SC_PAGESIZE);
    int64_t pages = (offset + length + page - 1) / page - offset / page;
    int64_t present = zci_cached_pages(fd, offset, length, probes);
    if (present < 0) return (int)present;
    if (present < pages) {
        struct stat st; /* a file shorter than the range: pages past its end never arrive */
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || offset + length <= st.st_size) return 0;
        if (offset >= st.st_size) return 1;
        if (present < (st.st_size + page - 1) / page - offset / page) return 0;
        length = st.st_size - offset;
    }
    if (!thorough) return 1;
    /* Present is not readable: pages another readahead inserted may still be under I/O, and
     * readahead windows complete in their own order. One probe per 256 KiB stands for its
     * stretch (8 MiB: 32 probes, 26 us in all here, against 143 us for posix_fadvise). */
    for (int64_t at = offset; at < offset + length - 1; at += 256 * 1024) {
        int r = zci_byte_cached(fd, at, probes);
        if (r <= 0) return r;
    }
    return 1;
}

int64_t zc_filesystem_type(int fd) {
    struct statfs st;
    int r;
    do { r = fstatfs(fd, &st); } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : (int64_t)(uint64_t)st.f_type;
}

ssize_t zc_pread_nowait(int fd, void *buf, size_t len, int64_t offset) {
    if (offset < 0) return -EINVAL;
    struct iovec v = {.iov_base = buf, .iov_len = len};
    ssize_t n;
    do {
        n = preadv2(fd, &v, 1, (off_t)offset, RWF_NOWAIT);
    } while (n < 0 && errno == EINTR);
    return n >= 0 ? n : -errno;
}
