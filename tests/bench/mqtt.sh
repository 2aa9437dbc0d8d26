#!/usr/bin/env bash
# MQTT throughput and memory: the gateway's broker (plugins/mqttd: mutual
# TLS, every PUBLISH and every delivery decided by policy) against Debian's
# mosquitto with TLS and client certificates, same load, same run:
# publishers -> broker -> one subscriber, QoS 0 and 1, 100-byte payloads
# (tests/bench/mqbench, a libmosquitto client), then resident memory per
# idle TLS connection (tests/integration/mqttd-raw.py hold).  Prints
# messages/s, RSS/connection and the ratios gateway/mosquitto.  Memory is
# measured first, on fresh brokers.  Both
# brokers queue up to 1,000,000 messages per client, so that QoS 1 loses
# nothing and the rates compare the same work.
#
#   make bench            (or: top_builddir=... bash tests/bench/mqtt.sh)
#   ZG_BENCH_MESSAGES=N   messages per measurement (default 100000)
#   ZG_BENCH_PUBLISHERS=N publisher connections (default 4)
#   ZG_BENCH_CONNS=N      idle connections for the memory figure (default 500)
#
# Timings are for reading, never for pass/fail: the machine is shared.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
N=${ZG_BENCH_MESSAGES:-100000}
NP=${ZG_BENCH_PUBLISHERS:-4}
NC=${ZG_BENCH_CONNS:-500}
GWD="$top_builddir/gateway/zonegated"
MQB="$top_builddir/tests/bench/mqbench"
RAW="$top_srcdir/tests/integration/mqttd-raw.py"
export ZONEGATE_PLUGIN_PATH="$top_builddir/plugins/mqttd/.libs"
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQ" ] || { echo "mosquitto missing: apt-get install mosquitto"; exit 1; }
D=$(mktemp -d)
pids=()
trap 'exec 7>&- 2>/dev/null; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$D"' EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { local end=$((SECONDS + 20)); until port_open "$1"; do [ $SECONDS -ge $end ] && return 1; sleep 0.02; done; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

bash "$top_srcdir/contrib/pki/mkpki.sh" "$D/pki" >/dev/null 2>&1 || { echo "cannot make the test PKI"; exit 1; }
P=$D/pki
GP=$(free_port)
MP=$(free_port)
cat >"$D/mosquitto.conf" <<C
listener $MP 127.0.0.1
cafile $P/ca.crt
certfile $P/server.crt
keyfile $P/server.key
require_certificate true
allow_anonymous true
persistence false
max_queued_messages 1000000
user $(id -un)
C
cat >"$D/gw.conf" <<C
gateway = { id = "bench"; pidfile = "$D/pid"; };
admin = { socket = "$D/sock"; };
log = { level = "warning"; };
zones = ( { name = "line-a"; }, { name = "supervision"; }, { name = "site"; } );
devices = (
  { identity = "hmi-3"; zone = "line-a"; },
  { identity = "spiffe://plant.example/hmi-1"; zone = "supervision"; },
  { identity = "mqtt-broker"; zone = "site"; }
);
conduits = (
  { name = "a"; from = "line-a"; device = "mqtt-broker"; require_assurance = "certificate";
    mqtt = { publish = ["site/%u/#"]; }; },
  { name = "s"; from = "supervision"; device = "mqtt-broker"; require_assurance = "certificate";
    mqtt = { subscribe = ["site/#"]; }; }
);
plugins = ( { name = "mqttd"; config = {
  broker = "mqtt-broker"; client_id = "*";
  max_connections_per_identity = 100000; max_queued = 1000000;
  listeners = ( { listen = "127.0.0.1:$GP"; max_connections_per_source = 100000;
    tls = { cert = "$P/server.crt"; key = "$P/server.key"; ca = "$P/ca.crt"; }; } );
}; } );
C
"$MOSQ" -c "$D/mosquitto.conf" >"$D/mosquitto.log" 2>&1 &
MPID=$!
pids+=($MPID)
"$GWD" -f -S -c "$D/gw.conf" >"$D/gw.log" 2>&1 &  # -S: the measured pid is the gateway, not its supervisor
GPID=$!
pids+=($GPID)
wait_port "$MP" || { echo "mosquitto did not start"; cat "$D/mosquitto.log"; exit 1; }
wait_port "$GP" || { echo "zonegated did not start"; cat "$D/gw.log"; exit 1; }

declare -A RATE RSS
run() { # name port qos
	local out
	out=$("$MQB" 127.0.0.1 "$2" "$P/ca.crt" "$P/client-cn.crt" "$P/client-cn.key" \
		"$P/client-uri.crt" "$P/client-uri.key" "spiffe://plant.example/hmi-1" \
		"site/hmi-3/bench" "$3" "$NP" "$N" 100)
	echo "  $1 QoS $3: $out"
	RATE[$1$3]=$(sed -n 's/.*: \([0-9]*\) msg\/s/\1/p' <<<"$out")
}
# Memory first, on fresh brokers: after the throughput runs their heaps
# hold freed queue memory that new connections would reuse.
mem() { # name port pid
	local before after
	before=$(rss_kb "$3")
	mkfifo "$D/hold.$1"
	/usr/bin/python3 "$RAW" "$2" "$P" cn hold "$NC" "mem-$1-" <"$D/hold.$1" >"$D/hold.$1.out" 2>&1 &
	local hp=$!
	exec 7>"$D/hold.$1"
	local end=$((SECONDS + 120))
	until grep -q connected= "$D/hold.$1.out"; do [ $SECONDS -ge $end ] && break; sleep 0.1; done
	after=$(rss_kb "$3")
	exec 7>&-
	wait "$hp" 2>/dev/null
	RSS[$1]=$(( (after - before) * 1024 / NC ))
	echo "  $1: $(cat "$D/hold.$1.out"); RSS $before kB -> $after kB: ${RSS[$1]} bytes per connection"
}
echo "== memory per idle TLS connection ($NC connections)"
mem mosquitto "$MP" "$MPID"
mem gateway "$GP" "$GPID"

echo "== MQTT: $NP publishers -> broker -> 1 subscriber, $N messages of 100 bytes, TLS with client certificates"
for q in 0 1; do
	run mosquitto "$MP" $q
	run gateway "$GP" $q
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "== ratios gateway / mosquitto"
echo "  throughput QoS 0: $(ratio "${RATE[gateway0]:-0}" "${RATE[mosquitto0]:-0}")"
echo "  throughput QoS 1: $(ratio "${RATE[gateway1]:-0}" "${RATE[mosquitto1]:-0}")"
echo "  memory per connection: $(ratio "${RSS[gateway]:-0}" "${RSS[mosquitto]:-0}")"
