#!/bin/bash
# Run from the repository root after `make bench-serve-build` (root: strace and perf need ptrace):
#   Benchmarks/ServePeers/profile-serve.sh      (OUT=DIR, ZC=PATH, NGINX_ONLY=1 override)
# Output as in Docs/bench/issue16/profile.
# Where a response's CPU goes: zc serve (automatic) vs nginx (sendfile on), 16 connections.
# Syscalls per response (strace -c -f over part of a wrk run; counts, not times) for 4 KiB
# and 1 MiB files; perf profiles of zc at 4 KiB and of both servers at 1 MiB.
set -u
OUT=${OUT:-build/bench-out/serve-profile}
mkdir -p "$OUT"
ZC=${ZC:-.build/release/zc}
ROOT=$(mktemp -d /tmp/zc-prof.XXXXXX)
chmod 755 $ROOT   # nginx workers run as www-data
head -c 4096 /dev/urandom > $ROOT/f4096.bin
head -c 1048576 /dev/urandom > $ROOT/f1048576.bin
chmod 644 $ROOT/*
PORT=18181
trace() { # name size pids...
  local name=$1 size=$2; shift 2
  ( wrk -t2 -c16 -d7s http://127.0.0.1:$PORT/f$size.bin > $OUT/$name-$size-strace-wrk.txt ) &
  local W=$!
  sleep 1
  local args=""; for p in "$@"; do args="$args -p $p"; done
  timeout -s INT 5 strace -c -f $args -o $OUT/$name-$size-strace.txt
  wait $W
}
profile() { # name size seconds pids (comma-separated)
  local name=$1 size=$2 seconds=$3 pids=$4
  ( wrk -t2 -c16 -d$((seconds + 3))s --latency http://127.0.0.1:$PORT/f$size.bin > $OUT/$name-$size-perf-wrk.txt ) &
  local W=$!
  sleep 1
  perf record -F 1999 -g -o $OUT/$name-$size.perf.data -p $pids -- sleep $seconds 2> /dev/null
  wait $W
  perf report -i $OUT/$name-$size.perf.data --no-children --sort dso --stdio -g none 2>/dev/null | grep "%" | head -12 > $OUT/$name-$size-perf-dso.txt
  perf report -i $OUT/$name-$size.perf.data --no-children --sort symbol --stdio -g none 2>/dev/null | grep "%" | head -60 > $OUT/$name-$size-perf-sym.txt
  perf report -i $OUT/$name-$size.perf.data --children --sort symbol --stdio -g none 2>/dev/null | grep "%" | head -60 > $OUT/$name-$size-perf-children.txt
  echo "$name $size: $(perf script -i $OUT/$name-$size.perf.data -F period 2>/dev/null | wc -l) samples in $seconds s" >> $OUT/samples.txt
}
if [[ -z "${NGINX_ONLY:-}" ]]; then
$ZC serve $ROOT --port $PORT --quiet --strategy automatic --no-fallback & ZPID=$!
sleep 1
wrk -t2 -c16 -d2s http://127.0.0.1:$PORT/f4096.bin > /dev/null
trace zc 4096 $ZPID
trace zc 1048576 $ZPID
profile zc 4096 10 $ZPID
profile zc 1048576 5 $ZPID
kill $ZPID; wait $ZPID 2>/dev/null
fi
D=$(mktemp -d /tmp/zc-prof-ngx.XXXXXX)
cat > $D/nginx.conf <<NG
worker_processes 2;
pid $D/nginx.pid;
error_log $D/error.log;
daemon off;
events { worker_connections 4096; }
http { include /etc/nginx/mime.types; default_type application/octet-stream; access_log off; sendfile on;
  client_body_temp_path $D/body; proxy_temp_path $D/proxy; fastcgi_temp_path $D/fastcgi; uwsgi_temp_path $D/uwsgi; scgi_temp_path $D/scgi;
  server { listen 127.0.0.1:$PORT backlog=4096; root $ROOT; } }
NG
/usr/sbin/nginx -c $D/nginx.conf -e $D/error.log & NPID=$!
sleep 1
wrk -t2 -c16 -d2s http://127.0.0.1:$PORT/f4096.bin > /dev/null
WORKERS=$(pgrep -P $NPID | tr '\n' ' ')
trace nginx 4096 $WORKERS
trace nginx 1048576 $WORKERS
profile nginx 1048576 5 $(echo $WORKERS | tr ' ' ',')
kill $NPID; wait $NPID 2>/dev/null
rm -rf $ROOT $D
echo done
