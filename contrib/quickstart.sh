#!/usr/bin/env bash
# contrib/quickstart.sh: from a fresh Debian 12 checkout to a running
# gateway in one command.  Installs the packages, builds zonegate, and runs
# zonegated in the foreground on conf/zonegate.conf (Ctrl-C stops it).
#
#   ZG_SKIP_DEPS=1  do not run apt-get
#   ZG_CONF=FILE    run another configuration
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "${ZG_SKIP_DEPS:-0}" = 1 ] || bash contrib/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p _build/quickstart
cd _build/quickstart
[ -f Makefile ] || ../../configure -q
make -s -j"$(nproc)"

export ZONEGATE_PLUGIN_PATH="$PWD/plugins/example/.libs:$PWD/plugins/modbus/.libs"
conf=${ZG_CONF:-$top/conf/zonegate.conf}
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT

./gateway/zonegated -t -c "$conf"
cat <<TXT

zonegated is starting on $conf (Ctrl-C stops it).
Try it from another terminal:
  printf 'hello\n' | socat - TCP:127.0.0.1:7070     # the example plugin echoes
  kill -HUP \$(cat $run/zonegated.pid)                # reload the configuration

TXT
exec ./gateway/zonegated -f -p "$run/zonegated.pid" -c "$conf"
