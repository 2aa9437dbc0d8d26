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
export ZONEGATE_PLUGIN_PATH="$top_builddir/plugins/modbus/.libs"
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

"$GWD" -f -c "$D/gw.conf" >"$D/gw.log" 2>&1 &
gpid=$!
pids+=($gpid)
end=$((SECONDS + 20))
until grep -q ' ready: ' "$D/gw.log"; do
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
