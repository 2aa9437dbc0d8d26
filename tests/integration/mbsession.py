#!/usr/bin/python3
"""mbsession: ONE Modbus/TCP connection driven from stdin, for tests that
need an already-open session (policy changes must reach live sessions).

  mbsession.py PORT [UNIT]

Reads commands from stdin, one per line, and prints one answer line for
each (flushed at once, so a test can wait for it):

  read ADDR COUNT    FC 3 -> "v1 v2 ..." or "EXC n"
  write ADDR VALUE   FC 6 -> "OK" or "EXC n"

If the gateway closes the connection the answer is "CLOSED" and the
program exits.  Raw MBAP framing (no library), 5 s per answer, 127.0.0.1
only.
"""
import socket
import struct
import sys

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
    port = int(sys.argv[1])
    unit = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    s = socket.create_connection((HOST, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tid = 0
    print("CONNECTED", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        tid = (tid + 1) & 0xFFFF
        if words[0] == "read" and len(words) == 3:
            pdu = struct.pack(">BHH", 3, int(words[1]), int(words[2]))
        elif words[0] == "write" and len(words) == 3:
            pdu = struct.pack(">BHH", 6, int(words[1]), int(words[2]) & 0xFFFF)
        else:
            print("USAGE", flush=True)
            continue
        s.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)
        try:
            hdr = recv_exact(s, 7)
            body = recv_exact(s, struct.unpack(">H", hdr[4:6])[0] - 1) if hdr else None
        except socket.timeout:
            print("TIMEOUT", flush=True)
            continue
        if body is None:
            print("CLOSED", flush=True)
            return 0
        if body[0] & 0x80:
            print("EXC %d" % body[1], flush=True)
        elif body[0] == 3:
            n = body[1] // 2
            print(" ".join(str(v) for v in struct.unpack(">%dH" % n, body[2:2 + 2 * n])), flush=True)
        else:
            print("OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
