#!/usr/bin/env bash
# The HTTP/2 uplink plugin against real HTTP/2 servers over TLS:
#   - h2sink.py (Debian's python3-h2), which records every POST body so
#     that every sequence number can be checked: delivery in order, server
#     killed and restarted (nothing lost), 5xx then success, 4xx reported
#     and retried, bearer token sent and re-read on reload, the server's
#     SETTINGS_MAX_CONCURRENT_STREAMS honoured, a client certificate from
#     the wrong CA refused by the server and reported clearly;
#   - nghttpd (Debian's nghttp2-server): delivery acknowledged by a
#     server we did not write;
#   - openssl s_server offering only http/1.1: ALPN without h2 refused;
#   - zonegated -t: the plugin's config errors name file:line and key.
# Messages come from tests/integration/uplinkdrive, a test host serving
# the uplink contract of <zonegate/plugin.h> from memory.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SINK="$top_srcdir/tests/integration/h2sink.py"
DRIVE="$top_builddir/tests/integration/uplinkdrive"
MOD="$top_builddir/plugins/http2/.libs/http2.so"
[ -x "$DRIVE" ] || t_skip_all "uplinkdrive not built"
[ -f "$MOD" ] || t_skip_all "plugins/http2 not built"
$PY -c 'import h2' 2>/dev/null || t_skip_all "python3-h2 missing: apt-get install python3-h2"
command -v openssl >/dev/null || t_skip_all "openssl missing: apt-get install openssl"

t_plan 62
D=$T_TMP
PKI=$D/pki
mkpki() { bash "$top_srcdir/contrib/pki/mkpki.sh" "$PKI" >/dev/null 2>&1; }
t_ok "test PKI made with the openssl CLI" mkpki

# sink NAME [h2sink options]: start a recording server; sets SINK_PID and
# SINK_PORT (reusing $SINK_PORT when PORT=... is given).
sink() {
	local name=$1; shift
	rm -f "$D/$name.port"
	$PY "$SINK" --cert "$PKI/server.crt" --key "$PKI/server.key" \
		--ready-file "$D/$name.port" --record "$D/$name.rec" "$@" \
		2>>"$D/$name.err" &
	SINK_PID=$!
	T_PIDS+=("$SINK_PID")
	t_wait 20 test -s "$D/$name.port" || return 1
	SINK_PORT=$(cat "$D/$name.port")
}

# conf NAME PORT [extra config lines]: an uplink config for the driver.
conf() {
	local name=$1 port=$2; shift 2
	cat >"$D/$name.conf" <<C
config = {
  url = "https://localhost:$port/ingest";
  tls = { ca = "$PKI/ca.crt"; cert = "$PKI/client-uri.crt"; key = "$PKI/client-uri.key"; };
  batch = { max_messages = 50; max_bytes = 8192; max_delay = 0.02; };
  retry = { min = 0.05; max = 0.4; };
  $*
};
C
}

# check_seqs REC N [strict]: every seq 1..N recorded; taken in order of
# first appearance they rise (duplicates allowed unless strict).
check_seqs() {
	$PY - "$1" "$2" "${3:-}" <<'P'
import sys
rec, n, strict = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "strict"
seen, order, dup = set(), [], 0
for line in open(rec):
    for s in line.rstrip("\n").split("\t")[1].split(","):
        s = int(s)
        if s in seen:
            dup += 1
            continue
        seen.add(s)
        order.append(s)
missing = sorted(set(range(1, n + 1)) - seen)
ok = not missing and order == sorted(order) and (dup == 0 or not strict)
if not ok:
    print("missing %d (first %s), out of order %s, duplicates %d" %
          (len(missing), missing[:5], order != sorted(order), dup))
sys.exit(0 if ok else 1)
P
}

# drive NAME [uplinkdrive options]: run the driver in the background,
# output in NAME.out/NAME.log; sets DRV_PID.
drive() {
	local name=$1; shift
	"$DRIVE" -p "$MOD" -c "$D/$name.conf" "$@" >"$D/$name.out" 2>"$D/$name.log" &
	DRV_PID=$!
	DRV_NAME=$name
	T_PIDS+=("$DRV_PID")
}
drive_wait() {
	t_wait_exit "$DRV_PID" "${1:-60}" && [ "$T_STATUS" = 0 ] && return 0
	t_diag "driver $DRV_NAME: status ${T_STATUS:-running}; its log ends:"
	t_diag "$(grep -v ' debug ' "$D/$DRV_NAME.log" | tail -n 25)"
	return 1
}
# drive_stop: SIGTERM a driver that cannot deliver; it must end with 1
# (not everything acknowledged), not with a sanitizer's leak report.
drive_stop() { kill -TERM "$DRV_PID"; t_wait_exit "$DRV_PID" 30 && [ "$T_STATUS" = 1 ]; }

# 1. Delivery, in order, bearer token, server's stream limit honoured.
printf 'zg-test-token.1\n' >"$D/token"
chmod 600 "$D/token"
t_ok "h2sink with mutual TLS and max 2 concurrent streams is listening" \
	sink a --ca "$PKI/ca.crt" --max-streams 2
conf a "$SINK_PORT" "token_file = \"$D/token\"; max_streams = 8;"
drive a -n 3000 -s 40
t_ok "3000 messages acknowledged" drive_wait 60
t_diag "$(tail -n 1 "$D/a.out")"
t_ok "  ... the server recorded every seq once, in order" check_seqs "$D/a.rec" 3000 strict
t_is "$(cut -f1 "$D/a.rec" | sort -u)" "Bearer zg-test-token.1" "  ... every request carried the bearer token"
t_ok "  ... at most 2 streams were open at once (server limit < max_streams 8)" \
	test "$(cat "$D/a.rec.peak")" -le 2
t_ok "  ... batches of at most 50 messages" \
	bash -c "! cut -f2 '$D/a.rec' | awk -F, 'NF > 50 { bad = 1 } END { exit !bad }'"
t_grep "  ... no permission warning for a 0600 token file" 'connected to' "$D/a.log"
t_ok "  ... and none printed" bash -c "! grep -q 'can be read by group' '$D/a.log'"

# 2. Server killed mid-stream and started again on the same port.
t_ok "h2sink b is listening" sink b --ca "$PKI/ca.crt"
BP=$SINK_PORT
conf b "$BP" "max_streams = 4;"
drive b -n 4000 -i 1 -s 20
t_ok "some messages arrived before the outage" t_wait 30 test -s "$D/b.rec"
kill -KILL "$SINK_PID"; wait "$SINK_PID" 2>/dev/null
t_ok "the uplink notices the outage" t_wait 30 grep -q 'host: uplink down' "$D/b.log"
t_ok "h2sink b started again on the same port" sink b --ca "$PKI/ca.crt" --port "$BP"
t_ok "all 4000 messages acknowledged after the outage" drive_wait 90
t_diag "$(tail -n 1 "$D/b.out")"
t_ok "  ... every seq arrived, in order of first arrival (none lost)" check_seqs "$D/b.rec" 4000
t_ok "  ... after reconnecting (ups >= 2)" grep -qE 'ups ([2-9]|[1-9][0-9]+) ' "$D/b.out"

# 3. 5xx answers, then success; one stream: strict order kept.
t_ok "h2sink c answering 503 to its first 5 requests" \
	sink c --ca "$PKI/ca.crt" --fail-first 5 --fail-status 503
conf c "$SINK_PORT" "max_streams = 1;"
drive c -n 500
t_ok "500 messages acknowledged despite the 503s" drive_wait 60
t_is "$(grep -c '^503 ' "$D/c.rec.log")" 5 "  ... the server answered 503 five times"
t_ok "  ... every seq once, strictly in order" check_seqs "$D/c.rec" 500 strict
t_grep "  ... the retries are logged with the status" 'HTTP 503 for batch seq 1-' "$D/c.log"

# 3b. GOAWAY: the server ends every connection after 3 requests; streams
# it did not process are sent again on a new connection.
t_ok "h2sink g2 sending GOAWAY after 3 requests per connection" \
	sink g2 --ca "$PKI/ca.crt" --goaway-after 3
conf g2 "$SINK_PORT" "max_streams = 4;"
drive g2 -n 1000 -s 20
t_ok "1000 messages acknowledged across GOAWAYs" drive_wait 60
t_ok "  ... every seq arrived (none lost)" check_seqs "$D/g2.rec" 1000
t_grep "  ... the GOAWAY was seen and handled" 'server sent GOAWAY \(NO_ERROR' "$D/g2.log"
t_ok "  ... over several connections" t_wait 5 bash -c "[ \$(grep -c 'GOAWAY after' '$D/g2.err') -ge 3 ]"

# 3c. A server that stops answering (SIGSTOP: the TCP connection stays
# up): requests time out and the PING keepalive finds the connection
# dead; after SIGCONT everything is delivered.
t_ok "h2sink s is listening" sink s --ca "$PKI/ca.crt"
conf s "$SINK_PORT" "timeout = 1.0; keepalive = 0.5;"
drive s -n 1500 -i 2
t_ok "some messages arrived" t_wait 30 test -s "$D/s.rec"
kill -STOP "$SINK_PID"
t_ok "a silent server is detected (request timeout or unanswered PING)" \
	t_wait 30 grep -qE 'no answer in 1.0s \(timeout\)|no answer to PING' "$D/s.log"
kill -CONT "$SINK_PID"
t_ok "all 1500 acknowledged once it answers again" drive_wait 90
t_ok "  ... none lost" check_seqs "$D/s.rec" 1500

# 4. 4xx: logged as an error with what to check, retried, not dropped.
echo 401 >"$D/d.status"
t_ok "h2sink d answering 401" sink d --ca "$PKI/ca.crt" --status-file "$D/d.status"
conf d "$SINK_PORT" ""
drive d -n 200
t_ok "the 401 is reported naming token_file" \
	t_wait 30 grep -q 'HTTP 401 for batch .*check token_file' "$D/d.log"
rm -f "$D/d.status"
t_ok "once the server accepts, all 200 messages are acknowledged" drive_wait 60
t_ok "  ... none was dropped" check_seqs "$D/d.rec" 200 strict

# 5. Token re-read on reload; warning for a token file others can read.
t_ok "h2sink e is listening" sink e --ca "$PKI/ca.crt"
conf e "$SINK_PORT" "token_file = \"$D/token\";"
drive e -n 3000 -i 2
t_ok "  ... the first token is used" t_wait 30 grep -qs 'zg-test-token.1' "$D/e.rec"
printf 'zg-test-token.2\n' >"$D/token"
chmod 644 "$D/token"
kill -HUP "$DRV_PID"
t_ok "reload done" t_wait 30 grep -q 'host: reload done' "$D/e.log"
t_grep "  ... with a warning about the token file's mode" 'can be read by group or others \(mode 0644\)' "$D/e.log"
t_ok "all 3000 acknowledged" drive_wait 60
t_is "$(tail -n 1 "$D/e.rec" | cut -f1)" "Bearer zg-test-token.2" "  ... the new token is sent after the reload"
chmod 600 "$D/token"

# 6. Client certificate from an untrusted CA: first the good one works
# (section 1), then the same server refuses this one, and we say so.
t_ok "h2sink f is listening" sink f --ca "$PKI/ca.crt"
conf f "$SINK_PORT" ""
sed -i "s|client-uri|client-wrongca|g" "$D/f.conf"
drive f -n 10
t_ok "a certificate from the wrong CA is refused and reported as such" \
	t_wait 30 grep -qsE 'TLS (alert|truncated|io).*' "$D/f.log"
# A handshake attempt may also end in EPIPE when the server closes before
# its alert is read (TLS 1.3 race); a later retry reads the alert.
t_ok "  ... the report says the server refused our certificate" \
	t_wait 30 grep -qsE 'refused our certificate|does not trust our CA|check that tls.cert' "$D/f.log"
t_ok "  ... the server saw a failed handshake" t_wait 10 grep -q 'handshake failed' "$D/f.err"
t_ok "  ... and recorded nothing" test ! -s "$D/f.rec"
t_ok "  ... the driver stops cleanly" drive_stop

# 7. Server name verification: a name the certificate does not carry.
conf g "$SINK_PORT" ""
sed -i 's|tls = { |tls = { server_name = "ingest.wrong.example"; |' "$D/g.conf"
drive g -n 10
t_ok "a server certificate for another name is refused (host name mismatch)" \
	t_wait 30 grep -qiE 'TLS verify: .*host ?name mismatch' "$D/g.log"
t_ok "  ... the driver stops cleanly" drive_stop

# 8. ALPN without h2: openssl s_server offering only http/1.1 (it
# answers with a no_application_protocol alert), and h2sink offering only
# http/1.1 (Python completes the handshake without selecting a protocol).
OP=$(t_free_port)
openssl s_server -quiet -accept "$OP" -cert "$PKI/server.crt" -key "$PKI/server.key" \
	-alpn http/1.1 </dev/null >"$D/ossl.out" 2>&1 &
T_PIDS+=($!)
t_ok "openssl s_server (ALPN http/1.1 only) is listening" t_wait 20 t_port_open "$OP"
conf h "$OP" ""
drive h -n 10
t_ok "  ... refused: the server does not speak HTTP/2 (ALPN h2)" \
	t_wait 30 grep -q 'does not speak HTTP/2 (ALPN h2)' "$D/h.log"
t_ok "  ... the driver stops cleanly" drive_stop
t_ok "h2sink offering only http/1.1 is listening" sink i --alpn http/1.1
conf i "$SINK_PORT" ""
drive i -n 10
t_ok "  ... refused after the handshake, saying what it selected" \
	t_wait 30 grep -qs 'does not speak HTTP/2 (ALPN h2): it selected' "$D/i.log"
t_ok "  ... nothing was posted" test ! -s "$D/i.rec"
t_ok "  ... the driver stops cleanly" drive_stop

# 9. nghttpd, a server we did not write, acknowledges every batch.
if command -v nghttpd >/dev/null; then
	mkdir -p "$D/htdocs"
	: >"$D/htdocs/ingest"
	NP=$(t_free_port)
	nghttpd -d "$D/htdocs" "$NP" "$PKI/server.key" "$PKI/server.crt" >"$D/nghttpd.log" 2>&1 &
	T_PIDS+=($!)
	t_ok "nghttpd is listening" t_wait 20 t_port_open "$NP"
	conf n "$NP" "max_streams = 16;"
	drive n -n 5000
	t_ok "nghttpd acknowledged all 5000 messages" drive_wait 60
	t_diag "$(tail -n 1 "$D/n.out")"
else
	t_ok "# SKIP nghttpd missing (apt-get install nghttp2-server)" true
	t_ok "# SKIP nghttpd missing" true
fi

# 10. zonegated -t: the plugin's config errors with file:line and key.
cat >"$D/bad.conf" <<C
gateway = { id = "gw-h2"; };
plugins = ( { name = "http2"; config = {
  url = "http://127.0.0.1:8443/ingest";
  tls = { ca = "$PKI/ca.crt"; cert = "$PKI/client-uri.crt"; };
  batch = { max_messages = 0; colour = 1; };
  retries = 3;
  token_file = "token";
}; } );
C
out=$("$ZONEGATED" -t -c "$D/bad.conf" 2>&1)
t_diag "$out"
t_ok "zonegated -t: http:// refused at its line" grep -qF "$D/bad.conf:3: " <<<"$out"
t_ok "  ... unknown keys named with file:line" \
	bash -c "grep -qF '$D/bad.conf:6: ' <<<\"\$1\" && grep -qF '$D/bad.conf:5: ' <<<\"\$1\"" _ "$out"
t_ok "  ... cert without key reported" grep -q 'cert and key go together' <<<"$out"
t_ok "  ... a relative token_file refused" grep -qF "$D/bad.conf:7: plugins.[0].config.token_file: \"token\" must be an absolute path" <<<"$out"

t_done
