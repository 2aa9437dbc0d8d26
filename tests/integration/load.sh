#!/usr/bin/env bash
# Load and faults against the real daemon on loopback, bounded in time:
# 5,000 idle connections plus slowloris clients while legitimate Modbus
# clients (pymodbus, mbpoll) keep being served; a client that never reads
# its answers; connection churn.  Memory and descriptors must stay
# bounded and come back down (those of the network process, which holds
# the sessions; the supervisor's are printed too).  RSS and descriptor
# counts are printed as diagnostics; no timing is asserted.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
LOADGEN="$top_srcdir/tests/integration/loadgen.py"
IDLE=${ZG_LOAD_IDLE:-5000}
SLOW=50
CHURN=3000
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
$PY -c 'import pymodbus.client' 2>/dev/null ||
	t_skip_all "pymodbus missing: apt-get install python3-pymodbus python3-serial-asyncio"
command -v mbpoll >/dev/null || t_skip_all "mbpoll missing: apt-get install mbpoll"
# Each idle client holds a socket on both ends; both run under this limit.
ulimit -n $((IDLE * 2 + 1024)) 2>/dev/null ||
	t_skip_all "cannot raise RLIMIT_NOFILE to $((IDLE * 2 + 1024)) (needs root or a higher hard limit)"

t_plan 23
D=$T_TMP
# The bound on RSS growth.  AddressSanitizer keeps freed memory in a
# quarantine of up to 256 MB before reusing it, so sanitizer builds get more.
LIMIT_KB=262144
[ "${ZG_SANITIZERS:-0}" = 1 ] && LIMIT_KB=786432

"$SIMBIN" -p 0 --ready-file "$D/plc.port" --set holding:0=11,22,33,44,55 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
PLC=$(cat "$D/plc.port")
GW=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-load-test"; pidfile = "$D/zonegated.pid"; shutdown_timeout = 2.0; };
log = { level = "info"; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$PLC"; unit = 1; }
);
conduits = ( { name = "ops-to-cell1"; from = "ops"; to = "cell1";
  modbus = { units = [1]; functions = [3]; read = { holding_registers = ["0-99"]; }; }; } );
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$PLC"; request_timeout = 2.0; } );
  listeners = ( { listen = "127.0.0.1:$GW"; device = "plc-1";
                  max_connections_per_source = 20000; frame_timeout = 1.0;
                  idle_timeout = 600.0; } );
}; } );
C
t_ok "zonegated is ready" zg_start "$D/gw.conf" "$D/gw.log"

# The network process holds the sessions (ZG_PID is its supervisor).
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$ZG_CHILD/status"; }
fds() { ls "/proc/$ZG_CHILD/fd" | wc -l; }
fds_at_most() { [ "$(fds)" -le "$1" ]; }
fds_at_least() { [ "$(fds)" -ge "$1" ]; }
served() { # a legitimate read through the gateway, pymodbus then mbpoll
	[ "$($PY "$MBT" read "$GW" 1 0 5)" = "11 22 33 44 55" ] &&
		mbpoll -m tcp -p "$GW" -a 1 -t 4 -r 1 -c 5 -0 -1 127.0.0.1 2>&1 |
		grep -q '^\[4\]: 	55'
}

t_ok "a legitimate client is served before the load" served
RSS0=$(rss); FD0=$(fds)
t_diag "before: RSS ${RSS0} kB, ${FD0} descriptors"

# --- 5,000 idle connections + slowloris ------------------------------------
$PY "$LOADGEN" idle "$GW" "$IDLE" "$D/idle.ready" 2>"$D/idle.err" &
IDLEPID=$!
T_PIDS+=("$IDLEPID")
t_ok "$IDLE idle connections are open" t_wait 120 test -s "$D/idle.ready"
t_ok "  ... and the gateway holds a session for each" t_wait 60 fds_at_least $((FD0 + IDLE))
$PY "$LOADGEN" slowloris "$GW" "$SLOW" 0.2 30 >"$D/slow.out" 2>&1 &
SLOWPID=$!
t_ok "under that load a legitimate client is served (pymodbus + mbpoll)" served
t_ok "  ... and again" served
RSS1=$(rss); FD1=$(fds)
t_diag "with $IDLE idle + $SLOW slowloris: RSS ${RSS1} kB, ${FD1} descriptors"
t_ok "RSS under load stays below before + $((LIMIT_KB / 1024)) MB" [ "$RSS1" -lt $((RSS0 + LIMIT_KB)) ]
t_ok "slowloris clients finish" t_wait_exit "$SLOWPID" 60
t_is "$(cat "$D/slow.out")" "cut=$SLOW of $SLOW" "  ... every one cut by frame_timeout, idle clients untouched"
t_ok "  ... which are still all held" fds_at_least $((FD0 + IDLE))

# --- a client that never reads ---------------------------------------------
out=$($PY "$MBT" noread "$GW" 64)
t_ok "a client that never reads is pushed back ($out)" grep -q '^BLOCKED' <<<"$out"
RSS2=$(rss)
t_diag "after the non-reading client: RSS ${RSS2} kB"
t_ok "  ... RSS stays below before + $((LIMIT_KB / 1024)) MB" [ "$RSS2" -lt $((RSS0 + LIMIT_KB)) ]
t_ok "  ... and legitimate clients are still served" served

# --- release the idle clients ----------------------------------------------
kill -TERM "$IDLEPID"
t_ok "idle clients closed" t_wait_exit "$IDLEPID" 30
t_ok "  ... the gateway's descriptors come back to the baseline" t_wait 180 fds_at_most $((FD0 + 2))

# --- churn -----------------------------------------------------------------
out=$($PY "$LOADGEN" churn "$GW" "$CHURN")
t_is "$out" "done $CHURN" "$CHURN connections opened and closed (some mid-frame, some mid-request)"
t_ok "  ... descriptors back to the baseline" t_wait 180 fds_at_most $((FD0 + 2))
RSS3=$(rss); FD3=$(fds)
t_diag "after churn: RSS ${RSS3} kB, ${FD3} descriptors"
t_ok "  ... RSS stays below before + $((LIMIT_KB / 1024)) MB" [ "$RSS3" -lt $((RSS0 + LIMIT_KB)) ]
t_ok "  ... a legitimate client is served" served
t_ok "the daemon is still running" t_alive "$ZG_CHILD"
t_ok "  ... the same network process throughout (no restart by the supervisor)" \
	bash -c "! grep -q 'supervisor: network process' '$D/gw.log'"
t_diag "the supervisor (pid $ZG_PID): RSS $(awk '$1 == "VmRSS:" { print $2 }' "/proc/$ZG_PID/status") kB, $(ls "/proc/$ZG_PID/fd" | wc -l) descriptors"
zg_stop 20
t_is "$T_STATUS" 0 "SIGTERM stops it cleanly (status 0)"
t_done
