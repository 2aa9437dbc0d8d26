#!/usr/bin/python3
"""mbtool: Modbus/TCP client for zonegate's integration tests.

Ordinary operations go through pymodbus (Debian's python3-pymodbus), a
client zonegate did not write.  Adversarial traffic (bad headers, split and
coalesced frames, half frames, odd function codes) is sent as raw bytes.

  mbtool.py read  PORT UNIT ADDR COUNT         -> "v1 v2 ..." or "EXC n"
  mbtool.py write PORT UNIT ADDR VALUE         -> "OK" or "EXC n"
  mbtool.py rw    PORT UNIT RADDR RCOUNT WADDR V...   (FC 23)
  mbtool.py stock PORT UNIT OP [ARG...]      -> "OK", "EXC n" per request
        requests pymodbus builds itself, one per line:
          devid               FC 43/MEI 14 read device identification
          listen-only         FC 8/4 force listen only mode
          restart             FC 8/1 restart communications
          walk A0 STEP N      N single-register reads at A0, A0+STEP, ...
          units U1 U2 ...     one read of holding 0 on each unit id
        (UNIT 0 is broadcast: pymodbus then sends and reads no answer)
  mbtool.py raw   PORT HEX [HEX...] [--split] [--wait S]
        send each HEX string (an MBAP frame or any bytes); --split sends
        byte by byte; prints every response frame as hex, then CLOSED if
        the peer closed the connection or TIMEOUT if it said nothing more
  mbtool.py concurrent PORT UNIT N ADDR COUNT  -> "ok=N bad=M"
        N clients at once, each on its own connection, each reading
  mbtool.py halfopen PORT HEX WAIT             -> "CLOSED after S" or "OPEN"
  mbtool.py noread PORT LIMIT_MB               -> "BLOCKED after N bytes" or
        "NOT-BLOCKED after N bytes": pipelines reads of holding 0-99 and
        never reads an answer (100 registers each), until its sends stay blocked for 3 s (the
        gateway pushed back) or LIMIT_MB were sent (it did not)
  mbtool.py sclient PORT CA CERT KEY HEX       -> the answer frame as hex
        the same through `openssl s_client` (a TLS peer we did not write):
        the frame goes to its stdin, the answer is read from its stdout
        (5 s deadline), then s_client is stopped

With MBT_TLS=CA:CERT:KEY in the environment every connection is Modbus/TCP
Security: TLS with that client certificate, MBAP inside (pymodbus' own TLS
framer drops the MBAP header, so its socket framer is used over TLS).
MBT_TLS=CA:: connects without a client certificate.

Only ever talks to 127.0.0.1.
"""
import os
import ssl
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"


def tls_context():
    spec = os.environ.get("MBT_TLS")
    if not spec:
        return None
    ca, cert, key = spec.split(":")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def connect_raw(port, timeout=5):
    s = socket.create_connection((HOST, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ctx = tls_context()
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def client(port):
    ctx = tls_context()
    if ctx is not None:
        from pymodbus.client import ModbusTlsClient
        from pymodbus.framer.socket_framer import ModbusSocketFramer
        c = ModbusTlsClient(HOST, port=int(port), framer=ModbusSocketFramer,
                            sslctx=ctx, server_hostname="localhost",
                            timeout=5, retries=0)
    else:
        from pymodbus.client import ModbusTcpClient
        c = ModbusTcpClient(HOST, port=int(port), timeout=5, retries=0)
    if not c.connect():
        print("CONNECT-FAILED")
        sys.exit(2)
    return c


def show(resp, values=None):
    if resp is None:
        print("NORESPONSE")
    elif resp.isError():
        code = getattr(resp, "exception_code", None)
        print("EXC %d" % code if code is not None else "ERROR %s" % resp)
    elif values is not None:
        print(" ".join(str(v) for v in values(resp)))
    else:
        print("OK")


def recv_frames(s, wait):
    """Read MBAP frames until the peer closes or goes quiet for `wait` s."""
    buf = b""
    out = []
    s.settimeout(wait)
    state = "TIMEOUT"
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                state = "CLOSED"
                break
            buf += chunk
            while len(buf) >= 7:
                length = struct.unpack(">H", buf[4:6])[0]
                if len(buf) < 6 + length:
                    break
                out.append(buf[:6 + length])
                buf = buf[6 + length:]
    except socket.timeout:
        pass
    except (ConnectionResetError, ssl.SSLError, OSError) as e:
        state = "CLOSED" if not isinstance(e, socket.timeout) else "TIMEOUT"
    for f in out:
        print(f.hex())
    if buf:
        print("PARTIAL " + buf.hex())
    print(state)


def main(argv):
    cmd = argv[1]
    if cmd == "read":
        port, unit, addr, count = argv[2:6]
        c = client(port)
        r = c.read_holding_registers(int(addr), int(count), slave=int(unit))
        show(r, lambda x: x.registers)
    elif cmd == "write":
        port, unit, addr, value = argv[2:6]
        c = client(port)
        show(c.write_register(int(addr), int(value), slave=int(unit)))
    elif cmd == "rw":
        port, unit, raddr, rcount, waddr = argv[2:7]
        vals = [int(v) for v in argv[7:]]
        c = client(port)
        r = c.readwrite_registers(read_address=int(raddr),
                                  read_count=int(rcount),
                                  write_address=int(waddr),
                                  write_registers=vals, unit=int(unit))
        show(r, lambda x: x.registers)
    elif cmd == "stock":
        port, unit, op = argv[2], int(argv[3]), argv[4]
        args = [int(a) for a in argv[5:]]
        c = client(port)
        if op == "devid":
            from pymodbus.mei_message import ReadDeviceInformationRequest
            show(c.execute(ReadDeviceInformationRequest(read_code=1,
                                                         object_id=0,
                                                         slave=unit)))
        elif op == "listen-only":
            show(c.diag_force_listen_only(slave=unit))
        elif op == "restart":
            show(c.diag_restart_communication(False, slave=unit))
        elif op == "walk":
            a0, step, n = args
            for i in range(n):
                show(c.read_holding_registers(a0 + i * step, 1, slave=unit),
                     lambda x: x.registers)
        elif op == "units":
            for u in args:
                show(c.read_holding_registers(0, 1, slave=u),
                     lambda x: x.registers)
        else:
            print("unknown stock request %s" % op)
            return 2
    elif cmd == "raw":
        port = int(argv[2])
        split = "--split" in argv
        wait = 1.0
        frames = []
        i = 3
        while i < len(argv):
            if argv[i] == "--split":
                pass
            elif argv[i] == "--wait":
                wait = float(argv[i + 1])
                i += 1
            else:
                frames.append(bytes.fromhex(argv[i]))
            i += 1
        try:
            s = connect_raw(port)
        except (ssl.SSLError, OSError) as e:
            print("HANDSHAKE-FAILED %s" % type(e).__name__)
            return 0
        try:
            for f in frames:
                if split:
                    for b in f:
                        s.sendall(bytes([b]))
                        time.sleep(0.002)  # force separate TCP segments
                else:
                    s.sendall(f)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the gateway closed while we were still sending
        recv_frames(s, wait)
    elif cmd == "concurrent":
        port, unit, n, addr, count = argv[2:7]
        n = int(n)
        results = []
        lock = threading.Lock()
        barrier = threading.Barrier(n)

        def one(i):
            try:
                s = socket.create_connection((HOST, int(port)), timeout=20)
                barrier.wait(timeout=20)
                tid = i + 1
                req = struct.pack(">HHHBBHH", tid, 0, 6, int(unit), 3,
                                  int(addr), int(count))
                s.sendall(req)
                buf = b""
                s.settimeout(30)
                while len(buf) < 9 or len(buf) < 6 + struct.unpack(">H", buf[4:6])[0]:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    buf += chunk
                good = (len(buf) >= 9 and struct.unpack(">H", buf[0:2])[0] == tid
                        and buf[7] == 3 and buf[8] == 2 * int(count))
                with lock:
                    results.append(good)
                s.close()
            except Exception:  # noqa: BLE001 - any failure is a bad result
                with lock:
                    results.append(False)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("ok=%d bad=%d" % (results.count(True), results.count(False)))
    elif cmd == "halfopen":
        port, hexdata, wait = int(argv[2]), argv[3], float(argv[4])
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(bytes.fromhex(hexdata))
        t0 = time.monotonic()
        s.settimeout(wait)
        try:
            data = s.recv(100)
            if not data:
                print("CLOSED after %.2f" % (time.monotonic() - t0))
            else:
                print("DATA " + data.hex())
        except socket.timeout:
            print("OPEN")
        except ConnectionResetError:
            print("CLOSED after %.2f" % (time.monotonic() - t0))
    elif cmd == "noread":
        import select
        port, limit = int(argv[2]), int(argv[3]) << 20
        s = connect_raw(port)
        s.setblocking(False)
        req = struct.pack(">HHHBBHH", 1, 0, 6, 1, 3, 0, 100) * 64
        sent = 0
        state = "NOT-BLOCKED"
        while sent < limit:
            _, w, _ = select.select([], [s], [], 3.0)
            if not w:
                state = "BLOCKED"
                break
            try:
                sent += s.send(req)
            except BlockingIOError:
                continue
            except OSError:
                state = "CLOSED"
                break
        print("%s after %d bytes" % (state, sent))
    elif cmd == "sclient":
        import select
        import subprocess
        port, ca, cert, key, hexdata = argv[2:7]
        p = subprocess.Popen(
            ["openssl", "s_client", "-quiet", "-connect", "%s:%s" % (HOST, port),
             "-CAfile", ca, "-cert", cert, "-key", key, "-verify_return_error"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        p.stdin.write(bytes.fromhex(hexdata))
        p.stdin.flush()
        buf = b""
        end = time.monotonic() + 5
        fd = p.stdout.fileno()
        while time.monotonic() < end:
            if len(buf) >= 7 and len(buf) >= 6 + struct.unpack(">H", buf[4:6])[0]:
                break
            r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
        p.kill()
        p.wait()
        print(buf.hex() if buf else "NOTHING")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
