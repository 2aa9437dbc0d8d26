#!/usr/bin/env bash
# Every configuration the project ships passes zonegated -t (the examples
# that use the test PKI get one made next to them, in a scratch copy).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

confs=("$top_srcdir"/conf/zonegate.conf "$top_srcdir"/conf/examples/*.conf)
t_plan "${#confs[@]}"
cp -r "$top_srcdir/conf" "$T_TMP/conf"
bash "$top_srcdir/contrib/pki/mkpki.sh" "$T_TMP/conf/examples/pki" >/dev/null 2>&1
for c in "${confs[@]}"; do
	rel=${c#"$top_srcdir"/}
	out=$("$ZONEGATED" -t -c "$T_TMP/$rel" 2>&1); rc=$?
	t_is "$rc" 0 "zonegated -t $rel"
	[ "$rc" = 0 ] || t_diag "$out"
done
t_done
