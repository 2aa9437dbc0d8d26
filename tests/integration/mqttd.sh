#!/usr/bin/env bash
# The southbound MQTT broker (plugins/mqttd) with clients we did not write:
# mosquitto_pub / mosquitto_sub over mutual TLS (certificates made by
# contrib/pki/mkpki.sh with the openssl CLI), MQTT 3.1.1 and 5.0.  Every
# enforcement check first shows the forbidden action working against a
# plain mosquitto broker with TLS, then the gateway refusing it.  Raw,
# malformed, stalled and many concurrent connections come from
# tests/integration/mqttd-raw.py (Python's ssl module).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
RAW="$top_srcdir/tests/integration/mqttd-raw.py"
for p in mosquitto mosquitto_pub mosquitto_sub openssl; do
	command -v $p >/dev/null || PATH=$PATH:/usr/sbin
	command -v $p >/dev/null ||
		t_skip_all "$p missing: apt-get install mosquitto mosquitto-clients openssl"
done
# Concurrent TLS clients (fewer under the sanitizers: same code, 5x slower).
MANY=${ZG_MQTT_MANY:-1000}
[ "${ZG_SANITIZERS:-0}" = 1 ] && MANY=${ZG_MQTT_MANY:-200}

t_plan 70
D=$T_TMP
PKI=$D/pki
mkpki() { bash "$top_srcdir/contrib/pki/mkpki.sh" "$PKI" >/dev/null 2>&1; }
t_ok "test PKI made with the openssl CLI" mkpki

A=hmi-3                       # zone line-a (client-cn)
B=hmi-2.plant.example         # zone line-b (client-dns)
S=spiffe://plant.example/hmi-1 # zone supervision (client-uri)
O=spiffe://plant.example/operator-1 # zone supervision (client-role)
GP=$(t_free_port)
MP=$(t_free_port)

# -- the reference: Debian's mosquitto with TLS and client certificates
cat >"$D/mosquitto.conf" <<C
listener $MP 127.0.0.1
cafile $PKI/ca.crt
certfile $PKI/server.crt
keyfile $PKI/server.key
require_certificate true
allow_anonymous true
persistence false
max_queued_messages 100000
# as root, mosquitto would switch to user mosquitto, who cannot read the keys
user $(id -un)
C
mosquitto -c "$D/mosquitto.conf" >"$D/mosquitto.log" 2>&1 &
T_PIDS+=($!)
t_ok "reference mosquitto broker with TLS is listening" t_wait 20 t_port_open "$MP"

write_conf() { # client_id pattern, extra plugin keys, extra listeners, extra devices
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-mqtt-test"; pidfile = "$D/zonegated.pid"; };
admin = { socket = "$D/zonegated.sock"; };
log = { level = "info"; format = "json"; };
zones = ( { name = "line-a"; }, { name = "line-b"; }, { name = "supervision"; },
          { name = "site"; }, { name = "legacy"; } );
devices = (
  { identity = "$A"; zone = "line-a"; },
  { identity = "$B"; zone = "line-b"; },
  { identity = "$S"; zone = "supervision"; },
  { identity = "$O"; zone = "supervision"; },
  { identity = "mqtt-broker"; zone = "site"; },
  { identity = "uplink"; zone = "site"; }
  $4
);
conduits = (
  { name = "line-a-publish"; from = "line-a"; device = "mqtt-broker";
    require_assurance = "certificate";
    mqtt = { publish = ["site/%u/#"]; subscribe = ["site/%u/cmd/#"]; }; },
  { name = "line-b-publish"; from = "line-b"; device = "mqtt-broker";
    require_assurance = "certificate";
    mqtt = { publish = ["site/%u/#"]; }; },
  { name = "supervisor-watch"; from = "supervision"; device = "mqtt-broker";
    require_assurance = "certificate";
    mqtt = { subscribe = ["site/#"]; publish = ["site/+/cmd/#"]; }; },
  { name = "line-a-up"; from = "line-a"; device = "uplink";
    mqtt = { publish = ["site/%u/telemetry/#"]; }; },
  { name = "legacy-publish"; from = "legacy"; device = "mqtt-broker";
    mqtt = { publish = ["legacy/%u/#"]; }; }
);
plugins = ( { name = "mqttd"; config = {
  broker = "mqtt-broker";
  client_id = "$1";
  max_packet_size = 8192;
  connect_timeout = 2.0;
  $2
  listeners = (
    { listen = "127.0.0.1:$GP";
      tls = { cert = "$PKI/server.crt"; key = "$PKI/server.key"; ca = "$PKI/ca.crt"; }; }
    $3
  );
}; } );
C
}
write_conf "%u" "max_queued = 20;" "" ""
t_ok "zonegated with the MQTT broker is ready" zg_start "$D/gw.conf" "$D/gw.log"
LOG=$D/gw.log

tls() { # short client name -> mosquitto TLS options
	echo "--cafile $PKI/ca.crt --cert $PKI/client-$1.crt --key $PKI/client-$1.key"
}
pub() { # port client id args...
	local port=$1 c=$2 id=$3; shift 3
	timeout 20 mosquitto_pub -h 127.0.0.1 -p "$port" $(tls "$c") -i "$id" "$@"
}
# sub_start NAME port client id args...: background subscriber writing
# $D/NAME.out; returns once its SUBACK arrived.  Sets SUB_PID.
sub_start() {
	local name=$1 port=$2 c=$3 id=$4; shift 4
	: >"$D/$name.out"
	timeout 300 stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$port" $(tls "$c") -i "$id" -v "$@" \
		>"$D/$name.out" 2>&1 &
	SUB_PID=$!
	T_PIDS+=("$SUB_PID")
	t_wait 15 grep -q "received SUBACK" "$D/$name.out"
}
seen() { grep -q -- "$2" "$D/$1.out"; }

# ---------------------------------------------------------------- routing
sub_start sup "$GP" uri "$S" -t 'site/#' -q 2
SUP=$SUB_PID
t_ok "supervisor subscribed to site/# through the gateway" seen sup "received SUBACK"
pub "$GP" cn "$A" -V mqttv311 -t site/$A/temp -m v311-qos0
t_ok "3.1.1 QoS 0 publish under its own subtree is delivered" t_wait 10 seen sup "site/$A/temp v311-qos0"
pub "$GP" cn "$A" -V mqttv5 -q 1 -t site/$A/temp -m v5-qos1 -d >"$D/p1.out" 2>&1
t_grep "MQTT 5 QoS 1: PUBACK reason 0" "received PUBACK \(Mid: 1, RC:0\)" "$D/p1.out"
t_ok "MQTT 5 QoS 1 publish is delivered" t_wait 10 seen sup "site/$A/temp v5-qos1"
pub "$GP" dns "$B" -V mqttv311 -q 2 -t site/$B/temp -m v311-qos2 -d >"$D/p2.out" 2>&1
t_grep "QoS 2: PUBREC, PUBREL, PUBCOMP" "received PUBCOMP" "$D/p2.out"
t_ok "QoS 2 publish is delivered (once)" t_wait 10 seen sup "site/$B/temp v311-qos2"
t_is "$(grep -c "v311-qos2" "$D/sup.out" | head -1)" 1 "the QoS 2 message arrived exactly once"
out=$("$top_builddir/gateway/zonegatectl" --socket "$D/zonegated.sock" sessions)
t_ok "zonegatectl sessions: the supervisor's MQTT session (identity, certificate, TLS, 1 request, 0 denials)" \
	grep -qE "^mqttd +127\.0\.0\.1:[0-9]+ +spiffe://plant\.example/hmi-1 +certificate +127\.0\.0\.1:$GP +tls +[0-9]+s +1 +0\$" <<<"$out"

# ---------------------------------------------------------------- denial
# The same forbidden publish works against plain mosquitto ...
sub_start ref "$MP" uri "$S" -t 'site/#'
pub "$MP" cn "$A" -V mqttv5 -q 1 -t site/$B/temp -m forged -d >"$D/ref-p.out" 2>&1
t_ok "without the gateway: $A can publish into $B's subtree" t_wait 10 seen ref "site/$B/temp forged"
kill "$SUB_PID" 2>/dev/null
# ... and the gateway refuses it with reason 0x87 (MQTT 5).
pub "$GP" cn "$A" -V mqttv5 -q 1 -t site/$B/temp -m forged -d >"$D/den5.out" 2>&1
t_grep "MQTT 5: PUBACK reason 0x87 (135, not authorized)" "received PUBACK \(Mid: 1, RC:135\)" "$D/den5.out"
pub "$GP" cn "$A" -V mqttv311 -q 1 -t site/$B/temp -m forged311 -d >"$D/den3.out" 2>&1
t_grep "3.1.1: the flow completes (no failure code in 3.1.1)" "received PUBACK" "$D/den3.out"
pub "$GP" cn "$A" -V mqttv311 -t site/$A/temp -m after-denials
t_ok "a later allowed message arrives ..." t_wait 10 seen sup "after-denials"
t_ok "... and neither denied message did" eval '! grep -q forged "$D/sup.out"'
t_grep "each denial is an mqtt.publish_denied event with the rule" \
	'"kind":"mqtt.publish_denied".*"rule":"line-a-publish"' "$LOG"

# Subscribing to everything: works on mosquitto, a named detection here.
sub_start refall "$MP" cn "$A" -V mqttv5 -t '#'
pub "$MP" dns "$B" -t site/$B/secret -m everything
t_ok "without the gateway: $A subscribed to # sees $B's data" t_wait 10 seen refall "site/$B/secret everything"
kill "$SUB_PID" 2>/dev/null
timeout 10 mosquitto_sub -d -V mqttv5 -h 127.0.0.1 -p "$GP" $(tls cn) -i "$A" -t '#' -E \
	>"$D/all5.out" 2>&1
t_grep "MQTT 5: SUBACK 0x87 for #" "received SUBACK|Subscribed.*135" "$D/all5.out"
t_grep "SUBACK carries 135" "135" "$D/all5.out"
timeout 10 mosquitto_sub -d -V mqttv311 -h 127.0.0.1 -p "$GP" $(tls cn) -i "$A" -t '$SYS/#' -E \
	>"$D/sys3.out" 2>&1
t_grep "3.1.1: SUBACK failure 0x80 for \$SYS/#" "128" "$D/sys3.out"
t_is "$(t_count '"kind":"mqtt.wildcard_subscribe".*"severity":"high"|"severity":"high".*"kind":"mqtt.wildcard_subscribe"' "$LOG")" 2 \
	"# and \$SYS/# are named detections (mqtt.wildcard_subscribe, high)"
timeout 10 mosquitto_sub -d -V mqttv5 -h 127.0.0.1 -p "$GP" $(tls cn) -i "$A" -t "site/$B/#" -E \
	>"$D/subB.out" 2>&1
t_grep "other devices' subtree: mqtt.subscribe_denied" '"kind":"mqtt.subscribe_denied"' "$LOG"

# ---------------------------------------------------------------- retained, will
pub "$GP" cn "$A" -q 1 -r -t site/$A/state -m running
timeout 10 mosquitto_sub -h 127.0.0.1 -p "$GP" $(tls uri) -i "$S-2" -t "site/$A/state" -C 1 -W 8 -v \
	>"$D/ret0.out" 2>&1
t_grep "a client id other than the identity is refused (identifier rejected)" "identifier rejected" "$D/ret0.out"
t_grep "... as an mqtt.clientid_rejected event" '"kind":"mqtt.clientid_rejected"' "$LOG"
kill "$SUP" 2>/dev/null; t_wait 10 t_dead "$SUP"
timeout 10 mosquitto_sub -h 127.0.0.1 -p "$GP" $(tls uri) -i "$S" -t "site/$A/state" -C 1 -W 8 -v \
	>"$D/ret.out" 2>&1
t_grep "retained message goes to a new subscriber" "site/$A/state running" "$D/ret.out"
sub_start sup "$GP" uri "$S" -t 'site/#' -q 2
SUP=$SUB_PID


: >"$D/will.out"
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$GP" $(tls cn) -i "$A" -k 5 -t "site/$A/cmd/#" \
	--will-topic "site/$A/status" --will-payload offline-abruptly -d >"$D/will.out" 2>&1 &
WP=$!
T_PIDS+=("$WP")
t_ok "a device with a will is connected" t_wait 15 grep -q "received SUBACK" "$D/will.out"
kill -9 "$WP"
t_ok "kill -9 of the device: its will is published" t_wait 15 seen sup "site/$A/status offline-abruptly"

# MQTT 5 Will Delay Interval with a session that outlives the connection:
# the will waits (logged), then goes out.
: >"$D/willd.out"
stdbuf -oL mosquitto_sub -V mqttv5 -x 60 -h 127.0.0.1 -p "$GP" $(tls cn) -i "$A" -t "site/$A/cmd/#" \
	--will-topic "site/$A/status" --will-payload offline-after-delay -D will will-delay-interval 1 \
	-d >"$D/willd.out" 2>&1 &
WP=$!
T_PIDS+=("$WP")
t_wait 15 grep -q "received SUBACK" "$D/willd.out"
kill -9 "$WP"
t_ok "kill -9 with a will delay: the will is held for the delay" t_wait 15 grep -q "will of client $A delayed by 1 s" "$LOG"
t_ok "... then published" t_wait 15 seen sup "site/$A/status offline-after-delay"

# ---------------------------------------------------------------- sessions
kill "$SUP" 2>/dev/null; t_wait 10 t_dead "$SUP"

: >"$D/ps1.out"
timeout 20 stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$GP" $(tls uri) -i "$S" -c -q 1 -t "site/#" -C 1 -v \
	>"$D/ps1.out" 2>&1 &
PS=$!
T_PIDS+=("$PS")
t_wait 10 grep -q "received SUBACK" "$D/ps1.out"
pub "$GP" cn "$A" -q 1 -t site/$A/p -m first
t_ok "persistent session (3.1.1, -c) receives while online" t_wait 10 t_dead "$PS"
pub "$GP" cn "$A" -q 1 -t site/$A/p -m while-offline
timeout 20 mosquitto_sub -h 127.0.0.1 -p "$GP" $(tls uri) -i "$S" -c -q 1 -t "site/#" -C 2 -W 6 -v \
	>"$D/ps2.out" 2>&1
t_grep "session resumed: the QoS 1 message sent while offline arrives" "site/$A/p while-offline" "$D/ps2.out"

# Same identity, same client id: the new connection takes the session over.
sub_start own1 "$GP" uri "$S" -V mqttv5 -t "site/x"
O1=$SUB_PID
sub_start own2 "$GP" uri "$S" -V mqttv5 -t "site/y"
t_ok "same identity reconnecting takes its own session over (old one disconnected)" t_wait 10 t_dead "$O1"
t_grep "... with reason 0x8E (session taken over)" "takes its session over" "$LOG"
kill "$SUB_PID" 2>/dev/null
sub_start sup2 "$GP" uri "$S" -t 'site/+/temp' -t 'site/+/big'

# ---------------------------------------------------------------- limits, malformed
head -c 9000 /dev/zero | tr '\0' x >"$D/big"
pub "$GP" cn "$A" -V mqttv311 -q 1 -t site/$A/big -f "$D/big" >"$D/big.out" 2>&1
t_grep "a packet over max_packet_size closes the connection (event)" '"kind":"mqtt.packet_too_large"' "$LOG"
t_ok "... and was not delivered" eval '! grep -q "site/$A/big" "$D/sup2.out"'

raw() { timeout 20 $PY "$RAW" "$GP" "$PKI" "$@" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
# PUBLISH to "a/" + U+D800 (a surrogate, invalid in UTF-8), MQTT 5
t_is "$(raw cn v5packet "$A" 30080005612feda08000)" "CONNACK rc=0 DISCONNECT rc=0x81 CLOSED" \
	"invalid UTF-8 in a topic: DISCONNECT 0x81 (malformed) and close"
t_is "$(raw cn packet "$A" 308080808001)" "CONNACK rc=0 CLOSED" \
	"remaining length of 5 bytes (3.1.1): closed"
t_is "$(raw cn v5packet "$A" 100e00044d5154540502001e00000178)" "CONNACK rc=0 DISCONNECT rc=0x82 CLOSED" \
	"a second CONNECT: DISCONNECT 0x82 (protocol error)"
t_is "$(t_count '"kind":"mqtt.protocol_violation"' "$LOG")" 3 "each is an mqtt.protocol_violation event"
t_is "$(raw cn silent)" "CLOSED" "no CONNECT within connect_timeout: closed"
t_grep "... with an mqtt.connect_timeout event" '"kind":"mqtt.connect_timeout"' "$LOG"
# max_inflight (32, the broker's Receive Maximum): a 33rd QoS 2 message
# awaiting PUBREL closes with 0x93.
q2=""; want="CONNACK rc=0"
for i in $(seq 1 33); do q2+=$(printf '3413000d736974652f686d692d332f7132%04x0078' "$i"); done
for i in $(seq 1 32); do want+=" TYPE 5"; done
t_is "$(raw cn v5packet "$A" "$q2")" "$want DISCONNECT rc=0x93 CLOSED" \
	"32 QoS 2 messages awaiting PUBREL are acknowledged (PUBREC), a 33rd: DISCONNECT 0x93 (receive maximum exceeded)"

# A subscriber that stops reading: its queue overflows, nobody else waits.
mkfifo "$D/stall.in"
$PY "$RAW" "$GP" "$PKI" cn stall "$A" "site/$A/cmd/#" <"$D/stall.in" >"$D/stall.out" 2>&1 &
STALL=$!
T_PIDS+=("$STALL")
exec 7>"$D/stall.in"
t_ok "a subscriber that never reads is subscribed" t_wait 15 grep -q SUBSCRIBED "$D/stall.out"
yes "$(head -c 4000 /dev/zero | tr '\0' s)" | head -n 3000 >"$D/flood"
pub "$GP" role "$O" -t "site/$A/cmd/flood" -l <"$D/flood"
t_ok "its queue overflows: mqtt.queue_overflow event, messages dropped" \
	t_wait 30 grep -q '"kind":"mqtt.queue_overflow"' "$LOG"
pub "$GP" cn "$A" -t site/$A/temp -m still-flowing
t_ok "other clients are served meanwhile" t_wait 10 seen sup2 "still-flowing"
exec 7>&-
zg_stop
t_is "$T_STATUS" 0 "zonegated stops cleanly (exit 0)"
[ "$T_STATUS" = 0 ] || t_diag "$(grep -A40 -E 'ERROR|SUMMARY|runtime error' "$LOG" | head -60)"

# ---------------------------------------------------------------- phase 2
# Client ids not bound to identities ("*"), a legacy plain listener.
LP=$(t_free_port)
write_conf "*" "max_queued = 100000; max_connections_per_identity = $MANY; disconnect_on_denial = true; northbound = { device = \"uplink\"; };" \
	", { listen = \"127.0.0.1:$LP\"; plain = true; max_connections_per_source = 2; }" \
	", { identity = \"legacy-meter\"; zone = \"legacy\"; bind = { address = \"127.0.0.1\"; ports = \"1-65535\"; }; }"
sed -i "s|ca = \"$PKI/ca.crt\"; }; }|ca = \"$PKI/ca.crt\"; }; max_connections_per_source = 5000; }|" "$D/gw.conf"
: >"$D/gw.log"
t_ok "zonegated restarted with client_id = \"*\" and a plain listener" zg_start "$D/gw.conf" "$D/gw.log"

sub_start shared "$GP" cn "$A" -t "site/$A/cmd/#" -i shared-1
SH=$SUB_PID
pub "$GP" dns "$B" -i shared-1 -t site/$B/x -m takeover >"$D/take.out" 2>&1
t_grep "same client id from another identity: refused (identifier rejected)" "identifier rejected|Client ID not valid|not valid" "$D/take.out"
t_grep "... as an mqtt.clientid_takeover event" '"kind":"mqtt.clientid_takeover".*"severity":"high"|"severity":"high".*"kind":"mqtt.clientid_takeover"' "$LOG"
t_ok "... and the owner's connection is untouched" t_alive "$SH"

timeout 20 mosquitto_pub -h 127.0.0.1 -p "$LP" -V mqttv5 -q 1 -i meter -t legacy/legacy-meter/kwh -m 7 -d \
	>"$D/leg1.out" 2>&1
t_grep "plain listener: legacy device identified by address may publish its subtree" \
	"received PUBACK \(Mid: 1, RC:0\)" "$D/leg1.out"
timeout 20 mosquitto_pub -h 127.0.0.1 -p "$LP" -V mqttv5 -q 1 -i meter -t site/$A/temp -m 7 -d \
	>"$D/leg2.out" 2>&1
t_grep "... and nothing else (0x87)" "received PUBACK \(Mid: 1, RC:135\)" "$D/leg2.out"
timeout 20 mosquitto_pub -h 127.0.0.1 -p "$LP" -V mqttv311 -q 1 -i meter -t site/$A/temp -m 7 -d \
	>"$D/leg3.out" 2>&1
t_ok "3.1.1 with disconnect_on_denial: a denied PUBLISH gets no PUBACK ..." \
	eval '! grep -q "received PUBACK" "$D/leg3.out"'
t_grep "... the client is disconnected" "PUBLISH denied \(disconnect_on_denial\)" "$LOG"

# max_connections_per_source = 2 on the plain listener: two held open, a
# third from the same address is refused at once.
for i in 1 2; do
	mkfifo "$D/src$i.in"
	timeout 120 stdbuf -oL mosquitto_pub -h 127.0.0.1 -p "$LP" -i "src-$i" -t legacy/legacy-meter/kwh -l -d \
		<"$D/src$i.in" >"$D/src$i.out" 2>&1 &
	T_PIDS+=($!)
done
exec 5>"$D/src1.in" 6>"$D/src2.in"
both_up() { grep -q "received CONNACK" "$D/src1.out" && grep -q "received CONNACK" "$D/src2.out"; }
t_ok "two connections from 127.0.0.1 on the plain listener" t_wait 15 both_up
timeout 20 mosquitto_pub -h 127.0.0.1 -p "$LP" -i src-3 -t legacy/legacy-meter/kwh -m 9 -d >"$D/src3.out" 2>&1
t_ok "a third one is refused (max_connections_per_source = 2) ..." \
	eval '! grep -q "received CONNACK" "$D/src3.out"'
t_grep "... as an mqtt.too_many_connections event" "source already has 2 connections" "$LOG"
exec 5>&- 6>&-

# Shared subscriptions (MQTT 5): each message to one member of the group.
sub_start sh1 "$GP" uri "$S" -V mqttv5 -q 1 -t '$share/g/site/+/shared' -i sh-1
sub_start sh2 "$GP" uri "$S" -V mqttv5 -q 1 -t '$share/g/site/+/shared' -i sh-2
seq 1 10 | pub "$GP" cn "$A" -i sh-pub -q 1 -t site/$A/shared -l
shared_total() { [ "$(cat "$D/sh1.out" "$D/sh2.out" | grep -c "^site/$A/shared ")" -ge 10 ]; }
t_ok "shared subscription: the 10 messages arrive" t_wait 10 shared_total
t_is "$(cat "$D/sh1.out" "$D/sh2.out" | grep "^site/$A/shared " | sort -u | wc -l) $(grep -c "^site/$A/shared " "$D/sh1.out") $(grep -c "^site/$A/shared " "$D/sh2.out")" \
	"10 5 5" "... each once, shared round robin between the two members"

# A small libmosquitto program: a slow QoS 1 subscriber (non-blocking I/O
# in its callback, a pause every 100 messages) counts every message.  It
# once lost the tail of the stream through the gateway: several MQTT
# packets in one TLS record, and libmosquitto reads on only when its
# socket becomes readable again.
CNT=$top_builddir/tests/integration/mqcount
NCNT=5000
cnt() { timeout 200 "$CNT" 127.0.0.1 "$1" "$PKI/ca.crt" "$PKI/client-uri.crt" "$PKI/client-uri.key" \
	count-sub "$PKI/client-cn.crt" "$PKI/client-cn.key" count-pub "site/$A/count" "$NCNT" 2>&1; }
t_is "$(cnt "$MP")" "received $NCNT of $NCNT (0 duplicates)" \
	"without the gateway: a slow libmosquitto subscriber gets all $NCNT QoS 1 messages"
t_is "$(cnt "$GP")" "received $NCNT of $NCNT (0 duplicates)" \
	"through the gateway: the same, every one of the $NCNT QoS 1 messages"

# Northbound: only what a conduit to the uplink device lets leave.
pub "$GP" cn "$A" -i nb-a -q 1 -t site/$A/temp -m local-only
pub "$GP" cn "$A" -i nb-a -q 1 -t site/$A/telemetry/flow -m 12.5
t_grep "a message the policy lets leave goes northbound as mqtt/<topic> (and the local-only one did not)" \
	"telemetry on mqtt/site/$A/telemetry/flow" "$LOG"

kill -HUP "$ZG_PID"
t_ok "SIGHUP: settings applied in place, connections kept" t_wait 10 grep -q "settings applied" "$LOG"
pub "$GP" cn "$A" -i other-a -t site/$A/cmd/after-reload -m kept
t_ok "... a subscriber from before the reload still receives" t_wait 10 seen shared "after-reload kept"

kill "$SH" 2>/dev/null; t_wait 10 t_dead "$SH"
mkfifo "$D/hold.in"
timeout 300 $PY "$RAW" "$GP" "$PKI" cn hold "$MANY" conc- <"$D/hold.in" >"$D/hold.out" 2>&1 &
HOLD=$!
T_PIDS+=("$HOLD")
exec 8>"$D/hold.in"
t_wait 280 grep -q connected= "$D/hold.out"
t_is "$(cat "$D/hold.out")" "connected=$MANY pinged=$MANY" \
	"$MANY concurrent TLS clients connected and answered PINGREQ"
t_is "$(raw cn v5packet one-more c000)" "CONNACK rc=151 CLOSED" \
	"one more than max_connections_per_identity: CONNACK 0x97 (quota exceeded)"
t_grep "... as an mqtt.too_many_connections event" '"kind":"mqtt.too_many_connections"' "$LOG"
exec 8>&-
t_ok "zonegated is still alive" t_alive "$ZG_CHILD"
zg_stop
t_is "$T_STATUS" 0 "zonegated stops cleanly (exit 0)"
[ "$T_STATUS" = 0 ] || t_diag "$(grep -A40 -E 'ERROR|SUMMARY|runtime error' "$LOG" | head -60)"
t_done
