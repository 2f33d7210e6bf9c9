/*
 * zc_seccomp_run — run a command with io_uring refused by a seccomp filter.
 *
 *   zc_seccomp_run MODE [--] COMMAND [ARG...]
 *
 * MODE:
 *   enosys          io_uring_setup fails with ENOSYS   (gVisor, kernels without io_uring)
 *   eperm           io_uring_setup fails with EPERM    (Docker's default seccomp profile)
 *   register-eperm  io_uring_register fails with EPERM; rings can still be created
 *   none            no filter (for comparison runs)
 *
 * The filter is installed with prctl(PR_SET_NO_NEW_PRIVS) + prctl(PR_SET_SECCOMP,
 * SECCOMP_MODE_FILTER): no libseccomp, no privileges. It is inherited by every thread
 * and child and survives execve, so the command and everything it starts run under it.
 * Every other system call is allowed. The filter checks the architecture first: a
 * system call made through another ABI (x32, or 32-bit on a 64-bit kernel) is refused
 * with ENOSYS, so io_uring cannot be reached around the filter.
 *
 * Before exec'ing, the launcher checks that the filter does what the mode says (a raw
 * io_uring_setup / io_uring_register with arguments the kernel would otherwise reject
 * with EFAULT / EBADF must fail with the mode's errno) and exits 125 otherwise.
 * The command sees ZC_SECCOMP_MODE=MODE in its environment (the Swift tests assert the
 * reason that mode must produce).
 * Exit status: the command's (via execvp); 125 for the launcher's own errors, 127 when
 * the command cannot be executed.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ZC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ZC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "zc_seccomp_run: add this architecture's AUDIT_ARCH_* value"
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

/* x32 system calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number. */
#define ZC_X32_SYSCALL_BIT 0x40000000u

static const char *progname = "zc_seccomp_run";

static void usage(void)
{
    fprintf(stderr,
            "usage: %s enosys|eperm|register-eperm|none [--] COMMAND [ARG...]\n"
            "  enosys          io_uring_setup fails with ENOSYS\n"
            "  eperm           io_uring_setup fails with EPERM\n"
            "  register-eperm  io_uring_register fails with EPERM (setup works)\n"
            "  none            no filter\n",
            progname);
}

/* Installs: wrong arch -> ENOSYS; x32 -> ENOSYS; `nr` -> `err`; everything else allowed. */
static int install_filter(unsigned int nr, unsigned int err)
{
    struct sock_filter filter[] = {
        /* [0] A = arch */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        /* [1] arch == native ? continue : goto refuse_enosys */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ZC_AUDIT_ARCH, 0, 5),
        /* [2] A = nr */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* [3] nr >= x32 bit ? goto refuse_enosys : continue (harmless on arm64: no such numbers) */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, ZC_X32_SYSCALL_BIT, 3, 0),
        /* [4] nr == target ? continue : goto allow */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        /* [5] refuse with the mode's errno */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        /* [6] allow */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* [7] refuse_enosys */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
        .filter = filter,
    };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "%s: prctl(PR_SET_NO_NEW_PRIVS): %s\n", progname, strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        fprintf(stderr, "%s: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): %s\n", progname, strerror(errno));
        return -1;
    }
    return 0;
}

/* Does the raw system call fail with `want`? The arguments are invalid on purpose: without
 * the filter the kernel answers EFAULT (setup with params = NULL) or EBADF (register on fd -1). */
static int check(const char *what, long ret, int got, int want)
{
    if (ret == -1 && got == want)
        return 0;
    fprintf(stderr, "%s: self-check failed: %s returned %ld (%s), expected -1 (%s)\n", progname, what, ret,
            ret == -1 ? strerror(got) : "no error", strerror(want));
    return -1;
}

int main(int argc, char **argv)
{
    if (argc > 0 && argv[0] != NULL)
        progname = argv[0];
    if (argc < 3) {
        usage();
        return 125;
    }
    const char *mode = argv[1];
    int first = 2;
    if (strcmp(argv[first], "--") == 0)
        first++;
    if (first >= argc) {
        usage();
        return 125;
    }

    unsigned int nr = 0;
    int err = 0;
    if (strcmp(mode, "enosys") == 0) {
        nr = __NR_io_uring_setup;
        err = ENOSYS;
    } else if (strcmp(mode, "eperm") == 0) {
        nr = __NR_io_uring_setup;
        err = EPERM;
    } else if (strcmp(mode, "register-eperm") == 0) {
        nr = __NR_io_uring_register;
        err = EPERM;
    } else if (strcmp(mode, "none") != 0) {
        fprintf(stderr, "%s: unknown mode '%s'\n", progname, mode);
        usage();
        return 125;
    }

    if (err != 0) {
        if (install_filter(nr, (unsigned int)err) != 0)
            return 125;
        long ret;
        int e;
        if (nr == __NR_io_uring_setup) {
            errno = 0;
            ret = syscall(__NR_io_uring_setup, 1, NULL);
            e = errno;
            if (check("io_uring_setup(1, NULL)", ret, e, err) != 0)
                return 125;
        } else {
            errno = 0;
            ret = syscall(__NR_io_uring_register, -1, 0, NULL, 0);
            e = errno;
            if (check("io_uring_register(-1, ...)", ret, e, err) != 0)
                return 125;
            /* ... and setup is still allowed (EFAULT: the kernel itself rejected NULL). */
            errno = 0;
            ret = syscall(__NR_io_uring_setup, 1, NULL);
            e = errno;
            if (check("io_uring_setup(1, NULL)", ret, e, EFAULT) != 0)
                return 125;
        }
    }

    /* Tell the tests which refusal they run under (they assert the matching reason). */
    if (setenv("ZC_SECCOMP_MODE", mode, 1) != 0) {
        fprintf(stderr, "%s: setenv: %s\n", progname, strerror(errno));
        return 125;
    }
    execvp(argv[first], &argv[first]);
    fprintf(stderr, "%s: cannot execute %s: %s\n", progname, argv[first], strerror(errno));
    return 127;
}
