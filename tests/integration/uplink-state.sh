#!/usr/bin/env bash
# What the operator sees of the northbound uplinks: `zonegatectl uplinks'
# (human and --json) and the Prometheus metrics follow a real outage of a
# real mosquitto broker (TLS, client certificates required).  While the
# broker is down the MQTT uplink is down with the reason, its spool depth
# grows and its oldest unsent message ages; after a restart of the gateway
# the depth it reports is exactly what the spool files hold after the
# acknowledged position (checked by reading the segment files here); when
# the broker is back the depth drains to 0 and every message arrived.
# An HTTP/2 uplink to a closed port shows "down" from the start, with the
# connection error.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/northbound-lib.sh"

command -v curl >/dev/null || t_skip_all "curl missing: apt-get install curl"
[ -f "$top_builddir/plugins/http2/.libs/http2.so" ] || t_skip_all "plugins/http2 not built"
CTL="$top_builddir/gateway/zonegatectl"
PROM="$top_srcdir/tests/integration/promparse.py"
PY=/usr/bin/python3

t_plan 32
D=$T_TMP
t_ok "test PKI made with the openssl CLI" nb_pki
nb_broker_conf "$(t_free_port)"
t_ok "broker with a TLS listener requiring client certificates is up" nb_broker_start
t_ok "subscriber ready" nb_sub 'zonegate/#' "$D/sub"

MP=$(t_free_port)
DEAD=$(t_free_port)   # nothing listens there: the HTTP/2 uplink stays down
# gw_conf HEARTBEAT: the gateway with both uplinks, admin socket, metrics.
gw_conf() {
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-up"; pidfile = "$D/zonegated.pid"; shutdown_timeout = 2.0; };
admin = { socket = "$D/zg.sock"; };
metrics = { listen = "127.0.0.1:$MP"; };
spool = { dir = "$D/spool"; segment_size = "64K"; max_bytes = "16M"; fsync = "batch"; };
plugins = (
  { name = "example"; config = { heartbeat = $1; }; },
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      topic = "zonegate/{gateway}/{topic}"; keepalive = 5;
      reconnect_min = 0.1; reconnect_max = 0.5; connect_timeout = 2.0; }; },
  { name = "http2"; config = { url = "https://127.0.0.1:$DEAD/ingest";
      tls = { ca = "$PKI/ca.crt"; cert = "$PKI/client-uri.crt"; key = "$PKI/client-uri.key"; };
      retry = { min = 0.2; max = 0.5; }; }; }
);
C
}

# js FIELD [UPLINK]: one field of an uplink in `zonegatectl --json uplinks';
# jf: the same from the answer js fetched last.
js() {
	"$CTL" --socket "$D/zg.sock" --json uplinks >"$D/up.json" 2>&1 || return 1
	jf "$@"
}
jf() {
	$PY - "$D/up.json" "$1" "${2:-mqtt/main}" <<'P'
import json, sys
a = json.load(open(sys.argv[1]))
for u in a["uplinks"]:
    if u["name"] == sys.argv[3]:
        v = u[sys.argv[2]]
        print("null" if v is None else v)
        break
else:
    print("absent")
P
}
js_is() { [ "$(js "$1" "${3:-mqtt/main}")" = "$2" ]; }
js_ge() { local v; v=$(js "$1" "${3:-mqtt/main}"); [ "${v%.*}" -ge "$2" ] 2>/dev/null; }
# pm SELECTOR: one value of a fresh scrape.
pm() {
	curl -s "http://127.0.0.1:$MP/metrics" >"$D/m.txt" || return 1
	$PY "$PROM" "$D/m.txt" "$1"
}
pm_is() { [ "$(pm "$1")" = "$2" ]; }
# for the bash -c checks below
export D CTL PY PROM MP
export -f js jf js_is js_ge pm pm_is nb_check

gw_conf 0.05
t_ok "zonegated starts with the spool, an MQTT and an HTTP/2 uplink" zg_start "$D/gw.conf" "$D/gw.log"
t_ok "100 heartbeats arrive at the subscriber" t_wait 30 nb_has_at_least "$D/sub" 100
name=$(js name)
t_is "$name" "mqtt/main" "zonegatectl uplinks lists the MQTT uplink by its spool name"
t_ok "  ... up, kind mqtt, target the broker" \
	bash -c '[ "$(js state)" = up ] && [ "$(js kind)" = mqtt ] && [ "$(js target)" = "127.0.0.1:'"$BROKER_PORT"'" ]'
t_ok "  ... sent and acked count the traffic" \
	bash -c 's=$(js sent); a=$(jf acked); [ "$a" -ge 100 ] && [ "$s" -ge "$a" ]'
t_ok "the HTTP/2 uplink to a closed port is down with the connection error" \
	t_wait 10 bash -c '[ "$(js state http2/http2)" = down ] && js last_error http2/http2 | grep -qi refused'
t_ok "  ... and owes everything (depth grows)" \
	bash -c 'a=$(js spool_depth http2/http2); [ "$a" -ge 100 ]'
t_ok "metrics: the MQTT uplink is up, the HTTP/2 one is not" \
	bash -c 'pm_is "zonegate_uplink_up{uplink=\"mqtt/main\"}" 1 && pm_is "zonegate_uplink_up{uplink=\"http2/http2\"}" 0'
t_ok "metrics: the scrape is valid exposition format" $PY "$PROM" "$D/m.txt"
"$CTL" --socket "$D/zg.sock" uplinks >"$D/up.txt" 2>&1
t_grep "human table: header with state, spool and error columns" \
	'^UPLINK +KIND +STATE +FOR +SPOOLED +BYTES +OLDEST +SENT +ACKED +TARGET +LAST ERROR$' "$D/up.txt"
t_grep "human table: the MQTT uplink's row" \
	"^mqtt/main +mqtt +up +[0-9smhd]+ +[0-9]+ +[0-9]+ .*127\.0\.0\.1:$BROKER_PORT" "$D/up.txt"

# --- the broker goes away ------------------------------------------------------
t_ok "broker stopped" nb_broker_stop
t_ok "the MQTT uplink goes down, saying why" \
	t_wait 20 bash -c '[ "$(js state)" = down ] && [ "$(js last_error)" != null ]'
d1=$(js spool_depth)
t_ok "its spool depth grows while the broker is away ($d1 -> 40 more)" t_wait 20 js_ge spool_depth "$((d1 + 40))"
t_ok "  ... bytes too, at least a record header per message" \
	bash -c '[ "$(js spool_bytes)" -ge $((32 * $(jf spool_depth))) ]'
t_ok "  ... and the oldest unsent message ages (>= 1 s)" t_wait 20 js_ge oldest_unsent_age 1
t_ok "metrics: uplink_up 0, offline for >= 1 s, depth in messages and bytes" \
	t_wait 20 bash -c 'pm_is "zonegate_uplink_up{uplink=\"mqtt/main\"}" 0 &&
		[ "$(pm "zonegate_uplink_offline_seconds{uplink=\"mqtt/main\"}" | cut -d. -f1)" -ge 1 ] &&
		[ "$(pm "zonegate_spool_depth_messages{uplink=\"mqtt/main\"}")" -ge 40 ] &&
		[ "$(pm "zonegate_spool_depth_bytes{uplink=\"mqtt/main\"}")" -ge 1280 ]'
"$CTL" --socket "$D/zg.sock" uplinks >"$D/up.txt" 2>&1
t_grep "human table: down, with the error" "^mqtt/main +mqtt +down .*127\.0\.0\.1:$BROKER_PORT +[^ ]" "$D/up.txt"

# --- restart during the outage, no new messages: exact depth ----------------------
t_ok "SIGTERM stops the gateway" zg_stop
gw_conf 0
t_ok "zonegated starts again on the same spool, heartbeat off" zg_start "$D/gw.conf" "$D/gw2.log"
# What the spool files hold after the acknowledged position, read here.
read -r want_n want_b <<<"$($PY - "$D/spool" mqtt/main <<'P'
import os, struct, sys
d, name = sys.argv[1], sys.argv[2]
acked = 0
for line in open(os.path.join(d, "state")):
    f = line.split()
    if f[0] == "uplink" and f[1] == name:
        acked = int(f[2])
n = b = 0
for fn in sorted(os.listdir(d)):
    if not fn.endswith(".seg"):
        continue
    data = open(os.path.join(d, fn), "rb").read()
    off = 16
    while off + 32 <= len(data):
        plen, tl, zl = struct.unpack_from("<IBB", data, off + 8)
        seq = struct.unpack_from("<Q", data, off + 16)[0]
        size = 32 + tl + zl + plen
        if seq > acked:
            n += 1
            b += size
        off += size
print(n, b)
P
)"
t_ok "some messages were left unsent ($want_n records, $want_b bytes)" test "${want_n:-0}" -gt 40
t_is "$(js spool_depth)" "$want_n" "after the restart the depth is exactly the records after the acked position"
t_is "$(js spool_bytes)" "$want_b" "  ... and the bytes exactly their size on disk"
t_ok "metrics agree" pm_is "zonegate_spool_depth_messages{uplink=\"mqtt/main\"}" "$want_n"

# --- the broker comes back: drained ---------------------------------------------
t_ok "broker started again" nb_broker_start
t_ok "the MQTT uplink is up again" t_wait 20 js_is state up
t_ok "its spool depth drains to 0 (zonegatectl), no oldest unsent" \
	t_wait 30 bash -c 'js_is spool_depth 0 && js_is spool_bytes 0 && js_is oldest_unsent_age null'
t_ok "metrics: up, depth 0, offline 0" \
	bash -c 'pm_is "zonegate_uplink_up{uplink=\"mqtt/main\"}" 1 &&
		pm_is "zonegate_spool_depth_messages{uplink=\"mqtt/main\"}" 0 &&
		pm_is "zonegate_uplink_offline_seconds{uplink=\"mqtt/main\"}" 0'
last=$(awk '$1 == "next_seq" { print $2 - 1 }' "$D/spool/state")
t_ok "every message 1..$last reached the subscriber" \
	t_wait 30 bash -c '[ "$(nb_check "$1" 1 "$2" | cut -d" " -f1)" = missing=0 ]' _ "$D/sub" "$last"
t_done
