// Wake-up latency of a thread parked on a futex, as a function of how long it was parked,
// with the waker busy (spinning) during the wait: the hop's cost model.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static _Atomic int word;
static _Atomic uint64_t woke;
static uint64_t now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000ull+t.tv_nsec;}
static void *waiter(void *a){(void)a;for(;;){while(atomic_load(&word)==0) syscall(SYS_futex,&word,FUTEX_WAIT_PRIVATE,0,NULL,NULL,0); if(atomic_load(&word)<0)return NULL; atomic_store(&woke,now()); atomic_store(&word,0);} }
static int cmp(const void*a,const void*b){uint64_t x=*(uint64_t*)a,y=*(uint64_t*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){int spin=argc>1&&argv[1][0]=='s';pthread_t t;pthread_create(&t,NULL,waiter,NULL);
 int gaps[]={2,10,30,60,100,200,400,1000};
 for(unsigned g=0;g<sizeof gaps/sizeof*gaps;g++){enum{N=400};uint64_t lat[N];
  for(int i=0;i<N;i++){usleep(200); /* let it park */ uint64_t s=now(); if(spin){while(now()-s<(uint64_t)gaps[g]*1000);} else { struct timespec ts={0,gaps[g]*1000}; nanosleep(&ts,NULL);} 
   atomic_store(&woke,0); uint64_t sig=now(); atomic_store(&word,1); syscall(SYS_futex,&word,FUTEX_WAKE_PRIVATE,1,NULL,NULL,0);
   while(atomic_load(&woke)==0){} lat[i]=atomic_load(&woke)-sig; while(atomic_load(&word)!=0){}}
  qsort(lat,N,sizeof*lat,cmp);printf("parked >= %4d us (+200 us): wake latency median %6.1f us  p90 %6.1f us\n",gaps[g],lat[N/2]/1000.0,lat[N*9/10]/1000.0);}
 atomic_store(&word,-1);syscall(SYS_futex,&word,FUTEX_WAKE_PRIVATE,1,NULL,NULL,0);pthread_join(t,NULL);}
