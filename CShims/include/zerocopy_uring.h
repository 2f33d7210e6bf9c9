/*
 * zerocopy_uring.h — the liburing pieces Swift cannot import, usable from C too.
 *
 * liburing's function-like macros (io_uring_for_each_cqe, io_uring_cqe_shift) and the
 * IOSQE_* flags (defined in terms of enum constants) do not import into Swift. This
 * header re-exports them as typed `static const` values and `static inline` helpers,
 * all prefixed zc_ / ZC_, so it needs nothing beyond liburing itself to link
 * (`-luring`; no libzerocopy symbol is referenced).
 *
 * Installed as <zerocopy/zerocopy_uring.h>. Swift reaches it through the CLibURing
 * system-library module (Sources/CLibURing); it is deliberately NOT in CZeroCopy's
 * module map, so Swift sees liburing's types from exactly one module.
 *
 * Include order. For Swift (the importer defines __swift__), the order Docs/LinuxFacts.md (Building) explains:
 * <sys/types.h>, then <linux/io_uring.h>, then <liburing.h>. Without the first, glibc's
 * fd_set clashes in a clean Swift build; without the second, struct io_uring_sqe clashes
 * with swift-system's copy (both io_uring.h copies use the guard LINUX_IO_URING_H, so
 * the kernel's uapi header wins). For C, <liburing.h> comes first, exactly as if the
 * includer had included it: liburing defines _XOPEN_SOURCE/_GNU_SOURCE before any system
 * header so sigset_t and AT_FDCWD are visible even under -std=c11. When a system header
 * came first under strict ISO C (-std=c11 without feature macros, e.g. <zerocopy.h>
 * included before this one), glibc has already decided on no POSIX names and liburing's
 * defines come too late: this header then supplies the two that liburing 2.3 uses
 * (sigset_t from glibc's <bits/types/sigset_t.h>, AT_FDCWD, the kernel ABI's -100), so
 * <zerocopy.h> and <zerocopy_uring.h> work in either order (check-c compiles both orders
 * with -std=c11 -pedantic). Other C libraries: include this header first, or compile with
 * -std=gnu11 or -D_GNU_SOURCE.
 *
 * Built against liburing 2.3 (whose headers know opcodes up to 48); constants the
 * running kernel may know but these headers do not are defined below with their
 * kernel version. Check support at run time with zc_uring_probe() (zerocopy.h).
 */
#ifndef ZEROCOPY_URING_H
#define ZEROCOPY_URING_H

#if defined(__swift__)
#include <sys/types.h>
#include <linux/io_uring.h>
#include <linux/stat.h> /* struct statx for io_uring_prep_statx: glibc shows it only with _GNU_SOURCE */
#elif defined(__GLIBC__) && !defined(__USE_POSIX)
/* A system header was included first under strict ISO C: see "Include order" above. */
#include <bits/types/sigset_t.h>
#ifndef AT_FDCWD
#define AT_FDCWD -100
#endif
#endif
#include <liburing.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* SQE flags (sqe->flags). Kernel version of first support in brackets.       */
/* ------------------------------------------------------------------------- */

/** IOSQE_FIXED_FILE: sqe->fd is an index into the registered file table [5.1]. */
static const uint8_t ZC_IOSQE_FIXED_FILE = IOSQE_FIXED_FILE;
/** IOSQE_IO_DRAIN: start only after every earlier SQE has completed [5.2]. */
static const uint8_t ZC_IOSQE_IO_DRAIN = IOSQE_IO_DRAIN;
/** IOSQE_IO_LINK: the next SQE starts only if this one succeeds; else it gets -ECANCELED [5.3]. */
static const uint8_t ZC_IOSQE_IO_LINK = IOSQE_IO_LINK;
/** IOSQE_IO_HARDLINK: like IO_LINK, but the chain continues even if this one fails [5.5]. */
static const uint8_t ZC_IOSQE_IO_HARDLINK = IOSQE_IO_HARDLINK;
/** IOSQE_ASYNC: skip the non-blocking attempt; go straight to an io-wq worker [5.6]. */
static const uint8_t ZC_IOSQE_ASYNC = IOSQE_ASYNC;
/** IOSQE_BUFFER_SELECT: pick a buffer from group sqe->buf_group at issue time [5.7]. */
static const uint8_t ZC_IOSQE_BUFFER_SELECT = IOSQE_BUFFER_SELECT;
/** IOSQE_CQE_SKIP_SUCCESS: post no CQE if the request succeeds [5.17]. */
static const uint8_t ZC_IOSQE_CQE_SKIP_SUCCESS = IOSQE_CQE_SKIP_SUCCESS;

/* ------------------------------------------------------------------------- */
/* CQE flags (cqe->flags)                                                      */
/* ------------------------------------------------------------------------- */

/** IORING_CQE_F_BUFFER: a provided buffer was used; its id is flags >> ZC_IORING_CQE_BUFFER_SHIFT [5.7]. */
static const uint32_t ZC_IORING_CQE_F_BUFFER = IORING_CQE_F_BUFFER;
/** IORING_CQE_F_MORE: the request will post more CQEs (multishot, SEND_ZC's notification) [5.13]. */
static const uint32_t ZC_IORING_CQE_F_MORE = IORING_CQE_F_MORE;
/** IORING_CQE_F_SOCK_NONEMPTY: the socket had more data to read after this recv [5.19]. */
static const uint32_t ZC_IORING_CQE_F_SOCK_NONEMPTY = IORING_CQE_F_SOCK_NONEMPTY;
/** IORING_CQE_F_NOTIF: a SEND_ZC notification: the kernel no longer uses the buffer [6.0]. */
static const uint32_t ZC_IORING_CQE_F_NOTIF = IORING_CQE_F_NOTIF;
/** IORING_CQE_F_BUF_MORE: incremental provided buffer not fully consumed [6.12]; not in liburing 2.3. */
static const uint32_t ZC_IORING_CQE_F_BUF_MORE = 1u << 4;
/** IORING_CQE_BUFFER_SHIFT: the provided-buffer id lives in the upper 16 bits of cqe->flags. */
static const uint32_t ZC_IORING_CQE_BUFFER_SHIFT = IORING_CQE_BUFFER_SHIFT;
/**
 * IORING_NOTIF_USAGE_ZC_COPIED: set in a SEND_ZC notification's res when the data was
 * copied rather than sent zero-copy (only with ZC_IORING_SEND_ZC_REPORT_USAGE) [6.2].
 * Note that it is bit 31: as a signed res it reads negative, yet it is not an error.
 */
static const uint32_t ZC_IORING_NOTIF_USAGE_ZC_COPIED = 1u << 31;
/** IORING_SEND_ZC_REPORT_USAGE: ask SEND_ZC to report copied/zero-copy in its notification (sqe->ioprio) [6.2]. */
static const uint16_t ZC_IORING_SEND_ZC_REPORT_USAGE = 1u << 3;

/* ------------------------------------------------------------------------- */
/* SQ ring flags and setup/feature bits newer than liburing 2.3's headers       */
/* ------------------------------------------------------------------------- */

/** IORING_SQ_NEED_WAKEUP: the SQPOLL thread sleeps; io_uring_submit wakes it [5.1]. */
static const uint32_t ZC_IORING_SQ_NEED_WAKEUP = IORING_SQ_NEED_WAKEUP;
/** IORING_SQ_CQ_OVERFLOW: completions are waiting in the kernel's overflow list [5.5]. */
static const uint32_t ZC_IORING_SQ_CQ_OVERFLOW = IORING_SQ_CQ_OVERFLOW;
/** IORING_SQ_TASKRUN: task work is pending (with IORING_SETUP_TASKRUN_FLAG) [5.19]. */
static const uint32_t ZC_IORING_SQ_TASKRUN = IORING_SQ_TASKRUN;

/** IORING_SETUP_NO_MMAP [6.5], REGISTERED_FD_ONLY [6.5], NO_SQARRAY [6.6]: not in liburing 2.3. */
static const uint32_t ZC_IORING_SETUP_NO_MMAP = 1u << 14;
static const uint32_t ZC_IORING_SETUP_REGISTERED_FD_ONLY = 1u << 15;
static const uint32_t ZC_IORING_SETUP_NO_SQARRAY = 1u << 16;

/** IORING_FEAT_* newer than liburing 2.3 (which stops at LINKED_FILE, 1 << 12). */
static const uint32_t ZC_IORING_FEAT_REG_REG_RING = 1u << 13;     /* 6.3 */
static const uint32_t ZC_IORING_FEAT_RECVSEND_BUNDLE = 1u << 14;  /* 6.10 */
static const uint32_t ZC_IORING_FEAT_MIN_TIMEOUT = 1u << 15;      /* 6.12 */
static const uint32_t ZC_IORING_FEAT_RW_ATTR = 1u << 16;          /* 6.15 */
static const uint32_t ZC_IORING_FEAT_NO_IOWAIT = 1u << 17;        /* 6.15 */

/** Opcodes the kernel knows but liburing 2.3's headers (last: SENDMSG_ZC = 48) do not. */
enum zc_uring_new_op {
    ZC_IORING_OP_READ_MULTISHOT = 49,   /* 6.7 */
    ZC_IORING_OP_WAITID = 50,           /* 6.7 */
    ZC_IORING_OP_FUTEX_WAIT = 51,       /* 6.7 */
    ZC_IORING_OP_FUTEX_WAKE = 52,       /* 6.7 */
    ZC_IORING_OP_FUTEX_WAITV = 53,      /* 6.7 */
    ZC_IORING_OP_FIXED_FD_INSTALL = 54, /* 6.8 */
    ZC_IORING_OP_FTRUNCATE = 55,        /* 6.9 */
    ZC_IORING_OP_BIND = 56,             /* 6.11 */
    ZC_IORING_OP_LISTEN = 57,           /* 6.11 */
    ZC_IORING_OP_RECV_ZC = 58,          /* 6.15 */
    ZC_IORING_OP_EPOLL_WAIT = 59,       /* 6.15 */
    ZC_IORING_OP_READV_FIXED = 60,      /* 6.15 */
    ZC_IORING_OP_WRITEV_FIXED = 61,     /* 6.15 */
    ZC_IORING_OP_PIPE = 62              /* 6.16 */
};

/* ------------------------------------------------------------------------- */
/* SQE field setters (fields inside anonymous unions, awkward from Swift)      */
/* ------------------------------------------------------------------------- */

/** Set sqe->buf_group (with ZC_IOSQE_BUFFER_SELECT: the provided-buffer group). */
static inline void zc_sqe_set_buf_group(struct io_uring_sqe *sqe, uint16_t group)
{
    sqe->buf_group = group;
}

/** Set sqe->buf_index (READ_FIXED/WRITE_FIXED/SEND_ZC fixed: the registered buffer index). */
static inline void zc_sqe_set_buf_index(struct io_uring_sqe *sqe, uint16_t index)
{
    sqe->buf_index = index;
}

/** OR bits into sqe->ioprio (per-op flags: SEND_ZC, RECV, ACCEPT multishot...). */
static inline void zc_sqe_add_ioprio(struct io_uring_sqe *sqe, uint16_t bits)
{
    sqe->ioprio |= bits;
}

/** OR bits into sqe->flags (ZC_IOSQE_*). Unlike io_uring_sqe_set_flags, keeps existing bits. */
static inline void zc_sqe_add_flags(struct io_uring_sqe *sqe, uint8_t flags)
{
    sqe->flags |= flags;
}

/** Clear bits in sqe->flags. */
static inline void zc_sqe_clear_flags(struct io_uring_sqe *sqe, uint8_t flags)
{
    sqe->flags &= (uint8_t)~flags;
}

/* ------------------------------------------------------------------------- */
/* Completion reaping without a syscall                                        */
/* ------------------------------------------------------------------------- */

/**
 * A completion copied out of the CQ ring: struct io_uring_cqe without its flexible
 * big_cqe[] tail, so it can be an array element (and imports into Swift as a plain struct).
 */
typedef struct zc_cqe {
    uint64_t user_data; /* the SQE's user_data, unchanged */
    int32_t res;        /* result: >= 0 on success, -errno on failure (but see ZC_IORING_NOTIF_USAGE_ZC_COPIED) */
    uint32_t flags;     /* IORING_CQE_F_* ; provided-buffer id in the upper 16 bits */
} zc_cqe;

#ifdef __cplusplus
#define ZC_URING_STATIC_ASSERT static_assert
#else
#define ZC_URING_STATIC_ASSERT _Static_assert
#endif
ZC_URING_STATIC_ASSERT(sizeof(zc_cqe) == 16, "zc_cqe mirrors the first 16 bytes of struct io_uring_cqe");
ZC_URING_STATIC_ASSERT(offsetof(struct io_uring_cqe, res) == offsetof(zc_cqe, res), "res offset");
ZC_URING_STATIC_ASSERT(offsetof(struct io_uring_cqe, flags) == offsetof(zc_cqe, flags), "flags offset");
#undef ZC_URING_STATIC_ASSERT

/**
 * Copy up to `max` ready CQEs (user_data, res, flags) into `out` and mark them seen with
 * one store to the CQ head (io_uring_for_each_cqe + io_uring_cq_advance). Never enters
 * the kernel: call zc_uring_flush_overflow() or a waiting function to move overflowed or
 * deferred (DEFER_TASKRUN) completions into the ring first.
 * Preconditions: ring was not set up with IORING_SETUP_CQE32 (the big-CQE tail is not
 * copied); out has room for `max` entries; only one thread reaps this ring.
 * Returns the number copied (0 when the CQ is empty).
 */
static inline unsigned zc_uring_reap(struct io_uring *ring, zc_cqe *out, unsigned max)
{
    unsigned head;
    unsigned n = 0;
    struct io_uring_cqe *cqe;

    io_uring_for_each_cqe(ring, head, cqe) {
        if (n == max)
            break;
        out[n].user_data = cqe->user_data;
        out[n].res = cqe->res;
        out[n].flags = cqe->flags;
        n++;
    }
    io_uring_cq_advance(ring, n);
    return n;
}

/**
 * Point `cqes` at up to `max` ready CQEs in place (io_uring_peek_batch_cqe semantics, but
 * without its syscall: liburing 2.3 enters the kernel to flush overflow when the CQ is
 * empty). The caller must io_uring_cq_advance(ring, n) after reading them.
 * Returns the number available.
 */
static inline unsigned zc_uring_peek_batch(struct io_uring *ring, struct io_uring_cqe **cqes,
                                           unsigned max)
{
    unsigned head;
    unsigned n = 0;
    struct io_uring_cqe *cqe;

    io_uring_for_each_cqe(ring, head, cqe) {
        if (n == max)
            break;
        cqes[n++] = cqe;
    }
    return n;
}

/** The SQ ring's flags word (IORING_SQ_NEED_WAKEUP, _CQ_OVERFLOW, _TASKRUN), read atomically. */
static inline uint32_t zc_uring_sq_flags(const struct io_uring *ring)
{
    return IO_URING_READ_ONCE(*ring->sq.kflags);
}

/** The kernel's dropped-CQE counter (non-zero only when the kernel lacks IORING_FEAT_NODROP
 *  or could not allocate an overflow entry). */
static inline uint32_t zc_uring_cq_overflow_count(const struct io_uring *ring)
{
    return IO_URING_READ_ONCE(*ring->cq.koverflow);
}

/**
 * Ask the kernel to move overflowed completions into the CQ and run pending task work
 * (io_uring_enter with IORING_ENTER_GETEVENTS and min_complete 0, i.e. io_uring_get_events),
 * retrying EINTR. Returns 0 or -errno.
 */
static inline int zc_uring_flush_overflow(struct io_uring *ring)
{
    int ret;
    do {
        ret = io_uring_get_events(ring);
    } while (ret == -EINTR);
    return ret < 0 ? ret : 0;
}

/** The provided-buffer id in a CQE's flags, or -1 if ZC_IORING_CQE_F_BUFFER is not set. */
static inline int zc_cqe_buffer_id(uint32_t flags)
{
    return (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;
}

#ifdef __cplusplus
}
#endif

#endif /* ZEROCOPY_URING_H */
