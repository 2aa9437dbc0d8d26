# tests/integration/lib.sh: TAP output and real-daemon helpers for the
# integration tests.  Sourced, never run.  Nothing here sleeps to
# synchronise: every wait polls a condition against a deadline.

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${ZONEGATE_PLUGIN_PATH:=$top_builddir/plugins/example/.libs:$top_builddir/plugins/modbus/.libs:$top_builddir/plugins/mqtt/.libs:$top_builddir/plugins/mqttd/.libs:$top_builddir/plugins/http2/.libs}"
export top_srcdir top_builddir ZONEGATE_PLUGIN_PATH
ZONEGATED="$top_builddir/gateway/zonegated"

T_N=0
T_FAILED=0
T_PIDS=()
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zgtest.XXXXXX")

t_cleanup() {
	local p
	for p in "${T_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${T_PIDS[@]}"; do
		t_wait_exit "$p" 5 || kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT

t_plan() { echo "1..$1"; }
t_skip_all() { echo "1..0 # SKIP $*"; exit 0; }
t_diag() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$*"; }

# t_ok "description" command args...: passes when the command succeeds.
t_ok() {
	local desc=$1; shift
	T_N=$((T_N + 1))
	if "$@"; then
		echo "ok $T_N - $desc"
	else
		echo "not ok $T_N - $desc"
		T_FAILED=$((T_FAILED + 1))
	fi
}

# t_is GOT EXPECTED "description"
t_is() {
	T_N=$((T_N + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $T_N - $3"
	else
		echo "not ok $T_N - $3"
		t_diag "got:      '$1'" "expected: '$2'"
		T_FAILED=$((T_FAILED + 1))
	fi
}

# t_grep "description" PATTERN FILE: FILE contains an ERE match.
t_grep() {
	T_N=$((T_N + 1))
	if grep -qE -- "$2" "$3"; then
		echo "ok $T_N - $1"
	else
		echo "not ok $T_N - $1"
		t_diag "no line matching /$2/ in $3:"
		t_diag "$(tail -n 20 "$3")"
		T_FAILED=$((T_FAILED + 1))
	fi
}

t_done() {
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# t_wait DEADLINE_SECONDS command...: poll until the command succeeds.
t_wait() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	while ! "$@"; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.02
	done
	return 0
}

t_alive() { kill -0 "$1" 2>/dev/null; }
t_dead() { ! kill -0 "$1" 2>/dev/null; }

# t_wait_exit PID SECONDS: wait for a child to end; sets T_STATUS.
t_wait_exit() {
	local pid=$1 limit=$2
	t_wait "$limit" t_dead "$pid" || return 1
	wait "$pid" 2>/dev/null
	T_STATUS=$?
	return 0
}

# A TCP port that was free a moment ago on 127.0.0.1.
t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

t_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# zg_start CONF LOG [extra args]: start zonegated in the foreground and
# wait until it logs that it is ready.  Sets ZG_PID (the supervisor: the
# pid in the pidfile, the one to signal) and ZG_CHILD (the network
# process: the one to inspect in /proc).  With -S they are the same.
# Fails (returning 1) if the daemon exits first or is not ready in 20 s.
#
# Tests run as root in private 0700 directories the unprivileged user
# cannot read (reload re-reads the config there), so zg_start keeps the
# start-up user (-u ""); the seccomp filter stays at its default, so every
# test exercises it.  tests/integration/sandbox.sh covers the drop itself.
zg_start() {
	local conf=$1 log=$2; shift 2
	"$ZONEGATED" -f -c "$conf" -u "" "$@" >"$log" 2>&1 &
	ZG_PID=$!
	T_PIDS+=("$ZG_PID")
	if t_wait 20 zg_ready_or_dead "$log" "$ZG_PID" && grep -q ' ready: ' "$log"; then
		ZG_CHILD=$(zg_child_pid "$log")
		return 0
	fi
	t_diag "zonegated did not become ready; its log ends:"
	t_diag "$(tail -n 15 "$log")"
	return 1
}
zg_ready_or_dead() { grep -q ' ready: ' "$1" || ! kill -0 "$2" 2>/dev/null; }

# zg_child_pid LOG: the network process that last logged "ready".
zg_child_pid() { sed -n 's/.* ready: .*, pid \([0-9]*\).*/\1/p' "$1" | tail -n 1; }

# zg_kill9: the whole gateway dies at once (power cut, OOM of both): the
# supervisor first, so it cannot restart the network process, then that.
zg_kill9() {
	kill -KILL "$ZG_PID" 2>/dev/null
	kill -KILL "$ZG_CHILD" 2>/dev/null
	wait "$ZG_PID" 2>/dev/null
	t_wait 10 t_dead "$ZG_PID" && t_wait 10 t_dead "$ZG_CHILD"
}

# zg_stop [SECONDS]: SIGTERM the daemon and wait; sets T_STATUS.
zg_stop() {
	kill -TERM "$ZG_PID" 2>/dev/null
	t_wait_exit "$ZG_PID" "${1:-10}"
}

# Count lines matching PATTERN in FILE (0 when none).
t_count() { grep -cE -- "$1" "$2" 2>/dev/null || true; }
