#!/usr/bin/env bash
# End to end through the real daemon: the example plugin's heartbeats go
# through zonegated's durable spool and the http2 uplink to a recording
# HTTP/2 server (h2sink.py, mutual TLS, bearer token).  The server is
# killed and restarted, then zonegated itself is SIGKILLed and restarted:
# every sequence number up to the last one received arrives, in order of
# first arrival, none missing (duplicates only for unacknowledged ones).
# Skipped by a zonegated without a spool section (docs/northbound.md).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SINK="$top_srcdir/tests/integration/h2sink.py"
$PY -c 'import h2' 2>/dev/null || t_skip_all "python3-h2 missing: apt-get install python3-h2"
D=$T_TMP
printf 'spool = { dir = "%s/probe"; };\n' "$D" >"$D/probe.conf"
"$ZONEGATED" -t -c "$D/probe.conf" >"$D/probe.out" 2>&1 ||
	t_skip_all "this zonegated has no durable spool"

t_plan 14
PKI=$D/pki
t_ok "test PKI made" bash -c "bash '$top_srcdir/contrib/pki/mkpki.sh' '$PKI' >/dev/null 2>&1"
printf 'e2e-token\n' >"$D/token"
chmod 600 "$D/token"

sink() {
	rm -f "$D/sink.port"
	$PY "$SINK" --cert "$PKI/server.crt" --key "$PKI/server.key" --ca "$PKI/ca.crt" \
		--ready-file "$D/sink.port" --record "$D/rec" "$@" 2>>"$D/sink.err" &
	SINK_PID=$!
	T_PIDS+=("$SINK_PID")
	t_wait 20 test -s "$D/sink.port"
}
# Highest seq recorded so far (0 when none).
maxseq() {
	[ -s "$D/rec" ] || { echo 0; return; }
	cut -f2 "$D/rec" | tr ',' '\n' | sort -n | tail -n 1
}
more_than() { [ "$(maxseq)" -gt "$1" ]; }

t_ok "h2sink is listening" sink
SP=$(cat "$D/sink.port")
cat >"$D/gw.conf" <<C
gateway = { id = "gw-h2-e2e"; pidfile = "$D/zonegated.pid"; };
admin = { socket = "$D/admin.sock"; };
log = { level = "info"; };
spool = { dir = "$D/spool"; fsync = "batch"; };
plugins = (
  { name = "example"; config = { heartbeat = 0.01; }; },
  { name = "http2"; config = {
      url = "https://localhost:$SP/ingest";
      token_file = "$D/token";
      tls = { ca = "$PKI/ca.crt"; cert = "$PKI/client-uri.crt"; key = "$PKI/client-uri.key"; };
      batch = { max_messages = 20; max_delay = 0.05; };
      retry = { min = 0.05; max = 0.5; };
  }; } );
C
t_ok "zonegated with spool, heartbeats and the http2 uplink is ready" zg_start "$D/gw.conf" "$D/gw.log"
t_ok "heartbeats arrive at the server" t_wait 30 more_than 50
t_is "$(cut -f1 "$D/rec" | sort -u)" "Bearer e2e-token" "  ... with the bearer token"

kill -KILL "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
t_ok "the uplink reports the server's loss" t_wait 30 grep -q 'uplink .* down' "$D/gw.log"
before=$(maxseq)
t_ok "h2sink started again on the same port" sink --port "$SP"
t_ok "delivery resumes after the outage" t_wait 60 more_than $((before + 100))

zg_kill9
before=$(maxseq)
t_ok "zonegated restarted after SIGKILL" zg_start "$D/gw.conf" "$D/gw2.log"
t_ok "delivery resumes after the restart" t_wait 60 more_than $((before + 100))
zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"

check() {
	$PY - "$D/rec" <<'P'
import sys
seen, order, dup = set(), [], 0
for line in open(sys.argv[1]):
    for s in line.rstrip("\n").split("\t")[1].split(","):
        s = int(s)
        if s in seen:
            dup += 1
        else:
            seen.add(s)
            order.append(s)
top = max(seen)
missing = sorted(set(range(1, top + 1)) - seen)
print("seqs 1..%d, %d duplicates, missing %s, ordered %s" %
      (top, dup, missing[:5], order == sorted(order)))
sys.exit(0 if not missing and order == sorted(order) else 1)
P
}
out=$(check); rc=$?
t_diag "$out"
t_is "$rc" 0 "every seq up to the last received arrived, in order, none missing"
t_grep "the restarted gateway resumed from its acknowledged position" 'acknowledged up to seq [1-9]' "$D/gw2.log"
t_ok "no message was refused by the spool" bash -c "! grep -q 'message on .* refused' '$D/gw.log'"
t_done
