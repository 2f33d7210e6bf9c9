/* zc_transfer: the automatic choice in C — the decision table of plan.c, run with the
 * fallbacks of Swift's `.automatic`, copying only the data segments of sparse files. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The state of one zc_transfer. Seekable ends always move by explicit offsets here; a
 * caller who passed NULL gets its file position set to the end offset on return. */
typedef struct zci_transfer {
    int in, out;
    int64_t *in_ptr, *out_ptr; /* &in_off / &out_off, or NULL (stream ends) */
    int64_t in_off, out_off;
    const zc_plan_params *params;
    const uint8_t *methods;
    int count;                 /* methods in the plan */
    int next;                  /* index of the method in use */
    uint64_t delivered;        /* bytes delivered by methods (holes not included) */
    void *buf;                 /* read/write scratch, allocated on first use */
    size_t buf_len;
    unsigned splice_flags;     /* ZC_SPLICE_ALL_DIRECT when an end is a pipe (kinds known) */
    int out_pos_saved;         /* sendfile moved fd_out's position; restore out_pos0 */
    off_t out_pos0;
    zc_transfer_report *r;
} zci_transfer;

static int zci_is_file(int kind) { return kind == ZC_KIND_FILE || kind == ZC_KIND_BLOCK_DEVICE; }

/* One method over `count` bytes (or ZC_UNTIL_EOF) from the current offsets. */
static int zci_run(zci_transfer *x, int method, uint64_t count, zc_progress *p) {
    zci_progress_reset(p);
    switch (method) {
    case ZC_METHOD_COPY_FILE_RANGE:
        return zc_copy_file_range_all(x->in, x->in_ptr, x->out, x->out_ptr, count, p);
    case ZC_METHOD_SENDFILE: {
        /* sendfile writes at fd_out's file position: put it at the destination offset. */
        if (x->out_ptr) {
            if (!x->out_pos_saved) {
                x->out_pos0 = lseek(x->out, 0, SEEK_CUR);
                if (x->out_pos0 < 0) return -errno;
                x->out_pos_saved = 1;
            }
            if (lseek(x->out, (off_t)*x->out_ptr, SEEK_SET) < 0) return -errno;
            p->syscalls++;
        }
        zc_progress q;
        int rc = zc_sendfile_all(x->out, x->in, x->in_ptr, count, &q);
        p->bytes = q.bytes;
        p->syscalls += q.syscalls;
        p->discarded = q.discarded;
        if (x->out_ptr) *x->out_ptr += (int64_t)q.bytes;
        return rc;
    }
    case ZC_METHOD_SPLICE:
        return zc_splice_all_flags(x->in, x->in_ptr, x->out, x->out_ptr, count, NULL, x->splice_flags, p);
    case ZC_METHOD_READ_WRITE: {
        if (x->buf == NULL) {
            size_t want = (size_t)x->params->value[ZC_PARAM_READ_WRITE_BUFFER];
            if (want == 0) want = 128u << 10;
            if (count != ZC_UNTIL_EOF && count < want) want = count < 4096 ? 4096 : (size_t)count;
            x->buf = malloc(want);
            if (x->buf == NULL) return -ENOMEM;
            x->buf_len = want;
        }
        return zc_read_write_all(x->in, x->in_ptr, x->out, x->out_ptr, count, x->buf, x->buf_len, p);
    }
    default:
        return -EINVAL;
    }
}

/*
 * Move `count` bytes (or ZC_UNTIL_EOF) from the current offsets with the method in use,
 * moving on to the next one while nothing was delivered and the method refused
 * (a fallback errno, or a first call that moved 0 bytes although `has_data`).
 */
static int zci_copy(zci_transfer *x, uint64_t count, int has_data) {
    for (;;) {
        int method = x->methods[x->next];
        zc_progress p;
        int rc = zci_run(x, method, count, &p);
        x->r->bytes += p.bytes;
        x->r->syscalls += p.syscalls;
        x->r->discarded = p.discarded;
        x->r->method = method;
        x->delivered += p.bytes;
        int refused = (rc < 0 && zc_fallback_errno(rc)) ||
                      ((rc == ZC_DONE || rc == ZC_EOF) && p.bytes == 0 && has_data);
        if (!refused || x->delivered > 0 || x->next + 1 >= x->count) return rc;
        x->r->attempt[x->r->attempts].method = method;
        x->r->attempt[x->r->attempts].error = rc < 0 ? -rc : 0;
        x->r->attempts++;
        x->r->discarded = 0;
        x->next++;
    }
}

/* Write `len` zeros at `off` (a filesystem that cannot punch holes). */
static int zci_write_zeros(int fd, int64_t off, uint64_t len, zc_transfer_report *r) {
    static const unsigned char zeros[64 << 10];
    while (len > 0) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        zc_progress p;
        zci_progress_reset(&p);
        int rc = zci_write_loop(fd, zeros, n, &off, &p, 1, &(int){0});
        r->syscalls += p.syscalls;
        if (rc < 0) return rc;
        len -= n;
    }
    return 0;
}

/*
 * The source's hole [from, to) (source offsets): the destination's matching range must
 * read back as zeros. Where the destination had data (below its size at the start), punch
 * a hole, or write zeros; beyond it, leave it alone.
 */
static int zci_hole(zci_transfer *x, int64_t in_start, int64_t out_start, int64_t from, int64_t to,
                    int64_t out_size0) {
    int64_t d0 = out_start + (from - in_start), d1 = out_start + (to - in_start);
    int64_t old_end = d1 < out_size0 ? d1 : out_size0;
    uint64_t zeroed = 0;
    if (d0 < old_end) {
        int r;
        do {
            r = fallocate(x->out, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)d0, (off_t)(old_end - d0));
        } while (r < 0 && errno == EINTR);
        x->r->syscalls++;
        if (r < 0) {
            if (errno != EOPNOTSUPP && errno != ENOSYS) return -errno;
            int rc = zci_write_zeros(x->out, d0, (uint64_t)(old_end - d0), x->r);
            if (rc < 0) return rc;
            zeroed = (uint64_t)(old_end - d0);
        }
    }
    x->r->bytes += (uint64_t)(d1 - d0);
    x->r->hole_bytes += (uint64_t)(d1 - d0) - zeroed;
    return 0;
}

/*
 * File -> file, [in_off, in_off + len) with len > 0: data segments by SEEK_DATA/SEEK_HOLE,
 * holes by zci_hole, and a trailing hole by extending the destination. Returns ZC_DONE,
 * ZC_EOF (the source shrank) or -errno.
 */
static int zci_copy_sparse(zci_transfer *x, uint64_t len) {
    const int64_t in_start = x->in_off, out_start = x->out_off, end = in_start + (int64_t)len;
    struct stat st;
    if (fstat(x->out, &st) < 0) return -errno;
    const int64_t out_size0 = (int64_t)st.st_size;
    int64_t pos = in_start, data_end = in_start;
    int rc = ZC_DONE, dense = 0;
    while (pos < end) {
        off_t data = dense ? (off_t)pos : lseek(x->in, (off_t)pos, SEEK_DATA);
        if (!dense) x->r->syscalls++;
        if (data < 0) {
            if (errno != ENXIO) { /* no SEEK_DATA here: all data */
                dense = 1;
                data = (off_t)pos;
            } else {
                data = (off_t)end; /* a hole up to the end of the file */
            }
        }
        if (data > end) data = (off_t)end;
        if (data > pos) {
            rc = zci_hole(x, in_start, out_start, pos, data, out_size0);
            if (rc < 0) break;
            pos = data;
            if (pos >= end) break;
        }
        off_t hole = dense ? (off_t)end : lseek(x->in, (off_t)pos, SEEK_HOLE);
        if (!dense) x->r->syscalls++;
        if (hole < 0 || hole > end) hole = (off_t)end;
        x->in_off = pos;
        x->out_off = out_start + (pos - in_start);
        rc = zci_copy(x, (uint64_t)(hole - pos), 1);
        data_end = x->in_off;
        if (rc != ZC_DONE) break;
        pos = hole;
    }
    if (rc == ZC_DONE) {
        /* Ended in a hole: a source that shrank meanwhile ends at its new size, and the
         * destination reaches the end of the range (ftruncate only ever extends here). */
        if (fstat(x->in, &st) < 0) return -errno;
        int64_t covered = end;
        if ((int64_t)st.st_size < end) {
            covered = (int64_t)st.st_size > data_end ? (int64_t)st.st_size : data_end;
            uint64_t cut = (uint64_t)(end - covered);
            x->r->bytes -= cut;
            x->r->hole_bytes -= cut < x->r->hole_bytes ? cut : x->r->hole_bytes;
            rc = ZC_EOF;
        }
        int64_t out_end = out_start + (covered - in_start);
        if (fstat(x->out, &st) < 0) return -errno;
        if ((int64_t)st.st_size < out_end) {
            int r;
            do { r = ftruncate(x->out, (off_t)out_end); } while (r < 0 && errno == EINTR);
            x->r->syscalls++;
            if (r < 0) return -errno;
        }
    }
    x->in_off = in_start + (int64_t)x->r->bytes;
    x->out_off = out_start + (int64_t)x->r->bytes;
    return rc;
}

/* Whether [a, a+n) and [b, b+n) overlap (n > 0). */
static int zci_overlap(int64_t a, int64_t b, uint64_t n) {
    return n > 0 && (a < b ? (uint64_t)(b - a) < n : (uint64_t)(a - b) < n);
}

int zc_transfer(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, uint64_t count,
                const zc_plan_params *params, zc_transfer_report *r) {
    zc_transfer_report local;
    if (r == NULL) r = &local;
    memset(r, 0, sizeof *r);
    if ((off_in && *off_in < 0) || (off_out && *off_out < 0)) return -EINVAL;

    zc_endpoint src, dst;
    int rc = zc_endpoint_inspect(fd_in, &src);
    if (rc < 0) return rc;
    rc = zc_endpoint_inspect(fd_out, &dst);
    if (rc < 0) return rc;
    if (src.kind == ZC_KIND_DIRECTORY || dst.kind == ZC_KIND_DIRECTORY) return -EISDIR;

    if (params == NULL) params = &zc_profile_host()->params;
    zci_transfer x;
    memset(&x, 0, sizeof x);
    x.in = fd_in;
    x.out = fd_out;
    x.params = params;
    x.r = r;
    /* The kinds are known: a splice with a pipe end need not fstat both ends again. */
    if (src.kind == ZC_KIND_PIPE || dst.kind == ZC_KIND_PIPE) x.splice_flags = ZC_SPLICE_ALL_DIRECT;

    /* Explicit offsets for files (and wherever the caller gave one). */
    if (off_in) {
        x.in_off = *off_in;
        x.in_ptr = &x.in_off;
    } else if (zci_is_file(src.kind)) {
        off_t pos = lseek(fd_in, 0, SEEK_CUR);
        if (pos < 0) return -errno;
        x.in_off = (int64_t)pos;
        x.in_ptr = &x.in_off;
    }
    if (off_out) {
        x.out_off = *off_out;
        x.out_ptr = &x.out_off;
    } else if (zci_is_file(dst.kind) && !dst.append_only) {
        off_t pos = lseek(fd_out, 0, SEEK_CUR);
        if (pos < 0) return -errno;
        x.out_off = (int64_t)pos;
        x.out_ptr = &x.out_off;
    }

    /* What is left of a file source, by its size now (-1: unknown). */
    int64_t left = -1;
    if (src.kind == ZC_KIND_FILE && x.in_ptr) left = src.size > x.in_off ? src.size - x.in_off : 0;

    /* The same file at overlapping ranges is refused before anything is written. */
    if (x.in_ptr && x.out_ptr && src.device == dst.device && src.inode == dst.inode &&
        zci_is_file(src.kind) && zci_is_file(dst.kind)) {
        uint64_t n = count != ZC_UNTIL_EOF ? count : (left >= 0 ? (uint64_t)left : 0);
        if (zci_overlap(x.in_off, x.out_off, n)) return -EINVAL;
    }

    uint64_t plan_bytes = count != ZC_UNTIL_EOF ? count : (left >= 0 ? (uint64_t)left : ZC_UNTIL_EOF);
    uint8_t methods[ZC_PLAN_MAX];
    uint32_t facts = zc_plan_facts(params, src.kind, dst.kind, zc_pair_facts(&src, &dst), plan_bytes, fd_out);
    int n = zc_plan(params, src.kind, dst.kind, facts, plan_bytes, methods);
    if (n < 1) return n < 0 ? n : -EINVAL;
    x.methods = methods;
    x.count = n;

    int sparse = 0;
    if (left > 0 && src.kind == ZC_KIND_FILE && dst.kind == ZC_KIND_FILE && x.out_ptr && !dst.append_only) {
        struct stat st;
        /* cp's test: fewer blocks than the size needs means holes are likely. */
        if (fstat(fd_in, &st) == 0 && (int64_t)st.st_blocks * 512 < (int64_t)st.st_size) sparse = 1;
    }
    if (sparse) {
        uint64_t len = count != ZC_UNTIL_EOF && count < (uint64_t)left ? count : (uint64_t)left;
        zc_sigguard g; /* ftruncate and zero writes can raise SIGXFSZ */
        rc = zci_guard_begin(&g);
        if (rc == 0) {
            rc = zci_copy_sparse(&x, len);
            zci_guard_end(&g, rc);
            if (rc == ZC_DONE && count != ZC_UNTIL_EOF && count > len) rc = ZC_EOF;
        }
    } else {
        /* ZC_UNTIL_EOF on a file: up to its size now, not chasing a growing file. */
        uint64_t c = count == ZC_UNTIL_EOF && left > 0 ? (uint64_t)left : count;
        rc = zci_copy(&x, c, left > 0);
    }
    if (r->method == ZC_METHOD_NONE) r->method = methods[x.next];

    /* Offsets and file positions: advanced by the bytes delivered. */
    if (off_in) {
        *off_in = x.in_off;
    } else if (x.in_ptr) {
        if (lseek(fd_in, (off_t)x.in_off, SEEK_SET) < 0 && rc >= 0) rc = -errno;
    }
    if (off_out) {
        *off_out = x.out_off;
        if (x.out_pos_saved) (void)lseek(fd_out, x.out_pos0, SEEK_SET);
    } else if (x.out_ptr) {
        if (lseek(fd_out, (off_t)x.out_off, SEEK_SET) < 0 && rc >= 0) rc = -errno;
    }
    free(x.buf);
    return rc;
}
