// What a "does the socket have room?" check costs beside a 4 KiB sendfile to a TCP
// loopback peer that reads everything (a child process on the other CPU, as in
// zerocopy-bench's tcp-read cell). Modes, alternated in rounds, medians printed:
//   plain    sendfile(4096) only (what PreparedTransfer.runBlocking makes)
//   meminfo  getsockopt(SO_MEMINFO) then sendfile (what the async inline check makes)
//   poll     poll(POLLOUT, 0 ms) then sendfile
//   outq     ioctl(SIOCOUTQ) then sendfile
// Build: cc -O2 -Wall -Wextra -o roomcheck roomcheck.c ; run: ./roomcheck [iterations]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 20000;
  char path[] = "/tmp/roomcheck.XXXXXX";
  int file = mkstemp(path);
  if (file < 0) { perror("mkstemp"); return 1; }
  unlink(path);
  char block[4096];
  memset(block, 'x', sizeof block);
  if (write(file, block, sizeof block) != (ssize_t)sizeof block) { perror("write"); return 1; }

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 1) ||
      getsockname(listener, (struct sockaddr *)&addr, &len)) { perror("listen"); return 1; }
  pid_t child = fork();
  if (child == 0) {  // the reader: drain until EOF
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&addr, sizeof addr)) _exit(1);
    static char buf[1 << 20];
    while (read(s, buf, sizeof buf) > 0) {}
    _exit(0);
  }
  int sock = accept(listener, NULL, NULL);
  if (sock < 0) { perror("accept"); return 1; }

  const char *names[] = {"plain", "meminfo", "poll", "outq"};
  enum { MODES = 4, ROUNDS = 9 };
  double samples[MODES][ROUNDS];
  uint32_t meminfo[16];
  for (int round = 0; round < ROUNDS; round++) {
    for (int k = 0; k < MODES; k++) {
      int mode = (k + round) % MODES;
      double start = now_ns();
      for (long i = 0; i < iterations; i++) {
        if (mode == 1) {
          socklen_t l = sizeof meminfo;
          if (getsockopt(sock, SOL_SOCKET, SO_MEMINFO, meminfo, &l)) { perror("SO_MEMINFO"); return 1; }
        } else if (mode == 2) {
          struct pollfd p = {.fd = sock, .events = POLLOUT};
          if (poll(&p, 1, 0) < 0) { perror("poll"); return 1; }
        } else if (mode == 3) {
          int queued;
          if (ioctl(sock, SIOCOUTQ, &queued)) { perror("SIOCOUTQ"); return 1; }
        }
        off_t offset = 0;
        if (sendfile(sock, file, &offset, 4096) != 4096) { perror("sendfile"); return 1; }
      }
      samples[mode][round] = (now_ns() - start) / iterations;
    }
  }
  for (int mode = 0; mode < MODES; mode++) {
    qsort(samples[mode], ROUNDS, sizeof(double), cmp);
    printf("%-8s %7.0f ns per 4 KiB sendfile (min %.0f, max %.0f; %d rounds of %ld)\n", names[mode],
           samples[mode][ROUNDS / 2], samples[mode][0], samples[mode][ROUNDS - 1], ROUNDS, iterations);
  }
  close(sock);
  waitpid(child, NULL, 0);
  return 0;
}
