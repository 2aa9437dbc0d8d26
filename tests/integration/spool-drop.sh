#!/usr/bin/env bash
# Started as root with a spool, zonegated opens (creates) the spool as
# root and then becomes the unprivileged user "zonegate": the spool must
# still take new segments and its state file after the drop (the daemon
# hands the directory and its files to that user before it drops).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	t_skip_all "needs root to drop privileges (CI runs as root)"
fi
if ! getent passwd zonegate >/dev/null; then
	t_skip_all "no user zonegate: run contrib/install-deps.sh (it creates it)"
fi

t_plan 8
D=$T_TMP
chmod 0711 "$D" # the dropped daemon reaches its spool by path
ZUID=$(id -u zonegate)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-drop"; pidfile = "$D/zonegated.pid"; };
spool = { dir = "$D/spool"; segment_size = "4K"; max_bytes = "4M"; fsync = "batch"; };
plugins = ( { name = "example"; config = { heartbeat = 0.01; burst = 5; }; } );
C
# A spool left by an earlier run as root: the daemon must take it over too.
mkdir -m 0700 "$D/spool"
printf 'zonegate-spool-state 1\nnext_seq 1\n' >"$D/spool/state"
chmod 0600 "$D/spool/state"

"$ZONEGATED" -f -c "$D/gw.conf" >"$D/log" 2>&1 &
ZG_PID=$!
T_PIDS+=("$ZG_PID")
t_ok "zonegated starts as root with a spool (default user: zonegate)" \
	t_wait 20 zg_ready_or_dead "$D/log" "$ZG_PID"
t_grep "  ... and drops to zonegate" "sandbox: uid $ZUID .*\(dropped\)" "$D/log"
t_ok "after the drop the spool starts new segments (5 of 4 KiB)" t_wait 20 bash -c "[ \$(find '$D/spool' -name '*.seg' | wc -l) -ge 5 ]"
t_is "$(t_count 'message on .* refused|Permission denied' "$D/log")" 0 "no message refused, no permission error"
t_is "$(find "$D/spool" ! -user zonegate | wc -l)" 0 "the spool directory and every file in it belong to zonegate"
t_ok "SIGTERM stops the gateway" zg_stop
n=$(awk '$1 == "next_seq" { print $2 }' "$D/spool/state")
t_ok "the state file was rewritten after the drop (next_seq $n, was 1)" test "${n:-1}" -gt 1
t_is "$(stat -c %U "$D/spool/state")" zonegate "  ... by zonegate"
t_done
