#!/usr/bin/env bash
# Prometheus metrics of a running zonegated, scraped with curl and parsed
# (tests/integration/promparse.py checks the text exposition format):
# counters move by exactly what real traffic caused (mbpoll reads,
# pymodbus writes, a TLS client without a certificate, a reload), the
# endpoint answers 404/405/400/431 as documented and limits its clients,
# and the config refuses an unauthenticated wildcard address.  A second
# gateway shows the poller's latency histogram and results, per-detection
# and response counts, and security events a full spool refuses.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
PROM="$top_srcdir/tests/integration/promparse.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
command -v curl >/dev/null || t_skip_all "curl missing: apt-get install curl"
command -v mbpoll >/dev/null || t_skip_all "mbpoll missing: apt-get install mbpoll"
command -v openssl >/dev/null || t_skip_all "openssl missing: apt-get install openssl"
$PY -c 'import pymodbus' 2>/dev/null || t_skip_all "python3-pymodbus missing"

t_plan 56
D=$T_TMP
LOG=$D/gw.log

# --- configuration -----------------------------------------------------------------
printf 'metrics = { listen = "0.0.0.0:9187"; };\n' >"$D/wild.conf"
out=$("$ZONEGATED" -t -c "$D/wild.conf" 2>&1)
t_ok "metrics.listen on every address is refused, with file:line" \
	grep -qE 'wild.conf:1: metrics.listen: "0.0.0.0:9187": metrics have no authentication' <<<"$out"
printf 'metrics = { listen = "[::]:9187"; port = 1; };\n' >"$D/wild6.conf"
out=$("$ZONEGATED" -t -c "$D/wild6.conf" 2>&1)
t_ok "  ... [::] too, and an unknown key is named" \
	bash -c '[ $(grep -cE "wild6.conf:1: metrics\.(listen|port)" <<<"$1") -eq 2 ]' _ "$out"
printf 'metrics = { listen = "localhost:9187"; };\n' >"$D/name.conf"
t_ok "  ... and a host name (numeric addresses only)" \
	bash -c '"$1" -t -c "$2" 2>&1 | grep -qE "name.conf:1: metrics.listen"' _ "$ZONEGATED" "$D/name.conf"

# --- the gateway ---------------------------------------------------------------------
bash "$top_srcdir/contrib/pki/mkpki.sh" "$D/pki" >/dev/null 2>&1
t_ok "test PKI made with the openssl CLI" test -s "$D/pki/server.crt"
"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
GW2=$(t_free_port)
GT=$(t_free_port)
MP=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-metrics-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
admin = { socket = "$D/zg.sock"; };
metrics = { listen = "127.0.0.1:$MP"; };
zones = ( { name = "ops"; }, { name = "cell1"; }, { name = "cell2"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; },
  { identity = "plc-2"; zone = "cell2"; address = "127.0.0.1:$PLC"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; },
              { identity = "plc-2"; address = "127.0.0.1:$PLC"; } );
  listeners = ( { listen = "127.0.0.1:$GW"; device = "plc-1"; },
                { listen = "127.0.0.1:$GW2"; device = "plc-2"; },
                { listen = "127.0.0.1:$GT"; device = "plc-1";
                  tls = { cert = "$D/pki/server.crt"; key = "$D/pki/server.key"; ca = "$D/pki/ca.crt"; }; } );
}; } );
C
t_ok "zonegated -t shows the metrics address" \
	grep -qF "metrics: http://127.0.0.1:$MP" <<<"$("$ZONEGATED" -t -c "$D/gw.conf")"
t_ok "zonegated with metrics is ready" zg_start "$D/gw.conf" "$LOG"
URL="http://127.0.0.1:$MP/metrics"

# scrape FILE: curl the endpoint and check the exposition format.
scrape() { curl -sS --max-time 10 -o "$1" -w '%{http_code} %{content_type}' "$URL"; }
# val FILE 'series selector': the value of one series (promparse.py).
val() { $PY "$PROM" "$1" "$2"; }

t_is "$(scrape "$D/m0")" "200 text/plain; version=0.0.4; charset=utf-8" "GET /metrics: 200 in the Prometheus text format"
t_ok "  ... every line parses, every sample has a TYPE, counters are >= 0" $PY "$PROM" "$D/m0"
t_is "$(val "$D/m0" 'zonegate_build_info{tls_engine}')" "$($ZONEGATED -V | sed -E 's/.*TLS engine ([^,]+),.*/\1/')" \
	"  ... build info names the TLS engine zonegated -V names"
t_ok "  ... RSS, open fds and uptime are positive" $PY -c \
	'import sys; r, f, u = map(float, sys.argv[1:]); sys.exit(not (r > 100000 and f > 3 and u > 0))' \
	"$(val "$D/m0" zonegate_process_resident_memory_bytes)" \
	"$(val "$D/m0" zonegate_process_open_fds)" "$(val "$D/m0" zonegate_uptime_seconds)"

# --- real traffic --------------------------------------------------------------------
for i in 1 2 3; do
	mbpoll -m tcp -a 1 -r 1 -c 2 -t 4 -1 -p "$GW" 127.0.0.1 >"$D/mbpoll.$i" 2>&1
done
t_ok "mbpoll reads holding 0-1 three times through zonegate" \
	bash -c 'for i in 1 2 3; do grep -qE "^\[1\]:[[:space:]]+11" "$1.$i" || exit 1; done' _ "$D/mbpoll"
w=$($PY - "$GW" <<'P'
import sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1])); c.connect()
r = c.write_register(5, 99, slave=1)
print("EXC %d" % r.exception_code if r.isError() else "OK"); c.close()
P
)
t_is "$w" "EXC 1" "pymodbus: a write is denied (conduit ops-to-cell1 allows reads only)"
t_is "$($PY "$MBT" read "$GW2" 1 0 2)" "EXC 1" "a read of plc-2: no conduit at all, denied"
out=$(MBT_TLS="$D/pki/ca.crt::" $PY "$MBT" raw "$GT" 000100000006010300000002 --wait 1 | tr '\n' ' ')
t_ok "a TLS client without a certificate gets no answer ($out)" bash -c "! grep -q '^0001' <<<'$out'"
t_ok "  ... the handshake failure is logged" t_wait 10 grep -q '"kind":"tls.handshake_failed"' "$LOG"
out=$($PY "$MBT" sclient "$GT" "$D/pki/ca.crt" "$D/pki/client-wrongca.crt" "$D/pki/client-wrongca.key" 000100000006010300000002)
t_ok "openssl s_client with a certificate of an untrusted CA gets no answer ($out)" bash -c "! grep -q '^0001' <<<'$out'"
t_ok "  ... the second failure is logged" t_wait 10 bash -c "[ \$(grep -c '\"kind\":\"tls.handshake_failed\"' '$LOG') -ge 2 ]"

t_is "$(scrape "$D/m1")" "200 text/plain; version=0.0.4; charset=utf-8" "scrape after the traffic"
t_ok "  ... parses" $PY "$PROM" "$D/m1"
delta() { $PY -c 'import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))' \
	"$(val "$D/m0" "$1" 2>/dev/null || echo 0)" "$(val "$D/m1" "$1")"; }
t_is "$(delta 'zonegate_operations_total{conduit="ops-to-cell1",decision="allow"}')" 3 \
	"per-conduit allowed operations: +3 (the mbpoll reads)"
t_is "$(delta 'zonegate_operations_total{conduit="ops-to-cell1",decision="deny"}')" 1 \
	"per-conduit denied operations: +1 (the pymodbus write)"
t_is "$(delta 'zonegate_operations_total{conduit="none",decision="deny"}')" 1 \
	"a deny with no conduit counts as conduit=\"none\": +1"
t_is "$(delta 'zonegate_decisions_total{decision="allow"}') $(delta 'zonegate_decisions_total{decision="deny"}')" \
	"3 2" "decisions total: allow +3, deny +2"
t_is "$(delta 'zonegate_events_total{kind="modbus.denied",severity="high"}')" 1 \
	"events by kind and severity: one high modbus.denied (the write)"
t_is "$(delta "zonegate_connections_total{plugin=\"modbus\",listener=\"127.0.0.1:$GW\"}") $(delta "zonegate_connections_total{plugin=\"modbus\",listener=\"127.0.0.1:$GT\"}")" \
	"4 2" "connections per listener: 4 plain, 2 TLS"
t_is "$(delta 'zonegate_tls_handshake_failures_total{reason="no_peer_cert"}') $(delta 'zonegate_tls_handshake_failures_total{reason="verify"}')" \
	"1 1" "TLS handshake failures by reason: no_peer_cert +1, verify +1 (untrusted CA)"
t_is "$(val "$D/m1" 'zonegate_device_up{device="plc-1"}')" 1 "device reachability: plc-1 up"

# --- reload ----------------------------------------------------------------------------
kill -HUP "$ZG_PID"
t_ok "SIGHUP reload" t_wait 10 grep -q 'reload of .* complete' "$LOG"
scrape "$D/m2" >/dev/null
t_is "$(val "$D/m2" 'zonegate_reloads_total{result="ok"}')" 1 "reloads ok: 1"

# --- the HTTP responder ----------------------------------------------------------------
t_is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MP/")" 404 "GET /: 404"
t_is "$(curl -s -o /dev/null -D - -X POST "$URL" | tr -d '\r' | grep -E '^(HTTP|Allow)' | tr '\n' ' ')" \
	"HTTP/1.1 405 Method Not Allowed Allow: GET, HEAD " "POST /metrics: 405 with Allow"
t_is "$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "$URL")" "200 0" "HEAD /metrics: 200, no body"
out=$(curl -sv "$URL" "$URL" -o /dev/null -o /dev/null 2>&1)
t_ok "keep-alive: curl reuses the connection for a second scrape" grep -q 'Re-using existing connection' <<<"$out"
out=$($PY - "$MP" <<'P'
import socket, sys
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
    s.sendall(data); got = b""
    while True:
        c = s.recv(65536)
        if not c: break
        got += c
    return got.split(b"\r\n")[0].decode()
print(ask(b"GET /metrics HTTP/1.1\nHost: x\n\n"))
print(ask(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"))
# The client limit: 8 idle connections, the 9th is closed at once.
idle = [socket.create_connection(("127.0.0.1", port)) for i in range(8)]
for s in idle: s.sendall(b"GET /met")
extra = socket.create_connection(("127.0.0.1", port)); extra.settimeout(10)
print("closed" if extra.recv(100) == b"" else "served")
for s in idle: s.close()
P
)
t_is "$out" $'HTTP/1.1 400 Bad Request\nHTTP/1.1 431 Request Header Fields Too Large\nclosed' \
	"bare LF: 400 and closed; a 9 KB header: 431 and closed; a 9th client: closed"
t_ok "  ... and scrapes work again after those clients left" \
	t_wait 10 bash -c "curl -s -o /dev/null -w '%{http_code}' '$URL' | grep -qx 200"

zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"

# --- the threat engine, the poller and the event sinks ----------------------------------
# A second gateway: a poller reading plc-1 (allowed) and plc-2 (no conduit),
# quarantine at score 20, and a spool of 8 KiB that refuses when full.
GP=$(t_free_port)
cat >"$D/gw2.conf" <<C
gateway = { id = "gw-metrics-2"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
metrics = { listen = "127.0.0.1:$MP"; };
events = { file = "$D/events.jsonl"; };
spool = { dir = "$D/spool"; segment_size = "4K"; max_bytes = "8K"; on_full = "pause"; };
threat = { quarantine_threshold = 20.0; };
zones = ( { name = "ops"; }, { name = "scada"; }, { name = "cell1"; }, { name = "cell2"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "zonegate-poller"; zone = "scada"; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; },
  { identity = "plc-2"; zone = "cell2"; address = "127.0.0.1:$PLC"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; },
  { name = "scada-to-cell1"; from = "scada"; to = "cell1";
    modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; },
              { identity = "plc-2"; address = "127.0.0.1:$PLC"; } );
  listeners = ( { listen = "127.0.0.1:$GP"; device = "plc-1"; } );
  poll = { identity = "zonegate-poller"; groups = (
    { name = "fast"; device = "plc-1"; interval = 0.1; points = ( { name = "a"; address = 0; } ); },
    { name = "forbidden"; device = "plc-2"; interval = 0.1; points = ( { name = "b"; address = 0; } ); } ); };
}; } );
C
t_ok "zonegated with a poller, a small spool and quarantine at 20 is ready" zg_start "$D/gw2.conf" "$D/gw2.log"
# polls FILE: scrape until plc-1 has 5 good polls.
polls_ok() { scrape "$1" >/dev/null && [ "$(val "$1" 'zonegate_polls_total{device="plc-1",result="ok"}' 2>/dev/null || echo 0)" -ge 5 ]; }
t_ok "the poller reads plc-1: zonegate_polls_total{result=\"ok\"} reaches 5" t_wait 20 polls_ok "$D/p1"
t_ok "  ... the scrape parses (histogram buckets cumulative, +Inf = count)" $PY "$PROM" "$D/p1"
t_is "$(val "$D/p1" 'zonegate_poll_latency_seconds_count{device="plc-1"}')" \
	"$($PY -c 'import sys; print(sum(int(x) for x in sys.argv[1:]))' \
		"$(val "$D/p1" 'zonegate_polls_total{device="plc-1",result="ok"}')" \
		"$(val "$D/p1" 'zonegate_polls_total{device="plc-1",result="exception"}' 2>/dev/null || echo 0)")" \
	"poll latency: one observation per answered poll of plc-1"
t_ok "  ... their sum is positive and under the count times the 1 s deadline" $PY -c \
	'import sys; s, c = float(sys.argv[1]), float(sys.argv[2]); sys.exit(not (0 < s < c))' \
	"$(val "$D/p1" 'zonegate_poll_latency_seconds_sum{device="plc-1"}')" \
	"$(val "$D/p1" 'zonegate_poll_latency_seconds_count{device="plc-1"}')"
t_is "$(t_count '"kind":"threat.detection"' "$D/events.jsonl")" 0 "the gateway's own poller raises no detection"
t_ok "the poll of plc-2 (no conduit) is counted as denied" \
	bash -c '[ "$($1 "$2" "$3" "zonegate_polls_total{device=\"plc-2\",result=\"denied\"}")" -ge 1 ]' _ "$PY" "$PROM" "$D/p1"

w=$($PY "$MBT" write "$GP" 1 5 99)
t_is "$w" "EXC 1" "pymodbus: a write without write rights is denied"
t_ok "  ... modbus.write_unauthorized in the event log" \
	t_wait 10 grep -q '"detection":"modbus.write_unauthorized"' "$D/events.jsonl"
t_ok "  ... high severity (30) over 20: the identity is quarantined" \
	t_wait 10 grep -q '"kind":"threat.quarantine"' "$D/events.jsonl"
reads=""
for i in $(seq 1 20); do reads+=" $(printf '%04x00000006010300000001' "$i")"; done
t_is "$($PY "$MBT" raw "$GP" $reads --wait 1 | grep -c '018301')" 20 \
	"twenty pipelined reads of the quarantined identity: twenty denials (twenty events)"
lost_spool() { scrape "$1" >/dev/null && [ "$(val "$1" 'zonegate_events_lost_total{sink="spool"}' 2>/dev/null || echo 0)" -ge 1 ]; }
t_ok "the 8 KiB spool fills: security events it refuses are counted as lost" t_wait 10 lost_spool "$D/p2"
t_is "$(t_count 'security events are not reaching the spool \(northbound\): 1 lost so far; they are still in the daemon log and the event log' "$D/gw2.log")" 1 \
	"  ... and the daemon log says so, once, with the count"
t_ok "  ... the scrape parses" $PY "$PROM" "$D/p2"
t_is "$(val "$D/p2" 'zonegate_detections_total{detection="modbus.write_unauthorized"}')" \
	"$(t_count '"kind":"threat.detection".*"detection":"modbus.write_unauthorized"' "$D/events.jsonl")" \
	"per-detection count equals the detections in the event log"
t_is "$(val "$D/p2" 'zonegate_detections_total{}')" "$(t_count '"kind":"threat.detection"' "$D/events.jsonl")" \
	"  ... and so does their sum"
t_is "$(val "$D/p2" 'zonegate_threat_actions_total{action="quarantine"}') $(val "$D/p2" zonegate_quarantined_identities)" \
	"1 1" "threat actions: one quarantine; one identity quarantined"
t_is "$(val "$D/p2" 'zonegate_events_lost_total{sink="event_log"}')" 0 "no event lost by the event log"
zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"
t_done
