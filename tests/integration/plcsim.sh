#!/usr/bin/env bash
# Self-test of the PLC simulator contrib/plcsim/zg-plcsim (TAP).
#
# Starts the simulator on ephemeral loopback ports and on a socat pty pair,
# waits for its --ready-file (bounded polls, never a fixed sleep), and
# checks it with real Modbus masters: mbpoll, and a few raw frames from
# python3's standard library (for what mbpoll cannot show: lengths,
# transaction ids, closes).  Every process it starts is killed on exit.
#
# make check exports top_srcdir and top_builddir; for a manual run they
# default to this script's ../.., and PLCSIM may name another binary.

set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
top_builddir=${top_builddir:-$here/../..}
PLCSIM=${PLCSIM:-$top_builddir/contrib/plcsim/zg-plcsim}
PY=${PYTHON3:-}
[ -n "$PY" ] || PY=/usr/bin/python3

echo "1..41"

if [ ! -x "$PLCSIM" ]; then
	for i in $(seq 1 41); do echo "not ok $i - $PLCSIM not built"; done
	exit 1
fi
have_mbpoll=0; command -v mbpoll >/dev/null 2>&1 && have_mbpoll=1
have_socat=0; command -v socat >/dev/null 2>&1 && have_socat=1
have_py=0; "$PY" -c 'import socket, struct' >/dev/null 2>&1 && have_py=1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plcsim-test.XXXXXX") || exit 1
pids=()
cleanup() {
	local p
	exec 3>&- 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
ok() {	# ok DESC COMMAND...: one TAP line from the command's status
	local desc=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fi
}
skip() {	# skip DESC REASON
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
diag() { echo "# $*"; }

# wait_until SECONDS COMMAND...: poll every 50 ms, give up after SECONDS.
wait_until() {
	local tries=$(($1 * 20)); shift
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		tries=$((tries - 1))
	done
	return 1
}
# log_has FILE PATTERN [COUNT]: the log holds COUNT (1) matching lines.
log_has() {
	local c
	c=$(grep -c -e "$2" "$1" 2>/dev/null)
	[ "${c:-0}" -ge "${3:-1}" ]
}
wait_log() { wait_until 10 log_has "$@"; }

# start_sim NAME ARGS...: run the simulator on an ephemeral TCP port,
# wait until it is ready; sets port and pid_NAME.  Log in $tmp/NAME.log.
start_sim() {
	local name=$1; shift
	"$PLCSIM" -p 0 --ready-file "$tmp/$name.ready" "$@" 2>"$tmp/$name.log" &
	local p=$!
	pids+=("$p")
	eval "pid_$name=$p"
	port=
	if wait_until 10 test -s "$tmp/$name.ready"; then
		port=$(cat "$tmp/$name.ready")
		return 0
	fi
	diag "$name did not become ready:"; sed 's/^/#   /' "$tmp/$name.log"
	return 1
}

# mb ARGS...: one mbpoll poll; prints the values read, space separated.
mb() {
	timeout 10 mbpoll -1 "$@" 2>>"$tmp/mbpoll.err" |
		sed -n 's/^\[[0-9]*\]:[[:space:]]*//p' | tr '\n' ' ' | sed 's/ $//'
	return "${PIPESTATUS[0]}"
}
# mbpoll wants the host before any values to write; options may follow.
mbtcp() { local p=$1; shift; mb -m tcp -o 1 -p "$p" 127.0.0.1 "$@"; }
is() {	# is GOT WANT
	[ "$1" = "$2" ] && return 0
	diag "got '$1', want '$2'"
	return 1
}
fails() { ! "$@" >/dev/null 2>&1; }
ctl() {	# ctl FIFO LINE: write one control line (bounded: a dead reader)
	timeout 5 bash -c 'printf "%s\n" "$2" > "$1"' _ "$1" "$2"
}
float_in() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v != "" && v + 0 >= lo && v + 0 <= hi) }'; }

# Raw Modbus/TCP frames for what mbpoll cannot show.
cat >"$tmp/raw.py" <<'EOF'
import socket, struct, sys, time

mode, port = sys.argv[1], int(sys.argv[2])

def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=3)

def adu(tid, pdu, unit=1, proto=0):
    return struct.pack(">HHHB", tid, proto, len(pdu) + 1, unit) + pdu

def recv_n(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def recv_adu(s):
    h = recv_n(s, 7)
    return h, recv_n(s, struct.unpack(">H", h[4:6])[0] - 1)

if mode == "read":      # FC 3 addr 0 qty 3, tid 0x1234: describe the answer
    s = conn()
    t0 = time.monotonic()
    s.sendall(adu(0x1234, struct.pack(">BHH", 3, 0, 3)))
    h, pdu = recv_adu(s)
    ms = int((time.monotonic() - t0) * 1000)
    vals = [struct.unpack(">H", pdu[i:i + 2])[0] for i in range(2, len(pdu) - 1, 2)]
    print("tid=%04x fc=%d bc=%d datalen=%d values=%s ms=%d" % (
        struct.unpack(">H", h[0:2])[0], pdu[0], pdu[1], len(pdu) - 2,
        ",".join(map(str, vals)), ms))
    s.settimeout(0.5)
    try:
        h2, pdu2 = recv_adu(s)
        print("extra tid=%04x same-pdu=%d" % (struct.unpack(">H", h2[0:2])[0],
                                            pdu2 == pdu))
    except (socket.timeout, EOFError):
        print("no-extra")
elif mode == "drop":    # sequential reads until the server closes
    s = conn()
    k = 0
    try:
        for i in range(10):
            s.sendall(adu(i, struct.pack(">BHH", 3, 0, 1)))
            recv_adu(s)
            k += 1
    except (EOFError, ConnectionResetError, BrokenPipeError):
        print("answered=%d closed" % k)
        sys.exit(0)
    print("answered=%d open" % k)
elif mode == "badmbap": # protocol id 1: the server must close
    s = conn()
    s.sendall(adu(7, struct.pack(">BHH", 3, 0, 1), proto=1))
    try:
        print("closed" if s.recv(100) == b"" else "answered")
    except ConnectionResetError:
        print("closed")
    except socket.timeout:
        print("open")
elif mode == "liar":    # FC 16 qty 2, byte count 4, only 2 data bytes
    s = conn()
    s.sendall(adu(9, struct.pack(">BHHBH", 16, 40, 2, 4, 0xBEEF)))
    h, pdu = recv_adu(s)
    print("fc=%d code=%d" % (pdu[0], pdu[1]))
elif mode == "many":    # K clients at once, answered in any order
    k = int(sys.argv[3])
    socks = [conn() for _ in range(k)]
    for i, s in enumerate(socks):
        s.sendall(adu(100 + i, struct.pack(">BHH", 3, 0, 1)))
    good = 0
    for i, s in reversed(list(enumerate(socks))):
        h, pdu = recv_adu(s)
        if struct.unpack(">H", h[0:2])[0] == 100 + i and pdu[0] == 3:
            good += 1
    print("good=%d" % good)
EOF
raw() { timeout 10 "$PY" "$tmp/raw.py" "$@" 2>>"$tmp/raw.err"; }

need_mbpoll() { [ "$have_mbpoll" = 1 ]; }

# ---------------------------------------------------------------- main
cat >"$tmp/init.txt" <<'EOF'
# initial values for the self-test
holding:100=7
discrete:3=1   # a discrete input
EOF
mkfifo "$tmp/main.ctl"
start_sim main -v --demo --set holding:0=1234,5,6 \
	--set input:10=0x4049,0x0FDB --set coil:5=1 -f "$tmp/init.txt" \
	--log-writes "$tmp/writes.log" --control "$tmp/main.ctl"
main_ok=$?
P=$port
ok "simulator becomes ready on an ephemeral port" \
	test "$main_ok" = 0 -a -n "$P" -a "${P:-0}" -gt 0
ok "stderr announces the bound port and unit" \
	log_has "$tmp/main.log" "^plcsim: listening on 127.0.0.1:$P unit 1\$"

if need_mbpoll; then
	ok "--set holding values read back (FC 3)" \
		is "$(mbtcp "$P" -a 1 -t 4 -0 -r 0 -c 3)" "1234 5 6"
	ok "--set input registers as float32 ABCD (FC 4)" \
		is "$(mbtcp "$P" -t 3:float -B -0 -r 10 -c 1)" "3.14159"
	ok "--set coil read back (FC 1)" \
		is "$(mbtcp "$P" -t 0 -0 -r 4 -c 2)" "0 1"
	ok "init file: holding 100 and discrete input 3 (FC 2)" \
		is "$(mbtcp "$P" -t 4 -0 -r 100 -c 1) $(mbtcp "$P" -t 1 -0 -r 2 -c 2)" "7 0 1"
	mbtcp "$P" -t 4 -0 -r 10 4321 >/dev/null
	ok "write single register, read back" \
		is "$(mbtcp "$P" -t 4 -0 -r 10 -c 1)" "4321"
	ok "--log-writes records the FC 6 write" \
		log_has "$tmp/writes.log" "^fc=6 unit=1 addr=10 count=1 values=4321 peer=127.0.0.1:[0-9]* result=applied\$"
	mbtcp "$P" -t 4 -0 -r 20 7 8 9 >/dev/null
	ok "write multiple registers, read back" \
		is "$(mbtcp "$P" -t 4 -0 -r 20 -c 3)" "7 8 9"
	ok "--log-writes records the FC 16 write with its values" \
		log_has "$tmp/writes.log" "^fc=16 unit=1 addr=20 count=3 values=7,8,9 .*result=applied\$"
	ok "reads leave no line in the write log" \
		is "$(wc -l <"$tmp/writes.log")" "2"
	ok "-v logs function, address and quantity" \
		log_has "$tmp/main.log" "unit 1 fc 3 read-holding-registers addr 20 qty 3 -> ok"
	temp=$(mbtcp "$P" -t 3:float -B -0 -r 0 -c 1)
	ok "demo temperature is a float in 20..25 (got $temp)" float_in "$temp" 20 25
	c1=$(mbtcp "$P" -t 3:int -B -0 -r 2 -c 1)
	counter_moved() {
		local c2
		c2=$(mbtcp "$P" -t 3:int -B -0 -r 2 -c 1)
		[ -n "$c2" ] && [ -n "$c1" ] && [ "$c2" -gt "$c1" ]
	}
	ok "demo counter increments each second" wait_until 5 counter_moved
	ok "a request for another unit gets no answer" \
		fails mbtcp "$P" -a 2 -o 0.3 -t 4 -0 -r 0 -c 1
	mbtcp "$P" -a 2 -o 0.3 -t 4 -0 -r 30 99 >/dev/null 2>&1
	ok "a write for another unit is logged as other-unit, not applied" \
		eval 'log_has "$tmp/writes.log" "^fc=6 unit=2 addr=30 .*result=other-unit\$" &&
		      is "$(mbtcp "$P" -t 4 -0 -r 30 -c 1)" "0"'
	ok "out-of-range read answers exception 2" \
		eval 'fails mbtcp "$P" -t 4 -0 -r 9999 -c 2 &&
		      log_has "$tmp/main.log" "addr 9999 qty 2 -> exception:2"'
	ctl "$tmp/main.ctl" "set holding:0=77"
	ok "control FIFO: set is acknowledged and applied" \
		eval 'wait_log "$tmp/main.log" "^plcsim: control: set holding:0=77\$" &&
		      is "$(mbtcp "$P" -t 4 -0 -r 0 -c 1)" "77"'
	ctl "$tmp/main.ctl" "bogus on"
	ok "control FIFO: unknown command refused, simulator still serves" \
		eval 'wait_log "$tmp/main.log" "control: error: unknown command" &&
		      is "$(mbtcp "$P" -t 4 -0 -r 1 -c 1)" "5"'
else
	for d in holding input coil init write6 log6 write16 log16 readlog \
		 verbose temp counter unit unitwrite exception ctlset ctlbad; do
		skip "mbpoll check ($d)" "mbpoll not installed"
	done
fi
if [ "$have_py" = 1 ]; then
	ok "8 clients served concurrently" is "$(raw many "$P" 8)" "good=8"
	ok "a request whose byte count lies gets exception 3" \
		is "$(raw liar "$P")" "fc=144 code=3"
	ok "a bad MBAP header closes the connection" \
		eval 'is "$(raw badmbap "$P")" closed &&
		      log_has "$tmp/main.log" "bad MBAP header (protocol id 1"'
else
	for d in many liar badmbap; do skip "raw check ($d)" "no python3"; done
fi

# ---------------------------------------------------------------- silent
if need_mbpoll && start_sim silent -v --silent; then
	S=$port
	ok "--silent: the read times out" fails mbtcp "$S" -o 0.5 -t 4 -0 -r 0 -c 1
	ok "--silent: the request was received and logged" \
		log_has "$tmp/silent.log" "fc 3 read-holding-registers addr 0 qty 1 -> no answer (silent)"
	kill -USR1 "$pid_silent"
	ok "SIGUSR1 toggles silence off; the read succeeds" \
		eval 'wait_log "$tmp/silent.log" "silent off (SIGUSR1)" &&
		      is "$(mbtcp "$S" -t 4 -0 -r 0 -c 1)" "0"'
else
	for d in timeout logged usr1; do skip "silent ($d)" "mbpoll missing or no start"; done
fi

# ---------------------------------------------------------------- max-clients
if need_mbpoll && start_sim one --max-clients 1; then
	O=$port
	exec 3<>"/dev/tcp/127.0.0.1/$O"
	wait_log "$tmp/one.log" "connected (1/1)"
	ok "--max-clients 1: a second client is refused" \
		eval 'fails mbtcp "$O" -o 0.5 -t 4 -0 -r 0 -c 1 &&
		      log_has "$tmp/one.log" "refused client 127.0.0.1:[0-9]*: 1 clients connected, max-clients 1"'
	exec 3>&-
	wait_log "$tmp/one.log" "disconnected"
	ok "--max-clients 1: served again once the first client left" \
		is "$(mbtcp "$O" -t 4 -0 -r 0 -c 1)" "0"
else
	for d in refused served; do skip "max-clients ($d)" "mbpoll missing or no start"; done
fi

# ---------------------------------------------------------------- raw misbehaviour
mkfifo "$tmp/raw.ctl"
if [ "$have_py" = 1 ] && start_sim raw --malformed --set holding:0=1,2,3 \
		--control "$tmp/raw.ctl"; then
	R=$port
	ok "--malformed: byte count 8 for 6 data bytes, frame otherwise intact" \
		eval 'raw read "$R" | grep -q "^tid=1234 fc=3 bc=8 datalen=6 values=1,2,3 "'
	ctl "$tmp/raw.ctl" "malformed off"
	ctl "$tmp/raw.ctl" "unsolicited on"
	wait_log "$tmp/raw.log" "control: unsolicited on"
	out=$(raw read "$R")
	ok "control: malformed off gives a correct answer" \
		eval 'echo "$out" | grep -q "^tid=1234 fc=3 bc=6 datalen=6 values=1,2,3 "'
	ok "--unsolicited: a second answer follows with another transaction id" \
		eval 'echo "$out" | grep -q "^extra tid=[0-9a-f]* same-pdu=1" &&
		      ! echo "$out" | grep -q "^extra tid=1234"'
	ctl "$tmp/raw.ctl" "unsolicited off"
	ctl "$tmp/raw.ctl" "delay 300"
	wait_log "$tmp/raw.log" "control: delay 300"
	ms=$(raw read "$R" | sed -n 's/.* ms=\([0-9]*\)$/\1/p')
	ok "delay 300: the answer takes >= 300 ms (took ${ms:-?})" \
		test "${ms:-0}" -ge 290
	ctl "$tmp/raw.ctl" "delay 0"
	ctl "$tmp/raw.ctl" "drop-after 2"
	wait_log "$tmp/raw.log" "control: drop-after 2"
	ok "drop-after 2: two answers, then the connection closes" \
		is "$(raw drop "$R")" "answered=2 closed"
else
	for d in malformed off unsolicited delay drop; do skip "raw ($d)" "no python3 or no start"; done
fi

# ---------------------------------------------------------------- RTU
if need_mbpoll && [ "$have_socat" = 1 ]; then
	socat pty,raw,echo=0,link="$tmp/a" pty,raw,echo=0,link="$tmp/b" \
		2>"$tmp/socat.log" &
	pids+=("$!")
	if wait_until 10 test -e "$tmp/a" -a -e "$tmp/b"; then
		"$PLCSIM" -r "$tmp/a" -b 19200 -P N -S 1 -v --set holding:0=4242 \
			--ready-file "$tmp/rtu.ready" 2>"$tmp/rtu.log" &
		pids+=("$!")
		wait_until 10 test -s "$tmp/rtu.ready"
	fi
	rtu() { mb -m rtu -b 19200 -P none -o 1 "$tmp/b" "$@"; }
	ok "RTU: ready file says rtu, stderr names the line" \
		eval 'is "$(cat "$tmp/rtu.ready" 2>/dev/null)" rtu &&
		      log_has "$tmp/rtu.log" "^plcsim: listening on rtu $tmp/a 19200 8N1 unit 1\$"'
	ok "RTU: read holding register 0 over a pty pair" \
		is "$(rtu -a 1 -t 4 -0 -r 0 -c 1)" "4242"
	rtu -a 1 -t 4 -0 -r 5 55 >/dev/null
	ok "RTU: write, then read back" is "$(rtu -a 1 -t 4 -0 -r 5 -c 1)" "55"
	ok "RTU: another unit gets no answer" \
		eval 'fails rtu -a 9 -o 0.3 -t 4 -0 -r 0 -c 1 &&
		      log_has "$tmp/rtu.log" "unit 9 fc 3 .* -> ignored: not unit 1"'
else
	for d in ready read write unit; do skip "RTU ($d)" "needs mbpoll and socat"; done
fi

# ---------------------------------------------------------------- lifecycle
ticks=$(awk '{ print $14 + $15 }' "/proc/$pid_main/stat" 2>/dev/null)
ok "no busy loop: the demo instance used little CPU (${ticks:-?} ticks)" \
	test "${ticks:-999999}" -lt 100
kill -TERM "$pid_main"
wait "$pid_main"
st=$?
ok "SIGTERM: exit 0 (got $st), ready file removed, a FIFO it did not create kept" \
	eval 'test "$st" = 0 && test ! -e "$tmp/main.ready" && test -p "$tmp/main.ctl"'
"$PLCSIM" --no-such-option >/dev/null 2>&1; st=$?
"$PLCSIM" -r /dev/null -p 502 >/dev/null 2>&1; st2=$?
ok "usage errors exit 2 (unknown option: $st, -r with -p: $st2)" \
	test "$st" = 2 -a "$st2" = 2
"$PLCSIM" -p 0 --set holding:9999=1,2 2>"$tmp/bad.log" >/dev/null; st=$?
ok "a --set past the table end is refused with a reason (exit $st)" \
	eval 'test "$st" = 1 && grep -q "table has 10000 entries" "$tmp/bad.log"'
ok "-h prints the manual" eval '"$PLCSIM" -h | grep -q "^SYNOPSIS"'
exit 0
