#!/usr/bin/env bash
# tests/run-all.sh: the whole test suite from a fresh checkout.
#
#   Installs the Debian packages (contrib/install-deps.sh), regenerates the
#   build system, then builds and tests twice:
#     1. the default build (BoringSSL): make check, then make distcheck
#        (builds the release tarball and runs make check inside it);
#     2. --with-tls=openssl with AddressSanitizer + UBSan: make check;
#     3. --enable-fuzzers CC=clang: every libFuzzer target runs for
#        ZG_FUZZ_SECONDS (default 15) from its seed corpus (make fuzz);
#        a crash fails the run and is kept under tests/fuzz/crashes/NAME/,
#        where make check replays it from then on.
#   Exits non-zero if anything fails; prints "N passed, N failed" last.
#
#   ZG_JOBS=N          parallel make jobs (default: nproc)
#   ZG_SKIP_DEPS=1     do not run apt-get (packages already installed)
#   ZG_FUZZ_SECONDS=N  seconds per fuzz target in stage 3 (0 skips it);
#                      a longer pass by hand: make fuzz FUZZ_SECONDS=600
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=${ZG_JOBS:-$(nproc)}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

if [ "${ZG_SKIP_DEPS:-0}" != 1 ]; then
	bash contrib/install-deps.sh
fi

echo "== autoreconf"
autoreconf -fi >/dev/null

# Harvest automake's per-test .trs files into pass/fail counts.
count() { # dir label
	local pass fail
	pass=$(find "$1" -name '*.trs' -exec cat {} + 2>/dev/null | grep -c '^:test-result: \(PASS\|SKIP\|XFAIL\)' || true)
	fail=$(find "$1" -name '*.trs' -exec cat {} + 2>/dev/null | grep -c '^:test-result: \(FAIL\|ERROR\|XPASS\)' || true)
	echo "$pass $fail" >"$results/$2"
	echo "== $2: $pass passed, $fail failed"
}

status=0

echo "== build 1/3: BoringSSL (default) + make distcheck"
rm -rf _build/boringssl && mkdir -p _build/boringssl
(cd _build/boringssl && ../../configure -q && make -s -j"$jobs" &&
	make -s -j"$jobs" check) || status=1
count _build/boringssl boringssl
(cd _build/boringssl && make -s -j"$jobs" distcheck >distcheck.log 2>&1) ||
	{ status=1; echo "make distcheck failed:"; tail -n 60 _build/boringssl/distcheck.log; }
[ $status -eq 0 ] && echo "== make distcheck: ok"
if [ $status -ne 0 ]; then
	find _build/boringssl -name test-suite.log -exec sh -c 'echo "--- $1"; grep -E "^(FAIL|ERROR)|^not ok|^#" "$1" | head -60' _ {} \;
fi

echo "== build 2/3: OpenSSL 3 + ASan/UBSan + make check"
rm -rf _build/openssl-asan && mkdir -p _build/openssl-asan
(cd _build/openssl-asan &&
	../../configure -q --with-tls=openssl --enable-sanitizers CFLAGS="-O1 -g" &&
	make -s -j"$jobs" && make -s -j"$jobs" check) || { status=1;
	find _build/openssl-asan -name test-suite.log -exec sh -c 'echo "--- $1"; cat "$1" | head -200' _ {} \; ; }
count _build/openssl-asan openssl-asan

fuzz_secs=${ZG_FUZZ_SECONDS:-15}
p3=0 f3=0
if [ "$fuzz_secs" -gt 0 ]; then
	echo "== build 3/3: libFuzzer targets (clang), ${fuzz_secs}s each"
	rm -rf _build/fuzz && mkdir -p _build/fuzz
	if (cd _build/fuzz &&
		../../configure -q --enable-fuzzers CC=clang --with-tls=openssl \
			CFLAGS="-O1 -g" &&
		make -s -j"$jobs" && make -s fuzz FUZZ_SECONDS="$fuzz_secs") \
		>_build/fuzz.log 2>&1; then
		p3=$(grep -cE ': ok( |$)' _build/fuzz.log || true)
	else
		status=1
		f3=$(grep -c ': FAILED' _build/fuzz.log || true)
		[ "$f3" -gt 0 ] || f3=1
		p3=$(grep -cE ': ok( |$)' _build/fuzz.log || true)
	fi
	grep -E '^== |: (ok|FAILED)' _build/fuzz.log || tail -n 40 _build/fuzz.log
	echo "== fuzz: $p3 passed, $f3 failed"
fi

read -r p1 f1 <"$results/boringssl"
read -r p2 f2 <"$results/openssl-asan"
# A build or distcheck failure counts as a failure even with no test run.
if [ $status -ne 0 ] && [ $((f1 + f2 + f3)) -eq 0 ]; then f2=1; fi
echo "tests: $((p1 + p2 + p3)) passed, $((f1 + f2 + f3)) failed"
exit $status
