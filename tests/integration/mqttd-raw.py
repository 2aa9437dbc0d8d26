#!/usr/bin/python3
"""MQTT over TLS at the byte level, for what mosquitto's clients cannot do:
malformed packets, a subscriber that never reads, many connections at once.

  mqttd-raw.py PORT PKI CLIENT MODE [ARGS]

CLIENT names pki/client-CLIENT.{crt,key}.  Modes:
  packet CLIENT_ID HEX      CONNECT (3.1.1), then the raw packet HEX; prints
                            what the broker sent back ("CONNACK rc=0",
                            "DISCONNECT rc=0x81", "CLOSED") one per line.
  v5packet CLIENT_ID HEX    the same with an MQTT 5 CONNECT.
  silent                    TLS handshake, then nothing: prints CLOSED when
                            the broker gives up.
  stall CLIENT_ID FILTER    subscribe to FILTER, print SUBSCRIBED, then never
                            read again until stdin closes.
  many N PREFIX             N concurrent connections with client ids
                            PREFIX0..; each CONNECTs, then all PING; prints
                            "connected=X pinged=Y".
  hold N PREFIX             as many, then keeps the connections open until
                            stdin closes (memory per connection).
"""
import asyncio
import os
import socket
import ssl
import struct
import sys


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def s(x):
    if isinstance(x, str):
        x = x.encode()
    return struct.pack(">H", len(x)) + x


def connect(cid, v=4, keepalive=30):
    body = s("MQTT") + bytes([v, 0x02]) + struct.pack(">H", keepalive)
    if v == 5:
        body += b"\x00"
    body += s(cid)
    return bytes([0x10]) + varint(len(body)) + body


def ctx(pki, client):
    c = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                   cafile=os.path.join(pki, "ca.crt"))
    c.load_cert_chain(os.path.join(pki, "client-%s.crt" % client),
                      os.path.join(pki, "client-%s.key" % client))
    c.check_hostname = False
    return c


def read_packets(sock):
    """Yield (type, body) until the connection closes."""
    buf = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 2:
            mul, rl, i = 1, 0, 1
            while i < len(buf):
                rl += (buf[i] & 0x7F) * mul
                mul *= 128
                i += 1
                if buf[i - 1] & 0x80 == 0:
                    break
            else:
                break
            if len(buf) < i + rl:
                break
            yield buf[0] >> 4, buf[i:i + rl]
            buf = buf[i + rl:]


def describe(t, body):
    if t == 2:
        return "CONNACK rc=%d" % body[1]
    if t == 14:
        return "DISCONNECT rc=0x%02x" % (body[0] if body else 0)
    if t == 9:
        return "SUBACK " + " ".join("0x%02x" % b for b in body[2:])
    return "TYPE %d" % t


def mode_packet(port, pki, client, cid, hexpkt, v):
    sock = ctx(pki, client).wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10))
    sock.sendall(connect(cid, v) + bytes.fromhex(hexpkt))
    try:
        for t, body in read_packets(sock):
            print(describe(t, body), flush=True)
    except socket.timeout:
        print("TIMEOUT")
        return
    print("CLOSED")


def mode_stall(port, pki, client, cid, filt):
    sock = ctx(pki, client).wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = struct.pack(">H", 1) + s(filt) + b"\x00"
    sock.sendall(connect(cid) + bytes([0x82]) + varint(len(body)) + body)
    got = read_packets(sock)
    next(got)  # CONNACK
    next(got)  # SUBACK
    print("SUBSCRIBED", flush=True)
    sys.stdin.read()  # never read the socket again until told to stop


async def one(port, c, cid, res):
    try:
        r, w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=c), 60)
        w.write(connect(cid, keepalive=120))
        hdr = await asyncio.wait_for(r.readexactly(4), 60)
        if hdr[0] >> 4 != 2 or hdr[3] != 0:
            return None
        res["connected"] += 1
        return r, w
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
            ssl.SSLError):
        return None


async def mode_many(port, pki, client, n, prefix, hold=False):
    c = ctx(pki, client)
    res = {"connected": 0, "pinged": 0}
    sem = asyncio.Semaphore(50)

    async def limited(i):
        async with sem:
            return await one(port, c, "%s%d" % (prefix, i), res)

    conns = await asyncio.gather(*(limited(i) for i in range(n)))
    live = [x for x in conns if x is not None]
    for r, w in live:
        w.write(b"\xc0\x00")
    for r, w in live:
        try:
            p = await asyncio.wait_for(r.readexactly(2), 60)
            if p == b"\xd0\x00":
                res["pinged"] += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
    print("connected=%d pinged=%d" % (res["connected"], res["pinged"]), flush=True)
    if hold:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for r, w in live:
        w.write(b"\xe0\x00")
        w.close()


def main():
    port, pki, client, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    args = sys.argv[5:]
    if mode in ("packet", "v5packet"):
        mode_packet(port, pki, client, args[0], args[1], 5 if mode == "v5packet" else 4)
    elif mode == "silent":
        sock = ctx(pki, client).wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=20))
        for t, body in read_packets(sock):
            print(describe(t, body))
        print("CLOSED")
    elif mode == "stall":
        mode_stall(port, pki, client, args[0], args[1])
    elif mode in ("many", "hold"):
        asyncio.run(mode_many(port, pki, client, int(args[0]), args[1],
                              mode == "hold"))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
