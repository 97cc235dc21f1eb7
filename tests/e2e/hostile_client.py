#!/usr/bin/env python3
"""hostile_client.py - raw-socket attacks of tests/e2e/hostile.sh (standard library only).

  hostile_client.py ingest HOST PORT           garbage bytes, a 1 GiB size claim
  hostile_client.py http HOST PORT             malformed HTTP requests
  hostile_client.py hold HOST PORT KIND N FILE holds N connections open (KIND: bare,
                                               sp-header, partial-frame, slowloris), writes
                                               "ready" to FILE, then sleeps until killed

ingest and http print one line per case, "CASE RESULT", and exit 1 if a case was not
rejected or closed; RESULT is "closed" (the peer closed or reset the connection) or
"status=NNN" (the HTTP status of the reply). Every wait is bounded (socket timeouts)."""
import os
import socket
import struct
import sys
import time

TIMEOUT = 10.0
# SP (scalability protocols) TCP header of a REQ socket (protocol 48): what nng expects.
SP_REQ_HEADER = b"\x00SP\x00\x00\x30\x00\x00"


def connect(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def wait_closed(s):
    """True once the peer closed (EOF or reset) within TIMEOUT; reads and drops data."""
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def send_all_tolerant(s, data):
    """Sends data; a reset or broken pipe midway means the peer refused it."""
    try:
        s.sendall(data)
        return True
    except (ConnectionResetError, BrokenPipeError):
        return False


def ingest(host, port):
    bad = 0
    # 1. garbage bytes instead of the SP header
    s = connect(host, port)
    send_all_tolerant(s, b"\xffGARBAGE" + os.urandom(4096))
    ok = wait_closed(s)
    s.close()
    print("ingest-garbage", "closed" if ok else "OPEN")
    bad += not ok
    # 2. a valid SP header, then a message claiming 1 GiB
    s = connect(host, port)
    send_all_tolerant(s, SP_REQ_HEADER)
    try:
        peer = s.recv(8)
    except (ConnectionResetError, socket.timeout):
        peer = b""
    send_all_tolerant(s, struct.pack(">Q", 1 << 30) + os.urandom(65536))
    ok = wait_closed(s)
    s.close()
    print("ingest-1gib-claim", "closed" if ok else "OPEN", "peer-header=" + peer.hex())
    bad += not ok
    # 3. a valid SP header with the wrong protocol (PUB, 32)
    s = connect(host, port)
    send_all_tolerant(s, b"\x00SP\x00\x00\x20\x00\x00")
    ok = wait_closed(s)
    s.close()
    print("ingest-wrong-protocol", "closed" if ok else "OPEN")
    bad += not ok
    return bad


def http_status(raw):
    """The status of the first reply in raw bytes, or None."""
    line = raw.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def http_case(host, port, name, request, allowed, forbid=b""):
    """Sends request; passes if the reply's status is in allowed or the server closed
    without a reply. Fails if the reply contains forbid."""
    s = connect(host, port)
    send_all_tolerant(s, request)
    raw = b""
    try:
        while len(raw) < 1 << 20:
            d = s.recv(65536)
            if not d:
                break
            raw += d
            # a complete reply (headers, and the body by Content-Length) ends the wait
            head, sep, body = raw.partition(b"\r\n\r\n")
            if sep:
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":", 1)[1]):
                    break
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        s.close()
        print(name, "TIMEOUT")
        return 1
    s.close()
    st = http_status(raw)
    if forbid and forbid in raw:
        print(name, "LEAKED", repr(forbid))
        return 1
    if st is None:
        print(name, "closed")
        return 0
    ok = st in allowed
    print(name, "status=%d" % st if ok else "UNEXPECTED-status=%d" % st)
    return 0 if ok else 1


def http(host, port):
    bad = 0
    h = b"Host: %s:%d\r\n" % (host.encode(), port)
    bad += http_case(host, port, "http-bad-request-line", b"GARBAGE\x01\x02 NOT HTTP\r\n\r\n",
                     {400, 505})
    bad += http_case(host, port, "http-bad-version", b"GET / HTTP/9.9\r\n" + h + b"\r\n",
                     {400, 505})
    bad += http_case(host, port, "http-dotdot", b"GET /../../etc/passwd HTTP/1.1\r\n" + h +
                     b"Connection: close\r\n\r\n", {400, 404}, forbid=b"root:")
    bad += http_case(host, port, "http-encoded-dotdot",
                     b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n" + h +
                     b"Connection: close\r\n\r\n", {400, 404}, forbid=b"root:")
    bad += http_case(host, port, "http-encoded-dotdot-root", b"GET /%2e%2e/ HTTP/1.1\r\n" + h +
                     b"Connection: close\r\n\r\n", {400, 404}, forbid=b"root:")
    many = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
    bad += http_case(host, port, "http-1000-headers", b"GET /api/health HTTP/1.1\r\n" + h + many +
                     b"Connection: close\r\n\r\n", {400, 413, 431})
    bad += http_case(host, port, "http-1mib-header", b"GET /api/health HTTP/1.1\r\n" + h +
                     b"X-Big: " + b"a" * (1 << 20) + b"\r\nConnection: close\r\n\r\n",
                     {400, 413, 431})
    bad += http_case(host, port, "http-1mib-url", b"GET /api/health?" + b"a" * (1 << 20) +
                     b" HTTP/1.1\r\n" + h + b"Connection: close\r\n\r\n", {400, 413, 414, 431})
    bad += http_case(host, port, "http-bad-content-length", b"POST /api/health HTTP/1.1\r\n" + h +
                     b"Content-Length: -5\r\nConnection: close\r\n\r\n", {400, 405, 411, 413})
    bad += http_case(host, port, "http-nul-in-path", b"GET /api/he\x00alth HTTP/1.1\r\n" + h +
                     b"Connection: close\r\n\r\n", {400, 404})
    return bad


def hold(host, port, kind, n, readyfile):
    socks = []
    for i in range(n):
        s = connect(host, port)
        if kind == "sp-header":
            s.sendall(SP_REQ_HEADER)
        elif kind == "partial-frame":
            s.sendall(SP_REQ_HEADER + struct.pack(">Q", 1000) + b"\x0a\x05")
        elif kind == "slowloris":
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
        socks.append(s)
    with open(readyfile, "w") as f:
        f.write("ready %d\n" % len(socks))
    while True:
        time.sleep(1)
        if kind == "slowloris":
            for s in socks:
                try:
                    s.send(b"a")  # one byte a second: keeps the request incomplete
                except OSError:
                    pass


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "ingest":
        return 1 if ingest(host, port) else 0
    if mode == "http":
        return 1 if http(host, port) else 0
    if mode == "hold":
        hold(host, port, sys.argv[4], int(sys.argv[5]), sys.argv[6])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
