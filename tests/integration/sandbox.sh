#!/usr/bin/env bash
# The sandbox of the real daemon (docs/architecture.md): started as root
# with the default config it runs as the unprivileged user "zonegate"
# with no groups, no capabilities, no_new_privs and the seccomp filter;
# a plugin playing a compromised parser (tests/plugins/sbprobe.c) is
# refused what it could do without the sandbox.  Every refusal is first
# shown to work with the sandbox off.  -t warns about risky settings.
# The sandbox is the network process's (ZG_CHILD); its supervisor
# (ZG_PID) stays root.  restart_limit = 0 here, so the first crash stops
# zonegated with the network process's status (supervise.sh covers the
# restarts).  Part 9: the dropped user keeps writing the spool (new
# segments) and reopens the event log after rotation.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip_all "needs root to drop privileges (CI runs as root)"
fi
if ! getent passwd zonegate >/dev/null; then
	t_skip_all "no user zonegate: run contrib/install-deps.sh (it creates it)"
fi
PROBE="$top_builddir/tests/plugins/.libs/sbprobe.so"
[ -f "$PROBE" ] || t_skip_all "tests/plugins/sbprobe.la not built (make check builds it)"

t_plan 78
D=$T_TMP
ZUID=$(id -u zonegate)
ZGID=$(id -g zonegate)
# The filter is on by default unless this is a sanitizer build or a
# build without libseccomp (the summary of -t says which).
write_conf() { # extra gateway settings
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-sandbox"; pidfile = "$D/zonegated.pid"; restart_limit = 0; $1 };
admin = { socket = "$D/admin.sock"; };
plugins = ( { name = "sbprobe"; path = "$PROBE";
              config = { listen = "127.0.0.1:$PORT"; }; } );
C
}
PORT=$(t_free_port)
write_conf ""
SECCOMP=1
"$ZONEGATED" -t -c "$D/gw.conf" | grep -q "seccomp kill" || SECCOMP=0

# Start without zg_start's -u "": the default path.
start() { # log [args]
	local log=$1; shift
	"$ZONEGATED" -f -c "$D/gw.conf" "$@" >"$log" 2>&1 &
	ZG_PID=$!
	T_PIDS+=("$ZG_PID")
	t_wait 20 zg_ready_or_dead "$log" "$ZG_PID" && grep -q ' ready: ' "$log" &&
		ZG_CHILD=$(zg_child_pid "$log")
}
# probe CMD: one command, one answer line (empty when the daemon died).
probe() {
	local reply=""
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf '%s\n' "$1" >&3
	IFS= read -r -t 5 reply <&3
	exec 3<&- 3>&-
	echo "$reply"
}
status_of() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^[ \t]+/, ""); print }' "/proc/$ZG_CHILD/status"; }
stop() { kill -TERM "$ZG_PID" 2>/dev/null; t_wait_exit "$ZG_PID" 10; }

# --- 1. Without the sandbox the probe can do everything. ------------------
write_conf 'user = ""; seccomp = "off";'
t_ok "no sandbox (user = \"\", seccomp off): daemon starts" start "$D/log0"
t_is "$(probe id)" "uid 0 0 0 gid 0 0 0 groups $(python3 -c 'import os; print(len(os.getgroups()))')" "  ... the probe runs as root"
t_is "$(probe 'open /etc/shadow')" "ok" "  ... and can read /etc/shadow"
t_is "$(probe fork)" "fork ok" "  ... and can create a process"
t_is "$(probe setuid)" "setuid ok" "  ... and setuid(0) succeeds"
t_is "$(status_of Seccomp)" "0" "  ... no seccomp filter (Seccomp: 0)"
probe "exec /bin/true" >/dev/null
t_ok "  ... and execve() replaces the daemon" t_wait_exit "$ZG_PID" 10
t_is "$T_STATUS" 0 "  ... which then exits as /bin/true does (status 0)"
t_ok "  ... without logging a shutdown" bash -c "! grep -q 'stopped' '$D/log0'"

# --- 2. The default path: root start, no user/seccomp keys. ---------------
write_conf ""
t_ok "default config started as root: daemon starts" start "$D/log1"
t_is "$(awk '$1 == "Uid:" { print $2 }' "/proc/$ZG_PID/status")" "0" "  ... its supervisor stays root (to restart it)"
t_ok "  ... and is not the network process" [ "$ZG_PID" != "$ZG_CHILD" ]
t_is "$(status_of Uid)" "$ZUID $ZUID $ZUID $ZUID" "  ... every uid is zonegate's ($ZUID)"
t_is "$(status_of Gid)" "$ZGID $ZGID $ZGID $ZGID" "  ... every gid is zonegate's group ($ZGID)"
t_is "$(status_of Groups)" "" "  ... no supplementary groups"
t_is "$(status_of CapEff)" "0000000000000000" "  ... no effective capabilities"
t_is "$(status_of CapPrm)" "0000000000000000" "  ... no permitted capabilities"
t_is "$(status_of NoNewPrivs)" "1" "  ... no_new_privs set"
t_grep "  ... the log says so" "sandbox: uid $ZUID gid $ZGID \(dropped\), no supplementary groups, RLIMIT_NPROC [0-9]+" "$D/log1"
t_ok "  ... RLIMIT_NPROC is set (threads at the drop + 32)" grep -qE '^Max processes +[0-9]+ +[0-9]+ ' "/proc/$ZG_CHILD/limits"
t_is "$(probe id)" "uid $ZUID $ZUID $ZUID gid $ZGID $ZGID $ZGID groups 0" "  ... the probe runs as zonegate"
t_is "$(probe 'open /etc/shadow')" "error: Permission denied" "  ... and cannot read /etc/shadow"
if [ "$SECCOMP" = 1 ]; then
	t_is "$(status_of Seccomp)" "2" "  ... seccomp filter mode (Seccomp: 2)"
	t_is "$(probe fork)" "" "  ... fork(): no answer"
	t_ok "  ... the daemon was killed" t_wait_exit "$ZG_PID" 10
	t_is "$T_STATUS" 159 "  ... by SIGSYS (status 128+31)"
	t_grep "  ... the supervisor says so and stops (restart_limit = 0)" "killed by signal 31 \(SIGSYS: a system call outside the seccomp allowlist\).*zonegated stops" "$D/log1"
else
	for i in 1 2 3 4 5; do
		t_ok "# SKIP seccomp is off by default in this build (sanitizers or --disable-seccomp)" true
	done
	stop
fi

# --- 3. execve under the filter (it replaced the daemon in part 1). -------
if [ "$SECCOMP" = 1 ]; then
	t_ok "default config again" start "$D/log2"
	t_is "$(probe 'exec /bin/true')" "" "  ... execve(): no answer"
	t_ok "  ... the daemon was killed" t_wait_exit "$ZG_PID" 10
	t_is "$T_STATUS" 159 "  ... by SIGSYS, not replaced by /bin/true"
else
	for i in 1 2 3 4; do
		t_ok "# SKIP seccomp is off by default in this build" true
	done
fi

# --- 4. The privilege drop alone: root cannot be regained. ----------------
write_conf 'seccomp = "off";'
t_ok "user dropped, seccomp off: daemon starts" start "$D/log3"
t_is "$(probe setuid)" "setuid error: Operation not permitted" "  ... setuid(0) is refused by the kernel"
t_is "$(probe fork)" "fork ok" "  ... fork works without the filter (part 2 was the filter)"
stop
t_is "$T_STATUS" 0 "  ... SIGTERM still stops it cleanly (status 0)"

# --- 5. seccomp = "log": reported, not enforced. ---------------------------
if [ "$SECCOMP" = 1 ]; then
	write_conf 'seccomp = "log";'
	t_ok "seccomp = \"log\": daemon starts" start "$D/log4"
	t_is "$(status_of Seccomp)" "2" "  ... with a filter installed"
	t_is "$(probe fork)" "fork ok" "  ... fork() is let through (and logged by the kernel)"
	t_ok "  ... the daemon keeps running" t_alive "$ZG_CHILD"
	stop
else
	for i in 1 2 3 4; do
		t_ok "# SKIP seccomp is off by default in this build" true
	done
fi

# --- 6. A user that does not exist stops the start (fail closed). ----------
write_conf 'user = "zg-no-such-user";'
out=$("$ZONEGATED" -f -c "$D/gw.conf" 2>&1); rc=$?
t_is "$rc" 1 "gateway.user that does not exist: start fails"
t_ok "  ... naming the user and useradd" grep -q 'gateway.user "zg-no-such-user": no such user.*useradd' <<<"$out"

# --- 7. zonegated -t warns about risky settings, -W makes them fatal. ------
write_conf 'user = "";
  seccomp = "off";
  fail_mode = "open";'
out=$("$ZONEGATED" -t -c "$D/gw.conf" 2>&1); rc=$?
t_is "$rc" 0 "-t with risky settings still passes"
t_ok "  ... warns about user = \"\" with file:line" grep -q "^$D/gw.conf:1: warning: gateway.user: .*keeps the privileges" <<<"$out"
t_ok "  ... warns about seccomp = \"off\" with file:line" grep -q "^$D/gw.conf:2: warning: gateway.seccomp:" <<<"$out"
t_ok "  ... warns about fail_mode = \"open\" with file:line" grep -q "^$D/gw.conf:3: warning: gateway.fail_mode:" <<<"$out"
"$ZONEGATED" -t -W -c "$D/gw.conf" >/dev/null 2>&1; rc=$?
t_is "$rc" 1 "-t -W fails on the warnings"
cat >"$D/mb.conf" <<C
devices = ( { identity = "plc-1"; zone = "quarantine"; address = "127.0.0.1:1502"; } );
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:1502"; } );
  listeners = ( { listen = "127.0.0.1:$PORT"; device = "plc-1"; } ); }; } );
C
out=$("$ZONEGATED" -t -c "$D/mb.conf" 2>&1)
t_ok "-t warns about a plain-text Modbus listener with file:line" \
	grep -q "^$D/mb.conf:4: warning: plugins.\[0\].config.listeners.\[0\].listen: plain-text Modbus/TCP" <<<"$out"

# --- 8. Not started as root: no switch, the rest of the sandbox still. ----
NB=$D/nobody
mkdir "$NB" && chown nobody "$NB" && chmod 755 "$D"
cat >"$NB/gw.conf" <<C
gateway = { id = "gw-sandbox"; pidfile = "$NB/zonegated.pid"; restart_limit = 0; };
plugins = ( { name = "sbprobe"; path = "$PROBE";
              config = { listen = "127.0.0.1:$PORT"; }; } );
C
chmod 644 "$NB/gw.conf"
asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
setpriv --reuid=nobody --regid=nogroup --clear-groups "$ZONEGATED" -f -c "$NB/gw.conf" >"$D/log5" 2>&1 &
ZG_PID=$!
T_PIDS+=("$ZG_PID")
t_ok "started as nobody with the default user: daemon starts" \
	eval 't_wait 20 zg_ready_or_dead "$D/log5" "$ZG_PID" && grep -q " ready: " "$D/log5"'
ZG_CHILD=$(zg_child_pid "$D/log5")
t_grep "  ... stays nobody (the root default does not apply)" "sandbox: uid $(id -u nobody) gid $(getent group nogroup | cut -d: -f3) \(unchanged: not root" "$D/log5"
t_is "$(status_of NoNewPrivs)" "1" "  ... with no_new_privs"
if [ "$SECCOMP" = 1 ]; then
	t_is "$(status_of Seccomp)" "2" "  ... and the seccomp filter"
	probe fork >/dev/null
	t_ok "  ... which kills it on fork()" t_wait_exit "$ZG_PID" 10
	t_is "$T_STATUS" 159 "  ... by SIGSYS"
else
	for i in 1 2 3; do
		t_ok "# SKIP seccomp is off by default in this build" true
	done
	stop
fi
sed -i 's/^gateway = { /gateway = { user = "zonegate"; /' "$NB/gw.conf"
out=$(asnobody "$ZONEGATED" -f -c "$NB/gw.conf" 2>&1); rc=$?
t_is "$rc" 1 "as nobody, an explicit user = \"zonegate\" stops the start"
t_ok "  ... saying it cannot switch users" grep -q 'gateway.user "zonegate": zonegated runs as uid [0-9]*, not root, and cannot switch users' <<<"$out"
# --- 9. After the drop: new spool segments, event log rotation, restart. --
DR=$D/drop
mkdir -p "$DR" && chmod 755 "$D" "$DR"
EPORT=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-drop"; pidfile = "$D/zonegated.pid"; restart_delay = 0.05; };
admin = { socket = "$DR/admin.sock"; };
spool = { dir = "$DR/spool"; segment_size = "4K"; max_bytes = "4M"; fsync = "batch"; };
events = { file = "$DR/events.jsonl"; };
plugins = ( { name = "example"; config = { listen = "127.0.0.1:$EPORT"; max_line = 16;
              heartbeat = 0.05; burst = 10; }; } );
C
chmod 644 "$D/gw.conf"
segs() { find "$DR/spool" -name '[0-9]*' | wc -l; }
segs_above() { [ "$(segs)" -gt "$1" ]; }
long_line() {
	python3 - "$EPORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"B" * 64)
s.settimeout(5)
try:
    while s.recv(100):
        pass
except OSError:
    pass
PY
}
ready_count() { grep -c ' ready: ' "$DR/log"; }
t_ok "as zonegate with a spool and an event log: daemon starts" start "$DR/log"
t_grep "  ... dropped to zonegate" "sandbox: uid $ZUID gid $ZGID \(dropped\)" "$DR/log"
n0=$(segs)
t_ok "  ... the spool rolls to new segments after the drop" t_wait 20 segs_above $((n0 + 2))
t_is "$(find "$DR/spool" ! -user zonegate | wc -l)" 0 "  ... the spool directory and all its files belong to zonegate"
t_ok "  ... no permission error in the log" bash -c "! grep -q 'Permission denied' '$DR/log'"
mv "$DR/events.jsonl" "$DR/events.jsonl.1"
kill -HUP "$ZG_PID"
t_ok "event log rotated, SIGHUP: reopened by the dropped process" \
	t_wait 10 grep -q "event log $DR/events.jsonl reopened" "$DR/log"
t_is "$(stat -c %U "$DR/events.jsonl" 2>&1)" zonegate "  ... the new file (made by the supervisor) belongs to zonegate"
t_ok "  ... the reload after it works too" t_wait 10 grep -q "reload of $D/gw.conf complete" "$DR/log"
long_line
t_ok "  ... a new event lands in the new file" t_wait 10 grep -q '"kind":"example.line_too_long"' "$DR/events.jsonl"
old=$ZG_CHILD
kill -KILL "$ZG_CHILD"
t_ok "SIGKILL of the network process: the supervisor starts another" t_wait 20 bash -c "[ \$(grep -c ' ready: ' '$DR/log') -ge 2 ]"
ZG_CHILD=$(zg_child_pid "$DR/log")
t_ok "  ... a new pid ($old -> $ZG_CHILD)" [ "$ZG_CHILD" != "$old" ]
t_is "$(status_of Uid)" "$ZUID $ZUID $ZUID $ZUID" "  ... dropped to zonegate again"
t_ok "  ... the restart is in the event log" t_wait 10 grep -q '"kind":"daemon.restart".*killed by signal 9' "$DR/events.jsonl"
n1=$(segs)
t_ok "  ... the spool keeps rolling" t_wait 20 segs_above $((n1 + 2))
t_is "$(find "$DR/spool" ! -user zonegate | wc -l)" 0 "  ... still all zonegate's"
stop
t_is "$T_STATUS" 0 "SIGTERM to the supervisor stops both (status 0)"
t_ok "  ... the network process is gone" t_dead "$ZG_CHILD"
# --- 10. A seccomp kill is restarted and raised as an event. ---------------
if [ "$SECCOMP" = 1 ]; then
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-sandbox"; pidfile = "$D/zonegated.pid"; restart_limit = 1; restart_delay = 0.05; };
admin = { socket = "$DR/admin.sock"; };
events = { file = "$DR/events10.jsonl"; };
plugins = ( { name = "sbprobe"; path = "$PROBE";
              config = { listen = "127.0.0.1:$PORT"; }; } );
C
	t_ok "restart_limit = 1: daemon starts" start "$D/log10"
	first=$ZG_CHILD
	probe fork >/dev/null
	t_ok "  ... fork() kills the network process, the supervisor starts another" \
		t_wait 20 bash -c "[ \$(grep -c ' ready: ' '$D/log10') -ge 2 ]"
	t_ok "  ... the restart event names SIGSYS and the allowlist" \
		t_wait 10 grep -q '"kind":"daemon.restart".*pid '"$first"' killed by signal 31 (SIGSYS: a system call outside the seccomp allowlist)' "$DR/events10.jsonl"
	ZG_CHILD=$(zg_child_pid "$D/log10")
	probe fork >/dev/null
	t_ok "  ... a second kill in a row is a crash loop: zonegated stops" t_wait_exit "$ZG_PID" 20
	t_is "$T_STATUS" 159 "  ... with the network process's status (128+31)"
	t_ok "  ... daemon.crash_loop in the event log" grep -q '"kind":"daemon.crash_loop".*signal 31' "$DR/events10.jsonl"
else
	for i in 1 2 3 4 5 6; do
		t_ok "# SKIP seccomp is off by default in this build" true
	done
fi
t_done
