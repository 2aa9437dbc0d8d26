#!/usr/bin/env bash
# Learning mode end to end: for a configured period the threat engine
# records what each (identity, device) pair does; `zonegatectl learned'
# exports it as conduits that zonegated -t accepts; afterwards the same
# traffic raises nothing, and deviations (an address, a function never
# used, an identity never seen) are detections.  Clients: mbpoll,
# pymodbus (mbtool.py) and a TLS client certificate for the new identity.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
CTL="$top_builddir/gateway/zonegatectl"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus python3-serial-asyncio"
command -v mbpoll >/dev/null || t_skip_all "mbpoll missing: apt-get install mbpoll"

t_plan 24
D=$T_TMP
SOCK=$D/zg.sock
LOG=$D/gw.log
EV=$D/events.jsonl
PKI=$D/pki
t_ok "test PKI made with the openssl CLI" \
	bash -c "bash '$top_srcdir/contrib/pki/mkpki.sh' '$PKI' >/dev/null 2>&1"
"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22,33 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
GT=$(t_free_port)
cat >"$D/head.conf" <<C
gateway = { id = "gw-learn-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
admin = { socket = "$SOCK"; };
events = { file = "$EV"; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "spiffe://plant.example/operator-1"; zone = "ops"; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; } );
  listeners = (
    { listen = "127.0.0.1:$GW"; device = "plc-1"; },
    { listen = "127.0.0.1:$GT"; device = "plc-1";
      tls = { cert = "$PKI/server.crt"; key = "$PKI/server.key"; ca = "$PKI/ca.crt"; }; }
  );
}; } );
C
cat "$D/head.conf" - >"$D/gw.conf" <<C
threat = { learning = 5.0; };
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3, 6, 16];
               read = { holding_registers = ["0-99"]; };
               write = { holding_registers = ["10-19"]; }; }; }
);
C
t_ok "zonegated learning for 5 s is ready" zg_start "$D/gw.conf" "$LOG"
mbt() { $PY "$MBT" "$@"; }
poll() { mbpoll -m tcp -p "$GW" -a 1 -t 4 -r 0 -c 3 -0 -1 127.0.0.1 2>&1; }

# --- while learning: the plant's normal traffic ---------------------------------------
st=$("$CTL" --socket "$SOCK" --json learned | $PY -c 'import json,sys; print(json.load(sys.stdin)["state"])')
t_is "$st" "learning" "zonegatectl learned: learning"
t_ok "mbpoll reads holding 0-2" grep -qE '^\[0\]:[[:space:]]+11' <<<"$(poll)"
t_is "$(mbt write "$GW" 1 12 42)" "OK" "pymodbus writes holding 12"
t_ok "learning finishes" t_wait 20 bash -c "[ \"\$(\"$CTL\" --socket '$SOCK' --json learned | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = finished ]"
t_grep "  ... with an event" '"kind":"threat.learning_done"' "$EV"

# --- the export ---------------------------------------------------------------------------
"$CTL" --socket "$SOCK" learned >"$D/learned.conf"
t_ok "zonegatectl learned prints a conduit from ops to plc-1" \
	grep -qE 'from = "ops"; device = "plc-1";' "$D/learned.conf"
t_ok "  ... with the functions, unit and ranges used" \
	bash -c 'grep -q "units = \[1\];" "$1" && grep -q "functions = (3, 6);" "$1" &&
		grep -qF "read = { holding_registers = (\"0-2\"); };" "$1" &&
		grep -qF "write = { holding_registers = (\"12\"); };" "$1"' _ "$D/learned.conf"
cat "$D/head.conf" "$D/learned.conf" >"$D/adopted.conf"
out=$("$ZONEGATED" -t -c "$D/adopted.conf" 2>&1)
t_is "$?" 0 "zonegated -t accepts a configuration with the learned conduits"
t_ok "  ... and counts the conduit" grep -qiE 'conduit' <<<"$out"

# --- after learning -------------------------------------------------------------------------
t_ok "the learned poll again" grep -qE '^\[0\]:[[:space:]]+11' <<<"$(poll)"
t_is "$(t_count '"kind":"threat.detection"' "$EV")" 0 "  ... raises no detection"
t_is "$(mbt read "$GW" 1 50 2)" "0 0" "a read of holding 50 (allowed by the policy, never used)"
t_ok "  ... baseline.deviation names the address" t_wait 10 \
	grep -qE '"detection":"baseline.deviation".*"evidence":"[^"]*read of holding_registers 50-51 is outside the learned ranges' "$EV"
out=$(MBT_TLS="$PKI/ca.crt:$PKI/client-role.crt:$PKI/client-role.key" $PY "$MBT" read "$GT" 1 0 1)
t_ok "an identity never seen while learning: source.new (T0859)" t_wait 10 \
	grep -qE '"identity":"spiffe://plant.example/operator-1".*"detection":"source.new","technique":"T0859"' "$EV"
t_ok "zonegated stops cleanly" zg_stop

# --- a full disk: events are not dropped silently -------------------------------------------
MP=$(t_free_port)
sed "s|events = { file = \"$EV\"; };|events = { file = \"/dev/full\"; };\nmetrics = { listen = \"127.0.0.1:$MP\"; };|" "$D/gw.conf" >"$D/full.conf"
t_ok "zonegated with its event log on /dev/full is ready" zg_start "$D/full.conf" "$D/full.log"
t_is "$(mbt write "$GW" 1 12 1)" "OK" "a write (an audit record that cannot be stored)"
t_ok "  ... the daemon log says events are being lost, with a count" t_wait 10 \
	grep -q 'event log /dev/full: write failed ([0-9]* events lost so far; they still go to the daemon log)' "$D/full.log"
t_grep "  ... and the event itself is in the daemon log" '"kind":"audit.write".*"values":\[1\]' "$D/full.log"
lost=$(curl -sS --max-time 10 "http://127.0.0.1:$MP/metrics" | grep '^zonegate_events_lost_total{sink="event_log"} ')
t_ok "  ... and the metrics count them: $lost" bash -c '[ "${1##* }" -ge 1 ]' _ "$lost"
t_ok "zonegated stops cleanly" zg_stop
t_done
