#!/usr/bin/env bash
# In the BoringSSL build the main executable must never pull in OpenSSL 3:
# the two libraries in one process crash (docs/architecture.md).  Checked
# twice: the dynamic dependencies of the file, and the mappings of a
# running daemon with plugins loaded.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

[ "$ZG_TLS_ENGINE" = boringssl ] || t_skip_all "only meaningful in the BoringSSL build (this is $ZG_TLS_ENGINE)"
t_plan 4
D=$T_TMP

deps=$(ldd "$ZONEGATED" 2>&1)
t_ok "ldd zonegated lists no libssl.so.3" bash -c "! grep -q 'libssl.so.3' <<<'$deps'"
t_ok "ldd zonegated lists no libcrypto.so.3" bash -c "! grep -q 'libcrypto.so.3' <<<'$deps'"

PORT=$(t_free_port)
cat >"$D/gw.conf" <<C
gateway = { pidfile = "$D/pid"; };
plugins = ( { name = "example"; config = { listen = "127.0.0.1:$PORT"; }; } );
C
t_ok "daemon with plugins starts" zg_start "$D/gw.conf" "$D/log"
t_ok "running daemon has no libssl.so.3 mapped" bash -c "! grep -q 'libssl.so.3' /proc/$ZG_CHILD/maps /proc/$ZG_PID/maps"
t_done
