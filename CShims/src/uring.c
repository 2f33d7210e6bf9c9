/*
 * uring.c — is io_uring usable here, and which operations does the kernel support?
 *
 * Implements zc_uring_probe() and zc_uring_reason_string() (declared in zerocopy.h).
 *
 * io_uring can be refused in several distinct ways, and callers (the Swift URing
 * layer, the async engine's fallback, the `zc probe` tool) want to say *which*:
 *
 *   - the user opted out:   ZEROCOPY_DISABLE_IO_URING=1            -> DISABLED_BY_ENV
 *   - the administrator:    kernel.io_uring_disabled = 2, or = 1 and the
 *                           caller is neither in kernel.io_uring_group nor
 *                           CAP_SYS_ADMIN; io_uring_setup gives EPERM -> DISABLED_BY_SYSCTL
 *   - a seccomp/LSM policy: io_uring_setup gives EPERM (Docker's default
 *                           profile, systemd's RestrictNamespaces...)  -> NOT_PERMITTED
 *   - no io_uring at all:   ENOSYS (kernel < 5.1, gVisor, a filter
 *                           returning ENOSYS)                          -> NOT_IMPLEMENTED
 *   - memory:               ENOMEM (ring memory is charged to
 *                           RLIMIT_MEMLOCK without CAP_IPC_LOCK: before
 *                           5.12, and again on 6.18)                   -> OUT_OF_MEMORY
 *   - half-blocked:         setup works but io_uring_register (or the
 *                           first io_uring_enter) is refused           -> REGISTER_REFUSED /
 *                                                                         NOT_PERMITTED / ...
 *
 * The probe is deliberately not cached here: caching is the caller's policy (the Swift
 * layer caches one answer per process). Every step returns -errno, never sets errno as
 * its way of reporting, and retries EINTR.
 */
#define _GNU_SOURCE

#include "zerocopy.h"

/* Header order matters for the Swift importer (Docs/LinuxFacts.md, Building); keep it the same here. */
#include <sys/types.h>
#include <linux/io_uring.h>
#include <liburing.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest probe the kernel fills: opcodes are a __u8, so 256 entries cover every kernel. */
#define ZC_PROBE_OPS 256

_Static_assert(sizeof(((zc_uring_probe_result *)0)->op_supported) == ZC_PROBE_OPS,
               "op_supported must cover every possible opcode");
_Static_assert(ZC_URING_OTHER_ERROR == 7, "zc_uring_reason values are ABI");

/* Read a small non-negative integer from a /proc file; -1 when absent or unreadable. */
static int read_proc_int(const char *path)
{
    char buf[32];
    ssize_t n;
    int fd;

    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';

    char *end = NULL;
    long v = strtol(buf, &end, 10);
    if (end == buf || v < 0 || v > 1000000)
        return -1;
    return (int)v;
}

/* Is the caller a member of group `gid` (effective or supplementary)? */
static int in_group(gid_t gid)
{
    if (getegid() == gid)
        return 1;
    gid_t groups[256];
    int n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

/*
 * Would kernel.io_uring_disabled explain an EPERM from io_uring_setup?
 *   2: io_uring_setup is refused for everyone.
 *   1: refused unless the caller is in kernel.io_uring_group or has CAP_SYS_ADMIN.
 * CAP_SYS_ADMIN is approximated by euid 0 (checking capabilities properly needs
 * libcap or capget; root without CAP_SYS_ADMIN is rare and would be reported as
 * "disabled by sysctl", which is still the right advice).
 */
static int sysctl_explains_eperm(int sysctl_value)
{
    if (sysctl_value >= 2)
        return 1;
    if (sysctl_value == 1) {
        if (geteuid() == 0)
            return 0;
        int group = read_proc_int("/proc/sys/kernel/io_uring_group");
        if (group >= 0 && in_group((gid_t)group))
            return 0;
        return 1;
    }
    return 0;
}

static int reason_for_setup_errno(int err, int sysctl_value)
{
    switch (err) {
    case EPERM:
        return sysctl_explains_eperm(sysctl_value) ? ZC_URING_DISABLED_BY_SYSCTL
                                                   : ZC_URING_NOT_PERMITTED;
    case EACCES:
        return ZC_URING_NOT_PERMITTED;
    case ENOSYS:
        return ZC_URING_NOT_IMPLEMENTED;
    case ENOMEM:
        return ZC_URING_OUT_OF_MEMORY;
    default:
        return ZC_URING_OTHER_ERROR;
    }
}

/* Is ZEROCOPY_DISABLE_IO_URING set to exactly "1"? (Other values, e.g. "0", do not disable.) */
static int disabled_by_env(void)
{
    const char *v = getenv("ZEROCOPY_DISABLE_IO_URING");
    return v != NULL && strcmp(v, "1") == 0;
}

/*
 * One NOP through the ring: proves io_uring_enter is allowed too (a seccomp filter
 * can allow io_uring_setup and io_uring_register but refuse io_uring_enter).
 * Returns 0 or -errno.
 */
static int nop_round_trip(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe == NULL)
        return -EBUSY; /* cannot happen on a fresh ring */
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, 0x7a63u);

    int ret;
    do {
        ret = io_uring_submit_and_wait(ring, 1);
    } while (ret == -EINTR);
    if (ret < 0)
        return ret;

    struct io_uring_cqe *cqe = NULL;
    do {
        ret = io_uring_wait_cqe(ring, &cqe);
    } while (ret == -EINTR);
    if (ret < 0)
        return ret;
    int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res < 0 ? res : 0;
}

int zc_uring_probe(zc_uring_probe_result *out)
{
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->reason = ZC_URING_AVAILABLE;
    out->last_op = -1;
    out->sysctl_disabled = read_proc_int("/proc/sys/kernel/io_uring_disabled");

    if (disabled_by_env()) {
        out->reason = ZC_URING_DISABLED_BY_ENV;
        return -ECANCELED;
    }

    /* Sysctl = 2 refuses everyone; still try setup so the errno is the kernel's own. */
    struct io_uring ring;
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    int ret = io_uring_queue_init_params(4, &ring, &params);
    if (ret < 0) {
        out->setup_errno = -ret;
        out->reason = reason_for_setup_errno(-ret, out->sysctl_disabled);
        return ret;
    }
    out->features = params.features;

    /*
     * Probe with our own buffer and io_uring_register_probe rather than
     * io_uring_get_probe_ring: the latter returns NULL and loses the errno, and the
     * errno is what tells "register refused by policy" from "kernel too old to probe".
     */
    size_t probe_size = sizeof(struct io_uring_probe) + ZC_PROBE_OPS * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, probe_size);
    if (probe == NULL) {
        io_uring_queue_exit(&ring);
        out->setup_errno = ENOMEM;
        out->reason = ZC_URING_OUT_OF_MEMORY;
        return -ENOMEM;
    }
    do {
        ret = io_uring_register_probe(&ring, probe, ZC_PROBE_OPS);
    } while (ret == -EINTR);

    if (ret < 0) {
        int err = -ret;
        out->register_errno = err;
        if (err == EINVAL) {
            /*
             * Kernels 5.1-5.5 have io_uring but no IORING_REGISTER_PROBE. io_uring works;
             * which opcodes it supports is unknown (last_op stays -1, op_supported all 0).
             */
        } else {
            /* EPERM/EACCES (policy) and ENOSYS (filtered) alike: the ring cannot be driven. */
            free(probe);
            io_uring_queue_exit(&ring);
            out->reason = ZC_URING_REGISTER_REFUSED;
            return ret;
        }
    } else {
        out->last_op = probe->last_op;
        unsigned n = probe->ops_len;
        if (n > ZC_PROBE_OPS)
            n = ZC_PROBE_OPS;
        for (unsigned i = 0; i < n; i++) {
            unsigned op = probe->ops[i].op;
            if (op < ZC_PROBE_OPS && (probe->ops[i].flags & IO_URING_OP_SUPPORTED))
                out->op_supported[op] = 1;
        }
    }
    free(probe);

    /*
     * Setup and register worked; make sure io_uring_enter does too. A refusal here is
     * reported with the enter errno in setup_errno (the ring is unusable either way).
     */
    ret = nop_round_trip(&ring);
    io_uring_queue_exit(&ring);
    if (ret < 0) {
        out->setup_errno = -ret;
        out->reason = reason_for_setup_errno(-ret, out->sysctl_disabled);
        return ret;
    }
    return 0;
}

const char *zc_uring_reason_string(int reason)
{
    switch (reason) {
    case ZC_URING_AVAILABLE:
        return "io_uring is available";
    case ZC_URING_DISABLED_BY_ENV:
        return "io_uring is disabled by the environment (ZEROCOPY_DISABLE_IO_URING=1)";
    case ZC_URING_DISABLED_BY_SYSCTL:
        return "io_uring is disabled by the administrator (sysctl kernel.io_uring_disabled)";
    case ZC_URING_NOT_PERMITTED:
        return "io_uring is refused by a security policy (seccomp or LSM returned EPERM)";
    case ZC_URING_NOT_IMPLEMENTED:
        return "io_uring is not implemented by this kernel or sandbox (ENOSYS)";
    case ZC_URING_OUT_OF_MEMORY:
        return "io_uring ring memory could not be allocated (ENOMEM; RLIMIT_MEMLOCK without CAP_IPC_LOCK)";
    case ZC_URING_REGISTER_REFUSED:
        return "io_uring rings can be created but io_uring_register is refused (seccomp or policy)";
    case ZC_URING_OTHER_ERROR:
        return "io_uring setup failed with an unexpected error";
    default:
        return "unknown io_uring availability reason";
    }
}
