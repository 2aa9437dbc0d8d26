#!/usr/bin/env bash
# Install every Debian 12 package zonegate needs to build, test and run its
# quick start.  Idempotent; run as root (or with sudo available).
#
#   contrib/install-deps.sh          build + runtime + test peers
#
# The list is the single source of truth: README, .ci/run and the docs
# all call this script rather than repeating package names.
set -euo pipefail

BUILD_PKGS=(
  build-essential autoconf automake libtool pkg-config
  libevent-dev libconfig-dev libmodbus-dev libmosquitto-dev libnghttp2-dev
  android-libboringssl-dev libssl-dev libseccomp-dev
  clang libclang-rt-14-dev llvm
)
TEST_PKGS=(
  openssl ca-certificates curl socat mbpoll python3 python3-h2 python3-pymodbus python3-serial python3-serial-asyncio
  mosquitto mosquitto-clients nghttp2-server nghttp2-client
  iproute2 procps psmisc binutils
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The Debian mosquitto package starts a broker on port 1883 on install;
  # tests start their own brokers on ephemeral ports, so stop the system one.
  if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
fi

# The unprivileged account zonegated switches to when started as root
# (gateway.user; the systemd unit and the integration tests use it).
if ! getent passwd zonegate >/dev/null 2>&1; then
  echo "install-deps: creating the system user zonegate"
  $SUDO useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "zonegate gateway" zonegate
fi
