#!/usr/bin/env python3
# Write the seed corpus of tests/fuzz/fuzz_spool.c: spool segment files
# (good, torn, out of order), state files and message payloads.
# Usage: gen-spool-seeds.py OUTDIR
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def record(seq, topic, zone, payload, ts=1700000000000):
    body = struct.pack("<IBBHQq", len(payload), len(topic), len(zone), 0, seq, ts)
    body += topic + zone + payload
    return struct.pack("<II", 0x3152475A, crc32c(body)) + body


def segment(base, recs):
    return b"ZGSPOOL\x01" + struct.pack("<Q", base) + b"".join(recs)


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
good = [record(s, b"example/heartbeat", b"", b'{"gateway":"gw1","seq":%d}' % s)
        for s in range(5, 9)]
zoned = [record(s, b"telemetry/plc1", b"cell1", b'{"v":%d}' % s) for s in range(1, 4)]
seeds = {
    "seg-good": segment(5, good),
    "seg-zone": segment(1, zoned),
    "seg-empty": segment(1, []),
    "seg-torn-tail": segment(5, good)[:-9],
    "seg-garbage-tail": segment(5, good) + b"ZGR1\x00\x00",
    "seg-out-of-order": segment(5, [good[1], good[0]]),
    "seg-bad-crc": segment(5, good[:2]) + good[2][:10] + b"\xff" + good[2][11:],
    "seg-bad-header": b"ZGSPOOL\x02" + struct.pack("<Q", 5),
    "state-good": b"zonegate-spool-state 1\nnext_seq 42\nuplink mqtt/main 40\nuplink http2/cloud 12\n",
    "state-torn": b"zonegate-spool-state 1\nnext_seq 4",
    "state-bad-name": b"zonegate-spool-state 1\nuplink a\x01b 3\n",
    "payload-object": b'{"device":"plc1","points":[{"name":"t","value":21.5,"unit":"C","quality":"good"}]}',
    "payload-escapes": b'{"s":"a\\"b\\\\c\\u00e9\\n","n":-1.5e-3,"b":[true,false,null]}',
    "payload-reserved": b'{"seq":1}',
    "payload-deep": b'{"a":' * 40 + b"1" + b"}" * 40,
    "payload-array": b"[1,2,3]",
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
