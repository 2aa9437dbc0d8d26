#!/usr/bin/python3
"""loadgen: hostile load for tests/integration/load.sh (loopback only).

  loadgen.py idle PORT N READY
        open N TCP connections that never send a byte; write "N" to the
        file READY once all are connected, then hold them until SIGTERM
  loadgen.py slowloris PORT N INTERVAL DEADLINE
        N connections, each trickling one byte of an MBAP request every
        INTERVAL seconds; prints "cut=K of N" when the peer closed all of
        them or DEADLINE seconds passed (K = how many it closed)
  loadgen.py churn PORT N
        N short connections in turn: a third close at once, a third send
        half a frame and close, a third send a whole read request and
        close without reading the answer; prints "done N"
"""
import os
import selectors
import signal
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


def connect(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return s


def idle(port, n, ready):
    held = [connect(port) for _ in range(n)]
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % len(held))
    os.rename(ready + ".tmp", ready)
    signal.sigwait([signal.SIGTERM])
    for s in held:
        s.close()


def slowloris(port, n, interval, deadline):
    frame = struct.pack(">HHHBBHH", 1, 0, 6, 1, 3, 0, 1)
    sel = selectors.DefaultSelector()
    conns = {}
    for _ in range(n):
        s = connect(port)
        s.setblocking(False)
        conns[s] = 0
        sel.register(s, selectors.EVENT_READ)
    cut = 0
    end = time.monotonic() + deadline
    next_send = time.monotonic()
    while conns and time.monotonic() < end:
        if time.monotonic() >= next_send:
            for s in list(conns):
                try:
                    s.send(frame[conns[s] % len(frame):][:1])
                    conns[s] += 1
                except OSError:
                    pass
            next_send = time.monotonic() + interval
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(256)
            except ConnectionResetError:
                data = b""
            if not data:
                sel.unregister(s)
                del conns[s]
                s.close()
                cut += 1
    print("cut=%d of %d" % (cut, n))


def churn(port, n):
    req = struct.pack(">HHHBBHH", 7, 0, 6, 1, 3, 0, 10)
    for i in range(n):
        s = connect(port)
        if i % 3 == 1:
            s.send(req[:5])
        elif i % 3 == 2:
            s.send(req)
        s.close()
    print("done %d" % n)


def main(argv):
    cmd, port = argv[1], int(argv[2])
    if cmd == "idle":
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        idle(port, int(argv[3]), argv[4])
    elif cmd == "slowloris":
        slowloris(port, int(argv[3]), float(argv[4]), float(argv[5]))
    elif cmd == "churn":
        churn(port, int(argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
