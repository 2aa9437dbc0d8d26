#!/usr/bin/env bash
# The poller end to end: zg-plcsim (contrib/plcsim, libmodbus) holds known
# bit patterns for every type in every byte order, the real daemon polls
# it, and the values it emitted (the debug log line of every telemetry
# message, JSON log format) are checked against values computed here with
# Python's struct module, not by the code under test.  Then: a device
# that goes silent (stale, then bad, with the reason) while another keeps
# reporting; a read the policy does not allow (bad "denied by policy" and
# a security event, and the device never sees it); a device exception;
# write-back commands (written, denied by a value bound and by a range,
# refused, malformed; audited); a reload that adds a point.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus"

t_plan 52
D=$T_TMP

sim_start() {
	local name=$1; shift
	"$SIMBIN" -p 0 --ready-file "$D/$name.port" "$@" >"$D/$name.log" 2>&1 &
	T_PIDS+=($!)
	t_wait 20 test -s "$D/$name.port" || return 1
	printf -v "${name}_PORT" '%s' "$(cat "$D/$name.port")"
}

# The register map, the points and the expected values, from struct.
$PY - "$D" <<'PYEOF'
import json, math, struct, sys
d = sys.argv[1]
orders = ["ABCD", "CDAB", "BADC", "DCBA"]

def regs(b, order):
    """Value bytes (big-endian) -> register values in the given order."""
    w = [b[i:i + 2] for i in range(0, len(b), 2)]
    if order in ("BADC", "DCBA"):
        w = [x[::-1] for x in w]
    if order in ("CDAB", "DCBA"):
        w = w[::-1]
    return [struct.unpack(">H", x)[0] for x in w]

sets, points, expect, groups = [], {}, {}, {}
addr = 0
def add(group, name, typ, fmt, value, order="ABCD", want=None, **extra):
    global addr
    r = regs(struct.pack(fmt, value), order)
    sets.append("hr:%d=%s" % (addr, ",".join("0x%04X" % x for x in r)))
    p = dict(name=name, table="holding", address=addr, type=typ, order=order)
    p.update(extra)
    groups.setdefault(group, []).append(p)
    expect[name] = value if want is None else want
    addr += len(r)

add("i16", "int16", "int16", ">h", -2)
add("i16", "int16_BADC", "int16", ">h", -12345, "BADC")
add("i16", "uint16", "uint16", ">H", 65534)
add("i16", "uint16_BADC", "uint16", ">H", 0x1234, "BADC")
for o in orders:
    add("i32", "int32_" + o, "int32", ">i", -123456789, o)
    add("u32", "uint32_" + o, "uint32", ">I", 0xDEADBEEF, o)
    add("f32", "float32_" + o, "float32", ">f", 123.456, o)
    add("i64", "int64_" + o, "int64", ">q", -1234567890123456789, o)
    add("u64", "uint64_" + o, "uint64", ">Q", 0xFEDCBA9876543210, o)
    add("f64", "float64_" + o, "float64", ">d", math.pi, o)
add("f32", "scaled", "uint16", ">H", 215, want=21.5, scale=0.1, unit="degC")
add("f32", "offset", "int16", ">h", -100, want=-90.0, scale=0.5, offset=-40.0)
# strings: "Hello!" high byte first, and bytes swapped
sets.append("hr:%d=0x4865,0x6C6C,0x6F21" % addr)
groups["str"] = [dict(name="text", table="holding", address=addr, type="string", registers=3)]
expect["text"] = "Hello!"
addr += 3
sets.append("hr:%d=0x6548,0x6C6C,0x216F" % addr)
groups["str"].append(dict(name="text_BADC", table="holding", address=addr, type="string", registers=3, order="BADC"))
expect["text_BADC"] = "Hello!"
addr += 3
sets.append("hr:%d=0x8001" % addr)
groups["str"].append(dict(name="flag15", table="holding", address=addr, type="bool", bit=15))
groups["str"].append(dict(name="flag1", table="holding", address=addr, type="bool", bit=1))
expect["flag15"], expect["flag1"] = True, False
addr += 1
sets.append("coil:7=1")
groups["str"].append(dict(name="coil7", table="coils", address=7))
groups["str"].append(dict(name="coil6", table="coils", address=6))
expect["coil7"], expect["coil6"] = True, False
sets.append("ir:3=0x7FC0,0x0000")
groups["str"].append(dict(name="nan", table="input", address=3, type="float32"))

def conf_val(v):
    if isinstance(v, str):
        return '"%s"' % v
    return repr(v)
out = []
for g, pts in groups.items():
    body = ",\n      ".join("{ " + " ".join("%s = %s;" % (k, conf_val(v)) for k, v in p.items()) + " }" for p in pts)
    out.append('    { name = "%s"; device = "plc-1"; interval = 0.2; report = "always";\n      points = (\n      %s ); }' % (g, body))
open(d + "/groups.conf", "w").write(",\n".join(out))
open(d + "/sets", "w").write("\n".join(sets) + "\n")
json.dump(expect, open(d + "/expect.json", "w"))
PYEOF

# tel.py LOG DEVICE: the latest report of every point of DEVICE, one line
# each: NAME QUALITY VALUE(json) REASON
cat >"$D/tel.py" <<'PYEOF'
import json, sys
last = {}
for line in open(sys.argv[1], errors="replace"):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    m = o.get("msg", "")
    pre = "emit telemetry/%s " % sys.argv[2]
    if not m.startswith(pre):
        continue
    try:
        msg = json.JSONDecoder().raw_decode(m[len(pre):])[0]  # then " (zone Z)"
    except ValueError:
        print("unparsable telemetry:", m[:200])
        continue
    for p in msg["points"]:
        last[p["name"]] = p
for n, p in sorted(last.items()):
    print(n, p["quality"], json.dumps(p["value"]), p.get("reason", ""))
PYEOF
tel() { $PY "$D/tel.py" "$LOG" "$1"; }
point() { tel "$1" | awk -v n="$2" '$1 == n'; }

mkfifo "$D/quiet.ctl"
t_ok "simulator with the known values is listening" \
	sim_start plc -v --holding 240 --log-writes "$D/plc.writes" $(sed 's/^/--set /' "$D/sets")
t_ok "second simulator (will go silent) is listening" \
	sim_start quiet --control "$D/quiet.ctl" --set holding:0=42

CMD=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-poller-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "debug"; format = "json"; };
zones = ( { name = "scada"; }, { name = "cell1"; }, { name = "cloud"; } );
devices = (
  { identity = "zonegate-poller"; zone = "scada"; },
  { identity = "cloud-app"; zone = "cloud"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$plc_PORT"; unit = 1; },
  { identity = "plc-quiet"; zone = "cell1"; address = "127.0.0.1:$quiet_PORT"; unit = 1; }
);
conduits = (
  { name = "poller-reads"; from = "scada"; to = "cell1";
    modbus = { read = { holding_registers = ["0-199", "230-299"]; coils = ["0-99"];
                        input_registers = ["0-99"]; }; }; },
  { name = "cloud-writes"; from = "cloud"; to = "cell1";
    modbus = { write = { holding_registers = ( { range = "150-159"; min = 0; max = 1000; } );
                         coils = ["20"]; }; }; }
);
plugins = ( { name = "modbus"; config = {
  devices = (
    { identity = "plc-1"; address = "127.0.0.1:$plc_PORT"; request_timeout = 0.5; },
    { identity = "plc-quiet"; address = "127.0.0.1:$quiet_PORT"; request_timeout = 0.3; }
  );
  poll = { identity = "zonegate-poller"; groups = (
$(cat "$D/groups.conf"),
    { name = "setpoints"; device = "plc-1"; interval = 0.2; points = (
      { name = "setpoint"; address = 150; type = "int16"; scale = 0.1; writable = true; },
      { name = "limit"; address = 160; writable = true; },
      { name = "readonly"; address = 161; },
      { name = "pump"; table = "coils"; address = 20; writable = true; } ); },
    { name = "policy"; device = "plc-1"; interval = 0.2; points = (
      { name = "forbidden"; address = 220; },
      { name = "missing"; address = 250; } ); },
    { name = "quiet"; device = "plc-quiet"; interval = 0.2; max_age = 1.0; points = (
      { name = "level"; address = 0; } ); }
  ); };
  commands = { listen = "127.0.0.1:$CMD"; };
}; } );
C
# --- configuration errors: file, line and key, all at once -------------------
cat >"$D/bad.conf" <<C
zones = ( { name = "scada"; }, { name = "cell1"; } );
devices = ( { identity = "zonegate-poller"; zone = "scada"; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$plc_PORT"; unit = 1; } );
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$plc_PORT"; unit = 1; } );
  poll = { identity = "zonegate-poller"; groups = (
    { device = "plc-1"; unit = 2; points = ( { name = "a"; address = 0; } ); },
    { device = "plc-9"; points = ( { name = "a"; address = 0; } ); },
    { device = "plc-1"; points = (
      { name = "a"; address = 0; },
      { name = "a"; address = 1; },
      { name = "big"; address = 65533; type = "uint64"; },
      { name = "s"; address = 2; type = "string"; },
      { name = "t"; address = 3; type = "float128"; },
      { name = "u"; address = 4; colour = "red"; },
      { name = "w"; table = "input"; address = 5; writable = true; } ); }
  ); };
}; } );
C
"$ZONEGATED" -t -c "$D/bad.conf" >"$D/bad.out" 2>&1
t_is "$?" "1" "a bad poll section is refused by zonegated -t"
t_is "$(grep -cE 'bad.conf:[0-9]+: ' "$D/bad.out")" "8" "  ... with all 8 errors, each at file:line"
t_grep "  ... unit 2 for a device fixed at unit 1" 'bad.conf:7: .*unit: device plc-1 always uses unit 1' "$D/bad.out"
t_grep "  ... an unknown device" 'bad.conf:8: .*device: "plc-9" is not in the plugin.s devices list' "$D/bad.out"
t_grep "  ... a duplicate point name" 'bad.conf:11: .*name: device plc-1 already has a point named "a"' "$D/bad.out"
t_grep "  ... a point past 65535" 'bad.conf:12: .*point "big": the point runs past address 65535' "$D/bad.out"
t_grep "  ... a string without length" 'bad.conf:13: .*registers: a string point needs its length' "$D/bad.out"
t_grep "  ... an unknown type" 'bad.conf:14: .*type: "float128" is not one of' "$D/bad.out"
t_grep "  ... an unknown key" 'bad.conf:15: .*colour' "$D/bad.out"
t_grep "  ... a writable input register" 'bad.conf:16: .*writable: point "w" cannot be written' "$D/bad.out"

LOG=$D/gw.log
zg_check() { "$ZONEGATED" -t -c "$D/gw.conf" >"$D/check.out" 2>&1; }
t_ok "zonegated -t accepts the poll section" zg_check
t_ok "zonegated polling both simulators is ready" zg_start "$D/gw.conf" "$LOG"

# --- every type and byte order ---------------------------------------------
all_reported() { [ "$(tel plc-1 | wc -l)" -ge "$($PY -c "import json;print(len(json.load(open('$D/expect.json')))+3)")" ]; }
t_ok "every point of plc-1 was reported" t_wait 10 all_reported
tel plc-1 >"$D/reported"
bad=$($PY - "$D/expect.json" "$D/reported" <<'PYEOF'
import json, sys
expect = json.load(open(sys.argv[1]))
got = {}
for line in open(sys.argv[2]):
    n, q, v = line.split(" ", 3)[:3]
    got[n] = (q, json.loads(v))
bad = []
for n, e in expect.items():
    q, v = got.get(n, ("missing", None))
    if n.startswith("float32_"):
        same = isinstance(v, float) and abs(v - e) <= 1e-6 * abs(e)
    else:
        same = v == e and type(v) == type(e) or (isinstance(e, float) and v == e)
    if q != "good" or not same:
        bad.append("%s: got %s %r, want good %r" % (n, q, v, e))
print("\n".join(bad))
PYEOF
)
t_is "$bad" "" "all $(wc -l <"$D/reported") values decode as Python's struct encodes them (every type, every order)"
t_is "$(point plc-1 int64_DCBA | cut -d' ' -f2-3)" "good -1234567890123456789" "int64 DCBA exact"
t_is "$(point plc-1 uint64_CDAB | cut -d' ' -f2-3)" "good 18364758544493064720" "uint64 CDAB exact"
t_is "$(point plc-1 float64_BADC | cut -d' ' -f2-3)" "good 3.141592653589793" "float64 BADC: pi"
t_is "$(point plc-1 scaled | cut -d' ' -f2-3)" "good 21.5" "uint16 215 with scale 0.1 is 21.5"
t_ok "  ... with its unit" grep -q '\\"name\\":\\"scaled\\",\\"value\\":21.5,\\"unit\\":\\"degC\\"' "$LOG"
t_is "$(point plc-1 nan)" "nan bad null the device holds NaN (not a number)" "float32 NaN: null, bad, with the reason"
t_ok "telemetry carries device, group and cycle time; the zone goes to the envelope" \
	grep -qE 'emit telemetry/plc-1 \{\\"device\\":\\"plc-1\\",\\"group\\":\\"[a-z0-9-]+\\",\\"cycle_ts\\":\\"[0-9-]+T[0-9:.]+Z\\",\\"points\\":.* \(zone cell1\)' "$LOG"

# --- policy ------------------------------------------------------------------
t_is "$($PY "$MBT" read "$plc_PORT" 1 220 1)" "0" "direct read of holding 220 works (the forbidden read is possible)"
before=$(grep -c 'addr 220 ' "$D/plc.log")
t_is "$(point plc-1 forbidden | cut -d' ' -f2-6)" "bad null denied by policy:" "holding 220 through the poller: bad, denied by policy"
t_ok "  ... and a security event names identity, device and conduit" \
	grep -qE '"kind":"modbus.poll_denied".*"identity":"zonegate-poller","target":"plc-1".*"rule":"poller-reads"' "$LOG"
t_is "$(grep -c '"kind":"modbus.poll_denied"' "$LOG")" "1" "  ... once, not every cycle"
t_is "$(grep -c 'addr 220 ' "$D/plc.log")" "$before" "  ... and the device never saw the read"
refused() { point plc-1 missing | grep -q '^missing bad null the device answered exception 0x02 (illegal data address)$'; }
t_ok "an allowed read the device refuses: bad with the device's exception" refused

# --- write-back commands ----------------------------------------------------
# cmd LINE...: send each line to the command endpoint, print each answer.
cmd() {
	$PY - "$CMD" "$@" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
f = s.makefile("rwb")
for line in sys.argv[2:]:
    f.write(line.encode() + b"\n")
f.flush()
for _ in sys.argv[2:]:
    print(f.readline().decode().rstrip("\n"))
PYEOF
}
t_is "$(cmd '{"id":"c1","device":"plc-1","point":"setpoint","value":21.5}')" \
	'{"id":"c1","device":"plc-1","point":"setpoint","result":"ok"}' "command: setpoint 21.5 written"
t_grep "  ... as raw 215 (scale 0.1) with FC 6" 'fc=6 unit=1 addr=150 count=1 values=215 .*result=applied' "$D/plc.writes"
sp() { point plc-1 setpoint | grep -q '^setpoint good 21.5'; }
t_ok "  ... and the poller reads it back" t_wait 5 sp
t_ok "  ... audited: modbus.command names identity, device and value" \
	grep -qE '"kind":"modbus.command".*"identity":"cloud-app","target":"plc-1".*"detail":"command c1 setpoint = 21.5 \(FC6 write holding 150' "$LOG"
out=$(cmd '{"id":"c2","device":"plc-1","point":"setpoint","value":150}')
t_ok "command: 150 (raw 1500, above the conduit's max 1000) denied" \
	grep -q '"result":"denied","reason":"value 1500 for holding register 150 is outside 0..1000' <<<"$out"
t_ok "  ... never written" bash -c "! grep -q 'values=1500' '$D/plc.writes'"
t_ok "  ... audited: modbus.command_denied" grep -q '"kind":"modbus.command_denied".*"detail":"command c2 setpoint = 150' "$LOG"
t_is "$($PY "$MBT" write "$plc_PORT" 1 160 5)" "OK" "direct write to holding 160 works (the forbidden write is possible)"
t_is "$(cmd '{"device":"plc-1","point":"limit","value":7}' | sed 's/"reason":"[^"]*"/R/')" \
	'{"id":"","device":"plc-1","point":"limit","result":"denied",R}' "command: holding 160 (outside the write range) denied"
t_is "$(grep -c 'addr=160' "$D/plc.writes")" "1" "  ... only the direct write reached the device"
t_is "$(cmd '{"device":"plc-1","point":"readonly","value":1}')" \
	'{"id":"","device":"plc-1","point":"readonly","result":"error","reason":"point is not writable (writable = true in its poll group)"}' \
	"command on a point without writable: refused"
t_is "$(cmd '{"device":"plc-1","point":"setpoint","value":5000}' | grep -o '"result":"error","reason":"[^"]*"')" \
	'"result":"error","reason":"value outside the range of the point'"'"'s type"' "command: 5000 (raw 50000) does not fit int16"
# Answers come as commands complete: the malformed one (answered at once) first.
t_is "$(cmd '{"id":"a","device":"plc-1","point":"pump","value":true}' '{"id":"b","device":"plc-1","point":"setpoint","value":}' | sed 's/"reason":"expected [^"]*"/R/')" \
	'{"id":"b","device":"plc-1","point":"setpoint","result":"error",R}
{"id":"a","device":"plc-1","point":"pump","result":"ok"}' "command: malformed JSON answered with an error; coil true written"
t_grep "  ... the coil with FC 5" 'fc=5 unit=1 addr=20 count=1 values=1 .*result=applied' "$D/plc.writes"

# --- a device that goes silent ---------------------------------------------
good_q() { point plc-quiet level | grep -q '^level good 42'; }
t_ok "plc-quiet: level good 42" t_wait 10 good_q
echo 'silent on' | timeout 5 tee "$D/quiet.ctl" >/dev/null
t_ok "simulator went silent" t_wait 5 grep -q 'control: silent on' "$D/quiet.log"
emits_before=$(grep -c 'emit telemetry/plc-1 ' "$LOG")
stale() { point plc-quiet level | grep -q '^level stale 42 no answer from the device within 0.300s'; }
t_ok "plc-quiet silent: level stale, last value, reason" t_wait 5 stale
bad_q() { point plc-quiet level | grep -q '^level bad null no answer from the device'; }
t_ok "  ... then bad after max_age" t_wait 5 bad_q
t_ok "  ... while plc-1 kept reporting" \
	test "$(grep -c 'emit telemetry/plc-1 ' "$LOG")" -ge $((emits_before + 10))
echo 'silent off' | timeout 5 tee "$D/quiet.ctl" >/dev/null
t_ok "silent off: good again" t_wait 10 good_q

# --- reload: a new point, device connections kept ----------------------------
sed -i 's/{ name = "level"; address = 0; } ); }/{ name = "level"; address = 0; }, { name = "level2"; address = 1; } ); }/' "$D/gw.conf"
kill -HUP "$ZG_PID"
new_point() { point plc-quiet level2 | grep -q '^level2 good 0'; }
t_ok "reload adds a point: reported" t_wait 10 new_point
t_ok "  ... device connections kept" grep -q 'settings unchanged' "$LOG"

zg_stop 10
t_is "${T_STATUS:-timeout}" 0 "zonegated stops cleanly (exit 0, no leak report)"
t_done
