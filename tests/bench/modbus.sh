#!/usr/bin/env bash
# Modbus/TCP throughput and latency: direct (client -> simulator) against
# proxied (client -> zonegate -> simulator), plain and Modbus/TCP Security
# (TLS between client and zonegate; the PLC side is plain, as with a real
# PLC), measured in the same run with 1 and 16 client connections.
# Reports requests/s, latency percentiles, the throughput ratio
# proxied/direct and the added median latency, and where the CPU went:
# microseconds of CPU (user + system) per request spent by the client,
# by zonegated and by the simulator (the machine is shared by all three).
#
#   make bench            (or: top_builddir=... bash tests/bench/modbus.sh)
#   ZG_BENCH_SECONDS=N    seconds per measurement (default 5)
#
# Timings are for reading, never for pass/fail: the machine is shared.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
SECS=${ZG_BENCH_SECONDS:-5}
SIM="$top_builddir/contrib/plcsim/zg-plcsim"
GWD="$top_builddir/gateway/zonegated"
MBB="$top_builddir/tests/bench/mbbench"
export ZONEGATE_PLUGIN_PATH="$top_builddir/plugins/modbus/.libs"
D=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$D"' EXIT

wait_file() { local end=$((SECONDS + 20)); until [ -s "$1" ]; do [ $SECONDS -ge $end ] && return 1; sleep 0.02; done; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$SIM" -p 0 --ready-file "$D/sim.port" --set holding:0=1,2,3,4,5,6,7,8,9,10 >"$D/sim.log" 2>&1 &
pids+=($!)
wait_file "$D/sim.port" || { echo "simulator did not start"; exit 1; }
SP=$(cat "$D/sim.port")
GP=$(free_port)
GT=$(free_port)
bash "$top_srcdir/contrib/pki/mkpki.sh" "$D/pki" >/dev/null 2>&1 || { echo "cannot make the test PKI"; exit 1; }
TLSARGS=("$D/pki/ca.crt" "$D/pki/client-uri.crt" "$D/pki/client-uri.key")
cat >"$D/gw.conf" <<C
gateway = { id = "bench"; pidfile = "$D/pid"; };
log = { level = "info"; };
zones = ( { name = "ops"; }, { name = "cell"; } );
devices = (
  { identity = "bench-client"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "spiffe://plant.example/hmi-1"; zone = "ops"; },
  { identity = "plc"; zone = "cell"; address = "127.0.0.1:$SP"; unit = 1; }
);
conduits = ( { name = "bench"; from = "ops"; to = "cell";
  modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; } );
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc"; address = "127.0.0.1:$SP"; connections = 1; max_inflight = 16; queue = 4096; } );
  listeners = ( { listen = "127.0.0.1:$GP"; device = "plc"; max_outstanding = 1000; },
                { listen = "127.0.0.1:$GT"; device = "plc"; max_outstanding = 1000;
                  tls = { cert = "$D/pki/server.crt"; key = "$D/pki/server.key"; ca = "$D/pki/ca.crt"; }; } );
}; } );
C
"$GWD" -f -S -c "$D/gw.conf" >"$D/gw.log" 2>&1 &  # -S: the measured pid is the gateway, not its supervisor
pids+=($!)
end=$((SECONDS + 20))
until grep -q ' ready: ' "$D/gw.log"; do
	[ $SECONDS -ge $end ] && { echo "zonegated did not start"; cat "$D/gw.log"; exit 1; }
	sleep 0.02
done
SIMPID=${pids[0]}
GWPID=${pids[1]}
HZ=$(getconf CLK_TCK)
# CPU ticks (user + system) of a process so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# One measurement: mbbench's line plus gw_us= and sim_us= (CPU per request).
measure() {
	local s0 g0 s1 g1 l r
	s0=$(ticks "$SIMPID"); g0=$(ticks "$GWPID")
	l=$("$MBB" "$@")
	s1=$(ticks "$SIMPID"); g1=$(ticks "$GWPID")
	r=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$l")
	awk -v l="$l" -v r="${r:-0}" -v hz="$HZ" -v sd=$((s1 - s0)) -v gd=$((g1 - g0)) \
		'BEGIN { if (r == 0) r = 1; printf "%s gw_us=%.1f sim_us=%.1f\n", l, gd * 1e6 / hz / r, sd * 1e6 / hz / r }'
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
echo "Modbus/TCP read 10 holding registers, closed loop, ${SECS}s each, loopback"
printf '%-6s %-12s %10s %8s %8s %8s   %s\n' conns path rps p50_us p90_us p99_us \
	"cpu_us/req: client gw sim"
for c in 1 16; do
	d=$(measure "$SP" "$c" "$SECS" 10)
	p=$(measure "$GP" "$c" "$SECS" 10)
	t=$(measure "$GT" "$c" "$SECS" 10 "${TLSARGS[@]}")
	for kind in direct proxied proxied-tls; do
		case $kind in direct) l=$d ;; proxied) l=$p ;; *) l=$t ;; esac
		printf '%-6s %-12s %10s %8s %8s %8s   %6s %6s %6s\n' "$c" "$kind" \
			"$(field rps "$l")" "$(field p50_us "$l")" "$(field p90_us "$l")" \
			"$(field p99_us "$l")" "$(field cpu_us "$l")" "$(field gw_us "$l")" \
			"$(field sim_us "$l")"
	done
	for kind in plain tls; do
		l=$p; [ $kind = tls ] && l=$t
		awk -v c="$c" -v k="$kind" -v dr="$(field rps "$d")" -v pr="$(field rps "$l")" \
			-v dl="$(field p50_us "$d")" -v pl="$(field p50_us "$l")" \
			'BEGIN { printf "conns=%s %s: throughput ratio proxied/direct = %.2f, added median latency = %d us\n", c, k, pr/dr, pl-dl }'
	done
done
