/*
 * zerocopy.h — the public C API of swift-zerocopy's shim (libzerocopy).
 *
 * Zero-copy and copy-avoiding Linux I/O: splice, tee, vmsplice, sendfile,
 * copy_file_range, pipes with capacity control, SIGBUS-safe mmap access, and
 * "all" helpers that finish a whole range or say exactly how far they got.
 *
 * Used by the Swift package (module CZeroCopy) and by plain C programs
 * (#include <zerocopy/zerocopy.h>, pkg-config zerocopy). Includers need no
 * _GNU_SOURCE: everything GNU-only is wrapped here.
 *
 * Conventions (the same for every function, liburing-style):
 *   - A negative return value is -errno. Functions never set errno as their
 *     way of reporting failure (errno may still be clobbered).
 *   - "_all" helpers return a non-negative zc_status (ZC_DONE, ZC_EOF,
 *     ZC_AGAIN) or -errno, and always fill a zc_progress with how far they got,
 *     on success and on failure alike.
 *   - EINTR is retried inside every helper; it is never returned. (An "_all" helper
 *     whose thread's cancel token is requested returns -ECANCELED instead: see
 *     zc_cancel_scope_enter.)
 *   - Every descriptor the shim creates is O_CLOEXEC.
 *   - Offsets are int64_t and counts uint64_t/size_t, whatever _FILE_OFFSET_BITS is.
 */
#ifndef ZEROCOPY_H
#define ZEROCOPY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZC_VERSION_MAJOR 0
#define ZC_VERSION_MINOR 1
#define ZC_VERSION_PATCH 0

/** The library's version as "MAJOR.MINOR.PATCH". Never NULL. */
const char *zc_version(void);

/* ------------------------------------------------------------------------- */
/* Constants (mirrors of GNU-only kernel values Swift's Glibc import hides)   */
/* ------------------------------------------------------------------------- */

/** splice/tee/vmsplice flags (SPLICE_F_*). */
#define ZC_SPLICE_F_MOVE     1u
#define ZC_SPLICE_F_NONBLOCK 2u
#define ZC_SPLICE_F_MORE     4u
#define ZC_SPLICE_F_GIFT     8u

/** Largest byte count one sendfile/splice/copy_file_range call moves (MAX_RW_COUNT). */
#define ZC_MAX_RW_COUNT 0x7ffff000ull

/** Pass as `count` to an "_all" helper to transfer until the source's end of file. */
#define ZC_UNTIL_EOF UINT64_MAX

/** Flags for zc_pipe(). */
#define ZC_PIPE_NONBLOCK 1 /* both ends O_NONBLOCK */

/** Flags for zc_accept(). */
#define ZC_ACCEPT_NONBLOCK 1 /* the accepted socket O_NONBLOCK */

/** Advice values for zc_madvise() (the kernel's MADV_* values). */
#define ZC_MADV_NORMAL     0
#define ZC_MADV_RANDOM     1
#define ZC_MADV_SEQUENTIAL 2
#define ZC_MADV_WILLNEED   3
#define ZC_MADV_DONTNEED   4
#define ZC_MADV_HUGEPAGE   14
#define ZC_MADV_POPULATE_READ 22

/** Protection and flags for zc_map() (PROT_* / MAP_* values). */
#define ZC_PROT_READ  1
#define ZC_PROT_WRITE 2
#define ZC_MAP_SHARED   0x01
#define ZC_MAP_PRIVATE  0x02
#define ZC_MAP_POPULATE 0x8000

/** Status returned (non-negative) by the "_all" helpers. */
typedef enum zc_status {
    ZC_DONE = 0,  /* the whole requested count was delivered (or EOF, with ZC_UNTIL_EOF) */
    ZC_EOF = 1,   /* the source ended before `count` bytes: it is shorter than asked or
                     was truncated during the transfer. progress.bytes says how far. */
    ZC_AGAIN = 2  /* a non-blocking descriptor would block; progress.bytes were delivered
                     and the caller may retry later with the remaining count. */
} zc_status;

/** How far an "_all" helper got. Always written, whatever the outcome. */
typedef struct zc_progress {
    uint64_t bytes;      /* bytes delivered to the destination */
    uint64_t syscalls;   /* syscalls issued on the data path: each sendfile/splice leg/
                            copy_file_range/read/write call, including the reads that
                            drain an intermediate pipe after a failure (not counted:
                            the signal guard's sigprocmask calls, fstat, FIONREAD) */
    uint64_t discarded;  /* bytes taken from the source that could not be delivered
                            because the destination failed: left in splice's
                            intermediate pipe (drained and dropped, so the pipe is
                            empty again) or in read/write's buffer. 0 otherwise. */
} zc_progress;

/* ------------------------------------------------------------------------- */
/* Pipes                                                                      */
/* ------------------------------------------------------------------------- */

/**
 * Create a pipe with O_CLOEXEC (pipe2). flags: 0 or ZC_PIPE_NONBLOCK.
 * fds[0] is the read end, fds[1] the write end.
 * Returns 0, or -EMFILE/-ENFILE/-EFAULT/-EINVAL.
 */
int zc_pipe(int fds[2], int flags);

/** The capacity of a pipe in bytes (F_GETPIPE_SZ). Returns >0, or -EBADF (not a pipe). */
int zc_pipe_capacity(int fd);

/**
 * Set a pipe's capacity (F_SETPIPE_SZ). The kernel rounds up to a power-of-two
 * number of pages. Returns the capacity actually set (>= size), or
 * -EPERM (above /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE, or the
 * per-user pipe-buffer limit reached), -EBUSY (size smaller than the data in it),
 * -EINVAL, -EBADF.
 */
int zc_pipe_set_capacity(int fd, int size);

/** /proc/sys/fs/pipe-max-size, or -errno if it cannot be read. */
int zc_pipe_max_capacity(void);

/** Bytes currently readable from a pipe or socket (FIONREAD). Returns >= 0 or -errno.
 * On a regular file: from the position to the end as the kernel's int count (0 at or past
 * the end; a distance of 2 GiB or more does not fit in it). */
int zc_readable_bytes(int fd);

/* ------------------------------------------------------------------------- */
/* Single syscalls (one call each, -errno on failure, EINTR retried)          */
/* These may raise SIGPIPE/SIGXFSZ like the raw calls: see zc_sigguard_*.      */
/* ------------------------------------------------------------------------- */

/**
 * splice(2): move up to len bytes between fd_in and fd_out, one of which must
 * be a pipe. off_in/off_out: NULL to use (and advance) the file position, or a
 * pointer to an offset that is advanced by the bytes moved (must be NULL for a pipe).
 * Returns bytes moved (0: end of input, or a writer-less empty pipe), or -errno:
 * -EINVAL (neither end a pipe, an offset for a pipe, unsupported file, O_APPEND
 * destination), -ESPIPE, -EBADF, -EAGAIN (non-blocking), -EPIPE, -ENOMEM.
 */
ssize_t zc_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                  unsigned flags);

/**
 * tee(2): duplicate up to len bytes from pipe fd_in to pipe fd_out without
 * consuming them. Returns bytes duplicated, 0 if fd_in is empty with no writers,
 * or -errno (-EINVAL: not both pipes, or the same pipe; -EAGAIN).
 */
ssize_t zc_tee(int fd_in, int fd_out, size_t len, unsigned flags);

/**
 * vmsplice(2): map/copy user memory described by iov into pipe fd.
 * Without ZC_SPLICE_F_GIFT the pages are referenced, so the memory must not be
 * modified until the reader consumed it. Returns bytes moved or -errno.
 */
ssize_t zc_vmsplice(int fd, const struct iovec *iov, size_t nr_segs, unsigned flags);

/**
 * copy_file_range(2) within or across files. Offsets as for zc_splice.
 * Returns bytes copied (0 at end of source), or -errno: -EXDEV (different
 * superblocks here; also /proc sources on 6.18), -EINVAL (sockets, /dev/null,
 * overlapping same-file ranges), -EBADF (bad fd, or an O_APPEND destination),
 * -EFBIG, -ENOSPC, -EOPNOTSUPP, -ENOSYS.
 */
ssize_t zc_copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                           unsigned flags);

/**
 * sendfile(2): from in_fd (mmap-able file) to out_fd (any fd since 2.6.33).
 * offset: NULL to use the file position, else advanced by the bytes sent.
 * Moves at most ZC_MAX_RW_COUNT bytes. Returns bytes sent (0 at end of file),
 * or -errno (-EINVAL: O_APPEND destination, unsupported source such as /proc;
 * -EAGAIN; -EPIPE; -ECONNRESET; -EBADF; -ESPIPE...).
 */
ssize_t zc_sendfile(int out_fd, int in_fd, int64_t *offset, size_t count);

/**
 * accept4(2) with SOCK_CLOEXEC: accept a connection on listening socket listen_fd; the
 * new socket is close-on-exec from its first instant, so a process another thread
 * forks and execs meanwhile never inherits it (accept() followed by fcntl(FD_CLOEXEC)
 * leaves that window open; Swift's Glibc module does not import accept4). flags: 0 or
 * ZC_ACCEPT_NONBLOCK (the new socket O_NONBLOCK). The peer's address is not returned
 * (getpeername). Returns the new descriptor, or -errno: -EAGAIN (non-blocking listener,
 * nobody waiting), -EINVAL (not listening, or unknown flags), -ENOTSOCK, -EBADF, -EMFILE,
 * -ENFILE, -ECONNABORTED, -ENOMEM.
 */
int zc_accept(int listen_fd, int flags);

/* ------------------------------------------------------------------------- */
/* Signal guard: survive SIGPIPE / SIGXFSZ at their default disposition       */
/* ------------------------------------------------------------------------- */

/** Saved state of a signal guard (opaque; allocate on the stack). */
typedef struct zc_sigguard {
    uint64_t saved_mask[16];  /* the thread's previous sigset_t (128 bytes) */
    int active;
} zc_sigguard;

/**
 * Block SIGPIPE and SIGXFSZ in the calling thread (pthread_sigmask), so that a
 * write to a closed socket/pipe fails with -EPIPE and a write past RLIMIT_FSIZE
 * with -EFBIG instead of killing the process. The process-wide disposition is
 * not changed. Always pair with zc_sigguard_end() on the same thread.
 * Returns 0 or -errno.
 */
int zc_sigguard_begin(zc_sigguard *g);

/**
 * Consume any SIGPIPE/SIGXFSZ that became pending for this thread while the
 * guard was active (sigtimedwait with a zero timeout), but only those that
 * were not already pending before zc_sigguard_begin, then restore the
 * thread's signal mask. Returns 0 or -errno.
 */
int zc_sigguard_end(zc_sigguard *g);

/**
 * Block SIGPIPE and SIGXFSZ in the calling thread for good (pthread_sigmask) and
 * remember it in a thread-local flag, so that every later zc_sigguard_begin /
 * zc_sigguard_end on this thread — and the guard inside every "_all" helper —
 * skips its two rt_sigprocmask calls (the signals cannot be delivered here
 * anyway). For threads that only do I/O (worker pools): a write to a closed
 * peer then fails with -EPIPE, one past RLIMIT_FSIZE with -EFBIG, and the
 * signal stays pending on the thread, never delivered. The thread must not
 * unblock them afterwards. Returns 0 or -errno.
 */
int zc_sigguard_block_thread(void);

/* ------------------------------------------------------------------------- */
/* Cancellation of the "all" helpers                                           */
/* ------------------------------------------------------------------------- */

/**
 * A cancellation flag, set by one thread and checked by "_all" helpers running on
 * others. Initialize with zc_cancel_token_init; the field is accessed atomically.
 */
typedef struct zc_cancel_token {
    int requested;
} zc_cancel_token;

/** Clear a token (not requested). */
void zc_cancel_token_init(zc_cancel_token *t);

/** Request cancellation (any thread; a sequentially consistent store). */
void zc_cancel_request(zc_cancel_token *t);

/** 1 if cancellation was requested, else 0 (NULL: 0). */
int zc_cancel_requested(const zc_cancel_token *t);

/**
 * Install `t` (or NULL: none) as the calling thread's cancel token and return the
 * previous one, to give back to zc_cancel_scope_exit (scopes nest). While a requested
 * token is installed, every "_all" helper on this thread stops before its next system
 * call with -ECANCELED and exact progress (bytes delivered; for a splice through a pipe,
 * the bytes pulled into it are drained and counted in progress.discarded, as for a
 * failure). A helper checks the token before each call, so a call interrupted by a
 * signal (EINTR, or a short count) leads straight to the check: to end a call blocked on
 * a peer that does not read, send the thread a signal whose handler was installed
 * without SA_RESTART, after zc_cancel_request. The exception to "EINTR is never returned".
 */
const zc_cancel_token *zc_cancel_scope_enter(const zc_cancel_token *t);

/** Restore the token zc_cancel_scope_enter returned. */
void zc_cancel_scope_exit(const zc_cancel_token *previous);

/**
 * How many pages of [offset, offset + length) of file fd are in the page cache
 * (cachestat(2), Linux 6.5; on older kernels a preadv2(RWF_NOWAIT) probe of the first
 * and last byte stands for the range: all of its pages, or 0). Pages past the end of the
 * file are not counted. Returns the count or -errno (-EINVAL, -EBADF, -ESPIPE...). Never
 * waits for I/O: used to wait for a readahead (posix_fadvise WILLNEED) in short,
 * cancellable steps instead of sleeping uninterruptibly in a read.
 */
int64_t zc_cached_pages(int fd, int64_t offset, int64_t length);

/**
 * 1 when [offset, offset + length) of fd (clamped to the end of a regular file) can be
 * read without waiting for I/O, 0 when not, or -errno. Checks that its last byte is
 * readable (a preadv2 RWF_NOWAIT of one byte) and that every page of it is in the page
 * cache (zc_cached_pages, where cachestat exists: a page in the middle may have been
 * evicted): two system calls, about 1 us here. With `thorough`, also that one byte in
 * every 256 KiB is readable: present is not readable (a readahead inserts pages before
 * their reads complete) and separate readahead windows complete in their own order, so
 * while a readahead may be in flight only the probes say "ready" for sure (8 MiB: some
 * 34 system calls, 26 us here; 1 MiB: 5 us). Adds the preadv2 probes it made to *probes
 * (may be NULL): they are reads, which a caller counting its data-path calls counts.
 */
int zc_range_ready(int fd, int64_t offset, int64_t length, int thorough, int *probes);

/**
 * One read of up to len bytes at offset that never waits for I/O: preadv2 with
 * RWF_NOWAIT (Linux 4.14). Returns the bytes read — all of them when the range is in
 * the page cache, fewer when only its start is (or at the end of the file), 0 at or
 * past the end — or -EAGAIN when the first byte is not cached (the read would wait for
 * the device), -EOPNOTSUPP where the file does not support RWF_NOWAIT (pipes, some
 * filesystems), or another -errno. EINTR is retried. What io_uring tries first for a
 * buffered read, before handing it to a kernel worker thread.
 */
ssize_t zc_pread_nowait(int fd, void *buf, size_t len, int64_t offset);

/** The magic number of fd's filesystem (fstatfs f_type: 0xEF53 ext2/3/4, 0x58465342 XFS,
 * 0x9123683E Btrfs, 0x01021994 tmpfs...), or -errno. */
int64_t zc_filesystem_type(int fd);

/* ------------------------------------------------------------------------- */
/* "All" helpers: finish a whole range or report exactly how far they got      */
/* Each runs inside a signal guard (SIGPIPE/SIGXFSZ become -EPIPE/-EFBIG).     */
/*                                                                             */
/* Holes: the helpers move byte ranges, not a file's layout. A hole in a       */
/* regular source reads as zeros and is written as zeros (allocated blocks) by */
/* zc_sendfile_all, zc_splice_all, zc_read_write_all and zc_write_from_mapping; */
/* zc_copy_file_range_all leaves it to the filesystem: XFS and Btrfs share the */
/* extents (holes kept), ext4 and tmpfs write the zeros (measured on 6.18: a   */
/* 64 MiB file holding 3 bytes became 64 MiB allocated). To keep holes, call a */
/* helper once per data segment found with lseek(SEEK_DATA)/lseek(SEEK_HOLE),  */
/* at the same offset in the destination, then set the length with ftruncate  */
/* (ZeroCopy's Transfer.copy and TreeCopy do exactly this).                    */
/* ------------------------------------------------------------------------- */

/**
 * Send `count` bytes (or ZC_UNTIL_EOF) from file in_fd to out_fd with sendfile,
 * looping over the ZC_MAX_RW_COUNT per-call cap and short counts.
 * offset: NULL (use and advance in_fd's position) or advanced by bytes sent.
 * Returns ZC_DONE; ZC_EOF when sendfile returned 0 before `count` bytes (source
 * shorter or truncated — never loops forever); ZC_AGAIN when out_fd is non-blocking
 * and full (progress counts what was sent); or -errno (-EPIPE/-ECONNRESET when the
 * peer closed, -EFBIG past RLIMIT_FSIZE, -ENOSPC, -EINVAL...). p is always filled.
 */
int zc_sendfile_all(int out_fd, int in_fd, int64_t *offset, uint64_t count, zc_progress *p);

/**
 * Move `count` bytes (or ZC_UNTIL_EOF) from fd_in to fd_out with splice.
 *   - If fd_in or fd_out is a pipe, splices directly between them.
 *   - Otherwise goes through an intermediate pipe: `pipe_fds` (an empty pipe the
 *     caller owns, e.g. from a pool, sized with zc_pipe_set_capacity), or NULL to
 *     create a temporary O_CLOEXEC pipe closed before returning.
 * progress.bytes counts bytes *delivered to fd_out*. If the second leg fails,
 * the bytes still in the intermediate pipe are drained and dropped
 * (progress.discarded) so the pipe is empty again on return; *off_in is then
 * reset to the first undelivered byte (start + delivered), so a retry resumes
 * exactly. When a non-blocking destination would block, the bytes already
 * pulled into the pipe are given back to a seekable source (drained, and the
 * source offset or file position rewound to the first undelivered byte) and
 * ZC_AGAIN is returned; only a non-seekable source (a socket), whose bytes
 * cannot be read twice, makes the helper wait (poll) until the destination took
 * them. Either way the pipe is never left holding data.
 * Returns ZC_DONE, ZC_EOF, ZC_AGAIN, or -errno (-EINVAL for unsupported files,
 * -EPIPE, -ECONNRESET, -ENOSPC, -EFBIG, -EBUSY if pipe_fds is not empty...).
 */
int zc_splice_all(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                  const int pipe_fds[2], zc_progress *p);

/* Flags of zc_splice_all_flags. */
#define ZC_SPLICE_ALL_DIRECT   1u /* an end is a pipe: splice directly, no fstat(2) of the ends */
#define ZC_SPLICE_ALL_NONBLOCK 2u /* SPLICE_F_NONBLOCK on every call (direct splices only) */

/**
 * zc_splice_all with flags (zc_splice_all is this function with flags 0).
 *   - ZC_SPLICE_ALL_DIRECT: the caller knows that fd_in or fd_out is a pipe, so the
 *     helper splices directly without the fstat(2) of each end that zc_splice_all
 *     makes on every call to find out (two system calls saved per call). When
 *     neither end is a pipe, the kernel answers -EINVAL (nothing moved).
 *   - ZC_SPLICE_ALL_NONBLOCK: every splice(2) call passes SPLICE_F_NONBLOCK, so a
 *     pipe end that would wait (a full pipe to write into, an empty one with a
 *     writer to read from) makes the helper return ZC_AGAIN with progress.bytes
 *     delivered, whether or not that end's description is O_NONBLOCK (no need to
 *     reopen a blocking pipe end to try without waiting). The other end is not
 *     affected: a regular file's read may still wait for the device, a socket
 *     follows its own O_NONBLOCK. Needs a direct splice: -EINVAL when neither end
 *     is a pipe.
 * Any flag with pipe_fds != NULL, or an unknown flag bit: -EINVAL (nothing moved).
 * Returns as zc_splice_all.
 */
int zc_splice_all_flags(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                        const int pipe_fds[2], unsigned flags, zc_progress *p);

/**
 * Copy `count` bytes (or ZC_UNTIL_EOF) with copy_file_range, looping over short
 * counts. A 0 return ends the loop with ZC_EOF (or ZC_DONE for ZC_UNTIL_EOF);
 * callers that fall back should treat "ZC_EOF with 0 bytes" from a source known
 * to be longer as "not supported here" (older kernels returned 0 for /proc files).
 * Returns ZC_DONE, ZC_EOF, or -errno (-EXDEV, -EINVAL, -EOPNOTSUPP, -ENOSPC, -EFBIG...).
 */
int zc_copy_file_range_all(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out,
                           uint64_t count, zc_progress *p);

/**
 * Read exactly len bytes at offset (pread loop). Returns ZC_DONE, ZC_EOF (end of
 * file first; progress.bytes were read), ZC_AGAIN (non-blocking source empty), or -errno. offset < 0: use read() and
 * the file position instead.
 */
int zc_pread_all(int fd, void *buf, size_t len, int64_t offset, zc_progress *p);

/**
 * Write exactly len bytes at offset (pwrite loop). offset < 0: use write() and
 * the file position (the only choice for sockets and pipes). Returns ZC_DONE,
 * ZC_AGAIN (non-blocking destination full), or -errno (-EPIPE, -ECONNRESET,
 * -ENOSPC, -EFBIG, -EFAULT when buf is a mapping whose file was truncated...).
 */
int zc_pwrite_all(int fd, const void *buf, size_t len, int64_t offset, zc_progress *p);

/** The largest buf_len zc_read_write_all accepts with buf NULL (its own stack buffer). */
#define ZC_RW_STACK_BUFFER_MAX 16384u

/**
 * Classic copy loop: read up to buf_len bytes from fd_in, write them all to fd_out,
 * until `count` bytes (or ZC_UNTIL_EOF). Offsets as for zc_splice (NULL = file position).
 * buf is caller-provided scratch memory, or NULL for a buffer on the function's own
 * stack (buf_len at most ZC_RW_STACK_BUFFER_MAX; the function then uses 16 KiB of the
 * calling thread's stack): no allocation for a small copy. buf_len 0, or NULL with a
 * larger buf_len, is -EINVAL. A chunk that a non-blocking destination
 * only partly took is given back to a seekable source (offset rewound to the first
 * undelivered byte) before ZC_AGAIN; a non-seekable source waits (poll) for the
 * destination instead. If a write fails, the bytes read but not written are
 * counted in progress.discarded (and given back to a seekable source read by
 * position). Returns ZC_DONE, ZC_EOF, ZC_AGAIN, or -errno.
 */
int zc_read_write_all(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                      void *buf, size_t buf_len, zc_progress *p);

/* ------------------------------------------------------------------------- */
/* Memory mappings                                                             */
/* ------------------------------------------------------------------------- */

/** The system page size (sysconf(_SC_PAGESIZE)). */
size_t zc_page_size(void);

/** A mapping of a file range. `data` points at the requested offset inside it. */
typedef struct zc_mapping {
    void *base;          /* page-aligned start of the mapping (what munmap takes) */
    size_t map_length;   /* bytes mapped from base */
    void *data;          /* base + (offset - aligned offset): the first requested byte */
    size_t length;       /* the requested length */
} zc_mapping;

/**
 * Map `length` bytes of fd starting at any `offset` (aligned down to a page
 * internally; data points at offset). prot: ZC_PROT_*; flags: ZC_MAP_SHARED or
 * ZC_MAP_PRIVATE, optionally | ZC_MAP_POPULATE. length 0 is -EINVAL (mmap's rule).
 * Returns 0 and fills *m, or -errno (-EACCES, -EINVAL, -ENODEV, -ENOMEM, -EBADF, -EOVERFLOW).
 */
int zc_map(int fd, int64_t offset, size_t length, int prot, int flags, zc_mapping *m);

/** Unmap a mapping made by zc_map and zero *m. Returns 0 or -errno. Idempotent. */
int zc_unmap(zc_mapping *m);

/**
 * madvise(2) on [offset, offset+length) of the mapping's requested range
 * (rounded out to pages; an empty range advises nothing). Returns 0 or -errno
 * (-EINVAL for ranges outside it).
 */
int zc_madvise(const zc_mapping *m, size_t offset, size_t length, int advice);

/**
 * memcpy that survives SIGBUS: copies len bytes from src to dst where either may
 * lie in a file mapping whose file was truncated (by any process). Returns 0, or
 * -EFAULT if a SIGBUS hit this thread during the copy (the bytes before the fault
 * may have been copied; *copied, if non-NULL, is a lower bound of them: the copy
 * advances by source pages, so it is exact to a source page for a fault in the
 * source, and within one page for a fault in the destination).
 * The handler is installed once, process-wide and thread-safe, the first time
 * this is called; a SIGBUS outside a guarded copy is passed to the handler that
 * was installed before (Swift's backtracer, or the default action).
 */
int zc_guarded_copy(void *dst, const void *src, size_t len, size_t *copied);

/**
 * Write `len` bytes of a mapping to fd (write/pwrite loop) without touching the
 * mapped pages in user space: when the file behind the mapping was truncated,
 * the kernel returns a short count and then EFAULT, so this returns -EFAULT with
 * progress.bytes = bytes written, never SIGBUS. Measured on 6.18: to a file or
 * pipe the kernel writes up to the end of the last page that still exists (the
 * truncated size rounded up to a page, zeros after end of file) before EFAULT; to
 * an AF_UNIX socket it fails with -EFAULT after 0 bytes; /dev/null never touches
 * the pages, so it "succeeds". offset < 0: use the file position.
 * Returns ZC_DONE, ZC_AGAIN, or -errno.
 */
int zc_write_from_mapping(int fd, const void *src, size_t len, int64_t offset, zc_progress *p);

/* ------------------------------------------------------------------------- */
/* Direct I/O (O_DIRECT)                                                      */
/* ------------------------------------------------------------------------- */

/** The O_DIRECT open flag of this architecture (Glibc hides it without _GNU_SOURCE):
 *  0x4000 on x86_64, 0x10000 on arm64. Never 0. */
int zc_o_direct_flag(void);

/** Direct-I/O alignment of an open file, from statx(STATX_DIOALIGN) (Linux 6.1+). */
typedef struct zc_dio_alignment {
    uint32_t mem_align;     /* required alignment of the buffer address, in bytes */
    uint32_t offset_align;  /* required alignment of file offsets and lengths, in bytes */
    int reported;           /* 1: the kernel reported both (STATX_DIOALIGN in stx_mask, values
                               non-zero); 0: it did not (older kernel, or a filesystem that
                               does not say), and both fields hold the fallback 4096 */
} zc_dio_alignment;

/**
 * Query fd's direct-I/O alignment: statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN). Uses
 * the kernel's struct layout (<linux/stat.h>), since Glibc's struct statx before 2.37 has
 * no stx_dio_* fields. A kernel or filesystem that does not report it gives the fallback
 * (4096 for both, out->reported = 0). Returns 0 and fills *out, or -errno (-EBADF,
 * -ENOSYS from a statx-less kernel is not an error: it gives the fallback).
 */
int zc_dio_alignment_query(int fd, zc_dio_alignment *out);

/**
 * Re-open the file behind fd as a new open file description, with `flags` (O_RDONLY,
 * O_WRONLY or O_RDWR, plus O_DIRECT etc.; O_CLOEXEC is always added; O_CREAT/O_TRUNC are
 * refused with -EINVAL): open("/proc/self/fd/N", flags). The new descriptor's offset and
 * status flags are independent of fd's. Returns the new descriptor, or -errno (-EINVAL
 * when the filesystem refuses O_DIRECT, -ENOENT without /proc, -EACCES).
 */
int zc_reopen(int fd, int flags);

/* ------------------------------------------------------------------------- */
/* The automatic choice: one decision table for C and Swift, and zc_transfer  */
/* ------------------------------------------------------------------------- */

/*
 * The table below is the one Swift's `.automatic` strategy reads too (through LinuxIO's
 * TransferPlan), so both languages pick the same system calls for the same pair of
 * descriptors. It is data: rows matched first to last, with its crossover sizes taken
 * from a zc_plan_params, so a per-host calibration changes numbers, not code.
 * Docs/Transfer.md gives the measurement behind each row.
 */

/** What kind of descriptor an endpoint is (Swift: TransferPlan.EndpointKind, which
 *  ZeroCopy's TransferEndpoint.Kind names). */
typedef enum zc_endpoint_kind {
    ZC_KIND_FILE = 0,             /* a regular file whose size describes its contents */
    ZC_KIND_PSEUDO_FILE = 1,      /* a regular file on procfs, sysfs, debugfs...: its size
                                     (0 or 4096) says nothing about its contents */
    ZC_KIND_BLOCK_DEVICE = 2,
    ZC_KIND_CHARACTER_DEVICE = 3, /* /dev/null, /dev/zero, a terminal... */
    ZC_KIND_PIPE = 4,             /* a pipe or FIFO */
    ZC_KIND_TCP_SOCKET = 5,       /* AF_INET/AF_INET6 SOCK_STREAM */
    ZC_KIND_UNIX_SOCKET = 6,      /* AF_UNIX */
    ZC_KIND_OTHER_SOCKET = 7,     /* UDP, netlink... */
    ZC_KIND_DIRECTORY = 8,
    ZC_KIND_OTHER = 9             /* eventfd, epoll, io_uring descriptors... */
} zc_endpoint_kind;

/** Number of zc_endpoint_kind values. */
#define ZC_KIND_COUNT 10

/** A descriptor inspected for the decision table (zc_endpoint_inspect). */
typedef struct zc_endpoint {
    int kind;             /* a zc_endpoint_kind */
    int append_only;      /* 1: opened with O_APPEND */
    int non_blocking;     /* 1: opened with O_NONBLOCK */
    uint32_t mode;        /* st_mode & 07777 (permission bits; fills what was padding,
                             so the struct's size and other offsets are unchanged) */
    int64_t size;         /* st_size of a ZC_KIND_FILE, -1 for every other kind */
    uint64_t device;      /* st_dev: equal devices = same filesystem */
    uint64_t inode;       /* st_ino */
} zc_endpoint;

/**
 * Inspect fd as the decision table sees it: fstat (type, size, identity), fcntl(F_GETFL)
 * (O_APPEND, O_NONBLOCK), fstatfs for regular files of size 0 or 4096 (pseudo filesystems
 * report those sizes), getsockopt(SO_DOMAIN, SO_TYPE) for sockets. Swift's
 * TransferEndpoint.inspect calls this function (through LinuxIO's TransferPlan.inspect), so
 * both languages classify a descriptor the same way. Returns 0 and fills *out, or -errno
 * (-EBADF, -EFAULT).
 */
int zc_endpoint_inspect(int fd, zc_endpoint *out);

/**
 * zc_endpoint_inspect, also saying which system call failed: on a -errno return,
 * *failed_call (when failed_call is not NULL) points to the failed call's name, a static
 * string: "fstat" or "fcntl" (F_GETFL); NULL for -EFAULT (out is NULL) and on success.
 * The fstatfs and getsockopt calls never fail the inspection (a failed fstatfs means "not
 * a pseudo filesystem", a failed getsockopt ZC_KIND_OTHER_SOCKET). Swift's
 * TransferEndpoint.inspect names the call in its error through this function.
 */
int zc_endpoint_inspect_call(int fd, zc_endpoint *out, const char **failed_call);

/** The system-call families the automatic choice picks from. */
typedef enum zc_method {
    ZC_METHOD_NONE = 0,
    ZC_METHOD_COPY_FILE_RANGE = 1, /* zc_copy_file_range_all (Swift strategy "copyFileRange") */
    ZC_METHOD_SENDFILE = 2,        /* zc_sendfile_all        ("sendfile") */
    ZC_METHOD_SPLICE = 3,          /* zc_splice_all          ("splice") */
    ZC_METHOD_READ_WRITE = 4       /* zc_read_write_all      ("readWrite") */
} zc_method;

/** The Swift strategy name of a zc_method ("copyFileRange", "sendfile", "splice",
 *  "readWrite"), "none" for ZC_METHOD_NONE, "?" otherwise. Never NULL. */
const char *zc_method_name(int method);

/** Most methods one row lists (they are tried in order). */
#define ZC_PLAN_MAX 4

/** Facts about a pair of endpoints that rows test (zc_plan_row.require / .exclude). */
#define ZC_PAIR_SAME_FILESYSTEM 1u     /* both ends seekable files on the same st_dev */
#define ZC_PAIR_APPEND_DESTINATION 2u  /* the destination was opened with O_APPEND */
#define ZC_PAIR_KERNEL_COPY 4u         /* the destination's filesystem is one whose
                                          copy_file_range copies bytes in the kernel
                                          (ext2/3/4, tmpfs): no reflink, no server-side
                                          copy is lost by using another method. Costs an
                                          fstatfs: see zc_plan_facts(). */

/** The facts of a pair (ZC_PAIR_* bits) that cost no system call, as Swift's
 *  EndpointPair computes them (ZC_PAIR_SAME_FILESYSTEM, ZC_PAIR_APPEND_DESTINATION). */
uint32_t zc_pair_facts(const zc_endpoint *source, const zc_endpoint *destination);

/** Indices of the table's parameters in zc_plan_params.value. A crossover of
 *  ZC_PARAM_UNLIMITED means "the first list at every known size". */
typedef enum zc_plan_param {
    ZC_PARAM_SMALL_COPY_MAX = 0,     /* file -> file across filesystems: up to this many
                                        bytes go by read/write, more by sendfile */
    ZC_PARAM_READ_WRITE_BUFFER = 1,  /* the read/write method's buffer, in bytes */
    ZC_PARAM_COPY_FILE_RANGE_MAX = 2,/* file -> file on one filesystem that copies in the
                                        kernel (ZC_PAIR_KERNEL_COPY): up to this many bytes
                                        go by copy_file_range, more by splice */
    ZC_PARAM_PIPE_SENDFILE_MAX = 3,  /* file -> pipe: up to this many bytes go by sendfile,
                                        more by splice */
    ZC_PARAM_SOCKET_SENDFILE_MAX = 4 /* file -> socket: up to this many bytes go by
                                        sendfile, more by splice */
} zc_plan_param;

/** Number of parameters in use, and the room zc_plan_params keeps for more. */
#define ZC_PARAM_COUNT 5
#define ZC_PARAM_MAX 8

/** A crossover that is never crossed by a known size ("max" in a profile). */
#define ZC_PARAM_UNLIMITED UINT64_MAX

/** The decision table's parameters: its crossover sizes and the read/write buffer, which
 *  a host profile (zc calibrate) may replace. Start from zc_plan_params_default(). */
typedef struct zc_plan_params {
    uint64_t value[ZC_PARAM_MAX]; /* indexed by zc_plan_param; unused entries 0 */
} zc_plan_params;

/** Fill *out with the built-in table's parameters: those of the profile compiled into
 *  the library (CShims/src/plan_builtin.h, derived from a quiet run; Docs/Transfer.md,
 *  "Host profiles"). Not the host's profile: see zc_profile_host(). */
void zc_plan_params_default(zc_plan_params *out);

/** A parameter's name as profiles and Swift spell it ("smallCopyMax", "readWriteBuffer",
 *  "copyFileRangeMax", "pipeSendfileMax", "socketSendfileMax"), or NULL for an index out
 *  of range. */
const char *zc_plan_param_name(int index);

/** How a row tests the transfer's size against its parameter. */
#define ZC_SIZE_ANY 0      /* any size */
#define ZC_SIZE_AT_MOST 1  /* the size is known and <= value[size_param] */
#define ZC_SIZE_ABOVE 2    /* the size is unknown, or > value[size_param] */

/** One row of the decision table. */
typedef struct zc_plan_row {
    uint32_t sources;              /* bit (1u << kind) for each zc_endpoint_kind it matches */
    uint32_t destinations;         /* the same, for the destination */
    uint32_t require;              /* ZC_PAIR_* facts that must hold */
    uint32_t exclude;              /* ZC_PAIR_* facts that must not hold */
    uint8_t size_rule;             /* ZC_SIZE_* */
    uint8_t size_param;            /* the zc_plan_param it compares with (ZC_SIZE_ANY: 0) */
    uint8_t methods[ZC_PLAN_MAX];  /* zc_method values tried in order, ZC_METHOD_NONE after the last */
    const char *why;               /* one line: the measurement behind the row */
} zc_plan_row;

/** The decision table (static, never NULL); *count receives its number of rows. The
 *  first row that matches a pair decides; the last row matches every pair. */
const zc_plan_row *zc_plan_table(size_t *count);

/**
 * The methods to try, best first, for a transfer of `bytes` bytes (ZC_UNTIL_EOF: unknown)
 * between endpoints of these kinds with these ZC_PAIR_* facts. params: NULL for the
 * defaults. Writes up to ZC_PLAN_MAX zc_method values into methods[] and returns how
 * many (at least 1: every row ends with ZC_METHOD_READ_WRITE), or -EINVAL for a kind out
 * of range or a NULL methods.
 */
int zc_plan(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
            uint64_t bytes, uint8_t methods[ZC_PLAN_MAX]);

/**
 * The facts a plan for one transfer of these endpoints and this size needs beyond
 * zc_pair_facts(): adds ZC_PAIR_KERNEL_COPY (one fstatfs of destination_fd) when, and
 * only when, the fact would change the row zc_plan picks to one that is not a
 * small-copy row (at most ZC_PARAM_SMALL_COPY_MAX bytes): a copy above copyFileRangeMax
 * pays it, a small copy pays no system call (for 4 KiB the fstatfs costs more than the
 * small-copy row saves; zc_plan_facts_reused() pays it). An fstatfs that fails leaves
 * the fact out (the plan that keeps copy_file_range first). zc_transfer uses this.
 * params: NULL for the defaults. Returns `facts` with the bits it added.
 */
uint32_t zc_plan_facts(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
                       uint64_t bytes, int destination_fd);

/**
 * As zc_plan_facts(), for a plan that is made once and reused for many transfers of the
 * same descriptors (Swift's PreparedTransfer): pays the fstatfs whenever the fact would
 * change the row, small-copy rows included (a same-filesystem copy of at most
 * smallCopyMax bytes on ext2/3/4 or tmpfs then uses read/write).
 */
uint32_t zc_plan_facts_reused(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
                              uint64_t bytes, int destination_fd);

/** Whether the filesystem behind fd is one whose copy_file_range copies bytes in the
 *  kernel (ext2/3/4, tmpfs; fstatfs's f_type). Returns 1, 0, or -errno. */
int zc_fs_copies_in_kernel(int fd);

/* ------------------------------------------------------------------------- */
/* Host profiles: the table's parameters measured on this machine             */
/* ------------------------------------------------------------------------- */

/*
 * `zc calibrate` measures this machine's crossovers and writes them to a profile, a small
 * text file (format below, Docs/Transfer.md "Host profiles"), which zc_transfer (with
 * NULL params) and Swift's `.automatic` both read through zc_profile_host(). Without one,
 * or when the file is unusable (another format version, malformed, unreadable, written on
 * another machine, kernel or CPU count), they use the built-in table and the profile's
 * note says why.
 *
 * Where: $ZEROCOPY_PROFILE when set (a path; "builtin" forces the built-in table), else
 * $XDG_CACHE_HOME/swift-zerocopy/profile (an absolute XDG_CACHE_HOME), else
 * $HOME/.cache/swift-zerocopy/profile.
 *
 * Format (version 1): UTF-8 text, at most ZC_PROFILE_MAX_BYTES; lines of "key value";
 * blank lines and lines starting with '#' are ignored. The first other line is
 * "zerocopy-profile 1". Then, each exactly once: host, kernel, cpus, created,
 * measured (free text), and every parameter by its zc_plan_param_name() with a decimal
 * byte count or "max" (ZC_PARAM_UNLIMITED). Unknown keys are errors.
 */

/** The profile format this library reads and writes. */
#define ZC_PROFILE_VERSION 1
/** The largest profile file read. */
#define ZC_PROFILE_MAX_BYTES 65536
/** The environment variable that names the profile file (or "builtin"). */
#define ZC_PROFILE_ENV "ZEROCOPY_PROFILE"

/** Where a zc_profile's parameters came from. */
typedef enum zc_profile_source {
    ZC_PROFILE_BUILTIN = 0,  /* the built-in table; no file was there (or "builtin") */
    ZC_PROFILE_FILE = 1,     /* the file at .path */
    ZC_PROFILE_REJECTED = 2  /* a file was named or found but not used (.note says why):
                                the parameters are the built-in table's */
} zc_profile_source;

/** A host profile: the table's parameters and where they were measured. */
typedef struct zc_profile {
    zc_plan_params params;
    int source;             /* a zc_profile_source */
    char path[4096];        /* the file read or considered; "" when none */
    char note[512];         /* why a file was rejected; "" otherwise */
    char host[17];          /* the measuring host: 16 hex digits, a hash of /etc/machine-id
                               (or of the hostname without one); machine-id(5) asks that the
                               id itself not be published */
    char kernel[65];        /* its uname release */
    int cpus;               /* its online CPUs */
    char created[32];       /* when, "YYYY-MM-DDTHH:MM:SSZ" */
    char measured[256];     /* how (free text: the tool, the filesystems, the decisions) */
} zc_profile;

/** Fill *out with the built-in table: source ZC_PROFILE_BUILTIN, its own identity
 *  fields (the run it was derived from, in .measured), no path, no note. */
void zc_profile_builtin(zc_profile *out);

/** Fill out's host, kernel, cpus and created (now) with this host's. Returns 0 or
 *  -errno (uname failed). */
int zc_profile_identify(zc_profile *out);

/**
 * Parse profile text (len bytes; need not be NUL-terminated). On success returns 0 and
 * fills *out (source ZC_PROFILE_FILE, path and note untouched by the parse). On failure
 * returns -EINVAL (malformed: unknown, duplicate or missing key, a bad value, a line
 * over 1024 bytes, a NUL byte, text over ZC_PROFILE_MAX_BYTES) or -EPROTO (another format
 * version) and writes the reason, with its line number, into out->note.
 */
int zc_profile_parse(const char *text, size_t len, zc_profile *out);

/**
 * Whether a parsed profile was measured here: same host hash, kernel release and online
 * CPU count. Returns 0, or -ESTALE with the difference written into note (may be NULL).
 */
int zc_profile_check_host(const zc_profile *profile, char *note, size_t note_len);

/**
 * Read, parse and check (zc_profile_check_host) the profile file at path. Always fills
 * *out: on success source ZC_PROFILE_FILE and returns 0; otherwise the built-in table
 * with source ZC_PROFILE_REJECTED, the path, a note naming the file and the problem, and
 * returns -errno (-ENOENT, -EACCES, -EISDIR... from open/read; -EFBIG over
 * ZC_PROFILE_MAX_BYTES; -EINVAL/-EPROTO from zc_profile_parse; -ESTALE).
 */
int zc_profile_load(const char *path, zc_profile *out);

/**
 * The profile file this process should read (see above) into buf. Returns 0; 1 with ""
 * when ZEROCOPY_PROFILE is "builtin"; -ENOENT when neither ZEROCOPY_PROFILE,
 * XDG_CACHE_HOME nor HOME gives one; -ENAMETOOLONG when it does not fit.
 */
int zc_profile_default_path(char *buf, size_t len);

/**
 * Locate and load this process's profile, now (no cache): like zc_profile_load, except
 * that no file at the default location is not a rejection — the built-in table, with
 * .path set to where a profile would be and no note. Always fills *out. Returns 0.
 */
int zc_profile_load_host(zc_profile *out);

/**
 * This process's profile: zc_profile_load_host() on the first call, then the same
 * (thread-safe; a profile written later is read by the next process). Never NULL.
 */
const zc_profile *zc_profile_host(void);

/**
 * Write *profile in the format above (every field but path, note and source) into buf.
 * Returns the length written (without the NUL), or -ENOSPC when buf is too small, -EINVAL
 * when a text field holds a newline.
 */
int zc_profile_format(const zc_profile *profile, char *buf, size_t len);

/**
 * Whether a method that failed with -err before delivering any byte lets the next method
 * of the plan try ("not here": EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ENODEV; the same
 * set as Swift's TransferContext.fallbackErrnos). err: positive or negative. Returns 1 or 0.
 */
int zc_fallback_errno(int err);

/** What zc_transfer did. Always written, whatever the outcome. */
typedef struct zc_transfer_report {
    uint64_t bytes;       /* bytes of the range now at the destination, holes included */
    uint64_t hole_bytes;  /* of those, bytes left as holes (file -> file: not written) */
    uint64_t syscalls;    /* data-path system calls (as zc_progress counts them, plus the
                             SEEK_DATA/SEEK_HOLE lseeks, hole punches and sendfile's lseeks) */
    uint64_t discarded;   /* as zc_progress.discarded, for the method that failed */
    int method;           /* the zc_method that moved the bytes (the last one tried) */
    int attempts;         /* methods abandoned before it, in attempt[] */
    struct {
        int method;       /* a zc_method */
        int error;        /* the positive errno it failed with, or 0: its first call moved
                             0 bytes from a source that is not empty */
    } attempt[ZC_PLAN_MAX];
} zc_transfer_report;

/**
 * Move `count` bytes (or ZC_UNTIL_EOF) from fd_in to fd_out the way Swift's
 * `.automatic` does: inspect both ends (zc_endpoint_inspect), take the methods of the
 * decision table's row (zc_plan), and run them in order. A method is abandoned for the
 * next one only while no byte was delivered, when it fails with a zc_fallback_errno()
 * errno or its first call moves 0 bytes from a file that is not empty; after a byte is
 * delivered an error is returned as it is.
 *
 * Offsets as for zc_splice: NULL to use (and advance) the file position, or a pointer that
 * is advanced by the bytes delivered. A regular file with ZC_UNTIL_EOF is transferred up
 * to its size at the start (st_size; a file growing meanwhile is not chased).
 *
 * File -> file (both regular files): only the source's data segments are copied
 * (SEEK_DATA/SEEK_HOLE, as cp does), when st_blocks says the source may have holes. A hole
 * becomes a hole at the destination: skipped where the destination had no data, punched
 * (fallocate PUNCH_HOLE, or zeros written where the filesystem cannot punch) where it
 * had, and a trailing hole extends the destination with ftruncate. Bytes read back
 * exactly as the source's.
 *
 * Refused before any I/O: a directory at either end (-EISDIR), the same file at
 * overlapping ranges (-EINVAL), negative offsets (-EINVAL).
 *
 * params: the table's parameters, NULL for the host profile's (zc_profile_host(): a
 * profile written by `zc calibrate`, or the built-in table). r: may be NULL.
 * Returns ZC_DONE; ZC_EOF when the source ended (or shrank) before `count` bytes, or
 * before the size it had at the start; ZC_AGAIN when a non-blocking end would block
 * (r->bytes were delivered; retry with the rest); or -errno of the method that failed
 * (-EPIPE, -ENOSPC, -EFBIG, -EBADF..., or the last method's fallback errno).
 */
int zc_transfer(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                const zc_plan_params *params, zc_transfer_report *r);

/* ------------------------------------------------------------------------- */
/* io_uring availability (implemented with liburing; see zerocopy_uring.h)    */
/* ------------------------------------------------------------------------- */

/** Why io_uring is or is not usable here. */
typedef enum zc_uring_reason {
    ZC_URING_AVAILABLE = 0,
    ZC_URING_DISABLED_BY_ENV = 1,     /* ZEROCOPY_DISABLE_IO_URING=1 in the environment */
    ZC_URING_DISABLED_BY_SYSCTL = 2,  /* kernel.io_uring_disabled = 2 (or 1 and not in the group) */
    ZC_URING_NOT_PERMITTED = 3,       /* io_uring_setup: EPERM (seccomp, LSM policy) */
    ZC_URING_NOT_IMPLEMENTED = 4,     /* io_uring_setup: ENOSYS (old kernel, gVisor, filter) */
    ZC_URING_OUT_OF_MEMORY = 5,       /* io_uring_setup: ENOMEM (RLIMIT_MEMLOCK without CAP_IPC_LOCK) */
    ZC_URING_REGISTER_REFUSED = 6,    /* setup works, io_uring_register fails (EPERM/ENOSYS) */
    ZC_URING_OTHER_ERROR = 7          /* any other setup errno */
} zc_uring_reason;

/** Result of zc_uring_probe(). */
typedef struct zc_uring_probe_result {
    int reason;                /* a zc_uring_reason */
    int setup_errno;           /* positive errno from io_uring_setup, or from the probe's
                                  NOP round trip (io_uring_enter), 0 if both worked */
    int register_errno;        /* positive errno from io_uring_register(PROBE), 0 if it worked */
    int sysctl_disabled;       /* /proc/sys/kernel/io_uring_disabled, -1 if absent/unreadable */
    uint32_t features;         /* io_uring_params.features (IORING_FEAT_*) */
    int last_op;               /* highest opcode the kernel knows, -1 if unknown */
    uint8_t op_supported[256]; /* 1 where the kernel supports opcode i (IO_URING_OP_SUPPORTED) */
} zc_uring_probe_result;

/**
 * Probe io_uring once: honours ZEROCOPY_DISABLE_IO_URING=1, reads the sysctl,
 * sets up a small ring, probes opcodes, tears it down. Not cached (callers cache).
 * Returns 0 when io_uring is available, else -errno of the failing step
 * (-EPERM, -ENOSYS, -ENOMEM, ...; -ECANCELED for the environment override);
 * *out is always filled.
 */
int zc_uring_probe(zc_uring_probe_result *out);

/** A static, human-readable sentence for a zc_uring_reason. Never NULL. */
const char *zc_uring_reason_string(int reason);

#ifdef __cplusplus
}
#endif

#endif /* ZEROCOPY_H */
