/*
 * zc_xfer.h — shared scenarios for the "_all" transfer helpers
 * (zc_sendfile_all, zc_splice_all, zc_copy_file_range_all, zc_read_write_all).
 *
 * A test file describes its helper as a zt_xfer (an adapter with one
 * signature) and runs the scenarios it supports:
 *   - file -> file for sizes 0, 1, 4095, 4096, 4097, 1 MiB+3 at nonzero offsets,
 *     with offset pointers and with file positions; bytes around the range untouched
 *   - count past the end of the source (ZC_EOF, exact bytes) and ZC_UNTIL_EOF
 *   - file -> pipe / AF_UNIX socket / TCP socket, and pipe / socket -> file
 *   - non-blocking destination nobody reads: ZC_AGAIN with 0 < progress < total,
 *     then an exact resume from the reported offset
 *   - peer closed mid-transfer, in a child with SIGPIPE at its default action:
 *     -EPIPE or -ECONNRESET and the child survives
 *   - RLIMIT_FSIZE in a child with SIGXFSZ at its default action: -EFBIG with
 *     exactly the bytes up to the limit, and the child survives
 *   - bad descriptors (-EBADF) with the progress record still filled
 */
#ifndef ZC_XFER_H
#define ZC_XFER_H

#include "zc_test.h"

typedef struct zt_xfer {
    const char *name;
    /* off_in/off_out: NULL or a pointer, as in zerocopy.h. */
    int (*run)(const struct zt_xfer *x, int in, int64_t *off_in, int out, int64_t *off_out,
               uint64_t count, zc_progress *p);
    int has_off_out;        /* the helper takes a destination offset (sendfile_all does not) */
    const int *pipe_fds;    /* splice_all with a caller pipe: must be empty after every call */
    size_t buf_len;         /* read_write_all: scratch size */
    /* pwrite_all / write_from_mapping: write len bytes of buf at offset (-1: position) */
    int (*write_buf)(int fd, const void *buf, size_t len, int64_t offset, zc_progress *p);
} zt_xfer;

/*
 * Adapter for the buffer writers (zc_pwrite_all, zc_write_from_mapping): the
 * source range [*off_in or the file position, + count) is mapped with zc_map
 * and written with x->write_buf; the source offset (or position) is then
 * advanced by the bytes written, like the fd-to-fd helpers do. count must not
 * go past the source's end, except ZC_UNTIL_EOF (= up to the end).
 */
static ZT_UNUSED int zt_run_buf_writer(const zt_xfer *x, int in, int64_t *off_in, int out,
                                       int64_t *off_out, uint64_t count, zc_progress *p) {
    struct stat st;
    if (fstat(in, &st) < 0) return -errno;
    int64_t start = off_in ? *off_in : (int64_t)lseek(in, 0, SEEK_CUR);
    if (count == ZC_UNTIL_EOF) count = (uint64_t)(st.st_size - start);
    if ((int64_t)count > st.st_size - start) {
        fprintf(stderr, "zt_run_buf_writer: count past the end of the source\n");
        abort();
    }
    static const char nothing[1];
    zc_mapping m;
    memset(&m, 0, sizeof m);
    const void *buf = nothing;
    if (count > 0) {
        int r = zc_map(in, start, (size_t)count, ZC_PROT_READ, ZC_MAP_SHARED, &m);
        if (r < 0) return r;
        buf = m.data;
    }
    int rc = x->write_buf(out, buf, (size_t)count, off_out ? *off_out : -1, p);
    if (off_in)
        *off_in += (int64_t)p->bytes;
    else
        lseek(in, start + (int64_t)p->bytes, SEEK_SET);
    if (off_out) *off_out += (int64_t)p->bytes;
    if (count > 0) zc_unmap(&m);
    return rc;
}

static const int64_t zt_in_off = 4099;  /* nonzero, not page-aligned */
static const int64_t zt_out_off = 13;

/* A progress record full of garbage, to check that helpers always fill it. */
static ZT_UNUSED void zt_progress_poison(zc_progress *p) { memset(p, 0xA5, sizeof *p); }

/*
 * In a forked child: x with its own caller pipe of the same capacity, so that a
 * child killed mid-transfer cannot leave bytes in the parent's pipe.
 */
static ZT_UNUSED const zt_xfer *zt_xfer_for_child(const zt_xfer *x, zt_xfer *copy, int fds[2]) {
    *copy = *x;
    if (x->pipe_fds) {
        int cap = zc_pipe_capacity(x->pipe_fds[0]);
        if (pipe2(fds, O_CLOEXEC) < 0 || fcntl(fds[0], F_SETPIPE_SZ, cap) != cap) {
            perror("child pipe");
            exit(1);
        }
        copy->pipe_fds = fds;
    }
    return copy;
}

#define CHECK_PIPE_EMPTY(x)                                                             \
    do {                                                                                \
        if ((x)->pipe_fds) CHECK_EQ(zc_readable_bytes((x)->pipe_fds[0]), 0);            \
    } while (0)

/* ------------------------------------------------------------------------- */
/* file -> file                                                              */
/* ------------------------------------------------------------------------- */

static ZT_UNUSED void zt_xfer_file_to_file_one(const zt_xfer *x, size_t size, int use_ptrs) {
    const size_t trail = 5000, dtrail = 777;
    const size_t in_len = (size_t)zt_in_off + size + trail;
    const size_t out_len = (size_t)zt_out_off + size + dtrail;
    ZT_CTX("%s file->file size=%zu %s", x->name, size, use_ptrs ? "offset pointers" : "file positions");
    unsigned char *src = zt_data(in_len, 100 + size);
    unsigned char *pre = zt_data(out_len, 200 + size);
    int in = zt_file_with(src, in_len);
    int out = zt_file_with(pre, out_len);
    const int dest_ptr = use_ptrs && x->has_off_out;
    int64_t oi = zt_in_off, oo = zt_out_off;
    if (!use_ptrs) SYS(lseek(in, zt_in_off, SEEK_SET));
    if (!dest_ptr) SYS(lseek(out, zt_out_off, SEEK_SET));

    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, use_ptrs ? &oi : NULL, out, dest_ptr ? &oo : NULL, size, &p);
    CHECK_RC(rc, ZC_DONE);
    CHECK_U64(p.bytes, size);
    CHECK_U64(p.discarded, 0);
    if (size > 0) CHECK(p.syscalls >= 1 && p.syscalls <= 3 * (size / 4096) + 8);
    CHECK_PIPE_EMPTY(x);
    if (use_ptrs) {
        CHECK_EQ(oi, zt_in_off + (int64_t)size);
        CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
    } else {
        CHECK_EQ(lseek(in, 0, SEEK_CUR), zt_in_off + (int64_t)size);
    }
    if (dest_ptr) {
        CHECK_EQ(oo, zt_out_off + (int64_t)size);
        CHECK_EQ(lseek(out, 0, SEEK_CUR), 0);
    } else {
        CHECK_EQ(lseek(out, 0, SEEK_CUR), zt_out_off + (int64_t)size);
    }
    memcpy(pre + zt_out_off, src + zt_in_off, size);
    CHECK_EQ(zt_file_size(out), (off_t)out_len);
    CHECK_FILE_AT(out, 0, pre, out_len);
    close(in);
    close(out);
    free(src);
    free(pre);
}

/* The source ends after `size` bytes: count past it gives ZC_EOF, ZC_UNTIL_EOF gives ZC_DONE. */
static ZT_UNUSED void zt_xfer_file_eof_one(const zt_xfer *x, size_t size, int until_eof) {
    const size_t in_len = (size_t)zt_in_off + size;
    ZT_CTX("%s file->file short source size=%zu count=%s", x->name, size,
           until_eof ? "ZC_UNTIL_EOF" : "size+1000");
    unsigned char *src = zt_data(in_len, 300 + size);
    int in = zt_file_with(src, in_len);
    int out = zt_tmpfile();
    int64_t oi = zt_in_off, oo = zt_out_off;
    if (!x->has_off_out) SYS(lseek(out, zt_out_off, SEEK_SET));
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, &oi, out, x->has_off_out ? &oo : NULL,
                    until_eof ? ZC_UNTIL_EOF : (uint64_t)size + 1000, &p);
    CHECK_RC(rc, until_eof ? ZC_DONE : ZC_EOF);
    CHECK_U64(p.bytes, size);
    CHECK_U64(p.discarded, 0);
    CHECK(p.syscalls >= 1);
    CHECK_EQ(oi, zt_in_off + (int64_t)size);
    if (x->has_off_out) CHECK_EQ(oo, zt_out_off + (int64_t)size);
    CHECK_PIPE_EMPTY(x);
    CHECK_EQ(zt_file_size(out), size ? zt_out_off + (off_t)size : 0);
    CHECK_FILE_AT(out, zt_out_off, src + zt_in_off, size);
    close(in);
    close(out);
    free(src);
}

static ZT_UNUSED void zt_xfer_file_matrix(const zt_xfer *x) {
    for (size_t i = 0; i < ZT_NSIZES; i++) {
        zt_xfer_file_to_file_one(x, zt_sizes[i], 1);
        zt_xfer_file_to_file_one(x, zt_sizes[i], 0);
        zt_xfer_file_eof_one(x, zt_sizes[i], 0);
        zt_xfer_file_eof_one(x, zt_sizes[i], 1);
    }
    zt_ctx[0] = '\0';
}

/* The source shrinks before the call: count > size gives ZC_EOF with the bytes that remain. */
static ZT_UNUSED void zt_xfer_truncated_source(const zt_xfer *x) {
    const size_t full = 300000, cut = 123457;
    ZT_CTX("%s truncated source", x->name);
    unsigned char *src = zt_data(full, 77);
    int in = zt_file_with(src, full);
    int out = zt_tmpfile();
    SYS(ftruncate(in, (off_t)cut));
    int64_t oi = 100, oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, &oi, out, x->has_off_out ? &oo : NULL, full - 100, &p);
    CHECK_RC(rc, ZC_EOF);
    CHECK_U64(p.bytes, cut - 100);
    CHECK_EQ(oi, (int64_t)cut);
    CHECK_EQ(zt_file_size(out), (off_t)(cut - 100));
    CHECK_FILE_AT(out, 0, src + 100, cut - 100);
    CHECK_PIPE_EMPTY(x);
    close(in);
    close(out);
    free(src);
    zt_ctx[0] = '\0';
}

/* ------------------------------------------------------------------------- */
/* streams: pipes and sockets                                                 */
/* ------------------------------------------------------------------------- */

enum { ZT_PIPE = 0, ZT_UNIX = 1, ZT_TCP = 2 };
static const char *const zt_kind_name[] = {"pipe", "AF_UNIX socketpair", "TCP 127.0.0.1"};

/* ends[0] is written, ends[1] is read. */
static ZT_UNUSED void zt_stream_pair(int kind, int ends[2]) {
    int t[2];
    switch (kind) {
    case ZT_PIPE:
        SYS(pipe2(t, O_CLOEXEC));
        ends[0] = t[1];
        ends[1] = t[0];
        break;
    case ZT_UNIX:
        SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t));
        ends[0] = t[0];
        ends[1] = t[1];
        break;
    default:
        zt_tcp_pair(t);
        ends[0] = t[0];
        ends[1] = t[1];
        break;
    }
}

static ZT_UNUSED void zt_xfer_file_to_stream_one(const zt_xfer *x, size_t size, int kind,
                                                 int until_eof) {
    ZT_CTX("%s file->%s size=%zu%s", x->name, zt_kind_name[kind], size,
           until_eof ? " ZC_UNTIL_EOF" : "");
    const size_t in_len = (size_t)zt_in_off + size + (until_eof ? 0 : 999);
    unsigned char *src = zt_data(in_len, 400 + size);
    int in = zt_file_with(src, in_len);
    int ends[2];
    zt_stream_pair(kind, ends);
    zt_reader r;
    zt_reader_start(&r, ends[1], 0, 1);
    int64_t oi = zt_in_off;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, &oi, ends[0], NULL, until_eof ? ZC_UNTIL_EOF : size, &p);
    close(ends[0]);
    zt_reader_join(&r);
    CHECK_RC(rc, ZC_DONE);
    CHECK_U64(p.bytes, size);
    CHECK_U64(p.discarded, 0);
    CHECK_EQ(oi, zt_in_off + (int64_t)size);
    CHECK_EQ(r.err, 0);
    CHECK_EQ(r.len, size);
    if (r.len == size) CHECK_MEM(r.data, src + zt_in_off, size);
    CHECK_PIPE_EMPTY(x);
    zt_reader_free(&r);
    close(in);
    free(src);
}

/* count_mode: 0 = exactly size, 1 = ZC_UNTIL_EOF, 2 = size + 10 (ZC_EOF) */
static ZT_UNUSED void zt_xfer_stream_to_file_one(const zt_xfer *x, size_t size, int kind,
                                                 int count_mode) {
    static const char *const modes[] = {"count=size", "ZC_UNTIL_EOF", "count=size+10"};
    ZT_CTX("%s %s->file size=%zu %s", x->name, zt_kind_name[kind], size, modes[count_mode]);
    unsigned char *src = zt_data(size, 500 + size);
    int ends[2];
    zt_stream_pair(kind, ends);
    zt_writer w;
    zt_writer_start(&w, ends[0], src, size, 0, 1);
    int out = zt_tmpfile();
    int64_t oo = zt_out_off;
    if (!x->has_off_out) SYS(lseek(out, zt_out_off, SEEK_SET));
    uint64_t count = count_mode == 0 ? size : count_mode == 1 ? ZC_UNTIL_EOF : (uint64_t)size + 10;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, ends[1], NULL, out, x->has_off_out ? &oo : NULL, count, &p);
    close(ends[1]); /* (a writer still blocked after a failure gets EPIPE) */
    zt_writer_join(&w);
    CHECK_RC(rc, count_mode == 2 ? ZC_EOF : ZC_DONE);
    CHECK_U64(p.bytes, size);
    CHECK_U64(p.discarded, 0);
    if (x->has_off_out) CHECK_EQ(oo, zt_out_off + (int64_t)size);
    CHECK_EQ(w.err, 0);
    CHECK_FILE_AT(out, zt_out_off, src, size);
    CHECK_EQ(zt_file_size(out), size ? zt_out_off + (off_t)size : 0);
    CHECK_PIPE_EMPTY(x);
    close(out);
    free(src);
}

static ZT_UNUSED void zt_xfer_to_streams(const zt_xfer *x) {
    for (int kind = ZT_PIPE; kind <= ZT_TCP; kind++) {
        for (size_t i = 0; i < ZT_NSIZES; i++) zt_xfer_file_to_stream_one(x, zt_sizes[i], kind, 0);
        zt_xfer_file_to_stream_one(x, 100003, kind, 1);
    }
    zt_ctx[0] = '\0';
}

static ZT_UNUSED void zt_xfer_from_streams(const zt_xfer *x) {
    for (int kind = ZT_PIPE; kind <= ZT_TCP; kind++) {
        for (size_t i = 0; i < ZT_NSIZES; i++) zt_xfer_stream_to_file_one(x, zt_sizes[i], kind, 0);
        zt_xfer_stream_to_file_one(x, 200001, kind, 1);
        zt_xfer_stream_to_file_one(x, 200001, kind, 2);
        zt_xfer_stream_to_file_one(x, 0, kind, 1);
    }
    zt_ctx[0] = '\0';
}

/* ------------------------------------------------------------------------- */
/* non-blocking destination that nobody reads                                 */
/* ------------------------------------------------------------------------- */

/* Read everything readable now from a non-blocking fd, appending to buf. */
static ZT_UNUSED size_t zt_drain_now(int fd, unsigned char *buf, size_t have, size_t cap) {
    for (;;) {
        if (have == cap) {
            char extra;
            ssize_t n = read(fd, &extra, 1);
            if (n > 0) fprintf(stderr, "more bytes than expected arrived\n");
            return n > 0 ? cap + 1 : have;
        }
        ssize_t n = read(fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return have;
        have += (size_t)n;
    }
}

/*
 * One pass: transfer `total` bytes of a file to a full non-blocking socket,
 * draining the peer between calls. use_ptr: through an offset pointer, else the
 * file position (which must then be the first undelivered byte after each call).
 */
static int zt_again_pass(const zt_xfer *x, int use_ptr) {
    const size_t total = 8u << 20;
    unsigned char *src = zt_data(total, 600 + (unsigned)use_ptr);
    int in = zt_file_with(src, total);
    int sv[2];
    CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    zt_set_nonblock(sv[0], 1);
    zt_set_nonblock(sv[1], 1);
    int64_t oi = 0;
    int64_t *offp = use_ptr ? &oi : NULL;
    const char *how = use_ptr ? "offset pointer" : "file position";
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, offp, sv[0], NULL, total, &p);
    if (rc != ZC_AGAIN || p.bytes == 0 || p.bytes >= total) {
        fprintf(stderr, "%s (%s): non-blocking full destination: got %s with %" PRIu64
                        " of %zu bytes, expected ZC_AGAIN with 0 < bytes < total\n",
                x->name, how, zt_status_name(rc), p.bytes, total);
        return 1;
    }
    /* resume point = first undelivered byte; all delivered bytes are in the socket */
    int64_t pos = use_ptr ? oi : (int64_t)lseek(in, 0, SEEK_CUR);
    if (pos != (int64_t)p.bytes || zc_readable_bytes(sv[1]) != (int)p.bytes) {
        fprintf(stderr, "%s (%s): after ZC_AGAIN with %" PRIu64 " bytes delivered: source at %"
                        PRId64 ", %d bytes in the socket (both should be %" PRIu64 ")\n",
                x->name, how, p.bytes, pos, zc_readable_bytes(sv[1]), p.bytes);
        return 1;
    }
    CHILD_CHECK(x->pipe_fds == NULL || zc_readable_bytes(x->pipe_fds[0]) == 0);

    /* resume until done, draining between calls: the bytes must be exact */
    unsigned char *got = zt_malloc(total);
    size_t have = 0, delivered = (size_t)p.bytes;
    int rounds = 0;
    while (delivered < total) {
        have = zt_drain_now(sv[1], got, have, total);
        CHILD_CHECK(have == delivered);
        zt_progress_poison(&p);
        rc = x->run(x, in, offp, sv[0], NULL, total - delivered, &p);
        CHILD_CHECK(rc == ZC_AGAIN || rc == ZC_DONE);
        CHILD_CHECK(p.bytes > 0);
        delivered += (size_t)p.bytes;
        CHILD_CHECK((use_ptr ? oi : (int64_t)lseek(in, 0, SEEK_CUR)) == (int64_t)delivered);
        CHILD_CHECK(x->pipe_fds == NULL || zc_readable_bytes(x->pipe_fds[0]) == 0);
        CHILD_CHECK(rc == ZC_DONE ? delivered == total : delivered < total);
        CHILD_CHECK(++rounds < 100000);
    }
    have = zt_drain_now(sv[1], got, have, total);
    CHILD_CHECK(have == total);
    CHILD_CHECK(memcmp(got, src, total) == 0);
    close(sv[0]);
    close(sv[1]);
    close(in);
    free(got);
    free(src);
    return 0;
}

static int zt_again_child(void *arg) {
    zt_xfer copy;
    int own_pipe[2];
    const zt_xfer *x = zt_xfer_for_child(arg, &copy, own_pipe);
    int rc = zt_again_pass(x, 1);
    if (rc == 0) rc = zt_again_pass(x, 0);
    return rc;
}

static ZT_UNUSED void zt_xfer_nonblocking_again(const zt_xfer *x) {
    /* in a child with a time limit: waiting for a reader that never comes is a hang */
    int st = zt_fork_run(zt_again_child, (void *)x, 5);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        zt_fail(__FILE__, __LINE__, "%s: hung for 5 s writing to a full non-blocking socket "
                "that nobody reads (expected ZC_AGAIN)", x->name);
    else
        CHECK_EXITED(st, 0);
}

/*
 * A non-seekable source (a pipe fed by a thread) into a non-blocking socket
 * whose reader starts late: bytes already read from the pipe cannot be given
 * back, so none may be lost. The caller retries after ZC_AGAIN (waiting for
 * POLLOUT) until ZC_DONE; the reader must get exactly the bytes written.
 */
static int zt_nonseekable_child(void *arg) {
    zt_xfer copy;
    int own_pipe[2];
    const zt_xfer *x = zt_xfer_for_child(arg, &copy, own_pipe);
    const size_t size = (2u << 20) + 5;
    unsigned char *src = zt_data(size, 650);
    int in[2], sv[2];
    zt_stream_pair(ZT_PIPE, in);
    CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    zt_set_nonblock(sv[0], 1);
    zt_writer w;
    zt_reader r;
    zt_writer_start(&w, in[0], src, size, 0, 1);
    zt_reader_start_delayed(&r, sv[1], 0, 1, 100);
    uint64_t total = 0;
    int rc, rounds = 0;
    for (;;) {
        zc_progress p;
        zt_progress_poison(&p);
        rc = x->run(x, in[1], NULL, sv[0], NULL, ZC_UNTIL_EOF, &p);
        total += p.bytes;
        CHILD_CHECK(p.discarded == 0);
        CHILD_CHECK(x->pipe_fds == NULL || zc_readable_bytes(x->pipe_fds[0]) == 0);
        if (rc != ZC_AGAIN) break;
        struct pollfd pf = {.fd = sv[0], .events = POLLOUT, .revents = 0};
        poll(&pf, 1, 1000);
        CHILD_CHECK(++rounds < 100000);
    }
    close(sv[0]);
    zt_writer_join(&w);
    zt_reader_join(&r);
    if (rc != ZC_DONE || total != size || r.len != size) {
        fprintf(stderr, "%s: pipe -> non-blocking socket: last %s, %" PRIu64 " bytes sent, %zu received, "
                        "expected ZC_DONE with %zu\n", x->name, zt_status_name(rc), total, r.len, size);
        return 1;
    }
    CHILD_CHECK(memcmp(r.data, src, size) == 0);
    close(in[1]);
    return 0;
}

static ZT_UNUSED void zt_xfer_nonseekable_to_nonblocking(const zt_xfer *x) {
    ZT_CTX("%s pipe -> non-blocking socket with a late reader", x->name);
    CHECK_EXITED(zt_fork_run(zt_nonseekable_child, (void *)x, 20), 0);
    zt_ctx[0] = '\0';
}

/* ------------------------------------------------------------------------- */
/* peer closed mid-transfer (SIGPIPE at its default action)                   */
/* ------------------------------------------------------------------------- */

typedef struct zt_epipe_arg {
    const zt_xfer *x;
    int kind;
} zt_epipe_arg;

static int zt_epipe_child(void *arg) {
    const zt_epipe_arg *a = arg;
    zt_xfer copy;
    int own_pipe[2];
    const zt_xfer *x = zt_xfer_for_child(a->x, &copy, own_pipe);
    const uint64_t total = 256ull << 20; /* a sparse file: more than any socket buffer */
    const size_t peer_reads = 100000;
    int in = zt_tmpfile();
    CHILD_CHECK(ftruncate(in, (off_t)total) == 0);
    int ends[2];
    zt_stream_pair(a->kind, ends);
    zt_reader r;
    zt_reader_start(&r, ends[1], peer_reads, 1); /* reads 100000 bytes, then closes */
    int64_t oi = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, &oi, ends[0], NULL, total, &p);
    if (rc != -EPIPE && rc != -ECONNRESET) close(ends[0]); /* let the reader finish */
    zt_reader_join(&r);
    if (rc != -EPIPE && rc != -ECONNRESET) {
        fprintf(stderr, "%s to %s closed by the peer: got %s after %" PRIu64
                        " bytes, expected -EPIPE or -ECONNRESET\n",
                x->name, zt_kind_name[a->kind], zt_status_name(rc), p.bytes);
        return 1;
    }
    CHILD_CHECK(r.len == peer_reads);
    CHILD_CHECK(p.bytes >= peer_reads && p.bytes < total);
    CHILD_CHECK(oi >= (int64_t)p.bytes);
    CHILD_CHECK(x->pipe_fds == NULL || zc_readable_bytes(x->pipe_fds[0]) == 0);
    sigset_t pending, mask;
    sigpending(&pending);
    CHILD_CHECK(!sigismember(&pending, SIGPIPE));
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    CHILD_CHECK(!sigismember(&mask, SIGPIPE));
    /* the next write to the closed peer gets the same error: still no death */
    rc = x->run(x, in, &oi, ends[0], NULL, 4096, &p);
    CHILD_CHECK(rc == -EPIPE || rc == -ECONNRESET);
    close(ends[0]);
    close(in);
    return 0;
}

static ZT_UNUSED void zt_xfer_peer_closed(const zt_xfer *x) {
    for (int kind = ZT_PIPE; kind <= ZT_TCP; kind++) {
        zt_epipe_arg a = {x, kind};
        ZT_CTX("%s -> %s, peer closes after 100000 bytes", x->name, zt_kind_name[kind]);
        CHECK_EXITED(zt_fork_run(zt_epipe_child, &a, 10), 0);
    }
    zt_ctx[0] = '\0';
}

/* ------------------------------------------------------------------------- */
/* RLIMIT_FSIZE (SIGXFSZ at its default action)                               */
/* ------------------------------------------------------------------------- */

static int zt_fsize_child(void *arg) {
    zt_xfer copy;
    int own_pipe[2];
    const zt_xfer *x = zt_xfer_for_child(arg, &copy, own_pipe);
    const size_t size = 300000, limit = 100003;
    unsigned char *src = zt_data((size_t)zt_in_off + size, 700);
    int in = zt_file_with(src, (size_t)zt_in_off + size);
    int out = zt_tmpfile();
    struct rlimit rl = {limit, limit};
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    int64_t oi = zt_in_off, oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, &oi, out, x->has_off_out ? &oo : NULL, size, &p);
    if (rc != -EFBIG || p.bytes != limit) {
        fprintf(stderr, "%s past RLIMIT_FSIZE=%zu: got %s after %" PRIu64
                        " bytes, expected -EFBIG after %zu\n",
                x->name, limit, zt_status_name(rc), p.bytes, limit);
        return 1;
    }
    CHILD_CHECK(oi == zt_in_off + (int64_t)limit); /* first byte not delivered */
    CHILD_CHECK(!x->has_off_out || oo == (int64_t)limit);
    CHILD_CHECK(x->pipe_fds == NULL || zc_readable_bytes(x->pipe_fds[0]) == 0);
    CHILD_CHECK(zt_file_size(out) == (off_t)limit);
    size_t got;
    unsigned char *back = zt_pread_back(out, 0, limit, &got);
    CHILD_CHECK(got == limit && memcmp(back, src + zt_in_off, limit) == 0);
    sigset_t pending;
    sigpending(&pending);
    CHILD_CHECK(!sigismember(&pending, SIGXFSZ));
    return 0;
}

static ZT_UNUSED void zt_xfer_fsize_limit(const zt_xfer *x) {
    ZT_CTX("%s past RLIMIT_FSIZE", x->name);
    CHECK_EXITED(zt_fork_run(zt_fsize_child, (void *)x, 10), 0);
    zt_ctx[0] = '\0';
}

/* ------------------------------------------------------------------------- */
/* bad descriptors                                                            */
/* ------------------------------------------------------------------------- */

static ZT_UNUSED void zt_xfer_ebadf(const zt_xfer *x) {
    ZT_CTX("%s bad descriptors", x->name);
    unsigned char *src = zt_data(1000, 800);
    int in = zt_file_with(src, 1000);
    int out = zt_tmpfile();
    int closed = zt_tmpfile();
    close(closed);
    zc_progress p;
    int64_t oi = 0, oo = 0;
    zt_progress_poison(&p);
    CHECK_RC(x->run(x, -1, &oi, out, x->has_off_out ? &oo : NULL, 100, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(x->run(x, in, &oi, -1, x->has_off_out ? &oo : NULL, 100, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(x->run(x, closed, &oi, out, x->has_off_out ? &oo : NULL, 100, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(oi, 0);
    /* a write-only source / read-only destination (regular files) */
    char path[4096];
    snprintf(path, sizeof path, "%s/zc-test-XXXXXX", zt_tmpdir());
    int tmp = (int)SYS(mkostemp(path, O_CLOEXEC));
    zt_pwrite_full(tmp, src, 1000, 0);
    int ro = (int)SYS(open(path, O_RDONLY | O_CLOEXEC));
    int wo = (int)SYS(open(path, O_WRONLY | O_CLOEXEC));
    unlink(path);
    close(tmp);
    zt_progress_poison(&p);
    CHECK_RC(x->run(x, in, &oi, ro, x->has_off_out ? &oo : NULL, 100, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    zt_progress_poison(&p);
    CHECK_RC(x->run(x, wo, &oi, out, x->has_off_out ? &oo : NULL, 100, &p), -EBADF);
    CHECK_U64(p.bytes, 0);
    CHECK_EQ(zt_file_size(out), 0);
    CHECK_PIPE_EMPTY(x);
    close(ro);
    close(wo);
    close(in);
    close(out);
    free(src);
    zt_ctx[0] = '\0';
}

/* ------------------------------------------------------------------------- */
/* EINTR: a blocked transfer interrupted by a handler without SA_RESTART      */
/* ------------------------------------------------------------------------- */

static volatile sig_atomic_t zt_alarms;
static ZT_UNUSED void zt_on_alarm(int sig) {
    (void)sig;
    zt_alarms++;
}

/* SIGALRM every 5 ms with a handler that does not restart syscalls. */
static ZT_UNUSED void zt_interrupts_start(struct sigaction *old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = zt_on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls fail with EINTR */
    sigaction(SIGALRM, &sa, old);
    zt_alarms = 0;
    struct itimerval it = {{0, 5000}, {0, 5000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static ZT_UNUSED void zt_interrupts_stop(const struct sigaction *old) {
    struct itimerval off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, old, NULL);
}

/* Source: a pipe whose writer starts after 200 ms, while SIGALRM fires every 5 ms. */
static ZT_UNUSED void zt_xfer_eintr_pipe_source(const zt_xfer *x) {
    ZT_CTX("%s blocked on an empty pipe, interrupted", x->name);
    const size_t size = 300001;
    unsigned char *src = zt_data(size, 900);
    int ends[2];
    zt_stream_pair(ZT_PIPE, ends);
    int out = zt_tmpfile();
    struct sigaction old;
    zt_writer w;
    zt_writer_start(&w, ends[0], src, size, 200, 1);
    zt_interrupts_start(&old);
    int64_t oo = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, ends[1], NULL, out, x->has_off_out ? &oo : NULL, size, &p);
    zt_interrupts_stop(&old);
    close(ends[1]); /* (a writer still blocked after a failure gets EPIPE) */
    zt_writer_join(&w);
    CHECK_RC(rc, ZC_DONE);
    CHECK_U64(p.bytes, size);
    CHECK(zt_alarms >= 5);
    CHECK_FILE_AT(out, 0, src, size);
    close(out);
    free(src);
    zt_ctx[0] = '\0';
}

/* Destination: a full blocking socket whose reader starts after 200 ms. */
static ZT_UNUSED void zt_xfer_eintr_full_socket(const zt_xfer *x) {
    ZT_CTX("%s blocked on a full socket, interrupted", x->name);
    const size_t size = 4u << 20;
    unsigned char *src = zt_data(size, 901);
    int in = zt_file_with(src, size);
    int sv[2];
    SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    struct sigaction old;
    zt_reader r;
    zt_reader_start_delayed(&r, sv[1], size, 1, 200);
    zt_interrupts_start(&old);
    int64_t oi = 0;
    zc_progress p;
    zt_progress_poison(&p);
    int rc = x->run(x, in, &oi, sv[0], NULL, size, &p);
    zt_interrupts_stop(&old);
    close(sv[0]); /* (the reader ends even after a failure) */
    zt_reader_join(&r);
    CHECK_RC(rc, ZC_DONE);
    CHECK_U64(p.bytes, size);
    CHECK(zt_alarms >= 5);
    CHECK_EQ(r.len, size);
    if (r.len == size) CHECK_MEM(r.data, src, size);
    zt_reader_free(&r);
    close(in);
    free(src);
    zt_ctx[0] = '\0';
}

#endif /* ZC_XFER_H */
