/*
 * CLibURing.h — the one header through which Swift sees liburing.
 *
 * The order is load-bearing (Docs/LinuxFacts.md), and a wrong order fails only a CLEAN build:
 *   1. <sys/types.h>       before liburing defines _XOPEN_SOURCE/_GNU_SOURCE, or glibc's
 *                          fd_set is declared twice (Glibc module vs this one);
 *   2. <linux/io_uring.h>  the kernel uapi copy, so struct io_uring_sqe is the same
 *                          declaration swift-system's CSystem sees (both guard with
 *                          LINUX_IO_URING_H, so liburing's private copy is skipped);
 *   3. <linux/stat.h>      struct statx, which liburing's io_uring_prep_statx names but
 *                          glibc declares only under _GNU_SOURCE (too late by then);
 *   4. <liburing.h>.
 * Then the project's helpers (CShims/include/zerocopy_uring.h, installed for C users as
 * <zerocopy/zerocopy_uring.h>), found on the include path of the CZeroCopy target this
 * one depends on (Package.swift); the header is not part of the CZeroCopy module, so
 * Swift sees liburing's types from this module only.
 */
#ifndef ZEROCOPY_CLIBURING_H
#define ZEROCOPY_CLIBURING_H

#include <sys/types.h>
#include <linux/io_uring.h>
#include <linux/stat.h>
#include <liburing.h>

#include <zerocopy_uring.h>

#endif /* ZEROCOPY_CLIBURING_H */
