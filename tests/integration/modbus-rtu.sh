#!/usr/bin/env bash
# Modbus RTU behind the gateway, end to end: Modbus/TCP clients (pymodbus
# through tests/integration/mbtool.py, raw frames) -> zonegated -> serial
# lines made of socat pty pairs -> zg-plcsim in RTU mode (libmodbus).
#
#   line A: units 1 and 5 (two devices sharing one line), and a device
#           that keeps the client's unit (broadcasts)
#   line B: unit 2, plus a device for units the simulator ignores (to
#           hold the line's worker while deadlines pass)
#   TCP:    one Modbus/TCP device, to show serial trouble stays there
#
# The forbidden write is first shown to work on the line directly (mbpoll
# as an RTU master, before the gateway holds the port), then refused
# through the gateway without reaching the line.  Nothing sleeps to
# synchronise: every wait polls a condition against a deadline.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
command -v socat >/dev/null || t_skip_all "socat missing: apt-get install socat"
command -v mbpoll >/dev/null || t_skip_all "mbpoll missing: apt-get install mbpoll"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus python3-serial-asyncio"

t_plan 76
D=$T_TMP

mbt() { $PY "$MBT" "$@"; }
raw() { mbt raw "$@" | tr '\n' ' ' | sed 's/ $//'; }

# pty_pair NAME: a socat pty pair $D/NAME-gw (the gateway's side) <->
# $D/NAME-dev (the device's side); waits for both links and the copy loop.
pty_pair() {
	rm -f "$D/$1-gw" "$D/$1-dev"
	socat -d -d pty,raw,echo=0,link="$D/$1-gw" pty,raw,echo=0,link="$D/$1-dev" \
		2>"$D/socat-$1.log" &
	T_PIDS+=($!)
	printf -v "socat_$1" '%s' "$!"
	t_wait 10 grep -q 'starting data transfer loop' "$D/socat-$1.log" &&
		test -e "$D/$1-gw" -a -e "$D/$1-dev"
}

# rtu_sim NAME LINE ARGS...: zg-plcsim on LINE's device side, 19200 8N1.
rtu_sim() {
	local name=$1 line=$2; shift 2
	rm -f "$D/$name.ready"
	"$SIMBIN" -r "$D/$line-dev" -b 19200 -P N -S 1 -v \
		--ready-file "$D/$name.ready" "$@" 2>>"$D/$name.log" &
	T_PIDS+=($!)
	printf -v "sim_$name" '%s' "$!"
	t_wait 10 test -s "$D/$name.ready"
}

# rtu_poll LINE ARGS...: mbpoll as the RTU master of LINE, values only.
rtu_poll() {
	local line=$1; shift
	timeout 10 mbpoll -m rtu -b 19200 -P none -o 1 -1 "$D/$line-gw" "$@" \
		2>>"$D/mbpoll.err" |
		sed -n 's/^\[[0-9]*\]:[[:space:]]*//p' | tr '\n' ' ' | sed 's/ $//'
}

# ctl NAME COMMAND: a control command to a simulator, and wait for its ack.
ctl() {
	timeout 5 sh -c "echo '$2' > '$D/$1.ctl'" &&
		t_wait 5 grep -q "control: $2\$" "$D/$1.log"
}

count() { t_count "$1" "$2"; }

t_ok "pty pair for line A" pty_pair lineA
t_ok "pty pair for line B" pty_pair lineB
mkfifo "$D/rtub.ctl"
t_ok "RTU simulator on line A (any unit) is ready" \
	rtu_sim rtua lineA -u any --log-writes "$D/rtua.writes" \
	--set holding:0=11,22,33,44,55 --set holding:25=777
t_ok "RTU simulator on line B (unit 2) is ready" \
	rtu_sim rtub lineB -u 2 --control "$D/rtub.ctl" --set holding:0=201,202
"$SIMBIN" -p 0 --ready-file "$D/tcp.port" --set holding:0=301,302 \
	2>"$D/tcp.log" &
T_PIDS+=($!)
t_ok "Modbus/TCP simulator is ready" t_wait 10 test -s "$D/tcp.port"
TCP_PORT=$(cat "$D/tcp.port")

# --- the line without the gateway ------------------------------------------
t_is "$(rtu_poll lineA -a 1 -t 4 -0 -r 0 -c 5)" "11 22 33 44 55" \
	"direct RTU read of holding 0-4 on line A (mbpoll)"
rtu_poll lineA -a 1 -t 4 -0 -r 25 778 >/dev/null
t_is "$(rtu_poll lineA -a 1 -t 4 -0 -r 25 -c 1)" "778" \
	"direct RTU write to holding 25 works (the forbidden action is possible)"
t_ok "  ... and the simulator logged it" \
	grep -q 'fc=6 unit=1 addr=25 count=1 values=778 .*result=applied' "$D/rtua.writes"

# --- configuration -----------------------------------------------------------
GW=$(t_free_port)
# gw_conf [EXTRA_DEVICE]: the gateway's config on stdout.
gw_conf() {
	local ser_a="device = \"$D/lineA-gw\"; baud = 19200; parity = \"none\"; stop_bits = 1;
                 response_timeout = 0.3; turnaround = 0.05;"
	local ser_b="device = \"$D/lineB-gw\"; baud = 19200; parity = \"none\"; stop_bits = 1;
                 response_timeout = 3.0; reopen_min = 0.1; reopen_max = 0.4;"
	cat <<C
gateway = { id = "gw-rtu-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "debug"; format = "json"; };
# Attacks and normal traffic come from one identity here: detections
# only, no automatic quarantine (tests/integration/threat.sh tests that).
threat = { quarantine_threshold = 0.0; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "meter-1"; zone = "cell1"; unit = 1; },
  { identity = "meter-5"; zone = "cell1"; unit = 5; },
  { identity = "line-a-any"; zone = "cell1"; },
  { identity = "meter-2"; zone = "cell1"; unit = 2; },
  { identity = "line-b-any"; zone = "cell1"; },
  { identity = "plc-tcp"; zone = "cell1"; address = "127.0.0.1:$TCP_PORT"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1, 2, 4, 5]; broadcast = true; functions = [3, 6, 8, 16, 23];
               max_quantity = 125;
               read = { holding_registers = ["0-99"]; };
               write = { holding_registers = ["10-19"]; }; };
  }
);
plugins = ( { name = "modbus"; config = {
  devices = (
    { identity = "meter-1"; serial = { $ser_a }; unit = 1; request_timeout = 5.0; },
    { identity = "meter-5"; serial = { $ser_a }; unit = 5; request_timeout = 5.0; },
    { identity = "line-a-any"; serial = { $ser_a }; request_timeout = 5.0; },
    { identity = "meter-2"; serial = { $ser_b }; unit = 2; request_timeout = 6.0; },
    { identity = "line-b-any"; serial = { $ser_b }; request_timeout = 0.4; },
    { identity = "plc-tcp"; address = "127.0.0.1:$TCP_PORT"; unit = 1; }$1
  );
  listeners = (
    { listen = "127.0.0.1:$GW"; max_connections_per_source = 200; max_outstanding = 200;
      routes = ( { unit = 0; device = "line-a-any"; }, { unit = 1; device = "meter-1"; },
                 { unit = 5; device = "meter-5"; }, { unit = 2; device = "meter-2"; },
                 { unit = 4; device = "line-b-any"; }, { unit = 3; device = "plc-tcp"; } ); }
  );
}; } );
C
}
# check_conf EXTRA_DEVICE: zonegated -t on a variant; its output in $D/t.out.
check_conf() {
	gw_conf "$1" >"$D/t.conf"
	! "$ZONEGATED" -t -c "$D/t.conf" >"$D/t.out" 2>&1
}
t_ok "one line shared with other settings is refused, naming both devices" eval \
	'check_conf ", { identity = \"meter-9\"; unit = 9;
	   serial = { device = \"$D/lineA-gw\"; baud = 9600; parity = \"none\"; }; }" &&
	 grep -q "serial line $D/lineA-gw is shared by devices \"meter-1\" (19200 8N1.*) and \"meter-9\" (9600 8N1" "$D/t.out"'
t_ok "address and serial on one device are refused" eval \
	'check_conf ", { identity = \"meter-9\"; address = \"127.0.0.1:1\"; serial = { device = \"/dev/null\"; }; }" &&
	 grep -q "exactly one of address" "$D/t.out"'
t_ok "unit 0 (broadcast) as a serial device's unit is refused" eval \
	'check_conf ", { identity = \"meter-9\"; unit = 0; serial = { device = \"/dev/ttyS9\"; }; }" &&
	 grep -q "unit: 0 cannot address one device on a serial line" "$D/t.out"'
t_ok "a TCP pool setting on a serial device is refused" eval \
	'check_conf ", { identity = \"meter-9\"; connections = 2; serial = { device = \"/dev/ttyS9\"; }; }" &&
	 grep -q "connections: applies to TCP devices" "$D/t.out"'
t_ok "two devices with one fixed unit on one line are refused" eval \
	'check_conf ", { identity = \"meter-9\"; unit = 5; serial = { device = \"$D/lineA-gw\"; baud = 19200; parity = \"none\"; stop_bits = 1;
                 response_timeout = 0.3; turnaround = 0.05; }; }" &&
	 grep -q "unit 5 on serial line $D/lineA-gw is already device \"meter-5\"" "$D/t.out"'
t_ok "a speed libmodbus would silently open at 9600 baud is refused" eval \
	'check_conf ", { identity = \"meter-9\"; serial = { device = \"/dev/ttyS9\"; baud = 20000; }; }" &&
	 grep -q "baud: 20000 is not a standard speed" "$D/t.out"'
t_ok "a bad parity is refused" eval \
	'check_conf ", { identity = \"meter-9\"; serial = { device = \"/dev/ttyS9\"; parity = \"mark\"; }; }" &&
	 grep -q "parity: \"mark\" is not one of" "$D/t.out"'

gw_conf "" >"$D/gw.conf"
t_ok "the configuration checks (zonegated -t)" eval '"$ZONEGATED" -t -c "$D/gw.conf" >"$D/t.out" 2>&1'
LOG=$D/gw.log
t_ok "zonegated with serial devices is ready" zg_start "$D/gw.conf" "$LOG"
t_ok "line A is open once, for its three devices" t_wait 10 grep -q \
	"serial line $D/lineA-gw (19200 8N1) open for meter-1 (unit 1), meter-5 (unit 5), line-a-any (client's unit)" "$LOG"
t_ok "line B is open" t_wait 10 grep -q "serial line $D/lineB-gw (19200 8N1) open for meter-2 (unit 2)" "$LOG"
t_is "$(count 'serial line .* open for' "$LOG")" "2" "  ... one line object per port, not per device"

# --- allowed traffic -----------------------------------------------------------
t_is "$(mbt read "$GW" 1 0 5)" "11 22 33 44 55" "read through zonegate returns the simulator's values (line A, unit 1)"
t_is "$(mbt read "$GW" 5 0 2)" "11 22" "unit 5 on the same line"
t_ok "  ... went out as unit 5" grep -q 'unit 5 fc 3 read-holding-registers addr 0 qty 2 -> ok' "$D/rtua.log"
t_is "$(mbt read "$GW" 2 0 2)" "201 202" "line B, unit 2"
t_is "$(mbt read "$GW" 3 0 2)" "301 302" "the Modbus/TCP device next to them"
t_is "$(mbt write "$GW" 1 12 42)" "OK" "allowed write (holding 12) through zonegate"
t_ok "  ... landed on the device" grep -q 'fc=6 unit=1 addr=12 count=1 values=42 .*result=applied' "$D/rtua.writes"
t_is "$(mbt read "$GW" 1 12 1)" "42" "  ... and reads back"
t_is "$(raw "$GW" 001000000006010800001234 --wait 0.5)" "001000000003018801 TIMEOUT" \
	"FC 8 (answer framed by rtu.c, not libmodbus): the device's own exception 0x01 comes back"
t_ok "  ... the request reached the device" grep -q 'unit 1 fc 8 .*-> exception:1' "$D/rtua.log"

# --- enforcement -------------------------------------------------------------
fc6_before=$(count 'fc 6 ' "$D/rtua.log")
t_is "$(mbt write "$GW" 1 25 1234)" "EXC 1" "write to holding 25 through zonegate: exception 0x01"
t_is "$(mbt rw "$GW" 1 0 2 25 999)" "EXC 1" "FC 23 smuggling a write to 25: exception 0x01"
t_is "$(mbt read "$GW" 1 25 1)" "778" "  ... the register is unchanged"
t_ok "  ... neither request reached the line" eval \
	'[ "$(count "fc 6 " "$D/rtua.log")" = "$fc6_before" ] &&
	 ! grep -q "values=1234\|values=999" "$D/rtua.writes" && ! grep -q "fc 23" "$D/rtua.log"'
t_ok "  ... a security event names identity, device, rule and request" \
	grep -qE '"kind":"modbus.denied".*"identity":"hmi-legacy","target":"meter-1".*"rule":"ops-to-cell1".*"detail":"FC6 write holding 25' "$LOG"
t_is "$(mbt read "$GW" 9 0 1)" "EXC 10" "a unit with no route: exception 0x0A"
t_ok "  ... reported" grep -q '"kind":"modbus.no_route".*no device behind unit 9' "$LOG"

# --- broadcast ---------------------------------------------------------------
t_is "$(raw "$GW" 0020000000060006000b0063 --wait 0.5)" "TIMEOUT" "a broadcast write (unit 0) gets no answer"
t_ok "  ... the line carried it as a broadcast" \
	t_wait 5 grep -q 'fc=6 unit=0 addr=11 count=1 values=99 .*result=broadcast' "$D/rtua.writes"
t_is "$(mbt read "$GW" 1 11 1)" "99" "  ... the device executed it, and the line serves the next request"

# --- several clients on one line ----------------------------------------------
reads_before=$(count 'fc 3 read-holding-registers addr 0 qty 5 -> ok' "$D/rtua.log")
t_is "$(mbt concurrent "$GW" 1 40 0 5)" "ok=40 bad=0" "40 clients at once on one serial line"
t_is "$(( $(count 'fc 3 read-holding-registers addr 0 qty 5 -> ok' "$D/rtua.log") - reads_before ))" \
	"40" "  ... 40 transactions on the line"
pids=()
for i in 1 2 3 4 5 6; do
	u=$(( i % 2 ? 1 : 5 ))
	mbt read "$GW" "$u" "$i" 3 >"$D/par.$i" &
	pids+=($!)
done
wait "${pids[@]}"
good=0
for i in 1 2 3 4 5 6; do
	want=$(echo "11 22 33 44 55 0 0 0 0 0" | cut -d' ' -f$((i + 1))-$((i + 3)))
	[ "$(cat "$D/par.$i")" = "$want" ] && good=$((good + 1)) || t_diag "client $i: got '$(cat "$D/par.$i")', want '$want'"
done
t_is "$good" "6" "six pymodbus clients, units 1 and 5 mixed: each gets its own values"

# --- deadlines while the worker holds a request ---------------------------------
# line-b-any keeps the client's unit: unit 4 is ignored by the simulator,
# so the worker waits response_timeout (3 s: long enough that the
# clients below start and act while the line is still held, even on a
# loaded machine) while the request's deadline
# (0.4 s) passes.  The client is answered at the deadline; the worker's job
# comes back later and is dropped; the requests after it are served.
t_is "$(mbt read "$GW" 4 0 1)" "EXC 11" "deadline passes while the line's worker holds the request: 0x0B"
t_ok "  ... reported as a device timeout of 0.4 s" \
	grep -q '"kind":"modbus.device_timeout".*line-b-any (serial line .*) did not answer FC3 read holding 0 (1 reg) unit 4 within 0.400s"' "$LOG"
t_ok "  ... the worker's result for it comes back later and is dropped" \
	t_wait 5 grep -q 'unit 4: no answer for a request already given up (request_timeout): dropped' "$LOG"
n4=$(count 'unit 4 fc 3' "$D/rtub.log")
mbt read "$GW" 4 0 1 >"$D/u4a" &
p4=$!
t_ok "another unit-4 request holds the line" \
	t_wait 5 bash -c "[ \$(grep -c 'unit 4 fc 3' '$D/rtub.log') -gt $n4 ]"
t_is "$(mbt read "$GW" 4 1 1)" "EXC 11" "a request queued behind it whose deadline passes: 0x0B"
t_ok "  ... reported as still queued" \
	grep -q 'did not answer FC3 read holding 1 (1 reg) unit 4 within 0.400s (still queued behind other requests on the line)' "$LOG"
t_is "$(mbt read "$GW" 2 0 2)" "201 202" "unit 2, queued behind the held request, is answered correctly"
wait "$p4"

# A client that queues a write behind the held line and leaves: its write
# must not run later on the line (nobody waits for it, and it would let a
# client exceed max_outstanding by leaving).
t_is "$(mbt read "$GW" 2 13 1)" "0" "holding 13 of unit 2 is 0 before"
gone=$(count 'unit 4: no answer for a request already given up' "$LOG")
mbt read "$GW" 4 0 1 >/dev/null &
p4=$!
t_ok "a unit-4 request holds line B again" \
	t_wait 5 bash -c "[ \$(grep -c 'unit 4 fc 3' '$D/rtub.log') -gt $((n4 + 1)) ]"
t_is "$(raw "$GW" 0030000000060206000d1111 --wait 0.2)" "TIMEOUT" \
	"a client queues a write to unit 2 behind it and leaves"
wait "$p4"
t_ok "  ... the held request ends" t_wait 5 bash -c \
	"[ \$(grep -c 'unit 4: no answer for a request already given up' '$LOG') -gt $gone ]"
t_is "$(mbt read "$GW" 2 13 1)" "0" "  ... the abandoned write never ran on the line"
t_ok "  ... the simulator saw no write" eval '! grep -q "unit 2 fc 6" "$D/rtub.log"'
t_is "$(mbt write "$GW" 2 13 4369)" "OK" "the same write from a client that waits is executed"
t_is "$(mbt read "$GW" 2 13 1)" "4369" "  ... and reads back"

# --- a silent device ----------------------------------------------------------
t_ok "simulator on line B acknowledges going silent" ctl rtub "silent on"
mbt read "$GW" 2 0 1 >"$D/silent.out" &
ps=$!
t_ok "  ... it received the request" t_wait 5 grep -q 'unit 2 fc 3 .*-> no answer (silent)' "$D/rtub.log"
t_is "$(mbt read "$GW" 1 0 2)" "11 22" "line A is served while line B waits for an answer"
t_is "$(mbt read "$GW" 3 0 2)" "301 302" "the TCP device is served too"
t_ok "  ... while the request on line B was still outstanding" t_alive "$ps"
wait "$ps"
t_is "$(cat "$D/silent.out")" "EXC 11" "silent device: exception 0x0B after response_timeout"
t_ok "  ... reported as a device timeout on the line" \
	grep -q '"kind":"modbus.device_timeout".*device meter-2 (serial line .* unit 2) did not answer FC3 read holding 0 (1 reg) unit 2 within 3.000s' "$LOG"
t_ok "simulator on line B speaks again" ctl rtub "silent off"
t_is "$(mbt read "$GW" 2 0 2)" "201 202" "  ... and is served again"

# --- the line goes away and comes back -----------------------------------------
kill -TERM "$socat_lineB"
t_wait 5 t_dead "$socat_lineB"
t_is "$(mbt read "$GW" 2 0 1)" "EXC 11" "line B gone: exception 0x0B"
t_ok "  ... modbus.device_down names the line and its devices" t_wait 5 grep -q \
	"\"kind\":\"modbus.device_down\".*serial line $D/lineB-gw of meter-2 (unit 2), line-b-any (client's unit)" "$LOG"
t_is "$(mbt read "$GW" 1 0 1)" "11" "line A is not affected"
t_wait 5 t_dead "$sim_rtub"  # the simulator hangs up with its line
t_ok "line B is plugged in again" pty_pair lineB
rtu_sim rtub lineB -u 2 --set holding:0=203
t_ok "  ... the gateway reopens it" t_wait 10 \
	bash -c "[ \$(grep -c 'serial line $D/lineB-gw (19200 8N1) open for' '$LOG') -ge 2 ]"
t_is "$(mbt read "$GW" 2 0 1)" "203" "  ... and serves unit 2 again"

# --- reload and stop ------------------------------------------------------------
kill -HUP "$ZG_PID"
t_ok "reload with the same settings keeps the lines" eval \
	't_wait 10 grep -q "settings unchanged" "$LOG" && [ "$(count "open for" "$LOG")" = 3 ]'
t_is "$(mbt read "$GW" 5 0 1)" "11" "  ... and they still serve"

zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly (exit 0, no leak report)"
t_done
