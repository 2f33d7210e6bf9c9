# Round trips of one byte between two processes over two pipes, both on one CPU and on
# two CPUs (sched_setaffinity): the cost of waking a thread on an idle vCPU.
# python3 pingpong.py  (prints three pairs of medians-free averages of 5,000 round trips)
import os, time, sys
def run(cpu_a, cpu_b, n=5000):
    r1,w1=os.pipe(); r2,w2=os.pipe()
    pid=os.fork()
    if pid==0:
        os.sched_setaffinity(0,{cpu_b})
        for _ in range(n):
            os.read(r1,1); os.write(w2,b'x')
        os._exit(0)
    os.sched_setaffinity(0,{cpu_a})
    time.sleep(0.05)
    t=time.perf_counter()
    for _ in range(n):
        os.write(w1,b'x'); os.read(r2,1)
    dt=time.perf_counter()-t
    os.waitpid(pid,0)
    return dt/n*1e6
for rep in range(3):
    print("same cpu: %.1f us/roundtrip   cross cpu: %.1f us/roundtrip" % (run(1,1), run(0,1)))
