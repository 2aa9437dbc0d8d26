#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/fuzz_mqtt.

Each seed is one client byte stream: a first byte choosing the protocol
version (bit 0 set: MQTT 5.0, else 3.1.1; bit 1: 256-byte packet limit)
and then packets back to back, as mosquitto_pub / mosquitto_sub send them
(the layouts were checked against captures of their bytes) plus malformed
variants.  Run once from anywhere; re-running rewrites the same bytes.
"""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_mqtt")


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


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


def connect(v, cid, keepalive=60, clean=True, will=None, user=None, pr=b"",
            wpr=b""):
    flags = 0x02 if clean else 0
    payload = s(cid)
    if will:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        if v == 5:
            payload += props(wpr)
        payload += s(topic) + s(msg)
    if user:
        flags |= 0x80
        payload += s(user)
    body = s("MQTT") + bytes([v, flags]) + struct.pack(">H", keepalive)
    if v == 5:
        body += props(pr)
    return pkt(0x10, body + payload)


def publish(v, topic, msg, qos=0, retain=False, pid=1, pr=b"", dup=False):
    body = s(topic)
    if qos:
        body += struct.pack(">H", pid)
    if v == 5:
        body += props(pr)
    return pkt(0x30 | (8 if dup else 0) | (qos << 1) | (1 if retain else 0),
               body + msg)


def subscribe(v, pid, filters, pr=b""):
    body = struct.pack(">H", pid)
    if v == 5:
        body += props(pr)
    for f, o in filters:
        body += s(f) + bytes([o])
    return pkt(0x82, body)


def unsubscribe(v, pid, filters):
    body = struct.pack(">H", pid)
    if v == 5:
        body += props(b"")
    for f in filters:
        body += s(f)
    return pkt(0xA2, body)


def ack(t, pid, reason=None):
    body = struct.pack(">H", pid)
    if reason is not None:
        body += bytes([reason])
    return pkt((t << 4) | (2 if t == 6 else 0), body)


PING = pkt(0xC0, b"")
DISC = pkt(0xE0, b"")
SEXP = b"\x11" + struct.pack(">I", 3600)
RMAX = b"\x21" + struct.pack(">H", 20)
ALIAS = lambda n: b"\x23" + struct.pack(">H", n)
USERP = b"\x26" + s("k") + s("v")

SEEDS = {}
for v in (4, 5):
    tag = "v5" if v == 5 else "v311"
    lead = bytes([1 if v == 5 else 0])
    SEEDS[tag + "-pub-qos0"] = lead + connect(v, "sensor-1") + \
        publish(v, "site/sensor-1/temp", b"21.5") + DISC
    SEEDS[tag + "-pub-qos1-retained"] = lead + connect(v, "sensor-1") + \
        publish(v, "site/sensor-1/state", b"on", qos=1, retain=True, pid=1) + \
        ack(4, 1) + DISC
    SEEDS[tag + "-pub-qos2-flow"] = lead + connect(v, "s") + \
        publish(v, "a/b", b"x" * 100, qos=2, pid=7) + ack(6, 7) + \
        ack(5, 3) + ack(7, 3) + DISC
    SEEDS[tag + "-sub-wildcards"] = lead + connect(v, "sup", clean=False) + \
        subscribe(v, 1, [("site/+/temp", 1), ("site/#", 2), ("#", 0),
                         ("$SYS/#", 0)]) + PING + \
        unsubscribe(v, 2, ["site/#"]) + DISC
    SEEDS[tag + "-will"] = lead + connect(
        v, "dev", will=("site/dev/status", b"offline", 1, True), user="u",
        wpr=b"\x18\x00\x00\x00\x05" if v == 5 else b"")
    SEEDS[tag + "-bad-filter"] = lead + connect(v, "x") + \
        subscribe(v, 3, [("a/#/b", 0), ("a+", 1)])
    SEEDS[tag + "-wildcard-topic"] = lead + connect(v, "x") + \
        publish(v, "a/+/b", b"no")
    SEEDS[tag + "-bad-utf8-topic"] = lead + connect(v, "x") + \
        publish(v, b"a/\xed\xa0\x80", b"surrogate")
    SEEDS[tag + "-nul-clientid"] = lead + connect(v, b"a\x00b")
    SEEDS[tag + "-qos3"] = lead + connect(v, "x") + pkt(0x36, s("a") + b"\x00\x01")
    SEEDS[tag + "-remlen-5-bytes"] = lead + connect(v, "x") + \
        b"\x30\x80\x80\x80\x80\x01"
    SEEDS[tag + "-oversized"] = bytes([lead[0] | 2]) + connect(v, "x") + \
        publish(v, "big", b"B" * 400)
    SEEDS[tag + "-truncated"] = lead + connect(v, "x")[:9]

SEEDS["v5-props"] = b"\x01" + connect(5, "p", pr=SEXP + RMAX + USERP +
                                      b"\x27" + struct.pack(">I", 65536) +
                                      b"\x22\x00\x10") + \
    publish(5, "t/alias", b"1", pr=ALIAS(1) + USERP +
            b"\x01\x01" + b"\x03" + s("text/plain")) + \
    publish(5, "", b"2", pr=ALIAS(1)) + \
    subscribe(5, 9, [("t/#", 0x2d)], pr=b"\x0b\x05") + \
    pkt(0xE0, b"\x04" + props(SEXP))
SEEDS["v5-auth-method"] = b"\x01" + connect(5, "a", pr=b"\x15" + s("SCRAM-SHA-1"))
SEEDS["v5-dup-prop"] = b"\x01" + connect(5, "a", pr=SEXP + SEXP)
SEEDS["v5-puback-reason"] = b"\x01" + connect(5, "a") + ack(4, 1, 0x87) + \
    pkt(0x40, b"\x00\x02\x10" + props(b"\x1f" + s("no")))
SEEDS["v5-auth-packet"] = b"\x01" + connect(5, "a") + pkt(0xF0, b"\x18\x00")
SEEDS["v311-mqtt31"] = b"\x00" + pkt(0x10, s("MQIsdp") + b"\x03\x02\x00\x3c" + s("old"))

os.makedirs(HERE, exist_ok=True)
for name, data in sorted(SEEDS.items()):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
