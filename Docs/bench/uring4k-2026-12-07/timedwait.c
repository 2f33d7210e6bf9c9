// Build: cc -O2 -Wall -Wextra -o timedwait timedwait.c -luring; run: taskset -c 1 ./timedwait 20000 /tmp
// io_uring_submit_and_wait vs io_uring_submit_and_wait_timeout (10 ms) on one NOP, and on a
// linked 4 KiB READ -> WRITE pair to a file (punted to io-wq): ns per round trip.
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int n=argc>1?atoi(argv[1]):20000; const char*dir=argc>2?argv[2]:"/tmp";
  struct io_uring ring; io_uring_queue_init(8,&ring,0);
  char p1[256],p2[256]; snprintf(p1,256,"%s/tw-src",dir); snprintf(p2,256,"%s/tw-dst",dir);
  int in=open(p1,O_RDWR|O_CREAT|O_TRUNC,0600), out=open(p2,O_RDWR|O_CREAT|O_TRUNC,0600);
  char *buf = NULL;
  if (in < 0 || out < 0 || posix_memalign((void**)&buf,4096,4096) != 0) { perror("setup"); return 1; }
  memset(buf,7,4096);
  if (pwrite(in,buf,4096,0) != 4096) { perror("pwrite"); return 1; }
  double *t=malloc(sizeof(double)*n);
  for(int mode=0;mode<4;mode++){ // 0 nop untimed,1 nop timed,2 pair untimed,3 pair timed
    for(int rep=0;rep<2;rep++) for(int i=0;i<n;i++){
      int want=1;
      if(mode<2){ struct io_uring_sqe*s=io_uring_get_sqe(&ring); io_uring_prep_nop(s);} else {
        struct io_uring_sqe*r=io_uring_get_sqe(&ring); io_uring_prep_read(r,in,buf,4096,0); r->flags|=IOSQE_IO_LINK;
        struct io_uring_sqe*w=io_uring_get_sqe(&ring); io_uring_prep_write(w,out,buf,4096,0); want=2;}
      double a=now(); struct io_uring_cqe*c;
      if(mode%2==0) io_uring_submit_and_wait(&ring,want);
      else { struct __kernel_timespec ts={0,10000000}; io_uring_submit_and_wait_timeout(&ring,&c,want,&ts,NULL);}
      t[i]=now()-a; unsigned head,k=0; io_uring_for_each_cqe(&ring,head,c){k++;} io_uring_cq_advance(&ring,k);
    }
    qsort(t,n,sizeof(double),cmp);
    printf("%-14s median %7.0f ns  p25 %7.0f  p75 %7.0f\n",(const char*[]){"nop untimed","nop timed","pair untimed","pair timed"}[mode],t[n/2],t[n/4],t[3*n/4]);
  }
  unlink(p1);unlink(p2); return 0;
}
