#!/usr/bin/env bash
# zonegatectl explain: offline answers from a config, naming the rule and
# its file:line, in text and JSON, with the exit status scripts rely on.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

CTL="$top_builddir/gateway/zonegatectl"
CONF="$top_srcdir/conf/examples/modbus-proxy.conf"
t_plan 12

out=$("$CTL" -c "$CONF" explain hmi-legacy plc-1 modbus read-holding 0 10 --assurance address); rc=$?
t_is "$rc" 0 "allowed read: exit 0"
t_ok "  ... names the conduit and its file:line" grep -qF "rule:      conduit ops-to-cell1 ($CONF:" <<<"$out"

out=$("$CTL" -c "$CONF" explain hmi-legacy plc-1 modbus write-register 25 1234 --assurance address); rc=$?
t_is "$rc" 1 "write outside the write range: exit 1"
t_ok "  ... the reason names the register and the allowed range" grep -q "holding register 25 outside allowed write ranges 10-19" <<<"$out"

out=$("$CTL" -c "$CONF" explain hmi-legacy plc-1 modbus read-write 0 2 25 7 --assurance address); rc=$?
t_is "$rc" 1 "FC 23 is decided as a write too"
out=$("$CTL" -c "$CONF" explain hmi-legacy plc-1 modbus mei 13 --assurance address); rc=$?
t_is "$rc" 1 "FC 43/MEI 13 denied"
out=$("$CTL" -c "$CONF" explain hmi-legacy plc-1 modbus diag 4 --assurance address); rc=$?
t_is "$rc" 1 "FC 8/4 denied"
out=$("$CTL" -c "$CONF" explain hmi-legacy plc-1 modbus pdu 5a00 --assurance address); rc=$?
t_ok "FC 90 denied, named as UMAS" bash -c "[ $rc -eq 1 ] && grep -q 'UMAS' <<<'$out'"
out=$("$CTL" -c "$CONF" explain nobody plc-1 modbus read-holding 0 1); rc=$?
t_is "$rc" 1 "an unknown identity is denied"

out=$("$CTL" -c "$CONF" --json explain hmi-legacy plc-1 modbus write-register 12 5 --assurance address); rc=$?
t_is "$rc" 0 "--json: allowed write"
t_ok "  ... one JSON object with decision and rule" \
	/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["decision"]=="allow" and d["rule"]=="ops-to-cell1" and d["to_zone"]=="cell1"' "$out"

"$CTL" -c "$T_TMP/none.conf" explain a b modbus read-holding 0 1 >/dev/null 2>&1; rc=$?
t_is "$rc" 2 "a missing config: exit 2"
t_done
