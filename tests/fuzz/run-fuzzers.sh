#!/usr/bin/env bash
# run-fuzzers.sh SECONDS TARGET...: run each libFuzzer target for SECONDS
# with its seed corpus (copied to a scratch dir so the committed corpus only
# grows by hand).  Crashing inputs are kept under tests/fuzz/crashes/NAME/,
# where ordinary make check replays them as regression tests (commit them).
# Prints "NAME: ok (Done N runs ...)" or "NAME: FAILED"; exits 1 on any
# failure.  Used by make fuzz (FUZZ_SECONDS) and tests/run-all.sh stage 3.
set -u
secs=$1; shift
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
status=0
export LSAN_OPTIONS="suppressions=$srcdir/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
for t in "$@"; do
	name=$(basename "$t")
	work=$(mktemp -d)
	cp -r "$srcdir/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
	mkdir -p "$srcdir/tests/fuzz/crashes/$name"
	echo "== $name: ${secs}s"
	if ! "./$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$srcdir/tests/fuzz/crashes/$name/" "$work" \
		>"$work.log" 2>&1; then
		echo "$name: FAILED (see tests/fuzz/crashes/$name/)"
		tail -n 30 "$work.log"
		status=1
	else
		runs=$(grep -oE 'Done [0-9]+ runs' "$work.log" | tail -n 1)
		echo "$name: ok${runs:+ ($runs in ${secs}s)}"
	fi
	rmdir "$srcdir/tests/fuzz/crashes/$name" 2>/dev/null
	rm -rf "$work" "$work.log"
done
exit $status
