#!/usr/bin/env bash
# Write-back from northbound over MQTT, with real peers: a mosquitto broker
# with a TLS listener that requires client certificates, zg-plcsim, and
# mosquitto_pub / mosquitto_sub as the cloud side.  A command published
# on the gateway's command topic is handed by the mqtt plugin, through the
# host, to the modbus plugin as the configured cloud identity; the policy
# for that identity's zone decides it; it is audited; the answer (with the
# command's id) arrives on the result topic; and the register on the
# simulator, read directly, really changed.  A write the cloud zone may
# not make is first shown to work directly on the simulator, then refused
# by the gateway (register unchanged, denial audited).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/northbound-lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus"

t_plan 38
D=$T_TMP

sim_start() {
	local name=$1; shift
	"$SIMBIN" -p 0 --ready-file "$D/$name.port" "$@" >"$D/$name.log" 2>&1 &
	T_PIDS+=($!)
	t_wait 20 test -s "$D/$name.port" || return 1
	printf -v "${name}_PORT" '%s' "$(cat "$D/$name.port")"
}

t_ok "test PKI made with the openssl CLI" nb_pki
nb_broker_conf "$(t_free_port)"
t_ok "broker with a TLS listener requiring client certificates is up" nb_broker_start
t_ok "simulator is listening" sim_start plc --holding 240 --log-writes "$D/plc.writes"
t_ok "the cloud side subscribes to the result topic (TLS, client certificate)" \
	nb_sub 'zonegate/gw-test/cmd-result' "$D/results"

cat >"$D/gw.conf" <<C
gateway = { id = "gw-test"; pidfile = "$D/zonegated.pid"; shutdown_timeout = 2.0; };
events = { file = "$D/events.jsonl"; };
spool = { dir = "$D/spool"; segment_size = "64K"; max_bytes = "16M"; };
zones = ( { name = "scada"; }, { name = "cell1"; }, { name = "cloud"; } );
devices = (
  { identity = "zonegate-poller"; zone = "scada"; },
  { identity = "cloud-ops"; zone = "cloud"; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$plc_PORT"; unit = 1; }
);
conduits = (
  { name = "poller-reads"; from = "scada"; to = "cell1";
    modbus = { read = { holding_registers = ["150-199"]; }; }; },
  { name = "cloud-writes"; from = "cloud"; to = "cell1";
    require_assurance = "certificate";
    modbus = { write = { holding_registers = ( { range = "150-159"; min = 0; max = 1000; } ); }; }; }
);
plugins = (
  { name = "modbus"; config = {
      devices = ( { identity = "plc-1"; address = "127.0.0.1:$plc_PORT"; request_timeout = 1.0; } );
      poll = { identity = "zonegate-poller"; groups = (
        { name = "setpoints"; device = "plc-1"; interval = 1.0; points = (
          { name = "setpoint"; address = 150; writable = true; },
          { name = "limit"; address = 160; writable = true; } ); } ); };
      commands = { northbound = true; };
  }; },
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      keepalive = 5; reconnect_min = 0.1; reconnect_max = 1.0; connect_timeout = 2.0;
      commands = { topic = "zonegate/{gateway}/cmd/#"; identity = "cloud-ops"; };
  }; }
);
C
# --- configuration errors name file, line and key --------------------------
cat >"$D/bad.conf" <<C
spool = { dir = "$D/spool-bad"; };
devices = ( { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$plc_PORT"; unit = 1; } );
zones = ( { name = "cell1"; } );
plugins = (
  { name = "modbus"; config = {
      devices = ( { identity = "plc-1"; address = "127.0.0.1:$plc_PORT"; } );
      poll = { identity = "plc-1"; groups = ( { device = "plc-1"; points = ( { name = "a"; address = 0; } ); } ); };
      commands = { northbound = false; };
  }; },
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      commands = { identity = "cloud-ops";
                   result_topic = "zonegate/{gateway}/cmd/result";
                   handler = "Bad/Name"; };
  }; }
);
C
cat >"$D/bad2.conf" <<C
spool = { dir = "$D/spool-bad"; };
plugins = (
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      commands = { topic = "a/#/b"; };
  }; }
);
C
"$ZONEGATED" -t -c "$D/bad.conf" >"$D/bad.out" 2>&1
"$ZONEGATED" -t -c "$D/bad2.conf" >>"$D/bad.out" 2>&1
t_diag "$(cat "$D/bad.out")"
t_grep "bad config: modbus commands without listen and without northbound" \
	'bad.conf:8: plugins.\[0\].config.commands.listen: required unless northbound = true' "$D/bad.out"
t_grep "bad config: a result topic under the command topic is refused" \
	'bad.conf:13: .*commands.result_topic: "zonegate/\{gateway\}/cmd/result" falls under the command topic' "$D/bad.out"
t_grep "bad config: a handler that is not a plugin name" 'bad.conf:1[3-5]: .*commands.handler: "Bad/Name": a plugin name' "$D/bad.out"
t_grep "bad config: the cloud identity is required" 'bad2.conf:5: plugins.\[0\].config.commands.identity: is required' "$D/bad.out"
t_grep "bad config: a command topic that is no MQTT filter, in the same pass" 'bad2.conf:5: .*commands.topic: "a/#/b": an MQTT topic filter' "$D/bad.out"

t_ok "zonegated starts with the modbus and mqtt plugins" zg_start "$D/gw.conf" "$D/gw.log"
t_ok "the mqtt plugin is subscribed to the command topic" \
	t_wait 20 grep -q 'taking commands on zonegate/gw-test/cmd/# as cloud-ops' "$D/gw.log"

# pub TOPIC-SUFFIX JSON: the cloud side publishes one command (QoS 1, TLS).
pub() {
	mosquitto_pub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 \
		-t "zonegate/gw-test/cmd/$1" -m "$2"
}
# result ID: the answer to command ID on the result topic (payload only).
result() { grep "^zonegate/gw-test/cmd-result .*\"id\":\"$1\"" "$D/results" | cut -d' ' -f2-; }
has_result() { [ -n "$(result "$1")" ]; }

# --- an allowed write ----------------------------------------------------
t_is "$($PY "$MBT" read "$plc_PORT" 1 150 1)" "0" "holding 150 on the simulator starts at 0 (read directly)"
t_ok "the cloud publishes a write of setpoint = 123 on zonegate/gw-test/cmd/plc-1" \
	pub plc-1 '{"id":"m1","device":"plc-1","point":"setpoint","value":123}'
t_ok "a result arrives on the result topic" t_wait 10 has_result m1
t_is "$(result m1)" '{"id":"m1","device":"plc-1","point":"setpoint","result":"ok"}' \
	"  ... it echoes the command's id and says ok"
t_is "$($PY "$MBT" read "$plc_PORT" 1 150 1)" "123" "  ... and holding 150 on the simulator is 123 (read directly)"
t_grep "  ... written with FC 6 by the gateway" 'fc=6 unit=1 addr=150 count=1 values=123 .*result=applied' "$D/plc.writes"
t_ok "  ... audited: modbus.command names the cloud identity, the device and the value" \
	grep -qE '"kind":"modbus.command".*"identity":"cloud-ops","target":"plc-1".*"detail":"command m1 setpoint = 123 \(FC6 write holding 150' "$D/events.jsonl"

# --- a write the cloud zone may not make ---------------------------------
t_is "$($PY "$MBT" write "$plc_PORT" 1 160 5)" "OK" "direct write of holding 160 on the simulator works (the forbidden write is possible)"
t_is "$($PY "$MBT" read "$plc_PORT" 1 160 1)" "5" "  ... it reads back 5"
pub plc-1 '{"id":"m2","device":"plc-1","point":"limit","value":7}'
t_ok "the same write as a command from the cloud gets a result" t_wait 10 has_result m2
t_ok "  ... denied by the policy for the cloud identity's zone" \
	grep -q '"id":"m2","device":"plc-1","point":"limit","result":"denied","reason":"' <<<"$(result m2)"
t_is "$($PY "$MBT" read "$plc_PORT" 1 160 1)" "5" "  ... holding 160 on the simulator is still 5 (read directly)"
t_is "$(grep -c 'addr=160' "$D/plc.writes")" "1" "  ... only the direct write ever reached the simulator"
t_ok "  ... audited: modbus.command_denied with identity cloud-ops and the conduit's zone decision" \
	grep -qE '"kind":"modbus.command_denied".*"identity":"cloud-ops","target":"plc-1","verdict":"deny","rule":"cloud-writes".*"from_zone":"cloud","to_zone":"cell1".*"detail":"command m2 limit = 7' "$D/events.jsonl"

# --- above the conduit's bound, and not a command ------------------------
pub plc-1 '{"id":"m3","device":"plc-1","point":"setpoint","value":5000}'
t_ok "a value above the conduit's max (1000) is denied" \
	t_wait 10 grep -q '"id":"m3",.*"result":"denied"' "$D/results"
t_is "$($PY "$MBT" read "$plc_PORT" 1 150 1)" "123" "  ... holding 150 keeps 123"
pub x '{"id":"m4","device":"plc-1","point":"setpoint","value":}'
t_ok "a malformed command is answered with an error, with its id" \
	t_wait 10 grep -q '"id":"m4",.*"result":"error"' "$D/results"

# --- a retained command is not replayed after a reconnect -------------------
mosquitto_pub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 -r -t zonegate/gw-test/cmd/plc-1 \
	-m '{"id":"r1","device":"plc-1","point":"setpoint","value":77}'
t_ok "a retained command published while the gateway listens arrives live: written" \
	t_wait 10 grep -q '"id":"r1",.*"result":"ok"' "$D/results"
t_is "$($PY "$MBT" read "$plc_PORT" 1 150 1)" "77" "  ... holding 150 is 77 (read directly)"
t_is "$($PY "$MBT" write "$plc_PORT" 1 150 5)" "OK" "holding 150 set to 5 directly on the simulator"
t_diag "$(grep -h command "$D/events.jsonl" "$D/gw.log")"
t_ok "SIGTERM stops the gateway" zg_stop
t_grep "  ... which counts the commands it received and answered" 'commands: 5 received, 5 answered, 0 results lost' "$D/gw.log"
t_ok "zonegated starts again (a new subscription: the broker sends the retained command)" \
	zg_start "$D/gw.conf" "$D/gw2.log"
t_ok "the retained command is refused, not run again" \
	t_wait 20 grep -q 'retained message on zonegate/gw-test/cmd/plc-1 refused as a command' "$D/gw2.log"
t_ok "  ... the refusal is answered on the result topic" \
	t_wait 10 grep -q '"result":"error","reason":"retained messages are not taken as commands"' "$D/results"
t_is "$($PY "$MBT" read "$plc_PORT" 1 150 1)" "5" "  ... holding 150 keeps 5 (read directly)"
t_is "$(grep -c 'addr=150 count=1 values=77 ' "$D/plc.writes")" "1" "  ... the simulator saw the write of 77 once"
zg_stop
t_done
