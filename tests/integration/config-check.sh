#!/usr/bin/env bash
# zonegated -t: a valid config exits 0 with a summary; every kind of bad
# config exits non-zero and names FILE:LINE for each error; plugins with
# the wrong ABI or no entry symbol are refused with a message that names
# both versions / the symbol.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

t_plan 27
D=$T_TMP
PLUG_TEST="$top_builddir/tests/plugins/.libs"

out=$("$ZONEGATED" -t -c "$top_srcdir/conf/zonegate.conf" 2>&1); rc=$?
t_is "$rc" 0 "default conf/zonegate.conf is valid"
t_diag "$out"
t_ok "summary names the gateway" grep -q "gateway id:" <<<"$out"

cat >"$D/unknown.conf" <<'C'
gateway = {
  id = "gw-test";
  colour = "blue";
};
C
out=$("$ZONEGATED" -t -c "$D/unknown.conf" 2>&1); rc=$?
t_ok "unknown key: non-zero exit" [ "$rc" -ne 0 ]
t_ok "unknown key: names file:line and key" grep -qF "$D/unknown.conf:3: gateway.colour: unknown key" <<<"$out"

cat >"$D/type.conf" <<'C'
gateway = {
  shutdown_timeout = "soon";
};
log = { level = 3; };
C
out=$("$ZONEGATED" -t -c "$D/type.conf" 2>&1); rc=$?
t_ok "wrong type: non-zero exit" [ "$rc" -ne 0 ]
t_ok "wrong type: first error at line 2" grep -qF "$D/type.conf:2: gateway.shutdown_timeout: expected a number" <<<"$out"
t_ok "wrong type: second error also reported (line 4)" grep -qF "$D/type.conf:4: log.level: expected a string" <<<"$out"

printf 'gateway = {\n  id = "x";\n  pidfile = ;\n};\n' >"$D/syntax.conf"
out=$("$ZONEGATED" -t -c "$D/syntax.conf" 2>&1); rc=$?
t_ok "syntax error: non-zero exit" [ "$rc" -ne 0 ]
t_ok "syntax error: names file:line" grep -qE "^$D/syntax.conf:3: syntax error" <<<"$out"

cat >"$D/enum.conf" <<'C'
log = { format = "xml"; };
gateway = { fail_mode = "maybe"; };
C
out=$("$ZONEGATED" -t -c "$D/enum.conf" 2>&1); rc=$?
t_ok "bad enum: lists the accepted values" grep -qF "$D/enum.conf:1: log.format: \"xml\" is not one of \"human\", \"json\"" <<<"$out"
t_ok "bad enum: fail_mode checked too" grep -qF "$D/enum.conf:2: gateway.fail_mode" <<<"$out"

out=$("$ZONEGATED" -t -c "$D/missing.conf" 2>&1); rc=$?
t_ok "missing file: non-zero exit and names the file" \
	bash -c "[ $rc -ne 0 ] && grep -qF '$D/missing.conf:0: cannot read configuration' <<<'$out'"

cat >"$D/plugcfg.conf" <<'C'
plugins = (
  { name = "example";
    config = {
      greeting = "hi";
      volume = 11;
    };
  }
);
C
out=$("$ZONEGATED" -t -c "$D/plugcfg.conf" 2>&1); rc=$?
t_ok "plugin config: unknown key refused" [ "$rc" -ne 0 ]
t_ok "plugin config: error names file:line of the key" grep -qF "$D/plugcfg.conf:5: plugins.[0].config.volume: unknown key" <<<"$out"

cat >"$D/badabi.conf" <<C
plugins = ( { name = "badabi"; path = "$PLUG_TEST/badabi.so"; } );
C
out=$("$ZONEGATED" -t -c "$D/badabi.conf" 2>&1); rc=$?
t_ok "ABI mismatch: refused" [ "$rc" -ne 0 ]
t_ok "ABI mismatch: names both versions" grep -qE "plugin ABI version 99, this zonegated provides plugin ABI version 2" <<<"$out"
t_diag "$out"

cat >"$D/nosym.conf" <<C
plugins = ( { name = "nosym"; path = "$PLUG_TEST/nosym.so"; } );
C
out=$("$ZONEGATED" -t -c "$D/nosym.conf" 2>&1); rc=$?
t_ok "missing symbol: refused and names zonegate_plugin" \
	bash -c "[ $rc -ne 0 ] && grep -q 'has no symbol zonegate_plugin' <<<'$out'"

cat >"$D/notfound.conf" <<'C'
plugins = ( { name = "nonesuch"; } );
C
out=$("$ZONEGATED" -t -c "$D/notfound.conf" 2>&1); rc=$?
t_ok "unknown plugin: says where it looked" grep -qF "nonesuch.so not found in" <<<"$out"

cat >"$D/badname.conf" <<'C'
plugins = ( { name = "../../etc/x"; } );
C
out=$("$ZONEGATED" -t -c "$D/badname.conf" 2>&1); rc=$?
t_ok "plugin names cannot walk the file system" grep -qF "is not a plugin name" <<<"$out"

cat >"$D/zonebound.conf" <<C
spool = {
  dir = "$D/spool";
  segment_size = "64K";
  max_bytes = "1M";
  max_bytes_per_zone = "256K";
  on_zone_full = "refuse";
  zone_limits = (
    { zone = "cell-a"; max_bytes = "512K"; },
    { zone = "cell-b"; max_bytes = 0; }
  );
};
C
out=$("$ZONEGATED" -t -c "$D/zonebound.conf" 2>&1); rc=$?
t_is "$rc" 0 "spool zone bounds: a valid set is accepted"
t_ok "spool zone bounds: the summary says zones are bounded" grep -qF "bounded per zone" <<<"$out"
cat >"$D/zonebad.conf" <<C
spool = {
  dir = "$D/spool";
  segment_size = "64K";
  max_bytes = "1M";
  zone_limits = (
    { zone = "cell-a"; max_bytes = "100K"; },
    { zone = "cell-a"; max_bytes = "512K"; },
    { zone = "cell-c"; size = 1; }
  );
  on_zone_full = "later";
};
C
out=$("$ZONEGATED" -t -c "$D/zonebad.conf" 2>&1); rc=$?
t_diag "$out"
t_ok "spool zone bounds: a bound under two segments names file:line" grep -qF "$D/zonebad.conf:6: spool.zone_limits.[0].max_bytes: must be 0 (no bound) or at least twice segment_size" <<<"$out"
t_ok "spool zone bounds: a zone bounded twice is refused" grep -qF "$D/zonebad.conf:7: spool.zone_limits.[1].zone: \"cell-a\" is already bounded above" <<<"$out"
t_ok "spool zone bounds: unknown keys and a bad on_zone_full are errors" \
	bash -c "grep -qF 'zonebad.conf:8: spool.zone_limits.[2].size: unknown key' <<<'$out' && grep -qF 'spool.on_zone_full: \"later\" is not one of' <<<'$out'"

out=$("$ZONEGATED" -V); rc=$?
t_ok "-V prints the version and TLS engine" bash -c "[ $rc -eq 0 ] && grep -q 'zonegated .* (TLS engine $ZG_TLS_ENGINE' <<<'$out'"
out=$("$ZONEGATED" -h); rc=$?
t_ok "-h prints usage" bash -c "[ $rc -eq 0 ] && grep -q 'usage: zonegated' <<<'$out'"
"$ZONEGATED" -Z >/dev/null 2>&1; rc=$?
t_is "$rc" 2 "an unknown option exits 2"
t_done
