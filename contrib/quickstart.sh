#!/usr/bin/env bash
# contrib/quickstart.sh: from a fresh Debian 12 checkout to a running
# gateway in one command.  Installs the packages, builds zonegate, starts
# the bundled PLC simulator on 127.0.0.1:1502 (where conf/zonegate.conf
# expects the PLC), runs zonegated on conf/zonegate.conf, shows a few
# requests through it (allowed and denied), and keeps running until
# Ctrl-C (or SIGTERM), which stops both cleanly.
#
#   ZG_SKIP_DEPS=1  do not run apt-get
#   ZG_CONF=FILE    run another configuration
#   ZG_DEMO_ONLY=1  stop after the demonstration requests (used by tests)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "${ZG_SKIP_DEPS:-0}" = 1 ] || bash contrib/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p _build/quickstart
cd _build/quickstart
[ -f Makefile ] || ../../configure -q
make -s -j"$(nproc)"

export ZONEGATE_PLUGIN_PATH="$PWD/plugins/example/.libs:$PWD/plugins/modbus/.libs"
conf=${ZG_CONF:-$top/conf/zonegate.conf}
run=$(mktemp -d)
pids=()
stop() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$run"
}
trap stop EXIT
trap 'exit 0' INT TERM

./gateway/zonegated -t -c "$conf"

echo
echo "== starting the PLC simulator on 127.0.0.1:1502 (contrib/plcsim)"
./contrib/plcsim/zg-plcsim -a 127.0.0.1 -p 1502 --demo --ready-file "$run/plc.port" \
	--set holding:0=100,101,102,103,104 2>"$run/plcsim.log" &
pids+=($!)
for _ in $(seq 500); do [ -s "$run/plc.port" ] && break; sleep 0.02; done
[ -s "$run/plc.port" ] || { cat "$run/plcsim.log"; echo "the simulator did not start (port 1502 busy?)"; exit 1; }

echo "== starting zonegated on $conf"
./gateway/zonegated -f -p "$run/zonegated.pid" -c "$conf" &
pids+=($!)
# Ready when the listener accepts (bounded wait).
for _ in $(seq 500); do (exec 3<>/dev/tcp/127.0.0.1/5020) 2>/dev/null && break; sleep 0.02; done

demo() { echo; echo "\$ $*"; "$@" 2>&1 | sed 's/^/    /' || true; }
echo
echo "== a client in zone ops talks to the PLC through zonegate (127.0.0.1:5020)"
demo mbpoll -m tcp -p 5020 -a 1 -t 4 -r 1 -c 5 -0 -1 127.0.0.1
demo mbpoll -m tcp -p 5020 -a 1 -t 4 -r 12 -0 -1 127.0.0.1 42
demo mbpoll -m tcp -p 5020 -a 1 -t 4 -r 25 -0 -1 127.0.0.1 1234
echo
echo "The last write was denied (holding register 25 is outside the conduit's write"
echo "range 10-19): the gateway answered exception 0x01 and logged a security event."
echo "Ask the policy why:"
demo ./gateway/zonegatectl -c "$conf" explain hmi-legacy plc-1 modbus write-register 25 1234 --assurance address

[ "${ZG_DEMO_ONLY:-0}" = 1 ] && exit 0
cat <<TXT

zonegated keeps running (Ctrl-C stops it).  From another terminal:
  mbpoll -m tcp -p 5020 -a 1 -t 4 -r 1 -c 10 -0 127.0.0.1    # poll through the gateway
  kill -HUP \$(cat $run/zonegated.pid)                        # reload the configuration
TXT
wait "${pids[1]}"
