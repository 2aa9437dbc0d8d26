#!/usr/bin/env bash
# The threat engine end to end: the real daemon with the modbus plugin in
# front of PLC simulators, driven by clients we did not write (mbpoll,
# pymodbus, openssl s_client) and raw frames for the hostile cases.
#
#   * a regular mbpoll loop raises no detection; stopping it raises
#     modbus.poll_silent;
#   * every Modbus detection fires on its traffic, with its ATT&CK id;
#   * every write, allowed or denied, is an audit.write record;
#   * scores rise; crossing the threshold quarantines the identity on the
#     very next request of an already open session; release restores it;
#     a safety-critical zone is never quarantined automatically;
#   * a score over throttle_threshold limits the identity's rate until released;
#   * the JSON-lines event log survives rotation (rename + SIGHUP) without
#     losing a line (sequence numbers are contiguous across both files),
#     also while a client writes without pause through three rotations.
# No sleeps: every wait polls a condition or an answer.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
CTL="$top_builddir/gateway/zonegatectl"
MBT="$top_srcdir/tests/integration/mbtool.py"
MBS="$top_srcdir/tests/integration/mbsession.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus python3-serial-asyncio"
command -v mbpoll >/dev/null || t_skip_all "mbpoll missing: apt-get install mbpoll"
command -v openssl >/dev/null || t_skip_all "openssl CLI missing"

t_plan 85
D=$T_TMP
SOCK=$D/zg.sock
LOG=$D/gw.log
EV=$D/events.jsonl
PKI=$D/pki
t_ok "test PKI made with the openssl CLI" \
	bash -c "bash '$top_srcdir/contrib/pki/mkpki.sh' '$PKI' >/dev/null 2>&1"

sim_start() { # NAME ARGS...: sets NAME_PORT
	local name=$1; shift
	"$SIMBIN" -p 0 --ready-file "$D/$name.port" "$@" >"$D/$name.log" 2>&1 &
	T_PIDS+=($!)
	t_wait 20 test -s "$D/$name.port" || return 1
	printf -v "${name}_PORT" '%s' "$(cat "$D/$name.port")"
}
t_ok "simulator plc-1 is listening" sim_start plc -v --log-writes "$D/plc.writes" --set holding:0=11,22,33
t_ok "simulator plc-2 (answers twice: unsolicited copies) is listening" sim_start dup --unsolicited --set holding:0=5

GW=$(t_free_port)
GWR=$(t_free_port)
GWD=$(t_free_port)
GT=$(t_free_port)
write_conf() { # THREAT-SETTINGS [DETECTIONS]
	local extra=${2-}
	[ -n "$extra" ] || extra='{ id = "modbus.exception_burst"; threshold = 5; }'
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-threat-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
admin = { socket = "$SOCK"; };
events = { file = "$EV"; };
threat = { $1
  engineering = [ "eng-ws" ];
  safety_critical_zones = [ "sis" ];
  detections = ( { id = "modbus.register_walk"; threshold = 8; },
                 $extra );
};
zones = ( { name = "ops"; }, { name = "cell1"; }, { name = "sis"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "spiffe://plant.example/operator-1"; zone = "sis"; },
  { identity = "spiffe://plant.example/engineer-1"; zone = "sis"; },
  { identity = "spiffe://plant.example/hmi-1"; zone = "sis"; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$plc_PORT"; unit = 1; },
  { identity = "plc-2"; zone = "cell1"; address = "127.0.0.1:$dup_PORT"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3, 6, 16];
               read = { holding_registers = ["0-99"]; };
               write = { holding_registers = ( { range = "10-19"; min = 0; max = 1000; } ); }; }; },
  { name = "sis-to-cell1"; from = "sis"; to = "cell1"; require_assurance = "certificate";
    roles = [ "operator" ];
    modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$plc_PORT"; },
              { identity = "plc-2"; address = "127.0.0.1:$dup_PORT"; } );
  listeners = (
    { listen = "127.0.0.1:$GW"; device = "plc-1"; frame_timeout = 0.5; },
    { listen = "127.0.0.1:$GWR"; device = "plc-1"; rate = 1.0; burst = 1.0; },
    { listen = "127.0.0.1:$GWD"; device = "plc-2"; },
    { listen = "127.0.0.1:$GT"; device = "plc-1";
      tls = { cert = "$PKI/server.crt"; key = "$PKI/server.key"; ca = "$PKI/ca.crt"; }; }
  );
}; } );
C
}
# Phase 1: detections only (no automatic response yet).
write_conf "quarantine_threshold = 0.0; throttle_threshold = 0.0;"
out=$("$ZONEGATED" -t -c "$D/gw.conf")
t_ok "zonegated -t shows the event log and the threat engine" \
	bash -c 'grep -qF "event log: $1" <<<"$2" && grep -q "threat engine: on" <<<"$2"' _ "$EV" "$out"
printf 'threat = { detections = ( { id = "modbus.nope"; }, { id = "modbus.restart"; severity = "grave"; colour = 1; } ); quarantine = 1; };\nevents = { file = "rel.jsonl"; };\n' >"$D/bad.conf"
out=$("$ZONEGATED" -t -c "$D/bad.conf" 2>&1)
t_ok "bad threat/events sections: each error with file:line and key" \
	bash -c '[ $(grep -cE "bad.conf:[12]: (threat|events)[^:]*\.?(id|severity|colour|quarantine|file)" <<<"$1") -ge 5 ]' _ "$out"
t_ok "zonegated is ready" zg_start "$D/gw.conf" "$LOG"
t_ok "device connections are up" t_wait 10 bash -c "[ \$(grep -c 'connection 0 up' '$LOG') -ge 2 ]"

mbt() { $PY "$MBT" "$@"; }
raw() { mbt raw "$@" | tr '\n' ' ' | sed 's/ $//'; }
det() { t_count "\"kind\":\"threat.detection\".*\"detection\":\"$1\"" "$EV"; }
waitdet() { t_wait 10 bash -c "grep -qE '\"kind\":\"threat.detection\".*\"detection\":\"$1\"' '$EV'"; }

# --- normal polling: a regular mbpoll loop --------------------------------------
out=$(mbpoll -m tcp -p "$GW" -a 1 -t 4 -r 0 -c 3 -0 -1 127.0.0.1 2>&1)
t_ok "mbpoll reads through zonegate" grep -qE '^\[0\]:[[:space:]]+11' <<<"$out"
mbpoll -m tcp -p "$GW" -a 1 -t 4 -r 0 -c 3 -0 -l 100 127.0.0.1 >/dev/null 2>&1 &
MBPOLL=$!
T_PIDS+=("$MBPOLL")
t_ok "mbpoll polls in a loop through zonegate (30 polls)" \
	t_wait 30 bash -c "[ \$(grep -c 'fc 3' '$D/plc.log') -ge 30 ]"
for i in $(seq 1 10); do mbt read "$GW" 1 0 3; done >"$D/pm.out"
t_is "$(grep -c '^11 22 33$' "$D/pm.out")" 10 "  ... and pymodbus reads the same registers ten times meanwhile"
t_is "$(t_count '"kind":"threat.detection"' "$EV")" 0 "normal polling (mbpoll, pymodbus) raises no detection"
t_is "$(t_count '"kind":"audit.write"' "$EV")" 0 "  ... and no audit record (nothing was written)"
kill "$MBPOLL"
t_ok "the poll loop stopped: modbus.poll_silent (T0804)" waitdet 'modbus.poll_silent'
t_grep "  ... names the identity and the channel" \
	'"identity":"hmi-legacy","target":"plc-1","detection":"modbus.poll_silent","technique":"T0804".*"evidence":"channel hmi-legacy\|plc-1\|3\|0\|3 polled' "$EV"

# --- audit trail ----------------------------------------------------------------
t_is "$(mbt write "$GW" 1 12 42)" "OK" "allowed write (holding 12 = 42)"
t_grep "  ... an audit.write record: identity, peer, target, values, verdict, rule" \
	'"kind":"audit.write","source":"threat","peer":"127.0.0.1:[0-9]+","identity":"hmi-legacy","target":"plc-1","verdict":"allow","rule":"ops-to-cell1".*"op":\{"proto":"modbus","unit":1,"fc":6,"spans":\[\{"table":"holding_registers","access":"write","addr":12,"qty":1\}\],"values":\[42\]' "$EV"

# --- write detections (each forbidden write works directly first) -----------------
t_is "$(mbt write "$plc_PORT" 1 25 7)" "OK" "a write to holding 25 works against the device directly"
t_is "$(mbt write "$GW" 1 25 1234)" "EXC 1" "through zonegate: refused"
t_ok "  ... modbus.address_range (T0855)" waitdet 'modbus.address_range","technique":"T0855'
t_grep "  ... and a denied audit.write with the reason" \
	'"kind":"audit.write".*"verdict":"deny","rule":"ops-to-cell1".*"reason":"[^"]*25[^"]*".*"values":\[1234\]' "$EV"
t_is "$(mbt write "$GW" 1 12 5000)" "EXC 1" "write of 5000 to holding 12 (bounds 0..1000): refused"
t_ok "  ... modbus.value_out_of_bounds (T0836)" waitdet 'modbus.value_out_of_bounds","technique":"T0836'
out=$(mbpoll -m tcp -p "$plc_PORT" -a 1 -t 0 -r 2 -1 127.0.0.1 1 2>&1)
t_ok "mbpoll writes coil 1 directly" grep -q 'Written 1 references' <<<"$out"
out=$(mbpoll -m tcp -p "$GW" -a 1 -t 0 -r 2 -1 127.0.0.1 1 2>&1)
t_ok "through zonegate (no write right for coils): refused ($(tail -n 1 <<<"$out"))" bash -c '! grep -q "Written 1 references" <<<"$1" && grep -qi "illegal function" <<<"$1"' _ "$out"
t_ok "  ... modbus.write_unauthorized (T0855)" waitdet 'modbus.write_unauthorized","technique":"T0855'

# --- function codes -----------------------------------------------------------------
t_is "$(mbt stock "$GW" 1 devid)" "EXC 1" "pymodbus read device identification (FC 43/MEI 14) from hmi-legacy: refused"
t_ok "  ... modbus.device_identification (T0888): not an engineering identity" waitdet 'modbus.device_identification","technique":"T0888'
raw "$GW" 000200000007012b0d00010203 --wait 1 >/dev/null
t_ok "FC 43/MEI 13: modbus.canopen_tunnel" waitdet 'modbus.canopen_tunnel'
out=$(mbt stock "$GW" 1 listen-only)
t_ok "pymodbus force listen only (FC 8/4): refused ($out)" grep -q '^EXC' <<<"$out"
t_ok "FC 8/4: modbus.force_listen_only (T0814, critical)" waitdet 'modbus.force_listen_only","technique":"T0814'
t_grep "  ... critical severity" '"seq":[0-9]+,"severity":"critical","kind":"threat.detection".*"detection":"modbus.force_listen_only"' "$EV"
t_is "$(mbt stock "$GW" 1 restart)" "EXC 1" "pymodbus restart communications (FC 8/1): refused"
t_ok "FC 8/1: modbus.restart (T0816)" waitdet 'modbus.restart","technique":"T0816'
t_is "$(t_count 'fc 8' "$D/plc.log")" 0 "  ... neither FC 8 request reached the simulator"
raw "$GW" 000400000003015a00 --wait 1 >/dev/null
t_ok "FC 90: modbus.reserved_function" waitdet 'modbus.reserved_function'
mbpoll -m tcp -p "$GW" -a 0 -t 4 -r 17 -1 127.0.0.1 1 >"$D/bcast.out" 2>&1
t_ok "mbpoll write to unit 0: modbus.broadcast_write" waitdet 'modbus.broadcast_write'

# --- reconnaissance -------------------------------------------------------------------
mbpoll -m tcp -p "$GW" -a 2:7 -t 4 -r 1 -1 127.0.0.1 >"$D/sweep.out" 2>&1
t_is "$(grep -ci 'illegal' "$D/sweep.out")" 6 "mbpoll reads unit ids 2..7: six refusals"
t_ok "  ... modbus.unit_sweep (T0846)" waitdet 'modbus.unit_sweep","technique":"T0846'
t_ok "  ... and the exceptions to one client: modbus.exception_burst (T0888)" waitdet 'modbus.exception_burst","technique":"T0888'
out=$(mbt stock "$GW" 1 walk 0 8 8)
t_is "$(grep -cE '^[0-9]+$' <<<"$out")" 8 "pymodbus: eight allowed single-register reads 8 apart"
t_ok "  ... modbus.register_walk (T0861)" waitdet 'modbus.register_walk","technique":"T0861'

# --- protocol abuse ---------------------------------------------------------------------
t_is "$(raw "$GW" 000100010006010300000001 --wait 2)" "CLOSED" "MBAP protocol id 1: closed"
t_ok "  ... modbus.malformed (T0866)" waitdet 'modbus.malformed","technique":"T0866'
out=$(mbt halfopen "$GW" 000100 5)
t_ok "half a frame held: closed ($out)" grep -q '^CLOSED' <<<"$out"
t_ok "  ... modbus.half_open_frame" waitdet 'modbus.half_open_frame'
flood=""
for i in $(seq 1 8); do flood+=" $(printf '%04x00000006010300000001' "$i")"; done
out=$(raw "$GWR" $flood --wait 1)
t_ok "requests over the listener's rate are answered busy (exception 6)" grep -q '018306' <<<"$out"
t_ok "  ... modbus.request_flood (T0814)" waitdet 'modbus.request_flood","technique":"T0814'
for i in 1 2 3; do mbt read "$GWD" 1 0 1 >/dev/null; done
t_ok "a device that answers twice: modbus.unsolicited_response (T0830)" waitdet 'modbus.unsolicited_response","technique":"T0830'

# --- TLS ----------------------------------------------------------------------------------
for i in 1 2 3; do
	openssl s_client -connect "127.0.0.1:$GT" -CAfile "$PKI/ca.crt" -verify_return_error </dev/null >/dev/null 2>&1
done
t_ok "three openssl s_client handshakes without a certificate: tls.handshake_failures" waitdet 'tls.handshake_failures'
READ0=000100000006010300000002
out=$($PY "$MBT" sclient "$GT" "$PKI/ca.crt" "$PKI/client-role2.crt" "$PKI/client-role2.key" "$READ0")
t_ok "openssl s_client with a certificate with two roles: tls.bad_role (T0859)" waitdet 'tls.bad_role","technique":"T0859'
out=$(MBT_TLS="$PKI/ca.crt:$PKI/client-uri.crt:$PKI/client-uri.key" $PY "$MBT" raw "$GT" "$READ0" --wait 1 | tr '\n' ' ')
t_ok "a certificate without a role where the conduit needs one: refused ($out)" grep -q '^000100000003018301' <<<"$out"
t_ok "  ... tls.bad_role for the missing role" t_wait 10 \
	grep -qE '"identity":"spiffe://plant.example/hmi-1".*"detection":"tls.bad_role".*"evidence":"[^"]*no role presented' "$EV"

# --- scores ----------------------------------------------------------------------------
out=$("$CTL" --socket "$SOCK" scores)
t_ok "zonegatectl scores lists hmi-legacy: score, identity, detections, last, quarantined" \
	grep -qE '^  hmi-legacy [0-9]+\.[0-9] true [0-9]+ [a-z_.]+ false$' <<<"$out"
sc=$("$CTL" --socket "$SOCK" --json scores | $PY -c '
import json,sys
d=json.load(sys.stdin)
s=[x for x in d["scores"] if x["source"]=="hmi-legacy"][0]
print(s["score"] > 100, s["quarantined"], s["detections"] >= 15)')
t_is "$sc" "True False True" "scores --json: hmi-legacy scored over 100, not quarantined (threshold 0 = off)"

# --- quarantine by score on an open session ----------------------------------------------
# Only the restarts below score (30 each, severity high).
write_conf "quarantine_threshold = 100.0; throttle_threshold = 0.0;" \
	'{ id = "modbus.exception_burst"; enabled = false; }, { id = "modbus.request_flood"; enabled = false; }'
t_ok "reload with quarantine at score 100" bash -c "'$CTL' --socket '$SOCK' reload >/dev/null"
"$CTL" --socket "$SOCK" release hmi-legacy >/dev/null
sc=$("$CTL" --socket "$SOCK" --json scores | $PY -c '
import json,sys
print([x["score"] for x in json.load(sys.stdin)["scores"] if x["source"]=="hmi-legacy"][0])')
t_is "$sc" "0.0" "an operator release resets the score"
coproc MBSESS { exec "$PY" "$MBS" "$GW"; }
T_PIDS+=("$MBSESS_PID")
MIN=${MBSESS[1]}
MOUT=${MBSESS[0]}
mbs() { echo "$*" >&"$MIN"; ANS=NO-ANSWER; IFS= read -r -t 10 ANS <&"$MOUT"; }
ANS=NO-ANSWER; IFS= read -r -t 10 ANS <&"$MOUT"
t_is "$ANS" "CONNECTED" "a client session is open"
mbs read 0 2
t_is "$ANS" "11 22" "it reads through zonegate"
# Three different high-severity detections (30 each): FC 8/1, FC 90, FC 43/13.
for f in 000300000006010800010000 000400000003015a00 000200000007012b0d00010203; do
	raw "$GW" "$f" --wait 1 >/dev/null
done
mbs read 0 2
t_is "$ANS" "11 22" "restart, UMAS, CANopen tunnel (score 90): the session still reads"
raw "$GW" 000300000006010800010000 --wait 1 >/dev/null
t_is "$(t_count '"kind":"threat.quarantine"' "$EV")" 0 "the same restart again: counted, not scored again (repeat_interval)"
raw "$GW" 000500000006000600100001 --wait 1 >/dev/null
t_grep "a broadcast write (score 120): threat.quarantine event" \
	'"seq":[0-9]+,"severity":"critical","kind":"threat.quarantine","source":"threat","identity":"hmi-legacy","zone":"ops","action":"quarantine","score":1[12][0-9]\.' "$EV"
mbs read 0 2
t_is "$ANS" "EXC 1" "the SAME session's very next read: exception 0x01"
t_ok "zonegatectl quarantined lists hmi-legacy" bash -c "'$CTL' --socket '$SOCK' quarantined | grep -qx '  hmi-legacy'"
t_is "$("$CTL" --socket "$SOCK" --json scores | $PY -c '
import json,sys
print([x["quarantined"] for x in json.load(sys.stdin)["scores"] if x["source"]=="hmi-legacy"][0])')" "True" "scores shows it quarantined"
"$CTL" --socket "$SOCK" release hmi-legacy >/dev/null
mbs read 0 2
t_is "$ANS" "11 22" "release by the operator: the same session reads again"
t_grep "  ... an admin.release event" '"kind":"admin.release".*"identity":"hmi-legacy"' "$EV"

# A safety-critical zone: the score crosses the threshold, access stays.
as() { local c=$1; shift; MBT_TLS="$PKI/ca.crt:$PKI/client-$c.crt:$PKI/client-$c.key" $PY "$MBT" "$@" | tr '\n' ' ' | sed 's/ $//'; }
for f in 000300000006010800010000 000400000003015a00 000200000007012b0d00010203 000500000006000600100001; do
	as role raw "$GT" "$f" --wait 1 >/dev/null
done
t_grep "operator-1 (zone sis) over the threshold: threat.quarantine_withheld" \
	'"kind":"threat.quarantine_withheld".*"identity":"spiffe://plant.example/operator-1","zone":"sis"' "$EV"
t_is "$(as role raw "$GT" "$READ0" --wait 1)" "000100000007010304000b0016 TIMEOUT" "  ... and it still reads: never quarantined automatically"

# --- the event log: rotation without losing a line ------------------------------------------
mv "$EV" "$EV.1"
for v in 1 2 3; do mbt write "$GW" 1 11 "$v" >/dev/null; done
t_ok "after the rename, events still go to the renamed file" \
	t_wait 5 bash -c "[ \$(grep -c '\"kind\":\"audit.write\".*\"values\":\\[3\\]' '$EV.1') -ge 1 ]"
kill -HUP "$ZG_PID"
t_ok "SIGHUP reopens the event log" t_wait 10 grep -q "event log $EV reopened" "$LOG"
for v in 4 5 6; do mbt write "$GW" 1 11 "$v" >/dev/null; done
t_ok "new events go to a new file" t_wait 5 bash -c "grep -q '\"values\":\\[6\\]' '$EV'"
chk=$($PY - "$EV.1" "$EV" <<'P'
import json, sys
seqs = []
for f in sys.argv[1:]:
    for line in open(f):
        seqs.append(json.loads(line)["seq"])
print("contiguous" if sorted(seqs) == list(range(1, max(seqs) + 1)) else "GAP %s" % sorted(set(range(1, max(seqs) + 1)) - set(seqs)))
P
)
t_is "$chk" "contiguous" "every line is JSON and sequence numbers are contiguous across both files"

# ... and under load: a pymodbus client writes holding 13 without pause
# while the log is renamed and reopened three times.
$PY - "$GW" "$D/load.stop" >"$D/load.out" 2>&1 <<'P' &
import os, sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("127.0.0.1", port=int(sys.argv[1])); c.connect()
ok = bad = 0
while not os.path.exists(sys.argv[2]) and ok + bad < 100000:
    r = c.write_register(13, (ok + bad) % 1000, slave=1)
    if r.isError(): bad += 1
    else: ok += 1
c.close()
print("ok=%d bad=%d" % (ok, bad))
P
LOADPID=$!
T_PIDS+=("$LOADPID")
loadlines() { t_count '"kind":"audit.write".*"addr":13,' "$1"; }
for r in 2 3 4; do
	t_wait 20 bash -c "[ \$(grep -cE '\"kind\":\"audit.write\".*\"addr\":13,' '$EV') -ge 20 ]" || t_diag "load $r: no writes in $EV"
	mv "$EV" "$EV.$r"
	kill -HUP "$ZG_PID"
	t_wait 10 bash -c "[ \$(grep -c 'event log $EV reopened' '$LOG') -ge $r ]" || t_diag "load $r: no reopen"
done
t_wait 20 bash -c "[ \$(grep -cE '\"kind\":\"audit.write\".*\"addr\":13,' '$EV') -ge 20 ]"
touch "$D/load.stop"
t_wait_exit "$LOADPID" 20
out=$(cat "$D/load.out")
t_ok "a pymodbus client wrote without pause through three rotations ($out)" grep -qE '^ok=[0-9]{2,} bad=0$' <<<"$out"
t_ok "  ... each of the three renamed files and the new one holds some of its writes" \
	bash -c '[ $(grep -cE "audit.write.*\"addr\":13," "$1.2") -ge 20 ] && [ $(grep -cE "audit.write.*\"addr\":13," "$1.3") -ge 20 ] && [ $(grep -cE "audit.write.*\"addr\":13," "$1.4") -ge 20 ] && [ $(grep -cE "audit.write.*\"addr\":13," "$1") -ge 20 ]' _ "$EV"
t_ok "  ... and a new file was opened at each SIGHUP" bash -c "[ \$(grep -c 'event log $EV reopened' '$LOG') -ge 4 ]"
audited=$(cat "$EV.2" "$EV.3" "$EV.4" "$EV" | grep -cE '"kind":"audit.write".*"addr":13,')
t_is "ok=$audited bad=0" "$out" "  ... every write it made has its audit record, none twice"
chk=$($PY - "$EV.1" "$EV.2" "$EV.3" "$EV.4" "$EV" <<'P'
import json, sys
seqs = []
for f in sys.argv[1:]:
    for line in open(f):
        seqs.append(json.loads(line)["seq"])
print("contiguous" if sorted(seqs) == list(range(1, max(seqs) + 1)) else "GAP %s" % sorted(set(range(1, max(seqs) + 1)) - set(seqs)))
P
)
t_is "$chk" "contiguous" "  ... every line is JSON and sequence numbers are contiguous across all five files"
# --- throttling: the response below quarantine -------------------------------------------
write_conf "quarantine_threshold = 0.0; throttle_threshold = 20.0; throttle_rate = 1.0;" \
	'{ id = "modbus.exception_burst"; enabled = false; }, { id = "modbus.request_flood"; enabled = false; }'
t_ok "reload: throttle at score 20, 1 operation/s" bash -c "'$CTL' --socket '$SOCK' reload >/dev/null"
"$CTL" --socket "$SOCK" release hmi-legacy >/dev/null
reads=""
for i in 1 2 3 4 5; do reads+=" $(printf '%04x00000006010300000001' "$i")"; done
out=$(raw "$GW" $reads --wait 1)
t_is "$(grep -o '0103020' <<<"$out" | wc -l)" 5 "five pipelined reads before any detection: all answered"
raw "$GW" 000300000006010800010000 --wait 1 >/dev/null
t_grep "one restart (score 30): threat.throttle" '"kind":"threat.throttle","source":"threat","identity":"hmi-legacy".*"action":"throttle"' "$EV"
out=$(raw "$GW" $reads --wait 1)
t_ok "the same five reads now: some refused with exception 0x01 ($out)" grep -q '018301' <<<"$out"
t_grep "  ... the denial says the threat engine throttled it" \
	'"kind":"modbus.denied".*"identity":"hmi-legacy".*"reason":"throttled by the threat engine: score [0-9]+ is above 20' "$EV"
"$CTL" --socket "$SOCK" release hmi-legacy >/dev/null
out=$(raw "$GW" $reads --wait 1)
t_is "$(grep -o '0103020' <<<"$out" | wc -l)" 5 "released: all five answered again"

t_ok "zonegated stops cleanly" zg_stop
t_is "$T_STATUS" 0 "  ... exit 0"
t_done
