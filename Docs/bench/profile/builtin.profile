# swift-zerocopy host profile (Docs/Transfer.md, section Host profiles).
# The built-in table: compiled into libzerocopy as CShims/src/plan_builtin.h by
# `make builtin-profile`, which also rewrites this file by running `zc calibrate --thorough`.
# Until that quiet run is made, these values were set by hand from the published runs
# (BENCHMARKS.md, Docs/bench/quiet-2026-11-27, commit cb11b0b; Docs/Transfer.md M1/M2).
zerocopy-profile 1
host 0000000000000000
kernel 6.18.44-fc-v669
cpus 2
created 2026-11-27T01:34:03Z
measured by hand from zerocopy-bench quiet-2026-11-27 (cb11b0b): file ext4, tmpfs /dev/shm, TCP loopback, pipe
smallCopyMax 16384
readWriteBuffer 131072
copyFileRangeMax 262144
pipeSendfileMax max
socketSendfileMax 262144
