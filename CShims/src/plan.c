/* The automatic choice's decision table (shared with Swift's `.automatic` through LinuxIO),
 * its parameters, and the endpoint inspection it decides on. zc_transfer is in transfer.c,
 * host profiles (the parameters measured on this machine) in profile.c. */
#define _GNU_SOURCE
#include "zc_internal.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <netinet/in.h>

/* ------------------------------------------------------------------------- */
/* The table                                                                  */
/* ------------------------------------------------------------------------- */

#define K(kind) (1u << (kind))
#define ANY_KIND ((1u << ZC_KIND_COUNT) - 1u)
#define FILES (K(ZC_KIND_FILE) | K(ZC_KIND_BLOCK_DEVICE))
#define SOCKETS (K(ZC_KIND_TCP_SOCKET) | K(ZC_KIND_UNIX_SOCKET) | K(ZC_KIND_OTHER_SOCKET))

enum { CFR = ZC_METHOD_COPY_FILE_RANGE, SF = ZC_METHOD_SENDFILE, SP = ZC_METHOD_SPLICE, RW = ZC_METHOD_READ_WRITE };

/*
 * First match wins. Every row ends with read/write, which works between any two
 * descriptors. Rows that test a size compare it with a parameter (zc_plan_params), which
 * a host profile sets; a pair of rows with ZC_SIZE_AT_MOST / ZC_SIZE_ABOVE on the same
 * parameter is one route's crossover. The "why" column is Docs/Transfer.md's, shortened;
 * change the two together.
 */
static const zc_plan_row zci_table[] = {
    {ANY_KIND, ANY_KIND, ZC_PAIR_APPEND_DESTINATION, 0, ZC_SIZE_ANY, 0, {RW},
     "sendfile, splice and copy_file_range refuse O_APPEND destinations (EINVAL/EBADF)"},
    {FILES, FILES, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY, 0, ZC_SIZE_ABOVE, ZC_PARAM_COPY_FILE_RANGE_MAX,
     {SP, CFR, SF, RW},
     "ext4/tmpfs copy_file_range copies in the kernel; splice through a 1 MiB pipe: 64 MiB 8.31 vs 5.79 GB/s"},
    {FILES, FILES, ZC_PAIR_SAME_FILESYSTEM | ZC_PAIR_KERNEL_COPY, 0, ZC_SIZE_AT_MOST, ZC_PARAM_SMALL_COPY_MAX, {RW},
     "ext4/tmpfs copy_file_range is the kernel's splice, as sendfile: 4 KiB ext4 rw 1.38 us vs cfr 1.57"},
    {FILES, FILES, ZC_PAIR_SAME_FILESYSTEM, 0, ZC_SIZE_ANY, 0, {CFR, SF, RW},
     "one call per chunk, the filesystem copies (or reflinks, or copies server-side)"},
    {FILES, FILES, 0, ZC_PAIR_SAME_FILESYSTEM, ZC_SIZE_AT_MOST, ZC_PARAM_SMALL_COPY_MAX, {RW},
     "copy_file_range is EXDEV across filesystems; 4 KiB: rw 1.28 us vs sendfile 1.62"},
    {FILES, FILES, 0, ZC_PAIR_SAME_FILESYSTEM, ZC_SIZE_ABOVE, ZC_PARAM_SMALL_COPY_MAX, {SF, RW},
     "64 KiB: sendfile 3.70 us vs rw 4.30; 1 MiB: 60.7 vs 80.5; no user-space copy"},
    {FILES, K(ZC_KIND_PIPE), 0, 0, ZC_SIZE_AT_MOST, ZC_PARAM_PIPE_SENDFILE_MAX, {SF, SP, RW},
     "no intermediate pipe either way; 4 KiB: sendfile 0.62 GB/s vs splice 0.49 (C 1.18 vs 0.79)"},
    {FILES, K(ZC_KIND_PIPE), 0, 0, ZC_SIZE_ABOVE, ZC_PARAM_PIPE_SENDFILE_MAX, {SP, SF, RW},
     "one splice per pipe-full, no intermediate pipe"},
    {FILES, SOCKETS, 0, 0, ZC_SIZE_AT_MOST, ZC_PARAM_SOCKET_SENDFILE_MAX, {SF, SP, RW},
     "one call per chunk, no pipe; 4 KiB to TCP: sendfile 0.40 GB/s, splice 0.30, rw 0.24"},
    {FILES, SOCKETS, 0, 0, ZC_SIZE_ABOVE, ZC_PARAM_SOCKET_SENDFILE_MAX, {SP, SF, RW},
     "sender CPU to TCP: splice 0.08, sendfile 0.10, rw 0.28 s/GB; 1 MiB: splice 2.79 vs 2.52 GB/s"},
    {FILES, K(ZC_KIND_CHARACTER_DEVICE), 0, 0, ZC_SIZE_ANY, 0, {SF, RW},
     "as for other destinations; /dev/null is no fair benchmark sink"},
    {K(ZC_KIND_PIPE) | K(ZC_KIND_TCP_SOCKET) | K(ZC_KIND_UNIX_SOCKET), ANY_KIND, 0, 0, ZC_SIZE_ANY, 0, {SP, RW},
     "a pipe end needs no intermediate pipe; with a splice receiver splice reaches ~2x rw"},
    {ANY_KIND, ANY_KIND, 0, 0, ZC_SIZE_ANY, 0, {RW},
     "pseudo files, devices, other sockets: sendfile EINVAL and copy_file_range EXDEV for /proc"},
};

const zc_plan_row *zc_plan_table(size_t *count) {
    if (count) *count = sizeof zci_table / sizeof zci_table[0];
    return zci_table;
}

void zc_plan_params_default(zc_plan_params *out) {
    if (out == NULL) return;
    *out = zci_builtin_profile()->params;
}

const char *zc_plan_param_name(int index) {
    switch (index) {
    case ZC_PARAM_SMALL_COPY_MAX: return "smallCopyMax";
    case ZC_PARAM_READ_WRITE_BUFFER: return "readWriteBuffer";
    case ZC_PARAM_COPY_FILE_RANGE_MAX: return "copyFileRangeMax";
    case ZC_PARAM_PIPE_SENDFILE_MAX: return "pipeSendfileMax";
    case ZC_PARAM_SOCKET_SENDFILE_MAX: return "socketSendfileMax";
    default: return NULL;
    }
}

const char *zc_method_name(int method) {
    switch (method) {
    case ZC_METHOD_NONE: return "none";
    case ZC_METHOD_COPY_FILE_RANGE: return "copyFileRange";
    case ZC_METHOD_SENDFILE: return "sendfile";
    case ZC_METHOD_SPLICE: return "splice";
    case ZC_METHOD_READ_WRITE: return "readWrite";
    default: return "?";
    }
}

static int zci_row_matches(const zc_plan_row *row, const zc_plan_params *params, int source_kind,
                           int destination_kind, uint32_t facts, uint64_t bytes) {
    if (!(row->sources & K(source_kind)) || !(row->destinations & K(destination_kind))) return 0;
    if ((facts & row->require) != row->require || (facts & row->exclude) != 0) return 0;
    uint64_t limit = row->size_param < ZC_PARAM_MAX ? params->value[row->size_param] : 0;
    switch (row->size_rule) {
    case ZC_SIZE_AT_MOST: return bytes != ZC_UNTIL_EOF && bytes <= limit;
    case ZC_SIZE_ABOVE: return bytes == ZC_UNTIL_EOF || bytes > limit;
    default: return 1;
    }
}

/* The index of the first row that matches (the last row matches every pair). */
static size_t zci_row_index(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
                            uint64_t bytes) {
    const size_t rows = sizeof zci_table / sizeof zci_table[0];
    for (size_t i = 0; i < rows; i++)
        if (zci_row_matches(&zci_table[i], params, source_kind, destination_kind, facts, bytes)) return i;
    return rows - 1;
}

static int zci_valid_kinds(int source_kind, int destination_kind) {
    return source_kind >= 0 && source_kind < ZC_KIND_COUNT && destination_kind >= 0 &&
           destination_kind < ZC_KIND_COUNT;
}

int zc_plan(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
            uint64_t bytes, uint8_t methods[ZC_PLAN_MAX]) {
    if (methods == NULL || !zci_valid_kinds(source_kind, destination_kind)) return -EINVAL;
    if (params == NULL) params = &zci_builtin_profile()->params;
    const zc_plan_row *row = &zci_table[zci_row_index(params, source_kind, destination_kind, facts, bytes)];
    int n = 0;
    while (n < ZC_PLAN_MAX && row->methods[n] != ZC_METHOD_NONE) {
        methods[n] = row->methods[n];
        n++;
    }
    return n;
}

/* statfs.f_type of filesystems whose copy_file_range is the kernel's generic byte copy
 * (no remap_file_range, no copy_file_range of their own): ext2/3/4 and tmpfs. Any other
 * filesystem may reflink (XFS, Btrfs, bcachefs, ZFS) or copy server-side (NFS, SMB,
 * Ceph, FUSE), which copy_file_range keeps and splice would lose. */
static const unsigned long zci_kernel_copy_fs[] = {
    0xEF53,     /* EXT2/3/4_SUPER_MAGIC */
    0x01021994, /* TMPFS_MAGIC */
};

int zc_fs_copies_in_kernel(int fd) {
    struct statfs sfs;
    int r;
    do { r = fstatfs(fd, &sfs); } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    unsigned long type = (unsigned long)(uint32_t)sfs.f_type;
    for (size_t i = 0; i < sizeof zci_kernel_copy_fs / sizeof zci_kernel_copy_fs[0]; i++)
        if (zci_kernel_copy_fs[i] == type) return 1;
    return 0;
}

/* A row for small transfers: at most smallCopyMax bytes. */
static int zci_row_is_small(const zc_plan_row *row) {
    return row->size_rule == ZC_SIZE_AT_MOST && row->size_param == ZC_PARAM_SMALL_COPY_MAX;
}

static uint32_t zci_plan_facts(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
                               uint64_t bytes, int destination_fd, int reused) {
    if (!zci_valid_kinds(source_kind, destination_kind) || (facts & ZC_PAIR_KERNEL_COPY)) return facts;
    if (params == NULL) params = &zci_builtin_profile()->params;
    /* Only when the fact decides between two rows is it worth a system call, and for a
     * plan made for one transfer only when the row it leads to is not a small-copy row:
     * there the fstatfs costs more than the better method saves (4 KiB on ext4 here:
     * fstatfs 0.43-0.49 us, read/write 0.19 us ahead of copy_file_range). */
    size_t without = zci_row_index(params, source_kind, destination_kind, facts, bytes);
    size_t with = zci_row_index(params, source_kind, destination_kind, facts | ZC_PAIR_KERNEL_COPY, bytes);
    if (without == with || (!reused && zci_row_is_small(&zci_table[with]))) return facts;
    return zc_fs_copies_in_kernel(destination_fd) == 1 ? facts | ZC_PAIR_KERNEL_COPY : facts;
}

uint32_t zc_plan_facts(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
                       uint64_t bytes, int destination_fd) {
    return zci_plan_facts(params, source_kind, destination_kind, facts, bytes, destination_fd, 0);
}

uint32_t zc_plan_facts_reused(const zc_plan_params *params, int source_kind, int destination_kind, uint32_t facts,
                              uint64_t bytes, int destination_fd) {
    return zci_plan_facts(params, source_kind, destination_kind, facts, bytes, destination_fd, 1);
}

int zc_fallback_errno(int err) {
    if (err < 0) err = -err;
    switch (err) {
    case EXDEV: case EINVAL: case ENOSYS: case EOPNOTSUPP: case EPERM: case ENODEV: return 1;
    default: return 0;
    }
}

/* ------------------------------------------------------------------------- */
/* Endpoints                                                                  */
/* ------------------------------------------------------------------------- */

/* statfs.f_type of filesystems whose files report sizes unrelated to their contents
 * (linux/magic.h). */
static const unsigned long zci_pseudo_fs[] = {
    0x9fa0,     /* PROC_SUPER_MAGIC */
    0x62656572, /* SYSFS_MAGIC */
    0x64626720, /* DEBUGFS_MAGIC */
    0x74726163, /* TRACEFS_MAGIC */
    0x73636673, /* SECURITYFS_MAGIC */
    0x0027e0eb, /* CGROUP_SUPER_MAGIC */
    0x63677270, /* CGROUP2_SUPER_MAGIC */
    0x62656570, /* CONFIGFS_MAGIC */
    0xcafe4a11, /* BPF_FS_MAGIC */
    0x6165676c, /* PSTOREFS_MAGIC */
    0xde5e81e4, /* EFIVARFS_MAGIC */
    0x65735543, /* FUSECTL_SUPER_MAGIC */
};

static int zci_is_pseudo_fs(int fd) {
    struct statfs sfs;
    int r;
    do { r = fstatfs(fd, &sfs); } while (r < 0 && errno == EINTR);
    if (r < 0) return 0;
    unsigned long type = (unsigned long)(uint32_t)sfs.f_type;
    for (size_t i = 0; i < sizeof zci_pseudo_fs / sizeof zci_pseudo_fs[0]; i++)
        if (zci_pseudo_fs[i] == type) return 1;
    return 0;
}

static int zci_socket_kind(int fd) {
    int domain = 0, type = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return ZC_KIND_OTHER_SOCKET;
    len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return ZC_KIND_OTHER_SOCKET;
    if (domain == AF_UNIX) return ZC_KIND_UNIX_SOCKET;
    if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM) return ZC_KIND_TCP_SOCKET;
    return ZC_KIND_OTHER_SOCKET;
}

/* The mode field filled padding: the layout C programs built against earlier headers use. */
_Static_assert(sizeof(zc_endpoint) == 40, "zc_endpoint must keep its size");

int zc_endpoint_inspect(int fd, zc_endpoint *out) { return zc_endpoint_inspect_call(fd, out, NULL); }

int zc_endpoint_inspect_call(int fd, zc_endpoint *out, const char **failed_call) {
    if (failed_call) *failed_call = NULL;
    if (out == NULL) return -EFAULT;
    memset(out, 0, sizeof *out);
    out->size = -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        if (failed_call) *failed_call = "fstat";
        return -errno;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) {
        if (failed_call) *failed_call = "fcntl";
        return -errno;
    }
    out->append_only = (flags & O_APPEND) != 0;
    out->non_blocking = (flags & O_NONBLOCK) != 0;
    out->device = (uint64_t)st.st_dev;
    out->inode = (uint64_t)st.st_ino;
    out->mode = (uint32_t)(st.st_mode & 07777);
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        /* Pseudo filesystems report 0 (procfs, debugfs...) or one page (sysfs, configfs):
         * only such sizes cost an fstatfs, and only off block devices: every filesystem in
         * zci_pseudo_fs is a "nodev" one, whose superblock gets an anonymous device number
         * (major 0), so a file on a block device's filesystem (ext4 on /dev/vda: major
         * 254) cannot be one (Docs/LinuxFacts.md, "Endpoints"). */
        if ((st.st_size == 0 || st.st_size == 4096) && major(st.st_dev) == 0 && zci_is_pseudo_fs(fd)) {
            out->kind = ZC_KIND_PSEUDO_FILE;
        } else {
            out->kind = ZC_KIND_FILE;
            out->size = (int64_t)st.st_size;
        }
        break;
    case S_IFBLK: out->kind = ZC_KIND_BLOCK_DEVICE; break;
    case S_IFCHR: out->kind = ZC_KIND_CHARACTER_DEVICE; break;
    case S_IFIFO: out->kind = ZC_KIND_PIPE; break;
    case S_IFSOCK: out->kind = zci_socket_kind(fd); break;
    case S_IFDIR: out->kind = ZC_KIND_DIRECTORY; break;
    default: out->kind = ZC_KIND_OTHER; break;
    }
    return 0;
}

static int zci_is_seekable(int kind) {
    return kind == ZC_KIND_FILE || kind == ZC_KIND_PSEUDO_FILE || kind == ZC_KIND_BLOCK_DEVICE;
}

uint32_t zc_pair_facts(const zc_endpoint *source, const zc_endpoint *destination) {
    if (source == NULL || destination == NULL) return 0;
    uint32_t facts = 0;
    if (zci_is_seekable(source->kind) && zci_is_seekable(destination->kind) &&
        source->device == destination->device)
        facts |= ZC_PAIR_SAME_FILESYSTEM;
    if (destination->append_only) facts |= ZC_PAIR_APPEND_DESTINATION;
    return facts;
}
