#!/usr/bin/env bash
# HTTP/2 uplink throughput: messages/s POSTed through the http2 plugin
# (tests/integration/uplinkdrive feeding the uplink contract from memory ->
# plugin -> nghttp2 -> zonegate TLS -> nghttpd) against h2load posting the
# same JSON-array batches to the same nghttpd directly, in the same run,
# for a few batch sizes and stream counts.  Reports both rates and the
# ratio plugin/direct.
#
#   make bench            (or: top_builddir=... bash tests/bench/http2.sh)
#   ZG_BENCH_MESSAGES=N   messages per measurement (default 200000)
#
# Timings are for reading, never for pass/fail: the machine is shared.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
N=${ZG_BENCH_MESSAGES:-200000}
DRIVE="$top_builddir/tests/integration/uplinkdrive"
MOD="$top_builddir/plugins/http2/.libs/http2.so"
for t in nghttpd h2load; do
	command -v $t >/dev/null || { echo "http2 bench: $t missing (apt-get install nghttp2-server nghttp2-client): skipped"; exit 0; }
done
[ -x "$DRIVE" ] || make -C "$top_builddir" tests/integration/uplinkdrive >/dev/null || exit 1
D=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$D"' EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

bash "$top_srcdir/contrib/pki/mkpki.sh" "$D/pki" >/dev/null 2>&1 || { echo "cannot make the test PKI"; exit 1; }
mkdir -p "$D/htdocs"
: >"$D/htdocs/ingest"
P=$(free_port)
nghttpd -d "$D/htdocs" "$P" "$D/pki/server.key" "$D/pki/server.crt" >"$D/nghttpd.log" 2>&1 &
pids+=($!)
end=$((SECONDS + 20))
until port_open "$P"; do [ $SECONDS -ge $end ] && { echo "nghttpd did not start"; exit 1; }; sleep 0.02; done

# The body uplinkdrive builds for M messages (pad 40): same bytes as the
# plugin's batches, so both sides post the same payloads.
body() {
	/usr/bin/python3 - "$1" >"$D/body.json" <<'P'
import sys
m = int(sys.argv[1])
print("[" + ",".join('{"seq":%d,"topic":"telemetry/test","v":%d,"pad":"%s"}'
                     % (i, i * 7, "x" * 40) for i in range(1, m + 1)) + "]", end="")
P
}

printf '%-8s %-8s %14s %14s %7s\n' batch streams "plugin msg/s" "direct msg/s" ratio
for cfg in "1 1" "10 8" "100 8" "100 32"; do
	set -- $cfg
	M=$1 S=$2
	cat >"$D/up.conf" <<C
config = { url = "https://localhost:$P/ingest";
  tls = { ca = "$D/pki/ca.crt"; cert = "$D/pki/client-uri.crt"; key = "$D/pki/client-uri.key"; };
  batch = { max_messages = $M; max_bytes = 1048576; max_delay = 0.01; };
  max_streams = $S; };
C
	n=$N
	[ "$M" = 1 ] && n=$((N / 10))
	reqs=$((n / M))
	body "$M"
	# Best of three, alternating, so that a noisy neighbour on the shared
	# machine hurts both sides alike.
	prate=0 drate=0 note=""
	for round in 1 2 3; do
		out=$("$DRIVE" -p "$MOD" -c "$D/up.conf" -n "$n" -s 40 -T 300 2>"$D/drive.log")
		r=$(sed -n 's/.* rate \([0-9]*\)\/s.*/\1/p' <<<"$out")
		grep -q "^acked $n/$n" <<<"$out" || note="$note (plugin: $out)"
		[ "${r:-0}" -gt "$prate" ] && prate=$r
		dout=$(h2load -n "$reqs" -c 1 -m "$S" -d "$D/body.json" \
			-H 'content-type: application/json' "https://127.0.0.1:$P/ingest" 2>&1)
		rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$dout")
		ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$dout")
		[ "$ok" = "$reqs" ] || note="$note (h2load: $ok of $reqs answered 2xx)"
		r=$(awk -v r="${rps:-0}" -v m="$M" 'BEGIN { printf "%.0f", r * m }')
		[ "$r" -gt "$drate" ] && drate=$r
	done
	ratio=$(awk -v a="$prate" -v b="$drate" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
	printf '%-8s %-8s %14s %14s %7s\n' "$M" "$S" "$prate" "$drate" "$ratio"
	[ -z "$note" ] || echo " $note"
done
echo "messages of ~80 bytes (JSON, pad 40); plugin = uplinkdrive -> http2.so -> nghttpd;"
echo "direct = h2load -c 1 -m <streams> posting the same batch body to the same nghttpd; best of 3 each"
