# swift-zerocopy host profile (Docs/Transfer.md, section Host profiles).
# Written by zc calibrate; ZEROCOPY_PROFILE=builtin makes programs ignore it.
zerocopy-profile 1
host 65aa408d26f5a6d6
kernel 6.18.44-fc-v1300
cpus 2
created 2026-12-07T08:12:27Z
measured zc calibrate: 15 rounds of 10 ms, margin 7 %, in /tmp (routes: sameFileSystem, otherFileSystem, pipe); make builtin-profile at 46c35ff
smallCopyMax 16384
readWriteBuffer 131072
copyFileRangeMax 131072
pipeSendfileMax max
socketSendfileMax 262144
