#!/usr/bin/python3
"""h2sink: an HTTP/2-over-TLS server that records every POST body.

The receiving peer of the HTTP/2 uplink tests (Debian's python3-h2; run
with the system /usr/bin/python3).  nghttpd answers POSTs but does not
keep their bodies, and the tests must see every sequence number.

  h2sink.py --cert C --key K [--ca CA] --ready-file F --record R
            [--port P] [--alpn h2,...] [--fail-first N] [--fail-status S]
            [--status-file SF] [--max-streams M]

--ca CA          require a client certificate issued by CA (mutual TLS)
--record R       append one line per ACCEPTED request:
                 <authorization header or ->\t<seq,seq,...>
                 (the seq of every element of the JSON array body)
--fail-first N   answer the first N requests with --fail-status (503)
--status-file SF while SF exists, answer every request with the status
                 written in it (e.g. 401)
--max-streams M  SETTINGS_MAX_CONCURRENT_STREAMS; the peak number of
                 streams open at once is written to R.peak
--goaway-after N after answering N requests on a connection, send GOAWAY
                 (NO_ERROR, last stream = the one answered) and close it
--ready-file F   written with the port once listening
Requests that are not answered 2xx are not recorded.  Every request's
status is also appended to R.log (<status> <first>-<last>).
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.settings

lock = threading.Lock()
state = {"requests": 0, "peak": 0}


def answer_status(args):
    with lock:
        n = state["requests"]
        state["requests"] += 1
    if n < args.fail_first:
        return args.fail_status
    if args.status_file and os.path.exists(args.status_file):
        try:
            with open(args.status_file) as f:
                return int(f.read().strip() or "200")
        except (OSError, ValueError):
            return 500
    return 200


def record(args, auth, body, status):
    try:
        msgs = json.loads(body)
        seqs = [int(m["seq"]) for m in msgs]
    except (ValueError, TypeError, KeyError):
        seqs = None
    with lock:
        with open(args.record + ".log", "a") as f:
            rng = "%d-%d" % (seqs[0], seqs[-1]) if seqs else "bad-body"
            f.write("%d %s\n" % (status, rng))
        if seqs is not None and 200 <= status < 300:
            with open(args.record, "a") as f:
                f.write("%s\t%s\n" % (auth or "-", ",".join(map(str, seqs))))
    return seqs is not None


def serve(conn, args):
    cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    h = h2.connection.H2Connection(config=cfg)
    h.initiate_connection()
    if args.max_streams:
        h.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                           args.max_streams})
    conn.sendall(h.data_to_send())
    streams = {}
    answered = 0
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            for ev in h.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    hd = dict(ev.headers)
                    streams[ev.stream_id] = {"auth": hd.get("authorization"),
                                             "body": b""}
                    with lock:
                        state["peak"] = max(state["peak"], len(streams))
                        with open(args.record + ".peak", "w") as f:
                            f.write("%d\n" % state["peak"])
                elif isinstance(ev, h2.events.DataReceived):
                    s = streams.get(ev.stream_id)
                    if s is not None:
                        s["body"] += ev.data
                    h.acknowledge_received_data(ev.flow_controlled_length,
                                                ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    s = streams.pop(ev.stream_id, None)
                    if s is None:
                        continue
                    status = answer_status(args)
                    if not record(args, s["auth"], s["body"], status):
                        status = 400
                    h.send_headers(ev.stream_id, [(":status", str(status)),
                                                  ("content-length", "0")],
                                   end_stream=True)
                    answered += 1
                    if args.goaway_after and answered >= args.goaway_after:
                        # Streams above this one were not processed: the
                        # client must send them again elsewhere.
                        h.close_connection(error_code=0,
                                           last_stream_id=ev.stream_id)
                        conn.sendall(h.data_to_send())
                        print("h2sink: GOAWAY after %d requests" % answered,
                              file=sys.stderr, flush=True)
                        return
                elif isinstance(ev, h2.events.StreamReset):
                    streams.pop(ev.stream_id, None)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    return
            out = h.data_to_send()
            if out:
                conn.sendall(out)
    except (OSError, ssl.SSLError, h2.exceptions.ProtocolError) as e:
        print("h2sink: connection: %s" % e, file=sys.stderr, flush=True)
    finally:
        try:
            conn.close()
        except OSError:
            pass


def handshake_and_serve(ctx, raw, args):
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError) as e:
        print("h2sink: handshake failed: %s" % e, file=sys.stderr, flush=True)
        raw.close()
        return
    print("h2sink: connection, ALPN %s" % conn.selected_alpn_protocol(),
          file=sys.stderr, flush=True)
    serve(conn, args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--alpn", default="h2")
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--status-file")
    ap.add_argument("--max-streams", type=int, default=0)
    ap.add_argument("--goaway-after", type=int, default=0)
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(args.alpn.split(","))

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(16)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.ready_file)
    while True:
        raw, _ = srv.accept()
        threading.Thread(target=handshake_and_serve, args=(ctx, raw, args),
                         daemon=True).start()


if __name__ == "__main__":
    main()
