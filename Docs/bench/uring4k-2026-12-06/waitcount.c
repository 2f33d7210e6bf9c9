// A 4 KiB file → file copy as one linked READ_FIXED → WRITE_FIXED pair on a ring kept
// across transfers (what swift:ioUring and c:ioUring do at 4 KiB), waited for two ways:
//   both   one io_uring_enter that submits and waits for both completions
//          (io_uring_submit_and_wait(ring, 2): ZeroCopy's TransferRing.submitAndCollect)
//   both10 the same with a 10 ms timeout (io_uring_submit_and_wait_timeout, EXT_ARG): what
//          TransferRing.submitAndCollect makes, so that it can check for cancellation
//   first  io_uring_submit_and_wait(ring, 1), then wait again until both are in
//          (Benchmarks/c/xfer_ref.c's loop: the read completes inline, so the first call
//          returns at once and the second waits for the write)
// Modes rotate over rounds; medians of wall time, CPU time (getrusage, io-wq workers
// included) and io_uring_enter calls per transfer.
// Build: cc -O2 -Wall -Wextra -o waitcount waitcount.c -luring
// Run:   ./waitcount DIRECTORY [transfers per round]   (DIRECTORY: ext4, tmpfs...)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what, int r) {
  fprintf(stderr, "%s: %s\n", what, strerror(-r));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s DIRECTORY [transfers]\n", argv[0]); return 64; }
  long transfers = argc > 2 ? atol(argv[2]) : 20000;
  char src[4096], dst[4096];
  snprintf(src, sizeof src, "%s/waitcount-src.XXXXXX", argv[1]);
  snprintf(dst, sizeof dst, "%s/waitcount-dst.XXXXXX", argv[1]);
  int in = mkstemp(src), out = mkstemp(dst);
  if (in < 0 || out < 0) { perror("mkstemp"); return 1; }
  unlink(src);
  unlink(dst);
  static char block[4096];
  memset(block, 'z', sizeof block);
  if (pwrite(in, block, sizeof block, 0) != 4096 || pwrite(out, block, sizeof block, 0) != 4096) {
    perror("pwrite");
    return 1;
  }
  struct io_uring ring;
  int r = io_uring_queue_init(16, &ring, 0);
  if (r < 0) die("io_uring_queue_init", r);
  void *buffer;
  if (posix_memalign(&buffer, 4096, 4096)) return 1;
  struct iovec iov = {.iov_base = buffer, .iov_len = 4096};
  if ((r = io_uring_register_buffers(&ring, &iov, 1)) < 0) die("io_uring_register_buffers", r);

  enum { MODES = 3, ROUNDS = 9 };
  const char *names[MODES] = {"both", "both10", "first"};
  double wall[MODES][ROUNDS], cpu[MODES][ROUNDS], enters[MODES][ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    for (int k = 0; k < MODES; k++) {
      int mode = (k + round) % MODES;
      long calls = 0;
      double w0 = now_us(), c0 = cpu_us();
      for (long i = 0; i < transfers; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_read_fixed(sqe, in, buffer, 4096, 0, 0);
        sqe->flags |= IOSQE_IO_LINK;
        sqe = io_uring_get_sqe(&ring);
        io_uring_prep_write_fixed(sqe, out, buffer, 4096, 0, 0);
        int seen = 0;
        if (mode == 1) {
          struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
          struct io_uring_cqe *first;
          r = io_uring_submit_and_wait_timeout(&ring, &first, 2, &ts, NULL);
          if (r == -ETIME) r = 0;
        } else {
          r = io_uring_submit_and_wait(&ring, mode == 0 ? 2 : 1);
        }
        calls++;
        if (r < 0) die("io_uring_submit_and_wait", r);
        while (seen < 2) {
          struct io_uring_cqe *cqe;
          if (io_uring_peek_cqe(&ring, &cqe) == 0) {
            if (cqe->res != 4096) die("completion", cqe->res < 0 ? cqe->res : -EIO);
            io_uring_cqe_seen(&ring, cqe);
            seen++;
            continue;
          }
          r = io_uring_wait_cqe(&ring, &cqe);
          calls++;
          if (r < 0) die("io_uring_wait_cqe", r);
        }
      }
      wall[mode][round] = (now_us() - w0) / transfers;
      cpu[mode][round] = (cpu_us() - c0) / transfers;
      enters[mode][round] = (double)calls / transfers;
    }
  }
  for (int mode = 0; mode < MODES; mode++) {
    qsort(wall[mode], ROUNDS, sizeof(double), cmp);
    qsort(cpu[mode], ROUNDS, sizeof(double), cmp);
    qsort(enters[mode], ROUNDS, sizeof(double), cmp);
    printf("%-6s %6.1f µs per transfer (min %.1f, max %.1f), CPU %5.1f µs, %.2f io_uring_enter; %d rounds of %ld\n",
           names[mode], wall[mode][ROUNDS / 2], wall[mode][0], wall[mode][ROUNDS - 1], cpu[mode][ROUNDS / 2],
           enters[mode][ROUNDS / 2], ROUNDS, transfers);
  }
  io_uring_queue_exit(&ring);
  return 0;
}
