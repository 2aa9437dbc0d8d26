#!/usr/bin/python3
"""mbloop: a Modbus/TCP client that keeps reading and reconnects, as an
HMI does, for tests that restart the gateway under it.

  mbloop.py PORT STATEFILE [UNIT]

Reads holding registers 0-4 (FC 3, raw MBAP framing, no library) on one
connection, one request at a time, 20 per second.  When the connection
closes or an answer is missing (2 s), it counts a loss and connects again
(every 50 ms until it succeeds).  After every change it rewrites STATEFILE
with one line:

  ok=N lost=N reconnects=N last=V1,V2,...

so a test can poll it.  Runs until killed; 127.0.0.1 only.
"""
import os
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    unit = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    st = {"ok": 0, "lost": 0, "reconnects": 0, "last": ""}

    def save():
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("ok=%d lost=%d reconnects=%d last=%s\n" % (
                st["ok"], st["lost"], st["reconnects"], st["last"]))
        os.replace(tmp, path)

    save()
    s, tid, first = None, 0, True
    while True:
        if s is None:
            try:
                s = socket.create_connection((HOST, port), timeout=2)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if not first:
                    st["reconnects"] += 1
                first = False
                save()
            except OSError:
                s = None
                time.sleep(0.05)
                continue
        tid = (tid + 1) & 0xFFFF
        req = struct.pack(">HHHBBHH", tid, 0, 6, unit, 3, 0, 5)
        try:
            s.sendall(req)
            head = recv_exact(s, 7)
            if head is None:
                raise OSError("closed")
            rtid, _, length, _ = struct.unpack(">HHHB", head)
            body = recv_exact(s, length - 1)
            if body is None or rtid != tid:
                raise OSError("closed or wrong tid")
            if body[0] == 3:
                vals = struct.unpack(">%dH" % (body[1] // 2), body[2:])
                st["ok"] += 1
                st["last"] = ",".join(str(v) for v in vals)
                save()
        except OSError:
            st["lost"] += 1
            save()
            try:
                s.close()
            except OSError:
                pass
            s = None
            continue
        time.sleep(0.05)


if __name__ == "__main__":
    main()
