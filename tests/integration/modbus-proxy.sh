#!/usr/bin/env bash
# The Modbus/TCP proxy end to end: a real PLC simulator (contrib/plcsim,
# libmodbus), the real daemon with the modbus plugin, and clients we did
# not write (pymodbus, mbpoll) plus raw frames for the adversarial cases.
#
# Every enforcement check first proves the forbidden action works against
# the device directly, then that the same action through zonegate is
# refused and the device is unchanged (or never saw the request).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus python3-serial-asyncio"
command -v mbpoll >/dev/null || t_skip_all "mbpoll missing: apt-get install mbpoll"

t_plan 50
D=$T_TMP

# sim_start NAME ARGS...: a simulator on an ephemeral port; sets NAME_PORT.
sim_start() {
	local name=$1; shift
	"$SIMBIN" -p 0 --ready-file "$D/$name.port" "$@" >"$D/$name.log" 2>&1 &
	T_PIDS+=($!)
	t_wait 20 test -s "$D/$name.port" || return 1
	printf -v "${name}_PORT" '%s' "$(cat "$D/$name.port")"
}

mkfifo "$D/solo.ctl"
t_ok "simulator (shared device) is listening" \
	sim_start plc -v --log-writes "$D/plc.writes" --set holding:0=11,22,33,44,55 --set holding:25=777
t_ok "simulator (one-connection device) is listening" \
	sim_start solo -v --max-clients 1 --control "$D/solo.ctl"

GW=$(t_free_port)
GW_SOLO=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-modbus-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
# Attacks and normal traffic come from one identity here: detections
# only, no automatic quarantine (tests/integration/threat.sh tests that).
threat = { quarantine_threshold = 0.0; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$plc_PORT"; unit = 1; },
  { identity = "plc-solo"; zone = "cell1"; address = "127.0.0.1:$solo_PORT"; unit = 1; }
);
conduits = (
  { name = "ops-to-cell1"; from = "ops"; to = "cell1";
    modbus = { units = [1]; functions = [3, 6, 16, 23]; max_quantity = 125;
               read = { holding_registers = ["0-99"]; };
               write = { holding_registers = ["10-19"]; }; };
  }
);
plugins = ( { name = "modbus"; config = {
  devices = (
    { identity = "plc-1"; address = "127.0.0.1:$plc_PORT"; request_timeout = 0.5; },
    { identity = "plc-solo"; address = "127.0.0.1:$solo_PORT"; connections = 1;
      max_inflight = 1; queue = 512; request_timeout = 5.0; }
  );
  listeners = (
    { listen = "127.0.0.1:$GW"; device = "plc-1"; frame_timeout = 0.5; },
    { listen = "127.0.0.1:$GW_SOLO"; device = "plc-solo"; max_connections_per_source = 200;
      max_outstanding = 200; }
  );
}; } );
C
t_ok "zonegated with the modbus plugin is ready" zg_start "$D/gw.conf" "$D/gw.log"
LOG=$D/gw.log
# Wait until both device connections are up (their log lines).
t_ok "device connections are up" t_wait 10 bash -c "[ \$(grep -c 'connection 0 up' '$LOG') -ge 2 ]"

mbt() { $PY "$MBT" "$@"; }

# --- allowed traffic -------------------------------------------------------
t_is "$(mbt read "$plc_PORT" 1 0 5)" "11 22 33 44 55" "direct read of holding 0-4"
t_is "$(mbt read "$GW" 1 0 5)" "11 22 33 44 55" "the same read through zonegate"
t_is "$(mbt write "$GW" 1 12 42)" "OK" "allowed write (holding 12) through zonegate"
t_is "$(mbt read "$plc_PORT" 1 12 1)" "42" "  ... reached the device"
out=$(mbpoll -m tcp -p "$GW" -a 1 -t 4 -r 1 -c 5 -0 -1 127.0.0.1 2>&1)
t_ok "mbpoll reads through zonegate" grep -qE '^\[1\]:[[:space:]]+22' <<<"$out"

# --- write outside the allowed range ---------------------------------------
t_is "$(mbt write "$plc_PORT" 1 25 778)" "OK" "direct write to holding 25 works (forbidden action is possible)"
t_is "$(mbt read "$plc_PORT" 1 25 1)" "778" "  ... and changes the register"
t_is "$(mbt write "$GW" 1 25 1234)" "EXC 1" "the same write through zonegate: exception 0x01"
t_is "$(mbt read "$plc_PORT" 1 25 1)" "778" "  ... and the register is unchanged"
t_ok "  ... the device never received value 1234" bash -c "! grep -q 'addr=25 count=1 values=1234' '$D/plc.writes'"
t_ok "  ... a security event names identity, rule, origin and reason" \
	grep -qE '"kind":"modbus.denied".*"identity":"hmi-legacy".*"rule":"ops-to-cell1","rule_origin":"[^"]*gw.conf:[0-9]+".*"reason":"[^"]*25[^"]*".*"detail":"FC6 write holding 25' "$LOG"

# --- FC 23: a read that smuggles a write ------------------------------------
t_is "$(mbt rw "$plc_PORT" 1 0 2 25 555)" "11 22" "direct FC 23 (read 0-1, write 25) works"
t_is "$(mbt read "$plc_PORT" 1 25 1)" "555" "  ... and writes holding 25"
t_is "$(mbt rw "$GW" 1 0 2 25 999)" "EXC 1" "FC 23 writing 25 through zonegate: refused"
t_is "$(mbt read "$plc_PORT" 1 25 1)" "555" "  ... register unchanged"
t_is "$(mbt rw "$GW" 1 0 2 13 7)" "11 22" "FC 23 inside both ranges: allowed"
t_is "$(mbt read "$plc_PORT" 1 13 1)" "7" "  ... and written"

# --- function codes that are never allowed unless named --------------------
raw() { mbt raw "$@" | tr '\n' ' ' | sed 's/ $//'; }
before=$(grep -c 'fc 43\|fc 8 \|fc 90' "$D/plc.log")
raw "$plc_PORT" 000200000007012b0d00010203 >/dev/null
t_ok "direct FC 43/MEI 13 reaches the device" t_wait 5 bash -c "[ \$(grep -c 'fc 43' '$D/plc.log') -gt 0 ]"
before=$(grep -c 'fc 43\|fc 8 \|fc 90' "$D/plc.log")
t_is "$(raw "$GW" 000200000007012b0d00010203 --wait 1)" "00020000000301ab01 TIMEOUT" "FC 43/MEI 13 (CANopen tunnel) through zonegate: exception 0x01"
t_is "$(raw "$GW" 000300000006010800040000 --wait 1)" "000300000003018801 TIMEOUT" "FC 8/4 (force listen only): exception 0x01"
t_is "$(raw "$GW" 000400000003015a00 --wait 1)" "00040000000301da01 TIMEOUT" "FC 90 (UMAS): exception 0x01"
t_is "$(grep -c 'fc 43\|fc 8 \|fc 90' "$D/plc.log")" "$before" "  ... none of them reached the device"
t_ok "  ... each raised a denial event" bash -c "[ \$(grep -c '\"kind\":\"modbus.denied\"' '$LOG') -ge 5 ]"

# --- unit-id sweep ---------------------------------------------------------
sweep=""
for u in 2 3 4 5 6 7 8 9 10; do sweep+=" $(printf '%04x00000006%02x0300000001' "$u" "$u")"; done
out=$(raw "$GW" $sweep --wait 1)
t_is "$(grep -o '8301' <<<"$out" | wc -l)" "9" "unit sweep 2..10: nine exception 0x01 answers"

# --- framing ------------------------------------------------------------------
t_is "$(raw "$GW" 000100000006010300000005 --split --wait 1)" \
	"00010000000d01030a000b00160021002c0037 TIMEOUT" "a request split into single bytes is framed"
t_is "$(raw "$GW" 000100000006010300000001000200000006010300010001 --wait 1)" \
	"000100000005010302000b 0002000000050103020016 TIMEOUT" "two coalesced requests get two answers"
t_is "$(raw "$GW" 000600000006010600190001 000700000006010300000001 --wait 1)" \
	"000600000003018601 000700000005010302000b TIMEOUT" "a denied request keeps the session: the next one is served"
t_is "$(raw "$GW" 00010000000001 --wait 2)" "CLOSED" "MBAP length 0: connection closed, no answer"
t_is "$(raw "$GW" 000100010006010300000001 --wait 2)" "CLOSED" "protocol id 1: connection closed"
t_ok "  ... framing errors are security events" bash -c "[ \$(grep -c '\"kind\":\"modbus.framing_error\"' '$LOG') -ge 2 ]"
out=$(mbt halfopen "$GW" 000100 5)
t_ok "half a frame held open is cut off (frame_timeout 0.5 s): $out" grep -q '^CLOSED' <<<"$out"
t_ok "  ... and reported" grep -q '"kind":"modbus.half_open_frame"' "$LOG"

# --- hostile clients ---------------------------------------------------------
out=$(mbt noread "$GW" 64)
t_ok "a client that never reads its answers is pushed back ($out)" grep -q '^BLOCKED' <<<"$out"
flood=""
for i in $(seq 1 100); do flood+=" $(printf '%04x000000020 15a' "$i" | tr -d ' ')"; done
out=$(raw "$GW" $flood --wait 3)
t_ok "a flood of denied requests closes the session" grep -q 'CLOSED$' <<<"$out"
t_ok "  ... and is reported as a denial flood" grep -q '"kind":"modbus.denial_flood"' "$LOG"

# --- a one-connection device shared by 100 clients ---------------------------
out=$(mbt concurrent "$GW_SOLO" 1 100 0 2)
t_is "$out" "ok=100 bad=0" "100 concurrent clients on a device that takes one connection"
t_is "$(grep -c 'connected (' "$D/solo.log")" "1" "  ... over a single device connection"

# --- device going silent mid-stream ------------------------------------------
t_is "$(mbt read "$GW_SOLO" 1 0 1)" "0" "the one-connection device answers through zonegate"
echo "silent on" >"$D/solo.ctl"
t_ok "simulator acknowledges going silent" t_wait 5 grep -q 'control: silent on' "$D/solo.log"
t_is "$(mbt read "$GW" 1 0 1)" "11" "other devices are not delayed by a silent one"
sed -i 's/request_timeout = 5.0/request_timeout = 0.3/' "$D/gw.conf"
kill -HUP "$ZG_PID"
t_ok "reload with a shorter timeout" t_wait 10 grep -q 'reload of .* complete' "$LOG"
t_is "$(mbt read "$GW_SOLO" 1 0 1)" "EXC 11" "silent device: exception 0x0B (gateway target failed to respond)"
t_ok "  ... reported as a device timeout" grep -q '"kind":"modbus.device_timeout"' "$LOG"
echo "silent off" >"$D/solo.ctl"
t_ok "simulator acknowledges speaking again" t_wait 5 grep -q 'control: silent off' "$D/solo.log"
t_ok "the device is served again once it answers" t_wait 10 bash -c "[ \"\$($PY '$MBT' read $GW_SOLO 1 0 1)\" = '0' ]"

zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly (exit 0)"
t_done
