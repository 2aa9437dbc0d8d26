#!/usr/bin/env bash
# Operating a running gateway with zonegatectl: zones, devices, sessions,
# uplinks and events, each in human (aligned columns) and --json form,
# against a real zonegated with a live Modbus session (mbsession.py) and
# plcsim behind it; `events -f' receiving an event caused after it
# started; a follower that does not read is cut off with a message and
# the daemon's memory for it stays bounded; and what zonegatectl says
# when no daemon is running.  No sleeps: every wait polls.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
CTL="$top_builddir/gateway/zonegatectl"
MBS="$top_srcdir/tests/integration/mbsession.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
[ -x "$PY" ] || t_skip_all "/usr/bin/python3 missing"

t_plan 42
D=$T_TMP
SOCK=$D/zg.sock
LOG=$D/gw.log
ctl() { "$CTL" --socket "$SOCK" "$@"; }
# jq-like checks with the system python: jpy 'expression over d' JSON
jpy() { $PY -c "import json,sys; d=json.loads(sys.argv[2]); print($1)" _ "$2"; }

# --- no daemon ---------------------------------------------------------------------
out=$(ctl status 2>&1)
t_is "$?" 2 "no daemon: exit 2"
t_ok "  ... names the socket path and how to start zonegated" grep -qF \
	"cannot connect to $SOCK: No such file or directory: zonegated is not running (start it with \"systemctl start zonegated\" or \"zonegated -c FILE\")" <<<"$out"
# A socket file nobody serves (a daemon killed with SIGKILL leaves one).
$PY -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$D/stale.sock"
out=$("$CTL" --socket "$D/stale.sock" sessions 2>&1)
t_is "$?" 2 "stale socket file: exit 2"
t_ok "  ... says connection refused and that the file is stale" grep -qF \
	"cannot connect to $D/stale.sock: Connection refused: zonegated is not running (the socket file is stale)" <<<"$out"

# --- the gateway -------------------------------------------------------------------
"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
EX=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-ops-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
admin = { socket = "$SOCK"; };
zones = ( { name = "ops"; description = "operators"; }, { name = "cell1"; }, { name = "cell2"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; },
  { identity = "plc-9"; zone = "cell2"; address = "127.0.0.1:1"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; } );
  listeners = ( { listen = "127.0.0.1:$GW"; device = "plc-1"; max_denials = 0; } );
}; },
  { name = "example"; config = { listen = "127.0.0.1:$EX"; greeting = "hi"; }; } );
C
t_ok "zonegated is ready" zg_start "$D/gw.conf" "$LOG"

coproc MBSESS { exec "$PY" "$MBS" "$GW"; }
T_PIDS+=("$MBSESS_PID")
MIN=${MBSESS[1]}
MOUT=${MBSESS[0]}
mbs() { echo "$*" >&"$MIN"; ANS=NO-ANSWER; IFS= read -r -t 10 ANS <&"$MOUT"; }
ANS=NO-ANSWER; IFS= read -r -t 10 ANS <&"$MOUT"
t_is "$ANS" "CONNECTED" "a client session is open"
mbs read 0 2
t_is "$ANS" "11 22" "  ... it reads through zonegate"
mbs write 0 5
t_is "$ANS" "EXC 1" "  ... its write is denied"
mbs read 0 1
t_is "$ANS" "11" "  ... and it reads again"

# --- zones -------------------------------------------------------------------------
out=$(ctl zones)
t_is "$?" 0 "zones exits 0"
t_is "$(head -n 1 <<<"$out" | tr -s ' ')" "ZONE DEVICES CONDUITS ISOLATED MEMBERS" "  ... human: a header line"
t_ok "  ... and aligned rows (ops: 1 device, 1 conduit, its member)" \
	grep -qE '^ops +1 +1 +no +hmi-legacy$' <<<"$out"
# aligned: the second column starts at the same offset on every line
t_is "$(awk '{ match($0, /^[^ ]+ +/); print RLENGTH }' <<<"$out" | sort -u | wc -l)" 1 \
	"  ... the columns line up"
json=$(ctl --json zones)
t_is "$(jpy '[(z["name"], z["devices"], z["conduits"]) for z in d["zones"]]' "$json")" \
	"[('quarantine', [], 0), ('ops', ['hmi-legacy'], 1), ('cell1', ['plc-1'], 1), ('cell2', ['plc-9'], 0)]" \
	"zones --json: every zone with its devices and conduit count"

# --- devices -----------------------------------------------------------------------
out=$(ctl devices)
t_is "$?" 0 "devices exits 0"
t_ok "  ... human: hmi-legacy, address assurance, one live session" \
	grep -qE '^hmi-legacy +ops +address +- +no +1 ' <<<"$out"
t_ok "  ... plc-1 online through the modbus plugin" \
	grep -qE "^plc-1 +cell1 +certificate +yes +no +0 +127\.0\.0\.1:$PLC\$" <<<"$out"
json=$(ctl --json devices)
t_is "$(jpy '[(x["identity"], x["zone"], x["assurance"], x["online"], x["quarantined"], x["sessions"]) for x in d["devices"]]' "$json")" \
	"[('hmi-legacy', 'ops', 'address', None, False, 1), ('plc-1', 'cell1', 'certificate', True, False, 0), ('plc-9', 'cell2', 'certificate', None, False, 0)]" \
	"devices --json: zone, assurance, online (null: no plugin reaches it), quarantined, sessions"
t_is "$(jpy 'd["devices"][1]["forwarded"], d["devices"][1]["conns_up"]' "$json")" "2 1" \
	"  ... plc-1: 2 requests forwarded, its connection up"

# --- sessions ----------------------------------------------------------------------
out=$(ctl sessions)
t_is "$?" 0 "sessions exits 0"
t_is "$(head -n 1 <<<"$out" | tr -s ' ')" "PLUGIN PEER IDENTITY ASSURANCE LISTENER VIA AGE REQUESTS DENIALS" "  ... human: header"
t_ok "  ... the live session: identity, assurance, listener, 3 requests, 1 denial" \
	grep -qE "^modbus +127\.0\.0\.1:[0-9]+ +hmi-legacy +address +127\.0\.0\.1:$GW +tcp +[0-9]+s +3 +1\$" <<<"$out"
json=$(ctl --json sessions)
t_is "$(jpy '[(s["plugin"], s["identity"], s["assurance"], s["listener"], s["requests"], s["denials"], s["age"] >= 0) for s in d["sessions"]], d["count"]' "$json")" \
	"[('modbus', 'hmi-legacy', 'address', '127.0.0.1:$GW', 3, 1, True)] 1" "sessions --json"

# The example plugin reports its echo sessions too: an echo client asks
# zonegatectl while its connection is open.
out=$($PY - "$EX" "$CTL" "$SOCK" <<'P'
import json, socket, subprocess, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(10)
f = s.makefile("rwb")
got = [f.readline().decode().strip()]
for w in ("one", "two"):
    f.write(w.encode() + b"\n"); f.flush(); got.append(f.readline().decode().strip())
d = json.loads(subprocess.run([sys.argv[2], "--socket", sys.argv[3], "--json", "sessions"],
                              capture_output=True, text=True).stdout)
print(" ".join(got))
print([(x["plugin"], x["identity"], x["assurance"], x["listener"], x["requests"])
       for x in d["sessions"] if x["plugin"] == "example"])
P
)
t_is "$(head -n 1 <<<"$out")" "hi one two" "an echo client of the example plugin is served"
t_is "$(tail -n 1 <<<"$out")" "[('example', None, 'none', '127.0.0.1:$EX', 2)]" \
	"  ... sessions lists it: no identity, 2 lines echoed"

# --- uplinks -----------------------------------------------------------------------
t_is "$(ctl uplinks)" "no uplinks configured" "uplinks: none configured (human)"
t_is "$(jpy 'd["ok"], d["count"], d["uplinks"]' "$(ctl --json uplinks)")" "True 0 []" "uplinks --json"

# --- events ------------------------------------------------------------------------
out=$(ctl events)
t_is "$?" 0 "events exits 0"
t_ok "  ... human: the denial, with severity, identity and rule" \
	grep -qE '^[0-9T:.-]+Z high +modbus\.denied .*identity=hmi-legacy .*rule=ops-to-cell1' <<<"$out"
json=$(ctl --json events)
t_is "$(jpy '[e["kind"] for e in d["events"]].count("modbus.denied"), d["total"] >= d["count"]' "$json")" \
	"1 True" "events --json: the denial, once"
t_is "$(ctl -n 1 events | wc -l)" 1 "events -n 1: one line"

# --- events -f ---------------------------------------------------------------------
"$CTL" --socket "$SOCK" events -f >"$D/follow.out" 2>"$D/follow.err" &
FPID=$!
T_PIDS+=("$FPID")
"$CTL" --socket "$SOCK" --json events -f >"$D/followj.out" 2>"$D/followj.err" &
FJPID=$!
T_PIDS+=("$FJPID")
t_ok "events -f is following" t_wait 10 grep -qs 'following events on' "$D/follow.err"
t_ok "events -f --json is following" t_wait 10 grep -qs 'following events on' "$D/followj.err"
t_is "$(wc -c <"$D/follow.out")" 0 "  ... old events are not repeated"
ctl quarantine plc-x >/dev/null
t_ok "the quarantine event caused afterwards reaches the follower" \
	t_wait 10 grep -qE 'high +admin\.quarantine .*identity=plc-x' "$D/follow.out"
t_ok "  ... and the JSON follower, as one JSON object per line" \
	t_wait 10 $PY -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; sys.exit(not any(e["kind"]=="admin.quarantine" and e["identity"]=="plc-x" for e in l))' "$D/followj.out"
mbs write 1 7
t_ok "a Modbus denial reaches the follower too" \
	t_wait 10 grep -qE 'modbus\.denied .*detail="FC6 write holding 1 = 7' "$D/follow.out"
kill "$FPID" "$FJPID"
t_wait_exit "$FPID" 5
t_wait_exit "$FJPID" 5

# --- a follower that does not read ---------------------------------------------------
# It subscribes and never reads; denied requests (one event each) pile up.
# The daemon must cut it off with a last line instead of queueing for it.
out=$($PY - "$SOCK" "$GW" "$LOG" <<'P'
import socket, struct, sys
sock, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
f = socket.socket(socket.AF_UNIX)
f.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
f.connect(sock)
f.sendall(b'{"cmd":"follow"}\n')
m = socket.create_connection(("127.0.0.1", port))
sent = 0
def cut():
    with open(log) as fh:
        return "event follower too slow" in fh.read()
while sent < 20000:
    for i in range(100):
        pdu = struct.pack(">BHH", 6, 3, 9)
        m.sendall(struct.pack(">HHHB", i, 0, len(pdu) + 1, 1) + pdu)
        m.recv(64)
    sent += 100
    if cut():
        break
data = b""
f.settimeout(10)
while True:
    c = f.recv(65536)
    if not c:
        break
    data += c
lines = data.decode().splitlines()
last = lines[-1] if lines else ""
print(sent < 20000, len(data) < 256 * 1024, '"ok":false' in last and "too slow" in last)
P
)
t_is "$out" "True True True" "a follower that does not read is cut off, got less than 256 KiB, and is told why"
t_grep "  ... the daemon logs it" 'event follower too slow' "$LOG"
t_is "$(jpy 'd["ok"]' "$(ctl --json status)")" "True" "  ... and keeps answering"

exec {MIN}>&-
zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"
t_done
