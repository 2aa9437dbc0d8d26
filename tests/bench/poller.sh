#!/usr/bin/env bash
# The poller's throughput against a plain client reading the same
# registers, in the same run: zg-plcsim holds 120 holding registers (75
# points: float32, int32, uint16, scaled int16); a closed-loop client
# (tests/bench/mbbench, one connection) reads them as fast as it can, then
# zonegated polls them through policy, the shared device connection (one
# connection, one request in flight, like the client) and the decoder,
# with NGROUPS groups on a 10 ms interval, so the device connection and not
# the intervals is the limit (cycles that find the last one running are
# skipped).  Reports points/s both ways, the ratio, and the daemon's CPU
# time per point.  Every message is counted from its debug log line
# ("emit telemetry/..."), so logging is part of the cost measured.
#
# Then the whole northbound path, when Debian's mosquitto is installed:
# the same poller, every message through the durable spool (fsync =
# "batch": one fdatasync per loop iteration) and the MQTT uplink (MQTT 5,
# mutual TLS, QoS 1) to a local mosquitto broker requiring client
# certificates, counted at a mosquitto_sub subscriber (points/s that
# arrive, against the same direct read), and what the uplink still owed
# at the end (zonegatectl uplinks).
#
#   make bench            (or: top_builddir=... bash tests/bench/poller.sh)
#   ZG_BENCH_SECONDS=N    seconds per measurement (default 5)
#   ZG_BENCH_GROUPS=N     poll groups (default 64)
#
# Timings are for reading, never for pass/fail: the machine is shared.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
SECS=${ZG_BENCH_SECONDS:-5}
NGROUPS=${ZG_BENCH_GROUPS:-64}
SIM="$top_builddir/contrib/plcsim/zg-plcsim"
GWD="$top_builddir/gateway/zonegated"
MBB="$top_builddir/tests/bench/mbbench"
export ZONEGATE_PLUGIN_PATH="$top_builddir/plugins/modbus/.libs:$top_builddir/plugins/mqtt/.libs"
D=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$D"' EXIT

wait_file() { local end=$((SECONDS + 20)); until [ -s "$1" ]; do [ $SECONDS -ge $end ] && return 1; sleep 0.02; done; }

"$SIM" -p 0 --ready-file "$D/sim.port" >"$D/sim.log" 2>&1 &
pids+=($!)
wait_file "$D/sim.port" || { echo "simulator did not start"; exit 1; }
SP=$(cat "$D/sim.port")

# 75 points in holding 0..119: per 8 registers f32 ABCD, i32 CDAB, u16, i16*0.1, f32 DCBA.
points=""
for ((a = 0; a < 120; a += 8)); do
	points+="{ name = \"f$a\"; address = $a; type = \"float32\"; },
	{ name = \"i$a\"; address = $((a + 2)); type = \"int32\"; order = \"CDAB\"; },
	{ name = \"u$a\"; address = $((a + 4)); },
	{ name = \"s$a\"; address = $((a + 5)); type = \"int16\"; scale = 0.1; },
	{ name = \"d$a\"; address = $((a + 6)); type = \"float32\"; order = \"DCBA\"; },
	"
done
groups=""
for ((g = 0; g < NGROUPS; g++)); do
	# The same registers under other names: point names are per device.
	groups+="{ name = \"g$g\"; device = \"plc\"; interval = 0.01; report = \"always\";
	  points = ( $(sed "s/name = \"\\([a-z]\\)/name = \"g$g.\\1/g" <<<"${points%,*}") ); },"
done
cat >"$D/gw.conf" <<C
gateway = { id = "bench"; pidfile = "$D/pid"; };
log = { level = "debug"; };
zones = ( { name = "scada"; }, { name = "cell"; } );
devices = (
  { identity = "poller"; zone = "scada"; },
  { identity = "plc"; zone = "cell"; address = "127.0.0.1:$SP"; unit = 1; }
);
conduits = ( { name = "bench"; from = "scada"; to = "cell";
  modbus = { units = [1]; read = { holding_registers = ["0-199"]; }; }; } );
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc"; address = "127.0.0.1:$SP"; connections = 1; max_inflight = 1; queue = 4096; } );
  poll = { identity = "poller"; groups = ( ${groups%,} ); };
}; } );
C

echo "Poller vs a plain client: 120 holding registers = 75 points (float32, int32, uint16, scaled int16), ${SECS}s each, loopback"
direct=$("$MBB" "$SP" 1 "$SECS" 120)
rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$direct")

# -u "": the private 0700 directory is out of reach of the unprivileged
# user (the sandbox itself is measured by the tests, not here).
"$GWD" -f -S -c "$D/gw.conf" -u "" >"$D/gw.log" 2>&1 &  # -S: the CPU measured is the gateway's
gpid=$!
pids+=($gpid)
end=$((SECONDS + 20))
until grep -qs ' ready: ' "$D/gw.log"; do
	[ $SECONDS -ge $end ] && { echo "zonegated did not start"; tail "$D/gw.log"; exit 1; }
	sleep 0.02
done
sleep 1 # warm-up: connection up, first cycles done (not a synchronisation)
cpu() { awk '{ print $14 + $15 }' "/proc/$gpid/stat"; }
n0=$(grep -c 'emit telemetry/plc ' "$D/gw.log"); c0=$(cpu); t0=$(date +%s.%N)
sleep "$SECS"
n1=$(grep -c 'emit telemetry/plc ' "$D/gw.log"); c1=$(cpu); t1=$(date +%s.%N)
tck=$(getconf CLK_TCK)
awk -v rps="$rps" -v n=$((n1 - n0)) -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v tck="$tck" -v g="$NGROUPS" '
BEGIN {
	dt = t1 - t0; dp = rps * 75; pp = n * 75 / dt;
	printf "  direct client (read 120 regs, no decoding)   %10.0f reads/s %10.0f points/s\n", rps, dp;
	printf "  poller (%d groups @ 10 ms, decode + JSON)     %10.0f reads/s %10.0f points/s\n", g, n / dt, pp;
	printf "  ratio poller/direct = %.2f; zonegated CPU %.1f%% = %.2f us per point\n",
		pp / dp, 100 * c / tck / dt, (pp > 0 ? 1e6 * c / tck / (pp * dt) : 0);
}'

# --- the northbound path: poller -> spool (fsync batch) -> MQTT/TLS -> subscriber
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if [ ! -x "$MOSQ" ] || ! command -v mosquitto_sub >/dev/null; then
	echo "  (northbound: mosquitto / mosquitto-clients not installed: skipped)"
	exit 0
fi
kill "$gpid" 2>/dev/null
wait "$gpid" 2>/dev/null
bash "$top_srcdir/contrib/pki/mkpki.sh" "$D/pki" >/dev/null 2>&1 || { echo "cannot make the test PKI"; exit 1; }
BP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$D/mosquitto.conf" <<C
user $(id -un)
persistence false
log_dest none
max_queued_messages 1000000
listener $BP 127.0.0.1
cafile $D/pki/ca.crt
certfile $D/pki/server.crt
keyfile $D/pki/server.key
require_certificate true
allow_anonymous true
C
"$MOSQ" -c "$D/mosquitto.conf" >"$D/mosquitto.log" 2>&1 &
pids+=($!)
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
end=$((SECONDS + 20))
until port_open "$BP"; do [ $SECONDS -ge $end ] && { echo "mosquitto did not start"; exit 1; }; sleep 0.02; done
CL=(-h 127.0.0.1 -p "$BP" --cafile "$D/pki/ca.crt" --cert "$D/pki/client-cn.crt" --key "$D/pki/client-cn.key")
mosquitto_sub "${CL[@]}" -q 1 -t 'zonegate/#' -t bench/probe >"$D/sub" 2>/dev/null &
pids+=($!)
end=$((SECONDS + 20))
until mosquitto_pub "${CL[@]}" -q 1 -t bench/probe -m probe 2>/dev/null && grep -q '^probe' "$D/sub"; do
	[ $SECONDS -ge $end ] && { echo "subscriber did not start"; exit 1; }
	sleep 0.05
done
# northbound FSYNC: one measurement with that fsync policy.
northbound() {
sed -e 's/level = "debug"/level = "info"/' \
    -e "s|^plugins = (|admin = { socket = \"$D/zg.sock\"; };\nspool = { dir = \"$D/spool\"; segment_size = \"16M\"; max_bytes = \"4G\"; fsync = \"$1\"; };\nplugins = (|" \
    -e "s|^}; } );|}; },\n  { name = \"mqtt\"; config = { host = \"127.0.0.1\"; port = $BP; ca = \"$D/pki/ca.crt\"; cert = \"$D/pki/client-dns.crt\"; key = \"$D/pki/client-dns.key\"; max_inflight = 1024; }; } );|" \
    "$D/gw.conf" >"$D/gw-nb-$1.conf"
rm -rf "$D/spool"
base=$(grep -c '^{' "$D/sub")
"$GWD" -f -S -c "$D/gw-nb-$1.conf" -u "" >"$D/gw-nb-$1.log" 2>&1 &  # -S: as above
gpid=$!
pids+=($gpid)
end=$((SECONDS + 20))
until grep -qs ' ready: ' "$D/gw-nb-$1.log"; do
	[ $SECONDS -ge $end ] && { echo "zonegated did not start"; tail "$D/gw-nb-$1.log"; exit 1; }
	sleep 0.02
done
end=$((SECONDS + 20))
until [ "$(grep -c '^{' "$D/sub")" -ge $((base + 100)) ]; do
	[ $SECONDS -ge $end ] && { echo "no telemetry at the subscriber"; tail "$D/gw-nb-$1.log"; exit 1; }
	sleep 0.05
done
sleep 1 # warm-up (not a synchronisation)
per=$(grep -m1 '^{' "$D/sub" | python3 -c 'import json,sys; print(len(json.loads(sys.stdin.readline())["points"]))')
n0=$(grep -c '^{' "$D/sub"); c0=$(cpu); t0=$(date +%s.%N)
sleep "$SECS"
n1=$(grep -c '^{' "$D/sub"); c1=$(cpu); t1=$(date +%s.%N)
owed=$("$top_builddir/gateway/zonegatectl" --socket "$D/zg.sock" --json uplinks |
	python3 -c 'import json,sys; u=json.load(sys.stdin)["uplinks"][0]; print(u["spool_depth"], u["sent"], u["acked"])')
awk -v rps="$rps" -v n=$((n1 - n0)) -v per="$per" -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v tck="$tck" -v owed="$owed" -v fs="$1" '
BEGIN {
	dt = t1 - t0; dp = rps * 75; pp = n * per / dt; split(owed, o, " ");
	printf "  poller -> spool (fsync %s) -> MQTT 5/TLS QoS 1 -> mosquitto -> mosquitto_sub:\n", fs;
	printf "    at the subscriber %10.0f msgs/s %10.0f points/s (%d points a message)\n", n / dt, pp, per;
	printf "  ratio northbound/direct = %.2f; zonegated CPU %.1f%%; uplink owed %d messages at the end (%d sent, %d acked)\n",
		pp / dp, 100 * c / tck / dt, o[1], o[2], o[3];
}'
	kill "$gpid" 2>/dev/null
	wait "$gpid" 2>/dev/null
}
northbound batch
northbound never
