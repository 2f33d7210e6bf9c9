#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(void){int p[2];pipe(p);char path[64];snprintf(path,64,"/proc/self/fd/%d",p[1]);
 int N=100000;double t=now();for(int i=0;i<N;i++){int f=open(path,O_WRONLY|O_NONBLOCK|O_CLOEXEC);close(f);}printf("open+close /proc/self/fd/N: %.2f us\n",(now()-t)/N/1000);
 t=now();for(int i=0;i<N;i++){int q;ioctl(p[1],0x541B,&q);}printf("FIONREAD: %.2f us\n",(now()-t)/N/1000);
 t=now();for(int i=0;i<N;i++){fcntl(p[1],1032);}printf("F_GETPIPE_SZ: %.2f us\n",(now()-t)/N/1000);}
