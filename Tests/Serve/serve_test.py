#!/usr/bin/env python3
"""`zc serve` against real clients (curl, Python's http.client), against nginx on the
same requests (differential), and under adversarial and long-running load (make test-serve).

Usage: serve_test.py --zc PATH [--seccomp PATH] [--requests N] [--soak]

Each check prints PASS/FAIL/SKIP with a reason; the exit status is 1 if any check failed.
Everything runs on loopback ports chosen by the kernel; nginx (if installed) is started
with a temporary configuration and stopped at the end.
"""

import argparse
import hashlib
import http.client
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

RESULTS = {"PASS": 0, "FAIL": 0, "SKIP": 0}
FAILED = []


def result(status, name, detail=""):
    RESULTS[status] += 1
    if status == "FAIL":
        FAILED.append(name)
    print(f"  {status:4}  {name:58} {detail}", flush=True)


def check(name, condition, detail=""):
    result("PASS" if condition else "FAIL", name, detail)
    return condition


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------
# Fixtures and servers
# ----------------------------------------------------------------------------

def make_site(root):
    rng = random.Random(16)
    files = {
        "index.html": b"<h1>root</h1>\n",
        "a.txt": b"hello, world\n",
        "small.bin": bytes(rng.getrandbits(8) for _ in range(4096)),
        "data.bin": rng.randbytes(1 << 20),
        "empty": b"",
        "dir/index.html": b"dir index\n",
        "noindex/style.css": b"body { color: red }\n",
        "app.js": b"console.log(1)\n",
        "space name.txt": b"spaced\n",
        "caf\u00e9.txt": b"accented\n",
        "tiny.txt": b"t\n",
    }
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    # A large sparse file for clients that never read (pages of zeros, no disk).
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.truncate(64 << 20)
    os.symlink("a.txt", os.path.join(root, "link-in"))
    os.symlink("/etc/passwd", os.path.join(root, "link-out"))
    return files


class ZC:
    """`zc serve ROOT` on a kernel-chosen port."""

    def __init__(self, zc, root, *extra, launcher=None, quiet=True):
        command = ([launcher, "enosys"] if launcher else []) + [zc, "serve", root, "--port", "0", *extra]
        if quiet:
            command.append("--quiet")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.banner = ""
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.process.stderr.readline().decode(errors="replace")
            if not line:
                break
            self.banner += line
            match = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
            if match:
                self.port = int(match.group(1))
                return
        self.process.kill()
        raise RuntimeError(f"zc serve did not start: {self.banner}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.stderr = self.banner + self.process.stderr.read().decode(errors="replace")
        return code


class Nginx:
    """nginx with a temporary configuration serving ROOT on a free loopback port."""

    def __init__(self, root, workdir, sendfile=True):
        self.dir = tempfile.mkdtemp(prefix="ngx-", dir=workdir)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        mime = "/etc/nginx/mime.types"
        config = f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
daemon off;
events {{ worker_connections 4096; }}
http {{
  include {mime};
  default_type application/octet-stream;
  access_log off;
  sendfile {"on" if sendfile else "off"};
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  server {{ listen 127.0.0.1:{self.port}; root {root}; }}
}}
"""
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(config)
        self.process = subprocess.Popen(
            ["nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-e", os.path.join(self.dir, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# ----------------------------------------------------------------------------
# A minimal response parser for raw exchanges (pipelining, malformed requests)
# ----------------------------------------------------------------------------

class Raw:
    def __init__(self, port, timeout=10, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def response(self, head=False):
        """(status, {lower-case name: value}, body) or None at end of stream."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                if not self.buffer:
                    return None
                raise EOFError(f"end of stream inside a head: {self.buffer[:200]!r}")
            self.buffer += chunk
        end = self.buffer.index(b"\r\n\r\n") + 4
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        self.buffer = self.buffer[end:]
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if head or status == 304 or "content-length" not in headers:
            return status, headers, b""
        length = int(headers["content-length"])
        if not self._fill(length):
            raise EOFError(f"end of stream after {len(self.buffer)} of {length} body bytes")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_peer(self):
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def exchange(port, request, head=False):
    c = Raw(port)
    try:
        c.send(request)
        return c.response(head=head)
    finally:
        c.close()


def curl(*args):
    out = subprocess.run(["curl", "-s", "--max-time", "20", *args], capture_output=True)
    return out.returncode, out.stdout


# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------

def check_curl(port, files, label=""):
    base = f"http://127.0.0.1:{port}"
    for name in ["a.txt", "small.bin", "data.bin", "empty", "index.html"]:
        rc, body = curl(base + "/" + name)
        check(f"curl{label} GET /{name}: sha256", rc == 0 and sha(body) == sha(files[name]), f"({len(body)} bytes)")
    rc, body = curl("-r", "1000-204799", base + "/data.bin")
    check(f"curl{label} -r 1000-204799", rc == 0 and body == files["data.bin"][1000:204800])
    rc, body = curl("-r", "-100", base + "/data.bin")
    check(f"curl{label} -r -100 (suffix)", rc == 0 and body == files["data.bin"][-100:])


def check_curl_features(port, files):
    base = f"http://127.0.0.1:{port}"
    rc, out = curl("-I", base + "/a.txt")
    text = out.decode()
    check("curl -I: 200, Content-Length 13, no body", rc == 0 and " 200 " in text.splitlines()[0] and "Content-Length: 13" in text)
    last_modified = re.search(r"Last-Modified: (.*)\r", text).group(1)
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-Modified-Since: {last_modified}", base + "/a.txt")
    check("curl If-Modified-Since (exact) -> 304", out == b"304")
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", "-z", "Thu, 01 Jan 1970 00:00:00 GMT", base + "/a.txt")
    check("curl -z 1970 -> 200", out == b"200")
    etag = re.search(r'ETag: (".*")', text).group(1)
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}", base + "/a.txt")
    check("curl If-None-Match -> 304", out == b"304")
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "x=1", base + "/a.txt")
    check("curl POST -> 405", out == b"405")
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", base + "/missing")
    check("curl /missing -> 404", out == b"404")
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", base + "/dir")
    check("curl /dir -> 301 /dir/", out.decode().startswith("301 ") and out.decode().endswith("/dir/"))
    rc, out = curl("-L", base + "/dir")
    check("curl -L /dir -> the directory's index", out == files["dir/index.html"])
    rc, out = curl("--http1.0", base + "/a.txt")
    check("curl --http1.0", out == files["a.txt"])
    rc, out = curl("-w", "%{num_connects}", "-o", "/dev/null", "-o", "/dev/null", base + "/a.txt", base + "/small.bin")
    # num_connects is written per transfer: 1 for the first, 0 for the second (reused).
    check("curl keep-alive: two requests, one connection", out == b"10", out.decode())
    rc, out = curl(base + "/space%20name.txt")
    check("curl percent-encoded name", out == files["space name.txt"])
    rc, out = curl(base + "/caf%C3%A9.txt")
    check("curl UTF-8 name", out == files["caf\u00e9.txt"])
    rc, out = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base + "/../../etc/passwd")
    check("curl --path-as-is /../../etc/passwd -> 400", out == b"400")
    rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", base + "/link-out")
    check("curl symlink out of the root -> 403", out == b"403")


def check_http_client(port, files):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(method, target, headers=None):
        conn.request(method, target, headers=headers or {})
        r = conn.getresponse()
        return r, r.read()

    r, body = request("GET", "/data.bin")
    check("http.client GET 1 MiB: sha256", r.status == 200 and sha(body) == sha(files["data.bin"]))
    r, body = request("HEAD", "/data.bin")
    check("http.client HEAD on the same connection", r.status == 200 and body == b"" and r.getheader("Content-Length") == str(1 << 20))
    r, body = request("GET", "/data.bin", {"Range": "bytes=10-19"})
    check("http.client Range 10-19 -> 206", r.status == 206 and body == files["data.bin"][10:20]
          and r.getheader("Content-Range") == f"bytes 10-19/{1 << 20}")
    r, body = request("GET", "/data.bin", {"Range": "bytes=0-4,100-104"})
    ctype = r.getheader("Content-Type", "")
    boundary = ctype.partition("boundary=")[2]
    parts = [p for p in body.split(b"--" + boundary.encode()) if p.strip(b"\r\n-")]
    payloads = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts]
    check("http.client two ranges -> multipart/byteranges", r.status == 206 and ctype.startswith("multipart/byteranges")
          and payloads == [files["data.bin"][0:5], files["data.bin"][100:105]])
    r, body = request("GET", "/data.bin", {"Range": f"bytes={1 << 20}-"})
    check("http.client unsatisfiable range -> 416", r.status == 416 and r.getheader("Content-Range") == f"bytes */{1 << 20}")
    r, body = request("GET", "/a.txt")
    etag, modified = r.getheader("ETag"), r.getheader("Last-Modified")
    r, body = request("GET", "/a.txt", {"If-None-Match": etag})
    check("http.client If-None-Match -> 304", r.status == 304 and body == b"" and r.getheader("ETag") == etag)
    r, body = request("GET", "/a.txt", {"If-Match": '"nope"'})
    check("http.client If-Match mismatch -> 412", r.status == 412)
    r, body = request("GET", "/data.bin", {"Range": "bytes=0-9", "If-Range": modified})
    check("http.client If-Range (date) matching -> 206", r.status == 206 and len(body) == 10)
    r, body = request("GET", "/data.bin", {"Range": "bytes=0-9", "If-Range": '"stale"'})
    check("http.client If-Range stale -> 200 whole", r.status == 200 and len(body) == 1 << 20)
    r, body = request("GET", "/app.js")
    check("http.client Content-Type from the extension", r.getheader("Content-Type") == "application/javascript")
    r, body = request("DELETE", "/a.txt")
    check("http.client DELETE -> 405 with Allow", r.status == 405 and r.getheader("Allow") == "GET, HEAD")
    r, body = request("GET", "/noindex/")
    check("http.client directory without index -> 404", r.status == 404)
    conn.close()

    # Pipelining: ten requests in one write, ten responses in order.
    c = Raw(port)
    names = ["a.txt", "small.bin", "missing", "index.html", "tiny.txt"] * 2
    c.send(b"".join(f"GET /{n} HTTP/1.1\r\nHost: h\r\n\r\n".encode() for n in names))
    got = [c.response() for _ in names]
    expected = [(200, files[n]) if n in files else (404, None) for n in names]
    check("pipelining: 10 requests in one write, answered in order",
          all(s == es and (eb is None or b == eb) for (s, _, b), (es, eb) in zip(got, expected)))
    c.close()

    # Malformed requests close the connection after the error.
    for request, status in [
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET /a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400),
        (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"y" * 20000 + b"\r\n\r\n", 431),
        (b"GET /a.txt HTTP/1.1\nHost: h\n\n", 400),
    ]:
        c = Raw(port)
        c.send(request)
        r = c.response()
        check(f"malformed -> {status}, then closed: {request[:32]!r}", r is not None and r[0] == status and c.closed_by_peer())
        c.close()


# nginx and zc on the same requests. Statuses must agree except where Docs/Serve.md lists
# a difference; then the pair must be exactly the documented one.
DOCUMENTED = {
    # A directory without an index: nginx 403 (directory index forbidden), zc 404.
    "GET /noindex/": (403, 404),
    # Symlinks leaving the root: nginx follows them (disable_symlinks off), zc refuses (403).
    "GET /link-out": (200, 403),
    # Methods other than GET/HEAD on a missing file: nginx looks for the file first.
    "POST /missing": (404, 405),
    # A bare LF as line end: nginx accepts it, zc refuses (400).
    "bare LF": (200, 400),
    # HTTP/1.1 without Host... both 400. Request targets with bytes outside RFC 3986:
    # nginx accepts them, zc refuses (400).
    "GET /a\"b": (404, 400),
    # An invalid If-Unmodified-Since: nginx 412, zc ignores it (RFC 9110 §13.1.4).
    "If-Unmodified-Since garbage": (412, 200),
    # Content-Length and Transfer-Encoding together: both 400. Transfer-Encoding gzip
    # alone: nginx 501, zc 400 (RFC 9112 §6.3: chunked must be the final coding).
    "TE gzip": (501, 400),
}


def differential(zc_port, nginx_port, files):
    modified_etag = exchange(zc_port, b"HEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\n", head=True)[1]
    etag, modified = modified_etag["etag"], modified_etag["last-modified"]
    cases = [
        (n, f"{m} {t} HTTP/1.1\r\nHost: h\r\n{extra}\r\n".encode(), m == "HEAD") for n, m, t, extra in [
            ("GET /", "GET", "/", ""),
            ("GET /a.txt", "GET", "/a.txt", ""),
            ("HEAD /data.bin", "HEAD", "/data.bin", ""),
            ("GET /empty", "GET", "/empty", ""),
            ("GET /dir", "GET", "/dir", ""),
            ("GET /dir?x=1", "GET", "/dir?x=1", ""),
            ("GET /dir/", "GET", "/dir/", ""),
            ("GET /noindex/", "GET", "/noindex/", ""),
            ("GET /noindex/style.css", "GET", "/noindex/style.css", ""),
            ("GET /missing", "GET", "/missing", ""),
            ("GET /a.txt/", "GET", "/a.txt/", ""),
            ("GET /%61.txt", "GET", "/%61.txt", ""),
            ("GET /space%20name.txt", "GET", "/space%20name.txt", ""),
            ("GET /caf%C3%A9.txt", "GET", "/caf%C3%A9.txt", ""),
            ("GET //a.txt", "GET", "//a.txt", ""),
            ("GET /./a.txt", "GET", "/./a.txt", ""),
            ("GET /dir/../a.txt", "GET", "/dir/../a.txt", ""),
            ("GET /dir/%2e%2e/a.txt", "GET", "/dir/%2e%2e/a.txt", ""),
            ("GET /../a.txt", "GET", "/../a.txt", ""),
            ("GET /%2e%2e/a.txt", "GET", "/%2e%2e/a.txt", ""),
            ("GET /..%2fa.txt", "GET", "/..%2fa.txt", ""),
            ("GET /%252e%252e/a.txt", "GET", "/%252e%252e/a.txt", ""),
            ("GET /a.txt?q=1", "GET", "/a.txt?q=1", ""),
            ("GET /link-in", "GET", "/link-in", ""),
            ("GET /link-out", "GET", "/link-out", ""),
            ("GET absolute-form", "GET", "http://h/a.txt", ""),
            ("POST /missing", "POST", "/missing", ""),
            ("DELETE /a.txt", "DELETE", "/a.txt", ""),
            ("PUT /a.txt", "PUT", "/a.txt", ""),
            ("range 0-9", "GET", "/data.bin", "Range: bytes=0-9\r\n"),
            ("range suffix", "GET", "/data.bin", "Range: bytes=-7\r\n"),
            ("range open", "GET", "/data.bin", "Range: bytes=1048570-\r\n"),
            ("range past end", "GET", "/data.bin", "Range: bytes=1048570-2000000\r\n"),
            ("range unsatisfiable", "GET", "/data.bin", "Range: bytes=1048576-\r\n"),
            ("range reversed", "GET", "/data.bin", "Range: bytes=9-0\r\n"),
            ("range garbage", "GET", "/data.bin", "Range: bytes=abc\r\n"),
            ("range other unit", "GET", "/data.bin", "Range: items=0-1\r\n"),
            ("range on empty", "GET", "/empty", "Range: bytes=0-\r\n"),
            ("range two", "GET", "/data.bin", "Range: bytes=0-1,5-6\r\n"),
            ("range overlapping", "GET", "/data.bin", "Range: bytes=0-800000,100-900000\r\n"),
            ("range HEAD", "HEAD", "/data.bin", "Range: bytes=0-9\r\n"),
            ("INM match", "GET", "/a.txt", f"If-None-Match: {etag}\r\n"),
            ("INM weak", "GET", "/a.txt", f"If-None-Match: W/{etag}\r\n"),
            ("INM star", "GET", "/a.txt", "If-None-Match: *\r\n"),
            ("INM other", "GET", "/a.txt", 'If-None-Match: "x"\r\n'),
            ("IMS exact", "GET", "/a.txt", f"If-Modified-Since: {modified}\r\n"),
            ("IMS later", "GET", "/a.txt", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n"),
            ("IMS earlier", "GET", "/a.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            ("INM match + IMS earlier", "GET", "/a.txt", f"If-None-Match: {etag}\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            ("If-Match other", "GET", "/a.txt", 'If-Match: "x"\r\n'),
            ("If-Match match", "GET", "/a.txt", f"If-Match: {etag}\r\n"),
            ("If-Unmodified-Since old", "GET", "/a.txt", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            ("If-Unmodified-Since garbage", "GET", "/a.txt", "If-Unmodified-Since: garbage\r\n"),
            ("If-Range match", "GET", "/data.bin", f"Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
            ("If-Range stale", "GET", "/data.bin", 'Range: bytes=0-9\r\nIf-Range: "x"\r\n'),
            ("INM + range", "GET", "/a.txt", f"Range: bytes=0-1\r\nIf-None-Match: {etag}\r\n"),
            ("duplicate INM", "GET", "/a.txt", 'If-None-Match: "a"\r\nIf-None-Match: "b"\r\n'),
            ("CL + TE", "GET", "/a.txt", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"),
            ("TE gzip", "GET", "/a.txt", "Transfer-Encoding: gzip\r\n"),
            ("duplicate CL", "GET", "/a.txt", "Content-Length: 0\r\nContent-Length: 0\r\n"),
        ]
    ] + [
        ("no Host", b"GET /a.txt HTTP/1.1\r\n\r\n", False),
        ("two Hosts", b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", False),
        ("HTTP/1.0", b"GET /a.txt HTTP/1.0\r\n\r\n", False),
        ("HTTP/2.0", b"GET /a.txt HTTP/2.0\r\nHost: h\r\n\r\n", False),
        ("bare LF", b"GET /a.txt HTTP/1.1\nHost: h\n\n", False),
        ('GET /a"b', b'GET /a"b HTTP/1.1\r\nHost: h\r\n\r\n', False),
    ]
    compared = ["content-type", "content-length", "content-range", "etag", "last-modified", "accept-ranges"]
    mismatches = []
    documented = []
    for name, raw, head in cases:
        try:
            n = exchange(nginx_port, raw, head)
            z = exchange(zc_port, raw, head)
        except (OSError, EOFError) as e:
            mismatches.append(f"{name}: {e}")
            continue
        if n is None or z is None:
            mismatches.append(f"{name}: no response ({n is None}, {z is None})")
            continue
        if n[0] != z[0]:
            if DOCUMENTED.get(name) != (n[0], z[0]):
                mismatches.append(f"{name}: nginx {n[0]}, zc {z[0]}")
            else:
                documented.append(f"{name} ({n[0]} vs {z[0]})")
            continue
        if n[0] >= 400 or n[0] in (301, 302):
            # Error and redirect pages differ by design (they name the server); the
            # Location is compared for redirects.
            if re.sub(r"^http://[^/]+", "", n[1].get("location", "")) != z[1].get("location", ""):
                mismatches.append(f"{name}: location nginx {n[1].get('location')!r}, zc {z[1].get('location')!r}")
            continue
        for field in compared:
            nv, zv = n[1].get(field), z[1].get(field)
            if field == "content-type" and nv and nv.startswith("multipart/byteranges"):
                nv, zv = nv.split(";")[0], (zv or "").split(";")[0]
            if field == "content-length" and n[1].get("content-type", "").startswith("multipart/"):
                continue  # boundary lengths differ
            if nv != zv:
                mismatches.append(f"{name}: {field} nginx {nv!r}, zc {zv!r}")
        if not n[1].get("content-type", "").startswith("multipart/") and n[2] != z[2]:
            mismatches.append(f"{name}: bodies differ ({len(n[2])} vs {len(z[2])} bytes)")
    unseen = sorted(set(DOCUMENTED) - {d.split(" (")[0] for d in documented})
    check(f"differential with nginx: {len(cases)} requests agree (or differ as documented)", not mismatches and not unseen,
          "; ".join(mismatches[:6] + [f"documented difference not seen: {u}" for u in unseen]))
    print(f"        documented differences seen: {', '.join(documented)}")


def check_adversarial(zc, root, port, files):
    # Clients that never read: more of them than the Transfer API has worker threads.
    stalled = []
    for _ in range(12):
        c = Raw(port, rcvbuf=4096)
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        stalled.append(c)
    time.sleep(0.5)
    start = time.time()
    ok = all(exchange(port, b"GET /small.bin HTTP/1.1\r\nHost: h\r\n\r\n")[2] == files["small.bin"] for _ in range(20))
    check("12 clients that never read: others are served at once", ok and time.time() - start < 10, f"({time.time() - start:.2f} s)")
    for c in stalled:
        c.close()

    # One byte at a time.
    c = Raw(port)
    for b in b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n":
        c.send(bytes([b]))
        time.sleep(0.002)
    r = c.response()
    check("headers one byte at a time", r is not None and r[0] == 200 and r[2] == files["a.txt"])
    c.close()

    # A thousand connections at once.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2300:
        result("SKIP", "1,000 connections at once", f"(descriptor limit {hard})")
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        sel = selectors.DefaultSelector()
        socks = []
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            socks.append(s)
        for s in socks:
            s.sendall(b"GET /small.bin HTTP/1.1\r\nHost: h\r\n\r\n")
            sel.register(s, selectors.EVENT_READ, bytearray())
        complete = 0
        deadline = time.time() + 60
        expected_len = None
        while complete < 1000 and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                data = key.data
                chunk = key.fileobj.recv(65536)
                data += chunk
                if b"\r\n\r\n" in data:
                    head, _, body = bytes(data).partition(b"\r\n\r\n")
                    if len(body) >= 4096:
                        complete += int(head.startswith(b"HTTP/1.1 200") and body[:4096] == files["small.bin"])
                        sel.unregister(key.fileobj)
                if not chunk:
                    sel.unregister(key.fileobj)
        check("1,000 connections at once, each answered exactly", complete == 1000, f"({complete})")
        for s in socks:
            s.close()

    # A reset mid-body costs only that connection.
    for _ in range(5):
        c = Raw(port, rcvbuf=4096)
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
        c.sock.recv(4096)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    r = exchange(port, b"GET /data.bin HTTP/1.1\r\nHost: h\r\n\r\n")
    check("5 resets mid-body, then a 1 MiB response is exact", r[2] == files["data.bin"])


def check_timeouts(zc, root):
    server = ZC(zc, root, "--header-timeout", "1", "--idle-timeout", "1")
    try:
        c = Raw(server.port, timeout=10)
        c.send(b"GET /a.txt HTTP/1.1\r\n")
        start = time.time()
        closed = False
        for i in range(80):
            time.sleep(0.1)
            try:
                c.send(f"X-{i}: y\r\n".encode())
            except OSError:
                closed = True
                break
            c.sock.setblocking(False)
            try:
                if c.sock.recv(1 << 16, socket.MSG_PEEK):
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                c.sock.setblocking(True)
        elapsed = time.time() - start
        check("slowloris: cut at the header timeout (1 s)", closed and 0.8 < elapsed < 8, f"({elapsed:.2f} s)")
        c.close()
        c = Raw(server.port, timeout=10)
        c.send(b"GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        c.response()
        start = time.time()
        check("idle keep-alive closed at the idle timeout (1 s)", c.response() is None and time.time() - start < 8,
              f"({time.time() - start:.2f} s)")
        c.close()
    finally:
        server.stop()


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_descriptors(pid, limit=5.0):
    """The server's descriptor count once it has stopped changing (the same for 0.3 s):
    it closes finished keep-alive connections asynchronously, so a count read at a fixed
    moment after the clients closed can still include some. After `limit` s, the last."""
    deadline = time.time() + limit
    count, since = descriptors(pid), time.time()
    while time.time() < deadline and time.time() - since < 0.3:
        time.sleep(0.05)
        now = descriptors(pid)
        if now != count:
            count, since = now, time.time()
    return count


def descriptors_reach(pid, want, limit=5.0):
    """Polls the server's descriptor count until it is `want` or `limit` s have passed;
    returns the last count (a leak stays above `want`)."""
    deadline = time.time() + limit
    count = descriptors(pid)
    while count != want and time.time() < deadline:
        time.sleep(0.05)
        count = descriptors(pid)
    return count


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def load(port, total, files):
    """`total` requests: pipelined batches of 50 on keep-alive connections of 1,000
    requests (the server's limit closes each), with ranges, HEADs, 404s and 304s mixed
    in; every response is checked."""
    done = 0
    bad = 0
    etag = exchange(port, b"HEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\n", head=True)[1]["etag"]
    kinds = [
        (b"GET /tiny.txt HTTP/1.1\r\nHost: h\r\n\r\n", False, 200, files["tiny.txt"]),
        (b"GET /a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-4\r\n\r\n", False, 206, files["a.txt"][:5]),
        (b"HEAD /data.bin HTTP/1.1\r\nHost: h\r\n\r\n", True, 200, b""),
        (b"GET /missing HTTP/1.1\r\nHost: h\r\n\r\n", False, 404, None),
        (f"GET /a.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: {etag}\r\n\r\n".encode(), False, 304, b""),
        (b"GET /small.bin HTTP/1.1\r\nHost: h\r\n\r\n", False, 200, files["small.bin"]),
    ]
    while done < total:
        c = Raw(port, timeout=20)
        on_connection = 0
        while on_connection < 1000 and done < total:
            batch = [kinds[(done + i) % len(kinds)] for i in range(min(50, total - done, 1000 - on_connection))]
            c.send(b"".join(k[0] for k in batch))
            for request, head, status, body in batch:
                r = c.response(head=head)
                if r is None or r[0] != status or (body is not None and r[2] != body):
                    bad += 1
            done += len(batch)
            on_connection += len(batch)
        c.close()
    return bad


def check_leaks(zc, root, files, total):
    server = ZC(zc, root)
    try:
        load(server.port, 2000, files)  # warm up: buffers, pools, caches
        fds0, rss0 = settled_descriptors(server.pid), rss_kib(server.pid)
        start = time.time()
        bad = load(server.port, total, files)
        elapsed = time.time() - start
        check(f"{total:,} requests, every response exact", bad == 0, f"({bad} wrong, {total / elapsed:,.0f} req/s)")
        # The server closes the last connections asynchronously: wait (up to 5 s) for the
        # count to come back, instead of reading it after a fixed pause.
        fds1 = descriptors_reach(server.pid, fds0)
        rss1 = rss_kib(server.pid)
        check("no descriptor leak across them", fds1 == fds0, f"({fds0} -> {fds1} descriptors)")
        check("no memory growth across them (< 16 MiB RSS)", rss1 - rss0 < 16 * 1024, f"({rss0} -> {rss1} KiB)")
    finally:
        server.stop()


def check_signals(zc, root, files):
    server = ZC(zc, root)
    slow = Raw(server.port, rcvbuf=4096, timeout=20)
    slow.send(b"GET /data.bin HTTP/1.1\r\nHost: h\r\n\r\n")
    first = slow.sock.recv(1024)
    idle = Raw(server.port)
    idle.send(b"HEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
    idle.response(head=True)
    server.process.send_signal(signal.SIGTERM)
    idle_closed = idle.closed_by_peer()
    slow.buffer = first
    r = slow.response()
    code = server.stop()
    check("SIGTERM: idle connection closed, response in progress completes, exit 0",
          idle_closed and r is not None and r[2] == files["data.bin"] and code == 0, f"(exit {code})")
    server = ZC(zc, root)
    stuck = Raw(server.port, rcvbuf=4096)
    stuck.send(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
    time.sleep(0.3)
    server.process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    code = server.stop(sig=signal.SIGINT)
    check("a second SIGINT exits at once (130)", code == 130, f"(exit {code})")
    stuck.close()


def check_usage(zc, root):
    out = subprocess.run([zc, "serve", root, "--strategy", "nope"], capture_output=True)
    check("unknown strategy: exit 64, the known ones listed", out.returncode == 64 and b"sendfile" in out.stderr)
    out = subprocess.run([zc, "serve", root + "/missing-dir", "--port", "0"], capture_output=True)
    check("missing directory: exit 1, open and ENOENT named", out.returncode == 1 and b"ENOENT" in out.stderr, out.stderr.decode().strip()[:100])
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    out = subprocess.run([zc, "serve", root, "--port", str(holder.getsockname()[1])], capture_output=True, timeout=20)
    check("port in use: exit 1, EADDRINUSE named", out.returncode == 1 and b"EADDRINUSE" in out.stderr, out.stderr.decode().strip()[:100])
    holder.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zc", required=True)
    parser.add_argument("--seccomp", help="zc_seccomp_run, to serve with io_uring refused")
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    zc = os.path.abspath(args.zc)
    work = tempfile.mkdtemp(prefix="zc-serve-test-")
    os.chmod(work, 0o755)  # nginx's workers run as another user
    root = os.path.join(work, "root")
    os.makedirs(root)
    files = make_site(root)
    started = time.time()
    try:
        print("test-serve: curl, every strategy (no fallback)")
        for strategy in ["automatic", "readWrite", "mmapWrite", "sendfile", "splice", "ioUring", "ioUringSplice", "sendZeroCopy"]:
            try:
                server = ZC(zc, root, "--strategy", strategy, "--no-fallback")
            except RuntimeError as e:
                if "io_uring" in str(e) and strategy.startswith(("ioUring", "sendZero")):
                    result("SKIP", f"curl --strategy {strategy}", "(io_uring unavailable: " + str(e).strip()[-80:] + ")")
                    continue
                raise
            check_curl(server.port, files, f" [{strategy}]")
            check(f"zc serve --strategy {strategy}: exit 0 on SIGTERM", server.stop() == 0)

        server = ZC(zc, root)
        try:
            print("test-serve: curl features")
            check_curl_features(server.port, files)
            print("test-serve: http.client, pipelining, malformed requests")
            check_http_client(server.port, files)
            print("test-serve: differential with nginx")
            if shutil.which("nginx") and os.path.exists("/etc/nginx/mime.types"):
                nginx = Nginx(root, work)
                try:
                    differential(server.port, nginx.port, files)
                finally:
                    nginx.stop()
            else:
                result("SKIP", "differential with nginx", "(nginx is not installed: apt-get install nginx-light)")
            print("test-serve: adversarial clients")
            check_adversarial(zc, root, server.port, files)
        finally:
            check("zc serve exits 0 on SIGTERM", server.stop() == 0)
        check_timeouts(zc, root)
        print("test-serve: signals and usage errors")
        check_signals(zc, root, files)
        check_usage(zc, root)
        if args.seccomp:
            print("test-serve: io_uring refused by seccomp")
            server = ZC(zc, root, launcher=args.seccomp)
            try:
                check_curl(server.port, files, " [io_uring refused]")
                check("the banner names the thread-pool engine", "thread-pool engine" in server.banner, server.banner.strip()[-90:])
            finally:
                server.stop()
        print(f"test-serve: {args.requests:,} requests (leaks, memory)")
        check_leaks(zc, root, files, args.requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"test-serve: {RESULTS['PASS']} passed, {RESULTS['FAIL']} failed, {RESULTS['SKIP']} skipped in {time.time() - started:.0f} s")
    if FAILED:
        print("test-serve: FAILED: " + "; ".join(FAILED))
        sys.exit(1)


if __name__ == "__main__":
    main()
