#!/bin/bash
set -u
# Made for Docs/bench/issue16 (paths as on the machine that made it: OUT, the zc binary).
OUT=/work/logs/perf2
ROOT=$(mktemp -d /tmp/zc-prof.XXXXXX); chmod 755 $ROOT
head -c 1048576 /dev/urandom > $ROOT/f1048576.bin; chmod 644 $ROOT/*
PORT=18282
/tmp/zc-f4cf9c4 serve $ROOT --port $PORT --quiet --strategy automatic --no-fallback & ZPID=$!
sleep 1
wrk -t2 -c16 -d2s http://127.0.0.1:$PORT/f1048576.bin > /dev/null
( wrk -t2 -c16 -d8s http://127.0.0.1:$PORT/f1048576.bin > $OUT/zc-wrk.txt ) & W=$!
sleep 1
perf record -F 1999 -g -o $OUT/zc.data -p $ZPID -- sleep 5 2> /dev/null
wait $W
kill $ZPID; wait $ZPID 2>/dev/null
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
wrk -t2 -c16 -d2s http://127.0.0.1:$PORT/f1048576.bin > /dev/null
WORKERS=$(pgrep -P $NPID | tr '\n' ',' | sed 's/,$//')
( wrk -t2 -c16 -d8s http://127.0.0.1:$PORT/f1048576.bin > $OUT/nginx-wrk.txt ) & W=$!
sleep 1
perf record -F 1999 -g -o $OUT/nginx.data -p $WORKERS -- sleep 5 2> /dev/null
wait $W
kill $NPID; wait $NPID 2>/dev/null
rm -rf $ROOT $D
for s in zc nginx; do
  perf report -i $OUT/$s.data --no-children --sort dso --stdio -g none 2>/dev/null | grep "%" | head -8 > $OUT/$s-dso.txt
  perf report -i $OUT/$s.data --no-children --sort symbol --stdio -g none 2>/dev/null | grep "%" | head -40 > $OUT/$s-sym.txt
  perf report -i $OUT/$s.data --children --sort symbol --stdio -g none 2>/dev/null | grep "%" | head -70 > $OUT/$s-children.txt
  echo "$s samples: $(perf report -i $OUT/$s.data --stdio 2>/dev/null | grep -m1 'Samples')"
done
echo done
