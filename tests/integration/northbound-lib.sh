# tests/integration/northbound-lib.sh: helpers for the northbound tests
# (sourced after lib.sh).  A test PKI, a real mosquitto broker with a TLS
# listener that requires client certificates, a persistent mosquitto_sub
# as the far end, and a checker for the sequence numbers it received.

command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] ||
	t_skip_all "mosquitto broker not installed (contrib/install-deps.sh)"
command -v mosquitto_sub >/dev/null 2>&1 ||
	t_skip_all "mosquitto-clients not installed (contrib/install-deps.sh)"
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
PKI=$T_TMP/pki

nb_pki() {
	bash "$top_srcdir/contrib/pki/mkpki.sh" "$PKI" >"$T_TMP/pki.log" 2>&1
}

# nb_broker_conf PORT: a broker on 127.0.0.1:PORT, TLS, client certs
# required, persistence on (so a subscriber's queued messages survive
# a broker restart, as on a real site).
nb_broker_conf() {
	mkdir -p "$T_TMP/broker"
	cat >"$T_TMP/broker/mosquitto.conf" <<C
user $(id -un)
persistence true
persistence_location $T_TMP/broker/
log_dest file $T_TMP/broker/log
log_type error
log_type warning
log_type notice
listener $1 127.0.0.1
cafile $PKI/ca.crt
certfile $PKI/server.crt
keyfile $PKI/server.key
require_certificate true
allow_anonymous true
max_queued_messages 1000000
C
	BROKER_PORT=$1
}

# nb_broker_start: start it and wait for the port.  Sets BROKER_PID.
nb_broker_start() {
	"$MOSQUITTO" -c "$T_TMP/broker/mosquitto.conf" >>"$T_TMP/broker/out" 2>&1 &
	BROKER_PID=$!
	T_PIDS+=("$BROKER_PID")
	t_wait 10 t_port_open "$BROKER_PORT"
}

nb_broker_stop() {
	kill -TERM "$BROKER_PID" 2>/dev/null
	t_wait_exit "$BROKER_PID" 10
}

NB_CLIENT=(-h 127.0.0.1 --cafile "$PKI/ca.crt" --cert "$PKI/client-cn.crt"
	--key "$PKI/client-cn.key")

# nb_sub TOPIC OUTFILE: persistent QoS 1 subscriber (clean session off,
# fixed id), reconnecting on its own.  Waits until it is subscribed.
nb_sub() {
	mosquitto_sub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 -c -i "zgtest-sub-$$" \
		-t "$1" -t zgtest/probe -F '%t %p' >"$2" 2>"$2.err" &
	SUB_PID=$!
	T_PIDS+=("$SUB_PID")
	# subscribed once the broker lists it: publish a probe until it arrives
	t_wait 10 nb_probe "$2"
}
nb_probe() {
	mosquitto_pub "${NB_CLIENT[@]}" -p "$BROKER_PORT" -q 1 -t zgtest/probe -m probe 2>/dev/null
	grep -q '^zgtest/probe probe' "$1"
}

# nb_gw_conf FILE SPOOLDIR HEARTBEAT [extra plugin config]
nb_gw_conf() {
	local beat="config = { heartbeat = $3; burst = ${EX_BURST:-1}; };"
	[ -n "${EX_PORT:-}" ] &&
		beat="config = { heartbeat = $3; burst = ${EX_BURST:-1}; listen = \"127.0.0.1:$EX_PORT\"; max_line = 16; };"
	cat >"$1" <<C
gateway = { id = "gw-test"; pidfile = "$T_TMP/zonegated.pid"; shutdown_timeout = 2.0; };
spool = { dir = "$2"; segment_size = "64K"; max_bytes = "16M"; fsync = "batch"; };
plugins = (
  { name = "example"; $beat },
  { name = "mqtt"; config = { host = "127.0.0.1"; port = $BROKER_PORT;
      ca = "$PKI/ca.crt"; cert = "$PKI/client-dns.crt"; key = "$PKI/client-dns.key";
      topic = "zonegate/{gateway}/{topic}"; keepalive = 5;
      reconnect_min = 0.1; reconnect_max = 1.0; connect_timeout = 2.0; ${4:-} }; }
);
C
}

# nb_count FILE: number of heartbeat messages received so far.
nb_count() { grep -c '"topic":"example/heartbeat"' "$1" 2>/dev/null || true; }
nb_has_at_least() { [ "$(nb_count "$1")" -ge "$2" ]; }
nb_has_seq() { grep -q "\"seq\":$2," "$1"; }

# nb_next_seq SPOOLDIR: next_seq from the spool's state file.
nb_next_seq() { awk '$1 == "next_seq" { print $2 }' "$1/state"; }

# nb_check FILE FIRST LAST: every seq FIRST..LAST arrived, first arrivals
# in rising order; duplicates counted within FIRST..LAST.  Prints "missing=N order=ok|bad dups=N".
nb_check() {
	python3 - "$1" "$2" "$3" <<'P'
import json, sys
path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen, order, dups, prev = set(), True, 0, 0
for line in open(path, errors="replace"):
    topic, _, payload = line.rstrip("\n").partition(" ")
    if not payload.startswith("{"):
        continue
    try:
        m = json.loads(payload)
    except ValueError:
        continue
    s = m.get("seq")
    if not isinstance(s, int):
        continue
    if s in seen:
        if first <= s <= last:
            dups += 1
        continue
    if s < prev:
        order = False
    seen.add(s)
    prev = s
missing = sum(1 for s in range(first, last + 1) if s not in seen)
print("missing=%d order=%s dups=%d" % (missing, "ok" if order else "bad", dups))
P
}
