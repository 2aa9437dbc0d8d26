#!/usr/bin/env bash
# The admin socket and zonegatectl against a running zonegated: status,
# runtime quarantine reaching an already-open Modbus session on its very
# next request, release, reload (good and broken), a daemon-less
# zonegatectl, and a misbehaving admin client.  No sleeps: every wait is
# on an answer line or a polled condition.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
CTL="$top_builddir/gateway/zonegatectl"
MBS="$top_srcdir/tests/integration/mbsession.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
[ -x "$PY" ] || t_skip_all "/usr/bin/python3 missing"

t_plan 48
D=$T_TMP
SOCK=$D/zg.sock
LOG=$D/gw.log

# --- no daemon -----------------------------------------------------------------
out=$("$CTL" --socket "$SOCK" status 2>&1)
t_is "$?" 2 "zonegatectl without a daemon exits 2"
t_ok "  ... and says why" grep -qF \
	"cannot connect to $SOCK: No such file or directory: zonegated is not running (start it with" <<<"$out"

# --- a device and the gateway ----------------------------------------------------
"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-admin-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
admin = { socket = "$SOCK"; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; } );
  listeners = ( { listen = "127.0.0.1:$GW"; device = "plc-1"; } );
}; } );
C
t_ok "zonegated -t shows the admin socket" \
	grep -qF "admin socket: $SOCK (mode 0660" <<<"$("$ZONEGATED" -t -c "$D/gw.conf")"
printf 'admin = { socket = "relative.sock"; mode = "0666"; colour = "red"; };\n' >"$D/bad-admin.conf"
out=$("$ZONEGATED" -t -c "$D/bad-admin.conf" 2>&1)
t_ok "bad admin section: relative path, mode for others, unknown key, each with file:line" \
	bash -c '[ $(grep -cE "bad-admin.conf:1: admin\.(socket|mode|colour)" <<<"$1") -eq 3 ]' _ "$out"
t_ok "zonegated with an admin socket is ready" zg_start "$D/gw.conf" "$LOG"
t_ok "the socket exists, mode 0660" bash -c "[ \"\$(stat -c %a '$SOCK')\" = 660 ] && [ -S '$SOCK' ]"

# --- status -----------------------------------------------------------------------
out=$("$CTL" --socket "$SOCK" status)
t_is "$?" 0 "status exits 0"
t_ok "  ... human output names the gateway" grep -q '^gateway id: gw-admin-test$' <<<"$out"
t_ok "  ... and the plugin" grep -qE '^  modbus [0-9]' <<<"$out"
json=$("$CTL" --socket "$SOCK" --json status)
t_is "$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ok"], d["gateway_id"], d["pid"], d["plugins"][0]["name"], d["quarantined"], d["config"])' "$json")" \
	"True gw-admin-test $ZG_PID modbus 0 $D/gw.conf" "status --json: ok, gateway id, pid, plugins, quarantined, config"
t_ok "-c FILE finds the socket in admin.socket" bash -c "'$CTL' -c '$D/gw.conf' status | grep -q '^pid: $ZG_PID\$'"

# --- one open session, quarantined and released under it ------------------------------
coproc MBSESS { exec "$PY" "$MBS" "$GW"; }
T_PIDS+=("$MBSESS_PID")
MIN=${MBSESS[1]}
MOUT=${MBSESS[0]}
# mbs COMMAND: send it to the session and wait (10 s at most) for its answer.
mbs() { echo "$*" >&"$MIN"; ANS=NO-ANSWER; IFS= read -r -t 10 ANS <&"$MOUT"; }
ANS=NO-ANSWER; IFS= read -r -t 10 ANS <&"$MOUT"
t_is "$ANS" "CONNECTED" "a client session is open"
t_is "$(echo 'read 0 2' | "$PY" "$MBS" "$PLC" | tail -n 1)" "11 22" "the device answers directly"
mbs read 0 2
t_is "$ANS" "11 22" "the open session reads through zonegate"
out=$("$CTL" --socket "$SOCK" quarantine hmi-legacy)
t_is "$?" 0 "zonegatectl quarantine hmi-legacy"
t_ok "  ... says so" grep -q '^quarantined: true$' <<<"$out"
mbs read 0 2
t_is "$ANS" "EXC 1" "the SAME session's next read: exception 0x01"
t_grep "  ... the denial names the quarantine" \
	'"kind":"modbus.denied".*"identity":"hmi-legacy".*"reason":"identity hmi-legacy is quarantined"' "$LOG"
t_grep "  ... an admin.quarantine event names who asked" \
	'"severity":"high","kind":"admin.quarantine".*"identity":"hmi-legacy".*"detail":"quarantined on the admin socket by uid [0-9]+ pid [0-9]+"' "$LOG"
out=$("$CTL" --socket "$SOCK" --live explain hmi-legacy plc-1 modbus read-holding 0 2 --assurance address)
t_is "$?" 1 "explain --live asks the running gateway: the read is denied now (exit 1)"
t_ok "  ... because of the runtime quarantine, and it says so" \
	bash -c 'grep -q "^DENY: FC3 read holding 0..1 (2 regs) unit 1" <<<"$1" && grep -q "reason:    identity hmi-legacy is quarantined" <<<"$1" && grep -q "the identity is quarantined (zonegatectl release)" <<<"$1"' _ "$out"
"$CTL" -c "$D/gw.conf" explain hmi-legacy plc-1 modbus read-holding 0 2 --assurance address >/dev/null
t_is "$?" 0 "  ... while offline explain from the file allows it (the file knows no runtime state)"
out=$("$CTL" -c "$D/gw.conf" --live --json explain hmi-legacy plc-1 modbus write-register 5 1 --assurance address)
t_is "$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["decision"], d["live"], d["quarantined"], d["reason"])' "$out")" \
	"deny True True identity hmi-legacy is quarantined" "explain --live --json (socket from -c FILE): one object with live and quarantined"
out=$("$CTL" --socket "$SOCK" quarantined)
t_ok "quarantined lists it" grep -qx '  hmi-legacy' <<<"$out"
t_is "$("$CTL" --socket "$SOCK" --json quarantined | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["identities"])')" \
	"1 ['hmi-legacy']" "quarantined --json"
out=$("$CTL" --socket "$SOCK" release hmi-legacy)
t_is "$?" 0 "zonegatectl release hmi-legacy"
mbs read 0 2
t_is "$ANS" "11 22" "the same session reads again"
t_grep "  ... an admin.release event" '"severity":"medium","kind":"admin.release".*"identity":"hmi-legacy"' "$LOG"
t_ok "quarantined is empty" bash -c "'$CTL' --socket '$SOCK' quarantined | grep -qx 'identities: (none)'"
out=$("$CTL" --socket "$SOCK" --live explain hmi-legacy plc-1 modbus read-holding 0 2 --assurance address)
t_is "$?" 0 "released: explain --live allows the read again"
t_ok "  ... naming the conduit and its file:line" grep -qF "rule:      conduit ops-to-cell1 ($D/gw.conf:" <<<"$out"
out=$("$CTL" --socket "$SOCK" --live explain hmi-legacy plc-1 mqtt subscribe 'plant/#' 2>&1)
t_is "$?" 1 "  ... an MQTT subscribe (no conduit allows MQTT): denied"
out=$($PY - "$SOCK" <<'P'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
f = s.makefile("rwb")
def ask(line):
    f.write(line); f.flush(); return json.loads(f.readline())
for r in (b'{"cmd":"explain","identity":"a","target":"b","op":"modbus 1 3 0 0 3"}\n',
          b'{"cmd":"explain","identity":"a","target":"b","op":"modbus 1 3 0 0 0 0 junk"}\n',
          b'{"cmd":"explain","identity":"a","target":"b","op":"modbus 1 3 0 0 0 0","assurance":"psk"}\n',
          b'{"cmd":"explain","identity":"a","op":"http 3:GET 1:/"}\n'):
    a = ask(r)
    print(a["ok"], a["error"].split(":")[0])
P
)
t_is "$out" $'False bad operation\nFalse bad operation\nFalse assurance must be "certificate" or "address"\nFalse explain needs "identity", "target" and "op"' \
	"  ... malformed explain requests are refused with the reason"
"$CTL" --socket "$SOCK" quarantine "" >/dev/null 2>"$D/err"
t_is "$?" 1 "quarantine of an empty identity is refused (exit 1)"

# --- reload ----------------------------------------------------------------------------
out=$("$CTL" --socket "$SOCK" reload)
t_is "$?" 0 "reload through the admin socket"
t_grep "  ... runs the SIGHUP path" 'admin \(uid [0-9]+ pid [0-9]+\): reloading' "$LOG"
cp "$D/gw.conf" "$D/gw.conf.good"
sed -i 's/id = "gw-admin-test";/id = "gw-admin-test"; bogus = 1;/' "$D/gw.conf"
out=$("$CTL" --socket "$SOCK" reload 2>&1)
t_is "$?" 1 "a broken config: reload fails (exit 1)"
t_ok "  ... with the error line" grep -qE "gw.conf:1: gateway.bogus" <<<"$out"
cp "$D/gw.conf.good" "$D/gw.conf"
t_ok "  ... the daemon keeps running" t_alive "$ZG_CHILD"
t_is "$("$CTL" --socket "$SOCK" --json status | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["reloads_ok"], d["reloads_failed"])')" \
	"1 1" "  ... and counts one good and one failed reload"
mbs read 0 2
t_is "$ANS" "11 22" "  ... the open session survived both reloads"

# --- a peer the socket's credentials check refuses ----------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# Open the file mode up so that only SO_PEERCRED stands in the way.
	chmod 0711 "$D"
	chmod 0666 "$SOCK"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" --socket "$SOCK" status >/dev/null 2>&1
	rc=$?
	chmod 0660 "$SOCK"
	t_is "$rc" 2 "uid 65534 outside the group is refused by SO_PEERCRED (no answer, exit 2)"
	t_grep "  ... with a logged warning naming the uid" 'refused a client with uid 65534' "$LOG"
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP needs root and setpriv"
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP needs root and setpriv"
fi

# --- a misbehaving admin client ------------------------------------------------------------
out=$($PY - "$SOCK" <<'P'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
f = s.makefile("rwb")
def ask(line):
    f.write(line); f.flush(); return json.loads(f.readline())
a = ask(b"this is not json\n")
b = ask(b'{"cmd":"frobnicate"}\n')
c = ask(b'{"cmd":"status"}\n')
print(a["ok"], "bad request" in a["error"], b["ok"], "unknown command" in b["error"], c["ok"])
f.write(b"x" * 5000 + b"\n"); f.flush()
d = json.loads(f.readline())
print(d["ok"], "too long" in d["error"], f.readline() == b"")
P
)
t_is "$out" $'False True False True True\nFalse True True' "garbage and unknown commands get error objects, the connection stays up; an over-long request closes it"
t_ok "the daemon is unaffected" bash -c "'$CTL' --socket '$SOCK' status | grep -q '^gateway id: gw-admin-test$'"

exec {MIN}>&-
zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"
t_ok "  ... and removes the admin socket" test ! -e "$SOCK"
t_done
