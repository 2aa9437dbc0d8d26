#!/usr/bin/env bash
# The spool's per-zone bound in the running daemon: a producer in zone
# "noisy" emits far more than its bound while no uplink acknowledges
# anything.  Its oldest messages are dropped (the spool on disk stays
# within the bound), one log line says so for the whole episode, the
# counters show it on /metrics, a message of another zone taken during
# the episode stays, and after a restart the zone is counted again from
# the records on disk (the bound still holds, sequence numbers go on).
# The records are read back with a parser written here, not the spool's.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
PROM="$top_srcdir/tests/integration/promparse.py"
command -v curl >/dev/null 2>&1 || t_skip_all "curl not installed"

t_plan 16
D=$T_TMP
MP=$(t_free_port)
EX=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { id = "gw-zones"; pidfile = "$D/zonegated.pid"; shutdown_timeout = 1.0; };
metrics = { listen = "127.0.0.1:$MP"; };
spool = { dir = "$D/spool"; segment_size = "8K"; max_bytes = "1M";
          max_bytes_per_zone = "16K"; on_zone_full = "drop_oldest"; };
plugins = ( { name = "example"; config = {
  listen = "127.0.0.1:$EX"; max_line = 16;
  heartbeat = 0.02; burst = 20; zone = "noisy"; }; } );
C

# recs DIR: every record in the segment files: "SEQ ZONE TOPIC" (ZONE "-"
# when none), in file order; "BAD" for anything that does not parse.
recs() {
	$PY - "$1" <<'P'
import glob, os, struct, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.seg"))):
    b = open(f, "rb").read()
    if b[:8] != b"ZGSPOOL\x01":
        print("BAD header", f); continue
    o = 16
    while o < len(b):
        if len(b) - o < 32 or b[o:o + 4] != b"ZGR1":
            print("BAD record", f, o); break
        plen, tl, zl = struct.unpack_from("<IBB", b, o + 8)
        seq, = struct.unpack_from("<Q", b, o + 16)
        topic = b[o + 32:o + 32 + tl].decode()
        zone = b[o + 32 + tl:o + 32 + tl + zl].decode() or "-"
        print(seq, zone, topic)
        o += 32 + tl + zl + plen
P
}
# rising FILE: sequence numbers strictly rising
rising() { awk 'NR > 1 && $1 <= p { bad = 1 } { p = $1 } END { exit bad }' "$1"; }
segbytes() { cat "$D"/spool/*.seg | wc -c; }
scrape() { curl -sS --max-time 10 -o "$1" "http://127.0.0.1:$MP/metrics"; }
val() { $PY "$PROM" "$1" "$2"; }
dropped_at_least() { scrape "$D/m" && [ "$(val "$D/m" 'zonegate_spool_zone_dropped_total{zone="noisy"}' | cut -d. -f1)" -ge "$1" ]; }

t_ok "zonegated starts: spool bounded at 16 KiB per zone, heartbeats in zone noisy" \
	zg_start "$D/gw.conf" "$D/gw.log"
t_ok "the zone reaches its bound: one warning says its oldest messages are dropped" \
	t_wait 20 grep -q 'spool: zone noisy holds [0-9]* bytes, at its bound of 16384 bytes: its oldest unsent messages are dropped; other zones are not affected' "$D/gw.log"
# Another zone's message during the episode: a security event (no zone).
$PY -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.recv(100); s.sendall(b"x"*64); s.recv(100)' "$EX" 2>/dev/null
t_ok "hundreds of noisy messages are dropped (zonegate_spool_zone_dropped_total)" \
	t_wait 30 dropped_at_least 1000
t_is "$(grep -c 'spool: zone noisy holds' "$D/gw.log")" 1 "  ... and the log said so once, not per message"
t_is "$(val "$D/m" 'zonegate_spool_zone_over_total{zone="noisy"}')" 1 "  ... one episode on /metrics"
t_ok "  ... zonegate_spool_zone_bytes{zone=\"noisy\"} is within the bound" \
	bash -c '[ "$(cut -d. -f1 <<<"$1")" -le 16384 ] && [ "$(cut -d. -f1 <<<"$1")" -gt 0 ]' _ "$(val "$D/m" 'zonegate_spool_zone_bytes{zone="noisy"}')"
t_ok "the segment files on disk stay within the bound (plus segment headers): $(segbytes) bytes" \
	bash -c '[ "$1" -le $((16384 + 1024)) ]' _ "$(segbytes)"
recs "$D/spool" >"$D/recs1"
t_ok "the records on disk parse and their sequence numbers rise (with gaps)" \
	bash -c "! grep -q BAD '$D/recs1' && awk 'NR > 1 && \$1 <= p { exit 1 } { p = \$1 }' '$D/recs1'"
t_ok "the other zone's message is still there, among the newest noisy ones" \
	grep -q ' - events/security$' "$D/recs1"
first1=$(awk '$2 == "noisy" { print $1; exit }' "$D/recs1")
t_ok "the oldest noisy messages are gone (the first kept is seq $first1)" [ "${first1:-0}" -gt 100 ]

t_ok "SIGTERM stops the gateway" zg_stop
t_grep "  ... its last line counts the drops of the zone bound" 'dropped and 0 refused \(zone bounds\)' "$D/gw.log"
max1=$(recs "$D/spool" | awk 'END { print $1 }')
t_ok "zonegated starts again on the same spool" zg_start "$D/gw.conf" "$D/gw2.log"
t_ok "the zone was counted again from the records: a new episode starts at once" \
	t_wait 20 grep -q 'spool: zone noisy holds [0-9]* bytes, at its bound of 16384 bytes' "$D/gw2.log"
t_ok "  ... the bound still holds on disk ($(segbytes) bytes)" \
	bash -c '[ "$1" -le $((16384 + 1024)) ]' _ "$(segbytes)"
recs "$D/spool" >"$D/recs2"
t_ok "  ... the other zone's message survived, and new sequence numbers follow $max1" \
	bash -c "grep -q ' - events/security\$' '$D/recs2' && [ \$(awk 'END { print \$1 }' '$D/recs2') -gt $max1 ] && ! grep -q BAD '$D/recs2'"
zg_stop
t_done
