#!/usr/bin/env bash
# tests/run-all.sh: the whole test suite from a fresh checkout.
#
#   Installs the Debian packages (contrib/install-deps.sh), regenerates the
#   build system, then builds and tests twice:
#     1. the default build (BoringSSL): make check, then make distcheck
#        (builds the release tarball and runs make check inside it);
#     2. --with-tls=openssl with AddressSanitizer + UBSan: make check.
#   Exits non-zero if anything fails; prints "N passed, N failed" last.
#
#   ZG_JOBS=N      parallel make jobs (default: nproc)
#   ZG_SKIP_DEPS=1 do not run apt-get (packages already installed)
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

echo "== build 1/2: BoringSSL (default) + make distcheck"
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

echo "== build 2/2: OpenSSL 3 + ASan/UBSan + make check"
rm -rf _build/openssl-asan && mkdir -p _build/openssl-asan
(cd _build/openssl-asan &&
	../../configure -q --with-tls=openssl --enable-sanitizers CFLAGS="-O1 -g" &&
	make -s -j"$jobs" && make -s -j"$jobs" check) || { status=1;
	find _build/openssl-asan -name test-suite.log -exec sh -c 'echo "--- $1"; cat "$1" | head -200' _ {} \; ; }
count _build/openssl-asan openssl-asan

read -r p1 f1 <"$results/boringssl"
read -r p2 f2 <"$results/openssl-asan"
# A build or distcheck failure counts as a failure even with no test run.
if [ $status -ne 0 ] && [ $((f1 + f2)) -eq 0 ]; then f2=1; fi
echo "tests: $((p1 + p2)) passed, $((f1 + f2)) failed"
exit $status
