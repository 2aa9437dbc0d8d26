#!/usr/bin/env bash
# Modbus/TCP Security through zonegate: mutual TLS with certificates made
# by the tests (contrib/pki/mkpki.sh, openssl CLI), identity from the
# certificate, the role extension 1.3.6.1.4.1.50316.802.1 authorised on
# every request, CRLs honoured and reloaded on SIGHUP, and a legacy plain
# listener refused by a conduit that requires certificate assurance.
#
# Transport: Python's ssl module (OpenSSL) with MBAP frames inside, and
# `openssl s_client` as a second, independent peer.  (Debian's pymodbus
# 3.0.0rc1 TLS client loses data buffered inside SSL and uses a framer
# without the MBAP header, so it cannot be used here.)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PY=/usr/bin/python3
SIMBIN="$top_builddir/contrib/plcsim/zg-plcsim"
MBT="$top_srcdir/tests/integration/mbtool.py"
[ -x "$SIMBIN" ] || t_skip_all "zg-plcsim not built"
command -v openssl >/dev/null || t_skip_all "openssl missing: apt-get install openssl"

t_plan 28
D=$T_TMP
PKI=$D/pki
mkpki() { bash "$top_srcdir/contrib/pki/mkpki.sh" "$PKI" >/dev/null 2>&1; }
t_ok "test PKI made with the openssl CLI" mkpki

"$SIMBIN" -p 0 --ready-file "$D/plc.port" --log-writes "$D/plc.writes" \
	--set holding:0=11,22 --set holding:25=777 >"$D/plc.log" 2>&1 &
T_PIDS+=($!)
t_ok "simulator is listening" t_wait 20 test -s "$D/plc.port"
SP=$(cat "$D/plc.port")
GT=$(t_free_port)
GP=$(t_free_port)

write_conf() { # crl line for the TLS group
	cat >"$D/gw.conf" <<C
gateway = { id = "gw-tls-test"; pidfile = "$D/zonegated.pid"; };
log = { level = "info"; format = "json"; };
zones = ( { name = "ops"; }, { name = "cell1"; } );
devices = (
  { identity = "spiffe://plant.example/operator-1"; zone = "ops"; },
  { identity = "spiffe://plant.example/hmi-1"; zone = "ops"; },
  { identity = "spiffe://plant.example/engineer-1"; zone = "ops"; },
  { identity = "spiffe://plant.example/badrole-1"; zone = "ops"; },
  { identity = "spiffe://plant.example/revoked-1"; zone = "ops"; },
  { identity = "hmi-legacy"; zone = "ops"; bind = { address = "127.0.0.1"; ports = "1-65535"; }; },
  { identity = "plc-1"; zone = "cell1"; address = "127.0.0.1:$SP"; unit = 1; }
);
conduits = (
  { name = "operators-to-cell1"; from = "ops"; to = "cell1";
    require_assurance = "certificate"; roles = ["operator"];
    modbus = { units = [1]; functions = [3, 6];
               read = { holding_registers = ["0-99"]; };
               write = { holding_registers = ["10-19"]; }; };
  }
);
plugins = ( { name = "modbus"; config = {
  devices = ( { identity = "plc-1"; address = "127.0.0.1:$SP"; } );
  listeners = (
    { listen = "127.0.0.1:$GT"; device = "plc-1";
      tls = { cert = "$PKI/server.crt"; key = "$PKI/server.key"; ca = "$PKI/ca.crt"; $1 }; },
    { listen = "127.0.0.1:$GP"; device = "plc-1"; }
  );
}; } );
C
}
write_conf ""
t_ok "zonegated with a Modbus/TCP Security listener is ready" zg_start "$D/gw.conf" "$D/gw.log"
LOG=$D/gw.log

as() { # client-name: run mbtool with that client certificate
	local c=$1; shift
	MBT_TLS="$PKI/ca.crt:$PKI/client-$c.crt:$PKI/client-$c.key" $PY "$MBT" "$@" | tr '\n' ' ' | sed 's/ $//'
}
READ0=000100000006010300000002
W12=0002000000060106000c002a
W25=000300000006010600190457

t_is "$(as role raw "$GT" "$READ0" --wait 1)" "000100000007010304000b0016 TIMEOUT" \
	"role operator: read allowed over TLS"
t_grep "  ... identity and role come from the certificate" \
	'TLS TLSv1\.[23] .*identity spiffe://plant.example/operator-1 \(uri SAN/CN\), role operator' "$LOG"
t_is "$(as role raw "$GT" "$W12" --wait 1)" "0002000000060106000c002a TIMEOUT" \
	"role operator: write to holding 12 answered"
t_ok "role operator: write to holding 12 allowed" t_wait 5 grep -q 'addr=12 count=1 values=42' "$D/plc.writes"

# Direct first: the forbidden write works against the device itself.
t_is "$($PY "$MBT" write "$SP" 1 25 778)" "OK" "direct write to holding 25 works"
t_is "$(as role raw "$GT" "$W25" --wait 1)" "000300000003018601 TIMEOUT" "the same write over TLS: exception 0x01"
t_is "$($PY "$MBT" read "$SP" 1 25 1)" "778" "  ... the register is unchanged"

t_is "$(as uri raw "$GT" "$READ0" --wait 1)" "000100000003018301 TIMEOUT" "certificate without a role: denied (conduit requires role operator)"
t_grep "  ... the reason names the missing role" '"identity":"spiffe://plant.example/hmi-1".*"reason":"[^"]*role' "$LOG"
t_is "$(as role2 raw "$GT" "$READ0" --wait 1)" "000100000003018301 TIMEOUT" "two role extensions: no valid role, denied"
t_grep "  ... and a bad-role event (duplicate)" '"kind":"tls.bad_role".*"identity":"spiffe://plant.example/engineer-1".*duplicate' "$LOG"
t_is "$(as badrole raw "$GT" "$READ0" --wait 1)" "000100000003018301 TIMEOUT" "role not a UTF8String: denied"
t_grep "  ... and a bad-role event (malformed)" '"kind":"tls.bad_role".*"identity":"spiffe://plant.example/badrole-1".*malformed' "$LOG"

for c in expired future wrongca; do
	out=$(as "$c" raw "$GT" "$READ0" --wait 1)
	t_ok "client-$c: no Modbus answer ($out)" bash -c "! grep -q '^0001' <<<'$out'"
done
t_ok "  ... each refused handshake is a verify event" \
	bash -c "[ \$(grep -c '\"kind\":\"tls.handshake_failed\".*(verify)' '$LOG') -ge 3 ]"
out=$(MBT_TLS="$PKI/ca.crt::" $PY "$MBT" raw "$GT" "$READ0" --wait 1 | tr '\n' ' ')
t_ok "no client certificate: refused ($out)" bash -c "! grep -q '0001' <<<'$out'"

# A peer we did not write: openssl s_client with the operator certificate.
out=$($PY "$MBT" sclient "$GT" "$PKI/ca.crt" "$PKI/client-role.crt" "$PKI/client-role.key" 000900000006010300000002)
t_is "$out" "000900000007010304000b0016" "openssl s_client gets the Modbus answer through zonegate"

# The legacy plain listener: address identity is low assurance.
t_is "$($PY "$MBT" read "$GP" 1 0 2)" "EXC 1" "plain listener: denied, the conduit requires certificate assurance"

# CRL: not configured -> the revoked certificate still works; add the CRL
# and reload -> refused.
t_is "$(as revoked raw "$GT" "$READ0" --wait 1)" "000100000003018301 TIMEOUT" \
	"without a CRL the revoked certificate completes the handshake (then denied: it has no role)"
write_conf "crl = \"$PKI/ca.crl\";"
kill -HUP "$ZG_PID"
t_ok "reload with the CRL" t_wait 10 grep -q 'reload of .* complete' "$LOG"
out=$(as revoked raw "$GT" "$READ0" --wait 1)
t_ok "after reload the revoked certificate is refused ($out)" bash -c "! grep -q '^0001' <<<'$out'"
t_grep "  ... as revoked" '"kind":"tls.handshake_failed".*certificate revoked' "$LOG"

zg_stop 10
t_is "$T_STATUS" 0 "zonegated stops cleanly"
t_done
