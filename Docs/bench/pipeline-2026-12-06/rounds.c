// rounds vs pipeline: io_uring linked READ_FIXED->WRITE_FIXED, 4 x 256 KiB, file -> file
#define _GNU_SOURCE
#include <liburing.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#define CH (256u*1024u)
#define D 4
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static unsigned long enters;
static void pair(struct io_uring*r,int in,int out,char*b,int slot,unsigned len,unsigned long off){
  struct io_uring_sqe*s=io_uring_get_sqe(r);io_uring_prep_read_fixed(s,in,b+(size_t)slot*CH,len,off,slot);s->flags|=IOSQE_IO_LINK;s->user_data=slot<<1;
  s=io_uring_get_sqe(r);io_uring_prep_write_fixed(s,out,b+(size_t)slot*CH,len,off,slot);s->user_data=(slot<<1)|1;}
static void rounds(struct io_uring*r,int in,int out,char*b,unsigned long size){
  unsigned long next=0;
  while(next<size){int n=0;for(int i=0;i<D&&next<size;i++){unsigned len=size-next<CH?size-next:CH;pair(r,in,out,b,i,len,next);next+=len;n++;}
    int want=2*n;io_uring_submit_and_wait(r,want);enters++;
    int got=0;while(got<want){struct io_uring_cqe*c;unsigned h,k=0;io_uring_for_each_cqe(r,h,c){if(c->res<0){fprintf(stderr,"err %d\n",c->res);exit(1);}k++;}io_uring_cq_advance(r,k);got+=k;if(got<want){io_uring_submit_and_wait(r,1);enters++;}}}
}
static void pipeline(struct io_uring*r,int in,int out,char*b,unsigned long size){
  unsigned long next=0,done=0;int fr[D],nf=D;for(int i=0;i<D;i++)fr[i]=i;
  while(done<size){while(next<size&&nf>0){int s=fr[--nf];unsigned len=size-next<CH?size-next:CH;pair(r,in,out,b,s,len,next);next+=len;}
    io_uring_submit_and_wait(r,1);enters++;struct io_uring_cqe*c;unsigned h,k=0;
    io_uring_for_each_cqe(r,h,c){k++;if(c->res<0){fprintf(stderr,"err %d\n",c->res);exit(1);}if(c->user_data&1){done+=c->res;fr[nf++]=c->user_data>>1;}}io_uring_cq_advance(r,k);}
}
int main(int argc,char**argv){if(argc<5)return 2;
  const char*src=argv[1],*dst=argv[2];int mode=atoi(argv[3]);int it=atoi(argv[4]);
  int in=open(src,O_RDONLY);struct stat st;fstat(in,&st);
  char*b=NULL;if(posix_memalign((void**)&b,4096,D*CH))return 1;memset(b,0,D*CH);
  struct io_uring r;io_uring_queue_init(D*4,&r,0);struct iovec iov[D];for(int i=0;i<D;i++)iov[i]=(struct iovec){b+(size_t)i*CH,CH};io_uring_register_buffers(&r,iov,D);
  double best=1e9,sum=0;
  for(int i=0;i<it;i++){int out=open(dst,O_WRONLY|O_CREAT,0644);double t=now();enters=0;
    if(mode==0)rounds(&r,in,out,b,st.st_size);else pipeline(&r,in,out,b,st.st_size);
    double e=now()-t;close(out);if(e<best)best=e;sum+=e;}
  printf("%s %.3f GB/s best, %.3f avg, enters/transfer %lu\n",mode?"pipeline":"rounds  ",st.st_size/best/1e9,st.st_size/(sum/it)/1e9,enters);
}
