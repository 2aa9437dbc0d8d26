#!/usr/bin/env bash
# The supervisor (docs/architecture.md, "Process model"): SIGKILL of the
# network process while Modbus clients are connected through the proxy
# and telemetry flows through the spool to a real mosquitto broker (TLS,
# client certificates).  The supervisor restarts it, the restart is an
# event (event log and northbound), the clients reconnect and are served,
# and the subscriber misses no sequence number (duplicates only for
# records not acknowledged when the process died).  Then: SIGHUP and
# `zonegatectl reload' across the split, SIGTERM stops both processes,
# and a crash loop ends in a clear stop.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/northbound-lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
CTL="$top_builddir/gateway/zonegatectl"
LOOP="$top_srcdir/tests/integration/mbloop.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
command -v curl >/dev/null || t_skip_all "curl missing: apt-get install curl"

t_plan 51
D=$T_TMP
t_ok "test PKI made" nb_pki
nb_broker_conf "$(t_free_port)"
t_ok "broker up (TLS, client certificates required)" nb_broker_start
t_ok "persistent subscriber ready" nb_sub 'zonegate/gw-test/#' "$D/sub"
"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22,33,44,55 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "PLC simulator listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
MP=$(t_free_port)

# gw_conf FILE HEARTBEAT [restart settings] [example extras]
gw_conf() {
	cat >"$1" <<C
gateway = { id = "gw-test"; pidfile = "$D/zonegated.pid"; shutdown_timeout = 2.0;
            ${3:-restart_delay = 0.2; restart_delay_max = 1.0; restart_stable = 600.0;} };
admin = { socket = "$D/admin.sock"; };
metrics = { listen = "127.0.0.1:$MP"; };
events = { file = "$D/events.jsonl"; };
threat = { quarantine_threshold = 0.0; };
spool = { dir = "$D/spool"; segment_size = "64K"; max_bytes = "16M"; fsync = "batch"; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; }
);
conduits = ( { name = "ops-to-cell1"; from = "ops"; to = "cell1";
  modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; } );
plugins = (
  { name = "example"; config = { heartbeat = $2; ${4:-} }; },
  { name = "modbus"; config = {
      devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; request_timeout = 2.0; } );
      listeners = ( { listen = "127.0.0.1:$GW"; device = "plc-1"; } ); }; },
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      topic = "zonegate/{gateway}/{topic}"; keepalive = 5;
      reconnect_min = 0.1; reconnect_max = 1.0; connect_timeout = 2.0; }; }
);
C
}
gw_conf "$D/gw.conf" 0.05
gw_conf "$D/quiet.conf" 0

st() { cat "$D/c$1.state" 2>/dev/null; }
field() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$D/c$1.state" 2>/dev/null; }
ok_above() { [ "$(field "$1" ok)" -gt "$2" ] 2>/dev/null; }
reconnected() { [ "$(field "$1" reconnects)" -ge 1 ] 2>/dev/null; }
status_get() { "$CTL" --socket "$D/admin.sock" status | sed -n "s/^$1: //p"; }
restarts_metric() { curl -s "http://127.0.0.1:$MP/metrics" | sed -n 's/^zonegate_restarts_total //p'; }

t_ok "zonegated (supervised) is ready" zg_start "$D/gw.conf" "$D/gw.log"
t_ok "  ... as two processes: supervisor $ZG_PID, network process $ZG_CHILD" \
	[ -n "$ZG_CHILD" ] && [ "$ZG_CHILD" != "$ZG_PID" ]
t_is "$(cat "$D/zonegated.pid")" "$ZG_PID" "  ... the pidfile holds the supervisor's pid"
t_is "$(awk '$1 == "PPid:" { print $2 }' "/proc/$ZG_CHILD/status")" "$ZG_PID" "  ... which is the network process's parent"
t_is "$(status_get 'supervisor pid') $(status_get 'child pid') $(status_get restarts)" \
	"$ZG_PID $ZG_CHILD 0" "zonegatectl status: supervisor pid, child pid, restarts 0"
t_is "$(restarts_metric)" 0 "  ... metric zonegate_restarts_total 0"

for i in 1 2 3; do
	$PY "$LOOP" "$GW" "$D/c$i.state" &
	T_PIDS+=($!)
done
t_ok "three Modbus clients are served through the proxy" \
	eval 't_wait 20 ok_above 1 5 && t_wait 20 ok_above 2 5 && t_wait 20 ok_above 3 5'
t_is "$(sed -n 's/.*last=//p' "$D/c1.state")" "11,22,33,44,55" "  ... with the PLC's registers"
t_ok "telemetry flows to the broker" t_wait 20 nb_has_at_least "$D/sub" 20

# --- SIGKILL of the network process ---------------------------------------
old=$ZG_CHILD
ok1=$(field 1 ok); ok2=$(field 2 ok); ok3=$(field 3 ok)
kill -KILL "$ZG_CHILD"
t_ok "SIGKILL of the network process: the supervisor logs it" \
	t_wait 20 grep -q "supervisor: network process pid $old killed by signal 9 (SIGKILL).*restart #1" "$D/gw.log"
t_ok "  ... and starts another, which becomes ready" t_wait 30 bash -c "[ \$(grep -c ' ready: ' '$D/gw.log') -ge 2 ]"
ZG_CHILD=$(zg_child_pid "$D/gw.log")
t_ok "  ... with a new pid ($old -> $ZG_CHILD)" [ "$ZG_CHILD" != "$old" ]
t_ok "  ... the supervisor never stopped" t_alive "$ZG_PID"
t_grep "  ... the restart is a security event in the log" \
	'"kind":"daemon.restart".*pid '"$old"' killed by signal 9 \(SIGKILL\).*restart #1' "$D/gw.log"
t_ok "  ... and in the event log" grep -q '"kind":"daemon.restart".*killed by signal 9' "$D/events.jsonl"
t_ok "  ... and reaches the subscriber northbound (events/security)" \
	t_wait 30 grep -q '^zonegate/gw-test/events/security .*"kind":"daemon.restart"' "$D/sub"
t_is "$(status_get 'supervisor pid') $(status_get 'child pid') $(status_get restarts)" \
	"$ZG_PID $ZG_CHILD 1" "zonegatectl status: same supervisor, new child, restarts 1"
t_is "$(restarts_metric)" 1 "  ... metric zonegate_restarts_total 1"
for i in 1 2 3; do
	eval "okb=\$ok$i"
	t_ok "client $i lost its connection and reconnected" t_wait 30 reconnected "$i"
	t_ok "  ... and is served again" t_wait 30 ok_above "$i" $((okb + 5))
done
t_ok "telemetry flows again" t_wait 30 nb_has_at_least "$D/sub" $(($(nb_count "$D/sub") + 20))

# --- reload and status across the split -----------------------------------
gw_conf "$D/gw.conf" 0.05 "" 'burst = 2;'
kill -HUP "$ZG_PID"
t_ok "SIGHUP to the supervisor reloads the network process" \
	t_wait 20 grep -q "SIGHUP: reloading $D/gw.conf" "$D/gw.log"
t_ok "  ... to completion" t_wait 20 grep -q "reload of $D/gw.conf complete" "$D/gw.log"
out=$("$CTL" --socket "$D/admin.sock" reload 2>&1)
t_is "$?" 0 "zonegatectl reload still works"
t_ok "  ... the child is still the same process" t_alive "$ZG_CHILD"

# --- SIGTERM: both stop, nothing lost -------------------------------------
for p in "${T_PIDS[@]}"; do # the Modbus clients only
	case $(cat "/proc/$p/cmdline" 2>/dev/null | tr '\0' ' ') in
	*mbloop.py*) kill "$p" 2>/dev/null ;;
	esac
done
zg_stop 20
t_is "$T_STATUS" 0 "SIGTERM to the supervisor: exit status 0"
t_ok "  ... the network process is gone too" t_dead "$ZG_CHILD"
t_ok "  ... the pidfile is removed" [ ! -e "$D/zonegated.pid" ]
t_grep "  ... the network process drained" "SIGTERM: shutting down" "$D/gw.log"
last=$(nb_next_seq "$D/spool"); last=$((last - 1))
t_ok "restarted without a producer" zg_start "$D/quiet.conf" "$D/quiet.log"
t_ok "the last seq the spool gave ($last) arrives" t_wait 30 nb_has_seq "$D/sub" "$last"
r=$(nb_check "$D/sub" 1 "$last")
t_diag "after a SIGKILL of the network process: $r"
t_ok "every seq 1..$last arrived, in order ($r)" grep -q 'missing=0 order=ok' <<<"$r"
dups=${r##*dups=}
waiting=$(cat "$D/gw.log" "$D/quiet.log" |
	grep -o 'registered: acknowledged up to seq [0-9]*, [0-9]* messages waiting' |
	awk '{ s += $(NF-2) } END { print s + 0 }')
t_diag "$dups duplicates; unacknowledged records found at the (re)starts: $waiting"
t_ok "duplicates ($dups) <= unacknowledged records at the restarts ($waiting)" test "$dups" -le "$waiting"
zg_stop 20

# --- a crash loop ends in a clear stop --------------------------------------
gw_conf "$D/gw.conf" 0 "restart_limit = 2; restart_delay = 0.05; restart_stable = 600.0;"
t_ok "started with restart_limit = 2" zg_start "$D/gw.conf" "$D/loop.log"
# The next network processes read a configuration that cannot start.
gw_conf "$D/gw.conf" 0 "restart_limit = 2; restart_delay = 0.05; restart_stable = 600.0;" 'no_such_key = 1;'
kill -KILL "$ZG_CHILD"
t_ok "SIGKILL, then every restart fails: zonegated stops" t_wait_exit "$ZG_PID" 30
t_is "$T_STATUS" 1 "  ... with the last network process's status (1)"
t_is "$(grep -c 'supervisor: network process pid [0-9]* .*restart #' "$D/loop.log")" 2 "  ... after 2 restarts"
t_grep "  ... saying why it gave up" \
	'supervisor: network process pid [0-9]+ exited with status 1 after .*; 3 crashes in a row \(gateway.restart_limit = 2\): zonegated stops' "$D/loop.log"
t_grep "  ... and the configuration error that caused it" "$D/gw.conf:[0-9]+: .*no_such_key" "$D/loop.log"
t_ok "  ... the crash loop is in the event log" grep -q '"kind":"daemon.crash_loop".*3 crashes in a row' "$D/events.jsonl"
t_ok "  ... no process left" t_dead "$ZG_CHILD"

# --- SIGKILL of the supervisor takes the network process with it ----------
t_ok "started again" zg_start "$D/quiet.conf" "$D/kill9.log"
kill -KILL "$ZG_PID"
wait "$ZG_PID" 2>/dev/null
t_ok "SIGKILL of the supervisor: the network process dies with it (parent-death signal)" \
	t_wait 10 t_dead "$ZG_CHILD"
t_done
