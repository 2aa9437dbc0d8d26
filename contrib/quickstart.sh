#!/usr/bin/env bash
# contrib/quickstart.sh: from a fresh Debian 12 checkout to a running
# gateway with telemetry in one command.
#
#  1. installs the packages (contrib/install-deps.sh, apt-get) and builds
#     zonegate in _build/quickstart;
#  2. makes the test PKI in conf/examples/pki (contrib/pki/mkpki.sh);
#  3. starts the bundled PLC simulator on 127.0.0.1:1502, Debian's mosquitto
#     broker with its own configuration in a temporary directory (a TLS
#     listener on 127.0.0.1:8883 that requires client certificates; the
#     system service is not touched) and a mosquitto_sub subscriber with a
#     client certificate;
#  4. runs zonegated on conf/examples/telemetry.conf: the Modbus proxy of
#     conf/zonegate.conf on 127.0.0.1:5020, plus the poller, the durable
#     spool and the MQTT/TLS uplink;
#  5. shows telemetry arriving at the subscriber, requests through the
#     proxy (allowed read and write, denied write), the security event of the
#     denial arriving over MQTT too, `zonegatectl explain' and
#     `zonegatectl uplinks';
#  6. keeps running, printing telemetry as it arrives, until Ctrl-C (or
#     SIGTERM), which stops every process it started.
#
# Needs no terminal: every wait polls for readiness with a deadline.
#
#   ZG_SKIP_DEPS=1  do not run apt-get
#   ZG_DEMO_ONLY=1  stop after the demonstration (used by tests)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "${ZG_SKIP_DEPS:-0}" = 1 ] || bash contrib/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p _build/quickstart
cd _build/quickstart
[ -f Makefile ] || ../../configure -q
make -s -j"$(nproc)"
build=$PWD

export ZONEGATE_PLUGIN_PATH="$build/plugins/modbus/.libs:$build/plugins/mqtt/.libs"
conf=$top/conf/examples/telemetry.conf
pki=$top/conf/examples/pki
run=$(mktemp -d "${TMPDIR:-/tmp}/zonegate-quickstart.XXXXXX")
pids=()
# Stop what was started, newest first, each before the next (the gateway
# before the broker and the PLC it talks to).
stop() {
	local i
	trap - EXIT INT TERM
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	rm -rf "$run"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT command...: poll the command until it succeeds.
wait_for() {
	local end=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "quickstart: $what did not happen within the deadline" >&2
			return 1
		fi
		sleep 0.05
	done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_free() {
	if port_open "$1"; then
		echo "quickstart: 127.0.0.1:$1 is in use ($2 needs it); stop what listens there:" >&2
		ss -ltnp "sport = :$1" >&2 2>/dev/null || true
		exit 1
	fi
}
alive() { kill -0 "$1" 2>/dev/null; }
show() { echo; echo "\$ $*"; "$@" 2>&1 | sed 's/^/    /' || true; }

for p in 1502:zg-plcsim 8883:mosquitto 5020:zonegated 9187:zonegated; do
	port_free "${p%%:*}" "${p#*:}"
done

echo
echo "== test PKI in conf/examples/pki (contrib/pki/mkpki.sh; test keys, unprotected)"
bash "$top/contrib/pki/mkpki.sh" "$pki"
./gateway/zonegated -t -c "$conf" >/dev/null

echo
echo "== PLC simulator on 127.0.0.1:1502 (contrib/plcsim, demo register map)"
./contrib/plcsim/zg-plcsim -a 127.0.0.1 -p 1502 --demo --ready-file "$run/plc.port" \
	--set holding:0=215,1,102,103,104 2>"$run/plcsim.log" &
pids+=($!)
wait_for 10 "the simulator listening" test -s "$run/plc.port" || { cat "$run/plcsim.log"; exit 1; }

echo "== mosquitto on 127.0.0.1:8883: TLS, client certificate required ($run/mosquitto.conf)"
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
cat >"$run/mosquitto.conf" <<C
user $(id -un)
persistence false
log_dest file $run/mosquitto.log
listener 8883 127.0.0.1
cafile $pki/ca.crt
certfile $pki/server.crt
keyfile $pki/server.key
require_certificate true
allow_anonymous true
C
"$mosquitto" -c "$run/mosquitto.conf" >"$run/mosquitto.out" 2>&1 &
pids+=($!)
mqpid=$!
wait_for 10 "mosquitto listening on 8883" port_open 8883 || { cat "$run/mosquitto.out" "$run/mosquitto.log"; exit 1; }

sub=(-h 127.0.0.1 -p 8883 --cafile "$pki/ca.crt" --cert "$pki/client-cn.crt" --key "$pki/client-cn.key")
mosquitto_sub "${sub[@]}" -q 1 -t 'zonegate/#' -t quickstart/probe -v >"$run/telemetry" 2>"$run/sub.err" &
pids+=($!)
subpid=$!
probe() {
	mosquitto_pub "${sub[@]}" -q 1 -t quickstart/probe -m subscribed 2>/dev/null
	grep -q '^quickstart/probe subscribed' "$run/telemetry"
}
wait_for 10 "the subscriber" probe || { cat "$run/sub.err"; exit 1; }
echo "   subscriber: mosquitto_sub ${sub[*]} -q 1 -t 'zonegate/#' -v"

# The admin socket (zonegatectl) lives in the build's run-state directory
# (RUNSTATEDIR, /usr/local/var/run for this build), which only
# `make install' would create.
sock=$(./gateway/zonegated -t -c "$conf" 2>/dev/null | sed -n 's/^  admin socket: \(.*\) (mode.*/\1/p')
# Group zonegate may write there: the daemon runs as user zonegate after
# start-up and removes its socket when it stops.
if [ -n "$sock" ] && [ ! -d "$(dirname "$sock")" ]; then
	if getent group zonegate >/dev/null; then
		install -d -m 0775 -g zonegate "$(dirname "$sock")"
	else
		mkdir -p "$(dirname "$sock")"
	fi
fi

echo
echo "== zonegated on conf/examples/telemetry.conf"
./gateway/zonegated -f -p "$run/zonegated.pid" -c "$conf" 2> >(tee "$run/zonegated.log" >&2) &
pids+=($!)
zgpid=$!
zg_ready() { grep -qs ' ready: ' "$run/zonegated.log" || ! alive "$zgpid"; }
wait_for 20 "zonegated ready" zg_ready
alive "$zgpid" || { echo "quickstart: zonegated exited (its log is above)" >&2; exit 1; }

# Messages of this run: sequence numbers from the spool's next one at
# start (a spool left by an earlier run sends what it still held first).
first=$(sed -n 's/.*info: spool .* next seq \([0-9]*\),.*/\1/p' "$run/zonegated.log" | head -n 1)
new() { awk -v first="${first:-1}" -v pat="$1" '$0 ~ pat && match($0, /"seq":[0-9]+/) &&
	substr($0, RSTART + 6, RLENGTH - 6) + 0 >= first' "$run/telemetry"; }

echo
echo "== telemetry arrives at the broker: poller -> spool -> MQTT/TLS -> mosquitto_sub"
two_messages() { [ "$(new '/telemetry/plc-1 ' | wc -l)" -ge 2 ]; }
wait_for 20 "telemetry at the subscriber" two_messages
new '/telemetry/plc-1 ' | head -n 2 | sed 's/^/    /'

echo
echo "== a client in zone ops talks to the PLC through zonegate (127.0.0.1:5020)"
show mbpoll -m tcp -p 5020 -a 1 -t 4 -r 1 -c 5 -0 -1 127.0.0.1
show mbpoll -m tcp -p 5020 -a 1 -t 4 -r 12 -0 -1 127.0.0.1 42
show mbpoll -m tcp -p 5020 -a 1 -t 4 -r 25 -0 -1 127.0.0.1 1234
echo
echo "The last write was denied (holding register 25 is outside the conduit's write"
echo "range 10-19): the gateway answered exception 0x01 and raised a security event,"
echo "which travels northbound like the telemetry:"
denied='/events/security .*"kind":"modbus.denied"'
has_event() { [ -n "$(new "$denied")" ]; }
wait_for 10 "the security event at the subscriber" has_event &&
	new "$denied" | head -n 1 | sed 's/^/    /'
echo
echo "Ask the policy why:"
show ./gateway/zonegatectl -c "$conf" explain hmi-legacy plc-1 modbus write-register 25 1234 --assurance address
echo
echo "The uplink and what it still owes (0 while the broker keeps up):"
show ./gateway/zonegatectl -c "$conf" uplinks

[ "${ZG_DEMO_ONLY:-0}" = 1 ] && exit 0
cat <<TXT

zonegated keeps running (Ctrl-C stops everything this script started).  From another terminal:
  mbpoll -m tcp -p 5020 -a 1 -t 4 -r 1 -c 10 -0 127.0.0.1   # poll through the gateway
  $build/gateway/zonegatectl -c $conf uplinks                # uplink state, spool depth
  kill -STOP $mqpid    # freeze the broker: \`zonegatectl uplinks' shows the spool filling up
  kill -CONT $mqpid    # and draining once it is back
  curl -s http://127.0.0.1:9187/metrics | grep uplink        # the same as metrics
  kill -HUP \$(cat $run/zonegated.pid)                        # reload the configuration

Telemetry as it arrives at the broker:
TXT
tail -n 0 -f "$run/telemetry" --pid="$zgpid" &
pids+=($!)
wait "$zgpid"
