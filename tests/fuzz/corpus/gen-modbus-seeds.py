#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/fuzz_mbap and tests/fuzz/fuzz_response.

Run once from anywhere; the seeds land beside this script in fuzz_mbap/ and
fuzz_response/ and are committed with it.  Each seed is one meaningful case
(most PDUs are the examples of the MODBUS Application Protocol Specification
v1.1b3), named after what it exercises.  Re-running rewrites the same bytes.

  fuzz_mbap:     a Modbus/TCP client byte stream (MBAP frames, back to back)
  fuzz_response: [request PDU length][request PDU][response PDU]
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def mbap(pdu, tid=1, unit=1, proto=0, length=None):
    """One MBAP frame around pdu; length/proto can be forced to bad values."""
    if length is None:
        length = len(pdu) + 1
    return struct.pack(">HHHB", tid, proto, length, unit) + pdu


def h(*words):
    """Big-endian 16-bit words."""
    return struct.pack(">%dH" % len(words), *words)


REQ = {
    "fc01": bytes([0x01]) + h(0x0013, 0x0013),
    "fc02": bytes([0x02]) + h(0x00C4, 0x0016),
    "fc03": bytes([0x03]) + h(0x006B, 0x0003),
    "fc04": bytes([0x04]) + h(0x0008, 0x0001),
    "fc05": bytes([0x05]) + h(0x00AC, 0xFF00),
    "fc06": bytes([0x06]) + h(0x0001, 0x0003),
    "fc07": bytes([0x07]),
    "fc08-listen-only": bytes([0x08]) + h(0x0004, 0x0000),
    "fc08-query": bytes([0x08]) + h(0x0000, 0xA537),
    "fc08-counter": bytes([0x08]) + h(0x000B, 0x0000),
    "fc08-reserved": bytes([0x08]) + h(0x0005, 0x1234),
    "fc11": bytes([0x0B]),
    "fc12": bytes([0x0C]),
    "fc15": bytes([0x0F]) + h(0x0013, 0x000A) + bytes([0x02, 0xCD, 0x01]),
    "fc16": bytes([0x10]) + h(0x0001, 0x0002) + bytes([0x04]) + h(0x000A, 0x0102),
    "fc17": bytes([0x11]),
    "fc20": bytes([0x14, 0x0E, 0x06]) + h(4, 1, 2) + bytes([0x06]) + h(3, 9, 2),
    "fc21": bytes([0x15, 0x0D, 0x06]) + h(4, 7, 3) + h(0x06AF, 0x04BE, 0x100D),
    "fc22": bytes([0x16]) + h(0x0004, 0x00F2, 0x0025),
    "fc23": bytes([0x17]) + h(3, 6, 14, 3) + bytes([0x06]) + h(0xFF, 0xFF, 0xFF),
    "fc24": bytes([0x18]) + h(0x04DE),
    "fc43-14": bytes([0x2B, 0x0E, 0x01, 0x00]),
    "fc43-14-one": bytes([0x2B, 0x0E, 0x04, 0x05]),
    "fc43-13": bytes([0x2B, 0x0D, 0x00, 0x01, 0x02, 0x03]),
    "fc90": bytes([0x5A, 0x00, 0x02, 0x10]),
}

MBAP_SEEDS = {
    "fc01-read-coils": mbap(REQ["fc01"]),
    "fc02-read-discrete": mbap(REQ["fc02"], unit=0x11),
    "fc03-read-holding": mbap(REQ["fc03"], tid=0x1234),
    "fc04-read-input": mbap(REQ["fc04"]),
    "fc05-write-coil": mbap(REQ["fc05"]),
    "fc06-write-register": mbap(REQ["fc06"]),
    "fc08-force-listen-only": mbap(REQ["fc08-listen-only"]),
    "fc08-return-query-data": mbap(REQ["fc08-query"]),
    "fc08-reserved-subfn": mbap(REQ["fc08-reserved"]),
    "fc15-write-coils": mbap(REQ["fc15"]),
    "fc15-unused-bits-set": mbap(bytes([0x0F]) + h(0x0013, 0x000A) + bytes([0x02, 0xCD, 0xFF])),
    "fc16-write-registers": mbap(REQ["fc16"]),
    "fc16-123-registers-max-frame": mbap(bytes([0x10]) + h(0, 123) + bytes([246]) + h(*range(123))),
    "fc16-byte-count-mismatch": mbap(bytes([0x10]) + h(0x0001, 0x0002) + bytes([0x03]) + b"\x00\x0a\x01"),
    "fc20-read-file": mbap(REQ["fc20"]),
    "fc21-write-file": mbap(REQ["fc21"]),
    "fc22-mask-write": mbap(REQ["fc22"]),
    "fc23-read-write": mbap(REQ["fc23"]),
    "fc24-read-fifo": mbap(REQ["fc24"]),
    "fc43-14-device-id": mbap(REQ["fc43-14"]),
    "fc43-13-canopen": mbap(REQ["fc43-13"]),
    "fc90-umas": mbap(REQ["fc90"]),
    "fc03-address-overflow": mbap(bytes([0x03]) + h(0xFFFF, 0x0002)),
    "coalesced-fc07-fc11-fc12-fc17": b"".join(
        mbap(REQ[k], tid=i) for i, k in enumerate(["fc07", "fc11", "fc12", "fc17"])),
    "partial-tail": mbap(REQ["fc03"], tid=1) + mbap(REQ["fc16"], tid=2)[:9],
    "bad-protocol-id": mbap(REQ["fc03"], proto=1),
    "bad-length-0": mbap(REQ["fc03"], length=0),
    "bad-length-255": mbap(REQ["fc03"], length=255) + bytes(250),
    "empty-pdu-length-1": mbap(b"", length=1) + mbap(REQ["fc03"]),
}


def resp_seed(req, resp):
    return bytes([len(req)]) + req + resp


RESPONSE_SEEDS = {
    "fc01-ok": resp_seed(REQ["fc01"], bytes([0x01, 0x03, 0xCD, 0x6B, 0x05])),
    "fc02-ok": resp_seed(REQ["fc02"], bytes([0x02, 0x03, 0xAC, 0xDB, 0x35])),
    "fc03-ok": resp_seed(REQ["fc03"], bytes([0x03, 0x06]) + h(0x022B, 0x0000, 0x0064)),
    "fc03-exception-02": resp_seed(REQ["fc03"], bytes([0x83, 0x02])),
    "fc03-exception-07-undefined": resp_seed(REQ["fc03"], bytes([0x83, 0x07])),
    "fc03-byte-count-wrong": resp_seed(REQ["fc03"], bytes([0x03, 0x04]) + h(0x022B, 0x0000)),
    "fc04-ok": resp_seed(REQ["fc04"], bytes([0x04, 0x02]) + h(0x000A)),
    "fc05-echo": resp_seed(REQ["fc05"], REQ["fc05"]),
    "fc06-echo": resp_seed(REQ["fc06"], REQ["fc06"]),
    "fc07-ok": resp_seed(REQ["fc07"], bytes([0x07, 0x6D])),
    "fc08-query-echo": resp_seed(REQ["fc08-query"], REQ["fc08-query"]),
    "fc08-counter": resp_seed(REQ["fc08-counter"], bytes([0x08]) + h(0x000B, 0x1234)),
    "fc08-listen-only-answered": resp_seed(REQ["fc08-listen-only"], REQ["fc08-listen-only"]),
    "fc11-ok": resp_seed(REQ["fc11"], bytes([0x0B]) + h(0xFFFF, 0x0108)),
    "fc12-ok": resp_seed(REQ["fc12"], bytes([0x0C, 0x08]) + h(0x0000, 0x0108, 0x0121) + bytes([0x20, 0x00])),
    "fc15-ok": resp_seed(REQ["fc15"], bytes([0x0F]) + h(0x0013, 0x000A)),
    "fc16-ok": resp_seed(REQ["fc16"], bytes([0x10]) + h(0x0001, 0x0002)),
    "fc17-ok": resp_seed(REQ["fc17"], bytes([0x11, 0x05, 0x01, 0xFF]) + b"LMB"),
    "fc20-ok": resp_seed(REQ["fc20"], bytes([0x14, 0x0C, 0x05, 0x06]) + h(0x0DFE, 0x0020)
                         + bytes([0x05, 0x06]) + h(0x33CD, 0x0040)),
    "fc21-echo": resp_seed(REQ["fc21"], REQ["fc21"]),
    "fc22-echo": resp_seed(REQ["fc22"], REQ["fc22"]),
    "fc23-ok": resp_seed(REQ["fc23"], bytes([0x17, 0x0C]) + h(0x00FE, 0x0ACD, 0x0001, 0x0003, 0x000D, 0x00FF)),
    "fc24-ok": resp_seed(REQ["fc24"], bytes([0x18]) + h(0x0006, 0x0002, 0x01B8, 0x1284)),
    "fc43-14-basic": resp_seed(REQ["fc43-14"], bytes([0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03,
                                                       0x00, 0x03]) + b"ABC"
                               + bytes([0x01, 0x02]) + b"P1" + bytes([0x02, 0x03]) + b"V10"),
    "fc43-14-individual": resp_seed(REQ["fc43-14-one"], bytes([0x2B, 0x0E, 0x04, 0x83, 0x00, 0x00,
                                                                0x01, 0x05, 0x01]) + b"X"),
    "fc43-13-canopen": resp_seed(REQ["fc43-13"], bytes([0x2B, 0x0D, 0x00, 0x01])),
    "fc90-opaque": resp_seed(REQ["fc90"], bytes([0x5A, 0x00, 0xFE, 0x01])),
    "fc90-exception-01": resp_seed(REQ["fc90"], bytes([0xDA, 0x01])),
}


def write(folder, seeds):
    path = os.path.join(HERE, folder)
    os.makedirs(path, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (folder, len(seeds)))


if __name__ == "__main__":
    write("fuzz_mbap", MBAP_SEEDS)
    write("fuzz_response", RESPONSE_SEEDS)
