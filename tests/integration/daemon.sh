#!/usr/bin/env bash
# The real daemon on loopback: readiness, the example plugin serving,
# pidfile exclusivity, SIGHUP reload (good and broken), SIGTERM, daemon
# mode, and a security event from a misbehaving client.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

t_plan 24
D=$T_TMP
PORT=$(t_free_port)

write_conf() { # greeting [extra plugin config line]
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-daemon-test"; pidfile = "$D/zonegated.pid"; shutdown_timeout = 2.0; };
log = { level = "debug"; };
plugins = (
  { name = "example";
    config = { listen = "127.0.0.1:$PORT"; greeting = "$1"; max_line = 64; $2 };
  }
);
C
}

# Talk to the example echo plugin: print the greeting and the echo.
echo_client() {
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	IFS= read -r -t 5 reply <&3 || { exec 3<&-; return 1; }
	echo "$reply"
	printf '%s\n' "$1" >&3
	IFS= read -r -t 5 reply <&3 && echo "$reply"
	exec 3<&- 3>&-
}

write_conf "hello one"
t_ok "daemon starts and logs ready" zg_start "$D/gw.conf" "$D/log"
t_grep "ready line names config, gateway id and TLS engine" \
	"ready: config $D/gw.conf, gateway gw-daemon-test, 1 plugin, TLS $ZG_TLS_ENGINE" "$D/log"
t_is "$(cat "$D/zonegated.pid")" "$ZG_PID" "pidfile holds the daemon's pid"
t_is "$(echo_client ping | tr '\n' '|')" "hello one|ping|" "example plugin greets and echoes"
t_grep "log lines about a client name the peer" "\[example\] peer 127\.0\.0\.1:[0-9]+: client connected" "$D/log"

out=$("$ZONEGATED" -f -c "$D/gw.conf" 2>&1); rc=$?
t_ok "a second instance on the same pidfile is refused" [ "$rc" -ne 0 ]
t_ok "  ... saying it is already running with the pid" grep -q "already running as pid $ZG_PID" <<<"$out"
t_ok "the first instance is unaffected" t_alive "$ZG_CHILD"

# Reload with a good config: new greeting, same socket.
write_conf "hello two"
kill -HUP "$ZG_PID"
t_ok "reload completes" t_wait 10 grep -q "reload of $D/gw.conf complete" "$D/log"
t_is "$(echo_client x | head -1)" "hello two" "reloaded config is in force"

# Reload with a broken config: old one stays.
printf 'gateway = { id = "gw"; };\nplugins = ( { name = "example"; config = { greeting = 5; }; } );\n' >"$D/gw.conf"
kill -HUP "$ZG_PID"
t_ok "broken reload is reported" t_wait 10 grep -q "still running on the previous configuration" "$D/log"
t_grep "  ... with file:line of the error" "$D/gw.conf:2: plugins.\[0\].config.greeting: expected a string" "$D/log"
t_ok "daemon still running after a broken reload" t_alive "$ZG_CHILD"
t_is "$(echo_client y | head -1)" "hello two" "previous config still serves"

# Syntax error on reload as well.
printf 'gateway = {\n' >"$D/gw.conf"
kill -HUP "$ZG_PID"
t_ok "syntax error on reload keeps the old config" t_wait 10 bash -c "[ \$(grep -c 'still running on the previous' '$D/log') -ge 2 ]"
t_ok "  ... and the daemon keeps serving" t_alive "$ZG_CHILD"

# A client that never ends its line is cut and an event raised.
python3 - "$PORT" <<'P'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.recv(100)
s.sendall(b"A" * 200)
s.settimeout(5)
try:
    while s.recv(100):
        pass
except OSError:
    pass
P
t_ok "over-long line raises a security event naming the peer" \
	t_wait 10 grep -qE 'security event \{.*"kind":"example.line_too_long".*"peer":"127.0.0.1:[0-9]+"' "$D/log"

start=$(date +%s%N)
zg_stop 10; rc=$T_STATUS
ms=$(( ($(date +%s%N) - start) / 1000000 ))
t_is "$rc" 0 "SIGTERM: exit status 0"
t_diag "SIGTERM to exit took ${ms} ms"
t_ok "SIGTERM: pidfile removed" [ ! -e "$D/zonegated.pid" ]
t_grep "SIGTERM: shutdown logged" "SIGTERM: shutting down" "$D/log"

# Daemon mode: the parent returns only when the child is ready.
write_conf "bg"
"$ZONEGATED" -c "$D/gw.conf" 2>"$D/bg.log"; rc=$?
t_is "$rc" 0 "background start returns 0 once ready"
BGPID=$(cat "$D/zonegated.pid" 2>/dev/null)
T_PIDS+=("$BGPID")
t_is "$(echo_client z | head -1)" "bg" "background daemon serves"
kill -TERM "$BGPID"
t_ok "background daemon stops on SIGTERM" t_wait 10 t_dead "$BGPID"

# A daemon that cannot start (port taken) exits non-zero in the parent.
write_conf "busy"
python3 -c "
import socket,sys,os
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $PORT)); s.listen(1)
r=os.system(sys.argv[1] + ' -c $D/gw.conf 2>$D/busy.log')
sys.exit(0 if r != 0 else 1)" "$ZONEGATED"
t_is "$?" 0 "start-up failure (port in use) makes the parent exit non-zero"
t_done
