#!/usr/bin/env bash
# Security events reach syslog: zonegated with log.target = "syslog" runs in
# a private mount namespace whose /dev/log is a datagram socket this test
# reads (a real glibc syslog(3) client, no syslog daemon needed and the
# machine's /dev untouched).  Every event of the event log arrives there,
# with the configured facility, warning priority for severity medium and
# above and info below.  Skipped where mount namespaces are not allowed.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus python3-serial-asyncio"
D=$T_TMP
mkdir "$D/dev"
# ns CMD...: run CMD with $D/dev as /dev (the devices a daemon needs bound in).
cat >"$D/ns.sh" <<'S'
#!/bin/sh
dev=$1; shift
mount --make-rprivate / || exit 97
for n in null zero full random urandom; do
	[ -e "$dev/$n" ] || touch "$dev/$n" || exit 97
	mount --bind "/dev/$n" "$dev/$n" || exit 97
done
mount --rbind "$dev" /dev || exit 97
exec "$@"
S
chmod +x "$D/ns.sh"
unshare -m "$D/ns.sh" "$D/dev" true 2>/dev/null ||
	t_skip_all "no mount namespace here (unshare -m needs CAP_SYS_ADMIN)"

t_plan 11
# The syslog socket: one datagram per line in syslog.out.
$PY - "$D/dev/log" "$D/syslog.out" <<'P' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
P
T_PIDS+=($!)
t_ok "a datagram socket listens where the daemon's /dev/log will be" t_wait 10 test -S "$D/dev/log"

"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-syslog-test"; pidfile = "$D/zonegated.pid"; };
log = { target = "syslog"; facility = "local3"; format = "json"; level = "info"; };
events = { file = "$D/events.jsonl"; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3, 6];
               read = { holding_registers = ["0-99"]; };
               write = { holding_registers = ["10-19"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; } );
  listeners = ( { listen = "127.0.0.1:$GW"; device = "plc-1"; } );
}; } );
C
unshare -m "$D/ns.sh" "$D/dev" "$ZONEGATED" -f -c "$D/gw.conf" -u "" >"$D/gw.err" 2>&1 &
ZG_PID=$!
T_PIDS+=("$ZG_PID")
t_ok "zonegated logging to syslog is ready (said through syslog)" \
	t_wait 20 grep -q 'ready: ' "$D/syslog.out"
t_is "$(grep -v ": warning: " "$D/gw.err")" "" "  ... nothing on stderr but the start-up risk warnings"

t_is "$($PY "$MBT" write "$GW" 1 12 42)" "OK" "pymodbus: an allowed write (audit.write, severity info)"
t_is "$($PY "$MBT" write "$GW" 1 25 7)" "EXC 1" "pymodbus: a write outside the range is refused (modbus.denied, high; a detection)"
t_ok "  ... the event log has the detection" \
	t_wait 10 grep -q '"detection":"modbus.address_range"' "$D/events.jsonl"
# Syslog lines: "<PRI>... zonegated[PID]: {json}"; local3 = 19.
chk() {
	$PY - "$D/events.jsonl" "$D/syslog.out" "$1" <<'P'
import json, re, sys
events = [json.loads(l) for l in open(sys.argv[1])]
got = {}
for line in open(sys.argv[2], errors="replace"):
    m = re.match(r"<(\d+)>.*?zonegated\[\d+\]: (\{.*\})\s*$", line)
    if not m:
        continue
    d = json.loads(m.group(2))
    if d.get("component") == "event":
        got[d["event"]["seq"]] = (int(m.group(1)), d["event"])
what = sys.argv[3]
if what == "all":
    missing = [e["seq"] for e in events if e["seq"] not in got]
    print("all %d" % len(events) if not missing else "missing %s" % missing)
elif what == "same":
    print(all(got[e["seq"]][1] == e for e in events if e["seq"] in got))
else:
    pri = {e["kind"] + "/" + e["severity"]: got[e["seq"]][0] for e in events if e["seq"] in got}
    print(pri.get(what, "absent"))
P
}
arrived() { [ "$(grep -c '"component":"event"' "$D/syslog.out")" -ge "$(wc -l <"$D/events.jsonl")" ]; }
t_wait 10 arrived
n=$(wc -l <"$D/events.jsonl")
t_is "$(chk all)" "all $n" "every event of the event log reaches syslog ($n events)"
t_is "$(chk same)" "True" "  ... each as the same JSON object"
t_is "$(chk audit.write/info) $(chk modbus.denied/high) $(chk threat.detection/medium)" \
	"158 156 156" "  ... facility local3: info for audit.write, warning for high and medium"

kill -TERM "$ZG_PID"
t_wait_exit "$ZG_PID" 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"
t_done
