#!/usr/bin/env bash
# Northbound end to end, against the direct path in the same run:
#
#   gateway: example plugin (load generator) -> bus -> spool (fsync batch)
#            -> mqtt plugin -> MQTT 5 / TLS, QoS 1 -> mosquitto -> subscriber
#   direct:  mosquitto_pub -l (QoS 1, TLS, same certificates) -> mosquitto
#            -> subscriber
#
# Both send ZG_BENCH_MESSAGES (20000) messages of about the same size; the
# time is from the producer's start to the subscriber having them all.
# Prints messages/s of each and the ratio gateway/direct.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/northbound-lib.sh"

N=${ZG_BENCH_MESSAGES:-20000}
D=$T_TMP
nb_pki || { echo "bench: cannot make the test PKI"; exit 1; }
nb_broker_conf "$(t_free_port)"
nb_broker_start || { echo "bench: broker did not start"; exit 1; }

now() { date +%s.%N; }

# sub_until FILE TOPIC: a subscriber, ready when it got a probe.
sub_until() {
	mosquitto_sub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 -t "$2" -t zgtest/probe \
		>"$1" 2>/dev/null &
	SUB_PID=$!
	T_PIDS+=("$SUB_PID")
	t_wait 10 nb_probe_plain "$1"
}
has_all() { [ "$(grep -c '"beat"' "$1")" -ge "$N" ]; }
nb_probe_plain() {
	mosquitto_pub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 -t zgtest/probe -m probe 2>/dev/null
	grep -q '^probe' "$1"
}

# direct
sub_until "$D/direct.out" bench/direct
python3 -c "import sys
line = '{\"gateway\":\"gw-bench\",\"seq\":%d,\"ts\":\"2026-12-03T10:00:00.000Z\",\"topic\":\"example/heartbeat\",\"zone\":null,\"source\":\"example\",\"beat\":%d}'
sys.stdout.write(''.join(line % (i, i) + '\n' for i in range(1, $N + 1)))" >"$D/lines"
t0=$(now)
mosquitto_pub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 -t bench/direct -l <"$D/lines"
t_wait 300 has_all "$D/direct.out" || { echo "bench: direct subscriber incomplete"; exit 1; }
t1=$(now)
direct=$(python3 -c "print(int($N / ($t1 - $t0)))")

# through the gateway
sub_until "$D/gw.out" 'zonegate/gw-bench/#'
cat >"$D/gw.conf" <<C
gateway = { id = "gw-bench"; pidfile = "$D/zonegated.pid"; };
log = { level = "warning"; };
spool = { dir = "$D/spool"; segment_size = "16M"; max_bytes = "1G"; fsync = "batch"; };
plugins = (
  { name = "example"; config = { heartbeat = 0.001; burst = 100; count = $N; }; },
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      max_inflight = 256; }; }
);
C
t0=$(now)
"$ZONEGATED" -f -c "$D/gw.conf" -u "" >"$D/gw.log" 2>&1 &  # the private 0700 test directory: no drop
ZG_PID=$!
T_PIDS+=("$ZG_PID")
t_wait 300 has_all "$D/gw.out" || { echo "bench: gateway subscriber incomplete"; tail -5 "$D/gw.log"; exit 1; }
t1=$(now)
gw=$(python3 -c "print(int($N / ($t1 - $t0)))")
got=$(grep -c '"beat"' "$D/gw.out")
echo "northbound end to end, $N messages, QoS 1 over TLS to a local mosquitto:"
printf '  %-48s %8s msg/s\n' "direct (mosquitto_pub -> broker -> sub)" "$direct"
printf '  %-48s %8s msg/s\n' "zonegate (emit -> spool -> mqtt -> broker -> sub)" "$gw"
printf '  ratio zonegate/direct: %s (subscriber got %s of %s)\n' \
	"$(python3 -c "print('%.2f' % ($gw / $direct))")" "$got" "$N"
